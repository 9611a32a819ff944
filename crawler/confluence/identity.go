package confluence

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// CurrentUser returns the crawl identity (verified, cached).
func (c *Client) CurrentUser(ctx context.Context) (User, error) { return c.Verify(ctx) }

// ListUsers streams all users (Data Center: /rest/api/user/list; Cloud, which
// has no list-all endpoint: user search with CQL "type = user").
func (c *Client) ListUsers(ctx context.Context, fn func(User) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	if c.cfg.Deployment == Cloud {
		return c.searchUsers(ctx, fn)
	}
	v := url.Values{"limit": {c.pageSize(maxPlain)}}
	return list(ctx, c, call{endpoint: "user.list", path: "/rest/api/user/list?" + v.Encode()}, func(w wireUser, _ string) error {
		return fn(w.user())
	})
}

// ListGroups streams all groups.
func (c *Client) ListGroups(ctx context.Context, fn func(Group) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	v := url.Values{"limit": {c.pageSize(maxPlain)}}
	return list(ctx, c, call{endpoint: "group.list", path: "/rest/api/group?" + v.Encode()}, func(w wireGroup, _ string) error {
		return fn(w.group())
	})
}

// ListGroupMembers streams the direct members of a group (Cloud by group
// id, Data Center by group name).
func (c *Client) ListGroupMembers(ctx context.Context, g Group, fn func(User) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	v := url.Values{"limit": {c.pageSize(maxPlain)}}
	path := "/rest/api/group/" + url.PathEscape(g.Name) + "/member?"
	if c.cfg.Deployment == Cloud {
		path = "/rest/api/group/" + url.PathEscape(g.PrincipalID()) + "/membersByGroupId?"
	}
	return list(ctx, c, call{endpoint: "group.members", path: path + v.Encode()}, func(w wireUser, _ string) error {
		return fn(w.user())
	})
}

// maxUserSearchStart bounds the offset paging of Cloud's user search, so a
// server that never returns an empty page cannot keep a crawl busy forever.
const maxUserSearchStart = 1_000_000

// searchUsers lists Cloud users with GET /rest/api/search/user. Without
// sitePermissionTypeFilter the endpoint lists licensed users only; "all"
// adds guests (external collaborators), who may be granted pages directly
// (Cloud v1 OpenAPI, searchUser). The endpoint pages by start and may carry
// no _links.next (Onyx forces offset paging for it), so this pages by start,
// next link or not, until an empty page or totalSize.
func (c *Client) searchUsers(ctx context.Context, fn func(User) error) error {
	type hit struct {
		User wireUser `json:"user"`
	}
	limit := c.pageSize(maxPlain)
	start := 0
	for {
		v := url.Values{"cql": {"type = user"}, "sitePermissionTypeFilter": {"all"}, "start": {strconv.Itoa(start)}, "limit": {limit}}
		var p struct {
			Results   []hit     `json:"results"`
			TotalSize *int      `json:"totalSize"`
			Links     wireLinks `json:"_links"`
		}
		if err := c.doJSON(ctx, call{endpoint: "user.search", path: "/rest/api/search/user?" + v.Encode()}, &p); err != nil {
			return err
		}
		for _, h := range p.Results {
			if h.User.AccountID == "" {
				continue
			}
			if err := fn(h.User.user()); err != nil {
				return err
			}
		}
		start += len(p.Results)
		switch {
		case len(p.Results) == 0:
			return nil
		case p.Links.Next == "" && p.TotalSize != nil && start >= *p.TotalSize:
			return nil
		case start > maxUserSearchStart:
			return fmt.Errorf("user search: more than %d users; stopping", maxUserSearchStart)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
