package extract

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// Text is the searchable text of a page.
type Text struct {
	// Body is the text, one block (paragraph, heading, list item, table row,
	// line of code) per line, white space collapsed outside code.
	Body string
	// Headings are the texts of the h1-h6 elements, in document order.
	Headings []string
	// Truncated reports that Body was cut at the size bound.
	Truncated bool
	// Sections are the headings with their level and where their line
	// starts in Body, in document order (see Split).
	Sections []Section
	// Groups are the byte ranges of Body held by top-level lists, tables,
	// code blocks and macros: Split prefers not to cut inside them.
	Groups []Range
}

// Section is a heading of a page: its level (1-6), its text and the offset
// in Text.Body where its line starts.
type Section struct {
	Level   int
	Heading string
	Start   int
}

// Range is a byte range [Start, End) of Text.Body.
type Range struct{ Start, End int }

// debugNoRecover lets tests see panics that StorageToText would otherwise
// turn into the tag-stripping fallback.
var debugNoRecover bool

// StorageToText converts a Confluence storage format body to searchable text.
//
// It keeps headings (each on its own line, and listed in Text.Headings),
// paragraphs, list items and task list items as lines, table rows as lines
// with cells separated by " | ", code (ac:plain-text-body, pre) verbatim,
// rich-text macro bodies (info, note, panel, expand, ...), a macro's title
// parameter, link bodies (or, for a link without one, the linked page or
// blog post title, attachment file name, space key or user), image
// attachment file names, user mentions (through WithUserResolver, else
// "@username" or "@user") and <time datetime>. It drops other macro
// parameters, placeholders, emoticons, task ids and statuses, scripts and
// styles.
//
// Malformed markup never fails: parsing is best effort, and falls back to
// stripping tags. The only error returned is one from the UserResolver.
func StorageToText(storage string, opts ...Option) (Text, error) {
	o := newOptions(opts)
	t, err := storageToText(storage, &o)
	if err != nil {
		return Text{}, err
	}
	return t, nil
}

func storageToText(storage string, o *options) (t Text, err error) {
	// The text is rarely longer than its markup: size the buffer for it
	// (never above the bound) rather than grow it from 4 KB.
	w := &textWriter{max: o.maxBytes, buf: make([]byte, 0, min(o.maxBytes, len(storage)+64))}
	if !debugNoRecover {
		defer func() {
			if recover() != nil {
				w = newTextWriter(o.maxBytes)
				stripTags(w, storage)
				t, err = Text{Body: w.String(), Truncated: w.full}, nil
			}
		}()
	}
	z := html.NewTokenizer(strings.NewReader(escapeCDATA(storage)))
	wk := walker{w: w, o: o}
	wk.run(z)
	if wk.err != nil {
		return Text{}, wk.err
	}
	body := w.String()
	for i := range wk.groups {
		g := &wk.groups[i]
		if g.Start < len(body) && body[g.Start] == '\n' {
			g.Start++
		}
		if g.End < g.Start { // left open at the size bound
			g.End = len(body)
		}
	}
	return Text{Body: body, Headings: wk.headings, Truncated: w.full, Sections: wk.sections, Groups: wk.groups}, nil
}

var cdataEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeCDATA replaces each CDATA section with its escaped content, because
// the HTML tokenizer reads <![CDATA[ as a comment ending at the first '>'.
// An unterminated section runs to the end of s.
func escapeCDATA(s string) string {
	const open, end = "<![CDATA[", "]]>"
	i := strings.Index(s, open)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i+len(open):]
		j := strings.Index(s, end)
		if j < 0 {
			j = len(s)
		}
		_, _ = cdataEscaper.WriteString(&b, s[:j])
		s = s[min(j+len(end), len(s)):]
		i = strings.Index(s, open)
	}
	b.WriteString(s)
	return b.String()
}

// stripTags is the last-resort extraction: text outside <...>, unescaped.
func stripTags(w *textWriter, s string) {
	for len(s) > 0 && !w.full {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			i = len(s)
		}
		w.text(html.UnescapeString(s[:i]))
		s = s[i:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[j+1:]
			w.space()
		} else {
			s = ""
		}
	}
}

// kind is what an open element does to the text.
type kind uint8

const (
	kInline  kind = iota // nothing
	kBlock               // own line
	kSkip                // content dropped
	kRaw                 // content verbatim
	kHeading             // own line, recorded as a heading
	kRow                 // table row: own line
	kCell                // table cell: separated by " | "
	kLink                // ac:link: falls back to the target's name
)

// frame is an open element.
type frame struct {
	name     string
	kind     kind
	mark     int      // kHeading, kRow, kRaw: len(buf) at start; kLink: writes at start
	fallback string   // kLink: text when the link has no body
	user     *UserRef // kLink: user to render when the link has no body
	group    bool     // a group element (see groupElements)
}

// maxDepth bounds the element stack; deeper elements are treated as inline.
const maxDepth = 512

// walker turns tokens into text.
type walker struct {
	w        *textWriter
	o        *options
	stack    []frame
	skip     int // open kSkip frames
	raw      int // open kRaw frames
	cells    int // open kCell frames
	headings []string
	sections []Section
	// groups are the ranges of top-level group elements (see groupElements);
	// grouped counts the open ones.
	groups  []Range
	grouped int
	err     error
	name    []byte // tagName's buffer
}

// groupElements hold lines that belong together: a passage boundary
// inside them is a last resort (see Split).
var groupElements = map[string]bool{
	"ul": true, "ol": true, "dl": true, "table": true, "pre": true, "ac:task-list": true,
	"ac:structured-macro": true, "ac:macro": true, "ac:plain-text-body": true, "blockquote": true,
}

// lineStart is where the next line of text starts: the buffer ends in an
// owed line break unless it is empty or already ends with one.
func (wk *walker) lineStart(mark int) int {
	b := wk.w.buf
	if mark < len(b) && b[mark] == '\n' {
		return mark + 1
	}
	if mark > 0 && mark == len(b) && b[mark-1] != '\n' {
		return mark + 1
	}
	return mark
}

// attrs holds the attributes the walker looks at.
type attrs struct {
	acName, title, filename, accountID, userKey, username, spaceKey, value, datetime, alt string
}

func readAttrs(z *html.Tokenizer) attrs {
	var a attrs
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "ac:name":
			a.acName = string(v)
		case "ri:content-title":
			a.title = string(v)
		case "ri:filename":
			a.filename = string(v)
		case "ri:account-id":
			a.accountID = string(v)
		case "ri:userkey":
			a.userKey = string(v)
		case "ri:username":
			a.username = string(v)
		case "ri:space-key":
			a.spaceKey = string(v)
		case "ri:value":
			a.value = string(v)
		case "datetime":
			a.datetime = string(v)
		case "alt":
			a.alt = string(v)
		}
		if !more {
			return a
		}
	}
}

// run consumes z to the end, the size bound or a resolver error.
func (wk *walker) run(z *html.Tokenizer) {
	for !wk.w.full && wk.err == nil {
		switch tt := z.Next(); tt {
		case html.ErrorToken:
			wk.closeTo(0)
			return
		case html.TextToken:
			if wk.skip > 0 {
				continue
			}
			if wk.raw > 0 {
				wk.w.rawBytes(z.Text())
			} else {
				wk.w.textBytes(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name := wk.tagName(z)
			el := elements[string(name)]
			var a attrs
			if el.attrs && wk.skip == 0 {
				a = readAttrs(z)
			}
			wk.start(name, el, a, tt == html.SelfClosingTagToken || el.void)
		case html.EndTagToken:
			wk.end(wk.tagName(z))
		}
	}
}

// tagName returns the lower-cased name of the current start or end tag, as
// z.TagName does, without its copy: the name is read from the raw token
// ("<name" or "</name", up to white space, '/' or '>'). The slice is valid
// until the next call.
func (wk *walker) tagName(z *html.Tokenizer) []byte {
	raw := z.Raw()
	i := 1
	if len(raw) > 1 && raw[1] == '/' {
		i = 2
	}
	j, plain := i, true
	for ; j < len(raw); j++ {
		c := raw[j]
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '/' || c == '>' {
			break
		}
		if c == 0 || 'A' <= c && c <= 'Z' {
			plain = false
		}
	}
	if plain {
		return raw[i:j]
	}
	// Upper case or NUL (read as U+FFFD): the rare copy.
	wk.name = wk.name[:0]
	for _, c := range raw[i:j] {
		switch {
		case c == 0:
			wk.name = append(wk.name, "\ufffd"...)
		case 'A' <= c && c <= 'Z':
			wk.name = append(wk.name, c+'a'-'A')
		default:
			wk.name = append(wk.name, c)
		}
	}
	return wk.name
}

var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "param": true,
	"source": true, "track": true, "wbr": true,
}

// attrElements are the elements whose attributes start reads.
var attrElements = []string{"img", "ac:parameter", "time", "ri:user", "ri:page", "ri:blog-post", "ri:attachment", "ri:space", "ri:url"}

// element is what the walker knows of an element name, found with one
// lookup in elements.
type element struct {
	name  string // the name, shared by the frames of this element
	kind  kind
	known bool // listed in elementKinds
	void  bool // voidElements
	group bool // groupElements
	attrs bool // attrElements
}

// elements merges elementKinds, voidElements, groupElements and
// attrElements; unlisted names are inline, unknown and without attributes.
var elements = func() map[string]element {
	m := make(map[string]element, len(elementKinds)+len(voidElements))
	get := func(name string) element {
		e, ok := m[name]
		if !ok {
			e.name = name
		}
		return e
	}
	for name, k := range elementKinds {
		e := get(name)
		e.kind, e.known = k, true
		m[name] = e
	}
	for name := range voidElements {
		e := get(name)
		e.void = true
		m[name] = e
	}
	for name := range groupElements {
		e := get(name)
		e.group = true
		m[name] = e
	}
	for _, name := range attrElements {
		e := get(name)
		e.attrs = true
		m[name] = e
	}
	return m
}()

// elementKinds classifies elements; unlisted ones are inline.
var elementKinds = map[string]kind{
	// HTML blocks.
	"address": kBlock, "article": kBlock, "aside": kBlock, "blockquote": kBlock,
	"body": kBlock, "caption": kBlock, "center": kBlock, "dd": kBlock,
	"details": kBlock, "dialog": kBlock, "div": kBlock, "dl": kBlock, "dt": kBlock,
	"fieldset": kBlock, "figcaption": kBlock, "figure": kBlock, "footer": kBlock,
	"form": kBlock, "header": kBlock, "hgroup": kBlock, "legend": kBlock,
	"li": kBlock, "main": kBlock, "nav": kBlock, "ol": kBlock, "option": kBlock,
	"p": kBlock, "section": kBlock, "summary": kBlock, "table": kBlock,
	"tbody": kBlock, "tfoot": kBlock, "thead": kBlock, "title": kBlock, "ul": kBlock,
	"h1": kHeading, "h2": kHeading, "h3": kHeading, "h4": kHeading, "h5": kHeading, "h6": kHeading,
	"tr": kRow, "td": kCell, "th": kCell,
	"pre":    kRaw,
	"script": kSkip, "style": kSkip, "noscript": kSkip, "template": kSkip,
	"iframe": kSkip, "object": kSkip, "svg": kSkip, "head": kInline,
	// Confluence.
	"ac:structured-macro": kBlock, "ac:macro": kBlock, "ac:rich-text-body": kBlock,
	"ac:plain-text-body": kRaw, "ac:link": kLink,
	"ac:layout": kBlock, "ac:layout-section": kBlock, "ac:layout-cell": kBlock,
	"ac:task-list": kBlock, "ac:task": kBlock, "ac:task-body": kBlock,
	"ac:adf-extension": kBlock, "ac:adf-node": kBlock, "ac:adf-content": kBlock,
	"ac:image": kInline, "ac:caption": kBlock,
	"ac:parameter": kSkip, "ac:default-parameter": kSkip, "ac:placeholder": kSkip,
	"ac:task-id": kSkip, "ac:task-uuid": kSkip, "ac:task-status": kSkip,
	"ac:emoticon": kSkip, "ac:adf-attribute": kSkip, "ac:adf-fallback": kSkip,
	"time": kSkip,
	// Common inline elements, listed to share their names (see internedNames).
	"a": kInline, "b": kInline, "code": kInline, "em": kInline, "i": kInline,
	"s": kInline, "span": kInline, "strong": kInline, "sub": kInline,
	"sup": kInline, "u": kInline, "colgroup": kInline,
	"ac:link-body": kInline, "ac:plain-text-link-body": kInline,
	"ac:inline-comment-marker": kInline, "ri:page": kInline,
	"ri:attachment": kInline, "ri:user": kInline, "ri:url": kInline,
}

// blockBreak ends a block: a new line, or a space inside a table cell so a
// row stays on one line.
func (wk *walker) blockBreak() {
	if wk.cells > 0 {
		wk.w.space()
	} else {
		wk.w.lineBreak()
	}
}

func (wk *walker) start(name []byte, el element, a attrs, selfClosing bool) {
	if wk.skip > 0 {
		if !selfClosing {
			wk.push(frame{name: el.nameOf(name), kind: kInline})
		}
		return
	}
	f := frame{kind: el.kind, group: el.group}
	switch el.name {
	case "br", "hr":
		wk.blockBreak()
		return
	case "img":
		wk.w.text(a.alt)
		return
	case "ac:parameter":
		if a.acName == "title" {
			f.kind = kBlock
		}
	case "time":
		wk.w.text(a.datetime)
	case "ri:user":
		ref := UserRef{AccountID: a.accountID, UserKey: a.userKey, Username: a.username}
		if l := wk.parentLink(); l != nil {
			l.user, l.fallback = &ref, "" // resolved only if the link has no body
		} else {
			wk.w.text(wk.userName(ref))
		}
	case "ri:page", "ri:blog-post":
		wk.linkText(a.title)
	case "ri:attachment":
		if wk.parentIs("ac:image") {
			wk.w.space()
			wk.w.text(a.filename)
			wk.w.space()
		} else {
			wk.linkText(a.filename)
		}
	case "ri:space":
		wk.linkText(a.spaceKey)
	case "ri:url":
		wk.linkText(a.value)
	}
	if selfClosing {
		if f.kind == kBlock || f.kind == kHeading || f.kind == kRow {
			wk.blockBreak()
		}
		return
	}
	f.name = el.nameOf(name)
	wk.push(f)
}

// nameOf returns the element's name: the shared string of a listed element,
// else a copy of name.
func (e element) nameOf(name []byte) string {
	if e.name != "" {
		return e.name
	}
	return string(name)
}

// push opens f, applying its start effects.
func (wk *walker) push(f frame) {
	if len(wk.stack) >= maxDepth {
		return
	}
	if f.group { // only set outside skipped content
		if wk.grouped == 0 {
			wk.groups = append(wk.groups, Range{Start: len(wk.w.buf)})
		}
		wk.grouped++
	}
	switch f.kind {
	case kBlock:
		wk.blockBreak()
	case kSkip:
		wk.skip++
	case kRaw:
		wk.raw++
		f.mark = wk.w.startRaw()
	case kHeading:
		wk.w.lineBreak()
		f.mark = len(wk.w.buf)
	case kRow:
		wk.w.lineBreak()
		f.mark = len(wk.w.buf)
	case kCell:
		wk.cells++
		for i := len(wk.stack) - 1; i >= 0; i-- {
			if wk.stack[i].kind == kRow {
				if len(wk.w.buf) > wk.stack[i].mark {
					wk.w.cellSep()
				}
				break
			}
		}
	case kLink:
		f.mark = wk.w.writes
	}
	wk.stack = append(wk.stack, f)
}

// end closes the innermost open element called name and all elements opened
// after it; an end tag without a matching open element is ignored.
func (wk *walker) end(name []byte) {
	for i := len(wk.stack) - 1; i >= 0; i-- {
		if wk.stack[i].name == string(name) {
			wk.closeTo(i)
			return
		}
	}
	if string(name) == "br" && wk.skip == 0 { // HTML reads </br> as <br>
		wk.blockBreak()
	}
}

// closeTo pops the stack down to length n, applying end effects.
func (wk *walker) closeTo(n int) {
	for len(wk.stack) > n {
		f := wk.stack[len(wk.stack)-1]
		wk.stack = wk.stack[:len(wk.stack)-1]
		if f.group {
			if wk.grouped--; wk.grouped == 0 {
				wk.groups[len(wk.groups)-1].End = len(wk.w.buf)
			}
		}
		switch f.kind {
		case kBlock:
			wk.blockBreak()
		case kSkip:
			wk.skip--
		case kRaw:
			wk.raw--
			wk.w.endRaw(f.mark)
		case kHeading:
			if h := heading(wk.w.buf[min(f.mark, len(wk.w.buf)):]); h != "" {
				wk.headings = append(wk.headings, h)
				if wk.grouped == 0 {
					wk.sections = append(wk.sections, Section{Level: int(f.name[1] - '0'), Heading: h, Start: wk.lineStart(f.mark)})
				}
			}
			wk.w.lineBreak()
		case kRow:
			wk.w.lineBreak()
		case kCell:
			wk.cells--
			wk.w.space()
		case kLink:
			if wk.w.writes != f.mark || wk.skip > 0 {
				break
			}
			if f.user != nil {
				wk.w.text(wk.userName(*f.user))
			} else {
				wk.w.text(f.fallback)
			}
		}
	}
}

// heading returns the single-line text of a heading: its words
// (strings.Fields) joined by single spaces, cell separators read as spaces.
func heading(b []byte) string {
	if !bytes.Contains(b, []byte(cellSep)) {
		// Most headings already are one line of single-spaced words, maybe
		// after a line break: take them as they are.
		start, end := 0, len(b)
		for start < end && b[start] == '\n' {
			start++
		}
		if singleSpaced(b[start:end]) {
			return string(b[start:end])
		}
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(string(b), cellSep, " ")), " ")
}

// singleSpaced reports whether strings.Fields would split b only at single
// ASCII spaces, none leading or trailing: then joining the fields with " "
// gives b back.
func singleSpaced(b []byte) bool {
	if len(b) == 0 || b[0] == ' ' || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(b[i:])
			if unicode.IsSpace(r) {
				return false
			}
			i += n - 1
			continue
		}
		if c == ' ' && b[i+1] == ' ' || c != ' ' && asciiSpace[c] {
			return false
		}
	}
	return true
}

// asciiSpace are the ASCII bytes unicode.IsSpace reports.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

func (wk *walker) parentIs(name string) bool {
	return len(wk.stack) > 0 && wk.stack[len(wk.stack)-1].name == name
}

// parentLink returns the directly enclosing ac:link, if any.
func (wk *walker) parentLink() *frame {
	if len(wk.stack) > 0 && wk.stack[len(wk.stack)-1].kind == kLink {
		return &wk.stack[len(wk.stack)-1]
	}
	return nil
}

// linkText sets the fallback text of the directly enclosing ac:link; outside
// a link, s is dropped.
func (wk *walker) linkText(s string) {
	if l := wk.parentLink(); l != nil {
		l.fallback, l.user = s, nil
	}
}

// userName renders a mention.
func (wk *walker) userName(ref UserRef) string {
	if wk.o.resolveUser != nil {
		name, err := wk.o.resolveUser(ref)
		if err != nil {
			wk.err = fmt.Errorf("extract: resolving user %+v: %w", ref, err)
			return ""
		}
		if name != "" {
			return name
		}
	}
	if ref.Username != "" {
		return "@" + ref.Username
	}
	return "@user"
}

// htmlToText extracts text from an HTML document read from r.
func htmlToText(r io.Reader, w *textWriter) {
	o := options{}
	wk := walker{w: w, o: &o}
	wk.run(html.NewTokenizer(r))
}
