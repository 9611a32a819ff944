package confluence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// call describes one logical API request.
type call struct {
	endpoint    string   // logical endpoint name for counters and logs
	method      string   // default GET
	path        string   // path + query relative to the API base, e.g. "/rest/api/space?limit=10"
	abs         *url.URL // absolute URL instead of path
	body        []byte
	contentType string
	noAuth      bool
	spaceKey    string // for ForbiddenError
	// final500 makes HTTP 500 a final answer instead of a retried one, for
	// resources that answer 500 by design (CONFSERVER-99908).
	final500 bool
	// once makes the first answer final: no retry after a transport error,
	// a 5xx or a 429. For optional probes (the scoped-token gateway) whose
	// failure only means "not this way", so they never hold a sync up.
	once bool
	// maxBody, if set, bounds the response body read (pages fetched ahead).
	maxBody int64
	// prefetch fetches the next pages of a listing ahead (see prefetch.go).
	prefetch bool
	// answered, if set, sees the headers of the 2xx answer (see
	// ListModifiedSince: who the request ran as).
	answered func(http.Header)
}

const userAgent = "confluence-operator"

// do performs c with rate limiting, authentication, retries and error
// mapping, and returns a 2xx response whose body the caller must close.
func (c *Client) do(ctx context.Context, cl call) (*http.Response, error) {
	u := cl.abs
	if u == nil {
		base, err := c.resolveAPIBase(ctx)
		if err != nil {
			return nil, err
		}
		if u, err = url.Parse(base.String() + cl.path); err != nil {
			return nil, fmt.Errorf("building request URL: %w", err)
		}
	}
	method := cl.method
	if method == "" {
		method = http.MethodGet
	}
	shown := u.Scheme + "://" + u.Host + u.Path // for errors: no query
	rctx := context.WithValue(ctx, endpointKey{}, cl.endpoint)
	var (
		attempts  int
		firstFail time.Time
		refreshed bool
	)
	for {
		if err := c.wait(ctx); err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(rctx, method, u.String(), bytes.NewReader(cl.body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)
		if cl.contentType != "" {
			req.Header.Set("Content-Type", cl.contentType)
		}
		var token string
		if !cl.noAuth {
			if token, err = c.authorize(ctx, req); err != nil {
				return nil, err
			}
		}
		actx, cancel := context.WithCancelCause(rctx) // see deadlineBody
		resp, err := c.http.Do(req.WithContext(actx))
		var (
			lastErr error
			wait    time.Duration
		)
		if err != nil {
			cancel(nil)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !isTransient(err) {
				return nil, c.redactErr(fmt.Errorf("%s %s: %w", method, shown, err))
			}
			lastErr = c.redactErr(fmt.Errorf("%s %s: %w", method, shown, err))
		} else {
			c.observeRateHeaders(resp)
			act, w := classify(resp.StatusCode, resp.Header, c.cfg.Now())
			if act == actDone {
				if cl.answered != nil {
					cl.answered(resp.Header)
				}
				resp.Body = newDeadlineBody(resp.Body, c.cfg.BodyReadTimeout, cancel)
				return resp, nil
			}
			httpErr := c.httpError(method, shown, resp) // drains and closes the body
			cancel(nil)
			oauth := c.tokens != nil && !cl.noAuth
			switch act {
			case actUnauthorized:
				if oauth && !refreshed {
					refreshed = true
					if err := c.tokens.refresh(ctx, token); err != nil {
						return nil, err
					}
					continue
				}
				if cl.noAuth {
					return nil, httpErr
				}
				return nil, &AuthError{User: c.principalName(), URL: shown}
			case actDenied:
				// The OAuth gateway may answer 403/404 for an expired token.
				if oauth && !refreshed && c.tokens.nearExpiry() {
					refreshed = true
					if err := c.tokens.refresh(ctx, token); err != nil {
						return nil, err
					}
					continue
				}
				if resp.StatusCode == http.StatusForbidden && !cl.noAuth {
					return nil, &ForbiddenError{SpaceKey: cl.spaceKey, URL: shown, Body: httpErr.Body}
				}
				return nil, httpErr
			case actRetry:
				if resp.StatusCode == http.StatusInternalServerError && cl.final500 {
					return nil, httpErr
				}
				lastErr, wait = httpErr, w
			default:
				return nil, httpErr
			}
		}
		if cl.once {
			return nil, lastErr
		}
		attempts++
		now := c.cfg.Now()
		if firstFail.IsZero() {
			firstFail = now
		}
		delay := c.backoff(attempts)
		if wait > 0 {
			delay = min(wait, c.cfg.MaxRetryAfter)
			delay += time.Duration(rand.Int64N(int64(delay/10) + 1)) // jitter
			c.pause(delay)                                           // slow down every caller
		}
		if attempts > c.cfg.MaxRetries || now.Add(delay).Sub(firstFail) > c.cfg.RetryBudget {
			return nil, &RetryError{Attempts: attempts, Last: lastErr}
		}
		c.log.V(1).Info("retrying Confluence request", "endpoint", cl.endpoint, "attempt", attempts, "delay", delay.String(), "error", lastErr)
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// errBodyStalled is the cause of a request cancelled by its body deadline.
var errBodyStalled = errors.New("response body stalled")

// deadlineBody fails a body read that makes no progress within timeout, by
// cancelling the request's context (the only way to interrupt a blocked
// read of net/http's body).
type deadlineBody struct {
	rc      io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

func newDeadlineBody(rc io.ReadCloser, timeout time.Duration, cancel context.CancelCauseFunc) *deadlineBody {
	b := &deadlineBody{rc: rc, timeout: timeout, cancel: cancel}
	b.timer = time.AfterFunc(timeout, func() { cancel(errBodyStalled) })
	return b
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	if err != nil && err != io.EOF && !b.timer.Stop() {
		// The deadline fired: say so instead of "context canceled".
		err = fmt.Errorf("%w: no data for %s: %w", errBodyStalled, b.timeout, err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// doJSON performs cl and decodes a JSON response into out.
func (c *Client) doJSON(ctx context.Context, cl call, out any) error {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		return fmt.Errorf("%s %s returned HTML instead of JSON (a login or WebSudo page?)", cmpOr(cl.method, "GET"), resp.Request.URL.Path)
	}
	var body io.Reader = resp.Body
	if cl.maxBody > 0 {
		body = &cappedBody{r: resp.Body, n: cl.maxBody}
	}
	if sd, ok := out.(streamDecoder); ok {
		rec := &recorder{r: body}
		err = sd.decodeFrom(json.NewDecoder(rec), rec)
	} else {
		err = json.NewDecoder(body).Decode(out)
	}
	if err != nil {
		return fmt.Errorf("decoding %s response: %w", cl.endpoint, err)
	}
	return nil
}

// streamDecoder is implemented by responses that decode themselves from the
// token stream, so the decoder never buffers the whole (large) response.
// rec holds the bytes dec has read and not yet passed on.
type streamDecoder interface {
	decodeFrom(dec *json.Decoder, rec *recorder) error
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// authorize sets the Authorization header and returns the bearer token used (OAuth2).
func (c *Client) authorize(ctx context.Context, req *http.Request) (string, error) {
	cr := c.cfg.Credentials
	switch c.cfg.AuthType {
	case AuthBasic:
		req.SetBasicAuth(cr.Username, cr.Password)
	case AuthPersonalAccessToken:
		req.Header.Set("Authorization", "Bearer "+cr.PAT)
	case AuthOAuth2:
		tok, err := c.tokens.access(ctx)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return tok, nil
	}
	return "", nil
}

// principalName names the crawl identity in errors, never a secret.
func (c *Client) principalName() string {
	switch c.cfg.AuthType {
	case AuthBasic:
		return c.cfg.Credentials.Username
	case AuthOAuth2:
		return "OAuth2 app " + c.cfg.Credentials.AppKey
	default:
		return "the personal access token"
	}
}

// httpError reads a short excerpt of the body, closes it and builds the error.
func (c *Client) httpError(method, shown string, resp *http.Response) *HTTPError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	body := strings.Join(strings.Fields(string(b)), " ")
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	return &HTTPError{Method: method, URL: shown, StatusCode: resp.StatusCode, Body: c.redact(body)}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.RetryBaseDelay << min(attempt-1, 20)
	if d > c.cfg.RetryMaxDelay || d <= 0 {
		d = c.cfg.RetryMaxDelay
	}
	// Equal jitter: between d/2 and d.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// observeRateHeaders paces all requests by the server's rate-limit headers.
// A 429 is left to the retry path, which honours its Retry-After.
func (c *Client) observeRateHeaders(resp *http.Response) {
	p := decidePace(resp.Header, c.cfg.Now())
	if resp.StatusCode == http.StatusTooManyRequests {
		p.hold = 0
	}
	c.applyPace(p)
}

// redact removes secret values from s.
func (c *Client) redact(s string) string { return c.log.s.redact(s) }

func (c *Client) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := c.redact(msg); r != msg {
		return errors.New(r)
	}
	return err
}

// secretSet is the set of values that must never be logged or returned.
type secretSet struct {
	mu   sync.RWMutex
	vals []string
}

func (s *secretSet) add(vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vals {
		if len(v) >= 4 {
			s.vals = append(s.vals, v)
		}
	}
}

func (s *secretSet) redact(str string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sec := range s.vals {
		if strings.Contains(str, sec) {
			str = strings.ReplaceAll(str, sec, "[REDACTED]")
		}
	}
	return str
}

// redactingLog is a logr.Logger front that scrubs secret values from
// messages and string/error values.
type redactingLog struct {
	l logr.Logger
	s *secretSet
}

func (r redactingLog) V(level int) redactingLog { return redactingLog{l: r.l.V(level), s: r.s} }

func (r redactingLog) Info(msg string, kv ...any) {
	if !r.l.Enabled() {
		return
	}
	out := make([]any, len(kv))
	for i, v := range kv {
		switch x := v.(type) {
		case string:
			out[i] = r.s.redact(x)
		case error:
			out[i] = r.s.redact(x.Error())
		case fmt.Stringer:
			out[i] = r.s.redact(x.String())
		default:
			out[i] = v
		}
	}
	r.l.Info(r.s.redact(msg), out...)
}
