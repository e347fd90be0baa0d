terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# A tenant without a backup controller: the app becomes the controller at once
# (status "active").
resource "m365backup_service_app" "contoso" {
  tenant_id = "00000000-0000-0000-0000-000000000001"
}

# A tenant where Microsoft's own controller (or another app) is in charge:
# the change must be scheduled 7 to 30 days ahead. The provider turns
# "8d" into a fixed date when it plans the activation, and keeps that date.
# The app is "pendingActive" until then.
resource "m365backup_service_app" "fabrikam" {
  tenant_id       = "00000000-0000-0000-0000-000000000002"
  effective_after = "8d"
}

# The same, with a fixed date agreed with the customer, in RFC 3339
# (YYYY-MM-DDThh:mm:ssZ). It must lie 7 to 30 days after the apply that
# activates the app, so it comes from a variable, not from this file.
variable "northwind_takeover_date" {
  description = "Takeover date in tenant Northwind, RFC 3339, 7 to 30 days after the apply."
  type        = string
}

resource "m365backup_service_app" "northwind" {
  tenant_id           = "00000000-0000-0000-0000-000000000003"
  effective_date_time = var.northwind_takeover_date
}

# Register only: the app stays "inactive" and takes no control.
resource "m365backup_service_app" "adatum" {
  tenant_id = "00000000-0000-0000-0000-000000000004"
  activate  = false
}

# Allow `terraform destroy` to unregister the active controller.
# Apply this setting first, then destroy. Unregistering an active controller
# starts a 7-day grace period, and billing may continue for up to 37 days.
resource "m365backup_service_app" "tailspin" {
  tenant_id                     = "00000000-0000-0000-0000-000000000005"
  allow_unregister_while_active = true
}
