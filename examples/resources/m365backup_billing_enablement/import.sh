# <consuming tenant ID>/<app owner tenant ID>
# Graph never returns the app owner tenant, so the import ID carries it.
terraform import m365backup_billing_enablement.contoso 00000000-0000-0000-0000-000000000001/99999999-9999-9999-9999-999999999999
