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
	// HeadingPath are the headings enclosing the passage, outermost first;
	// empty before the first heading.
	HeadingPath []string
}

// Heading is the innermost heading of the passage, "" if none.
func (c Chunk) Heading() string {
	if len(c.HeadingPath) == 0 {
		return ""
	}
	return c.HeadingPath[len(c.HeadingPath)-1]
}

// Split cuts t into passages along its structure: every heading starts a
// new passage (its heading path records the enclosing headings), and inside
// a section lines (paragraphs, list items, table rows, code lines) are
// packed up to the target size, cutting preferably between top-level blocks
// rather than inside a list, table, code block or macro (t.Groups), and
// inside a line only when the line alone is over the target (at a sentence
// end, else a word boundary). Text without structure (attachments) is
// packed by lines the same way.
func Split(t Text, o SplitOptions) []Chunk {
	target := o.TargetBytes
	if target <= 0 {
		target = DefaultPassageBytes
	}
	target = max(target, MinPassageBytes)
	overlap := min(max(o.OverlapBytes, 0), target/2)
	var out []Chunk
	var stack []Section
	start := 0
	emitSection := func(end int, path []string) {
		out = appendSection(out, t, start, end, path, target, overlap)
	}
	for _, s := range t.Sections {
		if s.Start < start || s.Start > len(t.Body) {
			continue
		}
		emitSection(s.Start, headingPath(stack))
		for len(stack) > 0 && stack[len(stack)-1].Level >= s.Level {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, s)
		start = s.Start
	}
	emitSection(len(t.Body), headingPath(stack))
	return out
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
	text  string
	start int // offset in Text.Body
}

// appendSection packs Body[start:end] into passages.
func appendSection(out []Chunk, t Text, start, end int, path []string, target, overlap int) []Chunk {
	var pieces []piece
	for off := start; off < end; {
		nl := strings.IndexByte(t.Body[off:end], '\n')
		lineEnd := end
		if nl >= 0 {
			lineEnd = off + nl
		}
		if line := t.Body[off:lineEnd]; strings.TrimSpace(line) != "" {
			pieces = appendLine(pieces, line, off, target)
		}
		off = lineEnd + 1
	}
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
			// Prefer the latest cut between top-level blocks that leaves
			// the passage at least half full.
			for c := j; c > i; c-- {
				if !insideGroup(t.Groups, pieces[c].start) && len(carry)+textSize(pieces[i:c]) >= target/2 {
					k = c
					break
				}
			}
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
		out = append(out, Chunk{Text: text, HeadingPath: path})
		carry = ""
		if k < len(pieces) && overlap > 0 {
			carry = tailWords(text, overlap)
		}
		i = k
	}
	return out
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
