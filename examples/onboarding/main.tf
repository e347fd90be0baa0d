# Onboards a list of customer tenants: in each one, the controller app becomes
# the Microsoft 365 Backup Storage controller (service app) and its billing
# policy is enabled (billing enablement).
#
# Credentials come from the environment, for example:
#   ARM_CLIENT_ID / ARM_CLIENT_SECRET (or OIDC, certificate, ...) for app-only calls
#   M365BACKUP_DELEGATED_REFRESH_TOKEN, or `terraform-provider-m365backup login
#   --tenant organizations --client-id <app>` beforehand, for activation.

terraform {
  required_version = ">= 1.0"

  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

provider "m365backup" {}

locals {
  tenants = toset(var.tenant_ids)
}

resource "m365backup_service_app" "this" {
  for_each = local.tenants

  tenant_id = each.key

  # Tenants where Microsoft's own controller is active need a date 7 to 30
  # days ahead. Tenants without a controller get null and are activated at once.
  effective_date_time = lookup(var.effective_dates, each.key, null)

  allow_unregister_while_active = var.allow_unregister_while_active
}

resource "m365backup_billing_enablement" "this" {
  for_each = local.tenants

  tenant_id           = each.key
  app_owner_tenant_id = var.app_owner_tenant_id

  triggers = {
    billing_policy = var.billing_policy_revision
  }

  # Billing can be enabled only once the app is the controller. For tenants
  # whose change is still pending, the provider defers the enable with a
  # warning, and a later plan proposes it once the effective date has passed.
  depends_on = [m365backup_service_app.this]
}
