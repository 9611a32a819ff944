package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// Cleanup retries back off from 10 s, doubling, up to 10 minutes.
const (
	cleanupBackoffBase = 10 * time.Second
	cleanupBackoffMax  = 10 * time.Minute
)

// cleanupBackoff is the wait after the failure of a cleanup attempt (1-based).
func cleanupBackoff(attempt int32) time.Duration {
	d := cleanupBackoffBase
	for i := int32(1); i < attempt && d < cleanupBackoffMax; i++ {
		d *= 2
	}
	return min(d, cleanupBackoffMax)
}

// reconcileDelete holds the finalizer until the data source's documents are
// gone. Retain releases at once (also when switched to during a stuck
// cleanup); Delete stops running syncs, runs a cleanup Job and releases when
// it succeeds. A failed cleanup is retried with a backoff derived from
// status (cleanupAttempts, lastCleanupFailureTime). It owns Ready while the
// object is deleted: CleanupInProgress, or CleanupFailed until the retry.
func (r *DataSourceReconciler) reconcileDelete(ctx context.Context, sc *scope) (time.Duration, error) {
	obj := sc.obj
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer) {
		sc.released = true
		return 0, nil
	}
	if obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyRetain {
		return 0, r.release(ctx, sc, "deletionPolicy is Retain: the indexed documents are kept")
	}
	if err := r.listJobs(ctx, sc); err != nil {
		return 0, err
	}
	if stopping, err := r.stopSyncJobs(ctx, sc); err != nil || stopping {
		return 0, err
	}
	image := r.crawlerImage(obj)
	if image == "" {
		return 0, stalled(v1alpha1.ReasonInvalidSpec, "no crawler image to remove the documents with: set spec.crawler.image, or deletionPolicy Retain")
	}
	// The cleanup Job runs with the crawler's Role too: the same gate.
	if err := r.admit(ctx, obj); err != nil {
		return 0, err
	}
	if err := r.ensureCrawlerRBAC(ctx, obj); err != nil {
		return 0, err
	}
	return r.runCleanup(ctx, sc, image)
}

// stopSyncJobs deletes running sync, poll and targeted Jobs (foreground, so
// the Job stays until its pods are gone) and reports whether any is still
// there; the cleanup must not race a crawler still writing documents.
func (r *DataSourceReconciler) stopSyncJobs(ctx context.Context, sc *scope) (bool, error) {
	stopping := false
	for _, j := range slices.Concat(sc.syncJobs, sc.pollJobs, sc.targetedJobs) {
		if finished, _ := jobFinished(j); finished {
			continue
		}
		stopping = true
		setCleanupReady(sc, v1alpha1.ReasonCleanupInProgress, fmt.Sprintf("waiting for sync job %s to stop before removing documents", j.Name))
		if j.DeletionTimestamp != nil {
			continue
		}
		err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationForeground), client.Preconditions{UID: &j.UID})
		if client.IgnoreNotFound(err) != nil {
			return true, fmt.Errorf("stopping sync Job %s: %w", j.Name, err)
		}
	}
	return stopping, nil
}

// runCleanup drives the cleanup Job of the current attempt.
func (r *DataSourceReconciler) runCleanup(ctx context.Context, sc *scope, image string) (time.Duration, error) {
	st := &sc.obj.Status
	attempt := max(st.CleanupAttempts, 1)
	job, err := r.findJob(ctx, sc, sc.cleanupJobs, cleanupJobName(sc.obj.Name, attempt))
	if err != nil {
		return 0, err
	}
	if job == nil {
		return 0, r.startCleanup(ctx, sc, image, attempt)
	}
	finished, succeeded := jobFinished(job)
	switch {
	case !finished:
		setCleanupReady(sc, v1alpha1.ReasonCleanupInProgress, fmt.Sprintf("removing documents: cleanup job %s is running (attempt %d)", job.Name, attempt))
		return 0, nil
	case succeeded:
		return 0, r.release(ctx, sc, fmt.Sprintf("removed the indexed documents (cleanup job %s)", job.Name))
	}

	failure := "cleanup " + jobFailureMessage(job)
	if st.LastCleanupFailureTime == nil {
		st.LastCleanupFailureTime = ptr.To(metav1.NewTime(sc.now.Truncate(time.Second)))
		r.event(sc.obj, corev1.EventTypeWarning, v1alpha1.ReasonCleanupFailed, "Cleanup", failure)
	}
	retryAt := st.LastCleanupFailureTime.Add(cleanupBackoff(attempt))
	if sc.now.Before(retryAt) {
		setCleanupReady(sc, v1alpha1.ReasonCleanupFailed, fmt.Sprintf("%s; attempt %d starts at %s", failure, attempt+1, retryAt.UTC().Format(time.RFC3339)))
		return 0, &waitError{after: requeueAt(sc.now, retryAt), message: "cleanup retry backoff"}
	}
	err = r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &job.UID})
	if client.IgnoreNotFound(err) != nil {
		return 0, fmt.Errorf("deleting failed cleanup Job %s: %w", job.Name, err)
	}
	return 0, r.startCleanup(ctx, sc, image, attempt+1)
}

// startCleanup creates the cleanup Job of an attempt, adopting it when it
// exists. In a terminating namespace nothing can be created any more: the
// finalizer is released and the documents stay, rather than blocking the
// namespace forever.
func (r *DataSourceReconciler) startCleanup(ctx context.Context, sc *scope, image string, attempt int32) error {
	st := &sc.obj.Status
	job := newCleanupJob(sc.obj, image, attempt)
	if err := controllerutil.SetControllerReference(sc.obj, job, r.Scheme); err != nil {
		return err
	}
	err := r.Create(ctx, job)
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		r.event(sc.obj, corev1.EventTypeWarning, v1alpha1.ReasonCleanupFailed, "Cleanup",
			"the namespace is terminating, no cleanup Job can run: the indexed documents are kept")
		return r.release(ctx, sc, "namespace terminating")
	case apierrors.IsAlreadyExists(err):
		var existing *batchv1.Job
		if existing, err = r.findJob(ctx, sc, nil, job.Name); err == nil && existing == nil {
			err = fmt.Errorf("job %s exists and is not controlled by this data source", job.Name)
		}
	}
	if err != nil {
		return &genericError{reason: v1alpha1.ReasonFailedCreate, err: fmt.Errorf("creating cleanup Job %s: %w", job.Name, err)}
	}
	st.CleanupAttempts = attempt
	st.LastCleanupFailureTime = nil
	setCleanupReady(sc, v1alpha1.ReasonCleanupInProgress, fmt.Sprintf("removing documents: cleanup job %s started (attempt %d)", job.Name, attempt))
	r.event(sc.obj, corev1.EventTypeNormal, "CleanupStarted", "Cleanup", st.CleanupMessage)
	return nil
}

// setCleanupReady shows the cleanup on status.cleanupMessage and Ready.
func setCleanupReady(sc *scope, reason, message string) {
	sc.obj.Status.CleanupMessage = message
	setCondition(sc, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
}

// release removes the finalizer; the object is then deleted and has no status to write.
func (r *DataSourceReconciler) release(ctx context.Context, sc *scope, why string) error {
	err := r.patchFinalizers(ctx, sc, func(o client.Object) { controllerutil.RemoveFinalizer(o, v1alpha1.Finalizer) })
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	sc.released = true
	forgetMetrics(sc.obj.Namespace, sc.obj.Name)
	sc.log.Info("finalizer released", "why", why)
	return nil
}
