package fakeconfluence

import "slices"

// CanView reports whether a user (by ID; "" for an anonymous reader) may read
// a page or blog post, by Confluence's rules applied directly to the fake's
// model: the space's view permission, the item's own read restriction, and
// the read restriction of every ancestor of any type (pages, and on Cloud
// folders, whiteboards, databases and embeds) that Confluence shows. Tests use it as the oracle the
// indexed ACLs are checked against. Comments and attachments follow their
// container, so callers pass the container's id.
func (s *Server) CanView(userID, contentID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	c, ok := st.content[contentID]
	if !ok {
		return false
	}
	inGroup := func(names []string) bool {
		for _, name := range names {
			if g, ok := st.groups[name]; ok && userID != "" && slices.Contains(g.Members, userID) {
				return true
			}
		}
		return false
	}
	sp, ok := st.spaces[c.SpaceKey]
	if !ok {
		return false
	}
	if !sp.Anonymous && (userID == "" || !slices.Contains(sp.ViewUsers, userID)) && !inGroup(sp.ViewGroups) {
		return false
	}
	for item := c; item != nil; {
		// A trashed page or someone's draft above c is not shown to readers,
		// and Confluence shows c by the other layers (CONFCLOUD-77618,
		// CONFCLOUD-76424; Onyx skips such layers). Folders, whiteboards,
		// databases and embeds restrict what is below them like pages.
		unshown := item != c && item.Type == "page" && (item.Status == "trashed" || item.Status == "draft")
		restricted := !unshown && (len(item.ReadUsers) > 0 || len(item.ReadGroups) > 0)
		if restricted && (userID == "" || !slices.Contains(item.ReadUsers, userID)) && !inGroup(item.ReadGroups) {
			return false
		}
		if item.ParentID == "" {
			break
		}
		item = st.content[item.ParentID]
	}
	return true
}

// AttachmentID is the id the REST API shows for an attachment ("att<id>" on Cloud).
func (s *Server) AttachmentID(a Attachment) string { return s.attachmentID(&a) }
