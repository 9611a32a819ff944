package crawl_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

// BenchmarkSpacePrincipals runs the real binary over one space of 20,000
// pages (BENCH_SPACE_PAGES) granted to 8, 500 and 2,000 principals (users)
// and reports, per principal count: the crawler's peak RSS for a forced
// full crawl; the index bytes per document after a flush and the spaces
// index's bytes (real node only, OPENSEARCH_URL); and the writes an
// incremental sync makes after the space's permission changed (half of the
// principals removed). CRAWLER_BIN measures another build (e.g. main's
// before space records).
func BenchmarkSpacePrincipals(b *testing.B) {
	pages := 20000
	if n, err := strconv.Atoi(os.Getenv("BENCH_SPACE_PAGES")); err == nil && n > 0 {
		pages = n
	}
	for _, principals := range []int{8, 500, 2000} {
		b.Run(fmt.Sprintf("principals=%d", principals), func(b *testing.B) {
			h := newHarness(b, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: pages, BodyBytes: 1000})
			space := h.firstSpace()
			users := []string{h.data.Crawler.ID}
			for i := len(users); i < principals; i++ {
				u := h.cf.AddUser(fakeconfluence.User{Username: fmt.Sprintf("reader%04d", i), Email: fmt.Sprintf("reader%04d@example.com", i), DisplayName: fmt.Sprintf("Reader %d", i), Secret: "x"})
				users = append(users, u.ID)
			}
			h.cf.SetSpacePermissions(space, users, nil, false)
			bin := crawlerBinary(b)
			var peak int64
			var full crawl.Summary
			b.ResetTimer()
			for b.Loop() {
				p, sum := runCrawlerBinary(b, h, bin, v1.SyncForcedFullCrawl)
				peak, full = max(peak, p), sum
			}
			b.StopTimer()
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			if full.DocumentsIndexed < int64(pages) {
				b.Fatalf("indexed %d documents, want at least %d", full.DocumentsIndexed, pages)
			}
			if h.fos == nil {
				docBytes, docs := storeBytes(b, h, h.spec.OpenSearch.Index)
				b.ReportMetric(float64(docBytes)/float64(docs), "index-bytes/doc")
				recBytes, _ := storeBytes(b, h, opensearch.SpaceIndex(h.spec.OpenSearch.Index))
				b.ReportMetric(float64(recBytes), "spaces-index-bytes")
			}
			h.cf.SetSpacePermissions(space, users[:max(1, principals/2)], nil, false)
			_, inc := runCrawlerBinary(b, h, bin, v1.SyncIncremental)
			b.ReportMetric(float64(inc.DocumentsIndexed), "docs-written-on-permission-change")
			b.ReportMetric(float64(inc.SpaceRecordsWritten), "records-written-on-permission-change")
		})
	}
}

var builtCrawler = struct {
	sync.Once
	path string
	err  error
	out  []byte
}{}

// crawlerBinary returns CRAWLER_BIN, or builds the binary once per process.
func crawlerBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("CRAWLER_BIN"); bin != "" {
		return bin
	}
	builtCrawler.Do(func() {
		dir, err := os.MkdirTemp("", "crawler-bench-")
		if err != nil {
			builtCrawler.err = err
			return
		}
		builtCrawler.path = filepath.Join(dir, "confluence-operator")
		build := exec.Command("go", "build", "-o", builtCrawler.path, ".")
		build.Dir = testenv.RepoRoot()
		builtCrawler.out, builtCrawler.err = build.CombinedOutput()
	})
	if builtCrawler.err != nil {
		b.Fatalf("build: %v\n%s", builtCrawler.err, builtCrawler.out)
	}
	return builtCrawler.path
}

// runCrawlerBinary runs one sync of h's site and index with the binary as
// data source bench/wiki (pages only, no identity crawl) and returns its
// peak RSS (VmHWM, sampled) and summary.
func runCrawlerBinary(b *testing.B, h *harness, bin string, mode v1.SyncMode) (int64, crawl.Summary) {
	b.Helper()
	dir := b.TempDir()
	ds := filepath.Join(dir, "ds.yaml")
	creds := filepath.Join(dir, "creds.yaml")
	manifestYAML := fmt.Sprintf("apiVersion: sources.confluence-operator.dev/v1alpha1\nkind: ConfluenceDataSource\nmetadata: {name: wiki, namespace: bench}\nspec:\n"+
		"  confluence: {url: %q, deployment: %s, auth: {secretRef: {name: c}}, maxRequestsPerSecond: 1000}\n"+
		"  scope: {pageComments: false, pageAttachments: false, blogComments: false, blogAttachments: false}\n"+
		"  identityCrawler: {enabled: false}\n  opensearch: {endpoints: [%q], index: %s}\n",
		h.cf.URL(), h.spec.Confluence.Deployment, h.spec.OpenSearch.Endpoints[0], h.spec.OpenSearch.Index)
	if err := os.WriteFile(ds, []byte(manifestYAML), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(creds, fmt.Appendf(nil, "stringData: {username: %q, password: %q}\n", h.username(), h.data.Crawler.Secret), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "crawl", "-f", ds, "--credentials", creds, "--mode", string(mode))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var peak int64
	for {
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("crawl %s: %v\n%s\n%s", mode, err, out.String(), errOut.String())
			}
			var sum crawl.Summary
			if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
				b.Fatalf("crawl %s summary: %v\n%s", mode, err, out.String())
			}
			return peak, sum
		case <-tick.C:
			peak = max(peak, highWaterMark(cmd.Process.Pid))
		}
	}
}

// storeBytes force-merges an index (0, 0 if it does not exist) and returns
// its primaries' store size and its top-level document count (_count: the
// engine's docs statistics also count nested ACL clauses).
func storeBytes(b *testing.B, h *harness, index string) (int64, int64) {
	b.Helper()
	h.raw(http.MethodPost, "/"+index+"/_forcemerge?max_num_segments=1&flush=true&ignore_unavailable=true", nil, nil)
	var st struct {
		All struct {
			Primaries struct {
				Store struct {
					Size int64 `json:"size_in_bytes"`
				} `json:"store"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	h.raw(http.MethodGet, "/"+index+"/_stats/store?ignore_unavailable=true", nil, &st)
	var n struct {
		Count int64 `json:"count"`
	}
	h.raw(http.MethodPost, "/"+index+"/_count?ignore_unavailable=true", map[string]any{"query": map[string]any{"match_all": map[string]any{}}}, &n)
	return st.All.Primaries.Store.Size, n.Count
}
