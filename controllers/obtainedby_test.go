package controllers_test

import (
	"context"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Whose upstream account a server acts as is visible: the user the hand-over names (checked
// by the admission policy where it is installed) shows in status.token.obtainedBy, and stays
// there across refreshes.
func TestStatusShowsWhoLoggedIn(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "whose", srv.MCPURL())
	res := testenv.HeadlessLogin(t, srv, us.Spec.URL)
	body, err := browserlogin.HandOver(res, us.Spec.URL, time.Now()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	sec := mcpv1alpha1.NewHandOverSecret(get(t, us), body)
	sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: "alice@example.com"}
	if err := apiClient.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, us, 20*time.Second)
	testenv.Eventually(t, 20*time.Second, "a refresh that keeps obtainedBy", func() (bool, string) {
		tok := get(t, us).Status.Token
		if tok == nil {
			return false, "no status.token"
		}
		return srv.Stats().Refreshes >= 1 && tok.ObtainedBy == "alice@example.com", "obtainedBy " + tok.ObtainedBy
	})
}
