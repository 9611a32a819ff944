package confluence

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// flexString decodes a JSON string or number (v1 ids are strings, space ids numbers).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	*f = flexString(b)
	return nil
}

// flexTime decodes the timestamp formats Confluence uses; empty means zero.
type flexTime time.Time

var flexTimeLayouts = [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700"}

func (t *flexTime) UnmarshalJSON(b []byte) error {
	s, err := jsonString(b)
	if err != nil || s == "" {
		return nil //nolint:nilerr // unknown formats are tolerated as zero
	}
	for _, layout := range flexTimeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			*t = flexTime(v)
			return nil
		}
	}
	return nil
}

// jsonString decodes a JSON string literal. The decoder hands custom
// unmarshalers only valid JSON, so a literal without a backslash and with
// valid UTF-8 is its own content: the common case skips a second decoder.
func jsonString(b []byte) (string, error) {
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' {
		if in := b[1 : n-1]; bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 && utf8.Valid(in) {
			return string(in), nil
		}
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

func (t flexTime) time() time.Time { return time.Time(t) }

// bodyString is a string decoded as encoding/json decodes it, faster for
// long strings with escapes (storage bodies: quotes, newlines, and "<" and
// ">" where a server escapes them): the runs between escapes are copied
// whole and the result is allocated once (copied again only if escapes
// made it much shorter than the escaped text), where encoding/json goes
// byte by byte and always copies the result again.
type bodyString string

func (s *bodyString) UnmarshalJSON(b []byte) error {
	if v, ok := unquote(b); ok {
		*s = bodyString(v)
		return nil
	}
	var v *string // null leaves s as it is, as for a string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v != nil {
		*s = bodyString(*v)
	}
	return nil
}

// unquote decodes a JSON string literal the decoder validated, if its
// UTF-8 is valid and it escapes no surrogate; anything else is left to
// encoding/json (!ok).
func unquote(b []byte) (string, bool) {
	n := len(b)
	if n < 2 || b[0] != '"' || b[n-1] != '"' || !utf8.Valid(b) {
		return "", false
	}
	in := b[1 : n-1]
	var out strings.Builder
	out.Grow(len(in))
	for {
		i := bytes.IndexByte(in, '\\')
		if i < 0 {
			out.Write(in)
			if s := out.String(); len(b)-len(s) <= len(s)/16 {
				return s, true
			}
			// Many escapes: the buffer (sized for the escaped text) is
			// copied to the string's size, not held for as long as the body.
			return strings.Clone(out.String()), true
		}
		out.Write(in[:i])
		if i+1 >= len(in) {
			return "", false
		}
		switch c := in[i+1]; c {
		case '"', '\\', '/':
			out.WriteByte(c)
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			if i+6 > len(in) {
				return "", false
			}
			r := hex4(in[i+2 : i+6])
			if r < 0 || utf16.IsSurrogate(r) {
				return "", false
			}
			out.WriteRune(r)
			in = in[i+6:]
			continue
		default:
			return "", false
		}
		in = in[i+2:]
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

type wireUser struct {
	Type        string `json:"type"`
	AccountID   string `json:"accountId"`
	AccountType string `json:"accountType"`
	Email       string `json:"email"`
	PublicName  string `json:"publicName"`
	DisplayName string `json:"displayName"`
	Username    string `json:"username"`
	UserKey     string `json:"userKey"`
}

func (w wireUser) user() User {
	u := User{AccountID: w.AccountID, UserKey: w.UserKey, Username: w.Username, Email: w.Email, DisplayName: w.DisplayName, AccountType: w.AccountType}
	if u.DisplayName == "" {
		u.DisplayName = w.PublicName
	}
	if u.AccountType == "" {
		u.AccountType = w.Type
	}
	return u
}

type wireGroup struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (w wireGroup) group() Group { return Group(w) }

type wireLinks struct {
	Base     string `json:"base"`
	Next     string `json:"next"`
	WebUI    string `json:"webui"`
	Download string `json:"download"`
}

// wireUserList and wireGroupList are the UserArray and GroupArray of the
// v1 API (Cloud v1 OpenAPI; DC REST reference "Content Restrictions"):
// results, start, limit, size, _links, and optionally totalSize.
type wireUserList struct {
	Results   []wireUser `json:"results"`
	Start     int        `json:"start"`
	Limit     int        `json:"limit"`
	Size      int        `json:"size"`
	TotalSize int        `json:"totalSize"`
	Links     wireLinks  `json:"_links"`
}

type wireGroupList struct {
	Results   []wireGroup `json:"results"`
	Start     int         `json:"start"`
	Limit     int         `json:"limit"`
	Size      int         `json:"size"`
	TotalSize int         `json:"totalSize"`
	Links     wireLinks   `json:"_links"`
}

// mayContinue reports whether a restriction's user or group list may have
// more entries after this page: a next link, a totalSize beyond it, or a
// full page (fail closed: a full page is checked with one more call).
func mayContinue(got, start, limit, totalSize int, next string) bool {
	return next != "" || totalSize > start+got || (limit > 0 && got >= limit)
}

type wireVersion struct {
	Number    int       `json:"number"`
	When      flexTime  `json:"when"`      // v1
	By        *wireUser `json:"by"`        // v1
	CreatedAt flexTime  `json:"createdAt"` // v2
	AuthorID  string    `json:"authorId"`  // v2 (Cloud accountId)
}

func (w *wireVersion) version() Version {
	if w == nil {
		return Version{}
	}
	v := Version{Number: w.Number, When: w.When.time()}
	if v.When.IsZero() {
		v.When = w.CreatedAt.time()
	}
	if w.By != nil {
		v.By = w.By.user()
	} else if w.AuthorID != "" {
		v.By = User{AccountID: w.AuthorID}
	}
	return v
}

// wireReadRestriction is a ContentRestriction for the read operation:
// {operation, restrictions: {user: UserArray, group: GroupArray}, _links}
// (Cloud v1 OpenAPI "ContentRestriction"; DC REST reference "Content
// Restrictions › Get restrictions by operation"). Its users and groups page
// together through the start/limit query parameters; each list says itself
// whether it continues (_links, totalSize, or a full page).
type wireReadRestriction struct {
	Restrictions struct {
		User  wireUserList  `json:"user"`
		Group wireGroupList `json:"group"`
	} `json:"restrictions"`
}

// truncated reports whether the embedded user/group lists may be incomplete.
func (r *wireReadRestriction) truncated() bool {
	u, g := r.Restrictions.User, r.Restrictions.Group
	return mayContinue(len(u.Results), u.Start, u.Limit, u.TotalSize, u.Links.Next) ||
		mayContinue(len(g.Results), g.Start, g.Limit, g.TotalSize, g.Links.Next)
}

func (r *wireReadRestriction) restriction() *Restriction {
	if r == nil || (len(r.Restrictions.User.Results) == 0 && len(r.Restrictions.Group.Results) == 0) {
		return nil
	}
	out := &Restriction{}
	for _, u := range r.Restrictions.User.Results {
		out.Users = append(out.Users, u.user())
	}
	for _, g := range r.Restrictions.Group.Results {
		out.Groups = append(out.Groups, g.group())
	}
	return out
}

// wireContent is a v1 content item (page, blog post, comment or attachment)
// or a v2 page/blog post/attachment; unused fields stay empty.
type wireContent struct {
	ID     flexString `json:"id"`
	Type   string     `json:"type"`
	Status string     `json:"status"`
	Title  string     `json:"title"`
	Space  *struct {
		ID   flexString `json:"id"`
		Key  string     `json:"key"`
		Name string     `json:"name"`
	} `json:"space"`
	Version *wireVersion `json:"version"`
	History *struct {
		CreatedDate flexTime  `json:"createdDate"`
		CreatedBy   *wireUser `json:"createdBy"`
	} `json:"history"`
	Ancestors []struct {
		ID   flexString `json:"id"`
		Type string     `json:"type"`
	} `json:"ancestors"`
	Body *struct {
		Storage *struct {
			Value bodyString `json:"value"`
		} `json:"storage"`
	} `json:"body"`
	Metadata *struct {
		Labels *struct {
			Results []struct {
				Prefix string `json:"prefix"`
				Name   string `json:"name"`
			} `json:"results"`
		} `json:"labels"`
		MediaType string `json:"mediaType"`
	} `json:"metadata"`
	Restrictions *struct {
		Read *wireReadRestriction `json:"read"`
	} `json:"restrictions"`
	Extensions *struct {
		Location  string `json:"location"`
		MediaType string `json:"mediaType"`
		FileSize  int64  `json:"fileSize"`
		Comment   string `json:"comment"`
	} `json:"extensions"`
	Container *struct {
		ID   flexString `json:"id"`
		Type string     `json:"type"`
	} `json:"container"`
	Children *struct {
		Comment *wireChildren `json:"comment"`
	} `json:"children"`

	// v2 fields
	SpaceID      flexString `json:"spaceId"`
	ParentID     flexString `json:"parentId"`
	ParentType   string     `json:"parentType"`
	PageID       flexString `json:"pageId"`
	BlogPostID   flexString `json:"blogPostId"`
	MediaType    string     `json:"mediaType"`
	FileSize     int64      `json:"fileSize"`
	Comment      string     `json:"comment"`
	DownloadLink string     `json:"downloadLink"`
	WebUILink    string     `json:"webuiLink"`
	CreatedAt    flexTime   `json:"createdAt"`

	Links wireLinks `json:"_links"`
}

type wireChildren struct {
	Results []struct {
		ID flexString `json:"id"`
	} `json:"results"`
	Size int `json:"size"`
}

// page is one page of a paginated listing (v1 or v2).
type page[T any] struct {
	Results []T       `json:"results"`
	Links   wireLinks `json:"_links"`
}

// listPage is one page of a listing as list uses it: its items decoded
// straight from the response stream (each item's JSON is scanned once by
// the decoder and decoded once), its links, and a fingerprint of the raw
// bytes of its results to spot a server that repeats a page.
type listPage[T any] struct {
	Results []T
	Links   wireLinks
	// bytes is the size of the results on the wire.
	bytes int
	// fingerprint digests the raw bytes of the results.
	fingerprint uint64
	// sizeHint is the number of results expected (the previous page's),
	// to allocate Results once.
	sizeHint int
}

// decodeFrom reads a page item by item: a listing of 50 bodies of several
// MB each is then held once (as decoded items), not also in the decoder's
// buffer of the whole response. rec records the bytes dec reads, so the
// results' raw bytes can be digested without keeping them.
func (p *listPage[T]) decodeFrom(dec *json.Decoder, rec *recorder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	for dec.More() {
		rec.advance(dec.InputOffset(), nil) // nothing before a results array is kept
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch key, _ := t.(string); key {
		case "results":
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if t == nil {
				continue // "results": null
			}
			if d, ok := t.(json.Delim); !ok || d != '[' {
				return fmt.Errorf("results: want an array, got %v", t)
			}
			start := dec.InputOffset()
			rec.advance(start, nil)
			if p.Results == nil && p.sizeHint > 0 {
				p.Results = make([]T, 0, p.sizeHint)
			}
			for dec.More() {
				var it T
				if err := dec.Decode(&it); err != nil {
					return fmt.Errorf("results[%d]: %w", len(p.Results), err)
				}
				p.Results = append(p.Results, it)
				rec.advance(dec.InputOffset(), &h)
			}
			p.bytes += int(dec.InputOffset() - start)
			if err := expectDelim(dec, ']'); err != nil {
				return err
			}
		case "_links":
			if err := dec.Decode(&p.Links); err != nil {
				return err
			}
		default:
			if err := dec.Decode(&skipValue{}); err != nil {
				return err
			}
		}
	}
	p.fingerprint = h.Sum64()
	return expectDelim(dec, '}')
}

// skipValue discards a JSON value without copying it.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// fingerprintSeed seeds every fingerprint, so pages of one listing compare.
// A collision (2^-64) could only end a listing with an error, never lose an
// item silently.
var fingerprintSeed = maphash.MakeSeed()

// recorder keeps the bytes a json.Decoder has read from r until they are
// passed on (digested or dropped) with advance: at most the value being
// decoded and the decoder's read-ahead.
type recorder struct {
	r     io.Reader
	buf   []byte // buf[start:] are the bytes at offsets from onwards
	start int
	from  int64
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if r.start > 0 && len(r.buf)+n > cap(r.buf) {
			r.buf = r.buf[:copy(r.buf, r.buf[r.start:])]
			r.start = 0
		}
		r.buf = append(r.buf, p[:n]...)
	}
	return n, err
}

// advance passes the bytes up to offset off to w (nil drops them).
func (r *recorder) advance(off int64, w io.Writer) {
	k := int(off - r.from)
	if k <= 0 {
		return
	}
	if w != nil {
		_, _ = w.Write(r.buf[r.start : r.start+k])
	}
	r.start += k
	r.from = off
	if r.start == len(r.buf) {
		r.buf, r.start = r.buf[:0], 0
	}
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %v, got %v", want, t)
	}
	return nil
}

// list fetches every page of a listing starting at cl.path, following
// _links.next until it is absent, and calls fn for each item with the
// response's _links.base. Any error aborts the whole listing, and so does a
// server that sends a next link it sent before or the same results again
// under a new link (a runaway listing would otherwise never end).
func list[T any](ctx context.Context, c *Client, cl call, fn func(item T, base string) error) error {
	seen := map[string]bool{}
	var previous uint64
	var ahead *prefetcher[T]
	if cl.prefetch {
		ahead = newPrefetcher[T](ctx, c, cl)
		defer ahead.stop()
	}
	got := 0 // items of the previous page
	for n := 1; ; n++ {
		var err error
		p := listPage[T]{sizeHint: got}
		if ahead != nil {
			p, err = ahead.page(ctx, cl, got)
		} else {
			err = c.doJSON(ctx, cl, &p)
		}
		if err != nil {
			return err
		}
		if len(p.Results) > 0 {
			if n > 1 && p.fingerprint == previous {
				return fmt.Errorf("listing %s: page %d repeats the previous page under a new next link; the listing is incomplete", cl.endpoint, n)
			}
			previous = p.fingerprint
		}
		// The next page is decided before this one's items are handed on,
		// so it can be fetched while they are processed.
		got = len(p.Results)
		next, end, err := nextPage(c, cl, p.Links.Next, got)
		if err == nil && !end {
			if seen[next] {
				err = fmt.Errorf("listing %s: server repeated the next link %q", cl.endpoint, next)
			} else {
				seen[next] = true
				if ahead != nil {
					ahead.plan(next, got, p.bytes)
				}
			}
		}
		var zero T
		for i, it := range p.Results {
			p.Results[i] = zero // let the item go once handed on
			if err := fn(it, p.Links.Base); err != nil {
				return err
			}
		}
		if err != nil || end {
			return err
		}
		cl.path = next
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// nextPage returns the path of the page after one of got items whose
// next link is link, or end.
func nextPage(c *Client, cl call, link string, got int) (next string, end bool, err error) {
	if link == "" {
		return "", true, nil
	}
	if next, err = relativeAPIPath(link); err != nil {
		return "", false, err
	}
	if c.cfg.Deployment == DataCenter {
		return dcNextPage(cl.path, next, got)
	}
	return next, false, nil
}

// dcNextPage corrects a Data Center start/limit next link. DC advances start
// by the requested limit even when its cap returned fewer items (Onyx #4129,
// CONFSERVER-95272), so the next start is re-derived as this page's start
// plus the items it returned: nothing is skipped. An empty page with a next
// link is the end: DC sends next links past the real end (CONFSERVER-95396).
// Links without a start parameter (cursors) pass unchanged.
func dcNextPage(current, next string, got int) (string, bool, error) {
	nu, err := url.Parse(next)
	if err != nil {
		return "", false, fmt.Errorf("invalid next link %q: %w", next, err)
	}
	q := nu.Query()
	if q.Get("start") == "" {
		return next, false, nil
	}
	if got == 0 {
		return "", true, nil
	}
	cu, err := url.Parse(current)
	if err != nil {
		return "", false, err
	}
	start := 0
	if v := cu.Query().Get("start"); v != "" {
		if start, err = strconv.Atoi(v); err != nil || start < 0 {
			return "", false, fmt.Errorf("listing at %q: invalid start %q", current, v)
		}
	}
	q.Set("start", strconv.Itoa(start+got))
	nu.RawQuery = q.Encode()
	return nu.String(), false, nil
}

// relativeAPIPath turns a next link (absolute, site-relative "/wiki/api/v2/..."
// or base-relative "/rest/api/...") into a path relative to the API base, so
// it also works through the OAuth gateway and behind context paths.
func relativeAPIPath(next string) (string, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("invalid next link %q: %w", next, err)
	}
	p := u.EscapedPath()
	for _, marker := range []string{"/rest/api/", "/api/v2/"} {
		if i := strings.Index(p, marker); i >= 0 {
			out := p[i:]
			if u.RawQuery != "" {
				out += "?" + u.RawQuery
			}
			return out, nil
		}
	}
	return "", fmt.Errorf("unexpected next link %q", next)
}

// webURL joins a base and a webui link.
func webURL(base, webui string) string {
	if webui == "" {
		return ""
	}
	if strings.HasPrefix(webui, "http://") || strings.HasPrefix(webui, "https://") {
		return webui
	}
	return strings.TrimRight(base, "/") + webui
}
