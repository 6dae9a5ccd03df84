package gateway_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// The authorization server revokes every token mid-run and a person logs in again: the call
// in flight is held while the gateway asks for a refresh and waits for the new token, and is
// retried once; no call fails and at most one is retried.
func TestRevokedTokenCostsAtMostOneRetriedCall(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "revoked", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)
	cs := connect(t, h.serverURL("revoked"), false, "", nil)
	server := ns + "/revoked"
	retried := func() float64 {
		return counter(t, "mcpproxy_gateway_token_retries_total", "server", server, "result", "success")
	}

	var (
		mu                       sync.Mutex
		calls, failed, revokedAt int
		stop, stopped            = make(chan struct{}), make(chan struct{})
	)
	go func() { // a workload calling every 200ms
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := echo(cs, "echo", fmt.Sprint("call ", i))
			mu.Lock()
			calls++
			if err != nil {
				failed++
				t.Logf("call %d failed: %v", i, err)
			}
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	testenv.Eventually(t, 10*time.Second, "a few calls", func() bool { mu.Lock(); defer mu.Unlock(); return calls >= 3 })
	srv.RevokeAll()
	testenv.Eventually(t, 15*time.Second, "the gateway asking for a refresh", func() bool {
		return counter(t, "mcpproxy_gateway_refresh_requests_total", "server", server) > 0
	})
	mu.Lock()
	revokedAt = calls
	mu.Unlock()
	testenv.Login(t, srv, us) // what a person does when the refresh token is revoked too
	testenv.Eventually(t, 15*time.Second, "the held call retried", func() bool { return retried() >= 1 })
	testenv.Eventually(t, 10*time.Second, "calls after the new login", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls >= revokedAt+5
	})
	close(stop)
	<-stopped
	if failed != 0 || retried() > 1 {
		t.Fatalf("%d of %d calls failed, %v retried; want none failed and at most one retried", failed, calls, retried())
	}
}
