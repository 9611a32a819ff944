package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	now    = time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC)
	secret = []byte("s3cret-of-the-webhook")
)

func sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// pageUpdated is the captured Data Center page_updated shape (see payload).
func pageUpdated(id int, at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"timestamp":%d,"event":"page_updated","userKey":"ff8081819ba46873019ba46aefbb0000","page":{"id":%d},"updateTrigger":"edit_page"}`, at.UnixMilli(), id))
}

type fixture struct {
	t     *testing.T
	r     *Receiver
	clock *clocktesting.FakeClock
	key   types.NamespacedName
	path  string

	mu       sync.Mutex
	notified []types.NamespacedName
}

func newFixture(t *testing.T, name string) *fixture {
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(now), key: types.NamespacedName{Namespace: "team", Name: name}}
	f.r = NewReceiver(Options{Clock: f.clock, Notify: func(k types.NamespacedName) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.notified = append(f.notified, k)
	}})
	f.path = f.r.Register(f.key, secret)
	t.Cleanup(func() { f.r.Unregister(f.key) })
	return f
}

func (f *fixture) post(method, path, signature string, body []byte) int {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if signature != "" {
		req.Header.Set(SignatureHeader, signature)
	}
	rec := httptest.NewRecorder()
	f.r.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 {
		f.t.Fatalf("response body %q: the receiver answers with a status only", rec.Body.String())
	}
	return rec.Code
}

func TestReceiver_RejectsAndCountsEveryBadRequest(t *testing.T) {
	body := pageUpdated(1015809, now)
	cases := map[string]struct {
		method, path, sig string
		body              []byte
		status            int
		reason            string
	}{
		"unsigned":          {http.MethodPost, "", "", body, http.StatusUnauthorized, ReasonUnsigned},
		"forged signature":  {http.MethodPost, "", "sha256=" + strings.Repeat("ab", 32), body, http.StatusUnauthorized, ReasonForged},
		"wrong key":         {http.MethodPost, "", sign([]byte("another-secret"), body), body, http.StatusUnauthorized, ReasonForged},
		"signed other body": {http.MethodPost, "", sign(secret, pageUpdated(1, now)), body, http.StatusUnauthorized, ReasonForged},
		"not hex":           {http.MethodPost, "", "sha256=zz", body, http.StatusUnauthorized, ReasonForged},
		"sha1 scheme":       {http.MethodPost, "", "sha1=" + strings.Repeat("ab", 20), body, http.StatusUnauthorized, ReasonUnsigned},
		"oversized":         {http.MethodPost, "", "", bytes.Repeat([]byte(" "), DefaultMaxBodyBytes+1), http.StatusRequestEntityTooLarge, ReasonOversized},
		"GET":               {http.MethodGet, "", sign(secret, body), body, http.StatusMethodNotAllowed, ReasonMethod},
		"stale timestamp":   {http.MethodPost, "", "", pageUpdated(7, now.Add(-DefaultReplayWindow-time.Second)), http.StatusBadRequest, ReasonStale},
		"future timestamp":  {http.MethodPost, "", "", pageUpdated(7, now.Add(maxClockSkew+time.Second)), http.StatusBadRequest, ReasonStale},
		"malformed":         {http.MethodPost, "", "", []byte(`{"event":"page_updated","page":{"id":"1; rm -rf"}}`), http.StatusBadRequest, ReasonMalformed},
		"not json":          {http.MethodPost, "", "", []byte(`<xml/>`), http.StatusBadRequest, ReasonMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "wiki-"+strings.ReplaceAll(name, " ", "-"))
			path := f.path
			if c.path != "" {
				path = c.path
			}
			sig := c.sig
			if sig == "" && c.reason != ReasonUnsigned && c.reason != ReasonOversized {
				sig = sign(secret, c.body)
			}
			if got := f.post(c.method, path, sig, c.body); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if n := Count(f.key, "rejected", c.reason); n != 1 {
				t.Fatalf("rejected/%s counted %v times, want 1", c.reason, n)
			}
			if b := f.r.Peek(f.key); !b.Empty() {
				t.Fatalf("a rejected request queued %+v", b)
			}
			if got := f.r.LastEvent(f.key); !got.Time.IsZero() {
				t.Fatalf("a rejected request shows as the last event: %+v", got)
			}
		})
	}
}

func TestReceiver_UnknownURL_RejectedAndCountedWithoutADataSource(t *testing.T) {
	f := newFixture(t, "wiki-unknown")
	body := pageUpdated(1, now)
	before := Count(types.NamespacedName{}, "rejected", ReasonUnknown)
	// The right secret on a path another secret would give: the path alone
	// must not be forgeable from the namespace and name.
	path := PathFor(f.key, []byte("guessed"))
	if got := f.post(http.MethodPost, path, sign(secret, body), body); got != http.StatusNotFound {
		t.Fatalf("status %d, want 404", got)
	}
	if got := Count(types.NamespacedName{}, "rejected", ReasonUnknown) - before; got != 1 {
		t.Fatalf("unknown counted %v, want 1", got)
	}
}

func TestReceiver_Replay_AcceptedOnceThenRejected(t *testing.T) {
	f := newFixture(t, "wiki-replay")
	body := pageUpdated(1015809, now)
	for i, want := range []int{http.StatusAccepted, http.StatusAccepted} {
		if got := f.post(http.MethodPost, f.path, sign(secret, body), body); got != want {
			t.Fatalf("delivery %d: status %d, want %d", i, got, want)
		}
	}
	if n := Count(f.key, "accepted", "page_updated"); n != 1 {
		t.Fatalf("accepted %v times, want 1", n)
	}
	if n := Count(f.key, "rejected", ReasonReplayed); n != 1 {
		t.Fatalf("replayed counted %v, want 1", n)
	}
	if b := f.r.Peek(f.key); b.Seq != 1 {
		t.Fatalf("the replay was queued: %+v", b)
	}
	// After the window the same body is too old by its own timestamp.
	f.clock.Step(DefaultReplayWindow + time.Second)
	if got := f.post(http.MethodPost, f.path, sign(secret, body), body); got != http.StatusBadRequest {
		t.Fatalf("late replay: status %d, want 400", got)
	}
	if n := Count(f.key, "rejected", ReasonStale); n != 1 {
		t.Fatalf("stale counted %v, want 1", n)
	}
}

func TestReceiver_BurstQueuesDistinctTargetsAndNotifiesOnceAfterTheWindow(t *testing.T) {
	f := newFixture(t, "wiki-burst")
	bodies := [][]byte{
		pageUpdated(11, now), pageUpdated(12, now.Add(time.Millisecond)), pageUpdated(11, now.Add(2*time.Millisecond)),
		[]byte(fmt.Sprintf(`{"timestamp":%d,"event":"blog_created","userKey":"u","blog":{"id":1015813}}`, now.UnixMilli())),
		[]byte(fmt.Sprintf(`{"timestamp":%d,"event":"page_removed","userKey":"u","page":{"id":"13"}}`, now.UnixMilli())),
		[]byte(fmt.Sprintf(`{"timestamp":%d,"event":"user_followed","userKey":"u"}`, now.UnixMilli())),
	}
	for i, b := range bodies {
		if got := f.post(http.MethodPost, f.path, sign(secret, b), b); got != http.StatusAccepted {
			t.Fatalf("event %d: status %d", i, got)
		}
	}
	b := f.r.Peek(f.key)
	if want := []string{"blogpost:1015813", "page:11", "page:12", "page:13"}; !reflect.DeepEqual(b.Targets, want) || b.Incremental {
		t.Fatalf("queued %+v, want targets %v", b, want)
	}
	if !b.FirstReceived.Equal(now) {
		t.Fatalf("first received %v, want %v", b.FirstReceived, now)
	}
	if last := f.r.LastEvent(f.key); last.Type != "user_followed" {
		t.Fatalf("last event %+v", last)
	}
	// All arrived at once: due a quiet period later, not the whole window.
	if want := now.Add(quietPeriod); !b.Due.Equal(want) {
		t.Fatalf("due %v, want %v (a quiet period after the last event)", b.Due, want)
	}
	f.clock.Step(quietPeriod - time.Millisecond)
	if f.notifiedCount() != 0 {
		t.Fatal("notified before the quiet period")
	}
	f.clock.Step(time.Millisecond)
	if n := f.notifiedCount(); n == 0 {
		t.Fatal("not notified after the quiet period")
	}
	for _, k := range f.notifiedKeys() {
		if k != f.key {
			t.Fatalf("notified %v", k)
		}
	}

	// An event between Peek and Ack stays queued.
	late := pageUpdated(14, now)
	f.post(http.MethodPost, f.path, sign(secret, late), late)
	f.r.Ack(f.key, b)
	if got := f.r.Peek(f.key); !reflect.DeepEqual(got.Targets, []string{"page:14"}) {
		t.Fatalf("after the ack: %+v, want page:14 still queued", got)
	}
}

func (f *fixture) notifiedCount() int { return len(f.notifiedKeys()) }

func (f *fixture) notifiedKeys() []types.NamespacedName {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]types.NamespacedName(nil), f.notified...)
}

// A steady trickle of events is cut at the batch window after the first.
func TestReceiver_TrickleIsDueAtTheWindow(t *testing.T) {
	f := newFixture(t, "wiki-trickle")
	first := f.clock.Now()
	for i := range 5 {
		b := pageUpdated(i+1, f.clock.Now())
		f.post(http.MethodPost, f.path, sign(secret, b), b)
		f.clock.Step(800 * time.Millisecond)
	}
	if b := f.r.Peek(f.key); !b.Due.Equal(first.Add(DefaultBatchWindow)) {
		t.Fatalf("due %v, want the window after the first event, %v", b.Due, first.Add(DefaultBatchWindow))
	}
}

func TestReceiver_TooManyTargetsBecomeIncremental(t *testing.T) {
	f := newFixture(t, "wiki-many")
	for i := range maxPendingTargets + 1 {
		b := pageUpdated(100000+i, now)
		f.post(http.MethodPost, f.path, sign(secret, b), b)
	}
	if b := f.r.Peek(f.key); !b.Incremental || len(b.Targets) != maxPendingTargets {
		t.Fatalf("queued %d targets, incremental %v; want %d and incremental", len(b.Targets), b.Incremental, maxPendingTargets)
	}
}

func TestReceiver_ReRegisterWithANewSecret_OldURLAndKeyRefused(t *testing.T) {
	f := newFixture(t, "wiki-rotate")
	oldPath := f.path
	newSecret := []byte("rotated")
	newPath := f.r.Register(f.key, newSecret)
	if newPath == oldPath {
		t.Fatal("the URL did not change with the secret")
	}
	b := pageUpdated(5, now)
	if got := f.post(http.MethodPost, oldPath, sign(newSecret, b), b); got != http.StatusNotFound {
		t.Fatalf("old URL: %d, want 404", got)
	}
	if got := f.post(http.MethodPost, newPath, sign(secret, b), b); got != http.StatusUnauthorized {
		t.Fatalf("old secret: %d, want 401", got)
	}
	if got := f.post(http.MethodPost, newPath, sign(newSecret, b), b); got != http.StatusAccepted {
		t.Fatalf("new URL and secret: %d, want 202", got)
	}
}

func TestParse(t *testing.T) {
	cases := map[string]struct {
		body string
		want Event
	}{
		"page_created (captured)":  {`{"timestamp":1768241233603,"event":"page_created","userKey":"ff80","page":{"id":1015810}}`, Event{Name: "page_created", Time: time.UnixMilli(1768241233603), Targets: []string{"page:1015810"}}},
		"blog_updated (captured)":  {`{"timestamp":1768245930653,"event":"blog_updated","userKey":"ff80","blog":{"id":1015811}}`, Event{Name: "blog_updated", Time: time.UnixMilli(1768245930653), Targets: []string{"blogpost:1015811"}}},
		"comment with its page":    {`{"timestamp":1,"event":"comment_created","comment":{"id":77},"page":{"id":5}}`, Event{Name: "comment_created", Time: time.UnixMilli(1), Targets: []string{"page:5", "comment:77"}}},
		"attachment":               {`{"timestamp":1,"event":"attachment_trashed","attachment":{"id":"88"}}`, Event{Name: "attachment_trashed", Time: time.UnixMilli(1), Targets: []string{"attachment:88"}}},
		"space permissions":        {`{"timestamp":1,"event":"space_permissions_updated","space":{"key":"ENG"}}`, Event{Name: "space_permissions_updated", Time: time.UnixMilli(1), Targets: []string{"space:ENG"}}},
		"restrictions, no id read": {`{"timestamp":1,"event":"content_permissions_updated"}`, Event{Name: "content_permissions_updated", Time: time.UnixMilli(1), Incremental: true}},
		"group removed":            {`{"timestamp":1,"event":"group_removed","group":{"name":"x"}}`, Event{Name: "group_removed", Time: time.UnixMilli(1), Incremental: true}},
		"viewed":                   {`{"timestamp":1,"event":"page_viewed","page":{"id":5}}`, Event{Name: "page_viewed", Time: time.UnixMilli(1), Ignored: true}},
		"unknown event":            {`{"timestamp":1,"event":"status_created"}`, Event{Name: "status_created", Time: time.UnixMilli(1), Ignored: true}},
		"page event, space object": {`{"timestamp":1,"event":"page_moved","page":{"id":5},"space":{"key":"ENG"}}`, Event{Name: "page_moved", Time: time.UnixMilli(1), Targets: []string{"page:5"}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Parse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
	for _, bad := range []string{`{}`, `{"event":"Page Updated"}`, `{"event":"page_updated","page":{"id":-1}}`, `{"event":"space_updated","space":{"key":"a b"}}`, `{"event":"page_updated","timestamp":"x"}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
}

// BenchmarkReceiver_SignedEvent is one verified page_updated: read, HMAC,
// parse, replay check, queue.
func BenchmarkReceiver_SignedEvent(b *testing.B) {
	r := NewReceiver(Options{})
	key := types.NamespacedName{Namespace: "bench", Name: "wiki"}
	path := r.Register(key, secret)
	defer r.Unregister(key)
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	at := time.Now()
	for i := range bodies {
		bodies[i] = pageUpdated(i%5000+1, at.Add(time.Duration(i)*time.Microsecond))
		sigs[i] = sign(secret, bodies[i])
	}
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(bodies[i]))
		req.Header.Set(SignatureHeader, sigs[i])
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func TestReceiver_ReplayMemoryIsBounded(t *testing.T) {
	f := newFixture(t, "wiki-flood")
	for i := range maxRemembered + 100 {
		b := pageUpdated(i+1, now.Add(time.Duration(i)*time.Millisecond))
		if got := f.post(http.MethodPost, f.path, sign(secret, b), b); got != http.StatusAccepted {
			t.Fatalf("event %d: %d", i, got)
		}
	}
	s := f.r.byKey[f.key]
	if len(s.remembered) != maxRemembered || len(s.order) != maxRemembered {
		t.Fatalf("remembering %d bodies (%d in order), want the bound %d", len(s.remembered), len(s.order), maxRemembered)
	}
	// Expired entries go as time passes.
	f.clock.Step(DefaultReplayWindow + time.Minute)
	b := pageUpdated(1, f.clock.Now())
	f.post(http.MethodPost, f.path, sign(secret, b), b)
	if len(s.remembered) != 1 {
		t.Fatalf("remembering %d bodies after the window, want 1", len(s.remembered))
	}
}
