#!/usr/bin/env bash
# Creates the token store's encryption key Secret that config/manager mounts, unless it exists.
# `make deploy` runs this before applying config/default.
#
#   hack/deploy-key.sh [NAMESPACE [SECRET]]     (defaults: mcpproxy-system mcpproxy-token-key)
#
# The key is 32 random bytes from /dev/urandom, base64 on one line: the key file format of
# --token-encryption-key-file, the same as the Helm chart generates (Secret key "key").
# An existing Secret is never replaced or read: a new key could not open the tokens sealed
# with the old one. The key is never printed, and never put on a command line (it reaches
# kubectl on its standard input, through shell builtins only).
# KUBECTL names the kubectl binary (default: kubectl), with its usual flags if needed.
set -euo pipefail
set +x

namespace=${1:-mcpproxy-system}
name=${2:-mcpproxy-token-key}
read -r -a kubectl <<<"${KUBECTL:-kubectl}"

exists() {
	# --ignore-not-found: empty output for a missing Secret, an error for anything else
	# (no access, no cluster), which stops the script.
	[[ -n "$("${kubectl[@]}" get secret --namespace "$namespace" "$name" --ignore-not-found -o name)" ]]
}

if exists; then
	echo "Secret $namespace/$name exists: keeping its token encryption key."
	exit 0
fi

# The namespace is config/default's too; `kubectl apply --server-side` later adopts it.
if [[ -z "$("${kubectl[@]}" get namespace "$namespace" --ignore-not-found -o name)" ]]; then
	"${kubectl[@]}" create namespace "$namespace"
fi

key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
if [[ ${#key} -ne 44 ]]; then
	echo "could not read 32 random bytes from /dev/urandom" >&2
	exit 1
fi

# create, not apply: it fails instead of replacing a Secret made since the check above.
if ! printf '%s\n' \
	'apiVersion: v1' \
	'kind: Secret' \
	'metadata:' \
	"  name: $name" \
	"  namespace: $namespace" \
	'  labels:' \
	'    app.kubernetes.io/name: mcpproxy-operator' \
	'    app.kubernetes.io/component: token-key' \
	'  annotations:' \
	'    kubernetes.io/description: "The token store encryption key (--token-encryption-key-file). Back it up apart from the token store volume; replacing it makes every stored token unreadable."' \
	'type: Opaque' \
	'stringData:' \
	"  key: $key" | "${kubectl[@]}" create -f - >/dev/null; then
	unset key
	if exists; then
		echo "Secret $namespace/$name was created meanwhile: keeping its token encryption key."
		exit 0
	fi
	echo "could not create Secret $namespace/$name" >&2
	exit 1
fi
unset key
echo "Created Secret $namespace/$name with a new token encryption key (back it up apart from the token store volume)."
