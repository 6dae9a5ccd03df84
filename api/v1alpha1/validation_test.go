package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

func newServer(name string, spec mcpv1alpha1.UpstreamServerSpec) *mcpv1alpha1.UpstreamServer {
	return &mcpv1alpha1.UpstreamServer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       spec,
	}
}

func TestInvalidSpecsAreRejectedWithAClearMessage(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		spec    mcpv1alpha1.UpstreamServerSpec
		message string // a phrase the API server's answer must contain
	}{
		"missing url": {
			spec:    mcpv1alpha1.UpstreamServerSpec{},
			message: "spec.url",
		},
		"ftp url": {
			spec:    mcpv1alpha1.UpstreamServerSpec{URL: "ftp://mcp.example.com/mcp"},
			message: "url must be an absolute http(s) URL",
		},
		"http to a remote host": {
			spec:    mcpv1alpha1.UpstreamServerSpec{URL: "http://mcp.example.com/mcp"},
			message: "http is accepted only for a loopback host",
		},
		// A hostname that merely starts with "127." is a name anyone can register, not a loopback
		// address: it must need allowInsecureHTTP like any remote host.
		"http to a host named 127.something": {
			spec:    mcpv1alpha1.UpstreamServerSpec{URL: "http://127.evil.com/mcp"},
			message: "http is accepted only for a loopback host",
		},
		"http authorizationServer named 127.something": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				OAuth: &mcpv1alpha1.OAuthSpec{AuthorizationServer: "http://127.0.0.1.nip.io/"}},
			message: "authorizationServer must be an https URL",
		},
		"negative healthCheckInterval": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				HealthCheckInterval: &metav1.Duration{Duration: -time.Minute}},
			message: "healthCheckInterval must be a positive duration",
		},
		"negative refreshBefore": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				OAuth: &mcpv1alpha1.OAuthSpec{RefreshBefore: &metav1.Duration{Duration: -time.Second}}},
			message: "refreshBefore must be a non-negative duration",
		},
		"reserved extraParams": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				OAuth: &mcpv1alpha1.OAuthSpec{ExtraParams: map[string]string{"audience": "x", "redirect_uri": "http://evil"}}},
			message: "extraParams must not set parameters the OAuth flow sets itself",
		},
		"clientSecretRef without a key": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				OAuth: &mcpv1alpha1.OAuthSpec{ClientID: "c", ClientSecretRef: &mcpv1alpha1.SecretKeyReference{Name: "s"}}},
			message: "spec.oauth.clientSecretRef.key",
		},
		"header with both value and valueFrom": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				Headers: []mcpv1alpha1.HeaderSpec{{Name: "X-API-Key", Value: ptr.To("v"),
					ValueFrom: &mcpv1alpha1.HeaderValueSource{SecretKeyRef: mcpv1alpha1.SecretKeyReference{Name: "s", Key: "k"}}}}},
			message: "set exactly one of value or valueFrom",
		},
		"unknown transport": {
			spec:    mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp", Transport: "websocket"},
			message: "spec.transport",
		},
		"plain-http clientMetadataURL": {
			spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp",
				OAuth: &mcpv1alpha1.OAuthSpec{ClientMetadataURL: "http://example.com/client.json"}},
			message: "clientMetadataURL must be an https URL",
		},
	}
	i := 0
	for name, tc := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			err := k8sClient.Create(ctx, newServer(fmt.Sprintf("invalid-%d", i), tc.spec))
			if err == nil {
				t.Fatalf("the API server accepted an invalid spec")
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not say %q", err.Error(), tc.message)
			}
		})
	}
}

func TestValidSpecsAreAcceptedAndRoundTrip(t *testing.T) {
	ctx := context.Background()
	cases := map[string]mcpv1alpha1.UpstreamServerSpec{
		"https":                 {URL: "https://mcp.example.com/mcp"},
		"http loopback":         {URL: "http://127.0.0.1:9000/mcp"},
		"http loopback 127/8":   {URL: "http://127.1.2.3:9000/mcp"},
		"http loopback ipv6":    {URL: "http://[::1]:9000/mcp"},
		"http localhost":        {URL: "http://localhost:9000/mcp", Transport: mcpv1alpha1.TransportSSE},
		"http remote, insecure": {URL: "http://mcp.internal:8080/mcp", AllowInsecureHTTP: true},
		"full oauth": {URL: "https://mcp.example.com/mcp", OAuth: &mcpv1alpha1.OAuthSpec{
			ClientID: "abc", ClientSecretRef: &mcpv1alpha1.SecretKeyReference{Name: "s", Key: "secret"},
			Scopes: []string{"read", "write"}, Resource: "https://mcp.example.com/mcp",
			AuthorizationServer: "https://auth.example.com/tenant1", ExtraParams: map[string]string{"audience": "api"},
			RefreshBefore: &metav1.Duration{Duration: 2 * time.Minute},
		}},
	}
	i := 0
	for name, spec := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			in := newServer(fmt.Sprintf("valid-%d", i), spec)
			if err := k8sClient.Create(ctx, in); err != nil {
				t.Fatalf("valid spec rejected: %v", err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(ctx, in) })
			var out mcpv1alpha1.UpstreamServer
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(in), &out); err != nil {
				t.Fatal(err)
			}
			if out.Spec.URL != spec.URL {
				t.Fatalf("url: got %q want %q", out.Spec.URL, spec.URL)
			}
			wantTransport := spec.Transport
			if wantTransport == "" {
				wantTransport = mcpv1alpha1.TransportStreamableHTTP
			}
			if out.Spec.Transport != wantTransport {
				t.Fatalf("transport: got %q want %q (defaulting)", out.Spec.Transport, wantTransport)
			}
			if out.Spec.HealthCheckInterval == nil || out.Spec.HealthCheckInterval.Duration != 5*time.Minute {
				t.Fatalf("healthCheckInterval not defaulted to 5m: %v", out.Spec.HealthCheckInterval)
			}
			if spec.OAuth != nil && out.Spec.OAuth.RefreshBefore.Duration != spec.OAuth.RefreshBefore.Duration {
				t.Fatalf("refreshBefore did not round-trip")
			}
		})
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	ctx := context.Background()
	for _, name := range sampleFiles(t) {
		t.Run(name, func(t *testing.T) {
			var us mcpv1alpha1.UpstreamServer
			if err := yaml.UnmarshalStrict(readSample(t, name), &us); err != nil {
				t.Fatalf("sample does not decode strictly: %v", err)
			}
			us.Namespace = "default"
			if err := k8sClient.Create(ctx, &us); err != nil {
				t.Fatalf("sample rejected: %v", err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(ctx, &us) })
		})
	}
}

func TestStatusIsWrittenOnlyThroughTheSubresource(t *testing.T) {
	ctx := context.Background()
	us := newServer("status-subresource", mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp"})
	if err := k8sClient.Create(ctx, us); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, us) })

	us.Status.LastCorrelationID = "via-main-resource"
	if err := k8sClient.Update(ctx, us); err != nil {
		t.Fatal(err)
	}
	var got mcpv1alpha1.UpstreamServer
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(us), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.LastCorrelationID != "" {
		t.Fatalf("status was written through the main resource")
	}

	got.Status.LastCorrelationID = "via-status"
	if err := k8sClient.Status().Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(us), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.LastCorrelationID != "via-status" {
		t.Fatalf("status subresource write was lost: %q", got.Status.LastCorrelationID)
	}
}
