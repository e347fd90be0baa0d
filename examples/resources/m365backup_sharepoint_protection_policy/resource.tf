terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

resource "m365backup_sharepoint_protection_policy" "this" {
  tenant_id    = "00000000-0000-0000-0000-000000000001"
  display_name = "SharePoint backup"
  site_ids = [
    "contoso.sharepoint.com,7b3e9c6f-1d2a-4e8b-9f0c-5a6d7e8f9a0b,2c4e6a8b-0d1f-4a3c-8e5b-7d9f1b3c5e7a",
  ]
  retention_period = "P365D"

  # Policies are written only while the app is the tenant's active controller
  # and billing is enabled: in a full configuration, add
  # depends_on = [m365backup_billing_enablement.<name>].
}
