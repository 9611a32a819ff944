package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

// The benchmarks below run on the double and, when OPENSEARCH_URL is set
// (`make bench` starts a real node with hack/opensearch.sh), on that cluster
// too, as sub-benchmarks "double" and "engine", so their figures sit side by
// side.

// benchTargets returns the targets a benchmark runs on.
func benchTargets(b *testing.B) map[string]func(*testing.B) fakeopensearch.Target {
	t := map[string]func(*testing.B) fakeopensearch.Target{
		"double": func(b *testing.B) fakeopensearch.Target { return fakeopensearch.Double(b) },
	}
	if os.Getenv("OPENSEARCH_URL") != "" {
		t["engine"] = func(b *testing.B) fakeopensearch.Target { return fakeopensearch.ForTest(b) }
	}
	return t
}

func benchClient(b *testing.B, tg fakeopensearch.Target) *Client {
	b.Helper()
	c, err := NewClient(Config{Endpoints: []string{tg.URL}, Username: tg.Username, Password: tg.Password, InsecureSkipVerify: tg.Insecure})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// benchCorpus makes reproducible documents shaped like a mid-size company
// wiki: 40 spaces readable by 1-4 of 300 groups and up to 15 named users,
// a page restriction on 20% of pages (1-3 users and a group) and an
// inherited ancestor restriction on 10%, bodies of about bodyBytes of text
// drawn from a 5,000-word vocabulary.
type benchCorpus struct {
	r          *rand.Rand
	spaces     [][]string
	vocabulary []string
	bodyBytes  int
}

// benchSource scopes the corpus's principals, as the crawler does.
const benchSource = acl.Source("bench/wiki")

func newBenchCorpus(bodyBytes int) *benchCorpus {
	r := rand.New(rand.NewPCG(12, 34))
	c := &benchCorpus{r: r, bodyBytes: bodyBytes}
	for i := range 5000 {
		c.vocabulary = append(c.vocabulary, fmt.Sprintf("w%dx%s", i, strings.Repeat("e", i%7)))
	}
	for range 40 {
		var p []string
		for range 1 + r.IntN(4) {
			p = append(p, benchSource.Group(fmt.Sprintf("g%03d", r.IntN(300))))
		}
		for range r.IntN(16) {
			p = append(p, benchSource.User(fmt.Sprintf("u%05d", r.IntN(20000))))
		}
		c.spaces = append(c.spaces, p)
	}
	c.spaces[0] = []string{acl.Anonymous} // one public space
	return c
}

func (c *benchCorpus) restriction() []string {
	p := []string{benchSource.Group(fmt.Sprintf("g%03d", c.r.IntN(300)))}
	for range 1 + c.r.IntN(3) {
		p = append(p, benchSource.User(fmt.Sprintf("u%05d", c.r.IntN(20000))))
	}
	return p
}

func (c *benchCorpus) doc(i int) Document {
	space := c.r.IntN(len(c.spaces))
	a := acl.ACL{{Level: acl.LevelSpace, Principals: c.spaces[space]}}
	if c.r.IntN(5) == 0 {
		a = append(a, acl.Clause{Level: acl.LevelPage, Principals: c.restriction()})
	}
	if c.r.IntN(10) == 0 {
		a = append(a, acl.Clause{Level: acl.LevelAncestor, Principals: c.restriction()})
	}
	var body strings.Builder
	for body.Len() < c.bodyBytes {
		body.WriteString(c.vocabulary[int(c.r.ExpFloat64()*300)%len(c.vocabulary)])
		body.WriteByte(' ')
	}
	id := fmt.Sprint(i)
	return Document{
		ID: DocumentID("bench/wiki", TypePage, id), ContentID: id, Type: TypePage, Datasource: "bench/wiki",
		SpaceKey: fmt.Sprintf("S%02d", space), Title: c.vocabulary[c.r.IntN(len(c.vocabulary))] + " " + id,
		Body: body.String(), Version: 1, ContentHash: "h" + id, ACL: a,
	}
}

// reader is a user with the group memberships of a typical employee: 20
// groups (Confluence users commonly hold 10-50), plus their own principal.
func (c *benchCorpus) reader(n int) []string {
	r := rand.New(rand.NewPCG(uint64(n), 99))
	p := []string{benchSource.User(fmt.Sprintf("u%05d", r.IntN(20000)))}
	for range 20 {
		p = append(p, benchSource.Group(fmt.Sprintf("g%03d", r.IntN(300))))
	}
	return p
}

// BenchmarkEngineBulkWrite measures the sink's write rate: documents of
// ~3 KB of text with the corpus's ACLs, through the sink's default batching
// (5 MB bulk requests, 2 workers). bytes/doc is the JSON sent per document;
// store-bytes/doc is the engine's on-disk size after a flush.
func BenchmarkEngineBulkWrite(b *testing.B) {
	for name, target := range benchTargets(b) {
		b.Run(name, func(b *testing.B) {
			c := benchClient(b, target(b))
			alias := fakeopensearch.IndexName(b)
			ctx := context.Background()
			st, err := c.EnsureIndex(ctx, IndexConfig{Alias: alias, Language: "en"})
			if err != nil {
				b.Fatal(err)
			}
			corpus := newBenchCorpus(3000)
			docs := make([]Document, b.N)
			var jsonBytes int64
			for i := range docs {
				docs[i] = corpus.doc(i)
				raw, _ := json.Marshal(docs[i])
				jsonBytes += int64(len(raw))
			}
			s, err := c.NewSink(SinkConfig{Alias: alias})
			if err != nil {
				b.Fatal(err)
			}
			var cpu0 time.Duration
			if name == "engine" {
				cpu0 = engineCPU(b, c)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := s.Index(ctx, docs[i]); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if got := s.Stats(); got.Indexed != int64(b.N) {
				b.Fatalf("indexed %d of %d (%v)", got.Indexed, b.N, s.Errors())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			b.ReportMetric(float64(jsonBytes)/float64(b.N), "bytes/doc")
			if name == "engine" {
				b.ReportMetric(float64((engineCPU(b, c)-cpu0).Microseconds())/float64(b.N), "engine-cpu-µs/doc")
				b.ReportMetric(float64(storeBytes(b, c, st.Index))/float64(b.N), "store-bytes/doc")
			}
		})
	}
}

// engineCPU returns the CPU time the cluster's processes have used so far
// (_nodes/stats/process). Reported next to wall-clock rates, it is the
// figure that does not depend on what else the machine is running.
func engineCPU(b *testing.B, c *Client) time.Duration {
	b.Helper()
	var res struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					TotalMillis int64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if err := c.do(context.Background(), http.MethodGet, "/_nodes/stats/process", nil, nil, &res); err != nil {
		b.Fatal(err)
	}
	var ms int64
	for _, n := range res.Nodes {
		ms += n.Process.CPU.TotalMillis
	}
	return time.Duration(ms) * time.Millisecond
}

// storeBytes flushes an index and returns its primary store size.
func storeBytes(b *testing.B, c *Client, index string) int64 {
	b.Helper()
	ctx := context.Background()
	if err := c.do(ctx, http.MethodPost, "/"+index+"/_flush", nil, nil, nil); err != nil {
		b.Fatal(err)
	}
	var res struct {
		All struct {
			Primaries struct {
				Store struct {
					Size int64 `json:"size_in_bytes"`
				} `json:"store"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if err := c.do(ctx, http.MethodGet, "/"+index+"/_stats/store", nil, nil, &res); err != nil {
		b.Fatal(err)
	}
	return res.All.Primaries.Store.Size
}

// aclSearchDocs is the corpus size of the search benchmark.
const aclSearchDocs = 100_000

var aclSearchIndex = struct {
	sync.Mutex
	alias map[string]string // per target URL, filled once per process
}{alias: map[string]string{}}

// writeBenchCorpus writes the first n documents of the benchmark corpus
// (1,500-byte bodies) to alias through a sink and returns the corpus.
func writeBenchCorpus(b *testing.B, c *Client, alias string, n int) *benchCorpus {
	b.Helper()
	ctx := context.Background()
	s, err := c.NewSink(SinkConfig{Alias: alias})
	if err != nil {
		b.Fatal(err)
	}
	corpus := newBenchCorpus(1500)
	for i := range n {
		if err := s.Index(ctx, corpus.doc(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if st := s.Stats(); st.Indexed != int64(n) {
		b.Fatalf("indexed %d of %d", st.Indexed, n)
	}
	return corpus
}

// populateACLSearch writes the 100k-document corpus once per target.
func populateACLSearch(b *testing.B, c *Client, tg fakeopensearch.Target) string {
	aclSearchIndex.Lock()
	defer aclSearchIndex.Unlock()
	if a, ok := aclSearchIndex.alias[tg.URL]; ok {
		return a
	}
	ctx := context.Background()
	alias := fmt.Sprintf("bench-acl-search-%d", time.Now().UnixNano())
	if _, err := c.EnsureIndex(ctx, IndexConfig{Alias: alias, Language: "en"}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	writeBenchCorpus(b, c, alias, aclSearchDocs)
	if err := c.Refresh(ctx, alias); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: wrote %d documents in %s", tg.URL, aclSearchDocs, time.Since(start).Round(time.Millisecond))
	if tg.Fake == nil {
		// Searches are measured on the merged index a long-lived cluster
		// has, not on the segments a fresh bulk load leaves.
		q := map[string][]string{"max_num_segments": {"1"}}
		if err := c.do(ctx, http.MethodPost, "/"+alias+"/_forcemerge", q, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	aclSearchIndex.alias[tg.URL] = alias
	return alias
}

// BenchmarkEngineACLSearch measures the latency of a search with the ACL
// filter on 100,000 documents, as the search CLI sends it (10 hits,
// highlight), for readers holding 21 principals: "browse" is everything
// the reader may see, "text" a two-word query. p50 and p95 are per search.
func BenchmarkEngineACLSearch(b *testing.B) {
	for name, target := range benchTargets(b) {
		b.Run(name, func(b *testing.B) {
			tg := target(b)
			c := benchClient(b, tg)
			alias := populateACLSearch(b, c, tg)
			corpus := newBenchCorpus(0)
			for _, kind := range []string{"browse", "text"} {
				b.Run(kind, func(b *testing.B) {
					ctx := context.Background()
					lat := make([]time.Duration, 0, b.N)
					hits := 0
					var cpu0 time.Duration
					if name == "engine" {
						cpu0 = engineCPU(b, c)
					}
					b.ResetTimer()
					for i := range b.N {
						req := SearchRequest{Alias: alias, Principals: corpus.reader(i)}
						if kind == "text" {
							req.Query = corpus.vocabulary[i%50] + " " + corpus.vocabulary[(i*7)%200]
						}
						t0 := time.Now()
						res, err := c.Search(ctx, req)
						if err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(t0))
						hits += res.Total
					}
					b.StopTimer()
					if name == "engine" {
						b.ReportMetric(float64((engineCPU(b, c)-cpu0).Microseconds())/1000/float64(b.N), "engine-cpu-ms/op")
					}
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
					b.ReportMetric(float64(hits)/float64(b.N), "visible-hits")
				})
			}
		})
	}
}
