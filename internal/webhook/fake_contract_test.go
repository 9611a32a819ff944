package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/confluence-operator/confluence-operator/internal/webhook"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// The fake Data Center's webhooks, as it sends them, become the targets
// they name; the permission events without a known payload fall back to an
// Incremental sync.
func TestReceiver_FakeDataCenterEvents(t *testing.T) {
	key := types.NamespacedName{Namespace: "team", Name: "fake-contract"}
	r := webhook.NewReceiver(webhook.Options{})
	path := r.Register(key, []byte("shared"))
	defer r.Unregister(key)
	srv := httptest.NewServer(r)
	defer srv.Close()

	fake := fakeconfluence.New(fakeconfluence.Options{Deployment: fakeconfluence.DataCenter})
	fake.AddSpace(fakeconfluence.Space{Key: "ENG", Name: "Eng"})
	page := fake.AddContent(fakeconfluence.Content{SpaceKey: "ENG", Title: "p"})
	blog := fake.AddContent(fakeconfluence.Content{SpaceKey: "ENG", Type: "blogpost", Title: "b"})
	fake.RegisterWebhook(srv.URL+path, []byte("shared"))
	fake.EditContent(page.ID, "", func(c *fakeconfluence.Content) { c.Title = "p2" })
	fake.TrashContent(blog.ID)
	att := fake.AddAttachment(fakeconfluence.Attachment{ContainerID: page.ID, FileName: "a.txt", Data: []byte("x")})
	fake.Close()

	for _, d := range fake.Deliveries() {
		if d.Err != nil || d.Status != http.StatusAccepted {
			t.Fatalf("delivery %+v", d)
		}
	}
	b := r.Peek(key)
	want := []string{"attachment:" + att.ID, "blogpost:" + blog.ID, "page:" + page.ID}
	if !reflect.DeepEqual(b.Targets, want) || b.Incremental {
		t.Fatalf("queued %+v, want %v", b, want)
	}

	fake2 := fakeconfluence.New(fakeconfluence.Options{Deployment: fakeconfluence.DataCenter})
	fake2.AddSpace(fakeconfluence.Space{Key: "ENG", Name: "Eng"})
	p2 := fake2.AddContent(fakeconfluence.Content{SpaceKey: "ENG", Title: "p"})
	fake2.RegisterWebhook(srv.URL+path, []byte("shared"))
	fake2.SetRestriction(p2.ID, []string{"someone"}, nil)
	fake2.Close()
	if b := r.Peek(key); !b.Incremental {
		t.Fatalf("a restriction change queued %+v, want an Incremental sync", b)
	}
}
