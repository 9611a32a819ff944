package controllers

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// Labels and annotations on the objects the controller creates.
const (
	// JobTypeLabel tells sync Jobs from cleanup, poll and targeted Jobs.
	JobTypeLabel = "sources.confluence-operator.dev/job-type"
	// JobTypeSync and JobTypeCleanup are the values of JobTypeLabel.
	JobTypeSync    = "sync"
	JobTypeCleanup = "cleanup"
	// TriggerAnnotation records why a sync Job started (FirstSync, Schedule,
	// Request, SecretChanged, SpecChanged).
	TriggerAnnotation = "sources.confluence-operator.dev/trigger"
	// GenerationAnnotation records the data source's metadata.generation the
	// sync Job was created for. The crawler reads the spec when it starts and
	// reports the generation it read in status.lastSync.generation.
	GenerationAnnotation = "sources.confluence-operator.dev/generation"
	// SecretVersionsAnnotation records the resourceVersions, by name, of the
	// referenced Secrets when the sync Job was created, as JSON; never data.
	SecretVersionsAnnotation = "sources.confluence-operator.dev/secret-versions"
	// WebhookReceivedAnnotation records, on a Job started for webhook
	// events (Targeted, or an Incremental sync), when the oldest of them was received (RFC 3339 with
	// nanoseconds), for the receipt-to-indexed latency metric.
	WebhookReceivedAnnotation = "sources.confluence-operator.dev/webhook-received"
	// ManagedBy is the app.kubernetes.io/managed-by value of created objects.
	ManagedBy = "confluence-operator"

	managedByLabel = "app.kubernetes.io/managed-by"
)

// Defaults for Job fields the CRD defaults too (objects created before a
// default existed, or a CRD installed without defaults, still work).
const (
	defaultActiveDeadlineSeconds int64 = 21600
	defaultBackoffLimit          int32 = 2
	defaultSuccessfulHistory     int32 = 3
	defaultFailedHistory         int32 = 1
)

// Pod identity of the crawler: the distroless nonroot user.
const (
	crawlerUID         int64 = 65532
	crawlerContainer         = "crawler"
	serviceAccountPath       = "/var/run/secrets/kubernetes.io/serviceaccount"
	tokenExpirySeconds int64 = 3600
)

// childLabels are the labels of every object owned by a data source.
func childLabels(obj *v1alpha1.ConfluenceDataSource, component string) map[string]string {
	return map[string]string{
		v1alpha1.DataSourceLabel:      labelValue(obj.Name),
		"app.kubernetes.io/name":      "confluence-operator",
		"app.kubernetes.io/instance":  labelValue(obj.Name),
		"app.kubernetes.io/component": component,
		managedByLabel:                ManagedBy,
	}
}

// syncArgs are the crawler arguments of a sync, poll or targeted Job. targets ("<kind>:<id>",
// at most v1alpha1.MaxTargets) are for mode Targeted only.
func syncArgs(obj *v1alpha1.ConfluenceDataSource, job string, mode v1alpha1.SyncMode, targets ...string) []string {
	args := []string{"crawl", "--in-cluster", "--namespace", obj.Namespace, "--name", obj.Name, "--job", job, "--mode", string(mode)}
	for _, t := range targets {
		args = append(args, "--target", t)
	}
	return args
}

// cleanupArgs are the crawler arguments of a cleanup Job.
func cleanupArgs(obj *v1alpha1.ConfluenceDataSource) []string {
	return []string{"crawl", "--in-cluster", "--namespace", obj.Namespace, "--name", obj.Name, "--cleanup"}
}

// effectiveMode is the mode of a sync: the requested-sync-mode annotation for
// a requested sync, else spec.sync.mode.
func effectiveMode(obj *v1alpha1.ConfluenceDataSource, requested bool) v1alpha1.SyncMode {
	if requested {
		switch m := v1alpha1.SyncMode(obj.Annotations[v1alpha1.RequestedSyncModeAnnotation]); m {
		case v1alpha1.SyncForcedFullCrawl, v1alpha1.SyncFullCrawl, v1alpha1.SyncIncremental:
			return m
		}
	}
	if obj.Spec.Sync.Mode == "" {
		return v1alpha1.SyncFullCrawl
	}
	return obj.Spec.Sync.Mode
}

// crawlerRun is what one crawler run of a data source does: its Job's
// name and type (JobTypeSync, JobTypePoll, JobTypeTargeted), the sync mode,
// the targets (mode Targeted only, at most v1alpha1.MaxTargets) and the
// annotations recording why it runs.
type crawlerRun struct {
	name, jobType string
	mode          v1alpha1.SyncMode
	targets       []string
	annotations   map[string]string
}

// newRunJob is the one route that builds the Job of a crawler run (sync,
// change poll, targeted): the crawler pod of crawlerJob with the run's
// arguments, the generation it was created for, and its retries. A failed
// change poll is not retried (the next poll, an interval later, replaces
// it, and retrying would only delay that one); a sync or a targeted sync
// gets spec.crawler.backoffLimit retries (nothing replaces a failed
// targeted sync until the next poll or full sync). The caller sets the
// owner reference.
func newRunJob(obj *v1alpha1.ConfluenceDataSource, image string, run crawlerRun) *batchv1.Job {
	job := crawlerJob(obj, run.name, run.jobType, image, syncArgs(obj, run.name, run.mode, run.targets...))
	job.Annotations = map[string]string{GenerationAnnotation: strconv.FormatInt(obj.Generation, 10)}
	for k, v := range run.annotations {
		job.Annotations[k] = v
	}
	if run.jobType == JobTypePoll {
		job.Spec.BackoffLimit = ptr.To[int32](0)
	}
	return job
}

// newSyncJob builds the sync Job of a decision, recording the versions of the
// Secrets it starts with. The caller sets the owner reference.
func newSyncJob(obj *v1alpha1.ConfluenceDataSource, image string, d scheduleDecision, mode v1alpha1.SyncMode, secretVersions map[string]string) *batchv1.Job {
	name := syncJobName(obj.Name, d.Slot)
	if d.Key != "" {
		name = keyedSyncJobName(obj.Name, d.Key)
	}
	return newRunJob(obj, image, crawlerRun{name: name, jobType: JobTypeSync, mode: mode, annotations: map[string]string{
		TriggerAnnotation:        string(d.Trigger),
		SecretVersionsAnnotation: encodeSecretVersions(secretVersions),
	}})
}

// newCleanupJob builds the cleanup Job of an attempt. The caller sets the owner reference.
func newCleanupJob(obj *v1alpha1.ConfluenceDataSource, image string, attempt int32) *batchv1.Job {
	return crawlerJob(obj, cleanupJobName(obj.Name, attempt), JobTypeCleanup, image, cleanupArgs(obj))
}

// crawlerJob is the Job both sync and cleanup run: the crawler image as the
// data source's ServiceAccount, hardened, with only a projected API token.
func crawlerJob(obj *v1alpha1.ConfluenceDataSource, name, jobType, image string, args []string) *batchv1.Job {
	labels := childLabels(obj, "crawler")
	labels[JobTypeLabel] = jobType
	deadline := obj.Spec.Crawler.ActiveDeadlineSeconds
	if deadline == nil {
		deadline = ptr.To(defaultActiveDeadlineSeconds)
	}
	backoff := obj.Spec.Crawler.BackoffLimit
	if backoff == nil {
		backoff = ptr.To(defaultBackoffLimit)
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: obj.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			ActiveDeadlineSeconds: ptr.To(*deadline),
			BackoffLimit:          ptr.To(*backoff),
			PodFailurePolicy:      crawlerPodFailurePolicy(),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       crawlerPodSpec(obj, image, args),
			},
		},
	}
}

// exitBadInput is the crawler's exit code for input no retry can fix
// (unreadable resource, invalid regex, missing Secret key). Exit code 2 is
// left to Go runtime panics, which count toward the backoff limit like any
// other crash.
const exitBadInput int32 = 64

// crawlerPodFailurePolicy decides per failed pod, first matching rule wins: a
// pod stopped by a disruption (eviction, preemption, node drain, taint) is
// retried without counting toward the backoff limit, even when the crawler
// then exits with a code of its own; bad input fails the Job at once;
// everything else (crash, panic, interrupted sync) counts toward backoffLimit.
func crawlerPodFailurePolicy() *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{
			Action: batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
			},
		},
		{
			Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To(crawlerContainer),
				Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
				Values:        []int32{exitBadInput},
			},
		},
	}}
}

// crawlerPodSpec runs as non-root with a read-only root filesystem and no
// automounted token; the projected volume gives the crawler exactly what
// in-cluster config reads: a short-lived token, the cluster CA and the namespace.
func crawlerPodSpec(obj *v1alpha1.ConfluenceDataSource, image string, args []string) corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		ServiceAccountName:           crawlerName(obj.Name),
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To(crawlerUID),
			RunAsGroup:     ptr.To(crawlerUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:                     crawlerContainer,
			Image:                    image,
			Args:                     args,
			Resources:                crawlerResources(obj.Spec.Crawler.Resources),
			Env:                      []corev1.EnvVar{memoryLimitEnv()},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             ptr.To(true),
				RunAsUser:                ptr.To(crawlerUID),
				ReadOnlyRootFilesystem:   ptr.To(true),
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "kube-api-access", MountPath: serviceAccountPath, ReadOnly: true},
				{Name: "tmp", MountPath: "/tmp"},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](0o444),
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(tokenExpirySeconds)}},
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
						Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
					}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
						Path:     "namespace",
						FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
					}}}},
				},
			}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
}

// jobCondition returns the Job's condition of type t when it is True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// jobFinished reports whether the Job reached a terminal state and whether it succeeded.
func jobFinished(job *batchv1.Job) (finished, succeeded bool) {
	if jobCondition(job, batchv1.JobComplete) != nil {
		return true, true
	}
	return jobCondition(job, batchv1.JobFailed) != nil, false
}

// jobFinishTime is when the Job ended, or the zero time.
func jobFinishTime(job *batchv1.Job) time.Time {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time
	}
	if c := jobCondition(job, batchv1.JobFailed); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// jobFailureMessage describes why a Job failed, from its Failed condition.
func jobFailureMessage(job *batchv1.Job) string {
	c := jobCondition(job, batchv1.JobFailed)
	if c == nil {
		return fmt.Sprintf("job %s failed", job.Name)
	}
	msg := fmt.Sprintf("job %s failed: %s", job.Name, c.Reason)
	if c.Message != "" {
		msg += ": " + strings.TrimSuffix(c.Message, ".")
	}
	return msg
}

// syncOutcome is the result of a finished sync Job.
type syncOutcome struct {
	Succeeded bool
	// Reason and Message of the SyncFailed condition when it failed.
	Reason, Message string
	// Duration of the run, zero when unknown.
	Duration time.Duration
	// Generation of the spec the crawler reports it crawled; zero without a
	// report or when the run ended before reading the spec.
	Generation int64
}

// result is the outcome as a SyncResult (status fields, metric labels).
func (o syncOutcome) result() v1alpha1.SyncResult {
	if o.Succeeded {
		return v1alpha1.SyncSucceeded
	}
	return v1alpha1.SyncFailed
}

// outcomeOf decides how a finished sync Job ended. The crawler's report wins
// when it names the Job; a failed Job without one failed before or outside the
// crawler (pod never started, deadline exceeded, crash); a Job that succeeded
// without a report cannot be trusted to have synced anything. job is nil when
// the Job disappeared before it was seen finishing.
func outcomeOf(name string, job *batchv1.Job, report *v1alpha1.SyncReport) syncOutcome {
	if report != nil && report.Job == name {
		out := syncOutcome{Succeeded: report.Result == v1alpha1.SyncSucceeded, Generation: report.Generation}
		if report.StartTime != nil && report.CompletionTime != nil {
			out.Duration = report.CompletionTime.Sub(report.StartTime.Time)
		}
		if !out.Succeeded {
			out.Reason = v1alpha1.ReasonSyncFailed
			if report.Reason != "" {
				out.Reason = report.Reason
			}
			out.Message = fmt.Sprintf("sync job %s failed", name)
			if report.Message != "" {
				out.Message = v1alpha1.StatusMessage(out.Message + ": " + report.Message)
			}
		}
		return out
	}
	if job == nil {
		return syncOutcome{Reason: v1alpha1.ReasonJobFailed, Message: fmt.Sprintf("sync job %s disappeared before it finished", name)}
	}
	finished, succeeded := jobFinished(job)
	out := syncOutcome{Reason: v1alpha1.ReasonJobFailed, Message: jobFailureMessage(job)}
	if job.Status.StartTime != nil && finished {
		out.Duration = jobFinishTime(job).Sub(job.Status.StartTime.Time)
	}
	if succeeded {
		out.Reason = v1alpha1.ReasonSyncFailed
		out.Message = fmt.Sprintf("sync job %s completed without a sync report", name)
	}
	return out
}

// blamesSecrets is true for sync failure reasons a Secret edit can fix.
func blamesSecrets(reason string) bool {
	switch reason {
	case v1alpha1.ReasonCredentialsRejected, v1alpha1.ReasonSecretKeyMissing, v1alpha1.ReasonSecretNotFound:
		return true
	}
	return false
}

// jobsToPrune returns the finished Jobs beyond the history limits, oldest
// first. Running Jobs are never pruned.
func jobsToPrune(jobs []*batchv1.Job, successfulLimit, failedLimit int32) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch finished, ok := jobFinished(j); {
		case !finished:
		case ok:
			succeeded = append(succeeded, j)
		default:
			failed = append(failed, j)
		}
	}
	return append(oldestBeyond(succeeded, successfulLimit), oldestBeyond(failed, failedLimit)...)
}

// oldestBeyond sorts jobs by start time and returns all but the newest limit.
func oldestBeyond(jobs []*batchv1.Job, limit int32) []*batchv1.Job {
	if limit < 0 {
		limit = 0
	}
	if len(jobs) <= int(limit) {
		return nil
	}
	sort.Slice(jobs, func(i, k int) bool {
		if a, b := jobStart(jobs[i]), jobStart(jobs[k]); !a.Equal(b) {
			return a.Before(b)
		}
		return jobs[i].Name < jobs[k].Name
	})
	return jobs[:len(jobs)-int(limit)]
}

// jobStart is the Job's start time, or its creation time before it started.
func jobStart(job *batchv1.Job) time.Time {
	if job.Status.StartTime != nil {
		return job.Status.StartTime.Time
	}
	return job.CreationTimestamp.Time
}
