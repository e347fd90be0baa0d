# Quickstart against the local emulator: one tenant, its controller app and
# billing, and both data sources.
#
#   m365backup-emulator --listen 127.0.0.1:0 --state-dir /tmp/m365emu --print-env > /tmp/m365emu.env &
#   # wait until the export lines are there (see README.md), then:
#   source /tmp/m365emu.env
#   terraform init && terraform apply
#
# tests/onboarding.tftest.hcl runs it with `terraform test` (Terraform 1.6+).
#
# The emulator's export lines set everything this configuration needs: the
# Graph and Entra endpoints, the trust bundle (SSL_CERT_FILE), a demo app
# (ARM_CLIENT_ID, ARM_CLIENT_SECRET), a demo tenant (ARM_TENANT_ID) and a demo
# admin's delegated refresh token (M365BACKUP_DELEGATED_REFRESH_TOKEN).
# Against a real tenant, the same file works with your own credentials.

terraform {
  required_version = ">= 1.0"

  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

variable "tenant_id" {
  description = "Consuming tenant. Empty: the provider's tenant (ARM_TENANT_ID)."
  type        = string
  default     = ""
}

variable "app_owner_tenant_id" {
  description = "Tenant that owns the app and its billing policy. Empty: the consuming tenant itself (an app built by the tenant for itself)."
  type        = string
  default     = ""
}

variable "effective_after" {
  description = "Takeover delay, such as \"8d\", for a tenant that already has a controller. null: none."
  type        = string
  default     = null
}

variable "allow_unregister_while_active" {
  description = "Set to true and apply before destroying: only then may the provider unregister the active controller (billing may continue for up to 37 days)."
  type        = bool
  default     = false
}

provider "m365backup" {}

locals {
  # null leaves the argument unset, so the provider default applies.
  tenant_id = var.tenant_id == "" ? null : var.tenant_id
}

resource "m365backup_service_app" "this" {
  tenant_id                     = local.tenant_id
  effective_after               = var.effective_after
  allow_unregister_while_active = var.allow_unregister_while_active
}

resource "m365backup_billing_enablement" "this" {
  # tenant_id is filled in from the provider at plan time when not configured.
  tenant_id           = m365backup_service_app.this.tenant_id
  app_owner_tenant_id = var.app_owner_tenant_id == "" ? m365backup_service_app.this.tenant_id : var.app_owner_tenant_id

  depends_on = [m365backup_service_app.this]
}

# Read after the resources so that the outputs show the result of this apply.
data "m365backup_service" "this" {
  tenant_id = m365backup_service_app.this.tenant_id

  depends_on = [m365backup_billing_enablement.this]
}

data "m365backup_service_apps" "this" {
  tenant_id = m365backup_service_app.this.tenant_id

  depends_on = [m365backup_billing_enablement.this]
}

output "service_app" {
  description = "The controller app in the tenant."
  value = {
    id                   = m365backup_service_app.this.id
    status               = m365backup_service_app.this.status
    activation_date_time = m365backup_service_app.this.activation_date_time
  }
}

output "backup_service" {
  description = "The tenant's Microsoft 365 Backup service: expect status \"enabled\" and consumer \"thirdparty\"."
  value = {
    status                  = data.m365backup_service.this.status
    backup_service_consumer = data.m365backup_service.this.backup_service_consumer
  }
}

output "registered_apps" {
  description = "Every app registered as a controller in the tenant, with its status."
  value       = { for app in data.m365backup_service_apps.this.service_apps : app.id => app.status }
}
