output "service_app" {
  description = "The controller app in this tenant: its status, and when the activation took or takes effect."
  value = {
    id                   = m365backup_service_app.this.id
    status               = m365backup_service_app.this.status
    activation_date_time = m365backup_service_app.this.activation_date_time
  }
}

output "backup_service" {
  description = "The tenant's backup service as the billing enablement last saw it."
  value = {
    status                  = m365backup_billing_enablement.this.status
    backup_service_consumer = m365backup_billing_enablement.this.backup_service_consumer
  }
}

output "billing_is_ours" {
  description = "True when the tenant's backup service is run by a third-party controller (backup_service_consumer = \"thirdparty\"). While the enable is deferred, the billing enablement shows the service as it is, which can be \"enabled\" by Microsoft's controller: status alone does not tell."
  value       = m365backup_billing_enablement.this.backup_service_consumer == "thirdparty"
}

output "protection_policies" {
  description = "The tenant's protection policies by workload: id (null while deferred), status and unit count."
  value = {
    for name, policy in {
      exchange   = one(m365backup_exchange_protection_policy.this)
      onedrive   = one(m365backup_onedrive_protection_policy.this)
      sharepoint = one(m365backup_sharepoint_protection_policy.this)
      } : name => policy == null ? null : {
      id              = policy.id
      status          = policy.status
      unit_count      = policy.unit_count
      deferred_reason = policy.deferred_reason
    }
  }
}
