package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --token-store-namespace defaults to the pod's: POD_NAMESPACE first, then the ServiceAccount's
// namespace file; with neither the manager refuses to start rather than guess.
func TestPodNamespace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "namespace")
	if ns, err := podNamespaceFrom(" mcp-system\n", file); err != nil || ns != "mcp-system" {
		t.Errorf("from POD_NAMESPACE: %q, %v", ns, err)
	}
	if _, err := podNamespaceFrom("", file); err == nil || !strings.Contains(err.Error(), "--token-store-namespace") {
		t.Errorf("with neither: %v", err)
	}
	if err := os.WriteFile(file, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ns, err := podNamespaceFrom("", file); err != nil || ns != "from-file" {
		t.Errorf("from the file: %q, %v", ns, err)
	}
}
