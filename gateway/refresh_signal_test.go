package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

var _ TokenReader = (*tokenstore.Store)(nil)

// pingBody is a small JSON-RPC request; the gateway keeps it for a retry after a 401.
const pingBody = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

// refreshRecorder is the reconciler's side of Options.Refresher: it records every request and
// hands each to a callback that plays the reconciler (saving a new revision, say).
type refreshRecorder struct {
	mu   sync.Mutex
	reqs []upstream.RefreshRequest
	on   func(upstream.RefreshRequest)
}

func (r *refreshRecorder) RequestRefresh(req upstream.RefreshRequest) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.on != nil {
		go r.on(req) // RequestRefresh must not block: the reconciler acts later
	}
}

func (r *refreshRecorder) requests() []upstream.RefreshRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]upstream.RefreshRequest(nil), r.reqs...)
}

// tokenUpstream is an MCP server stand-in that accepts only the bearer token "new".
type tokenUpstream struct {
	*httptest.Server
	rejected atomic.Int64
}

func startTokenUpstream(t *testing.T) *tokenUpstream {
	u := &tokenUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			u.rejected.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"ok":true}}`)
	}))
	t.Cleanup(u.Close)
	return u
}

// signalFixture is a gateway over a fake API server, a real bbolt store holding one token for
// ns/s, and a recording Refresher; no reconciler runs.
type signalFixture struct {
	us    *mcpv1alpha1.UpstreamServer
	store *tokenstore.Store
	rev   uint64 // the stored revision
	cl    client.Client
	url   string // the gateway's pass-through URL of ns/s
}

func newSignalFixture(t *testing.T, up *tokenUpstream, expiry time.Time, status mcpv1alpha1.UpstreamServerStatus,
	refresher upstream.Refresher) *signalFixture {
	t.Helper()
	sch := runtime.NewScheme()
	if err := mcpv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: up.URL + "/mcp"}, Status: status}
	cl := fake.NewClientBuilder().WithScheme(sch).WithObjects(us).Build()
	store, err := tokenstore.Open(filepath.Join(t.TempDir(), "tokens.db"), tokenstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	rev, err := store.Save(upstream.StoreKey(us), &tokenstore.Record{AccessToken: "old", Expiry: expiry, ServerURL: us.Spec.URL}, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Client: cl, APIReader: cl, Store: store, Refresher: refresher,
		AllowLoopbackUnauthenticated: true, RefreshWait: 5 * time.Second, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.handler)
	t.Cleanup(srv.Close)
	return &signalFixture{us: us, store: store, rev: rev, cl: cl, url: srv.URL + "/servers/ns/s/mcp"}
}

// saveNew plays the reconciler: it stores the token the upstream accepts.
func (f *signalFixture) saveNew(t *testing.T) {
	if _, err := f.store.Save(upstream.StoreKey(f.us), &tokenstore.Record{AccessToken: "new",
		Expiry: time.Now().Add(time.Hour), ServerURL: f.us.Spec.URL}, f.rev); err != nil {
		t.Error(err)
	}
}

func (f *signalFixture) post(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Post(f.url, "application/json", strings.NewReader(pingBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readyStatus is a server the controller connected to (the gateway forwards to no other).
func readyStatus() mcpv1alpha1.UpstreamServerStatus {
	return mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
		{Type: mcpv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.Now()},
		{Type: mcpv1alpha1.ConditionConnected, Status: metav1.ConditionTrue, Reason: "Connected", LastTransitionTime: metav1.Now()}}}
}

// The gateway asks for refreshes through Options.Refresher, never the annotation: the
// revision the upstream rejected, or only a look for a token that expired; then it waits for
// the new revision (announced by the store) and retries.
func TestRefreshRequestsAreTyped(t *testing.T) {
	later, earlier := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	for name, c := range map[string]struct {
		expiry  time.Time
		wantRev bool // the request names the stored revision; otherwise it is a look
	}{
		"rejected revision": {expiry: later, wantRev: true},
		"expired token":     {expiry: earlier},
	} {
		t.Run(name, func(t *testing.T) {
			up := startTokenUpstream(t)
			rr := &refreshRecorder{}
			f := newSignalFixture(t, up, c.expiry, readyStatus(), rr)
			rr.on = func(upstream.RefreshRequest) { f.saveNew(t) }
			status, body := f.post(t)
			if status != http.StatusOK || !strings.Contains(body, `"ok":true`) {
				t.Fatalf("answer: %d %s", status, body)
			}
			want := upstream.RefreshRequest{Server: upstream.Name(f.us)}
			if c.wantRev {
				want.RejectedRevision = f.rev
			}
			if got := rr.requests(); len(got) != 1 || got[0] != want {
				t.Fatalf("refresh requests = %+v, want [%+v]", got, want)
			}
			var cur mcpv1alpha1.UpstreamServer
			if err := f.cl.Get(context.Background(), client.ObjectKeyFromObject(f.us), &cur); err != nil {
				t.Fatal(err)
			}
			if at, ok := cur.Annotations[mcpv1alpha1.AnnotationRefreshRequestedAt]; ok {
				t.Fatalf("the gateway annotated the server (%s) although it has a Refresher", at)
			}
		})
	}
}

// A burst of calls rejected with the same revision asks for its refresh once, and every call
// is retried with the new token.
func TestRejectedRevisionIsRequestedOnce(t *testing.T) {
	const calls = 5
	up := startTokenUpstream(t)
	rr := &refreshRecorder{}
	f := newSignalFixture(t, up, time.Now().Add(time.Hour), readyStatus(), rr)
	rr.on = func(upstream.RefreshRequest) {
		// Refresh only once every call has been rejected, so all of them wait for it.
		deadline := time.Now().Add(5 * time.Second)
		for up.rejected.Load() < calls && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		f.saveNew(t)
	}
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body := f.post(t); status != http.StatusOK {
				t.Errorf("answer: %d %s", status, body)
			}
		}()
	}
	wg.Wait()
	if got := rr.requests(); len(got) != 1 || got[0].RejectedRevision != f.rev {
		t.Fatalf("refresh requests = %+v, want one for revision %d", got, f.rev)
	}
}

// While refreshes back off, a 401 asks for nothing and tells the caller when the next attempt is.
func TestRejectedTokenDuringBackoffAsksForNothing(t *testing.T) {
	up := startTokenUpstream(t)
	rr := &refreshRecorder{}
	next := metav1.NewTime(time.Now().Add(time.Minute))
	st := readyStatus()
	st.Refresh = &mcpv1alpha1.RefreshStatus{FailedAttempts: 2, NextRefreshTime: &next, LastFailureReason: "HTTP 503"}
	f := newSignalFixture(t, up, time.Now().Add(time.Hour), st, rr)
	status, body := f.post(t)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, mcpv1alpha1.ReasonRefreshFailing) {
		t.Fatalf("answer: %d %s", status, body)
	}
	if got := rr.requests(); len(got) != 0 {
		t.Fatalf("refresh requests during a backoff: %+v", got)
	}
}
