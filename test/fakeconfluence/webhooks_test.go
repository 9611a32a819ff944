package fakeconfluence

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestWebhooks_SignedCapturedShapesInOrder(t *testing.T) {
	type got struct {
		sig  string
		body map[string]any
	}
	var mu sync.Mutex
	var received []got
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		if r.Header.Get("X-Hub-Signature") != Sign([]byte("k"), b) {
			t.Errorf("signature %q does not sign the body", r.Header.Get("X-Hub-Signature"))
		}
		mu.Lock()
		received = append(received, got{r.Header.Get("X-Hub-Signature"), m})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New(Options{Deployment: DataCenter, Now: func() time.Time { return at }})
	s.AddSpace(Space{Key: "ENG", Name: "Eng"})
	page := s.AddContent(Content{SpaceKey: "ENG", Title: "before webhooks"})
	s.RegisterWebhook(sink.URL, []byte("k"), "page_updated", "page_trashed", "blog_created")
	s.EditContent(page.ID, "", func(c *Content) { c.Title = "edited" })
	s.AddContent(Content{SpaceKey: "ENG", Type: "page", Title: "not subscribed"})
	blog := s.AddContent(Content{SpaceKey: "ENG", Type: "blogpost", Title: "b"})
	s.TrashContent(page.ID)
	s.Close()

	if len(received) != 3 {
		t.Fatalf("received %d events, want 3: %+v", len(received), received)
	}
	want := []struct{ event, field, id string }{{"page_updated", "page", page.ID}, {"blog_created", "blog", blog.ID}, {"page_trashed", "page", page.ID}}
	for i, w := range want {
		m := received[i].body
		if m["event"] != w.event || m["timestamp"] != float64(at.UnixMilli()) {
			t.Errorf("event %d: %v, want %s at %d", i, m, w.event, at.UnixMilli())
		}
		obj, _ := m[w.field].(map[string]any)
		if id, _ := obj["id"].(float64); id == 0 || jsonID(id) != w.id {
			t.Errorf("event %d: %s = %v, want numeric id %s", i, w.field, m[w.field], w.id)
		}
	}
	for _, d := range s.Deliveries() {
		if d.Status != http.StatusAccepted || d.Err != nil {
			t.Errorf("delivery %+v", d)
		}
	}
}

func jsonID(f float64) string {
	b, _ := json.Marshal(int64(f))
	return string(b)
}
