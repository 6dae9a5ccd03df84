package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// tarpit fronts a public MCP server: it answers the controller, so the server is Ready, but
// holds every request of the gateway's catalog (client "mcpproxy-gateway") open without a
// byte of answer until released.
type tarpit struct {
	*httptest.Server
	held      atomic.Int64 // catalog requests being held now
	abandoned atomic.Int64 // held requests the catalog gave up on
	released  chan struct{}
}

func newTarpit(t *testing.T, upstreamURL string) *tarpit {
	t.Helper()
	tp := &tarpit{released: make(chan struct{})}
	tp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if bytes.Contains(body, []byte(`"mcpproxy-gateway"`)) {
			tp.held.Add(1)
			select {
			case <-tp.released:
			case <-r.Context().Done():
				tp.abandoned.Add(1)
			}
			tp.held.Add(-1)
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, upstreamURL, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(flushWriter{w}, resp.Body)
	}))
	t.Cleanup(func() { tp.release(); tp.Close() })
	return tp
}

func (tp *tarpit) release() {
	select {
	case <-tp.released:
	default:
		close(tp.released)
	}
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// A server that never answers the catalog does not hold up the others: /mcp lists the healthy
// servers' tools while the tarpit still holds the catalog's request, and the tarpit's tools
// join once it answers. Before the catalog worked in parallel, one sync waited on the tarpit
// and served no new tools until it gave up.
func TestTarpitServerDoesNotFreezeTheCatalog(t *testing.T) {
	defer SetCatalogTuning(10*time.Minute, time.Second)()
	public := testenv.StartOAuthServer(t, oauthserver.Options{NoAuth: true})
	tp := newTarpit(t, public.MCPURL())
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	slow := createServer(t, ns, "slow", mcpv1alpha1.UpstreamServerSpec{URL: tp.URL + "/mcp"})
	waitReady(t, slow, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, "the catalog's request to the tarpit held", func() bool { return tp.held.Load() > 0 })

	healthy := []string{"one", "two", "three"}
	for _, name := range healthy {
		waitReady(t, createServer(t, ns, name, mcpv1alpha1.UpstreamServerSpec{URL: public.MCPURL()}), 30*time.Second)
	}
	cs := connect(t, h.url+"/mcp", false, "", nil)
	testenv.Eventually(t, 30*time.Second, "the healthy servers' tools listed", func() bool {
		names := toolNames(t, cs)
		for _, name := range healthy {
			if !slices.Contains(names, ToolName(ns, name, "echo")) {
				return false
			}
		}
		return !slices.Contains(names, ToolName(ns, "slow", "echo"))
	})
	// Causal, not timed: the catalog's first request to the tarpit is still unanswered. A
	// catalog that waited on it could have listed nothing new until it gave up on it.
	if n := tp.abandoned.Load(); n > 0 || tp.held.Load() == 0 {
		t.Fatalf("the healthy tools were listed only after the catalog gave up on the tarpit (%d times)", n)
	}
	if err := echo(cs, ToolName(ns, "one", "echo"), "while the tarpit holds"); err != nil {
		t.Fatal(err)
	}

	tp.release()
	testenv.Eventually(t, 30*time.Second, "the tarpit's tools once it answers", func() bool {
		return slices.Contains(toolNames(t, cs), ToolName(ns, "slow", "echo"))
	})
}
