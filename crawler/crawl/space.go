package crawl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/extract"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// container is what comments and attachments inherit from their page or blog post.
type container struct {
	typ   confluence.ContentType
	title string
	acl   acl.ACL
}

// spaceCrawl is the crawl of one space.
type spaceCrawl struct {
	*run
	// ctx is the run's context, for the listing callbacks (which take none):
	// downloads and writes they start must stop when the run is cancelled.
	ctx        context.Context
	space      confluence.Space
	clause     acl.Clause
	rs         *restrictions
	containers map[string]*container
	// filteredOut are pages and blog posts the filters skipped.
	filteredOut map[string]bool
	// hidden are pages and blog posts hidden because their permissions are
	// unknown: their comments and attachments are hidden with them.
	hidden []string
	batch  *batch
}

// crawlSpace indexes one space: its pages and blog posts from listings that
// carry bodies and restrictions, then its comments and attachments from one
// space-wide listing each. It returns an error if any listing failed.
func (r *run) crawlSpace(ctx context.Context, s confluence.Space) (err error) {
	clause, err := r.spaceClause(ctx, s.Key)
	if err != nil {
		return err
	}
	sc := r.newSpaceCrawl(ctx, s, clause)
	listed := false
	defer func() {
		// Either way (a panic too) the writer is done before the space is.
		if ferr := sc.finish(ctx, listed); err == nil {
			err = ferr
		}
	}()
	if err := sc.list(ctx); err != nil {
		return err
	}
	listed = true
	return nil
}

// newSpaceCrawl prepares the crawl of one space (whole, or the targets of a
// targeted sync); its batch's writer runs until finish.
func (r *run) newSpaceCrawl(ctx context.Context, s confluence.Space, clause acl.Clause) *spaceCrawl {
	sc := &spaceCrawl{
		run:         r,
		ctx:         ctx,
		space:       s,
		clause:      clause,
		rs:          newRestrictions(r.source, r.Confluence.ReadRestriction),
		containers:  map[string]*container{},
		filteredOut: map[string]bool{},
	}
	sc.batch = newBatch(ctx, r)
	return sc
}

// list runs the space's listings, handing what they find to the batch.
func (sc *spaceCrawl) list(ctx context.Context) error {
	r, s := sc.run, sc.space
	scope := r.Spec.Scope
	if enabled(scope.Pages, true) {
		statuses := []confluence.ContentStatus{confluence.StatusCurrent}
		if enabled(scope.ArchivedPages, false) {
			statuses = append(statuses, confluence.StatusArchived)
		}
		for _, st := range statuses {
			if err := r.Confluence.ListContent(ctx, confluence.ContentQuery{SpaceKey: s.Key, Type: confluence.TypePage, Status: st, WithoutBody: r.incremental}, sc.content); err != nil {
				return fmt.Errorf("space %s pages: %w", s.Key, err)
			}
		}
	}
	if enabled(scope.BlogPosts, true) {
		if err := r.Confluence.ListContent(ctx, confluence.ContentQuery{SpaceKey: s.Key, Type: confluence.TypeBlogPost, WithoutBody: r.incremental}, sc.content); err != nil {
			return fmt.Errorf("space %s blog posts: %w", s.Key, err)
		}
	}
	// Pages and blog posts are written while comments and attachments list.
	if err := sc.batch.handOn(ctx); err != nil {
		return err
	}
	if sc.wantComments() {
		if err := r.Confluence.ListSpaceComments(ctx, s.Key, sc.comment); err != nil {
			return fmt.Errorf("space %s comments: %w", s.Key, err)
		}
	}
	if sc.wantAttachments() {
		if err := r.Confluence.ListSpaceAttachments(ctx, s.Key, sc.attachment); err != nil {
			return fmt.Errorf("space %s attachments: %w", s.Key, err)
		}
	}
	return nil
}

func (sc *spaceCrawl) wantComments() bool {
	s := sc.Spec.Scope
	return (enabled(s.Pages, true) && enabled(s.PageComments, true)) || (enabled(s.BlogPosts, true) && enabled(s.BlogComments, true))
}

func (sc *spaceCrawl) wantAttachments() bool {
	s := sc.Spec.Scope
	return (enabled(s.Pages, true) && enabled(s.PageAttachments, true)) || (enabled(s.BlogPosts, true) && enabled(s.BlogAttachments, true))
}

func (sc *spaceCrawl) skip(kind, id, reason string) {
	sc.skipped.Add(1)
	if reason != "container not indexed" {
		// Filtered out by the spec: deleting it needs no confirmation.
		sc.markFiltered(opensearch.DocumentID(sc.DataSource, kind, id))
	}
	sc.log.V(1).Info("skipped", "type", kind, "id", id, "space", sc.space.Key, "reason", reason)
}

// content handles one page or blog post from a listing.
func (sc *spaceCrawl) content(c confluence.Content) error {
	ctx := sc.ctx
	sc.processed.Add(1)
	sc.rs.remember(c.ID, c.ReadRestriction)
	titles := sc.filters.pageTitles
	if c.Type == confluence.TypeBlogPost {
		titles = sc.filters.blogTitles
	}
	if ok, why := titles.allows(c.Title); !ok {
		sc.filteredOut[c.ID] = true
		sc.skip(string(c.Type), c.ID, "title "+why)
		return nil
	}
	if ok, why := sc.filters.urls.allows(c.WebURL); !ok {
		sc.filteredOut[c.ID] = true
		sc.skip(string(c.Type), c.ID, "url "+why)
		return nil
	}
	id := opensearch.DocumentID(sc.DataSource, string(c.Type), c.ID)
	a, err := sc.rs.contentACL(ctx, sc.clause, c)
	if err != nil {
		return sc.hide(ctx, id, c.ID, err)
	}
	sc.containers[c.ID] = &container{typ: c.Type, title: c.Title, acl: a}
	doc := sc.contentDocument(id, c, a)
	cand := candidate{id: id, version: doc.Version, contentHash: doc.ContentHash, aclHash: a.Hash(), size: len(c.Body), build: func(_ context.Context, fetched *confluence.Content) (opensearch.Document, error) {
		body := c.Body
		if fetched != nil {
			body = fetched.Body
		}
		text, err := extract.StorageToText(body)
		if err != nil {
			return doc, err
		}
		doc.Body = text.Body
		sc.withPassages(&doc, text)
		return doc, nil
	}}
	if sc.incremental && !c.BodyIncluded {
		cand.bodyOf = c.ID
	}
	return sc.batch.add(ctx, cand)
}

// hide makes sure a page or blog post whose permissions are unknown is not
// visible (fail closed) and counts it as failed; its comments and
// attachments, which inherit those permissions, follow in finish.
func (sc *spaceCrawl) hide(ctx context.Context, id, contentID string, err error) error {
	sc.failed.Add(1)
	sc.log.Error(err, "document hidden: permissions unknown", "id", id, "space", sc.space.Key)
	sc.hidden = append(sc.hidden, contentID)
	return sc.sink.Delete(ctx, id)
}

// finish ends the space's writer, writing its last group only if listed
// (its listings completed), and hides what is indexed below the pages and
// blog posts hide hid: their comments and attachments, stored with their
// container's last known permissions, would otherwise stay readable by
// whoever those allowed. Both happen whether or not the listings completed.
func (sc *spaceCrawl) finish(ctx context.Context, listed bool) error {
	err := sc.batch.finish(ctx, listed)
	if len(sc.hidden) > 0 {
		err = cmp.Or(err, sc.deleteChildren(ctx, sc.hidden, "its page or blog post is hidden: permissions unknown"))
	}
	return err
}

// comment handles one comment from the space-wide listing.
func (sc *spaceCrawl) comment(c confluence.Comment) error {
	ctx := sc.ctx
	parent := sc.admitChild("comment", c.ID, c.ContainerID, c.Title, c.WebURL, sc.filters.commentTitles, sc.commentsOf)
	if parent == nil {
		return nil
	}
	id := opensearch.DocumentID(sc.DataSource, opensearch.TypeComment, c.ID)
	doc := sc.commentDocument(id, c, parent)
	return sc.batch.add(ctx, candidate{id: id, version: doc.Version, contentHash: doc.ContentHash, aclHash: parent.acl.Hash(), size: len(c.Body), build: func(context.Context, *confluence.Content) (opensearch.Document, error) {
		text, err := extract.StorageToText(c.Body)
		if err != nil {
			return doc, err
		}
		doc.Body = text.Body
		sc.withPassages(&doc, text)
		return doc, nil
	}})
}

// admitChild decides whether a comment or attachment is indexed: its
// container must be indexed and its kind in scope for the container's type,
// and its title and URL must pass the filters. It returns the container, or
// nil after counting the item as skipped.
func (sc *spaceCrawl) admitChild(kind, id, containerID, title, url string, titles patternSet, inScope func(confluence.ContentType) bool) *container {
	sc.processed.Add(1)
	parent, ok := sc.containers[containerID]
	switch {
	case !ok && sc.filteredOut[containerID]:
		sc.skip(kind, id, "container filtered out")
		return nil
	case !ok:
		sc.skip(kind, id, "container not indexed")
		return nil
	case !inScope(parent.typ):
		sc.skip(kind, id, "out of scope for its container")
		return nil
	}
	if ok, why := titles.allows(title); !ok {
		sc.skip(kind, id, "title "+why)
		return nil
	}
	if ok, why := sc.filters.urls.allows(url); !ok {
		sc.skip(kind, id, "url "+why)
		return nil
	}
	return parent
}

func (sc *spaceCrawl) commentsOf(t confluence.ContentType) bool {
	s := sc.Spec.Scope
	if t == confluence.TypeBlogPost {
		return enabled(s.BlogComments, true)
	}
	return enabled(s.PageComments, true)
}

func (sc *spaceCrawl) attachmentsOf(t confluence.ContentType) bool {
	s := sc.Spec.Scope
	if t == confluence.TypeBlogPost {
		return enabled(s.BlogAttachments, true)
	}
	return enabled(s.PageAttachments, true)
}

// attachment handles one attachment from the space-wide listing. Its file is
// downloaded only when its metadata or ACL changed.
func (sc *spaceCrawl) attachment(at confluence.Attachment) error {
	ctx := sc.ctx
	parent := sc.admitChild("attachment", at.ID, at.ContainerID, at.FileName, at.WebURL, sc.filters.attachTitles, sc.attachmentsOf)
	if parent == nil {
		return nil
	}
	if ok, why := sc.filters.attachmentTypes.allows(fileExtension(at.FileName)); !ok {
		sc.skip("attachment", at.ID, "file type "+why)
		return nil
	}
	id := opensearch.DocumentID(sc.DataSource, opensearch.TypeAttachment, at.ID)
	doc := sc.attachmentDocument(id, at, parent)
	return sc.batch.add(ctx, candidate{id: id, version: doc.Version, contentHash: doc.ContentHash, aclHash: parent.acl.Hash(), build: func(ctx context.Context, _ *confluence.Content) (opensearch.Document, error) {
		text, err := sc.attachmentText(ctx, at)
		if err != nil {
			// Index the metadata now, under a content hash no listing
			// produces, so the next run sees a change and downloads again.
			sc.failed.Add(1)
			sc.log.Error(err, "attachment download failed: metadata only until the next sync", "id", at.ID, "space", sc.space.Key)
			doc.ContentHash = hashOf("download failed", doc.ContentHash)
		}
		doc.Body = text
		sc.withPassages(&doc, extract.Text{Body: text})
		return doc, nil
	}})
}

// attachmentText downloads and extracts an attachment's text. Files over the
// size limit, of unsupported types, or that fail to parse are indexed by
// metadata only (a nil error: the next run would get the same result). A
// failed download (an error status after retries, a dropped connection)
// returns an error: the next run must try again.
func (sc *spaceCrawl) attachmentText(ctx context.Context, at confluence.Attachment) (string, error) {
	if at.Size > sc.filters.maxAttachmentSize {
		sc.log.V(1).Info("attachment over maxAttachmentSize: metadata only", "id", at.ID, "size", at.Size)
		return "", nil
	}
	if !extract.Supported(at.FileName, at.MediaType) {
		return "", nil
	}
	body, err := sc.Confluence.DownloadAttachment(ctx, at)
	if err != nil {
		return "", err
	}
	defer body.Close()
	ectx, cancel := context.WithTimeout(ctx, extractTimeout)
	defer cancel()
	rec := &readErrRecorder{r: body}
	text, err := extract.Attachment(ectx, rec, at.FileName, at.MediaType, sc.filters.maxAttachmentSize)
	if ectx.Err() != nil && ctx.Err() == nil {
		// The same file would take as long next time: metadata only.
		sc.log.Info("attachment text not extracted: metadata only", "id", at.ID, "reason", fmt.Sprintf("extraction took longer than %s", extractTimeout))
		return "", nil
	}
	if rec.err != nil {
		return "", fmt.Errorf("downloading attachment %s: %w", at.ID, rec.err)
	}
	switch {
	case errors.Is(err, extract.ErrTooLarge):
		sc.log.Info("attachment text not extracted: metadata only", "id", at.ID, "space", sc.space.Key, "reason", err.Error())
	case err != nil && !errors.Is(err, extract.ErrUnsupported):
		sc.log.V(1).Info("attachment text not extracted: metadata only", "id", at.ID, "reason", err.Error())
	}
	return text, nil
}

// extractTimeout bounds the text extraction of one attachment; past it the
// attachment is indexed by metadata only.
const extractTimeout = 2 * time.Minute

// readErrRecorder remembers the first read error other than io.EOF, to tell
// a broken download from a file that does not parse.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}
