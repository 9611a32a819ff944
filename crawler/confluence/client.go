// Package confluence is a read-only REST client for Atlassian Confluence
// Cloud and Data Center, built for crawling: listings stream through
// callbacks and follow the server's pagination links, bodies, versions,
// ancestors, labels and read restrictions come with the listing call itself,
// and every request goes through a client-side rate limit, retries with a
// bounded budget, and per-endpoint call counters.
//
// Build a Client with New from a Config, call Verify (or let the first call
// do it) and use the listing methods. All methods are safe for concurrent use.
package confluence

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Client talks to one Confluence site.
type Client struct {
	cfg     Config
	site    *url.URL // site base: Cloud https://x.atlassian.net/wiki, DC base incl. context
	http    *http.Client
	limiter *rate.Limiter
	log     redactingLog

	apiBaseOnce sync.Mutex
	apiBase     *url.URL // where REST paths are joined: site, or the OAuth gateway
	// gateway is the cloud id whose API gateway Basic credentials need (a
	// scoped API token); resumed is set while that comes from an earlier
	// run (ResumeGateway) and this one has not confirmed it.
	gateway, resumed string

	tokens *tokenSource // OAuth2 only

	calls      atomic.Int64
	endpointMu sync.Mutex
	endpoints  map[string]int64

	pauseMu    sync.Mutex
	pauseUntil time.Time

	verifyMu sync.Mutex
	verified *User

	spaceIDs sync.Map // space key -> numeric id (Cloud v2)

	dcPermAPIMissing atomic.Bool // DC < 9.1: use JSON-RPC for space permissions
	userByName       sync.Map    // DC username -> User
}

// New validates cfg and builds a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	site, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, site: site, endpoints: map[string]int64{}}
	c.log = redactingLog{l: cfg.Logger, s: &secretSet{}}
	c.log.s.add(cfg.secrets()...)
	c.limiter = rate.NewLimiter(rate.Inf, 1)
	if r := cfg.MaxRequestsPerSecond; r > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(r), max(1, int(r)))
	}
	if c.http, err = c.buildHTTPClient(); err != nil {
		return nil, err
	}
	if cfg.AuthType == AuthOAuth2 {
		tokenURL := cfg.TokenURL
		if tokenURL == "" {
			tokenURL = DefaultTokenURL
			if cfg.Deployment == DataCenter {
				tokenURL = site.String() + "/rest/oauth2/latest/token"
			}
		}
		c.tokens = &tokenSource{
			c:        c,
			tokenURL: tokenURL,
			current: Tokens{
				AccessToken:  cfg.Credentials.AccessToken,
				RefreshToken: cfg.Credentials.RefreshToken,
				Expiry:       cfg.Credentials.AccessTokenExpiry,
			},
		}
	}
	if cfg.Deployment == DataCenter || cfg.AuthType != AuthOAuth2 {
		c.apiBase = site
	} else if cfg.CloudID != "" {
		c.apiBase = c.gatewayBase(cfg.CloudID)
	}
	return c, nil
}

func (c *Client) buildHTTPClient() (*http.Client, error) {
	var hc http.Client
	if c.cfg.HTTPClient != nil {
		hc = *c.cfg.HTTPClient
	}
	base := hc.Transport
	if base == nil {
		base = c.cfg.Transport
	}
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = c.cfg.ResponseHeaderTimeout
		t.MaxIdleConnsPerHost = 16
		if c.cfg.ProxyURL != "" {
			p, _ := url.Parse(c.cfg.ProxyURL)
			if c.cfg.ProxyUsername != "" {
				p.User = url.UserPassword(c.cfg.ProxyUsername, c.cfg.ProxyPassword)
			}
			t.Proxy = http.ProxyURL(p)
		}
		if len(c.cfg.CACertPEM) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(c.cfg.CACertPEM) {
				return nil, fmt.Errorf("%w: CA bundle contains no PEM certificate", ErrInvalidConfig)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		base = t
	}
	hc.Transport = &countingTransport{c: c, next: base}
	userCheck := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		// Credentials only go to the host that received the first request
		// (Confluence); media hosts get a pre-signed URL instead.
		if !sameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		return nil
	}
	return &hc, nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

func (c *Client) gatewayBase(cloudID string) *url.URL {
	u, _ := url.Parse(strings.TrimRight(c.cfg.GatewayURL, "/") + "/ex/confluence/" + url.PathEscape(cloudID) + "/wiki")
	return u
}

// SiteURL is the normalised site base URL (web links are built on it).
func (c *Client) SiteURL() string { return c.site.String() }

// Deployment is the configured deployment.
func (c *Client) Deployment() Deployment { return c.cfg.Deployment }

// APICalls is the number of HTTP requests made so far (including retries,
// redirects and token refreshes).
func (c *Client) APICalls() int64 { return c.calls.Load() }

// APICallsByEndpoint returns a copy of the per-endpoint request counts.
func (c *Client) APICallsByEndpoint() map[string]int64 {
	c.endpointMu.Lock()
	defer c.endpointMu.Unlock()
	out := make(map[string]int64, len(c.endpoints))
	for k, v := range c.endpoints {
		out[k] = v
	}
	return out
}

type endpointKey struct{}

// countingTransport counts every HTTP request, per logical endpoint.
type countingTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.calls.Add(1)
	ep, _ := r.Context().Value(endpointKey{}).(string)
	if ep == "" {
		ep = "other"
	}
	t.c.endpointMu.Lock()
	t.c.endpoints[ep]++
	t.c.endpointMu.Unlock()
	return t.next.RoundTrip(r)
}

// resolveAPIBase returns the base REST paths are joined to, discovering the
// Cloud id for OAuth2 when it was not configured.
func (c *Client) resolveAPIBase(ctx context.Context) (*url.URL, error) {
	c.apiBaseOnce.Lock()
	defer c.apiBaseOnce.Unlock()
	if c.apiBase != nil {
		return c.apiBase, nil
	}
	id, err := c.discoverCloudID(ctx)
	if err != nil {
		return nil, err
	}
	c.apiBase = c.gatewayBase(id)
	return c.apiBase, nil
}

// discoverCloudID reads the site's cloud id from <site-root>/_edge/tenant_info.
func (c *Client) discoverCloudID(ctx context.Context) (string, error) {
	u := *c.site
	u.Path = "/_edge/tenant_info"
	var out struct {
		CloudID string `json:"cloudId"`
	}
	if err := c.doJSON(ctx, call{endpoint: "tenant_info", abs: &u, noAuth: true, once: true}, &out); err != nil {
		return "", fmt.Errorf("discovering the Cloud id of %s (set it explicitly to skip this): %w", c.site.Host, err)
	}
	if out.CloudID == "" {
		return "", fmt.Errorf("%w: %s/_edge/tenant_info returned no cloudId; is this a Cloud site?", ErrWrongDeployment, c.site.Host)
	}
	return out.CloudID, nil
}

// wait blocks for the rate limiter and any server-requested pause.
func (c *Client) wait(ctx context.Context) error {
	c.pauseMu.Lock()
	until := c.pauseUntil
	c.pauseMu.Unlock()
	if d := until.Sub(c.cfg.Now()); d > 0 {
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	return c.limiter.Wait(ctx)
}

func (c *Client) pause(d time.Duration) {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	if t := c.cfg.Now().Add(d); t.After(c.pauseUntil) {
		c.pauseUntil = t
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isTransient reports network errors worth retrying.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	// TLS to a plain-HTTP server, or a certificate that does not verify,
	// will not get better by retrying (url.Error is a net.Error, so check first).
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	if errors.As(err, &rh) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	for _, frag := range []string{"EOF", "connection reset", "broken pipe", "connection refused", "server closed"} {
		if strings.Contains(s, frag) {
			return true
		}
	}
	return false
}
