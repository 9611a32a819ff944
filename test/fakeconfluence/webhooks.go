package fakeconfluence

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Data Center webhooks, as an admin configures them (Administration >
// General Configuration > Webhooks, or POST /rest/api/webhooks with name,
// events, configuration.secret, url, active). Sources:
//   - Atlassian, "Managing Webhooks" (Confluence Data Center 7.13-9.x):
//     events are POSTed as JSON to the URL; with a secret, each request is
//     signed with HMAC (default HmacSHA256) of the body, in the header
//     X-Hub-Signature; secrets are up to 255 characters.
//   - Atlassian developer docs, "Webhooks in Confluence" (7.7 or later):
//     the REST registration shape above.
//   - The "sha256=" prefix of X-Hub-Signature: not on Atlassian's page;
//     third-party receivers (simstudioai/sim, Confluence triggers) expect
//     "sha256=<hex>", the GitHub convention the header name comes from.
//     unverified.
//   - Payload shapes: see the payload comments on each emitter below.
//
// Delivery is best effort: one attempt, in order per webhook, with a 10 s
// deadline. Whether Data Center retries a failed delivery is not
// documented (unverified), so the fake does not.

// Webhook is one registered webhook.
type Webhook struct {
	URL    string
	Secret []byte
	// Events the webhook is subscribed to; empty means all the fake emits.
	Events []string

	queue chan delivery
	done  chan struct{}
}

type delivery struct {
	event string
	body  []byte
}

// Delivery is the outcome of one webhook request.
type Delivery struct {
	Event  string
	Status int
	Err    error
	At     time.Time
}

type webhookState struct {
	mu         sync.Mutex
	hooks      []*Webhook
	deliveries []Delivery
	wg         sync.WaitGroup
}

// RegisterWebhook registers a webhook and starts delivering to it.
func (s *Server) RegisterWebhook(url string, secret []byte, events ...string) *Webhook {
	h := &Webhook{URL: url, Secret: secret, Events: events, queue: make(chan delivery, 4096), done: make(chan struct{})}
	s.wh.mu.Lock()
	s.wh.hooks = append(s.wh.hooks, h)
	s.wh.mu.Unlock()
	s.wh.wg.Add(1)
	go s.deliver(h)
	return h
}

// Deliveries returns the outcomes of the requests sent so far.
func (s *Server) Deliveries() []Delivery {
	s.wh.mu.Lock()
	defer s.wh.mu.Unlock()
	return append([]Delivery(nil), s.wh.deliveries...)
}

// stopWebhooks ends the delivery goroutines (Close).
func (s *Server) stopWebhooks() {
	s.wh.mu.Lock()
	hooks := s.wh.hooks
	s.wh.hooks = nil
	s.wh.mu.Unlock()
	for _, h := range hooks {
		close(h.queue)
	}
	s.wh.wg.Wait()
}

func (s *Server) deliver(h *Webhook) {
	defer s.wh.wg.Done()
	client := &http.Client{Timeout: 10 * time.Second}
	for d := range h.queue {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, h.URL, bytes.NewReader(d.body))
		rec := Delivery{Event: d.event, At: s.now()}
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			if len(h.Secret) > 0 {
				req.Header.Set("X-Hub-Signature", Sign(h.Secret, d.body))
			}
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				rec.Status = resp.StatusCode
				_ = resp.Body.Close()
			}
		}
		rec.Err = err
		s.wh.mu.Lock()
		s.wh.deliveries = append(s.wh.deliveries, rec)
		s.wh.mu.Unlock()
	}
}

// Sign is the X-Hub-Signature value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// emit queues an event for every webhook subscribed to it. fields are
// merged into the common envelope {"timestamp", "event", "userKey"}.
func (s *Server) emit(event, userKey string, fields map[string]any) {
	s.wh.mu.Lock()
	defer s.wh.mu.Unlock()
	if len(s.wh.hooks) == 0 {
		return
	}
	// Envelope: "timestamp" (epoch milliseconds), "event", "userKey", as in
	// the payloads captured from Data Center in PipedreamHQ/pipedream
	// components/confluence_data_center/sources/*/test-event.mjs.
	payload := map[string]any{"timestamp": s.now().UnixMilli(), "event": event, "userKey": userKey}
	for k, v := range fields {
		payload[k] = v
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	for _, h := range s.wh.hooks {
		if subscribed(h.Events, event) {
			h.queue <- delivery{event: event, body: body}
		}
	}
}

func subscribed(events []string, event string) bool {
	if len(events) == 0 {
		return true
	}
	for _, e := range events {
		if e == event {
			return true
		}
	}
	return false
}

// idObject is {"id": <number>}: ids are JSON numbers in the captured
// page_* and blog_* payloads.
func idObject(id string) map[string]any {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return map[string]any{"id": n}
	}
	return map[string]any{"id": id}
}

// emitContent sends <prefix>_<action> for a page ("page", {"page":{"id"}})
// or blog post ("blog", {"blog":{"id"}}), the captured shapes of
// page_created, page_updated, blog_created and blog_updated (Pipedream
// test-event.mjs). page_updated also carries "updateTrigger" ("edit_page"
// captured). The same shape for _trashed, _restored, _removed and _moved
// is assumed from those: unverified.
func (s *Server) emitContent(c Content, action string) {
	prefix, field := "page", "page"
	if c.Type == "blogpost" {
		prefix, field = "blog", "blog"
	}
	fields := map[string]any{field: idObject(c.ID)}
	if c.Type == "page" && action == "updated" {
		fields["updateTrigger"] = "edit_page"
	}
	s.emit(prefix+"_"+action, c.Editor, fields)
}
