#!/usr/bin/env bash
# Load test of m365backup-emulator: the release binary, 200 concurrent clients (one
# connection each) for 60 s, mixing Graph reads, register/unregister and token requests.
# Fails if any request errors or gets an unexpected status. Traffic stays on 127.0.0.1.
#
#   scripts/emulator-load.sh [CLIENTS] [SECONDS]
set -euo pipefail

CLIENTS="${1:-200}"
SECONDS_TO_RUN="${2:-60}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

cd "$ROOT"
cargo build --release -q -p m365backup-emulator --bin m365backup-emulator --example load

STATE="$(mktemp -d)"
OUT="$STATE/stdout"
cleanup() {
  if [[ -n "${EMU_PID:-}" ]]; then kill -TERM "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
  rm -rf "$STATE"
}
trap cleanup EXIT

"$TARGET/release/m365backup-emulator" --listen 127.0.0.1:0 --state-dir "$STATE/emu" >"$OUT" &
EMU_PID=$!
for _ in $(seq 1 100); do
  grep -q '^M365BACKUP_EMULATOR_URL=' "$OUT" 2>/dev/null && break
  sleep 0.1
done
URL="$(sed -n 's/^M365BACKUP_EMULATOR_URL=//p' "$OUT")"
[[ -n "$URL" ]] || { echo "emulator did not start" >&2; exit 1; }
echo "emulator at $URL (pid $EMU_PID); $CLIENTS clients for ${SECONDS_TO_RUN}s"

"$TARGET/release/examples/load" --url "$URL" --ca "$STATE/emu/ca.pem" \
  --clients "$CLIENTS" --seconds "$SECONDS_TO_RUN"

# still healthy afterwards
curl -sf --cacert "$STATE/emu/ca.pem" "$URL/_emulator/clock" >/dev/null
echo "emulator still answering after the load"
