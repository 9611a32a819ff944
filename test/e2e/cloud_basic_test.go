package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/e2e/cluster"
)

// TestCloudBasic walks one Cloud + Basic data source through its life: first
// sync, ACL-exact search for every user, rejected credentials, a fixed
// Secret, a space filter, a restriction change, the crawler's RBAC, and
// deletion with deletionPolicy Delete.
func TestCloudBasic(t *testing.T) {
	t.Parallel()
	s := newSource(t, "Cloud", "Basic")
	s.apply(t)

	ds := s.waitReady(t)
	if ds.Status.DocumentCount == 0 || ds.Status.LastSync == nil || ds.Status.LastSync.Result != v1.SyncSucceeded {
		t.Fatalf("first sync: documentCount %d, lastSync %+v", ds.Status.DocumentCount, ds.Status.LastSync)
	}
	t.Logf("first sync: %d documents, %s", ds.Status.DocumentCount, cluster.Condition(ds, v1.ConditionReady).Message)
	t.Log(s.kubectl(t, "get", "cds"))

	t.Run("search returns exactly what Confluence shows each user", func(t *testing.T) {
		s.checkACLs(t)
	})

	crawler := s.Data.Crawler.Email
	indexed := s.hitKeys(t, crawler)
	if len(indexed) == 0 {
		t.Fatal("the crawler's search finds nothing")
	}

	t.Run("wrong password makes Ready False and keeps the documents", func(t *testing.T) {
		wrong := map[string]string{"username": crawler, "password": "wrong-token"}
		if _, err := c.Apply(context.Background(), cluster.SecretYAML(s.Namespace, s.SecretName(), wrong)); err != nil {
			t.Fatal(err)
		}
		ds := s.requestSync(t)
		ready := cluster.Condition(ds, v1.ConditionReady)
		if ready.Status != "False" || (ready.Reason != v1.ReasonCredentialsRejected && ready.Reason != v1.ReasonSyncFailed) {
			t.Fatalf("Ready = %+v, want False with CredentialsRejected or SyncFailed", ready)
		}
		if msg := strings.ToLower(ready.Message); !strings.Contains(msg, "401") && !strings.Contains(msg, "credential") &&
			!strings.Contains(msg, "unauthorized") && !strings.Contains(msg, "authentic") {
			t.Errorf("Ready message does not name the problem: %q", ready.Message)
		}
		t.Logf("Ready=False %s: %s", ready.Reason, ready.Message)
		if got := s.hitKeys(t, crawler); len(got) != len(indexed) {
			t.Errorf("after the failed sync the crawler finds %d documents, before %d", len(got), len(indexed))
		}
	})

	// Syncs start at most once a minute (Job names carry the minute), so the
	// fixed Secret, a space filter and a restriction change share one sync.
	excluded := s.Data.Spaces[1].Key
	alice := s.Data.Users[1]
	var restricted string // a page everyone may read, now restricted to the crawler
	for _, k := range s.expectedKeys("") {
		if strings.HasPrefix(k, "page:") {
			restricted = strings.TrimPrefix(k, "page:")
			break
		}
	}
	if restricted == "" {
		t.Fatal("the data set has no page anonymous users may read")
	}
	t.Run("fixed Secret, space filter and restriction change show in the next sync", func(t *testing.T) {
		if _, err := c.Apply(context.Background(), cluster.SecretYAML(s.Namespace, s.SecretName(), s.Credentials)); err != nil {
			t.Fatal(err)
		}
		s.kubectl(t, "patch", "cds/"+s.Name, "--type=merge", "-p", `{"spec":{"filters":{"spaces":{"exclude":["^`+excluded+`$"]}}}}`)
		s.Confluence.SetRestriction(restricted, []string{s.Data.Crawler.ID}, nil)
		if s.Confluence.CanView(alice.ID, restricted) {
			t.Fatalf("%s can still view page %s", alice.Email, restricted)
		}

		ds := s.requestSync(t)
		if ready := cluster.Condition(ds, v1.ConditionReady); ready.Status != "True" {
			t.Fatalf("Ready = %+v after fixing the Secret", ready)
		}
		for _, k := range s.hitKeys(t, crawler) {
			id := strings.SplitN(k, ":", 2)[1]
			if c, _ := s.Confluence.Content(id); c.SpaceKey == excluded {
				t.Errorf("%s of excluded space %s is still found", k, excluded)
			}
		}
		for _, k := range s.hitKeys(t, alice.Email) {
			if k == "page:"+restricted {
				t.Errorf("%s still finds restricted page %s", alice.Email, restricted)
			}
		}
		s.checkACLs(t, excluded)
	})

	t.Run("the crawler may read only its own Secrets", func(t *testing.T) {
		ctx := context.Background()
		other := cluster.SecretYAML(s.Namespace, "other", map[string]string{"k": "v"})
		if _, err := c.Apply(ctx, other); err != nil {
			t.Fatal(err)
		}
		sa := s.Name + "-crawler"
		token, err := c.Token(ctx, s.Namespace, sa, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		kubeconfig, err := c.ServiceAccountKubeconfig(s.Namespace, token)
		if err != nil {
			t.Fatal(err)
		}
		canI := func(verb, resource string) string {
			out, _ := c.KubectlAs(ctx, kubeconfig, "auth", "can-i", verb, resource, "-n", s.Namespace)
			return strings.TrimSpace(out)
		}
		for _, tc := range []struct{ verb, resource, want string }{
			{"get", "secret/" + s.SecretName(), "yes"},
			{"get", "secret/other", "no"},
			{"list", "secrets", "no"},
			{"get", "confluencedatasources.sources.confluence-operator.dev/" + s.Name, "yes"},
			{"delete", "confluencedatasources.sources.confluence-operator.dev/" + s.Name, "no"},
			{"create", "jobs.batch", "no"},
		} {
			if got := canI(tc.verb, tc.resource); got != tc.want {
				t.Errorf("as %s: kubectl auth can-i %s %s = %q, want %q", sa, tc.verb, tc.resource, got, tc.want)
			}
		}
		// The same answer through impersonation, as an admin would check.
		out, _ := c.Kubectl(ctx, "auth", "can-i", "get", "secret/other", "-n", s.Namespace,
			"--as=system:serviceaccount:"+s.Namespace+":"+sa)
		if strings.TrimSpace(out) != "no" {
			t.Errorf("kubectl auth can-i get secret/other --as=%s = %q", sa, out)
		}
	})

	t.Run("deleting with deletionPolicy Delete removes the documents", func(t *testing.T) {
		s.kubectl(t, "delete", "cds/"+s.Name, "--timeout=90s")
		if got := s.hitKeys(t, crawler); len(got) != 0 {
			t.Errorf("after deletion the crawler still finds %d documents", len(got))
		}
	})
}

// TestRetain deletes a data source with deletionPolicy Retain: the documents stay.
func TestRetain(t *testing.T) {
	t.Parallel()
	s := newSource(t, "Cloud", "Basic")
	s.DeletionPolicy = "Retain"
	s.apply(t)
	s.waitReady(t)
	crawler := s.Data.Crawler.Email
	before := s.hitKeys(t, crawler)
	if len(before) == 0 {
		t.Fatal("nothing indexed")
	}
	s.kubectl(t, "delete", "cds/"+s.Name, "--timeout=60s")
	if after := s.hitKeys(t, crawler); len(after) != len(before) {
		t.Errorf("after deletion with Retain the crawler finds %d documents, before %d", len(after), len(before))
	}
}
