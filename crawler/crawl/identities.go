package crawl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// crawlIdentities writes one identity document per user with the user's
// groups as principals scoped to this data source, so search can expand a
// user to principals at query time. Nothing is written when the identities did not change since the
// previous run (same hash).
func (r *run) crawlIdentities(ctx context.Context, previousHash string, start time.Time) (int64, string, error) {
	users := map[string]*opensearch.Identity{}
	identity := func(u confluence.User) *opensearch.Identity {
		id := u.PrincipalID()
		if id == "" || u.AccountType == "app" || u.AccountType == "anonymous" {
			return nil
		}
		if existing, ok := users[id]; ok {
			return existing
		}
		ident := &opensearch.Identity{Datasource: r.DataSource, Principal: r.source.User(id), UserID: id, Email: u.Email, Username: u.Username, DisplayName: u.DisplayName, Groups: []string{}}
		users[id] = ident
		return ident
	}
	if err := r.Confluence.ListUsers(ctx, func(u confluence.User) error { identity(u); return nil }); err != nil {
		return 0, "", err
	}
	var groups []confluence.Group
	if err := r.Confluence.ListGroups(ctx, func(g confluence.Group) error { groups = append(groups, g); return nil }); err != nil {
		return 0, "", err
	}
	for _, g := range groups {
		principal := r.source.Group(g.PrincipalID())
		var members []*opensearch.Identity
		err := r.Confluence.ListGroupMembers(ctx, g, func(u confluence.User) error {
			if ident := identity(u); ident != nil {
				members = append(members, ident)
			}
			return nil
		})
		if groupOnly(err) {
			// One unreadable group (e.g. a Data Center name containing "/")
			// fails closed for its members only: nobody is given the group.
			r.log.Error(err, "group members not listed; its members get no access through it", "group", g.Name)
			r.mu.Lock()
			r.groupsSkipped = append(r.groupsSkipped, g.Name)
			r.mu.Unlock()
			continue
		}
		if err != nil {
			return 0, "", err
		}
		for _, ident := range members {
			ident.Groups = append(ident.Groups, principal)
		}
	}
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var parts []any
	list := make([]opensearch.Identity, 0, len(ids))
	for _, id := range ids {
		ident := users[id]
		slices.Sort(ident.Groups)
		ident.UpdatedAt = start
		parts = append(parts, ident.Principal, ident.Email, ident.Username, ident.DisplayName, ident.Groups)
		list = append(list, *ident)
	}
	hash := hashOf(parts...)
	if hash == previousHash {
		return int64(len(list)), hash, nil
	}
	for chunk := range slices.Chunk(list, 500) {
		if err := r.OpenSearch.UpsertIdentities(ctx, r.alias, chunk); err != nil {
			return 0, "", fmt.Errorf("%w: %w", ErrIndexingFailed, err)
		}
	}
	if _, err := r.OpenSearch.DeleteIdentitiesBefore(ctx, r.alias, r.DataSource, start); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrIndexingFailed, err)
	}
	return int64(len(list)), hash, nil
}

// groupOnly reports whether listing a group's members failed for reasons of
// that group alone: Confluence answered with an HTTP error status (possibly
// after retries). Network, credential and cancellation errors fail the sync.
func groupOnly(err error) bool {
	if err == nil || errors.Is(err, confluence.ErrCredentialsRejected) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var he *confluence.HTTPError
	var fe *confluence.ForbiddenError
	return errors.As(err, &he) || errors.As(err, &fe)
}
