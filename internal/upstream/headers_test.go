package upstream

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

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

// A Secret that does not name the server is refused before its data is looked at: the error
// says which annotation to add, and the value is neither returned nor registered (so nothing
// downstream treats it as a credential it holds). Once annotated, the same reference resolves.
func TestReferencedSecretMustAllowTheServer(t *testing.T) {
	const value = "sk-foreign-8e1f04c2b7"
	if oauth.Redact(value) != value {
		t.Fatal("the value is already registered: the test would prove nothing")
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "creds"},
		Data: map[string][]byte{"key": []byte(value)}}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "foo"},
		Spec: mcpv1alpha1.UpstreamServerSpec{Headers: []mcpv1alpha1.HeaderSpec{{Name: "X-Api-Key",
			ValueFrom: &mcpv1alpha1.HeaderValueSource{SecretKeyRef: mcpv1alpha1.SecretKeyReference{Name: "creds", Key: "key"}}}}}}
	r := fake.NewClientBuilder().WithObjects(sec).Build()
	ctx := context.Background()

	h, err := ResolveHeaders(ctx, r, us)
	want := `header X-Api-Key: Secret team/creds does not allow UpstreamServer "foo" to use it; ` +
		`add the annotation mcpproxy.dev/allowed-servers=foo (or "*" for every server in the namespace)`
	if err == nil || err.Error() != want {
		t.Fatalf("ResolveHeaders = %v, %v; want the refusal %q", h, err, want)
	}
	_, err = SecretValue(ctx, r, us, mcpv1alpha1.SecretKeyReference{Name: "creds", Key: "nokey"}, "spec.oauth.clientSecretRef")
	if err == nil || !strings.HasPrefix(err.Error(), "spec.oauth.clientSecretRef: Secret team/creds does not allow") {
		t.Fatalf("a missing key of a refused Secret: %v, want the refusal (which says nothing of its keys)", err)
	}
	if oauth.Redact(value) != value {
		t.Fatal("the refused Secret's value was registered: it was read")
	}

	sec.Annotations = map[string]string{mcpv1alpha1.AnnotationAllowedServers: "bar, foo"}
	if err := r.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if h, err = ResolveHeaders(ctx, r, us); err != nil || h.Get("X-Api-Key") != value {
		t.Fatalf("ResolveHeaders after the opt-in = %v, %v", h, err)
	}
}
