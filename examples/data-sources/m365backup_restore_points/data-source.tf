terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

variable "mail_policy_id" {
  description = "The `id` of an m365backup_exchange_protection_policy (<tenantId>/<policyId>)."
  type        = string
}

# Every protected mailbox of the policy: which have no restore point from the last 24 hours?
data "m365backup_restore_points" "mail" {
  policy_id = var.mail_policy_id
  since     = "24h"
}

output "mailboxes_without_recent_backup" {
  value = data.m365backup_restore_points.mail.units_without_restore_point
}

# Specific units, with a longer window.
data "m365backup_restore_points" "ceo" {
  tenant_id           = "00000000-0000-0000-0000-000000000001"
  protection_unit_ids = ["11111111-1111-1111-1111-111111111111"]
  since               = "7d"
}

output "ceo_latest_restore_point" {
  value = try(data.m365backup_restore_points.ceo.latest["11111111-1111-1111-1111-111111111111"].protection_date_time, null)
}
