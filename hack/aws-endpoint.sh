#!/usr/bin/env bash
# The local AWS endpoint's Python environment.
#   hack/aws-endpoint.sh venv   creates (once) a virtualenv with moto[server] pinned in hack/versions.env and
#                               prints its python interpreter.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${ESR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/external-secrets-rs}
venv="$cache/venv-moto-$MOTO_VERSION"
log() { printf 'aws-endpoint: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "${1:-}" in
  venv)
    if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
      command -v python3 >/dev/null 2>&1 || die "no python3 on PATH: install Python >= 3.9 (the AWS endpoint is moto)."
      python3 -c 'import venv' 2>/dev/null || die "python3 has no venv module: apt-get install python3-venv."
      log "creating $venv (moto[server]==$MOTO_VERSION; about 30s the first time)"
      rm -rf "$venv"
      python3 -m venv "$venv" >&2
      "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" "PyJWT[crypto]>=2.8" >&2 \
        || die "pip install of moto[server]==$MOTO_VERSION failed (is PyPI reachable?)."
      touch "$venv/.complete"
    fi
    echo "$venv/bin/python"
    ;;
  *)
    echo "usage: $0 venv" >&2
    exit 2
    ;;
esac
