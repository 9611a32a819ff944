package crawlcli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

// TestCrawl_InClusterWritesTheReportToStatus runs the crawler as a Job does:
// the resource and its Secret come from a real API server, and the report
// goes back onto the status with server-side apply.
func TestCrawl_InClusterWritesTheReportToStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	ctx := context.Background()
	f := newFixture(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "docs"}}
	secret := func(password string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "docs"},
			StringData: map[string]string{"username": f.data.Crawler.Email, "password": password}}
	}
	ds := &v1.ConfluenceDataSource{
		ObjectMeta: metav1.ObjectMeta{Name: "wiki", Namespace: "docs"},
		Spec: v1.ConfluenceDataSourceSpec{
			Confluence: v1.ConfluenceSpec{URL: f.cf.URL(), Auth: v1.ConfluenceAuth{SecretRef: v1.SecretReference{Name: "creds"}}, MaxRequestsPerSecond: 1000},
			OpenSearch: v1.OpenSearchSpec{Endpoints: []string{f.os.URL}, Index: "incluster"},
		},
	}
	for _, obj := range []client.Object{ns, secret("wrong"), ds} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--in-cluster", "--namespace", "docs", "--name", "wiki", "--job", "wiki-1"}

	code, _, stderr := run(args...)
	got := &v1.ConfluenceDataSource{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
		t.Fatal(err)
	}
	last := got.Status.LastSync
	if code != 1 || last == nil || last.Result != v1.SyncFailed || last.Reason != v1.ReasonCredentialsRejected || last.Job != "wiki-1" {
		t.Fatalf("wrong password: exit %d, lastSync %+v\n%s", code, last, stderr)
	}
	if strings.Contains(fmt.Sprint(got.Status), "wrong") {
		t.Fatal("the password reached the status")
	}

	if err := env.Client.Update(ctx, secret(f.data.Crawler.Secret)); err != nil {
		t.Fatal(err)
	}
	// A spec edit before the run: the report names the generation it read.
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Confluence.MaxRequestsPerSecond = 999
	if err := env.Client.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	args[len(args)-1] = "wiki-2"
	code, stdout, stderr := run(args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.LastSync == nil || st.LastSync.Result != v1.SyncSucceeded || st.LastSync.Job != "wiki-2" || st.LastSync.Reason != "" ||
		st.DocumentCount == 0 || st.LastSuccessfulSyncTime == nil || st.LastSyncTime == nil || st.Progress != nil {
		t.Fatalf("status after success: %+v\nsummary %s", st, stdout)
	}
	if st.LastSync.StartTime == nil || st.LastSync.CompletionTime == nil || st.LastSync.DocumentsIndexed != st.DocumentCount ||
		got.Generation != 2 || st.LastSync.Generation != got.Generation {
		t.Fatalf("report %+v", st.LastSync)
	}
	var managers []string
	for _, m := range got.ManagedFields {
		if m.Subresource == "status" {
			managers = append(managers, m.Manager)
		}
	}
	if len(managers) != 1 || managers[0] != "crawler" {
		t.Fatalf("status field managers %v, want only crawler", managers)
	}

	// While a sync runs, its progress writes keep the last report: without
	// it a data source in the middle of a crawl looks never synced, and no
	// change poll or Targeted Job starts beside the crawl.
	var during *v1.ConfluenceDataSourceStatus
	f.cf.AddFault(fakeconfluence.Fault{Endpoint: "space.list", Times: 1, Hook: func() {
		cur := &v1.ConfluenceDataSource{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), cur); err == nil {
			during = cur.Status.DeepCopy()
		}
	}})
	args[len(args)-1] = "wiki-3"
	if code, _, stderr := run(args...); code != 0 {
		t.Fatalf("third sync: exit %d\n%s", code, stderr)
	}
	if during == nil || during.Progress == nil || during.LastSync == nil || during.LastSync.Job != "wiki-2" ||
		during.LastSuccessfulSyncTime == nil || during.LastSyncTime == nil || during.DocumentCount != st.DocumentCount {
		t.Fatalf("status during a sync: %+v, want its progress and the last report of wiki-2", during)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
		t.Fatal(err)
	}
	st = got.Status
	if st.LastSync == nil || st.LastSync.Job != "wiki-3" || st.Progress != nil {
		t.Fatalf("status after the third sync: %+v", st)
	}

	// A change poll and a targeted sync report into status.changes and
	// leave the full sync's report (and Ready's inputs) alone.
	lastSync := st.LastSync.DeepCopy()
	page := f.cf.ContentIDs(f.cf.Spaces()[0].Key, "page", "current")[0]
	f.cf.EditContent(page, "", func(c *fakeconfluence.Content) { c.Body = "<p>polled</p>" })
	if code, _, stderr := run("--in-cluster", "--namespace", "docs", "--name", "wiki", "--job", "wiki-poll-1", "--mode", "ChangePoll"); code != 0 {
		t.Fatalf("poll: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run("--in-cluster", "--namespace", "docs", "--name", "wiki", "--job", "wiki-t-1", "--mode", "Targeted", "--target", "page:"+page); code != 0 {
		t.Fatalf("targeted: exit %d\n%s", code, stderr)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
		t.Fatal(err)
	}
	ch := got.Status.Changes
	if ch == nil || ch.LastPoll == nil || ch.LastPoll.Result != v1.SyncSucceeded || ch.LastPoll.Job != "wiki-poll-1" || ch.LastPollChanges != 1 ||
		ch.Watermark == nil || ch.LastTargeted == nil || ch.LastTargeted.Job != "wiki-t-1" || ch.LastTargeted.Result != v1.SyncSucceeded {
		t.Fatalf("status.changes after a poll and a targeted sync: %+v", ch)
	}
	if got.Status.LastSync.Job != lastSync.Job || !got.Status.LastSync.CompletionTime.Equal(lastSync.CompletionTime) || got.Status.Progress != nil {
		t.Fatalf("a poll or targeted run touched lastSync/progress: %+v", got.Status)
	}
	watermark := ch.Watermark.DeepCopy()
	// A failed poll reports the failure and keeps the last good watermark.
	if err := env.Client.Update(ctx, secret("wrong-again")); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := run("--in-cluster", "--namespace", "docs", "--name", "wiki", "--job", "wiki-poll-2", "--mode", "ChangePoll"); code != 1 {
		t.Fatalf("poll with a wrong password: exit %d, want 1", code)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ds), got); err != nil {
		t.Fatal(err)
	}
	ch = got.Status.Changes
	if ch.LastPoll.Result != v1.SyncFailed || ch.LastPoll.Job != "wiki-poll-2" || ch.Watermark == nil || !ch.Watermark.Equal(watermark) || ch.LastTargeted == nil {
		t.Fatalf("status.changes after a failed poll: %+v (watermark was %v)", ch, watermark)
	}
}
