package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Default passage sizes (bytes of text; about 350 and 35 tokens of English).
const (
	DefaultPassageBytes = 1500
	DefaultOverlapBytes = 150
	// MinPassageBytes is the smallest target Split accepts; smaller ones are raised to it.
	MinPassageBytes = 200
)

// SplitOptions configure Split.
type SplitOptions struct {
	// TargetBytes is the size passages are filled up to; a passage is
	// longer only by its overlap. <= 0 selects DefaultPassageBytes.
	TargetBytes int
	// OverlapBytes is how much of the end of a passage (whole words) starts
	// the next passage of the same section; it is capped at TargetBytes/2.
	OverlapBytes int
}

// Chunk is one passage of a text.
type Chunk struct {
	Text string
	// HeadingPath are the headings enclosing all of the passage, outermost
	// first; empty before the first heading.
	HeadingPath []string
	// Anchor is the heading of the section the passage starts in ("" before
	// the first heading): the place to link to.
	Anchor string
}

// Split cuts t into passages along its structure. Passages are filled up
// to the target size and cut, in order of preference: where a section
// starts (a heading), between top-level blocks (not inside a list, table,
// code block or macro: t.Groups), between lines (list items, table rows),
// and inside a line only when the line alone is over the target (at a
// sentence end, else a word boundary). Short sections share a passage; a
// passage's heading path is what its sections have in common. Text without
// structure (attachments) is packed by lines the same way.
func Split(t Text, o SplitOptions) []Chunk {
	target := o.TargetBytes
	if target <= 0 {
		target = DefaultPassageBytes
	}
	target = max(target, MinPassageBytes)
	overlap := min(max(o.OverlapBytes, 0), target/2)
	var secs []section
	var stack []Section
	start := 0
	for _, s := range t.Sections {
		if s.Start < start || s.Start > len(t.Body) {
			continue
		}
		secs = append(secs, section{start: start, end: s.Start, path: headingPath(stack)})
		for len(stack) > 0 && stack[len(stack)-1].Level >= s.Level {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, s)
		start = s.Start
	}
	secs = append(secs, section{start: start, end: len(t.Body), path: headingPath(stack)})
	var pieces []piece
	for n, sec := range secs {
		pieces = appendSection(pieces, t.Body, sec.start, sec.end, n, target)
	}
	return pack(pieces, secs, t.Groups, target, overlap)
}

// section is the text from a heading to the next one.
type section struct {
	start, end int
	path       []string
}

func headingPath(stack []Section) []string {
	if len(stack) == 0 {
		return nil
	}
	p := make([]string, len(stack))
	for i, s := range stack {
		p[i] = s.Heading
	}
	return p
}

// piece is a line, or a part of a line over the target, of a section.
type piece struct {
	text    string
	start   int // offset in Text.Body
	section int
	// first: the piece starts its section.
	first bool
}

// appendSection appends the lines of Body[start:end] as pieces.
func appendSection(pieces []piece, body string, start, end, sec, target int) []piece {
	first := true
	for off := start; off < end; {
		nl := strings.IndexByte(body[off:end], '\n')
		lineEnd := end
		if nl >= 0 {
			lineEnd = off + nl
		}
		if line := body[off:lineEnd]; strings.TrimSpace(line) != "" {
			n := len(pieces)
			pieces = appendLine(pieces, line, off, target)
			for i := n; i < len(pieces); i++ {
				pieces[i].section = sec
			}
			pieces[n].first = first
			first = false
		}
		off = lineEnd + 1
	}
	return pieces
}

// pack fills passages with pieces (see Split).
func pack(pieces []piece, secs []section, groups []Range, target, overlap int) []Chunk {
	var out []Chunk
	carry := ""
	for i := 0; i < len(pieces); {
		size := len(carry)
		j := i
		for j < len(pieces) && (j == i || size+1+len(pieces[j].text) <= target) {
			size += len(pieces[j].text) + 1
			j++
		}
		k := j
		if j < len(pieces) {
			k = cutAt(pieces, groups, i, j, len(carry), target)
		}
		var b strings.Builder
		b.WriteString(carry)
		for n, p := range pieces[i:k] {
			if n > 0 || carry != "" {
				b.WriteByte('\n')
			}
			b.WriteString(p.text)
		}
		text := b.String()
		first := secs[pieces[i].section].path
		c := Chunk{Text: text, HeadingPath: first}
		if len(first) > 0 {
			c.Anchor = first[len(first)-1]
		}
		for _, p := range pieces[i+1 : k] {
			c.HeadingPath = commonPrefix(c.HeadingPath, secs[p.section].path)
		}
		out = append(out, c)
		carry = ""
		if k < len(pieces) && overlap > 0 && !pieces[k].first {
			carry = tailWords(text, overlap)
		}
		i = k
	}
	return out
}

// cutAt chooses where the passage of pieces[i:j] (j overflowing) ends: the
// latest section start leaving it at least a quarter full, else the latest
// line between top-level blocks leaving it half full, else the latest
// section start, else j.
func cutAt(pieces []piece, groups []Range, i, j, carry, target int) int {
	for c := j; c > i; c-- {
		if pieces[c].first && carry+textSize(pieces[i:c]) >= target/4 {
			return c
		}
	}
	for c := j; c > i; c-- {
		if !insideGroup(groups, pieces[c].start) && carry+textSize(pieces[i:c]) >= target/2 {
			return c
		}
	}
	for c := j; c > i; c-- {
		if pieces[c].first {
			return c
		}
	}
	return j
}

func commonPrefix(a, b []string) []string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	if n == 0 {
		return nil
	}
	return a[:n]
}

func textSize(ps []piece) int {
	n := 0
	for _, p := range ps {
		n += len(p.text) + 1
	}
	return n
}

// insideGroup reports whether a line starting at off continues a group (it
// is not its first line).
func insideGroup(groups []Range, off int) bool {
	for _, g := range groups {
		if g.Start < off && off <= g.End {
			return true
		}
	}
	return false
}

// appendLine appends line as one piece, or, over target, as pieces cut at
// sentence ends or word boundaries.
func appendLine(ps []piece, line string, off, target int) []piece {
	for len(line) > target {
		cut := cutPoint(line, target)
		ps = append(ps, piece{text: strings.TrimRightFunc(line[:cut], unicode.IsSpace), start: off})
		rest := strings.TrimLeftFunc(line[cut:], unicode.IsSpace)
		off += len(line) - len(rest)
		line = rest
	}
	if line != "" {
		ps = append(ps, piece{text: line, start: off})
	}
	return ps
}

// cutPoint returns where to cut s to at most n bytes: after the last
// sentence end in its second half, else at the last space, else on a rune
// boundary.
func cutPoint(s string, n int) int {
	w := s[:n]
	for _, end := range []string{". ", "? ", "! ", "; "} {
		if i := strings.LastIndex(w, end); i >= n/2 {
			return i + len(end)
		}
	}
	if i := strings.LastIndexByte(w, ' '); i > 0 {
		return i + 1
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n == 0 { // a single rune wider than n (n is at least MinPassageBytes)
		_, size := utf8.DecodeRuneInString(s)
		return size
	}
	return n
}

// tailWords returns the end of s, at most n bytes, starting at a word.
func tailWords(s string, n int) string {
	if len(s) <= n {
		return s
	}
	t := s[len(s)-n:]
	if i := strings.IndexAny(t, " \n"); i >= 0 {
		return t[i+1:]
	}
	return ""
}

// HeadingAnchor returns the fragment Confluence gives a heading in the
// rendered page: the page title and the heading text, each without white
// space, joined by a hyphen ("Payments runbook" / "Drain the queue" →
// "Paymentsrunbook-Drainthequeue"). Source: the id attribute Confluence
// Server/Data Center renders on headings, <h3 id="Messagestypes-Behavior">
// for page "Messages types" (observed and described at
// http://finnotype.blogspot.com/2014/01/duplicate-heading-anchors-in-confluence.html,
// with Atlassian ticket CONF-17962 on duplicate headings). Cloud pages made
// in the new editor: unverified. A wrong or repeated anchor still opens the
// right page (browsers ignore an unknown fragment), at its top.
func HeadingAnchor(pageTitle, heading string) string {
	strip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	return strip(pageTitle) + "-" + strip(heading)
}
