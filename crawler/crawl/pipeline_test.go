package crawl_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// interceptOpenSearch makes the crawler's OpenSearch requests pass through
// before, which may block them (the cluster being slow).
func (h *harness) interceptOpenSearch(before func(*http.Request)) {
	h.t.Helper()
	osc, err := opensearch.NewClient(opensearch.Config{Endpoints: []string{h.target.URL}, Username: h.target.Username, Password: h.target.Password, InsecureSkipVerify: h.target.Insecure,
		RetryBackoff: func(int) time.Duration { return 5 * time.Millisecond },
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			before(r)
			return http.DefaultTransport.RoundTrip(r)
		})})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = osc.Close() })
	h.os = osc
}

// TestSync_ListingRunsAheadOfChangeDetection: while the first group of 200
// pages (four listing pages of 50) is compared with the index, the listing
// goes on: the fifth listing page is requested before that comparison is
// answered. Before, the comparison ran inside the listing callback and the
// listing waited for OpenSearch.
func TestSync_ListingRunsAheadOfChangeDetection(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 500, BlogPostsPerSpace: 1, PersonalSpaces: 1, ArchivedSpaces: 1})
	h.spec.Scope.PageComments, h.spec.Scope.PageAttachments, h.spec.Scope.BlogComments, h.spec.Scope.BlogAttachments = off, off, off, off
	var (
		once      sync.Once
		listedOn  atomic.Int64 // listing calls seen while the first _mget was held
		listedMax = int64(5)
	)
	h.interceptOpenSearch(func(r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_mget") {
			return
		}
		once.Do(func() {
			deadline := time.Now().Add(5 * time.Second)
			for h.cf.Calls("content.search") < listedMax && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			listedOn.Store(h.cf.Calls("content.search"))
		})
	})
	sum := h.mustRun(v1.SyncFullCrawl)
	if got := listedOn.Load(); got < listedMax {
		t.Fatalf("while the first 200 pages were compared with the index, the listing requested %d pages, want at least %d: it waits for OpenSearch", got, listedMax)
	}
	if sum.DocumentsIndexed != 501 {
		t.Fatalf("indexed %d documents, want 501 (summary %+v)", sum.DocumentsIndexed, sum)
	}
}

// TestSync_SpaceIsSearchableWhenItCompletes: the documents of a space reach
// OpenSearch when the space's crawl is done, not at the end of the run nor
// at the sink's 5 s flush tick: while the other space's listing is held up
// for 3 s, the first space's documents become searchable.
func TestSync_SpaceIsSearchableWhenItCompletes(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, smallDataset())
	const held = 3 * time.Second
	var heldAt atomic.Int64 // when the S2 listing request arrived, in ns since start
	start := time.Now()
	h.cf.AddFault(fakeconfluence.Fault{Endpoint: "content.search", QueryContains: `space = "S2"`, Latency: held, Times: 1,
		Hook: func() { heldAt.Store(int64(time.Since(start))) }})
	want := 0
	for _, id := range h.cf.ContentIDs("S1", "page", "current") {
		want += 1 + len(h.cf.CommentsOf(id)) + len(h.cf.AttachmentsOf(id))
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var searchable atomic.Int64 // when all of S1 was searchable, in ns since start
	go func() {
		for ctx.Err() == nil {
			if h.os.Refresh(ctx, h.spec.OpenSearch.Index) == nil {
				n, err := h.os.Count(ctx, h.spec.OpenSearch.Index, opensearch.IDFilter{Datasource: dataSource, SpaceKey: "S1", Types: []string{"page", opensearch.TypeComment, opensearch.TypeAttachment}})
				if err == nil && n >= int64(want) {
					searchable.Store(int64(time.Since(start)))
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	h.mustRun(v1.SyncFullCrawl)
	stop()
	if heldAt.Load() == 0 {
		t.Fatal("the S2 listing was never held: the fault did not apply")
	}
	released := time.Duration(heldAt.Load()) + held
	if at := time.Duration(searchable.Load()); at == 0 || at >= released {
		t.Fatalf("space S1's %d documents were not all searchable while space S2's listing was held (until %s; S1 searchable at %s)", want, released, at)
	}
}
