package controllers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

func testDataSource(name string) *v1alpha1.ConfluenceDataSource {
	return &v1alpha1.ConfluenceDataSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "search"},
		Spec: v1alpha1.ConfluenceDataSourceSpec{
			Confluence: v1alpha1.ConfluenceSpec{
				URL:  "https://example.atlassian.net/wiki",
				Auth: v1alpha1.ConfluenceAuth{Type: v1alpha1.AuthBasic, SecretRef: v1alpha1.SecretReference{Name: "conf"}},
			},
			OpenSearch: v1alpha1.OpenSearchSpec{Endpoints: []string{"https://os:9200"}},
			Sync:       v1alpha1.SyncSpec{Mode: v1alpha1.SyncFullCrawl},
		},
	}
}

func TestNames_FitKubernetesLimits(t *testing.T) {
	slot := at("2030-01-01T10:00:00Z")
	long := strings.Repeat("a", 200) + "." + strings.Repeat("b", 52)
	for _, name := range []string{"eng-wiki", strings.Repeat("x", 63), long} {
		job := syncJobName(name, slot)
		if len(job) > 63 || len(validation.IsDNS1123Label(strings.ReplaceAll(job, ".", "-"))) > 0 {
			t.Errorf("sync job name %q is not a valid label-sized name", job)
		}
		if !strings.HasSuffix(job, "-31558200") {
			t.Errorf("sync job name %q does not end in the slot's unix minutes", job)
		}
		if k := keyedSyncJobName(name, "r0123abcd"); len(k) > 63 || len(validation.IsDNS1123Label(strings.ReplaceAll(k, ".", "-"))) > 0 ||
			!strings.HasSuffix(k, "-r0123abcd") {
			t.Errorf("keyed sync job name %q is not a valid label-sized name with the key", k)
		}
		if c := cleanupJobName(name, 12); len(c) > 63 {
			t.Errorf("cleanup job name %q too long", c)
		}
		if sa := crawlerName(name); len(sa) > 253 || len(validation.IsDNS1123Subdomain(sa)) > 0 {
			t.Errorf("crawler name %q invalid", sa)
		}
		if v := labelValue(name); len(validation.IsValidLabelValue(v)) > 0 {
			t.Errorf("label value %q invalid", v)
		}
	}
	if syncJobName("eng-wiki", slot) != "eng-wiki-31558200" {
		t.Errorf("short names are kept: %s", syncJobName("eng-wiki", slot))
	}
	a, b := syncJobName(strings.Repeat("a", 70)+"1", slot), syncJobName(strings.Repeat("a", 70)+"2", slot)
	if a == b {
		t.Errorf("long names sharing a prefix collide: %s", a)
	}
}

func TestSyncJob_ContractWithTheCrawler(t *testing.T) {
	obj := testDataSource("eng-wiki")
	obj.Annotations = map[string]string{v1alpha1.RequestedSyncModeAnnotation: "ForcedFullCrawl"}
	obj.Spec.Crawler.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: *resourceQuantity("256Mi")}}
	obj.Spec.Crawler.ActiveDeadlineSeconds = ptr.To[int64](600)
	obj.Spec.Crawler.BackoffLimit = ptr.To[int32](1)
	d := scheduleDecision{Start: true, Trigger: triggerRequest, Slot: at("2030-01-01T10:00:00Z"), HandlesRequest: true, Key: "r0123abcd"}

	job := newSyncJob(obj, "img:1", d, effectiveMode(obj, true), map[string]string{"conf": "42"})

	wantArgs := []string{"crawl", "--in-cluster", "--namespace", "search", "--name", "eng-wiki", "--job", "eng-wiki-r0123abcd", "--mode", "ForcedFullCrawl"}
	if job.Annotations[TriggerAnnotation] != "Request" || job.Annotations[SecretVersionsAnnotation] != `{"conf":"42"}` {
		t.Fatalf("annotations %v", job.Annotations)
	}
	if got := newSyncJob(obj, "img:1", scheduleDecision{Trigger: triggerSchedule, Slot: d.Slot}, "FullCrawl", nil).Name; got != "eng-wiki-31558200" {
		t.Fatalf("scheduled sync job name %s", got)
	}
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]
	if !reflect.DeepEqual(c.Args, wantArgs) || c.Image != "img:1" {
		t.Fatalf("args %q image %q", c.Args, c.Image)
	}
	if job.Labels[v1alpha1.DataSourceLabel] != "eng-wiki" || job.Labels[JobTypeLabel] != JobTypeSync ||
		pod.ServiceAccountName != "eng-wiki-crawler" || pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Fatalf("labels %v sa %q restart %q", job.Labels, pod.ServiceAccountName, pod.RestartPolicy)
	}
	if *job.Spec.ActiveDeadlineSeconds != 600 || *job.Spec.BackoffLimit != 1 || job.Spec.TTLSecondsAfterFinished != nil {
		t.Fatalf("deadline/backoff/ttl wrong: %+v", job.Spec)
	}
	if *pod.AutomountServiceAccountToken || !c.Resources.Limits.Memory().Equal(*resourceQuantity("256Mi")) {
		t.Fatalf("automount or resources wrong")
	}
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Fatalf("security context %+v", sc)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if m := mounts["kube-api-access"]; m.MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m.ReadOnly {
		t.Fatalf("token mount %+v", m)
	}
	if mounts["tmp"].MountPath != "/tmp" {
		t.Fatalf("tmp mount %+v", mounts["tmp"])
	}
	proj := pod.Volumes[0].Projected
	if *proj.Sources[0].ServiceAccountToken.ExpirationSeconds != 3600 || proj.Sources[1].ConfigMap.Name != "kube-root-ca.crt" ||
		proj.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
		t.Fatalf("projected volume %+v", proj)
	}

	cleanup := newCleanupJob(obj, "img:1", 2)
	if got := cleanup.Spec.Template.Spec.Containers[0].Args; !reflect.DeepEqual(got,
		[]string{"crawl", "--in-cluster", "--namespace", "search", "--name", "eng-wiki", "--cleanup"}) || cleanup.Name != "eng-wiki-cleanup-2" {
		t.Fatalf("cleanup job %s args %q", cleanup.Name, got)
	}
}

func TestEffectiveMode(t *testing.T) {
	obj := testDataSource("x")
	obj.Spec.Sync.Mode = v1alpha1.SyncIncremental
	obj.Annotations = map[string]string{v1alpha1.RequestedSyncModeAnnotation: "ForcedFullCrawl"}
	if m := effectiveMode(obj, false); m != v1alpha1.SyncIncremental {
		t.Errorf("scheduled sync mode = %s", m)
	}
	if m := effectiveMode(obj, true); m != v1alpha1.SyncForcedFullCrawl {
		t.Errorf("requested sync mode = %s", m)
	}
	obj.Annotations[v1alpha1.RequestedSyncModeAnnotation] = "Bogus"
	if m := effectiveMode(obj, true); m != v1alpha1.SyncIncremental {
		t.Errorf("unknown requested mode falls back, got %s", m)
	}
}

func finishedJob(name string, start time.Time, succeeded bool) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}
	j.Status.StartTime = &metav1.Time{Time: start}
	cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(start.Add(time.Minute))}
	if !succeeded {
		cond = batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded",
			Message: "Job was active longer than specified deadline", LastTransitionTime: metav1.NewTime(start.Add(time.Minute))}
	} else {
		j.Status.CompletionTime = &metav1.Time{Time: start.Add(time.Minute)}
	}
	j.Status.Conditions = []batchv1.JobCondition{cond}
	return j
}

func TestOutcomeOf(t *testing.T) {
	start := at("2030-01-01T10:00:00Z")
	report := &v1alpha1.SyncReport{Job: "j1", Result: v1alpha1.SyncSucceeded,
		StartTime: &metav1.Time{Time: start}, CompletionTime: &metav1.Time{Time: start.Add(4*time.Minute + 12*time.Second)}}
	tests := map[string]struct {
		job        *batchv1.Job
		report     *v1alpha1.SyncReport
		succeeded  bool
		reason     string
		msgContain string
	}{
		"report wins":                  {job: finishedJob("j1", start, true), report: report, succeeded: true},
		"failed report":                {job: finishedJob("j1", start, false), report: &v1alpha1.SyncReport{Job: "j1", Result: v1alpha1.SyncFailed, Message: "401 from Confluence"}, reason: v1alpha1.ReasonSyncFailed, msgContain: "401 from Confluence"},
		"failed job, stale report":     {job: finishedJob("j1", start, false), report: &v1alpha1.SyncReport{Job: "j0", Result: v1alpha1.SyncSucceeded}, reason: v1alpha1.ReasonJobFailed, msgContain: "DeadlineExceeded: Job was active longer than specified deadline"},
		"succeeded job without report": {job: finishedJob("j1", start, true), reason: v1alpha1.ReasonSyncFailed, msgContain: "without a sync report"},
		"vanished job":                 {reason: v1alpha1.ReasonJobFailed, msgContain: "disappeared"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out := outcomeOf("j1", tt.job, tt.report)
			if out.Succeeded != tt.succeeded || out.Reason != tt.reason || !strings.Contains(out.Message, tt.msgContain) {
				t.Fatalf("outcome %+v", out)
			}
		})
	}
	st := &v1alpha1.ConfluenceDataSourceStatus{LastSync: report, DocumentCount: 1234}
	if msg := syncedMessage(st); msg != "synced 1,234 documents in 4m12s" {
		t.Fatalf("synced message %q", msg)
	}
}

func TestJobsToPrune_OldestFirstPerResult(t *testing.T) {
	base := at("2030-01-01T00:00:00Z")
	var jobs []*batchv1.Job
	for i, ok := range []bool{true, false, true, true, false, true} {
		jobs = append(jobs, finishedJob(string(rune('a'+i)), base.Add(time.Duration(i)*time.Hour), ok))
	}
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "running"}}
	jobs = append(jobs, running)
	var names []string
	for _, j := range jobsToPrune(jobs, 2, 1) {
		names = append(names, j.Name)
	}
	if want := []string{"a", "c", "b"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("pruned %v, want %v", names, want)
	}
	if n := len(jobsToPrune(jobs, 0, 0)); n != 6 {
		t.Fatalf("limits 0 prune every finished Job, got %d", n)
	}
}

func TestCleanupBackoff(t *testing.T) {
	for attempt, want := range map[int32]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 20: 10 * time.Minute} {
		if got := cleanupBackoff(attempt); got != want {
			t.Errorf("cleanupBackoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}

// The first matching rule wins, so the disruption rule must come before any
// exit-code rule: an evicted crawler exits with whatever SIGTERM made it
// return. Only bad input (64) fails the Job; 2 is a Go panic and counts.
func TestSyncJob_PodFailurePolicy_DisruptionFirstThenBadInput(t *testing.T) {
	job := newSyncJob(testDataSource("wiki"), "img:1", scheduleDecision{Trigger: triggerFirstSync, Slot: at("2030-01-01T10:00:00Z")}, v1alpha1.SyncFullCrawl, nil)
	want := []batchv1.PodFailurePolicyRule{
		{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
		},
		{
			Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("crawler"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{64},
			},
		},
	}
	if got := job.Spec.PodFailurePolicy; got == nil || !reflect.DeepEqual(got.Rules, want) {
		t.Fatalf("pod failure policy %+v,\nwant %+v", got, want)
	}
	if cleanup := newCleanupJob(testDataSource("wiki"), "img:1", 1); !reflect.DeepEqual(cleanup.Spec.PodFailurePolicy.Rules, want) {
		t.Fatalf("cleanup pod failure policy %+v", cleanup.Spec.PodFailurePolicy)
	}
}
