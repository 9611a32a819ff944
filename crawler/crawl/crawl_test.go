package crawl_test

import (
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

func TestFullCrawl_EveryUserSeesExactlyWhatConfluenceShows(t *testing.T) {
	for _, d := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(d), func(t *testing.T) {
			// On Cloud the data set also has folders (restricted ones too), a
			// restricted whiteboard, pages below someone's draft and below a
			// trashed page, and a guest (CloudHierarchy).
			h := newHarness(t, d, fakeconfluence.DatasetOptions{Spaces: 3, PagesPerSpace: 30, CloudHierarchy: d == fakeconfluence.Cloud})
			sum := h.mustRun(v1.SyncFullCrawl)
			if !sum.Complete || sum.DocumentsIndexed == 0 || sum.DocumentsFailed != 0 {
				t.Fatalf("summary %+v", sum)
			}
			t.Logf("summary: %+v", sum)
			h.assertEveryUserSeesExactlyWhatConfluenceShows()
		})
	}
}
