package crawl_test

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

var incrementalModes = []v1.SyncMode{v1.SyncFullCrawl, v1.SyncIncremental}

// indexed returns every document id of the data source.
func (h *harness) indexed() []string {
	h.t.Helper()
	var ids []string
	err := h.os.StreamIDs(context.Background(), h.spec.OpenSearch.Index, opensearch.IDFilter{Datasource: dataSource}, func(id string) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) pages(space string) []string { return h.cf.ContentIDs(space, "page", "current") }

func (h *harness) firstSpace() string {
	for _, s := range h.cf.Spaces() {
		if s.Type == "global" && s.Status == "current" {
			return s.Key
		}
	}
	h.t.Fatal("no global space")
	return ""
}

// grandchild returns a page with at least two ancestors and its grandparent.
func (h *harness) grandchild() (page, grandparent string) {
	for _, sp := range h.cf.Spaces() {
		for _, id := range h.pages(sp.Key) {
			c, _ := h.cf.Content(id)
			if c.ParentID == "" {
				continue
			}
			p, _ := h.cf.Content(c.ParentID)
			if p.ParentID != "" {
				return id, p.ParentID
			}
		}
	}
	h.t.Fatal("no page with a grandparent")
	return "", ""
}

func smallDataset() fakeconfluence.DatasetOptions {
	return fakeconfluence.DatasetOptions{Spaces: 2, PagesPerSpace: 25, MaxDepth: 4, RestrictedEvery: 6}
}

func TestSync_SecondRunWritesNothing(t *testing.T) {
	for _, mode := range []v1.SyncMode{v1.SyncFullCrawl, v1.SyncIncremental, v1.SyncForcedFullCrawl} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, fakeconfluence.Cloud, smallDataset())
			first := h.mustRun(mode)
			before := h.indexed()
			second := h.mustRun(mode)
			if mode == v1.SyncForcedFullCrawl {
				// A forced crawl rewrites everything by definition, to the same result.
				if second.DocumentsIndexed != first.DocumentsIndexed || !slices.Equal(h.indexed(), before) {
					t.Fatalf("forced re-crawl changed the index: first %+v second %+v", first, second)
				}
				return
			}
			if second.DocumentsIndexed != 0 || second.DocumentsDeleted != 0 || second.DocumentsUnchanged != first.DocumentsIndexed {
				t.Fatalf("second %s run wrote something: first %+v second %+v", mode, first, second)
			}
		})
	}
}

func TestSync_ChangesReachTheIndex(t *testing.T) {
	type change struct {
		name   string
		apply  func(h *harness) // mutates the fake Confluence
		verify func(h *harness, sum summaryView)
	}
	changes := []change{
		{"page deleted", func(h *harness) {
			h.cf.TrashContent(h.pages(h.firstSpace())[3])
		}, func(h *harness, s summaryView) {
			if s.DocumentsDeleted == 0 {
				h.t.Error("nothing deleted")
			}
		}},
		{"page moved between spaces", func(h *harness) {
			var other string
			for _, sp := range h.cf.Spaces() {
				if sp.Type == "global" && sp.Status == "current" && sp.Key != h.firstSpace() {
					other = sp.Key
				}
			}
			h.cf.MoveContent(h.pages(h.firstSpace())[2], "", other)
		}, nil},
		{"restriction added on a grandparent", func(h *harness) {
			_, gp := h.grandchild()
			h.cf.SetRestriction(gp, []string{h.data.Crawler.ID}, nil)
		}, func(h *harness, s summaryView) {
			// The restricted page and what is below it, nothing else.
			_, gp := h.grandchild()
			if want := h.subtreeDocuments(gp); s.DocumentsIndexed != want || s.SpaceRecordsWritten != 0 {
				h.t.Errorf("a restriction change wrote %d documents and %d space records, want the %d of the page's subtree and none", s.DocumentsIndexed, s.SpaceRecordsWritten, want)
			}
		}},
		{"space permission removed", func(h *harness) {
			h.cf.SetSpacePermissions(h.firstSpace(), []string{h.data.Crawler.ID}, nil, false)
		}, func(h *harness, s summaryView) {
			// Documents reference the space's record: one write, no page.
			if s.SpaceRecordsWritten != 1 || s.DocumentsIndexed != 0 {
				h.t.Errorf("want the space's record written and no document, got %d records and %d documents", s.SpaceRecordsWritten, s.DocumentsIndexed)
			}
		}},
		{"group added to a restriction", func(h *harness) {
			page, _ := h.grandchild()
			h.cf.SetRestriction(page, []string{h.data.Crawler.ID}, []string{h.data.Groups[0].Name})
		}, nil},
		{"attachment replaced", func(h *harness) {
			for _, id := range h.pages(h.firstSpace()) {
				if atts := h.cf.AttachmentsOf(id); len(atts) > 0 {
					h.cf.ReplaceAttachment(atts[0].ID, []byte("replaced attachment text"))
					return
				}
			}
			h.t.Fatal("no attachment")
		}, func(h *harness, s summaryView) {
			if s.DocumentsIndexed != 1 {
				h.t.Errorf("want exactly the replaced attachment written, got %d", s.DocumentsIndexed)
			}
		}},
		{"page edited", func(h *harness) {
			h.cf.EditContent(h.pages(h.firstSpace())[1], h.data.Crawler.ID, func(c *fakeconfluence.Content) {
				c.Body = "<p>entirely new words</p>"
			})
		}, func(h *harness, s summaryView) {
			if s.DocumentsIndexed != 1 {
				h.t.Errorf("want exactly the edited page written, got %d", s.DocumentsIndexed)
			}
		}},
	}
	for _, d := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		for _, mode := range incrementalModes {
			for _, c := range changes {
				t.Run(string(d)+"/"+string(mode)+"/"+c.name, func(t *testing.T) {
					h := newHarness(t, d, smallDataset())
					h.mustRun(v1.SyncFullCrawl)
					c.apply(h)
					sum := h.mustRun(mode)
					if sum.DocumentsIndexed+sum.DocumentsDeleted+sum.SpaceRecordsWritten == 0 {
						t.Errorf("the change wrote nothing: %+v", sum)
					}
					if c.verify != nil {
						c.verify(h, sum)
					}
					h.assertEveryUserSeesExactlyWhatConfluenceShows()
					if again := h.mustRun(mode); again.DocumentsIndexed+again.DocumentsDeleted+again.SpaceRecordsWritten != 0 {
						t.Errorf("a run after the change still writes: %+v", again)
					}
				})
			}
		}
	}
}

func TestSync_GroupMembershipChangeNeedsNoReindex(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	var g fakeconfluence.Group
	var outsider string
	for _, grp := range h.cf.Groups() {
		for _, u := range h.data.Users {
			if outsider == "" && !slices.Contains(grp.Members, u.ID) && u.ID != h.data.Crawler.ID {
				g, outsider = grp, u.ID
			}
		}
	}
	if outsider == "" {
		t.Fatal("every user is in every group")
	}
	// A page only the group may read, in a space the outsider can see.
	page := h.pages(h.firstSpace())[0]
	h.cf.SetSpacePermissions(h.firstSpace(), []string{outsider, h.data.Crawler.ID}, nil, false)
	h.cf.SetRestriction(page, nil, []string{g.Name})
	h.mustRun(v1.SyncFullCrawl)
	before := len(h.visible(outsider))
	h.cf.SetGroupMembers(g.Name, append(slices.Clone(g.Members), outsider)...)
	sum := h.mustRun(v1.SyncIncremental)
	if sum.DocumentsIndexed != 0 {
		t.Fatalf("a membership change re-indexed %d documents", sum.DocumentsIndexed)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
	if after := len(h.visible(outsider)); after <= before {
		t.Fatalf("joining %s did not reveal its page to %s: %d documents before, %d after", g.Name, outsider, before, after)
	}
}

func TestSync_FailedListingDeletesNothing(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	trashed := h.pages(h.firstSpace())[0]
	h.cf.TrashContent(trashed)
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.search", Status: 500})
	sum, err := h.run(v1.SyncFullCrawl)
	if err == nil || sum.Complete {
		t.Fatalf("a run whose listings fail must fail: %+v", sum)
	}
	if sum.DocumentsDeleted != 0 || !slices.Equal(h.indexed(), before) {
		t.Fatalf("a failed run deleted documents: %+v", sum)
	}
	h.cf.ClearFaults()
	repaired := h.mustRun(v1.SyncFullCrawl)
	if repaired.DocumentsDeleted == 0 {
		t.Fatalf("the next run did not delete the trashed page: %+v", repaired)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

func TestSync_ForbiddenSpaceIsSkippedAndItsDocumentsKept(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	space := h.firstSpace()
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "space.get", PathContains: "/" + space, Status: 403})
	sum, err := h.run(v1.SyncFullCrawl)
	if err == nil || !slices.Contains(sum.SpacesSkipped, space) {
		t.Fatalf("want space %s reported as skipped: err=%v %+v", space, err, sum)
	}
	if sum.DocumentsDeleted != 0 || !slices.Equal(h.indexed(), before) {
		t.Fatalf("documents of an unreadable space were deleted: %+v", sum)
	}
}

func TestSync_KilledHalfwayThenResumed(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 4, PagesPerSpace: 40})
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	for _, sp := range h.cf.Spaces() {
		if ids := h.pages(sp.Key); len(ids) > 0 && sp.Type == "global" {
			h.cf.TrashContent(ids[len(ids)-1])
			h.cf.EditContent(ids[0], h.data.Crawler.ID, func(c *fakeconfluence.Content) { c.Body = "<p>edited</p>" })
		}
	}
	h.cf.SetLatency(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	sum, err := h.runCtx(ctx, v1.SyncFullCrawl)
	if err == nil {
		t.Fatalf("the killed run reported success: %+v", sum)
	}
	if sum.DocumentsDeleted != 0 {
		t.Fatalf("a killed run deleted %d documents", sum.DocumentsDeleted)
	}
	if now := h.indexed(); len(now) != len(before) {
		t.Fatalf("a killed run changed the document set: %d -> %d", len(before), len(now))
	}
	h.cf.SetLatency(0)
	resumed := h.mustRun(v1.SyncFullCrawl)
	if resumed.DocumentsDeleted == 0 {
		t.Fatalf("the resumed run did not delete trashed pages: %+v", resumed)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

func TestSync_ExcludeFilterRemovesDocuments(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	space := h.firstSpace()
	h.spec.Filters.Spaces.Exclude = []v1.Regex{v1.Regex("^" + space + "$")}
	sum := h.mustRun(v1.SyncFullCrawl)
	if sum.DocumentsDeleted == 0 {
		t.Fatalf("excluding a space deleted nothing: %+v", sum)
	}
	n := 0
	err := h.os.StreamIDs(context.Background(), h.spec.OpenSearch.Index, opensearch.IDFilter{Datasource: dataSource, SpaceKey: space}, func(string) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("%d documents of the excluded space remain (%v)", n, err)
	}
	// Its permission record goes too; the other spaces' stay.
	if sum.SpaceRecordsDeleted != 1 {
		t.Errorf("%d space records deleted, want the excluded space's", sum.SpaceRecordsDeleted)
	}
	if rec, err := h.os.GetSpaceRecord(context.Background(), h.spec.OpenSearch.Index, dataSource, space); err != nil || rec != nil {
		t.Errorf("the excluded space's record remains: %+v, %v", rec, err)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShowsExcept(space)
}

// subtreeDocuments counts the indexed documents of a page and every page
// below it: the pages, their current comments and attachments.
func (h *harness) subtreeDocuments(root string) int64 {
	var n int64
	for _, sp := range h.cf.Spaces() {
		for _, id := range h.pages(sp.Key) {
			for at := id; at != ""; {
				if at == root {
					n++
					for _, c := range h.cf.CommentsOf(id) {
						if c.Status == "" || c.Status == "current" {
							n++
						}
					}
					for _, a := range h.cf.AttachmentsOf(id) {
						if a.Status == "" || a.Status == "current" {
							n++
						}
					}
					break
				}
				c, _ := h.cf.Content(at)
				at = c.ParentID
			}
		}
	}
	return n
}
