package fakeconfluence

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// User is a Confluence user. ID is the principal id: the Cloud accountId or
// the Data Center userKey.
type User struct {
	ID          string
	Username    string // DC user name (also accepted as Basic user on DC)
	Email       string // Cloud Basic user name
	DisplayName string
	// Secret is the Cloud API token or the DC password for Basic auth.
	Secret string
	// PAT is a Data Center personal access token ("" = none).
	PAT string
	// Admin may call admin-only APIs (JSON-RPC space permissions).
	Admin bool
	// App marks a Cloud app/bot account (accountType "app").
	App bool
	// Guest marks a Cloud guest (external collaborator): Cloud's user
	// search leaves guests out unless sitePermissionTypeFilter asks for
	// them (Cloud v1 OpenAPI, GET /wiki/rest/api/search/user).
	Guest bool
	// ScopedToken makes Secret a Cloud "API token with scopes": the site
	// rejects it (401) and only the gateway
	// api.atlassian.com/ex/confluence/{cloudId} accepts it (CLOUD-12617;
	// support.atlassian.com "Manage API tokens for your Atlassian account").
	ScopedToken bool
}

// Group is a group; ID is the Cloud group id (Data Center groups are named).
type Group struct {
	ID      string
	Name    string
	Members []string // user IDs
}

// Space is a space with its view permission.
type Space struct {
	ID     string
	Key    string
	Name   string
	Type   string // global | personal
	Status string // current | archived
	// ViewUsers, ViewGroups, Anonymous: who holds "view space". Group
	// entries are group names.
	ViewUsers  []string
	ViewGroups []string
	Anonymous  bool
}

// Content is a page or blog post, or (Cloud) a folder, whiteboard, database
// or embed: items that can be a page's parent (Cloud v2 OpenAPI,
// PageBulk.parentType) and carry read restrictions of their own, but are
// never listed as pages.
type Content struct {
	ID       string
	Type     string // page | blogpost | folder | whiteboard | database | embed
	Status   string // current | archived | trashed | draft
	SpaceKey string
	ParentID string
	Title    string
	Body     string
	Labels   []string
	Version  int
	Created  time.Time
	Modified time.Time
	Author   string // user ID of the creator
	Editor   string // user ID of the last editor
	// ReadUsers and ReadGroups (group names) are the item's own read
	// restriction; both empty means none.
	ReadUsers  []string
	ReadGroups []string
}

// Comment is a footer or inline comment, or a reply (ParentID set).
type Comment struct {
	ID          string
	ContainerID string
	ParentID    string
	Location    string // footer | inline | resolved
	Body        string
	Version     int
	Created     time.Time
	Modified    time.Time
	Author      string
	Status      string
}

// Attachment is a file on a page or blog post.
type Attachment struct {
	ID          string // numeric; rendered as "att<ID>" on Cloud
	ContainerID string
	FileName    string
	MediaType   string
	Comment     string
	Data        []byte
	Version     int
	Created     time.Time
	Modified    time.Time
	Author      string
	Status      string
}

// store is the mutable data set; guarded by Server.mu.
type store struct {
	seq         int64
	gen         int64 // bumped on every mutation (invalidates caches)
	users       map[string]*User
	userOrder   []string
	groups      map[string]*Group // by name
	groupOrder  []string
	spaces      map[string]*Space // by key
	spaceOrder  []string
	content     map[string]*Content
	contentSeq  []string // ids in creation order
	comments    map[string]*Comment
	commentsOf  map[string][]string // container id -> comment ids
	attachments map[string]*Attachment
	attachOf    map[string][]string // container id -> attachment ids
	cache       map[string]cached
}

type cached struct {
	gen int64
	ids []string
}

func newStore() *store {
	return &store{
		seq: 65536, users: map[string]*User{}, groups: map[string]*Group{}, spaces: map[string]*Space{},
		content: map[string]*Content{}, comments: map[string]*Comment{}, attachments: map[string]*Attachment{},
		cache: map[string]cached{}, commentsOf: map[string][]string{}, attachOf: map[string][]string{},
	}
}

func (st *store) nextID() string {
	st.seq++
	return strconv.FormatInt(st.seq, 10)
}

func (s *Server) mutate(f func(st *store)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.st)
	s.st.gen++
}

// AddUser adds a user; an empty ID is generated.
func (s *Server) AddUser(u User) User {
	s.mutate(func(st *store) {
		if u.ID == "" {
			u.ID = s.newUserID(u.Username)
		}
		if _, ok := st.users[u.ID]; !ok {
			st.userOrder = append(st.userOrder, u.ID)
		}
		cp := u
		st.users[u.ID] = &cp
	})
	return u
}

func (s *Server) newUserID(name string) string {
	s.st.seq++
	if s.opts.Deployment == DataCenter {
		return fmt.Sprintf("8a8082%010x", s.st.seq)
	}
	return fmt.Sprintf("557058:%08x-%s", s.st.seq, name)
}

// AddGroup adds (or replaces) a group with members (user IDs).
func (s *Server) AddGroup(name string, members ...string) Group {
	var g Group
	s.mutate(func(st *store) {
		st.seq++
		g = Group{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", st.seq, st.seq), Name: name, Members: slices.Clone(members)}
		if old, ok := st.groups[name]; ok {
			g.ID = old.ID
		} else {
			st.groupOrder = append(st.groupOrder, name)
		}
		st.groups[name] = &g
	})
	return g
}

// SetGroupMembers replaces a group's members.
func (s *Server) SetGroupMembers(name string, members ...string) {
	s.mutate(func(st *store) {
		if g, ok := st.groups[name]; ok {
			g.Members = slices.Clone(members)
		}
	})
}

// AddSpace adds a space; ID, Type and Status get defaults.
func (s *Server) AddSpace(sp Space) Space {
	s.mutate(func(st *store) {
		if sp.ID == "" {
			sp.ID = st.nextID()
		}
		if sp.Type == "" {
			sp.Type = "global"
		}
		if sp.Status == "" {
			sp.Status = "current"
		}
		if _, ok := st.spaces[sp.Key]; !ok {
			st.spaceOrder = append(st.spaceOrder, sp.Key)
		}
		cp := sp
		st.spaces[sp.Key] = &cp
	})
	return sp
}

// SetSpaceArchived archives or restores a space.
func (s *Server) SetSpaceArchived(key string, archived bool) {
	s.mutate(func(st *store) {
		if sp, ok := st.spaces[key]; ok {
			sp.Status = map[bool]string{true: "archived", false: "current"}[archived]
		}
	})
}

// SetSpacePermissions replaces who may view a space. Like in Confluence, it
// does not touch any page version.
func (s *Server) SetSpacePermissions(key string, users, groups []string, anonymous bool) {
	s.mutate(func(st *store) {
		if sp, ok := st.spaces[key]; ok {
			sp.ViewUsers, sp.ViewGroups, sp.Anonymous = slices.Clone(users), slices.Clone(groups), anonymous
		}
	})
	// space_permissions_updated is in Data Center's event list (as
	// content_permissions_updated, see SetRestriction); its payload is not
	// known: the envelope alone (unverified).
	s.emit("space_permissions_updated", "", nil)
}

// AddContent adds a page or blog post (version 1); ID, Status and times get defaults.
func (s *Server) AddContent(c Content) Content {
	s.mutate(func(st *store) {
		if c.ID == "" {
			c.ID = st.nextID()
		}
		if c.Type == "" {
			c.Type = "page"
		}
		if c.Status == "" {
			c.Status = "current"
		}
		if c.Version == 0 {
			c.Version = 1
		}
		if c.Created.IsZero() {
			c.Created = s.now()
		}
		if c.Modified.IsZero() {
			c.Modified = c.Created
		}
		if c.Editor == "" {
			c.Editor = c.Author
		}
		cp := c
		st.content[c.ID] = &cp
		st.contentSeq = append(st.contentSeq, c.ID)
	})
	s.emitContent(c, "created")
	return c
}

// EditContent changes a page's title, body or labels through f and bumps
// its version and modification time, like an edit in Confluence.
func (s *Server) EditContent(id, editor string, f func(*Content)) bool {
	ok := false
	var edited Content
	s.mutate(func(st *store) {
		c, found := st.content[id]
		if !found {
			return
		}
		f(c)
		c.Version++
		c.Modified = s.now()
		if editor != "" {
			c.Editor = editor
		}
		ok = true
		edited = *c
	})
	if ok {
		s.emitContent(edited, "updated")
	}
	return ok
}

// MoveContent moves a page under another parent and/or space; like
// Confluence it bumps neither the version nor the modification time.
func (s *Server) MoveContent(id, newParentID, newSpaceKey string) {
	var moved Content
	var ok bool
	s.mutate(func(st *store) {
		c, found := st.content[id]
		if !found {
			return
		}
		c.ParentID = newParentID
		if newSpaceKey != "" && newSpaceKey != c.SpaceKey {
			// Descendants move along.
			for _, d := range st.content {
				if isDescendant(st, d, id) {
					d.SpaceKey = newSpaceKey
				}
			}
			c.SpaceKey = newSpaceKey
		}
		moved, ok = *c, true
	})
	if ok {
		s.emitContent(moved, "moved")
	}
}

func isDescendant(st *store, c *Content, ancestorID string) bool {
	for p := c.ParentID; p != ""; {
		if p == ancestorID {
			return true
		}
		pc, ok := st.content[p]
		if !ok {
			return false
		}
		p = pc.ParentID
	}
	return false
}

// SetRestriction replaces the read restriction of a page or blog post
// (empty = none). It does not bump the version, like Confluence.
func (s *Server) SetRestriction(id string, users, groups []string) {
	var found bool
	s.mutate(func(st *store) {
		if c, ok := st.content[id]; ok {
			c.ReadUsers, c.ReadGroups = slices.Clone(users), slices.Clone(groups)
			found = true
		}
	})
	if found {
		// content_permissions_updated is in Data Center's event list
		// (Pipedream's confluence_data_center events.mjs and other DC
		// webhook clients), but no payload of it was found: the fake sends
		// the envelope alone (unverified), and the receiver, finding no id,
		// falls back to an Incremental sync.
		s.emit("content_permissions_updated", "", nil)
	}
}

// SetContentStatus sets status (current, archived, trashed) without a version bump.
func (s *Server) SetContentStatus(id, status string) {
	var changed Content
	var found bool
	s.mutate(func(st *store) {
		if c, ok := st.content[id]; ok {
			from := c.Status
			c.Status = status
			changed, found = *c, from != status
			changed.Status = from
		}
	})
	if !found {
		return
	}
	switch {
	case status == "trashed":
		s.emitContent(changed, "trashed")
	case changed.Status == "trashed" && status == "current":
		s.emitContent(changed, "restored")
	}
}

// TrashContent moves a page or blog post to the space trash.
func (s *Server) TrashContent(id string) { s.SetContentStatus(id, "trashed") }

// PurgeContent deletes a page or blog post for good (later reads 404).
func (s *Server) PurgeContent(id string) {
	var gone Content
	var found bool
	s.mutate(func(st *store) {
		if c, ok := st.content[id]; ok {
			gone, found = *c, true
		}
		delete(st.content, id)
	})
	if found {
		s.emitContent(gone, "removed")
	}
}

// AddComment adds a comment; ID, Location, Status, Version and times get defaults.
func (s *Server) AddComment(c Comment) Comment {
	s.mutate(func(st *store) {
		if c.ID == "" {
			c.ID = st.nextID()
		}
		if c.Location == "" {
			c.Location = "footer"
		}
		if c.Status == "" {
			c.Status = "current"
		}
		if c.Version == 0 {
			c.Version = 1
		}
		if c.Created.IsZero() {
			c.Created = s.now()
		}
		if c.Modified.IsZero() {
			c.Modified = c.Created
		}
		cp := c
		st.comments[c.ID] = &cp
		st.commentsOf[c.ContainerID] = append(st.commentsOf[c.ContainerID], c.ID)
	})
	// {"comment":{"id"}}: assumed from the page and blog shapes; unverified.
	s.emit("comment_created", c.Author, map[string]any{"comment": idObject(c.ID)})
	return c
}

// AddAttachment adds an attachment; ID, MediaType, Status, Version and times get defaults.
func (s *Server) AddAttachment(a Attachment) Attachment {
	s.mutate(func(st *store) {
		if a.ID == "" {
			a.ID = st.nextID()
		}
		if a.MediaType == "" {
			a.MediaType = "application/octet-stream"
		}
		if a.Status == "" {
			a.Status = "current"
		}
		if a.Version == 0 {
			a.Version = 1
		}
		if a.Created.IsZero() {
			a.Created = s.now()
		}
		if a.Modified.IsZero() {
			a.Modified = a.Created
		}
		cp := a
		st.attachments[a.ID] = &cp
		st.attachOf[a.ContainerID] = append(st.attachOf[a.ContainerID], a.ID)
	})
	// {"attachment":{"id"}}: assumed from the page and blog shapes; unverified.
	s.emit("attachment_created", a.Author, map[string]any{"attachment": idObject(a.ID)})
	return a
}

// ReplaceAttachment uploads new bytes as a new version of an attachment.
func (s *Server) ReplaceAttachment(id string, data []byte) {
	s.mutate(func(st *store) {
		if a, ok := st.attachments[id]; ok {
			a.Data = slices.Clone(data)
			a.Version++
			a.Modified = s.now()
		}
	})
}

// DeleteComment deletes a comment for good (later reads 404).
func (s *Server) DeleteComment(id string) {
	s.mutate(func(st *store) { delete(st.comments, id) })
}

// DeleteAttachment removes an attachment.
func (s *Server) DeleteAttachment(id string) {
	s.mutate(func(st *store) { delete(st.attachments, id) })
	// Unverified shape, as attachment_created.
	s.emit("attachment_removed", "", map[string]any{"attachment": idObject(id)})
}

// Content returns a copy of a page or blog post.
func (s *Server) Content(id string) (Content, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.st.content[id]
	if !ok {
		return Content{}, false
	}
	return *c, true
}

// ContentIDs returns the ids of the content of a space with a type and status, in id order.
func (s *Server) ContentIDs(spaceKey, typ, status string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.spaceContent(spaceKey, typ, status))
}

// Spaces returns copies of all spaces.
func (s *Server) Spaces() []Space {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Space
	for _, k := range s.st.spaceOrder {
		out = append(out, *s.st.spaces[k])
	}
	return out
}

// Users returns copies of all users.
func (s *Server) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []User
	for _, id := range s.st.userOrder {
		out = append(out, *s.st.users[id])
	}
	return out
}

// Groups returns copies of all groups.
func (s *Server) Groups() []Group {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Group
	for _, n := range s.st.groupOrder {
		out = append(out, *s.st.groups[n])
	}
	return out
}

// CommentsOf returns the comments of a container (all depths).
func (s *Server) CommentsOf(containerID string) []Comment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Comment
	for _, id := range s.st.commentsOf[containerID] {
		if c, ok := s.st.comments[id]; ok && c.ContainerID == containerID {
			out = append(out, *c)
		}
	}
	return out
}

// AttachmentsOf returns the attachments of a container.
func (s *Server) AttachmentsOf(containerID string) []Attachment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Attachment
	for _, id := range s.st.attachOf[containerID] {
		if a, ok := s.st.attachments[id]; ok && a.ContainerID == containerID {
			out = append(out, *a)
		}
	}
	return out
}

// spaceContent returns cached ids of a space's content; needs s.mu held.
func (s *Server) spaceContent(spaceKey, typ, status string) []string {
	key := "sc\x00" + spaceKey + "\x00" + typ + "\x00" + status
	s.cacheMu.Lock()
	c, hit := s.st.cache[key]
	s.cacheMu.Unlock()
	if hit && c.gen == s.st.gen {
		return c.ids
	}
	var ids []string
	for _, id := range s.st.contentSeq {
		c, ok := s.st.content[id]
		if ok && c.SpaceKey == spaceKey && c.Type == typ && (status == "any" || c.Status == status) {
			ids = append(ids, id)
		}
	}
	s.cacheMu.Lock()
	s.setCache(key, ids)
	s.cacheMu.Unlock()
	return ids
}

// setCache stores a query result; needs s.cacheMu held.
func (s *Server) setCache(key string, ids []string) {
	if len(s.st.cache) > 4096 {
		clear(s.st.cache)
	}
	s.st.cache[key] = cached{gen: s.st.gen, ids: ids}
}

// ancestors returns a page's ancestors, root first; needs s.mu held.
func (s *Server) ancestors(c *Content) []*Content {
	var out []*Content
	for p := c.ParentID; p != ""; {
		pc, ok := s.st.content[p]
		if !ok || len(out) > 1000 {
			break
		}
		out = append(out, pc)
		p = pc.ParentID
	}
	slices.Reverse(out)
	return out
}
