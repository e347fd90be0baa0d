# The tenant ID (one notification setting per tenant).
terraform import m365backup_backup_notifications.contoso 00000000-0000-0000-0000-000000000001
