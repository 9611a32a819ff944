package crawl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// extractorVersion is part of every content hash: bump it when text
// extraction changes, so the next sync re-indexes what it would now extract
// differently.
const extractorVersion = 1

// hashOf digests the parts that make up a document, so a later run can tell
// whether anything it would write differs from what is indexed.
func hashOf(parts ...any) string {
	h := sha256.New()
	fmt.Fprintf(h, "v%d\x00", extractorVersion)
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (sc *spaceCrawl) base(id, typ, contentID, url string, a acl.ACL) opensearch.Document {
	return opensearch.Document{
		ID:         id,
		ContentID:  contentID,
		Type:       typ,
		Datasource: sc.DataSource,
		SpaceKey:   sc.space.Key,
		SpaceName:  sc.space.Name,
		URL:        url,
		ACL:        a,
		ACLHash:    a.Hash(),
	}
}

// contentDocument builds a page or blog post document without its body text
// (extracted only if the document needs writing).
func (sc *spaceCrawl) contentDocument(id string, c confluence.Content, a acl.ACL) opensearch.Document {
	d := sc.base(id, string(c.Type), c.ID, c.WebURL, a)
	d.Title = c.Title
	d.Author = c.Version.By.PrincipalID()
	d.AuthorName = c.Version.By.DisplayName
	d.Labels = c.Labels
	d.Version = int64(c.Version.Number)
	d.ParentID = c.ParentID
	d.Ancestors = c.AncestorIDs
	d.Created = timePtr(c.Created)
	d.Updated = timePtr(c.Version.When)
	d.Fields = sc.mappedFields(string(c.Type), d)
	// The body is not hashed: every body edit bumps the version, and leaving it
	// out lets incremental syncs compare listings that carry no bodies.
	d.ContentHash = hashOf(d.Title, d.URL, d.SpaceName, d.Version, d.ParentID, strings.Join(d.Ancestors, "/"),
		strings.Join(d.Labels, ","), d.Author, d.AuthorName, d.Updated, fmt.Sprint(d.Fields))
	return d
}

func (sc *spaceCrawl) commentDocument(id string, c confluence.Comment, parent *container) opensearch.Document {
	d := sc.base(id, opensearch.TypeComment, c.ID, c.WebURL, parent.acl)
	d.Title = c.Title
	if d.Title == "" {
		d.Title = "Comment on " + parent.title
	}
	d.Author = c.Author.PrincipalID()
	d.AuthorName = c.Author.DisplayName
	d.Version = int64(c.Version.Number)
	d.ContainerID = c.ContainerID
	d.ParentID = c.ParentID
	d.Created = timePtr(c.Created)
	d.Updated = timePtr(c.Version.When)
	d.Fields = sc.mappedFields(opensearch.TypeComment, d)
	d.ContentHash = hashOf(d.Title, c.Body, d.URL, d.SpaceName, d.Version, d.ContainerID, d.ParentID, d.Author, d.AuthorName, d.Updated, fmt.Sprint(d.Fields))
	return d
}

func (sc *spaceCrawl) attachmentDocument(id string, at confluence.Attachment, parent *container) opensearch.Document {
	d := sc.base(id, opensearch.TypeAttachment, at.ID, at.WebURL, parent.acl)
	d.Title = at.FileName
	d.Author = at.Version.By.PrincipalID()
	d.AuthorName = at.Version.By.DisplayName
	d.Version = int64(at.Version.Number)
	d.ContainerID = at.ContainerID
	d.MediaType = at.MediaType
	d.Size = at.Size
	d.Created = timePtr(at.Created)
	d.Updated = timePtr(at.Version.When)
	d.Fields = sc.mappedFields(opensearch.TypeAttachment, d)
	// The size limit is part of the hash: raising it re-extracts files that were
	// indexed by metadata only.
	d.ContentHash = hashOf(d.Title, d.URL, d.SpaceName, d.Version, d.Size, d.MediaType, d.ContainerID, at.Comment,
		d.Author, d.Updated, sc.filters.maxAttachmentSize, fmt.Sprint(d.Fields))
	return d
}

// mappedFields applies spec.fieldMappings. A mapping's source is
// "<type>.<field>" where type is page, blogpost, comment, attachment or
// content (any type), or "space.key"/"space.name".
func (sc *spaceCrawl) mappedFields(typ string, d opensearch.Document) map[string]any {
	if len(sc.Spec.FieldMappings) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, m := range sc.Spec.FieldMappings {
		scope, field, ok := strings.Cut(m.From, ".")
		if !ok {
			continue
		}
		if scope != "space" && scope != "content" && scope != typ {
			continue
		}
		var v any
		switch scope + "." + field {
		case "space.key":
			v = d.SpaceKey
		case "space.name":
			v = d.SpaceName
		default:
			v = documentField(d, field)
		}
		if v != nil && v != "" {
			out[m.To] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func documentField(d opensearch.Document, field string) any {
	switch field {
	case "labels":
		if len(d.Labels) == 0 {
			return nil
		}
		return d.Labels
	case "title":
		return d.Title
	case "url":
		return d.URL
	case "author":
		return d.Author
	case "authorName":
		return d.AuthorName
	case "mediaType":
		return d.MediaType
	case "id":
		return d.ContentID
	}
	return nil
}
