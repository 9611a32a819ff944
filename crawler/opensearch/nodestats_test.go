package opensearch

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crawler asks OpenSearch only what its role allows (indices it writes):
// the client library's background node-stats poll, which needs
// cluster:monitor/nodes/stats, is off.
func TestClient_SendsNoBackgroundNodeStatsRequests(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"_shards":{"total":1,"successful":1,"failed":0}}`))
	}))
	defer srv.Close()
	c, err := NewClient(Config{Endpoints: []string{srv.URL}, RetryBackoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Refresh(t.Context(), "docs"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // the library polls every 5 s on a small cluster
	mu.Lock()
	defer mu.Unlock()
	for _, p := range paths {
		if strings.Contains(p, "/_nodes") {
			t.Errorf("background request %s (asked: %v)", p, paths)
		}
	}
	if len(paths) != 1 {
		t.Errorf("requests %v, want the refresh alone", paths)
	}
}
