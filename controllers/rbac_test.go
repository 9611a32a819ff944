package controllers_test

import (
	"os"
	"path/filepath"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/controllers"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

// TestManagerRole_CanGrantTheCrawlerRole checks the generated
// config/rbac/role.yaml against the apiserver's RBAC escalation check: a
// user holding only manager-role creates the OAuth2 crawler Role (which
// includes update/patch on a Secret) and binds it, without escalate or bind.
func TestManagerRole_CanGrantTheCrawlerRole(t *testing.T) {
	skipShort(t)
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		t.Fatal(err)
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v == "escalate" || v == "bind" || v == "impersonate" || v == "*" {
				t.Fatalf("manager role holds %q: %+v", v, r)
			}
		}
	}
	role.Name = "test-manager-role"
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-manager-role"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "test-manager"}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	user, err := env.AddUser(envtest.User{Name: "test-manager"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	manager, err := client.New(user.Config(), client.Options{Scheme: controllers.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	ns := newNamespace(t)
	obj := newDataSource(ns, "wiki")
	obj.Spec.Confluence.Auth.Type = v1alpha1.AuthOAuth2
	crawler := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "wiki-crawler", Namespace: ns},
		Rules:      crawlerRules(obj, []string{"confluence", "opensearch"}, true),
	}
	if err := manager.Create(ctx, crawler); err != nil {
		t.Fatalf("manager-role cannot create the crawler Role: %v", err)
	}
	if err := manager.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wiki-crawler", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "wiki-crawler"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "wiki-crawler", Namespace: ns}},
	}); err != nil {
		t.Fatalf("manager-role cannot bind the crawler Role: %v", err)
	}
	// A rule the manager does not hold is refused: the check is real.
	crawler.Name = "too-much"
	crawler.ResourceVersion = ""
	crawler.Rules = append(crawler.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})
	if err := manager.Create(ctx, crawler); err == nil {
		t.Fatal("manager-role could grant pods/create it does not hold")
	}
}
