package app_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Two shards split one namespace's servers by label, each with its own bbolt store and
// gateway: every login lands in the store of its server's shard and nowhere else (the other
// shard sees the hand-over too, and neither takes nor deletes it), a credential without a
// label follows its server, each gateway serves its own shard's servers only, and a server
// relabelled into another shard is let go.
func TestShardsSplitServersAndCredentialsByLabel(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := testenv.NewNamespace(t, "shards")
	gw := &app.GatewayOptions{AllowLoopbackUnauthenticated: true}
	shardA := testenv.StartManager(t, testenv.ManagerOptions{Namespace: ns, Gateway: gw,
		WatchLabelSelector: controllers.ShardLabel + "=a"})
	rest := testenv.StartManager(t, testenv.ManagerOptions{Namespace: ns, Gateway: gw,
		WatchLabelSelector: "!" + controllers.ShardLabel})

	c := testenv.Current().Client
	inA := createServer(t, ns, "in-a", srv.MCPURL(), mcpv1alpha1.CredentialModeShared, map[string]string{controllers.ShardLabel: "a"})
	inRest := createServer(t, ns, "in-rest", srv.MCPURL(), mcpv1alpha1.CredentialModeShared, nil)
	perSubj := createServer(t, ns, "per-a", srv.MCPURL(), mcpv1alpha1.CredentialModePerSubject, map[string]string{controllers.ShardLabel: "a"})
	cred := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: perSubj.Name},
			Subjects: []mcpv1alpha1.CredentialSubject{{Kind: "User", Name: "alice"}}}}
	if err := c.Create(context.Background(), cred); err != nil {
		t.Fatal(err)
	}
	testenv.Login(t, srv, inA)
	testenv.Login(t, srv, inRest)
	testenv.LoginCredential(t, srv, cred, "alice")
	waitReady(t, inA)
	waitReady(t, inRest)
	testenv.Eventually(t, 30*time.Second, "the credential Ready", func() bool {
		cur := &mcpv1alpha1.UpstreamCredential{}
		return c.Get(context.Background(), client.ObjectKeyFromObject(cred), cur) == nil &&
			meta.IsStatusConditionTrue(cur.Status.Conditions, mcpv1alpha1.ConditionReady)
	})

	for _, tc := range []struct {
		name       string
		key        tokenstore.Key
		owner, not *testenv.Manager
	}{
		{"in-a", upstream.StoreKey(inA), shardA, rest},
		{"in-rest", upstream.StoreKey(inRest), rest, shardA},
		{"the credential of per-a", upstream.CredentialStoreKey(perSubj, cred), shardA, rest},
	} {
		if _, err := tc.owner.Store.Load(tc.key); err != nil {
			t.Errorf("%s: not in its shard's store: %v", tc.name, err)
		}
		if _, err := tc.not.Store.Load(tc.key); !errors.Is(err, tokenstore.ErrNotFound) {
			t.Errorf("%s: in the other shard's store (%v)", tc.name, err)
		}
	}

	for _, tc := range []struct {
		gateway *testenv.Manager
		server  string
		want    int
	}{
		{shardA, "in-a", http.StatusOK},
		{shardA, "in-rest", http.StatusNotFound},
		{rest, "in-rest", http.StatusOK},
		{rest, "in-a", http.StatusNotFound},
	} {
		if got := initializeStatus(t, tc.gateway.URL+"/servers/"+ns+"/"+tc.server+"/mcp"); got != tc.want {
			t.Errorf("initialize %s through shard %s's gateway: %d, want %d", tc.server, tc.gateway.Namespace, got, tc.want)
		}
	}

	// Relabelled into shard a, in-rest is let go by the rest: its session closes and its
	// gateway sends callers to the other shard. (Its token stays in the rest's bbolt file; on
	// the Secrets store shard a would find it.)
	if !rest.SessionConnected(inRest) {
		t.Fatal("in-rest has no session before it moves")
	}
	moved := inRest.DeepCopy()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(inRest), moved); err != nil {
		t.Fatal(err)
	}
	moved.Labels = map[string]string{controllers.ShardLabel: "a"}
	if err := c.Update(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the rest lets in-rest go", func() bool {
		return !rest.SessionConnected(inRest) &&
			initializeStatus(t, rest.URL+"/servers/"+ns+"/in-rest/mcp") == http.StatusNotFound
	})
}

func createServer(t *testing.T, ns, name, url string, mode mcpv1alpha1.CredentialMode, labels map[string]string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url, CredentialMode: mode}}
	if err := testenv.Current().Client.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return us
}

// readyServer creates a Shared server on srv and logs it in, and waits until it is Ready.
func readyServer(t *testing.T, srv *oauthserver.Server, ns, name string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := createServer(t, ns, name, srv.MCPURL(), mcpv1alpha1.CredentialModeShared, nil)
	testenv.Login(t, srv, us)
	waitReady(t, us)
	return us
}

// initializeStatus is the HTTP status of an MCP initialize posted to endpoint.
func initializeStatus(t *testing.T, endpoint string) int {
	t.Helper()
	const body = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"shard-test","version":"v0"}}}`
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
