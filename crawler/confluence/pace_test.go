package confluence

import (
	"net/http"
	"testing"
	"time"
)

func TestDecidePace(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for name, tc := range map[string]struct {
		h    http.Header
		want pace
	}{
		"no rate-limit headers: keep the pace in force": {hdr(), pace{}},
		"DC bucket full: no server pace": {
			hdr("X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "90", "X-RateLimit-FillRate", "20", "X-RateLimit-Interval-Seconds", "1"),
			pace{known: true}},
		"DC bucket low: keep to the fill rate": {
			hdr("X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "15", "X-RateLimit-FillRate", "20", "X-RateLimit-Interval-Seconds", "1"),
			pace{rate: 20, known: true}},
		"DC fill rate per interval": {
			hdr("X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "3", "X-RateLimit-FillRate", "10", "X-RateLimit-Interval-Seconds", "2"),
			pace{rate: 5, known: true}},
		"DC bucket empty: wait one refill": {
			hdr("X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "0", "X-RateLimit-FillRate", "4", "X-RateLimit-Interval-Seconds", "1"),
			pace{hold: time.Second, rate: 4, known: true}},
		"DC without Limit: low means at most one fill": {
			hdr("X-RateLimit-Remaining", "5", "X-RateLimit-FillRate", "5"),
			pace{rate: 5, known: true}},
		"Cloud near limit: spread what remains until reset": {
			hdr("X-RateLimit-NearLimit", "true", "X-RateLimit-Remaining", "20", "X-RateLimit-Reset", "2026-11-30T12:00:10Z"),
			pace{rate: 2, known: true}},
		"Cloud near limit without remaining: one per second": {
			hdr("X-RateLimit-NearLimit", "true", "X-RateLimit-Reset", "2026-11-30T12:01Z"),
			pace{rate: 1, known: true}},
		"Cloud budget used up: hold until reset": {
			hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "2026-11-30T12:00:03Z"),
			pace{hold: 3 * time.Second, known: true}},
		"Cloud headroom: no server pace": {
			hdr("X-RateLimit-NearLimit", "false", "X-RateLimit-Remaining", "500"),
			pace{known: true}},
		"garbage values are ignored": {
			hdr("X-RateLimit-Remaining", "lots", "X-RateLimit-FillRate", "-3"),
			pace{}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := decidePace(tc.h, now); got != tc.want {
				t.Errorf("decidePace = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestApplyPaceNeverExceedsCeiling(t *testing.T) {
	for name, tc := range map[string]struct {
		ceiling float64
		p       pace
		want    float64 // requests/s; 0 = unlimited
	}{
		"no ceiling, server fill rate":          {0, pace{rate: 20, known: true}, 20},
		"ceiling below the server's rate":       {5, pace{rate: 20, known: true}, 5},
		"server slower than the ceiling":        {50, pace{rate: 20, known: true}, 20},
		"headroom restores the ceiling":         {50, pace{known: true}, 50},
		"headroom without ceiling: unthrottled": {0, pace{known: true}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(Config{BaseURL: "https://example.atlassian.net", Deployment: Cloud, AuthType: AuthBasic,
				Credentials: Credentials{Username: "u", Password: "p"}, MaxRequestsPerSecond: tc.ceiling})
			if err != nil {
				t.Fatal(err)
			}
			c.applyPace(pace{rate: 1, known: true}) // a slower pace first: the next must replace it
			c.applyPace(tc.p)
			got := float64(c.limiter.Limit())
			if tc.want == 0 && c.limiter.Limit() != c.ceilingLimit() || tc.want != 0 && got != tc.want {
				t.Errorf("limit = %v, want %v", got, tc.want)
			}
		})
	}
}
