package crawl_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

var off = func() *bool { b := false; return &b }()

// newBenchEnv is the test harness with pages of ~5 KB bodies, optionally
// without comments and attachments.
func newBenchEnv(b *testing.B, spaces, pagesPerSpace int, pagesOnly bool) *harness {
	b.Helper()
	h := newHarness(b, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: spaces, PagesPerSpace: pagesPerSpace, BlogPostsPerSpace: 1, BodyBytes: 5000, PersonalSpaces: 1, ArchivedSpaces: 1})
	if pagesOnly {
		h.spec.Scope = v1.ScopeSpec{PageComments: off, PageAttachments: off, BlogComments: off, BlogAttachments: off}
		manifest.Default(&h.spec)
	}
	return h
}

// BenchmarkFullCrawl measures a first full crawl of pages and blog posts
// with 5 KB bodies and ACLs: throughput and Confluence calls per page.
func BenchmarkFullCrawl(b *testing.B) {
	e := newBenchEnv(b, 4, 500, true)
	var docs, calls int64
	b.ResetTimer()
	for b.Loop() {
		sum := e.mustRun(v1.SyncForcedFullCrawl)
		docs += sum.DocumentsIndexed
		calls += sum.APICalls
	}
	b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(calls)/float64(docs), "calls/page")
}

// BenchmarkFullCrawlWith100msLatency gives every Confluence request 100 ms
// of latency and the client a 10 requests/s limit: throughput should be
// bound by the limit (10 calls/s × ~50 pages per call), not by latency.
func BenchmarkFullCrawlWith100msLatency(b *testing.B) {
	e := newBenchEnv(b, 4, 250, true)
	e.cf.SetLatency(100 * time.Millisecond)
	var docs, calls int64
	b.ResetTimer()
	for b.Loop() {
		e.rate = 10
		sum := e.mustRun(v1.SyncForcedFullCrawl)
		docs += sum.DocumentsIndexed
		calls += sum.APICalls
	}
	b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(calls)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkFullCrawlWithCommentsAndAttachments adds comments and attachments
// (downloaded and extracted): calls per document including downloads.
func BenchmarkFullCrawlWithCommentsAndAttachments(b *testing.B) {
	e := newBenchEnv(b, 4, 250, false)
	var docs, calls, downloads int64
	b.ResetTimer()
	for b.Loop() {
		e.cf.ResetCalls()
		sum := e.mustRun(v1.SyncForcedFullCrawl)
		docs += sum.DocumentsIndexed
		calls += sum.APICalls
		downloads += e.cf.Calls("attachment.download") + e.cf.Calls("download") + e.cf.Calls("media")
	}
	b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(calls-downloads)/float64(docs), "listing-calls/doc")
}

// BenchmarkIncrementalNoChange10k measures an incremental sync of 10,000
// unchanged pages: the calls are the body-less listings only.
func BenchmarkIncrementalNoChange10k(b *testing.B) {
	e := newBenchEnv(b, 10, 1000, true)
	e.mustRun(v1.SyncFullCrawl)
	var calls, unchanged int64
	b.ResetTimer()
	for b.Loop() {
		sum := e.mustRun(v1.SyncIncremental)
		if sum.DocumentsIndexed != 0 {
			b.Fatalf("an unchanged incremental sync wrote %d documents", sum.DocumentsIndexed)
		}
		calls += sum.APICalls
		unchanged += sum.DocumentsUnchanged
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
	b.ReportMetric(float64(calls)/float64(unchanged), "calls/page")
}

// BenchmarkCrawlerPeakRSS100k runs the real binary (`confluence-operator
// crawl`) over 100,000 pages and reports its peak resident memory.
func BenchmarkCrawlerPeakRSS100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100,000 pages")
	}
	e := newBenchEnv(b, 20, 5000, true)
	peak := crawlerPeakRSS(b, e, "  scope: {pageComments: false, pageAttachments: false, blogComments: false, blogAttachments: false}\n")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkCrawlerPeakRSSHugeBodies runs the real binary over 100 pages of
// 5 MB bodies on Data Center (listings carry up to 50 bodies per response)
// and reports its peak resident memory.
func BenchmarkCrawlerPeakRSSHugeBodies(b *testing.B) {
	e := newHarness(b, fakeconfluence.DataCenter, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 100, BlogPostsPerSpace: 1,
		BodyBytes: 5 << 20, CommentsPerPage: 0, AttachmentsPerPage: 0})
	peak := crawlerPeakRSS(b, e, "  scope: {pageComments: false, pageAttachments: false, blogComments: false, blogAttachments: false}\n")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// crawlerPeakRSS builds the binary, runs a forced full crawl of e with the
// extra spec lines per benchmark iteration, and returns the crawler
// process's peak RSS.
func crawlerPeakRSS(b *testing.B, e *harness, extraSpec string) int64 {
	b.Helper()
	// CRAWLER_BIN measures another build (e.g. the previous commit's).
	bin := os.Getenv("CRAWLER_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "confluence-operator")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	}
	dir := b.TempDir()
	ds := filepath.Join(dir, "ds.yaml")
	creds := filepath.Join(dir, "creds.yaml")
	manifestYAML := fmt.Sprintf("apiVersion: sources.confluence-operator.dev/v1alpha1\nkind: ConfluenceDataSource\nmetadata: {name: wiki, namespace: bench}\nspec:\n  confluence: {url: %q, deployment: %s, auth: {secretRef: {name: c}}, maxRequestsPerSecond: 1000}\n%s  identityCrawler: {enabled: false}\n  opensearch: {endpoints: [%q], index: %s}\n",
		e.cf.URL(), e.spec.Confluence.Deployment, extraSpec, e.spec.OpenSearch.Endpoints[0], e.spec.OpenSearch.Index)
	if err := os.WriteFile(ds, []byte(manifestYAML), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("stringData: {username: %q, password: %q}\n", e.username(), e.data.Crawler.Secret)), 0o600); err != nil {
		b.Fatal(err)
	}
	var peak int64
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, "crawl", "-f", ds, "--credentials", creds, "--mode", "ForcedFullCrawl")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// The child's rusage maxrss would include this process's memory
		// (it is set before exec), so sample the child's own high-water mark.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		tick := time.NewTicker(20 * time.Millisecond)
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatalf("crawl: %v\n%s", err, out.String())
				}
				break wait
			case <-tick.C:
				peak = max(peak, highWaterMark(cmd.Process.Pid))
			}
		}
		tick.Stop()
	}
	return peak
}

// highWaterMark reads a process's peak resident set size (VmHWM) in bytes.
func highWaterMark(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkSmallSync is the 56-document sync of issue 15: a small wiki with
// the default spec, once at the old fixed 10 requests/s default and once
// server-paced (the fake sets no rate limit, so nothing slows the client).
func BenchmarkSmallSync(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{{"old-default-10rps", 10}, {"server-paced", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newHarness(b, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 17, BlogPostsPerSpace: 2})
			e.rate = bc.rate
			var docs, calls int64
			b.ResetTimer()
			for b.Loop() {
				sum := e.mustRun(v1.SyncForcedFullCrawl)
				docs += sum.DocumentsIndexed
				calls += sum.APICalls
			}
			b.ReportMetric(float64(docs)/float64(b.N), "docs/op")
			b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
		})
	}
}

// BenchmarkFullCrawl3000 is the full crawl of issue 15: 3 spaces of 1,000
// pages with 5 KB bodies (plus a blog post each), every document written
// (forced), against the fake Confluence with no server rate limit and no
// client ceiling. The target is under 1 s wall per crawl on 2 cores.
func BenchmarkFullCrawl3000(b *testing.B) {
	for _, d := range []fakeconfluence.Deployment{fakeconfluence.Cloud, fakeconfluence.DataCenter} {
		b.Run(string(d), func(b *testing.B) {
			e := newHarness(b, d, fakeconfluence.DatasetOptions{Spaces: 3, PagesPerSpace: 1000, BlogPostsPerSpace: 1, BodyBytes: 5000})
			e.spec.Scope = v1.ScopeSpec{PageComments: off, PageAttachments: off, BlogComments: off, BlogAttachments: off}
			manifest.Default(&e.spec)
			var docs, calls int64
			cpu := processCPU()
			b.ResetTimer()
			for b.Loop() {
				sum := e.mustRun(v1.SyncForcedFullCrawl)
				docs += sum.DocumentsIndexed
				calls += sum.APICalls
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/crawl")
			// The fakes run in this process too: on a shared machine the CPU
			// time is the steadier figure (wall >= CPU / cores).
			b.ReportMetric((processCPU()-cpu).Seconds()/float64(b.N), "cpu-s/crawl")
			b.ReportMetric(float64(docs)/float64(b.N), "docs/op")
			b.ReportMetric(float64(calls)/float64(docs), "calls/page")
		})
	}
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
