package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// specChangeDelay debounces spec edits: a sync for a change to what is
// indexed starts this long after the last such change, so a burst of edits
// (kubectl edit, a GitOps apply of several commits) runs one sync.
const specChangeDelay = 30 * time.Second

// indexedFields are the parts of the spec that decide what ends up in the
// index: where Confluence is and as whom it is read (the crawl account
// decides what it can see), what is crawled and how it is mapped, and where
// it is written. Schedule, suspend, Job overrides, history limits, deletion
// policy, rate limit, proxy and TLS settings change how or when a sync runs,
// not what it indexes.
type indexedFields struct {
	URL             string                       `json:"url"`
	Deployment      v1alpha1.Deployment          `json:"deployment"`
	Auth            v1alpha1.ConfluenceAuth      `json:"auth"`
	Scope           v1alpha1.ScopeSpec           `json:"scope"`
	Filters         v1alpha1.FilterSpec          `json:"filters"`
	IdentityCrawler v1alpha1.IdentityCrawlerSpec `json:"identityCrawler"`
	FieldMappings   []v1alpha1.FieldMapping      `json:"fieldMappings"`
	Language        string                       `json:"language"`
	Endpoints       []string                     `json:"endpoints"`
	Index           string                       `json:"index"`
}

// indexHash fingerprints what a spec indexes (see indexedFields).
func indexHash(spec *v1alpha1.ConfluenceDataSourceSpec) string {
	b, err := json.Marshal(indexedFields{
		URL:             spec.Confluence.URL,
		Deployment:      spec.Confluence.Deployment,
		Auth:            spec.Confluence.Auth,
		Scope:           spec.Scope,
		Filters:         spec.Filters,
		IdentityCrawler: spec.IdentityCrawler,
		FieldMappings:   spec.FieldMappings,
		Language:        spec.Language,
		Endpoints:       spec.OpenSearch.Endpoints,
		Index:           spec.OpenSearch.Index,
	})
	if err != nil {
		panic(fmt.Sprintf("marshaling the indexed fields of a spec: %v", err)) // plain data: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// currentRevision is the object's spec as a revision recorded at now.
func currentRevision(obj *v1alpha1.ConfluenceDataSource, now time.Time) *v1alpha1.SpecRevision {
	return &v1alpha1.SpecRevision{
		Generation: obj.Generation,
		IndexHash:  indexHash(&obj.Spec),
		Time:       ptr.To(metav1.NewTime(now.Truncate(time.Second))),
	}
}

// trackSpec records what the current generation means for the index. A
// generation that indexes what the index already reflects moves
// status.indexedSpec on to it; one that indexes something else than the last
// started sync is pending (status.pendingSpec, timed from its first sighting
// and reset by each further change to what is indexed) until a sync starts.
// A status from before these fields existed adopts the current spec as the
// last started one, so an upgrade starts no sync by itself.
func trackSpec(st *v1alpha1.ConfluenceDataSourceStatus, obj *v1alpha1.ConfluenceDataSource, now time.Time) {
	cur := currentRevision(obj, now)
	if idx := st.IndexedSpec; idx != nil && idx.IndexHash == cur.IndexHash && idx.Generation < cur.Generation {
		st.IndexedSpec = cur
	}
	if st.LastStartedSpec == nil {
		st.PendingSpec = nil
		if !neverSynced(st) {
			st.LastStartedSpec = cur
		}
		return
	}
	switch pending := st.PendingSpec; {
	case st.LastStartedSpec.IndexHash == cur.IndexHash:
		st.PendingSpec = nil
	case pending == nil || pending.IndexHash != cur.IndexHash:
		st.PendingSpec = cur
	case pending.Generation != cur.Generation:
		pending.Generation = cur.Generation
	}
}

// specChangeKey names the Job of the sync that answers a pending spec
// change: the same change always gets the same name, and a change back and
// forth again gets a new one.
func specChangeKey(st *v1alpha1.ConfluenceDataSourceStatus) string {
	if st.PendingSpec == nil || st.LastStartedSpec == nil {
		return ""
	}
	return "g" + shortHash(st.LastStartedSpec.IndexHash+"\n"+st.PendingSpec.IndexHash)
}

// crawledRevision is the spec a finished sync crawled: the generation the
// crawler reports (zero from a crawler that reports none) as the revision the
// Job was started for, or the current one, or, when it is neither, with a
// hash no spec matches (a sync of the current spec is then due). It is nil
// when nothing tells: no report and no record of the start (a Job started
// before these records existed).
func crawledRevision(reported int64, started *v1alpha1.SpecRevision, obj *v1alpha1.ConfluenceDataSource, now time.Time) *v1alpha1.SpecRevision {
	switch {
	case reported == 0 && started == nil:
		return nil
	case started != nil && (reported == 0 || reported == started.Generation):
		rev := *started
		rev.Time = ptr.To(metav1.NewTime(now.Truncate(time.Second)))
		return &rev
	case reported == obj.Generation:
		return currentRevision(obj, now)
	}
	return &v1alpha1.SpecRevision{Generation: reported, Time: ptr.To(metav1.NewTime(now.Truncate(time.Second)))}
}

// indexOutdated is true when the index is known to reflect a spec that
// indexes something else than the current one.
func indexOutdated(st *v1alpha1.ConfluenceDataSourceStatus, obj *v1alpha1.ConfluenceDataSource) bool {
	return st.IndexedSpec != nil && st.IndexedSpec.IndexHash != indexHash(&obj.Spec)
}
