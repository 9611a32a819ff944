// Package nodeagent plays scheduler and kubelet for a test cluster that has
// no nodes. It binds pending Pods to its node, runs each Pod's container as a
// host process, and reports Pod status back, so the real Job controller sees
// Pods start, succeed and fail (and retries within backoffLimit).
//
// A container runs as follows: the image is ignored; the container's command
// is run as-is on the host when set, otherwise the configured Binary stands in
// for every image's entrypoint; args follow. The process gets a working
// directory of its own, the container's environment, and KUBECONFIG pointing
// at a kubeconfig that holds a TokenRequest token of the Pod's ServiceAccount
// (bound to the Pod), so whatever the process does through the API is
// authorized with the Pod's real RBAC. Output goes to a log file per Pod; on
// failure its last lines become the termination message.
//
// Supported: one container per Pod, no init containers; env values, and
// valueFrom fieldRef (metadata.name, metadata.namespace, metadata.uid,
// spec.nodeName, spec.serviceAccountName, status.hostIP, status.podIP),
// secretKeyRef, configMapKeyRef and resourceFieldRef of a set request or
// limit (as the kubelet renders it: the quantity divided by the divisor,
// rounded up). Not supported (the Pod fails with reason Unsupported): envFrom,
// resourceFieldRef of an unset limit (the kubelet would use the node's
// allocatable), several containers, init containers. Volumes, $(VAR) expansion, probes, resources and security
// contexts are ignored.
package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// DefaultNodeName is the node Pods are bound to unless Options say otherwise.
const DefaultNodeName = "e2e-node"

// hostIP is what the agent reports as the node's and every Pod's address.
const hostIP = "127.0.0.1"

// Options configure an Agent.
type Options struct {
	// Config authenticates the agent: it binds Pods, requests ServiceAccount
	// tokens, reads referenced Secrets and ConfigMaps and writes Pod status,
	// so in practice a cluster admin. Its Host and CAData also go into the
	// kubeconfig each process gets.
	Config *rest.Config
	// NodeName the agent binds Pods to and runs Pods of; default DefaultNodeName.
	NodeName string
	// Binary stands in for the entrypoint of every image: containers without
	// a command run Binary with their args.
	Binary string
	// Dir holds a directory per Pod (kubeconfig, log, working directory).
	Dir string
	// Logf reports what the agent does; nil discards.
	Logf func(format string, args ...any)
}

// Agent runs Pods as host processes. Create it with New and run it with Run.
type Agent struct {
	o     Options
	cs    kubernetes.Interface
	queue workqueue.TypedRateLimitingInterface[string]
	pods  cache.Indexer

	mu    sync.Mutex
	procs map[types.UID]*proc
}

// proc is the host process of one Pod.
type proc struct {
	key  string // namespace/name
	cmd  *exec.Cmd
	log  string
	dir  string
	done chan struct{} // closed after the process exited and its status was reported

	stopOnce sync.Once
}

// New checks the options and builds an agent.
func New(o Options) (*Agent, error) {
	if o.Config == nil {
		return nil, errors.New("nodeagent: Options.Config is required")
	}
	if o.Dir == "" {
		return nil, errors.New("nodeagent: Options.Dir is required")
	}
	if o.NodeName == "" {
		o.NodeName = DefaultNodeName
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	cs, err := kubernetes.NewForConfig(o.Config)
	if err != nil {
		return nil, err
	}
	return &Agent{o: o, cs: cs, procs: map[types.UID]*proc{}}, nil
}

// NodeName is the node the agent runs Pods of.
func (a *Agent) NodeName() string { return a.o.NodeName }

// Run watches Pods and runs them until ctx ends; then it stops every process
// it started (SIGTERM, then SIGKILL) and returns once they are gone.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.o.Dir, 0o755); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(a.cs, 0)
	informer := factory.Core().V1().Pods().Informer()
	a.pods = informer.GetIndexer()
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeagent"})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		factory.Shutdown()
		return ctx.Err()
	}
	a.o.Logf("nodeagent: running pods on node %s", a.o.NodeName)

	var workers sync.WaitGroup
	for range 2 {
		workers.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	a.queue.ShutDown()
	workers.Wait()
	a.stopAll()
	factory.Shutdown()
	return nil
}

func (a *Agent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	if err := a.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			a.o.Logf("nodeagent: pod %s: %v (retrying)", key, err)
		}
		a.queue.AddRateLimited(key)
		return true
	}
	a.queue.Forget(key)
	return true
}

// sync moves one Pod towards what a kubelet would make of it.
func (a *Agent) sync(ctx context.Context, key string) error {
	obj, exists, err := a.pods.GetByKey(key)
	if err != nil {
		return err
	}
	if !exists {
		// Deleted outright (never bound, or force-deleted): kill what still runs.
		for _, p := range a.procsOf(key) {
			go p.stop(0)
		}
		return nil
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != a.o.NodeName {
		return nil
	}
	p := a.proc(pod.UID)
	switch {
	case pod.DeletionTimestamp != nil:
		return a.terminate(ctx, pod, p)
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return nil
	case pod.Spec.NodeName == "":
		// Act as the scheduler; the update brings the Pod back here.
		return a.cs.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: a.o.NodeName},
		}, metav1.CreateOptions{})
	case p != nil:
		return nil // running, or exited and reporting
	case pod.Status.Phase == corev1.PodRunning:
		// Running, but not by this agent: a kubelet restarted without its containers.
		return a.reportTerminated(ctx, pod, time.Time{}, 137, "ContainerLost", "the node agent has no process for this container")
	}
	return a.start(ctx, pod)
}

// terminate ends a Pod being deleted: it stops the process within the grace
// period, then removes the Pod for good, as a kubelet does.
func (a *Agent) terminate(ctx context.Context, pod *corev1.Pod, p *proc) error {
	if p != nil {
		select {
		case <-p.done:
		default:
			grace := 30 * time.Second
			if s := pod.DeletionGracePeriodSeconds; s != nil {
				grace = time.Duration(*s) * time.Second
			}
			go func() {
				p.stop(grace)
				<-p.done
				a.queue.Add(p.key)
			}()
			return nil
		}
	}
	if pod.Spec.NodeName == "" {
		return nil // unbound pods go away without a kubelet
	}
	err := a.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	a.forget(pod.UID)
	return nil
}

// start runs the Pod's container and reports it Running.
func (a *Agent) start(ctx context.Context, pod *corev1.Pod) error {
	if err := supported(pod); err != nil {
		return a.reportTerminated(ctx, pod, time.Time{}, 128, "Unsupported", err.Error())
	}
	c := pod.Spec.Containers[0]
	dir := filepath.Join(a.o.Dir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(filepath.Join(work, "tmp"), 0o755); err != nil {
		return err
	}
	kubeconfig, err := a.writeKubeconfig(ctx, pod, dir)
	if err != nil {
		return a.reportWaiting(ctx, pod, "CreateContainerConfigError", err)
	}
	env, err := a.env(ctx, pod, c)
	if err != nil {
		return a.reportWaiting(ctx, pod, "CreateContainerConfigError", err)
	}
	env = append(env,
		"PATH="+os.Getenv("PATH"), "HOME="+work, "TMPDIR="+filepath.Join(work, "tmp"),
		"KUBECONFIG="+kubeconfig)

	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(c.Command) == 0 {
		if a.o.Binary == "" {
			return a.reportTerminated(ctx, pod, time.Time{}, 128, "StartError", "container has no command and the node agent has no Binary")
		}
		argv = append([]string{a.o.Binary}, c.Args...)
	}
	logPath := filepath.Join(dir, c.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = work, env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, so stopping the Pod stops its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return a.reportTerminated(ctx, pod, started, 128, "StartError", err.Error())
	}
	p := &proc{key: pod.Namespace + "/" + pod.Name, cmd: cmd, log: logPath, dir: dir, done: make(chan struct{})}
	a.mu.Lock()
	a.procs[pod.UID] = p
	a.mu.Unlock()
	a.o.Logf("nodeagent: pod %s/%s started: %s (pid %d, log %s)", pod.Namespace, pod.Name, strings.Join(argv, " "), cmd.Process.Pid, logPath)

	if err := a.patchStatus(ctx, pod, runningStatus(pod, started)); err != nil {
		a.o.Logf("nodeagent: pod %s/%s: reporting Running: %v", pod.Namespace, pod.Name, err)
	}
	go a.wait(context.WithoutCancel(ctx), pod, p, started)
	return nil
}

// wait reports the process's exit on the Pod.
func (a *Agent) wait(ctx context.Context, pod *corev1.Pod, p *proc, started time.Time) {
	defer close(p.done)
	_ = p.cmd.Wait()
	code := exitCode(p.cmd.ProcessState)
	a.o.Logf("nodeagent: pod %s exited with code %d", p.key, code)
	reason, message := "Completed", ""
	if code != 0 {
		reason, message = "Error", tail(p.log, 80, 2048)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := retry.OnError(wait.Backoff{Steps: 6, Duration: 200 * time.Millisecond, Factor: 2},
		func(err error) bool { return !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) },
		func() error { return a.reportTerminated(ctx, pod, started, code, reason, message) })
	if err != nil && !apierrors.IsNotFound(err) {
		a.o.Logf("nodeagent: pod %s: reporting exit: %v", p.key, err)
	}
	if a.queue != nil && !a.queue.ShuttingDown() {
		a.queue.Add(p.key)
	}
}

// stop sends SIGTERM to the process group and SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := -p.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
		_ = syscall.Kill(pgid, syscall.SIGKILL)
	})
}

// stopAll stops every process, giving each a few seconds to exit.
func (a *Agent) stopAll() {
	a.mu.Lock()
	procs := make([]*proc, 0, len(a.procs))
	for _, p := range a.procs {
		procs = append(procs, p)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			p.stop(3 * time.Second)
			<-p.done
		})
	}
	wg.Wait()
}

func (a *Agent) proc(uid types.UID) *proc {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.procs[uid]
}

func (a *Agent) procsOf(key string) []*proc {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*proc
	for uid, p := range a.procs {
		if p.key == key {
			out = append(out, p)
			delete(a.procs, uid)
		}
	}
	return out
}

func (a *Agent) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.procs, uid)
}

// supported rejects Pods the agent cannot run faithfully.
func supported(pod *corev1.Pod) error {
	switch {
	case len(pod.Spec.InitContainers) > 0:
		return errors.New("init containers are not supported by the node agent")
	case len(pod.Spec.Containers) != 1:
		return fmt.Errorf("the node agent runs exactly one container, the pod has %d", len(pod.Spec.Containers))
	case len(pod.Spec.Containers[0].EnvFrom) > 0:
		return errors.New("envFrom is not supported by the node agent")
	}
	return nil
}

// writeKubeconfig requests a token for the Pod's ServiceAccount, bound to the
// Pod, and writes a kubeconfig using it.
func (a *Agent) writeKubeconfig(ctx context.Context, pod *corev1.Pod, dir string) (string, error) {
	sa := pod.Spec.ServiceAccountName
	spec := authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}
	if sa == "" {
		// Without the ServiceAccount admission plugin (envtest disables it)
		// nothing defaults the name, and the API refuses to bind a token to a
		// Pod that does not name its ServiceAccount.
		sa = "default"
	} else {
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tr, err := a.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", pod.Namespace, sa, err)
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, WriteKubeconfig(path, a.o.Config, pod.Namespace, tr.Status.Token)
}

// WriteKubeconfig writes a kubeconfig for the API server of cfg (host and CA)
// that authenticates with a bearer token and defaults to namespace.
func WriteKubeconfig(path string, cfg *rest.Config, namespace, token string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "user", Namespace: namespace}
	kc.CurrentContext = "default"
	return clientcmd.WriteToFile(*kc, path)
}

// env resolves the container's environment variables.
func (a *Agent) env(ctx context.Context, pod *corev1.Pod, c corev1.Container) ([]string, error) {
	var out []string
	for _, e := range c.Env {
		v, err := a.envValue(ctx, pod, e)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

func (a *Agent) envValue(ctx context.Context, pod *corev1.Pod, e corev1.EnvVar) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return e.Value, nil
	case from.FieldRef != nil:
		switch f := from.FieldRef.FieldPath; f {
		case "metadata.name":
			return pod.Name, nil
		case "metadata.namespace":
			return pod.Namespace, nil
		case "metadata.uid":
			return string(pod.UID), nil
		case "spec.nodeName":
			return a.o.NodeName, nil
		case "spec.serviceAccountName":
			return pod.Spec.ServiceAccountName, nil
		case "status.hostIP", "status.podIP":
			return hostIP, nil
		default:
			return "", fmt.Errorf("fieldRef %s is not supported by the node agent", f)
		}
	case from.ResourceFieldRef != nil:
		return resourceFieldValue(pod, from.ResourceFieldRef)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := a.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), nil
			}
			err = fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
		}
		if ptr.Deref(ref.Optional, false) {
			return "", nil
		}
		return "", err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := a.cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, nil
			}
			err = fmt.Errorf("configmap %s has no key %s", ref.Name, ref.Key)
		}
		if ptr.Deref(ref.Optional, false) {
			return "", nil
		}
		return "", err
	}
	return "", errors.New("this valueFrom is not supported by the node agent")
}

// ---- status ----

func runningStatus(pod *corev1.Pod, started time.Time) corev1.PodStatus {
	c := pod.Spec.Containers[0]
	t := metav1.NewTime(started)
	return corev1.PodStatus{
		Phase:      corev1.PodRunning,
		HostIP:     hostIP,
		StartTime:  &t,
		Conditions: conditions(t, corev1.ConditionTrue, ""),
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
			ContainerID: containerID(pod),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t}},
		}},
	}
}

// reportTerminated marks the Pod's container terminated and the Pod
// Succeeded (exit code 0) or Failed.
func (a *Agent) reportTerminated(ctx context.Context, pod *corev1.Pod, started time.Time, code int32, reason, message string) error {
	now := metav1.Now()
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	st := corev1.PodStatus{Phase: phase, HostIP: hostIP, Conditions: conditions(now, corev1.ConditionFalse, "PodCompleted")}
	if started.IsZero() {
		st.StartTime = &now
	} else {
		st.StartTime = &metav1.Time{Time: started}
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Started: ptr.To(false), ContainerID: containerID(pod),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, Message: message,
				StartedAt: *st.StartTime, FinishedAt: now, ContainerID: containerID(pod),
			}},
		})
	}
	if reason != "Completed" && reason != "Error" {
		st.Reason, st.Message = reason, message
	}
	return a.patchStatus(ctx, pod, st)
}

// reportWaiting records why the container cannot start yet and returns err,
// so the Pod is retried.
func (a *Agent) reportWaiting(ctx context.Context, pod *corev1.Pod, reason string, err error) error {
	st := corev1.PodStatus{Phase: corev1.PodPending, HostIP: hostIP}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}},
		})
	}
	if perr := a.patchStatus(ctx, pod, st); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

func conditions(t metav1.Time, ready corev1.ConditionStatus, reason string) []corev1.PodCondition {
	cond := func(typ corev1.PodConditionType, s corev1.ConditionStatus, reason string) corev1.PodCondition {
		return corev1.PodCondition{Type: typ, Status: s, Reason: reason, LastTransitionTime: t}
	}
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, ""),
		cond(corev1.PodInitialized, corev1.ConditionTrue, ""),
		cond(corev1.ContainersReady, ready, reason),
		cond(corev1.PodReady, ready, reason),
	}
}

func containerID(pod *corev1.Pod) string { return "nodeagent://" + string(pod.UID) }

// patchStatus writes status with a strategic merge patch (conditions merge
// by type); the UID guards against a recreated Pod of the same name.
func (a *Agent) patchStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   st,
	})
	if err != nil {
		return err
	}
	_, err = a.cs.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}

func exitCode(ps *os.ProcessState) int32 {
	if ps == nil {
		return 128
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// tail returns at most the last maxLines lines and maxBytes bytes of a file.
func tail(path string, maxLines, maxBytes int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(data) > maxBytes {
		data = data[len(data)-maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// ---- logs ----

// PodLog is the output of one Pod's process.
type PodLog struct {
	Namespace, Pod string
	Path           string
}

// Logs lists the log files of the Pods the agent ran in namespace (all
// namespaces when empty), oldest first.
func (a *Agent) Logs(namespace string) []PodLog {
	paths, _ := filepath.Glob(filepath.Join(a.o.Dir, "*", "*.log"))
	type entry struct {
		PodLog
		mod time.Time
	}
	var entries []entry
	for _, p := range paths {
		parts := strings.SplitN(filepath.Base(filepath.Dir(p)), "_", 3)
		if len(parts) != 3 || (namespace != "" && parts[0] != namespace) {
			continue
		}
		var mod time.Time
		if fi, err := os.Stat(p); err == nil {
			mod = fi.ModTime()
		}
		entries = append(entries, entry{PodLog{Namespace: parts[0], Pod: parts[1], Path: p}, mod})
	}
	sort.Slice(entries, func(i, k int) bool { return entries[i].mod.Before(entries[k].mod) })
	out := make([]PodLog, len(entries))
	for i, e := range entries {
		out[i] = e.PodLog
	}
	return out
}

// Log returns the output of the newest run of a Pod by name.
func (a *Agent) Log(namespace, pod string) (string, error) {
	var path string
	for _, l := range a.Logs(namespace) {
		if l.Pod == pod {
			path = l.Path
		}
	}
	if path == "" {
		return "", fmt.Errorf("no log for pod %s/%s", namespace, pod)
	}
	data, err := os.ReadFile(path)
	return string(data), err
}

// resourceFieldValue renders a container's request or limit for an
// environment variable the way the kubelet does: ceil(quantity / divisor),
// the divisor defaulting to 1.
func resourceFieldValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	if len(pod.Spec.Containers) == 0 {
		return "", errors.New("no container")
	}
	c := pod.Spec.Containers[0]
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		return "", fmt.Errorf("resourceFieldRef names container %q, the Pod runs %q", ref.ContainerName, c.Name)
	}
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resourceFieldRef %s: not set, or not supported by the node agent", ref.Resource)
	}
	divisor := ref.Divisor.MilliValue()
	if divisor <= 0 {
		divisor = 1000
	}
	return strconv.FormatInt((q.MilliValue()+divisor-1)/divisor, 10), nil
}
