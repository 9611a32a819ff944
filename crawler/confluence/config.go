package confluence

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Deployment is the kind of Confluence installation.
type Deployment string

const (
	// Cloud is Confluence Cloud (https://<site>.atlassian.net/wiki).
	Cloud Deployment = "Cloud"
	// DataCenter is Confluence Data Center or Server (base URL incl. context path).
	DataCenter Deployment = "DataCenter"
)

// AuthType selects how the client authenticates.
type AuthType string

const (
	// AuthBasic is HTTP Basic: Cloud e-mail + API token, or DC user name + password.
	AuthBasic AuthType = "Basic"
	// AuthOAuth2 is OAuth 2.0 with an access token and a (rotating) refresh token.
	AuthOAuth2 AuthType = "OAuth2"
	// AuthPersonalAccessToken is a Data Center personal access token (Bearer).
	AuthPersonalAccessToken AuthType = "PersonalAccessToken"
)

// Default endpoints of Atlassian's OAuth 2.0 service for Cloud.
const (
	DefaultGatewayURL = "https://api.atlassian.com"
	DefaultTokenURL   = "https://auth.atlassian.com/oauth/token"
)

// Credentials holds the secret values, named after the credential Secret keys
// (DESIGN §2). Only the fields of the configured AuthType are used.
type Credentials struct {
	// Username and Password: Secret keys `username` and `password`
	// (Cloud: account e-mail and API token; Data Center: user name and password).
	Username string
	Password string

	// AppKey, AppSecret, AccessToken, RefreshToken: Secret keys
	// `confluenceAppKey`, `confluenceAppSecret`, `confluenceAccessToken`,
	// `confluenceRefreshToken`.
	AppKey       string
	AppSecret    string
	AccessToken  string
	RefreshToken string
	// AccessTokenExpiry is when AccessToken expires; zero means unknown, in
	// which case the token is treated as possibly expired.
	AccessTokenExpiry time.Time

	// PAT is the Data Center personal access token (Secret key `patToken`).
	PAT string
}

// Tokens is an OAuth 2.0 token set as returned by a refresh.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
}

// TokenPersister stores a rotated token set. The client calls it with the NEW
// refresh token before it uses the new access token; if it fails, the client
// stops with ErrTokenPersist.
type TokenPersister func(ctx context.Context, t Tokens) error

// Config configures a Client. The caller (the crawler) builds it from the
// ConfluenceDataSource spec and its credential Secret.
type Config struct {
	// BaseURL is the Cloud site (https://<site>.atlassian.net/wiki) or the
	// Data Center base URL including the context path.
	BaseURL    string
	Deployment Deployment
	AuthType   AuthType
	// Credentials holds the secret values for AuthType.
	Credentials Credentials
	// PersistTokens is required with OAuth2: it receives every rotated token set.
	PersistTokens TokenPersister

	// CloudID is the Cloud site id used for OAuth2 gateway requests; when
	// empty it is discovered from <site>/_edge/tenant_info.
	CloudID string
	// GatewayURL is the OAuth2 API gateway (default DefaultGatewayURL);
	// requests go to <GatewayURL>/ex/confluence/<cloudId>/wiki/...
	GatewayURL string
	// TokenURL is the OAuth2 token endpoint (Cloud default DefaultTokenURL;
	// Data Center default <BaseURL>/rest/oauth2/latest/token).
	TokenURL string

	// MaxRequestsPerSecond is the client-side token bucket rate; <= 0 means unlimited.
	MaxRequestsPerSecond float64

	// ProxyURL is an optional HTTP(S) proxy; ProxyUsername/ProxyPassword are
	// its optional credentials.
	ProxyURL      string
	ProxyUsername string
	ProxyPassword string
	// CACertPEM holds extra trusted CA certificates (PEM) for Confluence.
	CACertPEM []byte

	// HTTPClient overrides the HTTP client (its Transport is still wrapped for
	// counting, and redirects still drop credentials off the Confluence host).
	HTTPClient *http.Client
	// Transport overrides the base transport when HTTPClient is nil.
	Transport http.RoundTripper

	// RetryBudget bounds the total time one request may spend retrying
	// (default 5m). MaxRetries bounds the attempts (default 10).
	RetryBudget time.Duration
	MaxRetries  int
	// RetryBaseDelay is the first backoff delay (default 500ms), doubled per
	// attempt up to RetryMaxDelay (default 30s), with jitter.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxRetryAfter caps server-requested waits (Retry-After, X-RateLimit-Reset); default 60s.
	MaxRetryAfter time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers (default 60s)
	// when the client builds its own transport.
	ResponseHeaderTimeout time.Duration

	// PageSize is the requested page size of listings; 0 asks for the
	// server's maximum (servers cap it anyway).
	PageSize int

	// Logger receives debug logs; it never sees secret values.
	Logger logr.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.RetryBudget <= 0 {
		c.RetryBudget = 5 * time.Minute
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 10
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = 500 * time.Millisecond
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = 30 * time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 60 * time.Second
	}
	if c.ResponseHeaderTimeout <= 0 {
		c.ResponseHeaderTimeout = 60 * time.Second
	}
	if c.GatewayURL == "" {
		c.GatewayURL = DefaultGatewayURL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger.GetSink() == nil {
		c.Logger = logr.Discard()
	}
}

// validate checks the configuration without any network access and returns
// the normalised site base URL.
func (c *Config) validate() (*url.URL, error) {
	if c.Deployment != Cloud && c.Deployment != DataCenter {
		return nil, fmt.Errorf("%w: deployment %q must be %q or %q", ErrInvalidConfig, c.Deployment, Cloud, DataCenter)
	}
	u, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q must be an absolute http(s) URL", ErrInvalidConfig, c.BaseURL)
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	atlassian := strings.HasSuffix(strings.ToLower(u.Hostname()), ".atlassian.net")
	switch c.Deployment {
	case DataCenter:
		if atlassian {
			return nil, fmt.Errorf("%w: %s is an Atlassian Cloud site but deployment is %s; set deployment: %s", ErrWrongDeployment, u.Host, DataCenter, Cloud)
		}
		if c.AuthType == AuthOAuth2 {
			return nil, ErrDataCenterOAuth2
		}
	case Cloud:
		if atlassian && u.Path == "" {
			u.Path = "/wiki" // Confluence lives under /wiki on Cloud sites
		}
		if c.AuthType == AuthPersonalAccessToken {
			return nil, fmt.Errorf("%w: auth type %s is only supported on %s; use Basic (e-mail + API token) or OAuth2 on Cloud", ErrInvalidConfig, AuthPersonalAccessToken, DataCenter)
		}
	}
	cr := c.Credentials
	var missing []string
	need := func(v, key string) {
		if v == "" {
			missing = append(missing, key)
		}
	}
	switch c.AuthType {
	case AuthBasic:
		need(cr.Username, "username")
		need(cr.Password, "password")
	case AuthOAuth2:
		need(cr.AppKey, "confluenceAppKey")
		need(cr.AppSecret, "confluenceAppSecret")
		need(cr.RefreshToken, "confluenceRefreshToken")
		if c.PersistTokens == nil {
			return nil, fmt.Errorf("%w: OAuth2 needs a token persister: refresh tokens rotate and must be stored", ErrInvalidConfig)
		}
	case AuthPersonalAccessToken:
		need(cr.PAT, "patToken")
	default:
		return nil, fmt.Errorf("%w: auth type %q must be %s, %s or %s", ErrInvalidConfig, c.AuthType, AuthBasic, AuthOAuth2, AuthPersonalAccessToken)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s credentials lack %s", ErrInvalidConfig, c.AuthType, strings.Join(missing, ", "))
	}
	if c.ProxyURL != "" {
		if p, err := url.Parse(c.ProxyURL); err != nil || p.Host == "" {
			return nil, fmt.Errorf("%w: proxy url is not a valid URL", ErrInvalidConfig)
		}
	}
	return u, nil
}

// secrets lists the secret values that must never appear in logs or errors.
func (c *Config) secrets() []string {
	cr := c.Credentials
	return []string{cr.Password, cr.AppSecret, cr.AccessToken, cr.RefreshToken, cr.PAT, c.ProxyPassword}
}
