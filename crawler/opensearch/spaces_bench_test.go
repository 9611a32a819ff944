package opensearch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEngineSpaceRecordsSearch measures, on the real node
// (OPENSEARCH_URL), the ACL-filtered search of a reader in 50 groups over
// the corpus of BenchmarkEngineACLSearch (100,000 documents unless
// BENCH_SPACE_RECORD_DOCS says otherwise), first in the layout before space
// records (space clauses copy the space's principals), then after the
// upgrade (ReferenceSpaceRecord per space, records written): "copied" is
// one search; "records" is the readable-spaces lookup plus the search, as
// ResolvePrincipals and Search do it. It also reports the upgrade's cost.
func BenchmarkEngineSpaceRecordsSearch(b *testing.B) {
	if os.Getenv("OPENSEARCH_URL") == "" {
		b.Skip("needs the real engine: OPENSEARCH_URL")
	}
	docs := 100000
	if n, err := strconv.Atoi(os.Getenv("BENCH_SPACE_RECORD_DOCS")); err == nil && n > 0 {
		docs = n
	}
	benchTarget := benchTargets(b)["engine"]
	tg := benchTarget(b)
	c := benchClient(b, tg)
	ctx := context.Background()
	alias := fmt.Sprintf("bench-space-records-%d", time.Now().UnixNano())
	b.Cleanup(func() {
		_ = c.do(ctx, http.MethodDelete, "/"+alias+"-*", nil, nil, nil)
		_ = c.do(ctx, http.MethodDelete, "/_index_template/"+TemplateName(alias), nil, nil, nil)
	})
	if _, err := c.EnsureIndex(ctx, IndexConfig{Alias: alias, Language: "en"}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	corpus := writeBenchCorpus(b, c, alias, docs)
	b.Logf("wrote %d documents (copied layout) in %s", docs, time.Since(start).Round(time.Millisecond))
	merge := func() {
		if err := c.Refresh(ctx, alias); err != nil {
			b.Fatal(err)
		}
		if err := c.do(ctx, http.MethodPost, "/"+alias+"/_forcemerge", map[string][]string{"max_num_segments": {"1"}}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	merge()
	reader := func(n int) []string {
		r := rand.New(rand.NewPCG(uint64(n), 50))
		p := []string{benchSource.User(fmt.Sprintf("u%05d", r.IntN(20000)))}
		for range 50 {
			p = append(p, benchSource.Group(fmt.Sprintf("g%03d", r.IntN(300))))
		}
		return p
	}
	measure := func(name string, expand bool) {
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			hits := 0
			cpu0 := engineCPU(b, c)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				p := reader(i)
				if expand {
					spaces, err := c.ExpandSpaces(ctx, alias, []string{string(benchSource)}, p)
					if err != nil {
						b.Fatal(err)
					}
					p = append(p, spaces...)
				}
				res, err := c.Search(ctx, SearchRequest{Alias: alias, Principals: p})
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				hits += res.Total
			}
			b.StopTimer()
			b.ReportMetric(float64((engineCPU(b, c)-cpu0).Microseconds())/1000/float64(b.N), "engine-cpu-ms/op")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(hits)/float64(b.N), "visible-hits")
		})
	}
	measure("copied", false)

	// The upgrade a sync does: switch each space's documents to the
	// reference, then write the space's record.
	start = time.Now()
	var switched int64
	for i, principals := range corpus.spaces {
		key := fmt.Sprintf("S%02d", i)
		n, err := c.ReferenceSpaceRecord(ctx, alias, string(benchSource), key)
		if err != nil {
			b.Fatal(err)
		}
		switched += n
		if err := c.PutSpaceRecord(ctx, alias, NewSpaceRecord(benchSource, key, principals)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("upgraded %d documents of %d spaces in %s", switched, len(corpus.spaces), time.Since(start).Round(time.Millisecond))
	if switched != int64(docs) {
		b.Fatalf("upgraded %d of %d documents", switched, docs)
	}
	merge()
	measure("records", true)
}
