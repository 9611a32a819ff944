package crawl

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// principals renders who a restriction or permission admits, scoped to the
// data source so that another site's same-named groups never match.
func principals(src acl.Source, users []confluence.User, groups []confluence.Group, anonymous bool) []string {
	out := make([]string, 0, len(users)+len(groups)+1)
	for _, u := range users {
		if id := u.PrincipalID(); id != "" {
			out = append(out, src.User(id))
		}
	}
	for _, g := range groups {
		if id := g.PrincipalID(); id != "" {
			out = append(out, src.Group(id))
		}
	}
	if anonymous {
		out = append(out, acl.Anonymous)
	}
	return out
}

// spaceClause reads a space's view permission, makes the space's record
// current, and returns the clause the space's documents carry: the space's
// reference, not its principals (see package acl). A permission change thus
// writes the one record; documents are untouched.
//
// Documents written before space records copy the principals: they are
// switched to the reference first, then the record is written, so no
// document is ever visible beyond its old or its new permissions, and a
// document referencing a record not yet written is hidden (fail closed).
func (r *run) spaceClause(ctx context.Context, key string) (acl.Clause, error) {
	perms, err := r.Confluence.SpacePermissions(ctx, key)
	if err != nil {
		return acl.Clause{}, fmt.Errorf("space %s permissions: %w", key, err)
	}
	rec := opensearch.NewSpaceRecord(r.source, key, principals(r.source, perms.Users, perms.Groups, perms.Anonymous))
	rec.UpdatedAt = r.Now().UTC()
	if n, err := r.OpenSearch.ReferenceSpaceRecord(ctx, r.alias, r.DataSource, key); err != nil {
		return acl.Clause{}, fmt.Errorf("space %s: %w", key, err)
	} else if n > 0 {
		r.log.Info("documents switched from copied space principals to the space record", "space", key, "documents", n)
	}
	stored, err := r.OpenSearch.GetSpaceRecord(ctx, r.alias, r.DataSource, key)
	if err != nil {
		return acl.Clause{}, fmt.Errorf("space %s: %w", key, err)
	}
	if r.forced() || stored == nil || stored.Hash != rec.Hash || stored.Ref != rec.Ref {
		if err := r.OpenSearch.PutSpaceRecord(ctx, r.alias, rec); err != nil {
			if stored != nil {
				// The stored record may admit readers who lost the space:
				// without the new one, nobody reads it (fail closed).
				if derr := r.OpenSearch.DeleteSpaceRecord(ctx, r.alias, r.DataSource, key); derr != nil {
					err = fmt.Errorf("%w; removing the outdated record failed too, it stays until the next sync: %w", err, derr)
				}
			}
			return acl.Clause{}, fmt.Errorf("space %s: %w", key, err)
		}
		r.spaceRecordsWritten.Add(1)
	}
	r.mu.Lock()
	r.spacesCrawled = append(r.spacesCrawled, key)
	r.mu.Unlock()
	return acl.Clause{Level: acl.LevelSpace, Principals: []string{rec.Ref}}, nil
}

// restrictions remembers the read restriction of every page seen in a space's
// listing and looks up the others (ancestors listed later, or outside the
// scope) once each, so ancestor chains cost no per-page calls.
type restrictions struct {
	src    acl.Source
	lookup func(ctx context.Context, id string) (*confluence.Restriction, error)

	mu         sync.Mutex
	known      map[string]*confluence.Restriction // nil value: known to have none
	unreadable map[string]error                   // items Confluence does not show
}

func newRestrictions(src acl.Source, lookup func(context.Context, string) (*confluence.Restriction, error)) *restrictions {
	return &restrictions{src: src, lookup: lookup, known: map[string]*confluence.Restriction{}, unreadable: map[string]error{}}
}

// remember records the restriction a listing returned for id.
func (r *restrictions) remember(id string, res *confluence.Restriction) {
	r.mu.Lock()
	r.known[id] = res
	r.mu.Unlock()
}

func (r *restrictions) get(ctx context.Context, id string) (*confluence.Restriction, error) {
	r.mu.Lock()
	res, ok := r.known[id]
	gone, unreadable := r.unreadable[id]
	r.mu.Unlock()
	if ok {
		return res, nil
	}
	if unreadable {
		return nil, gone
	}
	res, err := r.lookup(ctx, id)
	if errors.Is(err, confluence.ErrContentUnreadable) {
		r.mu.Lock()
		r.unreadable[id] = err // asked once per run, like the readable ones
		r.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	r.remember(id, res)
	return res, nil
}

// errACL marks a document whose permissions could not be determined: it is
// hidden (fail closed) and counted as failed.
var errACL = errors.New("permissions unknown")

// contentACL is Confluence's effective read access to a page or blog post:
// the space's view permission (by reference, see spaceClause), the item's
// own read restriction, and the read restriction of every ancestor that has
// one.
func (r *restrictions) contentACL(ctx context.Context, space acl.Clause, c confluence.Content) (acl.ACL, error) {
	a := acl.ACL{space}
	if c.ReadRestriction != nil {
		a = append(a, acl.Clause{Level: acl.LevelPage, Principals: principals(r.src, c.ReadRestriction.Users, c.ReadRestriction.Groups, false)})
	}
	for _, anc := range ancestorsOf(c) {
		res, err := r.get(ctx, anc.ID)
		if err != nil {
			if anc.Type == string(confluence.TypePage) && errors.Is(err, confluence.ErrContentUnreadable) {
				// A trashed or outdated page, or someone else's draft, above
				// this page: Confluence does not show it to readers and shows
				// what is below it by the other layers (CONFCLOUD-77618,
				// CONFCLOUD-76424). Any other error, or any other type, denies.
				continue
			}
			return nil, fmt.Errorf("%w: read restriction of %s ancestor %s: %v", errACL, anc.Type, anc.ID, err)
		}
		if res != nil {
			a = append(a, acl.Clause{Level: acl.LevelAncestor, Principals: principals(r.src, res.Users, res.Groups, false)})
		}
	}
	return a.Normalize(), nil
}

// ancestorsOf returns c's ancestors with their types; ids without a known
// type get none, so no error on them is ever forgiven.
func ancestorsOf(c confluence.Content) []confluence.Ancestor {
	if len(c.Ancestors) == len(c.AncestorIDs) {
		return c.Ancestors
	}
	out := make([]confluence.Ancestor, len(c.AncestorIDs))
	for i, id := range c.AncestorIDs {
		out[i] = confluence.Ancestor{ID: id}
	}
	return out
}
