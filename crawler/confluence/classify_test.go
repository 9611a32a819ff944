package confluence

import (
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := map[string]struct {
		status   int
		header   http.Header
		wantAct  action
		wantWait time.Duration
	}{
		"200 done":                    {200, nil, actDone, 0},
		"204 done":                    {204, nil, actDone, 0},
		"401 unauthorized":            {401, nil, actUnauthorized, 0},
		"403 denied":                  {403, nil, actDenied, 0},
		"404 denied":                  {404, nil, actDenied, 0},
		"400 final":                   {400, nil, actFail, 0},
		"501 final":                   {501, nil, actFail, 0},
		"500 backoff":                 {500, nil, actRetry, 0},
		"502 backoff":                 {502, nil, actRetry, 0},
		"504 backoff":                 {504, nil, actRetry, 0},
		"429 without hint":            {429, nil, actRetry, 0},
		"429 seconds":                 {429, hdr("Retry-After", "7"), actRetry, 7 * time.Second},
		"503 seconds":                 {503, hdr("Retry-After", "2"), actRetry, 2 * time.Second},
		"429 zero waits a little":     {429, hdr("Retry-After", "0"), actRetry, time.Millisecond},
		"429 int64 max does not wrap": {429, hdr("Retry-After", "9223372036854775807"), actRetry, foreverish},
		"429 beyond uint64":           {429, hdr("Retry-After", "99999999999999999999999"), actRetry, foreverish},
		"429 just too large":          {429, hdr("Retry-After", "9223372037"), actRetry, foreverish},
		"429 an hour":                 {429, hdr("Retry-After", "3600"), actRetry, time.Hour},
		"429 negative ignored":        {429, hdr("Retry-After", "-5"), actRetry, 0},
		"429 NaN ignored":             {429, hdr("Retry-After", "NaN"), actRetry, 0},
		"429 Inf is forever":          {429, hdr("Retry-After", "+Inf"), actRetry, foreverish},
		"429 garbage ignored":         {429, hdr("Retry-After", "soon"), actRetry, 0},
		"429 http date":               {429, hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), actRetry, 90 * time.Second},
		"429 http date in the past":   {429, hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), actRetry, time.Millisecond},
		"429 rate limit reset":        {429, hdr("X-RateLimit-Reset", now.Add(3*time.Second).Format(time.RFC3339)), actRetry, 3 * time.Second},
		"429 retry-after wins":        {429, hdr("Retry-After", "1", "X-RateLimit-Reset", now.Add(time.Hour).Format(time.RFC3339)), actRetry, time.Second},
		"200 ignores retry-after":     {200, hdr("Retry-After", "9223372036854775807"), actDone, 0},
		"500 ignores retry-after":     {500, hdr("Retry-After", "30"), actRetry, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			act, wait := classify(tc.status, tc.header, now)
			if act != tc.wantAct || wait != tc.wantWait {
				t.Fatalf("classify(%d) = (%v, %v), want (%v, %v)", tc.status, act, wait, tc.wantAct, tc.wantWait)
			}
		})
	}
}
