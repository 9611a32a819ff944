package fakeopensearch

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
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
// derived from the test name. On a real cluster the indices whose names
// start with it (the versioned index, the state index) are deleted when the
// test ends: a shared node would otherwise run out of shards.
func IndexName(t testing.TB) string {
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "test-" + base + "-" + hex.EncodeToString(b)
	if os.Getenv("OPENSEARCH_URL") != "" {
		t.Cleanup(func() { deleteIndices(ForTest(t), name) })
	}
	return name
}

// deleteIndices deletes the indices named prefix or prefix-*, one by name
// (clusters may refuse wildcard deletions). Errors are ignored: cleanup is
// best effort.
func deleteIndices(target Target, prefix string) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if target.Insecure {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test clusters with self-signed certificates
	}
	do := func(method, path string) (*http.Response, error) {
		req, err := http.NewRequest(method, strings.TrimRight(target.URL, "/")+path, nil)
		if err != nil {
			return nil, err
		}
		if target.Username != "" {
			req.SetBasicAuth(target.Username, target.Password)
		}
		return hc.Do(req)
	}
	resp, err := do(http.MethodGet, "/_cat/indices/"+prefix+"*?h=index&expand_wildcards=all")
	if err != nil {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	for _, index := range strings.Fields(string(body)) {
		if index != prefix && !strings.HasPrefix(index, prefix+"-") {
			continue
		}
		if resp, err := do(http.MethodDelete, "/"+index); err == nil {
			_ = resp.Body.Close()
		}
	}
}
