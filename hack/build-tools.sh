#!/usr/bin/env bash
# Builds the local control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kubectl), helm and the
# Vault server (for the Vault provider's tests) from
# the pinned Go wrapper modules in hack/tools/, into a cache outside the work tree keyed by version. A binary that
# is already there is not rebuilt. Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${ESR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/external-secrets-rs}
log() { printf 'build-tools: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "no 'go' on PATH. Install Go >= 1.26 (this project builds kube-apiserver $KUBE_VERSION from Go modules)."
gov=$(go env GOVERSION)
case "$gov" in
  go1.2[6-9]*|go1.[3-9]*) ;;
  *) die "Go $gov is too old: kube-apiserver $KUBE_VERSION needs Go >= 1.26." ;;
esac

check_pin() { # module-dir module version
  grep -qE "^[[:space:]]*(require[[:space:]]+)?$2 $3\$" "$here/tools/$1/go.mod" \
    || die "hack/tools/$1/go.mod does not require $2 $3 (hack/versions.env): regenerate the wrapper module."
}
check_pin kube k8s.io/kubernetes "$KUBE_VERSION"
check_pin etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
check_pin helm helm.sh/helm/v3 "$HELM_VERSION"
check_pin vault github.com/hashicorp/vault "$VAULT_VERSION"

export CGO_ENABLED=0 GOFLAGS=-mod=mod

# build MODULE-DIR NAME VERSION PACKAGE [LDFLAGS]
build() {
  local dir=$1 name=$2 version=$3 pkg=$4 ldflags=${5:-}
  local out="$cache/bin/$name-$version"
  if [ -x "$out" ]; then return 0; fi
  mkdir -p "$cache/bin"
  log "building $name $version (cold builds take minutes; later runs reuse $out)"
  local start=$SECONDS
  if ! (cd "$here/tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") >"$cache/build-$name.log" 2>&1; then
    tail -n 30 "$cache/build-$name.log" >&2
    rm -f "$out.tmp"
    die "go build of $name $version failed; full log: $cache/build-$name.log"
  fi
  mv "$out.tmp" "$out"
  log "built $name $version in $((SECONDS - start))s"
}

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kube_ldflags="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build etcd etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3
build kube kube-apiserver "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube kube-controller-manager "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube kubectl "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
build helm helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
build vault vault "$VAULT_VERSION" github.com/hashicorp/vault

# Stable names for scripts and tests: bin/current/<name> -> ../<name>-<version>.
mkdir -p "$cache/bin/current"
for pair in "etcd:$ETCD_VERSION" "kube-apiserver:$KUBE_VERSION" "kube-controller-manager:$KUBE_VERSION" "kubectl:$KUBE_VERSION" "helm:$HELM_VERSION" "vault:$VAULT_VERSION"; do
  ln -sfn "../${pair%%:*}-${pair#*:}" "$cache/bin/current/${pair%%:*}"
done
echo "$cache/bin/current"
