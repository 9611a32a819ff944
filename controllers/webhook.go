package controllers

import (
	"context"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/internal/webhook"
)

// webhookField is the spec path of the webhook secret key, for messages
// and the Secret requirement.
const webhookField = "spec.webhook.secretKey"

// webhookSecretKey is spec.webhook.secretKey or its default.
func webhookSecretKey(obj *v1alpha1.ConfluenceDataSource) string {
	if k := obj.Spec.Webhook.SecretKey; k != "" {
		return k
	}
	return v1alpha1.DefaultWebhookSecretKey
}

// observeWebhook serves the data source's webhook URL with the secret
// validate read (only that key of the Secret is kept), or stops serving it
// when spec.webhook is gone, and reports status.webhook: the URL path, the
// last verified event and how many targets wait. It sets no condition.
func (r *DataSourceReconciler) observeWebhook(_ context.Context, sc *scope) (time.Duration, error) {
	key := client.ObjectKeyFromObject(sc.obj)
	st := &sc.obj.Status
	if sc.obj.Spec.Webhook == nil || r.Webhooks == nil {
		if r.Webhooks != nil {
			r.Webhooks.Unregister(key)
		}
		if sc.obj.Spec.Webhook == nil {
			st.Webhook = nil
		} else {
			// Enabled on a manager without a receiver: say so by an empty path.
			st.Webhook = &v1alpha1.WebhookStatus{}
		}
		return 0, nil
	}
	path := r.Webhooks.Register(key, sc.webhookSecret)
	sc.webhookSecret = nil
	ws := &v1alpha1.WebhookStatus{Path: path}
	if r.WebhookBaseURL != "" {
		ws.URL = strings.TrimRight(r.WebhookBaseURL, "/") + path
	}
	if last := r.Webhooks.LastEvent(key); !last.Time.IsZero() {
		ws.LastEventTime, ws.LastEventType = metaTime(&last.Time), last.Type
	} else if old := st.Webhook; old != nil {
		// The receiver forgets on restart; the status remembers.
		ws.LastEventTime, ws.LastEventType = old.LastEventTime, old.LastEventType
	}
	sc.webhookBatch = r.Webhooks.Peek(key)
	ws.PendingTargets = int32(len(sc.webhookBatch.Targets))
	st.Webhook = ws
	return 0, nil
}

// stopWebhook stops serving the URL of a stalled data source (its secret
// may be the reason, and nothing could sync what it queues) and drops what
// was queued; status.webhook keeps the last event but no path. The URL is
// served again once the stall is fixed.
func (r *DataSourceReconciler) stopWebhook(sc *scope) {
	ws := sc.obj.Status.Webhook
	if r.Webhooks != nil {
		key := client.ObjectKeyFromObject(sc.obj)
		if last := r.Webhooks.LastEvent(key); !last.Time.IsZero() && ws != nil {
			ws.LastEventTime, ws.LastEventType = metaTime(&last.Time), last.Type
		}
		r.Webhooks.Unregister(key)
	}
	if ws != nil {
		ws.Path, ws.URL, ws.PendingTargets = "", "", 0
	}
}

// webhookDue says whether the queued batch's window has passed, and when
// it will otherwise (zero when nothing is queued).
func (r *DataSourceReconciler) webhookDue(sc *scope) (bool, time.Time) {
	b := sc.webhookBatch
	if b.Empty() || r.Webhooks == nil {
		return false, time.Time{}
	}
	return !sc.now.Before(b.Due), b.Due
}

// webhookKey names the Job of a batch: the same batch always gets the same
// name, and batches received at other times get other names.
func webhookKey(b webhook.Batch) string {
	return "w" + shortHash(b.FirstReceived.UTC().Format(time.RFC3339Nano)+"\n"+strings.Join(b.Targets, "\n"))
}

// ackWebhook removes a batch handed to a started (or already finished) Job.
func (r *DataSourceReconciler) ackWebhook(sc *scope) {
	if r.Webhooks != nil {
		r.Webhooks.Ack(client.ObjectKeyFromObject(sc.obj), sc.webhookBatch)
		if sc.obj.Status.Webhook != nil {
			sc.obj.Status.Webhook.PendingTargets = int32(len(r.Webhooks.Peek(client.ObjectKeyFromObject(sc.obj)).Targets))
		}
	}
}

// webhookJob says whether a sync Job was started for webhook events.
func webhookJob(job *batchv1.Job) bool {
	return job != nil && job.Annotations[TriggerAnnotation] == string(triggerWebhook)
}

// webhookOutcome is how a webhook Job ended. A Targeted run may report
// elsewhere than status.lastSync (which describes the syncs of the whole
// spec), so without a report naming it the Job's own end decides: the
// crawler exits 0 only when the sync succeeded (exit code contract).
func webhookOutcome(name string, job *batchv1.Job, report *v1alpha1.SyncReport) syncOutcome {
	if report != nil && report.Job == name {
		return outcomeOf(name, job, report)
	}
	if finished, succeeded := jobFinished(job); finished && succeeded {
		out := syncOutcome{Succeeded: true}
		if job.Status.StartTime != nil {
			out.Duration = jobFinishTime(job).Sub(job.Status.StartTime.Time)
		}
		return out
	}
	return outcomeOf(name, job, nil)
}

// recordWebhookLatency observes, for a successful sync Job started by
// webhook events, the time from receiving the oldest event to the
// crawler's completion (the document is searchable once the crawler's
// writes are refreshed, which the crawler waits for before it reports).
func recordWebhookLatency(obj *v1alpha1.ConfluenceDataSource, job *batchv1.Job, report *v1alpha1.SyncReport) {
	if job == nil {
		return
	}
	received, err := time.Parse(time.RFC3339Nano, job.Annotations[WebhookReceivedAnnotation])
	if err != nil {
		return
	}
	var end time.Time
	switch {
	case report != nil && report.Job == job.Name && report.CompletionTime != nil:
		end = report.CompletionTime.Time
	case job.Status.CompletionTime != nil:
		end = job.Status.CompletionTime.Time // second resolution
	default:
		return
	}
	if d := end.Sub(received); d >= 0 {
		webhookLatency.WithLabelValues(obj.Namespace, obj.Name).Observe(d.Seconds())
	}
}

// webhookReceivedValue renders the annotation value.
func webhookReceivedValue(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
