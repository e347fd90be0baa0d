//! Graph requests per operation, counted from the emulator's request log: what real tenants
//! throttle. Budgets for one tenant (service app + billing + one Exchange policy of 10 mailboxes).

mod common;

use common::*;
use serde_json::{Value, json};

/// Graph calls (token requests and admin calls left out), as `METHOD path-tail`.
fn graph_calls(env: &Env) -> Vec<String> {
    env.admin
        .requests()
        .iter()
        .filter_map(|r: &Value| {
            let path = r["path"].as_str()?;
            let i = path.find("/solutions/backupRestore")?;
            let tail = &path[i + "/solutions/backupRestore".len()..];
            Some(format!("{} {tail}", r["method"].as_str().unwrap_or("?")))
        })
        .collect()
}

fn count(calls: &[String], method: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(method)).count()
}

#[test]
fn onboarding_refresh_and_a_ten_unit_change_stay_within_their_graph_budgets() {
    for_each_terraform(|env| {
        env.admin.put(
            "/_emulator/settings",
            json!({ "protect_seconds": 0, "protect_seconds_per_100": 0 }),
        );
        let tenant = env.tenant("none");
        let owner = m365backup_emulator::demo::TENANT_ID;
        let ids = |n: usize, seed: u128| -> String {
            let ids: Vec<String> = (0..n)
                .map(|i| format!("\"{}\"", uuid::Uuid::from_u128(seed + i as u128)))
                .collect();
            format!("[{}]", ids.join(", "))
        };
        let config = |mailboxes: &str| {
            format!(
                "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n\n\
                 resource \"m365backup_exchange_protection_policy\" \"mail\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"Mail\"\n  mailbox_ids  = {mailboxes}\n  depends_on   = [m365backup_billing_enablement.this]\n}}\n",
                service_app_block("this", &tenant, "")
            )
        };
        env.write_config(&config(&ids(10, 0x5000)));
        env.admin.reset_requests();
        env.apply().expect_code(0, "onboard");
        let onboard = graph_calls(env);
        eprintln!("onboarding ({}): {onboard:#?}", onboard.len());
        // Writes: register, activate, enable, create the policy (10 units in the POST), activate.
        let writes = onboard.len() - count(&onboard, "GET");
        assert_eq!(writes, 5, "{onboard:#?}");
        // Graph's own refusal (409) tells whether another policy is active: no listing first.
        assert!(
            !onboard.contains(&"GET /exchangeProtectionPolicies".to_string()),
            "{onboard:#?}"
        );

        env.admin.reset_requests();
        env.plan().expect_code(0, "refresh plan");
        let refresh = graph_calls(env);
        eprintln!("refresh plan ({}): {refresh:#?}", refresh.len());
        assert_eq!(
            count(&refresh, "GET"),
            refresh.len(),
            "a refresh only reads"
        );
        // One GET per controller resource; the policy and one page of its units, read once by
        // refresh and once by the plan.
        assert!(refresh.len() <= 6, "{refresh:#?}");

        let changed = ids(15, 0x5000).replace("\"00000000-0000-0000-0000-000000005000\", ", "");
        env.write_config(&config(&changed));
        env.admin.reset_requests();
        env.apply().expect_code(0, "add 6, remove 1 mailbox");
        let change = graph_calls(env);
        eprintln!("unit change ({}): {change:#?}", change.len());
        assert_eq!(count(&change, "PATCH"), 1, "one @delta chunk: {change:#?}");
        assert_eq!(change.len() - count(&change, "GET"), 1, "{change:#?}");
        // The units are listed by the plan's refresh and by the apply process's own plan, never
        // again after the PATCH: its answer is applied to the listing (one listing per process).
        let listings = |calls: &[String]| {
            calls
                .iter()
                .filter(|c| c.starts_with("GET") && c.ends_with("/mailboxProtectionUnits"))
                .count()
        };
        let patch_at = change.iter().position(|c| c.starts_with("PATCH")).unwrap();
        assert_eq!(listings(&change[patch_at..]), 0, "{change:#?}");
        assert!(listings(&change) <= 2, "{change:#?}");
        // The policy's write is gated on the root and our serviceApp: the plan takes them from
        // the service app's and billing's refresh, apply looks once more before writing
        // (decision 5). Two of each, not three.
        let roots = change.iter().filter(|c| c.as_str() == "GET ").count();
        let our_app = (change.iter())
            .filter(|c| c.starts_with("GET /serviceApps/"))
            .count();
        assert_eq!((roots, our_app), (2, 2), "{change:#?}");
        env.plan()
            .expect_code(0, "no changes after the unit change");

        // Deactivation: Graph answers 202 with the policy, so nothing is read after it.
        env.write_config(&config(&format!("{changed}\n  active       = false")));
        env.admin.reset_requests();
        env.apply().expect_code(0, "deactivate");
        let deactivate = graph_calls(env);
        let at = (deactivate.iter())
            .position(|c| c.ends_with("/deactivate"))
            .expect("a deactivate call");
        assert_eq!(deactivate.len(), at + 1, "{deactivate:#?}");
        env.plan()
            .expect_code(0, "no changes after the deactivation");
    });
}
