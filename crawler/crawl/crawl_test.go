package crawl_test

import (
	"slices"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// The oracle test: run on the engine (make test starts a real OpenSearch),
// the ACL filter is proven where users run it. The data set has an
// anonymous space (S1), space permissions by group and by user, page
// restrictions inherited down a page tree four levels deep, personal and
// archived spaces, and users with no access at all.
func TestFullCrawl_EveryUserSeesExactlyWhatConfluenceShows(t *testing.T) {
	for _, d := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		t.Run(string(d), func(t *testing.T) {
			// On Cloud the data set also has folders (restricted ones too), a
			// restricted whiteboard, pages below someone's draft and below a
			// trashed page, and a guest (CloudHierarchy).
			h := newHarness(t, d, fakeconfluence.DatasetOptions{Spaces: 3, PagesPerSpace: 30, NoAccessUsers: 2, CloudHierarchy: d == fakeconfluence.Cloud})
			sum := h.mustRun(v1.SyncFullCrawl)
			if !sum.Complete || sum.DocumentsIndexed == 0 || sum.DocumentsFailed != 0 {
				t.Fatalf("summary %+v", sum)
			}
			t.Logf("summary: %+v", sum)
			h.assertEveryUserSeesExactlyWhatConfluenceShows()

			// The data set is one where the oracle can tell the cases apart:
			// a user with no access sees the anonymous space and nothing more,
			// which is something, and less than a colleague sees.
			outsider, member := h.data.Users[len(h.data.Users)-1].ID, h.data.Users[1].ID
			anonymous := h.expected("")
			if got := h.expected(outsider); len(got) == 0 || !slices.Equal(got, anonymous) || len(h.expected(member)) <= len(got) {
				t.Fatalf("data set: a user with no access would see %d documents (anonymous %d, a member %d)", len(got), len(anonymous), len(h.expected(member)))
			}
		})
	}
}
