#!/usr/bin/env bash
# Builds etcd and kube-apiserver from the Go module proxy into a cache directory
# outside the clone, keyed by version, so the ~4 minute build happens once per machine.
# Prints the directory that holds both binaries (use it as KUBEBUILDER_ASSETS). It holds a
# kubectl too, for the tests that run one (docs/getting-started.md): a link to the one on the
# PATH, else one built from the same Kubernetes release.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.5}"
CACHE_ROOT="${MCPPROXY_CACHE:-${HOME}/.cache/mcpproxy}"
OUT="${CACHE_ROOT}/k8s/v${K8S_VERSION}-etcd${ETCD_VERSION}"
staging_version="v0${K8S_VERSION#1}"

log() { echo "build-control-plane: $*" >&2; }

have_kubectl() { [[ -x "${OUT}/kubectl" ]] || command -v kubectl >/dev/null 2>&1; }

if [[ -x "${OUT}/kube-apiserver" && -x "${OUT}/etcd" ]] && have_kubectl; then
  if [[ ! -e "${OUT}/kubectl" ]]; then
    ln -sf "$(command -v kubectl)" "${OUT}/kubectl"
  fi
  echo "${OUT}"
  exit 0
fi
mkdir -p "${OUT}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

if [[ ! -x "${OUT}/etcd" ]]; then
  log "building etcd v${ETCD_VERSION}"
  mkdir -p "${work}/etcd"
  (
    cd "${work}/etcd"
    go mod init local/etcdbuild >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >/dev/null 2>&1
    go build -trimpath -ldflags='-s -w' -o "${OUT}/etcd.tmp" go.etcd.io/etcd/server/v3
    mv "${OUT}/etcd.tmp" "${OUT}/etcd"
  )
fi

# k8s_module prepares, once, a module that builds commands of k8s.io/kubernetes at K8S_VERSION.
k8s_module() {
  [[ -f "${work}/k8s/tools.go" ]] && return
  mkdir -p "${work}/k8s"
  (
    cd "${work}/k8s"
    go mod init local/k8sbuild >/dev/null 2>&1
    modfile="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    # kubernetes points its staging modules at ./staging; replace each with the published version.
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "${modfile}" | awk '{print $1}' | sort -u | while read -r m; do
      go mod edit -replace "${m}=${m}@${staging_version}"
    done
    go mod edit -require "k8s.io/kubernetes@v${K8S_VERSION}"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >/dev/null 2>&1 || true
  )
}

if [[ ! -x "${OUT}/kube-apiserver" ]]; then
  log "building kube-apiserver v${K8S_VERSION} (a few minutes the first time)"
  k8s_module
  (
    cd "${work}/k8s"
    go build -trimpath -ldflags='-s -w' -o "${OUT}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
    mv "${OUT}/kube-apiserver.tmp" "${OUT}/kube-apiserver"
  )
fi

if ! have_kubectl; then
  log "building kubectl v${K8S_VERSION} (none on the PATH)"
  k8s_module
  (
    cd "${work}/k8s"
    v="-X k8s.io/client-go/pkg/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION}"
    go build -trimpath -ldflags="-s -w ${v}" -o "${OUT}/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
    mv "${OUT}/kubectl.tmp" "${OUT}/kubectl"
  )
elif [[ ! -e "${OUT}/kubectl" ]]; then
  ln -sf "$(command -v kubectl)" "${OUT}/kubectl"
fi
echo "${OUT}"
