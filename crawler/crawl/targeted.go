package crawl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// TargetKind is what a target names.
type TargetKind string

const (
	TargetPage       TargetKind = "page"
	TargetBlogPost   TargetKind = "blogpost"
	TargetComment    TargetKind = "comment"
	TargetAttachment TargetKind = "attachment"
	// TargetSpace re-checks a space's permissions and contents
	// incrementally (nothing in it is deleted by absence).
	TargetSpace TargetKind = "space"
)

// Target is one item a Targeted run syncs: "<kind>:<id>" on the command
// line (a space key for kind space).
type Target struct {
	Kind TargetKind
	ID   string
}

func (t Target) String() string { return string(t.Kind) + ":" + t.ID }

// ParseTarget reads "<kind>:<id>".
func ParseTarget(s string) (Target, error) {
	kind, id, ok := strings.Cut(s, ":")
	t := Target{Kind: TargetKind(kind), ID: id}
	switch {
	case !ok || id == "":
		return t, fmt.Errorf("target %q: want <kind>:<id>", s)
	case len(id) > 255 || strings.ContainsAny(id, " \t\n\"\\/?#"):
		return t, fmt.Errorf("target %q: the id is not a Confluence id or space key", s)
	}
	switch t.Kind {
	case TargetPage, TargetBlogPost, TargetComment, TargetAttachment, TargetSpace:
		return t, nil
	}
	return t, fmt.Errorf("target %q: kind must be page, blogpost, comment, attachment or space", s)
}

// ErrBadTargets: the targets of a Targeted run are missing, malformed or too
// many (bad input).
var ErrBadTargets = errors.New("bad targets")

// checkTargets validates the targets of a run of mode.
func checkTargets(mode v1.SyncMode, targets []Target) error {
	switch {
	case mode == v1.SyncTargeted && len(targets) == 0:
		return fmt.Errorf("%w: a Targeted sync needs at least one target", ErrBadTargets)
	case mode != v1.SyncTargeted && len(targets) > 0:
		return fmt.Errorf("%w: targets are for mode Targeted, not %s", ErrBadTargets, mode)
	case len(targets) > v1.MaxTargets:
		return fmt.Errorf("%w: %d targets, at most %d per run (run an Incremental sync instead)", ErrBadTargets, len(targets), v1.MaxTargets)
	}
	return nil
}

// targetSync is the state of one targeted sync: the spaces it touched,
// each with its own spaceCrawl (space clause, restriction cache, batch).
type targetSync struct {
	*run
	ctx    context.Context
	spaces map[string]*spaceCrawl // nil value: space out of scope
	// children are the pages and blog posts, per space, whose comments and
	// attachments are re-listed.
	children map[string][]string
	failures []string
	// finished are the spaces whose batch writer has ended.
	finished map[string]bool
}

// syncTargets syncs exactly the targets: each page or blog post with its
// ACL (space clause, own restriction, every restricted ancestor), its
// comments and attachments, and, when its ACL differs from the indexed
// one, every page below it with their comments and attachments. Comments
// and attachments bring their container along. Only what Confluence
// confirms gone (404, trashed or deleted status) is deleted.
func (r *run) syncTargets(ctx context.Context, targets []Target) error {
	ts := &targetSync{run: r, ctx: ctx, spaces: map[string]*spaceCrawl{}, children: map[string][]string{}, finished: map[string]bool{}}
	defer ts.stop(ctx)
	containers := map[string]confluence.ContentType{}
	var order []string
	addContainer := func(id string, typ confluence.ContentType) {
		if _, ok := containers[id]; !ok {
			order = append(order, id)
		}
		if typ != "" || containers[id] == "" {
			containers[id] = typ
		}
	}
	var spaceKeys []string
	for _, t := range targets {
		switch t.Kind {
		case TargetSpace:
			if !slices.Contains(spaceKeys, t.ID) {
				spaceKeys = append(spaceKeys, t.ID)
			}
		case TargetPage:
			addContainer(t.ID, confluence.TypePage)
		case TargetBlogPost:
			addContainer(t.ID, confluence.TypeBlogPost)
		case TargetComment, TargetAttachment:
			it, err := r.Confluence.GetItem(ctx, t.ID)
			switch {
			case errors.Is(err, confluence.ErrGone):
				if err := ts.deleteGone(ctx, string(t.Kind), t.ID, err); err != nil {
					return err
				}
			case err != nil:
				ts.fail(t.String(), err)
			case it.ContainerID == "" || (it.ContainerType != confluence.TypePage && it.ContainerType != confluence.TypeBlogPost):
				ts.fail(t.String(), fmt.Errorf("%s %s has no page or blog post container", it.Type, t.ID))
			default:
				addContainer(it.ContainerID, it.ContainerType)
			}
		}
	}
	r.spacesTotal.Store(int32(len(spaceKeys)))
	for _, id := range order {
		if err := ts.container(ctx, id, containers[id]); err != nil {
			return err
		}
	}
	if err := ts.finish(ctx); err != nil {
		return err
	}
	if err := ts.spacesIncrementally(ctx, spaceKeys); err != nil {
		return err
	}
	if len(ts.failures) > 0 {
		return fmt.Errorf("%d of %d targets could not be synced: %s", len(ts.failures), len(targets), strings.Join(first(ts.failures, 3), "; "))
	}
	return nil
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func (ts *targetSync) fail(what string, err error) {
	ts.failed.Add(1)
	ts.log.Error(err, "target not synced", "target", what)
	ts.mu.Lock()
	ts.failures = append(ts.failures, what+": "+err.Error())
	ts.mu.Unlock()
}

// deleteGone deletes the document of an item Confluence confirmed gone.
func (ts *targetSync) deleteGone(ctx context.Context, typ, id string, why error) error {
	ts.log.Info("deleting: gone from Confluence", "type", typ, "id", id, "reason", why.Error())
	return ts.sink.Delete(ctx, opensearch.DocumentID(ts.DataSource, typ, id))
}

// container syncs one page or blog post (typ may be empty when only a
// comment or attachment named it).
func (ts *targetSync) container(ctx context.Context, id string, typ confluence.ContentType) error {
	c, err := ts.Confluence.GetContent(ctx, id)
	if errors.Is(err, confluence.ErrGone) {
		return ts.containerGone(ctx, id, typ, err)
	}
	if err != nil {
		ts.fail(cmp.Or(string(typ), "container")+":"+id, err)
		return nil
	}
	sc, err := ts.space(ctx, c.SpaceKey)
	if errors.Is(err, confluence.ErrNotFound) {
		return ts.spaceNotFound(ctx, c, err)
	}
	if err != nil {
		ts.fail(string(c.Type)+":"+id, err)
		return nil
	}
	switch {
	case sc == nil:
		return ts.leaveScope(ctx, c, "its space "+c.SpaceKey+" is out of the spec's scope", true)
	case !ts.typeInScope(string(c.Type)):
		return ts.leaveScope(ctx, c, "the spec's scope leaves out "+string(c.Type)+"s", false)
	case c.Status == confluence.StatusArchived && !enabled(ts.Spec.Scope.ArchivedPages, false):
		return ts.leaveScope(ctx, c, "it is archived and the spec's scope leaves out archived pages", false)
	}
	if err := sc.content(c); err != nil {
		return err
	}
	parent, ok := sc.containers[c.ID]
	if !ok {
		if sc.filteredOut[c.ID] {
			return ts.leaveScope(ctx, c, "the spec's filters exclude its title or URL", false)
		}
		return nil // hidden: its permissions are unknown (see hide)
	}
	ts.children[sc.space.Key] = append(ts.children[sc.space.Key], c.ID)
	if c.Type != confluence.TypePage {
		return nil
	}
	docID := opensearch.DocumentID(ts.DataSource, string(c.Type), c.ID)
	stored, err := ts.OpenSearch.StoredHashes(ctx, ts.alias, []string{docID})
	if err != nil {
		return err
	}
	if s, ok := stored[docID]; ok && s.ACLHash == parent.acl.Hash() {
		return nil // same ACL: what is below it inherits nothing new
	}
	// The page's effective restrictions changed (or it is new here): the
	// pages below it inherit them.
	err = ts.Confluence.ListDescendants(ctx, c.ID, func(d confluence.Content) error {
		if err := sc.content(d); err != nil {
			return err
		}
		if _, ok := sc.containers[d.ID]; ok {
			ts.children[sc.space.Key] = append(ts.children[sc.space.Key], d.ID)
		}
		return nil
	})
	if err != nil {
		ts.fail("descendants of page:"+c.ID, err)
	}
	return nil
}

// containerGone deletes a page or blog post Confluence confirmed gone (404,
// trashed or deleted) with its comments and attachments: Confluence trashes
// and purges them with their page, and no listing returns them anymore.
func (ts *targetSync) containerGone(ctx context.Context, id string, typ confluence.ContentType, why error) error {
	types := []confluence.ContentType{typ}
	if typ == "" {
		types = []confluence.ContentType{confluence.TypePage, confluence.TypeBlogPost}
	}
	for _, t := range types {
		if err := ts.deleteGone(ctx, string(t), id, why); err != nil {
			return err
		}
	}
	return ts.deleteChildren(ctx, []string{id}, why.Error())
}

// spaceNotFound handles an item whose space answers 404. Confluence
// answers so both for a deleted space and for one the crawl user may no
// longer view (v1 getSpace: "no space with the given key, or the calling
// user does not have permission to view the space"), so it confirms
// nothing: the item is read again, and only if that answers gone are its
// documents deleted. Otherwise the target fails and nothing is deleted.
func (ts *targetSync) spaceNotFound(ctx context.Context, c confluence.Content, spaceErr error) error {
	_, err := ts.Confluence.GetContent(ctx, c.ID)
	if errors.Is(err, confluence.ErrGone) {
		return ts.containerGone(ctx, c.ID, c.Type, err)
	}
	ts.fail(string(c.Type)+":"+c.ID, fmt.Errorf("%w; the %s itself still answers, so nothing was deleted (a deleted space, or one the crawl user can no longer view)", spaceErr, c.Type))
	return nil
}

// leaveScope deletes the documents of a page or blog post that Confluence
// shows out of the spec's scope now, with its comments and attachments, as
// a full crawl would (the spec asks for it; Confluence confirmed where the
// item is and what it is). A page that moved to a space out of scope
// (movedOut) takes along the pages Confluence now lists below it ("ancestor
// = id") in spaces out of scope, with theirs; pages below it that Confluence
// does not list there are left to the next full crawl.
func (ts *targetSync) leaveScope(ctx context.Context, c confluence.Content, why string, movedOut bool) error {
	ts.skipped.Add(1)
	ts.log.Info("deleting: out of the spec's scope", "type", c.Type, "id", c.ID, "space", c.SpaceKey, "reason", why)
	if err := ts.sink.Delete(ctx, opensearch.DocumentID(ts.DataSource, string(c.Type), c.ID)); err != nil {
		return err
	}
	ids := []string{c.ID}
	if movedOut && c.Type == confluence.TypePage {
		err := ts.Confluence.ListDescendantSpaces(ctx, c.ID, func(id, key string) error {
			if key == "" {
				return nil // where it is is unknown: not confirmed
			}
			sc, err := ts.space(ctx, key)
			if err != nil || sc != nil {
				return err // in scope: left as it is (not targeted)
			}
			ts.log.Info("deleting: out of the spec's scope", "type", c.Type, "id", id, "space", key, "reason", "below page "+c.ID+", which moved out of scope")
			ids = append(ids, id)
			return ts.sink.Delete(ctx, opensearch.DocumentID(ts.DataSource, string(confluence.TypePage), id))
		})
		if err != nil {
			ts.fail("descendants of page:"+c.ID, err)
		}
	}
	return ts.deleteChildren(ctx, ids, why)
}

// deleteChildren deletes the indexed comments and attachments of the given
// pages and blog posts: documents of their own (container_id), which no
// listing of a live container returns once their container is gone or out
// of scope.
func (r *run) deleteChildren(ctx context.Context, containerIDs []string, why string) error {
	if err := r.OpenSearch.Refresh(ctx, r.alias); err != nil {
		return err
	}
	var ids []string
	for part := range slices.Chunk(containerIDs, 1000) {
		f := opensearch.IDFilter{Datasource: r.DataSource, Types: []string{opensearch.TypeComment, opensearch.TypeAttachment}, ContainerIDs: part}
		if err := r.OpenSearch.StreamIDs(ctx, r.alias, f, func(id string) error { ids = append(ids, id); return nil }); err != nil {
			return err
		}
	}
	for _, id := range ids {
		r.log.Info("deleting: its page or blog post left the index", "id", id, "reason", why)
		if err := r.sink.Delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// space returns the crawl state of a space, reading its permissions once;
// nil if the spec's scope or filters exclude the space.
func (ts *targetSync) space(ctx context.Context, key string) (*spaceCrawl, error) {
	if sc, ok := ts.spaces[key]; ok {
		return sc, nil
	}
	s, err := ts.Confluence.GetSpace(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("space %s: %w", key, err)
	}
	if !ts.spaceInScope(s) {
		ts.spaces[key] = nil
		return nil, nil
	}
	// The space's permissions are read again (one call) and its record
	// updated, as a full crawl does for every space.
	clause, err := ts.spaceClause(ctx, key)
	if err != nil {
		return nil, err
	}
	sc := ts.newSpaceCrawl(ctx, s, clause)
	ts.spaces[key] = sc
	return sc, nil
}

// spaceInScope applies the spec's space scope and filters, as listSpaces does.
func (r *run) spaceInScope(s confluence.Space) bool {
	if s.Type == confluence.SpaceTypePersonal && !enabled(r.Spec.Scope.PersonalSpaces, false) {
		return false
	}
	if s.Status == confluence.SpaceArchived && !enabled(r.Spec.Scope.ArchivedSpaces, false) {
		return false
	}
	ok, _ := r.filters.spaces.allows(s.Key)
	return ok
}

// finish writes the containers and then re-lists their comments and
// attachments, space by space, and ends every space's crawl (see
// spaceCrawl.finish: a space whose targets were all hidden has nothing to
// re-list, but what is indexed below them is hidden too).
func (ts *targetSync) finish(ctx context.Context) error {
	for _, k := range slices.Sorted(maps.Keys(ts.spaces)) {
		sc := ts.spaces[k]
		if sc == nil {
			continue
		}
		if children, ok := ts.children[k]; ok {
			if err := sc.batch.handOn(ctx); err != nil {
				return err
			}
			ids := slices.Compact(slices.Sorted(slices.Values(children)))
			if sc.wantComments() {
				if err := ts.Confluence.ListContainerComments(ctx, ids, sc.comment); err != nil {
					ts.fail("comments in space "+k, err)
				}
			}
			if sc.wantAttachments() {
				if err := ts.Confluence.ListContainerAttachments(ctx, ids, sc.attachment); err != nil {
					ts.fail("attachments in space "+k, err)
				}
			}
		}
		ts.finished[k] = true
		if err := sc.finish(ctx, true); err != nil {
			return err
		}
	}
	return nil
}

// stop ends the crawls of the spaces finish did not reach (a run that
// failed early): nothing more is written but what hide owes, and no
// request outlives the run.
func (ts *targetSync) stop(ctx context.Context) {
	for k, sc := range ts.spaces {
		if sc != nil && !ts.finished[k] {
			ts.finished[k] = true
			_ = sc.finish(ctx, false)
		}
	}
}

// spacesIncrementally re-crawls whole spaces the way an Incremental sync
// does (listings without bodies; bodies only of what changed; every ACL
// recomputed), deleting nothing by absence.
func (ts *targetSync) spacesIncrementally(ctx context.Context, keys []string) error {
	var spaces []confluence.Space
	for _, k := range keys {
		s, err := ts.Confluence.GetSpace(ctx, k)
		if err != nil {
			ts.fail("space:"+k, err)
			continue
		}
		if !ts.spaceInScope(s) {
			ts.skipped.Add(1)
			continue
		}
		spaces = append(spaces, s)
	}
	if len(spaces) == 0 {
		return nil
	}
	for k, err := range ts.crawlSpaces(ctx, spaces) {
		ts.fail("space:"+k, err)
	}
	if ts.panicked != nil {
		return ts.panicked
	}
	return nil
}
