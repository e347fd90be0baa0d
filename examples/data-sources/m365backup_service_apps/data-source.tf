terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# Every app registered as a backup controller in the tenant.
data "m365backup_service_apps" "fabrikam" {
  tenant_id = "00000000-0000-0000-0000-000000000002"
}

output "current_controllers" {
  description = "Apps that control the tenant now (active, or active until a pending change)."
  value = [
    for app in data.m365backup_service_apps.fabrikam.service_apps : app.application_id
    if contains(["active", "pendingInactive"], app.status)
  ]
}

output "pending_changes" {
  description = "Apps scheduled to take over, and when."
  value = {
    for app in data.m365backup_service_apps.fabrikam.service_apps : app.application_id => app.effective_date_time
    if app.status == "pendingActive"
  }
}
