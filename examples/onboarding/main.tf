# Onboards a list of customer tenants: in each one, the controller app becomes
# the Microsoft 365 Backup Storage controller (service app), its billing
# policy is enabled (billing enablement), and, where configured, Exchange,
# OneDrive and SharePoint protection policies, group rules and notification
# emails say what is backed up. One instance of the module ../modules/tenant
# per tenant.
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

module "tenant" {
  source   = "../modules/tenant"
  for_each = toset(var.tenant_ids)

  tenant_id           = each.key
  app_owner_tenant_id = var.app_owner_tenant_id

  # Tenants where Microsoft's controller (or another app) is active need a
  # takeover date 7 to 30 days ahead: a fixed date, or a delay such as "8d".
  # Tenants in neither map are activated at once when they have no
  # controller, and registered only, with a warning, when they have one.
  effective_date_time = lookup(var.effective_dates, each.key, null)
  effective_after     = lookup(var.effective_after, each.key, null)

  allow_unregister_while_active = var.allow_unregister_while_active

  billing_triggers = {
    billing_policy = var.billing_policy_revision
  }

  # What is backed up, per tenant: tenants in none of these maps get no
  # policies. Policies wait (deferred, with a warning) until the app controls
  # the tenant and billing is on; in a tenant without a controller that is
  # this same apply.
  exchange_mailbox_ids = lookup(var.exchange_mailbox_ids, each.key, null)
  exchange_group_ids   = lookup(var.exchange_group_ids, each.key, null)
  onedrive_group_ids   = lookup(var.onedrive_group_ids, each.key, null)
  sharepoint_site_ids  = lookup(var.sharepoint_site_ids, each.key, null)
  notification_emails  = lookup(var.notification_emails, each.key, null)
}
