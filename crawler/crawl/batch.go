package crawl

import (
	"context"
	"slices"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/extract"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// batchSize is how many documents are compared with the index at once.
const batchSize = 200

// batchBytes bounds the bodies a batch holds (listings carry bodies): a
// batch is handed on early when its candidates reach it. One batch is
// written while the next fills, so a space holds at most twice this, and
// the text and bulk body built from the one being written (measured with
// BenchmarkCrawlerPeakRSSHugeBodies: 8 MiB keeps the peak below that of
// one 32 MiB batch at a time).
const batchBytes = 8 << 20

// candidate is a document that exists in Confluence and is in scope. Its
// hashes are known from the listing; build produces the full document (text
// extraction, attachment download) only if it has to be written.
type candidate struct {
	id, contentHash, aclHash string
	// version is the Confluence version the listing returned (0: unknown).
	version int64
	// bodyOf, if set, is the Confluence id whose body must be fetched before
	// build (listings without bodies, in incremental syncs).
	bodyOf string
	build  func(ctx context.Context, fetched *confluence.Content) (opensearch.Document, error)
	// failClosed: the stored version may have a wider ACL (see batch.write).
	failClosed bool
	// size is the body bytes the candidate holds until it is built.
	size int
}

// batch collects candidates from a space's listings and hands them, in
// groups, to a writer goroutine that compares them with what is indexed
// and writes only what changed (everything, for ForcedFullCrawl). Listing
// and writing overlap: the next listing page is fetched while the previous
// group is compared, extracted and written. At most one group is being
// written while the next one fills, which bounds memory and makes a slow
// cluster slow the listing down.
type batch struct {
	r     *run
	items []candidate
	bytes int

	work chan []candidate // to the writer; unbuffered
	// failed is closed when the writer failed; err is its error (written
	// before failed is closed, read after).
	failed chan struct{}
	err    error
	done   chan struct{} // closed when the writer returned
}

// newBatch starts the writer of one space; finish must be called.
func newBatch(ctx context.Context, r *run) *batch {
	b := &batch{r: r, work: make(chan []candidate), failed: make(chan struct{}), done: make(chan struct{})}
	go b.writer(ctx)
	return b
}

func (b *batch) add(ctx context.Context, c candidate) error {
	b.r.markSeen(c.id)
	c.contentHash = b.r.salted(c.contentHash)
	b.items = append(b.items, c)
	b.bytes += c.size
	if len(b.items) >= batchSize || b.bytes >= batchBytes {
		return b.handOn(ctx)
	}
	return nil
}

// handOn gives the collected candidates to the writer, waiting while it
// is busy with the previous group.
func (b *batch) handOn(ctx context.Context) error {
	if len(b.items) == 0 {
		return nil
	}
	items := b.items
	b.items, b.bytes = nil, 0
	select {
	case b.work <- items:
		return nil
	case <-b.failed:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish writes what is left if the listings completed (write), waits until
// the writer is done and returns its error. No request of the writer is in
// flight after it returns.
func (b *batch) finish(ctx context.Context, write bool) error {
	var err error
	if write {
		err = b.handOn(ctx)
	}
	close(b.work)
	<-b.done
	select {
	case <-b.failed:
		return b.err
	default:
		return err
	}
}

// writer writes the groups it is handed, then sends them to OpenSearch, so
// a space's documents are searchable as soon as its group is written rather
// than at a flush tick. After an error (or a panic, which fails the run as
// in a space worker) it only drains.
func (b *batch) writer(ctx context.Context) {
	defer close(b.done)
	for items := range b.work {
		if b.err != nil {
			continue
		}
		if err := b.writeRecovered(ctx, items); err != nil {
			b.err = err
			close(b.failed)
		}
	}
}

func (b *batch) writeRecovered(ctx context.Context, items []candidate) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = b.r.recovered(p)
			b.r.mu.Lock()
			if b.r.panicked == nil {
				b.r.panicked = err
			}
			b.r.mu.Unlock()
		}
	}()
	if err := b.flush(ctx, items); err != nil {
		return err
	}
	return b.r.sink.Send(ctx)
}

// flush compares items with the index and writes those that changed.
func (b *batch) flush(ctx context.Context, items []candidate) error {
	var stored map[string]opensearch.Stored
	if !b.r.forced() {
		ids := make([]string, len(items))
		for i, c := range items {
			ids[i] = c.id
		}
		var err error
		if stored, err = b.r.OpenSearch.StoredHashes(ctx, b.r.alias, ids); err != nil {
			return err
		}
	}
	var changed []candidate
	for _, c := range items {
		s, ok := stored[c.id]
		if ok && s.ContentHash == c.contentHash && s.ACLHash == c.aclHash {
			b.r.unchanged.Add(1)
			continue
		}
		if ok && c.version > 0 && s.Version > c.version {
			// A newer version is indexed: a targeted sync or poll running
			// beside this crawl wrote it after this listing was read.
			// Writing the older copy would undo that edit until the next run.
			b.r.unchanged.Add(1)
			continue
		}
		// A stored version with another ACL (or one not looked up, in a
		// forced crawl) may be visible to readers who lost access: if the
		// new version cannot be written, it must go.
		c.failClosed = b.r.forced() || (ok && s.ACLHash != c.aclHash)
		changed = append(changed, c)
	}
	// Bodies fetched for incremental syncs are held a chunk at a time.
	for chunk := range slices.Chunk(changed, bodyChunk) {
		if err := b.write(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// bodyChunk is how many changed documents have their bodies fetched and
// held at once.
const bodyChunk = 25

// write fetches the bodies the candidates need, builds and writes them.
func (b *batch) write(ctx context.Context, changed []candidate) error {
	var fetch []string
	for _, c := range changed {
		if c.bodyOf != "" {
			fetch = append(fetch, c.bodyOf)
		}
	}
	bodies := map[string]*confluence.Content{}
	if len(fetch) > 0 {
		err := b.r.Confluence.ListContentByIDs(ctx, fetch, func(c confluence.Content) error {
			bodies[c.ID] = &c
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, c := range changed {
		var fetched *confluence.Content
		if c.bodyOf != "" {
			if fetched = bodies[c.bodyOf]; fetched == nil {
				// Gone since it was listed: the next sync deletes it.
				continue
			}
		}
		doc, err := c.build(ctx, fetched)
		if err != nil {
			// The document stays as indexed (it was seen, so it is not
			// deleted), unless its stored ACL may be too wide.
			b.r.failed.Add(1)
			b.r.log.Error(err, "document not indexed", "id", c.id, "hidden", c.failClosed)
			if c.failClosed {
				if err := b.r.sink.Delete(ctx, c.id); err != nil {
					return err
				}
			}
			continue
		}
		doc.ContentHash = b.r.salted(doc.ContentHash)
		if b.r.passages != nil && doc.Passages == nil {
			// A builder that did not split its text: plain passages.
			b.r.withPassages(&doc, extract.Text{Body: doc.Body})
		}
		write := b.r.sink.Index
		if c.failClosed {
			write = b.r.sink.IndexFailClosed
		}
		if err := write(ctx, doc); err != nil {
			return err
		}
	}
	return nil
}
