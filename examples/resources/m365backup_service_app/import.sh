# A service app in the provider's default tenant (provider tenant_id / ARM_TENANT_ID),
# by its service app ID, which is the controller app's application (client) ID:
terraform import m365backup_service_app.contoso 11111111-1111-1111-1111-111111111111

# A service app in any tenant: <tenantId>/<serviceAppId>
terraform import m365backup_service_app.fabrikam 00000000-0000-0000-0000-000000000002/11111111-1111-1111-1111-111111111111
