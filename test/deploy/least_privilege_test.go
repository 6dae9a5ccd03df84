package deploy

import (
	"slices"
	"testing"

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
