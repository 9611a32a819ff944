package fakeconfluence

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Handler serves the fake (site API, OAuth gateway and token endpoint; and
// /media/ downloads when the server was built with NewUnstarted).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

type handler func(w http.ResponseWriter, rq req)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	ctx := s.opts.ContextPath
	var (
		rest    string
		gateway bool
	)
	gw := "/ex/confluence/" + s.opts.CloudID + "/wiki"
	switch {
	case strings.HasPrefix(p, "/media/"):
		s.serveMediaPath(w, r, strings.TrimPrefix(p, "/media"), false)
		return
	case s.cloud() && p == "/_edge/tenant_info":
		// {"cloudId": ...}: Atlassian support KB "Retrieve my Atlassian
		// site's Cloud ID"; not in the REST reference.
		s.count("tenant_info")
		writeJSON(w, http.StatusOK, map[string]string{"cloudId": s.opts.CloudID})
		return
	case s.cloud() && p == "/oauth/token", !s.cloud() && p == ctx+"/rest/oauth2/latest/token":
		s.count("oauth.token")
		if f, lat := s.fault("oauth.token", p, ""); applyFault(w, r, f, lat) {
			return
		}
		s.serveToken(w, r)
		return
	case s.cloud() && strings.HasPrefix(p, gw+"/"):
		rest, gateway = strings.TrimPrefix(p, gw), true
	case strings.HasPrefix(p, ctx+"/"):
		rest = strings.TrimPrefix(p, ctx)
	default:
		s.count("unknown")
		writeError(w, http.StatusNotFound, "no such page")
		return
	}
	endpoint, h, params := s.route(r.Method, rest)
	s.count(endpoint)
	if f, lat := s.fault(endpoint, p, queryOf(r)); applyFault(w, r, f, lat) {
		return
	}
	if s.rateLimited(w) {
		return
	}
	if !s.cloud() && strings.Contains(strings.ToLower(rest), "%2f") {
		// Group names containing "/" break DC member listing (reported by
		// Onyx). The status is unverified: Tomcat's default
		// encodedSolidusHandling=reject answers 400 to an encoded slash.
		writeError(w, http.StatusBadRequest, "Invalid URI")
		return
	}
	if h == nil {
		writeError(w, http.StatusNotFound, "null for uri: "+r.URL.Path)
		return
	}
	c, status := s.authenticate(r, gateway)
	if status != 0 {
		msg := "Current user not permitted to use Confluence"
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Protected"`)
			msg = "Client must be authenticated to access this resource."
		}
		writeError(w, status, msg)
		return
	}
	s.identify(w, c)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rq := req{r: r, q: r.URL.Query(), rest: rest, base: scheme + "://" + r.Host + ctx, caller: c, gateway: gateway}
	for k, v := range params {
		rq.q.Set(":"+k, v)
	}
	if r.Method == http.MethodPost {
		h(w, rq) // JSON-RPC takes the lock itself after reading the body
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	h(w, rq)
}

// route maps a path below the site base to an endpoint name and handler.
func (s *Server) route(method, rest string) (string, handler, map[string]string) {
	seg := strings.Split(strings.Trim(rest, "/"), "/")
	for i := range seg {
		if u, err := url.PathUnescape(seg[i]); err == nil {
			seg[i] = u
		}
	}
	match := func(pattern string) (map[string]string, bool) {
		ps := strings.Split(pattern, "/")
		if len(ps) != len(seg) {
			return nil, false
		}
		out := map[string]string{}
		for i, p := range ps {
			if strings.HasPrefix(p, "{") {
				out[strings.Trim(p, "{}")] = seg[i]
			} else if p != seg[i] {
				return nil, false
			}
		}
		return out, true
	}
	type rt struct {
		method, pattern, name string
		h                     handler
		cloud, dc             bool
	}
	routes := []rt{
		{"GET", "rest/api/user/current", "user.current", s.hUserCurrent, true, true},
		{"GET", "rest/api/user", "user.get", s.hUserGet, true, true},
		{"GET", "rest/api/user/list", "user.list", s.hUserList, false, true},
		{"GET", "rest/api/search/user", "user.search", s.hUserSearch, true, false},
		{"GET", "rest/api/group", "group.list", s.hGroupList, true, true},
		{"GET", "rest/api/group/{group}/membersByGroupId", "group.members", s.hGroupMembers, true, false},
		{"GET", "rest/api/group/{group}/member", "group.members", s.hGroupMembers, false, true},
		{"GET", "rest/api/space", "space.list", s.hSpaceList, true, true},
		{"GET", "rest/api/space/{key}", "space.get", s.hSpaceGet, true, true},
		{"GET", "rest/api/space/{key}/permissions", "space.permissions", s.hDCSpacePerms, false, true},
		{"GET", "rest/api/space/{key}/permissions/anonymous", "space.permissions.anonymous", s.hDCSpacePermsAnon, false, true},
		{"POST", "rpc/json-rpc/confluenceservice-v2", "jsonrpc", s.hJSONRPC, false, true},
		{"GET", "rest/api/content", "content.list", s.hContentList, true, true},
		{"GET", "rest/api/content/search", "content.search", s.hContentSearch, true, true},
		{"GET", "rest/api/content/{id}", "content.get", s.hContentGet, true, true},
		{"GET", "rest/api/content/{id}/restriction/byOperation/read", "content.restriction", s.hRestriction, true, true},
		{"GET", "rest/api/content/{id}/child/comment", "content.comments", s.hComments, true, true},
		{"GET", "rest/api/content/{id}/child/attachment", "content.attachments", s.hAttachmentsV1, true, true},
		{"GET", "rest/api/content/{id}/child/attachment/{att}/download", "attachment.download", s.hAttachmentDownload, true, false},
		{"GET", "download/attachments/{id}/{file}", "download", s.hDownload, true, true},
		{"GET", "api/v2/spaces/{id}/pages", "v2.space.pages", s.hV2SpaceContent("page"), true, false},
		{"GET", "api/v2/spaces/{id}/blogposts", "v2.space.blogposts", s.hV2SpaceContent("blogpost"), true, false},
		{"GET", "api/v2/pages/{id}/attachments", "v2.attachments", s.hV2Attachments, true, false},
		{"GET", "api/v2/pages/{id}/ancestors", "v2.page.ancestors", s.hV2Ancestors, true, false},
		{"GET", "api/v2/pages/{id}/labels", "v2.page.labels", s.hV2Labels, true, false},
		{"GET", "api/v2/blogposts/{id}/attachments", "v2.attachments", s.hV2Attachments, true, false},
	}
	for _, r := range routes {
		if (s.cloud() && !r.cloud) || (!s.cloud() && !r.dc) {
			continue
		}
		if p, ok := match(r.pattern); ok {
			if r.method != method {
				return r.name, nil, nil
			}
			return r.name, r.h, p
		}
	}
	return "unknown", nil, nil
}

// ---- visibility ----

func (s *Server) spaceVisible(rq req, key string) bool {
	sp, ok := s.st.spaces[key]
	return ok && (!rq.caller.anonymous || sp.Anonymous)
}

// ---- users & groups ----

// hUserCurrent: Cloud v1 OpenAPI getCurrentUser (User); DC answers
// anonymous callers with type "anonymous" (CONFSERVER-98199).
// Data Center: DC REST reference "User › Get current user".
func (s *Server) hUserCurrent(w http.ResponseWriter, rq req) {
	if rq.caller.anonymous {
		writeJSON(w, http.StatusOK, map[string]any{"type": "anonymous", "displayName": "Anonymous", "_links": map[string]string{"base": rq.base}})
		return
	}
	writeJSON(w, http.StatusOK, s.renderUser(rq.caller.user.ID))
}

// hUserGet serves GET /rest/api/user?username=|key=|accountId= (same sources).
func (s *Server) hUserGet(w http.ResponseWriter, rq req) {
	for _, id := range s.st.userOrder {
		u := s.st.users[id]
		if (rq.q.Get("username") != "" && rq.q.Get("username") == u.Username) || rq.q.Get("key") == u.ID || rq.q.Get("accountId") == u.ID {
			writeJSON(w, http.StatusOK, s.renderUser(id))
			return
		}
	}
	writeError(w, http.StatusNotFound, "user not found")
}

// hUserList serves DC GET /rest/api/user/list (DC REST reference "User ›
// Get registered users", start/limit; the cap of 200 is unverified, and the
// client follows next links whatever the cap).
func (s *Server) hUserList(w http.ResponseWriter, rq req) {
	ids := s.st.userOrder
	s.v1Page(w, rq, len(ids), 200, func(i int) any { return s.renderUser(ids[i]) })
}

// hUserSearch is Cloud's GET /wiki/rest/api/search/user (Cloud v1 OpenAPI,
// operation searchUser, response SearchPageResponseSearchResult). Guests
// are left out unless sitePermissionTypeFilter says otherwise ("none"
// (default): licensed users; "externalCollaborator": guests; "all"). It
// pages by start/limit and, as Onyx reports (it forces offset paging for
// this endpoint), carries no _links.next; the 200 cap is unverified.
func (s *Server) hUserSearch(w http.ResponseWriter, rq req) {
	cql := strings.ReplaceAll(rq.q.Get("cql"), " ", "")
	if cql != "type=user" && cql != "type=\"user\"" {
		writeError(w, http.StatusBadRequest, "The fake only supports cql=type=user")
		return
	}
	filter := rq.q.Get("sitePermissionTypeFilter")
	var ids []string
	for _, id := range s.st.userOrder {
		g := s.st.users[id].Guest
		switch filter {
		case "", "none":
			if g {
				continue
			}
		case "externalCollaborator":
			if !g {
				continue
			}
		case "all":
		default:
			writeError(w, http.StatusBadRequest, "sitePermissionTypeFilter must be all, externalCollaborator or none")
			return
		}
		ids = append(ids, id)
	}
	start := intParam(rq.q, "start", 0)
	limit := limitParam(rq.q, 200)
	end := min(len(ids), start+limit)
	results := []any{}
	for i := start; i < end; i++ {
		u := s.st.users[ids[i]]
		// Cloud v1 OpenAPI, SearchResult: breadcrumbs, entityType, excerpt,
		// iconCssClass, lastModified, title and url are required.
		results = append(results, map[string]any{"user": s.renderUser(u.ID), "title": u.DisplayName, "excerpt": "", "url": "/people/" + u.ID,
			"entityType": "user", "breadcrumbs": []any{}, "iconCssClass": "aui-icon content-type-profile", "lastModified": ts(s.now())})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"results": results, "start": start, "limit": limit, "size": len(results), "totalSize": len(ids),
		"cqlQuery": rq.q.Get("cql"), "searchDuration": 1,
		"_links": map[string]string{"base": rq.base, "context": s.opts.ContextPath},
	})
}

// unreadableOnCloud answers, and reports true, when Cloud would not show the
// restriction of c: someone else's draft gets 403 with the draft permission
// key (as recorded in Onyx's CONFCLOUD-77618 tests), trashed content 404 with
// CONFCLOUD-76424's message.
func (s *Server) unreadableOnCloud(w http.ResponseWriter, rq req, c *Content) bool {
	switch {
	case c.Status == "draft" && (rq.caller.user == nil || rq.caller.user.ID != c.Author):
		writeJSON(w, http.StatusForbidden, map[string]any{"statusCode": 403, "message": "confluence.user.view.draft.permission"})
		return true
	case c.Status == "trashed":
		writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "message": "Cannot find content. Outdated version/old_draft/trashed? Please provide valid ContentId."})
		return true
	}
	return false
}

// v2Page looks up the page named by the path's {id} for the v2 page
// endpoints, answering 404 as they do for an id that is not a page the
// caller can see.
func (s *Server) v2Page(w http.ResponseWriter, rq req) (*Content, bool) {
	c, ok := s.st.content[rq.q.Get(":id")]
	if !ok || c.Type != "page" || !s.spaceVisible(rq, c.SpaceKey) {
		writeError(w, http.StatusNotFound, "Page not found")
		return nil, false
	}
	return c, true
}

// hV2Ancestors is GET /wiki/api/v2/pages/{id}/ancestors (Cloud v2 OpenAPI,
// operation getPageAncestors, response MultiEntityResult<Ancestor>): all
// ancestors of every type, top to bottom; a limit that truncates keeps the
// closest ones, and the caller asks again for the first one's ancestors.
func (s *Server) hV2Ancestors(w http.ResponseWriter, rq req) {
	c, ok := s.v2Page(w, rq)
	if !ok {
		return
	}
	anc := s.ancestors(c)
	limit := limitParam(rq.q, 250)
	if len(anc) > limit {
		anc = anc[len(anc)-limit:]
	}
	res := []any{}
	for _, a := range anc {
		res = append(res, map[string]any{"id": a.ID, "type": a.Type})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

// dcOAuthForbiddenGroups answers the DC group resources for OAuth 2.0 apps:
// "Forge and OAuth2 apps cannot access this REST resource" (DC REST
// reference, Group, from v9.2.3 per issue 11; the status is unverified, 403
// here). It reports whether it answered.
func (s *Server) dcOAuthForbiddenGroups(w http.ResponseWriter, rq req) bool {
	if s.cloud() || !rq.caller.oauth || !s.dcAtLeast(9, 2, 3) {
		return false
	}
	writeError(w, http.StatusForbidden, "OAuth 2.0 apps cannot access this REST resource")
	return true
}

// hGroupList: Cloud v1 OpenAPI getGroups (GroupArrayWithLinks, limit 200).
// Data Center: DC REST reference "Group › Get groups".
func (s *Server) hGroupList(w http.ResponseWriter, rq req) {
	if s.dcOAuthForbiddenGroups(w, rq) {
		return
	}
	names := s.st.groupOrder
	s.v1Page(w, rq, len(names), 200, func(i int) any { return s.renderGroup(names[i]) })
}

// hGroupMembers: Cloud v1 OpenAPI getGroupMembersByGroupId (UserArray, limit 200).
// Data Center: /rest/api/group/{groupName}/member (DC REST reference "Group ›
// Get members of group").
func (s *Server) hGroupMembers(w http.ResponseWriter, rq req) {
	if s.dcOAuthForbiddenGroups(w, rq) {
		return
	}
	key := rq.q.Get(":group")
	var g *Group
	for _, n := range s.st.groupOrder {
		if cand := s.st.groups[n]; (s.cloud() && cand.ID == key) || (!s.cloud() && cand.Name == key) {
			g = cand
		}
	}
	if g == nil {
		writeError(w, http.StatusNotFound, "group not found")
		return
	}
	members := g.Members
	s.v1Page(w, rq, len(members), 200, func(i int) any { return s.renderUser(members[i]) })
}

// ---- spaces ----

// hSpaceList: Cloud v1 OpenAPI getSpaces (SpaceArray; status current|archived).
// Data Center: DC REST reference "Space › Get spaces"; expand=permissions
// answers HTTP 500 (CONFSERVER-99908, cited by Elastic); the client never asks it on DC.
func (s *Server) hSpaceList(w http.ResponseWriter, rq req) {
	if parseExpand(rq.q.Get("expand")).has("permissions") && !s.cloud() {
		writeError(w, http.StatusInternalServerError, "java.lang.NullPointerException (CONFSERVER-99908)")
		return
	}
	status := rq.q.Get("status")
	if status == "" {
		status = "current"
	}
	keys := rq.q["spaceKey"]
	var list []*Space
	for _, k := range s.st.spaceOrder {
		sp := s.st.spaces[k]
		if !s.spaceVisible(rq, k) || sp.Status != status || (rq.q.Get("type") != "" && sp.Type != rq.q.Get("type")) {
			continue
		}
		if len(keys) > 0 && !slices.Contains(keys, sp.Key) {
			continue
		}
		list = append(list, sp)
	}
	s.v1Page(w, rq, len(list), 250, func(i int) any { return s.renderSpace(list[i], rq.base) })
}

// hSpaceGet: Cloud v1 OpenAPI getSpace (Space); expand=permissions gives
// SpacePermission items {operation{operation,targetType}, subjects{user,
// group}, anonymousAccess, unlicensedAccess}.
// Data Center: DC REST reference "Space › Get space"; expand=permissions is
// a 500 there (CONFSERVER-99908).
func (s *Server) hSpaceGet(w http.ResponseWriter, rq req) {
	key := rq.q.Get(":key")
	if !s.spaceVisible(rq, key) {
		writeError(w, http.StatusNotFound, "No space with key : "+key)
		return
	}
	sp := s.st.spaces[key]
	m := s.renderSpace(sp, rq.base)
	if parseExpand(rq.q.Get("expand")).has("permissions") {
		if !s.cloud() {
			writeError(w, http.StatusInternalServerError, "java.lang.NullPointerException (CONFSERVER-99908)")
			return
		}
		read := map[string]string{"operation": "read", "targetType": "space"}
		perms := []any{}
		for _, u := range sp.ViewUsers {
			ul, _ := s.userList([]string{u}, 0, 1)
			perms = append(perms, map[string]any{"operation": read, "subjects": map[string]any{"user": ul}, "anonymousAccess": false, "unlicensedAccess": false})
			// A non-read operation the client must ignore.
			perms = append(perms, map[string]any{"operation": map[string]string{"operation": "create", "targetType": "page"}, "subjects": map[string]any{"user": ul}, "anonymousAccess": false, "unlicensedAccess": false})
		}
		for _, g := range sp.ViewGroups {
			gl, _ := s.groupList([]string{g}, 0, 1)
			perms = append(perms, map[string]any{"operation": read, "subjects": map[string]any{"group": gl}, "anonymousAccess": false, "unlicensedAccess": false})
		}
		if sp.Anonymous {
			perms = append(perms, map[string]any{"operation": read, "subjects": map[string]any{}, "anonymousAccess": true, "unlicensedAccess": false})
		}
		m["permissions"] = perms
	}
	writeJSON(w, http.StatusOK, m)
}

// dcHasPermAPI: /rest/api/space/{key}/permissions exists from DC 9.1
// (CONFSERVER-78176 as cited by Onyx; DC REST reference v9.1).
func (s *Server) dcHasPermAPI() bool { return s.dcAtLeast(9, 1, 0) }

// dcAtLeast compares the imitated Data Center version with maj.minor.patch.
func (s *Server) dcAtLeast(maj, minor, patch int) bool {
	var v [3]int
	for i, p := range strings.SplitN(s.opts.DCVersion, ".", 3) {
		v[i], _ = strconv.Atoi(p)
	}
	for i, want := range [3]int{maj, minor, patch} {
		if v[i] != want {
			return v[i] > want
		}
	}
	return true
}

// hDCSpacePerms serves GET /rest/api/space/{spaceKey}/permissions (Data
// Center 9.1+). Source: Atlassian DC REST reference v9.1–v10.x, "Space
// Permissions › Get all space permissions": array<SpacePermission>; schema
// SpacePermission {operation: OperationDescription {targetType, operationKey},
// subject, spaceKey, spaceId (integer)} in the npm package
// @atlassian-dc-mcp/confluence (generated from Atlassian's DC OpenAPI);
// subject {type:"user", userKey} / {type:"group", name} as quoted from a real
// server in CONFSERVER-100505. displayName on subjects: per the reference
// as summarised in issue 11 (unverified; the client does not read it).
//
// Quirks: callers without admin rights get HTTP 500 (CONFSERVER-99908, cited
// by Onyx and Elastic); OAuth 2.0 apps cannot call it (DC REST reference
// v10.1: "Forge and OAuth2 apps cannot access this REST resource"; the
// status they get is unverified, 403 here).
func (s *Server) hDCSpacePerms(w http.ResponseWriter, rq req) {
	key := rq.q.Get(":key")
	if !s.dcSpacePermsAllowed(w, rq, key) {
		return
	}
	sp := s.st.spaces[key]
	out := []any{}
	for _, u := range sp.ViewUsers {
		out = append(out, s.dcSpacePermission(sp, s.dcUserSubject(u), "read", "space"))
		// A non-read operation the client must ignore.
		out = append(out, s.dcSpacePermission(sp, s.dcUserSubject(u), "create", "page"))
	}
	for _, g := range sp.ViewGroups {
		out = append(out, s.dcSpacePermission(sp, map[string]any{"type": "group", "name": g, "displayName": g}, "read", "space"))
	}
	if sp.Anonymous {
		// "all permissions granted to users/groups/anonymous user": the
		// anonymous subject's shape is unverified; the client reads anonymous
		// access from /permissions/anonymous only.
		out = append(out, s.dcSpacePermission(sp, map[string]any{"type": "anonymous"}, "read", "space"))
	}
	writeJSON(w, http.StatusOK, out)
}

// hDCSpacePermsAnon serves GET /rest/api/space/{spaceKey}/permissions/anonymous:
// array<SpacePermission> (same reference section and model as hDCSpacePerms),
// the permissions granted to the anonymous user; same quirks.
func (s *Server) hDCSpacePermsAnon(w http.ResponseWriter, rq req) {
	key := rq.q.Get(":key")
	if !s.dcSpacePermsAllowed(w, rq, key) {
		return
	}
	sp := s.st.spaces[key]
	out := []any{}
	if sp.Anonymous {
		out = append(out, s.dcSpacePermission(sp, map[string]any{"type": "anonymous"}, "read", "space"))
	}
	writeJSON(w, http.StatusOK, out)
}

// dcSpacePermsAllowed answers the documented refusals of the DC space
// permission resources and reports whether the request may proceed.
func (s *Server) dcSpacePermsAllowed(w http.ResponseWriter, rq req, key string) bool {
	switch {
	case !s.dcHasPermAPI():
		writeError(w, http.StatusNotFound, "null for uri: "+rq.r.URL.Path)
	case rq.caller.oauth:
		writeError(w, http.StatusForbidden, "OAuth 2.0 apps cannot access this REST resource")
	case !s.spaceVisible(rq, key):
		writeError(w, http.StatusNotFound, "No space with key : "+key)
	case rq.caller.user == nil || !rq.caller.user.Admin:
		// CONFSERVER-99908: a server error, not a 403.
		writeError(w, http.StatusInternalServerError, "java.lang.NullPointerException")
	default:
		return true
	}
	return false
}

func (s *Server) dcUserSubject(id string) map[string]any {
	m := map[string]any{"type": "user", "userKey": id}
	if u, ok := s.st.users[id]; ok {
		m["displayName"] = u.DisplayName
	}
	return m
}

func (s *Server) dcSpacePermission(sp *Space, subject map[string]any, op, target string) map[string]any {
	id, _ := strconv.ParseInt(sp.ID, 10, 64)
	return map[string]any{
		"operation": map[string]string{"targetType": target, "operationKey": op},
		"subject":   subject, "spaceKey": sp.Key, "spaceId": id,
	}
}

// hJSONRPC serves the JSON-RPC getSpacePermissionSets of DC < 9.1: sets of
// {type:"VIEWSPACE", spacePermissions:[{userName, groupName}]}, both null for
// anonymous (Atlassian's remote API reference as used by Onyx's
// get_all_space_permissions_server); admin only, the refusal text is unverified.
func (s *Server) hJSONRPC(w http.ResponseWriter, rq req) {
	var in struct {
		Method string            `json:"method"`
		ID     any               `json:"id"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(rq.r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON-RPC body")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	fail := func(msg string) {
		writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": in.ID, "error": map[string]any{"code": 0, "message": msg}})
	}
	if in.Method != "getSpacePermissionSets" || len(in.Params) < 1 {
		fail("No such method: " + in.Method)
		return
	}
	if rq.caller.user == nil || !rq.caller.user.Admin {
		fail("com.atlassian.confluence.rpc.NotPermittedException: You do not have permissions to view this space's permissions")
		return
	}
	var key string
	_ = json.Unmarshal(in.Params[len(in.Params)-1], &key)
	sp, ok := s.st.spaces[key]
	if !ok {
		fail("com.atlassian.confluence.rpc.RemoteException: No space found for space key: " + key)
		return
	}
	var view []any
	for _, u := range sp.ViewUsers {
		name := u
		if usr, ok := s.st.users[u]; ok {
			name = usr.Username
		}
		view = append(view, map[string]any{"type": "VIEWSPACE", "userName": name, "groupName": nil, "spaceKey": key})
	}
	for _, g := range sp.ViewGroups {
		view = append(view, map[string]any{"type": "VIEWSPACE", "userName": nil, "groupName": g, "spaceKey": key})
	}
	if sp.Anonymous {
		view = append(view, map[string]any{"type": "VIEWSPACE", "userName": nil, "groupName": nil, "spaceKey": key})
	}
	writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": in.ID, "result": []any{
		map[string]any{"type": "VIEWSPACE", "spacePermissions": view},
		map[string]any{"type": "EDITSPACE", "spacePermissions": []any{map[string]any{"type": "EDITSPACE", "userName": nil, "groupName": "confluence-administrators", "spaceKey": key}}},
	}})
}

// ---- content ----

// bodyCap is the server's silent cap on limit. Data Center: 50 with a body
// expansion, 200 with other expansions (Atlassian KB "Searching for content
// with the REST API and CQL always limits results to 50", written for
// /rest/api/content/search; applied to /rest/api/content and child listings
// too, unverified). Cloud v1: 50 with bodies (Cloud v1 OpenAPI: "may be
// restricted by fixed system limits"; value from elastic/onyx practice).
func (s *Server) bodyCap(exp expandSet) int {
	if exp.has("body") {
		return 50
	}
	return 200
}

// hContentList: Cloud v1 OpenAPI getContent (ContentArray; start capped at
// 15,000 on Cloud: community.developer.atlassian.com t/60807).
// Data Center: DC REST reference "Content Resource › Get content" (type,
// spaceKey, status, expand, start, limit), capped as in bodyCap.
func (s *Server) hContentList(w http.ResponseWriter, rq req) {
	exp := parseExpand(rq.q.Get("expand"))
	if s.cloud() && intParam(rq.q, "start", 0) > 15000 {
		writeError(w, http.StatusBadRequest, "The start parameter must be less than or equal to 15000; use the cursor-based search or v2 API")
		return
	}
	typ := rq.q.Get("type")
	if typ == "" {
		typ = "page"
	}
	status := rq.q.Get("status")
	if status == "" {
		status = "current"
	}
	if s.cloud() && status == "archived" {
		// Cloud v1 OpenAPI, getContent: status is current, trashed,
		// deleted, draft or any; archived pages are listed by v2 only. What
		// Cloud answers to archived is unverified; a 400 fails closed.
		writeError(w, http.StatusBadRequest, "status archived is not supported by /rest/api/content; use /wiki/api/v2/spaces/{id}/pages?status=archived")
		return
	}
	var ids []string
	keys := rq.q["spaceKey"]
	if len(keys) == 0 {
		keys = s.st.spaceOrder
	}
	for _, k := range keys {
		if s.spaceVisible(rq, k) {
			ids = append(ids, s.spaceContent(k, typ, status)...)
		}
	}
	s.v1Page(w, rq, len(ids), s.bodyCap(exp), func(i int) any { return s.contentItem(s.st.content[ids[i]], rq.q.Get("expand"), rq.base) })
}

// hContentSearch: Cloud v1 OpenAPI searchContentByCQL (ContentArray,
// cursor paging on Cloud; 50 per page with bodies).
// Data Center: DC REST reference "Content Resource › Search content",
// start/limit paging, capped per the Atlassian KB in bodyCap.
func (s *Server) hContentSearch(w http.ResponseWriter, rq req) {
	exp := parseExpand(rq.q.Get("expand"))
	cq, err := parseCQL(rq.q.Get("cql"), s.opts.CQLLocation, s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "Could not parse cql : "+err.Error())
		return
	}
	key := "cql\x00" + rq.q.Get("cql") + "\x00" + strconv.FormatBool(rq.caller.anonymous)
	s.cacheMu.Lock()
	cached, ok := s.st.cache[key]
	s.cacheMu.Unlock()
	var ids []string // "<type>:<id>"
	// now() makes the answer depend on the clock: never served from cache.
	if ok && cached.gen == s.st.gen && !strings.Contains(strings.ToLower(rq.q.Get("cql")), "now(") {
		ids = cached.ids
	} else {
		ids = s.search(rq, cq)
		s.cacheMu.Lock()
		s.setCache(key, ids)
		s.cacheMu.Unlock()
	}
	item := func(i int) any {
		typ, id, _ := strings.Cut(ids[i], ":")
		switch typ {
		case "comment":
			return s.renderComment(s.st.comments[id], exp, rq.base)
		case "attachment":
			return s.renderAttachmentV1(s.st.attachments[id], exp, rq.base)
		}
		return s.contentItem(s.st.content[id], rq.q.Get("expand"), rq.base)
	}
	maxLimit := s.bodyCap(exp)
	if s.cloud() {
		s.cursorPage(w, rq, len(ids), maxLimit, false, item)
		return
	}
	s.v1Page(w, rq, len(ids), maxLimit, item)
}

// search evaluates a CQL query over content, comments and attachments.
func (s *Server) search(rq req, cq *cqlQuery) []string {
	var hits []hit
	for _, id := range s.st.contentSeq {
		c, ok := s.st.content[id]
		if !ok || !s.spaceVisible(rq, c.SpaceKey) {
			continue
		}
		cur := c.Status == "current"
		var anc []string
		if len(cq.ancestors) > 0 {
			for _, a := range s.ancestors(c) {
				anc = append(anc, a.ID)
			}
		}
		hits = append(hits, hit{typ: c.Type, id: id, spaceKey: c.SpaceKey, current: cur, modified: c.Modified, ancestors: anc})
		if cq.wants("comment") {
			for _, cid := range s.st.commentsOf[id] {
				if cm, ok := s.st.comments[cid]; ok {
					hits = append(hits, hit{typ: "comment", id: cid, spaceKey: c.SpaceKey, current: cur && cm.Status == "current", modified: cm.Modified, container: id})
				}
			}
		}
		if cq.wants("attachment") {
			for _, aid := range s.st.attachOf[id] {
				if a, ok := s.st.attachments[aid]; ok {
					hits = append(hits, hit{typ: "attachment", id: aid, spaceKey: c.SpaceKey, current: cur && a.Status == "current", modified: a.Modified, container: id})
				}
			}
		}
	}
	hits = slices.DeleteFunc(hits, func(h hit) bool { return !cq.match(h) })
	if cq.orderBy == "lastmodified" {
		slices.SortStableFunc(hits, func(a, b hit) int {
			if cq.desc {
				return b.modified.Compare(a.modified)
			}
			return a.modified.Compare(b.modified)
		})
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.typ + ":" + h.id
	}
	return ids
}

// hContentGet: Cloud v1 OpenAPI getContentById (Content).
// Data Center: DC REST reference "Content Resource › Get content by id".
// Comments and attachments are content too, with the same resource (Cloud
// v1 OpenAPI getContentById: "Returns a single piece of content, like a
// page or a blog post"; Content.type includes comment and attachment);
// their container is expandable (Content.container). A trashed item is
// answered with its status (unverified: the product takes a 404 and a
// trashed status alike as "gone").
func (s *Server) hContentGet(w http.ResponseWriter, rq req) {
	id := rq.q.Get(":id")
	exp := parseExpand(rq.q.Get("expand"))
	if cm, ok := s.st.comments[id]; ok {
		if ct, ok := s.st.content[cm.ContainerID]; ok && s.spaceVisible(rq, ct.SpaceKey) {
			writeJSON(w, http.StatusOK, s.renderComment(cm, exp, rq.base))
			return
		}
	}
	aid := id
	if s.cloud() {
		aid = strings.TrimPrefix(id, "att")
	}
	if a, ok := s.st.attachments[aid]; ok && (!s.cloud() || strings.HasPrefix(id, "att")) {
		if ct, ok := s.st.content[a.ContainerID]; ok && s.spaceVisible(rq, ct.SpaceKey) {
			writeJSON(w, http.StatusOK, s.renderAttachmentV1(a, exp, rq.base))
			return
		}
	}
	c, ok := s.st.content[id]
	if !ok || !s.spaceVisible(rq, c.SpaceKey) {
		writeError(w, http.StatusNotFound, "No content found with id : "+rq.q.Get(":id"))
		return
	}
	writeJSON(w, http.StatusOK, s.renderContent(c, parseExpand(rq.q.Get("expand")), rq.base))
}

// hRestriction serves GET /rest/api/content/{id}/restriction/byOperation/read:
// a ContentRestriction {operation, restrictions: {user: UserArray, group:
// GroupArray}, _expandable, _links} (Cloud v1 OpenAPI "ContentRestriction";
// DC REST reference "Content Restrictions › Get restrictions by operation").
// start/limit page the users and the groups together (both references:
// "the maximum number of users and the maximum number of groups ... to
// return per page"; default limit 100). A list that continues carries its
// own _links.next (the link's exact form is unverified; the client only
// takes its presence as "more") and there is no top-level next link.
// Cloud quirks (draft 403, trashed 404) are in unreadableOnCloud.
func (s *Server) hRestriction(w http.ResponseWriter, rq req) {
	c, ok := s.st.content[rq.q.Get(":id")]
	if !ok || !s.spaceVisible(rq, c.SpaceKey) {
		writeError(w, http.StatusNotFound, "No content found with id : "+rq.q.Get(":id"))
		return
	}
	if s.cloud() && s.unreadableOnCloud(w, rq, c) {
		return
	}
	exp := parseExpand(rq.q.Get("expand"))
	start := intParam(rq.q, "start", 0)
	limit := limitParam(rq.q, 100)
	rs := map[string]any{}
	self := rq.rest
	if exp.has("restrictions.user") {
		ul, more := s.userList(c.ReadUsers, start, limit)
		rs["user"] = withNext(ul, more, self, start+limit, limit)
	}
	if exp.has("restrictions.group") {
		gl, more := s.groupList(c.ReadGroups, start, limit)
		rs["group"] = withNext(gl, more, self, start+limit, limit)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"operation": "read", "restrictions": rs,
		"_expandable": map[string]string{"content": "/rest/api/content/" + c.ID},
		"_links":      map[string]string{"base": rq.base, "context": s.opts.ContextPath, "self": rq.base + rq.rest},
	})
}

// withNext gives a UserArray/GroupArray its own _links, with a next link
// when it continues.
func withNext(list map[string]any, more bool, path string, start, limit int) map[string]any {
	links := map[string]string{}
	if more {
		links["next"] = fmt.Sprintf("%s?start=%d&limit=%d", path, start, limit)
	}
	list["_links"] = links
	return list
}

// ---- comments ----

// hComments: Cloud v1 OpenAPI getContentComments (ContentArray; Cloud
// ignores depth: "Currently, this parameter is not used").
// Data Center: DC REST reference "Child Content › Get comments"; depth=all
// returns replies.
func (s *Server) hComments(w http.ResponseWriter, rq req) {
	id := rq.q.Get(":id")
	exp := parseExpand(rq.q.Get("expand"))
	locs := rq.q["location"]
	var list []*Comment
	if parent, isComment := s.st.comments[id]; isComment {
		for _, cid := range s.st.commentsOf[parent.ContainerID] {
			if c, ok := s.st.comments[cid]; ok && c.ParentID == id && c.Status == "current" {
				list = append(list, c)
			}
		}
	} else {
		ct, ok := s.st.content[id]
		if !ok || !s.spaceVisible(rq, ct.SpaceKey) {
			writeError(w, http.StatusNotFound, "No content found with id : "+id)
			return
		}
		all := !s.cloud() && rq.q.Get("depth") == "all" // Cloud ignores depth
		for _, cid := range s.st.commentsOf[id] {
			c, ok := s.st.comments[cid]
			if !ok || c.ContainerID != id || c.Status != "current" || (!all && c.ParentID != "") {
				continue
			}
			if len(locs) > 0 && !slices.Contains(locs, c.Location) {
				continue
			}
			list = append(list, c)
		}
	}
	s.v1Page(w, rq.withoutParams(), len(list), s.bodyCap(exp), func(i int) any { return s.renderComment(list[i], exp, rq.base) })
}

func (rq req) withoutParams() req {
	q := cloneValues(rq.q)
	for k := range q {
		if strings.HasPrefix(k, ":") {
			q.Del(k)
		}
	}
	rq.q = q
	return rq
}

// ---- attachments ----

func (s *Server) attachmentsOf(rq req, containerID string) ([]*Attachment, bool) {
	ct, ok := s.st.content[containerID]
	if !ok || !s.spaceVisible(rq, ct.SpaceKey) {
		return nil, false
	}
	var out []*Attachment
	for _, id := range s.st.attachOf[containerID] {
		if a, ok := s.st.attachments[id]; ok && a.ContainerID == containerID && a.Status == "current" {
			out = append(out, a)
		}
	}
	return out, true
}

// hAttachmentsV1 serves GET /rest/api/content/{id}/child/attachment (Cloud
// v1 OpenAPI; DC REST reference "Child Content › Get attachments").
func (s *Server) hAttachmentsV1(w http.ResponseWriter, rq req) {
	list, ok := s.attachmentsOf(rq, rq.q.Get(":id"))
	if !ok {
		writeError(w, http.StatusNotFound, "No content found with id : "+rq.q.Get(":id"))
		return
	}
	exp := parseExpand(rq.q.Get("expand"))
	s.v1Page(w, rq.withoutParams(), len(list), 200, func(i int) any { return s.renderAttachmentV1(list[i], exp, rq.base) })
}

// hV2Attachments: Cloud v2 OpenAPI getPageAttachments / getBlogpostAttachments
// (MultiEntityResult<Attachment>, default limit 50, max 250).
func (s *Server) hV2Attachments(w http.ResponseWriter, rq req) {
	list, ok := s.attachmentsOf(rq, rq.q.Get(":id"))
	if !ok {
		writeError(w, http.StatusNotFound, "Content not found")
		return
	}
	if rq.q.Get("limit") == "" {
		rq.q.Set("limit", "50")
	}
	s.cursorPage(w, rq.withoutParams(), len(list), 250, true, func(i int) any { return s.renderAttachmentV2(list[i]) })
}

// hV2SpaceContent: Cloud v2 OpenAPI getPagesInSpace / getBlogPostsInSpace
// (MultiEntityResult<Page>; page status default current+archived, blog
// posts have no archived status; max limit 250).
func (s *Server) hV2SpaceContent(typ string) handler {
	return func(w http.ResponseWriter, rq req) {
		var sp *Space
		for _, k := range s.st.spaceOrder {
			if s.st.spaces[k].ID == rq.q.Get(":id") {
				sp = s.st.spaces[k]
			}
		}
		if sp == nil || !s.spaceVisible(rq, sp.Key) {
			writeError(w, http.StatusNotFound, "Space not found")
			return
		}
		statuses := strings.Split(rq.q.Get("status"), ",")
		if rq.q.Get("status") == "" {
			statuses = []string{"current", "archived"}
			if typ == "blogpost" {
				statuses = []string{"current"}
			}
		}
		var ids []string
		for _, st := range statuses {
			ids = append(ids, s.spaceContent(sp.Key, typ, st)...)
		}
		if len(statuses) > 1 {
			slices.SortFunc(ids, cmpNumeric)
		}
		withBody := rq.q.Get("body-format") == "storage"
		s.cursorPage(w, rq.withoutParams(), len(ids), 250, true, func(i int) any {
			c := s.st.content[ids[i]]
			return s.itemJSON("v2\x00"+c.ID+"\x00"+strconv.FormatBool(withBody), func() any { return s.renderV2Content(c, withBody) })
		})
	}
}

// cmpNumeric orders numeric ids.
func cmpNumeric(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// ---- downloads ----

// hAttachmentDownload: Cloud v1 OpenAPI downloadAttatchment ("Redirects the
// client to a URL that serves an attachment's binary data").
func (s *Server) hAttachmentDownload(w http.ResponseWriter, rq req) {
	a, ok := s.st.attachments[strings.TrimPrefix(rq.q.Get(":att"), "att")]
	if !ok || a.ContainerID != rq.q.Get(":id") {
		writeError(w, http.StatusNotFound, "attachment not found")
		return
	}
	if rq.gateway {
		http.Redirect(w, rq.r, s.mediaURL(rq, a), http.StatusFound)
		return
	}
	http.Redirect(w, rq.r, s.opts.ContextPath+s.downloadPath(a), http.StatusFound)
}

// hDownload serves an attachment's _links.download path
// (/download/attachments/{pageId}/{file}); Cloud redirects to a media host
// (Cloud v1 OpenAPI: "Redirects the client to a URL that serves an
// attachment's binary data"), DC serves the bytes (unverified: DC may
// redirect too; the client follows redirects either way).
func (s *Server) hDownload(w http.ResponseWriter, rq req) {
	var a *Attachment
	for _, id := range s.st.attachOf[rq.q.Get(":id")] {
		if c, ok := s.st.attachments[id]; ok && c.ContainerID == rq.q.Get(":id") && c.FileName == rq.q.Get(":file") {
			a = c
		}
	}
	if a == nil {
		writeError(w, http.StatusNotFound, "attachment not found")
		return
	}
	if s.cloud() {
		http.Redirect(w, rq.r, s.mediaURL(rq, a), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", a.MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(a.Data)))
	_, _ = w.Write(a.Data)
}

// mediaURL points at the media host with a pre-signed token.
func (s *Server) mediaURL(rq req, a *Attachment) string {
	tok := base64.RawURLEncoding.EncodeToString([]byte(a.ID + ":" + strconv.Itoa(a.Version)))
	if s.media == nil {
		return "/media/file/" + tok
	}
	return s.media.URL + "/file/" + tok
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	s.serveMediaPath(w, r, r.URL.Path, true)
}

func (s *Server) serveMediaPath(w http.ResponseWriter, r *http.Request, p string, separateHost bool) {
	s.count("media")
	if f, lat := s.fault("media", p, queryOf(r)); applyFault(w, r, f, lat) {
		return
	}
	if separateHost && r.Header.Get("Authorization") != "" {
		s.authLeaks.Add(1)
		writeError(w, http.StatusBadRequest, "unexpected Authorization header on the media host")
		return
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(p, "/file/"))
	id, _, _ := strings.Cut(string(b), ":")
	s.mu.RLock()
	a, ok := s.st.attachments[id]
	var data []byte
	var mt string
	if ok {
		data, mt = a.Data, a.MediaType
	}
	s.mu.RUnlock()
	if err != nil || !ok {
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// queryOf is the decoded query of r, for faults matching on it.
func queryOf(r *http.Request) string {
	q, err := url.QueryUnescape(r.URL.RawQuery)
	if err != nil {
		return r.URL.RawQuery
	}
	return q
}

// hV2Labels is GET /wiki/api/v2/pages/{id}/labels (Cloud v2 OpenAPI,
// operation getPageLabels, response MultiEntityResult<Label>, cursor paging).
func (s *Server) hV2Labels(w http.ResponseWriter, rq req) {
	c, ok := s.v2Page(w, rq)
	if !ok {
		return
	}
	labels := c.Labels
	s.cursorPage(w, rq.withoutParams(), len(labels), 250, true, func(i int) any {
		return map[string]any{"id": strconv.Itoa(1000 + i), "name": labels[i], "prefix": "global"}
	})
}
