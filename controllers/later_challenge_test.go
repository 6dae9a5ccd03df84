package controllers_test

import (
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A server that lets initialize through without a token and challenges the next request
// (tools/list) is not "a server that needs no auth": the controller asks for a login, with the
// authorization server it discovered from that challenge, and after the login it connects.
func TestServerThatAsksForATokenAfterInitializeGetsALogin(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{OpenInitialize: true})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "later", srv.MCPURL())
	testenv.Eventually(t, 30*time.Second, "a login asked for", func() (bool, string) {
		cur := get(t, us)
		return needsLogin(cur, mcpv1alpha1.ReasonNoToken), describe(cur)
	})
	if a := get(t, us).Status.Authorization; a == nil || a.AuthorizationServer != srv.Issuer() {
		t.Fatalf("status.authorization = %+v, want the discovered issuer %s", a, srv.Issuer())
	}
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)
}
