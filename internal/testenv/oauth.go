package testenv

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// StartOAuthServer runs test/oauthserver on a loopback port, auto-approving (no consent page),
// until the test ends.
func StartOAuthServer(t testing.TB, opts oauthserver.Options) *oauthserver.Server {
	t.Helper()
	opts.AutoApprove = true
	s := oauthserver.New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewNamespace creates a namespace named prefix-<random> for one test.
func NewNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := Current().Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// HeadlessLogin runs a real authorization code flow for serverURL against srv, playing the
// browser itself: what a person does in `mcpproxy auth login`, without a browser.
func HeadlessLogin(t testing.TB, srv *oauthserver.Server, serverURL string) *oauth.LoginResult {
	t.Helper()
	return HeadlessLoginAs(t, srv, serverURL, "")
}

// HeadlessLoginAs is HeadlessLogin as upstream user (srv's default user when empty): whose
// account the token acts as.
func HeadlessLoginAs(t testing.TB, srv *oauthserver.Server, serverURL, user string) *oauth.LoginResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := oauth.Login(ctx, oauth.Config{ServerURL: serverURL}, oauth.LoginOptions{
		OpenBrowser: func(authURL string) error {
			go func() {
				back, err := srv.FollowAuthorizeAs(authURL, user)
				if err != nil {
					t.Errorf("authorize: %v", err)
					return
				}
				if resp, err := http.Get(back.String()); err == nil {
					_ = resp.Body.Close()
				}
			}()
			return nil
		},
	})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return res
}

// Login logs in to us headlessly and hands the result to the controller the way
// `mcpproxy auth login` does: a hand-over Secret owned by the server.
func Login(t testing.TB, srv *oauthserver.Server, us *mcpv1alpha1.UpstreamServer) {
	t.Helper()
	res := HeadlessLogin(t, srv, us.Spec.URL)
	HandOver(t, us, browserlogin.HandOver(res, us.Spec.URL, time.Now()))
}

// HandOver writes a hand-over Secret with p for us (read fresh, so the owner reference names
// the current object).
func HandOver(t testing.TB, us *mcpv1alpha1.UpstreamServer, p handover.Payload) {
	t.Helper()
	body, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c := Current().Client
	fresh := &mcpv1alpha1.UpstreamServer{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(us), fresh); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), mcpv1alpha1.NewHandOverSecret(fresh, body)); err != nil {
		t.Fatalf("handing over: %v", err)
	}
}
