# <tenantId>/<policyId>
terraform import m365backup_onedrive_protection_policy.this 00000000-0000-0000-0000-000000000001/11111111-2222-3333-4444-555555555555
