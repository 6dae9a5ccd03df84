package controllers

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// startOAuthServer runs test/oauthserver on loopback in auto-approve mode.
func startOAuthServer(t *testing.T, opts oauthserver.Options) *oauthserver.Server {
	t.Helper()
	opts.AutoApprove = true
	s := oauthserver.New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// createServer creates an UpstreamServer for the oauth server's MCP endpoint.
func createServer(t *testing.T, ns, name, url string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       mcpv1alpha1.UpstreamServerSpec{URL: url},
	}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return us
}

// login runs a real authorization code flow against srv headlessly and hands the result to the
// controller the way `mcpproxy auth login` does: a hand-over Secret owned by the server.
func login(t *testing.T, srv *oauthserver.Server, us *mcpv1alpha1.UpstreamServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := oauth.Login(ctx, oauth.Config{ServerURL: us.Spec.URL}, oauth.LoginOptions{
		OpenBrowser: func(authURL string) error {
			go func() {
				back, err := srv.FollowAuthorize(authURL)
				if err != nil {
					t.Errorf("authorize: %v", err)
					return
				}
				resp, err := http.Get(back.String())
				if err == nil {
					resp.Body.Close()
				}
			}()
			return nil
		},
	})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	handOver(t, us, handover.Payload{
		ServerURL: us.Spec.URL, Issuer: res.Discovery.Issuer, Resource: res.Discovery.Resource,
		TokenEndpoint: res.Discovery.Metadata.TokenEndpoint, RevocationEndpoint: res.Discovery.Metadata.RevocationEndpoint,
		AccessToken: res.Token.AccessToken, RefreshToken: res.Token.RefreshToken, TokenType: res.Token.TokenType,
		Expiry: res.Token.Expiry, Scopes: res.Token.Scopes,
		Client: handover.Client{ClientID: res.Client.ClientID, ClientSecret: res.Client.ClientSecret,
			AuthMethod: res.Client.AuthMethod, RedirectURI: res.Client.RedirectURI},
		CorrelationID: res.CorrelationID, CreatedAt: time.Now(),
	})
}

// handOver writes a hand-over Secret for us.
func handOver(t *testing.T, us *mcpv1alpha1.UpstreamServer, p handover.Payload) {
	t.Helper()
	body, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fresh := get(t, us)
	if err := apiClient.Create(context.Background(), mcpv1alpha1.NewHandOverSecret(fresh, body)); err != nil {
		t.Fatal(err)
	}
}

// get reads the server from the API server (not a cache).
func get(t *testing.T, us *mcpv1alpha1.UpstreamServer) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	out := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(us), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond every 50ms until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Named predicates over a server's status, read from the API server.
func condition(us *mcpv1alpha1.UpstreamServer, typ string) *metav1.Condition {
	return meta.FindStatusCondition(us.Status.Conditions, typ)
}

func isReady(us *mcpv1alpha1.UpstreamServer) bool {
	c := condition(us, mcpv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == us.Generation
}

func needsLogin(us *mcpv1alpha1.UpstreamServer, reason string) bool {
	c := condition(us, mcpv1alpha1.ConditionAuthorizationRequired)
	return c != nil && c.Status == metav1.ConditionTrue && (reason == "" || c.Reason == reason)
}

func waitReady(t *testing.T, us *mcpv1alpha1.UpstreamServer, timeout time.Duration) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	var cur *mcpv1alpha1.UpstreamServer
	eventually(t, timeout, us.Name+" Ready", func() bool { cur = get(t, us); return isReady(cur) })
	return cur
}

// annotate sets one annotation on the server.
func annotate(t *testing.T, us *mcpv1alpha1.UpstreamServer, key, value string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value))
	if err := apiClient.Patch(context.Background(), get(t, us), client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
}

func describe(us *mcpv1alpha1.UpstreamServer) string {
	s := ""
	for _, c := range us.Status.Conditions {
		s += fmt.Sprintf("%s=%s(%s: %s) ", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

func clientKey(us *mcpv1alpha1.UpstreamServer) client.ObjectKey {
	return client.ObjectKeyFromObject(us)
}

// countHandOvers counts the hand-over Secrets left in ns.
func countHandOvers(t *testing.T, ns string) int {
	t.Helper()
	var list corev1.SecretList
	if err := apiClient.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{mcpv1alpha1.HandOverServerLabel}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func rawMerge(patch string) client.Patch {
	return client.RawPatch("application/merge-patch+json", []byte(patch))
}
