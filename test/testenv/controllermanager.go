package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ControllerManager is a kube-controller-manager process run against an Env,
// so tests get the real Job controller, garbage collector and others.
type ControllerManager struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}

	mu  sync.Mutex
	out bytes.Buffer
}

// DefaultControllers are the kube-controller-manager controllers that make
// Jobs run (pods are created and counted) and owned objects go away with
// their owners.
var DefaultControllers = []string{"job", "garbagecollector"}

// StartControllerManager starts kube-controller-manager from Assets() with
// the given controllers (DefaultControllers when empty) against the Env, as a
// cluster admin, without leader election or a serving port. The apiserver's
// service-account signing key and CA are passed too, so the serviceaccount-token
// and root-ca-cert-publisher controllers work when asked for. Callers must Stop it.
func (e *Env) StartControllerManager(controllers []string, extraArgs ...string) (*ControllerManager, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	if len(controllers) == 0 {
		controllers = DefaultControllers
	}
	dir, err := os.MkdirTemp("", "kube-controller-manager-")
	if err != nil {
		return nil, err
	}
	kubeconfig, err := e.Kubeconfig(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, e.Config.CAData, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	args := []string{
		"--controllers=" + strings.Join(controllers, ","),
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--secure-port=0",
		"--bind-address=127.0.0.1",
		"--root-ca-file=" + caFile,
	}
	if certDir := e.ControlPlane.APIServer.CertDir; certDir != "" {
		args = append(args, "--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"))
	}
	args = append(args, extraArgs...)

	cm := &ControllerManager{dir: dir, done: make(chan struct{})}
	cm.cmd = exec.Command(filepath.Join(assets, "kube-controller-manager"), args...)
	cm.cmd.Stdout = &lockedWriter{cm}
	cm.cmd.Stderr = &lockedWriter{cm}
	if err := cm.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	go func() {
		_ = cm.cmd.Wait()
		close(cm.done)
	}()
	// Flag errors and bad kubeconfigs make it exit at once.
	select {
	case <-cm.done:
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("kube-controller-manager exited: %s\n%s", cm.cmd.ProcessState, cm.Output())
	case <-time.After(500 * time.Millisecond):
	}
	return cm, nil
}

// Output returns what the process logged so far.
func (cm *ControllerManager) Output() string {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	return cm.out.String()
}

// Stop ends the process and removes its files.
func (cm *ControllerManager) Stop() error {
	defer os.RemoveAll(cm.dir)
	select {
	case <-cm.done:
		return errors.New("kube-controller-manager had already exited")
	default:
	}
	_ = cm.cmd.Process.Signal(os.Interrupt)
	select {
	case <-cm.done:
	case <-time.After(10 * time.Second):
		_ = cm.cmd.Process.Kill()
		<-cm.done
	}
	return nil
}

// lockedWriter collects process output for Output.
type lockedWriter struct{ cm *ControllerManager }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.cm.mu.Lock()
	defer w.cm.mu.Unlock()
	return w.cm.out.Write(p)
}
