package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// crawlerRules is everything a data source's crawler may do, by name:
// read its own Secrets, write back a rotated OAuth2 refresh token, read its
// own ConfluenceDataSource and patch that object's status.
func crawlerRules(obj *v1alpha1.ConfluenceDataSource) []rbacv1.PolicyRule {
	group := v1alpha1.GroupVersion.Group
	rules := []rbacv1.PolicyRule{{
		APIGroups:     []string{""},
		Resources:     []string{"secrets"},
		Verbs:         []string{"get"},
		ResourceNames: referencedSecretNames(obj),
	}}
	if written := crawlerWrittenSecrets(obj); len(written) > 0 {
		rules = append(rules, rbacv1.PolicyRule{
			APIGroups:     []string{""},
			Resources:     []string{"secrets"},
			Verbs:         []string{"patch", "update"},
			ResourceNames: written,
		})
	}
	return append(rules,
		rbacv1.PolicyRule{
			APIGroups:     []string{group},
			Resources:     []string{"confluencedatasources"},
			Verbs:         []string{"get"},
			ResourceNames: []string{obj.Name},
		},
		rbacv1.PolicyRule{
			APIGroups:     []string{group},
			Resources:     []string{"confluencedatasources/status"},
			Verbs:         []string{"patch"},
			ResourceNames: []string{obj.Name},
		},
	)
}

// objectMeta names an object.
func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace}
}

// ensureCrawlerRBAC creates or corrects the crawler's ServiceAccount, Role and
// RoleBinding, all named <name>-crawler and owned by the data source. It
// writes only when something differs from the cached object.
func (r *DataSourceReconciler) ensureCrawlerRBAC(ctx context.Context, obj *v1alpha1.ConfluenceDataSource) error {
	name := crawlerName(obj.Name)
	labels := childLabels(obj, "crawler")
	own := func(o client.Object) error {
		merged := o.GetLabels()
		if merged == nil {
			merged = map[string]string{}
		}
		for k, v := range labels {
			merged[k] = v
		}
		o.SetLabels(merged)
		return controllerutil.SetControllerReference(obj, o, r.Scheme)
	}

	sa := &corev1.ServiceAccount{ObjectMeta: objectMeta(name, obj.Namespace)}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, sa, func() error {
		// The Job mounts a projected token itself; nothing else gets one.
		sa.AutomountServiceAccountToken = ptr.To(false)
		return own(sa)
	}); err != nil {
		return fmt.Errorf("ensuring ServiceAccount %s: %w", name, err)
	}

	role := &rbacv1.Role{ObjectMeta: objectMeta(name, obj.Namespace)}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, role, func() error {
		role.Rules = crawlerRules(obj)
		return own(role)
	}); err != nil {
		return fmt.Errorf("ensuring Role %s: %w", name, err)
	}

	binding := &rbacv1.RoleBinding{ObjectMeta: objectMeta(name, obj.Namespace)}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, binding, func() error {
		binding.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}
		binding.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: obj.Namespace}}
		return own(binding)
	}); err != nil {
		return fmt.Errorf("ensuring RoleBinding %s: %w", name, err)
	}
	return nil
}
