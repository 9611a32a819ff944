package confluence

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// action is what the client does with a response status.
type action int

const (
	// actDone hands a 2xx response to the caller.
	actDone action = iota
	// actFail returns the status as an error.
	actFail
	// actUnauthorized (401): refresh an OAuth token once, else the credentials were rejected.
	actUnauthorized
	// actDenied (403/404): final, unless an expiring OAuth token may be the cause.
	actDenied
	// actRetry retries after the returned wait (0: the client's own backoff).
	actRetry
)

// foreverish stands for a server-requested wait too large to represent; the
// client caps every wait at Config.MaxRetryAfter anyway.
const foreverish = time.Duration(math.MaxInt64)

// classify decides what a response means, from its status and headers only.
// 429 and 503 are rate limiting: wait what Retry-After (or X-RateLimit-Reset)
// asks. 500, 502 and 504 are retried with backoff. Everything else is final.
func classify(status int, h http.Header, now time.Time) (action, time.Duration) {
	switch {
	case status >= 200 && status < 300:
		return actDone, 0
	case status == http.StatusUnauthorized:
		return actUnauthorized, 0
	case status == http.StatusForbidden || status == http.StatusNotFound:
		return actDenied, 0
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return actRetry, requestedWait(h, now)
	case status == http.StatusInternalServerError || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return actRetry, 0
	}
	return actFail, 0
}

// requestedWait reads Retry-After (seconds or an HTTP date), falling back to
// X-RateLimit-Reset (RFC 3339). Values too large for a time.Duration, such
// as 9223372036854775807 seconds, become foreverish instead of overflowing
// into a tiny wait; unparsable, negative or non-finite values are ignored.
// A wait in the past is 1ms, so the retry still counts as rate limited.
func requestedWait(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			switch d := s * float64(time.Second); {
			case math.IsNaN(d) || d < 0:
			case d >= float64(math.MaxInt64): // 2^63 and above (also +Inf) would wrap
				return foreverish
			default:
				return max(time.Duration(d), time.Millisecond)
			}
		} else if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), time.Millisecond)
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return max(t.Sub(now), time.Millisecond)
		}
	}
	return 0
}
