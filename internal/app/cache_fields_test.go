package app_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The cache keeps no managed fields. They are half of a reconciled server's size (every
// status field the manager writes is listed again), nothing in the manager reads them, and
// every reconcile copied them out of the cache and into its status patch's diff.
func TestCachedServersCarryNoManagedFields(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	ns := testenv.NewNamespace(t, "nomanagedfields")
	m := testenv.StartManager(t, testenv.ManagerOptions{NoSync: true})
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "http://127.0.0.1:1/mcp"}}
	if err := env.Client.Create(ctx, us); err != nil {
		t.Fatal(err)
	}
	m.WaitReconciled(t, us, 0, 60*time.Second)

	var stored mcpv1alpha1.UpstreamServer
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(us), &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.ManagedFields) == 0 {
		t.Fatal("the API server keeps no managed fields for the server: this test shows nothing")
	}
	var cached mcpv1alpha1.UpstreamServer
	if err := m.GetCache().Get(ctx, client.ObjectKeyFromObject(us), &cached); err != nil {
		t.Fatal(err)
	}
	if len(cached.ManagedFields) != 0 {
		t.Errorf("the cache holds %d managed fields entries of the server", len(cached.ManagedFields))
	}
	if cached.Spec.URL != us.Spec.URL {
		t.Errorf("the cached server lost more than its managed fields: %+v", cached.ObjectMeta)
	}
}
