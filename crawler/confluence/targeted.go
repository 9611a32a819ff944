package confluence

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Lookups for targeted syncs: one item by id, the descendants of a page, the
// comments and attachments of given containers, and what changed lately.

// ErrGone: Confluence confirms the item is gone: 404, or a status other than
// current or archived (trashed, deleted). Only this lets a targeted sync
// delete.
var ErrGone = errors.New("gone from Confluence")

// Item is what GET /rest/api/content/{id} says about any content item.
type Item struct {
	ID     string
	Type   ContentType
	Status ContentStatus
	// ContainerID and ContainerType are the page or blog post a comment or
	// attachment belongs to.
	ContainerID   string
	ContainerType ContentType
}

// live reports whether a status is one a listing would return.
func live(s ContentStatus) bool { return s == StatusCurrent || s == StatusArchived || s == "" }

// gone wraps a 404 as ErrGone; other errors pass unchanged.
func gone(id string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("content %s: %w (404)", id, ErrGone)
	}
	return err
}

// GetItem returns the type, status and container of a content item of any
// type (v1 getContentById with expand=container). A 404 or a trashed or
// deleted status yields an error matching ErrGone.
func (c *Client) GetItem(ctx context.Context, id string) (Item, error) {
	if err := c.ready(ctx); err != nil {
		return Item{}, err
	}
	v := url.Values{"expand": {"container"}}
	var w wireContent
	cl := call{endpoint: "content.get", path: "/rest/api/content/" + url.PathEscape(id) + "?" + v.Encode()}
	if err := c.doJSON(ctx, cl, &w); err != nil {
		return Item{}, gone(id, err)
	}
	it := Item{ID: string(w.ID), Type: ContentType(w.Type), Status: ContentStatus(w.Status)}
	if w.Container != nil {
		it.ContainerID, it.ContainerType = string(w.Container.ID), ContentType(w.Container.Type)
	}
	if !live(it.Status) {
		return it, fmt.Errorf("content %s has status %s: %w", id, it.Status, ErrGone)
	}
	return it, nil
}

// GetContent returns one page or blog post with everything ListContent
// returns (v1 getContentById with the listing's expansions). On Cloud a
// page's ancestors come from v2 (GET /pages/{id}/ancestors), which names
// folders and other non-page parents that restrict it. A 404 or a trashed
// or deleted status yields an error matching ErrGone.
func (c *Client) GetContent(ctx context.Context, id string) (Content, error) {
	if err := c.ready(ctx); err != nil {
		return Content{}, err
	}
	v := url.Values{"expand": {contentExpand}}
	var w wireContent
	cl := call{endpoint: "content.get", path: "/rest/api/content/" + url.PathEscape(id) + "?" + v.Encode()}
	if err := c.doJSON(ctx, cl, &w); err != nil {
		return Content{}, gone(id, err)
	}
	if !live(ContentStatus(w.Status)) {
		return Content{ID: id, Type: ContentType(w.Type), Status: ContentStatus(w.Status)}, fmt.Errorf("content %s has status %s: %w", id, w.Status, ErrGone)
	}
	if w.Type != string(TypePage) && w.Type != string(TypeBlogPost) {
		return Content{}, fmt.Errorf("content %s is a %s, not a page or blog post", id, w.Type)
	}
	ct, err := c.content(ctx, w, "", "")
	if err != nil {
		return ct, err
	}
	if c.cfg.Deployment == Cloud && ct.Type == TypePage {
		chain, err := c.PageAncestors(ctx, id)
		if err != nil {
			return ct, err
		}
		ct.setAncestors(chain)
	}
	return ct, nil
}

// ListDescendants streams the current pages below a page (CQL "ancestor =
// id": "direct child contents and their descendants", CQL field reference),
// without bodies: fetch the bodies of the ones that changed with
// ListContentByIDs. On Cloud each page's ancestors come from v2, as in
// GetContent.
func (c *Client) ListDescendants(ctx context.Context, pageID string, fn func(Content) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	cql := fmt.Sprintf("ancestor = %s and type = page", cqlQuote(pageID))
	return c.listContent(ctx, c.searchCallExpand(cql, metadataExpand, maxPlain), "", func(ct Content) error {
		if c.cfg.Deployment == Cloud {
			chain, err := c.PageAncestors(ctx, ct.ID)
			if err != nil {
				return err
			}
			ct.setAncestors(chain)
		}
		return fn(ct)
	})
}

// ListDescendantSpaces streams the id and space key of each current page
// below a page (CQL "ancestor = id", expand=space), without ancestors or
// bodies: where a moved tree is now. The key is "" if the answer has no
// space.
func (c *Client) ListDescendantSpaces(ctx context.Context, pageID string, fn func(id, spaceKey string) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	v := url.Values{
		"cql":    {fmt.Sprintf("ancestor = %s and type = page", cqlQuote(pageID))},
		"expand": {"space"}, "limit": {c.pageSize(maxPlain)},
	}
	cl := call{endpoint: "content.search", path: "/rest/api/content/search?" + v.Encode()}
	return list(ctx, c, cl, func(w wireContent, _ string) error {
		key := ""
		if w.Space != nil {
			key = w.Space.Key
		}
		return fn(string(w.ID), key)
	})
}

// ListContainerComments streams the comments (replies included) of the
// given pages and blog posts with one CQL listing per 50 containers
// ("type = comment and container in (...)"), as ListSpaceComments does for
// a space.
func (c *Client) ListContainerComments(ctx context.Context, containerIDs []string, fn func(Comment) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	for chunk := range chunks(containerIDs, maxIDsPerQuery) {
		v := url.Values{
			"cql":    {fmt.Sprintf("type = comment and container in (%s)", quoteAll(chunk))},
			"expand": {commentExpand}, "limit": {c.pageSize(c.bodiesMax())},
		}
		cl := call{endpoint: "content.search", path: "/rest/api/content/search?" + v.Encode()}
		if err := list(ctx, c, cl, func(w wireContent, base string) error { return fn(c.comment(w, base, "")) }); err != nil {
			return err
		}
	}
	return nil
}

// ListContainerAttachments streams the current attachments of the given
// pages and blog posts, one CQL listing per 50 containers, with the same
// fields (and ids) as ListSpaceAttachments.
func (c *Client) ListContainerAttachments(ctx context.Context, containerIDs []string, fn func(Attachment) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	for chunk := range chunks(containerIDs, maxIDsPerQuery) {
		v := url.Values{
			"cql":    {fmt.Sprintf("type = attachment and container in (%s)", quoteAll(chunk))},
			"expand": {"version,container,history"}, "limit": {c.pageSize(maxPlain)},
		}
		cl := call{endpoint: "content.search", path: "/rest/api/content/search?" + v.Encode()}
		err := list(ctx, c, cl, func(w wireContent, base string) error {
			a := c.v1Attachment(w, base, "", "")
			if w.Container != nil {
				a.ContainerID, a.ContainerType = string(w.Container.ID), ContentType(w.Container.Type)
			}
			return fn(a)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Change is one item a change search returned.
type Change struct {
	ID   string
	Type ContentType
	// Modified is the item's last modification time (version.when).
	Modified time.Time
}

// ListModifiedSince streams the pages, blog posts, comments and attachments
// modified within the last `within` by the server's clock, oldest first,
// with one CQL search ("lastmodified >= now("-Nm")", no expansions). A
// relative date is used because absolute CQL dates are read in the calling
// user's configured time zone (CQL field reference, Created/Last modified),
// which the crawler cannot know; the window is rounded up to whole minutes
// (CQL precision).
//
// knownAs is the Identity an earlier run verified ("" if none). The search
// is then also the credential check: when its answer's identity header
// names that user, nothing else is asked, so a poll that finds nothing
// costs one call. Otherwise the credentials are verified (user/current)
// before any item is handed on, and a search that failed is explained by
// that check: bad credentials fail as they do on any other run.
func (c *Client) ListModifiedSince(ctx context.Context, within time.Duration, knownAs string, fn func(Change) error) error {
	if knownAs == "" || c.isVerified() {
		if err := c.ready(ctx); err != nil {
			return err
		}
		return c.searchChanges(ctx, within, nil, fn)
	}
	var proven, checked bool
	confirm := func() error {
		if checked {
			return nil
		}
		checked = true
		if proven {
			return nil
		}
		_, err := c.Verify(ctx)
		return err
	}
	err := c.searchChanges(ctx, within, func(h http.Header) { proven = proven || c.ranAs(h, knownAs) }, func(ch Change) error {
		if err := confirm(); err != nil {
			return err
		}
		return fn(ch)
	})
	switch {
	case err == nil:
		return confirm()
	case checked || ctx.Err() != nil:
		return err
	}
	// Nothing was handed on: the credential check says what is wrong (401,
	// anonymous, no REST API there, a scoped token that needs the gateway).
	if _, verr := c.Verify(ctx); verr != nil {
		return verr
	}
	if errors.Is(err, ErrCredentialsRejected) {
		// Verified now (through the gateway): search that way.
		return c.searchChanges(ctx, within, nil, fn)
	}
	return err
}

// searchChanges runs the change search of ListModifiedSince; answered, if
// set, sees the headers of each answer.
func (c *Client) searchChanges(ctx context.Context, within time.Duration, answered func(http.Header), fn func(Change) error) error {
	minutes := int64((within + time.Minute - 1) / time.Minute)
	minutes = max(minutes, 1)
	cql := fmt.Sprintf(`type in (page,blogpost,comment,attachment) and lastmodified >= now("-%dm") order by lastmodified asc`, minutes)
	v := url.Values{"cql": {cql}, "expand": {"version"}, "limit": {c.pageSize(maxPlain)}}
	cl := call{endpoint: "content.search", path: "/rest/api/content/search?" + v.Encode(), answered: answered}
	return list(ctx, c, cl, func(w wireContent, _ string) error {
		ch := Change{ID: string(w.ID), Type: ContentType(w.Type)}
		if w.Version != nil {
			ch.Modified = w.Version.version().When
		}
		return fn(ch)
	})
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = cqlQuote(id)
	}
	return strings.Join(q, ",")
}

// chunks yields s in pieces of at most n.
func chunks(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for i := 0; i < len(s); i += n {
			if !yield(s[i:min(i+n, len(s))]) {
				return
			}
		}
	}
}
