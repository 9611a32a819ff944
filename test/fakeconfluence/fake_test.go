package fakeconfluence

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestGenerate_IsDeterministic(t *testing.T) {
	for _, dep := range []Deployment{Cloud, DataCenter} {
		a, b := New(Options{Deployment: dep}), New(Options{Deployment: dep})
		defer a.Close()
		defer b.Close()
		opts := DatasetOptions{Seed: 42, PagesPerSpace: 30, CommentsPerPage: 2, AttachmentsPerPage: 2}
		da, db := a.Generate(opts), b.Generate(opts)
		if !reflect.DeepEqual(da, db) {
			t.Fatalf("%s: datasets differ", dep)
		}
		for _, sp := range a.Spaces() {
			for _, id := range a.ContentIDs(sp.Key, "page", "any") {
				ca, _ := a.Content(id)
				cb, _ := b.Content(id)
				if !reflect.DeepEqual(ca, cb) || !reflect.DeepEqual(a.AttachmentsOf(id), b.AttachmentsOf(id)) || !reflect.DeepEqual(a.CommentsOf(id), b.CommentsOf(id)) {
					t.Fatalf("%s: content %s differs", dep, id)
				}
			}
		}
		if da.Trashed == 0 || da.Comments == 0 || da.Attachments == 0 || da.BlogPosts == 0 {
			t.Fatalf("%s: dataset lacks variety: %+v", dep, da)
		}
	}
}

func TestGenerate_FilesAreValid(t *testing.T) {
	pdf := minimalPDF("hello")
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.4")) || !bytes.Contains(pdf, []byte("startxref")) {
		t.Fatal("PDF malformed")
	}
	zr, err := zip.NewReader(bytes.NewReader(minimalDOCX("hello & bye")), int64(len(minimalDOCX("hello & bye"))))
	if err != nil || len(zr.File) != 3 {
		t.Fatalf("DOCX is not a valid zip: %v", err)
	}
}

func get(t *testing.T, s *Server, path, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL()+path, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestServer_CapsLimitsSilently(t *testing.T) {
	tests := map[string]struct {
		dep  Deployment
		path string
		want int
	}{
		"cloud cql with bodies":  {Cloud, "/rest/api/content/search?cql=" + url.QueryEscape(`space = "S1"`) + "&expand=body.storage&limit=1000", 50},
		"dc content with bodies": {DataCenter, "/rest/api/content?spaceKey=S1&expand=body.storage&limit=1000", 50},
		"dc cql with bodies":     {DataCenter, "/rest/api/content/search?cql=" + url.QueryEscape(`space = "S1"`) + "&expand=body.storage&limit=1000", 50},
		"dc content without":     {DataCenter, "/rest/api/content?spaceKey=S1&limit=1000", 200},
		"cloud v1 default":       {Cloud, "/rest/api/content?spaceKey=S1", 25},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := New(Options{Deployment: tc.dep})
			defer s.Close()
			ds := s.Generate(DatasetOptions{Spaces: 1, PagesPerSpace: 300, CommentsPerPage: 0, AttachmentsPerPage: 0})
			user := ds.Crawler.Email
			if tc.dep == DataCenter {
				user = ds.Crawler.Username
			}
			status, m := get(t, s, tc.path, user, ds.Crawler.Secret)
			if status != 200 {
				t.Fatalf("status %d: %v", status, m)
			}
			if n := len(m["results"].([]any)); n != tc.want {
				t.Fatalf("got %d results, want %d", n, tc.want)
			}
			if next, _ := m["_links"].(map[string]any)["next"].(string); next == "" || strings.Contains(next, "/wiki/") {
				t.Fatalf("next link %q must be base-relative", next)
			}
		})
	}
}

// The Data Center quirks the client must survive: next advances by the
// requested limit (Onyx #4129) and a full last page links past the end
// (CONFSERVER-95396).
func TestServer_DCNextLinksSkipAndOvershoot(t *testing.T) {
	s := New(Options{Deployment: DataCenter})
	defer s.Close()
	ds := s.Generate(DatasetOptions{Spaces: 1, PagesPerSpace: 100, CommentsPerPage: 0, AttachmentsPerPage: 0})
	next := func(path string) (int, string) {
		t.Helper()
		status, m := get(t, s, path, ds.Crawler.Username, ds.Crawler.Secret)
		if status != 200 {
			t.Fatalf("status %d: %v", status, m)
		}
		n, _ := m["_links"].(map[string]any)["next"].(string)
		return len(m["results"].([]any)), n
	}
	n, link := next("/rest/api/content?spaceKey=S1&expand=body.storage&limit=80")
	if u, _ := url.Parse(link); n != 50 || u.Query().Get("start") != "80" {
		t.Fatalf("first page: %d results, next %q; want 50 and start=80", n, link)
	}
	n, link = next("/rest/api/content?spaceKey=S1&expand=body.storage&limit=50&start=50")
	if n != 50 || link == "" {
		t.Fatalf("full last page: %d results, next %q; want a next link past the end", n, link)
	}
	if n, link = next(link); n != 0 || link != "" {
		t.Fatalf("past the end: %d results, next %q; want an empty last page", n, link)
	}
}

func TestServer_RejectsCloudStartBeyond15000(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ds := s.Generate(DatasetOptions{PagesPerSpace: 1})
	if status, _ := get(t, s, "/rest/api/content?spaceKey=S1&start=15001", ds.Crawler.Email, ds.Crawler.Secret); status != 400 {
		t.Fatalf("status = %d, want 400", status)
	}
}

func TestServer_EditsBumpVersionsButPermissionChangesDoNot(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Generate(DatasetOptions{PagesPerSpace: 3})
	id := s.ContentIDs("S1", "page", "current")[0]
	before, _ := s.Content(id)
	s.SetRestriction(id, nil, []string{"hr"})
	s.SetSpacePermissions("S1", nil, []string{"hr"}, false)
	s.MoveContent(id, "", "")
	if c, _ := s.Content(id); c.Version != before.Version || !c.Modified.Equal(before.Modified) {
		t.Fatal("restriction, permission or move changed the version")
	}
	s.EditContent(id, "", func(c *Content) { c.Body = "<p>new</p>" })
	if c, _ := s.Content(id); c.Version != before.Version+1 || !c.Modified.After(before.Modified) {
		t.Fatal("edit did not bump the version")
	}
	s.TrashContent(id)
	for _, cur := range s.ContentIDs("S1", "page", "current") {
		if cur == id {
			t.Fatal("trashed page still current")
		}
	}
}

func TestServer_FaultsAreDeterministicPerSeed(t *testing.T) {
	run := func() []int {
		s := New(Options{Seed: 9})
		defer s.Close()
		ds := s.Generate(DatasetOptions{PagesPerSpace: 1})
		s.AddFault(Fault{Endpoint: "space.list", Status: 500, Probability: 0.5})
		var out []int
		for range 20 {
			st, _ := get(t, s, "/rest/api/space", ds.Crawler.Email, ds.Crawler.Secret)
			out = append(out, st)
		}
		return out
	}
	if a, b := run(), run(); !reflect.DeepEqual(a, b) {
		t.Fatalf("fault sequence differs: %v vs %v", a, b)
	}
}

// Data Center OAuth 2.0: space permissions and (9.2.3+) groups are closed to
// OAuth2 apps, and the refresh grant checks redirect_uri.
func TestServer_DCOAuth2Quirks(t *testing.T) {
	s := New(Options{Deployment: DataCenter, DCVersion: "10.1"})
	defer s.Close()
	ds := s.Generate(DatasetOptions{Spaces: 1, PagesPerSpace: 1})
	s.RegisterOAuthApp("app", "app-secret")
	s.SetOAuthRedirectURI("app", "https://crawler.example/callback")
	access, refresh := s.IssueOAuthTokens(ds.Crawler.ID)
	bearer := func(path string) int {
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{
		"/rest/api/space/S1":                       200,
		"/rest/api/space/S1/permissions":           403,
		"/rest/api/space/S1/permissions/anonymous": 403,
		"/rest/api/group":                          403,
		"/rest/api/group/hr/member":                403,
	} {
		if got := bearer(path); got != want {
			t.Errorf("OAuth2 GET %s = %d, want %d", path, got, want)
		}
	}
	grant := func(redirect string) int {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {"app-secret"}, "refresh_token": {refresh}}
		if redirect != "" {
			form.Set("redirect_uri", redirect)
		}
		resp, err := http.PostForm(s.TokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := grant(""); got != http.StatusBadRequest {
		t.Errorf("refresh without redirect_uri = %d, want 400 invalid_grant", got)
	}
	if got := grant("https://crawler.example/callback"); got != http.StatusOK {
		t.Errorf("refresh with the registered redirect_uri = %d, want 200", got)
	}
}
