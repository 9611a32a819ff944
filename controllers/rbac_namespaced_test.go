package controllers_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/controllers"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

// Every rule in config/rbac says why it is there, in a comment right above it.
func TestRBAC_EveryRuleSaysWhy(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "rbac", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no config/rbac files: %v", err)
	}
	rules := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		prev := ""
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.HasPrefix(line, "- apiGroups:") {
				rules++
				if !strings.HasPrefix(strings.TrimSpace(prev), "#") {
					t.Errorf("%s:%d: rule without a comment saying why", filepath.Base(f), n)
				}
			}
			prev = line
		}
		_ = fh.Close()
	}
	if rules < 10 {
		t.Fatalf("found %d rules: the check reads nothing", rules)
	}
}

// Namespaced watch mode: a manager holding manager-role only through a
// RoleBinding in one namespace (config/namespaced) and started with
// --watch-namespaces for it syncs its caches (no cluster-wide list or watch
// is needed) and sees nothing of other namespaces.
func TestRBAC_NamespacedWatchModeNeedsNoClusterWideRights(t *testing.T) {
	skipShort(t)
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "test-namespaced-manager-role"
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, role) })
	watched, other := newNamespace(t), newNamespace(t)
	const userName = "test-namespaced-manager"
	if err := k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: watched},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: userName}},
	}); err != nil {
		t.Fatal(err)
	}
	user, err := env.AddUser(envtest.User{Name: userName}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mgr, err := controllers.NewManager(mctx, user.Config(), controllers.Options{
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", CrawlerImage: crawlerImage,
		WatchNamespaces: []string{watched}, Clock: clock, SkipControllerNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	syncCtx, stop := context.WithTimeout(mctx, 30*time.Second)
	defer stop()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		select {
		case err := <-done:
			t.Fatalf("the namespaced manager stopped: %v", err)
		default:
			t.Fatal("the namespaced manager's caches did not sync under namespaced RBAC")
		}
	}
	var list v1alpha1.ConfluenceDataSourceList
	if err := mgr.GetClient().List(mctx, &list, client.InNamespace(watched)); err != nil {
		t.Fatalf("listing data sources of the watched namespace: %v", err)
	}
	if err := mgr.GetClient().List(mctx, &list, client.InNamespace(other)); err == nil {
		t.Fatal("the namespaced manager reads data sources of a namespace it does not watch")
	}
	select {
	case err := <-done:
		t.Fatalf("the namespaced manager stopped: %v", err)
	case <-time.After(2 * time.Second):
	}
}
