package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// SinkConfig tunes a Sink.
type SinkConfig struct {
	// Alias is the write alias.
	Alias string
	// FlushBytes sends a bulk request once this much is queued (default 5 MB).
	FlushBytes int
	// FlushInterval sends queued items once the oldest waited this long, at
	// the next Index or Delete (default 5s).
	FlushInterval time.Duration
	// Workers is the number of concurrent bulk requests (default 2).
	Workers int
	// MaxItemRetries bounds the retries of an item the cluster rejected with
	// 429 or 5xx inside a bulk response, or whose whole bulk request failed
	// after the transport's own retries (default 5).
	MaxItemRetries int
	// RetryBackoff is the wait before retry round n (default: the client's
	// backoff).
	RetryBackoff func(attempt int) time.Duration
	// Refresh is passed to _bulk ("", "true", "wait_for"); tests only.
	Refresh string
	// MaxErrors bounds the item errors kept for the summary (default 20).
	MaxErrors int
	// PassageAlias, if set, is where documents' passages go: Index writes
	// a document's passages with it and removes its passages that are no
	// longer among them; Delete removes all its passages. Empty: passages
	// are neither written nor deleted.
	//
	// Each document stores its passage count (passage_count). Before a
	// bulk round the sink reads the stored counts (_mget, realtime) and
	// deletes the passages beyond the new count by _id in the same bulk
	// request. Only a document stored without a count (written before
	// counts existed), a failed count lookup, or a write that failed for
	// good falls back to a refresh and a _delete_by_query of its passages.
	PassageAlias string
	// Pipeline and PassagePipeline are the ingest pipelines documents and
	// passages are written through ("" for none).
	Pipeline, PassagePipeline string
}

// Stats counts the outcome of a sink's items. Every item ends in exactly one
// of Indexed, Deleted, Hidden or Failed.
type Stats struct {
	Indexed int64 `json:"indexed"`
	Deleted int64 `json:"deleted"`
	// Hidden counts documents whose update failed for good and that were
	// deleted instead (IndexFailClosed).
	Hidden int64 `json:"hidden,omitempty"`
	// Failed counts items not written: refused for good, out of retries, or
	// abandoned because the context ended.
	Failed int64 `json:"failed"`
	// FailedDeletes is the part of Failed that were deletions (including
	// the fallback deletion of IndexFailClosed): documents that may still be
	// searchable although they should not be.
	FailedDeletes int64 `json:"failedDeletes,omitempty"`
	// PassagesIndexed and PassagesDeleted count passages written and
	// removed (stale passages of rewritten documents, passages of deleted
	// ones). Passages that fail count in Failed (and FailedDeletes), or in
	// Hidden when a fail-closed passage was removed instead.
	PassagesIndexed int64 `json:"passagesIndexed,omitempty"`
	PassagesDeleted int64 `json:"passagesDeleted,omitempty"`
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

// Sink writes documents with the _bulk API. Items are queued and sent in
// requests of about FlushBytes by the goroutine that fills a request, at most
// Workers at a time, so a slow cluster slows the crawl down instead of
// letting memory grow. Every item is accounted for: written, or failed with
// its error kept (the first MaxErrors) and counted in Stats. Items rejected
// for load (429, 5xx, a failed request) are retried with backoff; others
// (a mapping error, say) fail alone. Use it from several goroutines; Close
// it once at the end (Close is idempotent and never panics, also after the
// context was cancelled).
type Sink struct {
	client *Client
	cfg    SinkConfig
	slots  chan struct{} // one per bulk request in flight

	mu       sync.Mutex
	queue    []pendingItem
	queued   int
	oldest   time.Time
	closed   bool
	inflight sync.WaitGroup

	indexed, deleted, hidden, failed, failedDeletes atomic.Int64
	passagesIndexed, passagesDeleted                atomic.Int64

	emu  sync.Mutex
	errs []ItemError
}

type pendingItem struct {
	// action is index, delete, or purge: remove the passages of document
	// id from ordinal count on (all of them when count is 0).
	action, id string
	body       []byte
	// failClosed deletes the document if the index action fails for good.
	failClosed bool
	// passage: the item is a passage, written to SinkConfig.PassageAlias.
	passage bool
	// count is, for a purge or a stale passage's deletion, how many
	// passages document id (doc for a stale passage) keeps.
	count int
	// byQuery: a purge done with _delete_by_query (the stored count is
	// unknown or cannot be trusted).
	byQuery bool
	// doc is, for the deletion of a stale passage, its document's _id.
	doc     string
	attempt int
}

func (it pendingItem) size() int { return len(it.body) + len(it.id) + 32 }

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
		cfg.RetryBackoff = c.backoff
	}
	if cfg.MaxErrors == 0 {
		cfg.MaxErrors = 20
	}
	return &Sink{client: c, cfg: cfg, slots: make(chan struct{}, cfg.Workers)}, nil
}

// Index queues a document for indexing (replacing any stored version).
func (s *Sink) Index(ctx context.Context, doc Document) error {
	return s.index(ctx, doc, false)
}

// IndexFailClosed queues a document like Index, but if the cluster refuses
// it for good the stored document with that _id is deleted instead: use it
// when the stored version may have a wider ACL than the new one, so a failed
// write cannot leave the document visible to readers who lost access.
func (s *Sink) IndexFailClosed(ctx context.Context, doc Document) error {
	return s.index(ctx, doc, true)
}

func (s *Sink) index(ctx context.Context, doc Document, failClosed bool) error {
	if doc.ID == "" {
		return errors.New("opensearch: document without ID")
	}
	if doc.IndexedAt == nil {
		now := time.Now().UTC()
		doc.IndexedAt = &now
	}
	var body []byte
	var err error
	if s.cfg.PassageAlias == "" {
		body, err = doc.encode()
	} else {
		body, err = doc.encodeWith(map[string]any{"passage_count": len(doc.Passages)})
	}
	if err != nil {
		// failed1 also queues the removal of its passages: the stored
		// ones may be wider.
		it := pendingItem{action: "index", id: doc.ID, failClosed: failClosed}
		return s.add(ctx, s.failed1(it, ItemError{ID: doc.ID, Action: "index", Type: "encode_error", Reason: err.Error()})...)
	}
	items := []pendingItem{{action: "index", id: doc.ID, body: body, failClosed: failClosed}}
	if s.cfg.PassageAlias == "" {
		return s.add(ctx, items...)
	}
	for n := range doc.Passages {
		id := PassageID(doc.ID, n)
		pb, err := doc.encodePassage(n)
		switch {
		case err == nil:
			items = append(items, pendingItem{action: "index", id: id, body: pb, failClosed: failClosed, passage: true})
		case failClosed:
			// Not written, and the stored one may be wider.
			items = append(items, pendingItem{action: "delete", id: id, passage: true, doc: doc.ID, count: len(doc.Passages)})
		}
	}
	// The purge travels with the writes: passages the document no longer
	// has are deleted in the same bulk round.
	items = append(items, pendingItem{action: "purge", id: doc.ID, count: len(doc.Passages)})
	return s.add(ctx, items...)
}

// Delete queues the deletion of a document by _id. Deleting a document that
// does not exist counts as deleted.
func (s *Sink) Delete(ctx context.Context, id string) error {
	items := []pendingItem{{action: "delete", id: id}}
	if s.cfg.PassageAlias != "" {
		items = append(items, pendingItem{action: "purge", id: id})
	}
	return s.add(ctx, items...)
}

var errSinkClosed = errors.New("opensearch: sink is closed")

// add queues items together (a document with its passages and their purge
// land in the same bulk round).
func (s *Sink) add(ctx context.Context, items ...pendingItem) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSinkClosed
	}
	if len(s.queue) == 0 {
		s.oldest = time.Now()
	}
	for _, it := range items {
		s.queue = append(s.queue, it)
		s.queued += it.size()
	}
	var batch []pendingItem
	if s.queued >= s.cfg.FlushBytes || time.Since(s.oldest) >= s.cfg.FlushInterval {
		batch = s.takeLocked()
	}
	s.mu.Unlock()
	if batch == nil {
		return nil
	}
	return s.send(ctx, batch)
}

// takeLocked removes the queued items and registers them as in flight.
func (s *Sink) takeLocked() []pendingItem {
	batch := s.queue
	s.queue, s.queued = nil, 0
	if len(batch) > 0 {
		s.inflight.Add(1)
	}
	return batch
}

// send writes items, retrying what was rejected for load, until every item
// is written or failed. It returns the context's error if it ended first
// (the items left are counted as failed).
func (s *Sink) send(ctx context.Context, items []pendingItem) error {
	defer s.inflight.Done()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		s.abandon(items, ctx.Err())
		return ctx.Err()
	}
	defer func() { <-s.slots }()
	for round := 0; len(items) > 0; round++ {
		if round > 0 {
			t := time.NewTimer(s.cfg.RetryBackoff(round))
			select {
			case <-ctx.Done():
				t.Stop()
				s.abandon(items, ctx.Err())
				return ctx.Err()
			case <-t.C:
			}
		}
		items = s.bulk(ctx, items)
		if ctx.Err() != nil {
			s.abandon(items, ctx.Err())
			return ctx.Err()
		}
	}
	return nil
}

// bulkResponse is the part of a _bulk answer the sink reads (OpenSearch
// "Bulk" API reference, response body fields).
type bulkResponse struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkItemResult `json:"items"`
}

type bulkItemResult struct {
	ID     string       `json:"_id"`
	Status int          `json:"status"`
	Error  *errorDetail `json:"error"`
}

// bulk sends one round, the writes and then the passage purges, and
// returns the items to try again.
func (s *Sink) bulk(ctx context.Context, items []pendingItem) []pendingItem {
	var writes, purges, exact []pendingItem
	for _, it := range items {
		switch {
		case it.action == "purge" && it.byQuery:
			purges = append(purges, it)
		case it.action == "purge":
			exact = append(exact, it)
		default:
			writes = append(writes, it)
		}
	}
	if len(exact) > 0 {
		stale, unknown, err := s.stalePassages(ctx, exact)
		if err != nil && ctx.Err() != nil {
			return items
		}
		writes = append(writes, stale...)
		purges = append(purges, unknown...)
	}
	var retry []pendingItem
	if len(writes) > 0 {
		retry = s.bulkWrite(ctx, writes)
	}
	if len(purges) > 0 && ctx.Err() == nil {
		retry = append(retry, s.purgePassages(ctx, purges)...)
	} else if len(purges) > 0 {
		retry = append(retry, purges...)
	}
	return retry
}

// stalePassages turns the purges of a round into deletions of the passages
// beyond each document's new count up to its stored count, read before this
// round's writes. A document stored without a count, or all of them if the
// counts cannot be read, get a purge by query instead (unknown).
func (s *Sink) stalePassages(ctx context.Context, purges []pendingItem) (stale, unknown []pendingItem, err error) {
	// A document queued twice in one round keeps the last count and loses
	// every ordinal any version may have had.
	final, upper := map[string]int{}, map[string]int{}
	var ids []string
	for _, it := range purges {
		if _, ok := final[it.id]; !ok {
			ids = append(ids, it.id)
		}
		final[it.id] = it.count
		upper[it.id] = max(upper[it.id], it.count)
	}
	stored, err := s.client.storedPassageCounts(ctx, s.cfg.Alias, ids)
	for _, id := range ids {
		n, known := stored[id]
		if err != nil || (known && n < 0) {
			unknown = append(unknown, pendingItem{action: "purge", id: id, count: final[id], byQuery: true})
			continue
		}
		for k := final[id]; k < max(upper[id], n); k++ {
			stale = append(stale, pendingItem{action: "delete", id: PassageID(id, k), passage: true, doc: id, count: final[id]})
		}
	}
	return stale, unknown, err
}

// purgePassages removes, with one _delete_by_query, the passages the purges
// name, after a refresh so that passages written by earlier runs are seen
// whatever the index's refresh interval. It returns the purges to retry.
func (s *Sink) purgePassages(ctx context.Context, purges []pendingItem) (retry []pendingItem) {
	keep := map[string][]string{}
	var gone []string
	for _, it := range purges {
		if it.count == 0 {
			gone = append(gone, it.id)
			continue
		}
		for k := range it.count {
			keep[it.id] = append(keep[it.id], PassageID(it.id, k))
		}
	}
	err := s.client.do(ctx, http.MethodPost, "/"+esc(s.cfg.PassageAlias)+"/_refresh", nil, nil, nil)
	if IsNotFound(err) {
		return nil // no passages index: nothing to remove
	}
	var n int64
	if err == nil {
		n, err = s.client.deleteByQuery(ctx, s.cfg.PassageAlias, purgeQuery(keep, gone))
	}
	s.passagesDeleted.Add(n)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return purges
	}
	status, typ, retryable := 0, "request_failed", true
	var oe *Error
	if errors.As(err, &oe) {
		status, typ = oe.Status, oe.Type
		retryable = status == http.StatusTooManyRequests || status >= 500
	}
	for _, it := range purges {
		retry = s.retryOrFail(retry, it, retryable, ItemError{ID: it.id, Action: "delete passages of", Status: status, Type: typ, Reason: err.Error()})
	}
	return retry
}

// bulkWrite sends one _bulk request and returns the items to try again.
func (s *Sink) bulkWrite(ctx context.Context, items []pendingItem) (retry []pendingItem) {
	var body bytes.Buffer
	for _, it := range items {
		m := map[string]string{"_id": it.id}
		pipeline := s.cfg.Pipeline
		if it.passage {
			m["_index"], pipeline = s.cfg.PassageAlias, s.cfg.PassagePipeline
		}
		if it.action == "index" && pipeline != "" {
			m["pipeline"] = pipeline
		}
		meta, _ := json.Marshal(map[string]map[string]string{it.action: m})
		body.Write(meta)
		body.WriteByte('\n')
		if it.body != nil {
			body.Write(it.body)
			body.WriteByte('\n')
		}
	}
	var q map[string][]string
	if s.cfg.Refresh != "" {
		q = map[string][]string{"refresh": {s.cfg.Refresh}}
	}
	var res bulkResponse
	err := s.client.do(ctx, http.MethodPost, "/"+esc(s.cfg.Alias)+"/_bulk", q, body.Bytes(), &res)
	if err == nil && len(res.Items) != len(items) {
		err = fmt.Errorf("opensearch: bulk answered %d items for %d sent", len(res.Items), len(items))
	}
	if err != nil {
		if ctx.Err() != nil {
			return items
		}
		// The whole request failed (after the transport's own retries).
		status, typ := 0, "request_failed"
		var oe *Error
		if errors.As(err, &oe) {
			status, typ = oe.Status, oe.Type
		}
		for _, it := range items {
			retry = s.retryOrFail(retry, it, true, ItemError{ID: it.id, Action: it.action, Status: status, Type: typ, Reason: err.Error()})
		}
		return retry
	}
	for i, it := range items {
		var r bulkItemResult
		for _, v := range res.Items[i] {
			r = v
		}
		switch {
		case r.Error == nil && r.Status < 300:
			s.succeeded(it)
		case it.action == "delete" && r.Status == http.StatusNotFound && r.Error == nil && it.passage:
			// A passage already gone: nothing deleted, nothing to count.
		case it.action == "delete" && r.Status == http.StatusNotFound && r.Error == nil:
			s.succeeded(it) // already gone
		default:
			ie := ItemError{ID: it.id, Action: it.action, Status: r.Status, Type: http.StatusText(r.Status)}
			if r.Error != nil {
				e := r.Error.toError(r.Status)
				ie.Type, ie.Reason = e.Type, e.Reason
				if e.CausedBy != "" {
					ie.Reason += " (caused by: " + e.CausedBy + ")"
				}
			}
			retryable := r.Status == http.StatusTooManyRequests || r.Status >= 500
			retry = s.retryOrFail(retry, it, retryable, ie)
		}
	}
	return retry
}

func (s *Sink) succeeded(it pendingItem) {
	switch {
	case it.passage && it.action == "index":
		s.passagesIndexed.Add(1)
	case it.passage && !it.failClosed:
		s.passagesDeleted.Add(1)
	case it.action == "index":
		s.indexed.Add(1)
	case it.failClosed: // the fallback deletion of a failed IndexFailClosed
		s.hidden.Add(1)
	default:
		s.deleted.Add(1)
	}
}

// retryOrFail appends it to retry if it may be tried again, else records the
// failure (and appends the fallback deletion of a fail-closed item).
func (s *Sink) retryOrFail(retry []pendingItem, it pendingItem, retryable bool, ie ItemError) []pendingItem {
	if retryable && it.attempt < s.cfg.MaxItemRetries {
		it.attempt++
		return append(retry, it)
	}
	return append(retry, s.failed1(it, ie)...)
}

// failed1 records an item that failed for good and returns what to send
// instead: the deletion of a fail-closed index; for a document, the
// removal by query of its passages (some may have been written, beyond
// the count it has stored); for a stale passage, the purge by query of
// its document's passages beyond the new count.
func (s *Sink) failed1(it pendingItem, ie ItemError) []pendingItem {
	if it.passage && it.action == "delete" && it.doc != "" {
		return []pendingItem{{action: "purge", id: it.doc, count: it.count, byQuery: true}}
	}
	var next []pendingItem
	if !it.passage && it.action == "index" && s.cfg.PassageAlias != "" {
		next = append(next, pendingItem{action: "purge", id: it.id, byQuery: true})
	}
	if it.action == "index" && it.failClosed {
		s.keepError(ie)
		return append(next, pendingItem{action: "delete", id: it.id, failClosed: true, passage: it.passage})
	}
	s.failed.Add(1)
	if it.action != "index" {
		s.failedDeletes.Add(1)
	}
	s.keepError(ie)
	return next
}

// abandon counts items left unwritten because ctx ended.
func (s *Sink) abandon(items []pendingItem, err error) {
	for _, it := range items {
		s.failed.Add(1)
		if it.action != "index" {
			s.failedDeletes.Add(1)
		}
	}
	if len(items) > 0 {
		s.keepError(ItemError{ID: items[0].id, Action: items[0].action, Type: "canceled",
			Reason: fmt.Sprintf("%v (%d items not written)", err, len(items))})
	}
}

func (s *Sink) keepError(e ItemError) {
	s.emu.Lock()
	if len(s.errs) < s.cfg.MaxErrors {
		s.errs = append(s.errs, e)
	}
	s.emu.Unlock()
}

// Send sends what is queued now and waits until those items are written or
// have failed for good, without waiting for requests other goroutines have
// in flight. A crawl calls it when a batch of documents is complete, so they
// become searchable at the next refresh instead of waiting for FlushBytes or
// FlushInterval. It returns the context's error if the context ended first.
func (s *Sink) Send(ctx context.Context) error {
	s.mu.Lock()
	batch := s.takeLocked()
	s.mu.Unlock()
	if len(batch) == 0 {
		return ctx.Err()
	}
	if err := s.send(ctx, batch); err != nil {
		return err
	}
	return ctx.Err()
}

// Flush sends what is queued and waits until every item given so far is
// written or has failed for good. It returns the context's error if the
// context ended first.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.takeLocked()
	s.mu.Unlock()
	var err error
	if len(batch) > 0 {
		err = s.send(ctx, batch)
	}
	s.inflight.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// Close flushes everything and stops the sink; later calls do nothing.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.Flush(ctx)
}

// Stats returns the counters so far; they are final after Close.
func (s *Sink) Stats() Stats {
	return Stats{Indexed: s.indexed.Load(), Deleted: s.deleted.Load(), Hidden: s.hidden.Load(),
		Failed: s.failed.Load(), FailedDeletes: s.failedDeletes.Load(),
		PassagesIndexed: s.passagesIndexed.Load(), PassagesDeleted: s.passagesDeleted.Load()}
}

// Errors returns the first item errors (at most SinkConfig.MaxErrors).
func (s *Sink) Errors() []ItemError {
	s.emu.Lock()
	defer s.emu.Unlock()
	return append([]ItemError(nil), s.errs...)
}
