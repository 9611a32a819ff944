package crawl_test

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// On Data Center 9.1+ space permissions come from /rest/api/space/{key}/permissions
// in the documented SpacePermission shape. Spaces granted to users only, to
// groups only, to both and to anonymous readers: every user (and an
// anonymous reader) finds exactly what Confluence shows them.
func TestFullCrawl_DC91_EveryUserSeesExactlyWhatConfluenceShows(t *testing.T) {
	h := newHarnessWith(t, fakeconfluence.Options{Deployment: fakeconfluence.DataCenter, DCVersion: "9.1"},
		fakeconfluence.DatasetOptions{Spaces: 4, PagesPerSpace: 60}) // > 50: paging past the DC cap
	users := h.cf.Users()
	crawler := h.data.Crawler.ID
	var spaces []string
	for _, sp := range h.cf.Spaces() {
		if sp.Type == "global" && sp.Status == "current" {
			spaces = append(spaces, sp.Key)
		}
	}
	if len(spaces) < 4 {
		t.Fatalf("need 4 global spaces, have %v", spaces)
	}
	h.cf.SetSpacePermissions(spaces[0], []string{crawler, users[1].ID, users[2].ID}, nil, false)          // users only
	h.cf.SetSpacePermissions(spaces[1], []string{crawler}, []string{"engineering"}, false)                // a group
	h.cf.SetSpacePermissions(spaces[2], []string{crawler, users[3].ID}, []string{"hr", "finance"}, false) // both
	h.cf.SetSpacePermissions(spaces[3], []string{crawler}, []string{"engineering"}, true)                 // anonymous too
	sum := h.mustRun(v1.SyncFullCrawl)
	if !sum.Complete || sum.DocumentsIndexed == 0 || sum.DocumentsFailed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
	if len(h.visible("")) == 0 {
		t.Fatal("the anonymous space shows nothing to an anonymous reader")
	}
}

// A crawl user without admin rights gets HTTP 500 from the DC permission
// resource (CONFSERVER-99908): every space fails closed, once, with a message
// naming the permission, and nothing is deleted.
func TestSync_DCNonAdminFailsSpacesClosedNamingThePermission(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{Spaces: 2, PagesPerSpace: 5})
	before := h.mustRun(v1.SyncFullCrawl)
	crawler := h.data.Crawler
	crawler.Admin = false
	h.cf.AddUser(crawler)
	h.cf.ResetCalls()
	sum, err := h.run(v1.SyncFullCrawl)
	if err == nil || sum.Complete {
		t.Fatalf("a crawl without space permissions succeeded: %+v", sum)
	}
	if !strings.Contains(err.Error(), "Confluence Administrator") {
		t.Errorf("error does not say which permission is needed: %v", err)
	}
	if sum.DocumentsDeleted != 0 || sum.DocumentCount > before.DocumentCount {
		t.Errorf("summary %+v after a failed permission read", sum)
	}
	if got := len(h.indexed()); int64(got) != before.DocumentCount {
		t.Errorf("index holds %d documents, had %d", got, before.DocumentCount)
	}
	if n := h.cf.Calls("space.permissions"); n != 2 {
		t.Errorf("space.permissions called %d times for 2 spaces: a 500 is not retried", n)
	}
}

// A Data Center group whose name contains "/" cannot have its members
// listed: the sync still succeeds, the group is reported, and its members
// get no access through it (fail closed); everyone else is unaffected.
func TestSync_DCGroupWithSlashFailsClosedForItsMembersOnly(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{Spaces: 2, PagesPerSpace: 10})
	users := h.cf.Users()
	member := users[4].ID
	h.cf.AddGroup("eng/platform", member)
	var space string
	for _, sp := range h.cf.Spaces() {
		if sp.Type == "global" && sp.Status == "current" {
			space = sp.Key
			break
		}
	}
	h.cf.SetSpacePermissions(space, []string{h.data.Crawler.ID}, []string{"eng/platform"}, false)
	sum, err := h.run(v1.SyncFullCrawl)
	if err != nil {
		t.Fatalf("one unreadable group failed the sync: %v", err)
	}
	if !slices.Equal(sum.GroupsSkipped, []string{"eng/platform"}) {
		t.Errorf("groups skipped = %v, want [eng/platform]", sum.GroupsSkipped)
	}
	for _, u := range append([]fakeconfluence.User{{ID: ""}}, users...) {
		got, want := h.visible(u.ID), h.expected(u.ID)
		if extra := minus(got, want); len(extra) > 0 {
			t.Errorf("user %q sees %d documents Confluence hides", u.ID, len(extra))
		}
		if u.ID != member && !slices.Equal(got, want) {
			t.Errorf("user %q outside the group: %d documents, want %d", u.ID, len(got), len(want))
		}
	}
	if missing := minus(h.expected(member), h.visible(member)); len(missing) == 0 {
		t.Error("the member still gets access through the unlisted group")
	}
}
