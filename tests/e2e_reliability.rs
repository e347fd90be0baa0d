//! Reliability under faults, Ctrl-C and bad Graph answers: every run ends with Graph and the
//! state file agreeing, no duplicate or orphaned serviceApp, and a re-run that converges.
//! Outcomes are summarised in docs/guides/reliability.md.

mod common;

use common::*;
use serde_json::{Value, json};

const APPS: &str = "/v1.0/solutions/backupRestore/serviceApps";

fn onboarding_config(tenant: &str) -> String {
    format!(
        "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{tenant}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n",
        service_app_block("this", tenant, "  allow_unregister_while_active = true")
    )
}

/// State and Graph agree: the recorded status is Graph's, and exactly one registration exists.
fn assert_state_matches_graph(env: &Env, tenant: &str, what: &str) {
    let graph_status = env.admin.app_status(tenant, DEMO_CLIENT_ID);
    let apps = env.admin.tenant_state(tenant)["serviceApps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(apps.len() <= 1, "{what}: duplicate registrations: {apps:?}");
    match env.resource("m365backup_service_app.this") {
        Some(app) => assert_eq!(
            app["status"].as_str(),
            graph_status.as_deref(),
            "{what}: state says {:?}, Graph says {graph_status:?}",
            app["status"]
        ),
        None => assert!(
            graph_status.is_none() || graph_status.as_deref() == Some("inactive"),
            "{what}: Graph holds a {graph_status:?} registration that state does not know"
        ),
    }
}

/// Applies until it converges (at most twice), then checks the end state.
fn converge(env: &Env, tenant: &str, what: &str) {
    let first = env.apply();
    assert!(
        !first.combined().contains("panicked"),
        "{what}: provider panicked:\n{}",
        first.combined()
    );
    eprintln!("outcome: {what}: first apply exit {}", first.code);
    assert_state_matches_graph(env, tenant, &format!("{what} (after the first apply)"));
    if first.code != 0 {
        env.apply()
            .expect_code(0, &format!("{what}: the re-run converges"));
    }
    assert_eq!(
        env.admin.app_status(tenant, DEMO_CLIENT_ID).as_deref(),
        Some("active"),
        "{what}"
    );
    assert_eq!(
        env.admin.tenant_state(tenant)["serviceStatus"]["status"],
        "enabled",
        "{what}: billing enabled"
    );
    assert_state_matches_graph(env, tenant, what);
    env.plan().expect_code(0, &format!("{what}: clean plan"));
}

#[test]
fn faults_on_every_write_end_with_graph_and_state_in_agreement() {
    let faults: Vec<(&str, Value)> = vec![
        (
            "429 storm (seconds)",
            json!({"method": "POST", "path_prefix": APPS, "status": 429, "retry_after": "1", "count": 4}),
        ),
        (
            "429 storm (HTTP-date)",
            json!({"method": "GET", "path_prefix": "/v1.0/solutions/backupRestore", "status": 429, "retry_after": "http-date", "count": 3}),
        ),
        (
            "500 then success",
            json!({"method": "POST", "path_prefix": APPS, "status": 500, "count": 2}),
        ),
        (
            "503 on enable",
            json!({"method": "POST", "path_prefix": "/v1.0/solutions/backupRestore/enable", "status": 503, "count": 2}),
        ),
        (
            "token endpoint 503",
            json!({"method": "POST", "path_prefix": "/", "status": 503, "count": 1}),
        ),
        (
            "register: response lost",
            json!({"method": "POST", "path_prefix": APPS, "drop": "after", "count": 1}),
        ),
        (
            "activate: response lost",
            json!({"method": "POST", "path_prefix": format!("{APPS}/{DEMO_CLIENT_ID}/activate"), "drop": "after", "count": 1}),
        ),
        (
            "enable: response lost",
            json!({"method": "POST", "path_prefix": "/v1.0/solutions/backupRestore/enable", "drop": "after", "count": 1}),
        ),
        (
            "register: connection dropped before",
            json!({"method": "POST", "path_prefix": APPS, "drop": "before", "count": 1}),
        ),
        (
            "register: slower than request_timeout",
            json!({"method": "POST", "path_prefix": APPS, "delay_ms": 6000, "count": 1}),
        ),
    ];
    for_each_terraform(|env| {
        env.set_env("M365BACKUP_REQUEST_TIMEOUT", "4s");
        for (what, fault) in &faults {
            let tenant = env.tenant("none");
            env.write_config(&onboarding_config(&tenant));
            env.admin.fault(fault.clone());
            converge(env, &tenant, what);
            // Delete with a lost response: the retry finds it gone, destroy succeeds.
            if *what == "register: response lost" {
                env.admin.fault(
                    json!({"method": "DELETE", "path_prefix": APPS, "drop": "after", "count": 1}),
                );
                env.destroy()
                    .expect_code(0, "destroy with a lost DELETE response");
                assert_eq!(env.admin.app_status(&tenant, DEMO_CLIENT_ID), None);
                assert!(env.resource("m365backup_service_app.this").is_none());
            } else {
                for address in [
                    "m365backup_service_app.this",
                    "m365backup_billing_enablement.this",
                ] {
                    env.tf(&["state", "rm", address])
                        .expect_code(0, "next fault");
                }
            }
        }
    });
}

#[test]
fn ctrl_c_during_apply_leaves_state_matching_graph() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&onboarding_config(&tenant));
        // Graph is slow to activate: the interrupt arrives while the call is in flight.
        env.admin.fault(json!({"method": "POST", "path_prefix": format!("{APPS}/{DEMO_CLIENT_ID}/activate"), "delay_ms": 3000, "count": 1}));
        // The request log records a request when it completes: once the registration is
        // logged, the (3 s) activation is in flight. Then Ctrl-C the whole process group, as a
        // terminal does.
        let text = apply_interrupted(
            env,
            |r| r["method"] == "POST" && r["path"] == APPS,
            || {
                assert!(
                    !env.admin
                        .requests()
                        .iter()
                        .any(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/activate"))),
                    "the interrupt must arrive while the activation is in flight"
                )
            },
        );
        assert!(
            text.contains("Gracefully shutting down"),
            "terraform saw the interrupt:\n{text}"
        );
        // The provider survived the Ctrl-C and finished the in-flight activation.
        let app = env
            .resource("m365backup_service_app.this")
            .expect("the in-flight create was recorded");
        assert_eq!(app["status"], "active", "{text}");
        assert_state_matches_graph(env, &tenant, "after Ctrl-C");
        env.apply().expect_code(0, "re-run after Ctrl-C converges");
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );
        assert_state_matches_graph(env, &tenant, "after the re-run");
    });
}

#[test]
fn bad_graph_answers_become_diagnostics_never_panics() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.apply().expect_code(0, "apply");
        let app_path = format!("{APPS}/{DEMO_CLIENT_ID}");
        let cases: Vec<(&str, Value, i32, &str)> = vec![
            (
                "non-JSON body",
                json!({"method": "GET", "path_prefix": app_path, "body": "<html>oops</html>", "content_type": "text/html", "count": 1}),
                1,
                "serviceApp",
            ),
            (
                "empty body",
                json!({"method": "GET", "path_prefix": app_path, "body": "", "count": 1}),
                1,
                "serviceApp",
            ),
            (
                "huge body",
                // Just over the provider's limit on a Graph answer.
                json!({"method": "GET", "path_prefix": app_path, "body": format!("{{\"id\":\"{}\",\"pad\":\"{}\"}}", DEMO_CLIENT_ID, "x".repeat(terraform_provider_m365backup::graph::MAX_BODY_BYTES)), "count": 1}),
                1,
                "serviceApp",
            ),
            (
                "unknown status",
                json!({"method": "GET", "path_prefix": app_path, "body": format!("{{\"id\":\"{DEMO_CLIENT_ID}\",\"status\":\"superActive\"}}"), "count": 1}),
                0,
                "superActive",
            ),
            (
                "error without a JSON body",
                json!({"method": "GET", "path_prefix": app_path, "status": 502, "body": "Bad gateway", "content_type": "text/plain", "count": 20}),
                1,
                "502",
            ),
        ];
        for (what, fault, code, needle) in cases {
            env.set_env("M365BACKUP_MAX_RETRIES", "1");
            env.admin.fault(fault);
            let run = env.plan();
            assert!(
                !run.combined().contains("panicked"),
                "{what}: panic\n{}",
                run.combined()
            );
            run.expect_code(code, what).expect_contains(needle, what);
            env.admin.delete("/_emulator/faults");
        }
        // Tokens expire in the middle of a run: the provider gets a fresh one once.
        env.reset_env("M365BACKUP_MAX_RETRIES");
        env.admin.post("/_emulator/tokens/expire", json!({}));
        env.plan().expect_code(0, "expired tokens are renewed");
    });
}

#[test]
fn trace_logs_state_and_diagnostics_never_contain_secrets() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&onboarding_config(&tenant));
        env.set_env("TF_LOG", "TRACE");
        let apply = env.apply();
        apply.expect_code(0, "apply with TF_LOG=TRACE");
        // A failing run's diagnostics too: a wrong secret.
        env.set_env("ARM_CLIENT_SECRET", "wrong-secret-value-123");
        let failing = env.plan();
        failing
            .expect_code(1, "wrong secret")
            .expect_contains("AADSTS7000215", "names the Entra error");
        env.reset_env("TF_LOG");
        let state = std::fs::read_to_string(env.work_dir().join("terraform.tfstate")).unwrap();
        let mut secrets: Vec<(String, String)> = env
            .emulator
            .env_exports()
            .into_iter()
            .filter(|(n, _)| n.contains("SECRET") || n.contains("TOKEN"))
            .collect();
        secrets.push(("wrong secret".into(), "wrong-secret-value-123".into()));
        let logs = format!("{}\n{}", apply.combined(), failing.combined());
        assert!(logs.len() > 10_000, "TRACE output is there");
        for (name, value) in &secrets {
            assert!(
                !logs.contains(value.as_str()),
                "{name} leaked into TRACE output"
            );
            assert!(!state.contains(value.as_str()), "{name} leaked into state");
        }
        // No access token either: every JWT the emulator issued starts with its header.
        assert!(
            !logs.contains("eyJ0eXAiOiJKV1Qi"),
            "a JWT leaked into TRACE output"
        );
        assert!(
            !state.contains("eyJ0eXAiOiJKV1Qi"),
            "a JWT leaked into state"
        );
    });
}
