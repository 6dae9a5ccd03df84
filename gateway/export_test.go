package gateway

import (
	"io"
	"time"
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
