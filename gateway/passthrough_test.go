package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A workload calls echo every 200ms through the gateway while the controller refreshes the
// 2-second token at least five times: no call fails, and the workload never held a token.
func TestPassThroughAcrossRefreshes(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "demo", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)

	cs := connect(t, h.serverURL("demo"), false, "", nil)
	start := srv.Stats().Refreshes
	calls, failed := 0, 0
	deadline := time.Now().Add(40 * time.Second)
	for srv.Stats().Refreshes-start < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d refreshes in 40s", srv.Stats().Refreshes-start)
		}
		calls++
		if err := echo(cs, "echo", fmt.Sprint("call ", calls)); err != nil {
			failed++
			t.Errorf("call %d failed: %v", calls, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d calls across %d refreshes, %d failed", calls, srv.Stats().Refreshes-start, failed)
	logs := h.logs.String()
	if !strings.Contains(logs, "Served gateway request") {
		t.Fatal("no access log lines")
	}
	for _, secret := range srv.IssuedSecrets() {
		if strings.Contains(logs, secret) {
			t.Fatal("the gateway logged a token or secret")
		}
	}
}
