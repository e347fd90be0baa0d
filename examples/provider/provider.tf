terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# The smallest configuration: every argument comes from the environment.
# For example ARM_TENANT_ID, ARM_CLIENT_ID and ARM_CLIENT_SECRET for app-only calls,
# and M365BACKUP_DELEGATED_REFRESH_TOKEN (or the cache written by
# `terraform-provider-m365backup login`) for activation.
provider "m365backup" {}

# The same settings written out. Keep secrets out of configuration files:
# set ARM_CLIENT_SECRET (or client_secret_file_path) in your pipeline instead.
provider "m365backup" {
  alias = "explicit"

  tenant_id               = "00000000-0000-0000-0000-000000000001" # default consuming tenant
  client_id               = "11111111-1111-1111-1111-111111111111" # the controller app
  client_secret_file_path = "/run/secrets/m365backup-client-secret"
  environment             = "public"
  request_timeout         = "60s"
  max_retries             = 8
}
