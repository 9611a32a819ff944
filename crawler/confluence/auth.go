package confluence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// refreshSkew refreshes an access token this long before it expires.
	refreshSkew = time.Minute
	// nearExpiryWindow: inside it, a 403/404 may be an expired token in disguise.
	nearExpiryWindow = 5 * time.Minute
)

// tokenSource holds the OAuth2 tokens and refreshes them one at a time.
type tokenSource struct {
	c        *Client
	tokenURL string

	mu      sync.Mutex
	current Tokens
	failed  error // sticky: set when a rotated token could not be persisted
}

// access returns a usable access token, refreshing first when it is missing
// or (known to be) about to expire.
func (ts *tokenSource) access(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.failed != nil {
		return "", ts.failed
	}
	exp := ts.current.Expiry
	if ts.current.AccessToken == "" || (!exp.IsZero() && ts.c.cfg.Now().After(exp.Add(-refreshSkew))) {
		if err := ts.refreshLocked(ctx); err != nil {
			return "", err
		}
	}
	return ts.current.AccessToken, nil
}

// refresh replaces the access token `used` unless another caller already did.
func (ts *tokenSource) refresh(ctx context.Context, used string) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.failed != nil {
		return ts.failed
	}
	if ts.current.AccessToken != used {
		return nil // refreshed concurrently
	}
	return ts.refreshLocked(ctx)
}

// nearExpiry reports whether the access token may have expired; an unknown
// expiry counts as near.
func (ts *tokenSource) nearExpiry() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	exp := ts.current.Expiry
	return exp.IsZero() || ts.c.cfg.Now().After(exp.Add(-nearExpiryWindow))
}

// Tokens returns the current OAuth2 token set (zero for other auth types).
func (c *Client) Tokens() Tokens {
	if c.tokens == nil {
		return Tokens{}
	}
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	return c.tokens.current
}

func (ts *tokenSource) refreshLocked(ctx context.Context) error {
	c := ts.c
	cr := c.cfg.Credentials
	u, err := url.Parse(ts.tokenURL)
	if err != nil {
		return fmt.Errorf("%w: token url is not a URL", ErrInvalidConfig)
	}
	cl := call{endpoint: "oauth.token", method: "POST", abs: u, noAuth: true}
	if c.cfg.Deployment == Cloud {
		cl.contentType = "application/json"
		cl.body, _ = json.Marshal(map[string]string{
			"grant_type":    "refresh_token",
			"client_id":     cr.AppKey,
			"client_secret": cr.AppSecret,
			"refresh_token": ts.current.RefreshToken,
		})
	} else {
		cl.contentType = "application/x-www-form-urlencoded"
		cl.body = []byte(url.Values{
			"grant_type":    {"refresh_token"},
			"client_id":     {cr.AppKey},
			"client_secret": {cr.AppSecret},
			"refresh_token": {ts.current.RefreshToken},
		}.Encode())
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := c.doJSON(ctx, cl, &out); err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 {
			return fmt.Errorf("%w by %s (HTTP %d%s): re-authorise the app and update confluenceRefreshToken",
				ErrRefreshTokenRejected, u.Host, he.StatusCode, grantHint(he.Body))
		}
		return fmt.Errorf("refreshing the OAuth2 access token at %s: %w", u.Host, err)
	}
	if out.AccessToken == "" {
		return fmt.Errorf("%w: token endpoint %s returned no access_token", ErrRefreshTokenRejected, u.Host)
	}
	next := Tokens{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken}
	if next.RefreshToken == "" {
		next.RefreshToken = ts.current.RefreshToken // non-rotating server
	}
	if out.ExpiresIn > 0 {
		next.Expiry = c.cfg.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	// The new refresh token must be stored before anything uses the new
	// access token: the old one is spent now.
	c.log.s.add(next.AccessToken, next.RefreshToken)
	if err := c.cfg.PersistTokens(ctx, next); err != nil {
		ts.failed = fmt.Errorf("%w: %s; stopping so that the rotated refresh token is not lost silently", ErrTokenPersist, c.redact(err.Error()))
		return ts.failed
	}
	ts.current = next
	c.log.V(1).Info("refreshed OAuth2 access token", "expiry", next.Expiry.Format(time.RFC3339))
	return nil
}

func grantHint(body string) string {
	if strings.Contains(body, "invalid_grant") {
		return ", invalid_grant"
	}
	return ""
}

// Verify checks that the credentials work and name a real user on the
// configured deployment, and returns that user. On Data Center it fails with
// ErrAnonymous if the server ran the request as anonymous (CONFSERVER-98199).
// The first call of any other method runs it implicitly; a success is cached.
func (c *Client) Verify(ctx context.Context) (User, error) {
	c.verifyMu.Lock()
	defer c.verifyMu.Unlock()
	if c.verified != nil {
		return *c.verified, nil
	}
	var raw wireUser
	err := c.doJSON(ctx, call{endpoint: "user.current", path: "/rest/api/user/current"}, &raw)
	if errors.Is(err, ErrCredentialsRejected) && c.unresume() {
		// The gateway an earlier run used refuses them: start from the site.
		err = c.doJSON(ctx, call{endpoint: "user.current", path: "/rest/api/user/current"}, &raw)
	}
	if errors.Is(err, ErrCredentialsRejected) && c.cfg.Deployment == Cloud && c.cfg.AuthType == AuthBasic {
		err = c.tryScopedToken(ctx, err, &raw)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return User{}, fmt.Errorf("%w: %s has no Confluence REST API at /rest/api (check the URL and the deployment %s): %w", ErrWrongDeployment, c.site, c.cfg.Deployment, err)
		}
		return User{}, fmt.Errorf("verifying the Confluence identity: %w", err)
	}
	if raw.Type == "anonymous" {
		return User{}, fmt.Errorf("%w: %s answered as the anonymous user, so the %s credentials were ignored (invalid or expired token?)", ErrAnonymous, c.site, c.cfg.AuthType)
	}
	switch {
	case c.cfg.Deployment == Cloud && raw.AccountID == "" && (raw.UserKey != "" || raw.Username != ""):
		return User{}, fmt.Errorf("%w: %s answers like Confluence Data Center (userKey, no accountId) but deployment is %s", ErrWrongDeployment, c.site, Cloud)
	case c.cfg.Deployment == DataCenter && raw.AccountID != "" && raw.UserKey == "":
		return User{}, fmt.Errorf("%w: %s answers like Confluence Cloud (accountId) but deployment is %s", ErrWrongDeployment, c.site, DataCenter)
	case raw.AccountID == "" && raw.UserKey == "":
		return User{}, fmt.Errorf("verifying the Confluence identity: %s returned a user without accountId or userKey", c.site)
	}
	u := raw.user()
	c.verified = &u
	c.apiBaseOnce.Lock()
	if c.resumed != "" {
		c.gateway, c.resumed = c.resumed, ""
	}
	c.apiBaseOnce.Unlock()
	return u, nil
}

// Gateway is the cloud id whose API gateway the verified Basic credentials
// need (a Cloud scoped API token, see tryScopedToken), "" if they work on
// the site.
func (c *Client) Gateway() string {
	c.apiBaseOnce.Lock()
	defer c.apiBaseOnce.Unlock()
	return c.gateway
}

// ResumeGateway sends requests to the API gateway of cloudID from the
// start, as an earlier run found the credentials need (Gateway), instead
// of having the site refuse them first on every run. If the gateway
// refuses them, Verify goes back to the site and decides again.
func (c *Client) ResumeGateway(cloudID string) {
	if cloudID == "" || c.cfg.Deployment != Cloud || c.cfg.AuthType != AuthBasic {
		return
	}
	c.apiBaseOnce.Lock()
	defer c.apiBaseOnce.Unlock()
	c.apiBase, c.resumed = c.gatewayBase(cloudID), cloudID
}

// unresume undoes ResumeGateway; it reports whether there was anything to undo.
func (c *Client) unresume() bool {
	c.apiBaseOnce.Lock()
	defer c.apiBaseOnce.Unlock()
	if c.resumed == "" {
		return false
	}
	c.apiBase, c.resumed = c.site, ""
	return true
}

// Identity is who the verified credentials act as, as the deployment's
// identity header names them (see identityHeader): the account id on
// Cloud, the username on Data Center; "" until Verify succeeded.
func (c *Client) Identity() string {
	c.verifyMu.Lock()
	defer c.verifyMu.Unlock()
	switch {
	case c.verified == nil:
		return ""
	case c.cfg.Deployment == DataCenter:
		return c.verified.Username
	}
	return c.verified.AccountID
}

func (c *Client) isVerified() bool {
	c.verifyMu.Lock()
	defer c.verifyMu.Unlock()
	return c.verified != nil
}

// identityHeader names the response header that says who a request ran as.
// Data Center: X-AUSERNAME, "the username of the authenticated user or
// 'anonymous'" (Atlassian DC REST "Special headers", written for Service
// Management, whose login layer Confluence shares; Confluence DC's default
// access log records it as %{X-AUSERNAME}o, "Configure access logs").
// Cloud: X-AACCOUNTID, the caller's account id: unverified for Confluence
// Cloud (no Confluence reference documents it), so ranAs trusts it only
// when it names the user that user/current returned on an earlier run.
func (c *Client) identityHeader() string {
	if c.cfg.Deployment == DataCenter {
		return "X-AUSERNAME"
	}
	return "X-AACCOUNTID"
}

// ranAs reports whether an answer's headers prove that the request ran as
// knownAs, an Identity verified on an earlier run. Only that exact value
// proves it: no header (a server or proxy that does not send it),
// "anonymous" (CONFSERVER-98199: a bad token runs as anonymous) or another
// user proves nothing, and the caller verifies the credentials instead.
func (c *Client) ranAs(h http.Header, knownAs string) bool {
	v := h.Get(c.identityHeader())
	return knownAs != "" && v == knownAs && !strings.EqualFold(v, "anonymous")
}

// ready makes sure the identity was verified before any listing.
func (c *Client) ready(ctx context.Context) error {
	_, err := c.Verify(ctx)
	return err
}

// tryScopedToken handles a Cloud site that rejected Basic credentials: an
// "API token with scopes" is refused by the site and accepted only through
// the gateway <GatewayURL>/ex/confluence/<cloudId> (CLOUD-12617; Atlassian's
// "Manage API tokens for your Atlassian account"), while classic tokens are
// being deprecated. So the client asks the gateway once, with the cloud id
// configured or read from <site>/_edge/tenant_info, and keeps using the
// gateway if it accepts the token. siteErr is returned, with the gateway's
// answer, if it does not.
func (c *Client) tryScopedToken(ctx context.Context, siteErr error, raw *wireUser) error {
	id := c.cfg.CloudID
	if id == "" {
		var err error
		if id, err = c.discoverCloudID(ctx); err != nil {
			return fmt.Errorf("%w (a scoped API token needs the gateway, but %v)", siteErr, err)
		}
	}
	gw := c.gatewayBase(id)
	u, err := url.Parse(gw.String() + "/rest/api/user/current")
	if err != nil {
		return siteErr
	}
	if err := c.doJSON(ctx, call{endpoint: "user.current", abs: u, once: true}, raw); err != nil {
		return fmt.Errorf("%w; the API gateway for scoped tokens (%s) refused them too: %v", siteErr, gw.Host, err)
	}
	c.apiBaseOnce.Lock()
	c.apiBase, c.gateway = gw, id
	c.apiBaseOnce.Unlock()
	c.log.V(1).Info("the site refused the API token and the gateway accepted it: a scoped API token; using the gateway", "gateway", gw.String())
	return nil
}
