package crawl

import (
	"context"
	"fmt"
	"net/url"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/extract"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// passageSettings is spec.passages resolved for one run; nil when off.
type passageSettings struct {
	split    extract.SplitOptions
	pipeline string
	vector   *opensearch.VectorField
}

func newPassageSettings(spec v1.PassagesSpec) *passageSettings {
	if !enabled(spec.Enabled, false) {
		return nil
	}
	p := &passageSettings{
		split:    extract.SplitOptions{TargetBytes: extract.DefaultPassageBytes, OverlapBytes: extract.DefaultOverlapBytes},
		pipeline: spec.IngestPipeline,
	}
	if spec.TargetBytes != nil {
		p.split.TargetBytes = int(*spec.TargetBytes)
	}
	if spec.OverlapBytes != nil {
		p.split.OverlapBytes = int(*spec.OverlapBytes)
	}
	if e := spec.Embedding; e != nil {
		p.vector = &opensearch.VectorField{Name: e.Field, Dimension: int(e.Dimension)}
	}
	return p
}

// hashSalt is what, besides a document's own content, decides what is
// written for it: the ingest pipelines and how passages are made. It enters
// every content hash, so changing any of it (or turning passages on or off)
// rewrites every document, with its passages, at the next sync.
func hashSalt(spec v1.ConfluenceDataSourceSpec, p *passageSettings) string {
	if p == nil && spec.OpenSearch.IngestPipeline == "" {
		return ""
	}
	s := "pipeline=" + spec.OpenSearch.IngestPipeline
	if p != nil {
		s += fmt.Sprintf(";passages=%d/%d/%s/%v", p.split.TargetBytes, p.split.OverlapBytes, p.pipeline, p.vector)
	}
	return s
}

// salted returns a content hash with the run's hash salt.
func (r *run) salted(contentHash string) string {
	if r.hashSalt == "" || contentHash == "" {
		return contentHash
	}
	return hashOf(contentHash, r.hashSalt)
}

// withPassages sets d's passages from its text t, when passages are on.
// Pages and blog posts link each passage to its section's heading anchor.
func (r *run) withPassages(d *opensearch.Document, t extract.Text) {
	if r.passages == nil {
		return
	}
	chunks := extract.Split(t, r.passages.split)
	d.Passages = make([]opensearch.Passage, 0, len(chunks))
	anchors := d.Type == opensearch.TypePage || d.Type == opensearch.TypeBlogPost
	for _, c := range chunks {
		u := d.URL
		if h := c.Anchor; h != "" && u != "" && anchors {
			u += "#" + (&url.URL{Fragment: extract.HeadingAnchor(d.Title, h)}).EscapedFragment()
		}
		d.Passages = append(d.Passages, opensearch.Passage{Text: c.Text, HeadingPath: c.HeadingPath, URL: u})
	}
}

// preparePassages creates or upgrades the passages index and checks the
// ingest pipelines exist; with passages off, it deletes this data source's
// passages, which no sync would keep in step with their documents any more.
func (r *run) preparePassages(ctx context.Context) error {
	for _, p := range []string{r.Spec.OpenSearch.IngestPipeline, r.passagesPipeline()} {
		if p == "" {
			continue
		}
		ok, err := r.OpenSearch.IngestPipelineExists(ctx, p)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("ingest pipeline %q does not exist in OpenSearch: create it (PUT _ingest/pipeline/%s) or remove it from the spec", p, p)
		}
	}
	if r.passages == nil {
		if n, err := r.OpenSearch.DeleteDatasourcePassages(ctx, r.alias, r.DataSource); err != nil {
			return fmt.Errorf("deleting passages (spec.passages is off): %w", err)
		} else if n > 0 {
			r.log.Info("spec.passages is off: deleted this data source's passages", "passages", n)
		}
		return nil
	}
	extra := map[string]string{}
	for _, m := range r.Spec.FieldMappings {
		extra[m.To] = "keyword"
	}
	_, err := r.OpenSearch.EnsurePassageIndex(ctx, opensearch.IndexConfig{Alias: r.alias, Language: r.Spec.Language, ExtraFields: extra,
		Datasource: r.DataSource, Vector: r.passages.vector})
	if err != nil {
		return fmt.Errorf("preparing passages index %q: %w", opensearch.PassageAlias(r.alias), err)
	}
	return nil
}

func (r *run) passagesPipeline() string {
	if r.passages == nil {
		return ""
	}
	return r.passages.pipeline
}
