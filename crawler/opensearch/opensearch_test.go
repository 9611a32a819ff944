package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

func fastBackoff(int) time.Duration { return 5 * time.Millisecond }

// newTestClient returns a client for the cluster at OPENSEARCH_URL (make
// test starts a real node), or else the double, and a fresh alias name.
func newTestClient(t *testing.T) (*Client, fakeopensearch.Target, string) {
	t.Helper()
	return newClientFor(t, fakeopensearch.ForTest(t))
}

func newClientFor(t *testing.T, tg fakeopensearch.Target) (*Client, fakeopensearch.Target, string) {
	t.Helper()
	c, err := NewClient(Config{
		Endpoints: []string{tg.URL}, Username: tg.Username, Password: tg.Password,
		InsecureSkipVerify: tg.Insecure, RetryBackoff: fastBackoff,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	alias := fakeopensearch.IndexName(t)
	t.Cleanup(func() {
		// Best effort on a real cluster; the double is discarded anyway.
		if tg.Fake == nil {
			ctx := context.Background()
			_ = c.do(ctx, http.MethodDelete, "/"+alias+"-*", nil, nil, nil)
			_ = c.do(ctx, http.MethodDelete, "/_index_template/"+TemplateName(alias), nil, nil, nil)
		}
	})
	return c, tg, alias
}

func ensure(t *testing.T, c *Client, cfg IndexConfig) IndexStatus {
	t.Helper()
	st, err := c.EnsureIndex(t.Context(), cfg)
	if err != nil {
		t.Fatalf("EnsureIndex: %v", err)
	}
	return st
}

func newSink(t *testing.T, c *Client, alias string) *Sink {
	t.Helper()
	s, err := c.NewSink(SinkConfig{Alias: alias, RetryBackoff: fastBackoff, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeDocs(t *testing.T, c *Client, alias string, docs []Document) Stats {
	t.Helper()
	s := newSink(t, c, alias)
	for _, d := range docs {
		if err := s.Index(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	return s.Stats()
}

func doc(ds, id string, a acl.ACL) Document {
	return Document{
		ID: DocumentID(ds, TypePage, id), ContentID: id, Type: TypePage, Datasource: ds,
		SpaceKey: "ENG", Title: "Page " + id, Body: "body of page " + id, Version: 1,
		ContentHash: "h" + id, ACL: a,
	}
}

var open = acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Anonymous}}}

func count(t *testing.T, c *Client, index string) int {
	t.Helper()
	var res struct {
		Count int `json:"count"`
	}
	if err := c.do(t.Context(), http.MethodPost, "/"+index+"/_count", nil, map[string]any{"query": map[string]any{"match_all": map[string]any{}}}, &res); err != nil {
		t.Fatal(err)
	}
	return res.Count
}

func TestEnsureIndex_IdempotentAndUpgradable(t *testing.T) {
	c, _, alias := newTestClient(t)
	cfg := IndexConfig{Alias: alias, Language: "en"}

	first := ensure(t, c, cfg)
	if !first.Created || !first.TemplateUpdated || first.Index != alias+"-v1-english" {
		t.Fatalf("first EnsureIndex = %+v", first)
	}
	again := ensure(t, c, cfg)
	if again.Created || again.TemplateUpdated || again.Migrated {
		t.Fatalf("second EnsureIndex changed something: %+v", again)
	}
	writeDocs(t, c, alias, []Document{doc("ns/a", "1", open), doc("ns/a", "2", open)})

	// Additive: a new extra field is mapped on the existing index.
	cfg.ExtraFields = map[string]string{"priority": "long"}
	added := ensure(t, c, cfg)
	if !added.TemplateUpdated || added.Created || added.Migrated {
		t.Fatalf("additive upgrade = %+v", added)
	}
	var m map[string]struct {
		Mappings struct {
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
		} `json:"mappings"`
	}
	if err := c.do(t.Context(), http.MethodGet, "/"+alias+"/_mapping", nil, nil, &m); err != nil {
		t.Fatal(err)
	}
	if got := m[added.Index].Mappings.Properties["priority"].Type; got != "long" {
		t.Fatalf("priority mapped as %q, want long", got)
	}

	// Incompatible: a new analyzer moves the alias to a new index, keeping documents.
	cfg.Language = "de"
	moved := ensure(t, c, cfg)
	if !moved.Migrated || moved.Previous != alias+"-v1-english" || moved.Index != alias+"-v1-german" {
		t.Fatalf("language change = %+v", moved)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, alias); n != 2 {
		t.Fatalf("after migration the alias holds %d documents, want 2", n)
	}
	if targets, _ := c.aliasTargets(t.Context(), alias); !slices.Equal(targets, []string{alias + "-v1-german"}) {
		t.Fatalf("alias points to %v", targets)
	}
	if ok, _ := c.indexExists(t.Context(), alias+"-v1-english"); ok {
		t.Fatal("old backing index still exists")
	}
	if st := ensure(t, c, cfg); st.Migrated || st.Created || st.TemplateUpdated {
		t.Fatalf("EnsureIndex after migration changed something: %+v", st)
	}
}

func TestAnalyzer_MapsLanguageCodes(t *testing.T) {
	cases := map[string]string{"en": "english", "de-CH": "german", "pt-BR": "brazilian", "pt": "portuguese",
		"ja": "cjk", "fr": "french", "": "standard", "pl": "standard", "english": "english", "xx": "standard"}
	for in, want := range cases {
		if got := Analyzer(in); got != want {
			t.Errorf("Analyzer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSink_BadDocumentFailsOnlyItself(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias, ExtraFields: map[string]string{"priority": "long"}})
	bad := doc("ns/a", "2", open)
	bad.Fields = map[string]any{"priority": "very high"}
	good := doc("ns/a", "3", open)
	good.Fields = map[string]any{"priority": 3, "team": "search"}
	st := writeDocs(t, c, alias, []Document{doc("ns/a", "1", open), bad, good})

	if st != (Stats{Indexed: 2, Failed: 1}) {
		t.Fatalf("stats = %+v, want 2 indexed and 1 failed", st)
	}
	if n := count(t, c, alias); n != 2 {
		t.Fatalf("index holds %d documents, want 2", n)
	}
}

func TestSink_ItemErrorIsReported(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias, ExtraFields: map[string]string{"priority": "long"}})
	s := newSink(t, c, alias)
	bad := doc("ns/a", "2", open)
	bad.Fields = map[string]any{"priority": "very high"}
	if err := s.Index(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	errs := s.Errors()
	if len(errs) != 1 || errs[0].Type != "mapper_parsing_exception" || errs[0].ID != bad.ID || errs[0].Status != 400 {
		t.Fatalf("errors = %+v", errs)
	}
}

func TestSink_RetriesRejections(t *testing.T) {
	// The double: a real node answers 429/503 to whole bulk requests and
	// rejects single items only under overload, not on demand.
	c, tg, alias := newClientFor(t, fakeopensearch.Double(t))
	ensure(t, c, IndexConfig{Alias: alias})
	tg.Fake.FailBulk(429, 3)   // whole requests: retried by the transport
	tg.Fake.FailBulk(503, 2)   //
	tg.Fake.RejectBulkItems(7) // single items inside a 200: retried by the sink
	var docs []Document
	for i := range 50 {
		docs = append(docs, doc("ns/a", fmt.Sprint(i), open))
	}
	st := writeDocs(t, c, alias, docs)
	if st != (Stats{Indexed: 50}) {
		t.Fatalf("stats = %+v, want all 50 indexed", st)
	}
	if n := count(t, c, alias); n != 50 {
		t.Fatalf("index holds %d documents", n)
	}
	if tg.Fake.Requests("bulk") < 6 {
		t.Fatalf("only %d bulk requests; the faults were not exercised", tg.Fake.Requests("bulk"))
	}
}

func TestSink_DeleteCountsMissingAsDeleted(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	writeDocs(t, c, alias, []Document{doc("ns/a", "1", open)})
	s := newSink(t, c, alias)
	for _, id := range []string{DocumentID("ns/a", TypePage, "1"), DocumentID("ns/a", TypePage, "404")} {
		if err := s.Delete(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st != (Stats{Deleted: 2}) {
		t.Fatalf("stats = %+v", st)
	}
}

// aclDataset builds documents guarded by space permissions, page and
// ancestor restrictions and groups, plus documents that must stay hidden.
func aclDataset(ds string) []Document {
	src := acl.Source(ds)
	r := rand.New(rand.NewPCG(7, 11))
	spaces := map[string][]string{
		"ENG":  {src.Group("eng"), src.User("boss")},
		"HR":   {src.Group("hr")},
		"PUB":  {acl.Anonymous},
		"LEAD": {src.Group("leads"), src.Group("eng")},
	}
	restrictions := [][]string{
		nil, nil,
		{src.User("alice")},
		{src.Group("leads")},
		{src.User("bob"), src.Group("eng")},
		{src.Group("hr"), src.User("boss")},
	}
	keys := []string{"ENG", "HR", "PUB", "LEAD"}
	var docs []Document
	for i := range 80 {
		key := keys[r.IntN(len(keys))]
		a := acl.ACL{{Level: acl.LevelSpace, Principals: spaces[key]}}
		if p := restrictions[r.IntN(len(restrictions))]; p != nil {
			a = append(a, acl.Clause{Level: acl.LevelPage, Principals: p})
		}
		if p := restrictions[r.IntN(len(restrictions))]; p != nil && r.IntN(2) == 0 {
			a = append(a, acl.Clause{Level: acl.LevelAncestor, Principals: p})
		}
		d := doc(ds, fmt.Sprint(i), a)
		d.SpaceKey = key
		docs = append(docs, d)
	}
	// Fail closed: no ACL at all, and a clause that admits nobody.
	docs = append(docs, doc(ds, "no-acl", nil))
	docs = append(docs, doc(ds, "nobody", acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Anonymous}}, {Level: acl.LevelPage, Principals: []string{}}}))
	return docs
}

func visible(t *testing.T, c *Client, alias string, principals []string) []string {
	t.Helper()
	res, err := c.Search(t.Context(), SearchRequest{Alias: alias, Principals: principals, Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	sort.Strings(ids)
	return ids
}

// dlsVisible runs the DLS role query dls, with its user attribute filled
// from principals, as a plain search (as OpenSearch Security would apply it)
// and returns the ids it matches, sorted.
func dlsVisible(t *testing.T, c *Client, alias, dls string, principals []string) []string {
	t.Helper()
	q := strings.ReplaceAll(dls, "${"+DefaultDLSAttribute+"}", DLSAttributeValue(principals))
	var res struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := c.do(t.Context(), http.MethodPost, "/"+alias+"/_search", nil, map[string]any{"size": 1000, "_source": false, "query": json.RawMessage(q)}, &res); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		ids = append(ids, h.ID)
	}
	sort.Strings(ids)
	return ids
}

func allowed(docs []Document, principals []string) []string {
	var ids []string
	for _, d := range docs {
		if d.ACL.Allows(principals) {
			ids = append(ids, d.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestSearch_ReturnsExactlyWhatACLAllows(t *testing.T) {
	c, tg, alias := newTestClient(t)
	st := ensure(t, c, IndexConfig{Alias: alias, Language: "en"})
	const ds = "search/eng-wiki"
	src := acl.Source(ds)
	docs := aclDataset(ds)
	writeDocs(t, c, alias, docs)

	users := []Identity{
		{Datasource: ds, Principal: src.User("alice"), Email: "Alice@Example.com", Username: "alice", Groups: []string{src.Group("eng")}},
		{Datasource: ds, Principal: src.User("bob"), Email: "bob@example.com", Groups: []string{src.Group("hr")}},
		{Datasource: ds, Principal: src.User("carol"), Email: "carol@example.com", Groups: []string{src.Group("eng"), src.Group("leads")}},
		{Datasource: ds, Principal: src.User("boss"), Email: "boss@example.com"},
		{Datasource: ds, Principal: src.User("dave"), Email: "dave@example.com", Groups: []string{}},
	}
	if err := c.UpsertIdentities(t.Context(), alias, users); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	check := func(phase string) {
		for _, who := range []string{"alice@example.com", "bob@example.com", "carol@example.com", "boss@example.com", "dave@example.com", "stranger@example.com"} {
			r, err := c.ResolvePrincipals(t.Context(), alias, []string{ds}, who)
			if err != nil {
				t.Fatal(err)
			}
			got, want := visible(t, c, alias, r.Principals), allowed(docs, r.Principals)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s (%v) sees %d documents, reference allows %d\n got  %v\n want %v", phase, who, r.Principals, len(got), len(want), got, want)
			}
			for _, hidden := range []string{"no-acl", "nobody"} {
				if slices.Contains(got, DocumentID(ds, TypePage, hidden)) {
					t.Errorf("%s: %s sees the %s document", phase, who, hidden)
				}
			}
		}
	}
	check("before")

	writesBefore := indexWrites(t, c, tg, st.Index)
	// Bob joins eng and leaves hr; alice joins leads. No document changes.
	users[1].Groups = []string{src.Group("eng")}
	users[0].Groups = append(users[0].Groups, src.Group("leads"))
	if err := c.UpsertIdentities(t.Context(), alias, users[:2]); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.ResolvePrincipals(t.Context(), alias, nil, "bob@example.com"); !slices.Contains(r.Principals, src.Group("eng")) || slices.Contains(r.Principals, src.Group("hr")) {
		t.Fatalf("bob resolves to %v after the membership change", r.Principals)
	}
	check("after membership change")
	if indexWrites(t, c, tg, st.Index) != writesBefore {
		t.Fatal("a membership change re-indexed documents")
	}
	if n := count(t, c, alias); n != len(docs) {
		t.Fatalf("index holds %d documents, want %d", n, len(docs))
	}
}

// indexWrites counts the documents written to an index so far: the double's
// counter, or the engine's indexing statistics.
func indexWrites(t *testing.T, c *Client, tg fakeopensearch.Target, index string) int64 {
	t.Helper()
	if tg.Fake != nil {
		return int64(tg.Fake.Writes(index))
	}
	var res struct {
		All struct {
			Primaries struct {
				Indexing struct {
					IndexTotal int64 `json:"index_total"`
				} `json:"indexing"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if err := c.do(t.Context(), http.MethodGet, "/"+index+"/_stats/indexing", nil, nil, &res); err != nil {
		t.Fatal(err)
	}
	if res.All.Primaries.Indexing.IndexTotal == 0 {
		t.Fatalf("the engine reports no writes to %s", index)
	}
	return res.All.Primaries.Indexing.IndexTotal
}

func TestResolvePrincipals_UnknownUserIsAnonymous(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	r, err := c.ResolvePrincipals(t.Context(), alias, nil, "nobody@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if r.Known() || !slices.Equal(r.Principals, []string{acl.Anonymous}) {
		t.Fatalf("resolution = %+v", r)
	}
}

func TestResolvePrincipals_ByUsernameAndPrincipal(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	src := acl.Source("ns/a")
	id := Identity{Datasource: "ns/a", Principal: src.User("u1"), UserID: "u1", Username: "jdoe", Email: "j@example.com", Groups: []string{src.Group("g1")}}
	if err := c.UpsertIdentities(t.Context(), alias, []Identity{id}); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	want := []string{acl.Anonymous, src.Group("g1"), src.User("u1")}
	for _, who := range []string{"jdoe", src.User("u1"), "user:u1", "J@Example.com"} {
		r, err := c.ResolvePrincipals(t.Context(), alias, []string{"ns/a"}, who)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Principals, want) {
			t.Errorf("%s resolves to %v, want %v", who, r.Principals, want)
		}
	}
	if r, _ := c.ResolvePrincipals(t.Context(), alias, []string{"ns/other"}, "jdoe"); r.Known() {
		t.Error("the data source filter was ignored")
	}
}

func TestSearch_RanksTitleAndHighlights(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias, Language: "en"})
	a := doc("ns/a", "1", open)
	a.Title, a.Body = "Deployment guide", "How we ship the operator to production clusters."
	b := doc("ns/a", "2", open)
	b.Title, b.Body = "Team notes", "Notes about the weekly meeting and the deployment of the operator."
	hidden := doc("ns/a", "3", acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Source("ns/a").Group("secret")}}})
	hidden.Title, hidden.Body = "Secrets", "deployment keys"
	writeDocs(t, c, alias, []Document{a, b, hidden})

	res, err := c.Search(t.Context(), SearchRequest{Alias: alias, Query: "deployment", Principals: []string{acl.Source("ns/a").User("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 2 || res.Hits[0].ID != a.ID || res.Hits[1].ID != b.ID {
		t.Fatalf("hits = %+v", res.Hits)
	}
	if !strings.Contains(strings.ToLower(res.Hits[1].Snippet), "<em>deployment</em>") {
		t.Fatalf("snippet = %q", res.Hits[1].Snippet)
	}
	if res.Hits[0].SpaceKey != "ENG" || res.Hits[0].Type != TypePage || res.Hits[0].Title != a.Title {
		t.Fatalf("hit fields = %+v", res.Hits[0])
	}
}

// The engine stops counting at track_total_hits (10,000 by default) and says
// so with relation "gte"; the double used to count everything.
func TestSearch_TotalPastTheCountIsALowerBound(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	writeDocs(t, c, alias, []Document{doc("ns/a", "1", open), doc("ns/a", "2", open), doc("ns/a", "3", open)})
	for _, tc := range []struct {
		upTo, total int
		lowerBound  bool
	}{{0, 3, false}, {3, 3, false}, {2, 2, true}} {
		res, err := c.Search(t.Context(), SearchRequest{Alias: alias, TotalHitsUpTo: tc.upTo, Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != tc.total || res.TotalIsLowerBound != tc.lowerBound || len(res.Hits) != 1 {
			t.Errorf("counting up to %d: total %d (lower bound %v), %d hits; want %d (%v)", tc.upTo, res.Total, res.TotalIsLowerBound, len(res.Hits), tc.total, tc.lowerBound)
		}
	}
}

func TestDeleteDatasource_LeavesOtherDatasources(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	writeDocs(t, c, alias, []Document{doc("ns/a", "1", open), doc("ns/a", "2", open), doc("ns/b", "1", open)})
	for _, ds := range []string{"ns/a", "ns/b"} {
		if err := c.UpsertIdentities(t.Context(), alias, []Identity{{Datasource: ds, Principal: acl.Source(ds).User("u"), UserID: "u"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteCheckpoint(t.Context(), alias, Checkpoint{Datasource: ds, Mode: "FullCrawl"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	n, err := c.DeleteDatasource(t.Context(), alias, "ns/a")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("deleted %d documents, want 2", n)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := c.StreamIDs(t.Context(), alias, IDFilter{Datasource: "ns/b"}, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{DocumentID("ns/b", TypePage, "1")}) || count(t, c, alias) != 1 {
		t.Fatalf("ns/b documents after deleting ns/a: %v", ids)
	}
	if cp, _ := c.ReadCheckpoint(t.Context(), alias, "ns/a"); cp != nil {
		t.Fatal("ns/a checkpoint survived")
	}
	if cp, _ := c.ReadCheckpoint(t.Context(), alias, "ns/b"); cp == nil {
		t.Fatal("ns/b checkpoint was deleted")
	}
	if r, _ := c.ResolvePrincipals(t.Context(), alias, nil, "user:u"); len(r.Identities) != 1 || r.Identities[0].Datasource != "ns/b" {
		t.Fatalf("identities left: %+v", r.Identities)
	}
}

func TestDeleteDatasourceExcept(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	writeDocs(t, c, alias, []Document{doc("ns/a", "1", open), doc("ns/a", "2", open), doc("ns/a", "3", open), doc("ns/b", "1", open)})
	n, err := c.DeleteDatasourceExcept(t.Context(), alias, IDFilter{Datasource: "ns/a"}, []string{DocumentID("ns/a", TypePage, "2")})
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, err %v; want 2", n, err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	if got := count(t, c, alias); got != 2 {
		t.Fatalf("%d documents left, want 2", got)
	}
}

func TestCheckpoint_RoundTrip(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	if cp, err := c.ReadCheckpoint(t.Context(), alias, "ns/a"); err != nil || cp != nil {
		t.Fatalf("checkpoint before any write = %+v, %v", cp, err)
	}
	last := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	want := Checkpoint{Datasource: "ns/a", Mode: "Incremental", LastSuccessfulCrawl: last, UpdatedAt: last.Add(time.Minute),
		State: json.RawMessage(`{"spaces":{"ENG":{"cursor":"abc","n":3}},"list":[1,"x"]}`)}
	if err := c.WriteCheckpoint(t.Context(), alias, want); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadCheckpoint(t.Context(), alias, "ns/a")
	if err != nil || got == nil {
		t.Fatalf("read = %v, %v", got, err)
	}
	var a, b any
	_ = json.Unmarshal(want.State, &a)
	_ = json.Unmarshal(got.State, &b)
	if got.Mode != want.Mode || !got.LastSuccessfulCrawl.Equal(last) || !got.UpdatedAt.Equal(want.UpdatedAt) || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("round trip: got %+v (%s), want %+v", got, got.State, want)
	}
}

func TestChangeDetection_HashesAndIDStream(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	var docs []Document
	for i := range 2300 {
		ds := "ns/a"
		if i%10 == 0 {
			ds = "ns/b"
		}
		d := doc(ds, fmt.Sprintf("%05d", i), open)
		if i%2 == 0 {
			d.SpaceKey = "OPS"
		}
		docs = append(docs, d)
	}
	writeDocs(t, c, alias, docs)

	ids := []string{docs[1].ID, docs[2].ID, DocumentID("ns/a", TypePage, "missing")}
	got, err := c.StoredHashes(t.Context(), alias, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[docs[1].ID] != (Stored{ContentHash: docs[1].ContentHash, ACLHash: open.Hash(), Version: 1}) {
		t.Fatalf("stored = %+v", got)
	}

	var streamed []string
	err = c.StreamIDs(t.Context(), alias, IDFilter{Datasource: "ns/a"}, func(id string) error { streamed = append(streamed, id); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range docs {
		if d.Datasource == "ns/a" {
			want = append(want, d.ID)
		}
	}
	sort.Strings(want)
	if !slices.Equal(streamed, want) {
		t.Fatalf("streamed %d ids, want %d", len(streamed), len(want))
	}
	n := 0
	if err := c.StreamIDs(t.Context(), alias, IDFilter{Datasource: "ns/a", SpaceKey: "OPS"}, func(string) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 920 { // even i not divisible by 10, below 2300
		t.Fatalf("space filter streamed %d ids, want 920", n)
	}
}

func TestACLFilterJSON_IsTheDocumentedShape(t *testing.T) {
	var f map[string]any
	if err := json.Unmarshal(ACLFilterJSON([]string{acl.Source("ns/a").User("a"), acl.Source("ns/a").Group("g")}), &f); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f)
	want := `{"bool":{"filter":[{"nested":{"path":"acl","query":{"match_all":{}}}}],"must_not":[{"nested":{"path":"acl","query":{"bool":{"must_not":[{"terms":{"acl.principals":["anonymous","ns/a:group:g","ns/a:user:a"]}}]}}}}]}}`
	if string(b) != want {
		t.Fatalf("filter = %s", b)
	}
}

func TestDLSRole_SubstitutesToValidQuery(t *testing.T) {
	role := DLSRole("confluence", "")
	perms := role["index_permissions"].([]any)[0].(map[string]any)
	dls := perms["dls"].(string)
	for _, principals := range [][]string{{acl.Source("ns/a").User("a"), acl.Source("ns/b").Group("g"), acl.Anonymous}, {acl.Anonymous}} {
		q := strings.ReplaceAll(dls, "${"+DefaultDLSAttribute+"}", DLSAttributeValue(principals))
		var v any
		if err := json.Unmarshal([]byte(q), &v); err != nil {
			t.Fatalf("substituted DLS for %v is not JSON: %v\n%s", principals, err, q)
		}
	}
	if !slices.Equal(perms["index_patterns"].([]string), []string{"confluence", "confluence-v*", "confluence-passages", "confluence-passages-v*"}) {
		t.Fatalf("index patterns = %v", perms["index_patterns"])
	}
}

// Two data sources share an alias and reuse group and user names (eng, hr,
// alice). A reader resolved across both, through the search filter and
// through the DLS role's query with the user attribute substituted, sees in
// each data source exactly what that data source's identity allows; the
// documents of an index written before scoping ("group:eng") stay hidden
// unless public.
func TestACLFilterAndDLSRole_EachSourceOnlyItsOwnPrincipals(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	siteA, siteB := acl.Source("tenant-a/wiki"), acl.Source("tenant-b/wiki")
	docs := append(aclDataset(string(siteA)), aclDataset(string(siteB))...)
	legacy := doc("legacy/wiki", "old", acl.ACL{{Level: acl.LevelSpace, Principals: []string{"group:eng", "group:hr", "user:alice"}}})
	docs = append(docs, legacy)
	writeDocs(t, c, alias, docs)
	identities := []Identity{
		{Datasource: string(siteA), Principal: siteA.User("alice"), Email: "alice@example.com", Groups: []string{siteA.Group("eng")}},
		{Datasource: string(siteB), Principal: siteB.User("alice"), Email: "alice@example.com", Groups: []string{siteB.Group("hr")}},
		// erin exists on site B only, in every group there.
		{Datasource: string(siteB), Principal: siteB.User("erin"), Email: "erin@example.com", Groups: []string{siteB.Group("eng"), siteB.Group("hr"), siteB.Group("leads")}},
	}
	if err := c.UpsertIdentities(t.Context(), alias, identities); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	dls := DLSRole(alias, "")["index_permissions"].([]any)[0].(map[string]any)["dls"].(string)
	for _, who := range []string{"alice@example.com", "erin@example.com", "nobody@example.com"} {
		r, err := c.ResolvePrincipals(t.Context(), alias, nil, who)
		if err != nil {
			t.Fatal(err)
		}
		// The oracle: each data source's documents by that source's identity alone.
		var want []string
		for _, d := range docs {
			held := []string{}
			for _, id := range identities {
				if id.Email == who && id.Datasource == d.Datasource {
					held = append(append(held, id.Principal), id.Groups...)
				}
			}
			if d.ACL.Allows(held) {
				want = append(want, d.ID)
			}
		}
		sort.Strings(want)
		t.Logf("%s: %d documents", who, len(want))
		if got := visible(t, c, alias, r.Principals); !slices.Equal(got, want) {
			t.Errorf("filter: %s sees %d documents, their own sites allow %d\n extra %v", who, len(got), len(want), minusIDs(got, want))
		}
		got := dlsVisible(t, c, alias, dls, r.Principals)
		if !slices.Equal(got, want) {
			t.Errorf("DLS role: %s sees %d documents, their own sites allow %d\n extra %v", who, len(got), len(want), minusIDs(got, want))
		}
		if slices.Contains(got, legacy.ID) {
			t.Errorf("%s sees the unscoped legacy document", who)
		}
	}
}

func minusIDs(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestDocument_MarshalMergesFieldsAndRejectsClashes(t *testing.T) {
	d := doc("ns/a", "1", open)
	d.Fields = map[string]any{"tags": []string{"x"}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["acl_hash"] != open.Hash() || fmt.Sprint(m["tags"]) != "[x]" || m["doc_id"] != "ns:a:page:1" {
		t.Fatalf("document JSON = %s", b)
	}
	d.Fields = map[string]any{"title": "x"}
	if _, err := json.Marshal(d); err == nil {
		t.Fatal("a field clashing with title was accepted")
	}
}

func BenchmarkSink_BulkThroughput(b *testing.B) {
	srv := fakeopensearch.Start()
	defer srv.Close()
	c, err := NewClient(Config{Endpoints: []string{srv.URL()}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	alias := "bench"
	if _, err := c.EnsureIndex(ctx, IndexConfig{Alias: alias, Language: "en"}); err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("lorem ipsum dolor sit amet ", 180) // ~5 KB
	a := acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Source("ns/a").Group("eng")}}, {Level: acl.LevelPage, Principals: []string{acl.Source("ns/a").User("a")}}}
	s, err := c.NewSink(SinkConfig{Alias: alias})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := range b.N {
		d := doc("ns/a", fmt.Sprint(i), a)
		d.Body = body
		if err := s.Index(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := s.Stats(); st.Indexed != int64(b.N) {
		b.Fatalf("indexed %d of %d", st.Indexed, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// An endpoint that answers errors with huge bodies full of terminal escapes
// must not fill memory, logs or the status (issue 14: the status echoed an
// arbitrary endpoint's reply).
func TestErrors_HostileBodiesAreBoundedAndPrintable(t *testing.T) {
	huge := strings.Repeat("\x1b[2J\r\nA", 2<<20) // 14 MiB
	bodies := map[string]string{
		"json reason": string(mustJSON(map[string]any{"status": 400, "error": map[string]any{
			"type": "x\x1b[31m", "reason": huge, "caused_by": map[string]any{"type": "y", "reason": strings.Repeat("z", 5000)},
		}})),
		"plain text": huge,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			c, err := NewClient(Config{Endpoints: []string{srv.URL}, RetryBackoff: fastBackoff})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.do(t.Context(), http.MethodGet, "/x", nil, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if len(msg) > 1000 || strings.ContainsAny(msg, "\x1b\r\n") {
				t.Fatalf("error of %d bytes, control characters %v: %.120q", len(msg), strings.ContainsAny(msg, "\x1b\r\n"), msg)
			}
		})
	}
}

// A full crawl's deletion sweep asks only for documents written before it
// started: at the engine's millisecond precision, never leaving out one
// written before the instant, and always including documents of older
// releases without indexed_at.
func TestStreamDocRefs_NotWrittenSinceLeavesOutLaterWrites(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	start := time.Date(2026, 11, 30, 12, 0, 0, 500_000, time.UTC) // 0.5 ms past a millisecond
	at := func(id string, d time.Duration) Document {
		x := doc("ns/a", id, open)
		w := start.Add(d)
		x.IndexedAt = &w
		return x
	}
	writeDocs(t, c, alias, []Document{
		at("before", -time.Hour),
		at("just-before", -time.Microsecond),
		at("same-millisecond", 300*time.Microsecond), // after start, within its millisecond: left to the caller
		at("next-millisecond", 500*time.Microsecond),
		at("later", time.Minute),
	})
	// An older release's document, without indexed_at (the sink stamps
	// every document it writes).
	legacy := DocumentID("ns/a", TypePage, "legacy")
	if err := c.do(t.Context(), http.MethodPut, "/"+alias+"/_doc/"+url.PathEscape(legacy), nil, map[string]any{"datasource": "ns/a", "doc_id": legacy, "type": TypePage, "space_key": "ENG"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := c.StreamDocRefs(t.Context(), alias, IDFilter{Datasource: "ns/a", NotWrittenSince: start}, func(d DocRef) error {
		got = append(got, strings.TrimPrefix(d.ID, DocumentID("ns/a", TypePage, "")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if want := []string{"before", "just-before", "legacy", "same-millisecond"}; !slices.Equal(got, want) {
		t.Fatalf("streamed %v, want %v", got, want)
	}
}
