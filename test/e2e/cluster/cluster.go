// Package cluster runs the whole product on loopback for end-to-end tests and
// the demo: etcd and kube-apiserver with the CRDs (envtest), the real
// kube-controller-manager (Job controller, garbage collector, ServiceAccount
// controllers), the operator's RBAC from config/rbac, the manager as a
// separate process authenticated as its own ServiceAccount, a node agent that
// runs crawler Pods as host processes with their ServiceAccount's token, and
// an OpenSearch (the double, or OPENSEARCH_URL).
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/e2e/nodeagent"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

// Names of what the harness installs, as `make deploy` would (without the
// kustomize name prefix).
const (
	OperatorNamespace      = "confluence-operator-system"
	ManagerServiceAccount  = "controller-manager"
	CrawlerImage           = "confluence-operator:e2e"
	kubeControllerManagers = "job,garbagecollector,serviceaccount,serviceaccount-token,root-ca-cert-publisher"
)

// Options configure Start.
type Options struct {
	// Binary is a built confluence-operator; default $CONFLUENCE_OPERATOR_BINARY,
	// and when that is empty one is built from the repository into the
	// cluster's directory.
	Binary string
	// OpenSearchURL is a real OpenSearch to use (with OpenSearchUsername and
	// OpenSearchPassword); default $OPENSEARCH_URL, and when that is empty
	// the OpenSearch double is started.
	OpenSearchURL, OpenSearchUsername, OpenSearchPassword string
	// ManagerArgs are extra manager flags.
	ManagerArgs []string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Cluster is a running control plane with the operator installed.
type Cluster struct {
	// Dir holds everything the cluster writes; Stop removes it.
	Dir string
	// Kubeconfig is a cluster-admin kubeconfig.
	Kubeconfig string
	// Config, Client and Clientset act as cluster admin.
	Config    *rest.Config
	Client    client.Client
	Clientset kubernetes.Interface
	// Binary is the confluence-operator executable the manager and crawler Pods run.
	Binary string
	// OpenSearchURL (and credentials, empty for the double) is where data sources should write.
	OpenSearchURL, OpenSearchUsername, OpenSearchPassword string
	// OpenSearch is the double, nil with a real OpenSearch.
	OpenSearch *fakeopensearch.Server
	// MetricsURL is the manager's Prometheus endpoint.
	MetricsURL string
	// WebhookBaseURL is where the manager's webhook receiver listens
	// (--webhook-base-url); data sources with spec.webhook show their full
	// URL under it in status.webhook.url.
	WebhookBaseURL string
	// Agent runs the crawler Pods.
	Agent *nodeagent.Agent

	env      *testenv.Env
	logf     func(string, ...any)
	manager  *process
	mu       sync.Mutex
	cleanups []func() // run last first by Stop
	seq      int
}

// Start brings everything up. The caller must Stop the cluster, also when
// Start fails part way (Start stops what it started itself).
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Binary == "" {
		o.Binary = os.Getenv("CONFLUENCE_OPERATOR_BINARY")
	}
	if o.OpenSearchURL == "" {
		o.OpenSearchURL = os.Getenv("OPENSEARCH_URL")
		o.OpenSearchUsername, o.OpenSearchPassword = os.Getenv("OPENSEARCH_USERNAME"), os.Getenv("OPENSEARCH_PASSWORD")
	}
	dir, err := os.MkdirTemp("", "confluence-operator-e2e-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, logf: o.Logf, Binary: o.Binary}
	c.addCleanup(func() { _ = os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	began := time.Now()

	// The build and the control plane start in parallel.
	built := make(chan error, 1)
	if c.Binary == "" {
		go func() {
			c.Binary = filepath.Join(dir, "bin", "confluence-operator")
			built <- Build(ctx, c.Binary)
		}()
	} else {
		built <- nil
	}

	o.Logf("starting etcd and kube-apiserver")
	env, err := testenv.Start()
	if err != nil {
		return c, errors.Join(err, <-built)
	}
	c.env = env
	c.addCleanup(func() { _ = env.Stop() })
	c.Config, c.Client = env.Config, env.Client
	if c.Clientset, err = kubernetes.NewForConfig(env.Config); err != nil {
		return c, errors.Join(err, <-built)
	}
	if c.Kubeconfig, err = env.Kubeconfig(dir); err != nil {
		return c, errors.Join(err, <-built)
	}

	o.Logf("starting kube-controller-manager (%s)", kubeControllerManagers)
	kcm, err := env.StartControllerManager(strings.Split(kubeControllerManagers, ","))
	if err != nil {
		return c, errors.Join(err, <-built)
	}
	c.addCleanup(func() { _ = kcm.Stop() })

	if err := <-built; err != nil {
		return c, err
	}
	o.Logf("installing config/rbac into namespace %s", OperatorNamespace)
	if err := c.installRBAC(ctx); err != nil {
		return c, err
	}

	o.Logf("starting the node agent")
	if err := c.startAgent(); err != nil {
		return c, err
	}

	if o.OpenSearchURL != "" {
		c.OpenSearchURL, c.OpenSearchUsername, c.OpenSearchPassword = o.OpenSearchURL, o.OpenSearchUsername, o.OpenSearchPassword
		o.Logf("using OpenSearch at %s", c.OpenSearchURL)
	} else {
		c.OpenSearch = fakeopensearch.Start()
		c.addCleanup(c.OpenSearch.Close)
		c.OpenSearchURL = c.OpenSearch.URL()
		o.Logf("started the OpenSearch double at %s", c.OpenSearchURL)
	}

	o.Logf("starting the manager as ServiceAccount %s/%s", OperatorNamespace, ManagerServiceAccount)
	if err := c.startManager(ctx, o.ManagerArgs); err != nil {
		return c, err
	}
	o.Logf("cluster up in %v", time.Since(began).Round(100*time.Millisecond))
	return c, nil
}

// Stop ends every process and removes every file the cluster made. It is
// safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	cleanups := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func (c *Cluster) addCleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

var buildMu sync.Mutex

// Build compiles the confluence-operator binary of this repository to out.
func Build(ctx context.Context, out string) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, b)
	}
	return nil
}

// ---- RBAC and the manager ----

// installRBAC applies config/rbac (rendered by kustomize, the "system"
// namespace placeholder replaced) into OperatorNamespace.
func (c *Cluster) installRBAC(ctx context.Context) error {
	if err := c.CreateNamespace(ctx, OperatorNamespace); err != nil {
		return err
	}
	rendered, err := renderRBAC(ctx, c.Dir)
	if err != nil {
		return err
	}
	rendered = strings.ReplaceAll(rendered, "namespace: system\n", "namespace: "+OperatorNamespace+"\n")
	_, err = c.KubectlStdin(ctx, rendered, "apply", "--server-side", "-f", "-")
	return err
}

// renderRBAC renders config/rbac with kustomize. Without a generated
// role.yaml (the ClusterRole controller-gen writes from the controller's
// markers), it is generated into a copy first.
func renderRBAC(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(testenv.RepoRoot(), "config", "rbac")
	if _, err := os.Stat(filepath.Join(src, "role.yaml")); err != nil {
		copyDir := filepath.Join(dir, "rbac")
		if err := os.CopyFS(copyDir, os.DirFS(src)); err != nil {
			return "", err
		}
		gen, err := controllerGen()
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, gen, "rbac:roleName=manager-role", "paths=./controllers/...", "output:rbac:artifacts:config="+copyDir)
		cmd.Dir = testenv.RepoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("controller-gen rbac: %w\n%s", err, b)
		}
		src = copyDir
	}
	out, err := kubectl(ctx, "", "", "kustomize", src)
	if err != nil {
		return "", fmt.Errorf("rendering config/rbac: %w", err)
	}
	return out, nil
}

// controllerGen finds the controller-gen `make manifests` installs, or one on PATH.
func controllerGen() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "confluence-operator", "bin", "controller-gen-*")); len(m) > 0 {
		return m[len(m)-1], nil
	}
	if p, err := exec.LookPath("controller-gen"); err == nil {
		return p, nil
	}
	return "", errors.New("config/rbac/role.yaml is missing and no controller-gen was found: run `make manifests`")
}

// startManager runs `confluence-operator manager` with a kubeconfig holding a
// token of its own ServiceAccount, and waits until it is ready.
func (c *Cluster) startManager(ctx context.Context, extra []string) error {
	token, err := c.Token(ctx, OperatorNamespace, ManagerServiceAccount, 24*time.Hour)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(c.Dir, "manager.kubeconfig")
	if err := nodeagent.WriteKubeconfig(kubeconfig, c.env.Config, OperatorNamespace, token); err != nil {
		return err
	}
	metrics, probes, hooks := freePort(), freePort(), freePort()
	if metrics == "" || probes == "" || hooks == "" {
		return errors.New("no free loopback port")
	}
	c.MetricsURL = "http://" + metrics + "/metrics"
	c.WebhookBaseURL = "http://" + hooks
	args := append([]string{"manager",
		"--metrics-bind-address=" + metrics,
		"--health-probe-bind-address=" + probes,
		"--webhook-bind-address=" + hooks,
		"--webhook-base-url=" + c.WebhookBaseURL,
		"--crawler-image=" + CrawlerImage,
		"--leader-elect=false",
		"--zap-encoder=console",
	}, extra...)
	p, err := startProcess(c.Binary, args, []string{"KUBECONFIG=" + kubeconfig}, filepath.Join(c.Dir, "manager.log"))
	if err != nil {
		return err
	}
	c.manager = p
	c.addCleanup(func() { p.stop(10 * time.Second) })

	readyz := "http://" + probes + "/readyz"
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("manager exited:\n%s", tailString(p.output(), 40))
		}
		resp, err := http.Get(readyz)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the manager to be ready: %w", err)
	}
	return nil
}

// startAgent runs the node agent in this process until Stop.
func (c *Cluster) startAgent() error {
	agent, err := nodeagent.New(nodeagent.Options{
		Config: c.env.Config,
		Binary: c.Binary,
		Dir:    filepath.Join(c.Dir, "pods"),
		Logf:   c.logf,
	})
	if err != nil {
		return err
	}
	c.Agent = agent
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	c.addCleanup(func() {
		cancel()
		if err := <-done; err != nil {
			c.logf("node agent: %v", err)
		}
	})
	return nil
}

// ---- helpers for tests and the demo ----

// Token returns a TokenRequest token of a ServiceAccount.
func (c *Cluster) Token(ctx context.Context, namespace, serviceAccount string, ttl time.Duration) (string, error) {
	tr, err := c.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl.Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, serviceAccount, err)
	}
	return tr.Status.Token, nil
}

// CreateNamespace creates a namespace (no error when it exists).
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Kubectl runs kubectl as cluster admin and returns its standard output; the
// error carries standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return kubectl(ctx, c.Kubeconfig, "", args...)
}

// KubectlAs runs kubectl with another kubeconfig (see ServiceAccountKubeconfig).
func (c *Cluster) KubectlAs(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	return kubectl(ctx, kubeconfig, "", args...)
}

// ServiceAccountKubeconfig writes a kubeconfig that authenticates with token
// (e.g. from Token) and returns its path.
func (c *Cluster) ServiceAccountKubeconfig(namespace, token string) (string, error) {
	path, err := c.WriteFile("kubeconfig", "")
	if err != nil {
		return "", err
	}
	return path, nodeagent.WriteKubeconfig(path, c.Config, namespace, token)
}

// KubectlStdin is Kubectl with stdin.
func (c *Cluster) KubectlStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	return kubectl(ctx, c.Kubeconfig, stdin, args...)
}

// Apply writes manifest to a file and runs `kubectl apply -f` on it, as a user would.
func (c *Cluster) Apply(ctx context.Context, manifest string) (string, error) {
	path, err := c.WriteFile("manifest.yaml", manifest)
	if err != nil {
		return "", err
	}
	return c.Kubectl(ctx, "apply", "-f", path)
}

// WriteFile writes content to a new file in the cluster directory whose name
// ends in name, and returns its path.
func (c *Cluster) WriteFile(name, content string) (string, error) {
	c.mu.Lock()
	c.seq++
	path := filepath.Join(c.Dir, "files", fmt.Sprintf("%03d-%s", c.seq, name))
	c.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(content), 0o600)
}

func kubectl(ctx context.Context, kubeconfig, stdin string, args ...string) (string, error) {
	bin, err := KubectlPath()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// DataSource reads a ConfluenceDataSource.
func (c *Cluster) DataSource(ctx context.Context, namespace, name string) (*v1.ConfluenceDataSource, error) {
	ds := &v1.ConfluenceDataSource{}
	return ds, c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, ds)
}

// WaitDataSource polls a data source until done says so, and returns it.
func (c *Cluster) WaitDataSource(ctx context.Context, namespace, name string, timeout time.Duration, done func(*v1.ConfluenceDataSource) bool) (*v1.ConfluenceDataSource, error) {
	var ds *v1.ConfluenceDataSource
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := c.DataSource(ctx, namespace, name)
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		ds = got
		return done(ds), nil
	})
	return ds, err
}

// Condition returns the condition of type t, or nil.
func Condition(ds *v1.ConfluenceDataSource, t string) *metav1.Condition {
	for i := range ds.Status.Conditions {
		if ds.Status.Conditions[i].Type == t {
			return &ds.Status.Conditions[i]
		}
	}
	return nil
}

// StartConfluence starts a fake Confluence that Stop closes.
func (c *Cluster) StartConfluence(o fakeconfluence.Options) *fakeconfluence.Server {
	s := fakeconfluence.New(o)
	c.addCleanup(s.Close)
	return s
}

// ManagerLog is everything the manager logged so far.
func (c *Cluster) ManagerLog() string {
	if c.manager == nil {
		return ""
	}
	return c.manager.output()
}

// Dump writes what helps to understand a failure in namespace (all when
// empty): the data sources, Jobs, Pods and events, the crawler Pods' logs and
// the manager's log.
func (c *Cluster) Dump(ctx context.Context, w io.Writer, namespace string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	scope := []string{"-A"}
	if namespace != "" {
		scope = []string{"-n", namespace}
	}
	section := func(title, body string) {
		fmt.Fprintf(w, "\n===== %s =====\n%s\n", title, strings.TrimRight(body, "\n"))
	}
	run := func(args ...string) string {
		out, err := c.Kubectl(ctx, append(args, scope...)...)
		if err != nil {
			out += "\n" + err.Error()
		}
		return out
	}
	section("kubectl get cds,jobs,pods", run("get", "cds,jobs,pods", "-o", "wide"))
	section("kubectl get cds -o yaml", run("get", "cds", "-o", "yaml"))
	section("kubectl get events", run("get", "events", "--sort-by=.lastTimestamp"))
	if c.Agent != nil {
		for _, l := range c.Agent.Logs(namespace) {
			data, _ := os.ReadFile(l.Path)
			section(fmt.Sprintf("crawler pod %s/%s log (last 60 lines)", l.Namespace, l.Pod), tailString(string(data), 60))
		}
	}
	section("manager log (last 150 lines)", tailString(c.ManagerLog(), 150))
}

// ---- processes ----

// process is a child process whose output goes to a log file.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(bin string, args, env []string, logPath string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// freePort returns a loopback address with a port free at the time of asking.
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// KubectlPath is the kubectl the cluster runs (built beside the control plane).
func KubectlPath() (string, error) {
	if p := testenv.Kubectl(); p != "" {
		return p, nil
	}
	return "", errors.New("no kubectl: run hack/envtest-assets.sh")
}
