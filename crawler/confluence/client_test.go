package confluence_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

var (
	cloud = fakeconfluence.Cloud
	dc    = fakeconfluence.DataCenter
)

func TestClient_EveryAuthTypeOnBothDeployments(t *testing.T) {
	tests := map[string]struct {
		dep  fakeconfluence.Deployment
		auth confluence.AuthType
	}{
		"cloud basic":  {cloud, confluence.AuthBasic},
		"cloud oauth2": {cloud, confluence.AuthOAuth2},
		"dc basic":     {dc, confluence.AuthBasic},
		"dc pat":       {dc, confluence.AuthPersonalAccessToken},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 30})
			c := mustClient(t, f.config(t, tc.auth, nil))
			ctx := context.Background()
			me, err := c.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if me.PrincipalID() != f.ds.Crawler.ID {
				t.Fatalf("identity = %q, want %q", me.PrincipalID(), f.ds.Crawler.ID)
			}
			var spaces []string
			if err := c.ListSpaces(ctx, confluence.SpaceQuery{}, func(s confluence.Space) error {
				spaces = append(spaces, s.Key)
				return nil
			}); err != nil {
				t.Fatalf("ListSpaces: %v", err)
			}
			if len(spaces) != 3 { // 2 global + 1 personal; archived excluded
				t.Fatalf("spaces = %v", spaces)
			}
			got := listIDs(t, c, "S1", confluence.TypePage)
			want := f.srv.ContentIDs("S1", "page", "current")
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("pages = %d, want %d", len(got), len(want))
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func TestClient_ContentCarriesEverythingFromTheListing(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		t.Run(string(dep), func(t *testing.T) {
			f := newFixture(t, dep, fakeconfluence.Options{ExpandedRestrictionCap: 2}, fakeconfluence.DatasetOptions{PagesPerSpace: 40, MaxDepth: 5})
			var crowd []string
			for _, u := range f.srv.Users() {
				crowd = append(crowd, u.ID)
			}
			ids := f.srv.ContentIDs("S1", "page", "current")
			f.srv.SetRestriction(ids[3], crowd, []string{"hr"}) // beyond the embedded cap: fetched separately
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			seen := 0
			err := c.ListContent(context.Background(), confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(ct confluence.Content) error {
				seen++
				want, _ := f.srv.Content(ct.ID)
				if ct.Body != want.Body || ct.Title != want.Title || ct.Version.Number != want.Version || ct.SpaceKey != "S1" {
					t.Errorf("%s: content differs", ct.ID)
				}
				if !ct.Version.When.Equal(want.Modified) || !ct.Created.Equal(want.Created) || ct.Version.By.PrincipalID() != want.Editor {
					t.Errorf("%s: version/created differ: %+v", ct.ID, ct.Version)
				}
				if ct.ParentID != want.ParentID {
					t.Errorf("%s: parent %q, want %q", ct.ID, ct.ParentID, want.ParentID)
				}
				if !slices.Equal(ct.Labels, want.Labels) && len(want.Labels) > 0 {
					t.Errorf("%s: labels %v, want %v", ct.ID, ct.Labels, want.Labels)
				}
				if (ct.ReadRestriction == nil) != (len(want.ReadUsers)+len(want.ReadGroups) == 0) {
					t.Errorf("%s: restriction presence wrong", ct.ID)
				}
				if r := ct.ReadRestriction; r != nil && (len(r.Users) != len(want.ReadUsers) || len(r.Groups) != len(want.ReadGroups)) {
					t.Errorf("%s: restriction users %d groups %d, want %d/%d", ct.ID, len(r.Users), len(r.Groups), len(want.ReadUsers), len(want.ReadGroups))
				}
				if ct.WebURL == "" || ct.Status != confluence.StatusCurrent {
					t.Errorf("%s: url %q status %q", ct.ID, ct.WebURL, ct.Status)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != len(ids) {
				t.Fatalf("seen %d, want %d", seen, len(ids))
			}
			// Ancestors are root first and consistent with parent ids.
			_ = c.ListContent(context.Background(), confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(ct confluence.Content) error {
				for i := len(ct.AncestorIDs) - 1; i > 0; i-- {
					a, _ := f.srv.Content(ct.AncestorIDs[i])
					if a.ParentID != ct.AncestorIDs[i-1] {
						t.Errorf("%s: ancestors not root-first: %v", ct.ID, ct.AncestorIDs)
					}
				}
				return nil
			})
		})
	}
}

func TestClient_PaginationReturnsEveryItemExactlyOnce(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		f := newFixture(t, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{
			PagesPerSpace: 130, BlogPostsPerSpace: 12, Users: 30, Groups: 4, CommentsPerPage: 2, AttachmentsPerPage: 2,
		})
		for _, size := range []int{0, 7, 1000} { // server max, smaller and larger than the caps
			t.Run(string(dep)+"/pagesize="+strconv.Itoa(size), func(t *testing.T) {
				cfg := f.config(t, confluence.AuthBasic, nil)
				cfg.PageSize = size
				c := mustClient(t, cfg)
				ctx := context.Background()
				for _, typ := range []confluence.ContentType{confluence.TypePage, confluence.TypeBlogPost} {
					want := f.srv.ContentIDs("S2", string(typ), "current")
					assertOnce(t, string(typ), listIDs(t, c, "S2", typ), want)
					var refs []string
					if err := c.ListContentIDs(ctx, "S2", typ, func(r confluence.ContentRef) error {
						refs = append(refs, r.ID)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					assertOnce(t, "ids "+string(typ), refs, want)
				}
				var users, groups []string
				if err := c.ListUsers(ctx, func(u confluence.User) error { users = append(users, u.PrincipalID()); return nil }); err != nil {
					t.Fatal(err)
				}
				var wantUsers []string
				for _, u := range f.srv.Users() {
					wantUsers = append(wantUsers, u.ID)
				}
				assertOnce(t, "users", users, wantUsers)
				if err := c.ListGroups(ctx, func(g confluence.Group) error { groups = append(groups, g.Name); return nil }); err != nil {
					t.Fatal(err)
				}
				if len(groups) != len(f.srv.Groups()) {
					t.Fatalf("groups = %v", groups)
				}
				pid := f.srv.ContentIDs("S2", "page", "current")[0]
				var comments, atts []string
				if err := c.ListComments(ctx, pid, func(cm confluence.Comment) error { comments = append(comments, cm.ID); return nil }); err != nil {
					t.Fatal(err)
				}
				var wantComments []string
				for _, cm := range f.srv.CommentsOf(pid) {
					wantComments = append(wantComments, cm.ID)
				}
				assertOnce(t, "comments", comments, wantComments)
				if err := c.ListAttachments(ctx, pid, confluence.TypePage, func(a confluence.Attachment) error { atts = append(atts, a.ID); return nil }); err != nil {
					t.Fatal(err)
				}
				if len(atts) != len(f.srv.AttachmentsOf(pid)) {
					t.Fatalf("attachments = %v", atts)
				}
			})
		}
	}
}

func assertOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) || !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("%s: got %d items, want %d (duplicates or gaps)", what, len(got), len(want))
	}
}

func TestClient_ListingCostsAtMostATenthOfACallPerPage(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		t.Run(string(dep), func(t *testing.T) {
			f := newFixture(t, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{
				Spaces: 1, PersonalSpaces: 1, ArchivedSpaces: 1, PagesPerSpace: 1000, BlogPostsPerSpace: 1,
				CommentsPerPage: 1, AttachmentsPerPage: 1, BodyBytes: 200,
			})
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			if _, err := c.Verify(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.srv.ResetCalls()
			before := c.APICalls()
			n := len(listIDs(t, c, "S1", confluence.TypePage))
			calls := f.srv.TotalCalls()
			if perPage := float64(calls) / float64(n); perPage > 0.1 {
				t.Fatalf("%d calls for %d pages = %.3f per page, want <= 0.1 (%v)", calls, n, perPage, f.srv.CallCounts())
			}
			if got := c.APICalls() - before; got != calls {
				t.Fatalf("client counted %d calls, server %d", got, calls)
			}
		})
	}
}

func TestClient_CommentsIncludeRepliesWithParents(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		t.Run(string(dep), func(t *testing.T) {
			f := newFixture(t, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 5})
			pid := f.srv.ContentIDs("S1", "page", "current")[0]
			top := f.srv.AddComment(fakeconfluence.Comment{ContainerID: pid, Body: "<p>top</p>", Author: f.ds.Crawler.ID})
			reply := f.srv.AddComment(fakeconfluence.Comment{ContainerID: pid, ParentID: top.ID, Body: "<p>reply</p>", Author: f.ds.Crawler.ID})
			deep := f.srv.AddComment(fakeconfluence.Comment{ContainerID: pid, ParentID: reply.ID, Body: "<p>deep</p>", Author: f.ds.Crawler.ID})
			f.srv.AddComment(fakeconfluence.Comment{ContainerID: pid, Location: "inline", Body: "<p>inline</p>", Author: f.ds.Crawler.ID})
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			got := map[string]confluence.Comment{}
			if err := c.ListComments(context.Background(), pid, func(cm confluence.Comment) error { got[cm.ID] = cm; return nil }); err != nil {
				t.Fatal(err)
			}
			for _, want := range f.srv.CommentsOf(pid) {
				cm, ok := got[want.ID]
				if !ok {
					t.Fatalf("comment %s missing", want.ID)
				}
				if cm.ParentID != want.ParentID || string(cm.Location) != want.Location || cm.Body != want.Body || cm.ContainerID != pid || cm.ContainerType != confluence.TypePage {
					t.Errorf("comment %s = %+v, want parent %q location %q", want.ID, cm, want.ParentID, want.Location)
				}
			}
			if got[deep.ID].ParentID != reply.ID {
				t.Fatalf("deep reply parent = %q", got[deep.ID].ParentID)
			}
		})
	}
}

func TestClient_DownloadsAttachmentsWithoutLeakingCredentials(t *testing.T) {
	tests := map[string]struct {
		dep  fakeconfluence.Deployment
		auth confluence.AuthType
	}{
		"cloud basic":  {cloud, confluence.AuthBasic},
		"cloud oauth2": {cloud, confluence.AuthOAuth2},
		"dc pat":       {dc, confluence.AuthPersonalAccessToken},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 10, AttachmentsPerPage: 3})
			c := mustClient(t, f.config(t, tc.auth, nil))
			n := 0
			for _, pid := range f.srv.ContentIDs("S1", "page", "current") {
				want := map[string][]byte{}
				for _, a := range f.srv.AttachmentsOf(pid) {
					want[a.FileName] = a.Data
				}
				err := c.ListAttachments(context.Background(), pid, confluence.TypePage, func(a confluence.Attachment) error {
					rc, err := c.DownloadAttachment(context.Background(), a)
					if err != nil {
						return err
					}
					defer rc.Close()
					b, err := io.ReadAll(rc)
					if err != nil {
						return err
					}
					if string(b) != string(want[a.FileName]) || a.Size != int64(len(b)) || a.MediaType == "" {
						t.Errorf("%s: %d bytes (size %d), want %d", a.FileName, len(b), a.Size, len(want[a.FileName]))
					}
					n++
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if n == 0 {
				t.Fatal("no attachments downloaded")
			}
			if leaks := f.srv.AuthLeaks(); leaks != 0 {
				t.Fatalf("%d downloads sent credentials to the media host", leaks)
			}
		})
	}
}

func TestClient_SpacePermissionsOnEveryFlavour(t *testing.T) {
	tests := map[string]struct {
		dep     fakeconfluence.Deployment
		version string
	}{
		"cloud":             {cloud, ""},
		"dc 9.2 rest":       {dc, "9.2"},
		"dc 8.5 json-rpc":   {dc, "8.5"},
		"dc 7.19 json-rpc ": {dc, "7.19"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.dep, fakeconfluence.Options{DCVersion: tc.version}, fakeconfluence.DatasetOptions{PagesPerSpace: 2})
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			for _, sp := range f.srv.Spaces() {
				if sp.Status != "current" {
					continue
				}
				p, err := c.SpacePermissions(context.Background(), sp.Key)
				if err != nil {
					t.Fatalf("%s: %v", sp.Key, err)
				}
				var users, groups []string
				for _, u := range p.Users {
					users = append(users, u.PrincipalID())
				}
				for _, g := range p.Groups {
					groups = append(groups, g.Name)
				}
				if !slices.Equal(sorted(users), sorted(sp.ViewUsers)) || !slices.Equal(sorted(groups), sorted(sp.ViewGroups)) || p.Anonymous != sp.Anonymous {
					t.Errorf("%s: got users %v groups %v anon %v; want %v %v %v", sp.Key, users, groups, p.Anonymous, sp.ViewUsers, sp.ViewGroups, sp.Anonymous)
				}
				if tc.dep == cloud {
					for _, g := range p.Groups {
						if g.ID == "" {
							t.Errorf("Cloud group %s without id", g.Name)
						}
					}
				}
			}
		})
	}
}

func TestClient_ReadRestrictionOfSingleContent(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		t.Run(string(dep), func(t *testing.T) {
			f := newFixture(t, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 3, RestrictedEvery: 1000})
			ids := f.srv.ContentIDs("S1", "page", "current")
			users := make([]string, 0, 250)
			for range 250 { // three restriction pages of users (limit 100)...
				users = append(users, f.srv.AddUser(fakeconfluence.User{Username: "u"}).ID)
			}
			groups := []string{"hr", "engineering"}
			for i := range 118 { // ...and two of groups, paged together with them
				groups = append(groups, f.srv.AddGroup("g"+strconv.Itoa(i)).Name)
			}
			f.srv.SetRestriction(ids[0], users, groups)
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			ctx := context.Background()
			r, err := c.ReadRestriction(ctx, ids[0])
			if err != nil || r == nil {
				t.Fatalf("restricted: %+v, %v", r, err)
			}
			var gotUsers, gotGroups []string
			for _, u := range r.Users {
				gotUsers = append(gotUsers, u.PrincipalID())
			}
			for _, g := range r.Groups {
				gotGroups = append(gotGroups, g.Name)
			}
			assertOnce(t, "restriction users", gotUsers, users)
			assertOnce(t, "restriction groups", gotGroups, groups)
			if r, err := c.ReadRestriction(ctx, ids[1]); err != nil || r != nil {
				t.Fatalf("unrestricted: %+v, %v", r, err)
			}
			if _, err := c.ReadRestriction(ctx, "999999999"); !errors.Is(err, confluence.ErrNotFound) {
				t.Fatalf("missing: %v, want ErrNotFound", err)
			}
			// Restriction changes do not bump versions.
			before, _ := f.srv.Content(ids[1])
			f.srv.SetRestriction(ids[1], nil, []string{"hr"})
			after, _ := f.srv.Content(ids[1])
			if after.Version != before.Version || !after.Modified.Equal(before.Modified) {
				t.Fatal("restriction change bumped the version")
			}
			// The same restriction embedded in a listing is completed.
			err = c.ListContent(ctx, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(ct confluence.Content) error {
				if ct.ID == ids[0] && (ct.ReadRestriction == nil || len(ct.ReadRestriction.Users) != 250 || len(ct.ReadRestriction.Groups) != 120) {
					t.Errorf("listed restriction incomplete: %+v", ct.ReadRestriction)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClient_ListChangedContentSince(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		t.Run(string(dep), func(t *testing.T) {
			clk := newClock()
			f := newFixture(t, dep, fakeconfluence.Options{Now: clk.Now}, fakeconfluence.DatasetOptions{PagesPerSpace: 60})
			ids := f.srv.ContentIDs("S1", "page", "current")
			since := clk.Now()
			clk.Advance(2 * time.Minute)
			f.srv.EditContent(ids[5], "", func(c *fakeconfluence.Content) { c.Body += "<p>edit</p>" })
			clk.Advance(time.Minute)
			f.srv.EditContent(ids[2], "", func(c *fakeconfluence.Content) { c.Title += " (v2)" })
			f.srv.EditContent(f.srv.ContentIDs("S2", "page", "current")[0], "", func(c *fakeconfluence.Content) { c.Title += "!" })
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			var got []string
			err := c.ListChangedContent(context.Background(), confluence.ChangeQuery{SpaceKeys: []string{"S1"}, Since: since}, func(ct confluence.Content) error {
				got = append(got, ct.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{ids[5], ids[2]}) {
				t.Fatalf("changed = %v, want [%s %s] oldest first", got, ids[5], ids[2])
			}
		})
	}
}

func TestClient_ForbiddenSpaceIsTyped(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 2})
	f.srv.AddFault(fakeconfluence.Fault{PathContains: "/rest/api/space/S2", Status: 403})
	c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
	_, err := c.SpacePermissions(context.Background(), "S2")
	var fe *confluence.ForbiddenError
	if !errors.As(err, &fe) || fe.SpaceKey != "S2" || !errors.Is(err, confluence.ErrForbidden) {
		t.Fatalf("err = %v, want ForbiddenError for S2", err)
	}
}

func TestClient_SpaceWideCommentAndAttachmentListings(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		t.Run(string(dep), func(t *testing.T) {
			f := newFixture(t, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 60, CommentsPerPage: 2, AttachmentsPerPage: 2})
			trashed := f.srv.ContentIDs("S1", "page", "current")[0]
			f.srv.TrashContent(trashed) // its comments and attachments disappear from search
			wantComments := map[string]fakeconfluence.Comment{}
			wantAtts := map[string]fakeconfluence.Attachment{}
			for _, typ := range []string{"page", "blogpost"} {
				for _, id := range f.srv.ContentIDs("S1", typ, "current") {
					for _, cm := range f.srv.CommentsOf(id) {
						wantComments[cm.ID] = cm
					}
					for _, a := range f.srv.AttachmentsOf(id) {
						wantAtts[a.ID] = a
					}
				}
			}
			c := mustClient(t, f.config(t, confluence.AuthBasic, nil))
			ctx := context.Background()
			if _, err := c.Verify(ctx); err != nil {
				t.Fatal(err)
			}
			f.srv.ResetCalls()
			seen := map[string]bool{}
			err := c.ListSpaceComments(ctx, "S1", func(cm confluence.Comment) error {
				want, ok := wantComments[cm.ID]
				if !ok || seen[cm.ID] {
					t.Errorf("unexpected or repeated comment %s", cm.ID)
				}
				seen[cm.ID] = true
				if cm.ParentID != want.ParentID || cm.ContainerID != want.ContainerID || cm.Body != want.Body || cm.ContainerType == "" {
					t.Errorf("comment %s = %+v, want parent %q container %q", cm.ID, cm, want.ParentID, want.ContainerID)
				}
				return nil
			})
			if err != nil || len(seen) != len(wantComments) {
				t.Fatalf("comments: %d of %d, err %v", len(seen), len(wantComments), err)
			}
			n := 0
			err = c.ListSpaceAttachments(ctx, "S1", func(a confluence.Attachment) error {
				n++
				want, ok := wantAtts[strings.TrimPrefix(a.ID, "att")]
				if !ok || a.ContainerID != want.ContainerID || a.Size != int64(len(want.Data)) || a.FileName != want.FileName || a.DownloadPath == "" {
					t.Errorf("attachment %+v", a)
				}
				return nil
			})
			if err != nil || n != len(wantAtts) {
				t.Fatalf("attachments: %d of %d, err %v", n, len(wantAtts), err)
			}
			if calls, items := f.srv.TotalCalls(), len(wantComments)+len(wantAtts); calls*20 > int64(items)+40 {
				t.Fatalf("%d calls for %d comments+attachments", calls, items)
			}
		})
	}
}
