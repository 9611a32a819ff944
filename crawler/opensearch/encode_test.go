package opensearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// The document encoder is hand-written; these tests hold it to the bytes
// encoding/json makes of the same document (encodeReflect).

var hostileStrings = []string{
	"", "a", "plain text", "<script>&amp;</script>", `"quoted" \back\slash`, "\x00\x01\x1f\x7f", "\b\f\n\r\t\v",
	"\u2028\u2029", "é世🚀", "\xff\xfe", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\ufffd", "\u0085\u00a0", "line\nbreak",
	"ns:a:page:1", strings.Repeat("x<y ", 300),
}

func randString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(5) {
		b.WriteString(hostileStrings[rng.IntN(len(hostileStrings))])
	}
	return b.String()
}

func randStrings(rng *rand.Rand) []string {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, rng.IntN(4))
	for i := range out {
		out[i] = randString(rng)
	}
	return out
}

var testZones = []*time.Location{time.UTC, time.FixedZone("p", 5*3600+30*60), time.FixedZone("m", -7*3600), time.FixedZone("s", 3600+17)}

func randTime(rng *rand.Rand) *time.Time {
	switch rng.IntN(6) {
	case 0:
		return nil
	case 1:
		t := time.Date(10000+rng.IntN(3), 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal fails
		return &t
	case 2:
		t := time.Time{}
		return &t
	}
	t := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2))).In(testZones[rng.IntN(len(testZones))])
	return &t
}

func randACL(rng *rand.Rand) acl.ACL {
	if rng.IntN(5) == 0 {
		return nil
	}
	a := make(acl.ACL, rng.IntN(4))
	levels := []acl.Level{acl.LevelSpace, acl.LevelPage, acl.LevelAncestor, "odd<level>"}
	for i := range a {
		a[i] = acl.Clause{Level: levels[rng.IntN(len(levels))], Principals: randStrings(rng)}
		if rng.IntN(3) == 0 && len(a[i].Principals) > 0 {
			a[i].Principals = append(a[i].Principals, a[i].Principals[0]) // a duplicate
		}
	}
	return a
}

func randValue(rng *rand.Rand) any {
	switch rng.IntN(10) {
	case 0:
		return randString(rng)
	case 1:
		return rng.IntN(1000) - 500
	case 2:
		return rng.Int64()
	case 3:
		return rng.IntN(2) == 0
	case 4:
		return randStrings(rng)
	case 5:
		return 1.5
	case 6:
		return map[string]any{"b": 1, "a": randString(rng)}
	case 7:
		return nil
	case 8:
		return math.NaN() // json.Marshal fails
	default:
		return []any{randString(rng), 2}
	}
}

func randDocument(rng *rand.Rand) (Document, map[string]any) {
	i64 := func() int64 {
		if rng.IntN(2) == 0 {
			return 0
		}
		return rng.Int64N(1<<40) - 1<<39
	}
	d := Document{
		ID: randString(rng), ContentID: randString(rng), Type: randString(rng), Datasource: randString(rng),
		SpaceKey: randString(rng), SpaceName: randString(rng), URL: randString(rng), Title: randString(rng),
		Body: randString(rng), Author: randString(rng), AuthorName: randString(rng), Labels: randStrings(rng),
		Version: i64(), ParentID: randString(rng), ContainerID: randString(rng), Ancestors: randStrings(rng),
		MediaType: randString(rng), Size: i64(), Created: randTime(rng), Updated: randTime(rng),
		ContentHash: randString(rng), ACL: randACL(rng), IndexedAt: randTime(rng),
	}
	if rng.IntN(2) == 0 {
		d.ACLHash = randString(rng)
	}
	fieldNames := []string{"tags", "team", "z", "a<b", "é", "\xff", "passage", "title"} // the last two are reserved
	if n := rng.IntN(4); n > 0 {
		d.Fields = map[string]any{}
		for range n {
			d.Fields[fieldNames[rng.IntN(len(fieldNames)-1)]] = randValue(rng) // at most one reserved name: its error is then deterministic
		}
	}
	var extra map[string]any
	switch rng.IntN(3) {
	case 0:
		extra = map[string]any{"passage_count": rng.IntN(9)}
	case 1:
		extra = map[string]any{"document_id": randString(rng), "document_url": randString(rng), "heading_path": randStrings(rng), "passage": rng.IntN(9)}
		if rng.IntN(4) == 0 {
			extra["tags"] = randValue(rng) // shadows a field
		}
	}
	return d, extra
}

func TestDocumentEncode_MatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		d, extra := randDocument(rng)
		got, gotErr := d.encodeWith(extra)
		want, wantErr := d.encodeReflect(extra)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
			t.Fatalf("document %#v, extra %#v:\n got %s (%v)\nwant %s (%v)", d, extra, got, gotErr, want, wantErr)
		}
		if gotErr == nil && !json.Valid(got) {
			t.Fatalf("invalid JSON %s", got)
		}
	}
}

func TestDocumentEncodePassage_MatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		d, _ := randDocument(rng)
		d.Fields = nil
		d.Passages = []Passage{{Text: randString(rng), HeadingPath: randStrings(rng), URL: randString(rng)}}
		got, gotErr := d.encodePassage(0)
		p := d
		p.ID, p.Body, p.ContentHash, p.Passages = PassageID(d.ID, 0), d.Passages[0].Text, "", nil
		if d.Passages[0].URL != "" {
			p.URL = d.Passages[0].URL
		}
		want, wantErr := p.encodeReflect(map[string]any{"document_id": d.ID, "document_url": d.URL, "heading_path": d.Passages[0].HeadingPath, "passage": 0})
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
			t.Fatalf("passage of %#v:\n got %s (%v)\nwant %s (%v)", d, got, gotErr, want, wantErr)
		}
	}
}

// TestAppendJSONString_AllRunes compares the string escaper with
// json.Marshal on every rune, alone and between ASCII, and on every byte.
func TestAppendJSONString_AllRunes(t *testing.T) {
	check := func(s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r&0xfff == 0 || r < 0x3000 {
			check("a" + string(r) + "b")
		}
		check(string(r))
	}
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("x" + string([]byte{byte(c)}) + "\xe2\x80y")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

// BenchmarkDocumentEncode compares the document encoder with encoding/json
// on a 5 KB page. cpu-ns/op is the process's CPU time (GC included), steadier
// than ns/op on a busy machine; run with -cpu 1.
func BenchmarkDocumentEncode(b *testing.B) {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit & <more>.\n", 75)
	now := time.Now()
	d := Document{ID: "ns:a:page:1", ContentID: "1", Type: TypePage, Datasource: "ns/a", SpaceKey: "ENG", SpaceName: "Engineering",
		URL: "https://x.example/wiki/spaces/ENG/pages/1", Title: "Runbook", Body: body, Author: "557058:abc", AuthorName: "Ada",
		Labels: []string{"ops", "runbook"}, Version: 3, ParentID: "0", Ancestors: []string{"0"}, Created: &now, Updated: &now,
		ContentHash: "abc123", ACL: acl.ACL{{Level: acl.LevelSpace, Principals: []string{"ns/a:space:ENG"}}}, IndexedAt: &now}
	for _, impl := range []struct {
		name string
		enc  func(map[string]any) ([]byte, error)
	}{{"current", d.encodeWith}, {"encoding-json", d.encodeReflect}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				if _, err := impl.enc(map[string]any{"passage_count": 3}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
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
