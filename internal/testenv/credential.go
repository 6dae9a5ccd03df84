package testenv

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// LoginCredential logs in to c's server headlessly as upstream user and hands the result to c
// the way `mcpproxy auth login --for` does: a hand-over Secret owned by the credential, with
// both the server's and the credential's labels.
func LoginCredential(t testing.TB, srv *oauthserver.Server, c *mcpv1alpha1.UpstreamCredential, user string) {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{}
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.ServerRef.Name}
	if err := Current().Client.Get(context.Background(), key, us); err != nil {
		t.Fatalf("reading the credential's server: %v", err)
	}
	res := HeadlessLoginAs(t, srv, us.Spec.URL, user)
	HandOverCredential(t, c, browserlogin.HandOver(res, us.Spec.URL, time.Now()))
}

// HandOverCredential writes a credential hand-over Secret with p for c (read fresh, so the
// owner reference names the current object).
func HandOverCredential(t testing.TB, c *mcpv1alpha1.UpstreamCredential, p handover.Payload) {
	t.Helper()
	body, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	cl := Current().Client
	fresh := &mcpv1alpha1.UpstreamCredential{}
	if err := cl.Get(context.Background(), client.ObjectKeyFromObject(c), fresh); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(context.Background(), mcpv1alpha1.NewCredentialHandOverSecret(fresh, body)); err != nil {
		t.Fatalf("handing over to credential %s: %v", c.Name, err)
	}
}
