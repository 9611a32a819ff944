package extract

import (
	"unicode"
	"unicode/utf8"
)

// pending is the separator owed before the next word.
type pending uint8

const (
	pendNone  pending = iota
	pendSpace         // a single space
	pendSep           // a table cell separator
	pendLine          // a line break
)

const cellSep = " | "

// textWriter accumulates clean text: whitespace collapsed, one block per
// line, never longer than max bytes. Separators are written lazily, so text
// never starts or ends with one and never holds blank lines.
type textWriter struct {
	buf     []byte
	max     int
	full    bool    // max reached; further writes are dropped
	pend    pending // separator owed before the next word
	writes  int     // number of words/raw chunks written so far
	rawLead bool    // in a preformatted block, no text written yet
}

func newTextWriter(max int) *textWriter {
	return &textWriter{max: max, buf: make([]byte, 0, min(max, 4096))}
}

func (w *textWriter) setPending(p pending) {
	if p > w.pend {
		w.pend = p
	}
}

// lineBreak ends the current line.
func (w *textWriter) lineBreak() { w.setPending(pendLine) }

// space separates words.
func (w *textWriter) space() { w.setPending(pendSpace) }

// cellSep separates table cells on one line.
func (w *textWriter) cellSep() { w.setPending(pendSep) }

// flush writes the pending separator, unless at the start of a line.
func (w *textWriter) flush() {
	p := w.pend
	w.pend = pendNone
	if len(w.buf) == 0 || w.buf[len(w.buf)-1] == '\n' {
		return
	}
	switch p {
	case pendLine:
		w.append("\n")
	case pendSep:
		w.append(cellSep)
	case pendSpace:
		w.append(" ")
	}
}

// append writes s verbatim, cutting it on a rune boundary at max.
func (w *textWriter) append(s string) { appendCut(w, s) }

// appendCut is append for a string or a byte slice.
func appendCut[S ~string | ~[]byte](w *textWriter, s S) {
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

// isSpace reports whether r separates words: Unicode white space, control
// characters, zero-width spaces and the BOM.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r <= ' ' || r == 0x7f
	}
	switch r {
	case '\u200b', '\ufeff', utf8.RuneError:
		return true
	}
	return unicode.IsSpace(r) || unicode.IsControl(r)
}

// asciiClass classifies ASCII bytes for the scanners: 1 for a word byte, 0
// for a separator (isSpace); bytes >= utf8.RuneSelf are 2 (decode a rune).
var asciiClass = func() (c [256]uint8) {
	for b := range c {
		switch {
		case b >= utf8.RuneSelf:
			c[b] = 2
		case !isSpace(rune(b)):
			c[b] = 1
		}
	}
	return c
}()

// decodeRune is utf8.DecodeRune for a string or a byte slice, without
// converting (and copying) the rest of s.
func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	var b [utf8.UTFMax]byte
	return utf8.DecodeRune(b[:copy(b[:], s)])
}

// spaceRun returns the length of the run of separators (isSpace) s starts with.
func spaceRun[S ~string | ~[]byte](s S) int {
	i := 0
	for i < len(s) {
		switch asciiClass[s[i]] {
		case 0:
			i++
			continue
		case 1:
			return i
		}
		r, n := decodeRune(s[i:])
		if !isSpace(r) {
			return i
		}
		i += n
	}
	return i
}

// wordRun returns the length of the word (no separator) s starts with.
func wordRun[S ~string | ~[]byte](s S) int {
	i := 0
	for i < len(s) {
		switch asciiClass[s[i]] {
		case 0:
			return i
		case 1:
			i++
			continue
		}
		r, n := decodeRune(s[i:])
		if isSpace(r) {
			return i
		}
		i += n
	}
	return i
}

// text writes s with runs of white space collapsed to one space. Invalid
// UTF-8 counts as white space.
func (w *textWriter) text(s string) { writeText(w, s) }

// textBytes is text for a byte slice (a tokenizer's buffer), which it does
// not keep.
func (w *textWriter) textBytes(b []byte) { writeText(w, b) }

func writeText[S ~string | ~[]byte](w *textWriter, s S) {
	if w.full {
		return
	}
	// Collapsing never lengthens s, and only the first separator written
	// can be longer than the white space it stands for: when s and that
	// separator fit, no write can reach max and the checks of append can
	// go. The loops are spaceRun and wordRun, inlined.
	if len(w.buf)+len(cellSep)+len(s) > w.max {
		writeTextBounded(w, s)
		return
	}
	buf := w.buf
	for i := 0; i < len(s); {
		start := i
		for i < len(s) {
			switch asciiClass[s[i]] {
			case 0:
				i++
				continue
			case 2:
				if r, n := decodeRune(s[i:]); isSpace(r) {
					i += n
					continue
				}
			}
			break
		}
		if i > start {
			w.space()
		}
		start = i
		for i < len(s) {
			switch asciiClass[s[i]] {
			case 1:
				i++
				continue
			case 2:
				if r, n := decodeRune(s[i:]); !isSpace(r) {
					i += n
					continue
				}
			}
			break
		}
		if i == start {
			continue
		}
		if p := w.pend; p != pendNone { // flush
			w.pend = pendNone
			if len(buf) > 0 && buf[len(buf)-1] != '\n' {
				switch p {
				case pendLine:
					buf = append(buf, '\n')
				case pendSep:
					buf = append(buf, cellSep...)
				case pendSpace:
					buf = append(buf, ' ')
				}
			}
		}
		buf = append(buf, s[start:i]...)
		w.writes++
	}
	w.buf = buf
}

// writeTextBounded is writeText for text that may reach max: every write is
// cut at max.
func writeTextBounded[S ~string | ~[]byte](w *textWriter, s S) {
	for len(s) > 0 && !w.full {
		if i := spaceRun(s); i > 0 {
			w.space()
			s = s[i:]
		}
		if j := wordRun(s); j > 0 {
			w.flush()
			appendCut(w, s[:j])
			w.writes++
			s = s[j:]
		}
	}
}

// lines writes s keeping its line breaks (blank lines dropped), collapsing
// other white space.
func (w *textWriter) lines(s string) {
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
func (w *textWriter) startRaw() int {
	w.lineBreak()
	w.rawLead = true
	return len(w.buf)
}

// raw writes preformatted text: white space kept, CR LF normalised to LF,
// other control characters and invalid UTF-8 dropped; leading blank lines of
// the block are skipped.
func (w *textWriter) raw(s string) { writeRaw(w, s) }

// rawBytes is raw for a byte slice (a tokenizer's buffer), which it does not
// keep.
func (w *textWriter) rawBytes(b []byte) { writeRaw(w, b) }

func writeRaw[S ~string | ~[]byte](w *textWriter, s S) {
	if w.rawLead {
		for len(s) > 0 && (s[0] == '\n' || s[0] == '\r') {
			s = s[1:]
		}
		if len(s) == 0 {
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
			appendCut(w, s[start:i])
			if c == '\r' && (i+1 == len(s) || s[i+1] != '\n') {
				w.append("\n")
			}
			i++
			start = i
			continue
		}
		r, n := decodeRune(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) {
			appendCut(w, s[start:i])
			start = i + n
		}
		i += n
	}
	appendCut(w, s[start:])
}

// endRaw ends a preformatted block begun at mark: trailing white space of the
// block is trimmed and the line ends.
func (w *textWriter) endRaw(mark int) {
	w.rawLead = false
	n := len(w.buf)
	for n > mark && (w.buf[n-1] == ' ' || w.buf[n-1] == '\t' || w.buf[n-1] == '\n') {
		n--
	}
	w.buf = w.buf[:n]
	w.lineBreak()
}

// String returns the text written so far.
func (w *textWriter) String() string { return string(w.buf) }
