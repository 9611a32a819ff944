package confluence

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

const commentExpand = "body.storage,version,history,extensions.location,ancestors,container"

// ListComments streams the footer and inline comments of a page or blog post,
// including replies. Data Center returns replies in the same listing
// (depth=all); Cloud returns top-level comments whose reply counts come with
// the listing, and replies are listed only for comments that have any.
func (c *Client) ListComments(ctx context.Context, containerID string, fn func(Comment) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	return c.listComments(ctx, containerID, "", fn)
}

func (c *Client) listComments(ctx context.Context, id, parentID string, fn func(Comment) error) error {
	v := url.Values{"location": {"footer", "inline", "resolved"}, "limit": {c.pageSize(c.bodiesMax())}}
	if c.cfg.Deployment == DataCenter {
		v.Set("depth", "all")
		v.Set("expand", commentExpand)
	} else {
		v.Set("expand", commentExpand+",children.comment")
	}
	cl := call{endpoint: "content.comments", path: "/rest/api/content/" + url.PathEscape(id) + "/child/comment?" + v.Encode()}
	var withReplies []string
	err := list(ctx, c, cl, func(w wireContent, base string) error {
		cm := c.comment(w, base, parentID)
		if w.Children != nil && w.Children.Comment != nil && (w.Children.Comment.Size > 0 || len(w.Children.Comment.Results) > 0) {
			withReplies = append(withReplies, cm.ID)
		}
		return fn(cm)
	})
	if err != nil {
		return err
	}
	for _, cid := range withReplies {
		if err := c.listComments(ctx, cid, cid, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) comment(w wireContent, base, parentID string) Comment {
	if base == "" {
		base = c.site.String()
	}
	cm := Comment{
		ID: string(w.ID), Title: w.Title, Version: w.Version.version(),
		WebURL: webURL(base, w.Links.WebUI), ParentID: parentID, Location: CommentFooter,
	}
	if w.Body != nil && w.Body.Storage != nil {
		cm.Body = string(w.Body.Storage.Value)
	}
	if w.Extensions != nil && w.Extensions.Location != "" {
		cm.Location = CommentLocation(w.Extensions.Location)
	}
	if w.Container != nil {
		cm.ContainerID, cm.ContainerType = string(w.Container.ID), ContentType(w.Container.Type)
	}
	if w.History != nil {
		cm.Created = w.History.CreatedDate.time()
		if w.History.CreatedBy != nil {
			cm.Author = w.History.CreatedBy.user()
		}
	}
	if cm.Author.PrincipalID() == "" {
		cm.Author = cm.Version.By
	}
	// Ancestors of a comment are its parent comments, outermost first.
	for i := len(w.Ancestors) - 1; i >= 0 && cm.ParentID == ""; i-- {
		if w.Ancestors[i].Type == "comment" {
			cm.ParentID = string(w.Ancestors[i].ID)
		}
	}
	return cm
}

// ListAttachments streams the current attachments of a page or blog post
// (Cloud: v2, 250 per call; Data Center: v1 child/attachment).
func (c *Client) ListAttachments(ctx context.Context, containerID string, containerType ContentType, fn func(Attachment) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	if c.cfg.Deployment == Cloud {
		coll := "pages"
		if containerType == TypeBlogPost {
			coll = "blogposts"
		}
		v := url.Values{"status": {"current"}, "limit": {c.pageSize(maxV2)}}
		cl := call{endpoint: "v2.attachments", path: "/api/v2/" + coll + "/" + url.PathEscape(containerID) + "/attachments?" + v.Encode()}
		return list(ctx, c, cl, func(w wireContent, _ string) error {
			a := Attachment{
				ID: string(w.ID), ContainerID: containerID, ContainerType: containerType,
				FileName: w.Title, MediaType: w.MediaType, Size: w.FileSize, Comment: w.Comment,
				Version: w.Version.version(), DownloadPath: w.DownloadLink, Created: w.CreatedAt.time(),
			}
			if a.DownloadPath == "" {
				a.DownloadPath = w.Links.Download
			}
			a.WebURL = webURL(c.site.String(), firstNonEmpty(w.WebUILink, w.Links.WebUI))
			return fn(a)
		})
	}
	v := url.Values{"expand": {"version,container,history"}, "limit": {c.pageSize(maxPlain)}}
	cl := call{endpoint: "content.attachments", path: "/rest/api/content/" + url.PathEscape(containerID) + "/child/attachment?" + v.Encode()}
	return list(ctx, c, cl, func(w wireContent, base string) error {
		return fn(c.v1Attachment(w, base, containerID, containerType))
	})
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// DownloadAttachment streams an attachment's bytes; the caller must close the
// reader. Redirects are followed, and credentials are dropped when a
// redirect leaves the Confluence host. Cloud uses the documented v1 download
// route (which also works through the OAuth gateway); Data Center the
// attachment's download link.
func (c *Client) DownloadAttachment(ctx context.Context, a Attachment) (io.ReadCloser, error) {
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	cl := call{endpoint: "attachment.download"}
	if c.cfg.Deployment == Cloud {
		cl.path = "/rest/api/content/" + url.PathEscape(a.ContainerID) + "/child/attachment/" + url.PathEscape(a.ID) + "/download"
	} else {
		if a.DownloadPath == "" {
			return nil, fmt.Errorf("attachment %s has no download link", a.ID)
		}
		u, err := url.Parse(c.site.String() + "/" + strings.TrimLeft(a.DownloadPath, "/"))
		if err != nil {
			return nil, fmt.Errorf("attachment %s download link: %w", a.ID, err)
		}
		cl.abs = u
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ListSpaceComments streams every comment (footer, inline and replies) on
// the current pages and blog posts of a space with one CQL listing, about
// 50 comments per call, instead of one call per container.
func (c *Client) ListSpaceComments(ctx context.Context, spaceKey string, fn func(Comment) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	v := url.Values{
		"cql":    {fmt.Sprintf("space = %s and type = comment", cqlQuote(spaceKey))},
		"expand": {commentExpand}, "limit": {c.pageSize(c.bodiesMax())},
	}
	cl := call{endpoint: "content.search", spaceKey: spaceKey, path: "/rest/api/content/search?" + v.Encode(), prefetch: true}
	return list(ctx, c, cl, func(w wireContent, base string) error {
		return fn(c.comment(w, base, ""))
	})
}

// ListSpaceAttachments streams every current attachment of the pages and
// blog posts of a space with one CQL listing (no bodies, so large pages).
func (c *Client) ListSpaceAttachments(ctx context.Context, spaceKey string, fn func(Attachment) error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	v := url.Values{
		"cql":    {fmt.Sprintf("space = %s and type = attachment", cqlQuote(spaceKey))},
		"expand": {"version,container,history"}, "limit": {c.pageSize(maxPlain)},
	}
	cl := call{endpoint: "content.search", spaceKey: spaceKey, path: "/rest/api/content/search?" + v.Encode(), prefetch: true}
	return list(ctx, c, cl, func(w wireContent, base string) error {
		a := c.v1Attachment(w, base, "", "")
		if w.Container != nil {
			a.ContainerID, a.ContainerType = string(w.Container.ID), ContentType(w.Container.Type)
		}
		return fn(a)
	})
}

// v1Attachment converts a v1 attachment item.
func (c *Client) v1Attachment(w wireContent, base, containerID string, containerType ContentType) Attachment {
	if base == "" {
		base = c.site.String()
	}
	a := Attachment{
		ID: string(w.ID), ContainerID: containerID, ContainerType: containerType, FileName: w.Title,
		Version: w.Version.version(), DownloadPath: w.Links.Download, WebURL: webURL(base, w.Links.WebUI),
	}
	if w.Extensions != nil {
		a.MediaType, a.Size, a.Comment = w.Extensions.MediaType, w.Extensions.FileSize, w.Extensions.Comment
	}
	if a.MediaType == "" && w.Metadata != nil {
		a.MediaType = w.Metadata.MediaType
	}
	if w.History != nil {
		a.Created = w.History.CreatedDate.time()
	}
	return a
}
