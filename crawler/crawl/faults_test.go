package crawl_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

// Write faults (items rejected inside a 200, every _bulk answering 429, the
// node vanishing mid-run) are injected with the OpenSearch double
// (newFaultHarness), even when OPENSEARCH_URL selects a real cluster: the
// engine cannot be made to produce them on demand.

func (h *harness) faultyOpenSearch() *fakeopensearch.Server {
	h.t.Helper()
	if h.fos == nil {
		h.t.Fatal("fault injection needs the OpenSearch double: build the harness with newFaultHarness")
	}
	return h.fos
}

func (h *harness) lastSuccessfulCrawl() time.Time {
	h.t.Helper()
	cp, err := h.os.ReadCheckpoint(context.Background(), h.spec.OpenSearch.Index, dataSource)
	if err != nil {
		h.t.Fatal(err)
	}
	if cp == nil {
		return time.Time{}
	}
	return cp.LastSuccessfulCrawl
}

// recoversNextRun checks that a clean run after the fault converges.
func (h *harness) recoversNextRun(mode v1.SyncMode) {
	h.t.Helper()
	h.mustRun(mode)
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

func TestSync_RejectedItemsFailTheRunAndAreWrittenNextRun(t *testing.T) {
	for _, mode := range incrementalModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newFaultHarness(t, fakeconfluence.Cloud, smallDataset())
			fos := h.faultyOpenSearch()
			fos.RejectItems(func(action, id string) int {
				if action == "index" && strings.Contains(id, ":page:") {
					return 400
				}
				return 0
			})
			sum, err := h.run(mode)
			if !errors.Is(err, crawl.ErrIndexingFailed) {
				t.Fatalf("err = %v, want indexing failed (summary %+v)", err, sum)
			}
			if sum.DocumentsFailed == 0 || len(sum.WriteErrors) == 0 || !strings.Contains(err.Error(), "mapper_parsing_exception") {
				t.Fatalf("the failure is not reported with its first item errors: %v %+v", err, sum)
			}
			if !h.lastSuccessfulCrawl().IsZero() {
				t.Fatal("the checkpoint was advanced over unwritten documents")
			}
			if got := int64(len(h.indexed())); sum.DocumentCount != got {
				t.Fatalf("documentCount %d, the index holds %d", sum.DocumentCount, got)
			}
			fos.RejectItems(nil)
			h.recoversNextRun(mode)
		})
	}
}

func TestSync_EveryBulkAnswering429FailsTheRun(t *testing.T) {
	h := newFaultHarness(t, fakeconfluence.Cloud, smallDataset())
	fos := h.faultyOpenSearch()
	fos.FailBulk(429, 1<<20)
	sum, err := h.run(v1.SyncFullCrawl)
	if !errors.Is(err, crawl.ErrIndexingFailed) || sum.DocumentsIndexed != 0 || !strings.Contains(err.Error(), "es_rejected_execution_exception") {
		t.Fatalf("err = %v, summary %+v", err, sum)
	}
	if sum.DocumentCount != 0 {
		t.Fatalf("documentCount %d over an empty index", sum.DocumentCount)
	}
	if !h.lastSuccessfulCrawl().IsZero() {
		t.Fatal("the checkpoint was advanced")
	}
}

func TestSync_OpenSearchVanishingMidRunFailsTheRunAndDeletesNothing(t *testing.T) {
	h := newFaultHarness(t, fakeconfluence.Cloud, smallDataset())
	fos := h.faultyOpenSearch()
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	first := h.lastSuccessfulCrawl()
	trashed := h.pages(h.firstSpace())[0]
	h.cf.TrashContent(trashed)
	fos.GoDownAfterBulkItems(3)
	sum, err := h.run(v1.SyncForcedFullCrawl)
	if err == nil || sum.Complete {
		t.Fatalf("a run whose cluster vanished succeeded: %+v", sum)
	}
	fos.SetDown(false)
	if sum.DocumentsDeleted != 0 || !slices.Contains(h.indexed(), opensearch.DocumentID(dataSource, "page", trashed)) || len(h.indexed()) != len(before) {
		t.Fatalf("documents were deleted: %+v", sum)
	}
	if !h.lastSuccessfulCrawl().Equal(first) {
		t.Fatal("the checkpoint moved")
	}
	h.recoversNextRun(v1.SyncFullCrawl)
}

// TestSync_RejectedUpdateOfARestrictedPageFailsClosed restricts a page and
// makes OpenSearch refuse its new version: the old version, readable by
// everyone in the space, must not stay searchable.
func TestSync_RejectedUpdateOfARestrictedPageFailsClosed(t *testing.T) {
	h := newFaultHarness(t, fakeconfluence.Cloud, smallDataset())
	fos := h.faultyOpenSearch()
	h.mustRun(v1.SyncFullCrawl)
	var page, reader string
	for _, id := range h.pages(h.firstSpace()) {
		for _, u := range h.cf.Users() {
			if u.ID != h.data.Crawler.ID && h.cf.CanView(u.ID, id) {
				page, reader = id, u.ID
				break
			}
		}
		if page != "" {
			break
		}
	}
	if page == "" {
		t.Fatal("no page readable by a user other than the crawler")
	}
	docID := opensearch.DocumentID(dataSource, "page", page)
	if !slices.Contains(h.visible(reader), docID) {
		t.Fatalf("%s cannot find %s before the change", reader, docID)
	}
	h.cf.SetRestriction(page, []string{h.data.Crawler.ID}, nil)
	fos.RejectItems(func(action, id string) int {
		if action == "index" && id == docID {
			return 400
		}
		return 0
	})
	sum, err := h.run(v1.SyncFullCrawl)
	if !errors.Is(err, crawl.ErrIndexingFailed) {
		t.Fatalf("err = %v, summary %+v", err, sum)
	}
	if slices.Contains(h.visible(reader), docID) {
		t.Fatalf("%s still finds %s after losing access: the failed update left the old ACL", reader, docID)
	}
	fos.RejectItems(nil)
	h.recoversNextRun(v1.SyncFullCrawl)
}

func TestSync_RejectedDeleteFailsTheRunAndIsRetried(t *testing.T) {
	h := newFaultHarness(t, fakeconfluence.Cloud, smallDataset())
	fos := h.faultyOpenSearch()
	h.mustRun(v1.SyncFullCrawl)
	trashed := h.pages(h.firstSpace())[1]
	h.cf.TrashContent(trashed)
	docID := opensearch.DocumentID(dataSource, "page", trashed)
	fos.RejectItems(func(action, id string) int {
		if action == "delete" && id == docID {
			return 400
		}
		return 0
	})
	sum, err := h.run(v1.SyncFullCrawl)
	if !errors.Is(err, crawl.ErrIndexingFailed) || !strings.Contains(err.Error(), "deletions") {
		t.Fatalf("a rejected delete was not reported: err = %v, summary %+v", err, sum)
	}
	fos.RejectItems(nil)
	h.recoversNextRun(v1.SyncFullCrawl)
}

// TestSync_CancelInEveryPhase cancels a run at a point of each phase, as
// SIGTERM does: the run reports an interruption, panics nowhere, deletes
// nothing it had not started deleting, keeps the checkpoint and makes no
// Confluence request after it returned.
func TestSync_CancelInEveryPhase(t *testing.T) {
	type trigger func(h *harness, cancel context.CancelFunc)
	onEndpoint := func(ep string) trigger {
		return func(h *harness, cancel context.CancelFunc) {
			h.cf.AddFault(fakeconfluence.Fault{Endpoint: ep, Times: 1, Hook: cancel})
		}
	}
	phases := map[string]trigger{
		"identities":  onEndpoint("group.list"),
		"listing":     onEndpoint("space.list"),
		"crawling":    onEndpoint("content.search"),
		"attachments": onEndpoint("attachment.download"),
		"writing": func(h *harness, cancel context.CancelFunc) {
			var once sync.Once
			h.faultyOpenSearch().RejectItems(func(action, _ string) int {
				if action == "index" {
					once.Do(cancel)
				}
				return 0
			})
		},
		"deleting": func(h *harness, cancel context.CancelFunc) {
			var once sync.Once
			h.faultyOpenSearch().RejectItems(func(action, _ string) int {
				if action == "delete" {
					once.Do(cancel)
				}
				return 0
			})
		},
	}
	for name, trig := range phases {
		t.Run(name, func(t *testing.T) {
			h := newFaultHarness(t, fakeconfluence.Cloud, smallDataset())
			h.mustRun(v1.SyncFullCrawl)
			first := h.lastSuccessfulCrawl()
			trashed := opensearch.DocumentID(dataSource, "page", h.pages(h.firstSpace())[2])
			h.cf.TrashContent(h.pages(h.firstSpace())[2])
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			trig(h, cancel)
			h.cf.ResetCalls()
			sum, err := h.runCtx(ctx, v1.SyncForcedFullCrawl)
			if !errors.Is(err, crawl.ErrInterrupted) {
				t.Fatalf("err = %v, want interrupted (summary %+v)", err, sum)
			}
			// A listing request in flight when the run was cancelled may
			// reach the fake after Run returned (listing overlaps writing),
			// so compare what the fake received with what the client had
			// sent when Run returned: nothing may be sent after.
			time.Sleep(100 * time.Millisecond)
			if got := h.cf.TotalCalls(); got > sum.APICalls {
				t.Fatalf("the fake received %d requests, the client had sent %d when the run returned", got, sum.APICalls)
			}
			if name != "deleting" && (sum.DocumentsDeleted != 0 || !slices.Contains(h.indexed(), trashed)) {
				t.Fatalf("an interrupted run deleted documents: %+v", sum)
			}
			if !h.lastSuccessfulCrawl().Equal(first) {
				t.Fatal("an interrupted run advanced the checkpoint")
			}
			h.fos.RejectItems(nil)
			h.cf.ClearFaults()
			h.recoversNextRun(v1.SyncFullCrawl)
		})
	}
}

// TestSync_FailedDownloadIsCountedAndRetriedNextRun: an attachment whose
// download fails is indexed by metadata, counted as failed, and downloaded
// again by the next (not forced) run.
func TestSync_FailedDownloadIsCountedAndRetriedNextRun(t *testing.T) {
	faults := map[string]fakeconfluence.Fault{
		"404":     {Endpoint: "attachment.download", Status: 404},
		"503":     {Endpoint: "attachment.download", Status: 503},
		"dropped": {Endpoint: "attachment.download", Drop: true},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, fakeconfluence.Cloud, smallDataset())
			h.cf.AddFault(f)
			sum, _ := h.run(v1.SyncFullCrawl)
			if sum.DocumentsFailed == 0 {
				t.Fatalf("failed downloads were not counted: %+v", sum)
			}
			h.cf.ClearFaults()
			before := h.cf.Calls("attachment.download")
			next := h.mustRun(v1.SyncFullCrawl)
			retried := h.cf.Calls("attachment.download") - before
			if retried == 0 || next.DocumentsFailed != 0 || next.DocumentsIndexed < retried {
				t.Fatalf("the next run did not download again: %d downloads, summary %+v", retried, next)
			}
			if third := h.mustRun(v1.SyncFullCrawl); third.DocumentsIndexed != 0 {
				t.Fatalf("a third run still rewrites: %+v", third)
			}
			h.assertEveryUserSeesExactlyWhatConfluenceShows()
		})
	}
}

// TestSync_EmptyCommentListingIsHeldBack: Data Center answers a CQL search
// with an empty result page (the documented SearchPageResponse shape, no
// results) while its search index rebuilds; the comments must not be
// deleted on that word alone.
func TestSync_EmptyCommentListingIsHeldBack(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.search", QueryContains: "type = comment",
		Body: `{"results":[],"start":0,"limit":100,"size":0,"_links":{}}`})
	sum, err := h.run(v1.SyncFullCrawl)
	if !errors.Is(err, crawl.ErrDeletionHeldBack) || sum.DocumentsDeleted != 0 || sum.DeletionsHeldBack == 0 {
		t.Fatalf("err = %v, summary %+v: the empty listing must hold deletions back", err, sum)
	}
	if !strings.Contains(err.Error(), v1.AllowDeletionsAnnotation) || !slices.Equal(h.indexed(), before) {
		t.Fatalf("nothing may be deleted and the message must say how to confirm: %v", err)
	}
	h.cf.ClearFaults()
	if sum := h.mustRun(v1.SyncFullCrawl); sum.DocumentsDeleted != 0 {
		t.Fatalf("the recovered listing deleted %d documents", sum.DocumentsDeleted)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

// TestSync_SpaceDroppingOutIsHeldBackUntilConfirmed: a space drops out of
// the listing (here: archived, out of the default scope; the same happens
// when the crawl account loses a group); its documents stay until the user
// confirms the deletion.
func TestSync_SpaceDroppingOutIsHeldBackUntilConfirmed(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	space := h.firstSpace()
	inSpace := h.count(opensearch.IDFilter{Datasource: dataSource, SpaceKey: space})
	h.cf.SetSpaceArchived(space, true)
	sum, err := h.run(v1.SyncFullCrawl)
	if !errors.Is(err, crawl.ErrDeletionHeldBack) || sum.DocumentsDeleted != 0 || sum.DeletionsHeldBack != int64(inSpace) {
		t.Fatalf("err = %v, summary %+v: want all %d documents of %s held back", err, sum, inSpace, space)
	}
	if n := h.count(opensearch.IDFilter{Datasource: dataSource, SpaceKey: space}); n != inSpace {
		t.Fatalf("%d of %d documents left", n, inSpace)
	}
	h.allowDeletions = sum.DeletionsHeldBack
	confirmed := h.mustRun(v1.SyncFullCrawl)
	if confirmed.DocumentsDeleted != int64(inSpace) {
		t.Fatalf("the confirmed run deleted %d, want %d", confirmed.DocumentsDeleted, inSpace)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

// TestSync_FilterChangeDeletesWithoutConfirmation: a spec change that
// filters documents out is deliberate, so the deletion guard lets it through.
func TestSync_FilterChangeDeletesWithoutConfirmation(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	h.spec.Filters.Titles.Pages.Exclude = []v1.Regex{".*"}
	sum, err := h.run(v1.SyncFullCrawl)
	if err != nil || sum.DocumentsDeleted == 0 || sum.DeletionsHeldBack != 0 {
		t.Fatalf("err = %v, summary %+v", err, sum)
	}
}

// TestSync_SharedAliasWithAnotherLanguageIsAConflict: a second data source
// writing to the same alias with another language must not migrate (and so
// delete) the index the first one writes to.
func TestSync_SharedAliasWithAnotherLanguageIsAConflict(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 10})
	h.mustRun(v1.SyncFullCrawl)
	before := h.indexed()
	h.as, h.spec.Language = "search/other-wiki", "de"
	sum, err := h.run(v1.SyncFullCrawl)
	if !errors.Is(err, opensearch.ErrIndexConflict) || sum.DocumentsIndexed != 0 {
		t.Fatalf("err = %v, summary %+v: want an index conflict", err, sum)
	}
	if !slices.Equal(h.indexed(), before) {
		t.Fatal("the first data source's documents are gone")
	}
	h.as, h.spec.Language = "", "en"
	if sum := h.mustRun(v1.SyncFullCrawl); sum.DocumentsIndexed != 0 {
		t.Fatalf("the first data source rewrites its documents: %+v", sum)
	}
}

// A page whose permissions cannot be read is hidden, and so are its
// comments and attachments: they inherit its permissions and were stored
// with the last ones known, which may be wider than Confluence's now. (A
// targeted sync reads ancestors' restrictions one by one; a full crawl knows
// them from its listings.)
func TestTargeted_HiddenPageTakesItsCommentsAndAttachments(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 25, MaxDepth: 4, CommentsPerPage: 3, AttachmentsPerPage: 2})
	h.mustRun(v1.SyncFullCrawl)
	page, grandparent := h.grandchild()
	children := func() []string {
		var ids []string
		f := opensearch.IDFilter{Datasource: h.ds, ContainerIDs: []string{page}}
		if err := h.os.Refresh(context.Background(), h.spec.OpenSearch.Index); err != nil {
			t.Fatal(err)
		}
		if err := h.os.StreamIDs(context.Background(), h.spec.OpenSearch.Index, f, func(id string) error { ids = append(ids, id); return nil }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if len(children()) == 0 {
		t.Fatalf("page %s has no indexed comments or attachments to begin with", page)
	}
	// The grandparent's restriction can no longer be read.
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.restriction", PathContains: "/" + grandparent + "/", Status: 500})
	sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+page))
	if err != nil {
		t.Fatalf("targeted sync: %v", err)
	}
	if sum.DocumentsFailed == 0 {
		t.Fatalf("a run that hid a page counts no failed document (%+v)", sum)
	}
	if slices.Contains(h.indexed(), opensearch.DocumentID(h.ds, "page", page)) {
		t.Fatalf("page %s is still indexed", page)
	}
	if left := children(); len(left) > 0 {
		t.Fatalf("the hidden page's comments and attachments are still indexed: %v", left)
	}
}
