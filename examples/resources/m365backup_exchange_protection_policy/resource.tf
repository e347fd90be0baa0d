terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

resource "m365backup_exchange_protection_policy" "this" {
  tenant_id    = "00000000-0000-0000-0000-000000000001"
  display_name = "Exchange backup"
  mailbox_ids = [
    "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
  ]
  retention_period = "P365D"

  # Policies are written only while the app is the tenant's active controller
  # and billing is enabled: in a full configuration, add
  # depends_on = [m365backup_billing_enablement.<name>].
}
