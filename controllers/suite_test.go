package controllers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/controllers"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

// The suite runs one control plane (envtest apiserver and etcd, plus the real
// kube-controller-manager Job controller and garbage collector) and one
// manager with a fake clock. There is no kubelet: tests finish a Job by
// setting its Pod's phase, as a node would, and write the crawler's report
// the way the crawler does (server-side apply, field manager "crawler").
var (
	env   *testenv.Env
	k8s   client.Client
	clock *clocktesting.FakeClock
	ctx   context.Context
)

const crawlerImage = "crawler:test"

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	if os.Getenv("TEST_VERBOSE_MANAGER") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	kcm, err := env.StartControllerManager(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = kcm.Stop() }()

	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	k8s = env.Client
	// Ahead of the wall clock, so creation timestamps are in the fake past.
	clock = clocktesting.NewFakeClock(time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour))
	mgr, err := controllers.NewManager(ctx, env.Config, controllers.Options{
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		CrawlerImage:           crawlerImage,
		Clock:                  clock,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "kube-controller-manager log tail:\n"+tail(kcm.Output(), 3000))
	}
	return code
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("envtest suite skipped in -short mode")
	}
}

// eventually polls f until it returns nil, failing the test after timeout.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consistently fails when f returns an error within d.
func consistently(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
}

var nsCounter atomic.Int32

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cds-%d-%d", time.Now().Unix()%100000, nsCounter.Add(1))}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// setClock moves the fake clock forward to t.
func setClock(tm time.Time) { clock.SetTime(tm) }

// createSecret creates a Secret that opts in to every data source of the
// namespace and to the hosts the tests' data sources use (see tenancy_test.go
// for Secrets that do not).
func createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{
		v1alpha1.AllowedDataSourcesAnnotation: "*",
		v1alpha1.AllowedHostsAnnotation:       "example.atlassian.net, opensearch, os, proxy",
	}}, StringData: data}
	if err := k8s.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// newDataSource returns a valid data source using the Secret "confluence".
func newDataSource(ns, name string) *v1alpha1.ConfluenceDataSource {
	return &v1alpha1.ConfluenceDataSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ConfluenceDataSourceSpec{
			Confluence: v1alpha1.ConfluenceSpec{
				URL:  "https://example.atlassian.net/wiki",
				Auth: v1alpha1.ConfluenceAuth{SecretRef: v1alpha1.SecretReference{Name: "confluence"}},
			},
			OpenSearch:     v1alpha1.OpenSearchSpec{Endpoints: []string{"https://opensearch:9200"}},
			DeletionPolicy: v1alpha1.DeletionPolicyRetain,
		},
	}
}

// create creates the data source and deletes it when the test ends.
func create(t *testing.T, obj *v1alpha1.ConfluenceDataSource) {
	t.Helper()
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cur := &v1alpha1.ConfluenceDataSource{}
		if k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur) == nil && cur.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain {
			patch := client.MergeFrom(cur.DeepCopy())
			cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
			_ = k8s.Patch(ctx, cur, patch)
		}
		_ = k8s.Delete(ctx, obj)
	})
}

func get(t *testing.T, obj *v1alpha1.ConfluenceDataSource) *v1alpha1.ConfluenceDataSource {
	t.Helper()
	cur := &v1alpha1.ConfluenceDataSource{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		t.Fatal(err)
	}
	return cur
}

var pokes atomic.Int32

// poke changes an annotation so the controller looks at the object now,
// as it would when its requeue timer (real time) fires after a fake clock step.
func poke(t *testing.T, obj *v1alpha1.ConfluenceDataSource) {
	t.Helper()
	setAnnotations(t, obj, map[string]string{"test.confluence-operator.dev/poke": fmt.Sprint(pokes.Add(1))})
}

func setAnnotations(t *testing.T, obj *v1alpha1.ConfluenceDataSource, ann map[string]string) {
	t.Helper()
	cur := get(t, obj)
	patch := client.MergeFrom(cur.DeepCopy())
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	for k, v := range ann {
		cur.Annotations[k] = v
	}
	if err := k8s.Patch(ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
}

// condition returns the condition or nil.
func condition(obj *v1alpha1.ConfluenceDataSource, t string) *metav1.Condition {
	return meta.FindStatusCondition(obj.Status.Conditions, t)
}

// expectCondition waits until the condition has the status and reason.
func expectCondition(t *testing.T, obj *v1alpha1.ConfluenceDataSource, condType string, status metav1.ConditionStatus, reason string) *v1alpha1.ConfluenceDataSource {
	t.Helper()
	var cur *v1alpha1.ConfluenceDataSource
	eventually(t, func() error {
		cur = get(t, obj)
		c := condition(cur, condType)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s = %+v, want %s/%s; conditions %+v", condType, c, status, reason, cur.Status.Conditions)
		}
		return nil
	})
	return cur
}

// kstatusOf computes the data source's kstatus the way `kubectl wait`,
// Argo CD and Flux health checks do.
func kstatusOf(t *testing.T, obj *v1alpha1.ConfluenceDataSource) *kstatus.Result {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// expectKstatus waits until the data source's kstatus is want.
func expectKstatus(t *testing.T, obj *v1alpha1.ConfluenceDataSource, want kstatus.Status) {
	t.Helper()
	eventually(t, func() error {
		if res := kstatusOf(t, get(t, obj)); res.Status != want {
			return fmt.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, want)
		}
		return nil
	})
}

// syncJobs lists the data source's sync Jobs.
func syncJobs(t *testing.T, obj *v1alpha1.ConfluenceDataSource) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := k8s.List(ctx, &list, client.InNamespace(obj.Namespace),
		client.MatchingLabels{v1alpha1.DataSourceLabel: obj.Name, controllers.JobTypeLabel: controllers.JobTypeSync}); err != nil {
		t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	return out
}

// jobNames lists the names of the data source's sync Jobs.
func jobNames(t *testing.T, obj *v1alpha1.ConfluenceDataSource) []string {
	var names []string
	for _, j := range syncJobs(t, obj) {
		names = append(names, j.Name)
	}
	return names
}

// expectActiveJob waits for status.activeJob to name a Job and returns it.
func expectActiveJob(t *testing.T, obj *v1alpha1.ConfluenceDataSource, name string) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	eventually(t, func() error {
		cur := get(t, obj)
		if cur.Status.ActiveJob == nil || cur.Status.ActiveJob.Name != name {
			return fmt.Errorf("activeJob = %+v, want %s (jobs %v)", cur.Status.ActiveJob, name, jobNames(t, obj))
		}
		return k8s.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: name}, job)
	})
	return job
}

// jobName is the sync Job name for a slot.
func jobName(obj *v1alpha1.ConfluenceDataSource, slot time.Time) string {
	return fmt.Sprintf("%s-%d", obj.Name, slot.Unix()/60)
}

// requestJobName is the sync Job name for the request value after the
// handled one: <name>-r<8 hex digits of SHA-256 of "handled\nvalue">.
func requestJobName(obj *v1alpha1.ConfluenceDataSource, handled, value string) string {
	sum := sha256.Sum256([]byte(handled + "\n" + value))
	return obj.Name + "-r" + hex.EncodeToString(sum[:])[:8]
}

// finishPod waits for the Job's Pod and sets its phase, as a kubelet would.
func finishPod(t *testing.T, ns, job string, succeed bool) {
	t.Helper()
	code := int32(0)
	if !succeed {
		code = 1
	}
	terminatePod(t, ns, job, code, false)
}

// terminatePod waits for a running Pod of the Job and ends it with the
// crawler's exit code, as a kubelet would; disrupted marks it the way an
// eviction or preemption does (condition DisruptionTarget=True) before it
// stops.
func terminatePod(t *testing.T, ns, job string, code int32, disrupted bool) {
	t.Helper()
	var pod corev1.Pod
	eventually(t, func() error {
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{batchv1.JobNameLabel: job}); err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("no running pod of job %s yet", job)
	})
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	now := metav1.Now()
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  "crawler",
		Image: crawlerImage,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: now, FinishedAt: now}},
	}}
	if disrupted {
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
			Message: "Eviction API: evicting", LastTransitionTime: now,
		})
	}
	if err := k8s.Status().Update(ctx, &pod); err != nil {
		t.Fatal(err)
	}
}

// applyReport writes the crawler's end-of-sync status the way the crawler
// does: server-side apply on the status subresource, field manager "crawler".
func applyReport(t *testing.T, obj *v1alpha1.ConfluenceDataSource, report v1alpha1.SyncReport, docs int64) {
	t.Helper()
	reportMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&report)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]any{
		"lastSync":      reportMap,
		"lastSyncTime":  report.CompletionTime.UTC().Format(time.RFC3339),
		"documentCount": docs,
	}
	if report.Result == v1alpha1.SyncSucceeded {
		status["lastSuccessfulSyncTime"] = report.CompletionTime.UTC().Format(time.RFC3339)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "ConfluenceDataSource",
		"metadata":   map[string]any{"name": obj.Name, "namespace": obj.Namespace},
		"status":     status,
	}}
	if err := k8s.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner("crawler"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

// succeed finishes a sync Job with a report of docs documents taking 4m12s.
func succeed(t *testing.T, obj *v1alpha1.ConfluenceDataSource, job string, docs int64) {
	t.Helper()
	start := clock.Now().Add(-4*time.Minute - 12*time.Second)
	applyReport(t, obj, v1alpha1.SyncReport{
		Job: job, Mode: v1alpha1.SyncFullCrawl, Result: v1alpha1.SyncSucceeded, Complete: true,
		StartTime: &metav1.Time{Time: start}, CompletionTime: &metav1.Time{Time: clock.Now()},
		DocumentsIndexed: docs, APICalls: 7,
	}, docs)
	finishPod(t, obj.Namespace, job, true)
	eventually(t, func() error {
		cur := get(t, obj)
		if cur.Status.ActiveJob != nil && cur.Status.ActiveJob.Name == job {
			return fmt.Errorf("job %s still active", job)
		}
		return nil
	})
}

// fail finishes a sync Job (with backoffLimit 0) with a failed report of
// reason, as the crawler does before it exits non-zero.
func fail(t *testing.T, obj *v1alpha1.ConfluenceDataSource, job, reason string) {
	t.Helper()
	applyReport(t, obj, v1alpha1.SyncReport{
		Job: job, Mode: v1alpha1.SyncFullCrawl, Result: v1alpha1.SyncFailed, Reason: reason, Message: "401 Unauthorized",
		StartTime: &metav1.Time{Time: clock.Now().Add(-time.Second)}, CompletionTime: &metav1.Time{Time: clock.Now()},
	}, 0)
	finishPod(t, obj.Namespace, job, false)
	eventually(t, func() error {
		cur := get(t, obj)
		if cur.Status.ActiveJob != nil && cur.Status.ActiveJob.Name == job {
			return fmt.Errorf("job %s still active", job)
		}
		return nil
	})
}

// patchSecret sets keys of a Secret, as a user fixing it would.
func patchSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, secret); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(secret.DeepCopy())
	secret.StringData = data
	if err := k8s.Patch(ctx, secret, patch); err != nil {
		t.Fatal(err)
	}
}

// events lists the events about the data source with a reason.
func events(t *testing.T, obj *v1alpha1.ConfluenceDataSource, reason string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(ctx, &list, client.InNamespace(obj.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == obj.Name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
