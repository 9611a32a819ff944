package nodeagent_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/confluence-operator/confluence-operator/test/e2e/nodeagent"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

var (
	env   *testenv.Env
	agent *nodeagent.Agent
)

// TestMain runs etcd, kube-apiserver, kube-controller-manager (the real Job
// controller) and the agent once for all tests.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	kcm, err := env.StartControllerManager([]string{"job", "garbagecollector", "serviceaccount"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = kcm.Stop() }()
	dir, err := os.MkdirTemp("", "nodeagent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agent, err = nodeagent.New(nodeagent.Options{Config: env.Config, Binary: testenv.Kubectl(), Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "kube-controller-manager output (tail):\n"+lastLines(kcm.Output(), 40))
	}
	return code
}

func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

func job(ns, name string, backoff int32, c corev1.Container) *batchv1.Job {
	c.Name, c.Image = "main", "ignored:latest"
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(backoff),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{c},
			}},
		},
	}
}

// waitJob waits until the Job has condition t.
func waitJob(t *testing.T, j *batchv1.Job, want batchv1.JobConditionType) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(j), j); err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == want && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("job %s never became %s: %v; status %+v", j.Name, want, err, j.Status)
	}
}

func pods(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestJobCompletes_WithEnvFromPodSpec(t *testing.T) {
	ns := namespace(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}, StringData: map[string]string{"k": "from-secret"}}
	if err := env.Client.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	j := job(ns, "ok", 0, corev1.Container{
		Command: []string{"/bin/sh", "-c", `echo "$NS $LIT $SEC"; case "$POD" in ok-*) ;; *) exit 1;; esac; test -f "$KUBECONFIG"`},
		Env: []corev1.EnvVar{
			{Name: "LIT", Value: "x"},
			{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "SEC", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
		},
	})
	if err := env.Client.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	waitJob(t, j, batchv1.JobComplete)
	ps := pods(t, ns)
	if len(ps) != 1 || ps[0].Status.Phase != corev1.PodSucceeded || ps[0].Spec.NodeName != nodeagent.DefaultNodeName {
		t.Fatalf("want one Succeeded pod on %s, got %+v", nodeagent.DefaultNodeName, ps)
	}
	log, err := agent.Log(ns, ps[0].Name)
	if err != nil || !strings.Contains(log, ns+" x from-secret") {
		t.Fatalf("log %q, %v", log, err)
	}
}

func TestJobFails_AfterBackoffLimit_WithExitCodeAndMessage(t *testing.T) {
	ns := namespace(t)
	j := job(ns, "fails", 1, corev1.Container{Command: []string{"/bin/sh", "-c", "echo boom >&2; exit 3"}})
	if err := env.Client.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	waitJob(t, j, batchv1.JobFailed)
	ps := pods(t, ns)
	if len(ps) != 2 {
		t.Fatalf("backoffLimit 1 should give 2 pods, got %d", len(ps))
	}
	for _, p := range ps {
		term := p.Status.ContainerStatuses[0].State.Terminated
		if p.Status.Phase != corev1.PodFailed || term == nil || term.ExitCode != 3 || term.Message != "boom" {
			t.Errorf("pod %s: phase %s, terminated %+v", p.Name, p.Status.Phase, term)
		}
	}
}

// The kubeconfig holds a token of the Pod's ServiceAccount; the Binary runs
// when the container has no command.
func TestPodRunsBinary_AsItsServiceAccount(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "whoami", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: "runner",
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "main", Image: "ignored", Args: []string{"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"}}},
		},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, pod, corev1.PodSucceeded)
	log, _ := agent.Log(ns, "whoami")
	if want := "system:serviceaccount:" + ns + ":runner"; strings.TrimSpace(log) != want {
		t.Fatalf("whoami printed %q, want %q", log, want)
	}
}

func TestDeletedPod_KillsItsProcess(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "ignored", Command: []string{"/bin/sh", "-c", "echo started; sleep 300"}}},
		},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, pod, corev1.PodRunning)
	start := time.Now()
	if err := env.Client.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("pod not gone after delete: %v", err)
	}
	t.Logf("pod gone %v after delete", time.Since(start).Round(time.Millisecond))
}

func waitPhase(t *testing.T, pod *corev1.Pod, want corev1.PodPhase) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err
		}
		return pod.Status.Phase == want, nil
	})
	if err != nil {
		t.Fatalf("pod %s never %s: %v; status %+v", pod.Name, want, err, pod.Status)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
