package confluence_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// listingProbe counts the content.list requests a client sends: how many
// at once at most, and when each was sent.
type listingProbe struct {
	mu        sync.Mutex
	inFlight  int
	maxAtOnce int
	sent      []time.Time
}

func (p *listingProbe) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/rest/api/content") {
		return http.DefaultTransport.RoundTrip(r)
	}
	p.mu.Lock()
	p.inFlight++
	p.maxAtOnce = max(p.maxAtOnce, p.inFlight)
	p.sent = append(p.sent, time.Now())
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight--
		p.mu.Unlock()
	}()
	return http.DefaultTransport.RoundTrip(r)
}

// dcListing lists the pages of a Data Center space (50 per listing page)
// through a probe, with 30 ms of latency per request and the given
// ceiling, and checks every page is listed exactly once.
func dcListing(t *testing.T, ceiling float64, pages, bodyBytes int) (*listingProbe, *fixture) {
	t.Helper()
	f := newFixture(t, dc, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{Spaces: 1, PagesPerSpace: pages, BlogPostsPerSpace: 1, PersonalSpaces: 1, ArchivedSpaces: 1, BodyBytes: bodyBytes})
	probe := &listingProbe{}
	cfg := f.config(t, confluence.AuthPersonalAccessToken, nil)
	cfg.Transport = probe
	cfg.MaxRequestsPerSecond = ceiling
	c := mustClient(t, cfg)
	if _, err := c.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv.SetLatency(30 * time.Millisecond)
	f.srv.ResetCalls()
	got := listIDs(t, c, "S1", confluence.TypePage)
	assertOnce(t, "pages", got, f.srv.ContentIDs("S1", "page", "current"))
	return probe, f
}

// Data Center pages by offset, so the pages after the next one can be
// fetched while it is: with no server limit and no ceiling, listing pages
// are requested several at once, and the guesses past the end cost at most
// two calls more than the 21 of paging one by one (20 pages and the empty
// one DC links past the end, CONFSERVER-95396).
func TestClient_DCListingPagesAreFetchedInParallel(t *testing.T) {
	probe, f := dcListing(t, 0, 1000, 200)
	if probe.maxAtOnce < 2 {
		t.Errorf("at most %d listing request in flight at once: Data Center pages are fetched one by one", probe.maxAtOnce)
	}
	if n := f.srv.Calls("content.list"); n < 21 || n > 23 {
		t.Errorf("content.list calls = %d, want 21 to 23", n)
	}
}

// Fetching in parallel never goes past the user's ceiling: with 8
// requests/s (a burst of 8), the listing's requests keep to it.
func TestClient_DCParallelListingKeepsToTheCeiling(t *testing.T) {
	const ceiling = 8
	probe, _ := dcListing(t, ceiling, 1000, 200)
	first := probe.sent[0]
	for i, at := range probe.sent {
		// The limiter's bucket holds ceiling tokens and refills at ceiling
		// per second; Verify took one before the first listing request.
		allowed := ceiling - 1 + int(at.Sub(first).Seconds()*ceiling) + 1
		if i+1 > allowed {
			t.Fatalf("request %d sent %s after the first: more than the %d requests/s ceiling allows (%d)", i+1, at.Sub(first), ceiling, allowed)
		}
	}
}

// Pages of large bodies are not fetched ahead: a listing holds one page at
// a time, as before, whatever the server sends (50 bodies of 100 KB make a
// 5 MB page, over the prefetch bound).
func TestClient_DCLargePagesAreNotFetchedAhead(t *testing.T) {
	probe, f := dcListing(t, 0, 200, 100_000)
	if probe.maxAtOnce != 1 {
		t.Errorf("%d listing requests in flight at once, want 1 for pages of 5 MB", probe.maxAtOnce)
	}
	if n := f.srv.Calls("content.list"); n != 5 {
		t.Errorf("content.list calls = %d, want 5 (4 pages and the empty one past the end)", n)
	}
}
