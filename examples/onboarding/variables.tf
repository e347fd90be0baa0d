variable "tenant_ids" {
  description = "IDs of the customer (consuming) tenants to onboard. Each tenant must have granted admin consent to the controller app."
  type        = list(string)
}

variable "app_owner_tenant_id" {
  description = "ID of the tenant that owns the controller app and its billing policy."
  type        = string
}

variable "effective_dates" {
  description = <<-EOT
    When the app takes over from an existing controller, per tenant ID, in RFC 3339
    (for example "2030-01-15T09:00:00Z"). Set it for tenants where Microsoft's own
    controller (or another app) is active. The date must lie 7 to 30 days after the
    apply that schedules the change. Tenants not in this map are activated at once.
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.effective_dates) : can(formatdate("YYYY-MM-DD", d))])
    error_message = "Every value of effective_dates must be an RFC 3339 timestamp, such as \"2030-01-15T09:00:00Z\"."
  }
}

variable "billing_policy_revision" {
  description = "Change this value to enable billing again in every tenant, for example after the billing policy moved to another Azure subscription."
  type        = string
  default     = "1"
}

variable "allow_unregister_while_active" {
  description = "Set to true and apply before destroying: only then can the provider unregister an active controller. Billing may continue for up to 37 days."
  type        = bool
  default     = false
}
