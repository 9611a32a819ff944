package confluence

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strconv"
	"sync"
)

// Listings that carry the crawl (pages, blog posts, comments, attachments)
// fetch ahead: the next page is requested while the caller processes the
// current one. On Data Center, whose listings page by offset (start/limit),
// the pages after it are fetched in parallel too, assuming each returns as
// many items as the last full one. Cloud pages by cursor: the next cursor
// is only known from the previous answer, so Cloud fetches one page ahead
// and no more (spaces are crawled in parallel instead).
//
// A page fetched ahead is used only if list asks for exactly that path, so
// the Data Center paging rules of dcNextPage (the next start recomputed from
// the items returned, a short page or an empty one past the end ending the
// listing) and the runaway guards of list decide as before; a wrong guess
// costs one call, never an item. Every request waits for the rate limiter
// like any other, so the pacing the server asks for and the user's ceiling
// hold; while the server asks to slow down, nothing is fetched on a guess.
const (
	// maxPagesAhead bounds the pages fetched ahead of the one in use.
	maxPagesAhead = 3
	// maxPrefetchBytes bounds each page fetched ahead: a larger answer is
	// dropped and fetched again when its turn comes, so a listing holds at
	// most maxPagesAhead × maxPrefetchBytes beyond the page in use. Pages
	// of huge bodies are not fetched ahead at all.
	maxPrefetchBytes = 2 << 20
)

// errPrefetchTooLarge ends the read of a page fetched ahead past maxPrefetchBytes.
var errPrefetchTooLarge = errors.New("page fetched ahead is larger than the prefetch bound")

// prefetcher holds the pages of one listing fetched ahead.
type prefetcher[T any] struct {
	c      *Client
	cl     call // the listing's call (endpoint, space key)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ahead  []*prefetched[T] // in the order they would be used
	// run counts consecutive full pages: guesses start at the third and
	// widen with it, so listings of up to three pages make no call more
	// than paging one by one, and longer ones at most maxPagesAhead-1.
	run int
}

type prefetched[T any] struct {
	path string
	done chan struct{}
	page listPage[T]
	err  error
}

func newPrefetcher[T any](ctx context.Context, c *Client, cl call) *prefetcher[T] {
	pctx, cancel := context.WithCancel(ctx)
	return &prefetcher[T]{c: c, cl: cl, ctx: pctx, cancel: cancel}
}

// stop abandons what was fetched ahead and waits for requests in flight,
// so none outlives the listing. Requests already sent are let finish
// rather than cancelled: a cancelled request may still reach the server
// after the listing returned, and the calls the client counts would no
// longer be the calls Confluence saw. A guess is never retried (see fetch),
// so the wait is one round trip.
func (p *prefetcher[T]) stop() {
	p.wg.Wait()
	p.cancel()
}

// page returns the page at path: fetched ahead if it was, else now (of
// about sizeHint items). Pages fetched ahead of path were guesses that
// missed; they are dropped.
func (p *prefetcher[T]) page(ctx context.Context, cl call, sizeHint int) (listPage[T], error) {
	var hit *prefetched[T]
	for i, f := range p.ahead {
		if f.path == cl.path {
			hit = f
			// Guesses that missed run to their end (see stop); their
			// answers are dropped.
			p.ahead = p.ahead[i+1:]
			break
		}
	}
	if hit == nil {
		p.ahead = nil
	} else {
		select {
		case <-hit.done:
		case <-ctx.Done():
			return listPage[T]{}, ctx.Err()
		}
		if hit.err == nil {
			return hit.page, nil
		}
		// Fetched ahead in vain (too large, or failed): the page's turn
		// decides, with the usual retries and errors.
	}
	pg := listPage[T]{sizeHint: sizeHint}
	err := p.c.doJSON(ctx, cl, &pg)
	return pg, err
}

// plan fetches ahead after a page of got items (size bytes) whose next
// page is at next: that page, and on Data Center offset paging the pages
// after it if this one was full.
func (p *prefetcher[T]) plan(next string, got, size int) {
	if size > maxPrefetchBytes/2 {
		p.run = 0
		return // pages this large are fetched one at a time
	}
	p.fetch(next, got)
	if p.c.cfg.Deployment != DataCenter || got == 0 || !p.c.unpaced() {
		p.run = 0
		return
	}
	start, ok := startOf(next)
	if !ok {
		return // a cursor: the page after next is unknown
	}
	p.run++
	for k := 1; k <= min(p.run-2, maxPagesAhead-1); k++ {
		guess, err := withStart(next, start+k*got)
		if err != nil {
			return
		}
		p.fetch(guess, got)
	}
}

// fetch starts fetching path (of about sizeHint items) unless it is
// already fetched ahead.
func (p *prefetcher[T]) fetch(path string, sizeHint int) {
	for _, f := range p.ahead {
		if f.path == path {
			return
		}
	}
	if len(p.ahead) >= maxPagesAhead {
		return
	}
	f := &prefetched[T]{path: path, done: make(chan struct{}), page: listPage[T]{sizeHint: sizeHint}}
	p.ahead = append(p.ahead, f)
	cl := p.cl
	// A guess is asked once: a failure is retried, with the usual
	// backoff, when the page's turn comes (page), not here.
	cl.path, cl.maxBody, cl.once = path, maxPrefetchBytes, true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(f.done)
		f.err = p.c.doJSON(p.ctx, cl, &f.page)
	}()
}

// unpaced reports whether the server has not asked the client to slow
// down (the limiter runs at the user's ceiling, or without one).
func (c *Client) unpaced() bool {
	c.pauseMu.Lock()
	paused := c.pauseUntil.After(c.cfg.Now())
	c.pauseMu.Unlock()
	return !paused && c.limiter.Limit() >= c.ceilingLimit()
}

// startOf returns a link's start parameter.
func startOf(link string) (int, bool) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, false
	}
	v := u.Query().Get("start")
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// withStart returns link with its start parameter set to start, encoded as
// dcNextPage encodes the links it corrects.
func withStart(link string, start int) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("start", strconv.Itoa(start))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// cappedBody fails a read past n bytes with errPrefetchTooLarge.
type cappedBody struct {
	r io.Reader
	n int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errPrefetchTooLarge
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}
