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
func (w *textWriter) append(s string) {
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

// text writes s with runs of white space collapsed to one space. Invalid
// UTF-8 counts as white space.
func (w *textWriter) text(s string) {
	for len(s) > 0 && !w.full {
		i := 0
		for i < len(s) {
			r, n := rune(s[i]), 1
			if r >= utf8.RuneSelf {
				r, n = utf8.DecodeRuneInString(s[i:])
			}
			if !isSpace(r) {
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
			if isSpace(r) {
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
func (w *textWriter) raw(s string) {
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
