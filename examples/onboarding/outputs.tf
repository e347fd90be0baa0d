output "controllers" {
  description = "Per tenant: the app's controller status and when the activation took or takes effect."
  value = {
    for tenant, app in m365backup_service_app.this : tenant => {
      status               = app.status
      activation_date_time = app.activation_date_time
    }
  }
}

output "pending_takeovers" {
  description = "Tenants where the app waits for the current controller's grace period to end, with the date it takes over."
  value = {
    for tenant, app in m365backup_service_app.this : tenant => app.activation_date_time
    if app.status == "pendingActive"
  }
}

output "backup_service" {
  description = "Per tenant: the Microsoft 365 Backup service status and who controls it."
  value = {
    for tenant, billing in m365backup_billing_enablement.this : tenant => {
      status                  = billing.status
      backup_service_consumer = billing.backup_service_consumer
    }
  }
}
