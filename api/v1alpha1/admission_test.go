package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

var nsCounter atomic.Int32

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("admission-%d", nsCounter.Add(1))}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func validDataSource(ns string) *v1.ConfluenceDataSource {
	return &v1.ConfluenceDataSource{
		ObjectMeta: metav1.ObjectMeta{Name: "wiki", Namespace: ns},
		Spec: v1.ConfluenceDataSourceSpec{
			Confluence: v1.ConfluenceSpec{
				URL:        "https://example.atlassian.net/wiki",
				Deployment: v1.DeploymentCloud,
				Auth:       v1.ConfluenceAuth{Type: v1.AuthBasic, SecretRef: v1.SecretReference{Name: "creds"}},
			},
			OpenSearch: v1.OpenSearchSpec{Endpoints: []string{"https://opensearch:9200"}},
		},
	}
}

func TestAdmission_SamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 samples, got %v (%v)", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ns := newNamespace(t)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
			kinds := map[string]int{}
			for {
				obj := &unstructured.Unstructured{}
				if err := decoder.Decode(&obj.Object); err != nil {
					break
				}
				if len(obj.Object) == 0 {
					continue
				}
				obj.SetNamespace(ns)
				if err := env.Client.Create(context.Background(), obj); err != nil {
					t.Fatalf("%s %s rejected: %v", obj.GetKind(), obj.GetName(), err)
				}
				kinds[obj.GetKind()]++
			}
			if kinds["ConfluenceDataSource"] != 1 || kinds["Secret"] == 0 {
				t.Fatalf("each sample must hold one data source and its Secret, got %v", kinds)
			}
		})
	}
}

func TestAdmission_RejectsInvalidSpecsNamingTheField(t *testing.T) {
	cases := map[string]struct {
		mutate    func(*v1.ConfluenceDataSource)
		wantField string
	}{
		"invalid space include regex": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Filters.Spaces.Include = []v1.Regex{"("} },
			"spec.filters.spaces.include[0]",
		},
		"invalid url exclude regex": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Filters.URLs.Exclude = []v1.Regex{"ok", "a{2,1}"} },
			"spec.filters.urls.exclude[1]",
		},
		"invalid attachment type regex": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Filters.AttachmentTypes.Include = []v1.Regex{"[pdf"} },
			"spec.filters.attachmentTypes.include[0]",
		},
		"invalid page title regex": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Filters.Titles.Pages.Exclude = []v1.Regex{"*DRAFT"} },
			"spec.filters.titles.pages.exclude[0]",
		},
		"perl-only regex syntax (not RE2)": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Filters.Titles.Comments.Include = []v1.Regex{"(?<=x)y"} },
			"spec.filters.titles.comments.include[0]",
		},
		"cron with six fields": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Schedule = "0 0 */6 * * *" },
			"spec.sync.schedule",
		},
		"cron minute out of range": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Schedule = "61 * * * *" },
			"spec.sync.schedule",
		},
		"cron garbage": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Schedule = "every day" },
			"spec.sync.schedule",
		},
		"time zone that is not a name": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.TimeZone = "Mars Base 1" },
			"spec.sync.timeZone",
		},
		"PAT with Cloud": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Confluence.Auth.Type = v1.AuthPersonalAccessToken },
			"spec.confluence.auth.type",
		},
		"OAuth2 with DataCenter": {
			func(ds *v1.ConfluenceDataSource) {
				ds.Spec.Confluence.Deployment, ds.Spec.Confluence.Auth.Type = v1.DeploymentDataCenter, v1.AuthOAuth2
			},
			"spec.confluence.auth.type",
		},
		"ftp confluence url": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Confluence.URL = "ftp://example.com/wiki" },
			"spec.confluence.url",
		},
		"url without scheme": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Confluence.URL = "example.atlassian.net/wiki" },
			"spec.confluence.url",
		},
		"opensearch endpoint not http": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.OpenSearch.Endpoints = []string{"opensearch:9200"} },
			"spec.opensearch.endpoints",
		},
		"unknown deployment": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Confluence.Deployment = "Server" },
			"spec.confluence.deployment",
		},
		"unknown auth type": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Confluence.Auth.Type = "Kerberos" },
			"spec.confluence.auth.type",
		},
		"unknown sync mode": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Mode = "Sometimes" },
			"spec.sync.mode",
		},
		"change poll below 30s": {
			func(ds *v1.ConfluenceDataSource) {
				ds.Spec.Sync.ChangePollInterval = &metav1.Duration{Duration: 10 * time.Second}
			},
			"spec.sync.changePollInterval",
		},
		"ACL re-check below 1m": {
			func(ds *v1.ConfluenceDataSource) {
				ds.Spec.Sync.ACLRecheckInterval = &metav1.Duration{Duration: 30 * time.Second}
			},
			"spec.sync.aclRecheckInterval",
		},
		"Targeted as the scheduled mode": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Mode = v1.SyncTargeted },
			"spec.sync.mode",
		},
		"ChangePoll as the scheduled mode": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Mode = v1.SyncChangePoll },
			"spec.sync.mode",
		},
		"unknown deletion policy": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.DeletionPolicy = "Orphan" },
			"spec.deletionPolicy",
		},
		"field mapping onto a field the index owns": {
			func(ds *v1.ConfluenceDataSource) {
				ds.Spec.FieldMappings = []v1.FieldMapping{{From: "page.labels", To: "tags"}, {From: "page.title", To: "acl"}}
			},
			"spec.fieldMappings[1].to",
		},
		"passage overlap over half the target": {
			func(ds *v1.ConfluenceDataSource) {
				target, overlap := int32(1000), int32(600)
				ds.Spec.Passages = v1.PassagesSpec{TargetBytes: &target, OverlapBytes: &overlap}
			},
			"overlapBytes must be at most half of targetBytes",
		},
		"passage overlap over half the default target": {
			func(ds *v1.ConfluenceDataSource) {
				overlap := int32(800)
				ds.Spec.Passages = v1.PassagesSpec{OverlapBytes: &overlap}
			},
			"overlapBytes must be at most half of targetBytes",
		},
		"passage target under 200 bytes": {
			func(ds *v1.ConfluenceDataSource) {
				target := int32(100)
				ds.Spec.Passages = v1.PassagesSpec{TargetBytes: &target}
			},
			"spec.passages.targetBytes",
		},
		"ingest pipeline name with a slash": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.OpenSearch.IngestPipeline = "a/b" },
			"spec.opensearch.ingestPipeline",
		},
		"passage embedding without a dimension": {
			func(ds *v1.ConfluenceDataSource) {
				ds.Spec.Passages.Embedding = &v1.EmbeddingField{Field: "passage_embedding"}
			},
			"spec.passages.embedding.dimension",
		},
		"missing opensearch endpoints": {
			func(ds *v1.ConfluenceDataSource) { ds.Spec.OpenSearch.Endpoints = nil },
			"spec.opensearch.endpoints",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := validDataSource(newNamespace(t))
			tc.mutate(ds)
			err := env.Client.Create(context.Background(), ds)
			if err == nil {
				t.Fatal("the apiserver accepted an invalid data source")
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantField) {
				t.Fatalf("the error does not name %s: %v", tc.wantField, err)
			}
		})
	}
}

func TestAdmission_AcceptsValidSchedulesAndPatterns(t *testing.T) {
	schedules := []v1.CronSchedule{"", "0 */6 * * *", "30 2 * * 1-5", "*/15 8-18 * * MON-FRI", "0 0 1 jan,jul ?", "@hourly", "@every 90m"}
	for _, s := range schedules {
		t.Run(string(s), func(t *testing.T) {
			ds := validDataSource(newNamespace(t))
			ds.Spec.Sync.Schedule = s
			ds.Spec.Sync.TimeZone = "America/Argentina/Buenos_Aires"
			ds.Spec.Filters.Spaces.Include = []v1.Regex{"^ENG$", `OPS-\d+`, "(?i)docs"}
			if err := env.Client.Create(context.Background(), ds); err != nil {
				t.Fatalf("rejected: %v", err)
			}
		})
	}
}

func TestAdmission_ChangePollIntervalAccepted(t *testing.T) {
	for _, d := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Hour} {
		t.Run(d.String(), func(t *testing.T) {
			ds := validDataSource(newNamespace(t))
			ds.Spec.Sync.ChangePollInterval = &metav1.Duration{Duration: d}
			if err := env.Client.Create(context.Background(), ds); err != nil {
				t.Fatalf("rejected: %v", err)
			}
		})
	}
}

func TestAdmission_PATWithDataCenterIsAccepted(t *testing.T) {
	ds := validDataSource(newNamespace(t))
	ds.Spec.Confluence.Deployment = v1.DeploymentDataCenter
	ds.Spec.Confluence.URL = "http://confluence.internal:8090/confluence"
	ds.Spec.Confluence.Auth.Type = v1.AuthPersonalAccessToken
	if err := env.Client.Create(context.Background(), ds); err != nil {
		t.Fatalf("rejected: %v", err)
	}
}

func TestAdmission_AppliesDefaults(t *testing.T) {
	ns := newNamespace(t)
	minimal := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1.GroupVersion.String(),
		"kind":       "ConfluenceDataSource",
		"metadata":   map[string]any{"name": "minimal", "namespace": ns},
		"spec": map[string]any{
			"confluence": map[string]any{
				"url":  "https://example.atlassian.net/wiki",
				"auth": map[string]any{"secretRef": map[string]any{"name": "creds"}},
			},
			"opensearch": map[string]any{"endpoints": []any{"http://localhost:9200"}},
		},
	}}
	if err := env.Client.Create(context.Background(), minimal); err != nil {
		t.Fatal(err)
	}
	ds := &v1.ConfluenceDataSource{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(minimal), ds); err != nil {
		t.Fatal(err)
	}
	s := ds.Spec
	checks := map[string]bool{
		"deployment Cloud":             s.Confluence.Deployment == v1.DeploymentCloud,
		"auth Basic":                   s.Confluence.Auth.Type == v1.AuthBasic,
		"server-paced (no ceiling)":    s.Confluence.MaxRequestsPerSecond == 0,
		"pages on":                     s.Scope.Pages != nil && *s.Scope.Pages,
		"blog attachments on":          s.Scope.BlogAttachments != nil && *s.Scope.BlogAttachments,
		"personal spaces off":          s.Scope.PersonalSpaces != nil && !*s.Scope.PersonalSpaces,
		"archived pages off":           s.Scope.ArchivedPages != nil && !*s.Scope.ArchivedPages,
		"mode FullCrawl":               s.Sync.Mode == v1.SyncFullCrawl,
		"identity crawler on":          s.IdentityCrawler.Enabled != nil && *s.IdentityCrawler.Enabled,
		"language en":                  s.Language == "en",
		"index confluence":             s.OpenSearch.Index == "confluence",
		"deletion policy Delete":       s.DeletionPolicy == v1.DeletionPolicyDelete,
		"50Mi attachments":             s.Filters.MaxAttachmentSize != nil && s.Filters.MaxAttachmentSize.Cmp(resource.MustParse("50Mi")) == 0,
		"6h deadline":                  s.Crawler.ActiveDeadlineSeconds != nil && *s.Crawler.ActiveDeadlineSeconds == 21600,
		"backoff 2":                    s.Crawler.BackoffLimit != nil && *s.Crawler.BackoffLimit == 2,
		"3 successful jobs kept":       s.SuccessfulJobsHistoryLimit != nil && *s.SuccessfulJobsHistoryLimit == 3,
		"1 failed job kept":            s.FailedJobsHistoryLimit != nil && *s.FailedJobsHistoryLimit == 1,
		"passages off":                 s.Passages.Enabled != nil && !*s.Passages.Enabled,
		"passages of 1500 bytes":       s.Passages.TargetBytes != nil && *s.Passages.TargetBytes == 1500,
		"passage overlap 150 bytes":    s.Passages.OverlapBytes != nil && *s.Passages.OverlapBytes == 150,
		"status not yet observed (-1)": ds.Status.ObservedGeneration == -1,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("default not applied: %s (spec %+v)", what, s)
		}
	}
	// Before any controller looked at it, kstatus sees "not observed yet".
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ds)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := kstatus.Compute(&unstructured.Unstructured{Object: u}); err != nil || res.Status != kstatus.InProgressStatus {
		t.Errorf("kstatus of an unobserved object = %+v, %v; want InProgress", res, err)
	}
}

func TestCRD_PrinterColumnsAndShortName(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "confluencedatasources.sources.confluence-operator.dev"}, crd); err != nil {
		t.Fatal(err)
	}
	if got := crd.Spec.Names.ShortNames; len(got) != 1 || got[0] != "cds" {
		t.Errorf("short names = %v, want [cds]", got)
	}
	var columns []string
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		columns = append(columns, c.Name)
	}
	want := "Deployment,Mode,Ready,Last Sync,Docs,Next Sync,Age"
	if strings.Join(columns, ",") != want {
		t.Errorf("printer columns = %v, want %s", columns, want)
	}
	if crd.Spec.Versions[0].Subresources == nil || crd.Spec.Versions[0].Subresources.Status == nil {
		t.Error("the status subresource is not enabled")
	}
}

// TestKubectl_ApplySamplesAndGet runs kubectl the way a user would.
func TestKubectl_ApplySamplesAndGet(t *testing.T) {
	kubectl := testenv.Kubectl()
	if kubectl == "" {
		t.Skip("no kubectl in the assets directory or on PATH")
	}
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("apply", "-f", filepath.Join(testenv.RepoRoot(), "config", "samples"))
	out := run("get", "cds")
	for _, want := range []string{"DEPLOYMENT", "MODE", "READY", "LAST SYNC", "DOCS", "NEXT SYNC", "AGE", "eng-wiki", "marketing-wiki", "corp-wiki", "DataCenter", "Incremental"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get cds output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	manifest := fmt.Sprintf(`apiVersion: sources.confluence-operator.dev/v1alpha1
kind: ConfluenceDataSource
metadata: {name: bad, namespace: %s}
spec:
  confluence: {url: "https://x.atlassian.net/wiki", auth: {secretRef: {name: s}}}
  filters: {spaces: {include: ["("]}}
  opensearch: {endpoints: ["http://localhost:9200"]}
`, ns)
	if err := os.WriteFile(bad, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "-f", bad)
	out2, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "spec.filters.spaces.include[0]") {
		t.Fatalf("kubectl apply of an invalid regex: err=%v, output lacks the field path:\n%s", err, out2)
	}
	t.Logf("kubectl rejects an invalid regex with:\n%s", out2)
}
