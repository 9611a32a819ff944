package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/internal/webhook"
)

// scope is one reconcile of one data source: the object, the snapshot the
// status patch is computed against, the injected time, and what the steps
// found.
type scope struct {
	obj    *v1alpha1.ConfluenceDataSource
	before *v1alpha1.ConfluenceDataSource
	now    time.Time
	log    logr.Logger

	// schedule is the parsed spec.sync.schedule, nil for on demand only.
	schedule cron.Schedule
	// secretVersions are the referenced Secrets' resourceVersions by name,
	// read live by validate.
	secretVersions map[string]string
	// webhookSecret is the value of spec.webhook.secretKey, read by
	// validate and dropped once observeWebhook registered it.
	webhookSecret []byte
	// webhookBatch is what the receiver queued, as observeWebhook saw it.
	webhookBatch webhook.Batch
	// syncJobs and cleanupJobs are the Jobs this data source controls.
	syncJobs, cleanupJobs []*batchv1.Job
	// pollJobs and targetedJobs run ChangePoll and Targeted syncs; they are
	// never the active sync (see poll.go).
	pollJobs, targetedJobs []*batchv1.Job

	// stall is set when progress needs a human.
	stall *stallError
	// released is true once the finalizer is gone: there is no status to write.
	released bool
}

// stallError is a problem only a human can fix (invalid spec, missing Secret
// or key). It sets Stalled=True and is not retried: a watch event (spec edit,
// Secret change) brings the object back.
type stallError struct {
	reason, message string
}

func (e *stallError) Error() string { return e.message }

// stalled returns a stallError with a formatted message.
func stalled(reason, format string, args ...any) error {
	return &stallError{reason: reason, message: fmt.Sprintf(format, args...)}
}

// waitError means a dependency is not ready yet; the object is looked at
// again after the delay, without error backoff.
type waitError struct {
	after   time.Duration
	message string
}

func (e *waitError) Error() string { return e.message }

// genericError is a transient failure with the reason the conditions and
// the Warning event show (Flux's serror.Generic): controller-runtime retries
// it with backoff.
type genericError struct {
	reason string
	err    error
}

func (e *genericError) Error() string { return e.err.Error() }
func (e *genericError) Unwrap() error { return e.err }

// failure is what a transient error shows on the conditions.
type failure struct {
	reason, message string
}

// failureOf returns what a transient error shows, or nil for no error, a
// stall or wait (they show otherwise), and a write conflict (a stale read,
// retried at once; nothing a human should see).
func failureOf(err error) *failure {
	var stall *stallError
	var wait *waitError
	var generic *genericError
	switch {
	case err == nil, errors.As(err, &stall), errors.As(err, &wait), apierrors.IsConflict(err):
		return nil
	case errors.As(err, &generic):
		return &failure{reason: generic.reason, message: err.Error()}
	}
	return &failure{reason: v1alpha1.ReasonReconcileError, message: err.Error()}
}

// resultFor maps the outcome of the steps to what controller-runtime does
// next. It is the only place that builds a ctrl.Result; an error and a
// requeue are never returned together.
func resultFor(log logr.Logger, requeue time.Duration, err error) (ctrl.Result, error) {
	var stall *stallError
	var wait *waitError
	switch {
	case errors.As(err, &stall):
		log.Info("stalled", "reason", stall.reason, "message", stall.message)
		return ctrl.Result{}, nil
	case errors.As(err, &wait):
		log.V(1).Info("waiting", "message", wait.message, "after", wait.after)
		return ctrl.Result{RequeueAfter: minRequeue(requeue, wait.after)}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// minRequeue returns the earlier of two delays, where zero means none.
func minRequeue(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// setCondition sets a condition at the object's generation, keeping its
// lastTransitionTime unless the status flips.
func setCondition(sc *scope, condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&sc.obj.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: sc.obj.Generation,
		LastTransitionTime: metav1.NewTime(sc.now.Truncate(time.Second)),
	})
}

// summarize completes the conditions the steps set (Syncing, SyncFailed,
// Ready while deleting) from the outcome err: Stalled and Reconciling are
// present only while True; Ready summarizes a stall, then a transient
// failure, then the last sync's failure (SyncFailed), then whether the index
// reflects the current spec, then first-sync progress. observedGeneration
// moves only when the generation was handled or stalled.
func summarize(sc *scope, err error) {
	st := &sc.obj.Status
	if sc.stall != nil {
		setCondition(sc, v1alpha1.ConditionStalled, metav1.ConditionTrue, sc.stall.reason, sc.stall.message)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	}

	fail := failureOf(err)
	if !sc.obj.DeletionTimestamp.IsZero() {
		summarizeDeletion(sc, fail)
	} else {
		summarizeSync(sc, fail)
	}

	if err == nil || sc.stall != nil {
		st.ObservedGeneration = sc.obj.Generation
	}
}

// reconcilingReasons are the Ready reasons of work under way.
var reconcilingReasons = sets.New(v1alpha1.ReasonAwaitingFirstSync, v1alpha1.ReasonSyncInProgress, v1alpha1.ReasonQueued,
	v1alpha1.ReasonProgressing, v1alpha1.ReasonFailedCreate, v1alpha1.ReasonReconcileError)

// summarizeSync sets Ready and Reconciling of a live data source, and
// Syncing when a stall keeps any sync from starting.
func summarizeSync(sc *scope, fail *failure) {
	st := &sc.obj.Status
	if sc.stall != nil && st.ActiveJob == nil {
		st.NextSyncTime = nil
		setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, sc.stall.reason, "no sync can start: "+sc.stall.message)
	}
	status, reason, msg := readiness(sc, fail)
	setCondition(sc, v1alpha1.ConditionReady, status, reason, msg)
	if reconcilingReasons.Has(reason) {
		setCondition(sc, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
	}
}

// readiness is the Ready condition of a live data source.
func readiness(sc *scope, fail *failure) (metav1.ConditionStatus, string, string) {
	st := &sc.obj.Status
	switch {
	case sc.stall != nil:
		return metav1.ConditionFalse, sc.stall.reason, sc.stall.message
	case fail != nil:
		return metav1.ConditionFalse, fail.reason, fail.message
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSyncFailed); c != nil {
		return metav1.ConditionFalse, c.Reason, c.Message
	}
	syncing := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSyncing)
	if last := st.LastSync; last != nil {
		switch {
		case last.Result != v1alpha1.SyncSucceeded:
			return metav1.ConditionFalse, v1alpha1.ReasonSyncFailed, "last sync failed: " + last.Message
		case indexOutdated(st, sc.obj):
			return outdatedReadiness(sc, syncing)
		}
		return metav1.ConditionTrue, v1alpha1.ReasonSynced, syncedMessage(st)
	}
	switch {
	case sc.obj.Spec.Sync.Suspend:
		return metav1.ConditionFalse, v1alpha1.ReasonSuspended, "suspended before the first sync"
	case st.ActiveJob != nil:
		return metav1.ConditionFalse, v1alpha1.ReasonSyncInProgress, fmt.Sprintf("first sync is running in job %s", st.ActiveJob.Name)
	case syncing != nil && syncing.Reason == v1alpha1.ReasonQueued:
		return metav1.ConditionFalse, v1alpha1.ReasonQueued, "first sync is queued: " + syncing.Message
	}
	return metav1.ConditionFalse, v1alpha1.ReasonAwaitingFirstSync, "waiting for the first sync"
}

// outdatedReadiness is Ready while the index reflects an older spec: Unknown
// (the index still answers, for the old spec) while a sync of the current
// one is pending, queued or running; False while suspended.
func outdatedReadiness(sc *scope, syncing *metav1.Condition) (metav1.ConditionStatus, string, string) {
	msg := fmt.Sprintf("the index reflects generation %d; generation %d changes what is indexed",
		sc.obj.Status.IndexedSpec.Generation, sc.obj.Generation)
	if sc.obj.Spec.Sync.Suspend && sc.obj.Status.ActiveJob == nil {
		return metav1.ConditionFalse, v1alpha1.ReasonIndexOutdated, msg + "; no sync starts while scheduling is suspended"
	}
	if syncing != nil {
		msg += "; " + syncing.Message
	}
	return metav1.ConditionUnknown, v1alpha1.ReasonProgressing, msg
}

// summarizeDeletion keeps the cleanup's Ready (set by the deletion steps)
// unless a stall or a transient failure says more.
func summarizeDeletion(sc *scope, fail *failure) {
	meta.RemoveStatusCondition(&sc.obj.Status.Conditions, v1alpha1.ConditionReconciling)
	switch {
	case sc.stall != nil:
		setCondition(sc, v1alpha1.ConditionReady, metav1.ConditionFalse, sc.stall.reason, sc.stall.message)
	case fail != nil:
		setCondition(sc, v1alpha1.ConditionReady, metav1.ConditionFalse, fail.reason, fail.message)
	}
}

// syncedMessage reads like "synced 1,234 documents in 4m12s".
func syncedMessage(st *v1alpha1.ConfluenceDataSourceStatus) string {
	last := st.LastSync
	if last == nil {
		return "synced"
	}
	count := st.DocumentCount
	if count == 0 {
		count = last.DocumentsIndexed + last.DocumentsUnchanged
	}
	msg := "synced " + groupThousands(count) + " documents"
	if last.StartTime != nil && last.CompletionTime != nil {
		msg += " in " + last.CompletionTime.Sub(last.StartTime.Time).Round(time.Second).String()
	}
	return msg
}

// groupThousands formats 1234567 as "1,234,567".
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + s
}

// neverSynced is true when no sync Job was ever started for the data source.
func neverSynced(st *v1alpha1.ConfluenceDataSourceStatus) bool {
	return st.LastScheduleTime == nil && st.LastSync == nil && st.LastSyncTime == nil && st.ActiveJob == nil &&
		meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSyncFailed) == nil
}

// rebase replaces the object and the status patch base with a fresher live
// read (which already includes any finalizer this reconcile added).
func (sc *scope) rebase(fresh *v1alpha1.ConfluenceDataSource) {
	*sc.obj = *fresh.DeepCopy()
	sc.before = fresh.DeepCopy()
}

// patchStatus writes the controller's status fields with a merge patch
// against the snapshot taken at the start, so only what this reconcile
// changed is sent and the crawler's fields are never clobbered. Nothing is
// written when nothing changed.
func (r *DataSourceReconciler) patchStatus(ctx context.Context, sc *scope) error {
	if equality.Semantic.DeepEqual(sc.before.Status, sc.obj.Status) {
		return nil
	}
	return client.IgnoreNotFound(r.Status().Patch(ctx, sc.obj, client.MergeFrom(sc.before)))
}

// metaTime converts an optional time.
func metaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return ptr.To(metav1.NewTime(*t))
}

// timeOf converts an optional metav1.Time.
func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}
