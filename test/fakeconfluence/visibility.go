package fakeconfluence

import "slices"

// CanView reports whether a user (by ID; "" for an anonymous reader) may read
// a page or blog post, by Confluence's rules applied directly to the fake's
// model: the space's view permission, the item's own read restriction, and
// the read restriction of every ancestor page. Tests use it as the oracle the
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
		restricted := len(item.ReadUsers) > 0 || len(item.ReadGroups) > 0
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
