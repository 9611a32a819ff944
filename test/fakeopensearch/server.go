// Package fakeopensearch is an in-memory OpenSearch test double: an HTTP
// server implementing the subset of the REST API this project uses, with the
// real request and response shapes and error formats, so that the official
// opensearch-go client talks to it unchanged.
//
// Supported: GET / (info), _bulk (index, create, delete, update with doc and
// doc_as_upsert), single-document index/get/delete/_update, _mget,
// _index_template (put, get, delete), index create/exists/get/delete,
// _mapping (get, put), _aliases actions and GET _alias, _refresh, _count,
// _search, _delete_by_query and _reindex. Templates are applied to indices
// created under their patterns (explicitly or by auto-creation in _bulk),
// explicit mappings are enforced (a value that cannot be parsed for a long,
// date, boolean or nested field fails that one item with a
// mapper_parsing_exception) and unmapped fields are mapped dynamically,
// honouring dynamic_templates with path_match and match_mapping_type.
//
// Queries: bool (must, filter, should, must_not, minimum_should_match),
// term, terms, match, multi_match (best_fields), exists, nested (any depth
// of bool inside), ids, match_all, range (numbers, dates, strings); size,
// from, sort (fields and _score), search_after, _source filtering, version,
// and a simple highlighter. Scoring is a crude tf-idf, good enough to rank a
// title hit above a body hit; it does not imitate BM25.
//
// Limits: one shard, documents are visible at once (refresh is a no-op), no
// aggregations, no scroll or point-in-time, no analyzers beyond lowercase
// word splitting (every language analyzer behaves alike), no security plugin.
package fakeopensearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the OpenSearch version the double reports from GET /.
const Version = "2.19.0"

// Server is the test double. Create it with New or Start; it is safe for
// concurrent use.
type Server struct {
	mu        sync.Mutex
	indices   map[string]*index
	templates map[string]map[string]any
	seq       int64
	faults    []fault
	itemFault int
	// itemReject, if set, decides the fate of each bulk item: a status of
	// 0 lets it through, 400 rejects it as the engine rejects a document
	// it cannot parse, 429 as a full write queue.
	itemReject func(action, id string) int
	// rejectRequest, if set, answers a request for which it returns a
	// status with a cluster_block_exception of that status instead.
	rejectRequest func(method, path string) int
	// down makes every request fail at the connection level, as a node
	// that went away.
	down bool
	// downAfter, when positive, counts bulk items down to going down.
	downAfter int
	counters  map[string]int
	writes    map[string]int
	httpSrv   *httptest.Server
}

type fault struct{ status int }

type index struct {
	name     string
	uuid     string
	mappings map[string]any // as in a PUT body: properties, dynamic_templates, _meta, dynamic
	settings map[string]any
	aliases  map[string]map[string]any
	docs     map[string]*document
	// sorted caches the ids of docs in order for searches; nil after a
	// document is added or removed.
	sorted []string
}

// sortedIDs returns the index's document ids in order (the double's search
// order before sorting); callers must not modify it.
func (ix *index) sortedIDs() []string {
	if ix.sorted == nil {
		ix.sorted = make([]string, 0, len(ix.docs))
		for id := range ix.docs {
			ix.sorted = append(ix.sorted, id)
		}
		sort.Strings(ix.sorted)
	}
	return ix.sorted
}

type document struct {
	source  map[string]any
	version int64
	seqNo   int64
}

// New returns a server that is not listening; use it as an http.Handler.
func New() *Server {
	return &Server{
		indices:   map[string]*index{},
		templates: map[string]map[string]any{},
		counters:  map[string]int{},
		writes:    map[string]int{},
	}
}

// Start returns a server listening on 127.0.0.1; Close stops it.
func Start() *Server {
	s := New()
	s.httpSrv = httptest.NewServer(s)
	return s
}

// URL is the base URL of a started server.
func (s *Server) URL() string { return s.httpSrv.URL }

// Close stops a started server.
func (s *Server) Close() {
	if s.httpSrv != nil {
		s.httpSrv.Close()
	}
}

// FailBulk makes the next n _bulk requests fail as a whole with status: 429
// answers es_rejected_execution_exception, anything else (503, …) an
// unavailable error.
func (s *Server) FailBulk(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status})
	}
}

// RejectBulkItems makes the next n bulk items fail individually with 429
// es_rejected_execution_exception inside an otherwise successful response.
func (s *Server) RejectBulkItems(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemFault += n
}

// RejectItems makes every later bulk item for which f returns a status fail
// with it inside an otherwise successful response (f returns 0 to let an item
// through; nil removes the hook). 400 answers mapper_parsing_exception and
// 429 es_rejected_execution_exception, the shapes of the bulk API's item
// failures (OpenSearch "Bulk" API reference, "Response body fields": items[].error).
func (s *Server) RejectItems(f func(action, id string) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemReject = f
}

// RejectRequests makes every later request for which f returns a status
// fail with it (f returns 0 to let it through; nil removes the hook): a
// write refused on one index while others work.
func (s *Server) RejectRequests(f func(method, path string) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRequest = f
}

// SetDown makes the server drop every connection without an answer (down =
// true), as a node that crashed or a network partition does, or serve again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// GoDownAfterBulkItems makes the server take n more bulk items and then go
// down (see SetDown) in the middle of the bulk request holding the n-th: the
// node vanishes in the middle of a run.
func (s *Server) GoDownAfterBulkItems(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downAfter = n
}

// Requests returns how many requests of a kind were served. Kinds: info,
// bulk, bulk_item, search, count, mget, get, index, delete, update,
// delete_by_query, reindex, refresh, template, index_admin, alias, mapping.
func (s *Server) Requests(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters[kind]
}

// Writes returns how many documents were written (indexed, updated or
// deleted) in the concrete index name.
func (s *Server) Writes(indexName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[indexName]
}

// osError is the body of a failed request, as OpenSearch renders it.
type osError struct {
	status int
	typ    string
	reason string
	extra  map[string]any
}

func (e *osError) body() map[string]any {
	cause := map[string]any{"type": e.typ, "reason": e.reason}
	for k, v := range e.extra {
		cause[k] = v
	}
	top := map[string]any{"root_cause": []any{cause}}
	for k, v := range cause {
		top[k] = v
	}
	return map[string]any{"error": top, "status": e.status}
}

func (e *osError) item() map[string]any {
	m := map[string]any{"type": e.typ, "reason": e.reason}
	for k, v := range e.extra {
		m[k] = v
	}
	return m
}

func errf(status int, typ, format string, args ...any) *osError {
	return &osError{status: status, typ: typ, reason: fmt.Sprintf(format, args...)}
}

func indexNotFound(name string) *osError {
	e := errf(404, "index_not_found_exception", "no such index [%s]", name)
	e.extra = map[string]any{"index": name, "resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_"}
	return e
}

// writeJSON writes v as the engine's JSON: <, > and & unescaped, as
// OpenSearch returns them (its _source is the indexed JSON as sent; the
// escapes Go adds by default mean the same characters, RFC 8259 section 7).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, e *osError) { writeJSON(w, e.status, e.body()) }

// ServeHTTP routes a request like OpenSearch's REST layer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	if err != nil {
		writeErr(w, errf(400, "parse_exception", "cannot read body"))
		return
	}
	parts := strings.FieldsFunc(r.URL.Path, func(c rune) bool { return c == '/' })
	for i, p := range parts {
		parts[i] = unescape(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		dropConnection(w)
		return
	}
	if s.rejectRequest != nil {
		if st := s.rejectRequest(r.Method, r.URL.Path); st != 0 {
			// OpenSearch answers a write to a blocked index with
			// cluster_block_exception ("Index blocks" reference: 403).
			writeErr(w, errf(st, "cluster_block_exception", "index [%s] blocked by: [FORBIDDEN/8/index write (api)];", r.URL.Path))
			return
		}
	}
	status, resp, oe := s.route(r, parts, body)
	if s.down {
		dropConnection(w)
		return
	}
	if oe != nil {
		writeErr(w, oe)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, resp)
}

// dropConnection closes the client's connection without a response.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func unescape(p string) string {
	if u, err := urlUnescape(p); err == nil {
		return u
	}
	return p
}

func (s *Server) route(r *http.Request, p []string, body []byte) (int, any, *osError) {
	m, q := r.Method, r.URL.Query()
	n := len(p)
	switch {
	case n == 0 && (m == "GET" || m == "HEAD"):
		s.counters["info"]++
		return 200, s.info(), nil
	case n >= 1 && p[n-1] == "_bulk" && (m == "POST" || m == "PUT"):
		s.counters["bulk"]++
		idx := ""
		if n == 2 {
			idx = p[0]
		}
		return s.bulk(idx, body, q.Get("refresh"))
	case n == 1 && p[0] == "_aliases" && m == "POST":
		s.counters["alias"]++
		return s.aliasActions(body)
	case (n == 2 && p[0] == "_alias") || (n == 3 && p[1] == "_alias") || (n == 2 && p[1] == "_alias") || (n == 1 && p[0] == "_alias"):
		s.counters["alias"]++
		if m != "GET" && m != "HEAD" {
			break
		}
		return s.getAlias(p)
	case n >= 1 && p[0] == "_index_template":
		s.counters["template"]++
		name := ""
		if n > 1 {
			name = p[1]
		}
		return s.template(m, name, body)
	case n >= 1 && p[n-1] == "_refresh":
		s.counters["refresh"]++
		if n == 2 && q.Get("ignore_unavailable") != "true" {
			if _, oe := s.resolveAll(p[0]); oe != nil {
				return 0, nil, oe
			}
		}
		return 200, map[string]any{"_shards": shards()}, nil
	case n >= 1 && p[n-1] == "_search" && (m == "GET" || m == "POST"):
		s.counters["search"]++
		return s.search(target(p), body, q)
	case n >= 1 && p[n-1] == "_count" && (m == "GET" || m == "POST"):
		s.counters["count"]++
		return s.count(target(p), body)
	case n >= 1 && p[n-1] == "_mget" && (m == "GET" || m == "POST"):
		s.counters["mget"]++
		return s.mget(target(p), body, q)
	case n == 2 && p[1] == "_delete_by_query" && m == "POST":
		s.counters["delete_by_query"]++
		return s.deleteByQuery(p[0], body)
	case n == 1 && p[0] == "_reindex" && m == "POST":
		s.counters["reindex"]++
		return s.reindex(body)
	case n == 2 && p[1] == "_mapping":
		s.counters["mapping"]++
		return s.mapping(m, p[0], body)
	case n == 3 && p[1] == "_doc":
		switch m {
		case "GET", "HEAD":
			s.counters["get"]++
			return s.getDoc(p[0], p[2])
		case "PUT", "POST":
			s.counters["index"]++
			return s.indexDoc(p[0], p[2], body, q.Get("op_type"))
		case "DELETE":
			s.counters["delete"]++
			return s.deleteDoc(p[0], p[2])
		}
	case n == 2 && p[1] == "_doc" && m == "POST":
		s.counters["index"]++
		return s.indexDoc(p[0], "", body, "")
	case n == 3 && p[1] == "_update" && m == "POST":
		s.counters["update"]++
		return s.updateDoc(p[0], p[2], body)
	case n == 1 && !strings.HasPrefix(p[0], "_"):
		s.counters["index_admin"]++
		switch m {
		case "PUT":
			return s.createIndex(p[0], body)
		case "HEAD":
			if _, oe := s.resolveAll(p[0]); oe != nil {
				return 404, nil, nil
			}
			return 200, nil, nil
		case "GET":
			return s.getIndex(p[0])
		case "DELETE":
			return s.deleteIndex(p[0])
		}
	}
	return 0, nil, errf(400, "illegal_argument_exception", "no handler found for uri [%s] and method [%s]", r.URL.Path, m)
}

func target(p []string) string {
	if len(p) == 2 {
		return p[0]
	}
	return "_all"
}

func shards() map[string]any {
	return map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0}
}

func (s *Server) info() map[string]any {
	return map[string]any{
		"name":         "fakeopensearch",
		"cluster_name": "fakeopensearch",
		"cluster_uuid": "fake-cluster-uuid",
		"version": map[string]any{
			"distribution":                        "opensearch",
			"number":                              Version,
			"build_type":                          "tar",
			"lucene_version":                      "9.12.1",
			"minimum_wire_compatibility_version":  "7.10.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "The OpenSearch Project: https://opensearch.org/",
	}
}

// ---- indices, aliases, templates ----

var validIndexName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.+-]*$`)

// resolve returns the single concrete index behind a name or alias, as a
// write or single-index read needs it.
func (s *Server) resolve(name string) (*index, *osError) {
	if ix, ok := s.indices[name]; ok {
		return ix, nil
	}
	var found []*index
	var write *index
	for _, ix := range s.indices {
		if a, ok := ix.aliases[name]; ok {
			found = append(found, ix)
			if a["is_write_index"] == true {
				write = ix
			}
		}
	}
	switch {
	case write != nil:
		return write, nil
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, errf(400, "illegal_argument_exception", "no write index is defined for alias [%s]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index", name)
	}
	return nil, indexNotFound(name)
}

// resolveAll expands a comma-separated list of names, aliases, wildcards or
// _all into concrete indices, sorted by name.
func (s *Server) resolveAll(expr string) ([]*index, *osError) {
	set := map[string]*index{}
	for _, name := range strings.Split(expr, ",") {
		if name == "_all" || name == "*" {
			for k, ix := range s.indices {
				set[k] = ix
			}
			continue
		}
		if strings.Contains(name, "*") {
			for k, ix := range s.indices {
				if globMatch(name, k) {
					set[k] = ix
				}
			}
			continue
		}
		matched := false
		for k, ix := range s.indices {
			if _, ok := ix.aliases[name]; ok || k == name {
				set[k] = ix
				matched = true
			}
		}
		if !matched {
			return nil, indexNotFound(name)
		}
	}
	out := make([]*index, 0, len(set))
	for _, ix := range set {
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func globMatch(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

func (s *Server) isAlias(name string) bool {
	for _, ix := range s.indices {
		if _, ok := ix.aliases[name]; ok {
			return true
		}
	}
	return false
}

func (s *Server) createIndex(name string, body []byte) (int, any, *osError) {
	var req struct {
		Settings map[string]any            `json:"settings"`
		Mappings map[string]any            `json:"mappings"`
		Aliases  map[string]map[string]any `json:"aliases"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
		}
	}
	ix, oe := s.newIndex(name)
	if oe != nil {
		return 0, nil, oe
	}
	if req.Settings != nil {
		ix.settings = deepMerge(ix.settings, req.Settings)
	}
	if req.Mappings != nil {
		merged, oe := mergeMappings(ix.mappings, req.Mappings)
		if oe != nil {
			return 0, nil, oe
		}
		ix.mappings = merged
	}
	for a, v := range req.Aliases {
		if v == nil {
			v = map[string]any{}
		}
		ix.aliases[a] = v
	}
	s.indices[name] = ix
	return 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name}, nil
}

// newIndex validates a name and returns an index shaped by the matching
// template of highest priority; the caller registers it.
func (s *Server) newIndex(name string) (*index, *osError) {
	if _, ok := s.indices[name]; ok {
		e := errf(400, "resource_already_exists_exception", "index [%s/%s] already exists", name, "fakeuuid")
		e.extra = map[string]any{"index": name, "index_uuid": "fakeuuid"}
		return nil, e
	}
	if !validIndexName.MatchString(name) {
		return nil, errf(400, "invalid_index_name_exception", "Invalid index name [%s], must be lowercase", name)
	}
	if s.isAlias(name) {
		return nil, errf(400, "invalid_index_name_exception", "Invalid index name [%s], an alias with the same name already exists", name)
	}
	s.seq++
	ix := &index{name: name, uuid: fmt.Sprintf("uuid%d", s.seq), mappings: map[string]any{}, settings: map[string]any{}, aliases: map[string]map[string]any{}, docs: map[string]*document{}}
	var best map[string]any
	bestPrio := -1.0
	for _, t := range s.templates {
		for _, pat := range toStrings(t["index_patterns"]) {
			if globMatch(pat, name) {
				if p, _ := t["priority"].(float64); p > bestPrio {
					best, bestPrio = t, p
				}
			}
		}
	}
	if best != nil {
		if tpl, ok := best["template"].(map[string]any); ok {
			if m, ok := tpl["mappings"].(map[string]any); ok {
				merged, oe := mergeMappings(ix.mappings, m)
				if oe != nil {
					return nil, oe
				}
				ix.mappings = merged
			}
			if st, ok := tpl["settings"].(map[string]any); ok {
				ix.settings = deepMerge(ix.settings, st)
			}
			if al, ok := tpl["aliases"].(map[string]any); ok {
				for a, v := range al {
					am, _ := v.(map[string]any)
					if am == nil {
						am = map[string]any{}
					}
					ix.aliases[a] = am
				}
			}
		}
	}
	return ix, nil
}

func (s *Server) getIndex(expr string) (int, any, *osError) {
	ixs, oe := s.resolveAll(expr)
	if oe != nil {
		return 0, nil, oe
	}
	out := map[string]any{}
	for _, ix := range ixs {
		aliases := map[string]any{}
		for a, v := range ix.aliases {
			aliases[a] = v
		}
		out[ix.name] = map[string]any{
			"aliases":  aliases,
			"mappings": ix.mappings,
			"settings": map[string]any{"index": deepMerge(map[string]any{"uuid": ix.uuid, "provided_name": ix.name}, indexSettings(ix.settings))},
		}
	}
	return 200, out, nil
}

func indexSettings(s map[string]any) map[string]any {
	if in, ok := s["index"].(map[string]any); ok {
		rest := deepMerge(map[string]any{}, s)
		delete(rest, "index")
		return deepMerge(rest, in)
	}
	return s
}

func (s *Server) deleteIndex(expr string) (int, any, *osError) {
	for _, name := range strings.Split(expr, ",") {
		if _, ok := s.indices[name]; !ok && !strings.Contains(name, "*") {
			if s.isAlias(name) {
				return 0, nil, errf(400, "illegal_argument_exception", "The provided expression [%s] matches an alias, specify the corresponding concrete indices instead.", name)
			}
			return 0, nil, indexNotFound(name)
		}
	}
	for _, name := range strings.Split(expr, ",") {
		for k := range s.indices {
			if k == name || (strings.Contains(name, "*") && globMatch(name, k)) {
				delete(s.indices, k)
			}
		}
	}
	return 200, map[string]any{"acknowledged": true}, nil
}

func (s *Server) mapping(method, expr string, body []byte) (int, any, *osError) {
	ixs, oe := s.resolveAll(expr)
	if oe != nil {
		return 0, nil, oe
	}
	switch method {
	case "GET":
		out := map[string]any{}
		for _, ix := range ixs {
			out[ix.name] = map[string]any{"mappings": ix.mappings}
		}
		return 200, out, nil
	case "PUT", "POST":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
		}
		merged := make([]map[string]any, len(ixs))
		for i, ix := range ixs {
			mm, oe := mergeMappings(ix.mappings, m)
			if oe != nil {
				return 0, nil, oe
			}
			merged[i] = mm
		}
		for i, ix := range ixs {
			ix.mappings = merged[i]
		}
		return 200, map[string]any{"acknowledged": true}, nil
	}
	return 0, nil, errf(405, "illegal_argument_exception", "method [%s] not allowed", method)
}

func (s *Server) template(method, name string, body []byte) (int, any, *osError) {
	switch method {
	case "PUT", "POST":
		var t map[string]any
		if err := json.Unmarshal(body, &t); err != nil {
			return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
		}
		pats := toStrings(t["index_patterns"])
		if len(pats) == 0 {
			return 0, nil, errf(400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
		}
		prio, _ := t["priority"].(float64)
		for other, ot := range s.templates {
			if other == name {
				continue
			}
			op, _ := ot["priority"].(float64)
			if op != prio {
				continue
			}
			for _, a := range pats {
				for _, b := range toStrings(ot["index_patterns"]) {
					if globMatch(a, strings.ReplaceAll(b, "*", "x")) || globMatch(b, strings.ReplaceAll(a, "*", "x")) {
						return 0, nil, errf(400, "illegal_argument_exception", "index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s => %v) that have the same priority [%v], multiple index templates may not match during index creation, please use a different priority", name, pats, other, other, toStrings(ot["index_patterns"]), prio)
					}
				}
			}
		}
		if tpl, ok := t["template"].(map[string]any); ok {
			if m, ok := tpl["mappings"].(map[string]any); ok {
				if _, oe := mergeMappings(map[string]any{}, m); oe != nil {
					return 0, nil, oe
				}
			}
		}
		s.templates[name] = t
		return 200, map[string]any{"acknowledged": true}, nil
	case "GET", "HEAD":
		var out []any
		names := make([]string, 0, len(s.templates))
		for k := range s.templates {
			if name == "" || globMatch(name, k) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			out = append(out, map[string]any{"name": k, "index_template": s.templates[k]})
		}
		if len(out) == 0 && name != "" {
			return 0, nil, errf(404, "resource_not_found_exception", "index template matching [%s] not found", name)
		}
		return 200, map[string]any{"index_templates": out}, nil
	case "DELETE":
		if _, ok := s.templates[name]; !ok {
			return 0, nil, errf(404, "index_template_missing_exception", "index_template [%s] missing", name)
		}
		delete(s.templates, name)
		return 200, map[string]any{"acknowledged": true}, nil
	}
	return 0, nil, errf(405, "illegal_argument_exception", "method [%s] not allowed", method)
}

func (s *Server) aliasActions(body []byte) (int, any, *osError) {
	var req struct {
		Actions []map[string]map[string]any `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
	}
	// Validate everything first: alias actions are atomic.
	type op struct {
		kind  string
		ix    *index
		alias string
		opts  map[string]any
	}
	var ops []op
	for _, a := range req.Actions {
		for kind, args := range a {
			idxName, _ := args["index"].(string)
			alias, _ := args["alias"].(string)
			ix, ok := s.indices[idxName]
			if !ok {
				return 0, nil, indexNotFound(idxName)
			}
			switch kind {
			case "add":
				opts := map[string]any{}
				if v, ok := args["is_write_index"]; ok {
					opts["is_write_index"] = v
				}
				if _, clash := s.indices[alias]; clash {
					return 0, nil, errf(400, "invalid_alias_name_exception", "Invalid alias name [%s]: an index or data stream exists with the same name as the alias", alias)
				}
				ops = append(ops, op{kind, ix, alias, opts})
			case "remove":
				if _, ok := ix.aliases[alias]; !ok {
					return 0, nil, errf(404, "aliases_not_found_exception", "aliases [%s] missing", alias)
				}
				ops = append(ops, op{kind, ix, alias, nil})
			case "remove_index":
				ops = append(ops, op{kind, ix, "", nil})
			default:
				return 0, nil, errf(400, "x_content_parse_exception", "[aliases] unknown field [%s]", kind)
			}
		}
	}
	for _, o := range ops {
		switch o.kind {
		case "add":
			o.ix.aliases[o.alias] = o.opts
		case "remove":
			delete(o.ix.aliases, o.alias)
		case "remove_index":
			delete(s.indices, o.ix.name)
		}
	}
	return 200, map[string]any{"acknowledged": true}, nil
}

// getAlias serves GET /_alias/{name}, GET /{index}/_alias[/{name}].
func (s *Server) getAlias(p []string) (int, any, *osError) {
	idxExpr, name := "_all", ""
	switch {
	case p[0] == "_alias" && len(p) == 2:
		name = p[1]
	case len(p) >= 2 && p[1] == "_alias":
		idxExpr = p[0]
		if len(p) == 3 {
			name = p[2]
		}
	}
	ixs, oe := s.resolveAll(idxExpr)
	if oe != nil {
		return 0, nil, oe
	}
	out := map[string]any{}
	for _, ix := range ixs {
		aliases := map[string]any{}
		for a, v := range ix.aliases {
			if name == "" || globMatch(name, a) {
				aliases[a] = v
			}
		}
		if len(aliases) > 0 || name == "" {
			out[ix.name] = map[string]any{"aliases": aliases}
		}
	}
	if name != "" && len(out) == 0 {
		// The real (odd) shape: a string error.
		return 404, map[string]any{"error": fmt.Sprintf("alias [%s] missing", name), "status": 404}, nil
	}
	return 200, out, nil
}

// ---- documents ----

func (s *Server) writeDoc(ix *index, id string, src map[string]any, opType string) (map[string]any, *osError) {
	if opType == "create" {
		if d, ok := ix.docs[id]; ok {
			e := errf(409, "version_conflict_engine_exception", "[%s]: version conflict, document already exists (current version [%d])", id, d.version)
			e.extra = map[string]any{"index": ix.name, "shard": "0", "index_uuid": ix.uuid}
			return nil, e
		}
	}
	if oe := s.applyMapping(ix, id, src); oe != nil {
		return nil, oe
	}
	s.seq++
	result := "created"
	status := 201
	d := ix.docs[id]
	var version int64 = 1
	if d != nil {
		result, status, version = "updated", 200, d.version+1
	}
	if d == nil {
		ix.sorted = nil
	}
	ix.docs[id] = &document{source: src, version: version, seqNo: s.seq}
	s.writes[ix.name]++
	return docResult(ix, id, version, s.seq, result, status), nil
}

func docResult(ix *index, id string, version, seq int64, result string, status int) map[string]any {
	return map[string]any{
		"_index": ix.name, "_id": id, "_version": version, "result": result,
		"_shards": map[string]any{"total": 2, "successful": 1, "failed": 0},
		"_seq_no": seq, "_primary_term": 1, "status": status,
	}
}

func (s *Server) indexOrCreate(name string) (*index, *osError) {
	ix, oe := s.resolve(name)
	if oe == nil {
		return ix, nil
	}
	if oe.typ != "index_not_found_exception" {
		return nil, oe
	}
	ix, oe = s.newIndex(name)
	if oe != nil {
		return nil, oe
	}
	s.indices[name] = ix
	return ix, nil
}

func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("auto%012d", s.seq)
}

func (s *Server) indexDoc(name, id string, body []byte, opType string) (int, any, *osError) {
	var src map[string]any
	if err := json.Unmarshal(body, &src); err != nil {
		return 0, nil, errf(400, "mapper_parsing_exception", "failed to parse")
	}
	ix, oe := s.indexOrCreate(name)
	if oe != nil {
		return 0, nil, oe
	}
	if id == "" {
		id = s.newID()
	}
	res, oe := s.writeDoc(ix, id, src, opType)
	if oe != nil {
		return 0, nil, oe
	}
	st := res["status"].(int)
	delete(res, "status")
	return st, res, nil
}

func (s *Server) getDoc(name, id string) (int, any, *osError) {
	ix, oe := s.resolve(name)
	if oe != nil {
		return 0, nil, oe
	}
	d, ok := ix.docs[id]
	if !ok {
		return 404, map[string]any{"_index": ix.name, "_id": id, "found": false}, nil
	}
	return 200, map[string]any{"_index": ix.name, "_id": id, "_version": d.version, "_seq_no": d.seqNo, "_primary_term": 1, "found": true, "_source": d.source}, nil
}

func (s *Server) deleteDoc(name, id string) (int, any, *osError) {
	ix, oe := s.resolve(name)
	if oe != nil {
		return 0, nil, oe
	}
	res := s.removeDoc(ix, id)
	st := res["status"].(int)
	delete(res, "status")
	return st, res, nil
}

func (s *Server) removeDoc(ix *index, id string) map[string]any {
	s.seq++
	d, ok := ix.docs[id]
	if !ok {
		return docResult(ix, id, 1, s.seq, "not_found", 404)
	}
	delete(ix.docs, id)
	ix.sorted = nil
	s.writes[ix.name]++
	return docResult(ix, id, d.version+1, s.seq, "deleted", 200)
}

func (s *Server) update(ix *index, id string, req map[string]any) (map[string]any, *osError) {
	doc, _ := req["doc"].(map[string]any)
	d, exists := ix.docs[id]
	if !exists {
		if up, _ := req["doc_as_upsert"].(bool); up {
			return s.writeDoc(ix, id, doc, "index")
		}
		if ups, ok := req["upsert"].(map[string]any); ok {
			return s.writeDoc(ix, id, ups, "index")
		}
		e := errf(404, "document_missing_exception", "[%s]: document missing", id)
		e.extra = map[string]any{"index": ix.name, "shard": "0", "index_uuid": ix.uuid}
		return nil, e
	}
	merged := deepMerge(deepCopy(d.source), doc)
	return s.writeDoc(ix, id, merged, "index")
}

func (s *Server) updateDoc(name, id string, body []byte) (int, any, *osError) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
	}
	ix, oe := s.indexOrCreate(name)
	if oe != nil {
		return 0, nil, oe
	}
	res, oe := s.update(ix, id, req)
	if oe != nil {
		return 0, nil, oe
	}
	st := res["status"].(int)
	delete(res, "status")
	return st, res, nil
}

func (s *Server) bulk(defIndex string, body []byte, refresh string) (int, any, *osError) {
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.status == 429 {
			return 0, nil, errf(429, "es_rejected_execution_exception", "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=53687091]")
		}
		return 0, nil, errf(f.status, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no cluster-manager];")
	}
	start := time.Now()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	var items []any
	hasErr := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		action, err := decodeJSON(line)
		actionObj, _ := action.(map[string]any)
		if err != nil || len(actionObj) != 1 {
			return 0, nil, errf(400, "illegal_argument_exception", "Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", len(items)+1)
		}
		var kind string
		var meta map[string]any
		for k, v := range actionObj {
			kind = k
			if meta, _ = v.(map[string]any); meta == nil && v != nil {
				return 0, nil, errf(400, "illegal_argument_exception", "Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", len(items)+1)
			}
		}
		var src map[string]any
		if kind != "delete" {
			if !sc.Scan() {
				return 0, nil, errf(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
			}
			// decodeJSON: one pass instead of json.Unmarshal's two. As
			// before, anything but an object (or null) fails the item.
			v, err := decodeJSON(sc.Bytes())
			if src, _ = v.(map[string]any); err != nil || (src == nil && v != nil) {
				e := errf(400, "mapper_parsing_exception", "failed to parse")
				items = append(items, map[string]any{kind: map[string]any{"_index": meta["_index"], "_id": meta["_id"], "status": 400, "error": e.item()}})
				hasErr = true
				continue
			}
		}
		s.counters["bulk_item"]++
		if s.downAfter > 0 {
			if s.downAfter--; s.downAfter == 0 {
				s.down = true
			}
		}
		if s.down {
			return 0, nil, nil // the caller drops the connection
		}
		name, _ := meta["_index"].(string)
		if name == "" {
			name = defIndex
		}
		id, _ := meta["_id"].(string)
		res, oe := s.bulkItem(kind, name, id, src)
		if oe != nil {
			hasErr = true
			ixName := name
			if ix, err := s.resolve(name); err == nil {
				ixName = ix.name
			}
			res = map[string]any{"_index": ixName, "_id": id, "status": oe.status, "error": oe.item()}
		} else if st := res["status"].(int); st >= 300 {
			hasErr = true
		}
		items = append(items, map[string]any{kind: res})
	}
	return 200, map[string]any{"took": time.Since(start).Milliseconds(), "errors": hasErr, "items": items}, nil
}

func (s *Server) bulkItem(kind, name, id string, src map[string]any) (map[string]any, *osError) {
	if name == "" {
		return nil, errf(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
	}
	if s.itemReject != nil {
		switch s.itemReject(kind, id) {
		case 0:
		case 429:
			return nil, errf(429, "es_rejected_execution_exception", "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1, max_coordinating_and_primary_bytes=53687091]")
		default:
			return nil, errf(400, "mapper_parsing_exception", "failed to parse field [body] of type [text] in document with id '%s'", id)
		}
	}
	if s.itemFault > 0 {
		s.itemFault--
		return nil, errf(429, "es_rejected_execution_exception", "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1, max_coordinating_and_primary_bytes=53687091]")
	}
	switch kind {
	case "index", "create":
		ix, oe := s.indexOrCreate(name)
		if oe != nil {
			return nil, oe
		}
		if id == "" {
			id = s.newID()
		}
		return s.writeDoc(ix, id, src, kind)
	case "delete":
		ix, oe := s.resolve(name)
		if oe != nil {
			return nil, oe
		}
		return s.removeDoc(ix, id), nil
	case "update":
		ix, oe := s.indexOrCreate(name)
		if oe != nil {
			return nil, oe
		}
		return s.update(ix, id, src)
	}
	return nil, errf(400, "illegal_argument_exception", "Malformed action/metadata line, expected one of [create, delete, index, update] but found [%s]", kind)
}

func (s *Server) mget(expr string, body []byte, q map[string][]string) (int, any, *osError) {
	var req struct {
		Docs []struct {
			Index  string `json:"_index"`
			ID     string `json:"_id"`
			Source any    `json:"_source"`
		} `json:"docs"`
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
	}
	for _, id := range req.IDs {
		req.Docs = append(req.Docs, struct {
			Index  string `json:"_index"`
			ID     string `json:"_id"`
			Source any    `json:"_source"`
		}{Index: expr, ID: id})
	}
	if len(req.Docs) == 0 {
		return 0, nil, errf(400, "action_request_validation_exception", "Validation Failed: 1: no documents to get;")
	}
	defSource := sourceParams(q)
	var docs []any
	for _, d := range req.Docs {
		name := d.Index
		if name == "" {
			name = expr
		}
		ix, oe := s.resolve(name)
		if oe != nil {
			docs = append(docs, map[string]any{"_index": name, "_id": d.ID, "error": oe.body()["error"]})
			continue
		}
		doc, ok := ix.docs[d.ID]
		if !ok {
			docs = append(docs, map[string]any{"_index": ix.name, "_id": d.ID, "found": false})
			continue
		}
		spec := defSource
		if d.Source != nil {
			spec = d.Source
		}
		out := map[string]any{"_index": ix.name, "_id": d.ID, "_version": doc.version, "_seq_no": doc.seqNo, "_primary_term": 1, "found": true}
		if src, ok := filterSource(doc.source, spec); ok {
			out["_source"] = src
		}
		docs = append(docs, out)
	}
	return 200, map[string]any{"docs": docs}, nil
}

func sourceParams(q map[string][]string) any {
	var inc, exc []string
	for _, v := range q["_source_includes"] {
		inc = append(inc, strings.Split(v, ",")...)
	}
	for _, v := range q["_source_excludes"] {
		exc = append(exc, strings.Split(v, ",")...)
	}
	if v := q["_source"]; len(v) > 0 {
		if v[0] == "false" {
			return false
		}
		if v[0] != "true" {
			inc = append(inc, strings.Split(v[0], ",")...)
		}
	}
	if inc == nil && exc == nil {
		return nil
	}
	return map[string]any{"includes": toAny(inc), "excludes": toAny(exc)}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ---- search ----

type searchReq struct {
	Query          map[string]any `json:"query"`
	Size           *int           `json:"size"`
	From           int            `json:"from"`
	Sort           any            `json:"sort"`
	SearchAfter    []any          `json:"search_after"`
	Source         any            `json:"_source"`
	Highlight      map[string]any `json:"highlight"`
	Version        bool           `json:"version"`
	TrackTotalHits any            `json:"track_total_hits"`
}

type hit struct {
	ix    *index
	id    string
	doc   *document
	score float64
	sort  []any
}

func (s *Server) matching(ixs []*index, query map[string]any) ([]*hit, *osError) {
	var hits []*hit
	for _, ix := range ixs {
		ev := &evaluator{ix: ix, stats: ix}
		for _, id := range ix.sortedIDs() {
			d := ix.docs[id]
			ok, score, oe := ev.eval(query, scope{id: id, root: d.source})
			if oe != nil {
				return nil, oe
			}
			if ok {
				hits = append(hits, &hit{ix: ix, id: id, doc: d, score: score})
			}
		}
	}
	return hits, nil
}

func (s *Server) search(expr string, body []byte, q map[string][]string) (int, any, *osError) {
	var req searchReq
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
		}
	}
	if v := q["size"]; len(v) > 0 {
		n, _ := strconv.Atoi(v[0])
		req.Size = &n
	}
	if req.Source == nil {
		req.Source = sourceParams(q)
	}
	ixs, oe := s.resolveAll(expr)
	if oe != nil {
		return 0, nil, oe
	}
	if req.Query == nil {
		req.Query = map[string]any{"match_all": map[string]any{}}
	}
	hits, oe := s.matching(ixs, req.Query)
	if oe != nil {
		return 0, nil, oe
	}
	sorts, oe := parseSort(req.Sort)
	if oe != nil {
		return 0, nil, oe
	}
	evs := map[*index]*evaluator{}
	for _, h := range hits {
		h.sort = sortValues(sorts, h, evs)
	}
	sort.SliceStable(hits, func(i, j int) bool { return compareSort(sorts, hits[i].sort, hits[j].sort) < 0 })
	// The engine counts every match, also those before search_after.
	total := len(hits)
	if len(req.SearchAfter) > 0 {
		if len(req.SearchAfter) != len(sorts) || req.Sort == nil {
			return 0, nil, errf(400, "illegal_argument_exception", "search_after has %d value(s) but sort has %d.", len(req.SearchAfter), len(sorts))
		}
		after := normalizeAfter(sorts, req.SearchAfter)
		i := sort.Search(len(hits), func(i int) bool { return compareSort(sorts, hits[i].sort, after) > 0 })
		hits = hits[i:]
	}
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	from := min(req.From, len(hits))
	hits = hits[from:min(len(hits), from+max(size, 0))]
	var maxScore any
	out := make([]any, 0, len(hits))
	terms := queryTerms(req.Query)
	for _, h := range hits {
		sh := map[string]any{"_index": h.ix.name, "_id": h.id, "_score": h.score}
		if req.Sort != nil && !sortsOnScore(sorts) {
			sh["_score"] = nil
		}
		if req.Version {
			sh["_version"] = h.doc.version
		}
		if src, ok := filterSource(h.doc.source, req.Source); ok {
			sh["_source"] = src
		}
		if req.Sort != nil {
			sh["sort"] = h.sort
		}
		if hl := highlight(h.ix, h.doc.source, req.Highlight, terms); len(hl) > 0 {
			sh["highlight"] = hl
		}
		if ms, _ := maxScore.(float64); sh["_score"] != nil && h.score > ms {
			maxScore = h.score
		}
		out = append(out, sh)
	}
	hitsObj := map[string]any{"max_score": maxScore, "hits": out}
	t, oe := totalHits(req.TrackTotalHits, total)
	if oe != nil {
		return 0, nil, oe
	}
	if t != nil {
		hitsObj["total"] = t
	}
	return 200, map[string]any{"took": 1, "timed_out": false, "_shards": shards(), "hits": hitsObj}, nil
}

// totalHits renders hits.total as the engine does for track_total_hits
// (OpenSearch reference, "Search" API: track_total_hits): counted exactly up
// to 10,000 by default, or up to the number given, after which the value is
// the limit and the relation "gte"; true counts exactly, false and -1 leave
// the total out.
func totalHits(track any, total int) (map[string]any, *osError) {
	limit := 10000
	switch v := track.(type) {
	case nil:
	case bool:
		if !v {
			return nil, nil
		}
		limit = -1
	case float64:
		if v == -1 {
			return nil, nil
		}
		if v < 0 {
			// As the engine (2.19, 3.9) answers: a failed search phase
			// caused by the argument.
			e := errf(400, "search_phase_execution_exception", "")
			e.extra = map[string]any{"phase": "fetch", "grouped": true, "failed_shards": []any{},
				"caused_by": map[string]any{"type": "illegal_argument_exception", "reason": fmt.Sprintf("value must be >= 0, got %v", v)}}
			return nil, e
		}
		limit = int(v)
	default:
		return nil, errf(400, "parsing_exception", "[track_total_hits] must be a boolean or an integer")
	}
	if limit >= 0 && total > limit {
		return map[string]any{"value": limit, "relation": "gte"}, nil
	}
	return map[string]any{"value": total, "relation": "eq"}, nil
}

func (s *Server) count(expr string, body []byte) (int, any, *osError) {
	var req searchReq
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
		}
	}
	ixs, oe := s.resolveAll(expr)
	if oe != nil {
		return 0, nil, oe
	}
	if req.Query == nil {
		req.Query = map[string]any{"match_all": map[string]any{}}
	}
	hits, oe := s.matching(ixs, req.Query)
	if oe != nil {
		return 0, nil, oe
	}
	return 200, map[string]any{"count": len(hits), "_shards": shards()}, nil
}

func (s *Server) deleteByQuery(expr string, body []byte) (int, any, *osError) {
	var req searchReq
	if err := json.Unmarshal(body, &req); err != nil || req.Query == nil {
		return 0, nil, errf(400, "action_request_validation_exception", "Validation Failed: 1: query is missing;")
	}
	ixs, oe := s.resolveAll(expr)
	if oe != nil {
		return 0, nil, oe
	}
	start := time.Now()
	hits, oe := s.matching(ixs, req.Query)
	if oe != nil {
		return 0, nil, oe
	}
	for _, h := range hits {
		s.removeDoc(h.ix, h.id)
	}
	return 200, map[string]any{
		"took": time.Since(start).Milliseconds(), "timed_out": false, "total": len(hits), "deleted": len(hits),
		"batches": 1, "version_conflicts": 0, "noops": 0, "retries": map[string]any{"bulk": 0, "search": 0},
		"throttled_millis": 0, "requests_per_second": -1.0, "throttled_until_millis": 0, "failures": []any{},
	}, nil
}

func (s *Server) reindex(body []byte) (int, any, *osError) {
	var req struct {
		Source struct {
			Index any            `json:"index"`
			Query map[string]any `json:"query"`
		} `json:"source"`
		Dest struct {
			Index string `json:"index"`
		} `json:"dest"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, errf(400, "parse_exception", "request body is not valid JSON: %v", err)
	}
	src := strings.Join(toStrings(req.Source.Index), ",")
	ixs, oe := s.resolveAll(src)
	if oe != nil {
		return 0, nil, oe
	}
	if req.Source.Query == nil {
		req.Source.Query = map[string]any{"match_all": map[string]any{}}
	}
	hits, oe := s.matching(ixs, req.Source.Query)
	if oe != nil {
		return 0, nil, oe
	}
	dest, oe := s.indexOrCreate(req.Dest.Index)
	if oe != nil {
		return 0, nil, oe
	}
	created, updated := 0, 0
	var failures []any
	for _, h := range hits {
		res, oe := s.writeDoc(dest, h.id, deepCopy(h.doc.source), "index")
		if oe != nil {
			failures = append(failures, map[string]any{"index": dest.name, "id": h.id, "cause": oe.item(), "status": oe.status})
			continue
		}
		if res["result"] == "created" {
			created++
		} else {
			updated++
		}
	}
	if failures == nil {
		failures = []any{}
	}
	return 200, map[string]any{"took": 1, "timed_out": false, "total": len(hits), "created": created, "updated": updated, "deleted": 0, "batches": 1, "version_conflicts": 0, "noops": 0, "retries": map[string]any{"bulk": 0, "search": 0}, "throttled_millis": 0, "requests_per_second": -1.0, "throttled_until_millis": 0, "failures": failures}, nil
}

// ---- helpers ----

func toStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// deepMerge merges src into dst (objects recursively, anything else replaced).
func deepMerge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = deepMerge(dm, vm)
				continue
			}
			dst[k] = deepMerge(map[string]any{}, vm)
			continue
		}
		dst[k] = v
	}
	return dst
}

func containsString(list []string, s string) bool { return slices.Contains(list, s) }
