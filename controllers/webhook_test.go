package controllers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/internal/webhook"
)

var hookSecret = []byte("dc-webhook-secret")

// dcWebhookSource is a Data Center data source with spec.webhook.
func dcWebhookSource(name string) *v1alpha1.ConfluenceDataSource {
	obj := testDataSource(name)
	obj.Spec.Confluence.URL = "https://wiki.atlassian.net"
	obj.Spec.Confluence.Deployment = v1alpha1.DeploymentDataCenter
	obj.Spec.Webhook = &v1alpha1.WebhookSpec{}
	return obj
}

// webhookHarness is a harness whose data source synced once, with a
// receiver on the harness clock and the webhook key in the auth Secret.
func webhookHarness(t *testing.T, name string) *harness {
	t.Helper()
	h := newHarness(t, dcWebhookSource(name))
	h.r.Webhooks = webhook.NewReceiver(webhook.Options{Clock: h.clock})
	t.Cleanup(func() { h.r.Webhooks.Unregister(h.key) })
	secret := &corev1.Secret{}
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: h.key.Namespace, Name: "conf"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data[v1alpha1.DefaultWebhookSecretKey] = hookSecret
	if err := h.c.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	h.mustReconcile()
	first := h.get().Status.ActiveJob
	if first == nil {
		t.Fatalf("no first sync: %+v", h.get().Status.Conditions)
	}
	h.finish(first.Name, true, 1)
	h.mustReconcile()
	h.drainEvents()
	return h
}

// post sends a signed Data Center event to the data source's URL.
func (h *harness) post(body string) int {
	h.t.Helper()
	mac := hmac.New(sha256.New, hookSecret)
	mac.Write([]byte(body))
	req := httptest.NewRequest(http.MethodPost, webhook.PathFor(h.key, hookSecret), bytes.NewReader([]byte(body)))
	req.Header.Set(webhook.SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	rec := httptest.NewRecorder()
	h.r.Webhooks.ServeHTTP(rec, req)
	return rec.Code
}

func (h *harness) pageEvent(event string, id int) string {
	return fmt.Sprintf(`{"timestamp":%d,"event":%q,"userKey":"ff80","page":{"id":%d}}`, h.clock.Now().UnixMilli(), event, id)
}

// targetArgs returns the Job's --mode and --target arguments, in either
// flag form (--target=x or --target x).
func targetArgs(args []string) (mode string, targets []string) {
	for i, a := range args {
		if a == "--mode" && i+1 < len(args) {
			mode = args[i+1]
		}
		if t, ok := strings.CutPrefix(a, "--target="); ok {
			targets = append(targets, t)
		}
		if a == "--target" && i+1 < len(args) {
			targets = append(targets, args[i+1])
		}
	}
	return mode, targets
}

// targetedJobs lists the names of the data source's Targeted Jobs, as stored.
func (h *harness) targetedJobs() []string {
	h.t.Helper()
	var list batchv1.JobList
	if err := h.r.APIReader.List(context.Background(), &list, client.InNamespace(h.key.Namespace),
		client.MatchingLabels{JobTypeLabel: JobTypeTargeted, v1alpha1.DataSourceLabel: h.key.Name}); err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	return names
}

// activeTargeted is status.changes.activeTargetedJob's name, or "".
func activeTargeted(obj *v1alpha1.ConfluenceDataSource) string {
	if ch := obj.Status.Changes; ch != nil && ch.ActiveTargetedJob != nil {
		return ch.ActiveTargetedJob.Name
	}
	return ""
}

// finishTargeted ends a Targeted Job: with report, the crawler first writes
// its report into status.changes.lastTargeted (succeeded or not); then the
// Job completes or fails.
func (h *harness) finishTargeted(name string, report, succeeded bool, took time.Duration) {
	h.t.Helper()
	start := metav1.NewTime(h.clock.Now())
	h.clock.Step(took)
	end := metav1.NewTime(h.clock.Now())
	if report {
		obj := h.get()
		r := &v1alpha1.SyncReport{Job: name, Mode: v1alpha1.SyncTargeted, Result: v1alpha1.SyncSucceeded, DocumentsIndexed: 1, StartTime: &start, CompletionTime: &end}
		if !succeeded {
			r.Result, r.Reason, r.Message = v1alpha1.SyncFailed, v1alpha1.ReasonCredentialsRejected, "Confluence answered 401"
		}
		if obj.Status.Changes == nil {
			obj.Status.Changes = &v1alpha1.ChangesStatus{}
		}
		obj.Status.Changes.LastTargeted = r
		if err := h.c.Status().Update(context.Background(), obj); err != nil {
			h.t.Fatal(err)
		}
	}
	job := h.job(name)
	job.Status.StartTime = &start
	cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end}
	if succeeded {
		job.Status.CompletionTime = &end
	} else {
		cond.Type, cond.Reason = batchv1.JobFailed, "BackoffLimitExceeded"
	}
	job.Status.Conditions = append(job.Status.Conditions, cond)
	if err := h.c.Status().Update(context.Background(), job); err != nil {
		h.t.Fatal(err)
	}
}

// postPages sends one page_updated event per id, each accepted.
func (h *harness) postPages(ids ...int) {
	h.t.Helper()
	for _, id := range ids {
		if code := h.post(h.pageEvent("page_updated", id)); code != http.StatusAccepted {
			h.t.Fatalf("event for page %d: %d", id, code)
		}
	}
}

// jobTargetArgs returns a Job's --mode and --target arguments.
func (h *harness) jobTargetArgs(name string) (string, []string) {
	h.t.Helper()
	return targetArgs(h.job(name).Spec.Template.Spec.Containers[0].Args)
}

func TestWebhook_BurstBecomesOneTargetedJobAfterTheWindow(t *testing.T) {
	h := webhookHarness(t, "wiki")
	st := h.get().Status.Webhook
	if st == nil || st.Path != webhook.PathFor(h.key, hookSecret) {
		t.Fatalf("status.webhook = %+v, want the path of the secret", st)
	}
	before := h.get()

	// A burst: edits of two pages (one twice), a blog post, a deletion.
	for i, body := range []string{
		h.pageEvent("page_updated", 11), h.pageEvent("page_updated", 12),
		fmt.Sprintf(`{"timestamp":%d,"event":"blog_updated","userKey":"u","blog":{"id":1015811}}`, h.clock.Now().UnixMilli()),
		h.pageEvent("page_updated", 11) + " ", h.pageEvent("page_trashed", 13),
	} {
		if code := h.post(body); code != http.StatusAccepted {
			t.Fatalf("event %d: %d", i, code)
		}
	}
	h.clock.Step(500 * time.Millisecond)
	res := h.mustReconcile()
	if got := h.targetedJobs(); len(got) != 0 {
		t.Fatalf("a Job started before the batch was due: %v", got)
	}
	if due := h.r.Webhooks.Peek(h.key).Due; res.RequeueAfter <= 0 || res.RequeueAfter > due.Sub(h.clock.Now())+time.Second {
		t.Fatalf("requeue after %v, want about %v (when the batch is due)", res.RequeueAfter, due.Sub(h.clock.Now()))
	}
	if got := h.get().Status.Webhook.PendingTargets; got != 4 {
		t.Fatalf("pendingTargets %d, want 4", got)
	}

	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	obj := h.get()
	name := activeTargeted(obj)
	if got := h.targetedJobs(); len(got) != 1 || got[0] != name || !strings.HasPrefix(name, "wiki-targeted-") {
		t.Fatalf("targeted Jobs %v (active %q), want one wiki-targeted-<hash> Job", got, name)
	}
	if obj.Status.ActiveJob != nil || !reflect.DeepEqual(obj.Status.LastSync, before.Status.LastSync) {
		t.Fatalf("the targeted Job became the active sync or touched lastSync: activeJob %+v", obj.Status.ActiveJob)
	}
	job := h.job(name)
	mode, targets := targetArgs(job.Spec.Template.Spec.Containers[0].Args)
	if want := []string{"blogpost:1015811", "page:11", "page:12", "page:13"}; mode != string(v1alpha1.SyncTargeted) || !reflect.DeepEqual(targets, want) {
		t.Fatalf("mode %s targets %v, want Targeted %v", mode, targets, want)
	}
	if job.Annotations[WebhookReceivedAnnotation] == "" || job.Labels[JobTypeLabel] != JobTypeTargeted {
		t.Fatalf("annotations %v labels %v", job.Annotations, job.Labels)
	}
	if ws := obj.Status.Webhook; ws.PendingTargets != 0 || ws.LastEventType != "page_trashed" || ws.LastEventTime == nil {
		t.Fatalf("status.webhook %+v, want nothing pending and the last event page_trashed", ws)
	}
	h.expectCond(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	h.expectCond(obj, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonIdle)

	// Its success is recorded with the receipt-to-indexed latency, as the
	// crawler's report measures it; lastSync stays the spec's.
	latency := histogramCount(t, webhookLatency.WithLabelValues(h.key.Namespace, h.key.Name))
	succeeded := value(t, targetedTotal.WithLabelValues(h.key.Namespace, h.key.Name, "Succeeded"))
	h.finishTargeted(name, true, true, 2*time.Second)
	h.mustReconcile()
	obj = h.get()
	if activeTargeted(obj) != "" || obj.Status.Changes.LastTargetedOutcome == nil || obj.Status.Changes.LastTargetedOutcome.Result != v1alpha1.SyncSucceeded ||
		obj.Status.Changes.LastTargetedOutcome.Targets != 4 {
		t.Fatalf("status.changes after the targeted Job: %+v", obj.Status.Changes)
	}
	if got := histogramCount(t, webhookLatency.WithLabelValues(h.key.Namespace, h.key.Name)); got != latency+1 {
		t.Fatalf("webhook_to_indexed_seconds observations %v, want %v", got, latency+1)
	}
	if got := value(t, targetedTotal.WithLabelValues(h.key.Namespace, h.key.Name, "Succeeded")); got != succeeded+1 {
		t.Fatalf("targeted_syncs_total{Succeeded} %v, want %v", got, succeeded+1)
	}
	if !reflect.DeepEqual(obj.Status.LastSync, before.Status.LastSync) {
		t.Fatalf("lastSync changed: %+v", obj.Status.LastSync)
	}
	h.expectCond(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	if ev := h.drainEvents(); len(ev) != 0 {
		t.Fatalf("events for a successful targeted sync: %v", ev)
	}
}

// An edit during an hour-long full crawl is synced at once, beside it.
func TestWebhook_BatchWhileAFullSyncRuns_StartsATargetedJobAtOnce(t *testing.T) {
	h := webhookHarness(t, "wiki")
	h.r.Limiter = NewSyncLimiter(1) // the full sync takes the only sync slot
	setRequest(t, h, "full-1")
	h.mustReconcile()
	full := h.get().Status.ActiveJob
	if full == nil {
		t.Fatal("the requested full sync did not start")
	}
	h.clock.Step(30 * time.Minute)
	h.postPages(21)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	obj := h.get()
	name := activeTargeted(obj)
	if name == "" {
		t.Fatalf("no targeted Job while the full sync runs: %+v", obj.Status.Changes)
	}
	if mode, targets := h.jobTargetArgs(name); mode != string(v1alpha1.SyncTargeted) || !reflect.DeepEqual(targets, []string{"page:21"}) {
		t.Fatalf("mode %s targets %v, want Targeted [page:21]", mode, targets)
	}
	if obj.Status.ActiveJob == nil || obj.Status.ActiveJob.Name != full.Name {
		t.Fatalf("activeJob %+v, want the full sync %s still", obj.Status.ActiveJob, full.Name)
	}
	h.expectCond(obj, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress, full.Name)
	h.expectNoCond(obj, v1alpha1.ConditionSyncFailed)

	// Both end in either order; each is judged by its own report.
	h.finishTargeted(name, true, true, time.Second)
	h.mustReconcile()
	if got := h.get(); got.Status.ActiveJob == nil || activeTargeted(got) != "" {
		t.Fatalf("after the targeted Job: activeJob %+v targeted %q", got.Status.ActiveJob, activeTargeted(got))
	}
	h.finish(full.Name, true, 1)
	h.mustReconcile()
	obj = h.get()
	if obj.Status.ActiveJob != nil || obj.Status.LastSync.Job != full.Name {
		t.Fatalf("after the full sync: activeJob %+v lastSync %+v", obj.Status.ActiveJob, obj.Status.LastSync)
	}
	h.expectCond(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
}

// One Targeted Job at a time: batches arriving while it runs wait, merge
// into one, and start when it ends.
func TestWebhook_BatchesWhileATargetedJobRuns_WaitAndMerge(t *testing.T) {
	h := webhookHarness(t, "wiki")
	h.postPages(1)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	first := activeTargeted(h.get())
	if first == "" {
		t.Fatal("no targeted Job")
	}
	h.postPages(2, 3)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	h.postPages(3, 4)
	h.clock.Step(webhook.DefaultBatchWindow)
	res := h.mustReconcile()
	if got := h.targetedJobs(); len(got) != 1 {
		t.Fatalf("a second targeted Job started while one runs: %v", got)
	}
	if got := h.get().Status.Webhook.PendingTargets; got != 3 {
		t.Fatalf("pendingTargets %d, want 3 (pages 2, 3, 4)", got)
	}
	if res.RequeueAfter != 0 && res.RequeueAfter < time.Minute {
		t.Fatalf("requeue after %v while a targeted Job runs: its end comes through the Job watch", res.RequeueAfter)
	}

	h.finishTargeted(first, true, true, time.Second)
	h.mustReconcile()
	next := activeTargeted(h.get())
	if next == "" || next == first {
		t.Fatalf("the merged batch did not start when the first Job ended: %+v", h.get().Status.Changes)
	}
	if _, targets := h.jobTargetArgs(next); !reflect.DeepEqual(targets, []string{"page:2", "page:3", "page:4"}) {
		t.Fatalf("second Job targets %v, want the merged [page:2 page:3 page:4]", targets)
	}
	if got := h.get().Status.Webhook.PendingTargets; got != 0 {
		t.Fatalf("pendingTargets %d after the merged batch started", got)
	}
	// The first Job is kept as the last success; the history stays bounded.
	h.finishTargeted(next, true, true, time.Second)
	h.mustReconcile()
	if got := h.targetedJobs(); len(got) != 1 || got[0] != next {
		t.Fatalf("targeted Jobs after two successes: %v, want the last one only", got)
	}
}

func TestWebhook_MoreThanMaxTargetsCoalesceIntoOneIncrementalSync(t *testing.T) {
	h := webhookHarness(t, "wiki")
	setRequest(t, h, "full-1")
	h.mustReconcile()
	full := h.get().Status.ActiveJob
	if full == nil {
		t.Fatal("the requested full sync did not start")
	}
	for i := range v1alpha1.MaxTargets + 1 {
		if code := h.post(h.pageEvent("page_updated", 5000+i)); code != http.StatusAccepted {
			t.Fatal(code)
		}
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	// No Targeted Job takes it: it waits for the running sync.
	if got := h.targetedJobs(); len(got) != 0 {
		t.Fatalf("targeted Jobs %v for %d targets", got, v1alpha1.MaxTargets+1)
	}
	obj := h.get()
	if obj.Status.ActiveJob.Name != full.Name || obj.Status.Webhook.PendingTargets != v1alpha1.MaxTargets+1 {
		t.Fatalf("activeJob %+v pending %d, want the full sync and every target waiting", obj.Status.ActiveJob, obj.Status.Webhook.PendingTargets)
	}
	h.expectCond(obj, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress, "another sync is due")

	h.finish(full.Name, true, 1)
	h.mustReconcile()
	active := h.get().Status.ActiveJob
	if active == nil || active.Name == full.Name {
		t.Fatalf("no Incremental sync after the full one: %+v", active)
	}
	job := h.job(active.Name)
	if mode, targets := targetArgs(job.Spec.Template.Spec.Containers[0].Args); mode != string(v1alpha1.SyncIncremental) || targets != nil {
		t.Fatalf("mode %s with %d targets, want Incremental without targets", mode, len(targets))
	}
	if job.Annotations[TriggerAnnotation] != string(triggerWebhook) || job.Annotations[WebhookReceivedAnnotation] == "" || job.Labels[JobTypeLabel] != JobTypeSync {
		t.Fatalf("Incremental webhook Job: annotations %v labels %v", job.Annotations, job.Labels)
	}
	if got := h.get().Status.Webhook.PendingTargets; got != 0 {
		t.Fatalf("pendingTargets %d after the Incremental sync started", got)
	}
}

// An Incremental sync owed to webhook events survives a manager restart
// (the receiver's memory does not): the new leader starts it after the
// running sync, once.
func TestWebhook_OwedIncrementalSurvivesARestart(t *testing.T) {
	h := webhookHarness(t, "wiki")
	setRequest(t, h, "full-1")
	h.mustReconcile()
	full := h.get().Status.ActiveJob
	if full == nil {
		t.Fatal("the requested full sync did not start")
	}
	received := h.clock.Now()
	if code := h.post(fmt.Sprintf(`{"timestamp":%d,"event":"content_permissions_updated","userKey":"u"}`, received.UnixMilli())); code != http.StatusAccepted {
		t.Fatal(code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	ws := h.get().Status.Webhook
	if ws.PendingIncrementalSince == nil || !ws.PendingIncrementalSince.Time.Equal(received.Truncate(time.Second)) {
		t.Fatalf("status.webhook %+v, want the owed Incremental sync since %v", ws, received)
	}

	// The manager restarts: a new receiver with nothing queued.
	h.r.Webhooks.Unregister(h.key)
	h.r.Webhooks = webhook.NewReceiver(webhook.Options{Clock: h.clock})
	h.mustReconcile()
	if got := h.get().Status.ActiveJob; got == nil || got.Name != full.Name {
		t.Fatalf("activeJob %+v, want the full sync still (the owed sync waits for it)", got)
	}
	h.finish(full.Name, true, 1)
	h.mustReconcile()
	obj := h.get()
	active := obj.Status.ActiveJob
	if active == nil || active.Name == full.Name {
		t.Fatalf("the owed Incremental sync did not start after the restart: %+v", active)
	}
	job := h.job(active.Name)
	if mode, _ := targetArgs(job.Spec.Template.Spec.Containers[0].Args); mode != string(v1alpha1.SyncIncremental) ||
		job.Annotations[TriggerAnnotation] != string(triggerWebhook) || job.Annotations[WebhookReceivedAnnotation] != webhookReceivedValue(received.Truncate(time.Second)) {
		t.Fatalf("owed sync Job: mode %s annotations %v", mode, job.Annotations)
	}
	if obj.Status.Webhook.PendingIncrementalSince != nil {
		t.Fatalf("pendingIncrementalSince %v after its sync started", obj.Status.Webhook.PendingIncrementalSince)
	}
	// Once: after it ends nothing more starts.
	h.finish(active.Name, true, 1)
	h.mustReconcile()
	if got := h.get().Status.ActiveJob; got != nil {
		t.Fatalf("another sync started: %+v", got)
	}
}

func TestWebhook_Suspended_StartsNothing(t *testing.T) {
	h := webhookHarness(t, "wiki")
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Suspend = true })
	h.mustReconcile()
	h.postPages(7)
	if code := h.post(fmt.Sprintf(`{"timestamp":%d,"event":"content_permissions_updated","userKey":"u"}`, h.clock.Now().UnixMilli())); code != http.StatusAccepted {
		t.Fatal(code)
	}
	jobs := h.jobs()
	for range 3 {
		h.clock.Step(webhook.DefaultBatchWindow)
		h.mustReconcile()
	}
	obj := h.get()
	if got := h.targetedJobs(); len(got) != 0 || activeTargeted(obj) != "" {
		t.Fatalf("targeted Jobs %v while suspended", got)
	}
	if got := h.jobs(); !reflect.DeepEqual(got, jobs) || obj.Status.ActiveJob != nil {
		t.Fatalf("sync Jobs %v (before %v) while suspended", got, jobs)
	}
	if obj.Status.Webhook.PendingTargets != 1 {
		t.Fatalf("pendingTargets %d, want the target kept for after the suspension", obj.Status.Webhook.PendingTargets)
	}
}

// A failed Targeted Job shows in status.changes and a Warning event; it is
// never reported as synced: no latency observation, lastSync and Ready
// untouched. A Job that completed without the crawler's report naming it
// is a failure too.
func TestWebhook_TargetedJobFails_StatusSaysSoNothingReportedSynced(t *testing.T) {
	h := webhookHarness(t, "wiki")
	before := h.get()
	latency := histogramCount(t, webhookLatency.WithLabelValues(h.key.Namespace, h.key.Name))
	failed := value(t, targetedTotal.WithLabelValues(h.key.Namespace, h.key.Name, "Failed"))

	cases := []struct {
		what              string
		report, succeeded bool
		reason            string
	}{
		{"the crawler reports a failure", true, false, v1alpha1.ReasonCredentialsRejected},
		{"the Job fails without a report", false, false, v1alpha1.ReasonJobFailed},
		{"the Job completes without a report", false, true, v1alpha1.ReasonSyncFailed},
	}
	for i, c := range cases {
		h.postPages(100 + i)
		h.clock.Step(webhook.DefaultBatchWindow)
		h.mustReconcile()
		name := activeTargeted(h.get())
		if name == "" {
			t.Fatalf("%s: no targeted Job", c.what)
		}
		h.finishTargeted(name, c.report, c.succeeded, time.Second)
		h.mustReconcile()
		obj := h.get()
		out := obj.Status.Changes.LastTargetedOutcome
		if activeTargeted(obj) != "" || out == nil || out.Job != name || out.Result != v1alpha1.SyncFailed || out.Reason != c.reason || !strings.Contains(out.Message, name) {
			t.Fatalf("%s: lastTargetedOutcome %+v, want %s Failed with reason %s", c.what, out, name, c.reason)
		}
		if ev := h.drainEvents(); len(ev) != 1 || !strings.Contains(ev[0], "Warning TargetedSyncFailed") {
			t.Fatalf("%s: events %v, want one TargetedSyncFailed warning", c.what, ev)
		}
		if !reflect.DeepEqual(obj.Status.LastSync, before.Status.LastSync) || obj.Status.LastSuccessfulSyncTime.Time != before.Status.LastSuccessfulSyncTime.Time {
			t.Fatalf("%s: lastSync changed: %+v", c.what, obj.Status.LastSync)
		}
		h.expectNoCond(obj, v1alpha1.ConditionSyncFailed)
		h.expectCond(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	}
	if got := histogramCount(t, webhookLatency.WithLabelValues(h.key.Namespace, h.key.Name)); got != latency {
		t.Fatalf("failed targeted Jobs observed webhook_to_indexed_seconds: %v, want %v", got, latency)
	}
	if got := value(t, targetedTotal.WithLabelValues(h.key.Namespace, h.key.Name, "Failed")); got != failed+3 {
		t.Fatalf("targeted_syncs_total{Failed} %v, want %v", got, failed+3)
	}
}

// A status write lost after the create: the running Targeted Job is
// adopted, so no second one starts beside it.
func TestWebhook_TargetedJobTheStatusLost_Adopted(t *testing.T) {
	h := webhookHarness(t, "wiki")
	h.postPages(1)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	name := activeTargeted(h.get())
	obj := h.get()
	obj.Status.Changes.ActiveTargetedJob = nil
	if err := h.c.Status().Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	h.postPages(2)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	if got := activeTargeted(h.get()); got != name || len(h.targetedJobs()) != 1 {
		t.Fatalf("active %q, Jobs %v: want %s adopted and no second Job", got, h.targetedJobs(), name)
	}
}

func TestWebhook_ForgedEventStartsNothing(t *testing.T) {
	h := webhookHarness(t, "wiki")
	before := h.jobs()
	body := h.pageEvent("page_updated", 11)
	req := httptest.NewRequest(http.MethodPost, webhook.PathFor(h.key, hookSecret), strings.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, "sha256="+strings.Repeat("0", 64))
	rec := httptest.NewRecorder()
	h.r.Webhooks.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged: %d", rec.Code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	if got := h.jobs(); !reflect.DeepEqual(got, before) {
		t.Fatalf("a forged event started a Job: %v", got)
	}
	if ws := h.get().Status.Webhook; ws.LastEventTime != nil {
		t.Fatalf("a forged event shows as the last event: %+v", ws)
	}
}

func TestWebhook_MissingKeyOrCloud_Stalls(t *testing.T) {
	h := newHarness(t, dcWebhookSource("wiki"))
	h.r.Webhooks = webhook.NewReceiver(webhook.Options{Clock: h.clock})
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretKeyMissing, `"webhookSecret"`, webhookField)

	cloud := dcWebhookSource("cloud")
	cloud.Spec.Confluence.Deployment = v1alpha1.DeploymentCloud
	hc := newHarness(t, cloud)
	hc.mustReconcile()
	hc.expectCond(hc.get(), v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, "DataCenter")
}

func TestWebhook_DisabledInTheSpec_URLStopsAnswering(t *testing.T) {
	h := webhookHarness(t, "wiki")
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Webhook = nil })
	h.mustReconcile()
	if ws := h.get().Status.Webhook; ws != nil {
		t.Fatalf("status.webhook %+v after disabling", ws)
	}
	if code := h.post(h.pageEvent("page_updated", 1)); code != http.StatusNotFound {
		t.Fatalf("disabled URL answered %d, want 404", code)
	}
}

func TestWebhook_KeyRemoved_StallsAndStopsServingTheURL(t *testing.T) {
	h := webhookHarness(t, "wiki")
	if code := h.post(h.pageEvent("page_updated", 1)); code != http.StatusAccepted {
		t.Fatal(code)
	}
	secret := &corev1.Secret{}
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: h.key.Namespace, Name: "conf"}, secret); err != nil {
		t.Fatal(err)
	}
	delete(secret.Data, v1alpha1.DefaultWebhookSecretKey)
	if err := h.c.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	obj := h.get()
	h.expectCond(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretKeyMissing, "webhookSecret")
	if ws := obj.Status.Webhook; ws == nil || ws.Path != "" || ws.PendingTargets != 0 || ws.LastEventType != "page_updated" {
		t.Fatalf("status.webhook %+v, want no path, nothing pending, the last event kept", ws)
	}
	if code := h.post(h.pageEvent("page_updated", 2)); code != http.StatusNotFound {
		t.Fatalf("the URL of a stalled data source answered %d, want 404", code)
	}
}

func TestWebhook_TargetedSyncLeavesAPendingSpecChangeAndAFailureStanding(t *testing.T) {
	h := webhookHarness(t, "wiki")
	h.editSpec(func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Language = "de" })
	h.mustReconcile()
	if h.get().Status.PendingSpec == nil {
		t.Fatal("the language change is not pending")
	}
	h.postPages(1)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	hook := activeTargeted(h.get())
	if hook == "" {
		t.Fatal("no targeted Job")
	}
	if h.get().Status.PendingSpec == nil {
		t.Fatal("the targeted Job cleared the pending spec change")
	}
	h.finishTargeted(hook, true, true, time.Second)
	h.mustReconcile()
	obj := h.get()
	if obj.Status.IndexedSpec == nil || obj.Status.IndexedSpec.Generation != 1 {
		t.Fatalf("indexedSpec %+v after a targeted sync, want generation 1 still", obj.Status.IndexedSpec)
	}
	h.expectCond(obj, v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing)

	h.clock.Step(specChangeDelay)
	h.mustReconcile()
	spec := h.get().Status.ActiveJob
	if spec == nil || !strings.HasPrefix(spec.Name, "wiki-g") {
		t.Fatalf("the spec change did not get its sync: %+v", h.get().Status.ActiveJob)
	}

	// A failed full run stays failed through a successful targeted one.
	h.finish(spec.Name, false, 2)
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, "IndexingFailed")
	h.postPages(2)
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	next := activeTargeted(h.get())
	if next == "" {
		t.Fatal("no targeted Job after a failed full sync")
	}
	h.finishTargeted(next, true, true, time.Second)
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, "IndexingFailed")
}

// Targeted unless an event named nothing or there are more targets than
// one Targeted run takes.
func TestSyncBoundBatch_TargetedUpToMaxTargets(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("page:%d", i+1)
		}
		return out
	}
	cases := map[string]struct {
		batch webhook.Batch
		sync  bool
	}{
		"one":                     {webhook.Batch{Targets: ids(1)}, false},
		"exactly the cap":         {webhook.Batch{Targets: ids(v1alpha1.MaxTargets)}, false},
		"one over the cap":        {webhook.Batch{Targets: ids(v1alpha1.MaxTargets + 1)}, true},
		"an event asked for more": {webhook.Batch{Targets: ids(3), Incremental: true}, true},
		"nothing named":           {webhook.Batch{Incremental: true}, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := syncBoundBatch(c.batch); got != c.sync {
				t.Fatalf("syncBoundBatch = %v, want %v", got, c.sync)
			}
		})
	}
}

// histogramCount is the number of observations of a histogram.
func histogramCount(t *testing.T, o prometheus.Observer) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := o.(prometheus.Metric).Write(m); err != nil {
		t.Fatal(err)
	}
	return float64(m.GetHistogram().GetSampleCount())
}
