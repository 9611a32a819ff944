package confluence_test

import (
	"context"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// A Data Center with its REST rate limit on (bucket of 10, 10 tokens a
// second) answers X-RateLimit-Remaining and -FillRate on every response.
// An unthrottled client must slow to the fill rate from those headers
// instead of running the bucket dry and collecting 429s.
func TestClient_DCPacesAtTheFillRate(t *testing.T) {
	const limit, fill, requests = 10, 10, 20
	f := newFixture(t, dc, fakeconfluence.Options{DCRateLimit: &fakeconfluence.TokenBucket{Limit: limit, FillRate: fill, Interval: time.Second}},
		fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: 1})
	cfg := f.config(t, confluence.AuthBasic, nil)
	cfg.MaxRetryAfter = 5 * time.Second // honour the server's wait, as by default
	c := mustClient(t, cfg)
	ctx := context.Background()
	start := time.Now()
	for range requests {
		if _, err := c.GetSpace(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if n := f.srv.RateLimitedRequests(); n != 0 {
		t.Errorf("the server refused %d requests: the client did not pace by its headers", n)
	}
	// Past the first bucket, requests can only be served at the fill rate.
	if minimum := time.Duration(float64(requests-limit) / fill * float64(time.Second)); elapsed < minimum {
		t.Errorf("%d requests took %v, less than the %v the fill rate allows", requests, elapsed, minimum)
	}
	if c.APICalls() < requests {
		t.Errorf("APICalls = %d, want at least %d", c.APICalls(), requests)
	}
}
