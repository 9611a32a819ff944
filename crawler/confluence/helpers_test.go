package confluence_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// clock is a settable clock shared by the fake and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tokenStore records persisted OAuth tokens.
type tokenStore struct {
	mu    sync.Mutex
	saved []confluence.Tokens
	fail  error
}

func (s *tokenStore) persist(_ context.Context, t confluence.Tokens) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.saved = append(s.saved, t)
	return nil
}

func (s *tokenStore) last() confluence.Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.saved) == 0 {
		return confluence.Tokens{}
	}
	return s.saved[len(s.saved)-1]
}

const (
	appKey    = "app-key-1"
	appSecret = "app-s3cr3t-value"
)

// fixture is a fake with a generated data set and a way to build clients.
type fixture struct {
	srv *fakeconfluence.Server
	ds  fakeconfluence.Dataset
}

func newFixture(t testing.TB, dep fakeconfluence.Deployment, opts fakeconfluence.Options, data fakeconfluence.DatasetOptions) *fixture {
	t.Helper()
	opts.Deployment = dep
	srv := fakeconfluence.New(opts)
	t.Cleanup(srv.Close)
	srv.RegisterOAuthApp(appKey, appSecret)
	return &fixture{srv: srv, ds: srv.Generate(data)}
}

// config returns a client configuration for an auth type.
func (f *fixture) config(t testing.TB, auth confluence.AuthType, store *tokenStore) confluence.Config {
	t.Helper()
	dep := confluence.Cloud
	if f.srv.Deployment() == fakeconfluence.DataCenter {
		dep = confluence.DataCenter
	}
	cfg := confluence.Config{
		BaseURL: f.srv.URL(), Deployment: dep, AuthType: auth,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 10 * time.Millisecond, MaxRetryAfter: 10 * time.Millisecond,
		RetryBudget: 5 * time.Second,
	}
	switch auth {
	case confluence.AuthBasic:
		cfg.Credentials.Username = f.ds.Crawler.Email
		if dep == confluence.DataCenter {
			cfg.Credentials.Username = f.ds.Crawler.Username
		}
		cfg.Credentials.Password = f.ds.Crawler.Secret
	case confluence.AuthPersonalAccessToken:
		cfg.Credentials.PAT = f.ds.Crawler.PAT
	case confluence.AuthOAuth2:
		access, refresh := f.srv.IssueOAuthTokens(f.ds.Crawler.ID)
		cfg.Credentials.AppKey, cfg.Credentials.AppSecret = appKey, appSecret
		cfg.Credentials.AccessToken, cfg.Credentials.RefreshToken = access, refresh
		cfg.GatewayURL, cfg.TokenURL = f.srv.RootURL(), f.srv.TokenURL()
		if store == nil {
			store = &tokenStore{}
		}
		cfg.PersistTokens = store.persist
	}
	return cfg
}

func mustClient(t testing.TB, cfg confluence.Config) *confluence.Client {
	t.Helper()
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func listIDs(t testing.TB, c *confluence.Client, space string, typ confluence.ContentType) []string {
	t.Helper()
	var ids []string
	err := c.ListContent(context.Background(), confluence.ContentQuery{SpaceKey: space, Type: typ}, func(ct confluence.Content) error {
		ids = append(ids, ct.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("ListContent(%s): %v", space, err)
	}
	return ids
}
