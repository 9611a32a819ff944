package fakeconfluence

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// TokenBucket is Data Center's REST rate limit as an admin configures it
// (Atlassian, Confluence Data Center "Improving instance stability with rate
// limiting": Max requests = bucket size, Requests allowed = tokens added
// every time interval).
type TokenBucket struct {
	Limit    int           // Max requests: bucket size
	FillRate int           // Requests allowed: tokens added every Interval
	Interval time.Duration // default 1 s
}

type bucket struct {
	mu      sync.Mutex
	cfg     TokenBucket
	tokens  float64
	last    time.Time
	refused int64
}

// take spends a token and answers the rate-limit headers documented on
// https://confluence.atlassian.com/doc/_ratelimiting_httpheaders-992678779.html
// (the HTTP headers section of "Improving instance stability with rate
// limiting"; clients are told to read them in "Adapting to rate limits"):
// X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Interval-Seconds,
// X-RateLimit-FillRate and retry-after (0 while tokens are left). An empty
// bucket answers 429 Too Many Requests.
func (b *bucket) take(w http.ResponseWriter, now time.Time) (ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	iv := b.cfg.Interval
	if iv <= 0 {
		iv = time.Second
	}
	if b.last.IsZero() {
		b.tokens, b.last = float64(b.cfg.Limit), now
	}
	// Tokens arrive in batches, once per interval.
	if n := math.Floor(float64(now.Sub(b.last)) / float64(iv)); n > 0 {
		b.tokens = min(float64(b.cfg.Limit), b.tokens+n*float64(b.cfg.FillRate))
		b.last = b.last.Add(time.Duration(n) * iv)
	}
	retry := 0
	if b.tokens >= 1 {
		b.tokens--
		ok = true
	} else {
		retry = int(math.Ceil(b.last.Add(iv).Sub(now).Seconds()))
		b.refused++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.cfg.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(int(b.tokens)))
	h.Set("X-RateLimit-Interval-Seconds", strconv.Itoa(max(1, int(iv/time.Second))))
	h.Set("X-RateLimit-FillRate", strconv.Itoa(b.cfg.FillRate))
	h.Set("Retry-After", strconv.Itoa(retry))
	return ok
}

// rateLimited applies the Data Center bucket, if configured, and reports
// whether the request was refused.
func (s *Server) rateLimited(w http.ResponseWriter) bool {
	if s.bucket == nil || s.cloud() {
		return false
	}
	if s.bucket.take(w, s.opts.Now()) {
		return false
	}
	writeError(w, http.StatusTooManyRequests, "Rate limit exceeded")
	return true
}

// RateLimitedRequests counts requests refused by DCRateLimit.
func (s *Server) RateLimitedRequests() int64 {
	if s.bucket == nil {
		return 0
	}
	s.bucket.mu.Lock()
	defer s.bucket.mu.Unlock()
	return s.bucket.refused
}
