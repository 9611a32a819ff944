package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// The exfiltration of issue 14: an author who may edit data sources but not
// read Secrets names an unrelated Secret (payroll-db) as the Confluence and
// the OpenSearch credentials and points the endpoint at a listener of their
// own. The controller must refuse before it grants the crawler anything or
// starts a Job, naming the missing opt-in; then the Secret's owner opts in to
// the data source and to Confluence but not to the listener, which is still
// refused; and a Secret whose opt-in is withdrawn stops being granted.
func TestTenancy_SecretExfiltrationRefused(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	payroll := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "payroll-db", Namespace: ns},
		StringData: map[string]string{"username": "payroll", "password": "db-password"}}
	if err := k8s.Create(ctx, payroll); err != nil {
		t.Fatal(err)
	}
	obj := newDataSource(ns, "exfil")
	obj.Spec.Confluence.Auth.SecretRef.Name = "payroll-db"
	obj.Spec.OpenSearch.Endpoints = []string{"https://listener.attacker.test:8443"}
	obj.Spec.OpenSearch.Auth = &v1alpha1.OpenSearchAuth{SecretRef: v1alpha1.SecretReference{Name: "payroll-db"}}
	create(t, obj)

	cur := expectCondition(t, obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretNotAllowed)
	msg := condition(cur, v1alpha1.ConditionStalled).Message
	if !strings.Contains(msg, `"payroll-db"`) || !strings.Contains(msg, v1alpha1.AllowedDataSourcesAnnotation+"=exfil") {
		t.Fatalf("Stalled message %q does not name the Secret and the missing opt-in", msg)
	}
	if strings.Contains(msg, "db-password") || strings.Contains(msg, "payroll\"") && strings.Contains(msg, "username") {
		t.Fatalf("Stalled message shows Secret data: %q", msg)
	}
	expectNoCrawlerAccess(t, obj, 2*time.Second)

	// The owner opts in to the data source and to Confluence, not to the listener.
	annotateSecret(t, ns, "payroll-db", map[string]string{v1alpha1.AllowedDataSourcesAnnotation: "exfil", v1alpha1.AllowedHostsAnnotation: "example.atlassian.net"})
	eventually(t, func() error {
		c := condition(get(t, obj), v1alpha1.ConditionStalled)
		if c == nil || c.Reason != v1alpha1.ReasonSecretNotAllowed || !strings.Contains(c.Message, `"listener.attacker.test:8443"`) {
			return fmt.Errorf("Stalled = %+v, want the listener named", c)
		}
		return nil
	})
	expectNoCrawlerAccess(t, obj, time.Second)

	// Opted in to both: the crawler is granted the Secret and a sync starts.
	annotateSecret(t, ns, "payroll-db", map[string]string{v1alpha1.AllowedHostsAnnotation: "example.atlassian.net, listener.attacker.test"})
	expectCrawlerRBAC(t, obj, crawlerRules(obj, []string{"payroll-db"}, false))
	activeJobName(t, obj)

	// Withdrawn: stalled again, and the Role grants nothing any more.
	annotateSecret(t, ns, "payroll-db", map[string]string{v1alpha1.AllowedDataSourcesAnnotation: "someone-else"})
	expectCondition(t, obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretNotAllowed)
	eventually(t, func() error {
		var role rbacv1.Role
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "exfil-crawler"}, &role); err != nil {
			return err
		}
		if len(role.Rules) != 0 {
			return fmt.Errorf("the crawler Role still grants %+v", role.Rules)
		}
		return nil
	})
}

// A foreign crawler image would run the author's code with the crawler's
// Role: refused before any Role or Job exists.
func TestTenancy_ForeignImageRefused(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	obj := newDataSource(ns, "foreign")
	obj.Spec.Crawler.Image = "attacker.example.net/crawler:v1"
	create(t, obj)
	cur := expectCondition(t, obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonImageNotAllowed)
	if msg := condition(cur, v1alpha1.ConditionStalled).Message; !strings.Contains(msg, "attacker.example.net/crawler:v1") || !strings.Contains(msg, "--allowed-crawler-images") {
		t.Fatalf("Stalled message %q does not name the image and the allow-list", msg)
	}
	expectNoCrawlerAccess(t, obj, 2*time.Second)

	// The manager's own image is always allowed.
	patchSpec(t, obj, func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Crawler.Image = crawlerImage })
	activeJobName(t, obj)
}

// expectNoCrawlerAccess checks, for d, that the data source has no crawler
// Role and no Job.
func expectNoCrawlerAccess(t *testing.T, obj *v1alpha1.ConfluenceDataSource, d time.Duration) {
	t.Helper()
	consistently(t, d, func() error {
		var role rbacv1.Role
		err := k8s.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: obj.Name + "-crawler"}, &role)
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("crawler Role exists (err %v): %+v", err, role.Rules)
		}
		var jobs batchv1.JobList
		if err := k8s.List(ctx, &jobs, client.InNamespace(obj.Namespace)); err != nil {
			return err
		}
		if len(jobs.Items) != 0 {
			return fmt.Errorf("%d Jobs created", len(jobs.Items))
		}
		return nil
	})
}

// annotateSecret sets annotations on a Secret, as its owner would.
func annotateSecret(t *testing.T, ns, name string, ann map[string]string) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, secret); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(secret.DeepCopy())
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	for k, v := range ann {
		secret.Annotations[k] = v
	}
	if err := k8s.Patch(ctx, secret, patch); err != nil {
		t.Fatal(err)
	}
}
