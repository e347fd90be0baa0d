# One customer tenant: the controller app (service app) and its billing.
#
# Instantiate it once per tenant with `for_each` on the module block (see
# examples/onboarding). A module per tenant plans much faster than `for_each`
# on each resource once a fleet has hundreds of tenants.
#
# The module has no provider block: it uses the root module's
# `provider "m365backup"`. Every resource names its tenant with `tenant_id`.

terraform {
  required_version = ">= 1.0"

  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

resource "m365backup_service_app" "this" {
  tenant_id = var.tenant_id
  activate  = var.activate

  # Only one of the two may be set. With neither, a tenant without a
  # controller is activated at once; a tenant with a controller is registered
  # only, with a warning, until a date is configured.
  effective_date_time = var.effective_date_time
  effective_after     = var.effective_after

  allow_unregister_while_active = var.allow_unregister_while_active
}

resource "m365backup_billing_enablement" "this" {
  tenant_id           = m365backup_service_app.this.tenant_id
  app_owner_tenant_id = var.app_owner_tenant_id
  triggers            = var.billing_triggers

  # Graph accepts the enable only from the active controller. While the app
  # is not active yet, the provider records this resource as deferred, with a
  # warning, and a later plan proposes the enable.
  depends_on = [m365backup_service_app.this]
}

# The tenant's protection policies, one per workload, each only when its id
# set is given. Graph accepts policy changes only from the active controller
# with billing enabled: until then the provider records each policy as
# deferred, with a warning, and a later plan proposes its creation.
resource "m365backup_exchange_protection_policy" "this" {
  count = var.exchange_mailbox_ids == null && var.exchange_group_ids == null ? 0 : 1

  tenant_id                  = m365backup_service_app.this.tenant_id
  display_name               = var.exchange_policy_name
  mailbox_ids                = var.exchange_mailbox_ids
  allow_destroy_while_active = var.allow_destroy_policies_while_active

  depends_on = [m365backup_billing_enablement.this]
}

resource "m365backup_onedrive_protection_policy" "this" {
  count = var.onedrive_user_ids == null && var.onedrive_group_ids == null ? 0 : 1

  tenant_id                  = m365backup_service_app.this.tenant_id
  display_name               = var.onedrive_policy_name
  user_ids                   = var.onedrive_user_ids
  allow_destroy_while_active = var.allow_destroy_policies_while_active

  depends_on = [m365backup_billing_enablement.this]
}

resource "m365backup_sharepoint_protection_policy" "this" {
  count = var.sharepoint_site_ids == null ? 0 : 1

  tenant_id                  = m365backup_service_app.this.tenant_id
  display_name               = var.sharepoint_policy_name
  site_ids                   = var.sharepoint_site_ids
  allow_destroy_while_active = var.allow_destroy_policies_while_active

  depends_on = [m365backup_billing_enablement.this]
}

# Members of these groups are protected, now and as membership changes: a
# dynamic rule that Graph re-evaluates. The policy's own id list (if any)
# keeps its manual units; the rule's units are never touched by it.
resource "m365backup_exchange_inclusion_rule" "groups" {
  count = var.exchange_group_ids == null ? 0 : 1

  # The tenant is named too: while the policy waits (deferred), policy_id
  # is null and the rule must still know its tenant.
  tenant_id = m365backup_service_app.this.tenant_id
  policy_id = m365backup_exchange_protection_policy.this[0].id
  group_ids = var.exchange_group_ids
}

resource "m365backup_onedrive_inclusion_rule" "groups" {
  count = var.onedrive_group_ids == null ? 0 : 1

  # The tenant is named too: while the policy waits (deferred), policy_id
  # is null and the rule must still know its tenant.
  tenant_id = m365backup_service_app.this.tenant_id
  policy_id = m365backup_onedrive_protection_policy.this[0].id
  group_ids = var.onedrive_group_ids
}

# Who hears about backups. Changing these settings needs a delegated sign-in
# (the same one the activation uses).
resource "m365backup_backup_notifications" "this" {
  count = var.notification_emails == null ? 0 : 1

  tenant_id                            = m365backup_service_app.this.tenant_id
  enabled                              = true
  notify_on_restore_and_policy_updates = true
  recipient_emails                     = var.notification_emails

  # Graph accepts the change once the backup service is enabled.
  depends_on = [m365backup_billing_enablement.this]
}
