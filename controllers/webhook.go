package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

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
	if old := st.Webhook; old != nil {
		ws.PendingIncrementalSince = old.PendingIncrementalSince
	}
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
	if b := sc.webhookBatch; syncBoundBatch(b) && ws.PendingIncrementalSince == nil {
		// Written unless the sync starts in this very reconcile.
		ws.PendingIncrementalSince = metaTime(&b.FirstReceived)
	}
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

// syncBoundBatch says whether a batch needs an Incremental sync through
// the sync path (decideSync, after any running sync): an event named
// nothing, or more targets than one Targeted run takes. Every other batch
// goes to a Targeted Job (scheduleTargeted).
func syncBoundBatch(b webhook.Batch) bool {
	return b.Incremental || len(b.Targets) > v1alpha1.MaxTargets
}

// webhookDue says whether an Incremental sync for webhook events is due:
// a queued sync-bound batch whose window has passed, or one the status
// records from before a manager restart (due at once); and when a queued
// batch will be due otherwise (zero when none is queued). key names the
// Job answering it.
func (r *DataSourceReconciler) webhookDue(sc *scope) (due bool, at time.Time, key string) {
	if r.Webhooks == nil {
		return false, time.Time{}, ""
	}
	if b := sc.webhookBatch; syncBoundBatch(b) {
		return !sc.now.Before(b.Due), b.Due, webhookKey(b)
	}
	if ws := sc.obj.Status.Webhook; ws != nil && ws.PendingIncrementalSince != nil {
		return true, time.Time{}, webhookKey(webhook.Batch{FirstReceived: ws.PendingIncrementalSince.Time})
	}
	return false, time.Time{}, ""
}

// webhookKey names the Job of a batch: the same batch always gets the same
// name, and batches received at other times get other names.
func webhookKey(b webhook.Batch) string {
	return "w" + shortHash(b.FirstReceived.UTC().Format(time.RFC3339Nano)+"\n"+strings.Join(b.Targets, "\n"))
}

// ackIncremental records that an Incremental sync took the queued events
// and the one the status owed.
func (r *DataSourceReconciler) ackIncremental(sc *scope) {
	r.ackWebhook(sc)
	if ws := sc.obj.Status.Webhook; ws != nil {
		ws.PendingIncrementalSince = nil
	}
}

// targetedJobName is <name>-targeted-<hash of the batch>: retrying the
// creation of a batch's Job finds the one already created.
func targetedJobName(name string, b webhook.Batch) string {
	return withSuffix(name, "targeted-"+webhookKey(b)[1:], maxLabelLength)
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

// Webhook batches run as Targeted Jobs of their own type (JobTypeTargeted),
// like change polls: beside a running full or incremental sync (an edit
// must not wait for the hour a large crawl takes; a targeted sync deletes
// only what Confluence confirms gone, and a full crawl keeps every document
// written after it started, crawl.writtenSince), not counted by
// --max-concurrent-syncs, never status.activeJob, never status.lastSync
// (Ready, Syncing and indexedSpec describe the syncs of the spec). One runs
// at a time per data source: what arrives meanwhile stays queued in the
// receiver, merging into one batch, and starts when it ends. A batch a
// Targeted run cannot take (syncBoundBatch) becomes one Incremental sync
// through scheduleSync instead.

// observeTargeted ends status.changes.activeTargetedJob once its Job
// finished or vanished: the crawler's report in status.changes.lastTargeted
// decides when it names the Job, else the Job (a successful Job without a
// report is not trusted). It records status.changes.lastTargetedOutcome,
// counts the run, observes webhook_to_indexed_seconds on success, and warns
// on failure. It adopts a running Targeted Job the status does not know (a
// status write lost after the create) and prunes finished Targeted Jobs. It
// sets no condition.
func (r *DataSourceReconciler) observeTargeted(ctx context.Context, sc *scope) (time.Duration, error) {
	ch := sc.obj.Status.Changes
	if ch != nil && ch.ActiveTargetedJob != nil {
		if err := r.checkTargetedJob(ctx, sc); err != nil {
			return 0, err
		}
	}
	if ch := sc.obj.Status.Changes; ch == nil || ch.ActiveTargetedJob == nil {
		for _, j := range sc.targetedJobs {
			if done, _ := jobFinished(j); !done {
				changesStatus(sc).ActiveTargetedJob = &v1alpha1.JobReference{Name: j.Name}
				break
			}
		}
	}
	var finished []*batchv1.Job
	active := ""
	if ch := sc.obj.Status.Changes; ch != nil && ch.ActiveTargetedJob != nil {
		active = ch.ActiveTargetedJob.Name
	}
	for _, j := range sc.targetedJobs {
		if done, _ := jobFinished(j); done && j.Name != active {
			finished = append(finished, j)
		}
	}
	// Targeted Jobs run for every batch of edits: keep the last of each outcome.
	for _, j := range jobsToPrune(finished, 1, 1) {
		err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &j.UID})
		if client.IgnoreNotFound(err) != nil {
			return 0, fmt.Errorf("pruning Job %s: %w", j.Name, err)
		}
	}
	return 0, nil
}

// checkTargetedJob handles status.changes.activeTargetedJob once its Job
// finished or vanished.
func (r *DataSourceReconciler) checkTargetedJob(ctx context.Context, sc *scope) error {
	ch := sc.obj.Status.Changes
	name := ch.ActiveTargetedJob.Name
	job, err := r.findJob(ctx, sc, sc.targetedJobs, name)
	if err != nil {
		return err
	}
	if job != nil {
		if done, _ := jobFinished(job); !done {
			return nil
		}
	}
	// The crawler's report is decided on a live read (the cache may lag
	// behind it and behind this controller's own last write); only the
	// controller's fields are written back.
	fresh := &v1alpha1.ConfluenceDataSource{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(sc.obj), fresh); err != nil {
		return fmt.Errorf("reading the targeted sync report: %w", err)
	}
	fc := fresh.Status.Changes
	if fc == nil || fc.ActiveTargetedJob == nil || fc.ActiveTargetedJob.Name != name {
		// An earlier reconcile handled it; take what it wrote.
		if fc != nil {
			ch.ActiveTargetedJob, ch.LastTargetedOutcome = fc.ActiveTargetedJob, fc.LastTargetedOutcome
		} else {
			ch.ActiveTargetedJob = nil
		}
		return nil
	}
	report := fc.LastTargeted
	out := outcomeOf(name, job, report)
	ch.LastTargetedOutcome = &v1alpha1.JobOutcome{
		Job: name, Result: out.result(), Reason: out.Reason, Message: out.Message,
		Targets: int32(jobTargets(job)), FinishTime: &metav1.Time{Time: sc.now.Truncate(time.Second)},
	}
	if out.Succeeded {
		ch.LastTargetedOutcome.Message = fmt.Sprintf("targeted sync job %s synced %d targets", name, jobTargets(job))
		recordWebhookLatency(sc.obj, job, report)
	} else {
		r.event(sc.obj, corev1.EventTypeWarning, "TargetedSyncFailed", "Sync",
			out.Message+"; the next change poll or full sync syncs its targets")
	}
	recordTargetedFinished(sc.obj, out)
	sc.log.Info("targeted sync finished", "job", name, "succeeded", out.Succeeded, "duration", out.Duration.String())
	ch.ActiveTargetedJob = nil
	return nil
}

// jobTargets counts the --target arguments of a Job (0 for nil).
func jobTargets(job *batchv1.Job) int {
	if job == nil || len(job.Spec.Template.Spec.Containers) == 0 {
		return 0
	}
	n := 0
	for _, a := range job.Spec.Template.Spec.Containers[0].Args {
		if a == "--target" {
			n++
		}
	}
	return n
}

// changesStatus returns status.changes, creating it.
func changesStatus(sc *scope) *v1alpha1.ChangesStatus {
	if sc.obj.Status.Changes == nil {
		sc.obj.Status.Changes = &v1alpha1.ChangesStatus{}
	}
	return sc.obj.Status.Changes
}

// scheduleTargeted starts a Targeted Job for the queued webhook batch once
// its window passed, when no Targeted Job runs (the batch waits and merges
// with what comes next), scheduling is not suspended and a first sync
// succeeded (before that, the targets wait: a targeted sync would index a
// few documents of an otherwise empty source). It sets
// status.changes.activeTargetedJob and status.webhook.pendingTargets; a Job
// the API server refuses is a FailedCreate genericError and the batch stays
// queued.
func (r *DataSourceReconciler) scheduleTargeted(ctx context.Context, sc *scope) (time.Duration, error) {
	obj, b := sc.obj, sc.webhookBatch
	if r.Webhooks == nil || b.Empty() || syncBoundBatch(b) || obj.Spec.Sync.Suspend || obj.Status.LastSuccessfulSyncTime == nil {
		return 0, nil
	}
	if ch := obj.Status.Changes; ch != nil && ch.ActiveTargetedJob != nil {
		return 0, nil // its end brings the data source back (Job watch)
	}
	if sc.now.Before(b.Due) {
		return requeueAt(sc.now, b.Due), nil
	}
	job := newRunJob(obj, r.crawlerImage(obj), crawlerRun{
		name: targetedJobName(obj.Name, b), jobType: JobTypeTargeted, mode: v1alpha1.SyncTargeted, targets: b.Targets,
		annotations: map[string]string{WebhookReceivedAnnotation: webhookReceivedValue(b.FirstReceived)},
	})
	if err := controllerutil.SetControllerReference(obj, job, r.Scheme); err != nil {
		return 0, err
	}
	err := r.Create(ctx, job)
	if apierrors.IsAlreadyExists(err) {
		// A retried create of this very batch: that Job serves it.
		existing, ferr := r.findJob(ctx, sc, sc.targetedJobs, job.Name)
		switch {
		case ferr != nil:
			return 0, ferr
		case existing == nil:
			err = fmt.Errorf("job %s exists and is not controlled by this data source", job.Name)
		default:
			err = nil
		}
	}
	if err != nil {
		return 0, &genericError{reason: v1alpha1.ReasonFailedCreate, err: fmt.Errorf("creating targeted sync Job %s: %w", job.Name, err)}
	}
	changesStatus(sc).ActiveTargetedJob = &v1alpha1.JobReference{Name: job.Name}
	r.ackWebhook(sc)
	sc.log.Info("targeted sync started", "job", job.Name, "targets", len(b.Targets))
	return 0, nil
}

// recordWebhookLatency observes, for a successful Job started by webhook
// events, the time from receiving the oldest event to the crawler's
// completion in its report (the document is searchable once the crawler's
// writes are refreshed, which the crawler waits for before it reports), or
// the Job's completion (second resolution) without a report naming it.
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
