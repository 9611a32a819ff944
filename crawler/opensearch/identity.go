package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// Identity is one Confluence user as the identity crawl saw it.
type Identity struct {
	Datasource string `json:"datasource"`
	// Principal is the user's principal scoped to the data source,
	// acl.Source(Datasource).User(UserID).
	Principal string `json:"principal"`
	// UserID is the Cloud accountId or Data Center userKey, unscoped, so that
	// a search application can look a reader up as "user:<id>".
	UserID      string `json:"user_id,omitempty"`
	Email       string `json:"email,omitempty"`
	Username    string `json:"username,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// Groups are group principals of the same data source,
	// acl.Source(Datasource).Group(id or name).
	Groups    []string  `json:"groups"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func identityMappings() map[string]any {
	return map[string]any{
		"dynamic": "strict",
		"properties": map[string]any{
			"datasource":   keyword(),
			"principal":    keyword(),
			"user_id":      keyword(),
			"email":        keyword(),
			"username":     keyword(),
			"display_name": map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}},
			"groups":       keyword(),
			"updated_at":   map[string]any{"type": "date"},
		},
	}
}

func identityID(datasource, principal string) string {
	return DatasourceKey(datasource) + ":" + principal
}

type bulkResult struct {
	Status int          `json:"status"`
	Error  *errorDetail `json:"error"`
}

// identityBatch bounds one _bulk request of UpsertIdentities.
const identityBatch = 500

// UpsertIdentities writes identities (replacing earlier versions of the same
// user in the same data source). E-mail addresses are stored lowercase.
// UpdatedAt defaults to now, which DeleteIdentitiesBefore relies on.
func (c *Client) UpsertIdentities(ctx context.Context, alias string, ids []Identity) error {
	now := time.Now().UTC()
	index := IdentityIndex(alias)
	for start := 0; start < len(ids); start += identityBatch {
		var buf bytes.Buffer
		for _, id := range ids[start:min(len(ids), start+identityBatch)] {
			if id.Datasource == "" || id.Principal == "" {
				return fmt.Errorf("opensearch: identity needs a data source and a principal")
			}
			if _, dropped := scopedPrincipals(id); dropped {
				return fmt.Errorf("opensearch: identity %s of %s has principals not scoped to its data source", id.Principal, id.Datasource)
			}
			id.Email = strings.ToLower(strings.TrimSpace(id.Email))
			if id.UpdatedAt.IsZero() {
				id.UpdatedAt = now
			}
			if id.Groups == nil {
				id.Groups = []string{}
			}
			meta, _ := json.Marshal(map[string]any{"index": map[string]any{"_index": index, "_id": identityID(id.Datasource, id.Principal)}})
			doc, err := json.Marshal(id)
			if err != nil {
				return err
			}
			buf.Write(meta)
			buf.WriteByte('\n')
			buf.Write(doc)
			buf.WriteByte('\n')
		}
		var res struct {
			Errors bool                    `json:"errors"`
			Items  []map[string]bulkResult `json:"items"`
		}
		if err := c.do(ctx, http.MethodPost, "/_bulk", nil, buf.Bytes(), &res); err != nil {
			return fmt.Errorf("opensearch: upsert identities: %w", err)
		}
		if res.Errors {
			for _, it := range res.Items {
				for _, r := range it {
					if r.Error != nil {
						return fmt.Errorf("opensearch: upsert identities: %w", r.Error.toError(r.Status))
					}
				}
			}
		}
	}
	return nil
}

// DeleteIdentitiesBefore removes the data source's identities not updated
// since before: users the last complete identity crawl no longer saw.
func (c *Client) DeleteIdentitiesBefore(ctx context.Context, alias, datasource string, before time.Time) (int64, error) {
	return c.deleteByQuery(ctx, IdentityIndex(alias), map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"term": map[string]any{"datasource": datasource}},
		map[string]any{"range": map[string]any{"updated_at": map[string]any{"lt": before.UTC().Format(time.RFC3339Nano)}}},
	}}})
}

// Resolution is the outcome of ResolvePrincipals.
type Resolution struct {
	// Principals are what to filter with (ACLFilter, SearchRequest): the
	// reader's user and group principals, acl.Anonymous, and the references
	// of the spaces the reader may view (Spaces).
	Principals []string
	// Spaces are the space references among Principals: the spaces whose
	// record names the reader's user, one of their groups, or anonymous.
	Spaces []string
	// Identities are the matching users (one per data source at most, unless
	// an e-mail is shared).
	Identities []Identity
	// Unscoped lists the data sources whose matching identity carried
	// principals not scoped to that data source (written before principals
	// were scoped, or not by its crawler): they were ignored, so the reader
	// sees only the public content of those data sources until their next
	// sync.
	Unscoped []string
}

// Known reports whether any user matched.
func (r Resolution) Known() bool { return len(r.Identities) > 0 }

// ResolvePrincipals maps what a search application knows about a user (an
// e-mail address, a user name, a scoped principal, or "user:<id>" with the
// Cloud accountId or Data Center userKey) to the principals to filter with:
// the user's principal(s), their groups, and anonymous. With datasources
// empty, identities of every data source under the alias count.
//
// Each identity contributes only principals scoped to its own data source
// (acl.Source.Owns), so a match in several data sources gives the reader
// each site's own view and never lets one site's groups open another's
// documents. An unknown user (or who empty) resolves to anonymous only.
//
// Then the principals are expanded to the spaces they may view
// (ExpandSpaces): documents name their space by reference, so the filter
// needs both.
func (c *Client) ResolvePrincipals(ctx context.Context, alias string, datasources []string, who string) (Resolution, error) {
	res, err := c.resolveIdentity(ctx, alias, datasources, who)
	if err != nil {
		return res, err
	}
	if res.Spaces, err = c.ExpandSpaces(ctx, alias, datasources, res.Principals); err != nil {
		return res, err
	}
	res.Principals = append(res.Principals, res.Spaces...)
	slices.Sort(res.Principals)
	return res, nil
}

// resolveIdentity is ResolvePrincipals without the space expansion.
func (c *Client) resolveIdentity(ctx context.Context, alias string, datasources []string, who string) (Resolution, error) {
	res := Resolution{Principals: []string{acl.Anonymous}}
	who = strings.TrimSpace(who)
	if who == "" {
		return res, nil
	}
	should := []any{
		map[string]any{"term": map[string]any{"email": strings.ToLower(who)}},
		map[string]any{"term": map[string]any{"username": who}},
		map[string]any{"term": map[string]any{"principal": who}},
	}
	if id, ok := strings.CutPrefix(who, "user:"); ok && id != "" {
		should = append(should, map[string]any{"term": map[string]any{"user_id": id}})
	}
	q := map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
	if len(datasources) > 0 {
		q["bool"].(map[string]any)["filter"] = []any{map[string]any{"terms": map[string]any{"datasource": datasources}}}
	}
	var sr struct {
		Hits struct {
			Hits []struct {
				Source Identity `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	err := c.do(ctx, http.MethodPost, "/"+esc(IdentityIndex(alias))+"/_search", url.Values{"size": {"100"}}, map[string]any{"query": q}, &sr)
	if IsNotFound(err) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("opensearch: resolve principals: %w", err)
	}
	for _, h := range sr.Hits.Hits {
		id := h.Source
		res.Identities = append(res.Identities, id)
		owned, dropped := scopedPrincipals(id)
		res.Principals = append(res.Principals, owned...)
		if dropped && !slices.Contains(res.Unscoped, id.Datasource) {
			res.Unscoped = append(res.Unscoped, id.Datasource)
		}
	}
	slices.Sort(res.Principals)
	res.Principals = slices.Compact(res.Principals)
	slices.Sort(res.Unscoped)
	return res, nil
}

// scopedPrincipals returns the identity's principal and groups that belong to
// its data source, and whether any did not (fail closed: those are dropped).
// A space reference is never an identity's: readers hold one only through
// the space's record.
func scopedPrincipals(id Identity) (owned []string, dropped bool) {
	src, err := acl.ParseSource(id.Datasource)
	if err != nil {
		return nil, true
	}
	for _, p := range append([]string{id.Principal}, id.Groups...) {
		if src.Owns(p) && !acl.IsSpaceRef(p) {
			owned = append(owned, p)
		} else {
			dropped = true
		}
	}
	return owned, dropped
}
