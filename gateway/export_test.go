package gateway

import (
	"context"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// SetCatalogTuning changes the tuning of the catalogs of gateways created from now on (the
// per-server timeout and the retry delay) and returns the undo.
func SetCatalogTuning(serverTimeout, retryDelay time.Duration) (restore func()) {
	old := defaultCatalogTuning
	defaultCatalogTuning.ServerTimeout, defaultCatalogTuning.RetryDelay = serverTimeout, retryDelay
	return func() { defaultCatalogTuning = old }
}

// NewEndpointRewriter is the pass-through's legacy SSE rewriter, for tests.
func NewEndpointRewriter(body io.ReadCloser, rewrite func(string) string) io.ReadCloser {
	return newEndpointRewriter(body, rewrite)
}

// ServerSeen is UpstreamServer nn as the gateway decides from it (its own index, filled by the
// informer's handlers after the cache's store, or the cache).
func (g *Gateway) ServerSeen(ctx context.Context, nn types.NamespacedName) (*mcpv1alpha1.UpstreamServer, error) {
	return g.server(ctx, nn)
}

// CatalogSchemas is the input schema of each tool the catalog's session of server nn holds,
// by tool name, or nil while it holds none.
func (g *Gateway) CatalogSchemas(nn types.NamespacedName) map[string]any {
	c := g.catalog
	c.mu.Lock()
	defer c.mu.Unlock()
	conn := c.conns[connKey{nn: nn}]
	if conn == nil || len(conn.tools) == 0 {
		return nil
	}
	out := make(map[string]any, len(conn.tools))
	for _, t := range conn.tools {
		out[t.Name] = t.InputSchema
	}
	return out
}
