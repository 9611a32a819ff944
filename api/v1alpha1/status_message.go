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
	const ellipsis = "…"
	// Only the head can survive the cut: never scan a huge message whole.
	head := text[:min(len(text), 4*MaxStatusMessageBytes)]
	clean := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || (!unicode.IsPrint(r) && !unicode.IsSpace(r)) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(head, " "))
	if len(head) == len(text) && len(clean) <= MaxStatusMessageBytes {
		return clean
	}
	cut := MaxStatusMessageBytes - len(ellipsis)
	if len(clean) <= cut {
		return clean + ellipsis
	}
	for cut > 0 && !utf8.RuneStart(clean[cut]) {
		cut--
	}
	return clean[:cut] + ellipsis
}
