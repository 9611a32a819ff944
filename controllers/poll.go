package controllers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// Change polls (spec.sync.changePollInterval) run in Jobs of their own type,
// beside the sync Jobs: they never become status.activeJob, never write
// status.lastSync and so never move Ready, indexedSpec or Syncing, which
// describe the syncs of the spec. One poll runs at a time. A poll may run
// while a full or incremental sync runs: a full crawl of a large site takes
// hours, and freshness must not stop for that long; it is safe because a
// poll deletes only what Confluence confirms gone and a full crawl keeps
// every document written after it started (crawl.writtenSince).
//
// Poll Jobs are not counted by the sync limiter (--max-concurrent-syncs):
// an idle poll costs two Confluence calls, and queueing it behind hour-long
// crawls would defeat it.

// Job types of the runs that sync only what changed: change polls, and
// targeted syncs of the targets webhook events name (see webhook.go).
const (
	JobTypePoll     = "poll"
	JobTypeTargeted = "targeted"
)

// pollJobName is <name>-poll-<unix seconds>: polls may run more often than
// once a minute's name would allow.
func pollJobName(name string, at time.Time) string {
	return withSuffix(name, "poll-"+strconv.FormatInt(at.Unix(), 10), maxLabelLength)
}

// schedulePoll observes the running poll Job and starts the next one when
// spec.sync.changePollInterval is set and the last one started at least one
// interval ago; not while suspended, and not before a first sync succeeded
// (a poll then would have to re-check everything itself).
func (r *DataSourceReconciler) schedulePoll(ctx context.Context, sc *scope) (time.Duration, error) {
	obj := sc.obj
	if err := r.observePoll(ctx, sc); err != nil {
		return 0, err
	}
	ch := obj.Status.Changes
	if ch != nil && ch.Watermark != nil {
		recordFreshness(obj, sc.now)
	}
	interval := obj.Spec.Sync.ChangePollInterval
	if interval == nil || interval.Duration <= 0 || obj.Spec.Sync.Suspend || obj.Status.LastSuccessfulSyncTime == nil {
		return 0, nil
	}
	every := max(interval.Duration, v1alpha1.MinChangePollInterval)
	if ch != nil && ch.ActivePollJob != nil {
		// Its end is seen through the Job watch; look again in case.
		return every, nil
	}
	if ch != nil && ch.LastPollStartTime != nil {
		if next := ch.LastPollStartTime.Add(every); sc.now.Before(next) {
			return next.Sub(sc.now), nil
		}
	}
	name := pollJobName(obj.Name, sc.now)
	job := newRunJob(obj, r.crawlerImage(obj), crawlerRun{name: name, jobType: JobTypePoll, mode: v1alpha1.SyncChangePoll})
	if err := controllerutil.SetControllerReference(obj, job, r.Scheme); err != nil {
		return 0, err
	}
	if err := r.Create(ctx, job); err != nil {
		return 0, &genericError{reason: v1alpha1.ReasonFailedCreate, err: fmt.Errorf("creating change poll Job %s: %w", job.Name, err)}
	}
	if obj.Status.Changes == nil {
		obj.Status.Changes = &v1alpha1.ChangesStatus{}
	}
	obj.Status.Changes.ActivePollJob = &v1alpha1.JobReference{Name: job.Name}
	obj.Status.Changes.LastPollStartTime = &metav1.Time{Time: sc.now}
	sc.log.V(1).Info("change poll started", "job", job.Name)
	return every, nil
}

// observePoll ends status.changes.activePollJob once its Job finished or
// vanished, counts the poll, and prunes finished poll Jobs.
func (r *DataSourceReconciler) observePoll(ctx context.Context, sc *scope) error {
	obj := sc.obj
	ch := obj.Status.Changes
	if ch != nil && ch.ActivePollJob != nil {
		name := ch.ActivePollJob.Name
		job, err := r.findJob(ctx, sc, sc.pollJobs, name)
		if err != nil {
			return err
		}
		done := job == nil
		if job != nil {
			done, _ = jobFinished(job)
		}
		if done {
			// The crawler's report is decided on a live read (the cache may
			// lag); only the controller's own fields are written back.
			fresh := &v1alpha1.ConfluenceDataSource{}
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
				return fmt.Errorf("reading the poll report: %w", err)
			}
			var report *v1alpha1.SyncReport
			var changes int64
			if fc := fresh.Status.Changes; fc != nil {
				report, changes = fc.LastPoll, fc.LastPollChanges
				if fc.Watermark != nil {
					recordFreshness(fresh, sc.now)
				}
			}
			out := outcomeOf(name, job, report)
			recordPollFinished(obj, out, changes)
			if !out.Succeeded {
				r.event(obj, corev1.EventTypeWarning, "ChangePollFailed", "Poll", out.Message)
			}
			sc.log.V(1).Info("change poll finished", "job", name, "succeeded", out.Succeeded, "changes", changes)
			ch.ActivePollJob = nil
		}
	}
	var finished []*batchv1.Job
	for _, j := range sc.pollJobs {
		if done, _ := jobFinished(j); done && (ch == nil || ch.ActivePollJob == nil || ch.ActivePollJob.Name != j.Name) {
			finished = append(finished, j)
		}
	}
	// Polls run every minute or so: keep the last one of each outcome.
	for _, j := range jobsToPrune(finished, 1, 1) {
		err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &j.UID})
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("pruning Job %s: %w", j.Name, err)
		}
	}
	return nil
}

// Change poll metrics.
var (
	pollsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confluence_operator_change_polls_total",
		Help: "Finished change polls by data source and result (Succeeded or Failed).",
	}, []string{"namespace", "name", "result"})
	pollChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confluence_operator_change_poll_changes_total",
		Help: "Changed items the change polls' searches found.",
	}, []string{"namespace", "name"})
	targetedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confluence_operator_targeted_syncs_total",
		Help: "Finished Targeted syncs (webhook batches) by data source and result (Succeeded or Failed).",
	}, []string{"namespace", "name", "result"})
	freshnessLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "confluence_operator_freshness_lag_seconds",
		Help: "Age of status.changes.watermark when the controller last looked: every Confluence edit older than this is searchable.",
	}, []string{"namespace", "name"})
)

func init() {
	metrics.Registry.MustRegister(pollsTotal, pollChanges, targetedTotal, freshnessLag)
}

// recordPollFinished counts a finished change poll.
func recordPollFinished(obj *v1alpha1.ConfluenceDataSource, out syncOutcome, changes int64) {
	pollsTotal.WithLabelValues(obj.Namespace, obj.Name, string(out.result())).Inc()
	if out.Succeeded && changes > 0 {
		pollChanges.WithLabelValues(obj.Namespace, obj.Name).Add(float64(changes))
	}
}

// recordTargetedFinished counts a finished Targeted sync.
func recordTargetedFinished(obj *v1alpha1.ConfluenceDataSource, out syncOutcome) {
	targetedTotal.WithLabelValues(obj.Namespace, obj.Name, string(out.result())).Inc()
}

// recordFreshness sets the freshness lag from the watermark.
func recordFreshness(obj *v1alpha1.ConfluenceDataSource, now time.Time) {
	freshnessLag.WithLabelValues(obj.Namespace, obj.Name).Set(max(now.Sub(obj.Status.Changes.Watermark.Time), 0).Seconds())
}

// forgetPollMetrics drops the poll series of a deleted data source.
func forgetPollMetrics(labels prometheus.Labels) {
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{pollsTotal, pollChanges, targetedTotal, freshnessLag} {
		v.DeletePartialMatch(labels)
	}
}
