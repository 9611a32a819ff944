package v1alpha1

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxStatusMessageBytes bounds a message the crawler or the controller
// writes into the status (sync report, conditions). Messages may quote a
// remote server's error; the status is readable by everyone who may read the
// data source, and must stay small.
const MaxStatusMessageBytes = 1024

// StatusMessage makes text fit for the status: invalid UTF-8 and control
// characters (terminal escapes, newlines) become spaces, and it is cut to
// MaxStatusMessageBytes on a rune boundary, ending in "…" when cut.
func StatusMessage(text string) string {
	var b strings.Builder
	b.Grow(min(len(text), MaxStatusMessageBytes))
	const ellipsis = "…"
	for i, r := range text {
		if r == utf8.RuneError || unicode.IsControl(r) || (!unicode.IsPrint(r) && !unicode.IsSpace(r)) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > MaxStatusMessageBytes-len(ellipsis) && i+utf8.RuneLen(r) < len(text) {
			b.WriteString(ellipsis)
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
