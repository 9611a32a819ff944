package confluence

import (
	"context"
	"fmt"
	"net/url"
	"slices"
)

// On Cloud a page's parent may be a page, folder, whiteboard, database or
// embed (Cloud v2 OpenAPI: PageBulk.parentType), and a restricted parent of
// any type restricts what is below it. Whether the v1 `expand=ancestors` of
// the CQL listing names the non-page items is not documented, so on Cloud the
// chain of every page comes from the v2 API, which documents all types:
// parentId/parentType of GET /spaces/{id}/pages, and GET /pages/{id}/ancestors
// where the parent is not a page of that listing.

// maxAncestorsPerCall is the documented maximum limit of GET /pages/{id}/ancestors.
const maxAncestorsPerCall = 250

// maxTreeDepth bounds ancestor chains (a cycle in the data would loop forever).
const maxTreeDepth = 10000

type v2Parent struct {
	id, typ string
}

// wireParent is what the tree needs of a v2 page (Cloud v2 OpenAPI
// PageBulk): the decoder skips its other fields without allocating them.
type wireParent struct {
	ID         flexString `json:"id"`
	ParentID   flexString `json:"parentId"`
	ParentType string     `json:"parentType"`
}

// cloudTree resolves the root-first ancestor chains of a Cloud space's pages.
// It is used by one listing at a time (not safe for concurrent use).
type cloudTree struct {
	c       *Client
	parents map[string]v2Parent   // page id -> its parent, from the v2 listing
	chains  map[string][]Ancestor // memo: page id -> chain
	under   map[string][]Ancestor // memo: non-page parent id -> chain of its children
}

// newCloudTree lists the pages of a space with the given status through v2
// (250 per call, no bodies) to learn every page's parent.
func (c *Client) newCloudTree(ctx context.Context, spaceKey string, status ContentStatus) (*cloudTree, error) {
	id, err := c.spaceID(ctx, spaceKey)
	if err != nil {
		return nil, err
	}
	t := &cloudTree{c: c, parents: map[string]v2Parent{}, chains: map[string][]Ancestor{}, under: map[string][]Ancestor{}}
	v := url.Values{"status": {string(status)}, "limit": {c.pageSize(maxV2)}}
	cl := call{endpoint: "v2.space.pages", spaceKey: spaceKey, path: "/api/v2/spaces/" + url.PathEscape(id) + "/pages?" + v.Encode()}
	err = list(ctx, c, cl, func(w wireParent, _ string) error {
		t.parents[string(w.ID)] = v2Parent{id: string(w.ParentID), typ: w.ParentType}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the page tree of space %s: %w", spaceKey, err)
	}
	return t, nil
}

// chain returns the ancestors of a page, root first, whatever their types.
func (t *cloudTree) chain(ctx context.Context, pageID string) ([]Ancestor, error) {
	return t.chainDepth(ctx, pageID, 0)
}

func (t *cloudTree) chainDepth(ctx context.Context, pageID string, depth int) ([]Ancestor, error) {
	if ch, ok := t.chains[pageID]; ok {
		return ch, nil
	}
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("page %s: ancestor chain deeper than %d (a cycle?)", pageID, maxTreeDepth)
	}
	p, listed := t.parents[pageID]
	var (
		ch  []Ancestor
		err error
	)
	switch {
	case listed && p.id == "":
		ch = []Ancestor{} // a root page
	case listed && p.typ == string(TypePage) && t.isListed(p.id):
		var up []Ancestor
		if up, err = t.chainDepth(ctx, p.id, depth+1); err == nil {
			ch = append(slices.Clone(up), Ancestor{ID: p.id, Type: string(TypePage)})
		}
	case listed && p.typ != "":
		// Below a folder, whiteboard, ... or a page of another status:
		// ask once per parent, siblings share the answer.
		if u, ok := t.under[p.id]; ok {
			ch = u
		} else if ch, err = t.c.PageAncestors(ctx, pageID); err == nil {
			t.under[p.id] = ch
		}
	default:
		// Not in the listing (created since) or no parent type: ask.
		ch, err = t.c.PageAncestors(ctx, pageID)
	}
	if err != nil {
		return nil, err
	}
	t.chains[pageID] = ch
	return ch, nil
}

func (t *cloudTree) isListed(id string) bool {
	_, ok := t.parents[id]
	return ok
}

// PageAncestors returns all ancestors of a Cloud page, root first, whatever
// their types (v2 GET /pages/{id}/ancestors). When a response is full, the
// chain may go on above its first item: that item's ancestors are asked next,
// as the endpoint's reference says.
func (c *Client) PageAncestors(ctx context.Context, pageID string) ([]Ancestor, error) {
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	var out []Ancestor
	id := pageID
	for round := 0; ; round++ {
		if round*maxAncestorsPerCall > maxTreeDepth {
			return nil, fmt.Errorf("page %s: ancestor chain deeper than %d", pageID, maxTreeDepth)
		}
		v := url.Values{"limit": {fmt.Sprint(maxAncestorsPerCall)}}
		var p page[struct {
			ID   flexString `json:"id"`
			Type string     `json:"type"`
		}]
		cl := call{endpoint: "v2.page.ancestors", path: "/api/v2/pages/" + url.PathEscape(id) + "/ancestors?" + v.Encode()}
		if err := c.doJSON(ctx, cl, &p); err != nil {
			return nil, fmt.Errorf("ancestors of page %s: %w", pageID, err)
		}
		got := make([]Ancestor, 0, len(p.Results))
		for _, r := range p.Results {
			if r.ID == "" {
				return nil, fmt.Errorf("ancestors of page %s: an ancestor without id", pageID)
			}
			got = append(got, Ancestor{ID: string(r.ID), Type: r.Type})
		}
		out = append(got, out...)
		if len(got) < maxAncestorsPerCall {
			return out, nil
		}
		id = got[0].ID
	}
}
