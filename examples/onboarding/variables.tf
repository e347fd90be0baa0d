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
    Takeover date per tenant ID, in RFC 3339, for tenants where Microsoft's own
    controller (or another app) is active. The date must lie 7 to 30 days after
    the apply that schedules the change.
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.effective_dates) : can(formatdate("YYYY-MM-DD", d))])
    error_message = "Every value of effective_dates must be an RFC 3339 timestamp, in the form YYYY-MM-DDThh:mm:ssZ."
  }
}

variable "effective_after" {
  description = "Takeover delay per tenant ID, such as \"8d\" (7 to 30 days), for tenants with a controller. The provider fixes the date when it plans the activation. A tenant may be in effective_dates or here, not both."
  type        = map(string)
  default     = {}
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

variable "exchange_mailbox_ids" {
  description = "Per tenant ID: the mailboxes (Entra object ids) its Exchange policy backs up."
  type        = map(set(string))
  default     = {}
}

variable "exchange_group_ids" {
  description = "Per tenant ID: groups whose members' mailboxes are backed up, through a dynamic rule on the Exchange policy."
  type        = map(set(string))
  default     = {}
}

variable "onedrive_group_ids" {
  description = "Per tenant ID: groups whose members' OneDrives are backed up, through a dynamic rule on the OneDrive policy."
  type        = map(set(string))
  default     = {}
}

variable "sharepoint_site_ids" {
  description = "Per tenant ID: the SharePoint sites its SharePoint policy backs up."
  type        = map(set(string))
  default     = {}
}

variable "notification_emails" {
  description = "Per tenant ID: who receives its Microsoft 365 Backup notification emails."
  type        = map(set(string))
  default     = {}
}
