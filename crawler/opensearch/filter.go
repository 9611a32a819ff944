package opensearch

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// ACLFilter returns the query that admits exactly the documents whose ACL
// allows a reader holding principals (acl.ACL.Allows): every clause must
// name one of the principals or anonymous. Written as "no clause lacks all
// of the reader's principals":
//
//	bool:
//	  filter:   nested(acl, match_all)          # fail closed: no ACL, no access
//	  must_not: nested(acl, bool.must_not: terms(acl.principals, principals))
//
// Group membership lives in principals, not in the index, so a membership
// change needs no re-index. Space permissions likewise: a document's space
// clause names the space's reference (acl.Source.Space), so principals must
// include the references of the spaces the reader may view, as
// ResolvePrincipals returns them (ExpandSpaces); without them every document
// is hidden.
func ACLFilter(principals []string) map[string]any {
	p := withAnonymous(principals)
	return map[string]any{"bool": map[string]any{
		"filter": []any{map[string]any{"nested": map[string]any{
			"path": "acl", "query": map[string]any{"match_all": map[string]any{}},
		}}},
		"must_not": []any{map[string]any{"nested": map[string]any{
			"path": "acl",
			"query": map[string]any{"bool": map[string]any{"must_not": []any{
				map[string]any{"terms": map[string]any{"acl.principals": p}},
			}}},
		}}},
	}}
}

func withAnonymous(principals []string) []string {
	p := append(slices.Clone(principals), acl.Anonymous)
	slices.Sort(p)
	return slices.Compact(p)
}

// ACLFilterJSON renders ACLFilter as an indented JSON query snippet, ready to
// put into a bool.filter of a search application's own query.
func ACLFilterJSON(principals []string) []byte {
	b, _ := json.MarshalIndent(ACLFilter(principals), "", "  ")
	return b
}

// DefaultDLSAttribute is the user attribute DLSRole reads principals from.
const DefaultDLSAttribute = "attr.internal.confluence_principals"

// DLSRole returns an OpenSearch Security role (PUT
// _plugins/_security/api/roles/<name>) that enforces the ACL filter in the
// engine for the indices of alias and of its passages (PassageAlias),
// reading the user's principals from a user attribute by parameter
// substitution.
//
// attribute is the substitution variable without "${}" (default
// DefaultDLSAttribute; attr.ldap.<name> and attr.jwt.<name> work too). Its
// value must be the principals as comma-separated JSON strings, as
// DLSAttributeValue renders them, for example
//
//	"search/eng-wiki:user:5b10a2844c20165700ede21g","search/eng-wiki:group:2f7b3c1e-…"
//
// Principals are scoped to their data source (acl.Source), so one role
// serves every data source of the alias: a user's attribute lists the scoped
// principals of each data source they belong to, and a same-named group of
// another site matches nothing.
//
// The value must also list the references of the spaces the user may view
// (documents name their space by reference, see ACLFilter): it is the
// user's resolved principals (ResolvePrincipals, or search
// --print-dls-attribute), recomputed when the user's groups or a space's
// permissions change (typically at each login, where the identity provider
// or proxy sets the attribute). A single static query cannot do the two
// lookups itself: OpenSearch Security's terms-lookup in DLS reads one
// document's field, which would have to be a per-user list of readable
// spaces rewritten for every user of a space on each permission change.
//
// An empty value is allowed (the user sees nothing: even anonymous spaces
// need their references); a missing attribute leaves the variable
// unsubstituted, which makes the query invalid and every search fail —
// closed, not open. anonymous is part of the query itself.
func DLSRole(alias, attribute string) map[string]any {
	if attribute == "" {
		attribute = DefaultDLSAttribute
	}
	dls := `{"bool":{"filter":[{"nested":{"path":"acl","query":{"match_all":{}}}}],` +
		`"must_not":[{"nested":{"path":"acl","query":{"bool":{"must_not":[` +
		`{"terms":{"acl.principals":[${` + attribute + `}]}},` +
		`{"term":{"acl.principals":"` + acl.Anonymous + `"}}]}}}}]}}`
	return map[string]any{
		"description":         "Read Confluence documents of " + alias + " as allowed by their ACLs (confluence-operator)",
		"cluster_permissions": []string{"cluster_composite_ops_ro"},
		"index_permissions": []any{map[string]any{
			// The passages carry their documents' ACL fields: one DLS query serves both.
			"index_patterns":  []string{alias, alias + "-v*", PassageAlias(alias), PassageAlias(alias) + "-v*"},
			"dls":             dls,
			"allowed_actions": []string{"read"},
		}},
	}
}

// DLSAttributeValue renders principals for the DLS user attribute.
func DLSAttributeValue(principals []string) string {
	parts := make([]string, 0, len(principals))
	for _, p := range principals {
		if p == acl.Anonymous {
			continue
		}
		b, _ := json.Marshal(p)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, ",")
}
