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

output "protection" {
  description = "Per tenant: its protection policies by workload (id, status, unit count), null where none is configured."
  value       = { for tenant, m in module.tenant : tenant => m.protection_policies }
}

output "waiting" {
  description = "What waits, per tenant: the deferred protection policies and why (deferred_reason)."
  value = {
    for tenant, m in module.tenant : tenant => {
      for workload, policy in m.protection_policies : workload => policy.deferred_reason
      if policy != null && try(policy.deferred_reason, null) != null
    }
    if length([for p in values(m.protection_policies) : p if p != null && try(p.deferred_reason, null) != null]) > 0
  }
}
