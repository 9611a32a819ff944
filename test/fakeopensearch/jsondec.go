package fakeopensearch

import (
	"bytes"
	"errors"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeJSON parses one JSON text into the values encoding/json gives an
// interface{} (objects map[string]any, arrays []any, numbers float64, strings
// with invalid UTF-8 and lone surrogates replaced by U+FFFD), and fails where
// json.Unmarshal fails. It does so in one pass: _bulk parses every document
// source, and json.Unmarshal's separate validation scan and reflection were
// the double's largest CPU cost in the crawl benchmarks. FuzzDecodeJSON holds
// it to encoding/json.
func decodeJSON(data []byte) (any, error) {
	d := jsonDecoder{data: data}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.i != len(d.data) {
		return nil, d.syntaxErr("after top-level value")
	}
	return v, nil
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

type jsonDecoder struct {
	data  []byte
	i     int
	depth int
}

func (d *jsonDecoder) syntaxErr(where string) error {
	if d.i >= len(d.data) {
		return errors.New("unexpected end of JSON input")
	}
	return errors.New("invalid character " + strconv.QuoteRune(rune(d.data[d.i])) + " " + where)
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value() (any, error) {
	if d.i >= len(d.data) {
		return nil, d.syntaxErr("looking for beginning of value")
	}
	switch c := d.data[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return nil, d.syntaxErr("looking for beginning of value")
}

func (d *jsonDecoder) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if d.i >= len(d.data) || d.data[d.i] != lit[k] {
			return d.syntaxErr("in literal " + lit)
		}
		d.i++
	}
	return nil
}

func (d *jsonDecoder) enter() error {
	if d.depth++; d.depth > maxJSONDepth {
		return errors.New("exceeded max depth")
	}
	return nil
}

func (d *jsonDecoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++ // {
	m := map[string]any{}
	d.skipSpace()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		d.depth--
		return m, nil
	}
	for {
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, d.syntaxErr("looking for beginning of object key string")
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, d.syntaxErr("after object key")
		}
		d.i++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k.(string)] = v
		d.skipSpace()
		if d.i >= len(d.data) {
			return nil, d.syntaxErr("after object key:value pair")
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.skipSpace()
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, d.syntaxErr("after object key:value pair")
		}
	}
}

func (d *jsonDecoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++               // [
	a := make([]any, 0) // as encoding/json: [] is an empty, non-nil slice
	d.skipSpace()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.i >= len(d.data) {
			return nil, d.syntaxErr("after array element")
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.skipSpace()
		case ']':
			d.i++
			d.depth--
			return a, nil
		default:
			return nil, d.syntaxErr("after array element")
		}
	}
}

// string reads a quoted string at d.i: its end is found with IndexByte; a
// string without escapes or control bytes, and valid UTF-8, is one copy;
// otherwise the runs between escapes are copied whole.
func (d *jsonDecoder) string() (any, error) {
	d.i++ // "
	start := d.i
	// Find the closing quote: the first one not escaped by a backslash.
	plain, end := true, -1
	for k := start; ; {
		q := bytes.IndexByte(d.data[k:], '"')
		if q < 0 {
			break
		}
		b := bytes.IndexByte(d.data[k:k+q], '\\')
		if b < 0 {
			end = k + q
			break
		}
		plain = false
		k += b + 2 // the escaped byte cannot end the string
		if k > len(d.data) {
			break
		}
	}
	if end < 0 {
		d.i = len(d.data)
		return nil, d.syntaxErr("in string literal")
	}
	ascii := true
	for _, c := range d.data[start:end] {
		if c < 0x20 {
			plain = false
			break
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	raw := d.data[start:end]
	if plain && (ascii || utf8.Valid(raw)) {
		d.i = end + 1
		return string(raw), nil
	}
	b := make([]byte, 0, len(raw))
	for d.i < end {
		// Copy the run up to the next escape or control byte at once.
		k := d.i
		for k < end && d.data[k] != '\\' && d.data[k] >= 0x20 {
			k++
		}
		if run := d.data[d.i:k]; utf8.Valid(run) {
			b = append(b, run...)
		} else {
			for len(run) > 0 {
				r, size := utf8.DecodeRune(run)
				if r == utf8.RuneError && size == 1 {
					b = utf8.AppendRune(b, unicode.ReplacementChar)
				} else {
					b = append(b, run[:size]...)
				}
				run = run[size:]
			}
		}
		d.i = k
		if d.i == end {
			break
		}
		if d.data[d.i] < 0x20 {
			return nil, d.syntaxErr("in string literal")
		}
		var err error
		if b, err = d.escape(b); err != nil {
			return nil, err
		}
	}
	d.i = end + 1
	return string(b), nil
}

// escape appends the character of the escape sequence at d.i to b.
func (d *jsonDecoder) escape(b []byte) ([]byte, error) {
	d.i++ // backslash
	if d.i >= len(d.data) {
		return nil, d.syntaxErr("in string escape code")
	}
	c := d.data[d.i]
	d.i++
	switch c {
	case '"', '\\', '/':
		return append(b, c), nil
	case 'b':
		return append(b, '\b'), nil
	case 'f':
		return append(b, '\f'), nil
	case 'n':
		return append(b, '\n'), nil
	case 'r':
		return append(b, '\r'), nil
	case 't':
		return append(b, '\t'), nil
	case 'u':
		r, ok := d.hex4(d.i)
		if !ok {
			return nil, d.syntaxErr("in \\u hexadecimal character escape")
		}
		d.i += 4
		if utf16.IsSurrogate(r) {
			// A surrogate pair makes one character; a lone surrogate is
			// replaced, and what follows it is read on its own.
			if d.i+1 < len(d.data) && d.data[d.i] == '\\' && d.data[d.i+1] == 'u' {
				if r2, ok := d.hex4(d.i + 2); ok {
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						d.i += 6
						return utf8.AppendRune(b, dec), nil
					}
				}
			}
			r = unicode.ReplacementChar
		}
		return utf8.AppendRune(b, r), nil
	}
	d.i--
	return nil, d.syntaxErr("in string escape code")
}

func (d *jsonDecoder) hex4(at int) (rune, bool) {
	if at+4 > len(d.data) {
		return 0, false
	}
	var r rune
	for _, c := range d.data[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// number reads a JSON number (RFC 8259 grammar) as a float64.
func (d *jsonDecoder) number() (any, error) {
	start := d.i
	if d.data[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.data) && d.data[d.i] == '0':
		d.i++
	case d.i < len(d.data) && '1' <= d.data[d.i] && d.data[d.i] <= '9':
		d.digits()
	default:
		return nil, d.syntaxErr("in numeric literal")
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if !d.digits() {
			return nil, d.syntaxErr("after decimal point in numeric literal")
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return nil, d.syntaxErr("in exponent of numeric literal")
		}
	}
	s := string(d.data[start:d.i])
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, errors.New("json: cannot unmarshal number " + s + " into Go value of type float64")
	}
	return f, nil
}

// digits skips a run of decimal digits and reports whether there was one.
func (d *jsonDecoder) digits() bool {
	start := d.i
	for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
