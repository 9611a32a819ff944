package fakeopensearch

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// scope is what a query sees: the whole document, or one object of a nested
// array while inside a nested query.
type scope struct {
	id         string
	root       map[string]any
	nestedPath string
	nestedObj  map[string]any
}

type evaluator struct {
	ix    *index
	stats *index
	df    map[string]int
	// defs memoizes lookupDef: the mapping cannot change while a request
	// evaluates (the server lock is held), and a query looks up the same
	// fields for every document.
	defs map[string]fieldDef
}

type fieldDef struct {
	def     map[string]any
	srcPath string
	nested  []string
}

// lookup is lookupDef on the evaluator's index, memoized.
func (e *evaluator) lookup(field string) (map[string]any, string, []string) {
	if f, ok := e.defs[field]; ok {
		return f.def, f.srcPath, f.nested
	}
	def, src, nested := lookupDef(e.ix.mappings, field)
	if e.defs == nil {
		e.defs = map[string]fieldDef{}
	}
	e.defs[field] = fieldDef{def, src, nested}
	return def, src, nested
}

func parsingErr(format string, args ...any) *osError {
	return errf(400, "parsing_exception", format, args...)
}

// tokens is the double's only analyzer: lowercase words of letters and digits.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func (e *evaluator) eval(q map[string]any, sc scope) (bool, float64, *osError) {
	if len(q) != 1 {
		return false, 0, parsingErr("[_na] query malformed, must start with start_object")
	}
	for kind, body := range q {
		args, _ := body.(map[string]any)
		if args == nil {
			return false, 0, parsingErr("[%s] query malformed, no start_object after query name", kind)
		}
		boost := 1.0
		if b, ok := args["boost"].(float64); ok {
			boost = b
		}
		switch kind {
		case "match_all":
			return true, boost, nil
		case "match_none":
			return false, 0, nil
		case "bool":
			return e.boolQuery(args, sc, boost)
		case "constant_score":
			f, _ := args["filter"].(map[string]any)
			ok, _, oe := e.eval(f, sc)
			return ok, boost, oe
		case "term", "terms":
			return e.termQuery(kind, args, sc)
		case "ids":
			for _, v := range toStrings(args["values"]) {
				if v == sc.id {
					return true, boost, nil
				}
			}
			return false, 0, nil
		case "exists":
			f, _ := args["field"].(string)
			return len(e.values(f, sc)) > 0, boost, nil
		case "range":
			return e.rangeQuery(args, sc)
		case "match":
			for field, spec := range args {
				text, op, b := matchSpec(spec)
				sc, ok := e.matchField(field, text, op, sc)
				return ok, sc * b, nil
			}
			return false, 0, nil
		case "multi_match":
			text := fmt.Sprint(args["query"])
			op, _ := args["operator"].(string)
			typ, _ := args["type"].(string)
			best, sum, hit := 0.0, 0.0, false
			for _, f := range toStrings(args["fields"]) {
				fb := 1.0
				if i := strings.IndexByte(f, '^'); i >= 0 {
					fb, _ = strconv.ParseFloat(f[i+1:], 64)
					f = f[:i]
				}
				s, ok := e.matchField(f, text, op, sc)
				if ok {
					hit = true
					best = math.Max(best, s*fb)
					sum += s * fb
				}
			}
			if typ == "most_fields" {
				best = sum
			}
			return hit, best * boost, nil
		case "nested":
			return e.nestedQuery(args, sc, boost)
		case "prefix":
			for field, spec := range args {
				if field == "boost" {
					continue
				}
				p := fmt.Sprint(spec)
				if m, ok := spec.(map[string]any); ok {
					p = fmt.Sprint(m["value"])
				}
				for _, v := range e.values(field, sc) {
					if strings.HasPrefix(scalar(v), p) {
						return true, boost, nil
					}
				}
			}
			return false, 0, nil
		default:
			return false, 0, parsingErr("unknown query [%s]", kind)
		}
	}
	return false, 0, nil
}

func matchSpec(spec any) (text, op string, boost float64) {
	boost = 1
	if m, ok := spec.(map[string]any); ok {
		text = fmt.Sprint(m["query"])
		op, _ = m["operator"].(string)
		if b, ok := m["boost"].(float64); ok {
			boost = b
		}
		return
	}
	return fmt.Sprint(spec), "", 1
}

func clauses(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		var out []map[string]any
		for _, c := range x {
			if m, ok := c.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

func (e *evaluator) boolQuery(args map[string]any, sc scope, boost float64) (bool, float64, *osError) {
	score := 0.0
	for _, c := range clauses(args["must"]) {
		ok, s, oe := e.eval(c, sc)
		if oe != nil || !ok {
			return false, 0, oe
		}
		score += s
	}
	for _, c := range clauses(args["filter"]) {
		ok, _, oe := e.eval(c, sc)
		if oe != nil || !ok {
			return false, 0, oe
		}
	}
	for _, c := range clauses(args["must_not"]) {
		ok, _, oe := e.eval(c, sc)
		if oe != nil {
			return false, 0, oe
		}
		if ok {
			return false, 0, nil
		}
	}
	should := clauses(args["should"])
	minShould := 0
	if len(should) > 0 && args["must"] == nil && args["filter"] == nil {
		minShould = 1
	}
	switch m := args["minimum_should_match"].(type) {
	case float64:
		minShould = int(m)
	case string:
		if n, err := strconv.Atoi(m); err == nil {
			minShould = n
		}
	}
	matched := 0
	for _, c := range should {
		ok, s, oe := e.eval(c, sc)
		if oe != nil {
			return false, 0, oe
		}
		if ok {
			matched++
			score += s
		}
	}
	if matched < minShould {
		return false, 0, nil
	}
	return true, score * boost, nil
}

func (e *evaluator) termQuery(kind string, args map[string]any, sc scope) (bool, float64, *osError) {
	boost := 1.0
	if b, ok := args["boost"].(float64); ok {
		boost = b
	}
	for field, spec := range args {
		if field == "boost" || field == "_name" {
			continue
		}
		var want []string
		if kind == "term" {
			if m, ok := spec.(map[string]any); ok {
				if b, ok := m["boost"].(float64); ok {
					boost = b
				}
				spec = m["value"]
			}
			want = []string{scalar(spec)}
		} else {
			arr, ok := spec.([]any)
			if !ok {
				return false, 0, parsingErr("[terms] query does not support [%s]", field)
			}
			for _, v := range arr {
				want = append(want, scalar(v))
			}
		}
		def, _, _ := e.lookup(field)
		isText := def != nil && fieldType(def) == "text"
		for _, v := range e.values(field, sc) {
			var have []string
			if isText {
				have = tokens(scalar(v))
			} else {
				have = []string{scalar(v)}
			}
			for _, h := range have {
				if containsString(want, h) {
					return true, boost, nil
				}
			}
		}
		return false, 0, nil
	}
	return false, 0, nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e18 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func (e *evaluator) rangeQuery(args map[string]any, sc scope) (bool, float64, *osError) {
	for field, spec := range args {
		bounds, _ := spec.(map[string]any)
		def, _, _ := e.lookup(field)
		typ := ""
		if def != nil {
			typ = fieldType(def)
		}
		for _, v := range e.values(field, sc) {
			if inRange(typ, v, bounds) {
				return true, 1, nil
			}
		}
		return false, 0, nil
	}
	return false, 0, nil
}

func inRange(typ string, v any, b map[string]any) bool {
	cmp := func(bound any) int {
		switch typ {
		case "date":
			x, _ := parseDate(v)
			y, _ := parseDate(bound)
			return cmpOrdered(x, y)
		case "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float":
			x, _ := strconv.ParseFloat(scalar(v), 64)
			y, _ := strconv.ParseFloat(scalar(bound), 64)
			return cmpOrdered(x, y)
		}
		return strings.Compare(scalar(v), scalar(bound))
	}
	if x, ok := b["gte"]; ok && cmp(x) < 0 {
		return false
	}
	if x, ok := b["gt"]; ok && cmp(x) <= 0 {
		return false
	}
	if x, ok := b["lte"]; ok && cmp(x) > 0 {
		return false
	}
	if x, ok := b["lt"]; ok && cmp(x) >= 0 {
		return false
	}
	return true
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *evaluator) nestedQuery(args map[string]any, sc scope, boost float64) (bool, float64, *osError) {
	path, _ := args["path"].(string)
	inner, _ := args["query"].(map[string]any)
	def, _, _ := e.lookup(path)
	if def == nil || fieldType(def) != "nested" {
		if iu, _ := args["ignore_unmapped"].(bool); iu {
			return false, 0, nil
		}
		e := errf(400, "query_shard_exception", "failed to create query: [nested] nested object under path [%s] is not of nested type", path)
		e.extra = map[string]any{"index": "", "index_uuid": ""}
		return false, 0, e
	}
	var objs []any
	if sc.nestedPath != "" && strings.HasPrefix(path, sc.nestedPath+".") {
		objs = flatten(getPath(sc.nestedObj, strings.TrimPrefix(path, sc.nestedPath+".")))
	} else {
		objs = flatten(getPath(sc.root, path))
	}
	best, hit := 0.0, false
	for _, o := range objs {
		m, ok := o.(map[string]any)
		if !ok {
			continue
		}
		ok, s, oe := e.eval(inner, scope{id: sc.id, root: sc.root, nestedPath: path, nestedObj: m})
		if oe != nil {
			return false, 0, oe
		}
		if ok {
			hit = true
			best = math.Max(best, s)
		}
	}
	return hit, best * boost, nil
}

// values returns the flattened values of a field in scope; fields under a
// nested path are invisible outside a nested query on that path.
func (e *evaluator) values(field string, sc scope) []any {
	if field == "_id" {
		return []any{sc.id}
	}
	_, src, nested := e.lookup(field)
	if sc.nestedPath != "" && strings.HasPrefix(src, sc.nestedPath+".") {
		return flatten(getPath(sc.nestedObj, strings.TrimPrefix(src, sc.nestedPath+".")))
	}
	if sc.nestedPath != "" && src == sc.nestedPath {
		return []any{sc.nestedObj}
	}
	if len(nested) > 0 {
		return nil
	}
	return flatten(getPath(sc.root, src))
}

func getPath(obj map[string]any, path string) any {
	if obj == nil {
		return nil
	}
	if v, ok := obj[path]; ok {
		return v
	}
	head, rest, ok := strings.Cut(path, ".")
	if !ok {
		return nil
	}
	switch x := obj[head].(type) {
	case map[string]any:
		return getPath(x, rest)
	case []any:
		var out []any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				if v := getPath(m, rest); v != nil {
					out = append(out, v)
				}
			}
		}
		return out
	}
	return nil
}

func flatten(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []any{v}
}

func (e *evaluator) matchField(field, text, op string, sc scope) (float64, bool) {
	def, _, _ := e.lookup(field)
	vals := e.values(field, sc)
	if def != nil && fieldType(def) != "text" && fieldType(def) != "match_only_text" {
		for _, v := range vals {
			if scalar(v) == text {
				return 1, true
			}
		}
		return 0, false
	}
	q := tokens(text)
	tf := map[string]int{}
	for _, v := range vals {
		for _, t := range tokens(scalar(v)) {
			tf[t]++
		}
	}
	score, matched := 0.0, 0
	for _, t := range q {
		if n := tf[t]; n > 0 {
			matched++
			score += (1 + math.Log(float64(n))) * e.idf(field, t)
		}
	}
	if matched == 0 || (strings.EqualFold(op, "and") && matched < len(q)) {
		return 0, false
	}
	return score, true
}

func (e *evaluator) idf(field, term string) float64 {
	if e.df == nil {
		e.df = map[string]int{}
	}
	key := field + "\x00" + term
	df, ok := e.df[key]
	if !ok {
		for id, d := range e.stats.docs {
			for _, v := range e.values(field, scope{id: id, root: d.source}) {
				if containsString(tokens(scalar(v)), term) {
					df++
					break
				}
			}
		}
		e.df[key] = df
	}
	n := float64(len(e.stats.docs))
	return math.Log(1 + (n-float64(df)+0.5)/(float64(df)+0.5))
}

// queryTerms collects the analyzed words of match and multi_match queries
// for the highlighter.
func queryTerms(q any) map[string]bool {
	out := map[string]bool{}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				switch {
				case key == "match":
					t, _, _ := matchSpec(c)
					for _, w := range tokens(t) {
						out[w] = true
					}
				case k == "multi_match":
					if m, ok := c.(map[string]any); ok {
						for _, w := range tokens(fmt.Sprint(m["query"])) {
							out[w] = true
						}
					}
				default:
					walk(c, k)
				}
			}
		case []any:
			for _, c := range x {
				walk(c, key)
			}
		}
	}
	walk(q, "")
	return out
}

func highlight(ix *index, src map[string]any, spec map[string]any, terms map[string]bool) map[string]any {
	if spec == nil || len(terms) == 0 {
		return nil
	}
	pre, post := "<em>", "</em>"
	if p := toStrings(spec["pre_tags"]); len(p) > 0 {
		pre = p[0]
	}
	if p := toStrings(spec["post_tags"]); len(p) > 0 {
		post = p[0]
	}
	fields, _ := spec["fields"].(map[string]any)
	out := map[string]any{}
	for f, fs := range fields {
		size, frags := 100, 5
		if m, ok := fs.(map[string]any); ok {
			if v, ok := m["fragment_size"].(float64); ok {
				size = int(v)
			}
			if v, ok := m["number_of_fragments"].(float64); ok {
				frags = int(v)
			}
		}
		ev := &evaluator{ix: ix, stats: ix}
		var got []any
		for _, v := range ev.values(f, scope{root: src}) {
			if s, ok := v.(string); ok {
				if frag := fragment(s, terms, size, frags == 0, pre, post); frag != "" {
					got = append(got, frag)
				}
			}
		}
		if len(got) > 0 {
			out[f] = got
		}
	}
	return out
}

// fragment returns a window of text around the first matching word, with
// every matching word wrapped in tags; whole returns all of the text.
func fragment(text string, terms map[string]bool, size int, whole bool, pre, post string) string {
	type span struct{ start, end int }
	var spans []span
	start := -1
	rs := []rune(text)
	for i := 0; i <= len(rs); i++ {
		word := i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i]))
		if word && start < 0 {
			start = i
		}
		if !word && start >= 0 {
			if terms[strings.ToLower(string(rs[start:i]))] {
				spans = append(spans, span{start, i})
			}
			start = -1
		}
	}
	if len(spans) == 0 {
		return ""
	}
	from, to := 0, len(rs)
	if !whole && len(rs) > size {
		from = max(0, spans[0].start-size/4)
		for from > 0 && !unicode.IsSpace(rs[from-1]) {
			from--
		}
		to = min(len(rs), from+size)
	}
	var b strings.Builder
	pos := from
	for _, sp := range spans {
		if sp.start < from || sp.end > to {
			continue
		}
		b.WriteString(string(rs[pos:sp.start]))
		b.WriteString(pre + string(rs[sp.start:sp.end]) + post)
		pos = sp.end
	}
	b.WriteString(string(rs[pos:to]))
	return b.String()
}

// ---- sort and _source ----

type sortKey struct {
	field string
	desc  bool
	typ   string
}

func parseSort(v any) ([]sortKey, *osError) {
	if v == nil {
		return []sortKey{{field: "_score", desc: true}}, nil
	}
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	default:
		items = []any{x}
	}
	var out []sortKey
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, sortKey{field: x, desc: x == "_score"})
		case map[string]any:
			for f, spec := range x {
				k := sortKey{field: f, desc: f == "_score"}
				switch s := spec.(type) {
				case string:
					k.desc = s == "desc"
				case map[string]any:
					if o, ok := s["order"].(string); ok {
						k.desc = o == "desc"
					}
					k.typ, _ = s["unmapped_type"].(string)
				}
				out = append(out, k)
			}
		default:
			return nil, parsingErr("[sort] malformed")
		}
	}
	return out, nil
}

func sortsOnScore(keys []sortKey) bool {
	for _, k := range keys {
		if k.field == "_score" {
			return true
		}
	}
	return false
}

// sortValues computes h's sort values; evs holds one evaluator per index,
// reused across the hits of a request.
func sortValues(keys []sortKey, h *hit, evs map[*index]*evaluator) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		switch k.field {
		case "_score":
			out[i] = h.score
		case "_doc":
			out[i] = h.doc.seqNo
		default:
			ev := evs[h.ix]
			if ev == nil {
				ev = &evaluator{ix: h.ix, stats: h.ix}
				evs[h.ix] = ev
			}
			def, _, _ := ev.lookup(k.field)
			vals := ev.values(k.field, scope{id: h.id, root: h.doc.source})
			var best any
			for _, v := range vals {
				sv := sortable(def, v)
				if best == nil || (compareValues(sv, best) < 0) != k.desc {
					best = sv
				}
			}
			out[i] = best
		}
	}
	return out
}

func sortable(def map[string]any, v any) any {
	if def == nil {
		return scalar(v)
	}
	switch fieldType(def) {
	case "date":
		ms, _ := parseDate(v)
		return ms
	case "long", "integer", "short", "byte":
		f, _ := strconv.ParseFloat(scalar(v), 64)
		return int64(f)
	case "double", "float", "half_float", "scaled_float":
		f, _ := strconv.ParseFloat(scalar(v), 64)
		return f
	}
	return scalar(v)
}

func normalizeAfter(keys []sortKey, after []any) []any {
	out := make([]any, len(after))
	for i, v := range after {
		if f, ok := v.(float64); ok && keys[i].field != "_score" && f == math.Trunc(f) {
			out[i] = int64(f)
			continue
		}
		out[i] = v
	}
	return out
}

func compareValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return 1
		}
		return -1
	}
	af, aNum := num(a)
	bf, bNum := num(b)
	if aNum && bNum {
		return cmpOrdered(af, bf)
	}
	return strings.Compare(scalar(a), scalar(b))
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

func compareSort(keys []sortKey, a, b []any) int {
	for i, k := range keys {
		c := compareValues(a[i], b[i])
		if a[i] == nil || b[i] == nil {
			if c != 0 {
				return c // missing values sort last either way
			}
			continue
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// filterSource applies a _source spec: nil or true (all), false (none), a
// string or list (includes), or {includes, excludes}; patterns may use *.
func filterSource(src map[string]any, spec any) (map[string]any, bool) {
	var inc, exc []string
	switch x := spec.(type) {
	case nil:
		return src, true
	case bool:
		return src, x
	case string, []any:
		inc = toStrings(x)
	case map[string]any:
		inc = toStrings(orDefault(x["includes"], x["include"]))
		exc = toStrings(orDefault(x["excludes"], x["exclude"]))
	}
	return filterObj(src, "", inc, exc), true
}

func filterObj(obj map[string]any, prefix string, inc, exc []string) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		p := prefix + k
		if matchesAny(exc, p) {
			continue
		}
		if len(inc) == 0 || matchesAny(inc, p) {
			if m, ok := v.(map[string]any); ok && len(exc) > 0 {
				out[k] = filterObj(m, p+".", nil, exc)
				continue
			}
			out[k] = v
			continue
		}
		if m, ok := v.(map[string]any); ok && hasPrefixPattern(inc, p+".") {
			if sub := filterObj(m, p+".", inc, exc); len(sub) > 0 {
				out[k] = sub
			}
		}
	}
	return out
}

func matchesAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if p == path || (strings.Contains(p, "*") && globMatch(p, path)) {
			return true
		}
	}
	return false
}

func hasPrefixPattern(patterns []string, prefix string) bool {
	for _, p := range patterns {
		if strings.HasPrefix(p, prefix) || strings.HasPrefix(prefix, strings.TrimSuffix(p, "*")) && strings.HasSuffix(p, "*") {
			return true
		}
	}
	return false
}
