package crawl_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// runWith runs one sync with options adjusted by f (targets, clock, sweep).
func (h *harness) runWith(mode v1.SyncMode, f func(*crawl.Options)) (crawl.Summary, *confluence.Client, error) {
	h.t.Helper()
	return h.runAs(mode, map[string][]byte{v1.SecretKeyUsername: []byte(h.username()), v1.SecretKeyPassword: []byte(h.data.Crawler.Secret)}, f)
}

// runAs is runWith with the given Confluence Secret data.
func (h *harness) runAs(mode v1.SyncMode, secret map[string][]byte, f func(*crawl.Options)) (crawl.Summary, *confluence.Client, error) {
	h.t.Helper()
	cfg, err := manifest.ConfluenceConfig(h.spec, manifest.Secrets{Confluence: secret})
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.GatewayURL = h.cf.RootURL() // the fake serves the Cloud API gateway too
	cfg.RetryBaseDelay = 1
	cf, err := confluence.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	o := crawl.Options{DataSource: cmp.Or(h.as, h.ds), Spec: h.spec, Mode: mode, Confluence: cf, OpenSearch: h.os, Refresh: true}
	if f != nil {
		f(&o)
	}
	sum, err := crawl.Run(context.Background(), o)
	return sum, cf, err
}

func targets(ts ...string) func(*crawl.Options) {
	return func(o *crawl.Options) {
		for _, s := range ts {
			t, err := crawl.ParseTarget(s)
			if err != nil {
				panic(err)
			}
			o.Targets = append(o.Targets, t)
		}
	}
}

// stored returns the indexed version of a document, -1 if it is not indexed.
func (h *harness) storedVersion(typ, id string) int64 {
	h.t.Helper()
	docID := opensearch.DocumentID(h.ds, typ, id)
	s, err := h.os.StoredHashes(context.Background(), h.spec.OpenSearch.Index, []string{docID})
	if err != nil {
		h.t.Fatal(err)
	}
	if v, ok := s[docID]; ok {
		return v.Version
	}
	return -1
}

func TestParseTarget(t *testing.T) {
	for _, ok := range []string{"page:123", "blogpost:9", "comment:77", "attachment:att12", "space:ENG"} {
		if _, err := crawl.ParseTarget(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "page", "page:", "folder:1", "page:1 or 1=1", `page:1"`, "space:A/B"} {
		if _, err := crawl.ParseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTargeted_RejectsMissingOrTooManyTargets(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, smallDataset())
	if _, _, err := h.runWith(v1.SyncTargeted, nil); !errors.Is(err, crawl.ErrBadTargets) {
		t.Fatalf("no targets: err = %v, want ErrBadTargets", err)
	}
	var many []string
	for i := range v1.MaxTargets + 1 {
		many = append(many, fmt.Sprintf("page:%d", i+1))
	}
	if _, _, err := h.runWith(v1.SyncTargeted, targets(many...)); !errors.Is(err, crawl.ErrBadTargets) {
		t.Fatalf("%d targets: err = %v, want ErrBadTargets", len(many), err)
	}
	if _, _, err := h.runWith(v1.SyncFullCrawl, targets("page:1")); !errors.Is(err, crawl.ErrBadTargets) {
		t.Fatalf("targets on a full crawl: err = %v, want ErrBadTargets", err)
	}
}

// A targeted sync writes the targeted page (new body), its new comment and
// attachment, and nothing else, even where something else changed too.
func TestTargeted_SyncsExactlyTheTargetWithItsChildren(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h := newHarness(t, dep, smallDataset())
			h.mustRun(v1.SyncFullCrawl)
			pages := h.pages(h.firstSpace())
			target, other := pages[3], pages[4]
			before := h.storedVersion("page", target)
			h.cf.EditContent(target, "", func(c *fakeconfluence.Content) { c.Body = "<p>quarterly zebra report</p>" })
			h.cf.EditContent(other, "", func(c *fakeconfluence.Content) { c.Body = "<p>not targeted</p>" })
			cm := h.cf.AddComment(fakeconfluence.Comment{ContainerID: target, Body: "<p>new comment</p>", Author: h.data.Crawler.ID})
			at := h.cf.AddAttachment(fakeconfluence.Attachment{ContainerID: target, FileName: "notes.txt", MediaType: "text/plain", Data: []byte("attached zebra"), Author: h.data.Crawler.ID})

			sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+target))
			if err != nil {
				t.Fatalf("targeted sync failed: %v (%+v)", err, sum)
			}
			if got := h.storedVersion("page", target); got != before+1 {
				t.Errorf("targeted page version = %d, want %d", got, before+1)
			}
			if got := h.storedVersion("page", other); got == -1 || got == int64(mustContent(t, h, other).Version) {
				t.Errorf("untargeted page was re-indexed (version %d)", got)
			}
			if h.storedVersion(opensearch.TypeComment, cm.ID) == -1 || h.storedVersion(opensearch.TypeAttachment, h.cf.AttachmentID(at)) == -1 {
				t.Errorf("the target's new comment or attachment is not indexed")
			}
			if sum.DocumentsIndexed != 3 || sum.DocumentsDeleted != 0 {
				t.Errorf("summary %+v: want 3 written (page, comment, attachment), none deleted", sum)
			}
			h.assertSearchable("zebra", opensearch.DocumentID(h.ds, "page", target))
		})
	}
}

func mustContent(t *testing.T, h *harness, id string) fakeconfluence.Content {
	t.Helper()
	c, ok := h.cf.Content(id)
	if !ok {
		t.Fatalf("no content %s", id)
	}
	return c
}

// assertSearchable checks that the crawl user finds want by text.
func (h *harness) assertSearchable(text, want string) {
	h.t.Helper()
	res, err := h.os.Search(context.Background(), opensearch.SearchRequest{Alias: h.spec.OpenSearch.Index, Query: text, Datasources: []string{h.ds}, Size: 50, Principals: h.principalsOf(h.data.Crawler.ID)})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, hit := range res.Hits {
		if hit.ID == want {
			return
		}
	}
	h.t.Errorf("searching %q does not find %s", text, want)
}

// A restriction added to a page with pages below it: a targeted sync of
// that page hides the page and every page below it (with their comments and
// attachments) from the users the restriction excludes.
func TestTargeted_RestrictionReachesDescendants(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h := newHarness(t, dep, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 25, MaxDepth: 4, RestrictedEvery: 1000})
			h.mustRun(v1.SyncFullCrawl)
			_, top := h.grandchild()
			h.cf.SetRestriction(top, []string{h.data.Crawler.ID}, nil)
			sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+top))
			if err != nil {
				t.Fatalf("targeted sync failed: %v (%+v)", err, sum)
			}
			h.assertEveryUserSeesExactlyWhatConfluenceShows()
		})
	}
}

// Only what Confluence confirms gone is deleted: a trashed page, a purged
// one (404), a deleted attachment. A target Confluence fails to answer
// deletes nothing and fails the run; nothing else is deleted by absence.
func TestTargeted_DeletesOnlyWhatConfluenceConfirmsGone(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	pages := h.pages(h.firstSpace())
	trashed, purged, failing, vanished := pages[5], pages[6], pages[7], pages[8]
	var atts []fakeconfluence.Attachment
	for _, p := range pages[9:] {
		if atts = h.cf.AttachmentsOf(p); len(atts) > 0 {
			break
		}
	}
	if len(atts) == 0 {
		t.Fatal("no attachment in the data set")
	}
	// The gone pages take their comments and attachments along; the others keep theirs.
	confirmed := append(h.documentsOf(trashed), h.documentsOf(purged)...)
	confirmed = append(confirmed, opensearch.DocumentID(h.ds, opensearch.TypeAttachment, h.cf.AttachmentID(atts[0])))
	unconfirmed := append(h.documentsOf(failing), h.documentsOf(vanished)...)
	h.cf.TrashContent(trashed)
	h.cf.PurgeContent(purged)
	h.cf.PurgeContent(vanished) // not targeted: stays until a full crawl
	h.cf.DeleteAttachment(atts[0].ID)
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.get", PathContains: "/content/" + failing, Status: 500})
	before := len(h.indexed())

	sum, _, err := h.runWith(v1.SyncTargeted, targets("page:"+trashed, "page:"+purged, "page:"+failing, "attachment:"+h.cf.AttachmentID(atts[0])))
	if err == nil || !strings.Contains(err.Error(), "page:"+failing) {
		t.Fatalf("a target Confluence did not answer must fail the run naming it, got %v", err)
	}
	for _, gone := range confirmed {
		if slices.Contains(h.indexed(), gone) {
			t.Errorf("%s is confirmed gone but still indexed", gone)
		}
	}
	for _, kept := range unconfirmed {
		if !slices.Contains(h.indexed(), kept) {
			t.Errorf("%s was deleted without Confluence confirming it gone", kept)
		}
	}
	if got := len(h.indexed()); got != before-len(confirmed) || sum.DocumentsDeleted != int64(len(confirmed)) {
		t.Errorf("index went from %d to %d documents, %d deleted; want exactly the %d confirmed gone", before, got, sum.DocumentsDeleted, len(confirmed))
	}
}

// A comment target brings its container along; a deleted comment is deleted.
func TestTargeted_CommentTargets(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	h.mustRun(v1.SyncFullCrawl)
	page := h.pages(h.firstSpace())[2]
	cm := h.cf.AddComment(fakeconfluence.Comment{ContainerID: page, Body: "<p>fresh remark</p>", Author: h.data.Crawler.ID})
	if _, _, err := h.runWith(v1.SyncTargeted, targets("comment:"+cm.ID)); err != nil {
		t.Fatal(err)
	}
	if h.storedVersion(opensearch.TypeComment, cm.ID) == -1 {
		t.Fatal("the targeted comment is not indexed")
	}
	h.cf.DeleteComment(cm.ID)
	if _, _, err := h.runWith(v1.SyncTargeted, targets("comment:"+cm.ID)); err != nil {
		t.Fatal(err)
	}
	if h.storedVersion(opensearch.TypeComment, cm.ID) != -1 {
		t.Fatal("a comment Confluence no longer has is still indexed")
	}
}

// clock is a settable clock shared by the fake and the crawler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newPollHarness(t *testing.T, dep fakeconfluence.Deployment) (*harness, *clock) {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	h := newHarnessWith(t, fakeconfluence.Options{Deployment: dep, Now: clk.Now}, smallDataset())
	return h, clk
}

func (h *harness) poll(clk *clock, sweep time.Duration) (crawl.Summary, *confluence.Client, error) {
	return h.runWith(v1.SyncChangePoll, func(o *crawl.Options) { o.Now, o.ACLSweepInterval = clk.Now, sweep })
}

// An idle poll costs one search, which also shows who it ran as (the
// credentials a full sync verified); an edit is found and written, and the
// next poll writes nothing.
func TestChangePoll_FindsEditsAndCostsOneSearchWhenIdle(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h, clk := newPollHarness(t, dep)
			if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			h.cf.ResetCalls()
			sum, cf, err := h.poll(clk, 0)
			if err != nil {
				t.Fatalf("idle poll failed: %v", err)
			}
			if sum.APICalls != 1 || h.cf.Calls("content.search") != 1 || sum.DocumentsIndexed != 0 || sum.Swept {
				t.Fatalf("idle poll: %d calls %v, summary %+v; want one search", sum.APICalls, cf.APICallsByEndpoint(), sum)
			}
			page := h.pages(h.firstSpace())[1]
			clk.Add(3 * time.Minute)
			h.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Body = "<p>polled giraffe</p>" })
			clk.Add(time.Minute)
			sum, _, err = h.poll(clk, 0)
			if err != nil {
				t.Fatal(err)
			}
			if sum.ChangesFound != 1 || sum.DocumentsIndexed != 1 || sum.Watermark == nil || !sum.Watermark.Equal(clk.Now()) {
				t.Fatalf("poll after an edit: %+v; want the page found and written, watermark now", sum)
			}
			// The edit's time, for the edit-to-searchable latency.
			edited := mustContent(t, h, page).Modified
			if sum.OldestChange == nil || sum.NewestChange == nil || !sum.OldestChange.Equal(edited) || !sum.NewestChange.Equal(edited) {
				t.Fatalf("poll after an edit reports changes from %v to %v; want the edit's time %v", sum.OldestChange, sum.NewestChange, edited)
			}
			h.assertSearchable("giraffe", opensearch.DocumentID(h.ds, "page", page))
			clk.Add(time.Minute)
			sum, _, err = h.poll(clk, 0)
			if err != nil || sum.DocumentsIndexed != 0 {
				t.Fatalf("the poll after that wrote again: %+v, %v", sum, err)
			}
		})
	}
}

// A failed poll keeps its watermark, so the next one still finds what the
// failed one missed.
func TestChangePoll_WatermarkAdvancesOnlyOnSuccess(t *testing.T) {
	h, clk := newPollHarness(t, fakeconfluence.DataCenter)
	if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
		t.Fatal(err)
	}
	page := h.pages(h.firstSpace())[1]
	clk.Add(10 * time.Minute)
	h.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Body = "<p>okapi</p>" })
	clk.Add(10 * time.Minute)
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.get", Status: 500})
	if _, _, err := h.poll(clk, 0); err == nil {
		t.Fatal("a poll whose target failed succeeded")
	}
	h.cf.ClearFaults()
	clk.Add(20 * time.Minute) // the edit is 30 min old; a watermark moved by the failed poll would start 22 min back
	sum, _, err := h.poll(clk, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.DocumentsIndexed != 1 {
		t.Fatalf("the poll after a failed one missed the edit: %+v", sum)
	}
}

// Restrictions change no modification date: the poll finds them only in
// its periodic sweep, which re-checks every ACL.
func TestChangePoll_RestrictionChangesReachTheIndexInTheSweep(t *testing.T) {
	h, clk := newPollHarness(t, fakeconfluence.Cloud)
	if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
		t.Fatal(err)
	}
	_, top := h.grandchild()
	h.cf.SetRestriction(top, []string{h.data.Crawler.ID}, nil)
	clk.Add(time.Minute)
	sum, _, err := h.poll(clk, time.Hour)
	if err != nil || sum.Swept || sum.ChangesFound != 0 {
		t.Fatalf("poll before the sweep is due: %+v, %v", sum, err)
	}
	clk.Add(time.Hour)
	sum, _, err = h.poll(clk, time.Hour)
	if err != nil || !sum.Swept {
		t.Fatalf("poll an hour after the last sweep: %+v, %v; want a sweep", sum, err)
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

// A full crawl does not delete a document a concurrent targeted or poll
// sync wrote after the crawl started, even though its listings predate it.
func TestFullCrawl_KeepsDocumentsWrittenAfterItStarted(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 10, PersonalSpaces: -1, ArchivedSpaces: -1})
	h.mustRun(v1.SyncFullCrawl)
	space := h.firstSpace()
	var written string
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.search", QueryContains: "attachment", Times: 1, Hook: func() {
		// The pages of the space are listed: a page created now, and synced
		// at once by a concurrent targeted sync, is unknown to this crawl.
		p := h.cf.AddContent(fakeconfluence.Content{SpaceKey: space, Title: "Created mid-crawl", Body: "<p>new</p>", Author: h.data.Crawler.ID})
		written = opensearch.DocumentID(h.ds, "page", p.ID)
		sink, err := h.os.NewSink(opensearch.SinkConfig{Alias: h.spec.OpenSearch.Index})
		if err != nil {
			t.Error(err)
			return
		}
		// As the targeted sync writes it: the space clause references the
		// space's record (issue 16).
		doc := opensearch.Document{ID: written, ContentID: p.ID, Type: "page", Datasource: h.ds, SpaceKey: space, Title: p.Title,
			ACL: acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Source(h.ds).Space(space)}}}}
		if err := sink.Index(context.Background(), doc); err != nil {
			t.Error(err)
		}
		if err := sink.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}})
	sum, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.SpaceParallelism = 1 })
	if err != nil {
		t.Fatalf("full crawl failed: %v (%+v)", err, sum)
	}
	if written == "" {
		t.Fatal("the concurrent write did not happen")
	}
	if !slices.Contains(h.indexed(), written) {
		t.Fatalf("the full crawl deleted %s, written by a concurrent sync after it started", written)
	}
	// The next full crawl sees the page in its listing and keeps it.
	h.mustRun(v1.SyncFullCrawl)
	if !slices.Contains(h.indexed(), written) {
		t.Fatal("the page is gone after the next full crawl")
	}
}

// A full crawl never writes an older version over a newer one that a
// concurrent targeted sync indexed after the crawl read its listing.
func TestFullCrawl_KeepsANewerVersionWrittenBesideIt(t *testing.T) {
	h := newHarness(t, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 10, PersonalSpaces: -1, ArchivedSpaces: -1})
	h.mustRun(v1.SyncFullCrawl)
	space := h.firstSpace()
	page := h.cf.ContentIDs(space, "page", "current")[0]
	// An edit the crawl will list (so it has something to write)...
	h.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Title = "Read by the crawl" })
	listed, _ := h.cf.Content(page)
	newer := int64(listed.Version + 1)
	docID := opensearch.DocumentID(h.ds, "page", page)
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.list", Times: 1, Hook: func() {
		// ...and, while it lists, a targeted sync indexes the next version.
		sink, err := h.os.NewSink(opensearch.SinkConfig{Alias: h.spec.OpenSearch.Index})
		if err != nil {
			t.Error(err)
			return
		}
		doc := opensearch.Document{ID: docID, ContentID: page, Type: "page", Datasource: h.ds, SpaceKey: space, Title: "Written beside the crawl",
			Version: newer, ContentHash: "targeted", ACL: acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Source(h.ds).Space(space)}}}}
		if err := sink.Index(context.Background(), doc); err != nil {
			t.Error(err)
		}
		if err := sink.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}})
	if sum, err := h.run(v1.SyncFullCrawl); err != nil {
		t.Fatalf("full crawl failed: %v (%+v)", err, sum)
	}
	if got := h.storedVersion("page", page); got != newer {
		t.Fatalf("stored version %d after the crawl, want %d (written beside it); the crawl read %d", got, newer, listed.Version)
	}
	// The next crawl, which reads no newer version, leaves it too; only a
	// later edit in Confluence replaces it.
	h.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Title = "Edited again" })
	h.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Title = "Edited once more" })
	h.mustRun(v1.SyncFullCrawl)
	if got, want := h.storedVersion("page", page), newer+1; got != want {
		t.Fatalf("stored version %d after a later edit, want %d", got, want)
	}
}

// An idle hour with a poll every minute: 59 polls of one call each (the
// change search, which also shows who it ran as) and one sweep that
// re-checks every ACL. The numbers go to docs/benchmarks.md.
func TestChangePoll_IdleHourCost(t *testing.T) {
	if testing.Short() {
		t.Skip("60 runs")
	}
	// Cloud is the deployment that has only the poll (no webhooks).
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud} {
		t.Run(string(dep), func(t *testing.T) {
			h, clk := newPollHarness(t, dep)
			if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
				t.Fatal(err)
			}
			h.cf.ResetCalls()
			var polls, sweeps, sweepCalls int64
			for range 60 {
				clk.Add(time.Minute)
				sum, _, err := h.runWith(v1.SyncChangePoll, func(o *crawl.Options) {
					o.Now, o.ACLSweepInterval, o.Refresh = clk.Now, time.Hour, false
				})
				if err != nil {
					t.Fatal(err)
				}
				if sum.DocumentsIndexed != 0 || sum.DocumentsDeleted != 0 {
					t.Fatalf("an idle poll wrote: %+v", sum)
				}
				if sum.Swept {
					sweeps++
					sweepCalls += sum.APICalls
				} else {
					polls++
					if sum.APICalls != 1 {
						t.Fatalf("an idle poll made %d calls, want 1", sum.APICalls)
					}
				}
			}
			total := h.cf.TotalCalls()
			if sweeps != 1 || total != polls+sweepCalls {
				t.Fatalf("%d polls, %d sweeps (%d calls), %d calls in all", polls, sweeps, sweepCalls, total)
			}
			t.Logf("%s idle hour, poll every 1m, %d pages and blog posts: %d calls (%d polls x 1 + one ACL sweep of %d)",
				dep, h.data.Pages+h.data.BlogPosts, total, polls, sweepCalls)
		})
	}
}

// spec.sync.aclRecheckInterval sets how often polls re-check every ACL.
func TestChangePoll_RecheckIntervalFromTheSpec(t *testing.T) {
	h, clk := newPollHarness(t, fakeconfluence.DataCenter)
	if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
		t.Fatal(err)
	}
	h.spec.Sync.ACLRecheckInterval = &metav1.Duration{Duration: 5 * time.Minute}
	clk.Add(4 * time.Minute)
	if sum, _, err := h.poll(clk, 0); err != nil || sum.Swept {
		t.Fatalf("poll 4 min after a full sync: %+v, %v; want no re-check", sum, err)
	}
	clk.Add(time.Minute)
	if sum, _, err := h.poll(clk, 0); err != nil || !sum.Swept {
		t.Fatalf("poll 5 min after a full sync: %+v, %v; want a re-check", sum, err)
	}
	clk.Add(time.Minute)
	if sum, _, err := h.poll(clk, 0); err != nil || sum.Swept {
		t.Fatalf("poll right after a re-check: %+v, %v; want none", sum, err)
	}
}

// A targeted sync of unchanged items writes nothing, and computes the same
// documents as a full crawl: neither rewrites what the other wrote.
func TestTargeted_UnchangedItemsWriteNothingEitherWay(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h := newHarness(t, dep, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 25, MaxDepth: 4, RestrictedEvery: 4, CloudHierarchy: true})
			h.mustRun(v1.SyncFullCrawl)
			var ts []string
			for _, p := range h.pages(h.firstSpace()) {
				ts = append(ts, "page:"+p)
			}
			sum, _, err := h.runWith(v1.SyncTargeted, targets(ts...))
			if err != nil {
				t.Fatal(err)
			}
			if sum.DocumentsIndexed != 0 || sum.DocumentsDeleted != 0 {
				t.Fatalf("a targeted sync of unchanged pages wrote: %+v", sum)
			}
			// Edit one page through the targeted path, then a full crawl.
			h.cf.EditContent(h.pages(h.firstSpace())[0], "", func(c *fakeconfluence.Content) { c.Body = "<p>changed</p>" })
			if _, _, err := h.runWith(v1.SyncTargeted, targets(ts[0])); err != nil {
				t.Fatal(err)
			}
			if sum := h.mustRun(v1.SyncFullCrawl); sum.DocumentsIndexed != 0 {
				t.Fatalf("the full crawl rewrote %d documents the targeted sync wrote", sum.DocumentsIndexed)
			}
		})
	}
}

// A re-check that fails is retried after another interval, not by every
// poll (each re-check lists the whole site).
func TestChangePoll_FailedRecheckIsNotRetriedByEveryPoll(t *testing.T) {
	h, clk := newPollHarness(t, fakeconfluence.DataCenter)
	if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "space.list", Status: 500})
	if sum, _, err := h.poll(clk, time.Hour); err == nil || !sum.Swept {
		t.Fatalf("re-check with a failing space listing: %+v, %v; want a failed re-check", sum, err)
	}
	h.cf.ClearFaults()
	clk.Add(time.Minute)
	if sum, _, err := h.poll(clk, time.Hour); err != nil || sum.Swept {
		t.Fatalf("the poll after a failed re-check: %+v, %v; want a plain poll", sum, err)
	}
	clk.Add(time.Hour)
	if sum, _, err := h.poll(clk, time.Hour); err != nil || !sum.Swept {
		t.Fatalf("an interval after the failed re-check: %+v, %v; want a re-check", sum, err)
	}
}

// An idle poll skips the separate credential check only when its search's
// answer names the user verified before: rejected, ignored (a bad PAT that
// runs as anonymous, CONFSERVER-98199) or replaced credentials fail or are
// verified exactly as on any other run, and a poll that cannot tell pays
// the check again.
func TestChangePoll_IdlePollStillFailsOnBadCredentials(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(dep), func(t *testing.T) {
			h, clk := newPollHarness(t, dep)
			if _, _, err := h.runWith(v1.SyncFullCrawl, func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
				t.Fatal(err)
			}
			poll := func(secret map[string][]byte) (crawl.Summary, error) {
				clk.Add(time.Minute)
				sum, _, err := h.runAs(v1.SyncChangePoll, secret, func(o *crawl.Options) { o.Now, o.ACLSweepInterval = clk.Now, time.Hour })
				return sum, err
			}
			sum, err := poll(map[string][]byte{v1.SecretKeyUsername: []byte(h.username()), v1.SecretKeyPassword: []byte("wrong")})
			if !errors.Is(err, confluence.ErrCredentialsRejected) || !strings.Contains(err.Error(), "verifying the Confluence identity") || sum.Watermark != nil {
				t.Fatalf("idle poll with a wrong password: %v (%+v); want the credential check's rejection", err, sum)
			}
			// Another user's valid credentials: the answer names someone else.
			var other fakeconfluence.User
			for _, u := range h.data.Users {
				if u.ID != h.data.Crawler.ID && u.Secret != "" {
					other = u
				}
			}
			if other.ID == "" {
				t.Fatal("no other user with credentials")
			}
			name := other.Email
			if dep == fakeconfluence.DataCenter {
				name = other.Username
			}
			if sum, err = poll(map[string][]byte{v1.SecretKeyUsername: []byte(name), v1.SecretKeyPassword: []byte(other.Secret)}); err != nil || sum.APICalls != 2 {
				t.Fatalf("idle poll as another user: %v, %d calls; want the credentials verified (2 calls)", err, sum.APICalls)
			}
		})
	}
}

// On Data Center with anonymous access a bad personal access token runs as
// anonymous (CONFSERVER-98199): the search answers 200, as anonymous, and
// the poll must fail as the credential check does, not report "no changes".
func TestChangePoll_IdlePollRejectsAnonymousAnswers(t *testing.T) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	h := newHarnessWith(t, fakeconfluence.Options{Deployment: fakeconfluence.DataCenter, Now: clk.Now, AnonymousAccess: true}, smallDataset())
	h.spec.Confluence.Auth.Type = v1.AuthPersonalAccessToken
	pat := func(tok string) map[string][]byte { return map[string][]byte{v1.SecretKeyPAT: []byte(tok)} }
	if _, _, err := h.runAs(v1.SyncFullCrawl, pat(h.data.Crawler.PAT), func(o *crawl.Options) { o.Now = clk.Now }); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	sum, _, err := h.runAs(v1.SyncChangePoll, pat(h.data.Crawler.PAT), func(o *crawl.Options) { o.Now, o.ACLSweepInterval = clk.Now, time.Hour })
	if err != nil || sum.APICalls != 1 {
		t.Fatalf("idle poll with the right token: %v, %d calls; want 1", err, sum.APICalls)
	}
	clk.Add(time.Minute)
	sum, _, err = h.runAs(v1.SyncChangePoll, pat("revoked-token"), func(o *crawl.Options) { o.Now, o.ACLSweepInterval = clk.Now, time.Hour })
	if !errors.Is(err, confluence.ErrAnonymous) || sum.Watermark != nil {
		t.Fatalf("idle poll with a token Confluence ignores: %v (%+v); want ErrAnonymous", err, sum)
	}
}

// A Cloud scoped API token works only through the API gateway (CLOUD-12617):
// the run that found so records it, and later polls go there at once, so
// an idle poll still costs one call. A token the gateway no longer takes
// (a classic one) sends the run back to the site.
func TestChangePoll_ScopedTokenIdlePollGoesToTheGatewayAtOnce(t *testing.T) {
	h, clk := newPollHarness(t, fakeconfluence.Cloud)
	scoped := h.cf.AddUser(fakeconfluence.User{Username: "scoped-bot", Email: "scoped-bot@example.com", Secret: "scoped-t0ken", ScopedToken: true})
	for _, sp := range h.cf.Spaces() {
		h.cf.SetSpacePermissions(sp.Key, []string{scoped.ID, h.data.Crawler.ID}, nil, false)
	}
	secret := func(u fakeconfluence.User) map[string][]byte {
		return map[string][]byte{v1.SecretKeyUsername: []byte(u.Email), v1.SecretKeyPassword: []byte(u.Secret)}
	}
	run := func(mode v1.SyncMode, u fakeconfluence.User) crawl.Summary {
		t.Helper()
		clk.Add(time.Minute)
		sum, cf, err := h.runAs(mode, secret(u), func(o *crawl.Options) { o.Now, o.ACLSweepInterval = clk.Now, time.Hour })
		if err != nil {
			t.Fatalf("%s as %s: %v (%v)", mode, u.Email, err, cf.APICallsByEndpoint())
		}
		return sum
	}
	run(v1.SyncFullCrawl, scoped)
	if sum := run(v1.SyncChangePoll, scoped); sum.APICalls != 1 {
		t.Fatalf("idle poll with a scoped token: %d calls, want 1", sum.APICalls)
	}
	// The Secret now holds a classic token: the gateway refuses it (unverified
	// in the fake), the site takes it.
	if sum := run(v1.SyncChangePoll, h.data.Crawler); sum.Watermark == nil {
		t.Fatalf("poll with a classic token after a scoped one: %+v", sum)
	}
	if sum := run(v1.SyncChangePoll, h.data.Crawler); sum.APICalls != 1 {
		t.Fatalf("the next idle poll: %d calls, want 1", sum.APICalls)
	}
}
