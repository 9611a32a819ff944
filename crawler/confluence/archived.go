package confluence

import (
	"context"
	"fmt"
	"net/url"
)

// listArchivedCloudPages lists a Cloud space's archived pages. Cloud v1
// /content has no archived status (Cloud v1 OpenAPI, getContent: status is
// current, trashed, deleted, draft or any); v2 /spaces/{id}/pages has
// (Cloud v2 OpenAPI, getPagesInSpace: status current, archived, deleted,
// trashed). v2 carries body, version and parent but neither labels nor read
// restrictions, so those cost one call each per archived page (v2
// /pages/{id}/labels, v1 restriction/byOperation/read); archived pages are
// few and opt-in.
func (c *Client) listArchivedCloudPages(ctx context.Context, spaceKey string, fn func(Content) error) error {
	tree, err := c.newCloudTree(ctx, spaceKey, StatusArchived)
	if err != nil {
		return err
	}
	id, err := c.spaceID(ctx, spaceKey)
	if err != nil {
		return err
	}
	v := url.Values{"status": {string(StatusArchived)}, "body-format": {"storage"}, "limit": {c.pageSize(maxV2)}}
	cl := call{endpoint: "v2.space.pages", spaceKey: spaceKey, path: "/api/v2/spaces/" + url.PathEscape(id) + "/pages?" + v.Encode()}
	return list(ctx, c, cl, func(w wireContent, _ string) error {
		ct := Content{
			ID: string(w.ID), Type: TypePage, Status: ContentStatus(w.Status), Title: w.Title, SpaceKey: spaceKey,
			Version: w.Version.version(), WebURL: webURL(c.site.String(), w.Links.WebUI), Created: w.CreatedAt.time(),
		}
		if w.Body != nil && w.Body.Storage != nil {
			ct.Body, ct.BodyIncluded = string(w.Body.Storage.Value), true
		}
		chain, err := tree.chain(ctx, ct.ID)
		if err != nil {
			return err
		}
		ct.setAncestors(chain)
		if ct.Labels, err = c.pageLabels(ctx, ct.ID); err != nil {
			return err
		}
		if ct.ReadRestriction, err = c.ReadRestriction(ctx, ct.ID); err != nil {
			return fmt.Errorf("read restriction of archived page %s: %w", ct.ID, err)
		}
		return fn(ct)
	})
}

// pageLabels lists a Cloud page's labels (v2 GET /pages/{id}/labels, LabelBulk).
func (c *Client) pageLabels(ctx context.Context, pageID string) ([]string, error) {
	var out []string
	v := url.Values{"limit": {c.pageSize(maxV2)}}
	cl := call{endpoint: "v2.page.labels", path: "/api/v2/pages/" + url.PathEscape(pageID) + "/labels?" + v.Encode()}
	err := list(ctx, c, cl, func(l struct {
		Name string `json:"name"`
	}, _ string) error {
		out = append(out, l.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("labels of page %s: %w", pageID, err)
	}
	return out, nil
}
