package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// fleet is a set of servers in one namespace, all on one OAuth server.
type fleet struct {
	ns    string
	names []string
}

// newFleet creates n servers and logs them all in through a manager run with --browser-login
// and a following $BROWSER, then stops that manager. What follows runs without
// --browser-login: from then on nobody can log in, so any lost grant shows.
func newFleet(t *testing.T, ns, store string, o *oauthProc, n int, so serverOpts) *fleet {
	t.Helper()
	br := newBrowser(t, store+"-login", true, 0)
	return loginFleet(t, ns, newManager(t, store, true, br.env), o, n, so)
}

// loginFleet is newFleet with the login manager m (run with --browser-login and a following
// $BROWSER), for a scenario that chooses its store.
func loginFleet(t *testing.T, ns string, m *manager, o *oauthProc, n int, so serverOpts) *fleet {
	t.Helper()
	f := &fleet{ns: ns}
	m.start(t)
	for i := range n {
		name := fmt.Sprintf("srv-%02d", i)
		f.names = append(f.names, name)
		createServer(t, ns, name, o.mcp, so)
	}
	f.waitAll(t, "Ready after the browser logins", 90*time.Second, isReady)
	m.stop()
	if st := o.stats(t); st.Authorizations != n {
		t.Fatalf("%d authorizations for %d servers", st.Authorizations, n)
	}
	return f
}

// list reads every server of the fleet from the API server.
func (f *fleet) list(t *testing.T) map[string]*mcpv1alpha1.UpstreamServer {
	t.Helper()
	var l mcpv1alpha1.UpstreamServerList
	if err := kube.List(context.Background(), &l, client.InNamespace(f.ns)); err != nil {
		t.Fatalf("listing servers: %v", err)
	}
	out := map[string]*mcpv1alpha1.UpstreamServer{}
	for i := range l.Items {
		out[l.Items[i].Name] = &l.Items[i]
	}
	return out
}

// waitAll polls until pred holds for every server of the fleet.
func (f *fleet) waitAll(t *testing.T, what string, d time.Duration, pred func(*mcpv1alpha1.UpstreamServer) bool) {
	t.Helper()
	testenv.Eventually(t, d, "every server "+what, func() (bool, string) {
		all := f.list(t)
		var bad []string
		for _, n := range f.names {
			if us := all[n]; !pred(us) {
				bad = append(bad, describe(us))
			}
		}
		sort.Strings(bad)
		if len(bad) > 3 {
			bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
		}
		return len(bad) == 0, fmt.Sprint(bad)
	})
}
