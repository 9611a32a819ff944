package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Stored is what change detection needs of an indexed document.
type Stored struct {
	ContentHash string `json:"content_hash"`
	ACLHash     string `json:"acl_hash"`
	Version     int64  `json:"version"`
}

// mgetBatch bounds one _mget request.
const mgetBatch = 1000

// StoredHashes returns, for those of ids that are indexed, their stored
// content hash, ACL hash and Confluence version. Missing ids are absent from
// the map. Memory is bounded by len(ids); requests are batched.
func (c *Client) StoredHashes(ctx context.Context, alias string, ids []string) (map[string]Stored, error) {
	return mgetSources(ctx, c, alias, ids, "content_hash,acl_hash,version", func(s Stored) Stored { return s })
}

// mgetSources reads the fields (comma-separated _source_includes) of those
// of ids that are indexed under alias, realtime, in batches of mgetBatch,
// and maps each found source through conv. Missing documents are absent
// from the map; so are all of them if there is no index.
func mgetSources[S, V any](ctx context.Context, c *Client, alias string, ids []string, fields string, conv func(S) V) (map[string]V, error) {
	out := make(map[string]V, len(ids))
	q := url.Values{"_source_includes": {fields}, "realtime": {"true"}}
	for start := 0; start < len(ids); start += mgetBatch {
		batch := ids[start:min(len(ids), start+mgetBatch)]
		var res struct {
			Docs []struct {
				ID     string          `json:"_id"`
				Found  bool            `json:"found"`
				Source json.RawMessage `json:"_source"`
				Error  json.RawMessage `json:"error"`
			} `json:"docs"`
		}
		if err := c.do(ctx, http.MethodPost, "/"+esc(alias)+"/_mget", q, map[string]any{"ids": batch}, &res); err != nil {
			if IsNotFound(err) {
				return out, nil
			}
			return nil, fmt.Errorf("opensearch: mget %s: %w", fields, err)
		}
		for _, d := range res.Docs {
			if len(d.Error) > 0 {
				return nil, fmt.Errorf("opensearch: mget %s: %s", d.ID, d.Error)
			}
			if !d.Found {
				continue
			}
			var s S
			if err := json.Unmarshal(d.Source, &s); err != nil {
				return nil, fmt.Errorf("opensearch: mget %s: %w", d.ID, err)
			}
			out[d.ID] = conv(s)
		}
	}
	return out, nil
}

// IDFilter selects documents of one data source.
type IDFilter struct {
	Datasource string
	// SpaceKey, if set, restricts to one space.
	SpaceKey string
	// Types, if set, restricts to these document types.
	Types []string
	// ContainerIDs, if set, restricts to the comments and attachments of
	// these pages and blog posts (content ids).
	ContainerIDs []string
	// NotWrittenSince, if set, leaves out documents whose indexed_at is at
	// or after it, to the millisecond the engine keeps: those written within
	// its last fraction of a millisecond still match, so callers that need
	// the exact instant compare DocRef.IndexedAt too. Documents without
	// indexed_at (written by older releases) match.
	NotWrittenSince time.Time
}

func (f IDFilter) query() map[string]any {
	filters := []any{map[string]any{"term": map[string]any{"datasource": f.Datasource}}}
	if f.SpaceKey != "" {
		filters = append(filters, map[string]any{"term": map[string]any{"space_key": f.SpaceKey}})
	}
	if len(f.Types) > 0 {
		filters = append(filters, map[string]any{"terms": map[string]any{"type": f.Types}})
	}
	if len(f.ContainerIDs) > 0 {
		filters = append(filters, map[string]any{"terms": map[string]any{"container_id": f.ContainerIDs}})
	}
	b := map[string]any{"filter": filters}
	if !f.NotWrittenSince.IsZero() {
		// Dates are stored in milliseconds; rounding up keeps every
		// document written before the instant.
		since := f.NotWrittenSince.UTC().Add(time.Millisecond - 1).Truncate(time.Millisecond)
		b["must_not"] = []any{map[string]any{"range": map[string]any{"indexed_at": map[string]any{"gte": since.Format(time.RFC3339Nano)}}}}
	}
	return map[string]any{"bool": b}
}

// idPage is the page size of StreamIDs.
const idPage = 1000

// StreamIDs calls fn with the _id of every indexed document matching f, in
// _id order, paging with search_after on the doc_id keyword, so memory stays
// bounded whatever the index size. Refresh first if recent writes must be
// seen. A missing index yields no ids.
func (c *Client) StreamIDs(ctx context.Context, alias string, f IDFilter, fn func(id string) error) error {
	return c.stream(ctx, alias, f, false, func(r DocRef) error { return fn(r.ID) })
}

// DocRef is a stored document's id with the space and type it belongs to.
type DocRef struct {
	ID       string
	SpaceKey string
	Type     string
	// IndexedAt is when the document was last written (zero if unknown).
	IndexedAt time.Time
}

// StreamDocRefs is StreamIDs with each document's space key and type.
func (c *Client) StreamDocRefs(ctx context.Context, alias string, f IDFilter, fn func(DocRef) error) error {
	return c.stream(ctx, alias, f, true, fn)
}

func (c *Client) stream(ctx context.Context, alias string, f IDFilter, withSource bool, fn func(DocRef) error) error {
	var after []any
	for {
		body := map[string]any{
			"size":             idPage,
			"query":            f.query(),
			"sort":             []any{map[string]any{"doc_id": "asc"}},
			"_source":          false,
			"track_total_hits": false,
		}
		if withSource {
			body["_source"] = []string{"space_key", "type", "indexed_at"}
		}
		if after != nil {
			body["search_after"] = after
		}
		var res struct {
			Hits struct {
				Hits []struct {
					ID     string `json:"_id"`
					Sort   []any  `json:"sort"`
					Source struct {
						SpaceKey  string    `json:"space_key"`
						Type      string    `json:"type"`
						IndexedAt time.Time `json:"indexed_at"`
					} `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := c.do(ctx, http.MethodPost, "/"+esc(alias)+"/_search", nil, body, &res); err != nil {
			if IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("opensearch: list ids: %w", err)
		}
		for _, h := range res.Hits.Hits {
			if err := fn(DocRef{ID: h.ID, SpaceKey: h.Source.SpaceKey, Type: h.Source.Type, IndexedAt: h.Source.IndexedAt}); err != nil {
				return err
			}
		}
		if len(res.Hits.Hits) < idPage {
			return nil
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
}

// deleteByQuery deletes what query matches in index and returns the count.
func (c *Client) deleteByQuery(ctx context.Context, index string, query map[string]any) (int64, error) {
	var res struct {
		Deleted  int64             `json:"deleted"`
		Failures []json.RawMessage `json:"failures"`
	}
	q := url.Values{"conflicts": {"proceed"}, "refresh": {"true"}}
	err := c.do(ctx, http.MethodPost, "/"+esc(index)+"/_delete_by_query", q, map[string]any{"query": query}, &res)
	if IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("opensearch: delete by query in %s: %w", index, err)
	}
	if len(res.Failures) > 0 {
		return res.Deleted, fmt.Errorf("opensearch: delete by query in %s: %d failures, first: %s", index, len(res.Failures), res.Failures[0])
	}
	return res.Deleted, nil
}

// DeleteDatasource removes everything a data source owns under alias: its
// documents, their passages, its identities, its space records and its
// checkpoint (finalizer cleanup). It
// returns the number of documents deleted. Other data sources sharing the
// alias are untouched.
func (c *Client) DeleteDatasource(ctx context.Context, alias, datasource string) (int64, error) {
	q := IDFilter{Datasource: datasource}.query()
	n, err := c.deleteByQuery(ctx, alias, q)
	if err != nil {
		return n, err
	}
	if _, err := c.deleteByQuery(ctx, IdentityIndex(alias), q); err != nil {
		return n, err
	}
	if _, err := c.deleteByQuery(ctx, SpaceIndex(alias), q); err != nil {
		return n, err
	}
	if _, err := c.deleteByQuery(ctx, PassageAlias(alias), q); err != nil {
		return n, err
	}
	err = c.do(ctx, http.MethodDelete, "/"+esc(StateIndex(alias))+"/_doc/"+esc(DatasourceKey(datasource)), nil, nil, nil)
	if err != nil && !IsNotFound(err) {
		return n, fmt.Errorf("opensearch: delete checkpoint: %w", err)
	}
	return n, nil
}

// DeleteDatasourceExcept deletes the documents of f except those whose _id
// is in keep, in one request. keep must stay small (up to the cluster's
// index.max_terms_count, 65,536 by default); for large sets stream the ids
// with StreamIDs and delete the missing ones through a Sink instead.
func (c *Client) DeleteDatasourceExcept(ctx context.Context, alias string, f IDFilter, keep []string) (int64, error) {
	q := f.query()
	if len(keep) > 0 {
		q["bool"].(map[string]any)["must_not"] = []any{map[string]any{"ids": map[string]any{"values": keep}}}
	}
	return c.deleteByQuery(ctx, alias, q)
}

// Count returns how many documents matching f the index holds (0 if the
// index does not exist). Refresh first if recent writes must be counted.
func (c *Client) Count(ctx context.Context, alias string, f IDFilter) (int64, error) {
	var res struct {
		Count int64 `json:"count"`
	}
	err := c.do(ctx, http.MethodPost, "/"+esc(alias)+"/_count", nil, map[string]any{"query": f.query()}, &res)
	if IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("opensearch: count: %w", err)
	}
	return res.Count, nil
}
