package crawlcli

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
)

// FieldManager owns the status fields the crawler writes.
const FieldManager = "crawler"

// Change polls and targeted syncs may run while a full sync runs: each
// writes only its part of status.changes, under its own field manager, so
// that one's apply never removes what another wrote.
const (
	PollFieldManager     = "crawler-poll"
	TargetedFieldManager = "crawler-targeted"
)

// progressInterval is how often progress is written to the status.
const progressInterval = 5 * time.Second

// clusterEnv runs inside a Job: the resource and its Secrets come from the
// API (with the data source's own ServiceAccount), and status goes back there.
type clusterEnv struct {
	o   options
	c   client.Client
	log logr.Logger

	mu           sync.Mutex
	lastProgress time.Time
	// generation is metadata.generation of the spec this run read; the
	// report echoes it as lastSync.generation.
	generation int64
	// lastReport holds the previous run's report fields (lastSync,
	// lastSyncTime, lastSuccessfulSyncTime, documentCount) as this run
	// found them; every progress write applies them again. An apply without
	// them would remove them (server-side apply drops the fields a manager
	// stops applying), and a data source in the middle of a full crawl
	// would look never synced: no poll or Targeted Job would start beside
	// the crawl, and Ready would lose its last report.
	lastReport map[string]any
}

func newClusterEnv(o options, log logr.Logger) (*clusterEnv, error) {
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes config: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &clusterEnv{o: o, c: c, log: log}, nil
}

func (e *clusterEnv) dataSource(ctx context.Context) (*v1.ConfluenceDataSource, error) {
	ds := &v1.ConfluenceDataSource{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: e.o.namespace, Name: e.o.name}, ds); err != nil {
		return nil, fmt.Errorf("reading ConfluenceDataSource %s/%s: %w", e.o.namespace, e.o.name, err)
	}
	e.mu.Lock()
	e.generation = ds.Generation
	if e.lastReport == nil {
		e.lastReport = reportFields(ds.Status)
	}
	e.mu.Unlock()
	manifest.Default(&ds.Spec)
	return ds, nil
}

func (e *clusterEnv) secret(ctx context.Context, name string) (map[string][]byte, error) {
	s := &corev1.Secret{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: e.o.namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %q not found in namespace %s", name, e.o.namespace)
		}
		return nil, fmt.Errorf("reading secret %q: %w", name, err)
	}
	return s.Data, nil
}

func (e *clusterEnv) secrets(ctx context.Context, ds *v1.ConfluenceDataSource) (manifest.Secrets, error) {
	var s manifest.Secrets
	var err error
	spec := ds.Spec
	if !e.o.cleanup {
		if s.Confluence, err = e.secret(ctx, spec.Confluence.Auth.SecretRef.Name); err != nil {
			return s, err
		}
		if t := spec.Confluence.TLS; t != nil && t.CASecretRef != nil {
			data, err := e.secret(ctx, t.CASecretRef.Name)
			if err != nil {
				return s, err
			}
			s.ConfluenceCA = data[v1.SecretKeyCACert]
		}
		if p := spec.Confluence.Proxy; p != nil && p.SecretRef != nil {
			if s.Proxy, err = e.secret(ctx, p.SecretRef.Name); err != nil {
				return s, err
			}
		}
	}
	if a := spec.OpenSearch.Auth; a != nil {
		if s.OpenSearch, err = e.secret(ctx, a.SecretRef.Name); err != nil {
			return s, err
		}
	}
	if t := spec.OpenSearch.TLS; t != nil && t.CASecretRef != nil {
		data, err := e.secret(ctx, t.CASecretRef.Name)
		if err != nil {
			return s, err
		}
		s.OpenSearchCA = data[v1.SecretKeyCACert]
	}
	return s, nil
}

// persistTokens writes rotated OAuth tokens to the credentials Secret before
// the client uses them; a conflict is retried on a fresh read.
func (e *clusterEnv) persistTokens(ds *v1.ConfluenceDataSource) confluence.TokenPersister {
	name := ds.Spec.Confluence.Auth.SecretRef.Name
	return func(ctx context.Context, t confluence.Tokens) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s := &corev1.Secret{}
			if err := e.c.Get(ctx, client.ObjectKey{Namespace: e.o.namespace, Name: name}, s); err != nil {
				return err
			}
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			s.Data[v1.SecretKeyAccessToken] = []byte(t.AccessToken)
			s.Data[v1.SecretKeyRefreshToken] = []byte(t.RefreshToken)
			return e.c.Update(ctx, s)
		})
	}
}

// applyStatus server-side-applies the crawler's status fields. Fields the
// crawler owned before and leaves out (progress, at the end) are removed.
func (e *clusterEnv) applyStatus(ctx context.Context, status map[string]any) error {
	return e.applyStatusAs(ctx, FieldManager, status)
}

func (e *clusterEnv) applyStatusAs(ctx context.Context, manager string, status map[string]any) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1.GroupVersion.String(),
		"kind":       "ConfluenceDataSource",
		"metadata":   map[string]any{"name": e.o.name, "namespace": e.o.namespace},
		"status":     status,
	}}
	return e.c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(manager), client.ForceOwnership)
}

func (e *clusterEnv) progress(ctx context.Context, p v1.SyncProgress) {
	if e.partial() {
		return // status.progress is the full sync's
	}
	e.mu.Lock()
	due := time.Since(e.lastProgress) >= progressInterval || p.Phase == v1.PhaseStarting
	if due {
		e.lastProgress = time.Now()
	}
	e.mu.Unlock()
	if !due {
		return
	}
	now := metav1.Now()
	p.UpdateTime = &now
	progress, err := toMap(&p)
	if err == nil {
		status := map[string]any{"progress": progress}
		e.mu.Lock()
		for k, v := range e.lastReport {
			status[k] = v
		}
		e.mu.Unlock()
		err = e.applyStatus(ctx, status)
	}
	if err != nil {
		e.log.Error(err, "writing progress to status")
	}
}

// partial reports whether this run syncs only what changed.
func (e *clusterEnv) partial() bool {
	m := v1.SyncMode(e.o.mode)
	return m == v1.SyncChangePoll || m == v1.SyncTargeted
}

func (e *clusterEnv) report(ctx context.Context, r v1.SyncReport, sum crawl.Summary) error {
	documentCount := sum.DocumentCount
	now := metav1.Now()
	r.CompletionTime = &now
	e.mu.Lock()
	r.Generation = e.generation
	e.mu.Unlock()
	report, err := toMap(&r)
	if err != nil {
		return err
	}
	if e.partial() {
		return e.reportChanges(ctx, report, sum)
	}
	status := map[string]any{"lastSync": report, "lastSyncTime": now.UTC().Format(time.RFC3339)}
	if r.Result == v1.SyncSucceeded {
		status["lastSuccessfulSyncTime"] = now.UTC().Format(time.RFC3339)
	} else if prev, err := e.ownedSuccess(ctx); err == nil {
		// Keep owning the last success's fields, or applying without them would remove them.
		for k, v := range prev {
			status[k] = v
		}
	}
	if documentCount >= 0 {
		// What the index holds now, also after a failed run (-1: unknown).
		status["documentCount"] = documentCount
	}
	return e.applyStatus(ctx, status)
}

// reportChanges writes a ChangePoll's or Targeted run's report into
// status.changes. A failed poll keeps the watermark of the last successful one.
func (e *clusterEnv) reportChanges(ctx context.Context, report map[string]any, sum crawl.Summary) error {
	if v1.SyncMode(e.o.mode) == v1.SyncTargeted {
		return e.applyStatusAs(ctx, TargetedFieldManager, map[string]any{"changes": map[string]any{"lastTargeted": report}})
	}
	changes := map[string]any{"lastPoll": report, "lastPollChanges": sum.ChangesFound}
	watermark := sum.Watermark
	if watermark == nil {
		ds := &v1.ConfluenceDataSource{}
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: e.o.namespace, Name: e.o.name}, ds); err == nil && ds.Status.Changes != nil && ds.Status.Changes.Watermark != nil {
			watermark = &ds.Status.Changes.Watermark.Time
		}
	}
	if watermark != nil {
		changes["watermark"] = watermark.UTC().Format(time.RFC3339)
	}
	return e.applyStatusAs(ctx, PollFieldManager, map[string]any{"changes": changes})
}

// ownedSuccess returns the success fields currently on the status, so a
// failed run's apply keeps them.
func (e *clusterEnv) ownedSuccess(ctx context.Context) (map[string]any, error) {
	ds := &v1.ConfluenceDataSource{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: e.o.namespace, Name: e.o.name}, ds); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if t := ds.Status.LastSuccessfulSyncTime; t != nil {
		out["lastSuccessfulSyncTime"] = t.UTC().Format(time.RFC3339)
	}
	if ds.Status.DocumentCount > 0 {
		out["documentCount"] = ds.Status.DocumentCount
	}
	return out, nil
}

// reportFields returns the report fields the crawler owns on st, for an
// apply that keeps them.
func reportFields(st v1.ConfluenceDataSourceStatus) map[string]any {
	out := map[string]any{}
	if st.LastSync != nil {
		if m, err := toMap(st.LastSync); err == nil {
			out["lastSync"] = m
		}
	}
	for k, t := range map[string]*metav1.Time{"lastSyncTime": st.LastSyncTime, "lastSuccessfulSyncTime": st.LastSuccessfulSyncTime} {
		if t != nil {
			out[k] = t.UTC().Format(time.RFC3339)
		}
	}
	if st.DocumentCount > 0 {
		out["documentCount"] = st.DocumentCount
	}
	return out
}

// toMap converts a status struct (a pointer) for an unstructured apply.
func toMap(v any) (map[string]any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(v)
}
