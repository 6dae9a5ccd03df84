package deploy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// A refresh in flight at shutdown must finish and be saved: the authorization server rotates
// the refresh token whether or not the answer is read. So the manager waits longer than a
// refresh may take, and the pod is given longer than the manager waits. The chart also denies
// the pod's own loopback, which a tenant could otherwise point a server at.
func TestChartOutlastsARefreshAndDeniesLoopback(t *testing.T) {
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			dep, c := manager(t, render(t, vc))
			var wait time.Duration
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--graceful-shutdown-timeout="); ok {
					d, err := time.ParseDuration(v)
					if err != nil {
						t.Fatalf("%s: %v", a, err)
					}
					wait = d
				}
			}
			if wait <= lifecycle.RefreshTimeout {
				t.Errorf("--graceful-shutdown-timeout %s is not longer than a refresh (%s)", wait, lifecycle.RefreshTimeout)
			}
			grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
			if grace == nil || time.Duration(*grace)*time.Second <= wait {
				t.Errorf("terminationGracePeriodSeconds %v is not longer than the manager's wait %s", grace, wait)
			}
			for _, loop := range netguard.LoopbackNets {
				if !slices.ContainsFunc(c.Args, func(a string) bool {
					return strings.HasPrefix(a, netguard.FlagDeny+"=") && strings.Contains(a, loop)
				}) {
					t.Errorf("args %q do not deny the pod's loopback %s", c.Args, loop)
				}
			}
		})
	}
}
