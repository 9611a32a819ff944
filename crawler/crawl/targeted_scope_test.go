package crawl_test

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// withChildren gives a page a comment and an attachment and returns the
// ids of the page's documents: the page, its comments and its attachments.
func (h *harness) withChildren(page string) []string {
	h.t.Helper()
	h.cf.AddComment(fakeconfluence.Comment{ContainerID: page, Body: "<p>remark</p>", Author: h.data.Crawler.ID})
	h.cf.AddAttachment(fakeconfluence.Attachment{ContainerID: page, FileName: "n.txt", MediaType: "text/plain", Data: []byte("notes"), Author: h.data.Crawler.ID})
	return h.documentsOf(page)
}

// documentsOf returns the ids of the documents of a page in Confluence:
// the page, its current comments and attachments.
func (h *harness) documentsOf(page string) []string {
	ids := []string{opensearch.DocumentID(h.ds, "page", page)}
	for _, c := range h.cf.CommentsOf(page) {
		if c.Status == "" || c.Status == "current" {
			ids = append(ids, opensearch.DocumentID(h.ds, opensearch.TypeComment, c.ID))
		}
	}
	for _, a := range h.cf.AttachmentsOf(page) {
		if a.Status == "" || a.Status == "current" {
			ids = append(ids, opensearch.DocumentID(h.ds, opensearch.TypeAttachment, h.cf.AttachmentID(a)))
		}
	}
	return ids
}

// assertRemoved checks that exactly gone left the index.
func (h *harness) assertRemoved(before, gone []string) {
	h.t.Helper()
	after := h.indexed()
	for _, id := range gone {
		if !slices.Contains(before, id) {
			h.t.Fatalf("%s was not indexed before", id)
		}
		if slices.Contains(after, id) {
			h.t.Errorf("%s is still indexed", id)
		}
	}
	if len(after) != len(before)-len(gone) {
		h.t.Errorf("the index went from %d to %d documents; want exactly the %d removed", len(before), len(after), len(gone))
	}
}

// A page Confluence confirms trashed or purged takes its comments and
// attachments (documents of their own) out of the index with it.
func TestTargeted_GonePageTakesItsCommentsAndAttachments(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h := newHarness(t, dep, smallDataset())
			pages := h.pages(h.firstSpace())
			trashed, purged := pages[4], pages[5]
			gone := append(h.withChildren(trashed), h.withChildren(purged)...)
			h.mustRun(v1.SyncFullCrawl)
			before := h.indexed()
			h.cf.TrashContent(trashed)
			h.cf.PurgeContent(purged)
			if sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+trashed, "page:"+purged)); err != nil {
				t.Fatalf("targeted sync failed: %v (%+v)", err, sum)
			}
			h.assertRemoved(before, gone)
		})
	}
}

// A page moved to a space the spec excludes leaves the index with the
// pages that moved along below it and all their comments and attachments:
// Confluence says where they are now. The other space's documents stay.
func TestTargeted_PageMovedOutOfScopeLeavesWithItsTree(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h := newHarness(t, dep, smallDataset())
			child, parent := h.grandchild()
			p, _ := h.cf.Content(parent)
			from := p.SpaceKey
			var to string
			for _, sp := range h.cf.Spaces() {
				if sp.Type == "global" && sp.Status == "current" && sp.Key != from {
					to = sp.Key
				}
			}
			h.spec.Filters.Spaces.Exclude = []v1.Regex{v1.Regex("^" + to + "$")}
			h.withChildren(child)
			h.mustRun(v1.SyncFullCrawl)
			var gone []string
			for _, id := range h.pages(from) {
				if id == parent || h.isBelow(id, parent) {
					gone = append(gone, h.documentsOf(id)...)
				}
			}
			before := h.indexed()
			h.cf.MoveContent(parent, "", to)
			sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+parent))
			if err != nil {
				t.Fatalf("targeted sync failed: %v (%+v)", err, sum)
			}
			h.assertRemoved(before, gone)
			h.assertEveryUserSeesExactlyWhatConfluenceShowsExcept(to)
		})
	}
}

func (h *harness) isBelow(id, ancestor string) bool {
	for c, _ := h.cf.Content(id); c.ParentID != ""; c, _ = h.cf.Content(c.ParentID) {
		if c.ParentID == ancestor {
			return true
		}
	}
	return false
}

// A page whose new title the spec's filters exclude leaves the index with
// its comments and attachments.
func TestTargeted_PageFilteredOutLeavesWithItsChildren(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, smallDataset())
	h.spec.Filters.Titles.Pages.Exclude = []v1.Regex{"^DRAFT "}
	page := h.pages(h.firstSpace())[3]
	gone := h.withChildren(page)
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	h.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Title = "DRAFT " + c.Title })
	if sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+page)); err != nil {
		t.Fatalf("targeted sync failed: %v (%+v)", err, sum)
	}
	h.assertRemoved(before, gone)
}

// A space answering 404 confirms nothing (a deleted space or one the crawl
// user may no longer view): the target fails and nothing is deleted,
// unless the page itself now answers gone.
func TestTargeted_SpaceNotFoundDeletesOnlyWhatIsConfirmedGone(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, smallDataset())
	space := h.firstSpace()
	pages := h.pages(space)
	kept, purged := pages[3], pages[4]
	gone := h.withChildren(purged)
	h.withChildren(kept)
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()

	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "space.get", PathContains: "/" + space, Status: 404})
	sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+kept))
	if err == nil || !strings.Contains(err.Error(), "page:"+kept) || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Fatalf("a page whose space answers 404 must fail the run naming it: %v", err)
	}
	if sum.DocumentsDeleted != 0 || !slices.Equal(h.indexed(), before) {
		t.Fatalf("the index changed though nothing was confirmed gone: %+v", sum)
	}
	h.cf.ClearFaults()

	// The space is deleted while the sync reads it: the page answers 404 now.
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "space.get", PathContains: "/" + space, Status: 404, Hook: func() { h.cf.PurgeContent(purged) }})
	if sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+purged)); err != nil {
		t.Fatalf("targeted sync failed: %v (%+v)", err, sum)
	}
	h.assertRemoved(before, gone)
}
