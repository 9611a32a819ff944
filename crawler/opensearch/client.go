// Package opensearch is the crawler's and the search side's view of
// OpenSearch: the versioned index template and alias per index name, the
// bulk sink, change-detection reads, per-data-source checkpoints, the
// identity index, and the ACL filter applied to searches (also exported as a
// query snippet and as an OpenSearch Security DLS role).
//
// The package takes plain configuration structs and never depends on the
// Kubernetes API types.
package opensearch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	opensearchgo "github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
)

// Config says how to reach a cluster.
type Config struct {
	// Endpoints are base URLs such as https://opensearch.search.svc:9200.
	Endpoints []string
	// Username and Password select HTTP basic authentication.
	Username string
	Password string
	// APIKey, when set, is sent as "Authorization: ApiKey <key>" instead.
	APIKey string
	// CACert is a PEM bundle of certificate authorities to trust.
	CACert []byte
	// InsecureSkipVerify disables TLS verification. For tests only.
	InsecureSkipVerify bool
	// MaxRetries bounds transport retries of 429, 502, 503, 504 and network
	// errors per request (default 5).
	MaxRetries int
	// RetryBackoff returns the wait before retry attempt n (1-based); the
	// default is jittered exponential from 200ms, capped at 10s.
	RetryBackoff func(attempt int) time.Duration
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
	// RequestTimeout bounds one request, its retries and the read of its
	// body (default DefaultRequestTimeout), so a node that stalls after the
	// headers fails the run instead of hanging it.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout leaves room for a delete-by-query over a large
// source while still ending a run whose node stopped answering.
const DefaultRequestTimeout = 5 * time.Minute

// Client wraps the official opensearch-go client.
type Client struct {
	api *opensearchapi.Client
	// backoff is the configured retry backoff, reused by sinks.
	backoff func(attempt int) time.Duration
	// timeout bounds each request including its body (Config.RequestTimeout).
	timeout time.Duration
}

// NewClient builds a client from cfg. It does not contact the cluster.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("opensearch: no endpoints configured")
	}
	if cfg.APIKey != "" && (cfg.Username != "" || cfg.Password != "") {
		return nil, errors.New("opensearch: configure either username/password or an API key, not both")
	}
	maxRetries := cfg.MaxRetries
	if maxRetries == 0 {
		maxRetries = 5
	}
	backoff := cfg.RetryBackoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	disableNodeStatsPoll()
	oc := opensearchgo.Config{
		Addresses:          cfg.Endpoints,
		Username:           cfg.Username,
		Password:           cfg.Password,
		CACert:             cfg.CACert,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		RetryOnStatus:      []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:         maxRetries,
		RetryBackoff:       backoff,
		Transport:          cfg.Transport,
	}
	if cfg.APIKey != "" {
		oc.Header = http.Header{"Authorization": []string{"ApiKey " + cfg.APIKey}}
	}
	api, err := opensearchapi.NewClient(opensearchapi.Config{Client: oc})
	if err != nil {
		return nil, fmt.Errorf("opensearch: %w", err)
	}
	return &Client{api: api, backoff: backoff, timeout: cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)}, nil
}

// DefaultBackoff is jittered exponential backoff: about 200ms, 400ms, 800ms…
// capped at 10s.
func DefaultBackoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt-1, 6)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// API exposes the underlying typed client.
func (c *Client) API() *opensearchapi.Client { return c.api }

// Close releases the client's background resources.
func (c *Client) Close() error { return c.api.Close() }

// Version returns the cluster's distribution and version number (GET /).
func (c *Client) Version(ctx context.Context) (string, error) {
	var info struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
		} `json:"version"`
	}
	if err := c.do(ctx, http.MethodGet, "/", nil, nil, &info); err != nil {
		return "", err
	}
	return strings.TrimSpace(info.Version.Distribution + " " + info.Version.Number), nil
}

// Error is an error answered by OpenSearch.
type Error struct {
	Status int
	Type   string
	Reason string
	// CausedBy is the reason of the nested cause, if any.
	CausedBy string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("opensearch: %d %s: %s", e.Status, e.Type, e.Reason)
	if e.CausedBy != "" {
		s += " (caused by: " + e.CausedBy + ")"
	}
	return s
}

// IsNotFound reports whether err is an OpenSearch 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func hasType(err error, typ string) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == typ
}

// errorBody is OpenSearch's error envelope; "error" is an object, or a bare
// string for a few APIs such as GET _alias.
type errorBody struct {
	Error  json.RawMessage `json:"error"`
	Status int             `json:"status"`
}

type errorDetail struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

func (d *errorDetail) toError(status int) *Error {
	e := &Error{Status: status, Type: excerpt(d.Type, 100), Reason: excerpt(d.Reason, maxReason)}
	if d.CausedBy != nil {
		e.CausedBy = excerpt(d.CausedBy.Type+": "+d.CausedBy.Reason, maxReason)
	}
	return e
}

// Error bodies are read up to maxErrorBody bytes, and the reasons taken from
// them cut to maxReason: they end up in logs and in the data source's
// status, and a hostile or broken endpoint must not fill either.
const (
	maxErrorBody = 64 << 10
	maxReason    = 300
)

// excerpt cuts s to n bytes on a rune boundary and replaces control
// characters and invalid UTF-8 with spaces.
func excerpt(s string, n int) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func parseError(status int, body []byte) *Error {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 {
		var d errorDetail
		if json.Unmarshal(eb.Error, &d) == nil && d.Type != "" {
			return d.toError(status)
		}
		var s string
		if json.Unmarshal(eb.Error, &s) == nil {
			return &Error{Status: status, Type: "error", Reason: excerpt(s, maxReason)}
		}
	}
	return &Error{Status: status, Type: http.StatusText(status), Reason: excerpt(strings.TrimSpace(string(body)), 200)}
}

// request implements opensearchgo.Request for paths the typed API does not
// cover conveniently.
type request struct {
	path  string
	query url.Values
	body  []byte
}

func (r request) GetRequest(method string) (*http.Request, error) {
	u := r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		ct := "application/json"
		if strings.HasSuffix(r.path, "/_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	return req, nil
}

// do sends one request; body is marshalled unless it is already []byte, and
// the answer is decoded into out (if not nil). Error statuses become *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return fmt.Errorf("opensearch: encode %s %s: %w", method, path, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := opensearchgo.Do[json.RawMessage](ctx, c.api.Client, method, request{path: path, query: query, body: raw}, nil)
	if err != nil {
		return fmt.Errorf("opensearch: %s %s: %w", method, path, err)
	}
	var data []byte
	if resp.Body != nil {
		defer resp.Body.Close()
		var src io.Reader = resp.Body
		if resp.StatusCode >= 300 {
			src = io.LimitReader(resp.Body, maxErrorBody)
		}
		if data, err = io.ReadAll(src); err != nil {
			return fmt.Errorf("opensearch: %s %s: read body: %w", method, path, err)
		}
	}
	if resp.StatusCode >= 300 {
		return parseError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("opensearch: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// nodeStatsEnv is opensearch-go's switch for its node-stats poller.
const nodeStatsEnv = "OPENSEARCH_GO_NODE_STATS_INTERVAL"

// disableNodeStatsPoll turns off opensearch-go's background poll of
// /_nodes/_local/stats (every 5 s, for load shedding between nodes): it
// needs cluster:monitor/nodes/stats, which the crawler's least-privilege role
// does not grant, and the library's Config has no field for it, only this
// environment variable (a value the user set is kept).
func disableNodeStatsPoll() {
	if _, set := os.LookupEnv(nodeStatsEnv); !set {
		_ = os.Setenv(nodeStatsEnv, "-1")
	}
}
