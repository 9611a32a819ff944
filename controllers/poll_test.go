package controllers

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// pollJobs lists the names of the data source's poll Jobs, as stored.
func (h *harness) pollJobs() []string {
	h.t.Helper()
	var list batchv1.JobList
	if err := h.r.APIReader.List(context.Background(), &list, client.InNamespace(h.key.Namespace),
		client.MatchingLabels{JobTypeLabel: JobTypePoll, v1alpha1.DataSourceLabel: h.key.Name}); err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	return names
}

// finishPoll completes a poll Job with the crawler's poll report.
func (h *harness) finishPoll(name string, succeeded bool, changes int64, watermark time.Time) {
	h.t.Helper()
	obj := h.get()
	now := metav1.NewTime(h.clock.Now())
	report := &v1alpha1.SyncReport{Job: name, Mode: v1alpha1.SyncChangePoll, Result: v1alpha1.SyncSucceeded, StartTime: &now, CompletionTime: &now}
	if !succeeded {
		report.Result, report.Reason, report.Message = v1alpha1.SyncFailed, v1alpha1.ReasonSyncFailed, "listing changes: HTTP 500"
	}
	if obj.Status.Changes == nil {
		obj.Status.Changes = &v1alpha1.ChangesStatus{}
	}
	obj.Status.Changes.LastPoll, obj.Status.Changes.LastPollChanges = report, changes
	if succeeded {
		obj.Status.Changes.Watermark = &metav1.Time{Time: watermark}
	}
	if err := h.c.Status().Update(context.Background(), obj); err != nil {
		h.t.Fatal(err)
	}
	job := h.job(name)
	cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}
	if !succeeded {
		cond.Type = batchv1.JobFailed
	}
	job.Status.Conditions = append(job.Status.Conditions, cond)
	if err := h.c.Status().Update(context.Background(), job); err != nil {
		h.t.Fatal(err)
	}
}

// One route builds every crawler run's Job: the same pod, labels and
// podFailurePolicy; a poll is not retried, a targeted sync and a sync get
// spec.crawler.backoffLimit; only a targeted run gets targets.
func TestNewRunJob_OneRouteForSyncPollAndTargeted(t *testing.T) {
	obj := testDataSource("wiki")
	obj.Generation = 3
	obj.Spec.Crawler.BackoffLimit = ptr.To[int32](4)
	poll := newRunJob(obj, "crawler:test", crawlerRun{name: pollJobName(obj.Name, t0), jobType: JobTypePoll, mode: v1alpha1.SyncChangePoll})
	args := poll.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "ChangePoll") || slices.Contains(args, "--target") || poll.Labels[JobTypeLabel] != JobTypePoll || *poll.Spec.BackoffLimit != 0 {
		t.Fatalf("poll Job: args %v labels %v backoff %d", args, poll.Labels, *poll.Spec.BackoffLimit)
	}
	targeted := newRunJob(obj, "crawler:test", crawlerRun{name: "wiki-t", jobType: JobTypeTargeted, mode: v1alpha1.SyncTargeted, targets: []string{"page:1", "space:ENG"}})
	want := []string{"--mode", "Targeted", "--target", "page:1", "--target", "space:ENG"}
	if got := targeted.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got[len(got)-len(want):], want) {
		t.Fatalf("targeted Job args %v, want them to end in %v", got, want)
	}
	if *targeted.Spec.BackoffLimit != 4 || targeted.Labels[JobTypeLabel] != JobTypeTargeted {
		t.Fatalf("targeted Job: backoff %d labels %v, want spec.crawler.backoffLimit 4 and type targeted", *targeted.Spec.BackoffLimit, targeted.Labels)
	}
	sync := newSyncJob(obj, "crawler:test", scheduleDecision{Trigger: triggerSchedule, Slot: t0}, v1alpha1.SyncFullCrawl, nil)
	for _, j := range []*batchv1.Job{poll, targeted} {
		if !reflect.DeepEqual(j.Spec.PodFailurePolicy, sync.Spec.PodFailurePolicy) || j.Spec.Template.Spec.ServiceAccountName != sync.Spec.Template.Spec.ServiceAccountName ||
			*j.Spec.ActiveDeadlineSeconds != *sync.Spec.ActiveDeadlineSeconds || j.Annotations[GenerationAnnotation] != "3" {
			t.Fatalf("%s Job differs from a sync Job in what they share: %+v", j.Labels[JobTypeLabel], j.Spec)
		}
	}
}

// With changePollInterval set, a poll starts once the first sync succeeded,
// every interval, one at a time, beside a running sync, and never becomes
// the active sync or touches Ready.
func TestSchedulePoll_EveryIntervalOneAtATimeBesideASync(t *testing.T) {
	obj := testDataSource("wiki")
	obj.Spec.Sync.ChangePollInterval = &metav1.Duration{Duration: time.Minute}
	h := newHarness(t, obj)
	h.mustReconcile()
	if polls := h.pollJobs(); len(polls) != 0 {
		t.Fatalf("a poll started before the first sync succeeded: %v", polls)
	}
	first := h.get().Status.ActiveJob.Name
	h.finish(first, true, 1)
	h.mustReconcile()
	polls := h.pollJobs()
	if len(polls) != 1 {
		t.Fatalf("after the first sync: polls %v, want one", polls)
	}
	cur := h.get()
	if cur.Status.ActiveJob != nil || cur.Status.Changes == nil || cur.Status.Changes.ActivePollJob == nil || cur.Status.Changes.ActivePollJob.Name != polls[0] {
		t.Fatalf("status after the poll started: activeJob %+v changes %+v", cur.Status.ActiveJob, cur.Status.Changes)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)

	// The interval passes while the poll still runs: no second poll.
	h.clock.Step(2 * time.Minute)
	h.mustReconcile()
	if got := h.pollJobs(); len(got) != 1 {
		t.Fatalf("a second poll started while one runs: %v", got)
	}
	if cur := h.get(); cur.Status.ActiveJob != nil {
		t.Fatalf("the poll Job was taken for the active sync: %+v", cur.Status.ActiveJob)
	}
	// A requested full sync runs; polls go on beside it.
	setRequest(t, h, "full-1")
	h.mustReconcile()
	if h.get().Status.ActiveJob == nil {
		t.Fatal("the requested sync did not start")
	}
	before := value(t, pollsTotal.WithLabelValues(obj.Namespace, obj.Name, "Succeeded"))
	h.finishPoll(polls[0], true, 3, h.clock.Now().Add(-30*time.Second))
	h.mustReconcile()
	cur = h.get()
	if got := h.pollJobs(); len(got) != 2 || cur.Status.Changes.ActivePollJob == nil || cur.Status.Changes.ActivePollJob.Name == polls[0] {
		t.Fatalf("after the poll finished an interval late: polls %v, active %+v", got, cur.Status.Changes.ActivePollJob)
	}
	if cur.Status.ActiveJob == nil || cur.Status.LastSync.Job != first {
		t.Fatalf("the poll touched the sync's status: activeJob %+v lastSync %+v", cur.Status.ActiveJob, cur.Status.LastSync)
	}
	if got := value(t, pollsTotal.WithLabelValues(obj.Namespace, obj.Name, "Succeeded")); got != before+1 {
		t.Fatalf("polls counted %v, want %v", got, before+1)
	}
	if lag := value(t, freshnessLag.WithLabelValues(obj.Namespace, obj.Name)); lag != 30 {
		t.Fatalf("freshness lag %v, want 30 s", lag)
	}
	h.expectCond(cur, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress)
}

// A poll that finished early waits for the interval; a failed poll is
// counted and the next one runs at the next interval; suspend stops polls.
func TestSchedulePoll_WaitsForTheIntervalCountsFailuresStopsWhenSuspended(t *testing.T) {
	obj := testDataSource("wiki")
	obj.Spec.Sync.ChangePollInterval = &metav1.Duration{Duration: 5 * time.Minute}
	h, _ := syncedOnce(t, obj)
	polls := h.pollJobs()
	if len(polls) != 1 {
		t.Fatalf("polls %v", polls)
	}
	h.clock.Step(10 * time.Second)
	failedBefore := value(t, pollsTotal.WithLabelValues(obj.Namespace, obj.Name, "Failed"))
	h.finishPoll(polls[0], false, 0, time.Time{})
	res := h.mustReconcile()
	if got := h.pollJobs(); len(got) != 1 {
		t.Fatalf("a poll started before the interval passed: %v", got)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > 5*time.Minute-10*time.Second {
		t.Fatalf("requeue %v, want at the next interval", res.RequeueAfter)
	}
	if got := value(t, pollsTotal.WithLabelValues(obj.Namespace, obj.Name, "Failed")); got != failedBefore+1 {
		t.Fatalf("failed polls counted %v, want %v", got, failedBefore+1)
	}
	cur := h.get()
	if cur.Status.Changes.ActivePollJob != nil || hasCond(cur, v1alpha1.ConditionSyncFailed) {
		t.Fatalf("a failed poll must end and must not set SyncFailed: %+v", cur.Status)
	}
	h.expectCond(cur, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	h.clock.Step(5 * time.Minute)
	h.mustReconcile()
	if got := h.pollJobs(); len(got) != 2 {
		t.Fatalf("no poll at the next interval: %v", got)
	}
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Suspend = true })
	active := h.get().Status.Changes.ActivePollJob.Name
	h.finishPoll(active, true, 0, h.clock.Now())
	h.clock.Step(10 * time.Minute)
	h.mustReconcile()
	if got := h.pollJobs(); len(got) != 2 {
		t.Fatalf("a poll started while suspended: %v", got)
	}
}

// Finished poll Jobs are pruned to the last of each outcome.
func TestSchedulePoll_PrunesFinishedPollJobs(t *testing.T) {
	obj := testDataSource("wiki")
	obj.Spec.Sync.ChangePollInterval = &metav1.Duration{Duration: time.Minute}
	obj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](10)
	h, _ := syncedOnce(t, obj)
	for range 4 {
		active := h.get().Status.Changes.ActivePollJob.Name
		h.finishPoll(active, true, 0, h.clock.Now())
		h.clock.Step(time.Minute)
		h.mustReconcile()
	}
	if got := h.pollJobs(); len(got) != 2 {
		t.Fatalf("poll Jobs kept %v, want the running one and the last finished", got)
	}
}

func hasCond(obj *v1alpha1.ConfluenceDataSource, condType string) bool {
	for _, c := range obj.Status.Conditions {
		if c.Type == condType {
			return true
		}
	}
	return false
}

func setRequest(t *testing.T, h *harness, value string) {
	t.Helper()
	obj := h.get()
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[v1alpha1.RequestedSyncAnnotation] = value
	if err := h.c.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue() + out.GetGauge().GetValue()
}

// Deleting the data source stops a running poll Job before the cleanup Job
// removes the documents: a poll still writing would leave some behind.
func TestCleanup_WaitsForARunningPollJob(t *testing.T) {
	obj := testDataSource("wiki")
	obj.UID = "uid-wiki"
	poll := newRunJob(obj, "crawler:test", crawlerRun{name: pollJobName(obj.Name, t0), jobType: JobTypePoll, mode: v1alpha1.SyncChangePoll})
	if err := ctrlRef(obj, poll); err != nil {
		t.Fatal(err)
	}
	h, _ := deleting(t, poll)
	h.mustReconcile()
	if names := h.pollJobs(); len(names) != 0 {
		t.Fatalf("the running poll Job was not stopped: %v", names)
	}
	var list batchv1.JobList
	if err := h.r.APIReader.List(context.Background(), &list, client.MatchingLabels{JobTypeLabel: JobTypeCleanup}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("the cleanup started while a poll ran: %v", list.Items[0].Name)
	}
}
