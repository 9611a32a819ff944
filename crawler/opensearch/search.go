package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// SearchRequest is a full-text search on behalf of one reader.
type SearchRequest struct {
	Alias string
	// Query is the user's text; empty matches everything the reader may see.
	Query string
	// Principals are the reader's principals (see ResolvePrincipals);
	// anonymous is always added.
	Principals []string
	// Datasources, if set, restricts hits to these data sources.
	Datasources []string
	Size, From  int
	// TotalHitsUpTo counts matching documents exactly up to this many
	// (track_total_hits); 0 keeps the engine's default of 10,000. Past it
	// the total is a lower bound (SearchResult.TotalIsLowerBound).
	TotalHitsUpTo int
}

// Hit is one search result.
type Hit struct {
	ID         string  `json:"id"`
	Title      string  `json:"title"`
	Type       string  `json:"type"`
	SpaceKey   string  `json:"spaceKey,omitempty"`
	SpaceName  string  `json:"spaceName,omitempty"`
	URL        string  `json:"url,omitempty"`
	Datasource string  `json:"datasource"`
	Snippet    string  `json:"snippet,omitempty"`
	Score      float64 `json:"score"`
}

// SearchResult is a page of hits.
type SearchResult struct {
	// Total is the number of documents the reader may see that match, or,
	// when TotalIsLowerBound, how many were counted before the engine
	// stopped counting (10,000 by default): there are at least that many.
	Total             int   `json:"total"`
	TotalIsLowerBound bool  `json:"totalIsLowerBound,omitempty"`
	Hits              []Hit `json:"hits"`
}

// SearchBody returns the _search body Search sends: multi_match on title^2
// and body, the ACL filter, the data source filter, and a highlight snippet.
func SearchBody(req SearchRequest) map[string]any {
	var must any = map[string]any{"match_all": map[string]any{}}
	if q := strings.TrimSpace(req.Query); q != "" {
		must = map[string]any{"multi_match": map[string]any{
			"query": q, "fields": []string{"title^2", "body"}, "type": "best_fields",
		}}
	}
	filter := []any{ACLFilter(req.Principals)}
	if len(req.Datasources) > 0 {
		filter = append(filter, map[string]any{"terms": map[string]any{"datasource": req.Datasources}})
	}
	size := req.Size
	if size <= 0 {
		size = 10
	}
	body := map[string]any{
		"size":    size,
		"from":    req.From,
		"query":   map[string]any{"bool": map[string]any{"must": []any{must}, "filter": filter}},
		"_source": []string{"title", "type", "space_key", "space_name", "url", "datasource"},
		"highlight": map[string]any{
			"pre_tags": []string{"<em>"}, "post_tags": []string{"</em>"},
			"fields": map[string]any{
				"body":  map[string]any{"fragment_size": 160, "number_of_fragments": 1},
				"title": map[string]any{"number_of_fragments": 0},
			},
		},
	}
	if req.TotalHitsUpTo > 0 {
		body["track_total_hits"] = req.TotalHitsUpTo
	}
	return body
}

// Search runs req and returns the hits the reader may see.
func (c *Client) Search(ctx context.Context, req SearchRequest) (*SearchResult, error) {
	var res struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
				// "eq", or "gte" when the engine stopped counting.
				Relation string `json:"relation"`
			} `json:"total"`
			Hits []struct {
				ID        string              `json:"_id"`
				Score     *float64            `json:"_score"`
				Source    json.RawMessage     `json:"_source"`
				Highlight map[string][]string `json:"highlight"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := c.do(ctx, http.MethodPost, "/"+esc(req.Alias)+"/_search", nil, SearchBody(req), &res); err != nil {
		return nil, fmt.Errorf("opensearch: search: %w", err)
	}
	out := &SearchResult{Total: res.Hits.Total.Value, TotalIsLowerBound: res.Hits.Total.Relation == "gte", Hits: make([]Hit, 0, len(res.Hits.Hits))}
	for _, h := range res.Hits.Hits {
		var src struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			SpaceKey   string `json:"space_key"`
			SpaceName  string `json:"space_name"`
			URL        string `json:"url"`
			Datasource string `json:"datasource"`
		}
		if err := json.Unmarshal(h.Source, &src); err != nil {
			return nil, fmt.Errorf("opensearch: search hit %s: %w", h.ID, err)
		}
		hit := Hit{ID: h.ID, Title: src.Title, Type: src.Type, SpaceKey: src.SpaceKey, SpaceName: src.SpaceName, URL: src.URL, Datasource: src.Datasource}
		if h.Score != nil {
			hit.Score = *h.Score
		}
		if s := h.Highlight["body"]; len(s) > 0 {
			hit.Snippet = s[0]
		} else if s := h.Highlight["title"]; len(s) > 0 {
			hit.Snippet = s[0]
		}
		out.Hits = append(out.Hits, hit)
	}
	return out, nil
}
