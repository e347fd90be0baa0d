terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

resource "m365backup_onedrive_protection_policy" "this" {
  tenant_id    = "00000000-0000-0000-0000-000000000001"
  display_name = "OneDrive backup"
}

resource "m365backup_onedrive_inclusion_rule" "staff" {
  policy_id = m365backup_onedrive_protection_policy.this.id
  group_ids = [
    "3f2e1d0c-9b8a-4c7d-8e6f-5a4b3c2d1e0f",
  ]

  # Destroying the rule also stops protecting the OneDrive accounts it added.
  unprotect_on_destroy = true
}
