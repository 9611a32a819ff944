package fakeopensearch

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// call sends a request to the target and decodes the JSON answer.
func call(t *testing.T, tg Target, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, tg.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ct := "application/json"
	if strings.Contains(path, "_bulk") {
		ct = "application/x-ndjson"
	}
	req.Header.Set("Content-Type", ct)
	if tg.Username != "" {
		req.SetBasicAuth(tg.Username, tg.Password)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: tg.Insecure}}} //nolint:gosec // test clusters
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func errType(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

// eachTarget runs a parity test on the double and, when OPENSEARCH_URL is
// set (make test starts a real node), on that cluster too: the double must
// answer as the engine does.
func eachTarget(t *testing.T, test func(t *testing.T, tg Target)) {
	t.Run("double", func(t *testing.T) { test(t, Double(t)) })
	if os.Getenv("OPENSEARCH_URL") != "" {
		t.Run("engine", func(t *testing.T) { test(t, ForTest(t)) })
	}
}

func setupNested(t *testing.T, tg Target) string {
	name := IndexName(t)
	t.Cleanup(func() { call(t, tg, "DELETE", "/"+name, "") })
	st, m := call(t, tg, "PUT", "/"+name, `{"mappings":{"properties":{
		"acl":{"type":"nested","properties":{"principals":{"type":"keyword"}}},
		"size":{"type":"long"},"when":{"type":"date"},"title":{"type":"text","fields":{"keyword":{"type":"keyword"}}}}}}`)
	if st != 200 || m["acknowledged"] != true {
		t.Fatalf("create index: %d %v", st, m)
	}
	return name
}

func TestErrors_HaveTheRealEnvelope(t *testing.T) { eachTarget(t, testErrorsHaveTheRealEnvelope) }

func testErrorsHaveTheRealEnvelope(t *testing.T, tg Target) {
	name := IndexName(t)
	st, m := call(t, tg, "GET", "/"+name+"/_search", `{}`)
	if st != 404 || errType(m) != "index_not_found_exception" || m["status"] != 404.0 {
		t.Fatalf("search of a missing index: %d %v", st, m)
	}
	root := m["error"].(map[string]any)["root_cause"].([]any)[0].(map[string]any)
	if root["type"] != "index_not_found_exception" || root["index"] != name {
		t.Fatalf("root_cause = %v", root)
	}
	st, m = call(t, tg, "GET", "/_alias/"+name, "")
	if st != 404 || m["error"] != fmt.Sprintf("alias [%s] missing", name) {
		t.Fatalf("missing alias: %d %v", st, m)
	}
	call(t, tg, "PUT", "/"+name, `{}`)
	t.Cleanup(func() { call(t, tg, "DELETE", "/"+name, "") })
	if st, m = call(t, tg, "PUT", "/"+name, `{}`); st != 400 || errType(m) != "resource_already_exists_exception" {
		t.Fatalf("create twice: %d %v", st, m)
	}
}

func TestBulk_MappingConflictFailsOneItem(t *testing.T) {
	eachTarget(t, testBulkMappingConflictFailsOneItem)
}

func testBulkMappingConflictFailsOneItem(t *testing.T, tg Target) {
	name := setupNested(t, tg)
	body := fmt.Sprintf(`{"index":{"_index":%[1]q,"_id":"1"}}
{"size":1,"when":"2026-01-02T03:04:05Z"}
{"index":{"_index":%[1]q,"_id":"2"}}
{"size":"large"}
{"index":{"_index":%[1]q,"_id":"3"}}
{"when":"yesterday-ish"}
{"delete":{"_index":%[1]q,"_id":"404"}}
`, name)
	st, m := call(t, tg, "POST", "/_bulk?refresh=true", body)
	if st != 200 || m["errors"] != true {
		t.Fatalf("bulk: %d %v", st, m)
	}
	items := m["items"].([]any)
	status := func(i int, action string) (float64, string) {
		r := items[i].(map[string]any)[action].(map[string]any)
		e, _ := r["error"].(map[string]any)
		typ, _ := e["type"].(string)
		return r["status"].(float64), typ
	}
	if s, _ := status(0, "index"); s != 201 {
		t.Fatalf("item 0 status %v", s)
	}
	for _, i := range []int{1, 2} {
		if s, typ := status(i, "index"); s != 400 || typ != "mapper_parsing_exception" {
			t.Fatalf("item %d: %v %s", i, s, typ)
		}
	}
	if s, _ := status(3, "delete"); s != 404 {
		t.Fatalf("delete of a missing doc: %v", s)
	}
	if _, c := call(t, tg, "GET", "/"+name+"/_count", ""); c["count"] != 1.0 {
		t.Fatalf("count = %v", c)
	}
}

func TestSearch_NestedFieldsNeedNestedQuery(t *testing.T) {
	eachTarget(t, testSearchNestedFieldsNeedNestedQuery)
}

func testSearchNestedFieldsNeedNestedQuery(t *testing.T, tg Target) {
	name := setupNested(t, tg)
	call(t, tg, "PUT", "/"+name+"/_doc/1?refresh=true", `{"title":"Hello World","acl":[{"principals":["a","b"]},{"principals":["c"]}]}`)
	ids := func(q string) []string {
		st, m := call(t, tg, "POST", "/"+name+"/_search", q)
		if st != 200 {
			t.Fatalf("search %s: %d %v", q, st, m)
		}
		var out []string
		for _, h := range m["hits"].(map[string]any)["hits"].([]any) {
			out = append(out, h.(map[string]any)["_id"].(string))
		}
		return out
	}
	if got := ids(`{"query":{"term":{"acl.principals":"a"}}}`); len(got) != 0 {
		t.Fatalf("a nested field matched outside a nested query: %v", got)
	}
	if got := ids(`{"query":{"nested":{"path":"acl","query":{"term":{"acl.principals":"c"}}}}}`); len(got) != 1 {
		t.Fatalf("nested term: %v", got)
	}
	// Some clause lacks all of {a}: the second one.
	lacks := `{"query":{"nested":{"path":"acl","query":{"bool":{"must_not":[{"terms":{"acl.principals":["a"]}}]}}}}}`
	if got := ids(lacks); len(got) != 1 {
		t.Fatalf("nested must_not: %v", got)
	}
	if got := ids(`{"query":{"term":{"title.keyword":"Hello World"}}}`); len(got) != 1 {
		t.Fatalf("multi-field keyword: %v", got)
	}
	if got := ids(`{"query":{"match":{"title":"hello"}}}`); len(got) != 1 {
		t.Fatalf("match: %v", got)
	}
	st, m := call(t, tg, "POST", "/"+name+"/_search", `{"query":{"nested":{"path":"title","query":{"match_all":{}}}}}`)
	if st != 400 {
		t.Fatalf("nested on a non-nested path: %d %v", st, m)
	}
}

func TestSearch_TotalHitsAreCountedAsTheEngineDoes(t *testing.T) {
	eachTarget(t, testSearchTotalHitsAreCountedAsTheEngineDoes)
}

func testSearchTotalHitsAreCountedAsTheEngineDoes(t *testing.T, tg Target) {
	name := IndexName(t)
	t.Cleanup(func() { call(t, tg, "DELETE", "/"+name, "") })
	call(t, tg, "PUT", "/"+name, `{"mappings":{"properties":{"k":{"type":"keyword"}}}}`)
	st, m := call(t, tg, "POST", "/_bulk?refresh=true", fmt.Sprintf(`{"index":{"_index":%[1]q,"_id":"1"}}
{"k":"a"}
{"index":{"_index":%[1]q,"_id":"2"}}
{"k":"b"}
{"index":{"_index":%[1]q,"_id":"3"}}
{"k":"c"}
`, name))
	if st != 200 || m["errors"] != false {
		t.Fatalf("bulk: %d %v", st, m)
	}
	total := func(body string) (any, int) {
		t.Helper()
		st, m := call(t, tg, "POST", "/"+name+"/_search", body)
		if st != 200 {
			t.Fatalf("search %s: %d %v", body, st, m)
		}
		h := m["hits"].(map[string]any)
		tot, ok := h["total"]
		if !ok {
			tot = "absent"
		}
		return tot, len(h["hits"].([]any))
	}
	for body, want := range map[string]string{
		`{}`:                                          "map[relation:eq value:3]",
		`{"track_total_hits":2}`:                      "map[relation:gte value:2]",
		`{"track_total_hits":3}`:                      "map[relation:eq value:3]",
		`{"track_total_hits":true}`:                   "map[relation:eq value:3]",
		`{"track_total_hits":false}`:                  "absent",
		`{"track_total_hits":-1}`:                     "absent",
		`{"sort":[{"k":"asc"}],"search_after":["a"]}`: "map[relation:eq value:3]", // every match, not those after
	} {
		if got, _ := total(body); fmt.Sprint(got) != want {
			t.Errorf("%s: total %v, want %s", body, got, want)
		}
	}
	if _, n := total(`{"sort":[{"k":"asc"}],"search_after":["a"]}`); n != 2 {
		t.Errorf("search_after returned %d hits, want 2", n)
	}
	st, m = call(t, tg, "POST", "/"+name+"/_search", `{"track_total_hits":-2}`)
	cause, _ := m["error"].(map[string]any)["caused_by"].(map[string]any)
	if st != 400 || errType(m) != "search_phase_execution_exception" || cause["type"] != "illegal_argument_exception" {
		t.Errorf("track_total_hits -2: %d %v", st, m)
	}
}

func TestTemplate_AppliesToNewIndices(t *testing.T) { eachTarget(t, testTemplateAppliesToNewIndices) }

func testTemplateAppliesToNewIndices(t *testing.T, tg Target) {
	base := IndexName(t)
	t.Cleanup(func() {
		call(t, tg, "DELETE", "/"+base+"-x", "")
		call(t, tg, "DELETE", "/_index_template/"+base, "")
	})
	st, m := call(t, tg, "PUT", "/_index_template/"+base, fmt.Sprintf(`{"index_patterns":["%s-*"],"priority":7,"version":3,
		"template":{"mappings":{"properties":{"acl":{"type":"nested"},"n":{"type":"long"}}}}}`, base))
	if st != 200 {
		t.Fatalf("put template: %d %v", st, m)
	}
	st, m = call(t, tg, "POST", "/_bulk?refresh=true", fmt.Sprintf("{\"index\":{\"_index\":\"%s-x\",\"_id\":\"1\"}}\n{\"n\":\"NaN-ish\"}\n", base))
	if st != 200 || m["errors"] != true {
		t.Fatalf("auto-created index ignored the template: %d %v", st, m)
	}
	st, m = call(t, tg, "GET", "/_index_template/"+base, "")
	tpls, _ := m["index_templates"].([]any)
	if st != 200 || len(tpls) != 1 || tpls[0].(map[string]any)["index_template"].(map[string]any)["version"] != 3.0 {
		t.Fatalf("get template: %d %v", st, m)
	}
}

// Faults and counters exist only in the double.
func TestFaults_AndCounters(t *testing.T) {
	tg := Double(t)
	s := tg.Fake
	s.FailBulk(429, 1)
	st, m := call(t, tg, "POST", "/_bulk", "{\"index\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{}\n")
	if st != 429 || errType(m) != "es_rejected_execution_exception" {
		t.Fatalf("fault: %d %v", st, m)
	}
	s.RejectBulkItems(1)
	_, m = call(t, tg, "POST", "/_bulk", "{\"index\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{}\n{\"index\":{\"_index\":\"x\",\"_id\":\"2\"}}\n{}\n")
	items := m["items"].([]any)
	if items[0].(map[string]any)["index"].(map[string]any)["status"] != 429.0 || items[1].(map[string]any)["index"].(map[string]any)["status"] != 201.0 {
		t.Fatalf("item fault: %v", items)
	}
	if s.Requests("bulk") != 2 || s.Writes("x") != 1 {
		t.Fatalf("counters: bulk %d, writes %d", s.Requests("bulk"), s.Writes("x"))
	}
}
