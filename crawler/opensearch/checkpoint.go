package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Checkpoint is the sync state of one data source, kept in the alias's state
// index so that a crawl anywhere (Job or CLI) resumes from it.
type Checkpoint struct {
	Datasource string `json:"datasource"`
	// Mode is the sync mode of the run that wrote the checkpoint.
	Mode string `json:"mode,omitempty"`
	// LastSuccessfulCrawl is the start time of the last complete run.
	LastSuccessfulCrawl time.Time `json:"last_successful_crawl,omitzero"`
	UpdatedAt           time.Time `json:"updated_at,omitzero"`
	// State is opaque JSON owned by the crawler; it is stored, not indexed.
	State json.RawMessage `json:"state,omitempty"`
}

func stateMappings() map[string]any {
	return map[string]any{
		"dynamic": "strict",
		"properties": map[string]any{
			"datasource":            keyword(),
			"mode":                  keyword(),
			"last_successful_crawl": map[string]any{"type": "date"},
			"updated_at":            map[string]any{"type": "date"},
			"state":                 map[string]any{"type": "object", "enabled": false},
		},
	}
}

// ReadCheckpoint returns the data source's checkpoint, or nil if it has none.
func (c *Client) ReadCheckpoint(ctx context.Context, alias, datasource string) (*Checkpoint, error) {
	var res struct {
		Found  bool       `json:"found"`
		Source Checkpoint `json:"_source"`
	}
	err := c.do(ctx, http.MethodGet, "/"+esc(StateIndex(alias))+"/_doc/"+esc(DatasourceKey(datasource)), nil, nil, &res)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opensearch: read checkpoint: %w", err)
	}
	if !res.Found {
		return nil, nil
	}
	return &res.Source, nil
}

// WriteCheckpoint stores cp (replacing the previous one); UpdatedAt is set
// to now when zero.
func (c *Client) WriteCheckpoint(ctx context.Context, alias string, cp Checkpoint) error {
	if cp.Datasource == "" {
		return fmt.Errorf("opensearch: checkpoint without data source")
	}
	if cp.UpdatedAt.IsZero() {
		cp.UpdatedAt = time.Now().UTC()
	}
	if err := c.do(ctx, http.MethodPut, "/"+esc(StateIndex(alias))+"/_doc/"+esc(DatasourceKey(cp.Datasource)), nil, cp, nil); err != nil {
		return fmt.Errorf("opensearch: write checkpoint: %w", err)
	}
	return nil
}
