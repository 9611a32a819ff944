package confluence_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
)

// misbehavingDC serves /rest/api/user/current like Data Center (shape of
// "Get current user", Confluence Server REST API reference) and hands every
// other request to h. The faults it is used for (a body that stalls, a next
// link that changes while the page stays the same) are not documented
// Confluence behaviour (unverified): they stand for a broken server or proxy,
// and the client must fail closed on them.
func misbehavingDC(t *testing.T, h http.HandlerFunc) confluence.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rest/api/user/current" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"type":"known","username":"crawler","userKey":"k1","displayName":"Crawler"}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return confluence.Config{
		BaseURL: srv.URL, Deployment: confluence.DataCenter, AuthType: confluence.AuthBasic,
		Credentials:    confluence.Credentials{Username: "crawler", Password: "pw-123456"},
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 10 * time.Millisecond, RetryBudget: 2 * time.Second,
	}
}

func TestList_StalledBodyFailsAfterTheReadTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	cfg := misbehavingDC(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"results":[`)
		w.(http.Flusher).Flush()
		select { // stall after the headers and a few bytes
		case <-release:
		case <-r.Context().Done():
		}
	})
	cfg.BodyReadTimeout = 200 * time.Millisecond
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = c.ListSpaces(ctx, confluence.SpaceQuery{}, func(confluence.Space) error { return nil })
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("err = %v after %s, want a stalled-body error well before the test deadline", err, time.Since(start))
	}
}

func TestList_RunawayNextLinkStopsWithAnError(t *testing.T) {
	var calls atomic.Int64
	cfg := misbehavingDC(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		// The same space every time, under a next link that never repeats.
		fmt.Fprintf(w, `{"results":[{"id":1,"key":"ENG","name":"Engineering","type":"global","status":"current","_links":{"webui":"/display/ENG"}}],"start":0,"limit":1,"size":1,"_links":{"base":"http://x","next":"/rest/api/space?limit=1&start=%d&token=%d"}}`, n, time.Now().UnixNano())
	})
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.ListSpaces(ctx, confluence.SpaceQuery{}, func(confluence.Space) error { return nil })
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "repeats the previous page") {
		t.Fatalf("err = %v after %d calls", err, calls.Load())
	}
	if calls.Load() > 3 {
		t.Fatalf("%d calls before stopping", calls.Load())
	}
}

func TestList_MalformedItemFailsTheListingNamingIt(t *testing.T) {
	cfg := misbehavingDC(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"results":[{"id":1,"key":"ENG","name":"Engineering","type":"global","status":"current"},{"id":2,"key":["OPS"],"name":"Ops","type":"global","status":"current"}],"start":0,"limit":25,"size":2,"_links":{"base":"http://x"}}`)
	})
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.ListSpaces(context.Background(), confluence.SpaceQuery{}, func(confluence.Space) error { return nil })
	const want = "decoding space.list response: results[1]: json: cannot unmarshal array into Go struct field wireSpace.key of type string"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
}

func TestVerify_HTTPSToAPlainHTTPServerFailsAtOnce(t *testing.T) {
	cfg := misbehavingDC(t, func(http.ResponseWriter, *http.Request) {})
	cfg.BaseURL = strings.Replace(cfg.BaseURL, "http://", "https://", 1)
	cfg.RetryBaseDelay, cfg.RetryMaxDelay, cfg.RetryBudget = 100*time.Millisecond, time.Second, 2*time.Minute
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Verify(context.Background())
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %s: a TLS handshake with a plain-HTTP server must not be retried", err, time.Since(start))
	}
}

func TestErrors_EchoedBasicAuthorizationHeaderIsRedacted(t *testing.T) {
	var header string
	cfg := misbehavingDC(t, func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"message":"bad header %s"}`, header)
	})
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.ListSpaces(context.Background(), confluence.SpaceQuery{}, func(confluence.Space) error { return nil })
	encoded := strings.TrimPrefix(header, "Basic ")
	if err == nil || encoded == "" || strings.Contains(err.Error(), encoded) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("err = %v, the echoed credentials must be redacted", err)
	}
}
