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
	"runtime/debug"
	"slices"
	"strings"
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
	// AllowDeletions is how many documents the user confirmed the run may
	// delete beyond spec.sync.maxDeletionPercent (the annotation
	// v1alpha1.AllowDeletionsAnnotation).
	AllowDeletions int64
	// Targets are what a Targeted run syncs (at most v1alpha1.MaxTargets).
	Targets []Target
	// ACLSweepInterval is how often a ChangePoll run re-checks every
	// restriction, space permission and group membership instead of only
	// what CQL reports changed (default DefaultACLSweepInterval).
	ACLSweepInterval time.Duration
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
	// PassagesIndexed and PassagesDeleted count passages written and
	// removed (spec.passages); failed ones count in DocumentsFailed.
	PassagesIndexed int64 `json:"passagesIndexed,omitempty"`
	PassagesDeleted int64 `json:"passagesDeleted,omitempty"`
	// DocumentCount is what the index holds for the data source after the
	// run (-1 if it could not be counted).
	DocumentCount int64 `json:"documentCount"`
	Identities    int64 `json:"identities"`
	// ChangesFound is how many changed items a ChangePoll's search returned.
	ChangesFound int64 `json:"changesFound,omitempty"`
	// OldestChange and NewestChange are the earliest and latest
	// modification times (version.when, Confluence's clock) of the changes a
	// ChangePoll found. A successful poll made them searchable by its end:
	// end minus these is the poll path's edit-to-searchable latency, worst
	// and best case.
	OldestChange *time.Time `json:"oldestChange,omitempty"`
	NewestChange *time.Time `json:"newestChange,omitempty"`
	// Swept says a ChangePoll run re-checked everything (an Incremental
	// pass) instead of only what changed.
	Swept bool `json:"swept,omitempty"`
	// Watermark is the time up to which every change is known to be in the
	// index after this run (set by successful ChangePoll and complete runs).
	Watermark     *time.Time `json:"watermark,omitempty"`
	SpacesSkipped []string   `json:"spacesSkipped,omitempty"`
	// DeletionsHeldBack counts documents the deletion guard kept.
	DeletionsHeldBack int64 `json:"deletionsHeldBack,omitempty"`
	// GroupsSkipped are groups whose members could not be listed; their
	// members get no access through them until a later sync lists them.
	GroupsSkipped []string `json:"groupsSkipped,omitempty"`
	// SpaceRecordsWritten counts space permission records written: spaces
	// new to the index or whose view permission changed (documents reference
	// the record and are not rewritten for it).
	SpaceRecordsWritten int64 `json:"spaceRecordsWritten,omitempty"`
	// SpaceRecordsDeleted counts records of spaces no longer in scope.
	SpaceRecordsDeleted int64   `json:"spaceRecordsDeleted,omitempty"`
	APICalls            int64   `json:"apiCalls"`
	DurationSeconds     float64 `json:"durationSeconds"`
	// WriteErrors are the first documents OpenSearch did not take.
	WriteErrors []string `json:"writeErrors,omitempty"`
	Message     string   `json:"message,omitempty"`
}

// Errors a failed run wraps, for callers that classify failures.
var (
	// ErrIndexingFailed: OpenSearch did not take what the run read, beyond
	// the tolerated share (see writeFailure).
	ErrIndexingFailed = errors.New("indexing failed")
	// ErrInterrupted: the context was cancelled before the run finished.
	ErrInterrupted = errors.New("sync interrupted")
	// ErrDeletionHeldBack: the deletion guard held back deletions (see
	// v1alpha1.SyncSpec.MaxDeletionPercent).
	ErrDeletionHeldBack = errors.New("deletions held back")
	// ErrInvalidFilter: a filter of the spec does not compile (bad input).
	ErrInvalidFilter = errors.New("invalid filter")
)

// tolerableWriteFailures is how many failed writes a run tolerates: 1% of
// its writes (so none in a run of fewer than 100). A failed deletion is
// never tolerated: it leaves a document searchable that should not be.
func tolerableWriteFailures(writes int64) int64 { return writes / 100 }

// state is the checkpoint this package keeps with the index.
type state struct {
	IdentityHash string `json:"identityHash,omitempty"`
	// PollWatermark: every change made before it is in the index (the start
	// of the last successful ChangePoll or complete sync).
	PollWatermark time.Time `json:"pollWatermark,omitzero"`
	// LastACLSweep is the start of the last run that re-checked every ACL
	// (a complete sync).
	LastACLSweep time.Time `json:"lastACLSweep,omitzero"`
	// LastACLSweepTry is when a poll last started such a re-check: a failed
	// one is retried after another interval, not by every poll.
	LastACLSweepTry time.Time `json:"lastACLSweepTry,omitzero"`
	// Identity is who the credentials acted as when last verified
	// (confluence.Client.Identity): a change poll whose answer names the
	// same user needs no separate credential check.
	Identity string `json:"identity,omitempty"`
	// Gateway is the cloud id whose API gateway the credentials needed when
	// last verified (a Cloud scoped API token; confluence.Client.Gateway).
	Gateway string `json:"gateway,omitempty"`
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

	// start is when the run started (see writtenSince).
	start time.Time
	// incremental lists pages and blog posts without bodies and fetches only
	// the bodies of what changed; it needs an earlier complete sync.
	incremental bool
	// passages, if set, are written with every document (spec.passages).
	passages *passageSettings
	// hashSalt enters every content hash (see hashSalt).
	hashSalt string

	unchanged, skipped, failed, processed atomic.Int64
	spaceRecordsWritten                   atomic.Int64
	spaceRecordsDeleted                   int64
	spacesDone, spacesTotal               atomic.Int32
	phase                                 atomic.Value // v1.SyncPhase

	mu            sync.Mutex
	seen          map[string]struct{} // document ids that exist in Confluence and in scope
	spacesSkipped []string
	groupsSkipped []string
	panicked      error // the first panic recovered in a space worker
	heldBack      []string
	heldBackDocs  int64
	// excludedSpaces were listed but are out of scope by the spec: their
	// documents go without the deletion guard (the user asked for it).
	excludedSpaces map[string]bool
	filtered       map[string]struct{} // document ids the spec's filters skip
	// spacesCrawled are the spaces whose record this run made current.
	spacesCrawled []string
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
	if i := o.Spec.Sync.ACLRecheckInterval; o.ACLSweepInterval == 0 && i != nil {
		o.ACLSweepInterval = i.Duration
	}
	start := o.Now()
	sum := Summary{Mode: o.Mode, DocumentCount: -1}
	r, err := newRun(o)
	if err != nil {
		return sum, err
	}
	err = r.syncRecovered(ctx, start, &sum)
	r.fill(ctx, &sum)
	sum.DurationSeconds = o.Now().Sub(start).Seconds()
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
		err = fmt.Errorf("%w in phase %s: %w", ErrInterrupted, r.phase.Load(), err)
	}
	if err != nil {
		sum.Complete = false
		sum.Message = err.Error()
	}
	return sum, err
}

// syncRecovered runs sync and turns a panic into a failed run, with the
// stack in the log.
func (r *run) syncRecovered(ctx context.Context, start time.Time, sum *Summary) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.recovered(p)
		}
	}()
	return r.sync(ctx, start, sum)
}

func (r *run) recovered(p any) error {
	err := fmt.Errorf("crawler panic: %v", p)
	r.log.Error(err, "recovered from a panic; the sync fails and deletes nothing", "stack", string(debug.Stack()))
	return err
}

func newRun(o Options) (*run, error) {
	src, err := acl.ParseSource(o.DataSource)
	if err != nil {
		return nil, err
	}
	f, err := compileFilters(o.Spec.Filters)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFilter, err)
	}
	alias := o.Spec.OpenSearch.Index
	if alias == "" {
		alias = "confluence"
	}
	r := &run{Options: o, filters: f, alias: alias, source: src, log: o.Logger, seen: map[string]struct{}{}, excludedSpaces: map[string]bool{}, filtered: map[string]struct{}{}}
	r.passages = newPassageSettings(o.Spec.Passages)
	r.hashSalt = hashSalt(o.Spec, r.passages)
	r.phase.Store(v1.PhaseStarting)
	return r, nil
}

func (r *run) sync(ctx context.Context, start time.Time, sum *Summary) (err error) {
	r.start = start
	if err := checkTargets(r.Mode, r.Targets); err != nil {
		return err
	}
	extra := map[string]string{}
	for _, m := range r.Spec.FieldMappings {
		extra[m.To] = "keyword"
	}
	ic := opensearch.IndexConfig{Alias: r.alias, Language: r.Spec.Language, ExtraFields: extra, Datasource: r.DataSource}
	// Polls and targeted syncs run every minute or so: one read when the
	// index is in place, instead of template and mapping writes.
	ready := false
	if r.Mode == v1.SyncTargeted || r.Mode == v1.SyncChangePoll {
		switch err := r.OpenSearch.CheckIndex(ctx, ic); {
		case err == nil:
			ready = true
		case !errors.Is(err, opensearch.ErrIndexNotReady):
			return fmt.Errorf("checking index %q: %w", r.alias, err)
		}
	}
	if !ready {
		if _, err := r.OpenSearch.EnsureIndex(ctx, ic); err != nil {
			return fmt.Errorf("preparing index %q: %w", r.alias, err)
		}
	}
	if err := r.preparePassages(ctx); err != nil {
		return err
	}
	cp, err := r.OpenSearch.ReadCheckpoint(ctx, r.alias, r.DataSource)
	if err != nil {
		return fmt.Errorf("reading checkpoint: %w", err)
	}
	var st state
	if cp != nil && len(cp.State) > 0 {
		_ = json.Unmarshal(cp.State, &st) // an unreadable state only costs a rewrite
	}
	if r.Mode == v1.SyncIncremental || r.Mode == v1.SyncChangePoll {
		r.incremental = cp != nil && !cp.LastSuccessfulCrawl.IsZero()
		if !r.incremental {
			r.log.Info("no completed sync yet: running the incremental sync as a full crawl")
		}
	}
	r.Confluence.ResumeGateway(st.Gateway)
	// A change poll checks the credentials with its search (see
	// confluence.Client.ListModifiedSince); every other Confluence call
	// verifies them first anyway.
	if r.Mode != v1.SyncChangePoll || st.Identity == "" {
		if _, err := r.Confluence.Verify(ctx); err != nil {
			return err
		}
	}
	sc := opensearch.SinkConfig{Alias: r.alias, Pipeline: r.Spec.OpenSearch.IngestPipeline}
	if r.passages != nil {
		sc.PassageAlias, sc.PassagePipeline = opensearch.PassageAlias(r.alias), r.passages.pipeline
	}
	r.sink, err = r.OpenSearch.NewSink(sc)
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

	if r.Mode == v1.SyncTargeted || r.Mode == v1.SyncChangePoll {
		if done, err := r.partialSync(ctx, start, cp, st, sum); done || err != nil {
			return err
		}
		// A ChangePoll that re-checks everything goes on as an Incremental sync.
		sum.Swept = true
	}

	identities := enabled(r.Spec.IdentityCrawler.Enabled, true)
	if identities {
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
	r.spacesTotal.Store(int32(len(spaces)))
	r.phase.Store(v1.PhaseCrawling)
	incomplete := r.crawlSpaces(ctx, spaces)
	if err := r.sink.Flush(ctx); err != nil {
		return fmt.Errorf("writing to OpenSearch: %w", err)
	}
	if r.panicked != nil {
		return r.panicked
	}
	// Deleting is for runs that wrote what they read: a failing cluster
	// would refuse the deletions too, and the run fails anyway.
	if err := r.writeFailure(); err != nil {
		return err
	}

	r.phase.Store(v1.PhaseDeleting)
	if err := r.deleteVanished(ctx, incomplete); err != nil {
		return fmt.Errorf("deleting vanished documents: %w", err)
	}
	if err := r.sink.Flush(ctx); err != nil {
		return fmt.Errorf("writing to OpenSearch: %w", err)
	}
	// Never advance the checkpoint over writes that did not happen.
	if err := r.writeFailure(); err != nil {
		return err
	}
	if r.listsEverySpace() && len(incomplete) == 0 && len(r.heldBack) == 0 {
		// Every space in scope was crawled and the documents of the others
		// deleted: their records grant nothing anymore.
		n, err := r.OpenSearch.DeleteSpaceRecordsExcept(ctx, r.alias, r.DataSource, r.spacesCrawled, start)
		if err != nil {
			return fmt.Errorf("deleting records of spaces out of scope: %w", err)
		}
		r.spaceRecordsDeleted = n
	}
	r.phase.Store(v1.PhaseFinishing)
	if r.Refresh {
		if err := r.refreshForSearch(ctx); err != nil {
			return err
		}
	}
	// Held-back deletions leave the index behind Confluence: not complete.
	sum.Complete = len(incomplete) == 0 && len(r.heldBack) == 0
	if sum.Complete {
		// A complete sync read everything as of its start, ACLs included.
		st.PollWatermark, st.LastACLSweep = start, start
		sum.Watermark = &start
	}
	if err := r.saveCheckpoint(ctx, st, identities, sum.Complete, start); err != nil {
		return err
	}
	if err := r.heldBackError(); err != nil && len(incomplete) == 0 {
		return err
	}
	if !sum.Complete {
		failed := keys(incomplete)
		slices.Sort(failed)
		// The first cause says what to fix (e.g. a missing permission).
		return fmt.Errorf("%d of %d spaces could not be crawled completely (%v); nothing was deleted in them; %s: %w", len(incomplete), len(spaces), failed, failed[0], incomplete[failed[0]])
	}
	return nil
}

// writeFailure returns an ErrIndexingFailed error if the sink failed more
// writes than tolerated, naming the first item errors.
func (r *run) writeFailure() error {
	st := r.sink.Stats()
	failed := st.Failed + st.Hidden
	writes := st.Indexed + st.Deleted + st.PassagesIndexed + st.PassagesDeleted + failed
	if st.FailedDeletes == 0 && failed <= tolerableWriteFailures(writes) {
		return nil
	}
	var first []string
	for i, e := range r.sink.Errors() {
		if i == 3 {
			break
		}
		first = append(first, e.Error())
	}
	what := fmt.Sprintf("%d of %d writes failed", failed, writes)
	if st.FailedDeletes > 0 {
		what += fmt.Sprintf(" (%d deletions, so documents that should be gone may still be searchable)", st.FailedDeletes)
	}
	if st.Hidden > 0 {
		what += fmt.Sprintf("; %d documents whose update failed were removed from the index until the next sync", st.Hidden)
	}
	return fmt.Errorf("%w: %s; first: %s; the checkpoint was not advanced and the next sync writes them again",
		ErrIndexingFailed, what, strings.Join(first, "; "))
}

func (r *run) fill(ctx context.Context, sum *Summary) {
	if r.sink != nil {
		st := r.sink.Stats()
		sum.DocumentsIndexed = st.Indexed
		sum.DocumentsDeleted = st.Deleted
		sum.PassagesIndexed = st.PassagesIndexed
		sum.PassagesDeleted = st.PassagesDeleted
		sum.DocumentsFailed = st.Failed + st.Hidden
		for _, e := range r.sink.Errors() {
			sum.WriteErrors = append(sum.WriteErrors, e.Error())
		}
	}
	sum.DocumentsFailed += r.failed.Load()
	sum.DocumentsUnchanged = r.unchanged.Load()
	sum.DocumentsSkipped = r.skipped.Load()
	sum.SpaceRecordsWritten = r.spaceRecordsWritten.Load()
	sum.SpaceRecordsDeleted = r.spaceRecordsDeleted
	r.mu.Lock()
	sum.SpacesSkipped = append([]string(nil), r.spacesSkipped...)
	sum.GroupsSkipped = append([]string(nil), r.groupsSkipped...)
	sum.DeletionsHeldBack = r.heldBackDocs
	r.mu.Unlock()
	sum.APICalls = r.Confluence.APICalls()
	if r.sink != nil && ctx.Err() == nil {
		// Count what the index holds, not what the run saw: a failed run
		// must not report documents that never arrived.
		if err := r.OpenSearch.Refresh(ctx, r.alias); err == nil {
			if n, err := r.OpenSearch.Count(ctx, r.alias, opensearch.IDFilter{Datasource: r.DataSource}); err == nil {
				sum.DocumentCount = n
			}
		}
	}
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
			r.excludedSpaces[s.Key] = true
			return nil
		}
		if s.Status == confluence.SpaceArchived && !enabled(r.Spec.Scope.ArchivedSpaces, false) {
			r.excludedSpaces[s.Key] = true
			return nil
		}
		if ok, why := r.filters.spaces.allows(s.Key); !ok {
			r.log.V(1).Info("skipping space", "space", s.Key, "reason", why)
			r.excludedSpaces[s.Key] = true
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
				if err := r.crawlSpaceRecovered(ctx, s); err != nil {
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

// crawlSpaceRecovered crawls one space and turns a panic into an error (the
// space counts as incomplete and the run fails).
func (r *run) crawlSpaceRecovered(ctx context.Context, s confluence.Space) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.recovered(p)
			r.mu.Lock()
			if r.panicked == nil {
				r.panicked = err
			}
			r.mu.Unlock()
		}
	}()
	return r.crawlSpace(ctx, s)
}

// markSeen records that a document exists in Confluence and is in scope, so
// it survives the deletion pass.
func (r *run) markSeen(id string) {
	r.mu.Lock()
	r.seen[id] = struct{}{}
	r.mu.Unlock()
}

// markFiltered records a document the filters skip, so deleting it is not
// held back by the deletion guard.
func (r *run) markFiltered(id string) {
	r.mu.Lock()
	r.filtered[id] = struct{}{}
	r.mu.Unlock()
}

// deleteVanished removes this data source's documents that were not seen,
// except in spaces whose listing did not complete (their documents are kept
// until a later run sees the whole space) and in groups the deletion guard
// holds back (see guardDeletions).
func (r *run) deleteVanished(ctx context.Context, incomplete map[string]error) error {
	if _, all := incomplete["*"]; all {
		return nil
	}
	if err := r.OpenSearch.Refresh(ctx, r.alias); err != nil {
		return err
	}
	groups := map[string]*deletionGroup{}
	var asked []string // filtered out by the spec
	// Documents written since this crawl started are left out by the query
	// (a forced crawl rewrites everything it sees, so they are most of the
	// index) and, to the instant, by writtenSince below.
	err := r.OpenSearch.StreamDocRefs(ctx, r.alias, opensearch.IDFilter{Datasource: r.DataSource, NotWrittenSince: r.start}, func(d opensearch.DocRef) error {
		if _, keep := incomplete[d.SpaceKey]; keep {
			return nil
		}
		if r.writtenSince(d) {
			// Written after this crawl started, by a concurrent targeted or
			// poll sync: the listings may predate it.
			return nil
		}
		key := d.SpaceKey + "/" + d.Type
		g := groups[key]
		if g == nil {
			g = &deletionGroup{space: d.SpaceKey, typ: d.Type}
			groups[key] = g
		}
		g.stored++
		r.mu.Lock()
		_, seen := r.seen[d.ID]
		_, filtered := r.filtered[d.ID]
		r.mu.Unlock()
		switch {
		case seen:
		case filtered:
			asked = append(asked, d.ID)
		default:
			g.vanished = append(g.vanished, d.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range asked {
		if err := r.sink.Delete(ctx, id); err != nil {
			return err
		}
	}
	for _, g := range r.guardDeletions(groups) {
		for _, id := range g.vanished {
			if err := r.sink.Delete(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// deletionGroup is what the index holds of one document type in one space,
// and which of those documents the listings no longer returned.
type deletionGroup struct {
	space, typ string
	stored     int64
	vanished   []string
}

// minGuardedDeletions: smaller deletions never trip the guard.
const minGuardedDeletions = 3

// guardDeletions returns the groups whose deletions may go ahead. A group
// that would lose more than spec.sync.maxDeletionPercent of its documents
// (and at least minGuardedDeletions) is held back, unless the whole held
// back amount is within what the user confirmed (Options.AllowDeletions).
func (r *run) guardDeletions(groups map[string]*deletionGroup) []*deletionGroup {
	percent := int64(v1.DefaultMaxDeletionPercent)
	if p := r.Spec.Sync.MaxDeletionPercent; p != nil {
		percent = int64(*p)
	}
	var allowed, held []*deletionGroup
	var heldDocs int64
	for _, g := range groups {
		n := int64(len(g.vanished))
		// Only what the spec still asks for is guarded: excluding a space or
		// a kind of document by spec deletes it as asked.
		deliberate := r.excludedSpaces[g.space] || !r.typeInScope(g.typ)
		if !deliberate && n >= minGuardedDeletions && n*100 > percent*g.stored {
			held = append(held, g)
			heldDocs += n
		} else if n > 0 {
			allowed = append(allowed, g)
		}
	}
	if heldDocs == 0 {
		return allowed
	}
	if heldDocs <= r.AllowDeletions {
		r.log.Info("deletions beyond spec.sync.maxDeletionPercent confirmed by annotation", "documents", heldDocs, "confirmed", r.AllowDeletions)
		return append(allowed, held...)
	}
	slices.SortFunc(held, func(a, b *deletionGroup) int { return strings.Compare(a.space+a.typ, b.space+b.typ) })
	for _, g := range held {
		r.heldBack = append(r.heldBack, fmt.Sprintf("%d of %d %s documents in space %s", len(g.vanished), g.stored, g.typ, g.space))
	}
	r.heldBackDocs = heldDocs
	return allowed
}

// typeInScope reports whether the spec's scope asks for documents of typ.
func (r *run) typeInScope(typ string) bool {
	sc := r.Spec.Scope
	pages, blogs := enabled(sc.Pages, true), enabled(sc.BlogPosts, true)
	switch typ {
	case string(confluence.TypePage):
		return pages
	case string(confluence.TypeBlogPost):
		return blogs
	case opensearch.TypeComment:
		return (pages && enabled(sc.PageComments, true)) || (blogs && enabled(sc.BlogComments, true))
	case opensearch.TypeAttachment:
		return (pages && enabled(sc.PageAttachments, true)) || (blogs && enabled(sc.BlogAttachments, true))
	}
	return false
}

// heldBackError says what the deletion guard held back and how to confirm.
func (r *run) heldBackError() error {
	if len(r.heldBack) == 0 {
		return nil
	}
	percent := v1.DefaultMaxDeletionPercent
	if p := r.Spec.Sync.MaxDeletionPercent; p != nil {
		percent = *p
	}
	return fmt.Errorf("%w: the listings no longer return %s (more than spec.sync.maxDeletionPercent=%d%%); nothing of these was deleted. "+
		"If they are really gone from Confluence, confirm by annotating the data source with %s=%d and requesting a sync",
		ErrDeletionHeldBack, strings.Join(r.heldBack, ", "), percent, v1.AllowDeletionsAnnotation, r.heldBackDocs)
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
		SpacesTotal:        r.spacesTotal.Load(),
		DocumentsProcessed: r.processed.Load(),
	}
}

// listsEverySpace reports whether the mode crawls every space in scope, so
// that a space it did not crawl is out of scope. A targeted sync or change
// poll crawls some spaces only: it must not delete the others' records
// (which would hide their documents).
func (r *run) listsEverySpace() bool {
	switch r.Mode {
	case v1.SyncForcedFullCrawl, v1.SyncFullCrawl, v1.SyncIncremental:
		return true
	}
	return false
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

// refreshForSearch makes what the run wrote searchable (Options.Refresh):
// the documents and, since the sink writes passages without refreshing
// them (stale ones are deleted by _id), the passages.
func (r *run) refreshForSearch(ctx context.Context) error {
	if err := r.OpenSearch.Refresh(ctx, r.alias); err != nil {
		return err
	}
	if r.passages == nil {
		return nil
	}
	return r.OpenSearch.Refresh(ctx, opensearch.PassageAlias(r.alias))
}
