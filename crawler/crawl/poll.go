package crawl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// DefaultACLSweepInterval (spec.sync.aclRecheckInterval): restriction, space-permission and group changes
// bump no version and no lastmodified date, so no change search sees them.
// A ChangePoll re-checks all of them (an Incremental pass: listings with
// embedded restrictions, one call per 200 pages, plus space permissions and
// groups) when the last complete sync is older than this. It bounds how
// long such a change can stay unseen: this interval plus one poll interval
// plus the sweep's own duration.
const DefaultACLSweepInterval = time.Hour

// pollMargin is subtracted from the watermark: CQL dates have minute
// precision and CQL is index-backed, lagging writes by seconds or more.
const pollMargin = 2 * time.Minute

// errTooManyChanges stops a change search that found more than a Targeted
// run takes; the poll re-checks everything instead.
var errTooManyChanges = errors.New("too many changes")

// partialSync runs a Targeted sync, or a ChangePoll that needs no sweep. It
// reports done=false when a ChangePoll must go on as an Incremental pass.
func (r *run) partialSync(ctx context.Context, start time.Time, cp *opensearch.Checkpoint, st state, sum *Summary) (bool, error) {
	targets := r.Targets
	if r.Mode == v1.SyncChangePoll {
		since, why := r.planPoll(cp, st, start)
		if why != "" {
			r.log.Info("change poll re-checks everything", "reason", why)
			return false, r.markSweepTry(ctx, st, start)
		}
		r.phase.Store(v1.PhaseListing)
		var err error
		targets, err = r.listChanges(ctx, start.Sub(since), st.Identity, sum)
		sum.ChangesFound = int64(len(targets))
		if errors.Is(err, errTooManyChanges) {
			r.log.Info("change poll re-checks everything", "reason", fmt.Sprintf("more than %d changes since %s", v1.MaxTargets, since.UTC().Format(time.RFC3339)))
			return false, r.markSweepTry(ctx, st, start)
		}
		if err != nil {
			return true, fmt.Errorf("listing changes: %w", err)
		}
	}
	r.incremental = true // listings without bodies fetch only changed bodies
	r.phase.Store(v1.PhaseCrawling)
	if err := r.syncTargets(ctx, targets); err != nil {
		return true, err
	}
	if err := r.sink.Flush(ctx); err != nil {
		return true, fmt.Errorf("writing to OpenSearch: %w", err)
	}
	if err := r.writeFailure(); err != nil {
		return true, err
	}
	r.phase.Store(v1.PhaseFinishing)
	if r.Refresh {
		if err := r.refreshForSearch(ctx); err != nil {
			return true, err
		}
	}
	if r.Mode == v1.SyncChangePoll {
		st.PollWatermark = start
		sum.Watermark = &start
	}
	return true, r.saveCheckpoint(ctx, st, false, false, start)
}

// planPoll returns where a ChangePoll's search starts, or why it must
// re-check everything instead.
func (r *run) planPoll(cp *opensearch.Checkpoint, st state, now time.Time) (time.Time, string) {
	every := r.ACLSweepInterval
	if every <= 0 {
		every = DefaultACLSweepInterval
	}
	watermark, swept := st.PollWatermark, later(st.LastACLSweep, st.LastACLSweepTry)
	if cp != nil {
		watermark = later(watermark, cp.LastSuccessfulCrawl)
		swept = later(swept, cp.LastSuccessfulCrawl)
	}
	switch {
	case watermark.IsZero():
		return time.Time{}, "no complete sync yet"
	case now.Sub(swept) >= every:
		return time.Time{}, fmt.Sprintf("restrictions, space permissions and groups are re-checked every %s (last %s)", every, swept.UTC().Format(time.RFC3339))
	}
	return watermark.Add(-pollMargin), ""
}

// markSweepTry records that a poll starts a re-check of everything, so that
// if it fails the next polls do not all re-check (each costs a listing of
// the whole site) but retry after another interval.
func (r *run) markSweepTry(ctx context.Context, st state, start time.Time) error {
	st.LastACLSweepTry = start
	return r.saveCheckpoint(ctx, st, false, false, start)
}

// listChanges turns what changed within the last `within` into targets,
// with one CQL search: one call when nothing changed and the answer shows
// it ran as knownAs, the identity an earlier run verified.
func (r *run) listChanges(ctx context.Context, within time.Duration, knownAs string, sum *Summary) ([]Target, error) {
	var targets []Target
	seen := map[Target]bool{}
	err := r.Confluence.ListModifiedSince(ctx, within, knownAs, func(c confluence.Change) error {
		if m := c.Modified; !m.IsZero() {
			if sum.OldestChange == nil || m.Before(*sum.OldestChange) {
				sum.OldestChange = &m
			}
			if sum.NewestChange == nil || m.After(*sum.NewestChange) {
				sum.NewestChange = &m
			}
		}
		var t Target
		switch c.Type {
		case confluence.TypePage, confluence.TypeBlogPost, confluence.TypeComment, confluence.TypeAttachment:
			t = Target{Kind: TargetKind(c.Type), ID: c.ID}
		default:
			return nil // folders, whiteboards, ...: not indexed
		}
		if seen[t] {
			return nil
		}
		seen[t] = true
		if len(targets) == v1.MaxTargets {
			return errTooManyChanges
		}
		targets = append(targets, t)
		return nil
	})
	return targets, err
}

// saveCheckpoint writes the run's state, merged with what concurrent runs
// wrote meanwhile: watermarks only move forward, and a run that did not
// crawl identities keeps the stored identity hash.
func (r *run) saveCheckpoint(ctx context.Context, st state, identities, complete bool, start time.Time) error {
	cur, err := r.OpenSearch.ReadCheckpoint(ctx, r.alias, r.DataSource)
	if err != nil {
		return fmt.Errorf("reading checkpoint: %w", err)
	}
	var stored state
	next := opensearch.Checkpoint{Datasource: r.DataSource, Mode: string(r.Mode), UpdatedAt: r.Now()}
	if cur != nil {
		_ = json.Unmarshal(cur.State, &stored) // an unreadable state only costs a rewrite
		next.LastSuccessfulCrawl = cur.LastSuccessfulCrawl
	}
	if complete {
		next.LastSuccessfulCrawl = later(next.LastSuccessfulCrawl, start)
	}
	st.PollWatermark = later(st.PollWatermark, stored.PollWatermark)
	st.LastACLSweep = later(st.LastACLSweep, stored.LastACLSweep)
	st.LastACLSweepTry = later(st.LastACLSweepTry, stored.LastACLSweepTry)
	if !identities {
		st.IdentityHash = stored.IdentityHash
	}
	// Who the credentials act as and where they work, if this run verified
	// them (a poll whose search proved who it ran as did not).
	if id := r.Confluence.Identity(); id != "" {
		st.Identity, st.Gateway = id, r.Confluence.Gateway()
	} else {
		st.Identity, st.Gateway = cmp.Or(stored.Identity, st.Identity), cmp.Or(stored.Gateway, st.Gateway)
	}
	next.State, _ = json.Marshal(st)
	if err := r.OpenSearch.WriteCheckpoint(ctx, r.alias, next); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

// writtenSince reports whether a stored document was written after this
// run started. It compares the clocks of two crawler pods (the writer's
// indexed_at, this run's start), so it relies on the nodes' clocks being
// synchronised (NTP); a writer whose clock is behind by more than the time
// between its write and this crawl's start is not protected.
func (r *run) writtenSince(d opensearch.DocRef) bool {
	return !d.IndexedAt.IsZero() && !d.IndexedAt.Before(r.start)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
