package fakeopensearch

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Target is an OpenSearch endpoint for a test: the real cluster named by
// OPENSEARCH_URL, or a double started for the test.
type Target struct {
	URL      string
	Username string
	Password string
	// Insecure skips TLS verification (OPENSEARCH_INSECURE=true); for test
	// clusters with self-signed certificates only.
	Insecure bool
	// Fake is the double, or nil when the test runs against a real cluster.
	// Tests that need fault injection or request counters use Double.
	Fake *Server
}

// ForTest returns the real cluster when OPENSEARCH_URL is set (with
// OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD and OPENSEARCH_INSECURE), and
// otherwise starts a double that is closed when the test ends. Tests must use
// unique index names (see IndexName) because a real cluster is shared.
func ForTest(t testing.TB) Target {
	t.Helper()
	if u := os.Getenv("OPENSEARCH_URL"); u != "" {
		return Target{
			URL:      u,
			Username: os.Getenv("OPENSEARCH_USERNAME"),
			Password: os.Getenv("OPENSEARCH_PASSWORD"),
			Insecure: os.Getenv("OPENSEARCH_INSECURE") == "true",
		}
	}
	s := Start()
	t.Cleanup(s.Close)
	return Target{URL: s.URL(), Fake: s}
}

// Double starts the double for a test that needs what only the double can
// do: faults the real engine cannot be made to produce on demand (whole bulk
// requests answered 429 or 503, single bulk items rejected inside a 200, a
// node that dies mid-run) or its request counters. Such a test runs on the
// double even when OPENSEARCH_URL is set, and says in a comment which fault
// it needs; everything else uses ForTest.
func Double(t testing.TB) Target {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return Target{URL: s.URL(), Fake: s}
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// IndexName returns a lowercase index or alias name unique to this test run,
// derived from the test name.
func IndexName(t testing.TB) string {
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "test-" + base + "-" + hex.EncodeToString(b)
}
