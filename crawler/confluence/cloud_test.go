package confluence_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// listContent returns the listed items of a space by id.
func listContent(t *testing.T, c *confluence.Client, q confluence.ContentQuery) map[string]confluence.Content {
	t.Helper()
	out := map[string]confluence.Content{}
	if err := c.ListContent(context.Background(), q, func(ct confluence.Content) error { out[ct.ID] = ct; return nil }); err != nil {
		t.Fatalf("ListContent: %v", err)
	}
	return out
}

func TestListContent_CloudChainNamesFoldersWhiteboardsAndTheirTypes(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 3})
	add := func(typ, parent string) string {
		return f.srv.AddContent(fakeconfluence.Content{Type: typ, SpaceKey: "S1", ParentID: parent, Title: typ + " below " + parent}).ID
	}
	root := f.srv.ContentIDs("S1", "page", "current")[0]
	folder := add("folder", "")
	inFolder := add("page", folder)
	sub := add("folder", inFolder)
	wb := add("whiteboard", sub)
	deep := add("page", wb)
	underPage := add("page", root)
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	got := listContent(t, c, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage})
	want := map[string][]confluence.Ancestor{
		inFolder:  {{ID: folder, Type: "folder"}},
		deep:      {{ID: folder, Type: "folder"}, {ID: inFolder, Type: "page"}, {ID: sub, Type: "folder"}, {ID: wb, Type: "whiteboard"}},
		underPage: {{ID: root, Type: "page"}},
	}
	for id, anc := range want {
		ct, ok := got[id]
		if !ok {
			t.Fatalf("page %s not listed", id)
		}
		if !slices.Equal(ct.Ancestors, anc) || ct.ParentID != anc[len(anc)-1].ID {
			t.Errorf("page %s: ancestors %+v parent %q, want %+v", id, ct.Ancestors, ct.ParentID, anc)
		}
	}
	if _, listed := got[folder]; listed {
		t.Error("a folder was listed as a page")
	}
}

func TestListContent_CloudChainCostsOneCallPerNonPageParent(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 100})
	folder := f.srv.AddContent(fakeconfluence.Content{Type: "folder", SpaceKey: "S1", Title: "F"}).ID
	for i := range 20 {
		f.srv.AddContent(fakeconfluence.Content{SpaceKey: "S1", ParentID: folder, Title: fmt.Sprint("in folder ", i)})
	}
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	if _, err := c.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCalls()
	listContent(t, c, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage})
	if n := f.srv.Calls("v2.page.ancestors"); n != 1 {
		t.Fatalf("%d ancestor calls for 20 pages in one folder, want 1 (%v)", n, f.srv.CallCounts())
	}
}

func TestReadRestriction_DraftAndTrashedAreUnreadableOtherErrorsAreNot(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 2})
	other := f.ds.Users[1].ID
	draft := f.srv.AddContent(fakeconfluence.Content{SpaceKey: "S1", Status: "draft", Author: other, ReadUsers: []string{other}}).ID
	trashed := f.srv.AddContent(fakeconfluence.Content{SpaceKey: "S1", Status: "trashed", ReadUsers: []string{other}}).ID
	folder := f.srv.AddContent(fakeconfluence.Content{Type: "folder", SpaceKey: "S1", ReadUsers: []string{other}}).ID
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	ctx := context.Background()
	for name, id := range map[string]string{"draft": draft, "trashed": trashed} {
		if _, err := c.ReadRestriction(ctx, id); !errors.Is(err, confluence.ErrContentUnreadable) {
			t.Errorf("%s: %v, want ErrContentUnreadable", name, err)
		}
	}
	if r, err := c.ReadRestriction(ctx, folder); err != nil || r == nil || len(r.Users) != 1 || r.Users[0].AccountID != other {
		t.Errorf("restricted folder: %+v, %v", r, err)
	}
	f.srv.AddFault(fakeconfluence.Fault{Endpoint: "content.restriction", Status: 403})
	if _, err := c.ReadRestriction(ctx, folder); err == nil || errors.Is(err, confluence.ErrContentUnreadable) {
		t.Errorf("plain 403: %v, want an error that is not ErrContentUnreadable", err)
	}
}

func TestListUsers_CloudListsGuestsAndPagesByStartWithoutNextLinks(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 1, Users: 3})
	want := map[string]bool{}
	for _, u := range f.srv.Users() {
		want[u.ID] = true
	}
	for i := range 450 { // more than two pages of 200; the endpoint gives no next link
		u := f.srv.AddUser(fakeconfluence.User{Username: fmt.Sprint("user", i), DisplayName: "U", Guest: i%10 == 0})
		want[u.ID] = true
	}
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	got := map[string]bool{}
	if err := c.ListUsers(context.Background(), func(u confluence.User) error { got[u.AccountID] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 || len(got) != len(want) {
		t.Fatalf("listed %d of %d users; missing %d, e.g. %v", len(got), len(want), len(missing), missing[:min(3, len(missing))])
	}
}

func TestListContent_CloudArchivedPagesComeFromV2WithEverything(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 4, RestrictedEvery: 1000})
	folder := f.srv.AddContent(fakeconfluence.Content{Type: "folder", SpaceKey: "S1", Title: "Old"}).ID
	other := f.ds.Users[1].ID
	arch := f.srv.AddContent(fakeconfluence.Content{SpaceKey: "S1", ParentID: folder, Title: "Archived", Body: "<p>old</p>",
		Labels: []string{"legacy"}, ReadUsers: []string{other}}).ID
	f.srv.SetContentStatus(arch, "archived")
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	got := listContent(t, c, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage, Status: confluence.StatusArchived})
	ct, ok := got[arch]
	if len(got) != 1 || !ok {
		t.Fatalf("archived listing %v, want only %s", got, arch)
	}
	if ct.Status != confluence.StatusArchived || ct.Body != "<p>old</p>" || !ct.BodyIncluded || ct.Title != "Archived" ||
		!slices.Equal(ct.Labels, []string{"legacy"}) || ct.WebURL == "" || ct.Version.Number != 1 {
		t.Errorf("archived page %+v", ct)
	}
	if !slices.Equal(ct.Ancestors, []confluence.Ancestor{{ID: folder, Type: "folder"}}) {
		t.Errorf("ancestors %+v", ct.Ancestors)
	}
	if r := ct.ReadRestriction; r == nil || len(r.Users) != 1 || r.Users[0].AccountID != other {
		t.Errorf("restriction %+v", r)
	}
}

func TestVerify_CloudScopedAPITokenGoesThroughTheGateway(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 3})
	scoped := f.srv.AddUser(fakeconfluence.User{Username: "bot", Email: "bot@example.com", Secret: "scoped-t0ken-value", ScopedToken: true})
	f.srv.SetSpacePermissions("S1", []string{scoped.ID}, nil, false)
	cfg := f.config(t, confluence.AuthBasic, nil)
	cfg.Credentials.Username, cfg.Credentials.Password = scoped.Email, scoped.Secret
	cfg.GatewayURL = f.srv.RootURL()
	c := mustClient(t, cfg)
	u, err := c.Verify(context.Background())
	if err != nil || u.AccountID != scoped.ID {
		t.Fatalf("Verify: %+v, %v", u, err)
	}
	if n := len(listIDs(t, c, "S1", confluence.TypePage)); n != 3 {
		t.Fatalf("listed %d pages through the gateway, want 3", n)
	}
	if f.srv.Calls("tenant_info") != 1 {
		t.Fatalf("cloud id discovered %d times, want 1", f.srv.Calls("tenant_info"))
	}
	if got := c.SiteURL(); got != f.srv.URL() {
		t.Fatalf("web links base %q, want the site %q", got, f.srv.URL())
	}

	// A classic token stays on the site; a wrong token fails on both.
	if _, err := mustClient(t, f.config(t, confluence.AuthBasic, nil)).Verify(context.Background()); err != nil {
		t.Fatalf("classic token: %v", err)
	}
	f.srv.ResetCalls()
	cfg.Credentials.Password = "wrong-token"
	if _, err := mustClient(t, cfg).Verify(context.Background()); !errors.Is(err, confluence.ErrCredentialsRejected) {
		t.Fatalf("wrong token: %v, want ErrCredentialsRejected", err)
	}
}

// A wrong password on a Cloud site is answered at once, even where the
// scoped-token gateway cannot serve (a cluster without egress to
// api.atlassian.com, a gateway outage): the gateway probe is one request,
// never retried, and the site's rejection stands.
func TestVerify_CloudWrongTokenWithFailingGatewayAsksTheGatewayOnce(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 1})
	var gatewayCalls atomic.Int32
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatewayCalls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(gateway.Close)
	cfg := f.config(t, confluence.AuthBasic, nil)
	cfg.Credentials.Password = "wrong-token"
	cfg.GatewayURL = gateway.URL
	_, err := mustClient(t, cfg).Verify(context.Background())
	if !errors.Is(err, confluence.ErrCredentialsRejected) {
		t.Fatalf("Verify: %v, want ErrCredentialsRejected", err)
	}
	if n := gatewayCalls.Load(); n != 1 {
		t.Fatalf("the gateway was asked %d times, want once", n)
	}
}
