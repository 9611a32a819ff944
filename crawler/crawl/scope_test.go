package crawl_test

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

func (h *harness) count(f opensearch.IDFilter) int {
	h.t.Helper()
	f.Datasource = dataSource
	n := 0
	if err := h.os.StreamIDs(context.Background(), h.spec.OpenSearch.Index, f, func(string) error { n++; return nil }); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestScopeAndFilters(t *testing.T) {
	yes, no := true, false
	cases := map[string]struct {
		configure func(*v1.ConfluenceDataSourceSpec)
		check     func(h *harness, base map[string]int, sum summaryView)
	}{
		"page comments off": {
			func(s *v1.ConfluenceDataSourceSpec) { s.Scope.PageComments = &no; s.Scope.BlogComments = &no },
			func(h *harness, base map[string]int, _ summaryView) {
				if n := h.count(opensearch.IDFilter{Types: []string{"comment"}}); n != 0 {
					h.t.Errorf("%d comments indexed with comments out of scope", n)
				}
			},
		},
		"blog posts off takes their comments and attachments along": {
			func(s *v1.ConfluenceDataSourceSpec) { s.Scope.BlogPosts = &no },
			func(h *harness, base map[string]int, _ summaryView) {
				if n := h.count(opensearch.IDFilter{Types: []string{"blogpost"}}); n != 0 {
					h.t.Errorf("%d blog posts indexed", n)
				}
				if n := h.count(opensearch.IDFilter{Types: []string{"comment", "attachment"}}); n >= base["comment"]+base["attachment"] {
					h.t.Errorf("comments and attachments of blog posts are still indexed (%d)", n)
				}
			},
		},
		"personal spaces on": {
			func(s *v1.ConfluenceDataSourceSpec) { s.Scope.PersonalSpaces = &yes },
			func(h *harness, base map[string]int, _ summaryView) {
				if n := h.count(opensearch.IDFilter{Types: []string{"page"}}); n <= base["page"] {
					h.t.Errorf("personal space pages not indexed: %d pages, %d without", n, base["page"])
				}
			},
		},
		"page title exclude": {
			func(s *v1.ConfluenceDataSourceSpec) {
				s.Filters.Titles.Pages.Exclude = []v1.Regex{"(?i)runbook|faq|design"}
			},
			func(h *harness, base map[string]int, sum summaryView) {
				if sum.DocumentsSkipped == 0 || h.count(opensearch.IDFilter{Types: []string{"page"}}) >= base["page"] {
					h.t.Errorf("title exclude skipped nothing: %+v", sum)
				}
			},
		},
		"attachment types include pdf only": {
			func(s *v1.ConfluenceDataSourceSpec) { s.Filters.AttachmentTypes.Include = []v1.Regex{"^pdf$"} },
			func(h *harness, base map[string]int, _ summaryView) {
				res, err := h.os.Search(context.Background(), opensearch.SearchRequest{Alias: h.spec.OpenSearch.Index, Principals: h.principalsOf(h.data.Crawler.ID), Size: 10000})
				if err != nil {
					h.t.Fatal(err)
				}
				pdfs := 0
				for _, hit := range res.Hits {
					if hit.Type == "attachment" {
						if !strings.HasSuffix(strings.ToLower(hit.Title), ".pdf") {
							h.t.Errorf("attachment %q indexed despite the pdf-only filter", hit.Title)
						}
						pdfs++
					}
				}
				if pdfs == 0 {
					h.t.Error("no pdf attachment indexed")
				}
			},
		},
	}
	base := func() map[string]int {
		h := newHarness(t, fakeconfluence.Cloud, smallDataset())
		h.mustRun(v1.SyncFullCrawl)
		out := map[string]int{}
		for _, typ := range []string{"page", "blogpost", "comment", "attachment"} {
			out[typ] = h.count(opensearch.IDFilter{Types: []string{typ}})
		}
		return out
	}()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, fakeconfluence.Cloud, smallDataset())
			tc.configure(&h.spec)
			sum := h.mustRun(v1.SyncFullCrawl)
			tc.check(h, base, sum)
		})
	}
}
