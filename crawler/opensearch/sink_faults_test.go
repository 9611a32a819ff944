package opensearch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

// The tests in this file inject write faults (items rejected inside a 200,
// every request answering 429 or 503, a node that drops connections) with
// the test double, even when OPENSEARCH_URL selects a real cluster: the
// engine cannot be made to produce them on demand.

func faultClient(t *testing.T) (*Client, *fakeopensearch.Server, string) {
	t.Helper()
	c, tg, alias := newClientFor(t, fakeopensearch.Double(t))
	ensure(t, c, IndexConfig{Alias: alias})
	return c, tg.Fake, alias
}

func docs(n int) []Document {
	var out []Document
	for i := range n {
		out = append(out, doc("ns/a", fmt.Sprint(i), open))
	}
	return out
}

func writeAll(t *testing.T, s *Sink, ds []Document) {
	t.Helper()
	for _, d := range ds {
		if err := s.Index(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestSink_EveryBulkAnswering429IsCountedAsFailed(t *testing.T) {
	c, fake, alias := faultClient(t)
	fake.FailBulk(429, 1<<20)
	s := newSink(t, c, alias)
	writeAll(t, s, docs(10))
	if st := s.Stats(); st.Indexed != 0 || st.Failed != 10 {
		t.Fatalf("stats = %+v, want 10 failed", st)
	}
	errs := s.Errors()
	if len(errs) == 0 || errs[0].Status != 429 || errs[0].Type != "es_rejected_execution_exception" {
		t.Fatalf("errors = %+v, want the 429 rejection", errs)
	}
}

func TestSink_UnreachableClusterCountsEverythingFailed(t *testing.T) {
	c, fake, alias := faultClient(t)
	fake.SetDown(true)
	s := newSink(t, c, alias)
	writeAll(t, s, docs(5))
	if err := s.Delete(t.Context(), "x"); err == nil {
		t.Fatal("Delete after Close succeeded")
	}
	if st := s.Stats(); st.Failed != 5 || st.Indexed != 0 {
		t.Fatalf("stats = %+v, want 5 failed", st)
	}
	if errs := s.Errors(); len(errs) == 0 || errs[0].Type != "request_failed" {
		t.Fatalf("errors = %+v", errs)
	}
}

func TestSink_RejectedDeleteIsAFailedDelete(t *testing.T) {
	c, fake, alias := faultClient(t)
	writeDocs(t, c, alias, docs(2))
	gone := DocumentID("ns/a", TypePage, "1")
	fake.RejectItems(func(action, id string) int {
		if action == "delete" && id == gone {
			return 400
		}
		return 0
	})
	s := newSink(t, c, alias)
	if err := s.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Failed != 1 || st.FailedDeletes != 1 || st.Deleted != 0 {
		t.Fatalf("stats = %+v, want one failed delete", st)
	}
}

func TestSink_IndexFailClosedDeletesWhatItCouldNotUpdate(t *testing.T) {
	c, fake, alias := faultClient(t)
	writeDocs(t, c, alias, docs(3)) // all public
	restricted := doc("ns/a", "1", acl.ACL{{Level: acl.LevelPage, Principals: []string{acl.Source("ns/a").User("alice")}}})
	fake.RejectItems(func(action, id string) int {
		if action == "index" && id == restricted.ID {
			return 400
		}
		return 0
	})
	s := newSink(t, c, alias)
	if err := s.IndexFailClosed(t.Context(), restricted); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Hidden != 1 || st.Indexed != 0 || st.Failed != 0 {
		t.Fatalf("stats = %+v, want the document hidden", st)
	}
	if errs := s.Errors(); len(errs) != 1 || errs[0].Type != "mapper_parsing_exception" {
		t.Fatalf("errors = %+v", errs)
	}
	if n := count(t, c, alias); n != 2 {
		t.Fatalf("index holds %d documents, want 2: the public version of the restricted page must be gone", n)
	}
}

func TestSink_CloseAfterCancelledFlushDoesNotPanic(t *testing.T) {
	c, fake, alias := faultClient(t)
	fake.FailBulk(503, 1<<20) // keeps the flush retrying until the cancel
	s := newSink(t, c, alias)
	ctx, cancel := context.WithCancel(t.Context())
	for _, d := range docs(3) {
		if err := s.Index(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded although every request failed and the context was cancelled")
	}
	if err := s.Close(ctx); err == nil {
		t.Fatal("Close after a cancel reported success")
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if st := s.Stats(); st.Failed != 3 {
		t.Fatalf("stats = %+v, want the 3 unwritten documents counted as failed", st)
	}
}

// A node that sends the headers and then stalls fails the request at its
// deadline instead of hanging the run (a real node cannot be made to stall
// on demand, so this uses a bare listener).
func TestClient_StalledBodyFailsAtTheRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"version":`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stall.Close)
	t.Cleanup(func() { close(release) })
	c, err := NewClient(Config{Endpoints: []string{stall.URL}, RequestTimeout: 200 * time.Millisecond, MaxRetries: 1, RetryBackoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	done := make(chan error, 1)
	go func() { _, err := c.Version(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a stalled body was read as a complete answer")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request hung past its deadline")
	}
}
