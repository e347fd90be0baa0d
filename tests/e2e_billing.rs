//! `m365backup_billing_enablement`, the data sources and the whole onboarding
//! (examples/onboarding) through real terraform against the emulator.

mod common;

use common::*;
use serde_json::json;

fn service_status(env: &Env, tenant: &str) -> serde_json::Value {
    env.admin.tenant_state(tenant)["serviceStatus"].clone()
}

#[test]
fn onboarding_example_enables_empty_tenants_in_one_apply_and_defers_first_party_ones() {
    for_each_terraform(|env| {
        let empty = env.tenant("none");
        let first_party = env.tenant("firstparty");
        let date = days_from_now(10);
        env.use_example("onboarding");
        env.write_vars(&json!({
            "tenant_ids": [empty, first_party],
            "app_owner_tenant_id": m365backup_emulator::demo::TENANT_ID,
            "effective_dates": { first_party.clone(): date },
        }));
        env.apply()
            .expect_code(0, "onboarding apply")
            .expect_contains("Billing enablement deferred", "deferred warning")
            .expect_contains(&date, "names the date");
        let status = service_status(env, &empty);
        assert_eq!(status["status"], "enabled");
        assert_eq!(status["backupServiceConsumer"], "thirdparty");
        let deferred = service_status(env, &first_party);
        assert_eq!(
            deferred["backupServiceConsumer"], "firstparty",
            "Microsoft's controller still in charge"
        );

        env.plan()
            .expect_code(0, "no change before the date")
            .expect_contains("Billing enablement deferred", "warning repeated");

        env.admin.advance_days(11);
        env.plan()
            .expect_code(2, "the first plan after the date proposes the enable")
            .expect_contains("Controller change took effect", "says why");
        env.apply().expect_code(0, "enable after the date");
        let status = service_status(env, &first_party);
        assert_eq!(status["status"], "enabled");
        assert_eq!(status["backupServiceConsumer"], "thirdparty");
        env.plan().expect_code(0, "clean afterwards");
    });
}

#[test]
fn invalid_billing_profile_is_a_diagnostic_and_a_fixed_profile_applies() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        let owner = m365backup_emulator::demo::TENANT_ID;
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/billing-profile"),
            json!({ "valid": false }),
        );
        env.write_config(&format!(
            "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n",
            service_app_block("this", &tenant, "")
        ));
        env.apply()
            .expect_code(1, "enable with an invalid billing profile")
            .expect_contains("InvalidBillingProfile", "Graph's error code")
            .expect_contains("billing policy", "what to do")
            .expect_contains("request-id", "Graph request id");
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/billing-profile"),
            json!({ "valid": true }),
        );
        env.apply()
            .expect_code(0, "re-apply after the profile is fixed");
        assert_eq!(service_status(env, &tenant)["status"], "enabled");
        let billing = env.resource("m365backup_billing_enablement.this").unwrap();
        assert_eq!(billing["status"], "enabled");
        assert_eq!(billing["backup_service_consumer"], "thirdparty");
        assert_eq!(billing["id"], tenant.as_str());
        env.plan().expect_code(0, "clean");

        // The service becomes disabled outside Terraform: the plan proposes a re-enable.
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/billing-profile"),
            json!({ "valid": false }),
        );
        env.write_config(&format!(
            "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  triggers            = {{ policy = \"2\" }}\n  depends_on          = [m365backup_service_app.this]\n}}\n",
            service_app_block("this", &tenant, "")
        ));
        env.apply()
            .expect_code(1, "a trigger change re-runs enable, which fails");
        assert_eq!(service_status(env, &tenant)["status"], "disabled");
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/billing-profile"),
            json!({ "valid": true }),
        );
        env.plan()
            .expect_code(2, "drift: disabled service plans a re-enable")
            .expect_contains("disabled", "names the drift");
        env.apply().expect_code(0, "re-enable");
        assert_eq!(service_status(env, &tenant)["status"], "enabled");
        env.plan().expect_code(0, "clean");

        // Destroy only removes it from state, with a warning.
        env.write_config(&service_app_block("this", &tenant, ""));
        env.apply()
            .expect_code(0, "remove billing resource")
            .expect_contains("Billing stays enabled", "warning");
        assert_eq!(service_status(env, &tenant)["status"], "enabled");
    });
}

#[test]
fn enable_while_the_app_is_inactive_is_deferred_until_it_is_active() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        let billing = format!(
            "resource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{tenant}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n"
        );
        let app = |extra: &str| service_app_block("this", &tenant, extra);
        env.write_config(&format!("{}\n{billing}", app("  activate = false")));
        env.apply()
            .expect_code(0, "a tenant condition never fails the apply")
            .expect_contains("Billing enablement deferred", "warns")
            .expect_contains("is inactive in tenant", "names the status");
        assert_eq!(service_status(env, &tenant)["status"], "disabled");
        // Once the app is active, the next apply enables billing.
        env.write_config(&format!("{}\n{billing}", app("")));
        env.apply().expect_code(0, "activate, then enable");
        env.apply()
            .expect_code(0, "enable once the app is active")
            .expect_contains("1 changed", "the enable");
        assert_eq!(service_status(env, &tenant)["status"], "enabled");
        env.plan().expect_code(0, "clean");
    });
}

#[test]
fn data_sources_show_what_graph_holds_and_import_is_clean() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        let owner = m365backup_emulator::demo::TENANT_ID;
        let billing = format!(
            "resource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n"
        );
        let data = format!(
            "data \"m365backup_service\" \"s\" {{\n  tenant_id  = \"{tenant}\"\n  depends_on = [m365backup_billing_enablement.this]\n}}\n\ndata \"m365backup_service_apps\" \"a\" {{\n  tenant_id  = \"{tenant}\"\n  depends_on = [m365backup_billing_enablement.this]\n}}\n\noutput \"service\" {{\n  value = data.m365backup_service.s\n}}\n\noutput \"apps\" {{\n  value = data.m365backup_service_apps.a.service_apps\n}}\n"
        );
        env.write_config(&format!(
            "{}\n{billing}\n{data}",
            service_app_block("this", &tenant, "")
        ));
        env.apply().expect_code(0, "apply");
        let out = env.tf(&["output", "-json"]);
        out.expect_code(0, "outputs");
        let outputs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let held = service_status(env, &tenant);
        let service = &outputs["service"]["value"];
        assert_eq!(service["status"], held["status"]);
        assert_eq!(
            service["backup_service_consumer"],
            held["backupServiceConsumer"]
        );
        assert_eq!(service["disable_reason"], held["disableReason"]);
        assert_eq!(service["tenant_id"], tenant.as_str());
        let apps = outputs["apps"]["value"].as_array().unwrap();
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0]["id"], DEMO_CLIENT_ID);
        assert_eq!(apps[0]["status"], "active");
        assert!(
            apps[0]["registration_date_time"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );

        env.tf(&["state", "rm", "m365backup_billing_enablement.this"])
            .expect_code(0, "forget");
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_billing_enablement.this",
            "just-one-part",
        ])
        .expect_code(1, "bad import id")
        .expect_contains("<tenantId>/<appOwnerTenantId>", "explains the format");
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_billing_enablement.this",
            &format!("{tenant}/{owner}"),
        ])
        .expect_code(0, "import");
        env.plan().expect_code(0, "import gives a clean plan");
    });
}
