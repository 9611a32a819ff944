package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// Source describes a ConfluenceDataSource against a fake Confluence, with the
// OpenSearch of the cluster.
type Source struct {
	Namespace, Name string
	Confluence      *fakeconfluence.Server
	// Auth is Basic, OAuth2 or PersonalAccessToken (default Basic).
	Auth string
	// Credentials are the keys of the Confluence credentials Secret
	// (<name>-confluence).
	Credentials map[string]string
	// Index is the OpenSearch alias (default "confluence").
	Index string
	// DeletionPolicy is Delete or Retain (default Delete).
	DeletionPolicy string
	// ExcludeSpaces are space-key regexes to leave out.
	ExcludeSpaces []string
	// BackoffLimit of the crawler Jobs; nil keeps the default (2). Tests that
	// expect failures set 0, so a failed sync is not retried for a minute.
	BackoffLimit *int32
	// ChangePollInterval and ACLRecheckInterval set spec.sync's fields of
	// the same names when not empty (e.g. "30s").
	ChangePollInterval, ACLRecheckInterval string
	// Webhook sets spec.webhook (Data Center); the webhook secret is the
	// Credentials key webhookSecret.
	Webhook bool
	// PassageBytes, if set, turns spec.passages on with this target size.
	PassageBytes int
}

// SecretName is the Confluence credentials Secret of a source.
func (s Source) SecretName() string { return s.Name + "-confluence" }

// OpenSearchSecretName is the OpenSearch credentials Secret, used with a real OpenSearch.
func (s Source) OpenSearchSecretName() string { return s.Name + "-opensearch" }

// SecretYAML renders an Opaque Secret with string data. It opts in to every
// data source of its namespace and to the loopback hosts the fakes and the
// local OpenSearch listen on (v1alpha1.AllowedDataSourcesAnnotation,
// v1alpha1.AllowedHostsAnnotation), as a Secret owner would for their own
// data sources.
func SecretYAML(namespace, name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n  annotations:\n    %s: \"*\"\n    %s: \"127.0.0.1, localhost, ::1\"\ntype: Opaque\nstringData:\n",
		name, namespace, v1alpha1.AllowedDataSourcesAnnotation, v1alpha1.AllowedHostsAnnotation)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, strconv.Quote(data[k]))
	}
	return b.String()
}

// DataSourceYAML renders the ConfluenceDataSource alone (what `search
// --datasource` reads).
func (c *Cluster) DataSourceYAML(s Source) string {
	auth := s.Auth
	if auth == "" {
		auth = "Basic"
	}
	deployment := "Cloud"
	if s.Confluence.Deployment() == fakeconfluence.DataCenter {
		deployment = "DataCenter"
	}
	index := s.Index
	if index == "" {
		index = "confluence"
	}
	policy := s.DeletionPolicy
	if policy == "" {
		policy = "Delete"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: sources.confluence-operator.dev/v1alpha1
kind: ConfluenceDataSource
metadata:
  name: %s
  namespace: %s
spec:
  confluence:
    url: %s
    deployment: %s
    auth:
      type: %s
      secretRef: {name: %s}
`, s.Name, s.Namespace, s.Confluence.URL(), deployment, auth, s.SecretName())
	if auth == "OAuth2" {
		fmt.Fprintf(&b, "      oauth2: {tokenURL: %q, apiGatewayURL: %q, cloudID: %q}\n",
			s.Confluence.TokenURL(), s.Confluence.RootURL(), s.Confluence.CloudID())
	}
	b.WriteString("    maxRequestsPerSecond: 1000\n")
	if len(s.ExcludeSpaces) > 0 {
		fmt.Fprintf(&b, "  filters:\n    spaces: {exclude: [%s]}\n", quoteList(s.ExcludeSpaces))
	}
	fmt.Fprintf(&b, "  opensearch:\n    endpoints: [%q]\n    index: %s\n", c.OpenSearchURL, index)
	if c.OpenSearchUsername != "" {
		fmt.Fprintf(&b, "    auth: {secretRef: {name: %s}}\n", s.OpenSearchSecretName())
	}
	if s.BackoffLimit != nil {
		fmt.Fprintf(&b, "  crawler:\n    backoffLimit: %d\n", *s.BackoffLimit)
	}
	if s.ChangePollInterval != "" || s.ACLRecheckInterval != "" {
		b.WriteString("  sync:\n")
		if s.ChangePollInterval != "" {
			fmt.Fprintf(&b, "    changePollInterval: %s\n", s.ChangePollInterval)
		}
		if s.ACLRecheckInterval != "" {
			fmt.Fprintf(&b, "    aclRecheckInterval: %s\n", s.ACLRecheckInterval)
		}
	}
	if s.PassageBytes > 0 {
		fmt.Fprintf(&b, "  passages: {enabled: true, targetBytes: %d, overlapBytes: %d}\n", s.PassageBytes, s.PassageBytes/10)
	}
	fmt.Fprintf(&b, "  deletionPolicy: %s\n", policy)
	if s.Webhook {
		b.WriteString("  webhook: {}\n")
	}
	return b.String()
}

// Manifest renders the Secrets and the ConfluenceDataSource of a source as
// one multi-document YAML, ready for kubectl apply.
func (c *Cluster) Manifest(s Source) string {
	docs := []string{SecretYAML(s.Namespace, s.SecretName(), s.Credentials)}
	if c.OpenSearchUsername != "" {
		docs = append(docs, SecretYAML(s.Namespace, s.OpenSearchSecretName(),
			map[string]string{"username": c.OpenSearchUsername, "password": c.OpenSearchPassword}))
	}
	return strings.Join(append(docs, c.DataSourceYAML(s)), "---\n")
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// Search runs `confluence-operator search` against the data source manifest
// at datasourceFile as user, with extra flags and the query words, and
// returns standard output and standard error.
func (c *Cluster) Search(ctx context.Context, datasourceFile, user string, args ...string) (stdout, stderr string, err error) {
	argv := []string{"search", "--datasource", datasourceFile, "--user", user, "--opensearch-url", c.OpenSearchURL}
	if c.OpenSearchUsername != "" {
		creds, err := c.WriteFile("opensearch-credentials.yaml", SecretYAML("default", "opensearch",
			map[string]string{"username": c.OpenSearchUsername, "password": c.OpenSearchPassword}))
		if err != nil {
			return "", "", err
		}
		argv = append(argv, "--opensearch-credentials", creds)
	}
	cmd := exec.CommandContext(ctx, c.Binary, append(argv, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("confluence-operator %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}

// SearchAll returns every hit user may see in the data source (an empty
// query, up to 10,000 hits).
func (c *Cluster) SearchAll(ctx context.Context, datasourceFile, user string) (*opensearch.SearchResult, error) {
	out, _, err := c.Search(ctx, datasourceFile, user, "--output", "json", "--size", "10000")
	if err != nil {
		return nil, err
	}
	var res opensearch.SearchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return nil, fmt.Errorf("search output %q: %w", out, err)
	}
	return &res, nil
}
