package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// The tenancy gate: a data source never grants more than its author had.
// Whoever may edit a ConfluenceDataSource can name any Secret of the
// namespace and any URL or image in its spec, while the manager that acts on
// it can read every Secret. So before the controller grants the crawler
// anything (its Role) or starts a Job, on the sync and on the deletion path:
//   - spec.crawler.image must be the manager's default or on its allow-list
//     (--allowed-crawler-images): a cluster admin's decision, as the image
//     runs with the crawler's Role;
//   - every referenced Secret must name the data source in its
//     allowed-datasources annotation: the Secret's owner opts in, the way a
//     Gateway API ReferenceGrant lets the referent consent;
//   - every credentials Secret must list, in its allowed-hosts annotation,
//     each host the data source would send its keys or the data read with
//     them to, so an editor of the data source cannot redirect a consented
//     credential (or the documents it reads) to a listener of their own.
// A refusal stalls the data source with reason SecretNotAllowed or
// ImageNotAllowed naming what is missing, and strips the crawler Role's
// rules, so an earlier grant does not outlive its opt-in.

// admit runs the tenancy gate; see above. A refusal is a stallError.
func (r *DataSourceReconciler) admit(ctx context.Context, obj *v1alpha1.ConfluenceDataSource) error {
	err := r.checkTenancy(ctx, obj)
	var stall *stallError
	if errors.As(err, &stall) {
		if rerr := r.revokeCrawlerAccess(ctx, obj); rerr != nil {
			return rerr
		}
	}
	return err
}

func (r *DataSourceReconciler) checkTenancy(ctx context.Context, obj *v1alpha1.ConfluenceDataSource) error {
	if img := obj.Spec.Crawler.Image; img != "" && !imageAllowed(img, r.CrawlerImage, r.AllowedCrawlerImages) {
		return stalled(v1alpha1.ReasonImageNotAllowed,
			"spec.crawler.image %q is not allowed: the manager runs only its default crawler image and the images of --allowed-crawler-images; ask a cluster admin, or remove spec.crawler.image", img)
	}
	for _, req := range secretRequirements(obj) {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: req.Name}, m)
		switch {
		case apierrors.IsNotFound(err):
			return stalled(v1alpha1.ReasonSecretNotFound, "Secret %q (%s) not found", req.Name, req.Field)
		case err != nil:
			return fmt.Errorf("reading Secret %s: %w", req.Name, err)
		}
		if err := secretGate(obj, req, m.GetAnnotations()); err != nil {
			return err
		}
	}
	return nil
}

// revokeCrawlerAccess empties the crawler Role, if there is one.
func (r *DataSourceReconciler) revokeCrawlerAccess(ctx context.Context, obj *v1alpha1.ConfluenceDataSource) error {
	role := &rbacv1.Role{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: crawlerName(obj.Name)}, role)
	if apierrors.IsNotFound(err) || (err == nil && len(role.Rules) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Role %s: %w", crawlerName(obj.Name), err)
	}
	patch := client.MergeFrom(role.DeepCopy())
	role.Rules = nil
	if err := r.Patch(ctx, role, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("revoking the crawler's access (Role %s): %w", role.Name, err)
	}
	return nil
}

// secretGate checks one referenced Secret's opt-in annotations for obj.
func secretGate(obj *v1alpha1.ConfluenceDataSource, req secretRequirement, annotations map[string]string) error {
	if !nameListed(annotations[v1alpha1.AllowedDataSourcesAnnotation], obj.Name) {
		return stalled(v1alpha1.ReasonSecretNotAllowed,
			"Secret %q (%s) does not opt in to data source %q: its owner must annotate it %s=%s",
			req.Name, req.Field, obj.Name, v1alpha1.AllowedDataSourcesAnnotation, obj.Name)
	}
	dests, credentials := credentialDestinations(obj, req.Field)
	if !credentials {
		return nil
	}
	allowed := splitList(annotations[v1alpha1.AllowedHostsAnnotation])
	for _, d := range dests {
		if !hostAllowed(allowed, d) {
			return stalled(v1alpha1.ReasonSecretNotAllowed,
				"Secret %q (%s) does not opt in to being sent to %s (%s): its owner must list %q in its %s annotation",
				req.Name, req.Field, d.hostPort(), d.field, d.hostPort(), v1alpha1.AllowedHostsAnnotation)
		}
	}
	return nil
}

// nameListed reports whether name, or "*", is in a comma-separated list.
func nameListed(list, name string) bool {
	names := splitList(list)
	return slices.Contains(names, name) || slices.Contains(names, "*")
}

// destination is a host a Secret's keys, or data read with them, go to.
type destination struct {
	host, port string
	// field is the spec path naming it, for messages.
	field string
}

func (d destination) hostPort() string { return net.JoinHostPort(d.host, d.port) }

// credentialDestinations returns where the Secret referenced at field is
// sent, and whether it holds credentials at all (CA Secrets do not). The
// Confluence credentials reach Confluence, overridden OAuth 2.0 endpoints and
// the proxy, and what they read goes to OpenSearch; the OpenSearch ones reach
// the endpoints; the proxy ones the proxy. Atlassian's default OAuth 2.0
// hosts are not listed: no spec field can point them elsewhere.
func credentialDestinations(obj *v1alpha1.ConfluenceDataSource, field string) ([]destination, bool) {
	spec := &obj.Spec
	var dests []destination
	add := func(raw, field string) {
		if d, ok := destinationOf(raw, field); ok {
			dests = append(dests, d)
		}
	}
	opensearch := func() {
		for i, e := range spec.OpenSearch.Endpoints {
			add(e, fmt.Sprintf("spec.opensearch.endpoints[%d]", i))
		}
	}
	proxy := func() {
		if p := spec.Confluence.Proxy; p != nil {
			add(p.URL, "spec.confluence.proxy.url")
		}
	}
	switch field {
	case "spec.confluence.auth.secretRef":
		add(spec.Confluence.URL, "spec.confluence.url")
		if o := spec.Confluence.Auth.OAuth2; o != nil {
			add(o.TokenURL, "spec.confluence.auth.oauth2.tokenURL")
			add(o.APIGatewayURL, "spec.confluence.auth.oauth2.apiGatewayURL")
		}
		proxy()
		opensearch()
	case "spec.confluence.proxy.secretRef":
		proxy()
	case "spec.opensearch.auth.secretRef":
		opensearch()
	default:
		return nil, false
	}
	return dests, true
}

// destinationOf parses an http(s) URL into host and port (default 443 or 80).
// An empty or unparsable URL yields none: admission rejects those.
func destinationOf(raw, field string) (destination, bool) {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Hostname() == "" {
		return destination{}, false
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return destination{host: strings.ToLower(u.Hostname()), port: port, field: field}, true
}

// hostAllowed matches d against allowed-hosts entries: "host" (any port),
// "host:port", "*.domain" (any subdomain, any port) or "*.domain:port";
// IPv6 addresses in brackets.
func hostAllowed(entries []string, d destination) bool {
	for _, e := range entries {
		host, port := strings.ToLower(e), ""
		if h, p, err := net.SplitHostPort(host); err == nil {
			host, port = h, p
		}
		host = strings.Trim(host, "[]")
		if port != "" && port != d.port {
			continue
		}
		if suffix, ok := strings.CutPrefix(host, "*."); ok {
			if strings.HasSuffix(d.host, "."+suffix) {
				return true
			}
			continue
		}
		if host == d.host {
			return true
		}
	}
	return false
}

// imageAllowed reports whether a spec.crawler.image may run: the manager's
// default image, an exact entry of allowed, or an entry "<repository>:*"
// (any tag or digest of exactly that repository) or "<repository>@*" (any
// digest of it).
func imageAllowed(image, defaultImage string, allowed []string) bool {
	if image == defaultImage {
		return true
	}
	for _, a := range allowed {
		switch {
		case a == image:
			return true
		case strings.HasSuffix(a, ":*") && imageRepository(image) == strings.TrimSuffix(a, ":*"):
			return true
		case strings.HasSuffix(a, "@*") && strings.Contains(image, "@") && imageRepository(image) == strings.TrimSuffix(a, "@*"):
			return true
		}
	}
	return false
}

// imageRepository strips digest and tag: "reg:5000/a/b:t@sha256:…" → "reg:5000/a/b".
func imageRepository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}
