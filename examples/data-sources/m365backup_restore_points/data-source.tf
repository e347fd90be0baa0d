terraform {
  required_version = ">= 1.5.0" # check blocks
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

# Backup health in every plan: each protected mailbox of the policy has a restore point from
# the last 24 hours. A failed check is a warning; it never blocks an apply.
check "mailboxes_backed_up" {
  data "m365backup_restore_points" "mail" {
    policy_id = var.mail_policy_id
    since     = "24h"
  }

  assert {
    condition     = length(data.m365backup_restore_points.mail.units_without_restore_point) == 0
    error_message = "Mailboxes without a restore point in the last 24 hours: ${join(", ", data.m365backup_restore_points.mail.units_without_restore_point)}"
  }
}

# Specific units, outside a check block (an error reading them fails the plan).
data "m365backup_restore_points" "ceo" {
  tenant_id           = "00000000-0000-0000-0000-000000000001"
  protection_unit_ids = ["11111111-1111-1111-1111-111111111111"]
  since               = "7d"
}

output "ceo_latest_restore_point" {
  value = try(data.m365backup_restore_points.ceo.latest["11111111-1111-1111-1111-111111111111"].protection_date_time, null)
}
