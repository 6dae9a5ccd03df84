package deploy

import (
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// The manager may manage its leader-election lease in its own namespace only: no ClusterRole
// of the chart grants leases anywhere.
func TestChartGrantsLeasesOnlyInTheManagersNamespace(t *testing.T) {
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			objs := render(t, vc)
			for _, o := range find(objs, "ClusterRole") {
				cr := convert[rbacv1.ClusterRole](t, o)
				for _, r := range cr.Rules {
					if slices.Contains(r.Resources, "leases") {
						t.Errorf("ClusterRole %s grants leases cluster-wide: %+v", cr.Name, r)
					}
				}
			}
			found := false
			for _, o := range find(objs, "Role") {
				for _, r := range convert[rbacv1.Role](t, o).Rules {
					found = found || slices.Contains(r.Resources, "leases")
				}
			}
			if !found && len(find(objs, "ClusterRole")) > 0 { // rbac.create=false renders no RBAC at all
				t.Error("no namespaced Role grants the leader-election lease")
			}
		})
	}
}

// The chart's NetworkPolicy admits traffic only to the manager's serving ports and lets it dial
// only DNS and the API server's and upstreams' ports, never the link-local metadata networks.
func TestChartNetworkPolicy(t *testing.T) {
	objs := render(t, valuesCases[0])
	nps := find(objs, "NetworkPolicy")
	if len(nps) != 1 {
		t.Fatalf("rendered %d NetworkPolicies by default, want 1", len(nps))
	}
	np := convert[networkingv1.NetworkPolicy](t, nps[0])
	var in []int32
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			in = append(in, p.Port.IntVal)
		}
	}
	for _, want := range []int32{8090, 8080} {
		if !slices.Contains(in, want) {
			t.Errorf("ingress ports %v lack %d", in, want)
		}
	}
	denied := false
	for _, r := range np.Spec.Egress {
		for _, to := range r.To {
			if to.IPBlock != nil && slices.Contains(to.IPBlock.Except, "169.254.0.0/16") {
				denied = true
			}
			if to.IPBlock != nil && to.IPBlock.CIDR == "0.0.0.0/0" && !slices.Contains(to.IPBlock.Except, "169.254.0.0/16") {
				t.Errorf("egress to %s does not except the metadata network", to.IPBlock.CIDR)
			}
		}
	}
	if !denied {
		t.Error("egress does not except 169.254.0.0/16")
	}
}

// Metrics are served over authenticated, authorized HTTPS by default, with a reader role for
// scrapers.
func TestChartServesMetricsSecurely(t *testing.T) {
	objs := render(t, valuesCases[0])
	_, c := manager(t, objs)
	if !slices.Contains(c.Args, "--metrics-secure") {
		t.Errorf("args %q do not serve metrics securely", c.Args)
	}
	found := false
	for _, o := range find(objs, "ClusterRole") {
		for _, r := range convert[rbacv1.ClusterRole](t, o).Rules {
			found = found || slices.Contains(r.NonResourceURLs, "/metrics")
		}
	}
	if !found {
		t.Error("no ClusterRole lets a scraper GET /metrics")
	}
}
