// Package crawl runs one sync of a ConfluenceDataSource: it lists Confluence,
// filters, extracts text, computes each document's ACL, writes what changed to
// OpenSearch and, after listings that completed without error, deletes what
// disappeared.
package crawl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// Options configure one run.
type Options struct {
	// DataSource is "namespace/name"; documents carry it.
	DataSource string
	Spec       v1.ConfluenceDataSourceSpec
	Mode       v1.SyncMode

	Confluence *confluence.Client
	OpenSearch *opensearch.Client

	// SpaceParallelism bounds how many spaces are crawled at once (default 4).
	SpaceParallelism int
	// Progress, if set, receives progress snapshots; it must be fast.
	Progress func(v1.SyncProgress)
	Logger   logr.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Refresh makes written documents searchable before Run returns.
	Refresh bool
}

// Summary is the outcome of a run, printed as JSON by the CLI and written to
// the data source's status.
type Summary struct {
	Mode               v1.SyncMode `json:"mode"`
	Complete           bool        `json:"complete"`
	DocumentsIndexed   int64       `json:"documentsIndexed"`
	DocumentsUnchanged int64       `json:"documentsUnchanged"`
	DocumentsDeleted   int64       `json:"documentsDeleted"`
	DocumentsFailed    int64       `json:"documentsFailed"`
	DocumentsSkipped   int64       `json:"documentsSkipped"`
	DocumentCount      int64       `json:"documentCount"`
	Identities         int64       `json:"identities"`
	SpacesSkipped      []string    `json:"spacesSkipped,omitempty"`
	// GroupsSkipped are groups whose members could not be listed; their
	// members get no access through them until a later sync lists them.
	GroupsSkipped   []string `json:"groupsSkipped,omitempty"`
	APICalls        int64    `json:"apiCalls"`
	DurationSeconds float64  `json:"durationSeconds"`
	Message         string   `json:"message,omitempty"`
}

// state is the checkpoint this package keeps with the index.
type state struct {
	IdentityHash string `json:"identityHash,omitempty"`
}

// run holds the shared state of one sync.
type run struct {
	Options
	filters *filters
	alias   string
	// source scopes every principal this run writes (see acl.Source).
	source acl.Source
	sink   *opensearch.Sink
	log    logr.Logger

	// incremental lists pages and blog posts without bodies and fetches only
	// the bodies of what changed; it needs an earlier complete sync.
	incremental bool

	unchanged, skipped, failed, processed atomic.Int64
	spacesDone                            atomic.Int32
	spacesTotal                           int32
	phase                                 atomic.Value // v1.SyncPhase

	mu            sync.Mutex
	seen          map[string]struct{} // document ids that exist in Confluence and in scope
	spacesSkipped []string
	groupsSkipped []string
}

// Run performs one sync. It returns a summary even on failure; the error says
// why the run failed. Nothing is deleted unless every listing completed.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SpaceParallelism <= 0 {
		o.SpaceParallelism = 4
	}
	if o.Mode == "" {
		o.Mode = o.Spec.Sync.Mode
	}
	start := o.Now()
	sum := Summary{Mode: o.Mode}
	r, err := newRun(o)
	if err != nil {
		return sum, err
	}
	err = r.sync(ctx, start, &sum)
	r.fill(&sum)
	sum.DurationSeconds = o.Now().Sub(start).Seconds()
	if err != nil {
		sum.Complete = false
		sum.Message = err.Error()
	}
	return sum, err
}

func newRun(o Options) (*run, error) {
	src, err := acl.ParseSource(o.DataSource)
	if err != nil {
		return nil, err
	}
	f, err := compileFilters(o.Spec.Filters)
	if err != nil {
		return nil, err
	}
	alias := o.Spec.OpenSearch.Index
	if alias == "" {
		alias = "confluence"
	}
	r := &run{Options: o, filters: f, alias: alias, source: src, log: o.Logger, seen: map[string]struct{}{}}
	r.phase.Store(v1.PhaseStarting)
	return r, nil
}

func (r *run) sync(ctx context.Context, start time.Time, sum *Summary) (err error) {
	extra := map[string]string{}
	for _, m := range r.Spec.FieldMappings {
		extra[m.To] = "keyword"
	}
	if _, err := r.OpenSearch.EnsureIndex(ctx, opensearch.IndexConfig{Alias: r.alias, Language: r.Spec.Language, ExtraFields: extra}); err != nil {
		return fmt.Errorf("preparing index %q: %w", r.alias, err)
	}
	cp, err := r.OpenSearch.ReadCheckpoint(ctx, r.alias, r.DataSource)
	if err != nil {
		return fmt.Errorf("reading checkpoint: %w", err)
	}
	var st state
	if cp != nil && len(cp.State) > 0 {
		_ = json.Unmarshal(cp.State, &st) // an unreadable state only costs a rewrite
	}
	if r.Mode == v1.SyncIncremental {
		r.incremental = cp != nil && !cp.LastSuccessfulCrawl.IsZero()
		if !r.incremental {
			r.log.Info("no completed sync yet: running the incremental sync as a full crawl")
		}
	}
	if _, err := r.Confluence.Verify(ctx); err != nil {
		return err
	}
	r.sink, err = r.OpenSearch.NewSink(opensearch.SinkConfig{Alias: r.alias})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := r.sink.Close(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("writing to OpenSearch: %w", cerr)
		}
	}()

	stop := r.reportProgress(ctx)
	defer stop()

	if enabled(r.Spec.IdentityCrawler.Enabled, true) {
		r.phase.Store(v1.PhaseIdentities)
		n, hash, err := r.crawlIdentities(ctx, st.IdentityHash, start)
		if err != nil {
			return fmt.Errorf("crawling users and groups: %w", err)
		}
		sum.Identities, st.IdentityHash = n, hash
	}

	r.phase.Store(v1.PhaseListing)
	spaces, err := r.listSpaces(ctx)
	if err != nil {
		return fmt.Errorf("listing spaces: %w", err)
	}
	r.spacesTotal = int32(len(spaces))
	r.phase.Store(v1.PhaseCrawling)
	incomplete := r.crawlSpaces(ctx, spaces)
	if err := r.sink.Flush(ctx); err != nil {
		return fmt.Errorf("writing to OpenSearch: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	r.phase.Store(v1.PhaseDeleting)
	if err := r.deleteVanished(ctx, incomplete); err != nil {
		return fmt.Errorf("deleting vanished documents: %w", err)
	}
	if err := r.sink.Flush(ctx); err != nil {
		return fmt.Errorf("writing to OpenSearch: %w", err)
	}
	r.phase.Store(v1.PhaseFinishing)
	if r.Refresh {
		if err := r.OpenSearch.Refresh(ctx, r.alias); err != nil {
			return err
		}
	}
	sum.Complete = len(incomplete) == 0
	raw, _ := json.Marshal(st)
	next := opensearch.Checkpoint{Datasource: r.DataSource, Mode: string(r.Mode), State: raw, UpdatedAt: r.Now()}
	if cp != nil {
		next.LastSuccessfulCrawl = cp.LastSuccessfulCrawl
	}
	if sum.Complete {
		next.LastSuccessfulCrawl = start
	}
	if err := r.OpenSearch.WriteCheckpoint(ctx, r.alias, next); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if !sum.Complete {
		failed := keys(incomplete)
		slices.Sort(failed)
		// The first cause says what to fix (e.g. a missing permission).
		return fmt.Errorf("%d of %d spaces could not be crawled completely (%v); nothing was deleted in them; %s: %w", len(incomplete), len(spaces), failed, failed[0], incomplete[failed[0]])
	}
	return nil
}

func (r *run) fill(sum *Summary) {
	if r.sink != nil {
		st := r.sink.Stats()
		sum.DocumentsIndexed = st.Indexed
		sum.DocumentsDeleted = st.Deleted
		sum.DocumentsFailed = st.Failed
	}
	sum.DocumentsFailed += r.failed.Load()
	sum.DocumentsUnchanged = r.unchanged.Load()
	sum.DocumentsSkipped = r.skipped.Load()
	r.mu.Lock()
	sum.DocumentCount = int64(len(r.seen))
	sum.SpacesSkipped = append([]string(nil), r.spacesSkipped...)
	sum.GroupsSkipped = append([]string(nil), r.groupsSkipped...)
	r.mu.Unlock()
	sum.APICalls = r.Confluence.APICalls()
}

// listSpaces lists the spaces in scope: global spaces, personal ones if
// enabled, archived ones if enabled, filtered by key.
func (r *run) listSpaces(ctx context.Context) ([]confluence.Space, error) {
	var spaces []confluence.Space
	q := confluence.SpaceQuery{Types: []confluence.SpaceType{confluence.SpaceTypeGlobal}, Statuses: []confluence.SpaceStatus{confluence.SpaceCurrent}}
	if enabled(r.Spec.Scope.PersonalSpaces, false) {
		q.Types = append(q.Types, confluence.SpaceTypePersonal)
	}
	if enabled(r.Spec.Scope.ArchivedSpaces, false) {
		q.Statuses = append(q.Statuses, confluence.SpaceArchived)
	}
	err := r.Confluence.ListSpaces(ctx, q, func(s confluence.Space) error {
		if s.Type == confluence.SpaceTypePersonal && !enabled(r.Spec.Scope.PersonalSpaces, false) {
			return nil
		}
		if s.Status == confluence.SpaceArchived && !enabled(r.Spec.Scope.ArchivedSpaces, false) {
			return nil
		}
		if ok, why := r.filters.spaces.allows(s.Key); !ok {
			r.log.V(1).Info("skipping space", "space", s.Key, "reason", why)
			return nil
		}
		spaces = append(spaces, s)
		return nil
	})
	return spaces, err
}

// crawlSpaces crawls spaces with bounded parallelism and returns the keys of
// those whose listing did not complete.
func (r *run) crawlSpaces(ctx context.Context, spaces []confluence.Space) map[string]error {
	incomplete := map[string]error{}
	var mu sync.Mutex
	work := make(chan confluence.Space)
	var wg sync.WaitGroup
	for range min(r.SpaceParallelism, max(len(spaces), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if err := r.crawlSpace(ctx, s); err != nil {
					var forbidden *confluence.ForbiddenError
					if errors.As(err, &forbidden) {
						r.mu.Lock()
						r.spacesSkipped = append(r.spacesSkipped, s.Key)
						r.mu.Unlock()
					}
					r.log.Error(err, "space not crawled completely", "space", s.Key)
					mu.Lock()
					incomplete[s.Key] = err
					mu.Unlock()
				}
				r.spacesDone.Add(1)
			}
		}()
	}
	for _, s := range spaces {
		select {
		case work <- s:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		incomplete["*"] = ctx.Err()
	}
	return incomplete
}

// markSeen records that a document exists in Confluence and is in scope, so
// it survives the deletion pass.
func (r *run) markSeen(id string) {
	r.mu.Lock()
	r.seen[id] = struct{}{}
	r.mu.Unlock()
}

// deleteVanished removes this data source's documents that were not seen,
// except in spaces whose listing did not complete (their documents are kept
// until a later run sees the whole space).
func (r *run) deleteVanished(ctx context.Context, incomplete map[string]error) error {
	if _, all := incomplete["*"]; all {
		return nil
	}
	protected := map[string]struct{}{}
	for key := range incomplete {
		err := r.OpenSearch.StreamIDs(ctx, r.alias, opensearch.IDFilter{Datasource: r.DataSource, SpaceKey: key}, func(id string) error {
			protected[id] = struct{}{}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := r.OpenSearch.Refresh(ctx, r.alias); err != nil {
		return err
	}
	var vanished []string
	err := r.OpenSearch.StreamIDs(ctx, r.alias, opensearch.IDFilter{Datasource: r.DataSource}, func(id string) error {
		r.mu.Lock()
		_, seen := r.seen[id]
		r.mu.Unlock()
		if _, keep := protected[id]; !seen && !keep {
			vanished = append(vanished, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range vanished {
		if err := r.sink.Delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// reportProgress sends a snapshot every second until stopped, and a last one then.
func (r *run) reportProgress(ctx context.Context) (stop func()) {
	if r.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				r.Progress(r.snapshot())
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.Progress(r.snapshot())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *run) snapshot() v1.SyncProgress {
	return v1.SyncProgress{
		Phase:              r.phase.Load().(v1.SyncPhase),
		SpacesDone:         r.spacesDone.Load(),
		SpacesTotal:        r.spacesTotal,
		DocumentsProcessed: r.processed.Load(),
	}
}

// forced reports whether every document is written whatever the index holds.
func (r *run) forced() bool { return r.Mode == v1.SyncForcedFullCrawl }

func enabled(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func keys(m map[string]error) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
