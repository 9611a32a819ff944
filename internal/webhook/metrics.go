package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics on the manager's metrics endpoint (controller-runtime's registry).
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confluence_operator_webhook_requests_total",
		Help: "Webhook requests by data source (empty for an unknown URL), result (accepted or rejected) and reason: " +
			"the event name when accepted; method, unknown, oversized, unsigned, forged, replayed, stale, malformed or read-error when rejected. " +
			"Rejected requests start nothing.",
	}, []string{"namespace", "name", "result", "reason"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal)
}

// accepted counts a verified event; unknown event names are counted as "other".
func accepted(key types.NamespacedName, ev Event) {
	reason := ev.Name
	if !relevant(reason) && !ignoredEvents[reason] && !incrementalEvents[reason] {
		reason = "other"
	}
	requestsTotal.WithLabelValues(key.Namespace, key.Name, "accepted", reason).Inc()
}

// rejected counts a refused request.
func rejected(key types.NamespacedName, reason string) {
	requestsTotal.WithLabelValues(key.Namespace, key.Name, "rejected", reason).Inc()
}

// forget drops the series of a data source that is no longer served.
func forget(key types.NamespacedName) {
	requestsTotal.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
}

// Count returns the value of the request counter, for tests.
func Count(key types.NamespacedName, result, reason string) float64 {
	c, err := requestsTotal.GetMetricWithLabelValues(key.Namespace, key.Name, result, reason)
	if err != nil {
		return 0
	}
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
