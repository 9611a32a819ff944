package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/internal/webhook"
)

// secretIndex indexes data sources by the names of the Secrets they reference.
const secretIndex = ".spec.secretRefs"

// DataSourceReconciler keeps each ConfluenceDataSource's sync running: it
// validates the spec and its Secrets, grants the crawler exactly its
// permissions, starts sync Jobs on schedule, on creation and on request (one
// at a time), change polls and Targeted Jobs for webhook batches beside them
// (one of each at a time), reports status, and cleans up the index on
// deletion.
type DataSourceReconciler struct {
	client.Client
	// APIReader reads around the cache: Secrets (only their metadata is
	// cached) and fresh state before acting on a finished Job.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Clock is injected so tests drive time.
	Clock clock.PassiveClock
	// CrawlerImage runs the crawler unless spec.crawler.image overrides it.
	CrawlerImage string
	// AllowedCrawlerImages are the other images spec.crawler.image may name
	// (see imageAllowed); empty allows only CrawlerImage.
	AllowedCrawlerImages []string
	// Limiter caps running syncs across data sources; nil means no cap.
	Limiter *SyncLimiter
	// Webhooks receives Data Center webhooks; nil when the manager serves none.
	Webhooks *webhook.Receiver
	// WebhookBaseURL is the receiver's external address, for status.webhook.url.
	WebhookBaseURL string
	// webhookEvents brings a data source back when its webhook batch is due.
	webhookEvents chan event.TypedGenericEvent[client.Object]
	// MaxConcurrentReconciles defaults to 4.
	MaxConcurrentReconciles int
}

// The manager's RBAC is config/rbac/role.yaml, hand-written so that each
// rule says why; controllers/rbac_test.go holds it to what this code does.

// SetupWithManager registers the controller: the data sources themselves
// (spec, annotation and deletion changes only, never its own status writes),
// their Jobs, ServiceAccounts, Roles and RoleBindings, and the metadata of the
// Secrets they reference, mapped back through a field index.
func (r *DataSourceReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.ConfluenceDataSource{}, secretIndex,
		func(o client.Object) []string { return referencedSecretNames(o.(*v1alpha1.ConfluenceDataSource)) }); err != nil {
		return err
	}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.webhookEvents != nil {
		b = b.WatchesRawSource(source.Channel(r.webhookEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.
		Named("confluencedatasource").
		For(&v1alpha1.ConfluenceDataSource{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			deletionRequested(),
		))).
		Owns(&batchv1.Job{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.requestsForSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RecoverPanic: ptr.To(true)}).
		Complete(r)
}

// deletionRequested passes the update that sets deletionTimestamp.
func deletionRequested() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
		},
	}
}

// requestsForSecret maps a Secret to the data sources referencing it.
func (r *DataSourceReconciler) requestsForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list v1alpha1.ConfluenceDataSourceList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{secretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing data sources for Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return reqs
}

// step is one concern of a reconcile. It returns when to look again (zero:
// only on the next event) or an error: a stallError, a waitError, or a
// transient error.
type step func(ctx context.Context, sc *scope) (time.Duration, error)

// Reconcile gets the data source, runs the deletion branch or the ordered
// steps, summarizes the conditions and writes status once.
func (r *DataSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.ConfluenceDataSource{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
			if r.Webhooks != nil {
				r.Webhooks.Unregister(req.NamespacedName)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sc := &scope{obj: obj, before: obj.DeepCopy(), now: r.Clock.Now(), log: ctrl.LoggerFrom(ctx)}

	var requeue time.Duration
	var err error
	if obj.DeletionTimestamp.IsZero() {
		requeue, err = r.runSteps(ctx, sc, []step{
			r.ensureFinalizer,
			r.observeJobs,
			r.observeTargeted,
			r.observeSpec,
			r.validate,
			r.observeWebhook,
			r.ensureRBAC,
			r.scheduleTargeted,
			r.scheduleSync,
			r.schedulePoll,
		})
	} else {
		if r.Webhooks != nil {
			r.Webhooks.Unregister(req.NamespacedName)
		}
		sc.obj.Status.Webhook = nil
		requeue, err = r.reconcileDelete(ctx, sc)
		errors.As(err, &sc.stall)
	}
	if sc.released {
		return resultFor(sc.log, 0, err)
	}
	if sc.stall != nil {
		r.stopWebhook(sc)
	}

	summarize(sc, err)
	r.warnOnChange(sc, err)
	recordStatusGauges(obj)
	if perr := r.patchStatus(ctx, sc); perr != nil {
		return ctrl.Result{}, errors.Join(perr, ignoreTyped(err))
	}
	return resultFor(sc.log, requeue, err)
}

// ignoreTyped drops stall and wait errors, keeping transient ones.
func ignoreTyped(err error) error {
	var stall *stallError
	var wait *waitError
	if errors.As(err, &stall) || errors.As(err, &wait) {
		return nil
	}
	return err
}

// runSteps runs steps in order until one fails; the earliest requeue wins.
func (r *DataSourceReconciler) runSteps(ctx context.Context, sc *scope, steps []step) (time.Duration, error) {
	var requeue time.Duration
	for _, s := range steps {
		after, err := s(ctx, sc)
		requeue = minRequeue(requeue, after)
		if err != nil {
			errors.As(err, &sc.stall)
			return requeue, err
		}
	}
	return requeue, nil
}

// ensureFinalizer adds the cleanup finalizer with a merge patch, never an
// Update that would co-own the user's fields.
func (r *DataSourceReconciler) ensureFinalizer(ctx context.Context, sc *scope) (time.Duration, error) {
	if controllerutil.ContainsFinalizer(sc.obj, v1alpha1.Finalizer) {
		return 0, nil
	}
	if err := r.patchFinalizers(ctx, sc, func(o client.Object) { controllerutil.AddFinalizer(o, v1alpha1.Finalizer) }); err != nil {
		return 0, fmt.Errorf("adding finalizer: %w", err)
	}
	return 0, nil
}

// patchFinalizers changes the finalizers on a copy, so the server's answer
// does not leak fresh crawler status into the status patch base.
func (r *DataSourceReconciler) patchFinalizers(ctx context.Context, sc *scope, change func(client.Object)) error {
	cp := sc.obj.DeepCopy()
	patch := client.MergeFromWithOptions(sc.obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	change(cp)
	if err := r.Patch(ctx, cp, patch); err != nil {
		return err
	}
	sc.obj.Finalizers = cp.Finalizers
	sc.before.Finalizers = append([]string(nil), cp.Finalizers...)
	return nil
}

// listJobs reads the Jobs this data source controls from the cache.
func (r *DataSourceReconciler) listJobs(ctx context.Context, sc *scope) error {
	var list batchv1.JobList
	if err := r.List(ctx, &list, client.InNamespace(sc.obj.Namespace),
		client.MatchingLabels{v1alpha1.DataSourceLabel: labelValue(sc.obj.Name)}); err != nil {
		return fmt.Errorf("listing Jobs: %w", err)
	}
	sc.syncJobs, sc.cleanupJobs, sc.pollJobs, sc.targetedJobs = nil, nil, nil, nil
	for i := range list.Items {
		j := &list.Items[i]
		if !metav1.IsControlledBy(j, sc.obj) {
			continue
		}
		switch j.Labels[JobTypeLabel] {
		case JobTypeCleanup:
			sc.cleanupJobs = append(sc.cleanupJobs, j)
		case JobTypePoll:
			sc.pollJobs = append(sc.pollJobs, j)
		case JobTypeTargeted:
			sc.targetedJobs = append(sc.targetedJobs, j)
		default:
			sc.syncJobs = append(sc.syncJobs, j)
		}
	}
	return nil
}

// findJob looks a controlled Job up in jobs, then live (the cache may not
// have a Job created a moment ago). It returns nil when there is none.
func (r *DataSourceReconciler) findJob(ctx context.Context, sc *scope, jobs []*batchv1.Job, name string) (*batchv1.Job, error) {
	for _, j := range jobs {
		if j.Name == name {
			return j, nil
		}
	}
	live := &batchv1.Job{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.obj.Namespace, Name: name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Job %s: %w", name, err)
	}
	if !metav1.IsControlledBy(live, sc.obj) {
		return nil, nil
	}
	return live, nil
}

// observeJobs records the end of the active sync Job (the crawler's report,
// or the Job's own failure), adopts a running Job the status does not know,
// and prunes finished Jobs to the history limits. It sets or removes the
// SyncFailed condition, sets Syncing when a Job ends or is adopted, and
// status.activeJob, failedSecretVersions, indexedSpec and lastStartedSpec
// from what the crawler reports it crawled.
func (r *DataSourceReconciler) observeJobs(ctx context.Context, sc *scope) (time.Duration, error) {
	if err := r.listJobs(ctx, sc); err != nil {
		return 0, err
	}
	st := &sc.obj.Status
	if st.ActiveJob != nil {
		if err := r.checkActiveJob(ctx, sc); err != nil {
			return 0, err
		}
	}
	if st.ActiveJob == nil {
		var newest *batchv1.Job
		for _, j := range sc.syncJobs {
			if finished, _ := jobFinished(j); !finished && (newest == nil || jobStart(j).After(jobStart(newest))) {
				newest = j
			}
		}
		if newest != nil {
			st.ActiveJob = &v1alpha1.JobReference{Name: newest.Name}
			setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress,
				fmt.Sprintf("sync job %s is running", newest.Name))
		}
	}

	var finished []*batchv1.Job
	for _, j := range sc.syncJobs {
		if st.ActiveJob == nil || j.Name != st.ActiveJob.Name {
			finished = append(finished, j)
		}
	}
	successful, failed := defaultSuccessfulHistory, defaultFailedHistory
	if l := sc.obj.Spec.SuccessfulJobsHistoryLimit; l != nil {
		successful = *l
	}
	if l := sc.obj.Spec.FailedJobsHistoryLimit; l != nil {
		failed = *l
	}
	for _, j := range jobsToPrune(finished, successful, failed) {
		err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &j.UID})
		if client.IgnoreNotFound(err) != nil {
			return 0, fmt.Errorf("pruning Job %s: %w", j.Name, err)
		}
		sc.log.V(1).Info("pruned finished Job", "job", j.Name)
	}
	return 0, nil
}

// checkActiveJob handles status.activeJob once its Job finished or vanished.
func (r *DataSourceReconciler) checkActiveJob(ctx context.Context, sc *scope) error {
	st := &sc.obj.Status
	name := st.ActiveJob.Name
	job, err := r.findJob(ctx, sc, sc.syncJobs, name)
	if err != nil {
		return err
	}
	if job != nil {
		if finished, _ := jobFinished(job); !finished {
			return nil
		}
	}
	// The cached object may lag behind both the crawler's report and this
	// controller's own last status write: decide on a live read, once.
	fresh := &v1alpha1.ConfluenceDataSource{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(sc.obj), fresh); err != nil {
		return fmt.Errorf("reading the sync report: %w", err)
	}
	sc.rebase(fresh)
	st = &sc.obj.Status
	if st.ActiveJob == nil || st.ActiveJob.Name != name {
		return nil // already handled by an earlier reconcile
	}
	out := outcomeOf(name, job, st.LastSync)
	var blamed map[string]string
	if !out.Succeeded && blamesSecrets(out.Reason) {
		if blamed, err = r.blamedSecretVersions(ctx, sc.obj, job); err != nil {
			return err
		}
	}
	st.FailedSecretVersions = blamed
	// An Incremental sync started for webhook events answers those events:
	// it says nothing about which spec the index reflects, and its success
	// does not undo the failure of an earlier full run.
	partial := webhookJob(job)
	if rev := crawledRevision(out.Generation, st.LastStartedSpec, sc.obj, sc.now); rev != nil && !partial {
		if out.Generation != 0 {
			// The crawler read the spec when it started, maybe a newer one.
			st.LastStartedSpec = rev
		}
		if out.Succeeded {
			st.IndexedSpec = rev
		}
	}
	if out.Succeeded {
		if !partial {
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionSyncFailed)
		}
		r.event(sc.obj, corev1.EventTypeNormal, "SyncSucceeded", "Sync", syncedMessage(st))
	} else {
		setCondition(sc, v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, out.Reason, out.Message)
		r.event(sc.obj, corev1.EventTypeWarning, out.Reason, "Sync", out.Message)
	}
	recordSyncFinished(sc.obj, out)
	if out.Succeeded && partial {
		recordWebhookLatency(sc.obj, job, st.LastSync)
	}
	sc.log.Info("sync finished", "job", name, "succeeded", out.Succeeded, "generation", out.Generation,
		"duration", out.Duration.Round(time.Second).String())
	st.ActiveJob = nil
	setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonIdle, fmt.Sprintf("sync job %s finished", name))
	return nil
}

// observeSpec records whether the current generation changes what is
// indexed (status.indexedSpec, pendingSpec; see trackSpec). It sets no
// condition: Ready reads the result.
func (r *DataSourceReconciler) observeSpec(_ context.Context, sc *scope) (time.Duration, error) {
	trackSpec(&sc.obj.Status, sc.obj, sc.now)
	return 0, nil
}

// blamedSecretVersions returns the Secret versions a credentials failure of
// job is blamed on, so that only a later change to them retries: the versions
// the Job started with, except for Secrets the crawler writes itself (a
// rotated OAuth2 refresh token), which are taken as they are now that it has
// stopped, so its own writes never count as a fix. Without a record on the Job
// (it vanished), every Secret is taken as it is now.
func (r *DataSourceReconciler) blamedSecretVersions(ctx context.Context, obj *v1alpha1.ConfluenceDataSource, job *batchv1.Job) (map[string]string, error) {
	var versions map[string]string
	if job != nil {
		versions = decodeSecretVersions(job.Annotations[SecretVersionsAnnotation])
	}
	current := crawlerWrittenSecrets(obj)
	if versions == nil {
		versions, current = map[string]string{}, referencedSecretNames(obj)
	}
	for _, name := range current {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, m)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", name, err)
		}
		versions[name] = m.ResourceVersion // empty when it does not exist
	}
	return versions, nil
}

// validate re-parses the schedule and time zone, checks what admission cannot,
// runs the tenancy gate (admit) and reads the referenced Secrets' keys and
// resourceVersions. Everything it finds is a stall (Stalled=True with reason
// InvalidSchedule, InvalidSpec, ImageNotAllowed, SecretNotAllowed,
// SecretNotFound or SecretKeyMissing); a watch on the Secrets brings the
// object back at once.
func (r *DataSourceReconciler) validate(ctx context.Context, sc *scope) (time.Duration, error) {
	spec := &sc.obj.Spec
	sched, err := parseSchedule(string(spec.Sync.Schedule), spec.Sync.TimeZone)
	if err != nil {
		return 0, stalled(v1alpha1.ReasonInvalidSchedule, "%v", err)
	}
	sc.schedule = sched
	if r.crawlerImage(sc.obj) == "" {
		return 0, stalled(v1alpha1.ReasonInvalidSpec, "no crawler image: set spec.crawler.image or the manager's --crawler-image")
	}
	if err := r.admit(ctx, sc.obj); err != nil {
		return 0, err
	}
	if spec.Confluence.Auth.Type == v1alpha1.AuthPersonalAccessToken && spec.Confluence.Deployment != v1alpha1.DeploymentDataCenter {
		return 0, stalled(v1alpha1.ReasonInvalidSpec, "spec.confluence.auth.type PersonalAccessToken needs spec.confluence.deployment DataCenter")
	}
	if spec.Confluence.Auth.Type == v1alpha1.AuthOAuth2 && spec.Confluence.Deployment == v1alpha1.DeploymentDataCenter {
		// Objects admitted before the CEL rule existed.
		return 0, stalled(v1alpha1.ReasonInvalidSpec, "spec.confluence.auth.type OAuth2 cannot work with deployment DataCenter (OAuth 2.0 apps may not read space permissions or groups there): use PersonalAccessToken or Basic")
	}
	if spec.Webhook != nil && spec.Confluence.Deployment != v1alpha1.DeploymentDataCenter {
		// Objects admitted before the CEL rule existed.
		return 0, stalled(v1alpha1.ReasonInvalidSpec, "spec.webhook needs spec.confluence.deployment DataCenter: Confluence Cloud sends webhooks only to Connect or Forge apps")
	}
	sc.secretVersions = map[string]string{}
	for _, req := range secretRequirements(sc.obj) {
		secret := &corev1.Secret{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.obj.Namespace, Name: req.Name}, secret)
		switch {
		case apierrors.IsNotFound(err):
			return 0, stalled(v1alpha1.ReasonSecretNotFound, "Secret %q (%s) not found", req.Name, req.Field)
		case err != nil:
			return 0, fmt.Errorf("reading Secret %s: %w", req.Name, err)
		}
		if missing := missingKeys(req, secret.Data); missing != nil {
			return 0, stalled(v1alpha1.ReasonSecretKeyMissing, "%s", secretKeyMissingMessage(req, missing))
		}
		sc.secretVersions[req.Name] = secret.ResourceVersion
		if req.Field == webhookField {
			sc.webhookSecret = append([]byte(nil), secret.Data[webhookSecretKey(sc.obj)]...)
		}
	}
	return 0, nil
}

// ensureRBAC keeps the crawler's ServiceAccount, Role and RoleBinding right.
func (r *DataSourceReconciler) ensureRBAC(ctx context.Context, sc *scope) (time.Duration, error) {
	return 0, r.ensureCrawlerRBAC(ctx, sc.obj)
}

// crawlerImage is spec.crawler.image, else the manager's default.
func (r *DataSourceReconciler) crawlerImage(obj *v1alpha1.ConfluenceDataSource) string {
	if obj.Spec.Crawler.Image != "" {
		return obj.Spec.Crawler.Image
	}
	return r.CrawlerImage
}

// scheduleSync decides whether a sync starts now (first sync, new request,
// due slot, a Secret changed after a credentials failure, a settled change to
// what the spec indexes; never while one runs or while suspended) and starts
// it. It owns the Syncing condition from here on (SyncInProgress, Queued,
// FailedCreate, Suspended, Idle) and sets status.nextSyncTime, and on start
// activeJob, lastScheduleTime, lastHandledSyncRequest and lastStartedSpec, and
// clears failedSecretVersions and pendingSpec. A Job the API server refuses
// is a genericError with reason FailedCreate.
func (r *DataSourceReconciler) scheduleSync(ctx context.Context, sc *scope) (time.Duration, error) {
	obj, st := sc.obj, &sc.obj.Status
	request := obj.Annotations[v1alpha1.RequestedSyncAnnotation]
	in := scheduleInput{
		Now:                sc.now,
		Schedule:           sc.schedule,
		Suspend:            obj.Spec.Sync.Suspend,
		Created:            obj.CreationTimestamp.Time,
		LastScheduleTime:   timeOf(st.LastScheduleTime),
		NeverSynced:        neverSynced(st),
		Request:            request,
		LastHandledRequest: st.LastHandledSyncRequest,
		Running:            st.ActiveJob != nil,

		FailedSecretVersions: st.FailedSecretVersions,
		SecretVersions:       sc.secretVersions,
		SpecChangeKey:        specChangeKey(st),
	}
	if st.PendingSpec != nil && st.PendingSpec.Time != nil {
		in.SpecChangedAt = &st.PendingSpec.Time.Time
	}
	webhookDue, webhookAt, key := r.webhookDue(sc)
	if webhookDue {
		in.WebhookDue, in.WebhookKey = true, key
	}
	d := decideSync(in)
	st.NextSyncTime = metaTime(d.Next)
	var requeue time.Duration
	if d.Next != nil {
		requeue = requeueAt(sc.now, *d.Next)
	}
	if d.SpecChangeAt != nil {
		requeue = minRequeue(requeue, requeueAt(sc.now, *d.SpecChangeAt))
	}
	if !webhookAt.IsZero() && !webhookDue {
		requeue = minRequeue(requeue, requeueAt(sc.now, webhookAt))
	}
	if !d.Start {
		setIdleSyncing(sc, d)
		return requeue, nil
	}

	mode := effectiveMode(obj, d.HandlesRequest)
	if d.Trigger == triggerWebhook {
		// Only a batch a Targeted Job cannot take comes here (see
		// syncBoundBatch): one Incremental sync covers it.
		mode = v1alpha1.SyncIncremental
	}
	job := newSyncJob(obj, r.crawlerImage(obj), d, mode, sc.secretVersions)
	if d.Trigger == triggerWebhook {
		// The oldest event: the queued batch's, or the one the status kept
		// across a restart (to the second).
		received := sc.webhookBatch.FirstReceived
		if ws := obj.Status.Webhook; ws != nil && ws.PendingIncrementalSince != nil &&
			(received.IsZero() || ws.PendingIncrementalSince.Time.Before(received.Truncate(time.Second))) {
			received = ws.PendingIncrementalSince.Time
		}
		job.Annotations[WebhookReceivedAnnotation] = webhookReceivedValue(received)
	}
	if err := controllerutil.SetControllerReference(obj, job, r.Scheme); err != nil {
		return 0, err
	}
	create := func() error { return r.Create(ctx, job) }
	var err error
	adopted := false
	if r.Limiter != nil {
		var started bool
		var running int
		started, running, err = r.Limiter.Start(ctx, r.Client, sc.now, client.ObjectKeyFromObject(job), create)
		switch {
		case !started && err != nil:
			return 0, fmt.Errorf("counting running syncs: %w", err)
		case !started:
			setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonQueued,
				fmt.Sprintf("waiting for a free sync slot: %d of %d syncs running", running, r.Limiter.Max()))
			return minRequeue(requeue, queuedRetry), nil
		}
	} else {
		err = create()
	}
	if apierrors.IsAlreadyExists(err) {
		existing, ferr := r.findJob(ctx, sc, sc.syncJobs, job.Name)
		switch {
		case ferr != nil:
			return 0, ferr
		case existing == nil:
			return 0, r.failedCreate(sc, job.Name, fmt.Errorf("job %s exists and is not controlled by this data source", job.Name))
		}
		finished, _ := jobFinished(existing)
		switch {
		case finished && d.Key != "":
			// The Job for this very request, Secret or spec change already
			// ran and was seen running (observeJobs adopts it); only
			// recording what it answered was lost. Running it again would
			// serve the event twice.
			recordStarted(sc, d, request)
			if d.Trigger == triggerWebhook {
				r.ackIncremental(sc)
			}
			setIdleSyncing(sc, d)
			sc.log.Info("sync already ran", "job", job.Name, "trigger", d.Trigger)
			return requeue, nil
		case finished && d.Trigger != triggerSchedule:
			// A sync already used this minute's name; the next minute frees it.
			setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonQueued,
				"a sync finished within this minute; the next one starts at the next minute")
			return minRequeue(requeue, requeueAt(sc.now, sc.now.Truncate(time.Minute).Add(time.Minute))), nil
		}
		job, err, adopted = existing, nil, true
	}
	if err != nil {
		return 0, r.failedCreate(sc, job.Name, err)
	}

	st.ActiveJob = &v1alpha1.JobReference{Name: job.Name}
	recordStarted(sc, d, request)
	if d.Trigger == triggerWebhook {
		r.ackIncremental(sc)
	}
	setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress,
		fmt.Sprintf("sync job %s is running", job.Name))
	if adopted {
		sc.log.Info("adopted existing sync Job", "job", job.Name)
		return requeue, nil
	}
	r.event(obj, corev1.EventTypeNormal, "SyncStarted", "Sync",
		fmt.Sprintf("started sync job %s (mode %s, trigger %s, generation %d)", job.Name, mode, d.Trigger, obj.Generation))
	sc.log.Info("sync started", "job", job.Name, "mode", mode, "trigger", d.Trigger, "generation", obj.Generation)
	return requeue, nil
}

// failedCreate shows a sync Job the API server refused on Syncing and
// returns it as a FailedCreate genericError (retried with backoff; Ready and
// a Warning event show it, see summarize and warnOnChange).
func (r *DataSourceReconciler) failedCreate(sc *scope, name string, err error) error {
	err = &genericError{reason: v1alpha1.ReasonFailedCreate, err: fmt.Errorf("creating sync Job %s: %w", name, err)}
	setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonFailedCreate, err.Error())
	return err
}

// setIdleSyncing sets Syncing when no sync starts now: one runs (and maybe
// another is due after it), scheduling is suspended, a spec change settles,
// or the next slot.
func setIdleSyncing(sc *scope, d scheduleDecision) {
	st := &sc.obj.Status
	switch {
	case st.ActiveJob != nil:
		msg := fmt.Sprintf("sync job %s is running", st.ActiveJob.Name)
		if d.Due {
			msg += "; another sync is due and starts when it finishes"
		}
		setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionTrue, v1alpha1.ReasonSyncInProgress, msg)
	case sc.obj.Spec.Sync.Suspend:
		setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonSuspended, "scheduling is suspended")
	case d.SpecChangeAt != nil:
		setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonQueued,
			fmt.Sprintf("a sync of generation %d starts at %s unless what it indexes changes again",
				sc.obj.Generation, d.SpecChangeAt.UTC().Format(time.RFC3339)))
	case st.NextSyncTime != nil:
		setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonIdle,
			"next sync at "+st.NextSyncTime.UTC().Format(time.RFC3339))
	default:
		setCondition(sc, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonIdle,
			"no schedule: syncs run on demand")
	}
}

// recordStarted records in the status what a started sync Job answers: the
// slot, the request, a Secret change (its outcome decides anew whether a
// Secret is blamed) and the spec it was started for; nothing for a Job
// started for webhook events.
func recordStarted(sc *scope, d scheduleDecision, request string) {
	st := &sc.obj.Status
	if d.Trigger == triggerWebhook {
		// A targeted sync answers its events only: a pending spec change
		// or a Secret change still gets its own sync.
		return
	}
	if d.RecordSlot != nil {
		st.LastScheduleTime = metaTime(d.RecordSlot)
	}
	if d.HandlesRequest {
		st.LastHandledSyncRequest = request
	}
	st.FailedSecretVersions = nil
	st.LastStartedSpec = currentRevision(sc.obj, sc.now)
	st.PendingSpec = nil
}

// event records a Kubernetes event about the data source.
func (r *DataSourceReconciler) event(obj runtime.Object, eventType, reason, action, message string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, "%s", message)
	}
}

// warnOnChange emits a Warning when the data source newly stalls or newly
// fails transiently (FailedCreate, ReconcileError), or for another reason or
// message than before; not on every retry.
func (r *DataSourceReconciler) warnOnChange(sc *scope, err error) {
	condType, reason, message, action := "", "", "", ""
	if sc.stall != nil {
		condType, reason, message, action = v1alpha1.ConditionStalled, sc.stall.reason, sc.stall.message, "Validate"
	} else if fail := failureOf(err); fail != nil {
		condType, reason, message, action = v1alpha1.ConditionReady, fail.reason, fail.message, "Reconcile"
	} else {
		return
	}
	old := meta.FindStatusCondition(sc.before.Status.Conditions, condType)
	if old == nil || old.Reason != reason || old.Message != message {
		r.event(sc.obj, corev1.EventTypeWarning, reason, action, message)
	}
}
