#!/usr/bin/env bash
# Builds the operator binary statically linked for x86_64 glibc (the Docker build uses musl; this checks the
# same property without a Docker engine) and verifies with file/ldd that it has no dynamic dependencies.
# Usage: hack/check-static.sh [target-dir]   (a release build: several minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${1:-target}"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked \
  --target x86_64-unknown-linux-gnu --target-dir "$target_dir" -p external-secrets --bin external-secrets
bin="$target_dir/x86_64-unknown-linux-gnu/release/external-secrets"
file "$bin"
file "$bin" | grep -Eq 'static(-pie)? linked|statically linked' || { echo "ERROR: $bin is dynamically linked" >&2; exit 1; }
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "ERROR: $bin has shared library dependencies:" >&2
  ldd "$bin" >&2
  exit 1
fi
"$bin" --version
echo "OK: $bin is static ($(du -h "$bin" | cut -f1))"
