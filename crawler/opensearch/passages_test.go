package opensearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// bulkRecorder is a reverse proxy to the cluster that keeps the action lines
// of every _bulk request.
type bulkRecorder struct {
	mu      sync.Mutex
	actions []map[string]map[string]string
	// paths are the paths of every request.
	paths []string
}

// sent returns the recorded requests whose path ends with suffix.
func (r *bulkRecorder) sent(suffix string) (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.paths {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func recordBulk(t *testing.T, target string) (*bulkRecorder, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &bulkRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.paths = append(rec.paths, r.URL.Path)
		rec.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				var a map[string]map[string]string
				if json.Unmarshal(sc.Bytes(), &a) == nil && (a["index"] != nil || a["delete"] != nil) {
					rec.mu.Lock()
					rec.actions = append(rec.actions, a)
					rec.mu.Unlock()
				}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func passageDoc(id string, a acl.ACL, texts ...string) Document {
	d := Document{ID: id, ContentID: id, Type: TypePage, Datasource: "ns/a", SpaceKey: "ENG", Title: "Runbook " + id,
		URL: "https://wiki.example.com/pages/" + id, Body: strings.Join(texts, "\n"), ACL: a, Labels: []string{"ops"}}
	for i, t := range texts {
		d.Passages = append(d.Passages, Passage{Text: t, HeadingPath: []string{"H", "h" + string(rune('a'+i))}, URL: d.URL + "#x" + string(rune('a'+i))})
	}
	return d
}

func storedPassages(t *testing.T, c *Client, alias string) map[string]map[string]any {
	t.Helper()
	return storedSources(t, c, PassageAlias(alias))
}

func TestSink_PassagesAreWrittenReplacedAndDeletedWithTheirDocument(t *testing.T) {
	c0, tg, alias := newTestClient(t)
	if tg.Fake != nil {
		t.Skip("_delete_by_query of passages and ingest pipelines: real OpenSearch (OPENSEARCH_URL)")
	}
	t.Cleanup(func() {
		_ = c0.do(t.Context(), http.MethodDelete, "/_index_template/"+TemplateName(PassageAlias(alias)), nil, nil, nil)
	})
	ensure(t, c0, IndexConfig{Alias: alias, Language: "en"})
	if _, err := c0.EnsurePassageIndex(t.Context(), IndexConfig{Alias: alias, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	docPipe, passPipe := alias+"-docs", alias+"-passages"
	for _, p := range []string{docPipe, passPipe} {
		if err := c0.do(t.Context(), http.MethodPut, "/_ingest/pipeline/"+p, nil, map[string]any{"processors": []any{}}, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c0.do(t.Context(), http.MethodDelete, "/_ingest/pipeline/"+p, nil, nil, nil) })
	}
	rec, proxyURL := recordBulk(t, tg.URL)
	c, err := NewClient(Config{Endpoints: []string{proxyURL}, Username: tg.Username, Password: tg.Password, RetryBackoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	write := func(f func(s *Sink)) Stats {
		t.Helper()
		s, err := c.NewSink(SinkConfig{Alias: alias, PassageAlias: PassageAlias(alias), Pipeline: docPipe, PassagePipeline: passPipe,
			FlushInterval: time.Hour, Refresh: "true"})
		if err != nil {
			t.Fatal(err)
		}
		f(s)
		if err := s.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if errs := s.Errors(); len(errs) > 0 {
			t.Fatalf("item errors: %v", errs)
		}
		return s.Stats()
	}
	open := acl.ACL{{Level: "space", Principals: []string{"ns/a:group:staff"}}}
	closed := acl.ACL{{Level: "space", Principals: []string{"ns/a:group:staff"}}, {Level: "page", Principals: []string{"ns/a:user:alice"}}}

	st := write(func(s *Sink) {
		_ = s.Index(t.Context(), passageDoc("d1", open, "one", "two", "three"))
		_ = s.Index(t.Context(), passageDoc("d2", open, "other"))
	})
	if st.Indexed != 2 || st.PassagesIndexed != 4 {
		t.Fatalf("stats %+v", st)
	}
	got := storedPassages(t, c0, alias)
	p1 := got[PassageID("d1", 1)]
	if len(got) != 4 || p1["body"] != "two" || p1["document_id"] != "d1" || p1["url"] != "https://wiki.example.com/pages/d1#xb" ||
		p1["document_url"] != "https://wiki.example.com/pages/d1" || p1["title"] != "Runbook d1" || p1["space_key"] != "ENG" ||
		p1["acl_hash"] != open.Hash() || p1["passage"] != 1.0 {
		t.Fatalf("stored passages %v", got)
	}
	rec.mu.Lock()
	for _, a := range rec.actions {
		m := a["index"]
		switch {
		case m == nil:
		case strings.Contains(m["_id"], ":p"):
			if m["pipeline"] != passPipe || m["_index"] != PassageAlias(alias) {
				t.Errorf("passage written without the passage pipeline: %v", m)
			}
		case m["pipeline"] != docPipe:
			t.Errorf("document written without the document pipeline: %v", m)
		}
	}
	if len(rec.actions) != 6 {
		t.Errorf("%d bulk actions, want 6", len(rec.actions))
	}
	rec.mu.Unlock()

	// Edited and restricted: fewer passages, the new ACL; d2 untouched.
	st = write(func(s *Sink) { _ = s.IndexFailClosed(t.Context(), passageDoc("d1", closed, "ONE")) })
	got = storedPassages(t, c0, alias)
	if st.PassagesIndexed != 1 || st.PassagesDeleted != 2 || len(got) != 2 || got[PassageID("d1", 0)]["body"] != "ONE" ||
		got[PassageID("d1", 0)]["acl_hash"] != closed.Hash() || got[PassageID("d2", 0)] == nil {
		t.Fatalf("after the edit: stats %+v, passages %v", st, got)
	}
	res, err := c0.SearchPassages(t.Context(), PassageSearchRequest{Alias: alias, Principals: []string{"ns/a:group:staff"}, Query: "ONE other"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := hitIDs(res); !slices.Equal(ids, []string{PassageID("d2", 0)}) {
		t.Errorf("staff (not alice) finds %v", ids)
	}

	// Deleted: its passages go with it.
	st = write(func(s *Sink) { _ = s.Delete(t.Context(), "d1") })
	got = storedPassages(t, c0, alias)
	if st.Deleted != 1 || st.PassagesDeleted != 1 || len(got) != 1 || got[PassageID("d2", 0)] == nil {
		t.Fatalf("after the deletion: stats %+v, passages %v", st, got)
	}
}

func TestSink_WithoutPassageAliasPassagesAreIgnored(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias, Language: "en"})
	s, err := c.NewSink(SinkConfig{Alias: alias, Refresh: "true"})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Index(t.Context(), passageDoc("d1", acl.ACL{{Level: "space", Principals: []string{"anonymous"}}}, "one", "two"))
	_ = s.Delete(t.Context(), "d9")
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Indexed != 1 || st.Deleted != 1 || st.PassagesIndexed != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPassageSearchBody_NeuralQueryKeepsTheACLFilter(t *testing.T) {
	b := PassageSearchBody(PassageSearchRequest{Alias: "a", Query: "how do refunds work", Principals: []string{"ns/a:user:1"},
		Neural: &NeuralQuery{Field: "passage_embedding", ModelID: "m1"}})
	q := b["query"].(map[string]any)["bool"].(map[string]any)
	must := q["must"].([]any)[0].(map[string]any)["neural"].(map[string]any)["passage_embedding"].(map[string]any)
	if must["query_text"] != "how do refunds work" || must["model_id"] != "m1" || must["k"] != 100 {
		t.Errorf("neural query %v", must)
	}
	filter, _ := json.Marshal(q["filter"].([]any)[0])
	want, _ := json.Marshal(ACLFilter([]string{"ns/a:user:1"}))
	if !bytes.Equal(filter, want) {
		t.Errorf("filter %s, want the ACL filter %s", filter, want)
	}
}

func hitIDs(hits []PassageHit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

func TestPassageIndex_VectorFieldNeedsAKNNIndex(t *testing.T) {
	cfg := IndexConfig{Alias: "wiki", Language: "en", passages: true, Vector: &VectorField{Name: "passage_embedding", Dimension: 384}}
	props := Mappings(cfg)["properties"].(map[string]any)
	if v := props["passage_embedding"]; !reflect.DeepEqual(v, map[string]any{"type": "knn_vector", "dimension": 384}) {
		t.Errorf("vector field %v", v)
	}
	for _, f := range []string{"document_id", "document_url", "heading_path", "passage", "acl", "acl_hash", "title", "body"} {
		if props[f] == nil {
			t.Errorf("passages mapping without %s", f)
		}
	}
	settings := indexTemplate(cfg)["template"].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)
	if settings["knn"] != true {
		t.Errorf("index settings %v", settings)
	}
	if got := BackingIndex(cfg); got != "wiki-v1-english-knn384" {
		t.Errorf("backing index %s", got)
	}
	cfg.Vector = nil
	if _, ok := indexTemplate(cfg)["template"].(map[string]any)["settings"]; ok {
		t.Error("settings without a vector field")
	}
	if docs := Mappings(IndexConfig{Alias: "wiki"})["properties"].(map[string]any); docs["heading_path"] != nil {
		t.Error("the documents mapping has passage fields")
	}
}

// passageSinkEnv is a documents index and its passages index on the real
// node, a client writing through a recording proxy, and a writer.
type passageSinkEnv struct {
	c0, c *Client
	alias string
	rec   *bulkRecorder
	cfg   SinkConfig
}

func newPassageSinkEnv(t *testing.T) *passageSinkEnv {
	t.Helper()
	c0, tg, alias := newTestClient(t)
	if tg.Fake != nil {
		t.Skip("passage purges: real OpenSearch (OPENSEARCH_URL)")
	}
	t.Cleanup(func() {
		_ = c0.do(t.Context(), http.MethodDelete, "/_index_template/"+TemplateName(PassageAlias(alias)), nil, nil, nil)
	})
	ensure(t, c0, IndexConfig{Alias: alias, Language: "en"})
	if _, err := c0.EnsurePassageIndex(t.Context(), IndexConfig{Alias: alias, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	rec, proxyURL := recordBulk(t, tg.URL)
	c, err := NewClient(Config{Endpoints: []string{proxyURL}, Username: tg.Username, Password: tg.Password, RetryBackoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	return &passageSinkEnv{c0: c0, c: c, alias: alias, rec: rec,
		cfg: SinkConfig{Alias: alias, PassageAlias: PassageAlias(alias), FlushInterval: time.Hour, MaxItemRetries: 1}}
}

// write runs f on a new sink and returns its stats and item errors.
func (e *passageSinkEnv) write(t *testing.T, f func(s *Sink)) (Stats, []ItemError) {
	t.Helper()
	s, err := e.c.NewSink(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f(s)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s.Stats(), s.Errors()
}

func passageIDs(m map[string]map[string]any) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestSink_StalePassagesAreDeletedByIDWithoutRefreshOrDeleteByQuery(t *testing.T) {
	e := newPassageSinkEnv(t)
	open := acl.ACL{{Level: "space", Principals: []string{"ns/a:group:staff"}}}
	// No refresh anywhere: the stored counts are read in real time.
	for _, step := range []struct {
		name  string
		write func(s *Sink)
		want  []string
	}{
		{"written", func(s *Sink) {
			_ = s.Index(t.Context(), passageDoc("d1", open, "one", "two", "three"))
			_ = s.Index(t.Context(), passageDoc("d2", open, "other", "more"))
		}, []string{"d1:p0", "d1:p1", "d1:p2", "d2:p0", "d2:p1"}},
		{"d1 shrinks", func(s *Sink) { _ = s.Index(t.Context(), passageDoc("d1", open, "ONE")) }, []string{"d1:p0", "d2:p0", "d2:p1"}},
		{"d1 grows", func(s *Sink) { _ = s.Index(t.Context(), passageDoc("d1", open, "1", "2")) }, []string{"d1:p0", "d1:p1", "d2:p0", "d2:p1"}},
		{"d1 twice in a round", func(s *Sink) {
			_ = s.Index(t.Context(), passageDoc("d1", open, "a", "b", "c", "d"))
			_ = s.Index(t.Context(), passageDoc("d1", open, "a"))
		}, []string{"d1:p0", "d2:p0", "d2:p1"}},
		{"d2 deleted", func(s *Sink) { _ = s.Delete(t.Context(), "d2") }, []string{"d1:p0"}},
	} {
		st, errs := e.write(t, step.write)
		if len(errs) > 0 || st.Failed != 0 {
			t.Fatalf("%s: stats %+v, errors %v", step.name, st, errs)
		}
		if got := passageIDs(storedPassages(t, e.c0, e.alias)); !slices.Equal(got, step.want) {
			t.Fatalf("%s: passages %v, want %v", step.name, got, step.want)
		}
	}
	if n := e.rec.sent("/_refresh") + e.rec.sent("/_delete_by_query"); n != 0 {
		t.Errorf("%d refreshes or deletes by query sent; stale passages should go by _id", n)
	}
}

func TestSink_PassagesOfADocumentStoredWithoutACountArePurgedByQuery(t *testing.T) {
	e := newPassageSinkEnv(t)
	open := acl.ACL{{Level: "space", Principals: []string{"ns/a:group:staff"}}}
	// As written before documents stored their passage count.
	old, err := e.c0.NewSink(SinkConfig{Alias: e.alias, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_ = old.Index(t.Context(), passageDoc("d1", open, "one", "two", "three"))
	for n := range 3 {
		pb, err := passageDoc("d1", open, "one", "two", "three").encodePassage(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.c0.do(t.Context(), http.MethodPut, "/"+PassageAlias(e.alias)+"/_doc/"+PassageID("d1", n), nil, pb, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, errs := e.write(t, func(s *Sink) { _ = s.Index(t.Context(), passageDoc("d1", open, "ONE")) })
	if len(errs) > 0 || st.PassagesDeleted != 2 {
		t.Fatalf("stats %+v, errors %v", st, errs)
	}
	if got := passageIDs(storedPassages(t, e.c0, e.alias)); !slices.Equal(got, []string{"d1:p0"}) {
		t.Fatalf("passages %v, want d1:p0 alone", got)
	}
	if e.rec.sent("/_delete_by_query") != 1 {
		t.Errorf("%d deletes by query, want 1 for the document without a count", e.rec.sent("/_delete_by_query"))
	}
}

func TestSink_PassagesOfADocumentWhoseWriteFailedAreRemoved(t *testing.T) {
	e := newPassageSinkEnv(t)
	// The documents index maps "n" as a number, the passages index does
	// not: a document with a text "n" is refused, its passages written.
	ensure(t, e.c0, IndexConfig{Alias: e.alias, Language: "en", ExtraFields: map[string]string{"n": "long"}})
	open := acl.ACL{{Level: "space", Principals: []string{"ns/a:group:staff"}}}
	if st, errs := e.write(t, func(s *Sink) { _ = s.Index(t.Context(), passageDoc("d1", open, "one")) }); len(errs) > 0 {
		t.Fatalf("stats %+v, errors %v", st, errs)
	}
	refused := passageDoc("d1", open, "1", "2", "3")
	refused.Fields = map[string]any{"n": "not a number"}
	st, errs := e.write(t, func(s *Sink) { _ = s.Index(t.Context(), refused) })
	if st.Failed != 1 || st.Indexed != 0 || st.PassagesIndexed != 3 || len(errs) != 1 {
		t.Fatalf("stats %+v, errors %v: want the document failed", st, errs)
	}
	// The stored document still counts one passage: passages written
	// beyond it would never be found again.
	if got := storedPassages(t, e.c0, e.alias); len(got) != 0 {
		t.Fatalf("passages %v, want none", passageIDs(got))
	}
}
