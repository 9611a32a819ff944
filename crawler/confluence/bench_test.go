package confluence_test

import (
	"context"
	"testing"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// BenchmarkListPages lists 2,000 pages with 5 KB bodies from the fake and
// reports pages/s and API calls per page.
func BenchmarkListPages(b *testing.B) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		b.Run(string(dep), func(b *testing.B) {
			f := newFixture(b, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{
				Spaces: 1, PersonalSpaces: 1, ArchivedSpaces: 1, PagesPerSpace: 2000, BlogPostsPerSpace: 1,
				CommentsPerPage: 1, AttachmentsPerPage: 1, BodyBytes: 5000,
			})
			c := mustClient(b, f.config(b, confluence.AuthBasic, nil))
			ctx := context.Background()
			if _, err := c.Verify(ctx); err != nil {
				b.Fatal(err)
			}
			start := c.APICalls()
			pages := 0
			b.ResetTimer()
			for b.Loop() {
				err := c.ListContent(ctx, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(confluence.Content) error {
					pages++
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
			b.ReportMetric(float64(c.APICalls()-start)/float64(pages), "calls/page")
		})
	}
}
