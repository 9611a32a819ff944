package controllers

import (
	"context"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// queuedRetry is how often a sync queued behind --max-concurrent-syncs looks
// for a free slot.
const queuedRetry = 10 * time.Second

// launchGrace is how long a created Job counts as running before the cache
// shows it.
const launchGrace = time.Minute

// SyncLimiter caps the sync Jobs running at once across all data sources
// (the manager's --max-concurrent-syncs). Counting and creating happen under
// one lock, and Jobs created but not yet in the cache count too, so
// concurrent reconciles cannot overshoot the cap.
type SyncLimiter struct {
	max      int
	mu       sync.Mutex
	launched map[types.NamespacedName]time.Time
}

// NewSyncLimiter returns a limiter for max running syncs, or nil (no limit)
// when max is not positive.
func NewSyncLimiter(max int) *SyncLimiter {
	if max <= 0 {
		return nil
	}
	return &SyncLimiter{max: max, launched: map[types.NamespacedName]time.Time{}}
}

// Start runs create for the Job key when fewer than max sync Jobs run. It
// reports whether create ran and how many sync Jobs were running before.
func (l *SyncLimiter) Start(ctx context.Context, c client.Reader, now time.Time, key types.NamespacedName, create func() error) (bool, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.MatchingLabels{JobTypeLabel: JobTypeSync}); err != nil {
		return false, 0, err
	}
	seen := map[types.NamespacedName]bool{}
	running := 0
	for i := range jobs.Items {
		j := &jobs.Items[i]
		seen[client.ObjectKeyFromObject(j)] = true
		if finished, _ := jobFinished(j); !finished {
			running++
		}
	}
	for k, at := range l.launched {
		if seen[k] || now.Sub(at) > launchGrace {
			delete(l.launched, k)
			continue
		}
		running++
	}
	if running >= l.max {
		return false, running, nil
	}
	if err := create(); err != nil {
		return true, running, err
	}
	l.launched[key] = now
	return true, running, nil
}

// Max is the cap.
func (l *SyncLimiter) Max() int { return l.max }
