package crawl_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// TestSharedAlias_CollidingPrincipalsNeverCrossSites is the attack of issue
// 14: two Confluence sites are crawled by two data sources into one alias.
// Both sites have groups named confluence-users, engineering, hr and finance
// (Data Center: the same group names; Cloud: the same group ids) and the same
// user keys, with different memberships. A search application resolves each
// reader by e-mail across every data source (search --all-datasources), and
// every reader must see exactly what each site shows the account holding that
// e-mail there: nothing a same-named group of the other site grants. erin-b
// exists on site B only and is in every group there.
func TestSharedAlias_CollidingPrincipalsNeverCrossSites(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.DataCenter, fakeconfluence.Cloud} {
		t.Run(string(dep), func(t *testing.T) {
			a := newHarness(t, dep, fakeconfluence.DatasetOptions{Seed: 1, RestrictedEvery: 3})
			b := a.sibling("tenant-b/wiki", dep, fakeconfluence.DatasetOptions{Seed: 2, RestrictedEvery: 3})
			intruder := b.cf.AddUser(fakeconfluence.User{Username: "erin-b", Email: "erin@site-b.example", DisplayName: "Erin B", Secret: "x"})
			for _, g := range b.cf.Groups() {
				b.cf.SetGroupMembers(g.Name, append(slices.Clone(g.Members), intruder.ID)...)
			}
			a.mustRun(v1.SyncFullCrawl)
			b.mustRun(v1.SyncFullCrawl)

			readers := []string{""}
			for _, h := range []*harness{a, b} {
				for _, u := range h.cf.Users() {
					if r := readerName(dep, u); !slices.Contains(readers, r) {
						readers = append(readers, r)
					}
				}
			}
			for _, reader := range readers {
				got := searchAcrossSources(t, a, reader)
				want := append(a.expectedFor(dep, reader), b.expectedFor(dep, reader)...)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("reader %q: search returns %d documents, the two sites show %d\n extra: %v\n missing: %v", reader, len(got), len(want), minus(got, want), minus(want, got))
				}
			}
			if len(a.expectedFor(dep, "")) == 0 {
				t.Fatal("the data set has no anonymous space: the oracle would not cover public content")
			}
		})
	}
}

// readerName is how a search application names a user of this deployment to
// the identity index: Cloud identities carry e-mail addresses, Data Center
// ones user names.
func readerName(dep fakeconfluence.Deployment, u fakeconfluence.User) string {
	if dep == fakeconfluence.Cloud {
		return u.Email
	}
	return u.Username
}

// searchAcrossSources searches every data source of the alias as the reader
// with this name ("" = anonymous), resolving principals from every data
// source's identities, as "search --all-datasources" does.
func searchAcrossSources(t *testing.T, h *harness, reader string) []string {
	t.Helper()
	ctx := context.Background()
	who, err := h.os.ResolvePrincipals(ctx, h.spec.OpenSearch.Index, nil, reader)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.os.Search(ctx, opensearch.SearchRequest{Alias: h.spec.OpenSearch.Index, Principals: who.Principals, Size: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, hit := range res.Hits {
		ids = append(ids, hit.ID)
	}
	slices.Sort(ids)
	return ids
}

// expectedFor is what this site shows the account with this reader name
// (anonymous for "" or when the site has no such account).
func (h *harness) expectedFor(dep fakeconfluence.Deployment, reader string) []string {
	for _, u := range h.cf.Users() {
		if reader != "" && readerName(dep, u) == reader {
			return h.expected(u.ID)
		}
	}
	return h.expected("")
}

// An index written before principals were scoped ("group:hr", "user:<key>")
// must not become wider under the new search: its identities contribute no
// principals (the reader sees the public documents only), and the next sync,
// even an incremental one, rewrites every document and identity scoped.
func TestSync_UnscopedIndexFailsClosedUntilTheNextSyncScopesIt(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{RestrictedEvery: 3})
	h.needsEngine()
	first := h.mustRun(v1.SyncFullCrawl)
	h.downgradeToCopiedSpacePrincipals()
	h.downgradeToUnscoped()

	public := h.expected("")
	for _, u := range h.cf.Users() {
		res, err := h.os.ResolvePrincipals(context.Background(), h.spec.OpenSearch.Index, []string{h.ds}, u.Username)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Known() || !slices.Equal(res.Unscoped, []string{h.ds}) || !slices.Equal(res.Principals, []string{acl.Anonymous}) {
			t.Fatalf("%s in the unscoped index resolves to %+v, want the identity found, flagged unscoped and ignored", u.Username, res)
		}
		if got := h.search(res.Principals); !slices.Equal(got, public) {
			t.Errorf("%s sees %d documents of the unscoped index, want the %d public ones\n extra: %v", u.Username, len(got), len(public), minus(got, public))
		}
	}

	sum := h.mustRun(v1.SyncIncremental)
	if sum.DocumentsIndexed != first.DocumentCount {
		t.Errorf("the incremental sync after the upgrade rewrote %d of %d documents", sum.DocumentsIndexed, first.DocumentCount)
	}
	for _, u := range h.cf.Users() {
		res, err := h.os.ResolvePrincipals(context.Background(), h.spec.OpenSearch.Index, []string{h.ds}, u.Username)
		if err != nil || len(res.Unscoped) != 0 {
			t.Fatalf("%s after the sync: %+v, %v", u.Username, res, err)
		}
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

// downgradeToUnscoped rewrites the data source's documents and identities the
// way releases before principal scoping wrote them ("group:<name>",
// "user:<key>", no user_id), with a checkpoint holding an identity hash of
// that release.
func (h *harness) downgradeToUnscoped() {
	h.t.Helper()
	alias := h.spec.OpenSearch.Index
	strip := func(v any) string { return strings.TrimPrefix(v.(string), h.ds+":") }
	var rewritten []storedDoc
	for _, index := range []string{alias, opensearch.IdentityIndex(alias)} {
		stored := h.storedOf(index)
		if len(stored) == 0 {
			h.t.Fatalf("nothing to downgrade in %s", index)
		}
		for _, hit := range stored {
			src := hit.Source
			if clauses, ok := src["acl"].([]any); ok {
				var a acl.ACL
				for _, c := range clauses {
					cl := c.(map[string]any)
					ps := []string{}
					for _, p := range asSlice(cl["principals"]) {
						ps = append(ps, strip(p))
					}
					cl["principals"] = ps
					a = append(a, acl.Clause{Level: acl.Level(cl["level"].(string)), Principals: ps})
				}
				src["acl_hash"] = a.Hash()
			} else {
				src["principal"] = strip(src["principal"])
				groups := []string{}
				for _, g := range asSlice(src["groups"]) {
					groups = append(groups, strip(g))
				}
				src["groups"] = groups
				delete(src, "user_id")
			}
			rewritten = append(rewritten, hit)
		}
	}
	h.reindex(rewritten, false)
	ctx := context.Background()
	cp, err := h.os.ReadCheckpoint(ctx, alias, h.ds)
	if err != nil || cp == nil {
		h.t.Fatalf("checkpoint: %v, %v", cp, err)
	}
	cp.State = json.RawMessage(`{"identityHash":"written-by-an-older-release"}`)
	if err := h.os.WriteCheckpoint(ctx, alias, *cp); err != nil {
		h.t.Fatal(err)
	}
	if err := h.os.Refresh(ctx, alias); err != nil {
		h.t.Fatal(err)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// storedDoc is one of the data source's documents as stored in an index.
type storedDoc struct {
	Index  string         `json:"_index"`
	ID     string         `json:"_id"`
	Source map[string]any `json:"_source"`
}

// storedOf returns the data source's documents in index (at most 10,000).
func (h *harness) storedOf(index string) []storedDoc {
	h.t.Helper()
	var res struct {
		Hits struct {
			Hits []storedDoc `json:"hits"`
		} `json:"hits"`
	}
	h.raw(http.MethodPost, "/"+index+"/_search", map[string]any{"size": 10000, "query": map[string]any{"term": map[string]any{"datasource": h.ds}}}, &res)
	return res.Hits.Hits
}

// reindex writes docs back as they are now, bypassing the crawler (to stage
// documents an older release wrote).
func (h *harness) reindex(docs []storedDoc, refresh bool) {
	h.t.Helper()
	var bulk bytes.Buffer
	for _, d := range docs {
		meta, _ := json.Marshal(map[string]any{"index": map[string]any{"_index": d.Index, "_id": d.ID}})
		src, _ := json.Marshal(d.Source)
		bulk.Write(meta)
		bulk.WriteByte('\n')
		bulk.Write(src)
		bulk.WriteByte('\n')
	}
	var res struct {
		Errors bool `json:"errors"`
	}
	h.raw(http.MethodPost, "/_bulk?refresh="+strconv.FormatBool(refresh), bulk.Bytes(), &res)
	if res.Errors {
		h.t.Fatal("reindex: bulk errors")
	}
}

// raw sends one request to the harness's OpenSearch, bypassing the client.
func (h *harness) raw(method, path string, body, out any) {
	h.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(h.target.URL, "/")+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if h.target.Username != "" {
		req.SetBasicAuth(h.target.Username, h.target.Password)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: h.target.Insecure}}} //nolint:gosec // test clusters only
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		h.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			h.t.Fatal(err)
		}
	}
}
