package opensearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// SchemaVersion is the version of the document mapping. Incompatible changes
// bump it; EnsureIndex then migrates the alias to a new backing index.
const SchemaVersion = 1

// Document types.
const (
	TypePage       = "page"
	TypeBlogPost   = "blogpost"
	TypeComment    = "comment"
	TypeAttachment = "attachment"
)

// Document is one indexed Confluence object. The crawler fills it; Fields
// holds extra fields from spec.fieldMappings, stored at the top level.
type Document struct {
	// ID is the stable _id (see DocumentID); it is also stored as doc_id.
	ID          string     `json:"doc_id"`
	ContentID   string     `json:"id"`
	Type        string     `json:"type"`
	Datasource  string     `json:"datasource"`
	SpaceKey    string     `json:"space_key,omitempty"`
	SpaceName   string     `json:"space_name,omitempty"`
	URL         string     `json:"url,omitempty"`
	Title       string     `json:"title"`
	Body        string     `json:"body,omitempty"`
	Author      string     `json:"author,omitempty"`
	AuthorName  string     `json:"author_name,omitempty"`
	Labels      []string   `json:"labels,omitempty"`
	Version     int64      `json:"version,omitempty"`
	ParentID    string     `json:"parent_id,omitempty"`
	ContainerID string     `json:"container_id,omitempty"`
	Ancestors   []string   `json:"ancestors,omitempty"`
	MediaType   string     `json:"media_type,omitempty"`
	Size        int64      `json:"size,omitempty"`
	Created     *time.Time `json:"created,omitempty"`
	Updated     *time.Time `json:"updated,omitempty"`
	ContentHash string     `json:"content_hash,omitempty"`
	// ACLHash is filled from ACL when empty.
	ACLHash string  `json:"acl_hash"`
	ACL     acl.ACL `json:"acl"`
	// IndexedAt is when the document was written; the sink sets it. A full
	// crawl keeps documents written after it started (see DocRef.IndexedAt).
	IndexedAt *time.Time `json:"indexed_at,omitempty"`
	// Fields are extra top-level fields; their names must not clash with the
	// fields above.
	Fields map[string]any `json:"-"`
	// Passages are the document's retrieval passages, written to the
	// passages index with it (see SinkConfig.PassageAlias).
	Passages []Passage `json:"-"`
}

// reserved are the top-level field names the mapping owns.
var reserved = map[string]bool{
	"doc_id": true, "id": true, "type": true, "datasource": true, "space_key": true, "space_name": true,
	"url": true, "title": true, "body": true, "author": true, "author_name": true, "labels": true,
	"version": true, "parent_id": true, "container_id": true, "ancestors": true, "media_type": true,
	"size": true, "created": true, "updated": true, "content_hash": true, "acl_hash": true, "acl": true,
	"indexed_at": true, "passage_count": true,
	// Passage fields (see Passage).
	"document_id": true, "document_url": true, "heading_path": true, "passage": true,
}

// IsReservedField reports whether name is a field the index mapping owns and
// a field mapping must not target.
func IsReservedField(name string) bool { return reserved[name] }

// MarshalJSON renders the document with its ACL normalized, its ACL hash
// filled in, and Fields merged at the top level.
func (d Document) MarshalJSON() ([]byte, error) { return d.encode() }

// encode is MarshalJSON without encoding/json's re-validation of a
// Marshaler's output.
func (d Document) encode() ([]byte, error) { return d.encodeWith(nil) }

// encodeWith encodes d with extra top-level fields (the passage fields).
// The output is what encoding/json makes of the struct (field order,
// omitempty, HTML-safe string escaping) with Fields and extra appended in
// key order; it is written by hand because the sink encodes every document
// it writes and reflection dominated that cost (see encodeReflect, which
// the tests compare it with).
func (d Document) encodeWith(extra map[string]any) ([]byte, error) {
	normalized := d.ACL.Normalize()
	aclHash := d.ACLHash
	if aclHash == "" && len(d.ACL) > 0 {
		aclHash = d.ACL.Hash()
	}
	// Room for the body with some escapes and the other fields: growing a
	// body-sized buffer would copy it.
	b := make([]byte, 0, 1024+len(d.Body)+len(d.Body)/8+len(d.Title))
	b = append(b, `{"doc_id":`...)
	b = appendJSONString(b, d.ID)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, d.ContentID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, d.Type)
	b = append(b, `,"datasource":`...)
	b = appendJSONString(b, d.Datasource)
	b = appendOmitEmpty(b, `,"space_key":`, d.SpaceKey)
	b = appendOmitEmpty(b, `,"space_name":`, d.SpaceName)
	b = appendOmitEmpty(b, `,"url":`, d.URL)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, d.Title)
	b = appendOmitEmpty(b, `,"body":`, d.Body)
	b = appendOmitEmpty(b, `,"author":`, d.Author)
	b = appendOmitEmpty(b, `,"author_name":`, d.AuthorName)
	if len(d.Labels) > 0 {
		b = appendJSONStrings(append(b, `,"labels":`...), d.Labels)
	}
	if d.Version != 0 {
		b = strconv.AppendInt(append(b, `,"version":`...), d.Version, 10)
	}
	b = appendOmitEmpty(b, `,"parent_id":`, d.ParentID)
	b = appendOmitEmpty(b, `,"container_id":`, d.ContainerID)
	if len(d.Ancestors) > 0 {
		b = appendJSONStrings(append(b, `,"ancestors":`...), d.Ancestors)
	}
	b = appendOmitEmpty(b, `,"media_type":`, d.MediaType)
	if d.Size != 0 {
		b = strconv.AppendInt(append(b, `,"size":`...), d.Size, 10)
	}
	var ok bool
	if b, ok = appendTime(b, `,"created":`, d.Created); !ok {
		return d.encodeReflect(extra)
	}
	if b, ok = appendTime(b, `,"updated":`, d.Updated); !ok {
		return d.encodeReflect(extra)
	}
	b = appendOmitEmpty(b, `,"content_hash":`, d.ContentHash)
	b = append(b, `,"acl_hash":`...)
	b = appendJSONString(b, aclHash)
	b = append(b, `,"acl":[`...)
	for i, c := range normalized {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"level":`...)
		b = appendJSONString(b, string(c.Level))
		b = append(b, `,"principals":`...)
		b = appendJSONStrings(b, c.Principals)
		b = append(b, '}')
	}
	b = append(b, ']')
	if b, ok = appendTime(b, `,"indexed_at":`, d.IndexedAt); !ok {
		return d.encodeReflect(extra)
	}
	if len(d.Fields)+len(extra) == 0 {
		return append(b, '}'), nil
	}
	for k := range d.Fields {
		if reserved[k] {
			return nil, fmt.Errorf("field %q clashes with a reserved index field", k)
		}
	}
	keys := make([]string, 0, len(d.Fields)+len(extra))
	for k := range d.Fields {
		if _, dup := extra[k]; !dup {
			keys = append(keys, k)
		}
	}
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, inExtra := extra[k]
		if !inExtra {
			v = d.Fields[k]
		}
		b = appendJSONString(append(b, ','), k)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, v); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

// encodeReflect is encodeWith through encoding/json: the reference the
// tests compare encodeWith with, and its fallback for the rare values it
// leaves to encoding/json (a time it cannot format).
func (d Document) encodeReflect(extra map[string]any) ([]byte, error) {
	type plain Document
	p := plain(d)
	p.ACL = d.ACL.Normalize()
	if p.ACLHash == "" && len(d.ACL) > 0 {
		p.ACLHash = d.ACL.Hash()
	}
	b, err := json.Marshal(p)
	if err != nil || len(d.Fields)+len(extra) == 0 {
		return b, err
	}
	fields := make(map[string]any, len(d.Fields)+len(extra))
	for k, v := range d.Fields {
		if reserved[k] {
			return nil, fmt.Errorf("field %q clashes with a reserved index field", k)
		}
		fields[k] = v
	}
	for k, v := range extra {
		fields[k] = v
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		v, err := json.Marshal(fields[k])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// DocumentID returns the stable _id of a Confluence object: unique across
// data sources sharing an index, readable, and safe in URLs. datasource is
// "namespace/name".
func DocumentID(datasource, typ, contentID string) string {
	return DatasourceKey(datasource) + ":" + typ + ":" + contentID
}

// DatasourceKey renders "namespace/name" as "namespace:name".
func DatasourceKey(datasource string) string { return strings.ReplaceAll(datasource, "/", ":") }

// IndexConfig describes the index of one alias.
type IndexConfig struct {
	// Alias is the name searches and writes use (spec.opensearch.index).
	Alias string
	// Language is a language code (en, de, fr, ja, …) or an OpenSearch
	// analyzer name; it selects the analyzer of title and body.
	Language string
	// ExtraFields maps extra field names (field mapping targets) to an
	// OpenSearch type; an empty type means keyword. Unlisted extra string
	// fields are mapped dynamically as keyword.
	ExtraFields map[string]string
	// Shards and Replicas set the backing index's settings when non-zero.
	Shards   int
	Replicas *int
	// Datasource, if set, is the data source asking. EnsureIndex then
	// refuses (ErrIndexConflict) to move the alias to another backing index
	// while the current one holds documents of other data sources: they
	// share the alias with another language, and migrating would delete
	// the index they are writing to.
	Datasource string
	// Vector, for a passages index, maps a knn_vector field for embeddings
	// an ingest pipeline writes (see EnsurePassageIndex).
	Vector *VectorField
	// passages selects the passages index of Alias (EnsurePassageIndex).
	passages bool
}

// VectorField is a knn_vector field of the passages index.
type VectorField struct {
	Name      string
	Dimension int
}

// ErrIndexConflict: data sources sharing an alias disagree on its index
// (language or schema version).
var ErrIndexConflict = errors.New("opensearch: index conflict")

// languageAnalyzers maps language codes to OpenSearch's built-in analyzers.
// Chinese, Japanese and Korean use cjk (kuromoji, nori and smartcn are
// plugins); languages without a built-in analyzer fall back to standard.
var languageAnalyzers = map[string]string{
	"ar": "arabic", "hy": "armenian", "eu": "basque", "bn": "bengali", "pt-br": "brazilian",
	"bg": "bulgarian", "ca": "catalan", "zh": "cjk", "ja": "cjk", "ko": "cjk", "cs": "czech",
	"da": "danish", "nl": "dutch", "en": "english", "et": "estonian", "fi": "finnish",
	"fr": "french", "gl": "galician", "de": "german", "el": "greek", "hi": "hindi",
	"hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lv": "latvian",
	"lt": "lithuanian", "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "fa": "persian",
	"pt": "portuguese", "ro": "romanian", "ru": "russian", "ckb": "sorani", "es": "spanish",
	"sv": "swedish", "tr": "turkish", "th": "thai",
}

// Analyzer returns the built-in analyzer for a language code such as "en",
// "de-CH" or "pt-BR", or for an analyzer name itself; "standard" otherwise.
func Analyzer(language string) string {
	l := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(language), "_", "-"))
	if a, ok := languageAnalyzers[l]; ok {
		return a
	}
	for _, a := range languageAnalyzers {
		if a == l {
			return a
		}
	}
	if base, _, ok := strings.Cut(l, "-"); ok {
		if a, ok := languageAnalyzers[base]; ok {
			return a
		}
	}
	return "standard"
}

// TemplateName is the index template owned by this package for an alias.
func TemplateName(alias string) string { return "confluence-operator-" + alias }

// BackingIndex is the concrete index the alias points to for the current
// schema version and analyzer.
func BackingIndex(cfg IndexConfig) string {
	name := fmt.Sprintf("%s-v%d-%s", cfg.Alias, SchemaVersion, Analyzer(cfg.Language))
	if cfg.passages && cfg.Vector != nil {
		// index.knn is fixed at creation: adding vectors needs a new index.
		name += fmt.Sprintf("-knn%d", cfg.Vector.Dimension)
	}
	return name
}

// IdentityIndex is the identity index of an alias.
func IdentityIndex(alias string) string { return alias + "-identities" }

// StateIndex holds the per-data-source checkpoints of an alias.
func StateIndex(alias string) string { return alias + "-state" }

func keyword() map[string]any { return map[string]any{"type": "keyword"} }

// Mappings returns the document mapping for cfg.
func Mappings(cfg IndexConfig) map[string]any {
	an := Analyzer(cfg.Language)
	text := func() map[string]any { return map[string]any{"type": "text", "analyzer": an} }
	title := text()
	title["fields"] = map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 512}}
	props := map[string]any{
		"doc_id": keyword(), "id": keyword(), "type": keyword(), "datasource": keyword(),
		"space_key": keyword(), "space_name": keyword(), "url": keyword(), "author": keyword(),
		"author_name": keyword(), "labels": keyword(), "version": map[string]any{"type": "long"},
		"parent_id": keyword(), "container_id": keyword(), "ancestors": keyword(), "media_type": keyword(),
		"size": map[string]any{"type": "long"}, "content_hash": keyword(), "acl_hash": keyword(),
		"created": map[string]any{"type": "date"}, "updated": map[string]any{"type": "date"},
		"indexed_at": map[string]any{"type": "date"},
		"title":      title, "body": text(),
		"acl": map[string]any{"type": "nested", "properties": map[string]any{
			"level": keyword(), "principals": keyword(),
		}},
	}
	if !cfg.passages {
		// How many passages the document has (see Sink): the sink
		// removes stale passages by _id from it.
		props["passage_count"] = map[string]any{"type": "integer"}
	}
	if cfg.passages {
		headings := text()
		headings["fields"] = map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 512}}
		props["document_id"], props["document_url"] = keyword(), keyword()
		props["heading_path"], props["passage"] = headings, map[string]any{"type": "integer"}
		if v := cfg.Vector; v != nil && !reserved[v.Name] {
			props[v.Name] = map[string]any{"type": "knn_vector", "dimension": v.Dimension}
		}
	}
	for name, typ := range cfg.ExtraFields {
		if reserved[name] {
			continue
		}
		if typ == "" {
			typ = "keyword"
		}
		props[name] = map[string]any{"type": typ}
	}
	return map[string]any{
		"dynamic": true,
		"dynamic_templates": []any{
			map[string]any{"extra_strings_as_keyword": map[string]any{
				"match_mapping_type": "string",
				"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
			}},
		},
		"_meta": map[string]any{
			"managed_by":     "confluence-operator",
			"schema_version": SchemaVersion,
			"analyzer":       an,
		},
		"properties": props,
	}
}

func indexTemplate(cfg IndexConfig) map[string]any {
	settings := map[string]any{}
	if cfg.Shards > 0 {
		settings["number_of_shards"] = cfg.Shards
	}
	if cfg.Replicas != nil {
		settings["number_of_replicas"] = *cfg.Replicas
	}
	if cfg.passages && cfg.Vector != nil {
		settings["knn"] = true
	}
	tpl := map[string]any{"mappings": Mappings(cfg)}
	if len(settings) > 0 {
		tpl["settings"] = map[string]any{"index": settings}
	}
	body := map[string]any{
		"index_patterns": []string{cfg.Alias + "-v*"},
		// Longer aliases win over shorter ones whose pattern also matches
		// (alias "a" pattern "a-v*" matches "a-v2-v1-english"), and distinct
		// priorities keep OpenSearch from rejecting overlapping templates.
		"priority": 100 + len(cfg.Alias),
		"version":  SchemaVersion,
		"template": tpl,
	}
	sum := sha256.Sum256(mustJSON(body))
	body["_meta"] = map[string]any{"managed_by": "confluence-operator", "hash": hex.EncodeToString(sum[:8])}
	return body
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// IndexStatus reports what EnsureIndex found and did.
type IndexStatus struct {
	Alias string
	// Index is the backing index the alias points to now.
	Index string
	// TemplateUpdated is true when the template was created or replaced.
	TemplateUpdated bool
	// Created is true when the backing index was created.
	Created bool
	// Migrated is true when the alias was moved from Previous to Index
	// (schema version or language changed); documents were copied with
	// _reindex and re-analyzed.
	Migrated bool
	Previous string
}

// EnsureIndex creates or upgrades, idempotently, the template, the backing
// index and the alias of cfg.Alias, and the identity, state and spaces
// indices.
//
// Additive changes (new extra fields) are applied to the existing index with
// PUT _mapping. A new schema version or analyzer needs a new backing index:
// EnsureIndex creates it, copies the documents with _reindex, moves the alias
// atomically and deletes the old index. Data sources sharing an alias must
// therefore agree on the language, or they will migrate back and forth.
// ErrIndexNotReady: the alias does not point at the index this spec writes
// to yet (no sync ran, or a language change awaits its migration).
var ErrIndexNotReady = errors.New("index not ready")

// CheckIndex verifies, with one read, that the alias already points at the
// backing index cfg writes to. Runs that sync only what changed (change
// polls, targeted syncs) use it instead of EnsureIndex: they run every
// minute, and template and mapping updates are cluster-state writes that
// the next full or incremental sync makes anyway.
func (c *Client) CheckIndex(ctx context.Context, cfg IndexConfig) error {
	current, err := c.aliasTargets(ctx, cfg.Alias)
	if err != nil {
		return err
	}
	if want := BackingIndex(cfg); !slices.Contains(current, want) {
		return fmt.Errorf("%w: alias %q points at %v, not %s; a full or incremental sync creates or migrates it", ErrIndexNotReady, cfg.Alias, current, want)
	}
	return nil
}

func (c *Client) EnsureIndex(ctx context.Context, cfg IndexConfig) (IndexStatus, error) {
	cfg.passages = false
	return c.ensureIndex(ctx, cfg)
}

// EnsurePassageIndex is EnsureIndex for the passages index of cfg.Alias
// (alias PassageAlias(cfg.Alias)): the document mapping plus the passage
// fields and, if cfg.Vector is set, a knn_vector field (index.knn: true).
func (c *Client) EnsurePassageIndex(ctx context.Context, cfg IndexConfig) (IndexStatus, error) {
	cfg.Alias, cfg.passages = PassageAlias(cfg.Alias), true
	return c.ensureIndex(ctx, cfg)
}

func (c *Client) ensureIndex(ctx context.Context, cfg IndexConfig) (IndexStatus, error) {
	st := IndexStatus{Alias: cfg.Alias, Index: BackingIndex(cfg)}
	if cfg.Alias == "" {
		return st, fmt.Errorf("opensearch: empty index alias")
	}
	current, err := c.aliasTargets(ctx, cfg.Alias)
	if err != nil {
		return st, err
	}
	if len(current) > 0 && !slices.Contains(current, st.Index) && cfg.Datasource != "" {
		if err := c.checkNoOtherWriters(ctx, cfg, current); err != nil {
			return st, err
		}
	}
	updated, err := c.ensureTemplate(ctx, cfg)
	if err != nil {
		return st, err
	}
	st.TemplateUpdated = updated

	switch {
	case len(current) == 0:
		if exists, err := c.indexExists(ctx, cfg.Alias); err != nil {
			return st, err
		} else if exists {
			return st, fmt.Errorf("opensearch: %q is a concrete index, not an alias; rename it or choose another index name", cfg.Alias)
		}
		created, err := c.createIndex(ctx, st.Index, nil)
		if err != nil {
			return st, err
		}
		st.Created = created
		if err := c.updateAliases(ctx, []any{map[string]any{"add": map[string]any{"index": st.Index, "alias": cfg.Alias, "is_write_index": true}}}); err != nil {
			return st, err
		}
	case slices.Contains(current, st.Index):
		if err := c.do(ctx, http.MethodPut, "/"+esc(st.Index)+"/_mapping", nil, map[string]any{"properties": Mappings(cfg)["properties"], "_meta": Mappings(cfg)["_meta"]}, nil); err != nil {
			return st, fmt.Errorf("opensearch: update mapping of %s: %w", st.Index, err)
		}
	default:
		if err := c.migrate(ctx, cfg, current, &st); err != nil {
			return st, err
		}
	}
	if cfg.passages {
		return st, nil
	}
	if err := c.ensureAuxIndex(ctx, IdentityIndex(cfg.Alias), identityMappings()); err != nil {
		return st, err
	}
	if err := c.ensureAuxIndex(ctx, StateIndex(cfg.Alias), stateMappings()); err != nil {
		return st, err
	}
	if err := c.ensureAuxIndex(ctx, SpaceIndex(cfg.Alias), spaceMappings()); err != nil {
		return st, err
	}
	return st, nil
}

// checkNoOtherWriters fails with ErrIndexConflict if the alias's current
// backing indices hold documents of data sources other than cfg.Datasource.
func (c *Client) checkNoOtherWriters(ctx context.Context, cfg IndexConfig, current []string) error {
	q := map[string]any{"bool": map[string]any{"must_not": []any{map[string]any{"term": map[string]any{"datasource": cfg.Datasource}}}}}
	var res struct {
		Count int64 `json:"count"`
	}
	if err := c.do(ctx, http.MethodPost, "/"+strings.Join(current, ",")+"/_count", nil, map[string]any{"query": q}, &res); err != nil {
		return fmt.Errorf("opensearch: count other data sources in %s: %w", strings.Join(current, ","), err)
	}
	if res.Count > 0 {
		return fmt.Errorf("%w: alias %q is backed by %s, which holds %d documents of other data sources; this data source asks for %s "+
			"(language %q): give data sources that share an index the same language, or another index name; nothing was changed",
			ErrIndexConflict, cfg.Alias, strings.Join(current, ","), res.Count, BackingIndex(cfg), cfg.Language)
	}
	return nil
}

func (c *Client) ensureTemplate(ctx context.Context, cfg IndexConfig) (bool, error) {
	want := indexTemplate(cfg)
	name := TemplateName(cfg.Alias)
	var got struct {
		IndexTemplates []struct {
			IndexTemplate struct {
				Meta map[string]any `json:"_meta"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	err := c.do(ctx, http.MethodGet, "/_index_template/"+esc(name), nil, nil, &got)
	if err != nil && !IsNotFound(err) {
		return false, fmt.Errorf("opensearch: get template %s: %w", name, err)
	}
	wantHash := want["_meta"].(map[string]any)["hash"]
	if err == nil && len(got.IndexTemplates) == 1 && got.IndexTemplates[0].IndexTemplate.Meta["hash"] == wantHash {
		return false, nil
	}
	if err := c.do(ctx, http.MethodPut, "/_index_template/"+esc(name), nil, want, nil); err != nil {
		return false, fmt.Errorf("opensearch: put template %s: %w", name, err)
	}
	return true, nil
}

// aliasTargets returns the indices an alias points to, sorted.
func (c *Client) aliasTargets(ctx context.Context, alias string) ([]string, error) {
	var got map[string]json.RawMessage
	err := c.do(ctx, http.MethodGet, "/_alias/"+esc(alias), nil, nil, &got)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opensearch: get alias %s: %w", alias, err)
	}
	out := make([]string, 0, len(got))
	for k := range got {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

func (c *Client) indexExists(ctx context.Context, name string) (bool, error) {
	err := c.do(ctx, http.MethodHead, "/"+esc(name), nil, nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// createIndex creates an index, reporting false if it already existed.
func (c *Client) createIndex(ctx context.Context, name string, body any) (bool, error) {
	if body == nil {
		body = map[string]any{}
	}
	err := c.do(ctx, http.MethodPut, "/"+esc(name), nil, body, nil)
	if hasType(err, "resource_already_exists_exception") {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opensearch: create index %s: %w", name, err)
	}
	return true, nil
}

func (c *Client) updateAliases(ctx context.Context, actions []any) error {
	if err := c.do(ctx, http.MethodPost, "/_aliases", nil, map[string]any{"actions": actions}, nil); err != nil {
		return fmt.Errorf("opensearch: update aliases: %w", err)
	}
	return nil
}

func (c *Client) migrate(ctx context.Context, cfg IndexConfig, current []string, st *IndexStatus) error {
	created, err := c.createIndex(ctx, st.Index, nil)
	if err != nil {
		return err
	}
	st.Created = created
	st.Migrated = true
	st.Previous = strings.Join(current, ",")
	var res struct {
		Failures []json.RawMessage `json:"failures"`
	}
	q := url.Values{"refresh": {"true"}, "wait_for_completion": {"true"}}
	body := map[string]any{"source": map[string]any{"index": current}, "dest": map[string]any{"index": st.Index}}
	if err := c.do(ctx, http.MethodPost, "/_reindex", q, body, &res); err != nil {
		return fmt.Errorf("opensearch: reindex %s into %s: %w", st.Previous, st.Index, err)
	}
	if len(res.Failures) > 0 {
		return fmt.Errorf("opensearch: reindex %s into %s: %d failures, first: %s", st.Previous, st.Index, len(res.Failures), res.Failures[0])
	}
	actions := []any{}
	for _, old := range current {
		actions = append(actions, map[string]any{"remove": map[string]any{"index": old, "alias": cfg.Alias}})
	}
	actions = append(actions, map[string]any{"add": map[string]any{"index": st.Index, "alias": cfg.Alias, "is_write_index": true}})
	if err := c.updateAliases(ctx, actions); err != nil {
		return err
	}
	for _, old := range current {
		if err := c.do(ctx, http.MethodDelete, "/"+esc(old), nil, nil, nil); err != nil && !IsNotFound(err) {
			return fmt.Errorf("opensearch: delete old index %s: %w", old, err)
		}
	}
	return nil
}

func (c *Client) ensureAuxIndex(ctx context.Context, name string, mappings map[string]any) error {
	created, err := c.createIndex(ctx, name, map[string]any{"mappings": mappings})
	if err != nil || created {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/"+esc(name)+"/_mapping", nil, mappings, nil); err != nil {
		return fmt.Errorf("opensearch: update mapping of %s: %w", name, err)
	}
	return nil
}

// Refresh makes recent writes to the alias and its auxiliary indices
// visible to search. The crawler does not need it; tests and the CLI do.
func (c *Client) Refresh(ctx context.Context, alias string) error {
	names := alias + "," + IdentityIndex(alias) + "," + StateIndex(alias) + "," + SpaceIndex(alias)
	if err := c.do(ctx, http.MethodPost, "/"+names+"/_refresh", url.Values{"ignore_unavailable": {"true"}}, nil, nil); err != nil {
		return fmt.Errorf("opensearch: refresh %s: %w", alias, err)
	}
	return nil
}
