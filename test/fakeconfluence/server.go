// Package fakeconfluence is an in-process Confluence (Cloud and Data Center
// flavours) for tests, benchmarks and demos. It serves the REST endpoints the
// crawler's client uses with the real JSON shapes, pagination schemes
// (v1 start/limit via _links.next, Cloud CQL and v2 cursors) and server-side
// limit caps, checks auth per type (Basic, DC personal access tokens, OAuth
// 2.0 bearer tokens with expiry and single-use rotating refresh tokens, DC
// anonymous access), keeps a mutable data model, injects faults (429, 5xx,
// latency, dropped connections) and counts requests per endpoint.
package fakeconfluence

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Deployment is the flavour the server imitates.
type Deployment string

const (
	Cloud      Deployment = "Cloud"
	DataCenter Deployment = "DataCenter"
)

// Options configure a Server.
type Options struct {
	// Deployment defaults to Cloud.
	Deployment Deployment
	// ContextPath is the DC context path (default "/confluence"; "" is allowed
	// via NoContextPath). Cloud always uses "/wiki".
	ContextPath   string
	NoContextPath bool
	// CloudID is the Cloud site id (default a fixed UUID).
	CloudID string
	// DCVersion: "9.1" or later serves /rest/api/space/{key}/permissions;
	// earlier versions only the JSON-RPC API. Default "9.2".
	DCVersion string
	// AnonymousAccess makes DC run unauthenticated requests (and requests
	// with unknown bearer tokens, CONFSERVER-98199) as anonymous.
	AnonymousAccess bool
	// AccessTokenTTL is the OAuth access token lifetime (default 1h).
	AccessTokenTTL time.Duration
	// ExpiredTokenStatus is the status for an expired OAuth access token
	// (default 401; the Atlassian gateway sometimes answers 403 or 404).
	ExpiredTokenStatus int
	// ExpandedRestrictionCap caps users/groups embedded in content
	// listings (default 100); beyond it the list carries a next link.
	ExpandedRestrictionCap int
	// CQLLocation is the time zone CQL dates are read in (default UTC).
	CQLLocation *time.Location
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Seed seeds fault probabilities (default 1).
	Seed uint64
	// DCRateLimit turns on Data Center's REST rate limit (nil = off, as
	// it is by default on Data Center).
	DCRateLimit *TokenBucket
}

// Server is a running fake Confluence.
type Server struct {
	opts   Options
	bucket *bucket // DCRateLimit

	mu      sync.RWMutex
	st      *store
	cacheMu sync.Mutex // guards st.cache, which readers fill

	items itemCache // rendered listing items (see itemJSON)

	authMu    sync.Mutex
	apps      map[string]string      // OAuth client id -> secret
	redirects map[string]string      // OAuth client id -> registered redirect URI (DC)
	access    map[string]accessToken // access token -> grant
	refresh   map[string]*refreshGrant

	faultMu sync.Mutex
	faults  []*Fault
	latency time.Duration
	rng     *rand.Rand

	callMu sync.Mutex
	calls  map[string]int64
	total  atomic.Int64
	// AuthLeaks counts requests that reached the media host with an
	// Authorization header (should stay 0).
	authLeaks atomic.Int64

	main  *httptest.Server
	media *httptest.Server

	wh webhookState
}

type accessToken struct {
	user    string
	family  int64
	expires time.Time
}

type refreshGrant struct {
	user    string
	family  int64
	spent   bool
	revoked bool
}

// New starts a fake Confluence on 127.0.0.1. Close it when done.
func New(opts Options) *Server {
	s := NewUnstarted(opts)
	s.main = httptest.NewServer(s.Handler())
	s.media = httptest.NewServer(http.HandlerFunc(s.serveMedia))
	return s
}

// NewUnstarted builds a server without listening; serve Handler() yourself
// (attachment downloads then redirect to the same handler's /media/ path).
func NewUnstarted(opts Options) *Server {
	if opts.Deployment == "" {
		opts.Deployment = Cloud
	}
	if opts.Deployment == DataCenter && opts.ContextPath == "" && !opts.NoContextPath {
		opts.ContextPath = "/confluence"
	}
	if opts.Deployment == Cloud {
		opts.ContextPath = "/wiki"
	}
	opts.ContextPath = strings.TrimRight(opts.ContextPath, "/")
	if opts.CloudID == "" {
		opts.CloudID = "a436116f-02ce-4520-8fbb-7301462a1674"
	}
	if opts.DCVersion == "" {
		opts.DCVersion = "9.2"
	}
	if opts.AccessTokenTTL == 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.ExpiredTokenStatus == 0 {
		opts.ExpiredTokenStatus = http.StatusUnauthorized
	}
	if opts.ExpandedRestrictionCap == 0 {
		opts.ExpandedRestrictionCap = 100
	}
	if opts.CQLLocation == nil {
		opts.CQLLocation = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	var b *bucket
	if opts.DCRateLimit != nil {
		b = &bucket{cfg: *opts.DCRateLimit}
	}
	return &Server{
		opts: opts, st: newStore(), bucket: b,
		apps: map[string]string{}, redirects: map[string]string{}, access: map[string]accessToken{}, refresh: map[string]*refreshGrant{},
		rng:   rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		calls: map[string]int64{},
	}
}

// Close stops the server.
func (s *Server) Close() {
	s.stopWebhooks()
	if s.main != nil {
		s.main.Close()
	}
	if s.media != nil {
		s.media.Close()
	}
}

func (s *Server) now() time.Time { return s.opts.Now() }

// RootURL is the scheme://host:port of the server (OAuth gateway and token
// endpoint live here on Cloud).
func (s *Server) RootURL() string { return s.main.URL }

// URL is the site base URL a client is configured with: <root>/wiki on
// Cloud, <root><context path> on DC.
func (s *Server) URL() string { return s.main.URL + s.opts.ContextPath }

// TokenURL is the OAuth 2.0 token endpoint.
func (s *Server) TokenURL() string {
	if s.opts.Deployment == Cloud {
		return s.main.URL + "/oauth/token"
	}
	return s.URL() + "/rest/oauth2/latest/token"
}

// CloudID is the Cloud site id.
func (s *Server) CloudID() string { return s.opts.CloudID }

// Deployment is the imitated flavour.
func (s *Server) Deployment() Deployment { return s.opts.Deployment }

// ---- request counting ----

// Calls is the number of requests served for one endpoint name (see Endpoints).
func (s *Server) Calls(endpoint string) int64 {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	return s.calls[endpoint]
}

// CallCounts returns a copy of all per-endpoint counts.
func (s *Server) CallCounts() map[string]int64 {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	out := make(map[string]int64, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// TotalCalls is the number of requests served (all endpoints, incl. the media host).
func (s *Server) TotalCalls() int64 { return s.total.Load() }

// ResetCalls zeroes the counters.
func (s *Server) ResetCalls() {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	clear(s.calls)
	s.total.Store(0)
}

// AuthLeaks is the number of media-host requests that carried an
// Authorization header (a client must drop it on cross-host redirects).
func (s *Server) AuthLeaks() int64 { return s.authLeaks.Load() }

func (s *Server) count(endpoint string) {
	s.total.Add(1)
	s.callMu.Lock()
	s.calls[endpoint]++
	s.callMu.Unlock()
}

// ---- faults ----

// Fault is an injected failure. A request matches when Endpoint (if set)
// equals its endpoint name, PathContains (if set) is in its path and
// QueryContains (if set) is in its decoded query.
type Fault struct {
	Endpoint      string
	PathContains  string
	QueryContains string
	// Status is the HTTP status to answer with (0 = none, e.g. latency only).
	Status int
	// RetryAfter is sent as Retry-After when set.
	RetryAfter string
	// Headers are extra response headers (e.g. X-RateLimit-*).
	Headers map[string]string
	// Latency delays the response.
	Latency time.Duration
	// Drop hijacks and closes the connection without a response.
	Drop bool
	// Probability is the chance a matching request fails (0 or 1 = always),
	// drawn from the server's seeded generator.
	Probability float64
	// Times limits how often the fault fires (0 = unlimited).
	Times int
	// Hook, if set, is called when the fault fires, before the response
	// (tests use it to cancel a run at a chosen point).
	Hook func()
	// Body, if set, is answered as JSON with Status (default 200) instead
	// of the handler's answer.
	Body string
	// StallBody sends the status and headers, then blocks without sending
	// the body until the client gives up (a stalled server or proxy).
	StallBody bool

	fired int
}

// AddFault installs a fault; faults are checked in order, the first firing one wins.
func (s *Server) AddFault(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all faults and the base latency.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults, s.latency = nil, 0
}

// SetLatency delays every response by d (simulated API latency).
func (s *Server) SetLatency(d time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.latency = d
}

// fault returns the fault to apply to a request, if any, and the base latency.
func (s *Server) fault(endpoint, path, query string) (*Fault, time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for _, f := range s.faults {
		if (f.Endpoint != "" && f.Endpoint != endpoint) || (f.PathContains != "" && !strings.Contains(path, f.PathContains)) ||
			(f.QueryContains != "" && !strings.Contains(query, f.QueryContains)) {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		if f.Probability > 0 && f.Probability < 1 && s.rng.Float64() >= f.Probability {
			continue
		}
		f.fired++
		if f.Hook != nil {
			f.Hook()
		}
		cp := *f
		return &cp, s.latency
	}
	return nil, s.latency
}

// applyFault delays and/or fails the request; it reports whether the request was answered.
func applyFault(w http.ResponseWriter, r *http.Request, f *Fault, latency time.Duration) bool {
	if f != nil {
		latency += f.Latency
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	if f == nil {
		return false
	}
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f.StallBody {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		<-r.Context().Done() // the client gave up
		return true
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(cmp.Or(f.Status, http.StatusOK))
		_, _ = w.Write([]byte(f.Body))
		return true
	}
	if f.Status == 0 {
		return false
	}
	for k, v := range f.Headers {
		w.Header().Set(k, v)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	writeJSON(w, f.Status, map[string]any{"statusCode": f.Status, "message": http.StatusText(f.Status)})
	return true
}

// ---- OAuth ----

// RegisterOAuthApp registers an OAuth 2.0 client (app key and secret).
func (s *Server) RegisterOAuthApp(clientID, secret string) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.apps[clientID] = secret
}

// SetOAuthRedirectURI sets the redirect URI of a registered OAuth 2.0 client.
// The Data Center token endpoint checks it on the refresh grant too.
func (s *Server) SetOAuthRedirectURI(clientID, uri string) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.redirects[clientID] = uri
}

var family atomic.Int64

// IssueOAuthTokens grants a new token family to a user, as after consent,
// and returns the access and refresh tokens.
func (s *Server) IssueOAuthTokens(userID string) (accessTok, refreshTok string) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	return s.issueLocked(userID, family.Add(1))
}

func (s *Server) issueLocked(user string, fam int64) (string, string) {
	a, r := randToken("at"), randToken("rt")
	s.access[a] = accessToken{user: user, family: fam, expires: s.now().Add(s.opts.AccessTokenTTL)}
	s.refresh[r] = &refreshGrant{user: user, family: fam}
	return a, r
}

// ExpireAccessTokens makes every issued access token expired.
func (s *Server) ExpireAccessTokens() {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	for k, t := range s.access {
		t.expires = s.now().Add(-time.Second)
		s.access[k] = t
	}
}

// RefreshTokenValid reports whether a refresh token can still be used.
func (s *Server) RefreshTokenValid(tok string) bool {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	g, ok := s.refresh[tok]
	return ok && !g.spent && !g.revoked
}

var tokenSeq atomic.Int64

func randToken(prefix string) string {
	b := make([]byte, 18)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return fmt.Sprintf("%s%d-%s", prefix, tokenSeq.Add(1), base64.RawURLEncoding.EncodeToString(b))
}

// serveToken (Cloud: developer.atlassian.com "OAuth 2.0 (3LO) apps",
// refresh tokens; DC: "Confluence OAuth 2.0 provider API") implements the
// refresh_token grant with rotation: every refresh
// spends the old refresh token and issues a new one; reusing a spent token
// fails with invalid_grant and revokes the whole family.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	params := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.NewDecoder(r.Body).Decode(&params)
	} else {
		_ = r.ParseForm()
		for k := range r.Form {
			params[k] = r.Form.Get(k)
		}
	}
	bad := http.StatusForbidden // Atlassian's auth service answers 403 for invalid_grant
	if s.opts.Deployment == DataCenter {
		bad = http.StatusBadRequest
	}
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if sec, ok := s.apps[params["client_id"]]; !ok || sec != params["client_secret"] {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed"})
		return
	}
	if params["grant_type"] != "refresh_token" {
		writeJSON(w, bad, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if s.opts.Deployment == DataCenter && params["redirect_uri"] != s.redirects[params["client_id"]] {
		// The DC provider validates redirect_uri on the refresh grant as well
		// (Atlassian "Confluence OAuth 2.0 provider API"; jira.js
		// refreshServerOAuth2Token docs): omitted or different => invalid_grant.
		writeJSON(w, bad, map[string]string{"error": "invalid_grant", "error_description": "Invalid redirect_uri"})
		return
	}
	g, ok := s.refresh[params["refresh_token"]]
	if !ok || g.revoked || g.spent {
		if ok && g.spent { // reuse: revoke the family, as Atlassian does
			for _, og := range s.refresh {
				if og.family == g.family {
					og.revoked = true
				}
			}
			for k, at := range s.access {
				if at.family == g.family {
					delete(s.access, k)
				}
			}
		}
		writeJSON(w, bad, map[string]string{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
		return
	}
	g.spent = true
	a, rt := s.issueLocked(g.user, g.family)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": a, "refresh_token": rt, "token_type": "Bearer",
		"expires_in": int(s.opts.AccessTokenTTL / time.Second), "scope": "read:confluence-content.all offline_access",
	})
}

// ---- authentication ----

type caller struct {
	user      *User // nil for anonymous
	anonymous bool
	oauth     bool // authenticated with an OAuth 2.0 access token
}

// identify says in a response header who the request ran as.
// Data Center: X-AUSERNAME, "the username of the authenticated user or
// 'anonymous'" (Atlassian DC REST "Special headers", Service Management,
// which shares Confluence's login layer; Confluence DC's default access log
// pattern records the header as %{X-AUSERNAME}o, "Configure access logs";
// a Confluence DC REST answer carrying it is quoted in Atlassian Community
// "Identify incorrect Personal Access Token"). Cloud: X-AACCOUNTID with the
// caller's account id, unverified for Confluence Cloud; the crawler trusts
// it only when it names the user user/current returned earlier, so a site
// that does not send it costs a call, never a wrong answer.
func (s *Server) identify(w http.ResponseWriter, c caller) {
	switch {
	case !s.cloud() && c.user != nil:
		w.Header().Set("X-AUSERNAME", c.user.Username)
	case !s.cloud():
		w.Header().Set("X-AUSERNAME", "anonymous")
	case c.user != nil:
		w.Header().Set("X-AACCOUNTID", c.user.ID)
	}
}

// authenticate checks the request's credentials; status != 0 means reject.
func (s *Server) authenticate(r *http.Request, gateway bool) (caller, int) {
	h := r.Header.Get("Authorization")
	s.mu.RLock()
	defer s.mu.RUnlock()
	dc := s.opts.Deployment == DataCenter
	anonymous := func() (caller, int) {
		if dc && s.opts.AnonymousAccess {
			return caller{anonymous: true}, 0
		}
		return caller{}, http.StatusUnauthorized
	}
	if user, pass, ok := r.BasicAuth(); ok {
		for _, id := range s.st.userOrder {
			u := s.st.users[id]
			name := u.Email
			if dc {
				name = u.Username
			}
			if name == user && u.Secret != "" && u.Secret == pass {
				// A scoped API token works only through the gateway
				// (CLOUD-12617). That a classic token is refused there is
				// unverified; refusing it keeps clients on the site.
				if !dc && u.ScopedToken != gateway {
					return caller{}, http.StatusUnauthorized
				}
				return caller{user: u}, 0
			}
		}
		return caller{}, http.StatusUnauthorized
	}
	tok, isBearer := strings.CutPrefix(h, "Bearer ")
	if !isBearer {
		if h != "" {
			return caller{}, http.StatusUnauthorized
		}
		return anonymous()
	}
	if dc {
		for _, id := range s.st.userOrder {
			if u := s.st.users[id]; u.PAT != "" && u.PAT == tok {
				return caller{user: u}, 0
			}
		}
	}
	if !dc && !gateway {
		return caller{}, http.StatusUnauthorized // 3LO tokens only work through the gateway
	}
	s.authMu.Lock()
	at, ok := s.access[tok]
	s.authMu.Unlock()
	switch {
	case ok && s.now().Before(at.expires):
		if u, found := s.st.users[at.user]; found {
			return caller{user: u, oauth: true}, 0
		}
		return caller{}, http.StatusUnauthorized
	case ok:
		return caller{}, s.opts.ExpiredTokenStatus
	case dc:
		return anonymous() // CONFSERVER-98199: unknown PAT runs as anonymous
	}
	return caller{}, http.StatusUnauthorized
}

// writeJSON writes v as Confluence does: <, > and & in strings unescaped.
// Atlassian's reference examples show storage and view bodies with their
// markup as is ("Confluence REST API examples", developer.atlassian.com/
// server/confluence/confluence-rest-api-examples: body.view and
// body.storage values such as "<p>...</p>"; those examples went through
// python -mjson.tool, which would keep an escape's meaning but not its
// spelling, so the wire spelling is inferred from Confluence's Jackson
// serializer, which escapes only quotes, backslashes and control
// characters). Go's default \u003c spelling means the same characters
// (RFC 8259, section 7), so no client may depend on either.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// marshalJSON is json.Marshal with writeJSON's escaping.
func marshalJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// writeList writes a listing: {"results": [items...], the fields of env}.
// Items already rendered to JSON (json.RawMessage, see itemJSON) are copied
// as they are; encoding/json would re-validate each of them.
func writeList(w http.ResponseWriter, items []any, env map[string]any) {
	var b bytes.Buffer
	b.WriteString(`{"results":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		if raw, ok := it.(json.RawMessage); ok {
			b.Write(raw)
		} else {
			b.Write(marshalJSON(it))
		}
	}
	b.WriteByte(']')
	if rest := marshalJSON(env); len(rest) > 2 {
		b.WriteByte(',')
		b.Write(rest[1:])
	} else {
		b.WriteByte('}')
	}
	b.WriteByte('\n')
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// itemCache holds rendered listing items for one store generation.
type itemCache struct {
	mu    sync.Mutex
	gen   int64
	size  int
	items map[string]json.RawMessage
}

// maxItemCacheBytes bounds the rendered items kept (about 10,000 pages of
// 5 KB); past it the cache starts over.
const maxItemCacheBytes = 64 << 20

// itemJSON returns render's item as JSON, cached under key for the current
// store generation: every mutation bumps the generation (Server.mutate), so
// a cached item is byte for byte what rendering it now would give. A crawl
// lists each item once per run, and building and encoding its maps was
// most of the fake's CPU in the crawl benchmarks. key must name everything
// the rendering depends on besides the store. Needs s.mu held for reading.
func (s *Server) itemJSON(key string, render func() any) json.RawMessage {
	c := &s.items
	c.mu.Lock()
	if c.gen != s.st.gen || c.items == nil {
		c.gen, c.size, c.items = s.st.gen, 0, map[string]json.RawMessage{}
	}
	raw, ok := c.items[key]
	c.mu.Unlock()
	if ok {
		return raw
	}
	raw = marshalJSON(render())
	c.mu.Lock()
	if c.gen == s.st.gen {
		if c.size+len(raw) > maxItemCacheBytes {
			c.size, c.items = 0, map[string]json.RawMessage{}
		}
		c.items[key] = raw
		c.size += len(raw)
	}
	c.mu.Unlock()
	return raw
}

// writeError: Confluence's error body {statusCode, message, data{authorized,
// valid, ...}} as quoted in CONFCLOUD-77618 (Onyx's regression tests); the
// client reads only the status and a short excerpt.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "data": map[string]any{"authorized": status != 401, "valid": true}})
}
