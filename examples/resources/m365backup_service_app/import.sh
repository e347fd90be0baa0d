# A service app in any tenant: <tenantId>/<serviceAppId>. The service app ID is
# the controller app's application (client) ID.
terraform import m365backup_service_app.fabrikam 00000000-0000-0000-0000-000000000002/11111111-1111-1111-1111-111111111111

# A bare <serviceAppId> is looked up in the provider's default tenant
# (provider tenant_id / ARM_TENANT_ID):
terraform import m365backup_service_app.contoso 11111111-1111-1111-1111-111111111111
