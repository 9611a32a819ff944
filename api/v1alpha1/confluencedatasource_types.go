package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Deployment is the kind of Confluence installation.
// +kubebuilder:validation:Enum=Cloud;DataCenter
type Deployment string

const (
	// DeploymentCloud is Confluence Cloud (https://<site>.atlassian.net/wiki).
	DeploymentCloud Deployment = "Cloud"
	// DeploymentDataCenter is Confluence Data Center or Server.
	DeploymentDataCenter Deployment = "DataCenter"
)

// AuthType is how the crawler authenticates to Confluence.
// +kubebuilder:validation:Enum=Basic;OAuth2;PersonalAccessToken
type AuthType string

const (
	// AuthBasic uses the Secret keys username and password (Cloud: e-mail and API token).
	AuthBasic AuthType = "Basic"
	// AuthOAuth2 uses the Secret keys confluenceAppKey, confluenceAppSecret,
	// confluenceAccessToken and confluenceRefreshToken; rotated refresh tokens
	// are written back to the Secret.
	AuthOAuth2 AuthType = "OAuth2"
	// AuthPersonalAccessToken uses the Secret key patToken (Data Center only).
	AuthPersonalAccessToken AuthType = "PersonalAccessToken"
)

// Secret keys read for each auth type. They follow the Amazon Kendra
// Confluence connector v2, so existing Secrets can be reused.
const (
	SecretKeyUsername     = "username"
	SecretKeyPassword     = "password"
	SecretKeyAppKey       = "confluenceAppKey"
	SecretKeyAppSecret    = "confluenceAppSecret"
	SecretKeyAccessToken  = "confluenceAccessToken"
	SecretKeyRefreshToken = "confluenceRefreshToken"
	SecretKeyPAT          = "patToken"
	SecretKeyAPIKey       = "apiKey"
	SecretKeyCACert       = "ca.crt"
)

// RequiredSecretKeys lists the credential keys an auth type needs.
func RequiredSecretKeys(t AuthType) []string {
	switch t {
	case AuthOAuth2:
		return []string{SecretKeyAppKey, SecretKeyAppSecret, SecretKeyAccessToken, SecretKeyRefreshToken}
	case AuthPersonalAccessToken:
		return []string{SecretKeyPAT}
	default:
		return []string{SecretKeyUsername, SecretKeyPassword}
	}
}

// SyncMode selects how much of Confluence one sync run reads and writes.
// +kubebuilder:validation:Enum=ForcedFullCrawl;FullCrawl;Incremental;ChangePoll;Targeted
type SyncMode string

const (
	// SyncForcedFullCrawl re-indexes every document.
	SyncForcedFullCrawl SyncMode = "ForcedFullCrawl"
	// SyncFullCrawl reads everything, writes only what changed (content or ACL)
	// and deletes what disappeared.
	SyncFullCrawl SyncMode = "FullCrawl"
	// SyncIncremental reads what changed since the last checkpoint, re-checks
	// ACLs and detects deletions from cheap ID listings.
	SyncIncremental SyncMode = "Incremental"
	// SyncChangePoll lists what changed since the checkpointed watermark
	// (minus a safety margin) with one CQL search and syncs only that, as a
	// Targeted run would. The controller starts these every
	// spec.sync.changePollInterval; it is not a scheduled mode.
	SyncChangePoll SyncMode = "ChangePoll"
	// SyncTargeted syncs exactly the targets given to the crawler
	// (--target=<kind>:<id>) and deletes only what Confluence confirms gone.
	// Started by the webhook receiver; it is not a scheduled mode.
	SyncTargeted SyncMode = "Targeted"
)

// MinChangePollInterval is the shortest spec.sync.changePollInterval.
const MinChangePollInterval = 30 * time.Second

// MaxTargets is the most targets one Targeted run takes; more are coalesced
// into one Incremental sync.
const MaxTargets = 200

// DeletionPolicy says what happens to indexed documents when the data source is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes this data source's documents from OpenSearch.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves the documents in place.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// SecretReference names a Secret in the data source's namespace.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ConfluenceAuth selects the auth type and the Secret holding its credentials.
type ConfluenceAuth struct {
	// Type of authentication. PersonalAccessToken works with DataCenter only;
	// OAuth2 with Cloud only (Data Center does not let OAuth 2.0 apps read
	// space permissions or groups).
	// +kubebuilder:default=Basic
	// +optional
	Type AuthType `json:"type,omitempty"`

	// SecretRef names the Secret with the credential keys for Type.
	SecretRef SecretReference `json:"secretRef"`

	// OAuth2 overrides Atlassian's OAuth 2.0 endpoints; leave empty for Confluence Cloud.
	// +optional
	OAuth2 *OAuth2Endpoints `json:"oauth2,omitempty"`
}

// OAuth2Endpoints overrides where OAuth 2.0 tokens are refreshed and API calls
// are sent, for example through an egress gateway.
type OAuth2Endpoints struct {
	// TokenURL is the token endpoint; default https://auth.atlassian.com/oauth/token
	// (Cloud) or <url>/rest/oauth2/latest/token (Data Center).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && size(url(self).getHostname()) > 0",message="must be an http(s) URL with a host"
	// +optional
	TokenURL string `json:"tokenURL,omitempty"`
	// APIGatewayURL is the Cloud API gateway; default https://api.atlassian.com.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && size(url(self).getHostname()) > 0",message="must be an http(s) URL with a host"
	// +optional
	APIGatewayURL string `json:"apiGatewayURL,omitempty"`
	// CloudID of the site; discovered from the site when empty.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	CloudID string `json:"cloudID,omitempty"`
}

// ProxySpec configures an HTTP(S) proxy for Confluence requests.
type ProxySpec struct {
	// URL of the proxy, e.g. http://proxy.internal:3128.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && size(url(self).getHostname()) > 0",message="must be an http(s) URL with a host"
	URL string `json:"url"`

	// SecretRef names a Secret with keys username and password for the proxy.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}

// TLSSpec configures trust for a server's certificate.
type TLSSpec struct {
	// CASecretRef names a Secret whose key ca.crt holds PEM certificates to trust.
	// +optional
	CASecretRef *SecretReference `json:"caSecretRef,omitempty"`

	// InsecureSkipVerify disables certificate verification. For tests only.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// ConfluenceSpec says where Confluence is and how to reach it.
// +kubebuilder:validation:XValidation:rule="!(self.deployment == 'Cloud' && has(self.auth.type) && self.auth.type == 'PersonalAccessToken')",message="PersonalAccessToken is only supported with deployment DataCenter",fieldPath=".auth.type",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!(self.deployment == 'DataCenter' && has(self.auth.type) && self.auth.type == 'OAuth2')",message="OAuth2 cannot work with deployment DataCenter: Data Center does not let OAuth 2.0 apps read space permissions or groups; use PersonalAccessToken or Basic",fieldPath=".auth.type",reason=FieldValueForbidden
type ConfluenceSpec struct {
	// URL of the Confluence site: https://<site>.atlassian.net/wiki for Cloud,
	// or the Data Center base URL including any context path.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && size(url(self).getHostname()) > 0",message="must be an http(s) URL with a host"
	URL string `json:"url"`

	// Deployment is Cloud or DataCenter.
	// +kubebuilder:default=Cloud
	// +optional
	Deployment Deployment `json:"deployment,omitempty"`

	// Auth selects the credentials.
	Auth ConfluenceAuth `json:"auth"`

	// Proxy for requests to Confluence.
	// +optional
	Proxy *ProxySpec `json:"proxy,omitempty"`

	// TLS trust for the Confluence server.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// MaxRequestsPerSecond is an optional ceiling on the request rate. Unset
	// (or 0), requests start unthrottled and are paced by what the server
	// says (Retry-After on 429/503, X-RateLimit-* headers); when set, the
	// client never exceeds it, even when the server would allow more.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxRequestsPerSecond int32 `json:"maxRequestsPerSecond,omitempty"`
}

// ScopeSpec selects which kinds of content are indexed.
type ScopeSpec struct {
	// Pages indexes pages.
	// +kubebuilder:default=true
	// +optional
	Pages *bool `json:"pages,omitempty"`
	// PageComments indexes comments on pages.
	// +kubebuilder:default=true
	// +optional
	PageComments *bool `json:"pageComments,omitempty"`
	// PageAttachments indexes attachments of pages.
	// +kubebuilder:default=true
	// +optional
	PageAttachments *bool `json:"pageAttachments,omitempty"`
	// BlogPosts indexes blog posts.
	// +kubebuilder:default=true
	// +optional
	BlogPosts *bool `json:"blogPosts,omitempty"`
	// BlogComments indexes comments on blog posts.
	// +kubebuilder:default=true
	// +optional
	BlogComments *bool `json:"blogComments,omitempty"`
	// BlogAttachments indexes attachments of blog posts.
	// +kubebuilder:default=true
	// +optional
	BlogAttachments *bool `json:"blogAttachments,omitempty"`
	// PersonalSpaces includes personal spaces.
	// +kubebuilder:default=false
	// +optional
	PersonalSpaces *bool `json:"personalSpaces,omitempty"`
	// ArchivedSpaces includes archived spaces.
	// +kubebuilder:default=false
	// +optional
	ArchivedSpaces *bool `json:"archivedSpaces,omitempty"`
	// ArchivedPages includes archived pages.
	// +kubebuilder:default=false
	// +optional
	ArchivedPages *bool `json:"archivedPages,omitempty"`
}

// Regex is a Go RE2 regular expression, checked at admission.
// The rule evaluates the expression, so an invalid one fails with the parser's message.
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="'a'.matches(self) || !'a'.matches(self)",message="must be a valid RE2 regular expression"
type Regex string

// PatternFilter includes and excludes by regular expression. An item must match
// an include pattern (when any is given) and no exclude pattern: exclude wins.
type PatternFilter struct {
	// Include patterns; empty includes everything.
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +optional
	Include []Regex `json:"include,omitempty"`
	// Exclude patterns; they win over Include.
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +optional
	Exclude []Regex `json:"exclude,omitempty"`
}

// TitleFilters filter by title per entity type.
type TitleFilters struct {
	// +optional
	Pages PatternFilter `json:"pages,omitempty"`
	// +optional
	BlogPosts PatternFilter `json:"blogPosts,omitempty"`
	// +optional
	Comments PatternFilter `json:"comments,omitempty"`
	// +optional
	Attachments PatternFilter `json:"attachments,omitempty"`
}

// FilterSpec narrows what is indexed.
type FilterSpec struct {
	// Spaces filters by space key.
	// +optional
	Spaces PatternFilter `json:"spaces,omitempty"`
	// URLs filters by the content's web URL.
	// +optional
	URLs PatternFilter `json:"urls,omitempty"`
	// AttachmentTypes filters attachments by file extension (without the dot).
	// +optional
	AttachmentTypes PatternFilter `json:"attachmentTypes,omitempty"`
	// Titles filters by title per entity type.
	// +optional
	Titles TitleFilters `json:"titles,omitempty"`
	// MaxAttachmentSize skips the text of larger attachments (they are indexed by metadata).
	// +kubebuilder:default="50Mi"
	// +optional
	MaxAttachmentSize *resource.Quantity `json:"maxAttachmentSize,omitempty"`
}

// CronSchedule is a standard five-field cron expression or a predefined
// descriptor such as @hourly; empty means sync only on demand.
// The pattern checks each field's range; the controller parses it again and
// reports what the pattern cannot see (such as a reversed range) as Stalled.
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.matches('^@every ([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || self.matches('^\\\\s*(?i)((\\\\*|[0-5]?[0-9](-[0-5]?[0-9])?)(/[0-9]+)?)(,((\\\\*|[0-5]?[0-9](-[0-5]?[0-9])?)(/[0-9]+)?))*\\\\s+((\\\\*|(1?[0-9]|2[0-3])(-(1?[0-9]|2[0-3]))?)(/[0-9]+)?)(,((\\\\*|(1?[0-9]|2[0-3])(-(1?[0-9]|2[0-3]))?)(/[0-9]+)?))*\\\\s+((\\\\*|\\\\?|([1-9]|[12][0-9]|3[01])(-([1-9]|[12][0-9]|3[01]))?)(/[0-9]+)?)(,((\\\\*|\\\\?|([1-9]|[12][0-9]|3[01])(-([1-9]|[12][0-9]|3[01]))?)(/[0-9]+)?))*\\\\s+((\\\\*|([1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(-([1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))?)(/[0-9]+)?)(,((\\\\*|([1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(-([1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))?)(/[0-9]+)?))*\\\\s+((\\\\*|\\\\?|([0-7]|sun|mon|tue|wed|thu|fri|sat)(-([0-7]|sun|mon|tue|wed|thu|fri|sat))?)(/[0-9]+)?)(,((\\\\*|\\\\?|([0-7]|sun|mon|tue|wed|thu|fri|sat)(-([0-7]|sun|mon|tue|wed|thu|fri|sat))?)(/[0-9]+)?))*\\\\s*$')",message="must be a standard cron expression (minute hour day-of-month month day-of-week) or a descriptor such as @hourly"
type CronSchedule string

// SyncSpec says how and when to sync.
type SyncSpec struct {
	// Mode of scheduled syncs. ChangePoll and Targeted are not scheduled
	// modes: set changePollInterval for polls; targeted syncs are started
	// by the webhook receiver.
	// +kubebuilder:default=FullCrawl
	// +kubebuilder:validation:XValidation:rule="self in ['ForcedFullCrawl', 'FullCrawl', 'Incremental']",message="must be ForcedFullCrawl, FullCrawl or Incremental; for change polls set spec.sync.changePollInterval, targeted syncs are started by the webhook receiver"
	// +optional
	Mode SyncMode `json:"mode,omitempty"`

	// ChangePollInterval, when set, starts a ChangePoll sync this often: one
	// CQL search for content modified since the last poll's watermark (one
	// API call when nothing changed), then a targeted sync of what it found,
	// plus a bounded re-check of restrictions and space permissions, which
	// change no modification date (see the README, "Freshness"). At least 30s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s')",message="must be at least 30s: each poll starts a Job and costs at least one Confluence API call"
	// +optional
	ChangePollInterval *metav1.Duration `json:"changePollInterval,omitempty"`

	// ACLRecheckInterval is how often a change poll re-checks every
	// restriction, space permission and group membership (an Incremental
	// pass: about one call per 200 pages): these changes bump no
	// modification date, so the change search cannot see them. It bounds
	// how long such a change can take to reach search (plus one poll
	// interval and the pass itself). Default 1h; at least 1m.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="must be at least 1m: each re-check reads every listing of the site"
	// +optional
	ACLRecheckInterval *metav1.Duration `json:"aclRecheckInterval,omitempty"`

	// Schedule in cron syntax; empty syncs only on creation and on demand.
	// +optional
	Schedule CronSchedule `json:"schedule,omitempty"`

	// TimeZone of the schedule, an IANA name such as Europe/Berlin; default UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(UTC|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2})$')",message="must be an IANA time zone name such as Europe/Berlin"
	// +optional
	TimeZone string `json:"timeZone,omitempty"`

	// Suspend stops scheduling new syncs; a running sync is not touched.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// MaxDeletionPercent guards against deleting on a doubtful listing (an
	// empty answer while Confluence rebuilds its index, a space the crawl
	// account lost access to): a sync that would delete more than this
	// percentage of the indexed documents of one kind in one space (at least
	// 3 of them) deletes none of those and fails with reason
	// DeletionHeldBack, saying what it held back. Confirm with the
	// annotation sources.confluence-operator.dev/allow-deletions set to the
	// number of documents to let go. 100 disables the guard.
	// +kubebuilder:default=25
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxDeletionPercent *int32 `json:"maxDeletionPercent,omitempty"`
}

// IdentityCrawlerSpec controls the crawl of users and group memberships.
type IdentityCrawlerSpec struct {
	// Enabled crawls users and groups into the identity index for query-time ACL expansion.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// FieldMapping copies a Confluence field into an extra index field.
type FieldMapping struct {
	// From is the source field, e.g. page.labels, page.author, space.name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	From string `json:"from"`
	// To is the index field name; it must not be one of the fields the index owns.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_]*$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['doc_id', 'id', 'type', 'datasource', 'space_key', 'space_name', 'url', 'title', 'body', 'author', 'author_name', 'labels', 'version', 'parent_id', 'container_id', 'ancestors', 'media_type', 'size', 'created', 'updated', 'content_hash', 'acl_hash', 'acl', 'indexed_at'])",message="is a field the index already uses"
	// +kubebuilder:validation:MaxLength=128
	To string `json:"to"`
}

// OpenSearchAuth names the Secret with the OpenSearch credentials.
type OpenSearchAuth struct {
	// SecretRef names a Secret with keys username and password, or apiKey.
	SecretRef SecretReference `json:"secretRef"`
}

// OpenSearchSpec is where documents go.
type OpenSearchSpec struct {
	// Endpoints of the OpenSearch cluster.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.all(e, isURL(e) && url(e).getScheme() in ['http', 'https'] && size(url(e).getHostname()) > 0)",message="every endpoint must be an http(s) URL with a host"
	// +listType=atomic
	Endpoints []string `json:"endpoints"`

	// Index is the alias documents are written to. Several data sources may share it.
	// +kubebuilder:default=confluence
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9_.-]*$`
	// +kubebuilder:validation:MaxLength=200
	// +optional
	Index string `json:"index,omitempty"`

	// Auth credentials; none means an unauthenticated cluster.
	// +optional
	Auth *OpenSearchAuth `json:"auth,omitempty"`

	// TLS trust for OpenSearch.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// IngestPipeline names an ingest pipeline of the cluster that every
	// document is written through (it must exist before the sync). The
	// product calls no embedding service itself: put an ML Commons
	// text_embedding processor, or any other, in this pipeline.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	IngestPipeline string `json:"ingestPipeline,omitempty"`
}

// PassagesSpec splits each document into retrieval passages, for
// retrieval-augmented generation, in the index "<spec.opensearch.index>-passages".
// +kubebuilder:validation:XValidation:rule="!has(self.overlapBytes) || !has(self.targetBytes) || self.overlapBytes * 2 <= self.targetBytes",message="overlapBytes must be at most half of targetBytes"
type PassagesSpec struct {
	// Enabled writes passages. Passages carry their document's ACL and are
	// written, replaced and deleted with it in the same sync. Turning it
	// off deletes this data source's passages at the next sync.
	// +kubebuilder:default=false
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// TargetBytes is the size of text passages are filled up to (1500
	// bytes is about 350 tokens of English). Headings always start a new
	// passage; lists, tables and code are kept together when they fit.
	// +kubebuilder:default=1500
	// +kubebuilder:validation:Minimum=200
	// +kubebuilder:validation:Maximum=20000
	// +optional
	TargetBytes *int32 `json:"targetBytes,omitempty"`

	// OverlapBytes is how much of the end of a passage (whole words)
	// starts the next passage of the same section.
	// +kubebuilder:default=150
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	OverlapBytes *int32 `json:"overlapBytes,omitempty"`

	// IngestPipeline names an ingest pipeline every passage is written
	// through, typically one with a text_embedding processor filling
	// Embedding.Field from the field "body".
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	IngestPipeline string `json:"ingestPipeline,omitempty"`

	// Embedding maps a knn_vector field in the passages index (index.knn
	// is set) for the vectors IngestPipeline writes.
	// +optional
	Embedding *EmbeddingField `json:"embedding,omitempty"`
}

// EmbeddingField is the knn_vector field of the passages index.
type EmbeddingField struct {
	// Field name, e.g. passage_embedding.
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=100
	Field string `json:"field"`

	// Dimension of the model's vectors (384 for all-MiniLM-L6-v2).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16000
	Dimension int32 `json:"dimension"`
}

// CrawlerSpec overrides the sync Job.
type CrawlerSpec struct {
	// Image of the crawler; default is the manager's own image.
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the crawler container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ActiveDeadlineSeconds bounds one sync run.
	// +kubebuilder:default=21600
	// +kubebuilder:validation:Minimum=60
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// BackoffLimit is the number of pod retries of one sync Job.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
}

// WebhookSpec turns on the Data Center webhook receiver for a data source.
type WebhookSpec struct {
	// SecretKey is the key, in the Secret named by
	// spec.confluence.auth.secretRef, that holds the webhook secret entered
	// in Confluence (Administration > General Configuration > Webhooks). The
	// manager reads only this key of that Secret; it must not be one of the
	// Confluence or OpenSearch credential keys.
	// +kubebuilder:default=webhookSecret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['username', 'password', 'confluenceAppKey', 'confluenceAppSecret', 'confluenceAccessToken', 'confluenceRefreshToken', 'patToken', 'apiKey', 'ca.crt'])",message="must not be a credential key: the manager never reads a Confluence or OpenSearch credential"
	// +optional
	SecretKey string `json:"secretKey,omitempty"`
}

// DefaultWebhookSecretKey is the default of spec.webhook.secretKey.
const DefaultWebhookSecretKey = "webhookSecret"

// ConfluenceDataSourceSpec is the desired sync of one Confluence site into OpenSearch.
// +kubebuilder:validation:XValidation:rule="!has(self.webhook) || self.confluence.deployment == 'DataCenter'",message="webhooks are a Data Center feature: Confluence Cloud sends webhooks only to Connect or Forge apps; use spec.sync.changePollInterval",fieldPath=".webhook",reason=FieldValueForbidden
type ConfluenceDataSourceSpec struct {
	// Confluence connection.
	Confluence ConfluenceSpec `json:"confluence"`

	// Scope of content kinds to index.
	// +kubebuilder:default={}
	// +optional
	Scope ScopeSpec `json:"scope,omitempty"`

	// Filters narrow what is indexed.
	// +kubebuilder:default={}
	// +optional
	Filters FilterSpec `json:"filters,omitempty"`

	// Sync mode and schedule.
	// +kubebuilder:default={}
	// +optional
	Sync SyncSpec `json:"sync,omitempty"`

	// IdentityCrawler crawls users and groups.
	// +kubebuilder:default={}
	// +optional
	IdentityCrawler IdentityCrawlerSpec `json:"identityCrawler,omitempty"`

	// FieldMappings copy extra fields into the index.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	FieldMappings []FieldMapping `json:"fieldMappings,omitempty"`

	// Language of the content, selecting the text analyzer (ISO 639-1 code).
	// +kubebuilder:default=en
	// +kubebuilder:validation:Pattern=`^[a-z]{2}$`
	// +optional
	Language string `json:"language,omitempty"`

	// OpenSearch target.
	OpenSearch OpenSearchSpec `json:"opensearch"`

	// Passages for retrieval-augmented generation (off by default).
	// +kubebuilder:default={}
	// +optional
	Passages PassagesSpec `json:"passages,omitempty"`

	// Crawler Job overrides.
	// +kubebuilder:default={}
	// +optional
	Crawler CrawlerSpec `json:"crawler,omitempty"`

	// SuccessfulJobsHistoryLimit keeps this many finished successful Jobs.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`

	// FailedJobsHistoryLimit keeps this many finished failed Jobs.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`

	// DeletionPolicy says whether this source's documents are removed when it is deleted.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Webhook, when set, gives this data source a receiver URL for
	// Confluence Data Center webhooks (shown in status.webhook): each signed
	// event starts a targeted sync of the content it names, batched over a
	// few seconds. Data Center only.
	// +optional
	Webhook *WebhookSpec `json:"webhook,omitempty"`
}

// JobReference names a Job in the data source's namespace.
type JobReference struct {
	Name string `json:"name"`
}

// SyncResult is the outcome of one sync run.
// +kubebuilder:validation:Enum=Succeeded;Failed
type SyncResult string

const (
	SyncSucceeded SyncResult = "Succeeded"
	SyncFailed    SyncResult = "Failed"
)

// SyncReport is the crawler's account of one sync run.
type SyncReport struct {
	// Job that ran the sync.
	// +optional
	Job string `json:"job,omitempty"`
	// Mode the run used.
	// +optional
	Mode SyncMode `json:"mode,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// +optional
	Result SyncResult `json:"result,omitempty"`
	// Complete is true when every listing finished, so deletions were applied.
	// +optional
	Complete bool `json:"complete,omitempty"`
	// +optional
	DocumentsIndexed int64 `json:"documentsIndexed,omitempty"`
	// +optional
	DocumentsUnchanged int64 `json:"documentsUnchanged,omitempty"`
	// +optional
	DocumentsDeleted int64 `json:"documentsDeleted,omitempty"`
	// +optional
	DocumentsFailed int64 `json:"documentsFailed,omitempty"`
	// +optional
	DocumentsSkipped int64 `json:"documentsSkipped,omitempty"`
	// APICalls is the number of Confluence requests made.
	// +optional
	APICalls int64 `json:"apiCalls,omitempty"`
	// Generation is metadata.generation of the spec the run read and
	// crawled; zero when the run ended before it read the spec.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// Reason classifies a failure for the Ready condition, e.g.
	// CredentialsRejected; empty on success.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is a human summary, or the reason of a failure.
	// +optional
	Message string `json:"message,omitempty"`
}

// SyncPhase is the stage a running sync is in.
// +kubebuilder:validation:Enum=Starting;Identities;Listing;Crawling;Deleting;Finishing
type SyncPhase string

const (
	PhaseStarting   SyncPhase = "Starting"
	PhaseIdentities SyncPhase = "Identities"
	PhaseListing    SyncPhase = "Listing"
	PhaseCrawling   SyncPhase = "Crawling"
	PhaseDeleting   SyncPhase = "Deleting"
	PhaseFinishing  SyncPhase = "Finishing"
)

// SyncProgress is reported by a running crawler every few seconds.
type SyncProgress struct {
	// +optional
	Phase SyncPhase `json:"phase,omitempty"`
	// +optional
	SpacesDone int32 `json:"spacesDone,omitempty"`
	// +optional
	SpacesTotal int32 `json:"spacesTotal,omitempty"`
	// +optional
	DocumentsProcessed int64 `json:"documentsProcessed,omitempty"`
	// +optional
	UpdateTime *metav1.Time `json:"updateTime,omitempty"`
}

// ChangesStatus reports the runs that sync only what changed.
type ChangesStatus struct {
	// LastPoll reports the last finished ChangePoll run. Crawler (field
	// manager crawler-poll).
	// +optional
	LastPoll *SyncReport `json:"lastPoll,omitempty"`
	// LastPollChanges is how many changed items the last poll's search found.
	// Crawler (crawler-poll).
	// +optional
	LastPollChanges int64 `json:"lastPollChanges,omitempty"`
	// Watermark: every change made in Confluence before this time was
	// searchable after the last successful poll (content edits; restriction,
	// space permission and group changes within the re-check interval, see
	// the README). Its age is the freshness lag. Crawler (crawler-poll).
	// +optional
	Watermark *metav1.Time `json:"watermark,omitempty"`
	// ActivePollJob is the running ChangePoll Job. Controller.
	// +optional
	ActivePollJob *JobReference `json:"activePollJob,omitempty"`
	// LastPollStartTime is when the controller started the last poll Job.
	// Controller.
	// +optional
	LastPollStartTime *metav1.Time `json:"lastPollStartTime,omitempty"`
	// LastTargeted reports the last finished Targeted run. Crawler (field
	// manager crawler-targeted).
	// +optional
	LastTargeted *SyncReport `json:"lastTargeted,omitempty"`
	// ActiveTargetedJob is the running Targeted Job syncing the targets of
	// webhook events; one runs at a time, beside any other sync. Controller.
	// +optional
	ActiveTargetedJob *JobReference `json:"activeTargetedJob,omitempty"`
	// LastTargetedOutcome is how the last Targeted Job ended, as the
	// controller judged it: from the crawler's report (lastTargeted) when it
	// names the Job, else from the Job itself (a pod that never ran, a
	// deadline). Controller.
	// +optional
	LastTargetedOutcome *JobOutcome `json:"lastTargetedOutcome,omitempty"`
}

// JobOutcome is how a finished Job ended.
type JobOutcome struct {
	// Job is the Job's name.
	Job string `json:"job"`
	// Result is Succeeded or Failed.
	Result SyncResult `json:"result"`
	// Reason classifies a failure, e.g. JobFailed or CredentialsRejected.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what happened.
	// +optional
	Message string `json:"message,omitempty"`
	// Targets is how many targets the Job was given.
	// +optional
	Targets int32 `json:"targets,omitempty"`
	// FinishTime is when the controller saw the Job end.
	// +optional
	FinishTime *metav1.Time `json:"finishTime,omitempty"`
}

// SpecRevision names a generation of the spec by what it indexes.
type SpecRevision struct {
	// Generation is the spec's metadata.generation.
	Generation int64 `json:"generation"`
	// IndexHash fingerprints the fields that decide what is indexed: the
	// Confluence site, deployment and credentials reference, scope, filters,
	// identity crawler, field mappings, language and the OpenSearch target.
	// Generations with equal hashes index the same content; empty when
	// unknown.
	// +optional
	IndexHash string `json:"indexHash,omitempty"`
	// Time the controller recorded this revision.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// ConfluenceDataSourceStatus is the observed state. Each field is written by
// one party: the controller, or the crawler (field manager "crawler",
// server-side apply); the comments say which.
type ConfluenceDataSourceStatus struct {
	// ObservedGeneration is the last generation fully handled or stalled;
	// -1 until the controller first handled the object. Controller.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// Conditions: Ready, Reconciling, Stalled, Syncing, SyncFailed. Controller.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastSyncTime is when the last sync finished. Crawler.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// LastSuccessfulSyncTime is when the last successful sync finished. Crawler.
	// +optional
	LastSuccessfulSyncTime *metav1.Time `json:"lastSuccessfulSyncTime,omitempty"`
	// NextSyncTime is the next scheduled sync. Controller.
	// +optional
	NextSyncTime *metav1.Time `json:"nextSyncTime,omitempty"`
	// LastScheduleTime is the last schedule slot a Job was started for. Controller.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// LastHandledSyncRequest echoes the requested-sync annotation once
	// handled. Controller.
	// +optional
	LastHandledSyncRequest string `json:"lastHandledSyncRequest,omitempty"`
	// FailedSecretVersions is set while the last sync failed because of its
	// credentials (reason CredentialsRejected): the resourceVersions of the
	// referenced Secrets, by name, that failure is blamed on. A change to any
	// of these Secrets starts one sync at once (trigger SecretChanged).
	// Controller.
	// +optional
	FailedSecretVersions map[string]string `json:"failedSecretVersions,omitempty"`

	// DocumentCount is the number of documents this source had in the index
	// after the last successful sync. Crawler.
	// +optional
	DocumentCount int64 `json:"documentCount,omitempty"`

	// ActiveJob is the running sync Job. Controller.
	// +optional
	ActiveJob *JobReference `json:"activeJob,omitempty"`

	// LastSync reports the last finished run. Crawler.
	// +optional
	LastSync *SyncReport `json:"lastSync,omitempty"`

	// IndexedSpec is the spec the index reflects: the generation the last
	// successful sync crawled, moved on to later generations that change
	// nothing that is indexed (schedule, suspend, Job overrides). Ready says
	// when it is older than the spec's generation. Controller.
	// +optional
	IndexedSpec *SpecRevision `json:"indexedSpec,omitempty"`
	// LastStartedSpec is the spec the last sync Job was started for.
	// Controller.
	// +optional
	LastStartedSpec *SpecRevision `json:"lastStartedSpec,omitempty"`
	// PendingSpec is a generation that changes what is indexed and that no
	// sync was started for yet; its time is when the controller first saw
	// that change. A sync starts 30 seconds after the last such change
	// (trigger SpecChanged), or as soon as a running one ends. Controller.
	// +optional
	PendingSpec *SpecRevision `json:"pendingSpec,omitempty"`

	// Progress of the running sync. Crawler.
	// +optional
	Progress *SyncProgress `json:"progress,omitempty"`

	// Changes reports the change polls and targeted syncs: runs that read
	// only what changed. They leave lastSync, lastSyncTime and Ready alone,
	// which describe the full and incremental syncs of the spec.
	// +optional
	Changes *ChangesStatus `json:"changes,omitempty"`

	// CleanupMessage reports the removal of documents after deletion. Controller.
	// +optional
	CleanupMessage string `json:"cleanupMessage,omitempty"`
	// CleanupAttempts counts the cleanup Jobs started after deletion. Controller.
	// +optional
	CleanupAttempts int32 `json:"cleanupAttempts,omitempty"`
	// Webhook reports the Data Center webhook receiver of this data source
	// while spec.webhook is set. Controller.
	// +optional
	Webhook *WebhookStatus `json:"webhook,omitempty"`

	// LastCleanupFailureTime is when the current cleanup attempt was seen
	// failing; the next attempt starts after a backoff from it. Controller.
	// +optional
	LastCleanupFailureTime *metav1.Time `json:"lastCleanupFailureTime,omitempty"`
}

// WebhookStatus is what the receiver saw for one data source. The counts of
// accepted and rejected requests are metrics
// (confluence_operator_webhook_requests_total), not status.
type WebhookStatus struct {
	// Path of this data source's receiver: paste the manager's receiver
	// address followed by this path into Confluence as the webhook URL. It
	// is derived from the webhook secret, so it changes when the secret does.
	// +optional
	Path string `json:"path,omitempty"`
	// URL is the full receiver URL when the manager knows its external
	// address (--webhook-base-url).
	// +optional
	URL string `json:"url,omitempty"`
	// LastEventTime is when the last verified event was received.
	// +optional
	LastEventTime *metav1.Time `json:"lastEventTime,omitempty"`
	// LastEventType is the Confluence event name of the last verified event, e.g. page_updated.
	// +optional
	LastEventType string `json:"lastEventType,omitempty"`
	// PendingTargets is the number of received targets not yet handed to a
	// Job: gathering for the batch window, waiting for the running Targeted
	// Job, or (more than 200, or an event that names nothing) waiting for an
	// Incremental sync after a running sync. They are held in the leader's
	// memory: a manager restart loses them (the change poll or the next
	// scheduled sync repairs that), except that an owed Incremental sync is
	// kept (pendingIncrementalSince).
	// +optional
	PendingTargets int32 `json:"pendingTargets,omitempty"`
	// PendingIncrementalSince is when the oldest event waiting for an
	// Incremental sync was received (more than 200 targets, or an event
	// naming nothing a targeted sync can take, while another sync runs).
	// Kept here, unlike the targets, so a manager restart does not lose
	// that sync: the new leader starts it. Controller.
	// +optional
	PendingIncrementalSince *metav1.Time `json:"pendingIncrementalSince,omitempty"`
}

// ConfluenceDataSource keeps an OpenSearch index in sync with a Confluence site,
// documents and access-control lists.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cds,categories=confluence
// +kubebuilder:printcolumn:name="Deployment",type=string,JSONPath=`.spec.confluence.deployment`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.sync.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Docs",type=integer,JSONPath=`.status.documentCount`
// +kubebuilder:printcolumn:name="Next Sync",type=date,JSONPath=`.status.nextSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConfluenceDataSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ConfluenceDataSourceSpec `json:"spec,omitempty"`
	// Status is the observed state. It is defaulted as a whole, because the
	// API server drops status on create (a default inside it would never
	// apply): a new object shows observedGeneration -1, "not observed yet".
	// +kubebuilder:default={"observedGeneration":-1}
	Status ConfluenceDataSourceStatus `json:"status,omitempty"`
}

// ConfluenceDataSourceList is a list of ConfluenceDataSource.
// +kubebuilder:object:root=true
type ConfluenceDataSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConfluenceDataSource `json:"items"`
}
