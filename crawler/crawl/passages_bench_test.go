package crawl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/extract"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/demodata"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// BenchmarkFullCrawlPassages measures a first full crawl of 1,000 pages of
// ~5 KB with passages off and on (spec.passages defaults): throughput, and
// with passages, passages per page and index bytes per page.
func BenchmarkFullCrawlPassages(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, 4, 250, true)
			e.dropIndicesAtEnd()
			if on {
				e.spec.Passages = v1.PassagesSpec{Enabled: ptr(true)}
			}
			var docs, passages int64
			for b.Loop() {
				sum := e.mustRun(v1.SyncForcedFullCrawl)
				docs += sum.DocumentsIndexed
				passages += sum.PassagesIndexed
			}
			b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "pages/s")
			if !on {
				return
			}
			b.ReportMetric(float64(passages)/float64(docs), "passages/page")
			if e.fos == nil {
				b.ReportMetric(float64(e.storeBytes(e.spec.OpenSearch.Index))/float64(docs/int64(b.N)), "doc-index-B/page")
				b.ReportMetric(float64(e.storeBytes(opensearch.PassageAlias(e.spec.OpenSearch.Index)))/float64(docs/int64(b.N)), "passage-index-B/page")
			}
		})
	}
}

// storeBytes is the primary store size of an index (or alias) after a
// refresh and a merge to one segment, so that deleted versions of
// rewritten documents do not count.
func (h *harness) storeBytes(index string) int64 {
	h.raw(http.MethodPost, "/"+index+"/_forcemerge?max_num_segments=1", nil, nil)
	h.raw(http.MethodPost, "/"+index+"/_refresh", nil, nil)
	var res struct {
		All struct {
			Primaries struct {
				Store struct {
					Bytes int64 `json:"size_in_bytes"`
				} `json:"store"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	h.raw(http.MethodGet, "/"+index+"/_stats/store", nil, &res)
	return res.All.Primaries.Store.Bytes
}

// BenchmarkSplit measures extraction and splitting of the generated ~5 KB
// pages: passages per page and text bytes per passage at the defaults.
func BenchmarkSplit(b *testing.B) {
	cf := fakeconfluence.New(fakeconfluence.Options{Deployment: fakeconfluence.Cloud})
	b.Cleanup(cf.Close)
	cf.Generate(fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 200, BodyBytes: 5000})
	var bodies []string
	for _, sp := range cf.Spaces() {
		for _, id := range cf.ContentIDs(sp.Key, "page", "current") {
			c, _ := cf.Content(id)
			bodies = append(bodies, c.Body)
		}
	}
	var pages, passages, textBytes, in int64
	for b.Loop() {
		for _, body := range bodies {
			t, err := extract.StorageToText(body)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range extract.Split(t, extract.SplitOptions{TargetBytes: extract.DefaultPassageBytes, OverlapBytes: extract.DefaultOverlapBytes}) {
				passages++
				textBytes += int64(len(c.Text))
			}
			pages++
			in += int64(len(body))
		}
	}
	b.ReportMetric(float64(passages)/float64(pages), "passages/page")
	b.ReportMetric(float64(textBytes)/float64(passages), "text-B/passage")
	b.ReportMetric(float64(in)/float64(pages), "storage-B/page")
	b.ReportMetric(float64(in)/(1<<20)/b.Elapsed().Seconds(), "storage-MB/s")
}

// BenchmarkRetrievalQuality asks the labelled questions of test/demodata
// over the demo wiki, as a reader of everything, and
// compares BM25 passage retrieval (spec.passages defaults) with BM25
// whole-document retrieval: hit@1 and hit@5 (the answer's passage, or its
// document, among the top k) and the bytes of text the top 5 hand to a
// model.
func BenchmarkRetrievalQuality(b *testing.B) {
	for _, target := range []int32{extract.DefaultPassageBytes, 300} {
		b.Run(fmt.Sprintf("target=%d", target), func(b *testing.B) { benchmarkRetrievalQuality(b, target) })
	}
}

func benchmarkRetrievalQuality(b *testing.B, target int32) {
	h := newDemoHarness(b)
	h.spec.Passages = v1.PassagesSpec{Enabled: ptr(true), TargetBytes: ptr(target), OverlapBytes: ptr(target / 10)}
	h.mustRun(v1.SyncFullCrawl)
	bodies := map[string]int{}
	for id, src := range h.allSources(h.spec.OpenSearch.Index) {
		var d struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(src, &d); err != nil {
			b.Fatal(err)
		}
		bodies[id] = len(d.Body)
	}
	ctx := context.Background()
	// alice and bob together read every page of the demo.
	principals := append(h.principalsOf(h.site.Alice.ID), h.principalsOf(h.site.Bob.ID)...)
	var q float64
	var pHit1, pHit5, dHit1, dHit5, pBytes, dBytes float64
	for b.Loop() {
		pHit1, pHit5, dHit1, dHit5, pBytes, dBytes = 0, 0, 0, 0, 0, 0
		for _, qu := range demodata.Questions {
			ps, err := h.os.SearchPassages(ctx, opensearch.PassageSearchRequest{Alias: h.spec.OpenSearch.Index, Query: qu.Question, Principals: principals, Size: 5})
			if err != nil {
				b.Fatal(err)
			}
			hit := -1
			for i, p := range ps {
				pBytes += float64(len(p.Text))
				if hit < 0 && p.Title == qu.Title && strings.Contains(p.Text, qu.Answer) {
					hit = i
				}
			}
			pHit1 += b2f(hit == 0)
			pHit5 += b2f(hit >= 0)
			ds, err := h.os.Search(ctx, opensearch.SearchRequest{Alias: h.spec.OpenSearch.Index, Query: qu.Question, Principals: principals, Size: 5})
			if err != nil {
				b.Fatal(err)
			}
			hit = -1
			for i, d := range ds.Hits {
				dBytes += float64(bodies[d.ID])
				if hit < 0 && d.Title == qu.Title {
					hit = i
				}
			}
			dHit1 += b2f(hit == 0)
			dHit5 += b2f(hit >= 0)
		}
		q = float64(len(demodata.Questions))
	}
	b.ReportMetric(float64(passageCount(h))/float64(len(bodies)), "passages/doc")
	b.ReportMetric(pHit1/q, "passage-hit@1")
	b.ReportMetric(pHit5/q, "passage-hit@5")
	b.ReportMetric(dHit1/q, "document-hit@1")
	b.ReportMetric(dHit5/q, "document-hit@5")
	b.ReportMetric(pBytes/q, "passage-context-B/question")
	b.ReportMetric(dBytes/q, "document-context-B/question")
}

// newDemoHarness is the harness on the demo wiki (test/demodata).
func newDemoHarness(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t, fakeconfluence.Cloud, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 1})
	cf := fakeconfluence.New(fakeconfluence.Options{Deployment: fakeconfluence.Cloud})
	t.Cleanup(cf.Close)
	site := demodata.Populate(cf)
	h.cf, h.data, h.site = cf, fakeconfluence.Dataset{Crawler: site.Crawler}, site
	h.spec.Confluence.URL = cf.URL()
	h.dropIndicesAtEnd()
	return h
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func passageCount(h *harness) int {
	n := 0
	for _, ps := range h.passagesByDocument() {
		n += len(ps)
	}
	return n
}
