# mcpproxy-operator: keeps OAuth-protected MCP server connections alive, the Kubernetes way.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= mcpproxy-operator:dev
LOCALBIN ?= $(CURDIR)/bin
GOTEST_FLAGS ?=

# Tool versions, pinned and installed into ./bin.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.3
HELM_VERSION ?= v3.22.0
K8S_VERSION ?= 1.37.2

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
HELM ?= $(LOCALBIN)/helm

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show every target with its description.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests from the Go types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt over the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when generated files differ from what is committed.
	@git diff --exit-code -- api config || { echo "Generated files are stale: run 'make generate manifests' and commit." >&2; exit 1; }

.PHONY: envtest
envtest: ## Build etcd and kube-apiserver from source (cached under ~/.cache/mcpproxy) and print their directory.
	@K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh

.PHONY: test
test: manifests generate vet ## Run every test CI runs: unit, envtest integration (and e2e as it lands).
	@git diff --exit-code -- api config >/dev/null || { echo "Generated files are stale: run 'make generate manifests' and commit." >&2; git diff --stat -- api config; exit 1; }
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" go test -race -count=1 $(GOTEST_FLAGS) ./...

##@ Build

.PHONY: build
build: generate ## Build bin/manager and bin/mcpproxy.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/mcpproxy ./cmd/mcpproxy

.PHONY: dev-cluster
dev-cluster: ## Run a local control plane (CRDs installed; kubeconfig at bin/dev/kubeconfig) until Ctrl-C.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" go run ./hack/devcluster -crds config/crd/bases -dir bin/dev

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into ./bin.
$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into ./bin.
$(KUSTOMIZE):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
