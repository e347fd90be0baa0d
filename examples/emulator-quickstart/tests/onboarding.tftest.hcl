# terraform test (Terraform 1.6 and later), with the emulator's variables set.
# At the end, terraform test destroys what the runs created: the service app
# is active by then, so the safety switch must already be in state.
variables {
  allow_unregister_while_active = true
}

run "onboards_the_tenant" {
  command = apply

  assert {
    condition     = m365backup_service_app.this.status == "active"
    error_message = "The app did not become the controller."
  }

  assert {
    condition     = m365backup_billing_enablement.this.backup_service_consumer == "thirdparty"
    error_message = "Billing was not enabled for the third-party controller."
  }
}
