package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/e2e/cluster"
)

// TestCloudOAuth2 syncs with OAuth 2.0 whose access token has expired: the
// crawler must refresh it, and since Cloud refresh tokens are single-use,
// write the rotated one back to the Secret so the next sync works too.
func TestCloudOAuth2(t *testing.T) {
	t.Parallel()
	s := newSource(t, "Cloud", "OAuth2")
	first := s.Credentials["confluenceRefreshToken"]
	s.Confluence.ExpireAccessTokens()
	s.apply(t)
	s.waitReady(t)
	s.checkACLs(t)

	second := refreshToken(t, s)
	if second == first {
		t.Fatal("the refresh token in the Secret did not change: the rotated token was not written back")
	}
	if !s.Confluence.RefreshTokenValid(second) || s.Confluence.RefreshTokenValid(first) {
		t.Fatalf("the Secret's refresh token should be the live one (stored valid: %v, first still valid: %v)",
			s.Confluence.RefreshTokenValid(second), s.Confluence.RefreshTokenValid(first))
	}

	s.Confluence.ExpireAccessTokens()
	ds := s.requestSync(t)
	if ready := cluster.Condition(ds, v1.ConditionReady); ready.Status != "True" {
		t.Fatalf("second sync: Ready = %+v", ready)
	}
	if third := refreshToken(t, s); third == second || !s.Confluence.RefreshTokenValid(third) {
		t.Errorf("second sync did not rotate the refresh token again (valid: %v)", s.Confluence.RefreshTokenValid(third))
	}
}

func refreshToken(t *testing.T, s *source) string {
	t.Helper()
	var secret corev1.Secret
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: s.Namespace, Name: s.SecretName()}, &secret); err != nil {
		t.Fatal(err)
	}
	return string(secret.Data["confluenceRefreshToken"])
}

// TestDataCenterPAT syncs a Data Center site with a personal access token;
// users are found by user name.
func TestDataCenterPAT(t *testing.T) {
	t.Parallel()
	s := newSource(t, "DataCenter", "PersonalAccessToken")
	s.apply(t)
	ds := s.waitReady(t)
	if ds.Status.DocumentCount == 0 {
		t.Fatalf("documentCount is 0: %+v", ds.Status.LastSync)
	}
	s.checkACLs(t)
}
