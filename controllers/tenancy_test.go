package controllers

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

func tenancyDataSource() *v1alpha1.ConfluenceDataSource {
	return &v1alpha1.ConfluenceDataSource{
		ObjectMeta: metav1.ObjectMeta{Name: "eng-wiki", Namespace: "tenant"},
		Spec: v1alpha1.ConfluenceDataSourceSpec{
			Confluence: v1alpha1.ConfluenceSpec{
				URL:  "https://wiki.example.com/confluence",
				Auth: v1alpha1.ConfluenceAuth{SecretRef: v1alpha1.SecretReference{Name: "wiki-creds"}},
			},
			OpenSearch: v1alpha1.OpenSearchSpec{
				Endpoints: []string{"https://opensearch.search.svc:9200"},
				Auth:      &v1alpha1.OpenSearchAuth{SecretRef: v1alpha1.SecretReference{Name: "os-creds"}},
			},
		},
	}
}

func requirement(obj *v1alpha1.ConfluenceDataSource, field string) secretRequirement {
	for _, r := range secretRequirements(obj) {
		if r.Field == field {
			return r
		}
	}
	panic("no requirement " + field)
}

func TestSecretGate(t *testing.T) {
	const (
		confluenceAuth = "spec.confluence.auth.secretRef"
		opensearchAuth = "spec.opensearch.auth.secretRef"
		proxyAuth      = "spec.confluence.proxy.secretRef"
		opensearchCA   = "spec.opensearch.tls.caSecretRef"
	)
	ds := v1alpha1.AllowedDataSourcesAnnotation
	hosts := v1alpha1.AllowedHostsAnnotation
	withProxy := func(o *v1alpha1.ConfluenceDataSource) {
		o.Spec.Confluence.Proxy = &v1alpha1.ProxySpec{URL: "http://proxy.internal:3128", SecretRef: &v1alpha1.SecretReference{Name: "proxy"}}
	}
	cases := map[string]struct {
		field       string
		mutate      func(*v1alpha1.ConfluenceDataSource)
		annotations map[string]string
		// wantMissing is a fragment of the stall message; "" means allowed.
		wantMissing string
	}{
		"no annotations: the exfiltration of issue 14": {
			field: opensearchAuth, wantMissing: ds + "=eng-wiki",
		},
		"another data source only": {
			field: opensearchAuth, annotations: map[string]string{ds: "hr-wiki", hosts: "opensearch.search.svc"}, wantMissing: ds + "=eng-wiki",
		},
		"name as a substring does not count": {
			field: opensearchAuth, annotations: map[string]string{ds: "eng-wiki-2", hosts: "opensearch.search.svc"}, wantMissing: ds + "=eng-wiki",
		},
		"data source allowed, no hosts": {
			field: opensearchAuth, annotations: map[string]string{ds: "hr-wiki, eng-wiki"}, wantMissing: `"opensearch.search.svc:9200"`,
		},
		"endpoint moved to a listener of the author": {
			field: opensearchAuth,
			mutate: func(o *v1alpha1.ConfluenceDataSource) {
				o.Spec.OpenSearch.Endpoints = append(o.Spec.OpenSearch.Endpoints, "https://evil.example.net")
			},
			annotations: map[string]string{ds: "eng-wiki", hosts: "opensearch.search.svc"}, wantMissing: `"evil.example.net:443"`,
		},
		"opensearch host, any port": {
			field: opensearchAuth, annotations: map[string]string{ds: "eng-wiki", hosts: "opensearch.search.svc"},
		},
		"opensearch host, wrong port": {
			field: opensearchAuth, annotations: map[string]string{ds: "eng-wiki", hosts: "opensearch.search.svc:443"}, wantMissing: `"opensearch.search.svc:9200"`,
		},
		"wildcard domain": {
			field: opensearchAuth, annotations: map[string]string{ds: "*", hosts: "*.svc:9200"},
		},
		"wildcard does not match the bare domain": {
			field: opensearchAuth, annotations: map[string]string{ds: "*", hosts: "*.opensearch.search.svc"}, wantMissing: `"opensearch.search.svc:9200"`,
		},
		"confluence credentials also name where the documents go": {
			field: confluenceAuth, annotations: map[string]string{ds: "eng-wiki", hosts: "wiki.example.com"}, wantMissing: `opensearch.search.svc:9200 (spec.opensearch.endpoints[0])`,
		},
		"confluence credentials, every destination listed": {
			field: confluenceAuth, annotations: map[string]string{ds: "eng-wiki", hosts: "WIKI.example.com:443, opensearch.search.svc"},
		},
		"confluence credentials through a proxy": {
			field: confluenceAuth, mutate: withProxy,
			annotations: map[string]string{ds: "eng-wiki", hosts: "wiki.example.com,opensearch.search.svc"}, wantMissing: `"proxy.internal:3128"`,
		},
		"overridden OAuth 2.0 token endpoint": {
			field: confluenceAuth,
			mutate: func(o *v1alpha1.ConfluenceDataSource) {
				o.Spec.Confluence.Auth.Type = v1alpha1.AuthOAuth2
				o.Spec.Confluence.Auth.OAuth2 = &v1alpha1.OAuth2Endpoints{TokenURL: "http://tokens.attacker.test/oauth/token"}
			},
			annotations: map[string]string{ds: "eng-wiki", hosts: "wiki.example.com,opensearch.search.svc"}, wantMissing: `"tokens.attacker.test:80"`,
		},
		"proxy credentials go to the proxy only": {
			field: proxyAuth, mutate: withProxy, annotations: map[string]string{ds: "eng-wiki", hosts: "proxy.internal"},
		},
		"a CA Secret needs the data source only": {
			field: opensearchCA,
			mutate: func(o *v1alpha1.ConfluenceDataSource) {
				o.Spec.OpenSearch.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.SecretReference{Name: "os-ca"}}
			},
			annotations: map[string]string{ds: "eng-wiki"},
		},
		"a CA Secret without opt-in": {
			field: opensearchCA,
			mutate: func(o *v1alpha1.ConfluenceDataSource) {
				o.Spec.OpenSearch.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.SecretReference{Name: "os-ca"}}
			},
			wantMissing: ds + "=eng-wiki",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := tenancyDataSource()
			if tc.mutate != nil {
				tc.mutate(obj)
			}
			err := secretGate(obj, requirement(obj, tc.field), tc.annotations)
			if tc.wantMissing == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var stall *stallError
			if !errors.As(err, &stall) || stall.reason != v1alpha1.ReasonSecretNotAllowed {
				t.Fatalf("err = %v, want a %s stall", err, v1alpha1.ReasonSecretNotAllowed)
			}
			if !strings.Contains(stall.message, tc.wantMissing) || !strings.Contains(stall.message, tc.field) {
				t.Fatalf("message %q does not name %s and the missing opt-in %s", stall.message, tc.field, tc.wantMissing)
			}
		})
	}
}

func TestImageAllowed(t *testing.T) {
	const def = "registry.example.com/confluence-operator:v1.2.0"
	allowed := []string{"registry.example.com/crawler:*", "mirror.example.com:5000/team/crawler@*", "other.example.com/exact:v1"}
	cases := map[string]bool{
		def: true,
		"registry.example.com/confluence-operator:v1.2.1":                      false,
		"registry.example.com/crawler:v9":                                      true,
		"registry.example.com/crawler@sha256:abc":                              true,
		"registry.example.com/crawler-evil:v9":                                 false,
		"registry.example.com/crawler/evil:v9":                                 false,
		"mirror.example.com:5000/team/crawler@sha256:abc":                      true,
		"mirror.example.com:5000/team/crawler:latest":                          false,
		"other.example.com/exact:v1":                                           true,
		"other.example.com/exact:v2":                                           false,
		"attacker.example.net/crawler:v1":                                      false,
		"registry.example.com/crawler:v9@sha256:abc":                           true,
		"docker.io/library/busybox":                                            false,
		"registry.example.com/confluence-operator:v1.2.0@sha256:0000000000000": false,
	}
	for image, want := range cases {
		if got := imageAllowed(image, def, allowed); got != want {
			t.Errorf("imageAllowed(%q) = %v, want %v", image, got, want)
		}
	}
	if imageAllowed("anything:v1", def, nil) {
		t.Error("an empty allow-list allowed a foreign image")
	}
}
