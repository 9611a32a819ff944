// Package e2e tests the whole product against real processes: kube-apiserver
// and etcd, kube-controller-manager's Job controller, the manager running as
// its own ServiceAccount with config/rbac, crawler Jobs run by the node agent
// as host processes with their ServiceAccount's token, a fake Confluence and
// OpenSearch (the double, or OPENSEARCH_URL). Users drive it with kubectl and
// the search CLI, as they would a real cluster.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/e2e/cluster"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// syncTimeout bounds one sync, from request to Ready.
const syncTimeout = 90 * time.Second

var c *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	c, err = cluster.Start(ctx, cluster.Options{Logf: func(format string, args ...any) {
		if !strings.HasPrefix(format, "nodeagent:") || testing.Verbose() {
			fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		}
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the cluster:", err)
		if c != nil {
			c.Stop()
		}
		return 1
	}
	defer c.Stop()
	return m.Run()
}

// source is a data source under test with its own namespace, fake
// Confluence and manifest files.
type source struct {
	cluster.Source
	Data fakeconfluence.Dataset
	// File holds the ConfluenceDataSource alone, for the search CLI.
	File string
}

var namespaces atomic.Int32

// newSource starts a fake Confluence with the default data set and describes
// a data source reading it in a namespace of its own. On failure the test
// log gets the state of that namespace and the logs of the manager and the
// crawler Pods.
func newSource(t *testing.T, deployment fakeconfluence.Deployment, auth string) *source {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("e2e-%d-%s", namespaces.Add(1), strings.ToLower(strings.SplitN(t.Name(), "/", 2)[0][4:]))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	ns = strings.TrimRight(ns, "-")
	if err := c.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			c.Dump(ctx, &b, ns)
			t.Log(b.String())
		}
	})
	fake := c.StartConfluence(fakeconfluence.Options{Deployment: deployment})
	s := &source{Data: fake.Generate(fakeconfluence.DatasetOptions{})}
	s.Source = cluster.Source{Namespace: ns, Name: "wiki", Confluence: fake, Auth: auth, Index: "e2e-" + ns,
		BackoffLimit: ptr.To[int32](0)}
	crawler := s.Data.Crawler
	switch auth {
	case "", "Basic":
		user := crawler.Email
		if deployment == fakeconfluence.DataCenter {
			user = crawler.Username
		}
		s.Credentials = map[string]string{"username": user, "password": crawler.Secret}
	case "PersonalAccessToken":
		s.Credentials = map[string]string{"patToken": crawler.PAT}
	case "OAuth2":
		fake.RegisterOAuthApp("e2e-app", "e2e-app-secret")
		access, refresh := fake.IssueOAuthTokens(crawler.ID)
		s.Credentials = map[string]string{
			"confluenceAppKey": "e2e-app", "confluenceAppSecret": "e2e-app-secret",
			"confluenceAccessToken": access, "confluenceRefreshToken": refresh,
		}
	}
	return s
}

// apply writes the source's manifest (Secrets and data source) and applies it
// with kubectl; the data source alone goes to s.File for the search CLI.
func (s *source) apply(t *testing.T) {
	t.Helper()
	out, err := c.Apply(context.Background(), c.Manifest(s.Source))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl apply:\n%s", strings.TrimSpace(out))
	if s.File, err = c.WriteFile("datasource.yaml", c.DataSourceYAML(s.Source)); err != nil {
		t.Fatal(err)
	}
}

// kubectl runs kubectl in the source's namespace.
func (s *source) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.Kubectl(context.Background(), append(args, "-n", s.Namespace)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *source) get(t *testing.T) *v1.ConfluenceDataSource {
	t.Helper()
	ds, err := c.DataSource(context.Background(), s.Namespace, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// waitReady waits for the first sync to end, fails the test at once if it
// failed, and then checks that `kubectl wait --for=condition=Ready` (what
// users and CI scripts run) agrees.
func (s *source) waitReady(t *testing.T) *v1.ConfluenceDataSource {
	t.Helper()
	ds, err := c.WaitDataSource(context.Background(), s.Namespace, s.Name, syncTimeout, func(ds *v1.ConfluenceDataSource) bool {
		ready, failed := cluster.Condition(ds, v1.ConditionReady), cluster.Condition(ds, v1.ConditionSyncFailed)
		return ready != nil && ready.ObservedGeneration == ds.Generation &&
			(ready.Status == "True" || (failed != nil && failed.Status == "True" && ds.Status.ActiveJob == nil))
	})
	if err != nil {
		t.Fatalf("the first sync did not finish: %v", err)
	}
	if ready := cluster.Condition(ds, v1.ConditionReady); ready.Status != "True" {
		t.Fatalf("the first sync failed: Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
	}
	s.kubectl(t, "wait", "--for=condition=Ready", "cds/"+s.Name, "--timeout=30s")
	return s.get(t)
}

var syncRequests atomic.Int64

// requestSync sets the requested-sync annotation (with a fresh value) and
// waits until a new sync has finished and the controller has summarized it:
// a new lastSync, no active Job, and Ready of the current generation. It
// returns the data source; the caller checks the outcome.
func (s *source) requestSync(t *testing.T) *v1.ConfluenceDataSource {
	t.Helper()
	before := s.get(t)
	prevJob := ""
	if before.Status.LastSync != nil {
		prevJob = before.Status.LastSync.Job
	}
	value := strconv.FormatInt(time.Now().UnixNano()+syncRequests.Add(1), 10)
	s.kubectl(t, "annotate", "cds/"+s.Name, v1.RequestedSyncAnnotation+"="+value, "--overwrite")
	return s.waitSynced(t, prevJob, value)
}

// waitSynced waits for a sync other than prevJob to be finished and summarized.
func (s *source) waitSynced(t *testing.T, prevJob, request string) *v1.ConfluenceDataSource {
	t.Helper()
	ds, err := c.WaitDataSource(context.Background(), s.Namespace, s.Name, syncTimeout, func(ds *v1.ConfluenceDataSource) bool {
		ready := cluster.Condition(ds, v1.ConditionReady)
		return ds.Status.LastSync != nil && ds.Status.LastSync.Job != prevJob && ds.Status.ActiveJob == nil &&
			(request == "" || ds.Status.LastHandledSyncRequest == request) &&
			ready != nil && ready.ObservedGeneration == ds.Generation && ready.Reason != v1.ReasonSyncInProgress
	})
	if err != nil {
		t.Fatalf("no new sync finished (previous job %q): %v", prevJob, err)
	}
	return ds
}

// hitKeys runs the search CLI as user and returns "type:id" of the pages and
// blog posts it finds.
func (s *source) hitKeys(t *testing.T, user string) []string {
	t.Helper()
	res, err := c.SearchAll(context.Background(), s.File, user)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range res.Hits {
		parts := strings.Split(h.ID, ":")
		if len(parts) < 2 || (h.Type != "page" && h.Type != "blogpost") {
			continue
		}
		keys = append(keys, h.Type+":"+parts[len(parts)-1])
	}
	slices.Sort(keys)
	return keys
}

// expectedKeys is the oracle: the pages and blog posts in scope (current
// content of current global spaces, minus excluded spaces) that Confluence
// shows the user.
func (s *source) expectedKeys(userID string, excluded ...string) []string {
	var keys []string
	for _, sp := range s.Confluence.Spaces() {
		if sp.Type == "personal" || sp.Status == "archived" || slices.Contains(excluded, sp.Key) {
			continue
		}
		for _, typ := range []string{"page", "blogpost"} {
			for _, id := range s.Confluence.ContentIDs(sp.Key, typ, "current") {
				if s.Confluence.CanView(userID, id) {
					keys = append(keys, typ+":"+id)
				}
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// checkACLs compares, for every user of the data set, what the search CLI
// returns with what Confluence would show.
func (s *source) checkACLs(t *testing.T, excluded ...string) {
	t.Helper()
	for _, u := range s.Data.Users {
		login := u.Email
		if s.Confluence.Deployment() == fakeconfluence.DataCenter {
			login = u.Username
		}
		got, want := s.hitKeys(t, login), s.expectedKeys(u.ID, excluded...)
		if !slices.Equal(got, want) {
			t.Errorf("user %s: search returns %d documents, Confluence shows %d\n  only in search: %v\n  only in Confluence: %v",
				login, len(got), len(want), minus(got, want), minus(want, got))
		}
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
