# Entry points. Each target installs what it needs first (idempotently): Go-built control-plane binaries and
# helm (hack/build-tools.sh), the moto virtualenv (hack/aws-endpoint.sh), Rust crates (cargo).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help tools toolchain test lint unit demo cluster-up cluster-down crds static-check bench bench-compare

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "ERROR: no cargo on PATH: install Rust >= 1.94 with rustup (https://rustup.rs is not needed offline: the rustup package or the machine image provides it)." >&2; exit 1; }
	@command -v go >/dev/null || { echo "ERROR: no go on PATH: install Go >= 1.26 (kube-apiserver and etcd are built from Go modules)." >&2; exit 1; }
	@command -v python3 >/dev/null || { echo "ERROR: no python3 on PATH: install Python >= 3.9 (the local AWS endpoint is moto)." >&2; exit 1; }

tools: toolchain ## Build/find the local cluster binaries and the AWS endpoint venv (cached outside the tree).
	@hack/build-tools.sh >/dev/null
	@hack/aws-endpoint.sh venv >/dev/null

# Exported to tests so they need not call the scripts themselves.
test unit demo cluster-up bench: export ESR_BIN_DIR = $(shell hack/build-tools.sh 2>/dev/null)
test unit demo cluster-up bench: export ESR_MOTO_PYTHON = $(shell hack/aws-endpoint.sh venv 2>/dev/null)
# Test runtimes (tokio's default worker stack is 2 MiB) run the operator's debug-built futures, which overflowed
# it on the ClusterSecretStore path once every provider was compiled in (docs/development.md).
test unit: export RUST_MIN_STACK = 8388608

test: tools lint ## Run every test: lints, unit tests and end-to-end tests against the real local cluster.
	$(CARGO) test --workspace --all-targets --no-fail-fast

unit: tools ## Run only the tests that need no cluster (pure logic).
	$(CARGO) test --workspace --lib

lint: toolchain ## cargo fmt --check and clippy -D warnings.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

demo: tools ## The user story on the local cluster and AWS endpoint.
	hack/demo.sh

cluster-up: tools ## Start etcd, kube-apiserver, kube-controller-manager and the AWS endpoint; print the exports.
	@$(CARGO) run --quiet -p external-secrets-testsupport --bin local-cluster -- up

cluster-down: ## Stop exactly what cluster-up started.
	@$(CARGO) run --quiet -p external-secrets-testsupport --bin local-cluster -- down

bench: tools ## Benchmark (not part of test): scenarios S0-S8 on a private local cluster; BENCH_ARGS=... passes options.
	$(CARGO) build --release -p external-secrets
	$(CARGO) run --release --quiet -p external-secrets-testsupport --bin bench -- $(BENCH_ARGS)

bench-compare: ## Diff two benchmark result files: make bench-compare A=old.json B=new.json (regressions > 20 % fail).
	$(CARGO) run --release --quiet -p external-secrets-testsupport --bin bench -- compare $(A) $(B)

static-check: toolchain ## Build the binary statically (release, glibc +crt-static) and check it with file/ldd.
	hack/check-static.sh
