package confluence_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// dcPermissionsFixture is a Data Center 9.1+ answer written from the example
// quoted in CONFSERVER-100505 (element shape SpacePermission of the DC REST
// reference), independent of the fake.
const dcPermissionsFixture = `[
 {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"group","name":"confluence-users"},"spaceKey":"PROJ","spaceId":131083},
 {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"4028800d98315ec60198315f45c00000"},"spaceKey":"PROJ","spaceId":131083},
 {"operation":{"targetType":"page","operationKey":"create"},"subject":{"type":"user","userKey":"4028800d98315ec60198315f45c00001"},"spaceKey":"PROJ","spaceId":131083}
]`

const dcAnonymousFixture = `[{"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"anonymous"},"spaceKey":"PROJ","spaceId":131083}]`

func TestClient_DCSpacePermissionsDecodeTheDocumentedShape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/rest/api/user/current":
			_, _ = w.Write([]byte(`{"type":"known","username":"crawler","userKey":"k0","displayName":"Crawler"}`))
		case "/rest/api/space/PROJ/permissions":
			_, _ = w.Write([]byte(dcPermissionsFixture))
		case "/rest/api/space/PROJ/permissions/anonymous":
			_, _ = w.Write([]byte(dcAnonymousFixture))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := mustClient(t, confluence.Config{BaseURL: srv.URL, Deployment: confluence.DataCenter, AuthType: confluence.AuthPersonalAccessToken, Credentials: confluence.Credentials{PAT: "pat-value"}})
	p, err := c.SpacePermissions(context.Background(), "PROJ")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Users) != 1 || p.Users[0].PrincipalID() != "4028800d98315ec60198315f45c00000" {
		t.Errorf("users = %+v, want the one userKey granted read/space", p.Users)
	}
	if len(p.Groups) != 1 || p.Groups[0].PrincipalID() != "confluence-users" {
		t.Errorf("groups = %+v, want confluence-users", p.Groups)
	}
	if !p.Anonymous {
		t.Error("anonymous read/space from /permissions/anonymous was not seen")
	}
}

// Data Center answers 500 to non-admins (CONFSERVER-99908): one call, no
// retries, and an error that says which permission the crawl user needs.
func TestClient_DCSpacePermissionsNonAdminFailsFastNamingThePermission(t *testing.T) {
	f := newFixture(t, dc, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 2})
	crawler := f.ds.Crawler
	crawler.Admin = false
	f.srv.AddUser(crawler)
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	_, err := c.SpacePermissions(context.Background(), "S1")
	if !errors.Is(err, confluence.ErrSpacePermissionsUnreadable) {
		t.Fatalf("err = %v, want ErrSpacePermissionsUnreadable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Confluence Administrator") || !strings.Contains(msg, "CONFSERVER-99908") || !strings.Contains(msg, "S1") {
		t.Errorf("error does not name the space, the permission and the ticket: %v", err)
	}
	if n := f.srv.Calls("space.permissions"); n != 1 {
		t.Errorf("space.permissions called %d times, want 1 (a 500 here is an answer, not a transient failure)", n)
	}
}

func TestClient_DCSpacePermissionsOnTheFakeMatchItsModel(t *testing.T) {
	f := newFixture(t, dc, fakeconfluence.Options{DCVersion: "9.1"}, fakeconfluence.DatasetOptions{PagesPerSpace: 2})
	users := []string{f.ds.Users[1].ID, f.ds.Users[2].ID}
	f.srv.SetSpacePermissions("S1", users, []string{"hr", "engineering"}, true)
	c := mustClient(t, f.config(t, confluence.AuthPersonalAccessToken, nil))
	p, err := c.SpacePermissions(context.Background(), "S1")
	if err != nil {
		t.Fatal(err)
	}
	var gotUsers, gotGroups []string
	for _, u := range p.Users {
		gotUsers = append(gotUsers, u.PrincipalID())
	}
	for _, g := range p.Groups {
		gotGroups = append(gotGroups, g.PrincipalID())
	}
	if !slices.Equal(sorted(gotUsers), sorted(users)) || !slices.Equal(sorted(gotGroups), []string{"engineering", "hr"}) || !p.Anonymous {
		t.Fatalf("got users %v groups %v anonymous %v", gotUsers, gotGroups, p.Anonymous)
	}
}

// Data Center caps listings with bodies at 50 (Atlassian KB), advances its
// next link by the requested limit (Onyx #4129) and sends a next link past
// the real end (CONFSERVER-95396): whatever the requested page size, every
// item is listed exactly once and the listing ends cleanly.
func TestClient_DCPagingNeverSkipsPastTheCap(t *testing.T) {
	tests := map[string]struct {
		pages     int
		pageSize  int // 0: the client's default
		wantCalls int64
	}{
		"default asks for the cap":         {pages: 130, wantCalls: 3},
		"exact multiple ends past the end": {pages: 100, wantCalls: 3},
		"asking for more than the cap":     {pages: 130, pageSize: 120, wantCalls: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, dc, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: tc.pages, BlogPostsPerSpace: 1})
			cfg := f.config(t, confluence.AuthPersonalAccessToken, nil)
			cfg.PageSize = tc.pageSize
			c := mustClient(t, cfg)
			if _, err := c.Verify(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.srv.ResetCalls()
			got := listIDs(t, c, "S1", confluence.TypePage)
			assertOnce(t, "pages", got, f.srv.ContentIDs("S1", "page", "current"))
			if n := f.srv.Calls("content.list"); n != tc.wantCalls {
				t.Errorf("content.list calls = %d, want %d", n, tc.wantCalls)
			}
			// The same through CQL search (changed content).
			var changed []string
			err := c.ListChangedContent(context.Background(), confluence.ChangeQuery{SpaceKeys: []string{"S1"}, Types: []confluence.ContentType{confluence.TypePage}}, func(ct confluence.Content) error {
				changed = append(changed, ct.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			assertOnce(t, "changed pages", changed, f.srv.ContentIDs("S1", "page", "current"))
		})
	}
}

// A DC group name containing "/" is sent as one encoded path segment.
func TestClient_DCGroupNameIsOnePathSegment(t *testing.T) {
	var raw string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/rest/api/user/current" {
			_, _ = w.Write([]byte(`{"type":"known","username":"crawler","userKey":"k0"}`))
			return
		}
		raw = r.URL.EscapedPath()
		_, _ = w.Write([]byte(`{"results":[],"start":0,"limit":200,"size":0,"_links":{}}`))
	}))
	defer srv.Close()
	c := mustClient(t, confluence.Config{BaseURL: srv.URL, Deployment: confluence.DataCenter, AuthType: confluence.AuthPersonalAccessToken, Credentials: confluence.Credentials{PAT: "pat-value"}})
	if err := c.ListGroupMembers(context.Background(), confluence.Group{Name: "eng/platform"}, func(confluence.User) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if raw != "/rest/api/group/eng%2Fplatform/member" {
		t.Fatalf("path = %q", raw)
	}
}
