// Package manifest reads a ConfluenceDataSource manifest and turns its spec
// plus credential keys into client configurations, the same way in a Job and
// on a laptop.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// Load reads the first ConfluenceDataSource in a YAML or JSON file (other
// documents, such as Secrets in the same file, are ignored) and fills in the
// defaults the API server would apply.
func Load(path string) (*v1.ConfluenceDataSource, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for n := 1; ; n++ {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no ConfluenceDataSource found", path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			// Say where the YAML breaks rather than that nothing was found.
			return nil, fmt.Errorf("%s: document %d is not valid YAML: %w", path, n, err)
		}
		if meta.Kind != "ConfluenceDataSource" {
			continue
		}
		ds := &v1.ConfluenceDataSource{}
		if err := yaml.UnmarshalStrict(doc, ds); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if ds.Name == "" {
			return nil, fmt.Errorf("%s: metadata.name is empty", path)
		}
		if ds.Namespace == "" {
			ds.Namespace = "default"
		}
		Default(&ds.Spec)
		return ds, nil
	}
}

// Default fills the fields the CRD defaults, for manifests that never went
// through an API server.
func Default(s *v1.ConfluenceDataSourceSpec) {
	if s.Confluence.Deployment == "" {
		s.Confluence.Deployment = v1.DeploymentCloud
	}
	if s.Confluence.Auth.Type == "" {
		s.Confluence.Auth.Type = v1.AuthBasic
	}
	if s.Sync.MaxDeletionPercent == nil {
		p := v1.DefaultMaxDeletionPercent
		s.Sync.MaxDeletionPercent = &p
	}
	if s.Sync.Mode == "" {
		s.Sync.Mode = v1.SyncFullCrawl
	}
	if s.Language == "" {
		s.Language = "en"
	}
	if s.OpenSearch.Index == "" {
		s.OpenSearch.Index = "confluence"
	}
	if s.DeletionPolicy == "" {
		s.DeletionPolicy = v1.DeletionPolicyDelete
	}
}

// Key is the "namespace/name" documents of a data source carry.
func Key(ds *v1.ConfluenceDataSource) string { return ds.Namespace + "/" + ds.Name }

// Secrets holds the keys of the Secrets a data source references.
type Secrets struct {
	// Confluence is the auth Secret (spec.confluence.auth.secretRef).
	Confluence map[string][]byte
	// ConfluenceCA is the ca.crt of spec.confluence.tls.caSecretRef.
	ConfluenceCA []byte
	// Proxy holds username/password of spec.confluence.proxy.secretRef.
	Proxy map[string][]byte
	// OpenSearch is the spec.opensearch.auth Secret.
	OpenSearch map[string][]byte
	// OpenSearchCA is the ca.crt of spec.opensearch.tls.caSecretRef.
	OpenSearchCA []byte
}

// ConfluenceConfig maps the spec and credentials to a client configuration.
// Missing keys are reported by name, never with values.
func ConfluenceConfig(s v1.ConfluenceDataSourceSpec, sec Secrets) (confluence.Config, error) {
	c := s.Confluence
	cfg := confluence.Config{
		BaseURL:              c.URL,
		Deployment:           confluence.Deployment(c.Deployment),
		AuthType:             confluence.AuthType(c.Auth.Type),
		MaxRequestsPerSecond: float64(c.MaxRequestsPerSecond),
		CACertPEM:            sec.ConfluenceCA,
	}
	var missing []string
	get := func(key string) string {
		v, ok := sec.Confluence[key]
		if !ok || len(bytes.TrimSpace(v)) == 0 {
			missing = append(missing, key)
		}
		return strings.TrimSpace(string(v))
	}
	switch c.Auth.Type {
	case v1.AuthOAuth2:
		cfg.Credentials.AppKey = get(v1.SecretKeyAppKey)
		cfg.Credentials.AppSecret = get(v1.SecretKeyAppSecret)
		cfg.Credentials.AccessToken = get(v1.SecretKeyAccessToken)
		cfg.Credentials.RefreshToken = get(v1.SecretKeyRefreshToken)
		if o := c.Auth.OAuth2; o != nil {
			cfg.TokenURL, cfg.GatewayURL, cfg.CloudID = o.TokenURL, o.APIGatewayURL, o.CloudID
		}
	case v1.AuthPersonalAccessToken:
		cfg.Credentials.PAT = get(v1.SecretKeyPAT)
	default:
		cfg.Credentials.Username = get(v1.SecretKeyUsername)
		cfg.Credentials.Password = get(v1.SecretKeyPassword)
	}
	if len(missing) > 0 {
		return cfg, fmt.Errorf("secret %q lacks key(s) %s required by auth type %s", c.Auth.SecretRef.Name, strings.Join(missing, ", "), c.Auth.Type)
	}
	if p := c.Proxy; p != nil {
		cfg.ProxyURL = p.URL
		cfg.ProxyUsername = string(sec.Proxy[v1.SecretKeyUsername])
		cfg.ProxyPassword = string(sec.Proxy[v1.SecretKeyPassword])
	}
	return cfg, nil
}

// OpenSearchConfig maps the spec and credentials to an OpenSearch client
// configuration; endpoints, if given, replace the spec's.
func OpenSearchConfig(s v1.ConfluenceDataSourceSpec, sec Secrets, endpoints []string) (opensearch.Config, error) {
	cfg := opensearch.Config{Endpoints: s.OpenSearch.Endpoints, CACert: sec.OpenSearchCA}
	if len(endpoints) > 0 {
		cfg.Endpoints = endpoints
	}
	if len(cfg.Endpoints) == 0 {
		return cfg, errors.New("no OpenSearch endpoint: set spec.opensearch.endpoints")
	}
	if t := s.OpenSearch.TLS; t != nil {
		cfg.InsecureSkipVerify = t.InsecureSkipVerify
	}
	// Credentials that were given are used; they are required when the spec names a Secret.
	cfg.Username = string(sec.OpenSearch[v1.SecretKeyUsername])
	cfg.Password = string(sec.OpenSearch[v1.SecretKeyPassword])
	cfg.APIKey = string(sec.OpenSearch[v1.SecretKeyAPIKey])
	complete := cfg.APIKey != "" || (cfg.Username != "" && cfg.Password != "")
	switch a := s.OpenSearch.Auth; {
	case a != nil && !complete:
		return cfg, fmt.Errorf("secret %q needs keys username and password, or apiKey", a.SecretRef.Name)
	case sec.OpenSearch != nil && !complete:
		return cfg, errors.New("the OpenSearch credentials need keys username and password, or apiKey")
	}
	return cfg, nil
}
