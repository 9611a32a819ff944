package v1alpha1

// Opt-in annotations on a Secret. A data source can make the operator use a
// Secret (grant its crawler read access, send its keys somewhere) only if the
// Secret says it was meant for that data source and for those destinations;
// the controller checks both before it creates any Role or Job.
const (
	// AllowedDataSourcesAnnotation lists, comma-separated, the names of the
	// ConfluenceDataSources in the Secret's namespace that may use it; "*"
	// allows every data source of the namespace.
	AllowedDataSourcesAnnotation = "sources.confluence-operator.dev/allowed-datasources"
	// AllowedHostsAnnotation lists, comma-separated, the hosts ("host" for
	// any port, "host:port", or "*.domain") that a credentials Secret's keys,
	// and the data read with them, may be sent to. Required on the Secrets of
	// spec.confluence.auth, spec.confluence.proxy and spec.opensearch.auth;
	// CA Secrets hold no credentials and need only AllowedDataSourcesAnnotation.
	AllowedHostsAnnotation = "sources.confluence-operator.dev/allowed-hosts"
)

// Stalled reasons of the tenancy gates.
const (
	// ReasonSecretNotAllowed: a referenced Secret does not opt in to this
	// data source (AllowedDataSourcesAnnotation) or to a host the data source
	// would send it to (AllowedHostsAnnotation).
	ReasonSecretNotAllowed = "SecretNotAllowed"
	// ReasonImageNotAllowed: spec.crawler.image is not on the manager's
	// allow-list (--allowed-crawler-images).
	ReasonImageNotAllowed = "ImageNotAllowed"
)
