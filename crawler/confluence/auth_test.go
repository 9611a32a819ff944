package confluence_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

func TestClient_RejectsWrongCredentialsAndDeployments(t *testing.T) {
	tests := map[string]struct {
		dep     fakeconfluence.Deployment
		opts    fakeconfluence.Options
		auth    confluence.AuthType
		mutate  func(*confluence.Config)
		wantErr error
		wantMsg string
	}{
		"cloud bad api token": {
			dep: cloud, auth: confluence.AuthBasic,
			mutate:  func(c *confluence.Config) { c.Credentials.Password = "wrong-token-value" },
			wantErr: confluence.ErrCredentialsRejected, wantMsg: "credentials rejected for crawler@example.com at http://",
		},
		"dc bad password": {
			dep: dc, auth: confluence.AuthBasic,
			mutate:  func(c *confluence.Config) { c.Credentials.Password = "wrong-password" },
			wantErr: confluence.ErrCredentialsRejected, wantMsg: "credentials rejected for crawler at",
		},
		"dc bad pat without anonymous access": {
			dep: dc, auth: confluence.AuthPersonalAccessToken,
			mutate:  func(c *confluence.Config) { c.Credentials.PAT = "not-a-real-pat" },
			wantErr: confluence.ErrCredentialsRejected,
		},
		"dc bad pat with anonymous access runs as anonymous (CONFSERVER-98199)": {
			dep: dc, opts: fakeconfluence.Options{AnonymousAccess: true}, auth: confluence.AuthPersonalAccessToken,
			mutate:  func(c *confluence.Config) { c.Credentials.PAT = "not-a-real-pat" },
			wantErr: confluence.ErrAnonymous, wantMsg: "anonymous",
		},
		"pat on cloud": {
			dep: cloud, auth: confluence.AuthBasic,
			mutate: func(c *confluence.Config) {
				c.AuthType, c.Credentials.PAT = confluence.AuthPersonalAccessToken, "x-pat-value"
			},
			wantErr: confluence.ErrInvalidConfig, wantMsg: "only supported on DataCenter",
		},
		"atlassian.net url with data center": {
			dep: cloud, auth: confluence.AuthBasic,
			mutate: func(c *confluence.Config) {
				c.BaseURL, c.Deployment = "https://acme.atlassian.net/wiki", confluence.DataCenter
			},
			wantErr: confluence.ErrWrongDeployment, wantMsg: "acme.atlassian.net is an Atlassian Cloud site",
		},
		"data center server configured as cloud": {
			dep: dc, auth: confluence.AuthBasic,
			mutate:  func(c *confluence.Config) { c.Deployment = confluence.Cloud },
			wantErr: confluence.ErrWrongDeployment, wantMsg: "answers like Confluence Data Center",
		},
		"cloud site configured as data center": {
			dep: cloud, auth: confluence.AuthBasic,
			mutate:  func(c *confluence.Config) { c.Deployment = confluence.DataCenter },
			wantErr: confluence.ErrWrongDeployment, wantMsg: "answers like Confluence Cloud",
		},
		"oauth2 on data center cannot read permissions or groups": {
			dep: dc, auth: confluence.AuthBasic,
			mutate: func(c *confluence.Config) {
				c.AuthType = confluence.AuthOAuth2
				c.Credentials = confluence.Credentials{AppKey: "k", AppSecret: "app-secret", RefreshToken: "refresh-token"}
				c.PersistTokens = func(context.Context, confluence.Tokens) error { return nil }
			},
			wantErr: confluence.ErrInvalidConfig, wantMsg: "use PersonalAccessToken (or Basic)",
		},
		"missing secret key": {
			dep: dc, auth: confluence.AuthBasic,
			mutate:  func(c *confluence.Config) { c.Credentials.Password = "" },
			wantErr: confluence.ErrInvalidConfig, wantMsg: "lack password",
		},
		"oauth2 without persister": {
			dep: cloud, auth: confluence.AuthOAuth2,
			mutate:  func(c *confluence.Config) { c.PersistTokens = nil },
			wantErr: confluence.ErrInvalidConfig, wantMsg: "token persister",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.dep, tc.opts, fakeconfluence.DatasetOptions{PagesPerSpace: 1})
			cfg := f.config(t, tc.auth, nil)
			tc.mutate(&cfg)
			c, err := confluence.New(cfg)
			if err == nil {
				_, err = c.Verify(context.Background())
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestOAuth2_RotatingRefreshTokensAreNeverLost(t *testing.T) {
	for _, dep := range []fakeconfluence.Deployment{cloud} {
		t.Run(string(dep), func(t *testing.T) {
			clk := newClock()
			f := newFixture(t, dep, fakeconfluence.Options{Now: clk.Now}, fakeconfluence.DatasetOptions{PagesPerSpace: 5})
			store := &tokenStore{}
			cfg := f.config(t, confluence.AuthOAuth2, store)
			cfg.Now = clk.Now
			want := len(f.srv.ContentIDs("S1", "page", "current"))

			for run := range 4 { // every run is a "restart" from the persisted tokens
				if run > 0 {
					saved := store.last()
					cfg.Credentials.AccessToken, cfg.Credentials.RefreshToken = saved.AccessToken, saved.RefreshToken
					cfg.Credentials.AccessTokenExpiry = time.Time{} // the Secret does not keep the expiry
				}
				c := mustClient(t, cfg)
				for range 3 { // several expiries within one run
					clk.Advance(61 * time.Minute)
					if got := len(listIDs(t, c, "S1", confluence.TypePage)); got != want {
						t.Fatalf("run %d: %d pages, want %d", run, got, want)
					}
					cur := c.Tokens()
					if cur != store.last() {
						t.Fatalf("run %d: client uses tokens that were not persisted", run)
					}
					if !f.srv.RefreshTokenValid(cur.RefreshToken) {
						t.Fatalf("run %d: persisted refresh token is not usable", run)
					}
				}
			}
			if n := len(store.saved); n != 12 {
				t.Fatalf("persisted %d token sets, want 12 (one per refresh)", n)
			}
			for i := 1; i < len(store.saved); i++ {
				if store.saved[i].RefreshToken == store.saved[i-1].RefreshToken {
					t.Fatal("refresh token did not rotate")
				}
			}
		})
	}
}

func TestOAuth2_GatewayAnswering403ForExpiredTokenTriggersRefresh(t *testing.T) {
	for _, status := range []int{403, 404} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			clk := newClock()
			f := newFixture(t, cloud, fakeconfluence.Options{Now: clk.Now, ExpiredTokenStatus: status}, fakeconfluence.DatasetOptions{PagesPerSpace: 3})
			store := &tokenStore{}
			cfg := f.config(t, confluence.AuthOAuth2, store)
			cfg.Now = clk.Now
			c := mustClient(t, cfg)
			clk.Advance(2 * time.Hour)
			if len(listIDs(t, c, "S1", confluence.TypePage)) == 0 || len(store.saved) != 1 {
				t.Fatalf("refreshes = %d, want 1", len(store.saved))
			}
		})
	}
}

func TestOAuth2_PersistFailureStopsWithClearError(t *testing.T) {
	clk := newClock()
	f := newFixture(t, cloud, fakeconfluence.Options{Now: clk.Now}, fakeconfluence.DatasetOptions{PagesPerSpace: 3})
	store := &tokenStore{fail: errors.New("secrets \"conf\" is forbidden")}
	cfg := f.config(t, confluence.AuthOAuth2, store)
	cfg.Now = clk.Now
	c := mustClient(t, cfg)
	clk.Advance(2 * time.Hour)
	ctx := context.Background()
	_, err := c.Verify(ctx)
	if !errors.Is(err, confluence.ErrTokenPersist) || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("err = %v, want ErrTokenPersist", err)
	}
	calls := f.srv.TotalCalls()
	if _, err := c.Verify(ctx); !errors.Is(err, confluence.ErrTokenPersist) {
		t.Fatalf("second call: %v", err)
	}
	if f.srv.TotalCalls() != calls {
		t.Fatal("client kept calling Confluence after losing a refresh token")
	}
}

func TestOAuth2_SpentRefreshTokenIsRejected(t *testing.T) {
	clk := newClock()
	f := newFixture(t, cloud, fakeconfluence.Options{Now: clk.Now}, fakeconfluence.DatasetOptions{PagesPerSpace: 3})
	cfg := f.config(t, confluence.AuthOAuth2, nil)
	cfg.Now = clk.Now
	first := mustClient(t, cfg)
	clk.Advance(2 * time.Hour)
	if _, err := first.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A second client started from the stale Secret reuses the spent token.
	stale := mustClient(t, cfg)
	_, err := stale.Verify(context.Background())
	if !errors.Is(err, confluence.ErrRefreshTokenRejected) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("err = %v, want ErrRefreshTokenRejected (invalid_grant)", err)
	}
}

func TestClient_SurvivesFaultStormsWithinBudget(t *testing.T) {
	tests := map[string]fakeconfluence.Fault{
		"429 with retry-after":    {Status: 429, RetryAfter: "30", Probability: 0.5},
		"503 with retry-after":    {Status: 503, RetryAfter: "2", Probability: 0.4},
		"500s":                    {Status: 500, Probability: 0.4},
		"dropped connections":     {Drop: true, Probability: 0.3},
		"rate-limit reset header": {Status: 429, Headers: map[string]string{"X-RateLimit-Reset": "2099-01-01T00:00:00Z"}, Probability: 0.3},
		"slow responses":          {Latency: 5 * time.Millisecond, Probability: 0.5},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, cloud, fakeconfluence.Options{Seed: 7}, fakeconfluence.DatasetOptions{PagesPerSpace: 200})
			cfg := f.config(t, confluence.AuthBasic, nil)
			cfg.PageSize = 10
			cfg.MaxRetries = 30
			c := mustClient(t, cfg)
			f.srv.AddFault(fault)
			start := time.Now()
			got := listIDs(t, c, "S1", confluence.TypePage)
			assertOnce(t, "pages", got, f.srv.ContentIDs("S1", "page", "current"))
			if time.Since(start) > 10*time.Second {
				t.Fatal("retries were not capped")
			}
		})
	}
}

func TestClient_FailsBoundedWhenRetryBudgetIsExhausted(t *testing.T) {
	f := newFixture(t, cloud, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 120})
	cfg := f.config(t, confluence.AuthBasic, nil)
	cfg.PageSize = 10
	cfg.MaxRetries = 4
	c := mustClient(t, cfg)
	if _, err := c.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The listing starts fine, then the server keeps failing.
	f.srv.AddFault(fakeconfluence.Fault{Endpoint: "content.search", PathContains: "", Status: 503, RetryAfter: "1"})
	f.srv.ResetCalls()
	start := time.Now()
	seen := 0
	err := c.ListContent(context.Background(), confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(confluence.Content) error {
		seen++
		return nil
	})
	if !errors.Is(err, confluence.ErrRetryBudgetExceeded) {
		t.Fatalf("err = %v, want ErrRetryBudgetExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// (The page tree's v2 listing runs before the failing CQL listing.)
	if calls := f.srv.Calls("content.search"); calls != 5 {
		t.Fatalf("server saw %d listing calls, want 1 + 4 retries", calls)
	}

	// A time budget bounds retries too.
	cfg.MaxRetries, cfg.RetryBudget, cfg.MaxRetryAfter = 1000, 50*time.Millisecond, time.Second
	c = mustClient(t, cfg)
	start = time.Now()
	_, err = c.GetSpace(context.Background(), "S1") // Verify hits the fault too
	f.srv.ClearFaults()
	if err != nil {
		t.Fatal(err) // space.get is not faulted; Verify (user.current) neither
	}
	f.srv.AddFault(fakeconfluence.Fault{Status: 500})
	_, err = c.GetSpace(context.Background(), "S1")
	if !errors.Is(err, confluence.ErrRetryBudgetExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestClient_HonoursContextCancellation(t *testing.T) {
	f := newFixture(t, dc, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 50})
	cfg := f.config(t, confluence.AuthBasic, nil)
	cfg.PageSize = 5
	c := mustClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := c.ListContent(ctx, confluence.ContentQuery{SpaceKey: "S1", Type: confluence.TypePage}, func(confluence.Content) error {
		if n++; n == 7 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// logSink collects every log line at every verbosity.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

func TestClient_SecretsNeverAppearInErrorsOrLogs(t *testing.T) {
	// A server that echoes the Authorization header into error bodies.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"message":"bad header %s"}`, r.Header.Get("Authorization"))
	}))
	defer echo.Close()

	clk := newClock()
	f := newFixture(t, dc, fakeconfluence.Options{Now: clk.Now}, fakeconfluence.DatasetOptions{PagesPerSpace: 3})
	var (
		sink    logSink
		errs    []error
		secrets = []string{f.ds.Crawler.Secret, f.ds.Crawler.PAT, appSecret}
	)
	run := func(cfg confluence.Config, f func(*confluence.Client) error) {
		cfg.Logger = sink.logger()
		c, err := confluence.New(cfg)
		if err == nil {
			err = f(c)
		}
		errs = append(errs, err)
	}
	verify := func(c *confluence.Client) error { _, err := c.Verify(context.Background()); return err }

	pat := f.config(t, confluence.AuthPersonalAccessToken, nil)
	pat.BaseURL, pat.MaxRetries = echo.URL, 2
	run(pat, verify)

	basic := f.config(t, confluence.AuthBasic, nil)
	basic.Credentials.Password = "wrong-" + basic.Credentials.Password
	secrets = append(secrets, basic.Credentials.Password)
	run(basic, verify)

	store := &tokenStore{fail: errors.New("cannot write")}
	// OAuth 2.0 is Cloud-only (ErrDataCenterOAuth2).
	fc := newFixture(t, cloud, fakeconfluence.Options{Now: clk.Now}, fakeconfluence.DatasetOptions{PagesPerSpace: 3})
	oauth := fc.config(t, confluence.AuthOAuth2, store)
	oauth.Now = clk.Now
	secrets = append(secrets, oauth.Credentials.AccessToken, oauth.Credentials.RefreshToken)
	clk.Advance(2 * time.Hour)
	run(oauth, verify)

	proxy := f.config(t, confluence.AuthBasic, nil)
	proxy.ProxyURL, proxy.ProxyUsername, proxy.ProxyPassword = "http://127.0.0.1:1", "proxyuser", "proxy-pa55word"
	proxy.MaxRetries = 1
	secrets = append(secrets, proxy.ProxyPassword)
	run(proxy, verify)

	for i, err := range errs {
		if err == nil {
			t.Fatalf("scenario %d unexpectedly succeeded", i)
		}
	}
	var all strings.Builder
	for _, err := range errs {
		all.WriteString(err.Error() + "\n")
	}
	all.WriteString(sink.buf.String())
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Errorf("secret %q leaked:\n%s", s[:3]+"…", all.String())
		}
	}
	if !strings.Contains(all.String(), "[REDACTED]") {
		t.Errorf("expected the echoed PAT to be redacted:\n%s", all.String())
	}
}

// Retry-After: 9223372036854775807 (seen on Atlassian's community forum) must
// wait the capped maximum, not wrap around to 1ms and burn every retry.
func TestClient_HugeRetryAfterWaitsTheCapNotOneMillisecond(t *testing.T) {
	f := newFixture(t, dc, fakeconfluence.Options{}, fakeconfluence.DatasetOptions{PagesPerSpace: 2})
	cfg := f.config(t, confluence.AuthBasic, nil)
	cfg.MaxRetryAfter, cfg.MaxRetries, cfg.RetryBudget = 40*time.Millisecond, 5, time.Minute
	c := mustClient(t, cfg)
	if _, err := c.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv.AddFault(fakeconfluence.Fault{Endpoint: "space.get", Status: 429, RetryAfter: "9223372036854775807", Times: 3})
	start := time.Now()
	if _, err := c.GetSpace(context.Background(), "S1"); err != nil {
		t.Fatalf("three 429s within five retries: %v", err)
	}
	if d := time.Since(start); d < 3*40*time.Millisecond {
		t.Fatalf("three capped waits took %v, want at least %v", d, 3*40*time.Millisecond)
	}
}
