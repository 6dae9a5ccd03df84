# mcpproxy-operator: keeps OAuth-protected MCP server connections alive, the Kubernetes way.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= mcpproxy-operator:dev
LOCALBIN ?= $(CURDIR)/bin
GOTEST_FLAGS ?=

# Tool versions, pinned and installed into ./bin.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
# kustomize v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with our Go 1.26.
KUSTOMIZE_VERSION ?= v5.8.2
HELM_VERSION ?= v3.22.0
K8S_VERSION ?= 1.37.2

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
HELM ?= $(LOCALBIN)/helm

# Deployment tools (needed only by the kind, docker and cluster targets).
CONTAINER_TOOL ?= docker
KIND ?= kind
KIND_CLUSTER ?= mcpproxy
KUBECTL ?= kubectl
CHART_DIR := charts/mcpproxy-operator
# Extra flags for `make run`, e.g. RUN_ARGS=--zap-log-level=debug.
RUN_ARGS ?=
# The local demo's state directory (`make dev`; `make dev-clean` resets it).
DEV_DIR ?= $(LOCALBIN)/dev

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
	$(CONTROLLER_GEN) rbac:roleName=token-store-role paths="./internal/secretstore/..." output:rbac:artifacts:config=config/rbac/token_store
	@$(MAKE) --no-print-directory helm-sync

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
	@git diff --exit-code -- api config $(CHART_DIR)/files || { echo "Generated files are stale: run 'make generate manifests' and commit." >&2; exit 1; }

.PHONY: envtest
envtest: ## Build etcd and kube-apiserver from source (cached under ~/.cache/mcpproxy) and print their directory.
	@K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh

.PHONY: test
test: manifests generate vet helm kustomize ## Run every test CI runs: unit, envtest integration, chart and manifests, the `make dev` smoke test.
	@git diff --exit-code -- api config $(CHART_DIR)/files >/dev/null || { echo "Generated files are stale: run 'make generate manifests' and commit." >&2; git diff --stat -- api config $(CHART_DIR)/files; exit 1; }
	HELM=$(HELM) KUSTOMIZE=$(KUSTOMIZE) KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" go test -race -count=1 $(GOTEST_FLAGS) ./...

##@ Build

.PHONY: build
build: generate ## Build bin/manager and bin/mcpproxy.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/mcpproxy ./cmd/mcpproxy

.PHONY: dev-cluster
dev-cluster: ## Run a local control plane (CRDs installed; kubeconfig at bin/dev/kubeconfig) until Ctrl-C.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" go run ./hack/devcluster -crds config/crd/bases -dir bin/dev

##@ Local demo (no Docker needed)

.PHONY: dev
dev: dev-build ## Run the demo: control plane, demo OAuth+MCP server, controller and a sample `demo` server, until Ctrl-C.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" DEV_DIR="$(DEV_DIR)" $(LOCALBIN)/devrun

.PHONY: dev-build
dev-build: ## Build what `make dev` runs: bin/manager, bin/mcpproxy, bin/oauthserver, bin/devrun and bin/dev-follow.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/mcpproxy ./cmd/mcpproxy
	go build -o $(LOCALBIN)/oauthserver ./test/oauthserver/cmd/server
	go build -o $(LOCALBIN)/devrun ./hack/dev
	go build -o $(LOCALBIN)/dev-follow ./hack/dev/follow

.PHONY: dev-clean
dev-clean: ## Forget the demo's state (token store, key, logs, kubeconfig under bin/dev).
	rm -rf "$(DEV_DIR)"

##@ Chart

.PHONY: helm-sync
helm-sync: ## Copy the CRDs, RBAC rules and admission policy from config/ into the Helm chart (run by `make manifests`).
	@mkdir -p $(CHART_DIR)/files/crds $(CHART_DIR)/files/rbac
	@rm -f $(CHART_DIR)/files/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART_DIR)/files/crds/
	cp config/rbac/role.yaml config/rbac/leader_election_role.yaml config/rbac/upstreamserver_user_role.yaml config/rbac/upstreamserver_viewer_role.yaml $(CHART_DIR)/files/rbac/
	cp config/rbac/token_store/role.yaml $(CHART_DIR)/files/rbac/token_store_role.yaml
	@mkdir -p $(CHART_DIR)/files/admission
	cp config/admission/handover_policy.yaml config/admission/handover_policy_binding.yaml config/admission/upstream_credential_policy.yaml config/admission/upstream_credential_policy_binding.yaml config/admission/upstream_credential_creator_policy.yaml config/admission/upstream_credential_creator_policy_binding.yaml config/admission/persubject_server_policy.yaml config/admission/persubject_server_policy_binding.yaml $(CHART_DIR)/files/admission/

.PHONY: helm-lint
helm-lint: helm ## Lint the chart with its default values.
	$(HELM) lint --strict $(CHART_DIR)

##@ Cluster (Docker, kind or a real cluster; not available on the shared dev machines)

.PHONY: docker-build
docker-build: ## Build the manager image (with the mcpproxy CLI): make docker-build IMG=repo/name:tag.
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: kind-up
kind-up: ## Create the kind cluster KIND_CLUSTER (default mcpproxy) unless it exists.
	@$(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' || $(KIND) create cluster --name $(KIND_CLUSTER)

.PHONY: kind-down
kind-down: ## Delete the kind cluster KIND_CLUSTER.
	$(KIND) delete cluster --name $(KIND_CLUSTER)

.PHONY: kind-load
kind-load: ## Load the image IMG into the kind cluster (after make docker-build).
	$(KIND) load docker-image $(IMG) --name $(KIND_CLUSTER)

ignore-not-found ?= false

.PHONY: install
install: kustomize ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: kustomize ## Remove the CRDs (and with them every UpstreamServer). ignore-not-found=true to ignore missing ones.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

# config/default's namespace and the Secret holding the token store's encryption key (not part of
# config/: a key must be random and never committed).
DEPLOY_NAMESPACE := mcpproxy-system
DEPLOY_KEY_SECRET := mcpproxy-token-key

.PHONY: deploy
deploy: kustomize ## Deploy config/default with image IMG to the cluster of the current kubeconfig; first creates the token key Secret unless it exists (hack/deploy-key.sh, never replaced).
	@# An overlay under bin/ sets the image, so config/ is not edited (kustomize wants relative bases).
	@rm -rf $(LOCALBIN)/deploy && mkdir -p $(LOCALBIN)/deploy
	printf 'resources:\n- ../../config/default\n' > $(LOCALBIN)/deploy/kustomization.yaml
	cd $(LOCALBIN)/deploy && $(KUSTOMIZE) edit set image mcpproxy-operator=$(IMG)
	KUBECTL="$(KUBECTL)" hack/deploy-key.sh $(DEPLOY_NAMESPACE) $(DEPLOY_KEY_SECRET)
	$(KUSTOMIZE) build $(LOCALBIN)/deploy | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove what make deploy created: the CRDs, the namespace with the token store claim AND the token key Secret (every stored token is lost). ignore-not-found=true to ignore missing objects.
	@echo "undeploy: deleting namespace $(DEPLOY_NAMESPACE) with the token store claim and Secret $(DEPLOY_KEY_SECRET) (the encryption key): every stored token is lost." >&2
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -
	@# Gone with its namespace already; deleted last in any case, so an interrupted undeploy never
	@# leaves a token store whose key is gone (a later deploy would generate a different one).
	$(KUBECTL) delete secret --namespace $(DEPLOY_NAMESPACE) $(DEPLOY_KEY_SECRET) --ignore-not-found

.PHONY: run
run: generate ## Run the controller on this machine against the current kubeconfig (token store in bin/run).
	go run ./cmd/manager --token-store=$(LOCALBIN)/run/tokens.db $(RUN_ARGS)

##@ Benchmarks

.PHONY: bench
bench: ## Scale benchmark (about 1 hour; not part of `make test`): writes bench/results/. BENCH_N=100,1000 (0: none) BENCH_LIFETIMES=3 BENCH_CREDENTIALS=10000 (0: none) BENCH_CREDENTIAL_SERVERS=10 BENCH_CREDENTIAL_TTL=5m …
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" go run ./test/bench/cmd/bench

.PHONY: bench-decoys
bench-decoys: ## What labelled 1 MiB Secrets cost the manager's memory (about 10 min): writes bench/results/decoys.{json,md}. BENCH_DECOYS=500
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh)" go run ./test/bench/cmd/bench -decoys

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

# Helm reports the Kubernetes version it was built for as the default capabilities; a plain
# `go install` says 1.20, so the version variables are set as Helm's own Makefile does.
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37

.PHONY: helm
helm: $(HELM) ## Install Helm 3 into ./bin (built from the Go module proxy).
$(HELM):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
