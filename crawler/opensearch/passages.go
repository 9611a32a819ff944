package opensearch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Passage is one retrieval passage of a document: a few hundred tokens of
// its text with the headings above it and a link to its section.
//
// A passage is stored as a copy of its document with the passage's text as
// body and the passage fields added (document_id, document_url,
// heading_path, passage): it carries exactly the document's ACL fields,
// space, type, title, dates and field mappings, so ACLFilter (and whatever
// access model the documents use) applies to passages unchanged.
type Passage struct {
	Text string
	// HeadingPath are the headings enclosing the passage, outermost first.
	HeadingPath []string
	// URL links to the passage's section; empty means the document's URL.
	URL string
}

// PassageAlias is the alias of the passages of alias's documents.
func PassageAlias(alias string) string { return alias + "-passages" }

// PassageID is the _id of passage n of the document with _id docID.
func PassageID(docID string, n int) string { return docID + ":p" + strconv.Itoa(n) }

// encodePassage renders passage n of d (see Passage).
func (d Document) encodePassage(n int) ([]byte, error) {
	p := d.Passages[n]
	pd := d
	pd.ID = PassageID(d.ID, n)
	pd.Body = p.Text
	pd.URL = cmp.Or(p.URL, d.URL)
	pd.ContentHash = ""
	pd.Passages = nil
	return pd.encodeWith(map[string]any{
		"document_id": d.ID, "document_url": d.URL, "heading_path": p.HeadingPath, "passage": n,
	})
}

// purgeQuery selects the passages of the documents in keep that are not
// among their current passages, and every passage of the documents in gone.
func purgeQuery(keep map[string][]string, gone []string) map[string]any {
	should := make([]any, 0, len(keep)+1)
	for doc, ids := range keep {
		q := map[string]any{"filter": []any{map[string]any{"term": map[string]any{"document_id": doc}}}}
		if len(ids) > 0 {
			q["must_not"] = []any{map[string]any{"ids": map[string]any{"values": ids}}}
		}
		should = append(should, map[string]any{"bool": q})
	}
	if len(gone) > 0 {
		should = append(should, map[string]any{"terms": map[string]any{"document_id": gone}})
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// DeleteDatasourcePassages deletes every passage of a data source from the
// passages index of alias (passages turned off). A missing index is no error.
func (c *Client) DeleteDatasourcePassages(ctx context.Context, alias, datasource string) (int64, error) {
	return c.deleteByQuery(ctx, PassageAlias(alias), map[string]any{"term": map[string]any{"datasource": datasource}})
}

// PassageSearchRequest is a passage search on behalf of one reader: the
// retrieval step of retrieval-augmented generation.
type PassageSearchRequest struct {
	// Alias is the documents' alias; passages are searched in PassageAlias(Alias).
	Alias      string
	Query      string
	Principals []string
	// Datasources, if set, restricts hits to these data sources.
	Datasources []string
	Size        int
	// Neural, if set, ranks by the user's embedding model instead of BM25.
	Neural *NeuralQuery
}

// NeuralQuery is a neural query (OpenSearch neural-search plugin) on the
// vector field an ingest pipeline's text_embedding processor fills.
type NeuralQuery struct {
	Field   string
	ModelID string
	// K is how many nearest passages the engine considers (default 100).
	K int
}

// PassageHit is one passage found.
type PassageHit struct {
	ID          string   `json:"id"`
	DocumentID  string   `json:"documentId"`
	Title       string   `json:"title"`
	HeadingPath []string `json:"headingPath,omitempty"`
	Type        string   `json:"type"`
	SpaceKey    string   `json:"spaceKey,omitempty"`
	URL         string   `json:"url,omitempty"`
	Datasource  string   `json:"datasource"`
	Text        string   `json:"text"`
	Score       float64  `json:"score"`
}

// PassageSearchBody returns the _search body SearchPassages sends: BM25 on
// the passage text, its headings and its document's title (or the neural
// query), under the same ACL filter as documents.
func PassageSearchBody(req PassageSearchRequest) map[string]any {
	var must any = map[string]any{"match_all": map[string]any{}}
	q := strings.TrimSpace(req.Query)
	switch {
	case q != "" && req.Neural != nil:
		must = map[string]any{"neural": map[string]any{req.Neural.Field: map[string]any{
			"query_text": q, "model_id": req.Neural.ModelID, "k": cmp.Or(req.Neural.K, 100),
		}}}
	case q != "":
		must = map[string]any{"multi_match": map[string]any{
			"query": q, "fields": []string{"title^2", "heading_path^2", "body"}, "type": "best_fields",
		}}
	}
	filter := []any{ACLFilter(req.Principals)}
	if len(req.Datasources) > 0 {
		filter = append(filter, map[string]any{"terms": map[string]any{"datasource": req.Datasources}})
	}
	size := req.Size
	if size <= 0 {
		size = 5
	}
	return map[string]any{
		"size":    size,
		"query":   map[string]any{"bool": map[string]any{"must": []any{must}, "filter": filter}},
		"_source": []string{"document_id", "title", "heading_path", "type", "space_key", "url", "datasource", "body"},
	}
}

// SearchPassages returns the top passages the reader may see.
func (c *Client) SearchPassages(ctx context.Context, req PassageSearchRequest) ([]PassageHit, error) {
	var res struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Score  *float64        `json:"_score"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := c.do(ctx, http.MethodPost, "/"+esc(PassageAlias(req.Alias))+"/_search", nil, PassageSearchBody(req), &res); err != nil {
		return nil, fmt.Errorf("opensearch: passage search: %w", err)
	}
	out := make([]PassageHit, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		var src struct {
			DocumentID  string   `json:"document_id"`
			Title       string   `json:"title"`
			HeadingPath []string `json:"heading_path"`
			Type        string   `json:"type"`
			SpaceKey    string   `json:"space_key"`
			URL         string   `json:"url"`
			Datasource  string   `json:"datasource"`
			Body        string   `json:"body"`
		}
		if err := json.Unmarshal(h.Source, &src); err != nil {
			return nil, fmt.Errorf("opensearch: passage hit %s: %w", h.ID, err)
		}
		hit := PassageHit{ID: h.ID, DocumentID: src.DocumentID, Title: src.Title, HeadingPath: src.HeadingPath, Type: src.Type,
			SpaceKey: src.SpaceKey, URL: src.URL, Datasource: src.Datasource, Text: src.Body}
		if h.Score != nil {
			hit.Score = *h.Score
		}
		out = append(out, hit)
	}
	return out, nil
}

// IngestPipelineExists reports whether an ingest pipeline of that name exists.
func (c *Client) IngestPipelineExists(ctx context.Context, name string) (bool, error) {
	err := c.do(ctx, http.MethodGet, "/_ingest/pipeline/"+esc(name), nil, nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opensearch: get ingest pipeline %s: %w", name, err)
	}
	return true, nil
}

// storedPassageCounts returns the passage_count stored with those of ids
// that are indexed under alias, -1 for a document stored without one.
// Missing documents are absent from the map; so are all of them if there
// is no index.
func (c *Client) storedPassageCounts(ctx context.Context, alias string, ids []string) (map[string]int, error) {
	return mgetSources(ctx, c, alias, ids, "passage_count", func(src struct {
		Count *int `json:"passage_count"`
	}) int {
		if src.Count != nil && *src.Count >= 0 {
			return *src.Count
		}
		return -1
	})
}
