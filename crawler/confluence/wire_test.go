package confluence

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// decodePage decodes a listing response as doJSON does, reading r in
// small chunks so items straddle the decoder's reads.
func decodePage[T any](t testing.TB, body string) (listPage[T], *recorder, error) {
	t.Helper()
	rec := &recorder{r: iotest.HalfReader(strings.NewReader(body))}
	var p listPage[T]
	err := p.decodeFrom(json.NewDecoder(rec), rec)
	return p, rec, err
}

const contentItem = `{"id":"%d","type":"page","status":"current","title":"T \u003c%d\u003e",
 "space":{"id":12,"key":"ENG","name":"Eng"},
 "version":{"number":3,"when":"2026-03-01T12:00:00.000Z","by":{"type":"known","username":"u","displayName":"U"}},
 "ancestors":[{"id":"1","type":"page"}],
 "body":{"storage":{"value":"\u003cp\u003ebody \"quoted\" é %d\u003c/p\u003e"}},
 "metadata":{"labels":{"results":[{"prefix":"global","name":"l"}]}},
 "restrictions":{"read":{"restrictions":{"user":{"results":[{"accountId":"a1"}],"start":0,"limit":200,"size":1},"group":{"results":[],"start":0,"limit":200,"size":0}}}},
 "_links":{"webui":"/display/ENG/T"}}`

func contentPage(n int, next string, items ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"start": %d, "limit": 50, "extra": {"nested": [1, {"results": "not these"}]},`+"\n"+` "results" : [ `, n)
	for i, id := range items {
		if i > 0 {
			b.WriteString(" ,\n ")
		}
		fmt.Fprintf(&b, contentItem, id, id, id)
	}
	fmt.Fprintf(&b, ` ], "size": %d, "_links": {"base": "http://wiki", "next": %q}}`, len(items), next)
	return b.String()
}

func TestListPage_DecodesItemsAsUnmarshalDoes(t *testing.T) {
	body := contentPage(0, "/rest/api/content?start=3", 1, 2, 3)
	p, _, err := decodePage[wireContent](t, body)
	if err != nil {
		t.Fatal(err)
	}
	var want page[wireContent]
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	if len(p.Results) != 3 || !reflect.DeepEqual(p.Results, want.Results) || p.Links != want.Links {
		t.Fatalf("decoded %+v\nwant %+v", p, want)
	}
	if got := *p.Results[1].Body.Storage; got.Value != `<p>body "quoted" é 2</p>` {
		t.Fatalf("body = %q", got.Value)
	}
	if p.bytes < 3*len(contentItem) || p.bytes > len(body) {
		t.Fatalf("bytes = %d for results of about %d", p.bytes, 3*len(contentItem))
	}
}

func TestListPage_ResultsNullOrEmptyOrAfterLinks(t *testing.T) {
	for body, want := range map[string]int{
		`{"results":null,"_links":{}}`: 0,
		`{"_links":{},"results":[]}`:   0,
		`{"_links":{"next":"/rest/api/space?start=1"},"results":[{"key":"A"},{"key":"B"}]}`: 2,
	} {
		p, _, err := decodePage[wireSpace](t, body)
		if err != nil || len(p.Results) != want {
			t.Errorf("%s: %d results, err %v; want %d", body, len(p.Results), err, want)
		}
	}
}

func TestListPage_FingerprintIsThatOfTheResults(t *testing.T) {
	fp := func(body string) uint64 {
		t.Helper()
		p, _, err := decodePage[wireContent](t, body)
		if err != nil {
			t.Fatal(err)
		}
		return p.fingerprint
	}
	same := fp(contentPage(0, "/rest/api/content?start=2", 1, 2))
	if got := fp(contentPage(7, "/rest/api/content?start=2&cursor=other", 1, 2)); got != same {
		t.Error("the same results under another next link and other fields must have the same fingerprint")
	}
	for name, body := range map[string]string{
		"other item":  contentPage(0, "/rest/api/content?start=2", 1, 3),
		"fewer items": contentPage(0, "/rest/api/content?start=2", 1),
		"reordered":   contentPage(0, "/rest/api/content?start=2", 2, 1),
		"one byte":    strings.Replace(contentPage(0, "/rest/api/content?start=2", 1, 2), `"number":3`, `"number":4`, 1),
	} {
		if fp(body) == same {
			t.Errorf("%s: same fingerprint", name)
		}
	}
}

func TestListPage_MalformedItemFailsNamingIt(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"wrong type": {`{"results":[{"key":"A"},{"key":7}],"_links":{}}`, `results[1]: json: cannot unmarshal number into Go struct field wireSpace.key of type string`},
		"syntax":     {`{"results":[{"key":"A"},{"key":"B",}],"_links":{}}`, `results[1]: invalid character '}'`},
		"truncated":  {`{"results":[{"key":"A"},{"key":"B"`, `results[1]: unexpected EOF`},
		"not array":  {`{"results":{"key":"A"}}`, `results: want an array`},
	} {
		_, _, err := decodePage[wireSpace](t, tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
		}
	}
}

// A page of large items is held once, decoded: the recorder that digests
// the raw bytes keeps at most about one item, not the response.
func TestListPage_LargeItemsAreNotHeldRaw(t *testing.T) {
	const items, size = 20, 256 << 10
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for i := range items {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%d","body":{"storage":{"value":"%s"}}}`, i, strings.Repeat("x", size))
	}
	b.WriteString(`],"_links":{}}`)
	body := b.String()
	var maxHeld int
	rec := &recorder{}
	rec.r = &watchReader{r: strings.NewReader(body), each: func() { maxHeld = max(maxHeld, cap(rec.buf)) }}
	dec := json.NewDecoder(rec)
	var p listPage[wireContent]
	if err := p.decodeFrom(dec, rec); err != nil {
		t.Fatal(err)
	}
	maxHeld = max(maxHeld, cap(rec.buf))
	if len(p.Results) != items {
		t.Fatalf("%d items", len(p.Results))
	}
	if maxHeld > 3*size {
		t.Fatalf("the recorder held %d bytes of a %d-byte response with items of %d", maxHeld, len(body), size)
	}
}

// watchReader calls each before every read.
type watchReader struct {
	r    io.Reader
	each func()
}

func (w *watchReader) Read(b []byte) (int, error) {
	w.each()
	return w.r.Read(b)
}

func TestJSONString_AgreesWithUnmarshal(t *testing.T) {
	for _, in := range []string{`""`, `"abc"`, `"é ✓"`, `"a\"b"`, `"\u003cp\u003e"`, `"tab\there"`, "\"bad \xff utf8\"", `null`, `12`, `"12"`} {
		var want string
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := jsonString([]byte(in))
		if got != want || (err == nil) != (wantErr == nil) {
			t.Errorf("jsonString(%s) = %q, %v; Unmarshal gives %q, %v", in, got, err, want, wantErr)
		}
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\"b", "<p>", "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, _ := json.Marshal(s)
		for _, in := range [][]byte{lit, []byte(`"` + s + `"`)} {
			var want string
			wantErr := json.Unmarshal(in, &want)
			if wantErr != nil {
				continue // jsonString is only handed valid JSON
			}
			if got, err := jsonString(in); err != nil || got != want {
				t.Fatalf("jsonString(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
	})
}

func TestFlexTime_Formats(t *testing.T) {
	want := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, in := range []string{`"2026-03-01T12:00:00.000Z"`, `"2026-03-01T12:00:00Z"`, `"2026-03-01T13:00:00.000+0100"`, `"2026-03-01T13:00:00+0100"`} {
		var ft flexTime
		if err := json.Unmarshal([]byte(in), &ft); err != nil || !ft.time().Equal(want) {
			t.Errorf("%s: %v, %v", in, ft.time(), err)
		}
	}
	for _, in := range []string{`""`, `null`, `"yesterday"`, `12`} {
		var ft flexTime
		if err := json.Unmarshal([]byte(in), &ft); err != nil || !ft.time().IsZero() {
			t.Errorf("%s: %v, %v; want zero", in, ft.time(), err)
		}
	}
}

func TestFlexString_StringsAndNumbers(t *testing.T) {
	var got struct{ A, B, C, D flexString }
	if err := json.Unmarshal([]byte(`{"A":"12","B":34,"C":null,"D":"x\u0041"}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.A != "12" || got.B != "34" || got.C != "" || got.D != "xA" {
		t.Fatalf("%+v", got)
	}
	if err := json.Unmarshal([]byte(`{"A":"12"`), &got); err == nil {
		t.Fatal("truncated input decoded")
	}
}

func TestBodyString_AgreesWithUnmarshal(t *testing.T) {
	for _, in := range []string{`""`, `"abc"`, `"\u003cp\u003e \"q\" \\ \/ \b\f\n\r\t é ✓"`, `"\u00e9\u00C9"`, `"\ud83d\ude00 pair"`, `"\ud83d lone"`,
		`"\u0000"`, "\"bad \xff utf8\"", `"end\\"`, `null`, `12`, `{"a":1}`} {
		var want string
		wantErr := json.Unmarshal([]byte(in), &want)
		got := bodyString("unchanged")
		if in != `null` {
			got = ""
		} else {
			want = "unchanged"
		}
		err := json.Unmarshal([]byte(in), &got)
		if string(got) != want || (err == nil) != (wantErr == nil) {
			t.Errorf("bodyString(%s) = %q, %v; Unmarshal into a string gives %q, %v", in, got, err, want, wantErr)
		}
	}
}

func FuzzBodyString(f *testing.F) {
	for _, s := range []string{"", `<p class="x">a &amp; b</p>` + "\n\t", "\xff", "é\u2028", "\U0001F600", `\u00`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, _ := json.Marshal(s)
		for _, in := range [][]byte{lit, []byte(`"` + s + `"`)} {
			var want string
			if json.Unmarshal(in, &want) != nil {
				continue // the decoder hands bodyString only valid JSON
			}
			var got bodyString
			if err := json.Unmarshal(in, &got); err != nil || string(got) != want {
				t.Fatalf("bodyString(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
	})
}
