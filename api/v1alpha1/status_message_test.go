package v1alpha1

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStatusMessage_BoundedAndPrintable(t *testing.T) {
	hostile := "opensearch: 401 \x1b[31mPWNED\x1b[0m\r\nSet-Cookie: x\x00" + strings.Repeat("€", 10000) + "\xff"
	got := StatusMessage(hostile)
	if len(got) > MaxStatusMessageBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Fatalf("len %d, valid %v, cut %v", len(got), utf8.ValidString(got), strings.HasSuffix(got, "…"))
	}
	for _, bad := range []string{"\x1b", "\r", "\n", "\x00"} {
		if strings.Contains(got, bad) {
			t.Fatalf("control character %q kept: %q", bad, got[:60])
		}
	}
	if !strings.HasPrefix(got, "opensearch: 401  [31mPWNED [0m  Set-Cookie: x ") {
		t.Fatalf("prefix %q", got[:60])
	}
	if s := "sync failed: spaces ENG, HR — 3 of 4 done"; StatusMessage(s) != s {
		t.Fatalf("an ordinary message changed: %q", StatusMessage(s))
	}
	if got := StatusMessage(strings.Repeat("\xff", 100000)); got != " …" {
		t.Fatalf("a long run of invalid bytes gives %q", got)
	}
	exact := strings.Repeat("a", MaxStatusMessageBytes)
	if StatusMessage(exact) != exact {
		t.Fatal("a message of exactly the maximum was cut")
	}
}
