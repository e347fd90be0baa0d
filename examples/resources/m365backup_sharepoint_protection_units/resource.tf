terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# The policy leaves site_ids unset: its units are added by resources like this one.
resource "m365backup_sharepoint_protection_policy" "this" {
  tenant_id    = "00000000-0000-0000-0000-000000000001"
  display_name = "SharePoint backup"
}

# One team's sites. Other teams add theirs with their own resource.
resource "m365backup_sharepoint_protection_units" "finance" {
  policy_id = m365backup_sharepoint_protection_policy.this.id
  site_ids = [
    "contoso.sharepoint.com,2d2244f5-1e2c-4d5f-8c6b-2c1b1f0b3a11,7a1f3e2d-9c4b-4e8a-b5d6-0f1e2d3c4b5a",
  ]
  # Adding by url needs a delegated sign-in (see below).
  site_web_urls = [
    "https://contoso.sharepoint.com/sites/finance",
  ]
}
