package opensearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchutil"
)

// SinkConfig tunes a Sink.
type SinkConfig struct {
	// Alias is the write alias.
	Alias string
	// FlushBytes flushes a bulk request at this size (default 5 MB).
	FlushBytes int
	// FlushInterval flushes pending items at least this often (default 5s).
	FlushInterval time.Duration
	// Workers is the number of concurrent bulk requests (default 2).
	Workers int
	// MaxItemRetries bounds the retries of an item the cluster rejected with
	// 429 or 5xx inside a bulk response, or whose whole bulk request failed
	// after the transport's own retries (default 5).
	MaxItemRetries int
	// RetryBackoff is the wait before retry round n (default DefaultBackoff).
	RetryBackoff func(attempt int) time.Duration
	// Refresh is passed to _bulk ("", "true", "wait_for"); tests only.
	Refresh string
	// MaxErrors bounds the item errors kept for the summary (default 20).
	MaxErrors int
}

// Stats counts the outcome of a sink's items.
type Stats struct {
	Indexed int64 `json:"indexed"`
	Deleted int64 `json:"deleted"`
	Failed  int64 `json:"failed"`
}

// ItemError is a document the cluster refused for good.
type ItemError struct {
	ID     string
	Action string
	Status int
	Type   string
	Reason string
}

func (e ItemError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Action, e.ID, e.Status, e.Type, e.Reason)
}

// Sink writes documents through opensearchutil.BulkIndexer. A document the
// cluster refuses (a mapping error, say) fails alone and is counted; items
// rejected for load (429, 5xx) are retried with backoff. Use it from several
// goroutines; call Close once at the end.
type Sink struct {
	client *Client
	cfg    SinkConfig

	mu sync.RWMutex // Add holds it shared; Flush exclusively.
	bi opensearchutil.BulkIndexer

	pmu          sync.Mutex
	pending      []pendingItem
	pendingBytes atomic.Int64

	indexed, deleted, failed atomic.Int64
	emu                      sync.Mutex
	errs                     []ItemError
	closed                   bool
}

type pendingItem struct {
	action, id string
	body       []byte
	attempt    int
}

// NewSink returns a sink writing to cfg.Alias.
func (c *Client) NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Alias == "" {
		return nil, errors.New("opensearch: sink needs an alias")
	}
	if cfg.FlushBytes == 0 {
		cfg.FlushBytes = 5 << 20
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 5 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.MaxItemRetries == 0 {
		cfg.MaxItemRetries = 5
	}
	if cfg.RetryBackoff == nil {
		cfg.RetryBackoff = DefaultBackoff
	}
	if cfg.MaxErrors == 0 {
		cfg.MaxErrors = 20
	}
	s := &Sink{client: c, cfg: cfg}
	bi, err := s.newIndexer()
	if err != nil {
		return nil, err
	}
	s.bi = bi
	return s, nil
}

func (s *Sink) newIndexer() (opensearchutil.BulkIndexer, error) {
	bi, err := opensearchutil.NewBulkIndexer(opensearchutil.BulkIndexerConfig{
		Client:        s.client.api,
		Index:         s.cfg.Alias,
		NumWorkers:    s.cfg.Workers,
		FlushBytes:    s.cfg.FlushBytes,
		FlushInterval: s.cfg.FlushInterval,
		Refresh:       s.cfg.Refresh,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch: bulk indexer: %w", err)
	}
	return bi, nil
}

// Index queues a document for indexing (replacing any stored version).
func (s *Sink) Index(ctx context.Context, doc Document) error {
	if doc.ID == "" {
		return errors.New("opensearch: document without ID")
	}
	body, err := doc.encode()
	if err != nil {
		s.fail(ItemError{ID: doc.ID, Action: "index", Type: "encode_error", Reason: err.Error()})
		return nil
	}
	return s.add(ctx, pendingItem{action: "index", id: doc.ID, body: body})
}

// Delete queues the deletion of a document by _id. Deleting a document that
// does not exist counts as deleted.
func (s *Sink) Delete(ctx context.Context, id string) error {
	return s.add(ctx, pendingItem{action: "delete", id: id})
}

func (s *Sink) add(ctx context.Context, it pendingItem) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errors.New("opensearch: sink is closed")
	}
	err := s.bi.Add(ctx, s.item(it))
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	// Bound the memory held by items waiting for a retry.
	if s.pendingBytes.Load() > int64(4*s.cfg.FlushBytes) {
		return s.Flush(ctx)
	}
	return nil
}

func (s *Sink) item(it pendingItem) opensearchutil.BulkIndexerItem {
	bi := opensearchutil.BulkIndexerItem{
		Action:     it.action,
		DocumentID: it.id,
		OnSuccess: func(context.Context, opensearchutil.BulkIndexerItem, opensearchapi.BulkRespItem) {
			if it.action == "delete" {
				s.deleted.Add(1)
			} else {
				s.indexed.Add(1)
			}
		},
		OnFailure: func(_ context.Context, _ opensearchutil.BulkIndexerItem, res opensearchapi.BulkRespItem, err error) {
			s.onFailure(it, res, err)
		},
	}
	if it.body != nil {
		bi.Body = bytes.NewReader(it.body)
	}
	return bi
}

func (s *Sink) onFailure(it pendingItem, res opensearchapi.BulkRespItem, err error) {
	if it.action == "delete" && res.Status == http.StatusNotFound && res.Error == nil {
		s.deleted.Add(1) // already gone
		return
	}
	retryable := err != nil || res.Status == http.StatusTooManyRequests || res.Status >= 500
	if retryable && it.attempt < s.cfg.MaxItemRetries {
		it.attempt++
		s.pmu.Lock()
		s.pending = append(s.pending, it)
		s.pmu.Unlock()
		s.pendingBytes.Add(int64(len(it.body) + 64))
		return
	}
	ie := ItemError{ID: it.id, Action: it.action, Status: res.Status}
	switch {
	case res.Error != nil:
		ie.Type, ie.Reason = res.Error.Type, res.Error.Reason
		if res.Error.Cause.Reason != "" {
			ie.Reason += " (caused by: " + res.Error.Cause.Type + ": " + res.Error.Cause.Reason + ")"
		}
	case err != nil:
		ie.Type, ie.Reason = "request_failed", err.Error()
	default:
		ie.Type = http.StatusText(res.Status)
	}
	s.fail(ie)
}

func (s *Sink) fail(e ItemError) {
	s.failed.Add(1)
	s.emu.Lock()
	if len(s.errs) < s.cfg.MaxErrors {
		s.errs = append(s.errs, e)
	}
	s.emu.Unlock()
}

// Flush waits until every queued item is written or has failed for good,
// retrying rejected items with backoff.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.flushLocked(ctx, true)
}

func (s *Sink) flushLocked(ctx context.Context, reopen bool) error {
	if err := s.bi.Close(ctx); err != nil {
		return fmt.Errorf("opensearch: flush: %w", err)
	}
	for round := 1; ; round++ {
		s.pmu.Lock()
		retry := s.pending
		s.pending = nil
		s.pmu.Unlock()
		s.pendingBytes.Store(0)
		if len(retry) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for _, it := range retry {
				s.fail(ItemError{ID: it.id, Action: it.action, Type: "canceled", Reason: ctx.Err().Error()})
			}
			return ctx.Err()
		case <-time.After(s.cfg.RetryBackoff(round)):
		}
		bi, err := s.newIndexer()
		if err != nil {
			return err
		}
		for _, it := range retry {
			if err := bi.Add(ctx, s.item(it)); err != nil {
				s.fail(ItemError{ID: it.id, Action: it.action, Type: "canceled", Reason: err.Error()})
			}
		}
		if err := bi.Close(ctx); err != nil {
			return fmt.Errorf("opensearch: flush: %w", err)
		}
	}
	if reopen {
		bi, err := s.newIndexer()
		if err != nil {
			return err
		}
		s.bi = bi
	}
	return nil
}

// Close flushes everything and stops the sink.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.flushLocked(ctx, false)
}

// Stats returns the counters so far; they are final after Close.
func (s *Sink) Stats() Stats {
	return Stats{Indexed: s.indexed.Load(), Deleted: s.deleted.Load(), Failed: s.failed.Load()}
}

// Errors returns the first item errors (at most SinkConfig.MaxErrors).
func (s *Sink) Errors() []ItemError {
	s.emu.Lock()
	defer s.emu.Unlock()
	return append([]ItemError(nil), s.errs...)
}
