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

# ---------------------------------------------------------------------------
# RESERVED: the tenant's protection policies.
#
# This provider version manages the controller and billing only. When it
# gains protection resources, they belong here, in this module, so that each
# tenant's policies follow its module instance.
# ---------------------------------------------------------------------------
