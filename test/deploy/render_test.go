package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// A values case: a release rendered from the chart with one values file.
type valuesCase struct {
	name      string // also the release name
	namespace string
	file      string // under testdata; "" for the chart's defaults
	values    string // inline values (YAML), given after file
}

var valuesCases = []valuesCase{
	{name: "defaults", namespace: "mcp-defaults"},
	{name: "custom", namespace: "mcp-custom", file: "values-custom.yaml"},
	{name: "minimal", namespace: "mcp-minimal", file: "values-minimal.yaml"},
}

// helmArgs are the arguments after `helm <verb>` for a case.
func (vc valuesCase) helmArgs() []string {
	var args []string
	if vc.file != "" {
		args = append(args, "-f", filepath.Join("testdata", vc.file))
	}
	return args
}

// runTool runs a command and returns its stdout, failing the test with stderr on error.
func runTool(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	out, err := tryTool(bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out
}

// tryTool runs a command and returns its stdout, and on failure an error carrying its stderr
// (helm lint prints its findings on stdout).
func tryTool(bin string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// inlineArgs are helmArgs, and -f with the case's inline values written to a file.
func (vc valuesCase) inlineArgs(t *testing.T) []string {
	t.Helper()
	args := vc.helmArgs()
	if vc.values != "" {
		args = append(args, "-f", valuesFile(t, vc.values))
	}
	return args
}

// valuesFile writes values (YAML) to a file of the test's and returns its path.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// render runs helm template for a case and decodes the objects.
func render(t *testing.T, vc valuesCase) []*unstructured.Unstructured {
	t.Helper()
	helm := tool(t, "HELM", "Helm")
	args := append([]string{"template", vc.name, chartDir, "--namespace", vc.namespace, "--kube-version", kubeVersion(t)}, vc.inlineArgs(t)...)
	return decodeObjects(t, runTool(t, helm, args...))
}

// kustomizeDefault builds config/default.
func kustomizeDefault(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	k := tool(t, "KUSTOMIZE", "kustomize")
	return decodeObjects(t, runTool(t, k, "build", filepath.Join(repoRoot, "config", "default")))
}

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding rendered YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// find returns the objects of a kind.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	return found
}

// one returns the single object of a kind, failing when there is not exactly one.
func one(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// convert turns an unstructured object into a typed one.
func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("converting %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}
