variable "tenant_id" {
  description = "ID of the customer (consuming) tenant. It must have granted admin consent to the controller app."
  type        = string
}

variable "app_owner_tenant_id" {
  description = "ID of the tenant that owns the controller app and its billing policy."
  type        = string
}

variable "activate" {
  description = "false registers the app without making it the controller."
  type        = bool
  default     = true
}

variable "effective_date_time" {
  description = "Takeover date (RFC 3339) for a tenant that already has a controller. It must lie 7 to 30 days after the apply that schedules the change. Conflicts with effective_after."
  type        = string
  default     = null
}

variable "effective_after" {
  description = "Takeover delay for a tenant that already has a controller, such as \"8d\"; the provider turns it into a fixed date when it plans the activation. Conflicts with effective_date_time."
  type        = string
  default     = null
}

variable "allow_unregister_while_active" {
  description = "Set to true and apply before destroying: only then can the provider unregister an active controller. Billing may continue for up to 37 days."
  type        = bool
  default     = false
}

variable "billing_triggers" {
  description = "Any change of these values runs the billing enable again, for example after the billing policy moved to another Azure subscription."
  type        = map(string)
  default     = null
}

variable "exchange_mailbox_ids" {
  description = "Entra object ids of the mailboxes to back up. null: no Exchange policy in this tenant."
  type        = set(string)
  default     = null
}

variable "exchange_group_ids" {
  description = "Entra group ids whose members' mailboxes are backed up (a dynamic inclusion rule). Creates the Exchange policy when exchange_mailbox_ids is null."
  type        = set(string)
  default     = null
}

variable "exchange_policy_name" {
  description = "Display name of the Exchange protection policy."
  type        = string
  default     = "Exchange backup"
}

variable "onedrive_user_ids" {
  description = "Entra object ids of the users whose OneDrive is backed up. null: no OneDrive policy in this tenant."
  type        = set(string)
  default     = null
}

variable "onedrive_group_ids" {
  description = "Entra group ids whose members' OneDrives are backed up (a dynamic inclusion rule). Creates the OneDrive policy when onedrive_user_ids is null."
  type        = set(string)
  default     = null
}

variable "onedrive_policy_name" {
  description = "Display name of the OneDrive protection policy."
  type        = string
  default     = "OneDrive backup"
}

variable "sharepoint_site_ids" {
  description = "SharePoint site ids to back up. null: no SharePoint policy in this tenant."
  type        = set(string)
  default     = null
}

variable "sharepoint_policy_name" {
  description = "Display name of the SharePoint protection policy."
  type        = string
  default     = "SharePoint backup"
}

variable "allow_destroy_policies_while_active" {
  description = "Set to true and apply before destroying: only then can the provider delete an active protection policy (its units stop being backed up)."
  type        = bool
  default     = false
}

variable "notification_emails" {
  description = "Who receives the tenant's Microsoft 365 Backup notification emails. null: the notification settings are not managed here."
  type        = set(string)
  default     = null
}
