package fakeopensearch

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }

// mergeMappings returns old updated with upd the way PUT _mapping does:
// new fields are added, existing fields keep their type (a change is an
// illegal_argument_exception), _meta and dynamic_templates are replaced.
func mergeMappings(old, upd map[string]any) (map[string]any, *osError) {
	out := deepCopy(old)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range upd {
		if k == "properties" {
			continue
		}
		out[k] = v
	}
	if p, ok := upd["properties"].(map[string]any); ok {
		cur, _ := out["properties"].(map[string]any)
		merged, oe := mergeProps("", cur, p)
		if oe != nil {
			return nil, oe
		}
		out["properties"] = merged
	}
	return out, nil
}

func fieldType(def map[string]any) string {
	if t, ok := def["type"].(string); ok {
		return t
	}
	return "object"
}

func mergeProps(prefix string, cur, upd map[string]any) (map[string]any, *osError) {
	out := deepCopy(cur)
	if out == nil {
		out = map[string]any{}
	}
	for name, v := range upd {
		nd, ok := v.(map[string]any)
		if !ok {
			return nil, errf(400, "mapper_parsing_exception", "Expected map for property [fields] on field [%s] but got a class java.lang.String", name)
		}
		path := prefix + name
		od, exists := out[name].(map[string]any)
		if !exists {
			if oe := checkType(path, nd); oe != nil {
				return nil, oe
			}
			out[name] = nd
			continue
		}
		if ot, nt := fieldType(od), fieldType(nd); ot != nt {
			return nil, errf(400, "illegal_argument_exception", "mapper [%s] cannot be changed from type [%s] to [%s]", path, ot, nt)
		}
		merged := deepMerge(deepCopy(od), nd)
		if sub, ok := nd["properties"].(map[string]any); ok {
			osub, _ := od["properties"].(map[string]any)
			m, oe := mergeProps(path+".", osub, sub)
			if oe != nil {
				return nil, oe
			}
			merged["properties"] = m
		}
		out[name] = merged
	}
	return out, nil
}

var knownTypes = map[string]bool{
	"text": true, "keyword": true, "match_only_text": true, "wildcard": true, "long": true, "integer": true,
	"short": true, "byte": true, "double": true, "float": true, "half_float": true, "scaled_float": true,
	"date": true, "boolean": true, "object": true, "nested": true, "binary": true, "flat_object": true,
}

func checkType(path string, def map[string]any) *osError {
	t := fieldType(def)
	if !knownTypes[t] {
		return errf(400, "mapper_parsing_exception", "No handler for type [%s] declared on field [%s]", t, path)
	}
	if sub, ok := def["properties"].(map[string]any); ok {
		for name, v := range sub {
			if d, ok := v.(map[string]any); ok {
				if oe := checkType(path+"."+name, d); oe != nil {
					return oe
				}
			}
		}
	}
	return nil
}

// applyMapping validates src against ix's mapping, adding dynamic fields. On
// failure the mapping is left untouched.
func (s *Server) applyMapping(ix *index, id string, src map[string]any) *osError {
	// Validate against the live mapping first; copy it only when the
	// document introduces a field.
	if oe, dynamic := s.walkMapping(ix.mappings, id, src, true); !dynamic {
		return oe
	}
	m := deepCopy(ix.mappings)
	oe, _ := s.walkMapping(m, id, src, false)
	if oe == nil {
		ix.mappings = m
	}
	return oe
}

// walkMapping validates src against m; with readOnly it stops and reports
// true as soon as a dynamic field would be added.
func (s *Server) walkMapping(m map[string]any, id string, src map[string]any, readOnly bool) (*osError, bool) {
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	dyn := fmt.Sprint(orDefault(m["dynamic"], "true"))
	tpls, _ := m["dynamic_templates"].([]any)
	w := mapWalker{id: id, templates: tpls, readOnly: readOnly}
	oe := w.object("", props, src, dyn)
	if w.changed {
		m["properties"] = props
	}
	return oe, w.needsDynamic
}

func orDefault(v, d any) any {
	if v == nil {
		return d
	}
	return v
}

type mapWalker struct {
	id           string
	templates    []any
	changed      bool
	readOnly     bool
	needsDynamic bool
}

var errNeedsDynamic = &osError{status: 500, typ: "internal", reason: "dynamic mapping needed"}

func (w *mapWalker) object(prefix string, props, obj map[string]any, dyn string) *osError {
	for name, v := range obj {
		path := prefix + name
		def, ok := props[name].(map[string]any)
		if !ok {
			if v == nil {
				continue
			}
			switch dyn {
			case "strict":
				return errf(400, "strict_dynamic_mapping_exception", "mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", name, orDefault(strings.TrimSuffix(prefix, "."), "_doc"))
			case "false":
				continue
			}
			if w.readOnly {
				w.needsDynamic = true
				return errNeedsDynamic
			}
			def = w.dynamicDef(path, name, v)
			if def == nil {
				continue
			}
			props[name] = def
			w.changed = true
		}
		if oe := w.value(path, def, v, dyn); oe != nil {
			return oe
		}
	}
	return nil
}

func (w *mapWalker) value(path string, def map[string]any, v any, dyn string) *osError {
	if v == nil {
		return nil
	}
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if oe := w.value(path, def, e, dyn); oe != nil {
				return oe
			}
		}
		return nil
	}
	t := fieldType(def)
	switch t {
	case "object", "nested":
		if en, ok := def["enabled"].(bool); ok && !en {
			return nil
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return errf(400, "mapper_parsing_exception", "object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", path, path[strings.LastIndex(path, ".")+1:])
		}
		sub, _ := def["properties"].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			def["properties"] = sub
		}
		d := dyn
		if x, ok := def["dynamic"]; ok {
			d = fmt.Sprint(x)
		}
		return w.object(path+".", sub, obj, d)
	}
	if _, isObj := v.(map[string]any); isObj && t != "flat_object" {
		return w.parseErr(path, t, v, "illegal_state_exception", fmt.Sprintf("Can't get text on a START_OBJECT at 1:%d", len(path)))
	}
	switch t {
	case "long", "integer", "short", "byte":
		switch x := v.(type) {
		case float64:
			return nil
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return nil
			}
			return w.parseErr(path, t, v, "number_format_exception", fmt.Sprintf("For input string: %q", x))
		default:
			return w.parseErr(path, t, v, "illegal_argument_exception", "Current token (VALUE_TRUE) not numeric, can not use numeric value accessors")
		}
	case "double", "float", "half_float", "scaled_float":
		switch x := v.(type) {
		case float64:
			return nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsInf(f, 0) {
				return nil
			}
			return w.parseErr(path, t, v, "number_format_exception", fmt.Sprintf("For input string: %q", x))
		default:
			return w.parseErr(path, t, v, "illegal_argument_exception", "Current token (VALUE_TRUE) not numeric, can not use numeric value accessors")
		}
	case "date":
		if _, ok := parseDate(v); !ok {
			return w.parseErr(path, t, v, "illegal_argument_exception", fmt.Sprintf("failed to parse date field [%v] with format [strict_date_optional_time||epoch_millis]", v))
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
		case string:
			if x != "true" && x != "false" && x != "" {
				return w.parseErr(path, t, v, "illegal_argument_exception", fmt.Sprintf("Failed to parse value [%s] as only [true] or [false] are allowed.", x))
			}
		default:
			return w.parseErr(path, t, v, "illegal_argument_exception", fmt.Sprintf("Failed to parse value [%v] as only [true] or [false] are allowed.", x))
		}
	}
	return nil
}

func (w *mapWalker) parseErr(path, typ string, v any, causeType, causeReason string) *osError {
	e := errf(400, "mapper_parsing_exception", "failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%v'", path, typ, w.id, preview(v))
	e.extra = map[string]any{"caused_by": map[string]any{"type": causeType, "reason": causeReason}}
	return e
}

func preview(v any) string {
	if m, ok := v.(map[string]any); ok {
		var parts []string
		for k, x := range m {
			parts = append(parts, fmt.Sprintf("%s=%v", k, x))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// detectedType is the JSON type dynamic mapping sees, with date detection.
func detectedType(v any) string {
	switch x := v.(type) {
	case string:
		if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return "date"
		}
		if _, err := time.Parse("2006-01-02", x); err == nil {
			return "date"
		}
		return "string"
	case float64:
		if x == math.Trunc(x) {
			return "long"
		}
		return "double"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		for _, e := range x {
			if e != nil {
				return detectedType(e)
			}
		}
	}
	return ""
}

func (w *mapWalker) dynamicDef(path, name string, v any) map[string]any {
	dt := detectedType(v)
	if dt == "" {
		return nil
	}
	for _, t := range w.templates {
		tm, _ := t.(map[string]any)
		for _, spec := range tm {
			sm, _ := spec.(map[string]any)
			if mmt, ok := sm["match_mapping_type"].(string); ok && mmt != "*" && mmt != dt {
				continue
			}
			if pm, ok := sm["path_match"].(string); ok && !globMatch(pm, path) {
				continue
			}
			if pu, ok := sm["path_unmatch"].(string); ok && globMatch(pu, path) {
				continue
			}
			if mt, ok := sm["match"].(string); ok && !globMatch(mt, name) {
				continue
			}
			if um, ok := sm["unmatch"].(string); ok && globMatch(um, name) {
				continue
			}
			if mapping, ok := sm["mapping"].(map[string]any); ok {
				return deepCopy(mapping)
			}
		}
	}
	switch dt {
	case "string":
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256.0}}}
	case "double":
		return map[string]any{"type": "float"}
	case "object":
		return map[string]any{"properties": map[string]any{}}
	}
	return map[string]any{"type": dt}
}

// parseDate accepts strict_date_optional_time||epoch_millis values and
// returns epoch milliseconds.
func parseDate(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), true
	case int64:
		return x, true
	case string:
		if x == "now" {
			return time.Now().UnixMilli(), true
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UnixMilli(), true
			}
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// lookupDef finds a field's mapping. It returns the definition, the source
// path holding its value (the parent for a multi-field such as
// title.keyword), and the nested paths enclosing it.
func lookupDef(mappings map[string]any, field string) (def map[string]any, srcPath string, nested []string) {
	props, _ := mappings["properties"].(map[string]any)
	segs := strings.Split(field, ".")
	var path []string
	for i := 0; i < len(segs); i++ {
		d, ok := props[segs[i]].(map[string]any)
		if !ok {
			if def != nil {
				if fields, ok := def["fields"].(map[string]any); ok {
					if sub, ok := fields[strings.Join(segs[i:], ".")].(map[string]any); ok {
						return sub, strings.Join(path, "."), nested
					}
				}
			}
			return nil, field, nested
		}
		path = append(path, segs[i])
		def = d
		if fieldType(d) == "nested" && i < len(segs)-1 {
			nested = append(nested, strings.Join(path, "."))
		}
		props, _ = d["properties"].(map[string]any)
	}
	return def, field, nested
}
