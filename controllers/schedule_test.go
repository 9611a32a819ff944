package controllers

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, expr, tz string) interface{ Next(time.Time) time.Time } {
	t.Helper()
	s, err := parseSchedule(expr, tz)
	if err != nil {
		t.Fatalf("parseSchedule(%q, %q): %v", expr, tz, err)
	}
	return s
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseSchedule_RejectsWhatAdmissionCannotSee(t *testing.T) {
	tests := map[string]struct {
		expr, tz string
		wantErr  string
	}{
		"empty is on demand":         {expr: "", tz: ""},
		"standard":                   {expr: "0 */6 * * *", tz: "Europe/Berlin"},
		"descriptor":                 {expr: "@hourly"},
		"every":                      {expr: "@every 90m"},
		"reversed range":             {expr: "0 9-5 * * *", wantErr: "invalid schedule"},
		"never fires":                {expr: "0 0 30 2 *", wantErr: "never fires"},
		"unknown zone":               {expr: "@daily", tz: "Mars/Olympus", wantErr: "unknown time zone"},
		"zone inside the expression": {expr: "CRON_TZ=UTC 0 * * * *", wantErr: "must not set TZ"},
		"six fields":                 {expr: "0 0 * * * *", wantErr: "invalid schedule"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseSchedule(tt.expr, tt.tz)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestMostRecentSlot(t *testing.T) {
	tests := map[string]struct {
		expr, tz      string
		earliest, now string
		want          string // "" means nothing due
	}{
		"not yet due":               {expr: "0 * * * *", earliest: "2030-01-01T10:00:00Z", now: "2030-01-01T10:59:59Z"},
		"due exactly at the slot":   {expr: "0 * * * *", earliest: "2030-01-01T10:00:00Z", now: "2030-01-01T11:00:00Z", want: "2030-01-01T11:00:00Z"},
		"one slot due":              {expr: "0 * * * *", earliest: "2030-01-01T10:00:00Z", now: "2030-01-01T11:30:00Z", want: "2030-01-01T11:00:00Z"},
		"missed slots run once":     {expr: "0 * * * *", earliest: "2030-01-01T10:00:00Z", now: "2030-01-04T07:12:00Z", want: "2030-01-04T07:00:00Z"},
		"slot in the time zone":     {expr: "0 9 * * *", tz: "Europe/Berlin", earliest: "2030-03-10T07:00:00Z", now: "2030-03-10T08:00:30Z", want: "2030-03-10T08:00:00Z"},
		"zone across DST":           {expr: "0 9 * * *", tz: "Europe/Berlin", earliest: "2030-03-30T09:00:00Z", now: "2030-04-01T12:00:00Z", want: "2030-04-01T07:00:00Z"},
		"irregular: weekend gap":    {expr: "0 9 * * 1-5", earliest: "2030-01-03T09:00:00Z", now: "2030-01-06T10:00:00Z", want: "2030-01-04T09:00:00Z"},
		"irregular: long downtime":  {expr: "0 9 * * 1-5", earliest: "2029-12-02T09:00:00Z", now: "2030-01-13T10:00:00Z", want: "2030-01-11T09:00:00Z"},
		"business hours":            {expr: "*/5 9-17 * * 1-5", earliest: "2030-01-04T17:55:00Z", now: "2030-01-07T08:59:00Z"},
		"business hours monday":     {expr: "*/5 9-17 * * 1-5", earliest: "2030-01-04T17:50:00Z", now: "2030-01-07T08:59:00Z", want: "2030-01-04T17:55:00Z"},
		"every":                     {expr: "@every 90m", earliest: "2030-01-01T00:00:00Z", now: "2030-01-01T05:00:00Z", want: "2030-01-01T04:30:00Z"},
		"a year down, every minute": {expr: "* * * * *", earliest: "2029-01-01T00:00:00Z", now: "2030-01-01T00:00:30Z", want: "2030-01-01T00:00:00Z"},
		"a year down, yearly":       {expr: "@yearly", earliest: "2027-06-01T00:00:00Z", now: "2030-02-01T00:00:00Z", want: "2030-01-01T00:00:00Z"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			sched, err := parseSchedule(tt.expr, tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			got := mostRecentSlot(sched, at(tt.earliest), at(tt.now))
			switch {
			case tt.want == "" && got != nil:
				t.Fatalf("got %s, want nothing due", got.UTC().Format(time.RFC3339))
			case tt.want != "" && (got == nil || !got.Equal(at(tt.want))):
				t.Fatalf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestDecideSync(t *testing.T) {
	hourly := mustParse(t, "0 * * * *", "")
	created := at("2030-01-01T09:30:10Z")
	slot := func(s string) *time.Time { v := at(s); return &v }
	tests := map[string]struct {
		in      scheduleInput
		start   bool
		trigger trigger
		slot    string
		record  string
		handles bool
		key     string
		due     bool
		next    string
		noNext  bool
	}{
		"first sync on creation": {
			in:    scheduleInput{Now: at("2030-01-01T09:30:12Z"), Schedule: hourly, Created: created, NeverSynced: true},
			start: true, trigger: triggerFirstSync, slot: "2030-01-01T09:30:00Z", record: "2030-01-01T09:30:00Z",
			next: "2030-01-01T10:00:00Z",
		},
		"first sync without a schedule": {
			in:    scheduleInput{Now: at("2030-01-01T09:30:12Z"), Created: created, NeverSynced: true},
			start: true, trigger: triggerFirstSync, slot: "2030-01-01T09:30:00Z", record: "2030-01-01T09:30:00Z", noNext: true,
		},
		"nothing due between ticks": {
			in:   scheduleInput{Now: at("2030-01-01T09:45:00Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z")},
			next: "2030-01-01T10:00:00Z",
		},
		"tick": {
			in:    scheduleInput{Now: at("2030-01-01T10:00:00.2Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z")},
			start: true, trigger: triggerSchedule, slot: "2030-01-01T10:00:00Z", record: "2030-01-01T10:00:00Z", next: "2030-01-01T11:00:00Z",
		},
		"tick during a run is recorded, not stacked": {
			in:  scheduleInput{Now: at("2030-01-01T10:00:01Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Running: true},
			due: true, next: "2030-01-01T11:00:00Z",
		},
		"missed ticks after downtime run once, for the latest": {
			in:    scheduleInput{Now: at("2030-01-03T07:20:00Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T10:00:00Z")},
			start: true, trigger: triggerSchedule, slot: "2030-01-03T07:00:00Z", record: "2030-01-03T07:00:00Z", next: "2030-01-03T08:00:00Z",
		},
		"new request": {
			in:    scheduleInput{Now: at("2030-01-01T09:45:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Request: "r1"},
			start: true, trigger: triggerRequest, slot: "2030-01-01T09:45:00Z", handles: true, key: "r" + shortHash("\nr1"), next: "2030-01-01T10:00:00Z",
		},
		"a request value used again after another is new": {
			in:    scheduleInput{Now: at("2030-01-01T09:45:30Z"), Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Request: "r1", LastHandledRequest: "r2"},
			start: true, trigger: triggerRequest, slot: "2030-01-01T09:45:00Z", handles: true, key: "r" + shortHash("r2\nr1"), noNext: true,
		},
		"handled request": {
			in:   scheduleInput{Now: at("2030-01-01T09:45:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Request: "r1", LastHandledRequest: "r1"},
			next: "2030-01-01T10:00:00Z",
		},
		"request and due slot share one Job": {
			in:    scheduleInput{Now: at("2030-01-01T10:00:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Request: "r2", LastHandledRequest: "r1"},
			start: true, trigger: triggerRequest, slot: "2030-01-01T10:00:00Z", record: "2030-01-01T10:00:00Z", handles: true,
			key: "r" + shortHash("r1\nr2"), next: "2030-01-01T11:00:00Z",
		},
		"secret changed after a credentials failure": {
			in: scheduleInput{Now: at("2030-01-01T09:45:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"),
				FailedSecretVersions: map[string]string{"conf": "1", "os": "7"}, SecretVersions: map[string]string{"conf": "2", "os": "7"}},
			start: true, trigger: triggerSecretChanged, slot: "2030-01-01T09:45:00Z", key: "s" + shortHash(`{"conf":"2","os":"7"}`), next: "2030-01-01T10:00:00Z",
		},
		"secret newly referenced after a credentials failure": {
			in: scheduleInput{Now: at("2030-01-01T09:45:30Z"), Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"),
				FailedSecretVersions: map[string]string{"conf": "1"}, SecretVersions: map[string]string{"conf2": "1"}},
			start: true, trigger: triggerSecretChanged, slot: "2030-01-01T09:45:00Z", key: "s" + shortHash(`{"conf2":"1"}`), noNext: true,
		},
		"secrets unchanged since the credentials failure": {
			in: scheduleInput{Now: at("2030-01-01T09:45:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"),
				FailedSecretVersions: map[string]string{"conf": "1", "os": "7"}, SecretVersions: map[string]string{"conf": "1"}},
			next: "2030-01-01T10:00:00Z",
		},
		"secret changed without a credentials failure": {
			in:   scheduleInput{Now: at("2030-01-01T09:45:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), SecretVersions: map[string]string{"conf": "2"}},
			next: "2030-01-01T10:00:00Z",
		},
		"secret changed during a run waits": {
			in: scheduleInput{Now: at("2030-01-01T09:45:30Z"), Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Running: true,
				FailedSecretVersions: map[string]string{"conf": "1"}, SecretVersions: map[string]string{"conf": "2"}},
			due: true, noNext: true,
		},
		"secret change and due slot share one scheduled Job": {
			in: scheduleInput{Now: at("2030-01-01T10:00:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"),
				FailedSecretVersions: map[string]string{"conf": "1"}, SecretVersions: map[string]string{"conf": "2"}},
			start: true, trigger: triggerSchedule, slot: "2030-01-01T10:00:00Z", record: "2030-01-01T10:00:00Z", next: "2030-01-01T11:00:00Z",
		},
		"request during a run waits": {
			in:  scheduleInput{Now: at("2030-01-01T09:45:30Z"), Schedule: hourly, Created: created, LastScheduleTime: slot("2030-01-01T09:30:00Z"), Request: "r1", Running: true},
			due: true, next: "2030-01-01T10:00:00Z",
		},
		"suspended": {
			in:     scheduleInput{Now: at("2030-01-02T00:00:00Z"), Schedule: hourly, Suspend: true, Created: created, NeverSynced: true, Request: "r1"},
			noNext: true,
		},
		"slots before creation never run": {
			in:   scheduleInput{Now: at("2030-01-01T09:59:00Z"), Schedule: hourly, Created: created},
			next: "2030-01-01T10:00:00Z",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			d := decideSync(tt.in)
			if d.Start != tt.start || d.Due != tt.due || d.HandlesRequest != tt.handles {
				t.Fatalf("start/due/handles = %v/%v/%v, want %v/%v/%v", d.Start, d.Due, d.HandlesRequest, tt.start, tt.due, tt.handles)
			}
			if tt.start {
				if d.Trigger != tt.trigger || !d.Slot.Equal(at(tt.slot)) || d.Key != tt.key {
					t.Fatalf("trigger/slot/key = %s/%s/%q, want %s/%s/%q", d.Trigger, d.Slot.Format(time.RFC3339), d.Key, tt.trigger, tt.slot, tt.key)
				}
			}
			switch {
			case tt.record == "" && d.RecordSlot != nil:
				t.Fatalf("records slot %s, want none", d.RecordSlot.Format(time.RFC3339))
			case tt.record != "" && (d.RecordSlot == nil || !d.RecordSlot.Equal(at(tt.record))):
				t.Fatalf("records slot %v, want %s", d.RecordSlot, tt.record)
			}
			switch {
			case tt.noNext && d.Next != nil:
				t.Fatalf("next = %s, want none", d.Next.Format(time.RFC3339))
			case tt.next != "" && (d.Next == nil || !d.Next.Equal(at(tt.next))):
				t.Fatalf("next = %v, want %s", d.Next, tt.next)
			}
		})
	}
}

func TestRequeueAt_LandsJustAfterTheSlot(t *testing.T) {
	now := at("2030-01-01T09:59:00Z")
	if got := requeueAt(now, at("2030-01-01T10:00:00Z")); got != time.Minute+100*time.Millisecond {
		t.Fatalf("requeueAt = %v", got)
	}
	if got := requeueAt(now, now.Add(-time.Hour)); got != 100*time.Millisecond {
		t.Fatalf("requeueAt in the past = %v", got)
	}
}
