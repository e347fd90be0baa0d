terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# Step 1 to 3 of onboarding: make the app the controller of the tenant.
resource "m365backup_service_app" "contoso" {
  tenant_id = "00000000-0000-0000-0000-000000000001"
}

# Step 4: enable the billing policy of the tenant that owns the app.
resource "m365backup_billing_enablement" "contoso" {
  tenant_id           = m365backup_service_app.contoso.tenant_id
  app_owner_tenant_id = "99999999-9999-9999-9999-999999999999"

  # Change any value to run enable again, for example after you move the
  # billing policy to another Azure subscription or resource group.
  triggers = {
    billing_policy = "subscription-a/rg-m365-backup"
  }

  # Enable only after the app is the controller (or scheduled to be).
  depends_on = [m365backup_service_app.contoso]
}
