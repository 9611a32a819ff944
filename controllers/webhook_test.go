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

func TestWebhook_BurstBecomesOneTargetedJobAfterTheWindow(t *testing.T) {
	h := webhookHarness(t, "wiki")
	st := h.get().Status.Webhook
	if st == nil || st.Path != webhook.PathFor(h.key, hookSecret) {
		t.Fatalf("status.webhook = %+v, want the path of the secret", st)
	}
	before := h.jobs()

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
	if got := h.jobs(); len(got) != len(before) {
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
	if obj.Status.ActiveJob == nil {
		t.Fatalf("no Job after the window: %+v", obj.Status.Conditions)
	}
	name := obj.Status.ActiveJob.Name
	if len(h.jobs()) != len(before)+1 || !strings.HasPrefix(name, "wiki-w") {
		t.Fatalf("jobs %v (active %s), want one new wiki-w<hash> Job", h.jobs(), name)
	}
	job := h.job(name)
	mode, targets := targetArgs(job.Spec.Template.Spec.Containers[0].Args)
	if want := []string{"blogpost:1015811", "page:11", "page:12", "page:13"}; mode != string(v1alpha1.SyncTargeted) || !reflect.DeepEqual(targets, want) {
		t.Fatalf("mode %s targets %v, want Targeted %v", mode, targets, want)
	}
	if job.Annotations[TriggerAnnotation] != string(triggerWebhook) || job.Annotations[WebhookReceivedAnnotation] == "" {
		t.Fatalf("annotations %v", job.Annotations)
	}
	if ws := obj.Status.Webhook; ws.PendingTargets != 0 || ws.LastEventType != "page_trashed" || ws.LastEventTime == nil {
		t.Fatalf("status.webhook %+v, want nothing pending and the last event page_trashed", ws)
	}

	// While it runs, a new event waits; no second Job.
	if code := h.post(h.pageEvent("page_created", 14)); code != http.StatusAccepted {
		t.Fatal(code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	if got := h.jobs(); len(got) != len(before)+1 {
		t.Fatalf("a second Job started while one runs: %v", got)
	}
	h.expectCond(h.get(), v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress, "another sync is due")

	// When it ends, the queued target runs, alone.
	h.finish(name, true, 1)
	h.mustReconcile()
	next := h.get().Status.ActiveJob
	if next == nil || next.Name == name {
		t.Fatalf("the queued target did not start after the run: %+v", h.get().Status)
	}
	if _, targets := targetArgs(h.job(next.Name).Spec.Template.Spec.Containers[0].Args); !reflect.DeepEqual(targets, []string{"page:14"}) {
		t.Fatalf("second Job targets %v, want [page:14]", targets)
	}
	h.expectCond(h.get(), v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
}

func TestWebhook_MoreThanMaxTargetsCoalesceIntoOneIncrementalSync(t *testing.T) {
	h := webhookHarness(t, "wiki")
	for i := range v1alpha1.MaxTargets + 1 {
		if code := h.post(h.pageEvent("page_updated", 5000+i)); code != http.StatusAccepted {
			t.Fatal(code)
		}
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	active := h.get().Status.ActiveJob
	if active == nil {
		t.Fatal("no Job")
	}
	if mode, targets := targetArgs(h.job(active.Name).Spec.Template.Spec.Containers[0].Args); mode != string(v1alpha1.SyncIncremental) || targets != nil {
		t.Fatalf("mode %s with %d targets, want Incremental without targets", mode, len(targets))
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
	if code := h.post(h.pageEvent("page_updated", 1)); code != http.StatusAccepted {
		t.Fatal(code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	hook := h.get().Status.ActiveJob
	if hook == nil || !strings.HasPrefix(hook.Name, "wiki-w") {
		t.Fatalf("no webhook Job: %+v", h.get().Status.ActiveJob)
	}
	if h.get().Status.PendingSpec == nil {
		t.Fatal("the webhook Job cleared the pending spec change")
	}
	h.finish(hook.Name, true, 2)
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
		t.Fatalf("the spec change did not get its sync after the targeted one: %+v", h.get().Status.ActiveJob)
	}

	// A failed full run stays failed through a successful targeted one.
	h.finish(spec.Name, false, 2)
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, "IndexingFailed")
	if code := h.post(h.pageEvent("page_updated", 2)); code != http.StatusAccepted {
		t.Fatal(code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	next := h.get().Status.ActiveJob
	if next == nil || !strings.HasPrefix(next.Name, "wiki-w") {
		t.Fatalf("no webhook Job: %+v", next)
	}
	h.finish(next.Name, true, 2)
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, "IndexingFailed")
}

func TestWebhookSync_TargetedUpToMaxTargets(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("page:%d", i+1)
		}
		return out
	}
	cases := map[string]struct {
		targets     []string
		incremental bool
		mode        v1alpha1.SyncMode
		n           int
	}{
		"one":                     {ids(1), false, v1alpha1.SyncTargeted, 1},
		"exactly the cap":         {ids(v1alpha1.MaxTargets), false, v1alpha1.SyncTargeted, v1alpha1.MaxTargets},
		"one over the cap":        {ids(v1alpha1.MaxTargets + 1), false, v1alpha1.SyncIncremental, 0},
		"an event asked for more": {ids(3), true, v1alpha1.SyncIncremental, 0},
		"nothing named":           {nil, true, v1alpha1.SyncIncremental, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			mode, targets := webhookSync(c.targets, c.incremental)
			if mode != c.mode || len(targets) != c.n {
				t.Fatalf("%s with %d targets, want %s with %d", mode, len(targets), c.mode, c.n)
			}
			args := syncArgs(testDataSource("wiki"), "wiki-w1", mode, targets...)
			if _, got := targetArgs(args); len(got) != c.n {
				t.Fatalf("%d --target args, want %d", len(got), c.n)
			}
		})
	}
}

// A Targeted run that reports elsewhere than status.lastSync (a crawler
// keeping lastSync for the syncs of the whole spec) is judged by its Job.
func TestWebhook_JobWithoutASyncReport_JudgedByTheJob(t *testing.T) {
	h := webhookHarness(t, "wiki")
	if code := h.post(h.pageEvent("page_updated", 1)); code != http.StatusAccepted {
		t.Fatal(code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	name := h.get().Status.ActiveJob.Name
	job := h.job(name)
	start := metav1.NewTime(h.clock.Now())
	h.clock.Step(2 * time.Second)
	end := metav1.NewTime(h.clock.Now())
	job.Status.StartTime, job.Status.CompletionTime = &start, &end
	job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end})
	if err := h.c.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	h.mustReconcile()
	obj := h.get()
	if obj.Status.ActiveJob != nil {
		t.Fatalf("the finished Job is still active: %+v", obj.Status.ActiveJob)
	}
	h.expectNoCond(obj, v1alpha1.ConditionSyncFailed)
	h.expectCond(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)

	// The same Job failing is a failure.
	if code := h.post(h.pageEvent("page_updated", 2)); code != http.StatusAccepted {
		t.Fatal(code)
	}
	h.clock.Step(webhook.DefaultBatchWindow)
	h.mustReconcile()
	failed := h.job(h.get().Status.ActiveJob.Name)
	failed.Status.Conditions = append(failed.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: end})
	if err := h.c.Status().Update(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	h.mustReconcile()
	h.expectCond(h.get(), v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, v1alpha1.ReasonJobFailed)
}
