terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# The Microsoft 365 Backup service of the provider's default tenant.
data "m365backup_service" "current" {}

# The same for another tenant.
data "m365backup_service" "fabrikam" {
  tenant_id = "00000000-0000-0000-0000-000000000002"
}

output "backup_service" {
  value = {
    status     = data.m365backup_service.current.status                  # e.g. "enabled"
    controller = data.m365backup_service.current.backup_service_consumer # "firstparty" or "thirdparty"
  }
}

# true when Microsoft's own controller is in charge: activating another app
# then needs a date 7 to 30 days ahead.
output "fabrikam_has_microsoft_controller" {
  value = data.m365backup_service.fabrikam.status == "enabled" && data.m365backup_service.fabrikam.backup_service_consumer == "firstparty"
}
