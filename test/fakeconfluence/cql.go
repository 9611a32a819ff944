package fakeconfluence

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// cqlQuery is the subset of CQL the fake understands: clauses joined by
// "and" over space, type, id, ancestor and container (=, in), lastmodified,
// plus "order by".
//
// Sources: CQL field reference (Cloud developer.atlassian.com/cloud/confluence/cql-fields,
// DC developer.atlassian.com/server/confluence/cql-field-reference):
//   - ancestor: "all content items that are descendants of a given ancestor
//     ... direct child contents and their descendants"; =, !=, IN, NOT IN.
//   - container: "content that is contained in the content with the given
//     ID" (example: attachments of a page); =, !=, IN, NOT IN.
//   - lastmodified / created: DATE fields, formats "yyyy/MM/dd HH:mm",
//     "yyyy-MM-dd HH:mm", "yyyy/MM/dd", "yyyy-MM-dd", "relative to your
//     configured time zone (which is by default the Confluence server's
//     time zone)", and the relative form now("-4w") (Cloud reference
//     example "created >= now(\"-4w\")"); the fake reads dates in
//     Options.CQLLocation and now() relative to its clock.
type cqlQuery struct {
	spaces     []string
	types      []string
	ids        []string
	ancestors  []string
	containers []string
	since      *cmpTime
	until      *cmpTime
	orderBy    string // "", lastmodified, created
	desc       bool
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
func parseCQL(s string, loc *time.Location, now time.Time) (*cqlQuery, error) {
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
			// A function call: now("-5m").
			if peek() == "(" {
				if i+2 >= len(toks) || toks[i+2] != ")" {
					return nil, fmt.Errorf("bad function call %s", vals[0])
				}
				vals = []string{vals[0] + "(" + lit(toks[i+1]) + ")"}
				i += 3
			}
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
		case "ancestor", "container":
			if op != "=" && op != "in" {
				return nil, fmt.Errorf("operator %q for %s is not supported by the fake", op, field)
			}
			if field == "ancestor" {
				q.ancestors = append(q.ancestors, vals...)
			} else {
				q.containers = append(q.containers, vals...)
			}
		case "lastmodified", "created":
			if field == "created" {
				return nil, fmt.Errorf("created comparisons are not supported by the fake")
			}
			t, err := cqlDate(vals[0], loc, now)
			if err != nil {
				return nil, err
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

// cqlDate reads a CQL date value: one of the documented absolute formats
// (in loc, minute precision) or now("<offset>"), where the offset is a
// signed sum of <n>w, <n>d, <n>h, <n>m units (CQL function reference,
// now()/startOfDay() increments).
func cqlDate(v string, loc *time.Location, now time.Time) (time.Time, error) {
	if arg, ok := strings.CutPrefix(strings.ToLower(v), "now("); ok {
		arg = strings.TrimSuffix(arg, ")")
		t := now
		sign := time.Duration(1)
		for _, f := range strings.Fields(arg) {
			if strings.HasPrefix(f, "-") {
				sign, f = -1, f[1:]
			} else if strings.HasPrefix(f, "+") {
				sign, f = 1, f[1:]
			}
			if len(f) < 2 {
				return time.Time{}, fmt.Errorf("bad now() increment %q", v)
			}
			n, err := strconv.Atoi(f[:len(f)-1])
			if err != nil {
				return time.Time{}, fmt.Errorf("bad now() increment %q", v)
			}
			unit := map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}[f[len(f)-1]]
			if unit == 0 {
				return time.Time{}, fmt.Errorf("bad now() unit in %q", v)
			}
			t = t.Add(sign * time.Duration(n) * unit)
		}
		// CQL dates have minute precision.
		return t.Truncate(time.Minute), nil
	}
	for _, layout := range []string{"2006/01/02 15:04", "2006-01-02 15:04", "2006/01/02", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", v)
}

// hit is one searchable item: content, a comment or an attachment.
type hit struct {
	typ      string // page | blogpost | comment | attachment
	id       string
	spaceKey string
	// ancestors are the ids of the pages above a page; container is the
	// page or blog post of a comment or attachment.
	ancestors []string
	container string
	current   bool
	modified  time.Time
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
	if len(q.ancestors) > 0 && !slices.ContainsFunc(h.ancestors, func(a string) bool { return slices.Contains(q.ancestors, a) }) {
		return false
	}
	if len(q.containers) > 0 && !slices.Contains(q.containers, h.container) {
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
