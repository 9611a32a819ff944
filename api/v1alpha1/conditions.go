package v1alpha1

// Condition types. Ready summarizes; Reconciling and Stalled are present only
// while true (kstatus "abnormal-true"), so kubectl wait, Argo CD and Flux
// health checks terminate.
const (
	// ConditionReady is True when the last sync succeeded and the spec is valid.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller works toward the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs a human: an invalid spec or
	// a missing Secret.
	ConditionStalled = "Stalled"
	// ConditionSyncing is True while a sync Job runs; when False its reason
	// says why none runs (Idle, Queued, Suspended).
	ConditionSyncing = "Syncing"
	// ConditionSyncFailed is True when the last finished sync failed (reason
	// SyncFailed or JobFailed); it is removed by the next successful sync and
	// feeds the Ready summary.
	ConditionSyncFailed = "SyncFailed"
)

// Condition reasons.
const (
	// ReasonSynced: the last sync succeeded.
	ReasonSynced = "Synced"
	// ReasonSyncFailed: the last sync failed; documents from earlier syncs are kept.
	ReasonSyncFailed = "SyncFailed"
	// ReasonSyncInProgress: a sync Job is running.
	ReasonSyncInProgress = "SyncInProgress"
	// ReasonAwaitingFirstSync: the spec is valid and the first sync has not finished yet.
	ReasonAwaitingFirstSync = "AwaitingFirstSync"
	// ReasonSecretNotFound: a referenced Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing: a referenced Secret lacks a required key.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonCredentialsRejected: Confluence or OpenSearch refused the credentials.
	ReasonCredentialsRejected = "CredentialsRejected"
	// ReasonInvalidSchedule: the cron schedule or time zone cannot be parsed.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonInvalidSpec: the spec is invalid in a way admission could not catch.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonProgressing: the index reflects an older generation of the spec
	// and a sync of the current one is pending, queued or running.
	ReasonProgressing = "Progressing"
	// ReasonIndexOutdated: the index reflects an older generation of the
	// spec and no sync of the current one is coming (scheduling is suspended).
	ReasonIndexOutdated = "IndexOutdated"
	// ReasonFailedCreate: the API server refused to create a sync or cleanup
	// Job (quota, RBAC, admission); retried with backoff.
	ReasonFailedCreate = "FailedCreate"
	// ReasonReconcileError: reading or writing the Kubernetes API failed;
	// retried with backoff.
	ReasonReconcileError = "ReconcileError"
	// ReasonSuspended: scheduling is suspended.
	ReasonSuspended = "Suspended"
	// ReasonCleanupFailed: documents could not be removed after deletion; retried.
	ReasonCleanupFailed = "CleanupFailed"
	// ReasonQueued: a sync is due but waits, for a free slot under the
	// manager's --max-concurrent-syncs or for the next minute.
	ReasonQueued = "Queued"
	// ReasonIdle: no sync runs and none is due.
	ReasonIdle = "Idle"
	// ReasonCleanupInProgress: the data source is being deleted and its
	// documents are being removed.
	ReasonCleanupInProgress = "CleanupInProgress"
	// ReasonJobFailed: the sync Job failed without a crawler report (e.g. the
	// pod could not start or hit its deadline).
	ReasonJobFailed = "JobFailed"
)

// Annotations and labels.
const (
	// RequestedSyncAnnotation requests a sync now when its value changes
	// (the Flux reconcile.fluxcd.io/requestedAt pattern).
	RequestedSyncAnnotation = "sources.confluence-operator.dev/requested-sync"
	// RequestedSyncModeAnnotation overrides the mode of the requested sync,
	// e.g. ForcedFullCrawl for a one-off full re-index.
	RequestedSyncModeAnnotation = "sources.confluence-operator.dev/requested-sync-mode"
	// DataSourceLabel is set on Jobs and other objects owned by a data source.
	DataSourceLabel = "sources.confluence-operator.dev/datasource"
	// Finalizer guards the cleanup of indexed documents.
	Finalizer = "sources.confluence-operator.dev/cleanup"
)
