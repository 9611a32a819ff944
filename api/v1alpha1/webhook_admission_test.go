package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

func TestAdmission_Webhook(t *testing.T) {
	dc := func(ds *v1.ConfluenceDataSource) {
		ds.Spec.Confluence.Deployment = v1.DeploymentDataCenter
		ds.Spec.Confluence.URL = "http://confluence.internal:8090/confluence"
	}
	cases := map[string]struct {
		mutate    func(*v1.ConfluenceDataSource)
		wantField string // empty: accepted
	}{
		"Data Center, default key": {func(ds *v1.ConfluenceDataSource) { dc(ds); ds.Spec.Webhook = &v1.WebhookSpec{} }, ""},
		"Cloud refused":            {func(ds *v1.ConfluenceDataSource) { ds.Spec.Webhook = &v1.WebhookSpec{} }, "spec.webhook"},
		"credential key refused": {func(ds *v1.ConfluenceDataSource) {
			dc(ds)
			ds.Spec.Webhook = &v1.WebhookSpec{SecretKey: "password"}
		}, "spec.webhook.secretKey"},
		"Targeted is not a scheduled mode": {func(ds *v1.ConfluenceDataSource) { ds.Spec.Sync.Mode = v1.SyncTargeted }, "spec.sync.mode"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := validDataSource(newNamespace(t))
			tc.mutate(ds)
			err := env.Client.Create(context.Background(), ds)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if ds.Spec.Webhook.SecretKey != v1.DefaultWebhookSecretKey {
					t.Fatalf("secretKey defaulted to %q", ds.Spec.Webhook.SecretKey)
				}
				return
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.wantField) {
				t.Fatalf("want an Invalid error naming %s, got %v", tc.wantField, err)
			}
		})
	}
}
