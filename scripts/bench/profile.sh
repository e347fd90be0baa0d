#!/usr/bin/env bash
# Profiles the provider (and optionally Terraform) during one refresh plan of a fleet the
# benchmark left behind, with `perf record` (apt: linux-perf). Not part of the test suite.
# Terraform's functions are named when a Go toolchain >= 1.20 is on PATH (see go_profile.py).
#
#   scripts/bench/profile.sh WORKDIR [provider|terraform]
#
# WORKDIR is a working directory under .bench/work/fleet-*/ (e.g.
# .bench/work/fleet-1.11.4-module-1000/m365backup-a1) whose emulator has been stopped: the script
# starts a fresh emulator on the same state directory. Output: perf.data files and a flat
# report (self time by symbol and by shared object) next to WORKDIR.
set -euo pipefail
wd=$(cd "$1" && pwd)
what=${2:-provider}
root=$(cd "$(dirname "$0")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
provider_bin="$target_dir/${BENCH_PROFILE:-release}/terraform-provider-m365backup"
emulator_bin="$target_dir/${BENCH_PROFILE:-release}/m365backup-emulator"
terraform_bin=${TERRAFORM_BIN:-terraform}
group=$(dirname "$wd")
out="$group/profile-$what"
rm -rf "$out" && mkdir -p "$out/providers/m365backup"
unset RUST_BACKTRACE TF_LOG

"$emulator_bin" --listen 127.0.0.1:0 --state-dir "$group/emulator-state" --print-env > "$out/emulator.env" 2> "$out/emulator.log" &
emu=$!
trap 'kill $emu 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q DELEGATED_REFRESH_TOKEN "$out/emulator.env" 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$out/emulator.env"

w="$out/providers/m365backup/terraform-provider-m365backup"
if [ "$what" = provider ]; then
  printf '#!/bin/sh\nexec perf record -q -F 4999 -o "%s/perf.provider.$$.data" -- "%s" "$@"\n' "$out" "$provider_bin" > "$w"
else
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$provider_bin" > "$w"
fi
chmod +x "$w"
cat > "$out/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/m365backup/m365backup" = "$out/providers/m365backup"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$out/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cd "$wd"
if [ "$what" = terraform ]; then
  # Go keeps frame pointers: call stacks come cheap, and go_profile.py names the functions.
  perf record -q -F 999 --call-graph fp -o "$out/perf.terraform.data" -- "$terraform_bin" plan -input=false -no-color > "$out/plan.log" 2>&1
  perf report -i "$out/perf.terraform.data" --no-children --sort symbol --stdio 2>/dev/null | head -60 > "$out/report.txt"
  real_tf=$(readlink -f "$(command -v "$terraform_bin")")
  if command -v go >/dev/null && python3 "$root/scripts/bench/go_profile.py" "$out/perf.terraform.data" "$real_tf" > "$out/report.go.txt" 2>&1; then
    echo "Terraform functions (inclusive): $out/report.go.txt"
  fi
else
  /usr/bin/time -f '%e s wall' "$terraform_bin" plan -input=false -no-color > "$out/plan.log" 2>&1
  for f in "$out"/perf.provider.*.data; do
    { echo "== $f"; perf report -i "$f" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | head -15
      perf report -i "$f" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^#' | head -60; } >> "$out/report.txt"
  done
fi
echo "report: $out/report.txt"
