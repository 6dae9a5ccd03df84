package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// countingStore is a TokenReader that counts its reads.
type countingStore struct {
	mu    sync.Mutex
	loads int
	recs  map[tokenstore.Key]*tokenstore.Record
}

func (s *countingStore) Load(k tokenstore.Key) (*tokenstore.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if r, ok := s.recs[k]; ok {
		c := *r
		return &c, nil
	}
	return nil, fmt.Errorf("%w: %s", tokenstore.ErrNotFound, k)
}

func (s *countingStore) WaitNewer(context.Context, tokenstore.Key, uint64) (*tokenstore.Record, error) {
	return nil, context.Canceled
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// A record is read from the store once per recordTTL however many requests use it, never
// holds the refresh token or the client's registration, and a fresh read bypasses the cache. A
// missing record, or one whose token expires within the TTL, is read again each time: a login
// that lands, or a refreshed token, is used at once (an e2e run saw a 503 after a login, and
// expired 3-second tokens sent upstream).
func TestRecordsAreReadOncePerTTL(t *testing.T) {
	k := tokenstore.Key{Namespace: "ns", Name: "s", Binding: tokenstore.Binding{ServerURL: "https://mcp.example/mcp"}}
	none := tokenstore.Key{Namespace: "ns", Name: "public"}
	st := &countingStore{recs: map[tokenstore.Key]*tokenstore.Record{k: {AccessToken: "at", RefreshToken: "rt",
		Client: tokenstore.ClientRegistration{ClientID: "c", ClientSecret: "cs"}, Revision: 7, ServerURL: "https://mcp.example/mcp",
		Expiry: time.Now().Add(time.Hour), Scopes: []string{"mcp"}, ObtainedBy: "alice"}}}
	r := newRecords(st)
	now := time.Now()
	r.c.now = func() time.Time { return now }

	for range 100 {
		rec, err := r.load(k)
		if err != nil || rec == nil || rec.AccessToken != "at" || rec.Revision != 7 || rec.ObtainedBy != "alice" {
			t.Fatalf("load: %+v, %v", rec, err)
		}
		if rec.RefreshToken != "" || rec.Client.ClientSecret != "" || rec.Client.ClientID != "" {
			t.Fatalf("the cached record keeps more than forwarding needs: %+v", rec)
		}
		if rec, err := r.load(none); rec != nil || err != nil {
			t.Fatalf("a server without a token: %+v, %v", rec, err)
		}
	}
	if got := st.count(); got != 101 {
		t.Fatalf("%d store reads for 100 loads of a record and 100 of a missing one within the TTL, want 1 + 100", got)
	}
	if _, err := r.fresh(k); err != nil || st.count() != 102 {
		t.Fatalf("fresh: %v, %d reads, want 102", err, st.count())
	}
	now = now.Add(recordTTL)
	if _, err := r.load(k); err != nil || st.count() != 103 {
		t.Fatalf("after the TTL: %v, %d reads, want 103", err, st.count())
	}
	st.recs[k].Expiry = time.Now().Add(recordTTL / 2)
	r.fresh(k)
	before := st.count()
	for i := 1; i <= 3; i++ {
		if _, err := r.load(k); err != nil || st.count() != before+i {
			t.Fatalf("a token about to expire: %v, %d reads, want %d", err, st.count(), before+i)
		}
	}
}

// The index follows the informer's adds, updates and deletes, tombstones included.
func TestObjectIndexFollowsTheInformer(t *testing.T) {
	x := newObjectIndex[*mcpv1alpha1.UpstreamServer]()
	nn := types.NamespacedName{Namespace: "ns", Name: "s"}
	v1 := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", Generation: 1}}
	v2 := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", Generation: 2}}
	x.set(v1)
	x.set(&mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}}) // another kind: ignored
	if got, ok := x.get(nn); !ok || got != v1 {
		t.Fatalf("after add: %v %v", got, ok)
	}
	x.set(v2)
	if got, _ := x.get(nn); got != v2 {
		t.Fatalf("after update: %v", got)
	}
	x.remove(toolscache.DeletedFinalStateUnknown{Key: "ns/s", Obj: v2})
	if _, ok := x.get(nn); ok {
		t.Fatal("a tombstone did not remove the object")
	}
	x.set(v1)
	x.remove(v1)
	if _, ok := x.get(nn); ok {
		t.Fatal("a delete did not remove the object")
	}
}

// A tool's schema is handed to every /mcp session's server as a *jsonschema.Schema when that
// form encodes to exactly the upstream's schema (the SDK then adds the tool without a JSON
// round trip per session), and as the upstream sent it otherwise.
func TestExposedSchemasAreDecodedOnceAndUnchanged(t *testing.T) {
	for _, tc := range []struct {
		schema    string
		input     bool
		converted bool
	}{
		{`{"type":"object","properties":{"text":{"type":"string","description":"the text"}},"required":["text"]}`, true, true},
		{`{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"x-vendor":{"a":[1,2]}}`, true, true},
		{`{"type":["object","null"]}`, true, false}, // the SDK refuses it either way; left as it is
		{`{"type":"object","minLength":1.5}`, true, false},
		{`{"type":"array","items":{"type":"string"}}`, false, true},
	} {
		in := upstreamSchema(t, tc.schema)
		got := schemaOf(in, tc.input)
		_, isSchema := got.(*jsonschema.Schema)
		if isSchema != tc.converted {
			t.Errorf("%s: converted %v, want %v", tc.schema, isSchema, tc.converted)
		}
		a, _ := json.Marshal(in)
		b, _ := json.Marshal(got)
		if !reflect.DeepEqual(upstreamSchema(t, string(a)), upstreamSchema(t, string(b))) {
			t.Errorf("%s: a client would see %s", tc.schema, b)
		}
	}
	tool := &mcp.Tool{Name: "echo", InputSchema: upstreamSchema(t, `{"type":"object","properties":{"text":{"type":"string"}}}`)}
	e := exposeTool(types.NamespacedName{Namespace: "ns", Name: "s"}, tool, "ns.s.echo")
	if _, ok := e.tool.InputSchema.(*jsonschema.Schema); !ok {
		t.Fatalf("the exposed tool's input schema is a %T", e.tool.InputSchema)
	}
	if _, ok := tool.InputSchema.(map[string]any); !ok {
		t.Fatal("the upstream's tool was changed")
	}
}

// The /mcp sessions of one caller that opened with the same CredentialHeader share one server,
// whose tools are added once; another caller, or another header, gets a server of its own.
func TestSessionsOfOneCallerShareTheirServer(t *testing.T) {
	rc := &reviewCounter{}
	rc.allowed.Store(true)
	cl := rc.client(t)
	g, err := New(Options{Client: cl, APIReader: cl, Store: &countingStore{}, Refresher: &refreshRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	c := g.catalog
	for i := range 300 {
		nn := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("s%03d", i)}
		tool := &mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}
		c.tools[ToolName(nn.Namespace, nn.Name, "echo")] = exposeTool(nn, tool, ToolName(nn.Namespace, nn.Name, "echo"))
	}
	alice := &Identity{Name: "system:serviceaccount:ns:alice", UID: "a"}
	bob := &Identity{Name: "system:serviceaccount:ns:bob", UID: "b"}
	open := func(id *Identity, header string) *mcp.Server {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		if header != "" {
			r.Header.Set(CredentialHeader, header)
		}
		r = r.WithContext(withSessionBuild(context.WithValue(r.Context(), identityKey{}, id), &sessionBuild{}))
		return c.newSessionServer(r)
	}
	first := open(alice, "")
	for range 63 {
		if open(alice, "") != first {
			t.Fatal("a second session of the same caller got a server of its own")
		}
	}
	if open(bob, "") == first || open(alice, "gh-alice") == first {
		t.Fatal("another caller, or another credential header, shares the first caller's server")
	}
	if len(c.sessions) != 3 {
		t.Fatalf("%d session servers, want 3", len(c.sessions))
	}
	if got := len(c.sessions[groupKey(alice, http.Header{})].have); got != 300 {
		t.Fatalf("the shared server lists %d tools, want 300", got)
	}
	// One review per caller and server: joining a server again within maxAccessTTL asks none.
	if got := rc.accessReviews.Load(); got != 600 {
		t.Fatalf("%d SubjectAccessReviews, want 600 (300 servers, 2 callers)", got)
	}
}
