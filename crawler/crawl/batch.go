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
// batch is flushed early when its candidates reach it.
const batchBytes = 32 << 20

// candidate is a document that exists in Confluence and is in scope. Its
// hashes are known from the listing; build produces the full document (text
// extraction, attachment download) only if it has to be written.
type candidate struct {
	id, contentHash, aclHash string
	// bodyOf, if set, is the Confluence id whose body must be fetched before
	// build (listings without bodies, in incremental syncs).
	bodyOf string
	build  func(ctx context.Context, fetched *confluence.Content) (opensearch.Document, error)
	// failClosed: the stored version may have a wider ACL (see batch.flush).
	failClosed bool
	// size is the body bytes the candidate holds until it is built.
	size int
}

// batch compares candidates with what is indexed, in groups, and writes only
// what changed (everything, for ForcedFullCrawl).
type batch struct {
	r     *run
	items []candidate
	bytes int
}

func newBatch(r *run) *batch { return &batch{r: r} }

func (b *batch) add(ctx context.Context, c candidate) error {
	b.r.markSeen(c.id)
	c.contentHash = b.r.salted(c.contentHash)
	b.items = append(b.items, c)
	b.bytes += c.size
	if len(b.items) >= batchSize || b.bytes >= batchBytes {
		return b.flush(ctx)
	}
	return nil
}

func (b *batch) flush(ctx context.Context) error {
	if len(b.items) == 0 {
		return nil
	}
	items := b.items
	b.items, b.bytes = nil, 0
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
