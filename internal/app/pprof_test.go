package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// --pprof-bind-address serves net/http/pprof, so the manager can be profiled under load
// (make bench); the phase histogram on the metrics endpoint says where a reconcile's time went.
func TestPprofAndPhaseMetricsAreServed(t *testing.T) {
	env := testenv.Current()
	ns := testenv.NewNamespace(t, "pprof")
	pprofAddr, metricsAddr := freeAddr(t), freeAddr(t)
	runManager(t, app.Options{Namespaces: []string{ns}, MetricsAddr: metricsAddr, PprofAddr: pprofAddr})

	get := func(url string) (string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return string(b), fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return string(b), err
	}
	testenv.Eventually(t, 30*time.Second, "a goroutine profile from the pprof endpoint", func() (bool, string) {
		body, err := get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
		return err == nil && strings.Contains(body, "goroutine profile:"), fmt.Sprint(err)
	})
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "timed", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()}}
	if err := env.Client.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	// Its first pass reads, discovers, decides and patches status.
	testenv.Eventually(t, 30*time.Second, "the phases of a reconcile on the metrics endpoint", func() (bool, string) {
		body, err := get("http://" + metricsAddr + "/metrics")
		for _, phase := range []string{"read", "discover", "plan", "status_patch"} {
			if !strings.Contains(body, `mcpproxy_reconcile_phase_duration_seconds_count{controller="upstreamserver",phase="`+phase+`"}`) {
				return false, fmt.Sprintf("no %s phase yet (%v)", phase, err)
			}
		}
		return true, ""
	})
}
