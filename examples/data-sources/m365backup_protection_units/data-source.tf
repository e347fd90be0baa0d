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

# The mailboxes of one policy that are not protected (yet).
data "m365backup_protection_units" "mail_pending" {
  policy_id = var.mail_policy_id
  statuses  = ["protectRequested", "unprotected"]
}

# Every OneDrive unit of the tenant, to count them by status.
data "m365backup_protection_units" "drives" {
  tenant_id = "00000000-0000-0000-0000-000000000001"
  workload  = "onedrive"
}

output "mailboxes_not_protected" {
  value = [for u in data.m365backup_protection_units.mail_pending.units : u.directory_object_id]
}

output "drives_by_status" {
  value = data.m365backup_protection_units.drives.counts
}

output "units_with_errors" {
  value = [for u in data.m365backup_protection_units.drives.units : u.id if u.error_code != null]
}
