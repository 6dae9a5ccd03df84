package v1alpha1_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
