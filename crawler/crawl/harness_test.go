package crawl_test

import (
	"cmp"
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/demodata"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

const dataSource = "search/eng-wiki"

// harness is a fake Confluence with a generated data set and an OpenSearch
// (the double, or a real cluster when OPENSEARCH_URL is set).
type harness struct {
	t    testing.TB
	cf   *fakeconfluence.Server
	data fakeconfluence.Dataset
	os   *opensearch.Client
	// fos is the OpenSearch double, nil against a real cluster.
	fos *fakeopensearch.Server
	// target is the OpenSearch behind os, for raw requests.
	target fakeopensearch.Target
	spec   v1.ConfluenceDataSourceSpec
	// ds is the data source ("namespace/name") the harness crawls as.
	ds string
	// rate is the client's request limit per second; 0 means none.
	rate float64
	// allowDeletions confirms held-back deletions (the annotation).
	allowDeletions int64
	// as, if set, runs as another data source than dataSource.
	as string
	// site is the demo wiki's people (newDemoHarness).
	site demodata.Site
}

func newHarness(t testing.TB, deployment fakeconfluence.Deployment, o fakeconfluence.DatasetOptions) *harness {
	t.Helper()
	return newHarnessWith(t, fakeconfluence.Options{Deployment: deployment}, o)
}

// newHarnessWith is newHarness with every option of the fake.
func newHarnessWith(t testing.TB, fo fakeconfluence.Options, o fakeconfluence.DatasetOptions) *harness {
	t.Helper()
	return newHarnessOn(t, fakeopensearch.ForTest(t), fo, o)
}

// newFaultHarness is newHarness on the OpenSearch double even when
// OPENSEARCH_URL names a real cluster: write faults (items rejected inside a
// 200, every _bulk answering 429, the node vanishing mid-run) cannot be
// produced on demand by the real engine.
func newFaultHarness(t testing.TB, deployment fakeconfluence.Deployment, o fakeconfluence.DatasetOptions) *harness {
	t.Helper()
	return newHarnessOn(t, fakeopensearch.Double(t), fakeconfluence.Options{Deployment: deployment}, o)
}

func newHarnessOn(t testing.TB, target fakeopensearch.Target, fo fakeconfluence.Options, o fakeconfluence.DatasetOptions) *harness {
	t.Helper()
	deployment := fo.Deployment
	cf := fakeconfluence.New(fo)
	t.Cleanup(cf.Close)
	data := cf.Generate(o)
	osc, err := opensearch.NewClient(opensearch.Config{Endpoints: []string{target.URL}, Username: target.Username, Password: target.Password, InsecureSkipVerify: target.Insecure,
		RetryBackoff: func(int) time.Duration { return 5 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = osc.Close() })
	spec := v1.ConfluenceDataSourceSpec{
		Confluence: v1.ConfluenceSpec{
			URL:        cf.URL(),
			Deployment: v1.Deployment(deployment),
			Auth:       v1.ConfluenceAuth{Type: v1.AuthBasic, SecretRef: v1.SecretReference{Name: "creds"}},
		},
		OpenSearch: v1.OpenSearchSpec{Endpoints: []string{target.URL}, Index: fakeopensearch.IndexName(t)},
	}
	manifest.Default(&spec)
	h := &harness{t: t, cf: cf, data: data, os: osc, fos: target.Fake, target: target, spec: spec, ds: dataSource}
	if target.Fake == nil {
		// The real node is shared and holds at most 1,000 shards: drop the
		// indices of this test's alias (unique to it) when it ends.
		t.Cleanup(func() { h.dropIndices(spec.OpenSearch.Index) })
	}
	return h
}

// dropIndices deletes the backing, identity, state and spaces indices of a
// test's alias.
func (h *harness) dropIndices(alias string) {
	names := alias + "-v*," + opensearch.IdentityIndex(alias) + "," + opensearch.StateIndex(alias) + "," + opensearch.SpaceIndex(alias)
	req, err := http.NewRequest(http.MethodDelete, strings.TrimSuffix(h.target.URL, "/")+"/"+names+"?ignore_unavailable=true", nil)
	if err != nil {
		return
	}
	if h.target.Username != "" {
		req.SetBasicAuth(h.target.Username, h.target.Password)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: h.target.Insecure}}} //nolint:gosec // test clusters only
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

// sibling is a second Confluence site, crawled as data source ds into the
// same OpenSearch alias as h (data sources sharing an index).
func (h *harness) sibling(ds string, deployment fakeconfluence.Deployment, o fakeconfluence.DatasetOptions) *harness {
	h.t.Helper()
	cf := fakeconfluence.New(fakeconfluence.Options{Deployment: deployment})
	h.t.Cleanup(cf.Close)
	data := cf.Generate(o)
	spec := h.spec
	spec.Confluence.URL = cf.URL()
	spec.Confluence.Deployment = v1.Deployment(deployment)
	return &harness{t: h.t, cf: cf, data: data, os: h.os, fos: h.fos, target: h.target, spec: spec, ds: ds}
}

func (h *harness) username() string {
	if h.cf.Deployment() == fakeconfluence.Cloud {
		return h.data.Crawler.Email
	}
	return h.data.Crawler.Username
}

// run performs one sync with a fresh client, as each Job does.
func (h *harness) run(mode v1.SyncMode) (crawl.Summary, error) {
	return h.runCtx(context.Background(), mode)
}

func (h *harness) runCtx(ctx context.Context, mode v1.SyncMode) (crawl.Summary, error) {
	h.t.Helper()
	cfg, err := manifest.ConfluenceConfig(h.spec, manifest.Secrets{Confluence: map[string][]byte{
		v1.SecretKeyUsername: []byte(h.username()), v1.SecretKeyPassword: []byte(h.data.Crawler.Secret),
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.MaxRequestsPerSecond = h.rate
	cfg.RetryBaseDelay = 1
	cf, err := confluence.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return crawl.Run(ctx, crawl.Options{DataSource: cmp.Or(h.as, h.ds), Spec: h.spec, Mode: mode, Confluence: cf, OpenSearch: h.os, Refresh: true, AllowDeletions: h.allowDeletions})
}

func (h *harness) mustRun(mode v1.SyncMode) crawl.Summary {
	h.t.Helper()
	sum, err := h.run(mode)
	if err != nil {
		h.t.Fatalf("%s failed: %v (summary %+v)", mode, err, sum)
	}
	return sum
}

// visible returns the document ids a user may find (userID "" = anonymous),
// by searching with the principals the identity index resolves, expanded to
// the spaces they may view.
func (h *harness) visible(userID string) []string {
	h.t.Helper()
	return h.search(h.principalsOf(userID))
}

// principalsOf resolves a user (userID "" = anonymous) as a search
// application does: identity, groups, anonymous, readable spaces.
func (h *harness) principalsOf(userID string) []string {
	h.t.Helper()
	who := ""
	if userID != "" {
		who = acl.Source(h.ds).User(userID)
	}
	res, err := h.os.ResolvePrincipals(context.Background(), h.spec.OpenSearch.Index, []string{h.ds}, who)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Principals
}

// search returns the ids of the data source's documents a reader holding
// principals may see.
func (h *harness) search(principals []string) []string {
	h.t.Helper()
	res, err := h.os.Search(context.Background(), opensearch.SearchRequest{Alias: h.spec.OpenSearch.Index, Principals: principals, Datasources: []string{h.ds}, Size: 10000})
	if err != nil {
		h.t.Fatal(err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, hit := range res.Hits {
		ids = append(ids, hit.ID)
	}
	slices.Sort(ids)
	return ids
}

// expected is what Confluence shows the user in the crawled scope (current
// content of current global spaces), computed from the fake's model.
func (h *harness) expected(userID string) []string { return h.expectedExcept(userID, "") }

// expectedExcept is expected without the space excluded ("" = none).
func (h *harness) expectedExcept(userID, excluded string) []string {
	var ids []string
	for _, sp := range h.cf.Spaces() {
		if sp.Type != "global" || sp.Status != "current" || sp.Key == excluded {
			continue
		}
		for _, typ := range []string{"page", "blogpost"} {
			for _, id := range h.cf.ContentIDs(sp.Key, typ, "current") {
				if !h.cf.CanView(userID, id) {
					continue
				}
				ids = append(ids, opensearch.DocumentID(h.ds, typ, id))
				for _, c := range h.cf.CommentsOf(id) {
					if c.Status == "" || c.Status == "current" {
						ids = append(ids, opensearch.DocumentID(h.ds, opensearch.TypeComment, c.ID))
					}
				}
				for _, a := range h.cf.AttachmentsOf(id) {
					if a.Status == "" || a.Status == "current" {
						ids = append(ids, opensearch.DocumentID(h.ds, opensearch.TypeAttachment, h.cf.AttachmentID(a)))
					}
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// assertEveryUserSeesExactlyWhatConfluenceShows compares search results with
// the oracle for every user and for an anonymous reader.
func (h *harness) assertEveryUserSeesExactlyWhatConfluenceShows() {
	h.t.Helper()
	h.assertEveryUserSeesExactlyWhatConfluenceShowsExcept("")
}

// assertEveryUserSeesExactlyWhatConfluenceShowsExcept is the oracle check
// with one space excluded from the crawl's scope ("" = none).
func (h *harness) assertEveryUserSeesExactlyWhatConfluenceShowsExcept(excluded string) {
	h.t.Helper()
	users := []string{""}
	for _, u := range h.cf.Users() {
		users = append(users, u.ID)
	}
	for _, u := range users {
		got, want := h.visible(u), h.expectedExcept(u, excluded)
		if !slices.Equal(got, want) {
			h.t.Errorf("user %q: search returns %d documents, Confluence shows %d\n extra: %v\n missing: %v", u, len(got), len(want), minus(got, want), minus(want, got))
		}
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// summaryView is the part of a summary change checks look at.
type summaryView = crawl.Summary
