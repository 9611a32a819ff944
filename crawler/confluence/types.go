package confluence

import "time"

// SpaceType is a space's type.
type SpaceType string

// SpaceStatus is a space's status.
type SpaceStatus string

const (
	SpaceTypeGlobal   SpaceType   = "global"
	SpaceTypePersonal SpaceType   = "personal"
	SpaceCurrent      SpaceStatus = "current"
	SpaceArchived     SpaceStatus = "archived"
)

// Space is a Confluence space.
type Space struct {
	// ID is the numeric space id (used by Cloud v2 endpoints).
	ID     string
	Key    string
	Name   string
	Type   SpaceType
	Status SpaceStatus
	// WebURL is the absolute URL of the space in the Confluence UI.
	WebURL string
}

// ContentType is the type of a piece of content.
type ContentType string

const (
	TypePage       ContentType = "page"
	TypeBlogPost   ContentType = "blogpost"
	TypeComment    ContentType = "comment"
	TypeAttachment ContentType = "attachment"
)

// ContentStatus is the lifecycle status of content.
type ContentStatus string

const (
	StatusCurrent  ContentStatus = "current"
	StatusArchived ContentStatus = "archived"
	StatusTrashed  ContentStatus = "trashed"
)

// Version is one version of a piece of content.
type Version struct {
	Number int
	// When is the time of the version, i.e. the last modification time.
	When time.Time
	// By is the author of the version (may be zero if hidden).
	By User
}

// Restriction is a read restriction set on one item: a reader passes it by
// being one of Users or a member of one of Groups.
type Restriction struct {
	Users  []User
	Groups []Group
}

// Content is a page or blog post, with everything the crawler needs from the
// listing call itself.
type Content struct {
	ID       string
	Type     ContentType
	Status   ContentStatus
	Title    string
	SpaceKey string
	// Body is the storage-format (XHTML) body.
	Body string
	// BodyIncluded says the listing carried the body (even an empty one).
	BodyIncluded bool
	Version      Version
	// AncestorIDs are the ids of all ancestors, root first, whatever their
	// type: on Cloud a page can sit below folders, whiteboards, databases and
	// embeds, and their read restrictions apply to it too (pages only).
	AncestorIDs []string
	// Ancestors are the ancestors with their types, in the order of AncestorIDs.
	Ancestors []Ancestor
	// ParentID is the direct parent's id, of any type ("" for root pages and blog posts).
	ParentID string
	Labels   []string
	// ReadRestriction is the item's own read restriction, nil if it has none.
	// Inherited restrictions are not included: see AncestorIDs.
	ReadRestriction *Restriction
	WebURL          string
	Created         time.Time
}

// Ancestor is one item above a page in the content tree.
type Ancestor struct {
	ID string
	// Type is "page" on Data Center; on Cloud also "folder", "whiteboard",
	// "database" or "embed" (Cloud v2 OpenAPI, parentType), or a type this
	// client does not know.
	Type string
}

// ContentRef is the cheap identity of a piece of content, for deletion detection.
type ContentRef struct {
	ID      string
	Type    ContentType
	Title   string
	Version int
}

// CommentLocation says where a comment sits.
type CommentLocation string

const (
	CommentFooter CommentLocation = "footer"
	CommentInline CommentLocation = "inline"
	// CommentResolved is a resolved inline comment.
	CommentResolved CommentLocation = "resolved"
)

// Comment is a footer or inline comment (or a reply) on a page or blog post.
type Comment struct {
	ID            string
	ContainerID   string
	ContainerType ContentType
	// ParentID is the comment this one replies to ("" for top-level comments).
	ParentID string
	Location CommentLocation
	Title    string
	// Body is the storage-format body.
	Body    string
	Version Version
	// Author is the creator of the comment.
	Author  User
	WebURL  string
	Created time.Time
}

// Attachment is a file attached to a page or blog post.
type Attachment struct {
	ID            string
	ContainerID   string
	ContainerType ContentType
	FileName      string
	MediaType     string
	Size          int64
	Comment       string
	Version       Version
	// DownloadPath is the download link relative to the site base URL.
	DownloadPath string
	WebURL       string
	Created      time.Time
}

// SpacePermissions is who holds a space's view permission.
type SpacePermissions struct {
	Users     []User
	Groups    []Group
	Anonymous bool
}

// User is a Confluence user. On Cloud AccountID identifies the user; on Data
// Center UserKey does (user names can change).
type User struct {
	AccountID   string
	UserKey     string
	Username    string
	Email       string
	DisplayName string
	// AccountType is the Cloud account type ("atlassian", "app", ...) or the
	// DC user type ("known", "anonymous").
	AccountType string
}

// PrincipalID is the stable identity of the user for ACLs (DESIGN §5):
// the Cloud accountId or the Data Center userKey.
func (u User) PrincipalID() string {
	if u.AccountID != "" {
		return u.AccountID
	}
	return u.UserKey
}

// Group is a Confluence group. On Cloud ID identifies the group (names can be
// renamed); on Data Center the Name does.
type Group struct {
	ID   string
	Name string
}

// PrincipalID is the stable identity of the group for ACLs (DESIGN §5):
// the Cloud group id or the Data Center group name.
func (g Group) PrincipalID() string {
	if g.ID != "" {
		return g.ID
	}
	return g.Name
}

// setAncestors sets Ancestors, AncestorIDs and ParentID from a root-first chain.
func (c *Content) setAncestors(chain []Ancestor) {
	c.Ancestors = chain
	c.AncestorIDs, c.ParentID = nil, ""
	for _, a := range chain {
		c.AncestorIDs = append(c.AncestorIDs, a.ID)
	}
	if n := len(chain); n > 0 {
		c.ParentID = chain[n-1].ID
	}
}
