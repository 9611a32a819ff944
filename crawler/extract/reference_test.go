package extract

// This file is a frozen copy of the storage-format extraction as of main
// 19ec143 (storage.go and writer.go, identifiers prefixed with "ref"): the
// reference the differential tests compare the optimised code against. Do
// not change it when changing the extraction's output on purpose; change the
// expectation in the differential test instead.

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

func refStorageToText(storage string, o *options) (t Text, err error) {
	w := refNewTextWriter(o.maxBytes)
	if !debugNoRecover {
		defer func() {
			if recover() != nil {
				w = refNewTextWriter(o.maxBytes)
				refStripTags(w, storage)
				t, err = Text{Body: w.String(), Truncated: w.full}, nil
			}
		}()
	}
	z := html.NewTokenizer(strings.NewReader(refEscapeCDATA(storage)))
	wk := refWalker{w: w, o: o}
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

var refCdataEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// refEscapeCDATA replaces each CDATA section with its escaped content, because
// the HTML tokenizer reads <![CDATA[ as a comment ending at the first '>'.
// An unterminated section runs to the end of s.
func refEscapeCDATA(s string) string {
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
		_, _ = refCdataEscaper.WriteString(&b, s[:j])
		s = s[min(j+len(end), len(s)):]
		i = strings.Index(s, open)
	}
	b.WriteString(s)
	return b.String()
}

// refStripTags is the last-resort extraction: text outside <...>, unescaped.
func refStripTags(w *refTextWriter, s string) {
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

// refKind is what an open element does to the text.
type refKind uint8

const (
	refKInline  refKind = iota // nothing
	refKBlock                  // own line
	refKSkip                   // content dropped
	refKRaw                    // content verbatim
	refKHeading                // own line, recorded as a refHeading
	refKRow                    // table row: own line
	refKCell                   // table cell: separated by " | "
	refKLink                   // ac:link: falls back to the target's name
)

// refFrame is an open element.
type refFrame struct {
	name     string
	kind     refKind
	mark     int      // refKHeading, refKRow, refKRaw: len(buf) at start; refKLink: writes at start
	fallback string   // refKLink: text when the link has no body
	user     *UserRef // refKLink: user to render when the link has no body
	group    bool     // a group element (see refGroupElements)
}

// refMaxDepth bounds the element stack; deeper elements are treated as inline.
const refMaxDepth = 512

// refWalker turns tokens into text.
type refWalker struct {
	w        *refTextWriter
	o        *options
	stack    []refFrame
	skip     int // open refKSkip frames
	raw      int // open refKRaw frames
	cells    int // open refKCell frames
	headings []string
	sections []Section
	// groups are the ranges of top-level group elements (see refGroupElements);
	// grouped counts the open ones.
	groups  []Range
	grouped int
	err     error
}

// refGroupElements hold lines that belong together: a passage boundary
// inside them is a last resort (see Split).
var refGroupElements = map[string]bool{
	"ul": true, "ol": true, "dl": true, "table": true, "pre": true, "ac:task-list": true,
	"ac:structured-macro": true, "ac:macro": true, "ac:plain-text-body": true, "blockquote": true,
}

// lineStart is where the next line of text starts: the buffer ends in an
// owed line break unless it is empty or already ends with one.
func (wk *refWalker) lineStart(mark int) int {
	b := wk.w.buf
	if mark < len(b) && b[mark] == '\n' {
		return mark + 1
	}
	if mark > 0 && mark == len(b) && b[mark-1] != '\n' {
		return mark + 1
	}
	return mark
}

// refAttrs holds the attributes the refWalker looks at.
type refAttrs struct {
	acName, title, filename, accountID, userKey, username, spaceKey, value, datetime, alt string
}

func refReadAttrs(z *html.Tokenizer) refAttrs {
	var a refAttrs
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
func (wk *refWalker) run(z *html.Tokenizer) {
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
				wk.w.raw(string(z.Text()))
			} else {
				wk.w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			var a refAttrs
			if hasAttr && wk.skip == 0 {
				a = refReadAttrs(z)
			}
			wk.start(name, a, tt == html.SelfClosingTagToken || refVoidElements[string(name)])
		case html.EndTagToken:
			name, _ := z.TagName()
			wk.end(name)
		}
	}
}

var refVoidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "param": true,
	"source": true, "track": true, "wbr": true,
}

// refElementKinds classifies elements; unlisted ones are inline.
var refElementKinds = map[string]refKind{
	// HTML blocks.
	"address": refKBlock, "article": refKBlock, "aside": refKBlock, "blockquote": refKBlock,
	"body": refKBlock, "caption": refKBlock, "center": refKBlock, "dd": refKBlock,
	"details": refKBlock, "dialog": refKBlock, "div": refKBlock, "dl": refKBlock, "dt": refKBlock,
	"fieldset": refKBlock, "figcaption": refKBlock, "figure": refKBlock, "footer": refKBlock,
	"form": refKBlock, "header": refKBlock, "hgroup": refKBlock, "legend": refKBlock,
	"li": refKBlock, "main": refKBlock, "nav": refKBlock, "ol": refKBlock, "option": refKBlock,
	"p": refKBlock, "section": refKBlock, "summary": refKBlock, "table": refKBlock,
	"tbody": refKBlock, "tfoot": refKBlock, "thead": refKBlock, "title": refKBlock, "ul": refKBlock,
	"h1": refKHeading, "h2": refKHeading, "h3": refKHeading, "h4": refKHeading, "h5": refKHeading, "h6": refKHeading,
	"tr": refKRow, "td": refKCell, "th": refKCell,
	"pre":    refKRaw,
	"script": refKSkip, "style": refKSkip, "noscript": refKSkip, "template": refKSkip,
	"iframe": refKSkip, "object": refKSkip, "svg": refKSkip, "head": refKInline,
	// Confluence.
	"ac:structured-macro": refKBlock, "ac:macro": refKBlock, "ac:rich-text-body": refKBlock,
	"ac:plain-text-body": refKRaw, "ac:link": refKLink,
	"ac:layout": refKBlock, "ac:layout-section": refKBlock, "ac:layout-cell": refKBlock,
	"ac:task-list": refKBlock, "ac:task": refKBlock, "ac:task-body": refKBlock,
	"ac:adf-extension": refKBlock, "ac:adf-node": refKBlock, "ac:adf-content": refKBlock,
	"ac:image": refKInline, "ac:caption": refKBlock,
	"ac:parameter": refKSkip, "ac:default-parameter": refKSkip, "ac:placeholder": refKSkip,
	"ac:task-id": refKSkip, "ac:task-uuid": refKSkip, "ac:task-status": refKSkip,
	"ac:emoticon": refKSkip, "ac:adf-attribute": refKSkip, "ac:adf-fallback": refKSkip,
	"time": refKSkip,
	// Common inline elements, listed to share their names (see refInternedNames).
	"a": refKInline, "b": refKInline, "code": refKInline, "em": refKInline, "i": refKInline,
	"s": refKInline, "span": refKInline, "strong": refKInline, "sub": refKInline,
	"sup": refKInline, "u": refKInline, "colgroup": refKInline,
	"ac:link-body": refKInline, "ac:plain-text-link-body": refKInline,
	"ac:inline-comment-marker": refKInline, "ri:page": refKInline,
	"ri:attachment": refKInline, "ri:user": refKInline, "ri:url": refKInline,
}

// blockBreak ends a block: a new line, or a space inside a table cell so a
// row stays on one line.
func (wk *refWalker) blockBreak() {
	if wk.cells > 0 {
		wk.w.space()
	} else {
		wk.w.lineBreak()
	}
}

func (wk *refWalker) start(name []byte, a refAttrs, selfClosing bool) {
	if wk.skip > 0 {
		if !selfClosing {
			wk.push(refFrame{name: string(name), kind: refKInline})
		}
		return
	}
	k, known := refElementKinds[string(name)]
	f := refFrame{kind: k}
	switch string(name) {
	case "br", "hr":
		wk.blockBreak()
		return
	case "img":
		wk.w.text(a.alt)
		return
	case "ac:parameter":
		if a.acName == "title" {
			f.kind = refKBlock
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
		if f.kind == refKBlock || f.kind == refKHeading || f.kind == refKRow {
			wk.blockBreak()
		}
		return
	}
	if known {
		f.name = refInternedNames[string(name)]
	} else {
		f.name = string(name)
	}
	wk.push(f)
}

// refInternedNames maps each known element name to itself, so a refFrame can
// reference a shared string instead of allocating one per element.
var refInternedNames = func() map[string]string {
	m := make(map[string]string, len(refElementKinds))
	for k := range refElementKinds {
		m[k] = k
	}
	return m
}()

// push opens f, applying its start effects.
func (wk *refWalker) push(f refFrame) {
	if len(wk.stack) >= refMaxDepth {
		return
	}
	if refGroupElements[f.name] && wk.skip == 0 {
		f.group = true
		if wk.grouped == 0 {
			wk.groups = append(wk.groups, Range{Start: len(wk.w.buf)})
		}
		wk.grouped++
	}
	switch f.kind {
	case refKBlock:
		wk.blockBreak()
	case refKSkip:
		wk.skip++
	case refKRaw:
		wk.raw++
		f.mark = wk.w.startRaw()
	case refKHeading:
		wk.w.lineBreak()
		f.mark = len(wk.w.buf)
	case refKRow:
		wk.w.lineBreak()
		f.mark = len(wk.w.buf)
	case refKCell:
		wk.cells++
		for i := len(wk.stack) - 1; i >= 0; i-- {
			if wk.stack[i].kind == refKRow {
				if len(wk.w.buf) > wk.stack[i].mark {
					wk.w.cellSep()
				}
				break
			}
		}
	case refKLink:
		f.mark = wk.w.writes
	}
	wk.stack = append(wk.stack, f)
}

// end closes the innermost open element called name and all elements opened
// after it; an end tag without a matching open element is ignored.
func (wk *refWalker) end(name []byte) {
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
func (wk *refWalker) closeTo(n int) {
	for len(wk.stack) > n {
		f := wk.stack[len(wk.stack)-1]
		wk.stack = wk.stack[:len(wk.stack)-1]
		if f.group {
			if wk.grouped--; wk.grouped == 0 {
				wk.groups[len(wk.groups)-1].End = len(wk.w.buf)
			}
		}
		switch f.kind {
		case refKBlock:
			wk.blockBreak()
		case refKSkip:
			wk.skip--
		case refKRaw:
			wk.raw--
			wk.w.endRaw(f.mark)
		case refKHeading:
			if h := refHeading(wk.w.buf[min(f.mark, len(wk.w.buf)):]); h != "" {
				wk.headings = append(wk.headings, h)
				if wk.grouped == 0 {
					wk.sections = append(wk.sections, Section{Level: int(f.name[1] - '0'), Heading: h, Start: wk.lineStart(f.mark)})
				}
			}
			wk.w.lineBreak()
		case refKRow:
			wk.w.lineBreak()
		case refKCell:
			wk.cells--
			wk.w.space()
		case refKLink:
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

// refHeading returns the single-line text of a refHeading.
func refHeading(b []byte) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(string(b), refCellSep, " ")), " ")
}

func (wk *refWalker) parentIs(name string) bool {
	return len(wk.stack) > 0 && wk.stack[len(wk.stack)-1].name == name
}

// parentLink returns the directly enclosing ac:link, if any.
func (wk *refWalker) parentLink() *refFrame {
	if len(wk.stack) > 0 && wk.stack[len(wk.stack)-1].kind == refKLink {
		return &wk.stack[len(wk.stack)-1]
	}
	return nil
}

// linkText sets the fallback text of the directly enclosing ac:link; outside
// a link, s is dropped.
func (wk *refWalker) linkText(s string) {
	if l := wk.parentLink(); l != nil {
		l.fallback, l.user = s, nil
	}
}

// userName renders a mention.
func (wk *refWalker) userName(ref UserRef) string {
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

// refHtmlToText extracts text from an HTML document read from r.
func refHtmlToText(r io.Reader, w *refTextWriter) {
	o := options{}
	wk := refWalker{w: w, o: &o}
	wk.run(html.NewTokenizer(r))
}

// refPending is the separator owed before the next word.
type refPending uint8

const (
	refPendNone  refPending = iota
	refPendSpace            // a single space
	refPendSep              // a table cell separator
	refPendLine             // a line break
)

const refCellSep = " | "

// refTextWriter accumulates clean text: whitespace collapsed, one block per
// line, never longer than max bytes. Separators are written lazily, so text
// never starts or ends with one and never holds blank lines.
type refTextWriter struct {
	buf     []byte
	max     int
	full    bool       // max reached; further writes are dropped
	pend    refPending // separator owed before the next word
	writes  int        // number of words/raw chunks written so far
	rawLead bool       // in a preformatted block, no text written yet
}

func refNewTextWriter(max int) *refTextWriter {
	return &refTextWriter{max: max, buf: make([]byte, 0, min(max, 4096))}
}

func (w *refTextWriter) setPending(p refPending) {
	if p > w.pend {
		w.pend = p
	}
}

// lineBreak ends the current line.
func (w *refTextWriter) lineBreak() { w.setPending(refPendLine) }

// space separates words.
func (w *refTextWriter) space() { w.setPending(refPendSpace) }

// refCellSep separates table cells on one line.
func (w *refTextWriter) cellSep() { w.setPending(refPendSep) }

// flush writes the refPending separator, unless at the start of a line.
func (w *refTextWriter) flush() {
	p := w.pend
	w.pend = refPendNone
	if len(w.buf) == 0 || w.buf[len(w.buf)-1] == '\n' {
		return
	}
	switch p {
	case refPendLine:
		w.append("\n")
	case refPendSep:
		w.append(refCellSep)
	case refPendSpace:
		w.append(" ")
	}
}

// append writes s verbatim, cutting it on a rune boundary at max.
func (w *refTextWriter) append(s string) {
	if w.full {
		return
	}
	if room := w.max - len(w.buf); len(s) > room {
		i := room
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
		w.full = true
	}
	w.buf = append(w.buf, s...)
}

// refIsSpace reports whether r separates words: Unicode white space, control
// characters, zero-width spaces and the BOM.
func refIsSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r <= ' ' || r == 0x7f
	}
	switch r {
	case '\u200b', '\ufeff', utf8.RuneError:
		return true
	}
	return unicode.IsSpace(r) || unicode.IsControl(r)
}

// text writes s with runs of white space collapsed to one space. Invalid
// UTF-8 counts as white space.
func (w *refTextWriter) text(s string) {
	for len(s) > 0 && !w.full {
		i := 0
		for i < len(s) {
			r, n := rune(s[i]), 1
			if r >= utf8.RuneSelf {
				r, n = utf8.DecodeRuneInString(s[i:])
			}
			if !refIsSpace(r) {
				break
			}
			i += n
		}
		if i > 0 {
			w.space()
			s = s[i:]
		}
		j := 0
		for j < len(s) {
			r, n := rune(s[j]), 1
			if r >= utf8.RuneSelf {
				r, n = utf8.DecodeRuneInString(s[j:])
			}
			if refIsSpace(r) {
				break
			}
			j += n
		}
		if j > 0 {
			w.flush()
			w.append(s[:j])
			w.writes++
			s = s[j:]
		}
	}
}

// lines writes s keeping its line breaks (blank lines dropped), collapsing
// other white space.
func (w *refTextWriter) lines(s string) {
	for len(s) > 0 && !w.full {
		i := 0
		for i < len(s) && s[i] != '\n' && s[i] != '\r' {
			i++
		}
		w.text(s[:i])
		if i < len(s) {
			w.lineBreak()
			i++
		}
		s = s[i:]
	}
}

// startRaw begins a preformatted block on its own line and returns a mark for
// endRaw.
func (w *refTextWriter) startRaw() int {
	w.lineBreak()
	w.rawLead = true
	return len(w.buf)
}

// raw writes preformatted text: white space kept, CR LF normalised to LF,
// other control characters and invalid UTF-8 dropped; leading blank lines of
// the block are skipped.
func (w *refTextWriter) raw(s string) {
	if w.rawLead {
		for len(s) > 0 && (s[0] == '\n' || s[0] == '\r') {
			s = s[1:]
		}
		if s == "" {
			return
		}
		w.rawLead = false
	}
	w.flush()
	w.writes++
	start := 0
	for i := 0; i < len(s) && !w.full; {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != 0x7f || c == '\t' || c == '\n' {
				i++
				continue
			}
			w.append(s[start:i])
			if c == '\r' && (i+1 == len(s) || s[i+1] != '\n') {
				w.append("\n")
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) {
			w.append(s[start:i])
			start = i + n
		}
		i += n
	}
	w.append(s[start:])
}

// endRaw ends a preformatted block begun at mark: trailing white space of the
// block is trimmed and the line ends.
func (w *refTextWriter) endRaw(mark int) {
	w.rawLead = false
	n := len(w.buf)
	for n > mark && (w.buf[n-1] == ' ' || w.buf[n-1] == '\t' || w.buf[n-1] == '\n') {
		n--
	}
	w.buf = w.buf[:n]
	w.lineBreak()
}

// String returns the text written so far.
func (w *refTextWriter) String() string { return string(w.buf) }
