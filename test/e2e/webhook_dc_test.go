package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/e2e/cluster"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// webhookBound is the target from a Confluence edit to search.
const webhookBound = 10 * time.Second

const hookSecret = "e2e-webhook-secret-0123456789"

// webhookSource is a synced Data Center source with spec.webhook whose fake
// Confluence sends its webhooks to the receiver URL in the status.
func webhookSource(t *testing.T) (*source, string) {
	t.Helper()
	s := newSource(t, fakeconfluence.DataCenter, "Basic")
	s.Webhook = true
	s.Credentials["webhookSecret"] = hookSecret
	s.apply(t)
	ds := s.waitReady(t)
	if ds.Status.Webhook == nil || ds.Status.Webhook.URL == "" || !strings.HasPrefix(ds.Status.Webhook.URL, c.WebhookBaseURL+"/hook/") {
		t.Fatalf("status.webhook = %+v, want a URL under %s", ds.Status.Webhook, c.WebhookBaseURL)
	}
	return s, ds.Status.Webhook.URL
}

// webhookRequests reads confluence_operator_webhook_requests_total for a
// namespace, result and reason from the manager's metrics endpoint.
func webhookRequests(t *testing.T, namespace, result, reason string) float64 {
	t.Helper()
	return metric(t, "confluence_operator_webhook_requests_total",
		`namespace="`+namespace+`"`, `result="`+result+`"`, `reason="`+reason+`"`)
}

// metric reads the first sample of name whose labels contain all of
// labels from the manager's metrics endpoint; 0 when there is none.
func metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(c.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		got, value, _ := strings.Cut(line, "} ")
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(got, l)
		}
		if ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return 0
}

func TestDCWebhookForgedAndUnsignedRejectedAndCounted(t *testing.T) {
	s, url := webhookSource(t)
	jobsBefore := s.kubectl(t, "get", "jobs", "-o", "name")
	body := fmt.Sprintf(`{"timestamp":%d,"event":"page_updated","userKey":"x","page":{"id":1}}`, time.Now().UnixMilli())
	for _, sig := range []string{fakeconfluence.Sign([]byte("not-the-secret"), []byte(body)), ""} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if sig != "" {
			req.Header.Set("X-Hub-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("signature %q: status %d, want 401", sig, resp.StatusCode)
		}
	}
	if n := webhookRequests(t, s.Namespace, "rejected", "forged"); n != 1 {
		t.Errorf("forged requests counted %v, want 1", n)
	}
	if n := webhookRequests(t, s.Namespace, "rejected", "unsigned"); n != 1 {
		t.Errorf("unsigned requests counted %v, want 1", n)
	}
	// Past the batch window nothing started and no event is shown.
	time.Sleep(5 * time.Second)
	if after := s.kubectl(t, "get", "jobs", "-o", "name"); after != jobsBefore {
		t.Fatalf("a rejected webhook started a Job:\nbefore %s\nafter %s", jobsBefore, after)
	}
	if ws := s.get(t).Status.Webhook; ws.LastEventTime != nil {
		t.Fatalf("a rejected webhook shows as the last event: %+v", ws)
	}
}

// TestDCWebhookRestrictionHidesPageWithinBound restricts pages in the fake
// Data Center, whose content_permissions_updated webhook (no documented
// payload: the envelope alone) makes the receiver start one Incremental
// sync, which re-reads every ACL; it measures until a user the restriction
// excludes no longer finds the page, while the user it names still does.
// It holds the median to the 10 s bound and the receiver's own part
// (receipt to Job) to 5 s; the tail is the Incremental crawl's and is logged.
func TestDCWebhookRestrictionHidesPageWithinBound(t *testing.T) {
	s, url := webhookSource(t)
	s.Confluence.RegisterWebhook(url, []byte(hookSecret), "content_permissions_updated")
	const restrictions = 8
	var latencies []time.Duration
	for range restrictions {
		// Each restriction from idle, on a page the excluded user still
		// finds (an earlier one may have hidden it through an ancestor).
		s.waitIdle(t)
		var p readable
		for _, cand := range readablePages(s) {
			if s.seesPage(t, cand.lose.Username, cand.id) {
				p = cand
				break
			}
		}
		if p.id == "" {
			t.Fatalf("no page left that two users find (after %d restrictions)", len(latencies))
		}
		s.Confluence.SetRestriction(p.id, []string{p.keep.ID}, nil)
		d := waitUntil(t, "restriction of page "+p.id, func() bool { return !s.seesPage(t, p.lose.Username, p.id) })
		if !s.seesPage(t, p.keep.Username, p.id) {
			t.Fatalf("user %s, whom the restriction names, lost page %s", p.keep.Username, p.id)
		}
		latencies = append(latencies, d)
	}
	p50, p95 := percentiles(latencies)
	ns := `namespace="` + s.Namespace + `"`
	sum, count := metric(t, "confluence_operator_webhook_to_indexed_seconds_sum", ns), metric(t, "confluence_operator_webhook_to_indexed_seconds_count", ns)
	if count < 1 {
		t.Errorf("webhook_to_indexed_seconds has %v observations, want some", count)
	}
	t.Logf("webhook restriction -> hidden from the excluded user over %d restrictions: p50 %v, p95 %v; the manager's receipt -> sync end: mean %.2fs over %v syncs",
		len(latencies), p50.Round(10*time.Millisecond), p95.Round(10*time.Millisecond), sum/max(count, 1), count)
	// The restriction path runs an Incremental sync (the event names
	// nothing), so its time is mostly the crawler's; the receiver's part,
	// from receiving an event to creating its Job, must stay small.
	s.checkWebhookJobs(t, v1.SyncIncremental)
	if p50 > webhookBound {
		t.Errorf("restriction p50 %v, bound %v", p50, webhookBound)
	}
	if n := webhookRequests(t, s.Namespace, "accepted", "content_permissions_updated"); n != restrictions {
		t.Errorf("accepted content_permissions_updated counted %v, want %d", n, restrictions)
	}
	s.checkStillReady(t)
	s.checkACLs(t)
}

// checkWebhookJobs checks the webhook Jobs the history limit kept: each
// ran mode and was created at most 5 s (1 s quiet period, 3 s window, a
// reconcile) after its first event was received.
func (s *source) checkWebhookJobs(t *testing.T, mode v1.SyncMode) {
	t.Helper()
	var jobs batchv1.JobList
	if err := c.Client.List(context.Background(), &jobs, client.InNamespace(s.Namespace)); err != nil {
		t.Fatal(err)
	}
	var toJob []time.Duration
	for _, j := range jobs.Items {
		at, err := time.Parse(time.RFC3339Nano, j.Annotations["sources.confluence-operator.dev/webhook-received"])
		if err != nil {
			continue
		}
		toJob = append(toJob, j.CreationTimestamp.Sub(at.Truncate(time.Second)))
		if args := strings.Join(j.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--mode "+string(mode)) {
			t.Errorf("webhook Job %s runs %q, want mode %s", j.Name, args, mode)
		}
	}
	if len(toJob) == 0 {
		t.Fatal("no Job records a webhook receipt")
	}
	j50, jmax := percentiles(toJob)
	t.Logf("receipt -> Job created (second resolution): p50 %v, max %v over %d Jobs", j50, jmax, len(toJob))
	if jmax > 5*time.Second {
		t.Errorf("a webhook Job was created %v after its event, want at most 5 s", jmax)
	}
}

// checkStillReady waits for the data source to be idle and checks that
// the webhook syncs left it Ready, without SyncFailed.
func (s *source) checkStillReady(t *testing.T) {
	t.Helper()
	ds := s.waitIdle(t)
	if ready := cluster.Condition(ds, v1.ConditionReady); ready == nil || ready.Status != "True" {
		t.Errorf("Ready = %+v after the webhook syncs", ready)
	}
	if failed := cluster.Condition(ds, v1.ConditionSyncFailed); failed != nil && failed.Status == "True" {
		t.Errorf("SyncFailed after the webhook syncs: %s", failed.Message)
	}
}

// waitIdle waits until no sync or Targeted Job runs and nothing is queued.
func (s *source) waitIdle(t *testing.T) *v1.ConfluenceDataSource {
	t.Helper()
	ds, err := c.WaitDataSource(context.Background(), s.Namespace, s.Name, syncTimeout, func(ds *v1.ConfluenceDataSource) bool {
		return ds.Status.ActiveJob == nil && ds.Status.LastSync != nil && (ds.Status.Webhook == nil || ds.Status.Webhook.PendingTargets == 0) &&
			(ds.Status.Changes == nil || ds.Status.Changes.ActiveTargetedJob == nil)
	})
	if err != nil {
		t.Fatalf("the data source did not become idle: %v", err)
	}
	return ds
}

// readable is a page two users may read.
type readable struct {
	id         string
	keep, lose fakeconfluence.User
}

// readablePages lists current pages of global spaces that at least two
// users may read, without a restriction of their own.
func readablePages(s *source) []readable {
	var out []readable
	for _, sp := range s.Confluence.Spaces() {
		if sp.Type == "personal" || sp.Status == "archived" {
			continue
		}
		for _, id := range s.Confluence.ContentIDs(sp.Key, "page", "current") {
			c, _ := s.Confluence.Content(id)
			if len(c.ReadUsers)+len(c.ReadGroups) > 0 {
				continue
			}
			var can []fakeconfluence.User
			for _, u := range s.Data.Users {
				if s.Confluence.CanView(u.ID, id) {
					can = append(can, u)
				}
			}
			if len(can) >= 2 {
				out = append(out, readable{id, can[0], can[1]})
			}
		}
	}
	return out
}

// seesPage says whether user finds page id with the search CLI.
func (s *source) seesPage(t *testing.T, user, id string) bool {
	t.Helper()
	_, ok := s.pageTitle(t, user, id)
	return ok
}

func (s *source) pageTitle(t *testing.T, user, id string) (string, bool) {
	t.Helper()
	res, err := c.SearchAll(context.Background(), s.File, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if h.Type == "page" && strings.HasSuffix(h.ID, ":"+id) {
			return h.Title, true
		}
	}
	return "", false
}

// waitUntil polls done for up to 60 s and returns how long it took.
func waitUntil(t *testing.T, what string, done func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if done() {
			return time.Since(start)
		}
	}
	t.Fatalf("%s: not seen within 60 s\nmanager log:\n%s", what, tail(c.ManagerLog(), 30))
	return 0
}

// percentiles returns the median and the 95th percentile (nearest rank).
func percentiles(ds []time.Duration) (p50, p95 time.Duration) {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return sorted[max(i, 0)]
	}
	return rank(0.5), rank(0.95)
}

func TestDCWebhookEditAndDeletionSearchableWithinBound(t *testing.T) {
	s, url := webhookSource(t)
	s.Confluence.RegisterWebhook(url, []byte(hookSecret))

	// Pages some users may see and others not.
	type pick struct {
		id             string
		reader, denied string // logins
	}
	var picks []pick
	login := func(u fakeconfluence.User) string { return u.Username }
	for _, sp := range s.Confluence.Spaces() {
		if sp.Type == "personal" || sp.Status == "archived" {
			continue
		}
		for _, id := range s.Confluence.ContentIDs(sp.Key, "page", "current") {
			var reader, denied string
			for _, u := range s.Data.Users {
				if s.Confluence.CanView(u.ID, id) {
					reader = login(u)
				} else {
					denied = login(u)
				}
			}
			if reader != "" && denied != "" {
				picks = append(picks, pick{id, reader, denied})
			}
		}
	}
	const edits = 6
	if len(picks) < edits+2 {
		t.Fatalf("the data set has %d pages with readers and non-readers, want %d", len(picks), edits+2)
	}

	find := func(user, id string) (string, bool) { return s.pageTitle(t, user, id) }
	waitFor := func(what string, done func() bool) time.Duration { return waitUntil(t, what, done) }

	var latencies []time.Duration
	for i, p := range picks[:edits] {
		s.waitIdle(t)
		title := fmt.Sprintf("Webhook edit %d %d", i, time.Now().UnixNano())
		if !s.Confluence.EditContent(p.id, "", func(c *fakeconfluence.Content) { c.Title = title }) {
			t.Fatalf("page %s vanished", p.id)
		}
		d := waitFor("edit of page "+p.id, func() bool { got, ok := find(p.reader, p.id); return ok && got == title })
		if _, seen := find(p.denied, p.id); seen {
			t.Fatalf("user %s, who may not read page %s, finds it after the edit", p.denied, p.id)
		}
		latencies = append(latencies, d)
	}

	trashed, purged := picks[edits], picks[edits+1]
	s.Confluence.TrashContent(trashed.id)
	dTrash := waitFor("trash of page "+trashed.id, func() bool { _, ok := find(trashed.reader, trashed.id); return !ok })
	s.Confluence.PurgeContent(purged.id)
	dPurge := waitFor("purge of page "+purged.id, func() bool { _, ok := find(purged.reader, purged.id); return !ok })

	p50, p95 := percentiles(latencies)
	t.Logf("webhook edit -> searchable over %d edits: p50 %v, p95 %v (max); trash -> gone %v; purge -> gone %v",
		len(latencies), p50.Round(10*time.Millisecond), p95.Round(10*time.Millisecond),
		dTrash.Round(10*time.Millisecond), dPurge.Round(10*time.Millisecond))
	// The median is held to the bound and every change to 60 s (waitFor);
	// the tail on a shared 2-core machine is the crawler's run time, logged
	// above (docs/benchmarks.md has the breakdown). The receiver's own part
	// is held to 5 s by checkWebhookJobs.
	if p50 > webhookBound {
		t.Errorf("edit p50 %v, bound %v", p50, webhookBound)
	}
	s.checkWebhookJobs(t, v1.SyncTargeted)
	s.checkStillReady(t)
	if n := webhookRequests(t, s.Namespace, "accepted", "page_updated"); n < edits {
		t.Errorf("accepted page_updated counted %v, want at least %d", n, edits)
	}
	if ws := s.get(t).Status.Webhook; ws.LastEventTime == nil || !slices.Contains([]string{"page_removed", "page_trashed", "page_updated"}, ws.LastEventType) {
		t.Errorf("status.webhook %+v, want the last page event", ws)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDCWebhookEditIndexedDuringALongFullSync edits a page while a full
// crawl runs that every content listing keeps busy for 20 s: the webhook's
// Targeted Job runs beside the crawl, so the edit is searchable within the
// bound while the crawl still runs; after the crawl the edit is still
// there (the crawl listed after the edit, and keeps what was written since
// it started) and the data source is Ready.
func TestDCWebhookEditIndexedDuringALongFullSync(t *testing.T) {
	s, url := webhookSource(t)
	s.Confluence.RegisterWebhook(url, []byte(hookSecret))
	var page, reader string
	for _, sp := range s.Confluence.Spaces() {
		if sp.Type == "personal" || sp.Status == "archived" || page != "" {
			continue
		}
		for _, id := range s.Confluence.ContentIDs(sp.Key, "page", "current") {
			for _, u := range s.Data.Users {
				if s.Confluence.CanView(u.ID, id) {
					page, reader = id, u.Username
					break
				}
			}
			if page != "" {
				break
			}
		}
	}
	if page == "" {
		t.Fatal("no page anyone may read")
	}

	// Every content listing answers 20 s late (the handler reads after the
	// delay, so the crawl sees the edit): a crawl that takes long.
	const listingDelay = 20 * time.Second
	listing := make(chan struct{}, 1)
	s.Confluence.AddFault(fakeconfluence.Fault{Endpoint: "content.list", Latency: listingDelay, Hook: func() {
		select {
		case listing <- struct{}{}:
		default:
		}
	}})
	prev := s.get(t).Status.LastSync.Job
	request := strconv.FormatInt(time.Now().UnixNano(), 10)
	s.kubectl(t, "annotate", "cds/"+s.Name, v1.RequestedSyncModeAnnotation+"="+string(v1.SyncFullCrawl),
		v1.RequestedSyncAnnotation+"="+request, "--overwrite")
	select {
	case <-listing:
	case <-time.After(syncTimeout):
		t.Fatalf("the full crawl never listed content\nmanager log:\n%s", tail(c.ManagerLog(), 30))
	}
	full := s.get(t).Status.ActiveJob
	if full == nil {
		t.Fatal("no active sync while the full crawl lists content")
	}

	title := fmt.Sprintf("Edited during a full crawl %d", time.Now().UnixNano())
	if !s.Confluence.EditContent(page, "", func(c *fakeconfluence.Content) { c.Title = title }) {
		t.Fatalf("page %s vanished", page)
	}
	d := waitUntil(t, "edit of page "+page+" during the full crawl", func() bool {
		got, ok := s.pageTitle(t, reader, page)
		return ok && got == title
	})
	ds := s.get(t)
	if ds.Status.ActiveJob == nil || ds.Status.ActiveJob.Name != full.Name {
		t.Fatalf("the full crawl %s had ended (activeJob %+v) when the edit became searchable after %v: not beside it", full.Name, ds.Status.ActiveJob, d)
	}
	t.Logf("webhook edit -> searchable while full crawl %s runs: %v", full.Name, d.Round(10*time.Millisecond))
	if d > webhookBound {
		t.Errorf("edit during a full crawl searchable after %v, bound %v", d, webhookBound)
	}

	s.Confluence.ClearFaults()
	ds = s.waitSynced(t, prev, request)
	if ds.Status.LastSync.Job != full.Name || ds.Status.LastSync.Result != v1.SyncSucceeded {
		t.Fatalf("lastSync %+v, want the full crawl %s succeeded", ds.Status.LastSync, full.Name)
	}
	if got, ok := s.pageTitle(t, reader, page); !ok || got != title {
		t.Fatalf("after the full crawl user %s finds page %s as %q (found %v), want %q", reader, page, got, ok, title)
	}
	ds = s.waitIdle(t)
	if ch := ds.Status.Changes; ch == nil || ch.LastTargetedOutcome == nil || ch.LastTargetedOutcome.Result != v1.SyncSucceeded {
		t.Errorf("status.changes %+v, want lastTargetedOutcome Succeeded", ch)
	}
	s.checkWebhookJobs(t, v1.SyncTargeted)
	s.checkStillReady(t)
}
