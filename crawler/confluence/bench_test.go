package confluence_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

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

// BenchmarkListingDecode measures the client's own cost of a content
// listing (decoding, paging, prefetching): the fake's answers to one
// listing of 1,000 pages with 5 KB bodies are recorded, then replayed from
// memory, so the fake's rendering is not measured.
func BenchmarkListingDecode(b *testing.B) {
	for _, dep := range []fakeconfluence.Deployment{cloud, dc} {
		b.Run(string(dep), func(b *testing.B) {
			f := newFixture(b, dep, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{
				Spaces: 1, PagesPerSpace: 1000, BlogPostsPerSpace: 1, BodyBytes: 5000,
			})
			rt := &replay{next: http.DefaultTransport, answers: map[string]recorded{}}
			cfg := f.config(b, confluence.AuthBasic, nil)
			cfg.Transport = rt
			ctx := context.Background()
			listAll := func() int {
				c := mustClient(b, cfg)
				if _, err := c.Verify(ctx); err != nil {
					b.Fatal(err)
				}
				n := 0
				err := c.ListContent(ctx, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(confluence.Content) error {
					n++
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				return n
			}
			rt.recording = true
			want := listAll()
			rt.recording = false
			items := 0
			cpu := processCPU()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if got := listAll(); got != want {
					b.Fatalf("listed %d pages, want %d", got, want)
				}
				items += want
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/page")
			// On a shared machine the CPU time is the steadier figure.
			b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(items), "cpu-ns/page")
		})
	}
}

type recorded struct {
	header http.Header
	body   []byte
}

// replay records a transport's answers by URL, then serves them from memory
// (a request it did not record still goes to next).
type replay struct {
	next      http.RoundTripper
	recording bool
	mu        sync.Mutex
	answers   map[string]recorded
}

func (r *replay) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Method + " " + req.URL.String()
	r.mu.Lock()
	a, ok := r.answers[key]
	r.mu.Unlock()
	if !ok || r.recording {
		resp, err := r.next.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK || !r.recording {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		a = recorded{header: resp.Header, body: body}
		r.mu.Lock()
		r.answers[key] = a
		r.mu.Unlock()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: req,
	}, nil
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
