package fakeconfluence

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// req is a routed, authenticated request.
type req struct {
	r       *http.Request
	q       url.Values
	rest    string // path relative to the site base, e.g. /rest/api/content
	base    string // site base URL for _links.base
	caller  caller
	gateway bool
}

const tsLayout = "2006-01-02T15:04:05.000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }

type expandSet []string

func parseExpand(s string) expandSet {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// has reports whether p or something below it was expanded.
func (e expandSet) has(p string) bool {
	for _, x := range e {
		x = strings.TrimSpace(x)
		if x == p || strings.HasPrefix(x, p+".") {
			return true
		}
	}
	return false
}

func (s *Server) cloud() bool { return s.opts.Deployment == Cloud }

// renderUser: Cloud v1 OpenAPI schema User (type, accountId, accountType,
// email, publicName, displayName; email may be empty for privacy).
// Data Center: {type:"known", username, userKey, displayName} (DC REST
// reference "User"; a real answer in AtlassianPS/ConfluencePS#96).
func (s *Server) renderUser(id string) map[string]any {
	u, ok := s.st.users[id]
	if !ok {
		if s.cloud() {
			return map[string]any{"type": "unknown", "accountId": id, "displayName": "Unknown user"}
		}
		return map[string]any{"type": "unknown", "userKey": id, "displayName": "Unknown user"}
	}
	if s.cloud() {
		at := "atlassian"
		if u.App {
			at = "app"
		}
		return map[string]any{
			"type": "known", "accountId": u.ID, "accountType": at, "email": u.Email,
			"publicName": u.DisplayName, "displayName": u.DisplayName,
			"_links": map[string]string{"self": "/rest/api/user?accountId=" + url.QueryEscape(u.ID)},
		}
	}
	return map[string]any{
		"type": "known", "username": u.Username, "userKey": u.ID, "displayName": u.DisplayName,
		"_links": map[string]string{"self": "/rest/api/user?key=" + url.QueryEscape(u.ID)},
	}
}

// renderGroup: Cloud v1 OpenAPI schema Group (type, name, id).
// Data Center: {type:"group", name} (DC REST reference "Group").
func (s *Server) renderGroup(name string) map[string]any {
	g, ok := s.st.groups[name]
	if !ok {
		return map[string]any{"type": "group", "name": name}
	}
	if s.cloud() {
		return map[string]any{"type": "group", "name": g.Name, "id": g.ID, "_links": map[string]string{"self": "/rest/api/group/by-id?id=" + g.ID}}
	}
	return map[string]any{"type": "group", "name": g.Name, "_links": map[string]string{"self": "/rest/api/group/" + url.PathEscape(g.Name)}}
}

// renderSpace: Cloud v1 OpenAPI schema Space (id is an int64 there).
// Data Center: DC REST reference "Space"; web links /display/KEY follow the
// DC UI (unverified; used only as URLs).
func (s *Server) renderSpace(sp *Space, base string) map[string]any {
	id, _ := strconv.ParseInt(sp.ID, 10, 64)
	webui := "/spaces/" + sp.Key
	if !s.cloud() {
		webui = "/display/" + sp.Key
	}
	return map[string]any{
		"id": id, "key": sp.Key, "name": sp.Name, "type": sp.Type, "status": sp.Status,
		"_links":      map[string]string{"webui": webui, "self": base + "/rest/api/space/" + sp.Key},
		"_expandable": map[string]string{"metadata": "", "operations": "", "permissions": "", "description": "", "homepage": ""},
	}
}

func slug(s string) string { return url.PathEscape(strings.ReplaceAll(s, " ", "+")) }

func (s *Server) contentWebUI(c *Content) string {
	switch {
	case s.cloud() && c.Type == "blogpost":
		return fmt.Sprintf("/spaces/%s/blog/%s/%s/%s", c.SpaceKey, c.Created.UTC().Format("2006/01/02"), c.ID, slug(c.Title))
	case s.cloud():
		return fmt.Sprintf("/spaces/%s/pages/%s/%s", c.SpaceKey, c.ID, slug(c.Title))
	case c.Type == "blogpost":
		return fmt.Sprintf("/display/%s/%s/%s", c.SpaceKey, c.Created.UTC().Format("2006/01/02"), slug(c.Title))
	default:
		return "/pages/viewpage.action?pageId=" + c.ID
	}
}

// userList: Cloud v1 OpenAPI schema UserArray / ContentRestriction
// restrictions.user (results, start, limit, size).
func (s *Server) userList(ids []string, start, limit int) (map[string]any, bool) {
	end := min(len(ids), start+limit)
	start = min(start, end)
	res := make([]any, 0, end-start)
	for _, id := range ids[start:end] {
		res = append(res, s.renderUser(id))
	}
	m := map[string]any{"results": res, "start": start, "limit": limit, "size": len(res)}
	return m, end < len(ids)
}

func (s *Server) groupList(names []string, start, limit int) (map[string]any, bool) {
	end := min(len(names), start+limit)
	start = min(start, end)
	res := make([]any, 0, end-start)
	for _, n := range names[start:end] {
		res = append(res, s.renderGroup(n))
	}
	m := map[string]any{"results": res, "start": start, "limit": limit, "size": len(res)}
	return m, end < len(names)
}

// Cloud v1 OpenAPI schema Content with its expansions (version: Version;
// history: ContentHistory; ancestors: Content[], root first; body.storage:
// ContentBody; metadata.labels: LabelArray; restrictions.read:
// ContentRestriction). That v1 ancestors name folders and whiteboards (with
// their type) is unverified; the client takes Cloud chains from v2.
// renderContent renders a page or blog post as v1 Content with the requested
// expansions: version{by, when, number}, history{createdBy, createdDate},
// ancestors (root first), body.storage{value, representation},
// metadata.labels, restrictions.read (a ContentRestriction, see
// hRestriction) (Cloud v1 OpenAPI "Content"; DC REST reference "Content
// Resource", expansions as listed there). Timestamps use Confluence's
// ISO-8601 with milliseconds.
func (s *Server) renderContent(c *Content, exp expandSet, base string) map[string]any {
	m := map[string]any{
		"id": c.ID, "type": c.Type, "status": c.Status, "title": c.Title,
		"_links": map[string]string{
			"webui": s.contentWebUI(c), "tinyui": "/x/" + base64.RawURLEncoding.EncodeToString([]byte(c.ID)),
			"self": base + "/rest/api/content/" + c.ID,
		},
	}
	expandable := map[string]string{}
	if sp, ok := s.st.spaces[c.SpaceKey]; ok && exp.has("space") {
		m["space"] = s.renderSpace(sp, base)
	} else {
		expandable["space"] = "/rest/api/space/" + c.SpaceKey
	}
	if exp.has("version") {
		m["version"] = map[string]any{"by": s.renderUser(c.Editor), "when": ts(c.Modified), "number": c.Version, "minorEdit": false, "message": ""}
	} else {
		expandable["version"] = ""
	}
	if exp.has("history") {
		m["history"] = map[string]any{"latest": true, "createdBy": s.renderUser(c.Author), "createdDate": ts(c.Created)}
	}
	if exp.has("ancestors") {
		anc := []any{}
		for _, a := range s.ancestors(c) {
			anc = append(anc, map[string]any{"id": a.ID, "type": a.Type, "status": a.Status, "title": a.Title,
				"_links": map[string]string{"webui": s.contentWebUI(a)}})
		}
		m["ancestors"] = anc
	} else {
		expandable["ancestors"] = ""
	}
	if exp.has("body.storage") {
		m["body"] = map[string]any{"storage": map[string]any{"value": c.Body, "representation": "storage"}}
	} else {
		expandable["body"] = ""
	}
	if exp.has("metadata.labels") {
		res := []any{}
		for i, l := range c.Labels {
			res = append(res, map[string]any{"prefix": "global", "name": l, "id": strconv.Itoa(1000 + i), "label": l})
		}
		m["metadata"] = map[string]any{"labels": map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res)}}
	}
	if exp.has("restrictions.read") {
		lim := s.opts.ExpandedRestrictionCap
		rs := map[string]any{}
		// The embedded ContentRestriction has the shape hRestriction serves.
		path := "/rest/api/content/" + c.ID + "/restriction/byOperation/read"
		if exp.has("restrictions.read.restrictions.user") {
			ul, more := s.userList(c.ReadUsers, 0, lim)
			rs["user"] = withNext(ul, more, path, lim, lim)
		}
		if exp.has("restrictions.read.restrictions.group") {
			gl, more := s.groupList(c.ReadGroups, 0, lim)
			rs["group"] = withNext(gl, more, path, lim, lim)
		}
		// Cloud v1 OpenAPI, ContentRestriction: operation, _expandable and _links are required.
		m["restrictions"] = map[string]any{"read": map[string]any{"operation": "read", "restrictions": rs,
			"_expandable": map[string]string{"content": "/rest/api/content/" + c.ID},
			"_links":      map[string]string{"self": base + "/rest/api/content/" + c.ID + "/restriction/byOperation/read"}}}
	} else {
		expandable["restrictions"] = ""
	}
	if exp.has("children") {
		ch := map[string]any{}
		if exp.has("children.comment") {
			var ids []string
			for _, id := range s.st.commentsOf[c.ID] {
				if cm, ok := s.st.comments[id]; ok && cm.ContainerID == c.ID && cm.ParentID == "" && cm.Status == "current" {
					ids = append(ids, id)
				}
			}
			ch["comment"] = childList(ids, "comment")
		}
		if exp.has("children.attachment") {
			var ids []string
			for _, id := range s.st.attachOf[c.ID] {
				if a, ok := s.st.attachments[id]; ok && a.ContainerID == c.ID && a.Status == "current" {
					ids = append(ids, s.attachmentID(a))
				}
			}
			ch["attachment"] = childList(ids, "attachment")
		}
		m["children"] = ch
	}
	m["_expandable"] = expandable
	return m
}

// contentItem is renderContent for listings, cached (see itemJSON).
func (s *Server) contentItem(c *Content, expand string, base string) json.RawMessage {
	return s.itemJSON("v1\x00"+c.ID+"\x00"+expand+"\x00"+base, func() any {
		return s.renderContent(c, parseExpand(expand), base)
	})
}

// childList renders an embedded children list (first 25, like an expansion).
func childList(ids []string, typ string) map[string]any {
	res := []any{}
	for i, id := range ids {
		if i == 25 {
			break
		}
		res = append(res, map[string]any{"id": id, "type": typ})
	}
	// Cloud v1 OpenAPI, ContentArray: results, size and _links are required.
	m := map[string]any{"results": res, "start": 0, "limit": 25, "size": len(res), "_links": map[string]string{}}
	if len(ids) > 25 {
		m["_links"] = map[string]string{"next": "/rest/api/content/" + typ + "?start=25"}
	}
	return m
}

// Cloud v2 OpenAPI schemas PageBulk / BlogPostBulk.
// renderV2Content renders a page or blog post in Cloud v2 shape.
func (s *Server) renderV2Content(c *Content, withBody bool) map[string]any {
	sp := s.st.spaces[c.SpaceKey]
	m := map[string]any{
		"id": c.ID, "status": c.Status, "title": c.Title, "authorId": c.Author, "ownerId": c.Author,
		"createdAt": ts(c.Created),
		"version":   map[string]any{"createdAt": ts(c.Modified), "message": "", "number": c.Version, "minorEdit": false, "authorId": c.Editor},
		"_links":    map[string]string{"webui": s.contentWebUI(c), "editui": "/pages/resumedraft.action?draftId=" + c.ID, "tinyui": "/x/" + c.ID},
	}
	if sp != nil {
		m["spaceId"] = sp.ID
	}
	if c.Type == "page" {
		// Cloud v2 OpenAPI, PageBulk: parentId and parentType are not
		// nullable, so a root page has neither.
		m["position"] = 0
		if p, ok := s.st.content[c.ParentID]; ok {
			// Cloud v2 OpenAPI, PageBulk.parentType: page, whiteboard,
			// database, embed, folder.
			m["parentId"], m["parentType"] = c.ParentID, p.Type
		}
	}
	if withBody {
		m["body"] = map[string]any{"storage": map[string]any{"representation": "storage", "value": c.Body}}
	} else {
		m["body"] = map[string]any{}
	}
	return m
}

func (s *Server) downloadPath(a *Attachment) string {
	return fmt.Sprintf("/download/attachments/%s/%s?version=%d&modificationDate=%d&api=v2",
		a.ContainerID, url.PathEscape(a.FileName), a.Version, a.Modified.UnixMilli())
}

func (s *Server) attachmentID(a *Attachment) string {
	if s.cloud() {
		return "att" + a.ID
	}
	return a.ID
}

// renderAttachmentV1: Cloud v1 OpenAPI Content of type attachment
// (extensions.mediaType/fileSize/comment, _links.download).
// Data Center: DC REST reference "Child Content › Get attachments" (Elastic
// reads the same fields).
func (s *Server) renderAttachmentV1(a *Attachment, exp expandSet, base string) map[string]any {
	m := map[string]any{
		"id": s.attachmentID(a), "type": "attachment", "status": a.Status, "title": a.FileName,
		"metadata":   map[string]any{"mediaType": a.MediaType, "comment": a.Comment},
		"extensions": map[string]any{"mediaType": a.MediaType, "fileSize": len(a.Data), "comment": a.Comment},
		"_links": map[string]string{
			"webui":    fmt.Sprintf("/pages/viewpageattachments.action?pageId=%s&preview=%s", a.ContainerID, url.QueryEscape("/"+a.ContainerID+"/"+a.ID+"/"+a.FileName)),
			"download": s.downloadPath(a), "self": base + "/rest/api/content/" + s.attachmentID(a),
		},
	}
	if exp.has("version") {
		m["version"] = map[string]any{"by": s.renderUser(a.Author), "when": ts(a.Modified), "number": a.Version, "minorEdit": false}
	}
	if exp.has("history") {
		m["history"] = map[string]any{"latest": true, "createdBy": s.renderUser(a.Author), "createdDate": ts(a.Created)}
	}
	if c, ok := s.st.content[a.ContainerID]; ok && exp.has("container") {
		m["container"] = map[string]any{"id": c.ID, "type": c.Type, "status": c.Status, "title": c.Title}
	}
	return m
}

// renderAttachmentV2: Cloud v2 OpenAPI schema AttachmentBulk.
func (s *Server) renderAttachmentV2(a *Attachment) map[string]any {
	m := map[string]any{
		"id": s.attachmentID(a), "status": a.Status, "title": a.FileName, "createdAt": ts(a.Created),
		"mediaType": a.MediaType, "mediaTypeDescription": "", "comment": a.Comment,
		"fileId": fmt.Sprintf("%08s-0000-4000-8000-000000000000", a.ID), "fileSize": len(a.Data),
		"webuiLink":    fmt.Sprintf("/pages/viewpageattachments.action?pageId=%s&preview=%s", a.ContainerID, url.QueryEscape("/"+a.ContainerID+"/"+a.ID+"/"+a.FileName)),
		"downloadLink": s.downloadPath(a),
		"version":      map[string]any{"createdAt": ts(a.Modified), "message": "", "number": a.Version, "minorEdit": false, "authorId": a.Author},
	}
	if c, ok := s.st.content[a.ContainerID]; ok && c.Type == "blogpost" {
		m["blogPostId"] = a.ContainerID
	} else {
		m["pageId"] = a.ContainerID
	}
	m["_links"] = map[string]string{"webui": m["webuiLink"].(string), "download": m["downloadLink"].(string)}
	return m
}

// renderComment: Cloud v1 OpenAPI Content of type comment
// (extensions.location, container, ancestors = parent comments).
// Data Center: DC REST reference "Child Content › Get comments".
func (s *Server) renderComment(c *Comment, exp expandSet, base string) map[string]any {
	container := s.st.content[c.ContainerID]
	title := "Re: "
	webui := ""
	if container != nil {
		title += container.Title
		webui = s.contentWebUI(container)
	}
	sep := "?"
	if strings.Contains(webui, "?") {
		sep = "&"
	}
	m := map[string]any{
		"id": c.ID, "type": "comment", "status": c.Status, "title": title,
		"extensions": map[string]any{"location": c.Location},
		"_links":     map[string]string{"webui": webui + sep + "focusedCommentId=" + c.ID + "#comment-" + c.ID, "self": base + "/rest/api/content/" + c.ID},
	}
	if exp.has("body.storage") {
		m["body"] = map[string]any{"storage": map[string]any{"value": c.Body, "representation": "storage"}}
	}
	if exp.has("version") {
		m["version"] = map[string]any{"by": s.renderUser(c.Author), "when": ts(c.Modified), "number": c.Version, "minorEdit": false}
	}
	if exp.has("history") {
		m["history"] = map[string]any{"latest": true, "createdBy": s.renderUser(c.Author), "createdDate": ts(c.Created)}
	}
	if exp.has("container") && container != nil {
		m["container"] = map[string]any{"id": container.ID, "type": container.Type, "status": container.Status, "title": container.Title}
	}
	if exp.has("ancestors") {
		var chain []any
		for p := c.ParentID; p != ""; {
			pc, ok := s.st.comments[p]
			if !ok {
				break
			}
			chain = append([]any{map[string]any{"id": pc.ID, "type": "comment", "status": pc.Status, "title": title}}, chain...)
			p = pc.ParentID
		}
		if chain == nil {
			chain = []any{}
		}
		m["ancestors"] = chain
	}
	if exp.has("children.comment") {
		var kids []any
		for _, id := range s.st.commentsOf[c.ContainerID] {
			if k, ok := s.st.comments[id]; ok && k.ParentID == c.ID && k.Status == "current" {
				kids = append(kids, map[string]any{"id": k.ID, "type": "comment", "status": k.Status, "title": title})
			}
		}
		if kids == nil {
			kids = []any{}
		}
		m["children"] = map[string]any{"comment": map[string]any{"results": kids, "start": 0, "limit": 25, "size": len(kids), "_links": map[string]string{}}}
	}
	return m
}

// ---- pagination ----

func intParam(q url.Values, name string, def int) int {
	if v, err := strconv.Atoi(q.Get(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// limitParam reads limit (default 25) and applies the server cap silently.
func limitParam(q url.Values, maxLimit int) int {
	l := intParam(q, "limit", 25)
	if l <= 0 {
		l = 25
	}
	return min(l, maxLimit)
}

// Cloud v1 OpenAPI ContentArray/SpaceArray/GroupArrayWithLinks/UserArray:
// results, start, limit, size, _links{base, context, next}.
// v1Page answers a start/limit listing with _links.next built from the
// request's own query (as Confluence does): {results, start, limit, size,
// _links{base, context, self, next}} (Cloud v1 OpenAPI schemas ContentArray,
// GroupArrayWithLinks; DC REST reference "PageResponse"). Data Center quirks:
//   - the next link advances start by the REQUESTED limit even when the cap
//     returned fewer items, so a client following it skips items (Onyx
//     #4129, CONFSERVER-95272/95312 as cited by Onyx PR #11291);
//   - a full last page still carries a next link, past the real end, whose
//     page is empty (CONFSERVER-95396, as reported in issue 11).
func (s *Server) v1Page(w http.ResponseWriter, rq req, total int, maxLimit int, item func(i int) any) {
	start := intParam(rq.q, "start", 0)
	requested := intParam(rq.q, "limit", 25)
	if requested <= 0 {
		requested = 25
	}
	limit := min(requested, maxLimit)
	end := min(total, start+limit)
	results := make([]any, 0, max(0, end-start))
	for i := start; i < end; i++ {
		results = append(results, item(i))
	}
	links := map[string]string{"base": rq.base, "context": s.opts.ContextPath, "self": rq.base + rq.rest}
	nextStart, nextLimit := end, limit
	pastEnd := false
	if !s.cloud() {
		nextStart, nextLimit = start+requested, requested
		pastEnd = len(results) > 0 && len(results) == limit && end == total
	}
	if end < total || pastEnd {
		nq := cloneValues(rq.q)
		nq.Set("start", strconv.Itoa(nextStart))
		nq.Set("limit", strconv.Itoa(nextLimit))
		nq.Set("next", "true")
		links["next"] = rq.rest + "?" + nq.Encode()
	}
	writeList(w, results, map[string]any{"start": start, "limit": limit, "size": len(results), "_links": links})
}

// Cloud v1 OpenAPI searchContentByCQL (ContentArray, cursor in
// _links.next) and Cloud v2 MultiEntityResult (_links.next plus the Link
// header, site-relative /wiki/api/v2/... links).
// cursorPage answers a cursor listing (Cloud CQL and v2). v2 links are
// site-relative (/wiki/api/v2/...), v1 links base-relative.
func (s *Server) cursorPage(w http.ResponseWriter, rq req, total int, maxLimit int, v2 bool, item func(i int) any) {
	start := 0
	if c := rq.q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "pos:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "pos:") {
			writeError(w, http.StatusBadRequest, "invalid cursor")
			return
		}
		start = n
	}
	limit := limitParam(rq.q, maxLimit)
	end := min(total, start+limit)
	results := make([]any, 0, max(0, end-start))
	for i := start; i < end; i++ {
		results = append(results, item(i))
	}
	links := map[string]string{"base": rq.base}
	if end < total {
		nq := cloneValues(rq.q)
		nq.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte("pos:"+strconv.Itoa(end))))
		nq.Set("limit", strconv.Itoa(limit))
		next := rq.rest + "?" + nq.Encode()
		if v2 {
			next = s.opts.ContextPath + next
			w.Header().Set("Link", "<"+next+`>; rel="next"`)
		} else {
			nq.Set("next", "true")
			next = rq.rest + "?" + nq.Encode()
		}
		links["next"] = next
	}
	if v2 {
		writeList(w, results, map[string]any{"_links": links})
		return
	}
	links["context"] = s.opts.ContextPath
	writeList(w, results, map[string]any{"start": start, "limit": limit, "size": len(results), "totalSize": total, "_links": links})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if strings.HasPrefix(k, ":") {
			continue // route parameters
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}
