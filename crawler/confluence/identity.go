package confluence

import (
	"context"
	"net/url"
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
		v := url.Values{"cql": {"type = user"}, "limit": {c.pageSize(maxPlain)}}
		type hit struct {
			User wireUser `json:"user"`
		}
		return list(ctx, c, call{endpoint: "user.search", path: "/rest/api/search/user?" + v.Encode()}, func(h hit, _ string) error {
			if h.User.AccountID == "" {
				return nil
			}
			return fn(h.User.user())
		})
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
