package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// pollInterval is spec.sync.changePollInterval: the shortest admission
// takes, or E2E_POLL_INTERVAL (e.g. 1m, to measure the latency at 1m).
var pollInterval = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("E2E_POLL_INTERVAL")); err == nil && d >= v1.MinChangePollInterval {
		return d
	}
	return v1.MinChangePollInterval
}()

// TestCloudChangePoll: with spec.sync.changePollInterval, edits in a Cloud
// site (which sends no webhooks to an operator without a Connect or Forge
// app) become searchable for the right users within a poll interval or so,
// and a restriction added to a page hides it from the excluded user within
// aclRecheckInterval plus a poll. It measures the edit-to-searchable latency.
func TestCloudChangePoll(t *testing.T) {
	t.Parallel()
	s := newSource(t, fakeconfluence.Cloud, "Basic")
	s.ChangePollInterval, s.ACLRecheckInterval = pollInterval.String(), "1m"
	s.apply(t)
	s.waitReady(t)
	crawler, alice := s.Data.Crawler, s.Data.Users[1]

	ds, err := c.WaitDataSource(context.Background(), s.Namespace, s.Name, 2*pollInterval+syncTimeout, func(ds *v1.ConfluenceDataSource) bool {
		return ds.Status.Changes != nil && ds.Status.Changes.LastPoll != nil && ds.Status.Changes.Watermark != nil
	})
	if err != nil {
		t.Fatalf("no change poll finished: %v", err)
	}
	if lp := ds.Status.Changes.LastPoll; lp.Result != v1.SyncSucceeded || lp.Mode != v1.SyncChangePoll {
		t.Fatalf("first poll: %+v", lp)
	}
	t.Logf("first poll: %s; watermark %s", ds.Status.Changes.LastPoll.Message, ds.Status.Changes.Watermark)

	t.Run("edits become searchable for the users who may read them", func(t *testing.T) {
		// Pages the crawler and alice may both read, and one only the crawler may.
		shared := minus(s.expectedKeys(alice.ID), nil)
		var pages []string
		for _, k := range shared {
			if strings.HasPrefix(k, "page:") {
				pages = append(pages, strings.TrimPrefix(k, "page:"))
			}
		}
		const edits = 8
		if len(pages) < edits {
			t.Fatalf("only %d shared pages", len(pages))
		}
		type edit struct {
			page, token string
			at          time.Time
			latency     time.Duration
		}
		var list []*edit
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range edits {
				e := &edit{page: pages[i], token: fmt.Sprintf("zebraquartz%d%d", i, time.Now().UnixNano()%100000)}
				s.Confluence.EditContent(e.page, crawler.ID, func(c *fakeconfluence.Content) { c.Body = "<p>" + e.token + " edited</p>" })
				e.at = time.Now()
				mu.Lock()
				list = append(list, e)
				mu.Unlock()
				// Spread the edits over the poll interval.
				time.Sleep(pollInterval / edits)
			}
		}()
		deadline := time.Now().Add(3*pollInterval + syncTimeout)
		for {
			mu.Lock()
			pending := slices.DeleteFunc(slices.Clone(list), func(e *edit) bool { return e.latency > 0 })
			n := len(list)
			mu.Unlock()
			if n == edits && len(pending) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d edits not searchable after %s", len(pending), edits, 3*pollInterval+syncTimeout)
			}
			for _, e := range pending {
				if s.finds(t, crawler.Email, e.token, "page:"+e.page) {
					mu.Lock()
					e.latency = time.Since(e.at)
					mu.Unlock()
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		<-done
		var lat []time.Duration
		for _, e := range list {
			lat = append(lat, e.latency)
			if !s.finds(t, alice.Email, e.token, "page:"+e.page) {
				t.Errorf("%s, who may read page %s, does not find its edit", alice.Email, e.page)
			}
		}
		p50, p95 := percentile(lat, 50), percentile(lat, 95)
		t.Logf("edit -> searchable with changePollInterval %s, %d edits: p50 %s, p95 %s, max %s (all %v)",
			pollInterval, edits, p50.Round(100*time.Millisecond), p95.Round(100*time.Millisecond), percentile(lat, 100).Round(100*time.Millisecond), lat)
		if p95 > pollInterval+30*time.Second {
			t.Errorf("p95 %s exceeds the poll interval plus 30 s", p95)
		}
		s.checkACLs(t)
	})

	t.Run("a restriction added hides the page from the excluded user within the re-check bound", func(t *testing.T) {
		var page string
		for _, k := range s.hitKeys(t, alice.Email) {
			if strings.HasPrefix(k, "page:") {
				page = strings.TrimPrefix(k, "page:")
				break
			}
		}
		if page == "" {
			t.Fatal("alice finds no page")
		}
		s.Confluence.SetRestriction(page, []string{crawler.ID}, nil)
		at := time.Now()
		bound := time.Minute + pollInterval + syncTimeout
		for slices.Contains(s.hitKeys(t, alice.Email), "page:"+page) {
			if time.Since(at) > bound {
				t.Fatalf("%s still finds page %s %s after it was restricted", alice.Email, page, bound)
			}
			time.Sleep(time.Second)
		}
		t.Logf("restriction added -> hidden from the excluded user after %s (aclRecheckInterval 1m, changePollInterval %s)",
			time.Since(at).Round(100*time.Millisecond), pollInterval)
		if !slices.Contains(s.hitKeys(t, crawler.Email), "page:"+page) {
			t.Errorf("the crawler, named by the restriction, no longer finds page %s", page)
		}
		s.checkACLs(t)
	})

	t.Run("polls leave the sync status and Ready alone", func(t *testing.T) {
		ds := s.get(t)
		ready := ds.Status.Conditions
		if ds.Status.LastSync == nil || ds.Status.LastSync.Mode == v1.SyncChangePoll {
			t.Fatalf("lastSync %+v", ds.Status.LastSync)
		}
		for _, cond := range ready {
			if cond.Type == v1.ConditionReady && cond.Status != "True" {
				t.Fatalf("Ready %+v while polls run", cond)
			}
		}
		if ds.Status.Changes == nil || ds.Status.Changes.LastPoll == nil || ds.Status.Changes.LastPoll.Result != v1.SyncSucceeded {
			t.Fatalf("status.changes %+v", ds.Status.Changes)
		}
		lag := time.Since(ds.Status.Changes.Watermark.Time)
		t.Logf("freshness lag now %s; status.changes: %s", lag.Round(time.Second), mustJSON(ds.Status.Changes))
		if lag > 2*pollInterval+syncTimeout {
			t.Errorf("freshness lag %s", lag)
		}
	})
}

// finds reports whether a search by user for query returns the document key.
func (s *source) finds(t *testing.T, user, query, key string) bool {
	t.Helper()
	out, _, err := c.Search(context.Background(), s.File, user, "--output", "json", query)
	if err != nil {
		t.Fatal(err)
	}
	var res opensearch.SearchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("search output %q: %v", out, err)
	}
	for _, h := range res.Hits {
		parts := strings.Split(h.ID, ":")
		if h.Type+":"+parts[len(parts)-1] == key {
			return true
		}
	}
	return false
}

// percentile is the nearest-rank percentile of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
