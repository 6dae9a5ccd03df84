package gateway

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

type answer struct {
	status int
	body   string
	err    error
}

// A request waiting for a refreshed token is answered as soon as the gateway stops, not after
// RefreshWait: the controller stops first, so that token never comes. The request here is the
// catalog's kind (a session's closing DELETE, its standalone stream), whose context the
// gateway's stop does not cancel: at N=5,000 their waits held the manager's exit for 25 s.
// Before the fix it was still waiting a minute after the stop.
func TestStoppingGatewayEndsWaitsForTokens(t *testing.T) {
	up := startTokenUpstream(t) // rejects the stored token "old"
	sch := runtime.NewScheme()
	if err := mcpv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: up.URL + "/mcp"}, Status: readyStatus()}
	cl := fake.NewClientBuilder().WithScheme(sch).WithObjects(us).Build()
	store, err := tokenstore.Open(filepath.Join(t.TempDir(), "tokens.db"), tokenstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, err := store.Save(upstream.StoreKey(us), &tokenstore.Record{AccessToken: "old",
		Expiry: time.Now().Add(time.Hour), ServerURL: us.Spec.URL}, 0); err != nil {
		t.Fatal(err)
	}
	rr := &refreshRecorder{} // a stopped controller: asked, it never refreshes
	g, err := New(Options{Client: cl, APIReader: cl, Store: store, Refresher: rr,
		RefreshWait: 10 * time.Minute, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}

	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, us.Spec.URL, strings.NewReader(pingBody))
		req.Header.Set("Content-Type", "application/json")
		resp, err := boundTransport{u: g.up, nn: upstream.Name(us), target: target(us)}.RoundTrip(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, body: string(b)}
	}()
	waitFor(t, 20*time.Second, "the request to wait for a refresh of the rejected token", func() bool {
		return len(rr.requests()) > 0
	})

	g.stop() // what Start does once its context is done
	select {
	case a := <-answered:
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.status == http.StatusOK || !strings.Contains(a.body, `"error"`) {
			t.Fatalf("answer: %d %s, want a JSON-RPC error", a.status, a.body)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiting request was not answered within a minute of the stop")
	}
	if n := len(rr.requests()); n != 1 {
		t.Fatalf("%d refresh requests, want the one before the stop", n)
	}
}

// waitFor polls cond every 10ms until it holds, failing the test at the deadline.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}
