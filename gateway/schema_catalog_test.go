package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// The catalog's sessions hold their tools' schemas in the shared parsed form, not as the maps
// the tool list decoded to: two servers of one kind hold one schema per tool between them, and
// the decoded maps (most of what a catalog session held per server) are not kept.
func TestCatalogSessionsHoldSharedSchemas(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{NoAuth: true})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	a := createServer(t, ns, "a", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	b := createServer(t, ns, "b", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	waitReady(t, a, 30*time.Second)
	waitReady(t, b, 30*time.Second)
	var held [2]map[string]any
	testenv.Eventually(t, 30*time.Second, "both servers' tools in the catalog", func() bool {
		for i, us := range []*mcpv1alpha1.UpstreamServer{a, b} {
			held[i] = h.Gateway.CatalogSchemas(types.NamespacedName{Namespace: ns, Name: us.Name})
		}
		return len(held[0]) > 0 && len(held[1]) > 0
	})
	for name, sa := range held[0] {
		if _, parsed := sa.(*jsonschema.Schema); !parsed {
			t.Errorf("tool %s: the catalog holds its input schema as %T", name, sa)
		}
		if fmt.Sprintf("%p", sa) != fmt.Sprintf("%p", held[1][name]) {
			t.Errorf("tool %s: the two servers hold two copies of one schema", name)
		}
	}
}
