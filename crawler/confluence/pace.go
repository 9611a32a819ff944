package confluence

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// pace is what the server's rate-limit headers ask of the client.
type pace struct {
	// hold stops every request for this long (the budget is used up).
	hold time.Duration
	// rate is the request rate to keep to (requests/s); 0 means the server
	// gave no rate to keep and any server-imposed slowdown ends.
	rate float64
	// known is false when the response carried no usable rate-limit headers:
	// keep whatever pace is in force.
	known bool
}

// lowWater is the share of the budget below which the client paces: the
// same 20% at which Cloud sets X-RateLimit-NearLimit.
const lowWater = 0.2

// decidePace reads one response's rate-limit headers.
//
// Data Center (token bucket, "Improving instance stability with rate
// limiting", HTTP headers section,
// https://confluence.atlassian.com/doc/_ratelimiting_httpheaders-992678779.html):
// X-RateLimit-Limit is the bucket size,
// X-RateLimit-Remaining the tokens left, X-RateLimit-FillRate the tokens
// added every X-RateLimit-Interval-Seconds. With the bucket low, requests
// keep to the fill rate; with it empty, they wait for one refill.
//
// Cloud ("Rate limiting" developer page,
// https://developer.atlassian.com/cloud/confluence/rate-limiting/): X-RateLimit-NearLimit is "true"
// when less than 20% of the budget remains and X-RateLimit-Reset (ISO 8601)
// says when it refills. Near the limit, the remaining budget (or one request
// per second when unknown) is spread until the reset.
func decidePace(h http.Header, now time.Time) pace {
	remaining, hasRemaining := headerFloat(h, "X-RateLimit-Remaining")
	reset, hasReset := headerTime(h, "X-RateLimit-Reset")
	untilReset := reset.Sub(now)
	fill, hasFill := headerFloat(h, "X-RateLimit-FillRate")
	interval, hasInterval := headerFloat(h, "X-RateLimit-Interval-Seconds")
	if !hasInterval {
		interval = 1
	}
	if hasFill && fill > 0 && interval > 0 {
		fillRate := fill / interval
		if hasRemaining && remaining < 1 {
			// Tokens come in batches, one per interval: wait for the next.
			return pace{hold: time.Duration(interval * float64(time.Second)), rate: fillRate, known: true}
		}
		limit, hasLimit := headerFloat(h, "X-RateLimit-Limit")
		if hasRemaining && ((hasLimit && remaining <= limit*lowWater) || (!hasLimit && remaining <= fill)) {
			return pace{rate: fillRate, known: true}
		}
		return pace{known: hasRemaining}
	}
	if hasRemaining && remaining < 1 && hasReset && untilReset > 0 {
		return pace{hold: untilReset, known: true}
	}
	if strings.EqualFold(h.Get("X-RateLimit-NearLimit"), "true") {
		if hasRemaining && hasReset && untilReset > 0 {
			return pace{rate: max(remaining, 1) / untilReset.Seconds(), known: true}
		}
		return pace{rate: 1, known: true}
	}
	if hasRemaining {
		return pace{known: true} // headroom: no server-imposed pace
	}
	return pace{}
}

func headerFloat(h http.Header, key string) (float64, bool) {
	v := h.Get(key)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return f, true
}

func headerTime(h http.Header, key string) (time.Time, bool) {
	v := strings.TrimSpace(h.Get(key))
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ceilingLimit is the user's ceiling as a limiter rate (Inf without one).
func (c *Client) ceilingLimit() rate.Limit {
	if r := c.cfg.MaxRequestsPerSecond; r > 0 {
		return rate.Limit(r)
	}
	return rate.Inf
}

// applyPace makes p the pace of every request, never above the ceiling.
func (c *Client) applyPace(p pace) {
	if !p.known {
		return
	}
	limit := c.ceilingLimit()
	if p.rate > 0 && rate.Limit(p.rate) < limit {
		limit = rate.Limit(p.rate)
	}
	if c.limiter.Limit() != limit {
		c.log.V(1).Info("pacing Confluence requests", "requestsPerSecond", float64(limit))
		c.limiter.SetLimit(limit)
	}
	if p.hold > 0 {
		c.pause(min(p.hold, c.cfg.MaxRetryAfter))
	}
}
