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

// Fifty workloads open their own sessions through the gateway at once and call echo.
func TestFiftyConcurrentClients(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "busy", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, 50*3)
	for c := range 50 {
		wg.Go(func() {
			cs, err := dial(h.serverURL("busy"), false, "", nil)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", c, err)
				return
			}
			defer cs.Close()
			for i := range 3 {
				if err := echo(cs, "echo", fmt.Sprintf("client %d call %d", c, i)); err != nil {
					errs <- fmt.Errorf("client %d call %d: %w", c, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
