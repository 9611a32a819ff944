// Package webhook receives Confluence Data Center webhooks for the manager:
// one URL per data source, each request verified against the data source's
// webhook secret (HMAC-SHA256 in X-Hub-Signature), size-capped and
// de-duplicated, and turned into the sync targets it names, queued per data
// source until the controller hands them to one Targeted sync Job.
//
// The payloads carry ids only; the crawler reads the content and its
// permissions from Confluence itself. A forged or replayed event can
// therefore at worst make the operator re-read what Confluence already
// holds, never put content or permissions into the index.
package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Target kinds, as the crawler's --target=<kind>:<id> takes them.
const (
	KindPage       = "page"
	KindBlogPost   = "blogpost"
	KindComment    = "comment"
	KindAttachment = "attachment"
	KindSpace      = "space"
)

// Event is what one verified webhook asks for.
type Event struct {
	// Name is the Confluence event, e.g. page_updated.
	Name string
	// Time is the payload's timestamp; zero when it has none.
	Time time.Time
	// Targets are "<kind>:<id>" the event names.
	Targets []string
	// Incremental asks for an Incremental sync: the event matters for the
	// index but names nothing a targeted sync can take (a group removed, a
	// content event whose ids could not be read).
	Incremental bool
	// Ignored is true for events that change nothing indexed (a user
	// followed, a theme enabled, a page viewed).
	Ignored bool
}

// payload is the Data Center webhook body, as far as it is read. Shapes:
//
//   - page_* : {"timestamp":1768246501113,"event":"page_updated","userKey":"…",
//     "page":{"id":1015809},"updateTrigger":"edit_page"}
//   - blog_* : {"timestamp":…,"event":"blog_updated","userKey":"…","blog":{"id":1015811}}
//
// Source: payloads captured from Confluence Data Center in Pipedream's
// Confluence Data Center component (PipedreamHQ/pipedream,
// components/confluence_data_center/sources/{new-page-created,page-updated,
// new-blogpost-created,blogpost-updated}/test-event.mjs): "timestamp" in
// milliseconds since the epoch, "event", numeric ids. Unverified (no
// captured payload or Atlassian reference found): "comment", "attachment",
// "space" ({"key"}), "content" ({"id","type"}) and "label" objects; they are
// read when present, and a relevant event without a readable id falls back
// to an Incremental sync (fail safe: nothing is skipped).
type payload struct {
	Timestamp  json.Number `json:"timestamp"`
	Event      string      `json:"event"`
	Page       *object     `json:"page"`
	Blog       *object     `json:"blog"`
	Comment    *object     `json:"comment"`
	Attachment *object     `json:"attachment"`
	Content    *object     `json:"content"`
	Space      *object     `json:"space"`
}

// object is a content or space reference: an id (number or string), a
// content type, a space key.
type object struct {
	ID   json.RawMessage `json:"id"`
	Type string          `json:"type"`
	Key  string          `json:"key"`
}

var (
	contentID = regexp.MustCompile(`^[0-9]{1,20}$`)
	// Space keys are letters and digits; personal spaces are "~" and the
	// user name.
	spaceKey  = regexp.MustCompile(`^~?[A-Za-z0-9._@-]{1,255}$`)
	eventName = regexp.MustCompile(`^[a-z_]{1,64}$`)
)

// Events that change nothing the index holds (Managing Webhooks, event list).
var ignoredEvents = map[string]bool{
	"user_followed": true, "theme_enabled": true, "space_logo_updated": true,
	"page_children_reordered": true, "login": true, "login_failed": true, "logout": true,
	"page_viewed": true, "blog_viewed": true, "attachment_viewed": true, "search_performed": true,
	"user_created": true, "group_created": true, "label_created": true, "label_deleted": true,
	"user_reactivated": true,
}

// Events that change who may read what without naming content: an
// Incremental sync re-reads identities and permissions.
var incrementalEvents = map[string]bool{
	"group_removed": true, "user_removed": true, "user_deactivated": true,
}

// Parse reads a verified body. It fails on bodies that are not a JSON
// object with an event name, or whose ids do not look like Confluence ids.
func Parse(body []byte) (Event, error) {
	var p payload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return Event{}, fmt.Errorf("not a webhook payload: %w", err)
	}
	if !eventName.MatchString(p.Event) {
		return Event{}, fmt.Errorf("no valid event name")
	}
	ev := Event{Name: p.Event}
	if p.Timestamp != "" {
		ms, err := p.Timestamp.Int64()
		if err != nil || ms <= 0 {
			return Event{}, fmt.Errorf("invalid timestamp %q", p.Timestamp)
		}
		ev.Time = time.UnixMilli(ms)
	}
	switch {
	case ignoredEvents[p.Event]:
		ev.Ignored = true
		return ev, nil
	case incrementalEvents[p.Event]:
		ev.Incremental = true
		return ev, nil
	}
	targets, err := p.targets()
	if err != nil {
		return Event{}, err
	}
	ev.Targets = targets
	if !relevant(p.Event) {
		ev.Ignored, ev.Targets = true, nil
		return ev, nil
	}
	if len(ev.Targets) == 0 {
		ev.Incremental = true
	}
	return ev, nil
}

// relevant says whether an event can change indexed content or permissions.
func relevant(name string) bool {
	for _, prefix := range []string{"page_", "blog_", "comment_", "attachment_", "content_", "label_", "space_", "blueprint_page_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// targets lists what the payload names. A space is a target only for space
// events: a page event names its page, not a re-check of its whole space.
func (p *payload) targets() ([]string, error) {
	var out []string
	add := func(kind string, o *object) error {
		if o == nil || len(o.ID) == 0 {
			return nil
		}
		id := strings.Trim(string(o.ID), `"`)
		if !contentID.MatchString(id) {
			return fmt.Errorf("invalid %s id %s", kind, o.ID)
		}
		out = append(out, kind+":"+id)
		return nil
	}
	for _, c := range []struct {
		kind string
		o    *object
	}{{KindPage, p.Page}, {KindBlogPost, p.Blog}, {KindComment, p.Comment}, {KindAttachment, p.Attachment}} {
		if err := add(c.kind, c.o); err != nil {
			return nil, err
		}
	}
	if p.Content != nil {
		if kind := contentKind(p.Content.Type); kind != "" {
			if err := add(kind, p.Content); err != nil {
				return nil, err
			}
		}
	}
	if p.Space != nil && strings.HasPrefix(p.Event, "space_") && p.Space.Key != "" {
		if !spaceKey.MatchString(p.Space.Key) {
			return nil, fmt.Errorf("invalid space key %q", p.Space.Key)
		}
		out = append(out, KindSpace+":"+p.Space.Key)
	}
	return out, nil
}

// contentKind maps a REST content type to a target kind.
func contentKind(t string) string {
	switch t {
	case "page":
		return KindPage
	case "blogpost":
		return KindBlogPost
	case "comment":
		return KindComment
	case "attachment":
		return KindAttachment
	}
	return ""
}
