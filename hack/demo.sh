#!/usr/bin/env bash
# `make demo`: starts a private local cluster and AWS endpoint, shows them working, and stops them again.
# (It grows into the walkthrough of ../shared/walkthrough.md as the operator lands.)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
export ESR_STATE_DIR=${ESR_STATE_DIR:-$(mktemp -d /tmp/esr-demo.XXXXXX)}
cargo=${CARGO:-cargo}

cleanup() { "$cargo" run --quiet -p external-secrets-testsupport --bin local-cluster -- down || true; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Starting etcd, kube-apiserver, kube-controller-manager and the AWS endpoint"
eval "$("$cargo" run --quiet -p external-secrets-testsupport --bin local-cluster -- up)"
show kubectl version
show kubectl get namespaces

if [ -f "$root/deploy/crds/bundle.yaml" ]; then
  step "Installing the external-secrets.io CRDs"
  show kubectl apply --server-side -f "$root/deploy/crds/bundle.yaml"
  show kubectl get crds
fi
step "Done; the demo cluster is stopped on exit"
