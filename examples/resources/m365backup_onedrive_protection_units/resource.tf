terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# The policy leaves user_ids unset: its units are added by resources like this one.
resource "m365backup_onedrive_protection_policy" "this" {
  tenant_id    = "00000000-0000-0000-0000-000000000001"
  display_name = "OneDrive backup"
}

# One team's OneDrive accounts. Other teams add theirs with their own resource.
resource "m365backup_onedrive_protection_units" "finance" {
  policy_id = m365backup_onedrive_protection_policy.this.id
  user_ids = [
    "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
  ]
  # Adding by email address needs a delegated sign-in (see below).
  user_emails = [
    "adele.vance@contoso.com",
  ]
}
