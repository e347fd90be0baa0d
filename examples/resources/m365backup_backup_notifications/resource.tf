terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# The tenant's backup notification emails. Changing them needs a delegated sign-in:
#   terraform-provider-m365backup login --tenant <tenant-id> --client-id <client-id>
resource "m365backup_backup_notifications" "contoso" {
  tenant_id                            = "00000000-0000-0000-0000-000000000001"
  enabled                              = true
  notify_on_restore_and_policy_updates = true
  recipient_emails                     = ["backup-admins@contoso.com", "secops@contoso.com"]
}
