package controllers

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// secretRequirement is one Secret a data source references and the keys it
// must hold: all keys of at least one of KeySets.
type secretRequirement struct {
	Name string
	// Field is the spec path of the reference, for messages.
	Field   string
	KeySets [][]string
}

// secretRequirements lists the Secrets the spec references, in spec order.
func secretRequirements(obj *v1alpha1.ConfluenceDataSource) []secretRequirement {
	spec := &obj.Spec
	reqs := []secretRequirement{{
		Name:    spec.Confluence.Auth.SecretRef.Name,
		Field:   "spec.confluence.auth.secretRef",
		KeySets: [][]string{v1alpha1.RequiredSecretKeys(spec.Confluence.Auth.Type)},
	}}
	if spec.Webhook != nil {
		// Only this key of the auth Secret is read by the manager.
		reqs = append(reqs, secretRequirement{Name: spec.Confluence.Auth.SecretRef.Name, Field: webhookField,
			KeySets: [][]string{{webhookSecretKey(obj)}}})
	}
	if p := spec.Confluence.Proxy; p != nil && p.SecretRef != nil {
		reqs = append(reqs, secretRequirement{Name: p.SecretRef.Name, Field: "spec.confluence.proxy.secretRef",
			KeySets: [][]string{{v1alpha1.SecretKeyUsername, v1alpha1.SecretKeyPassword}}})
	}
	if t := spec.Confluence.TLS; t != nil && t.CASecretRef != nil {
		reqs = append(reqs, secretRequirement{Name: t.CASecretRef.Name, Field: "spec.confluence.tls.caSecretRef",
			KeySets: [][]string{{v1alpha1.SecretKeyCACert}}})
	}
	if a := spec.OpenSearch.Auth; a != nil {
		reqs = append(reqs, secretRequirement{Name: a.SecretRef.Name, Field: "spec.opensearch.auth.secretRef",
			KeySets: [][]string{{v1alpha1.SecretKeyUsername, v1alpha1.SecretKeyPassword}, {v1alpha1.SecretKeyAPIKey}}})
	}
	if t := spec.OpenSearch.TLS; t != nil && t.CASecretRef != nil {
		reqs = append(reqs, secretRequirement{Name: t.CASecretRef.Name, Field: "spec.opensearch.tls.caSecretRef",
			KeySets: [][]string{{v1alpha1.SecretKeyCACert}}})
	}
	return reqs
}

// referencedSecretNames returns the sorted, distinct names of referenced Secrets.
func referencedSecretNames(obj *v1alpha1.ConfluenceDataSource) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range secretRequirements(obj) {
		if r.Name != "" && !seen[r.Name] {
			seen[r.Name] = true
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	return names
}

// crawlerWrittenSecrets are the Secrets the crawler itself may write: the
// OAuth2 credentials, where it stores each rotated refresh token.
func crawlerWrittenSecrets(obj *v1alpha1.ConfluenceDataSource) []string {
	if obj.Spec.Confluence.Auth.Type == v1alpha1.AuthOAuth2 {
		return []string{obj.Spec.Confluence.Auth.SecretRef.Name}
	}
	return nil
}

// encodeSecretVersions renders Secret resourceVersions by name as compact
// JSON with sorted keys, for a Job annotation and a Job name hash.
func encodeSecretVersions(versions map[string]string) string {
	b, err := json.Marshal(versions)
	if err != nil {
		return "" // unreachable: a map of strings always marshals
	}
	return string(b)
}

// decodeSecretVersions parses encodeSecretVersions' output; it returns nil
// for an empty or unreadable value.
func decodeSecretVersions(s string) map[string]string {
	var versions map[string]string
	if s == "" || json.Unmarshal([]byte(s), &versions) != nil {
		return nil
	}
	return versions
}

// missingKeys checks the keys of a Secret (never its values, beyond being
// non-empty) against a requirement. It returns nil when satisfied, else the
// keys missing from the key set closest to complete.
func missingKeys(req secretRequirement, data map[string][]byte) []string {
	var best []string
	for i, set := range req.KeySets {
		var missing []string
		for _, k := range set {
			if len(data[k]) == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if i == 0 || len(missing) < len(best) {
			best = missing
		}
	}
	return best
}

// describeKeySets renders the accepted key sets: "username and password, or apiKey".
func describeKeySets(sets [][]string) string {
	alts := make([]string, len(sets))
	for i, set := range sets {
		quoted := make([]string, len(set))
		for k, key := range set {
			quoted[k] = fmt.Sprintf("%q", key)
		}
		alts[i] = strings.Join(quoted, " and ")
	}
	return strings.Join(alts, ", or ")
}

// secretKeyMissingMessage names the Secret, the reference and the keys.
func secretKeyMissingMessage(req secretRequirement, missing []string) string {
	quoted := make([]string, len(missing))
	for i, k := range missing {
		quoted[i] = fmt.Sprintf("%q", k)
	}
	noun := "key"
	if len(missing) > 1 {
		noun = "keys"
	}
	msg := fmt.Sprintf("Secret %q (%s) lacks %s %s", req.Name, req.Field, noun, strings.Join(quoted, ", "))
	if len(req.KeySets) > 1 {
		msg += fmt.Sprintf("; it needs %s", describeKeySets(req.KeySets))
	}
	return msg
}
