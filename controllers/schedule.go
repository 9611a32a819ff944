package controllers

import (
	"fmt"
	"strings"
	"time"
	// The manager image may have no zoneinfo; embed it so spec.sync.timeZone
	// always resolves.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// trigger says why a sync Job was started.
type trigger string

const (
	// triggerFirstSync: the data source never ran a sync.
	triggerFirstSync trigger = "FirstSync"
	// triggerSchedule: a cron slot came due.
	triggerSchedule trigger = "Schedule"
	// triggerRequest: the requested-sync annotation got a new value.
	triggerRequest trigger = "Request"
	// triggerSecretChanged: a referenced Secret changed after the last sync
	// failed because of its credentials.
	triggerSecretChanged trigger = "SecretChanged"
	// triggerSpecChanged: the spec changed what is indexed since the last
	// sync started, and stayed so for specChangeDelay.
	triggerSpecChanged trigger = "SpecChanged"
	// triggerWebhook: verified Data Center webhook events queued a batch a
	// Targeted Job cannot take (more than MaxTargets, or an event naming
	// nothing) and its batch window passed.
	triggerWebhook trigger = "Webhook"
)

// parseSchedule parses a standard cron expression evaluated in the IANA time
// zone tz (empty means UTC). An empty expression returns a nil schedule: the
// data source syncs only on creation and on demand. Admission validates most
// of this; what it cannot see (reversed ranges, a date that never comes, an
// unknown zone) is reported here as an error the caller turns into Stalled.
func parseSchedule(expr, tz string) (cron.Schedule, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	if strings.Contains(expr, "TZ=") {
		return nil, fmt.Errorf("schedule %q must not set TZ or CRON_TZ; use spec.sync.timeZone", expr)
	}
	loc := time.UTC
	if tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("unknown time zone %q in spec.sync.timeZone", tz)
		}
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q in spec.sync.schedule: %v", expr, err)
	}
	if spec, ok := sched.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	// robfig/cron gives up after five years without a match (e.g. 30 February).
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule %q in spec.sync.schedule never fires", expr)
	}
	return sched, nil
}

// maxSlotsPerWindow bounds the slots mostRecentSlot steps through in one
// search window, whatever the schedule and downtime.
const maxSlotsPerWindow = 100_000

// mostRecentSlot returns the latest slot of sched in (earliest, now], or nil
// when none is due. Like the CronJob controller it never walks every missed
// slot: it measures the schedule's interval from the first two slots after
// earliest and searches windows ending at now, doubling them until one holds
// a slot. Unlike CronJob's single estimate this stays exact for irregular
// schedules (weekdays only, business hours), and a controller that was down
// for a year does a few dozen steps.
func mostRecentSlot(sched cron.Schedule, earliest, now time.Time) *time.Time {
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		// @every slots are relative to the previous one, not to the clock.
		start := earliest.Truncate(time.Second)
		n := now.Sub(start) / every.Delay
		if n < 1 {
			return nil
		}
		slot := start.Add(n * every.Delay)
		return &slot
	}
	t1 := sched.Next(earliest)
	if t1.IsZero() || t1.After(now) {
		return nil
	}
	t2 := sched.Next(t1)
	if t2.IsZero() || t2.After(now) {
		return &t1
	}
	for window := t2.Sub(t1); ; window *= 2 {
		from := now.Add(-window)
		if !from.After(t1) {
			from = earliest
		}
		if last, ok := lastSlotIn(sched, from, now); ok {
			return &last
		}
		if from.Equal(earliest) {
			return &t1 // unreachable: t1 <= now lies in the window
		}
	}
}

// lastSlotIn returns the latest slot in (from, now].
func lastSlotIn(sched cron.Schedule, from, now time.Time) (time.Time, bool) {
	var last time.Time
	t := sched.Next(from)
	for n := 0; !t.IsZero() && !t.After(now) && n < maxSlotsPerWindow; n++ {
		last = t
		t = sched.Next(t)
	}
	return last, !last.IsZero()
}

// scheduleInput is everything the sync decision depends on.
type scheduleInput struct {
	Now time.Time
	// Schedule is nil when the data source syncs only on demand.
	Schedule cron.Schedule
	Suspend  bool
	// Created is the data source's creation time; slots before it never run.
	Created time.Time
	// LastScheduleTime is the last slot a Job was started for.
	LastScheduleTime *time.Time
	// NeverSynced is true when no sync Job was ever started.
	NeverSynced bool
	// Request is the requested-sync annotation; LastHandledRequest its value
	// when the last request was handled.
	Request            string
	LastHandledRequest string
	// Running is true while a sync Job runs.
	Running bool
	// FailedSecretVersions are the Secret versions the last sync's
	// credentials failure is blamed on (nil when it did not fail so);
	// SecretVersions are the referenced Secrets' versions now.
	FailedSecretVersions, SecretVersions map[string]string
	// SpecChangedAt is when the spec last changed what is indexed since the
	// last sync started (nil when it did not); SpecChangeKey names the Job
	// answering that change.
	SpecChangedAt *time.Time
	SpecChangeKey string
	// WebhookDue is true when a queued webhook batch that needs an
	// Incremental sync is past its window; WebhookKey names the Job
	// answering that batch.
	WebhookDue bool
	WebhookKey string
}

// scheduleDecision is what to do now.
type scheduleDecision struct {
	// Start a sync Job named after Key, or after Slot when Key is empty.
	Start   bool
	Trigger trigger
	Slot    time.Time
	// Key names the Job of a sync that answers one event: r<hash> for a
	// request (of the value and the one handled before it, so a value used
	// again later is still new), s<hash> for a Secret change (of the
	// versions it runs with), g<hash> for a spec change (of the index hashes
	// before and after). The same event always gets the same name.
	Key string
	// RecordSlot, when set, becomes status.lastScheduleTime once the Job starts.
	RecordSlot *time.Time
	// HandlesRequest is true when the Job answers Request.
	HandlesRequest bool
	// Due is true when a sync is due but a Job is running: it starts, once,
	// after that Job ends.
	Due bool
	// Next is the next schedule slot after now; nil when suspended or on demand.
	Next *time.Time
	// SpecChangeAt is when a pending spec change is due, while it is not yet.
	SpecChangeAt *time.Time
}

// decideSync decides whether a sync starts now. A new request, the first
// sync, a due schedule slot, a Secret changed since a credentials failure,
// a settled change to what the spec indexes and a due batch of webhook
// targets are each served by one Job (webhook targets last: they stay
// queued while another trigger's Job runs, and start the next one); missed slots after downtime collapse into the
// most recent one; nothing starts while a Job runs or while suspended, and
// what was due stays due (the slot is recorded only when a Job starts for it).
func decideSync(in scheduleInput) scheduleDecision {
	var d scheduleDecision
	if in.Suspend {
		return d
	}
	if in.Schedule != nil {
		if next := in.Schedule.Next(in.Now); !next.IsZero() {
			d.Next = &next
		}
	}
	earliest := in.Created
	if in.LastScheduleTime != nil {
		earliest = *in.LastScheduleTime
	}
	var slot *time.Time
	if in.Schedule != nil {
		slot = mostRecentSlot(in.Schedule, earliest, in.Now)
	}
	requested := in.Request != "" && in.Request != in.LastHandledRequest
	secretChanged := secretsChanged(in.FailedSecretVersions, in.SecretVersions)
	specChanged := false
	if in.SpecChangedAt != nil {
		due := in.SpecChangedAt.Add(specChangeDelay)
		if specChanged = !in.Now.Before(due); !specChanged {
			d.SpecChangeAt = &due
		}
	}
	if slot == nil && !requested && !in.NeverSynced && !secretChanged && !specChanged && !in.WebhookDue {
		return d
	}
	if in.Running {
		d.Due = true
		return d
	}
	d.Start = true
	d.Slot = in.Now.Truncate(time.Minute)
	switch {
	case requested:
		d.Trigger, d.HandlesRequest = triggerRequest, true
		d.Key = "r" + shortHash(in.LastHandledRequest+"\n"+in.Request)
	case slot != nil:
		d.Trigger, d.Slot = triggerSchedule, slot.Truncate(time.Minute)
	case secretChanged:
		d.Trigger = triggerSecretChanged
		d.Key = "s" + shortHash(encodeSecretVersions(in.SecretVersions))
	case specChanged && !in.NeverSynced:
		d.Trigger, d.Key = triggerSpecChanged, in.SpecChangeKey
	case in.WebhookDue && !in.NeverSynced:
		// Webhook targets wait for every other trigger: a targeted sync
		// before the first full one would index a few documents of an
		// otherwise empty source, and the others run first anyway.
		d.Trigger, d.Key = triggerWebhook, in.WebhookKey
	default:
		d.Trigger = triggerFirstSync
	}
	switch {
	case slot != nil:
		d.RecordSlot = slot
	case in.NeverSynced:
		// Recording the first sync as a slot makes it run once.
		first := d.Slot
		d.RecordSlot = &first
	}
	return d
}

// secretsChanged is true when a Secret the sync uses now has another
// version than the one a credentials failure was blamed on, or was not
// referenced then. Nothing changed without such a failure.
func secretsChanged(failed, now map[string]string) bool {
	if failed == nil {
		return false
	}
	for name, version := range now {
		if failed[name] != version {
			return true
		}
	}
	return false
}

// requeueAt returns the delay until t plus a little slack, so the reconcile
// lands after the slot rather than a hair before it.
func requeueAt(now, t time.Time) time.Duration {
	if d := t.Sub(now); d > 0 {
		return d + 100*time.Millisecond
	}
	return 100 * time.Millisecond
}
