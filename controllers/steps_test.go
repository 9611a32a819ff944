package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// harness runs the reconciler against a fake client, in Flux's style: the
// branches envtest cannot reach on purpose (a stale cache, a refused create,
// a race with another writer) are set up through interceptors.
type harness struct {
	t      *testing.T
	c      client.WithWatch
	r      *DataSourceReconciler
	events *events.FakeRecorder
	clock  *clocktesting.FakeClock
	key    client.ObjectKey

	// createErr, when set, answers the creation of Jobs.
	createErr error
	// hideJobs makes cached lists miss every Job, as a cache that has not
	// seen a Job created a moment ago does.
	hideJobs bool
}

var t0 = time.Date(2030, 3, 4, 10, 0, 30, 0, time.UTC)

// newHarness stores obj (generation 1 unless set, with the finalizer), its
// Basic Secret and objs, and a reconciler at t0.
func newHarness(t *testing.T, obj *v1alpha1.ConfluenceDataSource, objs ...client.Object) *harness {
	t.Helper()
	h := &harness{t: t, events: events.NewFakeRecorder(100), clock: clocktesting.NewFakeClock(t0), key: client.ObjectKeyFromObject(obj)}
	if obj.Generation == 0 {
		obj.Generation = 1
	}
	if obj.UID == "" {
		obj.UID = types.UID("uid-" + obj.Name)
	}
	if obj.CreationTimestamp.IsZero() {
		obj.CreationTimestamp = metav1.NewTime(t0.Add(-time.Minute))
	}
	obj.Finalizers = append(obj.Finalizers, v1alpha1.Finalizer)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: obj.Spec.Confluence.Auth.SecretRef.Name, Namespace: obj.Namespace, Annotations: map[string]string{
			// The owner's opt-in (tenancy.go), for every data source and every host the tests use.
			v1alpha1.AllowedDataSourcesAnnotation: "*",
			v1alpha1.AllowedHostsAnnotation:       "*.atlassian.net, opensearch, os, os2",
		}},
		Data: map[string][]byte{"username": []byte("bot"), "password": []byte("token")},
	}
	store := fake.NewClientBuilder().WithScheme(Scheme).
		WithObjects(append([]client.Object{obj, secret}, objs...)...).
		WithStatusSubresource(&v1alpha1.ConfluenceDataSource{}, &batchv1.Job{}).
		Build()
	h.c = interceptor.NewClient(store, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if _, isJob := o.(*batchv1.Job); isJob && h.createErr != nil {
				return h.createErr
			}
			return c.Create(ctx, o, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, isJobs := list.(*batchv1.JobList); isJobs && h.hideJobs {
				return nil
			}
			return c.List(ctx, list, opts...)
		},
	})
	h.r = &DataSourceReconciler{
		Client: h.c, APIReader: store, Scheme: Scheme, Recorder: h.events, Clock: h.clock, CrawlerImage: "crawler:test",
	}
	return h
}

// reconcile runs one reconcile at the harness clock.
func (h *harness) reconcile() (ctrl.Result, error) {
	h.t.Helper()
	return h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: h.key})
}

// mustReconcile fails the test when the reconcile returns an error.
func (h *harness) mustReconcile() ctrl.Result {
	h.t.Helper()
	res, err := h.reconcile()
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (h *harness) get() *v1alpha1.ConfluenceDataSource {
	h.t.Helper()
	obj := &v1alpha1.ConfluenceDataSource{}
	if err := h.c.Get(context.Background(), h.key, obj); err != nil {
		h.t.Fatal(err)
	}
	return obj
}

// jobs lists the names of the data source's sync Jobs, as stored.
func (h *harness) jobs() []string {
	h.t.Helper()
	var list batchv1.JobList
	if err := h.r.APIReader.List(context.Background(), &list, client.InNamespace(h.key.Namespace),
		client.MatchingLabels{JobTypeLabel: JobTypeSync, v1alpha1.DataSourceLabel: h.key.Name}); err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	return names
}

func (h *harness) job(name string) *batchv1.Job {
	h.t.Helper()
	job := &batchv1.Job{}
	if err := h.r.APIReader.Get(context.Background(), client.ObjectKey{Namespace: h.key.Namespace, Name: name}, job); err != nil {
		h.t.Fatal(err)
	}
	return job
}

// editSpec changes the spec and bumps the generation, as the API server does.
func (h *harness) editSpec(change func(*v1alpha1.ConfluenceDataSource)) {
	h.t.Helper()
	obj := h.get()
	change(obj)
	obj.Generation++
	if err := h.c.Update(context.Background(), obj); err != nil {
		h.t.Fatal(err)
	}
}

// finish completes the sync Job with the crawler's report of the
// generation it read.
func (h *harness) finish(name string, succeeded bool, generation int64) {
	h.t.Helper()
	obj := h.get()
	now := metav1.NewTime(h.clock.Now())
	report := &v1alpha1.SyncReport{Job: name, Result: v1alpha1.SyncSucceeded, Complete: true, DocumentsIndexed: 12,
		StartTime: &now, CompletionTime: &now, Generation: generation}
	if !succeeded {
		report.Result, report.Complete, report.Reason, report.Message = v1alpha1.SyncFailed, false, "IndexingFailed", "3 of 12 documents rejected"
	}
	obj.Status.LastSync, obj.Status.LastSyncTime = report, &now
	if succeeded {
		obj.Status.DocumentCount, obj.Status.LastSuccessfulSyncTime = 12, &now
	}
	if err := h.c.Status().Update(context.Background(), obj); err != nil {
		h.t.Fatal(err)
	}
	job := h.job(name)
	cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}
	if !succeeded {
		cond.Type, cond.Reason = batchv1.JobFailed, "BackoffLimitExceeded"
	}
	job.Status.Conditions = append(job.Status.Conditions, cond)
	if err := h.c.Status().Update(context.Background(), job); err != nil {
		h.t.Fatal(err)
	}
}

// drainEvents returns the events recorded since the last call.
func (h *harness) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-h.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// expectCond fails unless the condition has the status and reason and its
// message contains each of parts.
func (h *harness) expectCond(obj *v1alpha1.ConfluenceDataSource, condType string, status metav1.ConditionStatus, reason string, parts ...string) {
	h.t.Helper()
	c := meta.FindStatusCondition(obj.Status.Conditions, condType)
	if c == nil || c.Status != status || c.Reason != reason {
		h.t.Fatalf("%s = %+v, want %s/%s", condType, c, status, reason)
	}
	for _, p := range parts {
		if !strings.Contains(c.Message, p) {
			h.t.Fatalf("%s message %q lacks %q", condType, c.Message, p)
		}
	}
}

func (h *harness) expectNoCond(obj *v1alpha1.ConfluenceDataSource, condType string) {
	h.t.Helper()
	if c := meta.FindStatusCondition(obj.Status.Conditions, condType); c != nil {
		h.t.Fatalf("%s present: %+v", condType, c)
	}
}

func kstatusOf(t *testing.T, obj *v1alpha1.ConfluenceDataSource) kstatus.Status {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// syncedOnce returns a harness whose first sync (generation 1) succeeded.
func syncedOnce(t *testing.T, obj *v1alpha1.ConfluenceDataSource) (*harness, string) {
	t.Helper()
	h := newHarness(t, obj)
	h.mustReconcile()
	first := h.get().Status.ActiveJob
	if first == nil {
		t.Fatalf("no first sync: %+v", h.get().Status.Conditions)
	}
	h.finish(first.Name, true, 1)
	h.mustReconcile()
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	h.drainEvents()
	return h, first.Name
}

func TestReconcile_JobCreateRefused_FailedCreateOnConditionsAndOneWarning(t *testing.T) {
	h := newHarness(t, testDataSource("wiki"))
	h.createErr = apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "wiki-x",
		errors.New("exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=5, limited: count/jobs.batch=5"))

	for i := range 3 {
		if _, err := h.reconcile(); err == nil || !apierrors.IsForbidden(err) {
			t.Fatalf("reconcile %d: %v, want the Forbidden error back for a retry with backoff", i, err)
		}
	}
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonFailedCreate, "creating sync Job", "exceeded quota")
	h.expectCond(cur, v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonFailedCreate)
	h.expectCond(cur, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonFailedCreate, "exceeded quota")
	if got := kstatusOf(t, cur); got != kstatus.InProgressStatus {
		t.Fatalf("kstatus %s while retrying", got)
	}
	evs := h.drainEvents()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning FailedCreate") || !strings.Contains(evs[0], "exceeded quota") {
		t.Fatalf("events %q, want one Warning FailedCreate for three refusals", evs)
	}

	// Another answer is another event; the fix clears the failure.
	h.createErr = apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "wiki-x", errors.New("RBAC: access denied"))
	_, _ = h.reconcile()
	if evs := h.drainEvents(); len(evs) != 1 || !strings.Contains(evs[0], "access denied") {
		t.Fatalf("events %q, want one for the new refusal", evs)
	}
	h.createErr = nil
	h.mustReconcile()
	cur = h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSyncInProgress)
	h.expectCond(cur, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress)
	if len(h.jobs()) != 1 {
		t.Fatalf("jobs %v", h.jobs())
	}
}

func TestReconcile_TransientError_ReconcileErrorWithoutSpam(t *testing.T) {
	h := newHarness(t, testDataSource("wiki"))
	failing := true
	h.c = interceptor.NewClient(h.c, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			if _, isSA := o.(*corev1.ServiceAccount); isSA && failing {
				return apierrors.NewServiceUnavailable("etcd leader changed")
			}
			return c.Patch(ctx, o, p, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if _, isSA := o.(*corev1.ServiceAccount); isSA && failing {
				return apierrors.NewServiceUnavailable("etcd leader changed")
			}
			return c.Create(ctx, o, opts...)
		},
	})
	h.r.Client = h.c
	for range 2 {
		if _, err := h.reconcile(); err == nil {
			t.Fatal("no error returned")
		}
	}
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReconcileError, "ServiceAccount", "etcd leader changed")
	if evs := h.drainEvents(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning ReconcileError") {
		t.Fatalf("events %q", evs)
	}
	failing = false
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSyncInProgress)
}

func TestScheduleSync_StaleCache_AdoptsTheRunningJobItFindsExisting(t *testing.T) {
	obj := testDataSource("wiki")
	existing := newSyncJob(obj, "crawler:test", scheduleDecision{Trigger: triggerFirstSync, Slot: t0.Truncate(time.Minute)}, v1alpha1.SyncFullCrawl, nil)
	obj.UID = "uid-wiki"
	if err := ctrlRef(obj, existing); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, obj, existing)
	h.hideJobs = true // created by a reconcile whose status write was lost; not in the cache yet

	h.mustReconcile()
	cur := h.get()
	if cur.Status.ActiveJob == nil || cur.Status.ActiveJob.Name != existing.Name {
		t.Fatalf("activeJob %+v, want the existing %s", cur.Status.ActiveJob, existing.Name)
	}
	if cur.Status.LastScheduleTime == nil || cur.Status.LastStartedSpec == nil || cur.Status.LastStartedSpec.Generation != 1 {
		t.Fatalf("start not recorded: %+v", cur.Status)
	}
	h.expectCond(cur, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress, existing.Name)
	if names := h.jobs(); len(names) != 1 {
		t.Fatalf("jobs %v", names)
	}
	for _, e := range h.drainEvents() {
		if strings.Contains(e, "SyncStarted") {
			t.Fatalf("adoption announced as a start: %q", e)
		}
	}
}

func TestScheduleSync_FinishedJobOfTheSameRequest_NotRunAgain(t *testing.T) {
	h, _ := syncedOnce(t, testDataSource("wiki"))
	obj := h.get()
	obj.Annotations = map[string]string{v1alpha1.RequestedSyncAnnotation: "now"}
	if err := h.c.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	// The request's Job ran and finished, but the status write that
	// recorded it was lost.
	done := newSyncJob(obj, "crawler:test", scheduleDecision{Trigger: triggerRequest, Key: "r" + shortHash("\nnow")}, v1alpha1.SyncFullCrawl, nil)
	if err := ctrlRef(obj, done); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Create(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	done.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if err := h.c.Status().Update(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	h.mustReconcile()
	cur := h.get()
	if cur.Status.LastHandledSyncRequest != "now" || cur.Status.ActiveJob != nil {
		t.Fatalf("lastHandledSyncRequest %q activeJob %+v", cur.Status.LastHandledSyncRequest, cur.Status.ActiveJob)
	}
	if names := h.jobs(); len(names) != 2 {
		t.Fatalf("jobs %v, want the first and the request's only", names)
	}
}

func TestScheduleSync_NameTakenByAJobOfSomeoneElse_FailedCreate(t *testing.T) {
	obj := testDataSource("wiki")
	foreign := newSyncJob(obj, "other:1", scheduleDecision{Trigger: triggerFirstSync, Slot: t0.Truncate(time.Minute)}, v1alpha1.SyncFullCrawl, nil)
	h := newHarness(t, obj, foreign)
	if _, err := h.reconcile(); err == nil {
		t.Fatal("no error")
	}
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonFailedCreate, "not controlled by this data source")
	if cur.Status.ActiveJob != nil {
		t.Fatalf("adopted a foreign Job: %+v", cur.Status.ActiveJob)
	}
}

func TestScheduleSync_QueuedBehindMaxConcurrentSyncs_StartsWhenASlotFrees(t *testing.T) {
	other := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "other-1", Namespace: "elsewhere", Labels: map[string]string{JobTypeLabel: JobTypeSync}}}
	h := newHarness(t, testDataSource("wiki"), other)
	h.r.Limiter = NewSyncLimiter(1)

	res := h.mustReconcile()
	cur := h.get()
	if res.RequeueAfter != queuedRetry || len(h.jobs()) != 0 {
		t.Fatalf("requeue %v jobs %v, want a retry in %v and no Job", res.RequeueAfter, h.jobs(), queuedRetry)
	}
	h.expectCond(cur, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonQueued, "1 of 1 syncs running")
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonQueued, "first sync is queued")
	h.expectCond(cur, v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonQueued)

	other.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if err := h.c.Status().Update(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	h.clock.Step(queuedRetry)
	h.mustReconcile()
	if cur := h.get(); cur.Status.ActiveJob == nil || len(h.jobs()) != 1 {
		t.Fatalf("activeJob %+v jobs %v after the slot freed", cur.Status.ActiveJob, h.jobs())
	}
}

// deleting returns a harness for obj being deleted with deletionPolicy Delete.
func deleting(t *testing.T, objs ...client.Object) (*harness, *v1alpha1.ConfluenceDataSource) {
	t.Helper()
	obj := testDataSource("wiki")
	obj.UID = "uid-wiki"
	obj.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	obj.DeletionTimestamp = ptr.To(metav1.NewTime(t0.Add(-time.Second)))
	return newHarness(t, obj, objs...), obj
}

func TestStartCleanup_JobCreatedByARacingReconcile_Adopted(t *testing.T) {
	h, obj := deleting(t)
	// Another reconcile created attempt 1 after this one looked it up live.
	var racing *batchv1.Job
	h.c = interceptor.NewClient(h.c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if j, isJob := o.(*batchv1.Job); isJob && racing == nil {
				racing = j.DeepCopy()
				if err := c.Create(ctx, racing); err != nil {
					return err
				}
				return apierrors.NewAlreadyExists(schema.GroupResource{Group: "batch", Resource: "jobs"}, j.Name)
			}
			return c.Create(ctx, o, opts...)
		},
	})
	h.r.Client = h.c
	h.mustReconcile()
	cur := h.get()
	if racing == nil || racing.Name != cleanupJobName(obj.Name, 1) {
		t.Fatalf("racing job %+v", racing)
	}
	if cur.Status.CleanupAttempts != 1 {
		t.Fatalf("cleanupAttempts %d", cur.Status.CleanupAttempts)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCleanupInProgress, "wiki-cleanup-1 started (attempt 1)")
	h.expectNoCond(cur, v1alpha1.ConditionReconciling)
}

func TestStartCleanup_Refused_FailedCreateAndOneWarning(t *testing.T) {
	h, _ := deleting(t)
	h.createErr = apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "wiki-cleanup-1", errors.New("exceeded quota"))
	for range 2 {
		if _, err := h.reconcile(); err == nil {
			t.Fatal("no error")
		}
	}
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonFailedCreate, "creating cleanup Job wiki-cleanup-1", "exceeded quota")
	if evs := h.drainEvents(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning FailedCreate") {
		t.Fatalf("events %q", evs)
	}
}

func TestRunCleanup_FailedAttemptShowsCleanupFailedUntilTheRetry(t *testing.T) {
	h, obj := deleting(t)
	h.mustReconcile()
	job := h.job(cleanupJobName(obj.Name, 1))
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
	if err := h.c.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	res := h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCleanupFailed, "attempt 2 starts at")
	if res.RequeueAfter <= 0 || res.RequeueAfter > cleanupBackoff(1)+time.Second {
		t.Fatalf("requeue %v", res.RequeueAfter)
	}
	h.clock.Step(cleanupBackoff(1))
	h.mustReconcile()
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCleanupInProgress, "wiki-cleanup-2 started (attempt 2)")
	if cur.Status.CleanupAttempts != 2 {
		t.Fatalf("attempts %d", cur.Status.CleanupAttempts)
	}
}

// ctrlRef makes owner the controller of job.
func ctrlRef(owner *v1alpha1.ConfluenceDataSource, job *batchv1.Job) error {
	job.OwnerReferences = nil
	return controllerutil.SetControllerReference(owner, job, Scheme)
}

func TestReconcile_SpecEdit_StartsOneDebouncedSync_ReadySaysTheIndexIsOutdated(t *testing.T) {
	h, first := syncedOnce(t, testDataSource("wiki"))
	if idx := h.get().Status.IndexedSpec; idx == nil || idx.Generation != 1 {
		t.Fatalf("indexedSpec %+v after the first sync", idx)
	}

	// A filter edit: nothing starts at once; Ready tells the index is behind.
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) {
		o.Spec.Filters.Spaces.Include = []v1alpha1.Regex{"ENG"}
	})
	res := h.mustReconcile()
	cur := h.get()
	if len(h.jobs()) != 1 {
		t.Fatalf("jobs %v right after the edit, want the debounce to wait", h.jobs())
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > specChangeDelay+time.Second {
		t.Fatalf("requeue %v, want the end of the debounce", res.RequeueAfter)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing,
		"the index reflects generation 1; generation 2 changes what is indexed", "starts at")
	h.expectCond(cur, v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonProgressing)
	h.expectCond(cur, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonQueued)
	if cur.Status.ObservedGeneration != 2 || kstatusOf(t, cur) != kstatus.InProgressStatus {
		t.Fatalf("observedGeneration %d kstatus %s", cur.Status.ObservedGeneration, kstatusOf(t, cur))
	}

	// A second edit within the delay restarts it.
	h.clock.Step(20 * time.Second)
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) {
		o.Spec.Filters.Spaces.Include = []v1alpha1.Regex{"ENG", "OPS"}
	})
	h.mustReconcile()
	h.clock.Step(15 * time.Second)
	h.mustReconcile()
	if len(h.jobs()) != 1 {
		t.Fatalf("jobs %v 15 s after the second edit", h.jobs())
	}

	// Settled: one sync of generation 3.
	h.clock.Step(specChangeDelay)
	h.mustReconcile()
	cur = h.get()
	if cur.Status.ActiveJob == nil || cur.Status.ActiveJob.Name == first {
		t.Fatalf("no sync after the debounce: %+v", cur.Status.Conditions)
	}
	name := cur.Status.ActiveJob.Name
	job := h.job(name)
	if job.Annotations[TriggerAnnotation] != "SpecChanged" || job.Annotations[GenerationAnnotation] != "3" {
		t.Fatalf("job annotations %v", job.Annotations)
	}
	if cur.Status.PendingSpec != nil || cur.Status.LastStartedSpec.Generation != 3 {
		t.Fatalf("pending %+v started %+v", cur.Status.PendingSpec, cur.Status.LastStartedSpec)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing,
		"the index reflects generation 1; generation 3", "sync job "+name+" is running")

	h.finish(name, true, 3)
	h.mustReconcile()
	cur = h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	h.expectNoCond(cur, v1alpha1.ConditionReconciling)
	if cur.Status.IndexedSpec.Generation != 3 || kstatusOf(t, cur) != kstatus.CurrentStatus {
		t.Fatalf("indexedSpec %+v kstatus %s", cur.Status.IndexedSpec, kstatusOf(t, cur))
	}

	// An edit that changes nothing indexed starts nothing and keeps Ready.
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) {
		o.Spec.Crawler.BackoffLimit = ptr.To[int32](4)
		o.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](5)
	})
	h.clock.Step(time.Hour)
	h.mustReconcile()
	cur = h.get()
	if len(h.jobs()) != 2 || cur.Status.ActiveJob != nil || cur.Status.PendingSpec != nil {
		t.Fatalf("jobs %v active %+v pending %+v after a non-indexing edit", h.jobs(), cur.Status.ActiveJob, cur.Status.PendingSpec)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	if cur.Status.IndexedSpec.Generation != 4 {
		t.Fatalf("indexedSpec %+v, want generation 4 (same content)", cur.Status.IndexedSpec)
	}
}

func TestReconcile_SpecChangeSyncFails_NotRetriedInALoop(t *testing.T) {
	h, _ := syncedOnce(t, testDataSource("wiki"))
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Language = "de" })
	h.mustReconcile()
	h.clock.Step(specChangeDelay)
	h.mustReconcile()
	name := h.get().Status.ActiveJob.Name
	h.finish(name, false, 2)
	h.mustReconcile()
	cur := h.get()
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, "IndexingFailed")
	if cur.Status.IndexedSpec.Generation != 1 || cur.Status.LastStartedSpec.Generation != 2 {
		t.Fatalf("indexed %+v started %+v", cur.Status.IndexedSpec, cur.Status.LastStartedSpec)
	}
	for range 3 {
		h.clock.Step(time.Hour)
		h.mustReconcile()
	}
	if names := h.jobs(); len(names) != 2 {
		t.Fatalf("jobs %v: the failed spec change was retried by itself", names)
	}
}

func TestReconcile_SpecEditWhileSuspended_ReadyFalseIndexOutdated(t *testing.T) {
	h, _ := syncedOnce(t, testDataSource("wiki"))
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) {
		o.Spec.Sync.Suspend = true
		o.Spec.Scope.PageAttachments = ptr.To(false)
	})
	h.clock.Step(time.Hour)
	h.mustReconcile()
	cur := h.get()
	if len(h.jobs()) != 1 {
		t.Fatalf("jobs %v while suspended", h.jobs())
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIndexOutdated,
		"the index reflects generation 1; generation 2", "suspended")
	h.expectNoCond(cur, v1alpha1.ConditionReconciling)

	// Resumed after the delay: the sync starts at once.
	h.clock.Step(specChangeDelay)
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Suspend = false })
	h.mustReconcile()
	if cur := h.get(); cur.Status.ActiveJob == nil {
		t.Fatalf("no sync after resume: %+v", cur.Status.Conditions)
	}
}

func TestReconcile_SpecEditDuringARun_SyncsAfterItUnlessItReadTheNewSpec(t *testing.T) {
	for name, tc := range map[string]struct {
		reported  int64
		wantAfter bool
	}{
		"the run read the old spec": {reported: 1, wantAfter: true},
		"the run read the new spec": {reported: 2, wantAfter: false},
		"a crawler without report":  {reported: 0, wantAfter: true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, testDataSource("wiki"))
			h.mustReconcile()
			running := h.get().Status.ActiveJob.Name
			h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.OpenSearch.Index = "wiki-v2" })
			h.mustReconcile()
			h.clock.Step(specChangeDelay)
			h.mustReconcile()
			h.expectCond(h.get(), v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress, "another sync is due")

			h.finish(running, true, tc.reported)
			h.mustReconcile()
			cur := h.get()
			if started := cur.Status.ActiveJob != nil; started != tc.wantAfter {
				t.Fatalf("sync after the run: %v, want %v (conditions %+v)", started, tc.wantAfter, cur.Status.Conditions)
			}
			if !tc.wantAfter {
				h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
			}
		})
	}
}

func TestReconcile_StatusFromBeforeSpecTracking_StartsNothing(t *testing.T) {
	obj := testDataSource("wiki")
	obj.Generation = 7
	now := metav1.NewTime(t0.Add(-time.Hour))
	obj.Status = v1alpha1.ConfluenceDataSourceStatus{
		ObservedGeneration: 7, LastScheduleTime: &now, LastSyncTime: &now, DocumentCount: 3,
		LastSync: &v1alpha1.SyncReport{Job: "wiki-1", Result: v1alpha1.SyncSucceeded, StartTime: &now, CompletionTime: &now},
	}
	h := newHarness(t, obj)
	h.mustReconcile()
	cur := h.get()
	if cur.Status.ActiveJob != nil || cur.Status.LastStartedSpec == nil || cur.Status.LastStartedSpec.Generation != 7 {
		t.Fatalf("activeJob %+v lastStartedSpec %+v", cur.Status.ActiveJob, cur.Status.LastStartedSpec)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
}

func TestCrawledRevision(t *testing.T) {
	obj := testDataSource("wiki")
	obj.Generation = 5
	started := &v1alpha1.SpecRevision{Generation: 3, IndexHash: "h3"}
	for name, tc := range map[string]struct {
		reported int64
		started  *v1alpha1.SpecRevision
		want     *v1alpha1.SpecRevision
	}{
		"the generation it was started for":      {reported: 3, started: started, want: &v1alpha1.SpecRevision{Generation: 3, IndexHash: "h3"}},
		"a crawler that reports none":            {reported: 0, started: started, want: &v1alpha1.SpecRevision{Generation: 3, IndexHash: "h3"}},
		"the current one, read after an edit":    {reported: 5, started: started, want: &v1alpha1.SpecRevision{Generation: 5, IndexHash: indexHash(&obj.Spec)}},
		"one in between: content unknown":        {reported: 4, started: started, want: &v1alpha1.SpecRevision{Generation: 4}},
		"no report, no record of the start":      {reported: 0, started: nil, want: nil},
		"a report without a record of the start": {reported: 5, started: nil, want: &v1alpha1.SpecRevision{Generation: 5, IndexHash: indexHash(&obj.Spec)}},
	} {
		t.Run(name, func(t *testing.T) {
			got := crawledRevision(tc.reported, tc.started, obj, t0)
			if got != nil {
				got.Time = nil
			}
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIndexHash_OnlyWhatIsIndexedCounts(t *testing.T) {
	base := testDataSource("wiki")
	same := map[string]func(*v1alpha1.ConfluenceDataSource){
		"schedule":     func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Schedule = "@hourly" },
		"suspend":      func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Suspend = true },
		"mode":         func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Mode = v1alpha1.SyncIncremental },
		"Job override": func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Crawler.BackoffLimit = ptr.To[int32](5) },
		"history":      func(o *v1alpha1.ConfluenceDataSource) { o.Spec.FailedJobsHistoryLimit = ptr.To[int32](9) },
		"rate limit":   func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Confluence.MaxRequestsPerSecond = 3 },
		"deletion":     func(o *v1alpha1.ConfluenceDataSource) { o.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain },
	}
	differs := map[string]func(*v1alpha1.ConfluenceDataSource){
		"url":         func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Confluence.URL = "https://other.atlassian.net/wiki" },
		"credentials": func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Confluence.Auth.SecretRef.Name = "other" },
		"scope":       func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Scope.BlogPosts = ptr.To(false) },
		"filter": func(o *v1alpha1.ConfluenceDataSource) {
			o.Spec.Filters.Titles.Pages.Exclude = []v1alpha1.Regex{"^Draft"}
		},
		"identities": func(o *v1alpha1.ConfluenceDataSource) { o.Spec.IdentityCrawler.Enabled = ptr.To(false) },
		"field mappings": func(o *v1alpha1.ConfluenceDataSource) {
			o.Spec.FieldMappings = []v1alpha1.FieldMapping{{From: "page.labels", To: "tags"}}
		},
		"language": func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Language = "fr" },
		"endpoint": func(o *v1alpha1.ConfluenceDataSource) { o.Spec.OpenSearch.Endpoints = []string{"https://os2:9200"} },
		"index":    func(o *v1alpha1.ConfluenceDataSource) { o.Spec.OpenSearch.Index = "wiki2" },
	}
	for name, change := range same {
		o := base.DeepCopy()
		change(o)
		if indexHash(&o.Spec) != indexHash(&base.Spec) {
			t.Errorf("%s changed the index hash", name)
		}
	}
	for name, change := range differs {
		o := base.DeepCopy()
		change(o)
		if indexHash(&o.Spec) == indexHash(&base.Spec) {
			t.Errorf("%s did not change the index hash", name)
		}
	}
}
