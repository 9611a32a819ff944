package fakeconfluence

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// The expansions the crawler lists content with.
const listingExpand = "body.storage,version,space,history,ancestors,metadata.labels," +
	"restrictions.read.restrictions.user,restrictions.read.restrictions.group"

// Listings are served from rendered items cached per store generation: each
// listed item must mean exactly what rendering it afresh gives, an edit must
// show in the next listing, and markup must travel unescaped as Confluence
// sends it.
func TestListings_ServeFreshRenderingsWithMarkupUnescaped(t *testing.T) {
	for _, dep := range []Deployment{Cloud, DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			s := New(Options{Deployment: dep})
			defer s.Close()
			ds := s.Generate(DatasetOptions{Spaces: 1, PagesPerSpace: 8, CommentsPerPage: 0, AttachmentsPerPage: 0})
			user := ds.Crawler.Email
			path := "/rest/api/content/search?cql=" + url.QueryEscape(`space = "S1" and type = page`) + "&expand=" + listingExpand + "&limit=50"
			if dep == DataCenter {
				user = ds.Crawler.Username
				path = "/rest/api/content?spaceKey=S1&type=page&expand=" + listingExpand + "&limit=50"
			}
			list := func() (raw []byte, items []any) {
				t.Helper()
				req, _ := http.NewRequest("GET", s.URL()+path, nil)
				req.SetBasicAuth(user, ds.Crawler.Secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, _ = io.ReadAll(resp.Body)
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil || resp.StatusCode != 200 {
					t.Fatalf("status %d, %v: %s", resp.StatusCode, err, raw)
				}
				items, _ = m["results"].([]any)
				if len(items) == 0 || m["size"] != float64(len(items)) {
					t.Fatalf("listing: %s", raw)
				}
				return raw, items
			}
			fresh := func(item any) any {
				t.Helper()
				id, _ := item.(map[string]any)["id"].(string)
				s.mu.RLock()
				c := s.st.content[id]
				want := s.renderContent(c, parseExpand(listingExpand), s.URL())
				s.mu.RUnlock()
				b, _ := json.Marshal(want)
				var v any
				_ = json.Unmarshal(b, &v)
				return v
			}
			check := func(items []any) {
				t.Helper()
				for _, it := range items {
					if want := fresh(it); !reflect.DeepEqual(it, want) {
						t.Fatalf("listed item differs from a fresh rendering:\n got %v\nwant %v", it, want)
					}
				}
			}
			_, first := list()
			check(first)
			_, again := list() // served from the cache
			check(again)

			id := again[0].(map[string]any)["id"].(string)
			const body = `<p>Tom &amp; Jerry: a < b && b > c</p>`
			if !s.EditContent(id, "", func(c *Content) { c.Body = body }) {
				t.Fatal("edit failed")
			}
			raw, edited := list()
			check(edited)
			var got string
			for _, it := range edited {
				if m := it.(map[string]any); m["id"] == id {
					got, _ = m["body"].(map[string]any)["storage"].(map[string]any)["value"].(string)
				}
			}
			if got != body {
				t.Fatalf("after the edit the listing shows body %q, want %q", got, body)
			}
			if !bytes.Contains(raw, []byte(body)) || strings.Contains(string(raw), `\u003c`) {
				t.Fatalf("markup must be sent unescaped, as Confluence sends it: %.300s", raw)
			}
		})
	}
}
