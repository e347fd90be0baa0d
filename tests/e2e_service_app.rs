//! `m365backup_service_app` through the real terraform binary against the emulator: every
//! behaviour row of the spec, on every terraform version found.

mod common;

use common::*;
use serde_json::json;

#[test]
fn empty_tenant_activates_at_once_and_the_next_plan_is_clean() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.apply().expect_code(0, "apply");
        let app = env
            .resource("m365backup_service_app.this")
            .expect("in state");
        assert_eq!(app["status"], "active");
        assert_eq!(app["id"], format!("{tenant}/{DEMO_CLIENT_ID}"));
        assert_eq!(app["service_app_id"], DEMO_CLIENT_ID);
        assert_eq!(app["activate"], true);
        assert_eq!(app["allow_unregister_while_active"], false);
        assert!(app["activation_date_time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );
        env.plan().expect_code(0, "second plan has no changes");
    });
}

#[test]
fn first_party_tenant_needs_a_date_in_the_window_and_becomes_active_after_it() {
    for_each_terraform(|env| {
        let tenant = env.tenant("firstparty");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.plan()
            .expect_code(2, "plan without a date: register, activation deferred")
            .expect_contains(
                "Activation deferred: this tenant already has a Backup Storage controller",
                "a deferral, not an error",
            )
            .expect_contains("first-party", "names the first-party controller")
            .expect_contains("7 to 30 days from now", "prints the window");

        env.write_config(&service_app_block(
            "this",
            &tenant,
            &format!("  effective_date_time = \"{}\"", days_from_now(3)),
        ));
        env.plan()
            .expect_code(1, "plan with a date 3 days out")
            .expect_contains("outside the allowed window", "window error");

        let date = days_from_now(10);
        env.write_config(&service_app_block(
            "this",
            &tenant,
            &format!("  effective_date_time = \"{date}\""),
        ));
        env.apply().expect_code(0, "apply 10 days out");
        let app = env.resource("m365backup_service_app.this").unwrap();
        assert_eq!(app["status"], "pendingActive");
        assert_eq!(
            app["effective_date_time"],
            date.as_str(),
            "configured date kept as written"
        );
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("pendingActive")
        );
        env.plan().expect_code(0, "no changes while pending");

        env.admin.advance_days(11);
        env.plan()
            .expect_code(0, "after the date: refresh only, no change");
        env.tf(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
            .expect_code(0, "refresh-only apply");
        let app = env.resource("m365backup_service_app.this").unwrap();
        assert_eq!(app["status"], "active");
        assert_eq!(app["effective_date_time"], date.as_str());
    });
}

#[test]
fn a_cancelled_takeover_stands_until_apply_replace_asks_again() {
    for_each_terraform(|env| {
        let tenant = env.tenant("firstparty");
        let date = days_from_now(10);
        env.write_config(&service_app_block(
            "this",
            &tenant,
            &format!("  effective_date_time = \"{date}\""),
        ));
        env.apply().expect_code(0, "apply");
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/cancel-pending-change"),
            json!({}),
        );
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("inactive")
        );
        env.plan()
            .expect_code(0, "the customer's decision stands")
            .expect_contains("Not the Backup Storage controller any more", "warns")
            .expect_contains("-replace", "says how to ask again");
        // A refresh-only apply records the cancellation; the next plan still respects it.
        env.tf(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
            .expect_code(0, "refresh-only");
        let app = env.resource("m365backup_service_app.this").unwrap();
        assert_eq!(app["status"], "inactive");
        assert_eq!(
            app["activation_requested"], true,
            "Terraform's request is remembered"
        );
        env.plan().expect_code(0, "still no re-activation");
        env.tf(&[
            "apply",
            "-auto-approve",
            "-no-color",
            "-replace=m365backup_service_app.this",
        ])
        .expect_code(0, "apply -replace asks again");
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("pendingActive")
        );
        env.plan().expect_code(0, "clean afterwards");
    });
}

#[test]
fn inactive_app_without_a_usable_date_warns_with_the_choices_and_plans_nothing() {
    for_each_terraform(|env| {
        // Registered (not activated) outside this configuration, imported into one that wants it
        // active without a date, in a tenant Microsoft's controller holds.
        let tenant = env.tenant("firstparty");
        env.write_config(&service_app_block("this", &tenant, "  activate = false"));
        env.apply().expect_code(0, "register only");
        env.tf(&["state", "rm", "m365backup_service_app.this"])
            .expect_code(0, "state rm");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_service_app.this",
            &format!("{tenant}/{DEMO_CLIENT_ID}"),
        ])
        .expect_code(0, "import");
        env.plan()
            .expect_code(0, "no change planned")
            .expect_contains("Activation deferred", "a deferral warning")
            .expect_contains("activate = false", "lists the choices")
            .expect_contains("first-party", "names the controller");
    });
}

#[test]
fn takeover_by_another_app_warns_and_neighbours_plan_normally() {
    for_each_terraform(|env| {
        let a = env.tenant("none");
        let b = env.tenant("none");
        env.write_config(&format!(
            "locals {{\n  tenants = toset([\"{a}\", \"{b}\"])\n}}\n\nresource \"m365backup_service_app\" \"fleet\" {{\n  for_each  = local.tenants\n  tenant_id = each.key\n}}\n"
        ));
        env.apply().expect_code(0, "apply fleet");
        let other = uuid::Uuid::new_v4().to_string();
        env.admin.post(
            &format!("/_emulator/tenants/{a}/takeover"),
            json!({ "client_id": other, "effective_in_seconds": 8 * 86_400 }),
        );
        assert_eq!(
            env.admin.app_status(&a, DEMO_CLIENT_ID).as_deref(),
            Some("pendingInactive")
        );
        // A user's RUST_BACKTRACE must not turn warnings into backtraces.
        env.set_env("RUST_BACKTRACE", "1");
        let warned = env.plan();
        assert!(
            !warned.combined().contains("backtrace"),
            "{}",
            warned.combined()
        );
        env.reset_env("RUST_BACKTRACE");
        env.plan()
            .expect_code(0, "a takeover is a warning, not an error or a change")
            .expect_contains("Another app is taking over", "warning")
            .expect_contains(&a, "names the tenant");

        env.admin.advance_days(9);
        let run = env.plan();
        run.expect_code(0, "after the takeover")
            .expect_contains(
                "Not the Backup Storage controller any more",
                "warning with choices",
            )
            .expect_contains(&other, "names the new controller");
        env.tf(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
            .expect_code(0, "refresh");
        let a_state = env
            .resource(&format!("m365backup_service_app.fleet[\"{a}\"]"))
            .unwrap();
        let b_state = env
            .resource(&format!("m365backup_service_app.fleet[\"{b}\"]"))
            .unwrap();
        assert_eq!(a_state["status"], "inactive", "state tells the truth");
        assert_eq!(b_state["status"], "active", "neighbour untouched");
    });
}

#[test]
fn destroy_follows_the_lifecycle_rules() {
    for_each_terraform(|env| {
        // inactive: unregistered.
        let t1 = env.tenant("none");
        env.write_config(&service_app_block("this", &t1, "  activate = false"));
        env.apply().expect_code(0, "register only");
        env.destroy().expect_code(0, "destroy inactive");
        assert_eq!(env.admin.app_status(&t1, DEMO_CLIENT_ID), None);

        // pendingActive: unregistered, Microsoft's controller stays in charge.
        let t2 = env.tenant("firstparty");
        env.write_config(&service_app_block(
            "this",
            &t2,
            &format!("  effective_date_time = \"{}\"", days_from_now(10)),
        ));
        env.apply().expect_code(0, "pending activation");
        env.destroy().expect_code(0, "destroy pendingActive");
        assert_eq!(env.admin.app_status(&t2, DEMO_CLIENT_ID), None);
        let status = &env.admin.tenant_state(&t2)["serviceStatus"];
        assert_eq!(status["status"], "enabled");
        assert_eq!(status["backupServiceConsumer"], "firstparty");

        // active without the guard: refused; with it: unregistered with the billing warning.
        let t3 = env.tenant("none");
        env.write_config(&service_app_block("this", &t3, ""));
        env.apply().expect_code(0, "activate");
        env.destroy()
            .expect_code(1, "destroy of the active controller is refused")
            .expect_contains("allow_unregister_while_active", "names the guard");
        assert_eq!(
            env.admin.app_status(&t3, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );
        env.write_config(&service_app_block(
            "this",
            &t3,
            "  allow_unregister_while_active = true",
        ));
        env.apply().expect_code(0, "record the guard");
        env.destroy()
            .expect_code(0, "destroy with the guard")
            .expect_contains("37 days", "billing warning");
        assert_eq!(env.admin.app_status(&t3, DEMO_CLIENT_ID), None);

        // pendingInactive: refused, naming the end of the grace period.
        let t4 = env.tenant("none");
        env.write_config(&service_app_block(
            "this",
            &t4,
            "  allow_unregister_while_active = true",
        ));
        env.apply().expect_code(0, "activate");
        env.admin.post(
            &format!("/_emulator/tenants/{t4}/takeover"),
            json!({ "client_id": uuid::Uuid::new_v4().to_string(), "effective_in_seconds": 10 * 86_400 }),
        );
        env.destroy()
            .expect_code(1, "destroy of pendingInactive is refused")
            .expect_contains("grace period ends", "names the end of the grace period");
        assert_eq!(
            env.admin.app_status(&t4, DEMO_CLIENT_ID).as_deref(),
            Some("pendingInactive")
        );
    });
}

#[test]
fn import_by_either_id_form_gives_a_clean_plan() {
    for_each_terraform(|env| {
        for (tenant, id_form) in [
            (env.tenant("none"), "tenant/app"),
            (m365backup_emulator::demo::TENANT_ID.to_string(), "app"),
        ] {
            env.write_config(&service_app_block("this", &tenant, ""));
            env.apply()
                .expect_code(0, "create outside the importing state");
            env.tf(&["state", "rm", "m365backup_service_app.this"])
                .expect_code(0, "forget it");
            let import_id = if id_form == "app" {
                DEMO_CLIENT_ID.to_string()
            } else {
                format!("{tenant}/{DEMO_CLIENT_ID}")
            };
            env.tf(&[
                "import",
                "-no-color",
                "m365backup_service_app.this",
                &import_id,
            ])
            .expect_code(0, "import");
            let app = env.resource("m365backup_service_app.this").unwrap();
            assert_eq!(app["status"], "active");
            assert_eq!(app["activate"], true, "defaults filled in at import");
            assert_eq!(app["tenant_id"], tenant.as_str());
            env.plan().expect_code(0, "clean plan after import");
            env.tf(&["state", "rm", "m365backup_service_app.this"])
                .expect_code(0, "leave it");
        }
        env.write_config(&service_app_block("this", &env.tenant("none"), ""));
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_service_app.this",
            "not-a-guid",
        ])
        .expect_code(1, "bad import id")
        .expect_contains("Import IDs are", "explains the format");
    });
}

#[test]
fn activation_without_a_delegated_credential_fails_at_plan_with_sign_in_instructions() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.plan()
            .expect_code(1, "plan fails")
            .expect_contains(
                "terraform-provider-m365backup login --tenant",
                "how to sign in",
            )
            .expect_contains("M365BACKUP_DELEGATED_REFRESH_TOKEN", "names the env var");
        assert!(
            !env.admin.requests().iter().any(|r| r["method"] == "POST"),
            "nothing was changed in Graph"
        );
        // Registering only needs no delegated token.
        env.write_config(&service_app_block("this", &tenant, "  activate = false"));
        env.apply()
            .expect_code(0, "register only with app-only credentials");
    });
}

#[test]
fn throttling_and_server_errors_are_retried() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.admin.fault(json!({"method": "POST", "path_prefix": "/v1.0/solutions/backupRestore/serviceApps", "status": 429, "retry_after": "1", "count": 2}));
        env.admin.fault(json!({"method": "GET", "path_prefix": "/v1.0/solutions/backupRestore", "status": 503, "count": 1}));
        env.apply()
            .expect_code(0, "apply through 429 (seconds) and 503");
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );

        let t2 = env.tenant("none");
        env.tf(&["state", "rm", "m365backup_service_app.this"])
            .expect_code(0, "next tenant");
        env.write_config(&service_app_block("this", &t2, ""));
        env.admin.fault(json!({"method": "POST", "path_prefix": format!("/v1.0/solutions/backupRestore/serviceApps/{DEMO_CLIENT_ID}/activate"), "status": 429, "retry_after": "http-date", "count": 1}));
        env.apply().expect_code(0, "apply through 429 (HTTP-date)");
        assert_eq!(
            env.admin.app_status(&t2, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );
        let retried = env
            .admin
            .requests()
            .iter()
            .filter(|r| r["status"] == 429)
            .count();
        assert!(retried >= 1, "the 429s were seen by the emulator");
    });
}

#[test]
fn lost_responses_after_graph_applied_the_change_converge() {
    for_each_terraform(|env| {
        for path in [
            "/v1.0/solutions/backupRestore/serviceApps".to_string(),
            format!("/v1.0/solutions/backupRestore/serviceApps/{DEMO_CLIENT_ID}/activate"),
        ] {
            let tenant = env.tenant("none");
            env.write_config(&service_app_block("this", &tenant, ""));
            env.admin
                .fault(json!({"method": "POST", "path_prefix": path, "drop": "after", "count": 1}));
            let first = env.apply();
            if first.code != 0 {
                env.apply().expect_code(
                    0,
                    &format!("second apply converges after a lost response on {path}"),
                );
            }
            assert_eq!(
                env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
                Some("active"),
                "{path}"
            );
            let apps = env.admin.tenant_state(&tenant)["serviceApps"]
                .as_array()
                .unwrap()
                .len();
            assert_eq!(
                apps, 1,
                "exactly one registration after a lost response on {path}"
            );
            let app = env.resource("m365backup_service_app.this").unwrap();
            assert_eq!(app["status"], "active", "state matches Graph");
            env.plan().expect_code(0, "clean plan");
            env.tf(&["state", "rm", "m365backup_service_app.this"])
                .expect_code(0, "next");
        }
    });
}

#[test]
fn graph_date_spelling_never_causes_a_diff() {
    for_each_terraform(|env| {
        let tenant = env.tenant("firstparty");
        // Written with an offset and fractional seconds; Graph echoes it in its own style.
        let date = (time::OffsetDateTime::now_utc() + time::Duration::days(12))
            .to_offset(time::macros::offset!(+2))
            .replace_nanosecond(450_000_000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        env.write_config(&service_app_block(
            "this",
            &tenant,
            &format!("  effective_date_time = \"{date}\""),
        ));
        env.apply().expect_code(0, "apply");
        let app = env.resource("m365backup_service_app.this").unwrap();
        assert_eq!(
            app["effective_date_time"],
            date.as_str(),
            "configured value never rewritten"
        );
        let stored = app["activation_date_time"].as_str().unwrap().to_string();
        assert!(stored.ends_with(".45Z"), "canonical UTC form: {stored}");
        env.plan().expect_code(0, "no diff from Graph's spelling");
    });
}

#[test]
fn a_saved_plan_whose_date_left_the_window_fails_cleanly() {
    for_each_terraform(|env| {
        let tenant = env.tenant("firstparty");
        let date = (time::OffsetDateTime::now_utc()
            + time::Duration::days(7)
            + time::Duration::seconds(8))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
        env.write_config(&service_app_block(
            "this",
            &tenant,
            &format!("  effective_date_time = \"{date}\""),
        ));
        env.tf(&["plan", "-out=saved.tfplan", "-no-color"])
            .expect_code(0, "plan inside the window");
        env.admin.reset_requests();
        std::thread::sleep(std::time::Duration::from_secs(10));
        env.tf(&["apply", "-no-color", "saved.tfplan"])
            .expect_code(1, "apply after the date left the window")
            .expect_contains("window", "explains the window");
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID),
            None,
            "Graph untouched"
        );
        assert!(
            !env.admin.requests().iter().any(|r| r["method"] == "POST"),
            "no Graph write was attempted"
        );
    });
}

#[test]
fn bad_inputs_get_clear_errors_on_the_right_attribute() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        let cases = [
            ("  tenant_id_override = 1", "Unsupported argument"),
            ("", ""),
        ];
        let _ = cases;
        env.write_config("resource \"m365backup_service_app\" \"this\" {\n  tenant_id = \"contoso.onmicrosoft.com\"\n}\n");
        env.plan()
            .expect_code(1, "non-UUID tenant")
            .expect_contains("Invalid tenant_id", "tenant error");
        env.write_config(&service_app_block(
            "this",
            &tenant,
            "  effective_date_time = \"next tuesday\"",
        ));
        env.plan()
            .expect_code(1, "unparsable date")
            .expect_contains("RFC 3339", "date error");
        env.write_config(&service_app_block(
            "this",
            &tenant,
            "  effective_after = \"eight days\"",
        ));
        env.plan()
            .expect_code(1, "unparsable duration")
            .expect_contains("Invalid effective_after", "duration error");
        env.write_config(&service_app_block(
            "this",
            &tenant,
            "  effective_after = \"40d\"",
        ));
        env.plan()
            .expect_code(1, "out-of-window duration")
            .expect_contains("outside the allowed window", "window error");
        env.write_config(&service_app_block(
            "this",
            &tenant,
            &format!(
                "  effective_date_time = \"{}\"\n  effective_after = \"8d\"",
                days_from_now(10)
            ),
        ));
        env.plan()
            .expect_code(1, "conflict")
            .expect_contains("Conflicting arguments", "conflict error");

        // Unknown values during plan are decided at apply.
        let other = env.tenant("none");
        env.write_config(&format!(
            "{}\nresource \"m365backup_service_app\" \"second\" {{\n  tenant_id = \"{other}\"\n  activate  = m365backup_service_app.first.status == \"inactive\"\n}}\n",
            service_app_block("first", &tenant, "  activate = false")
        ));
        env.plan().expect_code(2, "plan with unknown values");
        env.apply()
            .expect_code(0, "apply with values known by then");
        assert_eq!(
            env.admin.app_status(&other, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );

        env.set_env(
            "M365BACKUP_GRAPH_ENDPOINT",
            &env.emulator.url().replace("https://", "http://"),
        );
        env.plan()
            .expect_code(1, "http endpoint")
            .expect_contains("https", "refuses http");
    });
}

#[test]
fn provider_logs_show_graph_calls_and_never_a_secret() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.set_env("TF_LOG_PROVIDER", "DEBUG");
        let run = env.apply();
        run.expect_code(0, "apply with provider logs");
        let secrets: Vec<(String, String)> = env
            .emulator
            .env_exports()
            .into_iter()
            .filter(|(name, _)| name.contains("SECRET") || name.contains("TOKEN"))
            .collect();
        assert!(!secrets.is_empty());
        let all = run.combined();
        assert!(
            all.contains("terraform-provider-m365backup"),
            "provider log lines reach Terraform"
        );
        assert!(
            all.contains("/solutions/backupRestore/serviceApps"),
            "Graph calls are logged:\n{all}"
        );
        for (name, value) in secrets {
            assert!(!all.contains(&value), "{name} leaked into the logs");
        }
        let state = std::fs::read_to_string(env.work_dir().join("terraform.tfstate")).unwrap();
        assert!(
            !state.contains(m365backup_emulator::demo::CLIENT_SECRET),
            "secret in state"
        );
    });
}

#[test]
fn effective_after_becomes_one_stable_date() {
    for_each_terraform(|env| {
        let tenant = env.tenant("firstparty");
        env.write_config(&service_app_block(
            "this",
            &tenant,
            "  effective_after = \"8d\"",
        ));
        env.apply().expect_code(0, "apply with effective_after");
        let app = env.resource("m365backup_service_app.this").unwrap();
        assert_eq!(app["status"], "pendingActive");
        assert_eq!(app["effective_after"], "8d");
        let date = time::OffsetDateTime::parse(
            app["activation_date_time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let ahead = date - time::OffsetDateTime::now_utc();
        assert!(
            ahead > time::Duration::days(7) && ahead <= time::Duration::days(8),
            "{ahead}"
        );
        env.plan()
            .expect_code(0, "the date stays put: no diff on later plans");
    });
}

#[test]
fn another_apps_registration_is_readable_and_deletable_but_not_activatable() {
    for_each_terraform(|env| {
        let tenant = env.tenant("firstparty");
        let other = uuid::Uuid::new_v4().to_string();
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/takeover"),
            json!({ "client_id": other, "effective_in_seconds": 8 * 86_400 }),
        );
        env.write_config(&service_app_block("theirs", &tenant, "  activate = false"));
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_service_app.theirs",
            &format!("{tenant}/{other}"),
        ])
        .expect_code(0, "import another app's registration");
        let app = env.resource("m365backup_service_app.theirs").unwrap();
        assert_eq!(app["status"], "pendingActive");
        env.plan()
            .expect_code(1, "deactivating another app is refused at plan")
            .expect_contains(
                "Only the app itself can activate or deactivate",
                "explains why",
            );
        env.write_config(&service_app_block("theirs", &tenant, ""));
        env.plan().expect_code(0, "no change needed: readable");
        env.destroy()
            .expect_code(0, "another app's pending registration can be unregistered");
        assert_eq!(env.admin.app_status(&tenant, &other), None);
    });
}
