package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

const samplesDir = "../../config/samples"

// sampleFiles lists the UpstreamServer samples (RBAC samples are other kinds).
func sampleFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "mcp_v1alpha1_upstreamserver") && strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	if len(names) < 3 {
		t.Fatalf("want at least 3 UpstreamServer samples, found %d", len(names))
	}
	return names
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The per-person sample (config/samples/mcp_v1alpha1_upstreamcredential.yaml) is what the
// README's "Per-person access" section shows: it must decode strictly and be accepted as is.
func TestCredentialSampleIsAccepted(t *testing.T) {
	var c mcpv1alpha1.UpstreamCredential
	if err := yaml.UnmarshalStrict(readSample(t, "mcp_v1alpha1_upstreamcredential.yaml"), &c); err != nil {
		t.Fatalf("sample does not decode strictly: %v", err)
	}
	c.Namespace = "default"
	ctx := context.Background()
	if err := k8sClient.Create(ctx, &c); err != nil {
		t.Fatalf("sample rejected: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, &c) })
	if c.Spec.ServerRef.Name != "github" || len(c.Spec.Subjects) != 2 {
		t.Fatalf("the sample binds %+v, want the github server's ServiceAccount and user", c.Spec)
	}
}
