terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

# Every protection policy of the tenant, all three workloads.
data "m365backup_protection_policies" "contoso" {
  tenant_id = "00000000-0000-0000-0000-000000000001"
}

output "active_policies" {
  description = "Workload => name of each activated policy."
  value = {
    for p in data.m365backup_protection_policies.contoso.policies : p.workload => p.display_name
    if p.is_enabled
  }
}

output "policies_with_errors" {
  description = "Policies some of whose units are not protected."
  value = [
    for p in data.m365backup_protection_policies.contoso.policies : p.id
    if p.status == "activeWithErrors"
  ]
}
