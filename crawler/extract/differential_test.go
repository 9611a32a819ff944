package extract

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The storage-format extraction is tuned for speed; its output must stay
// what the plain version (reference_test.go) gives for every input. These
// tests compare the two on the test corpus, on generated hostile markup and
// under fuzzing.

// diffCorpus are the inputs of the extraction tests plus hand-picked
// hostile ones.
func diffCorpus() []string {
	var in []string
	for _, c := range storageToTextCases {
		in = append(in, c.in)
	}
	for _, c := range storageToTextMalformedCases {
		in = append(in, c.in)
	}
	in = append(in, benchPage,
		"<h1>Title</h1>"+strings.Repeat("<p>héllo wörld 世界</p>", 50),
		strings.Repeat("<div>", 600)+"deep"+strings.Repeat("</div>", 600),
		"<p>"+strings.Repeat(" \t\r\n\u00a0\u200b\ufeff\u3000\x00\x01\x7f", 2000)+"x</p>",
		"<h2>\n a \u00a0b\u2028c \x85d | e</h2><h3>x</h3><h3> </h3><h3>a  b</h3><h3>é\tü</h3>",
		"<table><tr><td><h1>in cell</h1></td><td><h2>a<br/>b</h2></td></tr></table>",
		"<pre>\r\n\r\n  x\r\ny\rz\x00\x1b[0m\xff\xfe\u0085\u200e  \n\n</pre><h1><pre>code\nhead</pre></h1>",
		"<ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[a]]]]><![CDATA[>b\x00\xc3]]></ac:plain-text-body></ac:structured-macro>",
		"<![CDATA[<p>not a tag</p> & ]]><p>after</p><![CDATA[unterminated <b>",
		"<P CLASS=x>Upper<BR>case</P><H1>UP</H1></h1><Ac:Link><RI:PAGE RI:CONTENT-TITLE=\"T\"/></AC:LINK>",
		"<p\x00x>nul name</p\x00x><h\x001>n</h\x001>",
		"<script>if (a < b) { </p> }</script><style>p{}</style><title>t &amp; </title><textarea>x</textarea><xmp><b></xmp><plaintext><p>rest",
		"</br><p>a</br>b</p></ >x</>y<!-- c --><!doctype html><?xml version=\"1.0\"?>",
		"<ac:link><ri:user ri:account-id=\"boom\"/></ac:link>",
		"<ac:link><ri:user ri:username=\"u\"/><ri:page ri:content-title=\"p\"/></ac:link><ac:link><ri:page ri:content-title=\"p\"/><ri:user ri:userkey=\"k\"/></ac:link>",
		"<ac:image ac:alt=\"x\"><ri:attachment ri:filename=\"a&amp;b.png\" ri:filename=\"dup\"/></ac:image><img alt=\"alt &lt;text&gt;\" ALT=\"2\"/><time datetime=\"2024&#45;01\"></time>",
		"<ac:parameter ac:name=\"title\">T</ac:parameter><ac:parameter AC:NAME=title>U</ac:parameter><ac:parameter ac:name=\"x\">V</ac:parameter>",
		"\xff\xfe\xfd<p>\xe2\x80</p>\xf0\x9f\x98",
	)
	return in
}

// resolvers are the user resolvers the comparisons run with.
var diffResolvers = []struct {
	name string
	r    UserResolver
}{
	{"none", nil},
	{"names", func(u UserRef) (string, error) {
		switch u.AccountID + u.UserKey + u.Username {
		case "boom":
			return "", errors.New("boom")
		case "":
			return "", nil
		}
		return "Ünïcode  Name\t" + u.AccountID + u.UserKey + u.Username, nil
	}},
}

// diffMaxes are the size bounds the comparisons run with for an input of n
// bytes: the default, tiny ones and ones near the text's length, where
// cuts fall inside runes and separators.
func diffMaxes(rng *rand.Rand, n int) []int {
	m := []int{0, 1, 2, 3, 4, 5, 7, 16}
	for range 4 {
		m = append(m, 1+rng.IntN(n+8))
	}
	return m
}

// compareStorage fails t if the extraction of in differs from the
// reference's in any way (text, headings, sections, groups, truncation,
// error, passages).
func compareStorage(t *testing.T, in string, max int, resolver UserResolver) {
	t.Helper()
	opts := []Option{WithMaxBytes(max), WithUserResolver(resolver)}
	got, gotErr := StorageToText(in, opts...)
	o := newOptions(opts)
	want, wantErr := refStorageToText(in, &o)
	if wantErr != nil {
		want = Text{}
	}
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("max %d, input %q:\nerror %v, reference %v", max, in, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("max %d, input %q:\n got %#v\nwant %#v", max, in, got, want)
	}
	for _, so := range []SplitOptions{{}, {TargetBytes: 200, OverlapBytes: 60}} {
		if g, w := Split(got, so), Split(want, so); !reflect.DeepEqual(g, w) {
			t.Fatalf("Split %+v of %q:\n got %#v\nwant %#v", so, in, g, w)
		}
	}
}

// compareHTML compares the attachment HTML path (htmlToText) with the
// reference's.
func compareHTML(t *testing.T, in string, max int) {
	t.Helper()
	if max <= 0 {
		max = DefaultMaxBytes
	}
	w, rw := newTextWriter(max), refNewTextWriter(max)
	htmlToText(strings.NewReader(in), w)
	refHtmlToText(strings.NewReader(in), rw)
	if w.String() != rw.String() || w.full != rw.full {
		t.Fatalf("htmlToText max %d of %q:\n got %q (full %v)\nwant %q (full %v)", max, in, w.String(), w.full, rw.String(), rw.full)
	}
}

func TestStorageToText_MatchesReferenceOnCorpus(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, in := range diffCorpus() {
		for _, r := range diffResolvers {
			for _, max := range diffMaxes(rng, len(in)) {
				compareStorage(t, in, max, r.r)
			}
		}
		compareHTML(t, in, 0)
		compareHTML(t, in, 1+rng.IntN(len(in)+1))
	}
}

func TestStorageToText_MatchesReferenceOnGeneratedMarkup(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		in := genStorage(rng, 1+rng.IntN(60))
		r := diffResolvers[i%len(diffResolvers)].r
		compareStorage(t, in, 0, r)
		compareStorage(t, in, 1+rng.IntN(len(in)+8), r)
		compareStorage(t, in, 1+rng.IntN(24), r)
		compareHTML(t, in, 1+rng.IntN(len(in)+8))
	}
}

func TestStorageToText_LargeBodiesMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	for b.Len() < 3<<20 {
		b.WriteString(genStorage(rng, 200))
		b.WriteString(strings.Repeat(" \n\t", rng.IntN(20000)))
	}
	in := b.String()
	for _, max := range []int{0, 1 << 20, 777_777, 100_003} {
		compareStorage(t, in, max, nil)
	}
}

func FuzzStorageToText_MatchesReference(f *testing.F) {
	for i, in := range diffCorpus() {
		f.Add(in, uint16(i*37))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 50 {
		f.Add(genStorage(rng, 20), uint16(rng.IntN(300)))
	}
	debugNoRecover = true
	f.Cleanup(func() { debugNoRecover = false })
	f.Fuzz(func(t *testing.T, in string, max uint16) {
		compareStorage(t, in, int(max), diffResolvers[int(max)%len(diffResolvers)].r)
		compareHTML(t, in, int(max))
	})
}

// TestTextWriter_MatchesReference drives the writer as the attachment
// extractors do (text, lines, raw blocks and separators) and compares it
// with the reference writer after every call.
func TestTextWriter_MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		max := 1 + rng.IntN(400)
		w, rw := newTextWriter(max), refNewTextWriter(max)
		var ops []string
		for range 1 + rng.IntN(30) {
			s := genText(rng, rng.IntN(8))
			var op string
			switch rng.IntN(8) {
			case 0:
				op = "text"
				w.text(s)
				rw.text(s)
			case 1:
				op = "textBytes"
				w.textBytes([]byte(s))
				rw.text(s)
			case 2:
				op = "lines"
				w.lines(s)
				rw.lines(s)
			case 3:
				op = "raw"
				m, rm := w.startRaw(), rw.startRaw()
				w.rawBytes([]byte(s))
				rw.raw(s)
				w.raw(s)
				rw.raw(s)
				w.endRaw(m)
				rw.endRaw(rm)
			case 4:
				op = "space"
				w.space()
				rw.space()
			case 5:
				op = "lineBreak"
				w.lineBreak()
				rw.lineBreak()
			case 6:
				op = "cellSep"
				w.cellSep()
				rw.cellSep()
			case 7:
				op = "append"
				w.append(s)
				rw.append(s)
			}
			ops = append(ops, fmt.Sprintf("%s(%q)", op, s))
			if string(w.buf) != string(rw.buf) || w.full != rw.full || w.writes != rw.writes || int(w.pend) != int(rw.pend) || w.rawLead != rw.rawLead {
				t.Fatalf("max %d after %s:\n got %q full %v writes %d pend %d\nwant %q full %v writes %d pend %d",
					max, strings.Join(ops, ", "), w.buf, w.full, w.writes, w.pend, rw.buf, rw.full, rw.writes, rw.pend)
			}
		}
	}
}

func TestHeading_MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []string{"", "\n", "a", "\na", "\n\na b", "a  b", " a", "a ", "a\tb", "a | b", " | a", "a |", "a\u00a0b", "a\u0085b",
		"\u3000a", "a\u2028", "\xffa b", "a\x00b", "a\n b", "\n\n", "é ü", "a\vb", "| |"}
	for range 5000 {
		cases = append(cases, genText(rng, rng.IntN(6)))
	}
	for _, c := range cases {
		if got, want := heading([]byte(c)), refHeading([]byte(c)); got != want {
			t.Fatalf("heading(%q) = %q, want %q", c, got, want)
		}
	}
}

// TestIsSpace_AllRunes checks the byte classes the scanners use against
// isSpace, and isSpace against the reference, for every rune.
func TestIsSpace_AllRunes(t *testing.T) {
	for r := rune(-1); r <= utf8.MaxRune+1; r++ {
		if isSpace(r) != refIsSpace(r) {
			t.Fatalf("isSpace(%U) = %v", r, isSpace(r))
		}
	}
	for b := range 256 {
		want := uint8(2)
		if b < utf8.RuneSelf {
			want = 1
			if refIsSpace(rune(b)) {
				want = 0
			}
		}
		if asciiClass[b] != want {
			t.Fatalf("asciiClass[%#x] = %d, want %d", b, asciiClass[b], want)
		}
	}
}

// textPieces are hostile bits of text: every class of white space and
// control character, invalid and truncated UTF-8, entities, separators.
var textPieces = []string{
	"word", "Ünïcode", "世界", "🚀", "e\u0301", "a.b", "x", "&amp;", "&nbsp;", "&mdash;", "&#8203;", "&#x200B;", "&#0;", "&#128512;",
	"&bogus;", "&amp", "&lt", "&", "<", "< p", ">", " | ", "|", " ", "  ", "\t", "\n", "\r\n", "\r", "\v", "\f", "\x00", "\x01", "\x1b",
	"\x7f", "\u0085", "\u00a0", "\u1680", "\u2000", "\u200a", "\u200b", "\u200e", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
	"\ufeff", "\ufffd", "\xff", "\xfe", "\xc3", "\xe2\x80", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "]]", "]]>", "<![CDATA[",
	"-->", "<!--", "\\", "\"", "'",
}

func genText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		switch rng.IntN(20) {
		case 0:
			b.WriteString(strings.Repeat(textPieces[rng.IntN(len(textPieces))], 1+rng.IntN(300)))
		default:
			b.WriteString(textPieces[rng.IntN(len(textPieces))])
		}
	}
	return b.String()
}

// genNames are element names: every listed one, void ones, unknown ones and
// odd spellings.
var genNames = func() []string {
	names := []string{"x", "ac:unknown", "ri:blog-post", "ri:space", "h7", "P", "H1", "Ac:Link", "RI:PAGE", "TD", "Pre", "SCRIPT",
		"p\x00", "br", "hr", "img", "col", "input", "textarea", "xmp", "noembed", "noframes", "plaintext", "title"}
	for n := range elementKinds {
		names = append(names, n)
	}
	return names
}()

var genAttrs = []string{
	`ac:name="title"`, `ac:name="code"`, `ac:name=title`, `AC:NAME="title"`, `ri:content-title="Pä&amp;ge"`, `ri:content-title=""`,
	`ri:filename="f &lt;1&gt;.png"`, `ri:account-id="557058:abc"`, `ri:account-id="boom"`, `ri:userkey="k1"`, `ri:username="jdoe"`,
	`ri:space-key="ENG"`, `ri:value="https://x.example/?a=1&amp;b=2"`, `datetime="2024-03-15"`, `alt="alt text"`, `alt='single'`,
	`data-x=1`, `ac:schema-version="1"`, `class="a b"`, `ri:content-title="x" ri:content-title="dup"`, `alt`, `=x`, `a="\x00"`,
	`ri:filename="\xff"`, `alt="&amp"`, `alt="&ampx"`, `alt="&notit;"`,
}

// genStorage returns n random fragments of storage-format-like markup.
func genStorage(rng *rand.Rand, n int) string {
	var b strings.Builder
	var open []string
	for range n {
		switch rng.IntN(14) {
		case 0, 1, 2:
			name := genNames[rng.IntN(len(genNames))]
			b.WriteString("<" + name)
			for range rng.IntN(3) {
				b.WriteString([]string{" ", "\n", "\t", "\f", "\r", "/", " / ", "  "}[rng.IntN(8)] + genAttrs[rng.IntN(len(genAttrs))])
			}
			if rng.IntN(4) == 0 {
				b.WriteString("/>")
			} else {
				b.WriteString(">")
				open = append(open, name)
			}
		case 3, 4:
			if len(open) > 0 && rng.IntN(4) > 0 {
				b.WriteString("</" + open[len(open)-1] + []string{">", " >", "\f>", "\n x=1>", "/>"}[rng.IntN(5)])
				open = open[:len(open)-1]
			} else {
				b.WriteString("</" + genNames[rng.IntN(len(genNames))] + ">")
			}
		case 5:
			b.WriteString([]string{"<![CDATA[", "]]>", "<!-- x -->", "<!--", "</>", "</ x>", "</br>", "<br>", "<!DOCTYPE html>", "<?pi?>", "<", ">", "&"}[rng.IntN(13)])
		case 6:
			b.WriteString("<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">go</ac:parameter><ac:plain-text-body><![CDATA[" +
				genText(rng, rng.IntN(6)) + "]]></ac:plain-text-body></ac:structured-macro>")
		case 7:
			b.WriteString("<table><tbody><tr><th>" + genText(rng, 2) + "</th><td><p>" + genText(rng, 2) + "</p><ul><li>" + genText(rng, 2) + "</li></ul></td></tr></tbody></table>")
		case 8:
			fmt.Fprintf(&b, "<h%d>%s</h%d>", 1+rng.IntN(6), genText(rng, rng.IntN(5)), 1+rng.IntN(6))
		case 9:
			b.WriteString("<ac:link>" + []string{`<ri:user ri:account-id="a1"/>`, `<ri:user ri:username="u"/>`, `<ri:page ri:content-title="T"/>`,
				`<ri:attachment ri:filename="f.pdf"/>`, `<ri:space ri:space-key="S"/>`}[rng.IntN(5)] +
				[]string{"", "<ac:plain-text-link-body><![CDATA[body]]></ac:plain-text-link-body>", "<ac:link-body>b <em>x</em></ac:link-body>"}[rng.IntN(3)] + "</ac:link>")
		default:
			b.WriteString(genText(rng, 1+rng.IntN(8)))
		}
	}
	return b.String()
}
