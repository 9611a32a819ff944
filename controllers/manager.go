package controllers

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	sourcesv1alpha1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/internal/webhook"
)

// Scheme knows the built-in types and the ConfluenceDataSource API.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(sourcesv1alpha1.AddToScheme(Scheme))
}

// Options configure the manager.
type Options struct {
	// MetricsBindAddress of the metrics endpoint; "0" disables it.
	MetricsBindAddress string
	// HealthProbeBindAddress of /healthz and /readyz; "" or "0" disables them.
	HealthProbeBindAddress string
	LeaderElection         bool
	// WatchNamespaces limits the manager to these namespaces; empty means all.
	WatchNamespaces []string
	// CrawlerImage is the default image of crawler Jobs.
	CrawlerImage string
	// AllowedCrawlerImages are further images spec.crawler.image may name:
	// exact references, "<repository>:*" or "<repository>@*".
	AllowedCrawlerImages []string
	// MaxConcurrentSyncs caps running sync Jobs across all data sources; 0 means no cap.
	MaxConcurrentSyncs int
	// Clock defaults to the real clock; tests inject a fake one.
	Clock clock.PassiveClock
	// WebhookBindAddress serves the Data Center webhook receiver; "" or "0"
	// disables it.
	WebhookBindAddress string
	// WebhookBaseURL is the receiver's external address (scheme, host and
	// any path prefix), shown in status.webhook.url; optional.
	WebhookBaseURL string
	// WebhookBatchWindow is how long webhook targets gather before their
	// sync starts; 0 means webhook.DefaultBatchWindow.
	WebhookBatchWindow time.Duration
	// WebhookListening, when set, receives the receiver's bound address.
	WebhookListening func(net.Addr)
	// SkipControllerNameValidation lets tests run a second manager in one process.
	SkipControllerNameValidation bool
}

// NewManager builds a manager running the ConfluenceDataSource controller.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 Scheme,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		LeaderElection:         o.LeaderElection,
		LeaderElectionID:       "confluence-operator.sources.confluence-operator.dev",
		Cache:                  cacheOptions(o.WatchNamespaces),
		// Secret data is read live and never cached: only Secret metadata is watched.
		Client:     client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Controller: config.Controller{RecoverPanic: ptr.To(true), SkipNameValidation: ptr.To(o.SkipControllerNameValidation)},
	})
	if err != nil {
		return nil, err
	}
	r := &DataSourceReconciler{
		Client:               mgr.GetClient(),
		APIReader:            mgr.GetAPIReader(),
		Scheme:               mgr.GetScheme(),
		Recorder:             mgr.GetEventRecorder("confluence-operator"),
		Clock:                o.Clock,
		CrawlerImage:         o.CrawlerImage,
		AllowedCrawlerImages: o.AllowedCrawlerImages,
		Limiter:              NewSyncLimiter(o.MaxConcurrentSyncs),
	}
	if o.WebhookBindAddress != "" && o.WebhookBindAddress != "0" {
		if err := addWebhookReceiver(mgr, r, o); err != nil {
			return nil, err
		}
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	if o.HealthProbeBindAddress != "" && o.HealthProbeBindAddress != "0" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// addWebhookReceiver serves the webhook receiver on the leader and brings a
// data source back to the controller when its batch window has passed.
func addWebhookReceiver(mgr ctrl.Manager, r *DataSourceReconciler, o Options) error {
	r.webhookEvents = make(chan event.TypedGenericEvent[client.Object], 1024)
	r.Webhooks = webhook.NewReceiver(webhook.Options{
		BatchWindow: o.WebhookBatchWindow,
		// Called from a timer goroutine: blocking until the controller
		// takes it delays nothing else.
		Notify: func(key types.NamespacedName) {
			obj := &sourcesv1alpha1.ConfluenceDataSource{}
			obj.Namespace, obj.Name = key.Namespace, key.Name
			r.webhookEvents <- event.TypedGenericEvent[client.Object]{Object: obj}
		},
	})
	r.WebhookBaseURL = o.WebhookBaseURL
	return mgr.Add(&webhook.Server{Addr: o.WebhookBindAddress, Receiver: r.Webhooks, Listening: o.WebhookListening})
}

// cacheOptions caches only what the controller creates (by label) among
// Jobs, ServiceAccounts, Roles and RoleBindings, in the watched namespaces.
func cacheOptions(namespaces []string) cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{managedByLabel: ManagedBy})}
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&batchv1.Job{}:           managed,
		&corev1.ServiceAccount{}: managed,
		&rbacv1.Role{}:           managed,
		&rbacv1.RoleBinding{}:    managed,
	}}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// RunManager parses the manager flags and runs the controller until ctx ends.
func RunManager(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		metricsAddr     = fs.String("metrics-bind-address", ":8080", "address the metrics endpoint binds to; 0 disables it")
		probeAddr       = fs.String("health-probe-bind-address", ":8081", "address the health probes bind to")
		leaderElection  = fs.Bool("leader-elect", false, "enable leader election for controller manager")
		watchNamespaces = fs.String("watch-namespaces", "", "comma-separated namespaces to watch; empty watches all")
		crawlerImage    = fs.String("crawler-image", os.Getenv("CRAWLER_IMAGE"), "default image of crawler Jobs (default $CRAWLER_IMAGE)")
		allowedImages   = fs.String("allowed-crawler-images", "", "comma-separated images spec.crawler.image may name besides --crawler-image: exact references, <repository>:* (any tag or digest) or <repository>@* (any digest); empty allows none")
		maxSyncs        = fs.Int("max-concurrent-syncs", 0, "most sync Jobs running at once across all data sources; 0 means no limit")
		webhookAddr     = fs.String("webhook-bind-address", ":9292", "address the Data Center webhook receiver binds to; 0 disables it")
		webhookBaseURL  = fs.String("webhook-base-url", "", "external URL of the webhook receiver (e.g. https://confluence-hooks.example.com), shown in status.webhook.url")
		webhookWindow   = fs.Duration("webhook-batch-window", webhook.DefaultBatchWindow, "the longest webhook events gather (from the first of a batch) before one targeted sync starts for them; a batch starts earlier once no event came for 1s")
	)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *maxSyncs < 0 {
		fmt.Fprintln(stderr, "manager: --max-concurrent-syncs must not be negative")
		return 2
	}
	if *webhookWindow < 0 || *webhookWindow > time.Minute {
		fmt.Fprintln(stderr, "manager: --webhook-batch-window must be between 0 and 1m")
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintf(stderr, "manager: %v\n", err)
		return 1
	}
	mgr, err := NewManager(ctx, cfg, Options{
		MetricsBindAddress:     *metricsAddr,
		HealthProbeBindAddress: *probeAddr,
		LeaderElection:         *leaderElection,
		WatchNamespaces:        splitList(*watchNamespaces),
		CrawlerImage:           *crawlerImage,
		AllowedCrawlerImages:   splitList(*allowedImages),
		MaxConcurrentSyncs:     *maxSyncs,
		WebhookBindAddress:     *webhookAddr,
		WebhookBaseURL:         *webhookBaseURL,
		WebhookBatchWindow:     *webhookWindow,
	})
	if err != nil {
		log.Error(err, "unable to create manager")
		return 1
	}
	if *crawlerImage == "" {
		log.Info("no --crawler-image or CRAWLER_IMAGE: data sources without spec.crawler.image stall")
	}
	log.Info("starting manager", "watchNamespaces", *watchNamespaces, "maxConcurrentSyncs", *maxSyncs)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		return 1
	}
	return 0
}

// splitList splits a comma-separated flag, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
