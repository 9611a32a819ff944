// Package crawlcli implements "confluence-operator crawl": one sync of a
// ConfluenceDataSource, either standalone (a manifest and credential files on
// disk) or in a Job (the resource and its Secrets read through the API, status
// written back with server-side apply).
package crawlcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// Exit codes (a shared contract with the controller's pod failure policy;
// 2 stays reserved for Go runtime panics).
const (
	exitOK          = 0
	exitFailed      = 1
	exitInterrupted = 3
	exitBadInput    = 64
)

const usage = `usage:
  confluence-operator crawl -f datasource.yaml --credentials <secret.yaml|dir> [flags]
  confluence-operator crawl --in-cluster --namespace NS --name NAME [--job JOB] [--mode MODE] [--target KIND:ID ...] [--cleanup]

Runs one sync of a ConfluenceDataSource. Progress goes to stderr; one JSON
summary goes to stdout. Exit status: 0 success, 1 failed sync, 3 interrupted
(SIGTERM/SIGINT; summary printed, nothing deleted), 64 bad input (unreadable
manifest, invalid regex, missing Secret key). 2 is a Go runtime panic.

flags:
`

type options struct {
	file, creds, osCreds, osURL, mode string
	inCluster, cleanup                bool
	namespace, name, job              string
	verbosity                         int
	targets                           targetList
}

// targetList is the repeatable --target flag.
type targetList []crawl.Target

func (l *targetList) String() string { return fmt.Sprint([]crawl.Target(*l)) }

func (l *targetList) Set(s string) error {
	t, err := crawl.ParseTarget(s)
	if err != nil {
		return err
	}
	*l = append(*l, t)
	return nil
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("crawl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.file, "f", "", "ConfluenceDataSource manifest (standalone)")
	fs.StringVar(&o.file, "datasource", "", "same as -f")
	fs.StringVar(&o.creds, "credentials", "", "Confluence credentials: a Secret manifest or a directory of key files (standalone); may also hold ca.crt")
	fs.StringVar(&o.osCreds, "opensearch-credentials", "", "OpenSearch credentials: a Secret manifest or directory with username/password or apiKey (standalone); may also hold ca.crt")
	fs.StringVar(&o.osURL, "opensearch-url", "", "OpenSearch endpoint(s), comma separated, overriding spec.opensearch.endpoints")
	fs.StringVar(&o.mode, "mode", "", "sync mode: ForcedFullCrawl, FullCrawl, Incremental, ChangePoll or Targeted (default spec.sync.mode)")
	fs.Var(&o.targets, "target", fmt.Sprintf("with --mode Targeted: an item to sync, <kind>:<id> with kind page, blogpost, comment, attachment or space (a space key); repeatable, at most %d", v1.MaxTargets))
	fs.BoolVar(&o.inCluster, "in-cluster", false, "read the resource and Secrets from the API and write status (as in a Job)")
	fs.StringVar(&o.namespace, "namespace", "", "namespace of the resource (--in-cluster)")
	fs.StringVar(&o.name, "name", "", "name of the resource (--in-cluster)")
	fs.StringVar(&o.job, "job", "", "name of the Job running this sync, reported on the status (--in-cluster)")
	fs.BoolVar(&o.cleanup, "cleanup", false, "delete the data source's documents from OpenSearch instead of syncing")
	fs.IntVar(&o.verbosity, "v", 0, "log verbosity (1 logs every skipped item)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	switch {
	case o.inCluster && (o.namespace == "" || o.name == ""):
		return o, errors.New("--in-cluster needs --namespace and --name")
	case !o.inCluster && o.file == "":
		return o, errors.New("-f datasource.yaml is required (or --in-cluster)")
	case !o.inCluster && o.creds == "" && !o.cleanup:
		return o, errors.New("--credentials is required: a Secret manifest or a directory with the keys of spec.confluence.auth")
	}
	if o.mode != "" {
		switch v1.SyncMode(o.mode) {
		case v1.SyncForcedFullCrawl, v1.SyncFullCrawl, v1.SyncIncremental, v1.SyncChangePoll, v1.SyncTargeted:
		default:
			return o, fmt.Errorf("--mode %q: want ForcedFullCrawl, FullCrawl, Incremental, ChangePoll or Targeted", o.mode)
		}
	}
	switch {
	case v1.SyncMode(o.mode) == v1.SyncTargeted && len(o.targets) == 0:
		return o, errors.New("--mode Targeted needs at least one --target")
	case v1.SyncMode(o.mode) != v1.SyncTargeted && len(o.targets) > 0:
		return o, errors.New("--target is for --mode Targeted")
	case len(o.targets) > v1.MaxTargets:
		return o, fmt.Errorf("%d targets: at most %d per run (run an Incremental sync instead)", len(o.targets), v1.MaxTargets)
	}
	return o, nil
}

// env is where the data source, its credentials and its status live: files
// on disk, or the Kubernetes API.
type env interface {
	dataSource(ctx context.Context) (*v1.ConfluenceDataSource, error)
	secrets(ctx context.Context, ds *v1.ConfluenceDataSource) (manifest.Secrets, error)
	persistTokens(ds *v1.ConfluenceDataSource) confluence.TokenPersister
	progress(ctx context.Context, p v1.SyncProgress)
	report(ctx context.Context, r v1.SyncReport, sum crawl.Summary) error
}

// Run executes the crawl subcommand and returns its exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "crawl:", err)
		return exitBadInput
	}
	interactive := isTerminal(stderr)
	log := zap.New(zap.WriteTo(stderr), zap.UseDevMode(interactive), zap.Level(zapLevel(o.verbosity)))
	if limit, ok := applyMemoryLimit(os.Getenv); ok {
		log.V(1).Info("Go memory limit set from the container's", "bytes", limit)
	}

	var e env
	if o.inCluster {
		e, err = newClusterEnv(o, log)
	} else {
		e = &fileEnv{o: o}
	}
	if err != nil {
		fmt.Fprintln(stderr, "crawl:", err)
		return exitBadInput
	}
	ds, err := e.dataSource(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "crawl:", err)
		return exitBadInput
	}
	sec, err := e.secrets(ctx, ds)
	if err != nil {
		return fail(ctx, e, o, stdout, stderr, exitBadInput, err)
	}
	var endpoints []string
	if o.osURL != "" {
		endpoints = strings.Split(o.osURL, ",")
	}
	osCfg, err := manifest.OpenSearchConfig(ds.Spec, sec, endpoints)
	if err != nil {
		return fail(ctx, e, o, stdout, stderr, exitBadInput, err)
	}
	osClient, err := opensearch.NewClient(osCfg)
	if err != nil {
		return fail(ctx, e, o, stdout, stderr, exitBadInput, err)
	}
	defer osClient.Close()

	if o.cleanup {
		return runCleanup(ctx, osClient, ds, stdout, stderr)
	}

	cfCfg, err := manifest.ConfluenceConfig(ds.Spec, sec)
	if err != nil {
		return fail(ctx, e, o, stdout, stderr, exitBadInput, err)
	}
	cfCfg.Logger = log.WithName("confluence")
	cfCfg.PersistTokens = e.persistTokens(ds)
	cf, err := confluence.New(cfCfg)
	if err != nil {
		return fail(ctx, e, o, stdout, stderr, exitBadInput, err)
	}

	mode := ds.Spec.Sync.Mode
	if o.mode != "" {
		mode = v1.SyncMode(o.mode)
	}
	bar := newProgressPrinter(stderr, interactive)
	start := time.Now()
	e.progress(ctx, v1.SyncProgress{Phase: v1.PhaseStarting})
	allow, err := allowedDeletions(ds)
	if err != nil {
		return fail(ctx, e, o, stdout, stderr, exitBadInput, err)
	}
	sum, runErr := crawl.Run(ctx, crawl.Options{
		AllowDeletions: allow,
		DataSource:     manifest.Key(ds),
		Spec:           ds.Spec,
		Mode:           mode,
		Targets:        o.targets,
		Confluence:     cf,
		OpenSearch:     osClient,
		Logger:         log.WithName("crawl"),
		Progress: func(p v1.SyncProgress) {
			bar.update(p)
			e.progress(ctx, p)
		},
	})
	bar.done()
	code := exitOK
	switch {
	case runErr == nil:
	case errors.Is(runErr, crawl.ErrInterrupted):
		code = exitInterrupted
		fmt.Fprintln(stderr, "crawl: sync interrupted:", runErr)
	case errors.Is(runErr, crawl.ErrInvalidFilter), errors.Is(runErr, crawl.ErrBadTargets):
		code = exitBadInput
		fmt.Fprintln(stderr, "crawl: bad input:", runErr)
	default:
		code = exitFailed
		fmt.Fprintln(stderr, "crawl: sync failed:", runErr)
	}
	report := toReport(o.job, start, sum, runErr)
	report.StartTime = &metav1.Time{Time: start}
	if err := e.report(context.WithoutCancel(ctx), report, sum); err != nil {
		fmt.Fprintln(stderr, "crawl: writing status:", err)
		if code == exitOK {
			code = exitFailed
		}
	}
	writeJSON(stdout, sum)
	return code
}

// allowedDeletions reads the confirmation of held-back deletions from the
// data source's annotation (0 when absent).
func allowedDeletions(ds *v1.ConfluenceDataSource) (int64, error) {
	v, ok := ds.Annotations[v1.AllowDeletionsAnnotation]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("annotation %s=%q: want the number of documents to allow deleting", v1.AllowDeletionsAnnotation, v)
	}
	return n, nil
}

// fail reports a run that could not start, on stderr, stdout and the status.
func fail(ctx context.Context, e env, o options, stdout, stderr io.Writer, code int, err error) int {
	fmt.Fprintln(stderr, "crawl:", err)
	mode := v1.SyncMode(o.mode)
	sum := crawl.Summary{Mode: mode, Message: err.Error(), DocumentCount: -1}
	if rerr := e.report(context.WithoutCancel(ctx), toReport(o.job, time.Now(), sum, err), sum); rerr != nil {
		fmt.Fprintln(stderr, "crawl: writing status:", rerr)
	}
	writeJSON(stdout, sum)
	return code
}

func runCleanup(ctx context.Context, c *opensearch.Client, ds *v1.ConfluenceDataSource, stdout, stderr io.Writer) int {
	n, err := c.DeleteDatasource(ctx, ds.Spec.OpenSearch.Index, manifest.Key(ds))
	if err != nil {
		fmt.Fprintln(stderr, "crawl: cleanup:", err)
		return exitFailed
	}
	writeJSON(stdout, map[string]any{"cleanup": true, "documentsDeleted": n})
	return exitOK
}

func toReport(job string, start time.Time, sum crawl.Summary, err error) v1.SyncReport {
	r := v1.SyncReport{
		Job:                job,
		Mode:               sum.Mode,
		Complete:           sum.Complete,
		DocumentsIndexed:   sum.DocumentsIndexed,
		DocumentsUnchanged: sum.DocumentsUnchanged,
		DocumentsDeleted:   sum.DocumentsDeleted,
		DocumentsFailed:    sum.DocumentsFailed,
		DocumentsSkipped:   sum.DocumentsSkipped,
		APICalls:           sum.APICalls,
		Result:             v1.SyncSucceeded,
	}
	if err != nil {
		r.Result = v1.SyncFailed
		r.Reason = failureReason(err)
		// Errors may quote a remote server's reply: bounded and printable.
		r.Message = v1.StatusMessage(err.Error())
	} else {
		r.Message = fmt.Sprintf("synced %d documents (%d written, %d unchanged, %d deleted, %d skipped, %d failed) with %d Confluence API calls in %s",
			sum.DocumentCount, sum.DocumentsIndexed, sum.DocumentsUnchanged, sum.DocumentsDeleted, sum.DocumentsSkipped, sum.DocumentsFailed,
			sum.APICalls, time.Duration(sum.DurationSeconds*float64(time.Second)).Round(time.Second))
		if len(sum.SpacesSkipped) > 0 {
			r.Message += fmt.Sprintf("; spaces skipped (no permission): %s", strings.Join(sum.SpacesSkipped, ", "))
		}
		if len(sum.GroupsSkipped) > 0 {
			r.Message += fmt.Sprintf("; groups whose members could not be listed (they get no access through them): %s", strings.Join(sum.GroupsSkipped, ", "))
		}
	}
	return r
}

// failureReason classifies a failed run for the Ready condition.
func failureReason(err error) string {
	switch {
	case errors.Is(err, confluence.ErrCredentialsRejected), errors.Is(err, confluence.ErrAnonymous),
		errors.Is(err, confluence.ErrRefreshTokenRejected), errors.Is(err, confluence.ErrTokenPersist):
		return v1.ReasonCredentialsRejected
	case errors.Is(err, confluence.ErrInvalidConfig), errors.Is(err, confluence.ErrWrongDeployment),
		errors.Is(err, crawl.ErrInvalidFilter):
		return v1.ReasonInvalidSpec
	case errors.Is(err, crawl.ErrInterrupted):
		return v1.ReasonInterrupted
	case errors.Is(err, crawl.ErrIndexingFailed):
		return v1.ReasonIndexingFailed
	case errors.Is(err, crawl.ErrDeletionHeldBack):
		return v1.ReasonDeletionHeldBack
	case errors.Is(err, opensearch.ErrIndexConflict):
		return v1.ReasonIndexConflict
	}
	return v1.ReasonSyncFailed
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func zapLevel(v int) zapcore.Level { return zapcore.Level(-v) }
