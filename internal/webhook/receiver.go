package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// PathPrefix starts every receiver URL path.
const PathPrefix = "/hook/"

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" (Atlassian,
// Managing Webhooks: "Securing the webhook").
const SignatureHeader = "X-Hub-Signature"

// Defaults of the receiver's bounds.
const (
	// DefaultMaxBodyBytes caps a request body. Data Center payloads carry
	// ids only (a few hundred bytes).
	DefaultMaxBodyBytes = 64 << 10
	// DefaultReplayWindow is how long a body is remembered, and how old an
	// event's own timestamp may be, before it is refused as a replay.
	DefaultReplayWindow = 10 * time.Minute
	// DefaultBatchWindow is the longest targets gather before their sync
	// starts, counted from the first event of a batch.
	DefaultBatchWindow = 3 * time.Second
	// quietPeriod ends a batch early: a batch is due once no event came for
	// this long (never later than the batch window), so a lone edit does not
	// wait the whole window and a burst still makes one sync.
	quietPeriod = time.Second
	// maxClockSkew is how far in the future an event's timestamp may lie.
	maxClockSkew = 5 * time.Minute
	// maxRemembered bounds the replay memory per data source.
	maxRemembered = 4096
	// maxPendingTargets bounds the targets queued per data source; beyond
	// MaxTargets they coalesce into an Incremental sync anyway.
	maxPendingTargets = 1000
)

// Rejection reasons, the "reason" label of rejected requests.
const (
	ReasonMethod    = "method"
	ReasonUnknown   = "unknown"
	ReasonOversized = "oversized"
	ReasonUnsigned  = "unsigned"
	ReasonForged    = "forged"
	ReasonReplayed  = "replayed"
	ReasonStale     = "stale"
	ReasonMalformed = "malformed"
	ReasonReadError = "read-error"
)

// Batch is what is queued for one data source.
type Batch struct {
	// Targets, sorted and distinct.
	Targets []string
	// Incremental is true when an event asked for an Incremental sync.
	Incremental bool
	// FirstReceived is when the oldest queued event arrived; zero when empty.
	FirstReceived time.Time
	// Due is when the batch should start: a quiet period after the last
	// event, at most the batch window after the first.
	Due time.Time
	// Seq counts events queued since the receiver started; Ack uses it.
	Seq uint64
}

// Empty says whether nothing is queued.
func (b Batch) Empty() bool { return len(b.Targets) == 0 && !b.Incremental }

// Seen is the last verified event of a data source.
type Seen struct {
	Time time.Time
	Type string
}

// source is one registered data source.
type source struct {
	key    types.NamespacedName
	path   string
	secret []byte

	// remembered maps body hashes to when they were accepted; order holds
	// them oldest first, so forgetting is cheap.
	remembered map[[32]byte]time.Time
	order      []remembered

	targets       map[string]bool
	incremental   bool
	firstReceived time.Time
	lastReceived  time.Time
	seq           uint64
	last          Seen
}

// Receiver serves the per-data-source webhook URLs. Registration comes from
// the controller, which reads the webhook secret; notify tells it a batch
// will be due after the batch window.
type Receiver struct {
	clock        clock.WithDelayedExecution
	notify       func(types.NamespacedName)
	batchWindow  time.Duration
	replayWindow time.Duration
	maxBody      int64

	mu     sync.Mutex
	byPath map[string]*source
	byKey  map[types.NamespacedName]*source
}

// Options configure a Receiver; zero values take the defaults.
type Options struct {
	Clock        clock.WithDelayedExecution
	BatchWindow  time.Duration
	ReplayWindow time.Duration
	MaxBodyBytes int64
	// Notify is called (outside the receiver's lock, from a timer) when a
	// data source's batch may be due (see Batch.Due).
	Notify func(types.NamespacedName)
}

// NewReceiver returns a receiver without registered data sources.
func NewReceiver(o Options) *Receiver {
	r := &Receiver{
		clock: o.Clock, notify: o.Notify, batchWindow: o.BatchWindow, replayWindow: o.ReplayWindow, maxBody: o.MaxBodyBytes,
		byPath: map[string]*source{}, byKey: map[types.NamespacedName]*source{},
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.batchWindow <= 0 {
		r.batchWindow = DefaultBatchWindow
	}
	if r.replayWindow <= 0 {
		r.replayWindow = DefaultReplayWindow
	}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBodyBytes
	}
	return r
}

// due is when a batch with these first and last events is due.
func (r *Receiver) due(first, last time.Time) time.Time {
	if first.IsZero() {
		return time.Time{}
	}
	quiet := last.Add(min(quietPeriod, r.batchWindow))
	if capped := first.Add(r.batchWindow); capped.Before(quiet) {
		return capped
	}
	return quiet
}

// PathFor is the URL path of a data source with a secret, in the manner of
// Flux's Receiver: a hash of the secret, namespace and name, so the URL
// names nothing and cannot be guessed without the secret.
func PathFor(key types.NamespacedName, secret []byte) string {
	h := sha256.New()
	h.Write(secret)
	h.Write([]byte("\x00" + key.Namespace + "\x00" + key.Name))
	return PathPrefix + hex.EncodeToString(h.Sum(nil))
}

// Register serves key's URL with secret and returns its path. Queued
// targets and the replay memory survive a re-registration with another
// secret.
func (r *Receiver) Register(key types.NamespacedName, secret []byte) string {
	path := PathFor(key, secret)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byKey[key]
	if s == nil {
		s = &source{key: key, remembered: map[[32]byte]time.Time{}, targets: map[string]bool{}}
		r.byKey[key] = s
	}
	if s.path != path {
		delete(r.byPath, s.path)
		s.path = path
		r.byPath[path] = s
	}
	s.secret = append([]byte(nil), secret...)
	return path
}

// Unregister stops serving key's URL and drops what was queued for it.
func (r *Receiver) Unregister(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byKey[key]; s != nil {
		delete(r.byPath, s.path)
		delete(r.byKey, key)
		forget(key)
	}
}

// Peek returns what is queued for key.
func (r *Receiver) Peek(key types.NamespacedName) Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byKey[key]
	if s == nil {
		return Batch{}
	}
	b := Batch{Incremental: s.incremental, FirstReceived: s.firstReceived, Due: r.due(s.firstReceived, s.lastReceived), Seq: s.seq}
	for t := range s.targets {
		b.Targets = append(b.Targets, t)
	}
	sort.Strings(b.Targets)
	return b
}

// LastEvent returns the last verified event of key.
func (r *Receiver) LastEvent(key types.NamespacedName) Seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byKey[key]; s != nil {
		return s.last
	}
	return Seen{}
}

// Ack removes a batch handed to a sync Job. Events queued after the Peek
// that returned it stay queued, with a new batch window.
func (r *Receiver) Ack(key types.NamespacedName, b Batch) {
	r.mu.Lock()
	s := r.byKey[key]
	if s == nil {
		r.mu.Unlock()
		return
	}
	for _, t := range b.Targets {
		delete(s.targets, t)
	}
	if s.seq == b.Seq {
		s.incremental = false
		clear(s.targets)
	}
	var rearm bool
	if len(s.targets) == 0 && !s.incremental {
		s.firstReceived, s.lastReceived = time.Time{}, time.Time{}
	} else {
		now := r.clock.Now()
		s.firstReceived, s.lastReceived, rearm = now, now, true
	}
	r.mu.Unlock()
	if rearm {
		r.armTimer(key)
	}
}

// ServeHTTP accepts POST <PathPrefix><hash> with a body signed by the data
// source's secret. Answers: 202 accepted (also for duplicates and events
// that change nothing, so Confluence does not retry them), 401 unsigned or
// forged, 404 unknown URL, 405 not POST, 413 oversized, 400 malformed or
// stale. Nothing but the status is written back.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	key, status, reason := r.handle(req)
	if reason != "" {
		rejected(key, reason)
	}
	w.WriteHeader(status)
}

func (r *Receiver) handle(req *http.Request) (types.NamespacedName, int, string) {
	r.mu.Lock()
	s := r.byPath[req.URL.Path]
	var secret []byte
	var key types.NamespacedName
	if s != nil {
		secret, key = s.secret, s.key
	}
	r.mu.Unlock()
	if s == nil {
		return key, http.StatusNotFound, ReasonUnknown
	}
	if req.Method != http.MethodPost {
		return key, http.StatusMethodNotAllowed, ReasonMethod
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, r.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return key, http.StatusRequestEntityTooLarge, ReasonOversized
	case err != nil:
		return key, http.StatusBadRequest, ReasonReadError
	}
	if status, reason := verify(secret, req.Header.Get(SignatureHeader), body); reason != "" {
		return key, status, reason
	}
	ev, err := Parse(body)
	if err != nil {
		return key, http.StatusBadRequest, ReasonMalformed
	}
	now := r.clock.Now()
	if !ev.Time.IsZero() && (now.Sub(ev.Time) > r.replayWindow || ev.Time.Sub(now) > maxClockSkew) {
		return key, http.StatusBadRequest, ReasonStale
	}
	if fresh := r.enqueue(key, sha256.Sum256(body), ev, now); !fresh {
		return key, http.StatusAccepted, ReasonReplayed
	}
	return key, http.StatusAccepted, ""
}

// verify checks "sha256=<hex>" against the body in constant time.
func verify(secret []byte, header string, body []byte) (int, string) {
	sig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if header == "" || !ok {
		return http.StatusUnauthorized, ReasonUnsigned
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return http.StatusUnauthorized, ReasonForged
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return http.StatusUnauthorized, ReasonForged
	}
	return 0, ""
}

// enqueue remembers a verified body and queues its targets. It returns
// false for a body seen within the replay window.
func (r *Receiver) enqueue(key types.NamespacedName, sum [32]byte, ev Event, now time.Time) bool {
	r.mu.Lock()
	s := r.byKey[key]
	if s == nil { // unregistered meanwhile
		r.mu.Unlock()
		return true
	}
	if at, ok := s.remembered[sum]; ok && now.Sub(at) <= r.replayWindow {
		r.mu.Unlock()
		return false
	}
	r.remember(s, sum, now)
	s.last = Seen{Time: now, Type: ev.Name}
	arm := false
	if !ev.Ignored {
		wasEmpty := len(s.targets) == 0 && !s.incremental
		for _, t := range ev.Targets {
			if len(s.targets) >= maxPendingTargets {
				s.incremental = true // too many to list: one Incremental sync covers them
				break
			}
			s.targets[t] = true
		}
		s.incremental = s.incremental || ev.Incremental
		s.seq++
		if wasEmpty {
			s.firstReceived = now
		}
		s.lastReceived, arm = now, true
	}
	r.mu.Unlock()
	accepted(key, ev)
	if arm {
		r.armTimer(key)
	}
	return true
}

type remembered struct {
	sum [32]byte
	at  time.Time
}

// remember records a body hash, forgetting the expired ones and, when still
// full, the oldest: a flood of valid events costs bounded memory and O(1)
// per event; past the bound, replays of the oldest bodies are only caught
// by their timestamps.
func (r *Receiver) remember(s *source, sum [32]byte, now time.Time) {
	for len(s.order) > 0 && (len(s.order) >= maxRemembered || now.Sub(s.order[0].at) > r.replayWindow) {
		if old := s.order[0]; s.remembered[old.sum].Equal(old.at) {
			delete(s.remembered, old.sum)
		}
		s.order = s.order[1:]
	}
	s.remembered[sum] = now
	s.order = append(s.order, remembered{sum, now})
}

// armTimer notifies the controller once the quiet period after this event
// has passed (or the batch window, if shorter); the controller starts the
// batch if it is due by then, or looks again when it is.
func (r *Receiver) armTimer(key types.NamespacedName) {
	if r.notify == nil {
		return
	}
	r.clock.AfterFunc(min(quietPeriod, r.batchWindow), func() { r.notify(key) })
}
