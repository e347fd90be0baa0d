output "controllers" {
  description = "Per tenant: the app's controller status and when the activation took or takes effect."
  value = {
    for tenant, m in module.tenant : tenant => {
      status               = m.service_app.status
      activation_date_time = m.service_app.activation_date_time
    }
  }
}

output "pending_takeovers" {
  description = "Tenants where the app waits for the current controller's grace period to end, with the date it takes over."
  value = {
    for tenant, m in module.tenant : tenant => m.service_app.activation_date_time
    if m.service_app.status == "pendingActive"
  }
}

output "billing_not_ours_yet" {
  description = "Tenants whose backup service is not run by a third-party controller yet (backup_service_consumer is not \"thirdparty\"): their billing enablement is deferred, or waits for a takeover date."
  value       = sort([for tenant, m in module.tenant : tenant if !m.billing_is_ours])
}
