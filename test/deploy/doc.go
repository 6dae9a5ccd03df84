// Package deploy holds the tests of what installs the controller: the Helm chart in
// charts/mcpproxy-operator and the kustomize manifests in config/. They lint and render the
// chart with Helm, check that its CRDs and RBAC rules are those of config/, and apply every
// rendered object, and the kustomize output, with a server-side dry run to a real API server
// (envtest), so the manifests are known to be valid Kubernetes.
//
// The tests need Helm and kustomize, found through the HELM and KUSTOMIZE environment
// variables, and envtest's binaries (KUBEBUILDER_ASSETS); `make test` sets all three.
package deploy
