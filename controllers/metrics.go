package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// Metrics on the manager's metrics endpoint (controller-runtime's registry).
var (
	syncsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confluence_operator_syncs_total",
		Help: "Finished sync runs by data source and result (Succeeded or Failed).",
	}, []string{"namespace", "name", "result"})
	syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "confluence_operator_sync_duration_seconds",
		Help: "Duration of finished sync runs.",
		// 10 s to about 11 h.
		Buckets: prometheus.ExponentialBuckets(10, 2, 13),
	}, []string{"namespace", "name"})
	documents = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "confluence_operator_documents",
		Help: "Documents of the data source in the index after its last successful sync.",
	}, []string{"namespace", "name"})
	webhookLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "confluence_operator_webhook_to_indexed_seconds",
		Help: "From receiving a webhook event to the successful end of the sync Job it started (the document is searchable by then).",
		// 0.5 s to about 17 min.
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
	}, []string{"namespace", "name"})
	lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "confluence_operator_last_success_timestamp_seconds",
		Help: "Unix time of the data source's last successful sync.",
	}, []string{"namespace", "name"})
)

func init() {
	metrics.Registry.MustRegister(syncsTotal, syncDuration, documents, lastSuccess, webhookLatency)
}

// recordSyncFinished counts a finished sync run.
func recordSyncFinished(obj *v1alpha1.ConfluenceDataSource, out syncOutcome) {
	syncsTotal.WithLabelValues(obj.Namespace, obj.Name, string(out.result())).Inc()
	if out.Duration > 0 {
		syncDuration.WithLabelValues(obj.Namespace, obj.Name).Observe(out.Duration.Seconds())
	}
}

// recordStatusGauges sets the gauges from status, so they are right after a
// manager restart too.
func recordStatusGauges(obj *v1alpha1.ConfluenceDataSource) {
	if obj.Status.LastSuccessfulSyncTime == nil {
		return
	}
	documents.WithLabelValues(obj.Namespace, obj.Name).Set(float64(obj.Status.DocumentCount))
	lastSuccess.WithLabelValues(obj.Namespace, obj.Name).Set(float64(obj.Status.LastSuccessfulSyncTime.Truncate(time.Second).Unix()))
}

// forgetMetrics drops the series of a deleted data source.
func forgetMetrics(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{syncsTotal, syncDuration, documents, lastSuccess, webhookLatency} {
		v.DeletePartialMatch(labels)
	}
	forgetPollMetrics(labels)
}
