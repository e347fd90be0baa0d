terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

resource "m365backup_onedrive_protection_policy" "this" {
  tenant_id    = "00000000-0000-0000-0000-000000000001"
  display_name = "OneDrive for Business backup"
  user_ids = [
    "5d1e7a9c-3b2f-4c6d-8e0a-1f2b3c4d5e6f",
  ]
  retention_period = "P365D"

  # Policies are written only while the app is the tenant's active controller
  # and billing is enabled: in a full configuration, add
  # depends_on = [m365backup_billing_enablement.<name>].
}
