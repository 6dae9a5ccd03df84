package upstream

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// A static header value is a credential (an API key): resolving it registers it, so an
// upstream that echoes it into an error cannot put it into a log line or a condition.
func TestResolvedHeaderValuesAreRedacted(t *testing.T) {
	const key = "sk-live-5d2c9a7e41"
	if oauth.Redact(key) != key {
		t.Fatal("the key is already registered: the test would prove nothing")
	}
	us := &mcpv1alpha1.UpstreamServer{Spec: mcpv1alpha1.UpstreamServerSpec{
		Headers: []mcpv1alpha1.HeaderSpec{{Name: "X-Api-Key", Value: ptr.To(key)}}}}
	h, err := ResolveHeaders(context.Background(), nil, us)
	if err != nil || h.Get("X-Api-Key") != key {
		t.Fatalf("ResolveHeaders = %v, %v", h, err)
	}
	if got := oauth.Redact("401: bad key " + key); got != "401: bad key "+oauth.Redacted {
		t.Fatalf("the resolved key is not hidden: %q", got)
	}
}
