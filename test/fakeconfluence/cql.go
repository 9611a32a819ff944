package fakeconfluence

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// cqlQuery is the subset of CQL the fake understands: clauses joined by
// "and" over space, type, id (=, in), lastmodified and created, plus "order by".
type cqlQuery struct {
	spaces  []string
	types   []string
	ids     []string
	since   *cmpTime
	until   *cmpTime
	orderBy string // "", lastmodified, created
	desc    bool
}

type cmpTime struct {
	t         time.Time
	inclusive bool
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		r := rune(s[i])
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '"' || r == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && rune(s[j]) != r; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, "\x00"+b.String())
			i = j + 1
		case strings.ContainsRune("(),", r):
			toks = append(toks, string(r))
			i++
		case strings.ContainsRune("=!<>~", r):
			j := i + 1
			for j < len(s) && strings.ContainsRune("=!<>~", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune("(),=!<>~\"'", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

func lit(t string) string { return strings.TrimPrefix(t, "\x00") }

// parseCQL parses a query; dates are read in loc with minute precision.
func parseCQL(s string, loc *time.Location) (*cqlQuery, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	q := &cqlQuery{}
	i := 0
	peek := func() string {
		if i < len(toks) {
			return toks[i]
		}
		return ""
	}
	for i < len(toks) {
		if strings.EqualFold(peek(), "order") {
			if i+2 >= len(toks) || !strings.EqualFold(toks[i+1], "by") {
				return nil, fmt.Errorf("expected 'order by'")
			}
			q.orderBy = strings.ToLower(toks[i+2])
			i += 3
			if i < len(toks) {
				q.desc = strings.EqualFold(toks[i], "desc")
				i++
			}
			continue
		}
		field := strings.ToLower(peek())
		i++
		op := strings.ToLower(peek())
		i++
		var vals []string
		if op == "in" || op == "not" {
			if op == "not" {
				return nil, fmt.Errorf("'not in' is not supported by the fake")
			}
			if peek() != "(" {
				return nil, fmt.Errorf("expected ( after in")
			}
			i++
			for peek() != ")" {
				if peek() == "" {
					return nil, fmt.Errorf("unterminated list")
				}
				if peek() != "," {
					vals = append(vals, lit(peek()))
				}
				i++
			}
			i++
		} else {
			vals = []string{lit(peek())}
			i++
		}
		switch field {
		case "space":
			q.spaces = append(q.spaces, vals...)
		case "type":
			q.types = append(q.types, vals...)
		case "id":
			// "id != 0" is Atlassian's enumeration idiom: no filter.
			if op == "=" || op == "in" {
				q.ids = append(q.ids, vals...)
			}
		case "lastmodified", "created":
			if field == "created" {
				return nil, fmt.Errorf("created comparisons are not supported by the fake")
			}
			t, err := time.ParseInLocation("2006/01/02 15:04", vals[0], loc)
			if err != nil {
				if t, err = time.ParseInLocation("2006-01-02", vals[0], loc); err != nil {
					return nil, fmt.Errorf("bad date %q", vals[0])
				}
			}
			switch op {
			case ">=", ">":
				q.since = &cmpTime{t: t, inclusive: op == ">="}
			case "<=", "<":
				q.until = &cmpTime{t: t, inclusive: op == "<="}
			default:
				return nil, fmt.Errorf("unsupported operator %q for %s", op, field)
			}
		default:
			return nil, fmt.Errorf("unsupported field %q", field)
		}
		if strings.EqualFold(peek(), "and") {
			i++
		}
	}
	return q, nil
}

// hit is one searchable item: content, a comment or an attachment.
type hit struct {
	typ      string // page | blogpost | comment | attachment
	id       string
	spaceKey string
	current  bool
	modified time.Time
}

func (q *cqlQuery) match(h hit) bool {
	if !h.current {
		return false // CQL searches current content only
	}
	if len(q.ids) > 0 && !slices.Contains(q.ids, h.id) {
		return false
	}
	if len(q.spaces) > 0 && !slices.Contains(q.spaces, h.spaceKey) {
		return false
	}
	types := q.types
	if len(types) == 0 {
		types = []string{"page", "blogpost"}
	}
	if !slices.Contains(types, h.typ) {
		return false
	}
	m := h.modified.Truncate(time.Minute)
	if q.since != nil && (m.Before(q.since.t) || (!q.since.inclusive && m.Equal(q.since.t))) {
		return false
	}
	if q.until != nil && (m.After(q.until.t) || (!q.until.inclusive && m.Equal(q.until.t))) {
		return false
	}
	return true
}

func (q *cqlQuery) wants(typ string) bool { return slices.Contains(q.types, typ) }
