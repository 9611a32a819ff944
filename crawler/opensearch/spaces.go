package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// SpaceRecord is the view permission of one Confluence space, stored once
// per data source in the spaces index (SpaceIndex). Documents do not copy
// these principals: their space clause names Ref only, and a reader holds
// Ref iff Principals names one of the reader's principals (ExpandSpaces).
type SpaceRecord struct {
	Datasource string `json:"datasource"`
	SpaceKey   string `json:"space_key"`
	// Ref is acl.Source(Datasource).Space(SpaceKey).
	Ref string `json:"ref"`
	// Principals are the users and groups of the same data source granted
	// view on the space, and acl.Anonymous if anonymous readers are.
	Principals []string `json:"principals"`
	// Hash digests Principals (acl.ACL.Hash of the one clause), so a crawl
	// can tell a permission change without comparing lists.
	Hash      string    `json:"hash"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// SpaceIndex is the spaces index of an alias.
func SpaceIndex(alias string) string { return alias + "-spaces" }

func spaceMappings() map[string]any {
	return map[string]any{
		"dynamic": "strict",
		"properties": map[string]any{
			"datasource": keyword(), "space_key": keyword(), "ref": keyword(),
			"principals": keyword(), "hash": keyword(),
			"updated_at": map[string]any{"type": "date"},
		},
	}
}

func spaceRecordID(datasource, key string) string {
	return DatasourceKey(datasource) + ":" + key
}

// NewSpaceRecord builds the record of a space from the principals granted
// view on it, normalized and hashed.
func NewSpaceRecord(src acl.Source, key string, principals []string) SpaceRecord {
	c := acl.ACL{{Level: acl.LevelSpace, Principals: principals}}.Normalize()
	return SpaceRecord{Datasource: string(src), SpaceKey: key, Ref: src.Space(key), Principals: c[0].Principals, Hash: c.Hash()}
}

// validate refuses a record that could grant another data source's readers
// access, or that no document could reference.
func (r SpaceRecord) validate() error {
	src, err := acl.ParseSource(r.Datasource)
	if err != nil {
		return err
	}
	if r.SpaceKey == "" || r.Ref != src.Space(r.SpaceKey) {
		return fmt.Errorf("opensearch: space record %q of %s does not reference its space %q", r.Ref, r.Datasource, r.SpaceKey)
	}
	for _, p := range r.Principals {
		if p != acl.Anonymous && (!src.Owns(p) || acl.IsSpaceRef(p)) {
			return fmt.Errorf("opensearch: space record %s names %q, not a user or group of %s", r.Ref, p, r.Datasource)
		}
	}
	return nil
}

// GetSpaceRecord returns the stored record of a space, or nil if there is
// none.
func (c *Client) GetSpaceRecord(ctx context.Context, alias, datasource, key string) (*SpaceRecord, error) {
	var res struct {
		Found  bool        `json:"found"`
		Source SpaceRecord `json:"_source"`
	}
	err := c.do(ctx, http.MethodGet, "/"+esc(SpaceIndex(alias))+"/_doc/"+esc(spaceRecordID(datasource, key)), nil, nil, &res)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opensearch: get space record %s: %w", key, err)
	}
	if !res.Found {
		return nil, nil
	}
	return &res.Source, nil
}

// PutSpaceRecord writes a space's record and waits until searches see it:
// readers' space references come from a search (ExpandSpaces).
func (c *Client) PutSpaceRecord(ctx context.Context, alias string, rec SpaceRecord) error {
	if err := rec.validate(); err != nil {
		return err
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = time.Now().UTC()
	}
	if rec.Principals == nil {
		rec.Principals = []string{}
	}
	q := url.Values{"refresh": {"wait_for"}}
	if err := c.do(ctx, http.MethodPut, "/"+esc(SpaceIndex(alias))+"/_doc/"+esc(spaceRecordID(rec.Datasource, rec.SpaceKey)), q, rec, nil); err != nil {
		return fmt.Errorf("opensearch: write space record %s: %w", rec.SpaceKey, err)
	}
	return nil
}

// DeleteSpaceRecord removes a space's record, hiding its documents from
// everyone until the record is written again.
func (c *Client) DeleteSpaceRecord(ctx context.Context, alias, datasource, key string) error {
	q := url.Values{"refresh": {"wait_for"}}
	err := c.do(ctx, http.MethodDelete, "/"+esc(SpaceIndex(alias))+"/_doc/"+esc(spaceRecordID(datasource, key)), q, nil, nil)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("opensearch: delete space record %s: %w", key, err)
	}
	return nil
}

// DeleteSpaceRecordsExcept removes the data source's space records of spaces
// not in keep and not written since before: spaces a complete crawl no
// longer found in scope (their documents are gone). Records written after
// before belong to a concurrent sync and stay.
func (c *Client) DeleteSpaceRecordsExcept(ctx context.Context, alias, datasource string, keep []string, before time.Time) (int64, error) {
	q := map[string]any{"bool": map[string]any{
		"filter": []any{
			map[string]any{"term": map[string]any{"datasource": datasource}},
			map[string]any{"range": map[string]any{"updated_at": map[string]any{"lt": before.UTC().Format(time.RFC3339Nano)}}},
		},
		"must_not": []any{map[string]any{"terms": map[string]any{"space_key": keep}}},
	}}
	return c.deleteByQuery(ctx, SpaceIndex(alias), q)
}

// maxSpaceRefsPage is the page size of ExpandSpaces' search.
const maxSpaceRefsPage = 5000

// ExpandSpaces returns the references of the spaces a reader holding
// principals may view: the spaces whose record names one of them or
// acl.Anonymous. With datasources empty, records of every data source under
// the alias count. A space without a record is not returned, so documents
// referencing it stay hidden (fail closed); so is a record that does not
// reference its own space.
func (c *Client) ExpandSpaces(ctx context.Context, alias string, datasources, principals []string) ([]string, error) {
	filter := []any{map[string]any{"terms": map[string]any{"principals": withAnonymous(principals)}}}
	if len(datasources) > 0 {
		filter = append(filter, map[string]any{"terms": map[string]any{"datasource": datasources}})
	}
	body := map[string]any{
		"size":    maxSpaceRefsPage,
		"query":   map[string]any{"bool": map[string]any{"filter": filter}},
		"_source": []string{"datasource", "space_key", "ref"},
		"sort":    []any{map[string]any{"ref": "asc"}},
	}
	var refs []string
	for {
		var sr struct {
			Hits struct {
				Hits []struct {
					Source SpaceRecord `json:"_source"`
					Sort   []any       `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		err := c.do(ctx, http.MethodPost, "/"+esc(SpaceIndex(alias))+"/_search", nil, body, &sr)
		if IsNotFound(err) {
			return refs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("opensearch: readable spaces: %w", err)
		}
		hits := sr.Hits.Hits
		for _, h := range hits {
			if src, err := acl.ParseSource(h.Source.Datasource); err == nil && h.Source.Ref == src.Space(h.Source.SpaceKey) {
				refs = append(refs, h.Source.Ref)
			}
		}
		if len(hits) < maxSpaceRefsPage {
			break
		}
		body["search_after"] = hits[len(hits)-1].Sort
	}
	slices.Sort(refs)
	return slices.Compact(refs), nil
}

// copiedSpaceClause matches the documents of a space whose space clause
// still copies principals (the layout before space records) instead of
// naming the space's reference.
func copiedSpaceClause(datasource, key, ref string) map[string]any {
	return map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"term": map[string]any{"datasource": datasource}},
		map[string]any{"term": map[string]any{"space_key": key}},
		map[string]any{"nested": map[string]any{"path": "acl", "query": map[string]any{"bool": map[string]any{
			"filter":   []any{map[string]any{"term": map[string]any{"acl.level": string(acl.LevelSpace)}}},
			"must_not": []any{map[string]any{"term": map[string]any{"acl.principals": ref}}},
		}}}},
	}}}
}

// referenceSpaceScript replaces every space clause's principals with the
// space's reference. The ACL hash is cleared: the stored one digests the
// copied principals, and a crawl comparing hashes must rewrite the document.
const referenceSpaceScript = `for (def c : ctx._source.acl) { if (c.level == params.level) { c.principals = [params.ref]; } } ctx._source.acl_hash = '';`

// ReferenceSpaceRecord upgrades the documents of one space written before
// space records: their space clause, a copy of the space's principals, is
// replaced in place by the space's reference, in one update-by-query. It
// returns how many documents it changed. Nothing that matched is left
// copying principals when it returns without error.
//
// Run it before the space's record is (re)written: a document then either
// still carries the principals it was last synced with or references the
// record; it is never visible to anyone its old or new permissions do not
// admit, and until the record exists it is hidden (fail closed).
func (c *Client) ReferenceSpaceRecord(ctx context.Context, alias, datasource, key string) (int64, error) {
	src, err := acl.ParseSource(datasource)
	if err != nil {
		return 0, err
	}
	ref := src.Space(key)
	q := copiedSpaceClause(datasource, key, ref)
	count := func() (int64, error) {
		var res struct {
			Count int64 `json:"count"`
		}
		err := c.do(ctx, http.MethodPost, "/"+esc(alias)+"/_count", nil, map[string]any{"query": q}, &res)
		if IsNotFound(err) {
			return 0, nil
		}
		return res.Count, err
	}
	n, err := count()
	if err != nil {
		return 0, fmt.Errorf("opensearch: count documents of space %s copying its principals: %w", key, err)
	}
	if n == 0 {
		return 0, nil
	}
	var res struct {
		Updated  int64             `json:"updated"`
		Failures []json.RawMessage `json:"failures"`
	}
	body := map[string]any{
		"query":  q,
		"script": map[string]any{"lang": "painless", "source": referenceSpaceScript, "params": map[string]any{"ref": ref, "level": string(acl.LevelSpace)}},
	}
	uq := url.Values{"conflicts": {"proceed"}, "refresh": {"true"}}
	if err := c.do(ctx, http.MethodPost, "/"+esc(alias)+"/_update_by_query", uq, body, &res); err != nil {
		return 0, fmt.Errorf("opensearch: reference the record of space %s: %w", key, err)
	}
	if len(res.Failures) > 0 {
		return res.Updated, fmt.Errorf("opensearch: reference the record of space %s: %d failures, first: %s", key, len(res.Failures), res.Failures[0])
	}
	// A document changed concurrently (version conflict) was skipped; a
	// concurrent writer of this version writes references, an older one
	// must not leave copies behind unnoticed.
	if left, err := count(); err != nil || left > 0 {
		return res.Updated, fmt.Errorf("opensearch: %d documents of space %s still copy its principals after the upgrade (%v)", left, key, err)
	}
	return res.Updated, nil
}
