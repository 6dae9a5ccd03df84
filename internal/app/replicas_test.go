package app_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Two replicas on the Secrets store with leader election: both serve the gateway, only the
// leader reconciles. When the upstream rejects the token a call through the non-leader's
// gateway carried, the non-leader asks the leader with the refresh-requested-at annotation,
// the leader refreshes, and the call succeeds with the new token; the non-leader never
// reconciles, so never spends the refresh token.
func TestNonLeaderGatewayAsksTheLeaderToRefresh(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns, storeNS := testenv.NewNamespace(t, "replicas"), testenv.NewNamespace(t, "tokens")
	opts := testenv.ManagerOptions{Namespace: ns, TokenStoreBackend: app.StoreBackendSecrets,
		TokenStoreNamespace: storeNS, KeyFile: storetest.KeyFile(t, 1),
		LeaderElection: true, LeaderElectionNamespace: ns,
		Gateway: &app.GatewayOptions{AllowLoopbackUnauthenticated: true}}
	a, b := testenv.StartManager(t, opts), testenv.StartManager(t, opts)
	var leader, follower *testenv.Manager
	testenv.Eventually(t, 30*time.Second, "a leader elected", func() bool {
		switch {
		case elected(a):
			leader, follower = a, b
		case elected(b):
			leader, follower = b, a
		}
		return leader != nil
	})
	if elected(follower) {
		t.Fatal("both managers are elected")
	}
	if follower.Gateway.NeedLeaderElection() {
		t.Fatal("the gateway on the Secrets store runs on the leader only")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the non-leader's gateway log:\n%s", follower.GatewayLogs())
		}
	})

	c := testenv.Current().Client
	us := readyServer(t, srv, ns, "demo")
	key := upstream.StoreKey(us)
	var first *tokenstore.Record
	testenv.Eventually(t, 30*time.Second, "the login in the non-leader's store", func() bool {
		r, err := follower.Store.Load(key)
		first = r
		return err == nil && r.AccessToken != ""
	})

	cs := dialGateway(t, follower.URL+"/servers/"+ns+"/demo/mcp")
	if err := echo(cs, "before"); err != nil {
		t.Fatalf("a call through the non-leader's gateway: %v", err)
	}

	refreshes := srv.Stats().Refreshes
	revokeAccessToken(t, srv, first)
	if err := echo(cs, "after"); err != nil {
		t.Fatalf("a call through the non-leader's gateway after the token was revoked: %v", err)
	}
	rec, err := follower.Store.Load(key)
	if err != nil || rec.Revision <= first.Revision || rec.RefreshCount <= first.RefreshCount {
		t.Fatalf("the non-leader's store holds %v, %v; want a refresh of revision %d", rec, err, first.Revision)
	}
	if got := srv.Stats().Refreshes; got <= refreshes {
		t.Fatalf("%d refreshes, want more than %d", got, refreshes)
	}
	cur := &mcpv1alpha1.UpstreamServer{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(us), cur); err != nil {
		t.Fatal(err)
	}
	// A report of the rejected revision, not a person's forcing refresh-requested-at.
	if got, want := cur.Annotations[mcpv1alpha1.AnnotationRejectedRevision], strconv.FormatUint(first.Revision, 10); got != want {
		t.Fatalf("the non-leader reported rejected revision %q, want %s", got, want)
	}
	if forced := cur.Annotations[mcpv1alpha1.AnnotationRefreshRequestedAt]; forced != "" {
		t.Fatalf("the non-leader forced a refresh (refresh-requested-at %q)", forced)
	}
	if n := follower.ReconcileMark(us); n != 0 {
		t.Fatalf("the non-leader reconciled %s %d times", us.Name, n)
	}
	if leader.ReconcileMark(us) == 0 {
		t.Fatal("the leader never reconciled")
	}
	if !strings.Contains(follower.GatewayLogs(), "Asked the leader for a refresh") {
		t.Fatal("the non-leader's gateway log shows no request to the leader")
	}
}

// On bbolt, which only the leader holds, the gateway runs on the leader only.
func TestGatewayOnBoltNeedsLeaderElection(t *testing.T) {
	m, err := app.New(testenv.Current().Config, app.Options{TokenStore: filepath.Join(t.TempDir(), "tokens.db"),
		SkipNameValidation: true, Gateway: &app.GatewayOptions{Addr: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Gateway.NeedLeaderElection() {
		t.Fatal("the gateway on bbolt runs on every replica")
	}
}

func elected(m *testenv.Manager) bool {
	select {
	case <-m.Elected():
		return true
	default:
		return false
	}
}

func dialGateway(t *testing.T, endpoint string) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "replicas-test", Version: "v0"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: endpoint, MaxRetries: 1}, nil)
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func echo(cs *mcp.ClientSession, text string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return err
	}
	if tc, ok := firstContent(res).(*mcp.TextContent); res.IsError || !ok || tc.Text != text {
		return &unexpected{res}
	}
	return nil
}

func firstContent(res *mcp.CallToolResult) mcp.Content {
	if len(res.Content) == 0 {
		return nil
	}
	return res.Content[0]
}

type unexpected struct{ res *mcp.CallToolResult }

func (e *unexpected) Error() string {
	var b strings.Builder
	for _, c := range e.res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return "unexpected tool result: " + b.String()
}

// revokeAccessToken revokes rec's access token (RFC 7009), as the client it was issued to: the
// upstream rejects it from now on, while its refresh token still works.
func revokeAccessToken(t *testing.T, srv *oauthserver.Server, rec *tokenstore.Record) {
	t.Helper()
	form := url.Values{"token": {rec.AccessToken}}
	basic := rec.Client.ClientSecret != "" && rec.Client.AuthMethod != "client_secret_post"
	if !basic {
		form.Set("client_id", rec.Client.ClientID)
		if rec.Client.ClientSecret != "" {
			form.Set("client_secret", rec.Client.ClientSecret)
		}
	}
	req, err := http.NewRequest(http.MethodPost, srv.Issuer()+"/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(rec.Client.ClientID), url.QueryEscape(rec.Client.ClientSecret))
	}
	before := srv.Stats().Revocations
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || srv.Stats().Revocations != before+1 {
		t.Fatalf("revoking the access token: %s, %d revocations", resp.Status, srv.Stats().Revocations-before)
	}
}
