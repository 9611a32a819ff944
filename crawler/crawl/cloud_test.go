package crawl_test

import (
	"slices"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

func TestFullCrawl_CloudRestrictedFolderRestrictsPagesBelowIt(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 5, RestrictedEvery: 1000})
	folder := h.cf.AddContent(fakeconfluence.Content{Type: "folder", SpaceKey: "S1", Title: "HR only", ReadUsers: []string{h.data.Crawler.ID}}).ID
	page := h.cf.AddContent(fakeconfluence.Content{SpaceKey: "S1", ParentID: folder, Title: "Salaries"}).ID
	if sum := h.mustRun(v1.SyncFullCrawl); sum.DocumentsFailed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	doc := opensearch.DocumentID(dataSource, "page", page)
	if slices.Contains(h.visible(""), doc) || slices.Contains(h.visible(h.data.Users[1].ID), doc) {
		t.Fatal("a page below a restricted folder is visible to readers the folder excludes")
	}
	if !slices.Contains(h.visible(h.data.Crawler.ID), doc) {
		t.Fatal("the page is hidden from a reader the folder admits")
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

func TestFullCrawl_CloudPagesBelowDraftOrTrashedParentsFollowConfluence(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 5, RestrictedEvery: 1000})
	owner := h.data.Users[1].ID
	draft := h.cf.AddContent(fakeconfluence.Content{SpaceKey: "S1", Status: "draft", Author: owner, ReadUsers: []string{owner}}).ID
	trashed := h.cf.AddContent(fakeconfluence.Content{SpaceKey: "S1", Status: "trashed", ReadUsers: []string{owner}}).ID
	var docs []string
	for _, parent := range []string{draft, trashed} {
		id := h.cf.AddContent(fakeconfluence.Content{SpaceKey: "S1", ParentID: parent, Title: "below " + parent}).ID
		docs = append(docs, opensearch.DocumentID(dataSource, "page", id))
	}
	sum := h.mustRun(v1.SyncFullCrawl)
	if sum.DocumentsFailed != 0 {
		t.Fatalf("pages below unreadable parents failed: %+v", sum)
	}
	for _, doc := range docs {
		if !slices.Contains(h.visible(h.data.Users[2].ID), doc) {
			t.Errorf("%s is hidden from a space reader", doc)
		}
	}
	h.assertEveryUserSeesExactlyWhatConfluenceShows()
}

func TestFullCrawl_CloudArchivedPagesInScopeAreIndexedWithTheirACL(t *testing.T) {
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 5, RestrictedEvery: 1000})
	on := true
	h.spec.Scope.ArchivedPages = &on
	open := h.cf.AddContent(fakeconfluence.Content{SpaceKey: "S1", Title: "Archived open"}).ID
	closed := h.cf.AddContent(fakeconfluence.Content{SpaceKey: "S1", Title: "Archived closed", ReadUsers: []string{h.data.Crawler.ID}}).ID
	h.cf.SetContentStatus(open, "archived")
	h.cf.SetContentStatus(closed, "archived")
	if sum := h.mustRun(v1.SyncFullCrawl); sum.DocumentsFailed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	reader := h.visible(h.data.Users[2].ID)
	if !slices.Contains(reader, opensearch.DocumentID(dataSource, "page", open)) {
		t.Error("an archived page in scope is not searchable")
	}
	if slices.Contains(reader, opensearch.DocumentID(dataSource, "page", closed)) {
		t.Error("an archived page's restriction was not applied")
	}
}
