// Package acl is the permission model shared by the crawler (which computes a
// document's access-control list from Confluence) and the search side (which
// filters by it).
//
// Confluence grants read access to a page only if the reader holds the space's
// view permission AND passes the read restriction of the page itself AND of
// every restricted ancestor. An ACL is therefore a conjunction of clauses, one
// per level that restricts anything; each clause is a disjunction of
// principals. A reader may see a document iff every clause names at least one
// of the reader's principals. Storing clauses (rather than an intersected user
// list) keeps group membership out of the index, so a membership change needs
// no re-index.
package acl

import (
	"crypto/sha256"
	"encoding/hex"
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
// anonymous view.
const Anonymous = "anonymous"

// User returns the principal of a user: the Cloud accountId or the Data Center userKey.
func User(id string) string { return "user:" + id }

// Group returns the principal of a group: the Cloud group id or the Data Center group name.
func Group(id string) string { return "group:" + id }

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
