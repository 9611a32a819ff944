package extract

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// storageToTextCases are the expected extractions of TestStorageToText; the
// differential tests use their inputs too.
var storageToTextCases = []struct {
	name     string
	in       string
	want     string
	headings []string
}{
	{
		name:     "headings and paragraphs",
		in:       `<h1>Release notes</h1><p>Version&nbsp;2.0 &mdash; <strong>major</strong> update.</p><h2 id="x">What&rsquo;s new</h2><p>Faster   <em>search</em>.</p>`,
		want:     "Release notes\nVersion 2.0 — major update.\nWhat’s new\nFaster search.",
		headings: []string{"Release notes", "What’s new"},
	},
	{
		name: "lists",
		in:   `<ul><li>one</li><li>two<ul><li>two.a</li></ul></li></ul><ol><li><p>first</p></li></ol>`,
		want: "one\ntwo\ntwo.a\nfirst",
	},
	{
		name: "code macro keeps > and < and layout",
		in: `<p>Before</p><ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="a1b2"><ac:parameter ac:name="language">go</ac:parameter><ac:parameter ac:name="linenumbers">true</ac:parameter><ac:plain-text-body><![CDATA[func max(a, b int) int {
	if a > b && b < 10 {
		return a // <a> &amp; </a>
	}
	return b
}
]]></ac:plain-text-body></ac:structured-macro><p>After</p>`,
		want: "Before\nfunc max(a, b int) int {\n\tif a > b && b < 10 {\n\t\treturn a // <a> &amp; </a>\n\t}\n\treturn b\n}\nAfter",
	},
	{
		name: "CDATA containing ]]> split by Confluence",
		in:   `<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[x = a[b[0]]]]><![CDATA[> 1]]></ac:plain-text-body></ac:structured-macro>`,
		want: "x = a[b[0]]> 1",
	},
	{
		name: "info note panel expand with titles",
		in: `<ac:structured-macro ac:name="info" ac:schema-version="1"><ac:parameter ac:name="icon">true</ac:parameter><ac:parameter ac:name="title">Heads up</ac:parameter><ac:rich-text-body><p>Maintenance on <strong>Sunday</strong>.</p></ac:rich-text-body></ac:structured-macro>` +
			`<ac:structured-macro ac:name="note"><ac:rich-text-body><p>Back up first.</p></ac:rich-text-body></ac:structured-macro>` +
			`<ac:structured-macro ac:name="panel"><ac:parameter ac:name="bgColor">#FFFAE6</ac:parameter><ac:rich-text-body><p>Panel body</p></ac:rich-text-body></ac:structured-macro>` +
			`<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">Click to see details</ac:parameter><ac:rich-text-body><p>Hidden details</p></ac:rich-text-body></ac:structured-macro>` +
			`<ac:structured-macro ac:name="toc"><ac:parameter ac:name="maxLevel">3</ac:parameter></ac:structured-macro>` +
			`<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">PROJ-123</ac:parameter><ac:parameter ac:name="serverId">abc-def</ac:parameter></ac:structured-macro>`,
		want: "Heads up\nMaintenance on Sunday.\nBack up first.\nPanel body\nClick to see details\nHidden details",
	},
	{
		name: "table",
		in: `<table data-layout="default"><colgroup><col style="width: 340px;"/><col/></colgroup><tbody>` +
			`<tr><th><p><strong>Service</strong></p></th><th><p>Owner</p></th><th><p>Port</p></th></tr>` +
			`<tr><td><p>search</p><p>(primary)</p></td><td><p>Team A</p></td><td><p>9200</p></td></tr>` +
			`<tr><td><p>auth</p></td><td></td><td><p>443</p></td></tr></tbody></table><p>after</p>`,
		want: "Service | Owner | Port\nsearch (primary) | Team A | 9200\nauth | 443\nafter",
	},
	{
		name: "links",
		in: `<p>See <ac:link><ri:page ri:content-title="Onboarding Guide" ri:space-key="HR"/></ac:link>, ` +
			`<ac:link ac:anchor="setup"><ri:page ri:content-title="Setup"/><ac:plain-text-link-body><![CDATA[the setup section]]></ac:plain-text-link-body></ac:link>, ` +
			`<ac:link><ri:page ri:content-title="Other"/><ac:link-body>rich <em>body</em></ac:link-body></ac:link>, ` +
			`<ac:link><ri:blog-post ri:content-title="Q3 update" ri:posting-day="2024/07/01"/></ac:link>, ` +
			`<ac:link><ri:attachment ri:filename="budget &amp; plan.xlsx"/></ac:link>, ` +
			`<ac:link><ri:space ri:space-key="ENG"/></ac:link> and <a href="https://example.com/x?a=1&amp;b=2">the site</a>.</p>`,
		want: "See Onboarding Guide, the setup section, rich body, Q3 update, budget & plan.xlsx, ENG and the site.",
	},
	{
		name: "users without resolver",
		in:   `<p>Ping <ac:link><ri:user ri:account-id="557058:f3a1c6e2"/></ac:link> and <ac:link><ri:user ri:username="jdoe"/></ac:link>.</p>`,
		want: "Ping @user and @jdoe.",
	},
	{
		name: "images and emoticons",
		in:   `<p>Diagram: <ac:image ac:align="center" ac:width="600"><ri:attachment ri:filename="architecture.png"/><ac:caption><p>Overview</p></ac:caption></ac:image> <ac:image><ri:url ri:value="https://x.example/logo.png"/></ac:image>done <ac:emoticon ac:name="smile" ac:emoji-shortname=":smile:" ac:emoji-id="1f604" ac:emoji-fallback="😄"/><ac:emoticon ac:name="tick"/></p>`,
		want: "Diagram: architecture.png\nOverview\ndone",
	},
	{
		name: "task list and time",
		in: `<ac:task-list><ac:task><ac:task-id>17</ac:task-id><ac:task-uuid>0b9c</ac:task-uuid><ac:task-status>incomplete</ac:task-status><ac:task-body><span class="placeholder-inline-tasks">Review PR by <time datetime="2024-03-15" /></span></ac:task-body></ac:task>` +
			`<ac:task><ac:task-id>18</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>Ship it</ac:task-body></ac:task></ac:task-list>`,
		want: "Review PR by 2024-03-15\nShip it",
	},
	{
		name: "layouts and placeholder",
		in: `<ac:layout><ac:layout-section ac:type="two_equal"><ac:layout-cell><p>Left column</p></ac:layout-cell><ac:layout-cell><p>Right column</p><ac:placeholder>Type here to add text</ac:placeholder></ac:layout-cell></ac:layout-section>` +
			`<ac:layout-section ac:type="single"><ac:layout-cell><h3>Bottom</h3></ac:layout-cell></ac:layout-section></ac:layout>`,
		want:     "Left column\nRight column\nBottom",
		headings: []string{"Bottom"},
	},
	{
		name:     "unicode",
		in:       `<h2>Überblick — 概要</h2><p>Grüße, 世界! Emoji 🚀 and RTL שלום.</p><p>Zero&#8203;width&#x200B;split and &#169; &copy;</p>`,
		want:     "Überblick — 概要\nGrüße, 世界! Emoji 🚀 and RTL שלום.\nZero width split and © ©",
		headings: []string{"Überblick — 概要"},
	},
	{
		name: "scripts styles and comments dropped",
		in:   `<style>.x{color:red}</style><p>Visible<!-- hidden comment --></p><script>if (a < b) { alert("x") }</script><p>Also visible</p>`,
		want: "Visible\nAlso visible",
	},
	{
		name: "br hr and pre",
		in: `<p>line one<br/>line two</p><hr/><pre>  indented
    more</pre>`,
		want: "line one\nline two\n  indented\n    more",
	},
	{
		name: "macro inside table cell and nested macros",
		in:   `<table><tbody><tr><td><ac:structured-macro ac:name="status"><ac:parameter ac:name="title">Done</ac:parameter><ac:parameter ac:name="colour">Green</ac:parameter></ac:structured-macro></td><td>ok</td></tr></tbody></table><ac:structured-macro ac:name="expand"><ac:rich-text-body><ac:structured-macro ac:name="note"><ac:rich-text-body><p>Nested</p></ac:rich-text-body></ac:structured-macro></ac:rich-text-body></ac:structured-macro>`,
		want: "Done | ok\nNested",
	},
	{
		name: "include macro does not leak the included title",
		in:   `<ac:structured-macro ac:name="include"><ac:parameter ac:name=""><ac:link><ri:page ri:content-title="Secret Page"/></ac:link></ac:parameter></ac:structured-macro><p>text</p>`,
		want: "text",
	},
	{
		name: "cloud adf extension",
		in:   `<ac:adf-extension><ac:adf-node type="panel"><ac:adf-attribute key="panel-type">custom</ac:adf-attribute><ac:adf-content><p>Panel text</p></ac:adf-content></ac:adf-node><ac:adf-fallback><div class="panel"><p>Panel text</p></div></ac:adf-fallback></ac:adf-extension>`,
		want: "Panel text",
	},
	{
		name: "empty",
		in:   "",
		want: "",
	},
	{
		name: "plain text only",
		in:   "just   some\n\ttext",
		want: "just some text",
	},
}

func TestStorageToText(t *testing.T) {
	for _, tt := range storageToTextCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StorageToText(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Body != tt.want {
				t.Errorf("Body:\n got %q\nwant %q", got.Body, tt.want)
			}
			if !slices.Equal(got.Headings, tt.headings) {
				t.Errorf("Headings: got %q, want %q", got.Headings, tt.headings)
			}
			if got.Truncated {
				t.Error("Truncated set")
			}
		})
	}
}

// storageToTextMalformedCases are the expected extractions of
// TestStorageToTextMalformed.
var storageToTextMalformedCases = []struct {
	name, in, want string
}{
	{"unclosed elements", `<p>one<p>two <strong>bold`, "one\ntwo bold"},
	{"stray end tags", `</p></ac:link>text</div> more`, "text more"},
	{"bare ampersand and lt", `<p>a & b < c > d</p>`, "a & b < c > d"},
	{"unknown entity", `<p>&bogus; &amp;</p>`, "&bogus; &"},
	{"unterminated CDATA", `<ac:plain-text-body><![CDATA[x > y`, "x > y"},
	{"unterminated tag", `<p>text</p><ac:link <ri:page`, "text"},
	{"unquoted attributes", `<ac:link><ri:page ri:content-title=Home /></ac:link>`, "Home"},
	{"invalid utf8", "<p>ok\xff\xfebad</p>", "ok bad"},
	{"uppercase html", `<P>Upper<BR>case</P>`, "Upper\ncase"},
	{"mismatched nesting", `<p><strong>a</p>b</strong><p>c</p>`, "a\nb\nc"},
}

func TestStorageToTextMalformed(t *testing.T) {
	for _, tt := range storageToTextMalformedCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StorageToText(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Body != tt.want {
				t.Errorf("got %q, want %q", got.Body, tt.want)
			}
		})
	}
}

func TestStorageToTextDeepNesting(t *testing.T) {
	in := strings.Repeat("<div>", 10000) + "deep" + strings.Repeat("</div>", 10000) + "<p>after</p>"
	got, err := StorageToText(in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != "deep\nafter" {
		t.Errorf("got %q", got.Body)
	}
}

func TestStorageToTextUserResolver(t *testing.T) {
	names := map[string]string{"557058:abc": "Ada Lovelace"}
	var seen []UserRef
	resolve := func(u UserRef) (string, error) {
		seen = append(seen, u)
		return names[u.AccountID], nil
	}
	in := `<p><ac:link><ri:user ri:account-id="557058:abc"/></ac:link> and <ac:link><ri:user ri:account-id="557058:zzz"/></ac:link> with <ac:link><ri:user ri:userkey="8a7f"/><ac:plain-text-link-body><![CDATA[Bob]]></ac:plain-text-link-body></ac:link></p>`
	got, err := StorageToText(in, WithUserResolver(resolve))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Ada Lovelace and @user with Bob"; got.Body != want {
		t.Errorf("got %q, want %q", got.Body, want)
	}
	if len(seen) != 2 { // not for the mention with a link body
		t.Errorf("resolver saw %+v", seen)
	}

	boom := errors.New("api down")
	_, err = StorageToText(in, WithUserResolver(func(UserRef) (string, error) { return "", boom }))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want wrapping %v", err, boom)
	}
}

func TestStorageToTextMaxBytes(t *testing.T) {
	in := "<h1>Title</h1>" + strings.Repeat("<p>héllo wörld 世界</p>", 1000)
	for _, max := range []int{1, 7, 8, 100, 1001} {
		got, err := StorageToText(in, WithMaxBytes(max))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Body) > max {
			t.Errorf("max %d: len %d", max, len(got.Body))
		}
		if !got.Truncated {
			t.Errorf("max %d: Truncated not set", max)
		}
		if !utf8.ValidString(got.Body) {
			t.Errorf("max %d: invalid UTF-8 %q", max, got.Body)
		}
	}
	got, _ := StorageToText(in)
	if got.Truncated || !strings.HasPrefix(got.Body, "Title\nhéllo wörld 世界\n") {
		t.Errorf("default bound: truncated=%v body=%.40q", got.Truncated, got.Body)
	}
}

func TestStripTagsFallback(t *testing.T) {
	w := newTextWriter(100)
	stripTags(w, `<p>a &amp; b</p><ac:x y="1">c<unterminated`)
	if got := w.String(); got != "a & b c" {
		t.Errorf("got %q", got)
	}
}

func FuzzStorageToText(f *testing.F) {
	for _, s := range []string{
		"",
		"<p>hello</p>",
		`<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[a > b]]></ac:plain-text-body></ac:structured-macro>`,
		`<table><tr><td>a</td><td><pre>x</pre></td></tr></table>`,
		`<ac:link><ri:user ri:account-id="x"/></ac:link><h1>t<br/>u</h1>`,
		`<ac:image><ri:attachment ri:filename="f.png"/></ac:image><time datetime="2024-01-01"/>`,
		`<![CDATA[<![CDATA[]]>]]><script>`,
		"<p>\xff</p><ac:parameter ac:name=title>T</ac:parameter>",
	} {
		f.Add(s)
	}
	debugNoRecover = true
	f.Cleanup(func() { debugNoRecover = false })
	f.Fuzz(func(t *testing.T, s string) {
		got, err := StorageToText(s, WithMaxBytes(256))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Body) > 256 {
			t.Fatalf("len %d > 256", len(got.Body))
		}
		if !utf8.ValidString(got.Body) {
			t.Fatalf("invalid UTF-8: %q", got.Body)
		}
		for _, h := range got.Headings {
			if strings.Contains(h, "\n") || h == "" {
				t.Fatalf("bad heading %q", h)
			}
		}
	})
}

// benchPage is a ~5 KB page with the usual constructs.
var benchPage = func() string {
	var b strings.Builder
	b.WriteString(`<h1>Service runbook</h1><p>This page describes how to operate the <strong>search</strong> service. Owner: <ac:link><ri:user ri:account-id="557058:abc"/></ac:link>.</p>`)
	b.WriteString(`<ac:structured-macro ac:name="info"><ac:parameter ac:name="title">Before you start</ac:parameter><ac:rich-text-body><p>Read <ac:link><ri:page ri:content-title="Access policy"/></ac:link> first &amp; ask for access.</p></ac:rich-text-body></ac:structured-macro>`)
	for i := 0; i < 7; i++ {
		b.WriteString(`<h2>Step</h2><p>Run the following command and check that the output matches the expected values in the table below. If it does not, escalate.</p><ul><li>check disk usage</li><li>check heap &gt; 75%</li></ul>`)
		b.WriteString(`<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[curl -s localhost:9200/_cluster/health | jq '.status' > /tmp/status
if [ "$(cat /tmp/status)" != '"green"' ]; then echo alert; fi]]></ac:plain-text-body></ac:structured-macro>`)
		b.WriteString(`<table><tbody><tr><th>Metric</th><th>Expected</th></tr><tr><td>status</td><td>green</td></tr><tr><td>nodes</td><td>3</td></tr></tbody></table>`)
	}
	return b.String()
}()

// sectionsPage is a ~5 KB page shaped like the fake Confluence's (a heading
// and a paragraph per section), which the crawl benchmark extracts.
var sectionsPage = func() string {
	var b strings.Builder
	b.WriteString(`<h1>Runbook</h1><p>Owner: <ac:link><ri:user ri:account-id="557058:abc"/></ac:link> &amp; team &mdash; see <ac:link><ri:page ri:content-title="Access"/></ac:link>.</p>`)
	b.WriteString(`<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">go</ac:parameter><ac:plain-text-body><![CDATA[if a > b && b < c { return }]]></ac:plain-text-body></ac:structured-macro>`)
	for i := 0; b.Len() < 5000; i++ {
		fmt.Fprintf(&b, "<h2>Section %d</h2><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. </p>", i)
	}
	return b.String()
}()

// BenchmarkStorageToText measures the extraction and, for comparison, the
// plain reference version (reference_test.go) on the same pages. cpu-ns/op
// is the process's CPU time (GC included): steadier than ns/op on a busy
// machine. Run with -cpu 1.
func BenchmarkStorageToText(b *testing.B) {
	pages := []struct{ name, page string }{{"runbook", benchPage}, {"sections", sectionsPage}}
	impls := []struct {
		name string
		run  func(string) error
	}{
		{"current", func(s string) error { _, err := StorageToText(s); return err }},
		{"reference", func(s string) error { o := newOptions(nil); _, err := refStorageToText(s, &o); return err }},
	}
	for _, p := range pages {
		for _, impl := range impls {
			b.Run(p.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(p.page)))
				b.ReportAllocs()
				cpu := processCPU(b)
				for b.Loop() {
					if err := impl.run(p.page); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
