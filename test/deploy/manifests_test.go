package deploy

import (
	"slices"
	"strings"
	"testing"
)

// crdCount is how many CRDs the project has: UpstreamServer and UpstreamCredential.
const crdCount = 2

// TestChartAppliesToAPIServer dry-runs every object of every values case against the API server.
func TestChartAppliesToAPIServer(t *testing.T) {
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			objs := render(t, vc)
			ensureNamespace(t, vc.namespace)
			dryRunApply(t, objs, vc.namespace)
			dryRunPods(t, objs, vc.namespace)
		})
	}
}

// TestKustomizeAppliesToAPIServer dry-runs the output of kustomize build config/default.
func TestKustomizeAppliesToAPIServer(t *testing.T) {
	objs := kustomizeDefault(t)
	if len(find(objs, "Deployment")) != 1 || len(find(objs, "CustomResourceDefinition")) != crdCount {
		t.Fatalf("config/default renders %d objects without one Deployment and %d CRDs", len(objs), crdCount)
	}
	for _, ns := range find(objs, "Namespace") {
		ensureNamespace(t, ns.GetName())
	}
	dryRunApply(t, objs, "default")
	dryRunPods(t, objs, "mcpproxy-system")
}

// TestDryRunCatchesMistakes shows the dry run has teeth: a misspelt field, an invalid value and
// a pod the restricted Pod Security Standard forbids are all reported.
func TestDryRunCatchesMistakes(t *testing.T) {
	ensureNamespace(t, "mcp-mistakes")
	objs := decodeObjects(t, []byte(`
apiVersion: v1
kind: Service
metadata: {name: typo}
spec:
  ports: [{port: 80, targetPrt: 8080}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: invalid}
spec:
  accessModes: [ReadWriteSometimes]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: root}
spec:
  selector: {matchLabels: {app: root}}
  template:
    metadata: {labels: {app: root}}
    spec:
      containers: [{name: c, image: busybox}]
`))
	errs := applyErrors(t, objs, "mcp-mistakes")
	for _, o := range objs {
		if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), " "+o.GetName()+":") }) {
			t.Errorf("the dry run did not report %s %s", o.GetKind(), o.GetName())
		}
	}
	t.Logf("reported: %v", errs)
	if len(errs) != len(objs) {
		t.Errorf("the dry run reported %d problems for %d broken objects: %v", len(errs), len(objs), errs)
	}
}
