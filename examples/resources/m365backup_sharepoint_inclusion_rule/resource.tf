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
}

resource "m365backup_sharepoint_inclusion_rule" "finance" {
  policy_id          = m365backup_sharepoint_protection_policy.this.id
  site_name_keywords = ["Finance"]
  site_url_keywords  = ["/sites/fin"]

  # Static: sites created later are added when this value changes.
  rerun_triggers = {
    quarter = "2026-Q4"
  }
}
