package fakeopensearch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var decodeSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e3`, `-12.25E-2`, `1e400`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
	`"plain"`, `"esc \" \\ \/ \b \f \n \r \t"`, `"\u00e9\u003c\u0026"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83d\u0041"`,
	`"\udc00\ud800"`, `"\u12"`, `"\x"`, "\"ctl\x01\"", "\"bad utf8 \xff\xfe\"", `"Ελληνικά Überblick"`, `"unterminated`,
	`{"a":1,"a":2}`, `{"a":[1,{"b":null}],"c":{"d":"e"}}`, ` {"a" : [ ] , "b" : { } } `, `{"a":1,}`, `[1,]`, `{"a"}`,
	`{"a":1}x`, `{1:2}`, `[1 2]`, `tru`, `nul`, `falsey`, ``, ` `, `{"a":"b"`, `[`,
}

// TestDecodeJSONDepth: encoding/json's nesting limit, 10,000, holds.
func TestDecodeJSONDepth(t *testing.T) {
	for _, depth := range []int{10000, 10001} {
		inner := "1"
		if depth%2 == 1 {
			inner = "[]"
		}
		data := []byte(strings.Repeat(`[{"a":`, depth/2) + inner + strings.Repeat(`}]`, depth/2))
		var want any
		wantErr := json.Unmarshal(data, &want)
		_, err := decodeJSON(data)
		if (err != nil) != (wantErr != nil) || (err != nil) != (depth > 10000) {
			t.Fatalf("depth %d: error %v, encoding/json %v", depth, err, wantErr)
		}
	}
}

// FuzzDecodeJSON holds decodeJSON to encoding/json: the same values, and an
// error exactly where json.Unmarshal fails.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		wantErr := json.Unmarshal(data, &want)
		got, err := decodeJSON(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, encoding/json %v", data, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, encoding/json %#v", data, got, want)
		}
	})
}
