package manifest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ds.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_FindsTheDataSourceAmongSecretsAndDefaults(t *testing.T) {
	for _, sample := range []string{"cloud-basic.yaml", "cloud-oauth2.yaml", "datacenter-pat.yaml"} {
		ds, err := manifest.Load(filepath.Join("..", "..", "config", "samples", sample))
		if err != nil {
			t.Fatalf("%s: %v", sample, err)
		}
		if ds.Namespace != "default" || ds.Spec.OpenSearch.Index == "" || ds.Spec.Language != "en" || ds.Spec.Sync.Mode == "" {
			t.Errorf("%s: defaults not applied: %+v", sample, ds.Spec)
		}
	}
}

func TestLoad_RejectsUnknownFieldsAndMissingKinds(t *testing.T) {
	typo := write(t, "apiVersion: sources.confluence-operator.dev/v1alpha1\nkind: ConfluenceDataSource\nmetadata: {name: x}\nspec:\n  confluence: {url: https://x.atlassian.net/wiki, auth: {secretRef: {name: s}}}\n  opensearch: {endpoints: [http://localhost:9200]}\n  sycn: {mode: FullCrawl}\n")
	if _, err := manifest.Load(typo); err == nil || !strings.Contains(err.Error(), "sycn") {
		t.Fatalf("a misspelled field must be named: %v", err)
	}
	secretOnly := write(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
	if _, err := manifest.Load(secretOnly); err == nil || !strings.Contains(err.Error(), "no ConfluenceDataSource") {
		t.Fatalf("want 'no ConfluenceDataSource', got %v", err)
	}
}

func TestConfluenceConfig_NamesMissingKeysNeverValues(t *testing.T) {
	spec := v1.ConfluenceDataSourceSpec{Confluence: v1.ConfluenceSpec{
		URL: "https://x.atlassian.net/wiki", Deployment: v1.DeploymentCloud,
		Auth: v1.ConfluenceAuth{Type: v1.AuthOAuth2, SecretRef: v1.SecretReference{Name: "oauth"}},
	}}
	_, err := manifest.ConfluenceConfig(spec, manifest.Secrets{Confluence: map[string][]byte{
		v1.SecretKeyAppKey: []byte("key-value"), v1.SecretKeyAppSecret: []byte("secret-value"),
	}})
	if err == nil {
		t.Fatal("missing tokens accepted")
	}
	for _, want := range []string{`"oauth"`, v1.SecretKeyAccessToken, v1.SecretKeyRefreshToken} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret-value") || strings.Contains(err.Error(), "key-value") {
		t.Fatalf("error shows a secret value: %v", err)
	}
}

func TestOpenSearchConfig_NeedsCredentialsWhenAuthIsSet(t *testing.T) {
	spec := v1.ConfluenceDataSourceSpec{OpenSearch: v1.OpenSearchSpec{
		Endpoints: []string{"https://os:9200"}, Auth: &v1.OpenSearchAuth{SecretRef: v1.SecretReference{Name: "writer"}},
	}}
	if _, err := manifest.OpenSearchConfig(spec, manifest.Secrets{}, nil); err == nil || !strings.Contains(err.Error(), `"writer"`) {
		t.Fatalf("want an error naming the Secret, got %v", err)
	}
	cfg, err := manifest.OpenSearchConfig(spec, manifest.Secrets{OpenSearch: map[string][]byte{"apiKey": []byte("k")}}, []string{"http://override:9200"})
	if err != nil || cfg.APIKey != "k" || cfg.Endpoints[0] != "http://override:9200" {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
}

func TestLoad_MalformedYAMLSaysWhereNotThatNothingWasFound(t *testing.T) {
	broken := write(t, "apiVersion: sources.confluence-operator.dev/v1alpha1\nkind: ConfluenceDataSource\nmetadata: {name: x\nspec:\n  confluence: [\n")
	_, err := manifest.Load(broken)
	if err == nil || strings.Contains(err.Error(), "no ConfluenceDataSource") || !strings.Contains(err.Error(), "not valid YAML") {
		t.Fatalf("err = %v, want a YAML syntax error", err)
	}
}
