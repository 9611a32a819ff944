package confluence

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// contentExpand makes listings carry everything needed to index a page or
// blog post, so no per-page call is needed. Comments and attachments are
// listed space-wide (ListSpaceComments, ListSpaceAttachments), not expanded here.
const contentExpand = "body.storage," + metadataExpand

// metadataExpand is contentExpand without the body: enough to tell whether an
// item or its permissions changed, at up to four times more items per call.
const metadataExpand = "version,space,history,ancestors,metadata.labels," +
	"restrictions.read.restrictions.user,restrictions.read.restrictions.group"

// Server-side page size caps. Asking for exactly the cap minimises calls;
// asking for more makes Data Center skip items (its next link advances by the
// requested limit, Onyx #4129), which list re-derives but should not need to.
const (
	maxBodiesCloud = 50  // Cloud v1 / CQL with body expansion
	maxBodiesDC    = 50  // DC with body expansion (Atlassian KB "...always limits results to 50")
	maxV2          = 250 // Cloud v2
	maxPlain       = 200 // v1 listings without bodies (DC KB: 200 with other expansions)
)

func (c *Client) pageSize(serverMax int) string {
	if n := c.cfg.PageSize; n > 0 {
		return strconv.Itoa(n)
	}
	return strconv.Itoa(serverMax)
}

func (c *Client) bodiesMax() int {
	if c.cfg.Deployment == Cloud {
		return maxBodiesCloud
	}
	return maxBodiesDC
}

// ContentQuery selects the pages or blog posts of one space.
type ContentQuery struct {
	SpaceKey string
	// Type is TypePage or TypeBlogPost.
	Type ContentType
	// Status is StatusCurrent (default) or StatusArchived.
	Status ContentStatus
	// WithoutBody leaves Body empty: the listing carries everything else
	// (version, ancestors, labels, restrictions) with larger pages. Fetch the
	// bodies of the items that changed with ListContentByIDs.
	WithoutBody bool
}

// ListContent streams the pages or blog posts of a space with storage body,
// version, ancestors, labels and own read restriction, all from the listing
// calls (Cloud: CQL search with cursor, archived pages from v2; Data Center:
// /rest/api/content with start/limit links). It returns an error, never
// success, if the listing could not be completed.
func (c *Client) ListContent(ctx context.Context, q ContentQuery, fn func(Content) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	if q.SpaceKey == "" || (q.Type != TypePage && q.Type != TypeBlogPost) {
		return fmt.Errorf("ListContent needs a space key and type page or blogpost")
	}
	status := q.Status
	if status == "" {
		status = StatusCurrent
	}
	if c.cfg.Deployment == Cloud && status == StatusArchived {
		if q.Type != TypePage {
			return fmt.Errorf("only pages can be archived on Cloud (v2: blog posts have no archived status)")
		}
		return c.listArchivedCloudPages(ctx, q.SpaceKey, fn)
	}
	expand, limit := contentExpand, c.bodiesMax()
	if q.WithoutBody {
		expand, limit = metadataExpand, maxPlain
	}
	var cl call
	if c.cfg.Deployment == Cloud && status == StatusCurrent {
		// Cloud v1 /content caps start at 15,000; CQL search pages by cursor.
		cql := fmt.Sprintf("space = %s and type = %s", cqlQuote(q.SpaceKey), q.Type)
		cl = c.searchCallExpand(cql, expand, limit)
	} else {
		v := url.Values{
			"spaceKey": {q.SpaceKey}, "type": {string(q.Type)}, "status": {string(status)},
			"expand": {expand}, "limit": {c.pageSize(limit)},
		}
		cl = call{endpoint: "content.list", path: "/rest/api/content?" + v.Encode()}
	}
	cl.spaceKey, cl.prefetch = q.SpaceKey, true
	if c.cfg.Deployment != Cloud || q.Type != TypePage {
		return c.listContent(ctx, cl, q.SpaceKey, fn)
	}
	tree, err := c.newCloudTree(ctx, q.SpaceKey, status)
	if err != nil {
		return err
	}
	return c.listContent(ctx, cl, q.SpaceKey, func(ct Content) error {
		chain, err := tree.chain(ctx, ct.ID)
		if err != nil {
			return err
		}
		ct.setAncestors(chain)
		return fn(ct)
	})
}

func (c *Client) searchCall(cql string) call {
	return c.searchCallExpand(cql, contentExpand, c.bodiesMax())
}

func (c *Client) searchCallExpand(cql, expand string, limit int) call {
	v := url.Values{"cql": {cql}, "expand": {expand}, "limit": {c.pageSize(limit)}}
	return call{endpoint: "content.search", path: "/rest/api/content/search?" + v.Encode()}
}

// maxIDsPerQuery bounds the ids in one CQL "id in (...)" clause, keeping the
// URL short and the result within one page of bodies.
const maxIDsPerQuery = 50

// ListContentByIDs streams the given pages or blog posts with everything
// ListContent returns, bodies included, in CQL searches of up to 50 ids each.
// Ids that no longer exist (or are not current) are left out.
func (c *Client) ListContentByIDs(ctx context.Context, ids []string, fn func(Content) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	for start := 0; start < len(ids); start += maxIDsPerQuery {
		chunk := ids[start:min(start+maxIDsPerQuery, len(ids))]
		quoted := make([]string, len(chunk))
		for i, id := range chunk {
			quoted[i] = cqlQuote(id)
		}
		cql := fmt.Sprintf("id in (%s)", strings.Join(quoted, ","))
		if err := c.listContent(ctx, c.searchCall(cql), "", fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) listContent(ctx context.Context, cl call, spaceKey string, fn func(Content) error) error {
	return list(ctx, c, cl, func(w wireContent, base string) error {
		ct, err := c.content(ctx, w, base, spaceKey)
		if err != nil {
			return err
		}
		return fn(ct)
	})
}

// ChangeQuery selects content modified since a time, via CQL.
type ChangeQuery struct {
	// SpaceKeys limits the search; empty means all spaces.
	SpaceKeys []string
	// Types defaults to pages and blog posts.
	Types []ContentType
	// Since is rounded down to the minute (CQL precision); the caller adds
	// any overlap window.
	Since time.Time
	// Location is the time zone CQL dates are interpreted in (the crawl
	// user's profile zone on Cloud, the server's on DC); default UTC.
	Location *time.Location
}

// ListChangedContent streams content whose lastmodified is at or after
// q.Since, oldest first, with the same fields as ListContent except that on
// Cloud the ancestors are v1's (use ListContent for ACLs). CQL is
// index-backed and may lag writes by minutes.
func (c *Client) ListChangedContent(ctx context.Context, q ChangeQuery, fn func(Content) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	types := q.Types
	if len(types) == 0 {
		types = []ContentType{TypePage, TypeBlogPost}
	}
	ts := make([]string, len(types))
	for i, t := range types {
		ts[i] = string(t)
	}
	cql := fmt.Sprintf("type in (%s) and lastmodified >= %s", strings.Join(ts, ","), cqlQuote(CQLTime(q.Since, q.Location)))
	if len(q.SpaceKeys) > 0 {
		keys := make([]string, len(q.SpaceKeys))
		for i, k := range q.SpaceKeys {
			keys[i] = cqlQuote(k)
		}
		cql = fmt.Sprintf("space in (%s) and %s", strings.Join(keys, ","), cql)
	}
	cql += " order by lastmodified asc"
	return c.listContent(ctx, c.searchCall(cql), "", fn)
}

// CQLTime formats t for a CQL date comparison (minute precision, "yyyy/MM/dd HH:mm").
func CQLTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006/01/02 15:04")
}

// cqlQuote quotes a CQL string literal.
func cqlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// content converts a listed page or blog post, fetching the full read
// restriction only when the embedded one was truncated.
func (c *Client) content(ctx context.Context, w wireContent, base, spaceKey string) (Content, error) {
	if base == "" {
		base = c.site.String()
	}
	ct := Content{
		ID:      string(w.ID),
		Type:    ContentType(w.Type),
		Status:  ContentStatus(w.Status),
		Title:   w.Title,
		Version: w.Version.version(),
		WebURL:  webURL(base, w.Links.WebUI),
	}
	ct.SpaceKey = spaceKey
	if w.Space != nil && w.Space.Key != "" {
		ct.SpaceKey = w.Space.Key
	}
	if w.Body != nil && w.Body.Storage != nil {
		ct.Body, ct.BodyIncluded = string(w.Body.Storage.Value), true
	}
	if w.History != nil {
		ct.Created = w.History.CreatedDate.time()
	}
	// Every ancestor counts, whatever its type: a restricted folder (or
	// whiteboard, database, embed) restricts the pages below it.
	anc := make([]Ancestor, 0, len(w.Ancestors))
	for _, a := range w.Ancestors {
		typ := a.Type
		if typ == "" {
			typ = string(TypePage)
		}
		anc = append(anc, Ancestor{ID: string(a.ID), Type: typ})
	}
	ct.setAncestors(anc)
	if w.Metadata != nil && w.Metadata.Labels != nil {
		for _, l := range w.Metadata.Labels.Results {
			ct.Labels = append(ct.Labels, l.Name)
		}
	}
	if w.Restrictions == nil || w.Restrictions.Read == nil {
		return ct, fmt.Errorf("content %s came without read restrictions; refusing to guess its ACL", ct.ID)
	}
	if w.Restrictions.Read.truncated() {
		r, err := c.ReadRestriction(ctx, ct.ID)
		if err != nil {
			return ct, fmt.Errorf("read restriction of content %s: %w", ct.ID, err)
		}
		ct.ReadRestriction = r
	} else {
		ct.ReadRestriction = w.Restrictions.Read.restriction()
	}
	return ct, nil
}

// restrictionPage is the page size asked of the restriction resource (its
// default and usual cap is 100); maxRestrictionEntries bounds memory.
const (
	restrictionPage       = 100
	maxRestrictionEntries = 1_000_000
)

// ReadRestriction returns the read restriction set on the content item
// itself (not inherited ones), or nil if it has none. An item Confluence does
// not show (404, or 403 on a draft) yields an error matching
// ErrContentUnreadable; any other error must be treated as "deny".
func (c *Client) ReadRestriction(ctx context.Context, contentID string) (*Restriction, error) {
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	out := &Restriction{}
	for start := 0; ; {
		v := url.Values{"expand": {"restrictions.user,restrictions.group"}, "start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(restrictionPage)}}
		cl := call{endpoint: "content.restriction", path: "/rest/api/content/" + url.PathEscape(contentID) + "/restriction/byOperation/read?" + v.Encode()}
		var w wireReadRestriction
		if err := c.doJSON(ctx, cl, &w); err != nil {
			return nil, unreadable(err)
		}
		u, g := w.Restrictions.User, w.Restrictions.Group
		for _, x := range u.Results {
			out.Users = append(out.Users, x.user())
		}
		for _, x := range g.Results {
			out.Groups = append(out.Groups, x.group())
		}
		if !w.truncated() {
			break
		}
		// Users and groups share start: advance by the longer page, which
		// is the server's effective limit whenever either list continues.
		step := max(len(u.Results), len(g.Results))
		if step == 0 {
			return nil, fmt.Errorf("read restriction of %s: the listing says it continues but returned nothing at start %d", contentID, start)
		}
		if start += step; start > maxRestrictionEntries {
			return nil, fmt.Errorf("read restriction of %s: more than %d users or groups", contentID, maxRestrictionEntries)
		}
	}
	if len(out.Users) == 0 && len(out.Groups) == 0 {
		return nil, nil
	}
	return out, nil
}

// ListContentIDs streams the ids and versions of all current pages or blog
// posts of a space without bodies, for deletion detection (Cloud: v2 with
// 250 per call; Data Center: v1 with 200 per call).
func (c *Client) ListContentIDs(ctx context.Context, spaceKey string, typ ContentType, fn func(ContentRef) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	if typ != TypePage && typ != TypeBlogPost {
		return fmt.Errorf("ListContentIDs needs type page or blogpost")
	}
	emit := func(w wireContent, _ string) error {
		ref := ContentRef{ID: string(w.ID), Type: typ, Title: w.Title}
		if w.Version != nil {
			ref.Version = w.Version.Number
		}
		return fn(ref)
	}
	if c.cfg.Deployment == Cloud {
		id, err := c.spaceID(ctx, spaceKey)
		if err != nil {
			return err
		}
		coll := "pages"
		if typ == TypeBlogPost {
			coll = "blogposts"
		}
		v := url.Values{"status": {"current"}, "limit": {c.pageSize(maxV2)}}
		cl := call{endpoint: "v2.space." + coll, spaceKey: spaceKey, path: "/api/v2/spaces/" + url.PathEscape(id) + "/" + coll + "?" + v.Encode()}
		return list(ctx, c, cl, emit)
	}
	v := url.Values{"spaceKey": {spaceKey}, "type": {string(typ)}, "status": {"current"}, "expand": {"version"}, "limit": {c.pageSize(maxPlain)}}
	return list(ctx, c, call{endpoint: "content.list", spaceKey: spaceKey, path: "/rest/api/content?" + v.Encode()}, emit)
}
