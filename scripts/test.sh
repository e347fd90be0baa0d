#!/usr/bin/env bash
# Runs every test: unit and property tests, the emulator's HTTP tests, and the end-to-end tests
# that drive every terraform binary found (PATH, TERRAFORM_BIN, PyPI 1.0.3) against the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
unset RUST_BACKTRACE TF_LOG TF_LOG_PROVIDER
export PROPTEST_CASES="${PROPTEST_CASES:-256}"
cargo build --workspace --all-targets
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
