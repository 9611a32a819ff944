// Package acl is the permission model shared by the crawler (which computes a
// document's access-control list from Confluence) and the search side (which
// filters by it).
//
// Confluence grants read access to a page only if the reader holds the space's
// view permission AND passes the read restriction of the page itself AND of
// every restricted ancestor. An ACL is therefore a conjunction of clauses, one
// per level that restricts anything; each clause is a disjunction of
// principals, each scoped to the data source that wrote it (see Source). A
// reader may see a document iff every clause names at least one of the
// reader's principals. Storing clauses (rather than an intersected user
// list) keeps group membership out of the index, so a membership change needs
// no re-index.
//
// The space clause is resolved at query time too: a document's space clause
// names one principal, the space's reference (Source.Space), and the space's
// own principals live once per data source in a space record. A reader holds
// a space reference iff the space record names one of the reader's
// principals; without a record nobody holds it (fail closed). A change of a
// space's permissions therefore rewrites one record, not every page.
package acl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Level says where in Confluence's permission model a clause comes from.
type Level string

const (
	// LevelSpace is the space's "view space" permission.
	LevelSpace Level = "space"
	// LevelPage is the read restriction on the document's own page or blog post.
	LevelPage Level = "page"
	// LevelAncestor is the read restriction on one ancestor page.
	LevelAncestor Level = "ancestor"
)

// Anonymous is the principal every reader holds, granted where a space allows
// anonymous view. It is the only principal not scoped to a data source: a
// space any unauthenticated visitor can read is public whatever site the
// reader comes from.
const Anonymous = "anonymous"

// Source is the data source a principal belongs to, "namespace/name".
//
// Principals are scoped to their source: the crawler of data source S writes
// S.User(id) and S.Group(id), and a reader's identity in S resolves to
// principals of S only. Two Confluence sites sharing an index routinely reuse
// group names (confluence-users, hr) and, on Data Center, user keys; scoped,
// a group or user of one site can never satisfy a clause written by another
// data source, whatever the alias sharing. Kubernetes names contain neither
// "/" nor ":", so "<namespace>/<name>:" is an unambiguous prefix and the
// unscoped principals of older indexes ("group:hr") match no scoped one.
type Source string

var sourcePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// ParseSource checks that datasource is "namespace/name" with Kubernetes
// names, so that the principals it scopes cannot be confused with another
// source's.
func ParseSource(datasource string) (Source, error) {
	if !sourcePattern.MatchString(datasource) {
		return "", fmt.Errorf("acl: data source %q is not namespace/name", datasource)
	}
	return Source(datasource), nil
}

// User returns the principal of a user of this source: the Cloud accountId
// or the Data Center userKey.
func (s Source) User(id string) string { return string(s) + ":user:" + id }

// Group returns the principal of a group of this source: the Cloud group id
// or the Data Center group name.
func (s Source) Group(id string) string { return string(s) + ":group:" + id }

// Space returns the reference principal of a space of this source: the only
// principal of a document's space clause. Readers hold it through the
// space's record (see the package comment), never directly.
func (s Source) Space(key string) string { return string(s) + spaceInfix + key }

const spaceInfix = ":space:"

// IsSpaceRef reports whether principal is a space reference of any source.
// Identities must never carry one: a user or group principal that looked
// like a space reference would open the space without its record.
func IsSpaceRef(principal string) bool {
	_, rest, ok := strings.Cut(principal, ":")
	return ok && strings.HasPrefix(":"+rest, spaceInfix)
}

// Owns reports whether principal is scoped to this source.
func (s Source) Owns(principal string) bool {
	return s != "" && strings.HasPrefix(principal, string(s)+":")
}

// Clause is one level of the conjunction: a reader passes it by holding any of
// its principals. A clause without principals admits nobody.
type Clause struct {
	Level      Level    `json:"level"`
	Principals []string `json:"principals"`
}

// ACL is the conjunction of clauses guarding one document. An empty ACL means
// the permissions are unknown, and unknown means hidden (fail closed).
type ACL []Clause

// Normalize sorts and de-duplicates each clause's principals and orders the
// clauses, so that equal permissions compare and hash equally.
func (a ACL) Normalize() ACL {
	out := make(ACL, 0, len(a))
	for _, c := range a {
		p := slices.Clone(c.Principals)
		slices.Sort(p)
		out = append(out, Clause{Level: c.Level, Principals: slices.Compact(p)})
	}
	slices.SortStableFunc(out, func(x, y Clause) int {
		if c := strings.Compare(levelRank(x.Level), levelRank(y.Level)); c != 0 {
			return c
		}
		return slices.Compare(x.Principals, y.Principals)
	})
	return out
}

func levelRank(l Level) string {
	switch l {
	case LevelSpace:
		return "0"
	case LevelPage:
		return "1"
	default:
		return "2" + string(l)
	}
}

// Hash is a stable digest of the normalized ACL, stored beside each document
// so that a crawl can tell an ACL change without reading the clauses back.
func (a ACL) Hash() string {
	h := sha256.New()
	for _, c := range a.Normalize() {
		h.Write([]byte(c.Level))
		for _, p := range c.Principals {
			h.Write([]byte{0})
			h.Write([]byte(p))
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Allows reports whether a reader holding principals may see a document
// guarded by a. It is the reference semantics the search filter implements.
func (a ACL) Allows(principals []string) bool {
	if len(a) == 0 {
		return false
	}
	held := make(map[string]struct{}, len(principals)+1)
	for _, p := range principals {
		held[p] = struct{}{}
	}
	held[Anonymous] = struct{}{}
	for _, c := range a {
		if !slices.ContainsFunc(c.Principals, func(p string) bool { _, ok := held[p]; return ok }) {
			return false
		}
	}
	return true
}
