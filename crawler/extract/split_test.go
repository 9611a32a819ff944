package extract

import (
	"slices"
	"strings"
	"testing"
)

func mustText(t *testing.T, storage string) Text {
	t.Helper()
	txt, err := StorageToText(storage)
	if err != nil {
		t.Fatal(err)
	}
	return txt
}

func TestSplit_SectionsStartPassagesWithTheirHeadingPath(t *testing.T) {
	long := func(w string) string { return strings.TrimSpace(strings.Repeat(w+" ", 120/(len(w)+1))) } // ~120 bytes
	txt := mustText(t, `<p>`+long("intro")+`</p><h1>Payments</h1><p>`+long("about")+`</p>`+
		`<h2>Refunds</h2><p>`+long("refunds")+`</p><h3>Disputes</h3><p>`+long("disputes")+`</p>`+
		`<h2>Fees</h2><p>`+long("fees")+`</p><h1>Other</h1><p>`+long("other")+`</p>`)
	// Two sections never fit in 200 bytes: one passage per section.
	got := Split(txt, SplitOptions{TargetBytes: 200})
	want := []struct {
		path []string
		text string
	}{
		{nil, long("intro")},
		{[]string{"Payments"}, "Payments\n" + long("about")},
		{[]string{"Payments", "Refunds"}, "Refunds\n" + long("refunds")},
		{[]string{"Payments", "Refunds", "Disputes"}, "Disputes\n" + long("disputes")},
		{[]string{"Payments", "Fees"}, "Fees\n" + long("fees")},
		{[]string{"Other"}, "Other\n" + long("other")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d passages, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		anchor := ""
		if len(w.path) > 0 {
			anchor = w.path[len(w.path)-1]
		}
		if got[i].Text != w.text || !slices.Equal(got[i].HeadingPath, w.path) || got[i].Anchor != anchor {
			t.Errorf("passage %d = %q %q %q, want %q %q", i, got[i].HeadingPath, got[i].Anchor, got[i].Text, w.path, w.text)
		}
	}
}

func TestSplit_ShortSectionsShareAPassageUnderTheirCommonHeadings(t *testing.T) {
	txt := mustText(t, `<h1>Payments</h1><p>About.</p><h2>Refunds</h2><p>Five days.</p><h2>Fees</h2><p>None.</p>`+
		`<h1>Other</h1><p>`+strings.Repeat("x", 1480)+`</p>`)
	got := Split(txt, SplitOptions{TargetBytes: 1500})
	if len(got) != 2 {
		t.Fatalf("got %d passages: %+v", len(got), got)
	}
	if got[0].Text != "Payments\nAbout.\nRefunds\nFive days.\nFees\nNone." || !slices.Equal(got[0].HeadingPath, []string{"Payments"}) || got[0].Anchor != "Payments" {
		t.Errorf("first passage %+v", got[0])
	}
	// The second starts at its heading (no overlap across sections).
	if !strings.HasPrefix(got[1].Text, "Other\n") || !slices.Equal(got[1].HeadingPath, []string{"Other"}) {
		t.Errorf("second passage %+v", got[1])
	}
}

func TestSplit_KeepsAListTogetherWhenItFits(t *testing.T) {
	para := strings.Repeat("word ", 50) // 250 bytes
	var list strings.Builder
	list.WriteString("<ul>")
	for i := range 6 {
		list.WriteString("<li>item " + string(rune('a'+i)) + " " + strings.Repeat("x", 40) + "</li>")
	}
	list.WriteString("</ul>")
	// 250 + 250 + a 300-byte list: with a 700-byte target the greedy cut
	// would fall inside the list; the structural cut comes before it.
	txt := mustText(t, "<p>"+para+"</p><p>"+para+"</p>"+list.String()+"<p>after</p>")
	got := Split(txt, SplitOptions{TargetBytes: 700})
	if len(got) != 2 {
		t.Fatalf("got %d passages: %q", len(got), got)
	}
	if strings.Contains(got[0].Text, "item") {
		t.Errorf("first passage cuts into the list: %q", got[0].Text)
	}
	if !strings.HasPrefix(got[1].Text, "item a") || !strings.Contains(got[1].Text, "item f") {
		t.Errorf("second passage does not hold the whole list: %q", got[1].Text)
	}
}

func TestSplit_TableRowsSplitOnlyWhenTheTableIsOverTheTarget(t *testing.T) {
	var tbl strings.Builder
	tbl.WriteString("<table><tbody>")
	for range 40 {
		tbl.WriteString("<tr><td>region</td><td>" + strings.Repeat("v", 30) + "</td></tr>")
	}
	tbl.WriteString("</tbody></table>")
	txt := mustText(t, tbl.String())
	got := Split(txt, SplitOptions{TargetBytes: 400})
	if len(got) < 4 {
		t.Fatalf("a %d-byte table in 400-byte passages gave %d passages", len(txt.Body), len(got))
	}
	for _, c := range got {
		if len(c.Text) > 400 {
			t.Errorf("passage of %d bytes over the 400-byte target", len(c.Text))
		}
		for _, line := range strings.Split(c.Text, "\n") {
			if !strings.HasPrefix(line, "region | ") {
				t.Errorf("a table row was cut: %q", line)
			}
		}
	}
}

func TestSplit_OverlapRepeatsTheEndOfThePreviousPassage(t *testing.T) {
	var b strings.Builder
	for i := range 30 {
		b.WriteString("<p>Sentence number " + strings.Repeat("z", i%5) + " with some words in it.</p>")
	}
	txt := mustText(t, b.String())
	got := Split(txt, SplitOptions{TargetBytes: 300, OverlapBytes: 60})
	if len(got) < 3 {
		t.Fatalf("got %d passages", len(got))
	}
	for i := 1; i < len(got); i++ {
		prev := got[i-1].Text
		first := strings.SplitN(got[i].Text, "\n", 2)[0]
		if !strings.HasSuffix(prev, first) || len(first) > 60 || first == "" {
			t.Errorf("passage %d starts with %q, not the last ≤60 bytes of the previous one %q", i, first, prev)
		}
	}
	none := Split(txt, SplitOptions{TargetBytes: 300})
	if len(strings.Join(chunkTexts(none), "\n")) != len(txt.Body) {
		t.Errorf("without overlap the passages do not add up to the text")
	}
}

func TestSplit_CutsALongParagraphAtSentenceEnds(t *testing.T) {
	s := strings.Repeat("The gateway retries a failed card payment. ", 40)
	got := Split(mustText(t, "<p>"+s+"</p>"), SplitOptions{TargetBytes: 500})
	if len(got) < 3 {
		t.Fatalf("got %d passages", len(got))
	}
	for _, c := range got {
		if !strings.HasSuffix(c.Text, "payment.") || len(c.Text) > 500 {
			t.Errorf("passage not cut at a sentence end within 500 bytes: %d %q", len(c.Text), c.Text[max(0, len(c.Text)-30):])
		}
	}
}

func TestSplit_PlainTextWithoutStructure(t *testing.T) {
	got := Split(Text{Body: "month,payment date\nJanuary,2026-01-23"}, SplitOptions{})
	if len(got) != 1 || got[0].Text != "month,payment date\nJanuary,2026-01-23" || got[0].HeadingPath != nil {
		t.Errorf("got %+v", got)
	}
	if got := Split(Text{}, SplitOptions{}); len(got) != 0 {
		t.Errorf("empty text gave %d passages", len(got))
	}
}

func TestSplit_HeadingsInsideMacrosAndTablesDoNotStartSections(t *testing.T) {
	txt := mustText(t, `<h1>Top</h1><ac:structured-macro ac:name="info"><ac:rich-text-body><h2>Inside</h2><p>x</p></ac:rich-text-body></ac:structured-macro><p>y</p>`)
	got := Split(txt, SplitOptions{})
	if len(got) != 1 || !slices.Equal(got[0].HeadingPath, []string{"Top"}) {
		t.Errorf("got %+v", got)
	}
}

func TestHeadingAnchor(t *testing.T) {
	if got := HeadingAnchor("Messages types", "Behavior"); got != "Messagestypes-Behavior" {
		t.Errorf("got %q", got)
	}
	if got := HeadingAnchor("Payments runbook", " Drain the\tqueue "); got != "Paymentsrunbook-Drainthequeue" {
		t.Errorf("got %q", got)
	}
}

func chunkTexts(cs []Chunk) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Text
	}
	return out
}
