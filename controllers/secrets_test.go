package controllers

import (
	"context"
	"reflect"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

func resourceQuantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func TestSecretRequirements_KeysPerReference(t *testing.T) {
	obj := testDataSource("x")
	obj.Spec.Confluence.Auth.Type = v1alpha1.AuthOAuth2
	obj.Spec.Confluence.Proxy = &v1alpha1.ProxySpec{URL: "http://proxy:3128", SecretRef: &v1alpha1.SecretReference{Name: "proxy"}}
	obj.Spec.Confluence.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.SecretReference{Name: "ca"}}
	obj.Spec.OpenSearch.Auth = &v1alpha1.OpenSearchAuth{SecretRef: v1alpha1.SecretReference{Name: "os"}}
	obj.Spec.OpenSearch.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.SecretReference{Name: "ca"}}

	if got := referencedSecretNames(obj); !reflect.DeepEqual(got, []string{"ca", "conf", "os", "proxy"}) {
		t.Fatalf("referenced %v", got)
	}
	reqs := secretRequirements(obj)
	tests := map[string]struct {
		req     int
		data    map[string]string
		missing []string
		msg     string
	}{
		"oauth2 complete": {req: 0, data: map[string]string{"confluenceAppKey": "a", "confluenceAppSecret": "b", "confluenceAccessToken": "c", "confluenceRefreshToken": "d"}},
		"oauth2 missing refresh token": {req: 0, data: map[string]string{"confluenceAppKey": "a", "confluenceAppSecret": "b", "confluenceAccessToken": "c"},
			missing: []string{"confluenceRefreshToken"}, msg: `Secret "conf" (spec.confluence.auth.secretRef) lacks key "confluenceRefreshToken"`},
		"empty value is missing": {req: 2, data: map[string]string{"ca.crt": ""}, missing: []string{"ca.crt"}},
		"opensearch api key":     {req: 3, data: map[string]string{"apiKey": "k"}},
		"opensearch basic":       {req: 3, data: map[string]string{"username": "u", "password": "p"}},
		"opensearch half basic": {req: 3, data: map[string]string{"username": "u"}, missing: []string{"password"},
			msg: `Secret "os" (spec.opensearch.auth.secretRef) lacks key "password"; it needs "username" and "password", or "apiKey"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tt.data {
				if v != "" {
					v = "s3cr3t-" + v
				}
				data[k] = []byte(v)
			}
			req := reqs[tt.req]
			missing := missingKeys(req, data)
			if !reflect.DeepEqual(missing, tt.missing) {
				t.Fatalf("missing %v, want %v", missing, tt.missing)
			}
			if tt.msg != "" {
				msg := secretKeyMissingMessage(req, missing)
				if msg != tt.msg {
					t.Fatalf("message %q\nwant    %q", msg, tt.msg)
				}
				for _, v := range tt.data {
					if v != "" && strings.Contains(msg, "s3cr3t-"+v) {
						t.Fatalf("message leaks a value: %q", msg)
					}
				}
			}
		})
	}
}

func TestGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSplitList(t *testing.T) {
	if got := splitList(" a, ,b ,"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("splitList = %q", got)
	}
	if got := splitList(""); got != nil {
		t.Fatalf("empty = %q", got)
	}
}

func TestBlamedSecretVersions_CrawlerOwnWritesNeverCountAsAFix(t *testing.T) {
	secret := func(name, rv string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "search", ResourceVersion: rv}}
	}
	started := func(versions string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Annotations: map[string]string{SecretVersionsAnnotation: versions}}}
	}
	oauth2 := testDataSource("x")
	oauth2.Spec.Confluence.Auth.Type = v1alpha1.AuthOAuth2
	oauth2.Spec.OpenSearch.Auth = &v1alpha1.OpenSearchAuth{SecretRef: v1alpha1.SecretReference{Name: "os"}}
	basic := oauth2.DeepCopy()
	basic.Spec.Confluence.Auth.Type = v1alpha1.AuthBasic
	tests := map[string]struct {
		obj  *v1alpha1.ConfluenceDataSource
		job  *batchv1.Job
		want map[string]string
	}{
		"basic: the versions the Job started with": {
			obj: basic, job: started(`{"conf":"10","os":"20"}`), want: map[string]string{"conf": "10", "os": "20"},
		},
		"oauth2: the rotated token Secret as it is after the run": {
			obj: oauth2, job: started(`{"conf":"10","os":"20"}`), want: map[string]string{"conf": "11", "os": "20"},
		},
		"no record on the Job: all as they are now": {
			obj: basic, job: nil, want: map[string]string{"conf": "11", "os": "21"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(secret("conf", "11"), secret("os", "21")).Build()
			r := &DataSourceReconciler{Client: c, APIReader: c}
			got, err := r.blamedSecretVersions(context.Background(), tt.obj, tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
