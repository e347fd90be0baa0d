//! One tenant never blocks the fleet: one apply over six tenants in mixed states, through the
//! real terraform binary. A condition of one tenant is a warning and a deferral, so Terraform
//! never stops the billing of the healthy tenants (it would: it holds back every dependent of a
//! failed resource, across all `for_each` instances).

mod common;

use common::*;
use serde_json::{Value, json};

/// `for_each` over a map of tenant → `effective_after` (null for none); billing depends on the
/// whole service app resource, so one failed instance would hold back every tenant's billing.
fn fleet_config(tenants: &[(String, Option<&str>)]) -> String {
    let entries: Vec<String> = tenants
        .iter()
        .map(|(id, after)| {
            let after = after.map_or("null".to_string(), |a| format!("\"{a}\""));
            format!("    \"{id}\" = {{ after = {after} }}")
        })
        .collect();
    let owner = m365backup_emulator::demo::TENANT_ID;
    format!(
        "locals {{\n  tenants = {{\n{}\n  }}\n}}\n\n\
         resource \"m365backup_service_app\" \"fleet\" {{\n  for_each        = local.tenants\n  tenant_id       = each.key\n  effective_after = each.value.after\n}}\n\n\
         resource \"m365backup_billing_enablement\" \"fleet\" {{\n  for_each            = local.tenants\n  tenant_id           = each.key\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.fleet]\n}}\n",
        entries.join("\n")
    )
}

fn service_status(env: &Env, tenant: &str) -> Value {
    env.admin.tenant_state(tenant)["serviceStatus"].clone()
}

/// The addresses a saved plan would change (anything but no-op/read).
fn planned_changes(env: &Env) -> Vec<String> {
    env.tf(&["plan", "-out=next.tfplan", "-no-color"])
        .expect_code(0, "plan");
    let shown = env.tf(&["show", "-json", "next.tfplan"]);
    shown.expect_code(0, "show plan");
    let plan: Value = serde_json::from_str(&shown.stdout).expect("plan JSON");
    let mut changed: Vec<String> = plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            let actions = &c["change"]["actions"];
            actions != &json!(["no-op"]) && actions != &json!(["read"])
        })
        .map(|c| c["address"].as_str().unwrap_or_default().to_string())
        .collect();
    changed.sort();
    changed
}

#[test]
fn one_apply_over_six_tenants_in_mixed_states_onboards_the_healthy_ones() {
    for_each_terraform(|env| {
        let healthy: Vec<String> = (0..3).map(|_| env.tenant("none")).collect();
        // Another app's change is already pending (Graph answers 403 to our activation).
        let pending = env.tenant("firstparty");
        env.admin.post(
            &format!("/_emulator/tenants/{pending}/takeover"),
            json!({ "client_id": uuid::Uuid::new_v4().to_string(), "effective_in_seconds": 10 * 86_400 }),
        );
        // Held by Microsoft's controller, and no date configured.
        let no_date = env.tenant("firstparty");
        // A dated takeover, which the customer cancels after the apply.
        let cancelled = env.tenant("firstparty");

        let mut tenants: Vec<(String, Option<&str>)> =
            healthy.iter().map(|t| (t.clone(), None)).collect();
        tenants.push((pending.clone(), Some("8d")));
        tenants.push((no_date.clone(), None));
        tenants.push((cancelled.clone(), Some("8d")));
        env.write_config(&fleet_config(&tenants));

        let run = env.apply();
        run.expect_code(0, "no tenant condition fails the apply")
            .expect_contains(
                "another controller change is pending",
                "names the pending change",
            )
            .expect_contains(
                "already has a Backup Storage controller",
                "names the controller without a date",
            );
        for t in &healthy {
            assert_eq!(
                env.admin.app_status(t, DEMO_CLIENT_ID).as_deref(),
                Some("active")
            );
            assert_eq!(
                service_status(env, t)["status"],
                "enabled",
                "billing in {t}"
            );
            assert_eq!(
                service_status(env, t)["backupServiceConsumer"],
                "thirdparty"
            );
        }
        let status = |t: &str| env.admin.app_status(t, DEMO_CLIENT_ID);
        assert_eq!(status(&pending).as_deref(), Some("inactive"), "registered");
        assert_eq!(status(&no_date).as_deref(), Some("inactive"), "registered");
        assert_eq!(status(&cancelled).as_deref(), Some("pendingActive"));
        for t in [&pending, &no_date, &cancelled] {
            assert_eq!(
                service_status(env, t)["backupServiceConsumer"],
                "firstparty"
            );
            assert!(
                env.resource(&format!("m365backup_billing_enablement.fleet[\"{t}\"]"))
                    .is_some(),
                "billing recorded (deferred) for {t}"
            );
        }

        // Outside Terraform: the other app's change is cancelled; our customer cancels ours.
        env.admin.post(
            &format!("/_emulator/tenants/{pending}/cancel-pending-change"),
            json!({}),
        );
        env.admin.post(
            &format!("/_emulator/tenants/{cancelled}/cancel-pending-change"),
            json!({}),
        );
        // Exactly the rest: the deferred activation, and nothing for the customer's decision.
        assert_eq!(
            planned_changes(env),
            [format!("m365backup_service_app.fleet[\"{pending}\"]")]
        );
        env.apply()
            .expect_code(0, "the deferred activation")
            .expect_contains(
                "Not the Backup Storage controller any more",
                "the cancellation stands",
            );
        assert_eq!(status(&pending).as_deref(), Some("pendingActive"));
        assert_eq!(status(&cancelled).as_deref(), Some("inactive"));

        // When the new date passes, the next plan proposes exactly that tenant's billing.
        env.admin.advance_days(9);
        assert_eq!(
            planned_changes(env),
            [format!(
                "m365backup_billing_enablement.fleet[\"{pending}\"]"
            )]
        );
        env.apply().expect_code(0, "enable billing");
        assert_eq!(
            service_status(env, &pending)["backupServiceConsumer"],
            "thirdparty"
        );
    });
}

/// A tenant whose consent was revoked keeps its last known state with a warning; the other
/// tenants' changes are planned and applied (binding decision 2).
#[test]
fn a_tenant_whose_consent_was_revoked_never_blocks_the_others() {
    for_each_terraform(|env| {
        env.admin.put(
            "/_emulator/settings",
            json!({ "protect_seconds": 0, "protect_seconds_per_100": 0 }),
        );
        let (a, b) = (env.tenant("none"), env.tenant("none"));
        let owner = m365backup_emulator::demo::TENANT_ID;
        let config = |name: &str| {
            format!(
                "locals {{\n  tenants = toset([\"{a}\", \"{b}\"])\n}}\n\n\
                 resource \"m365backup_service_app\" \"fleet\" {{\n  for_each  = local.tenants\n  tenant_id = each.key\n}}\n\n\
                 resource \"m365backup_billing_enablement\" \"fleet\" {{\n  for_each            = local.tenants\n  tenant_id           = each.key\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.fleet]\n}}\n\n\
                 resource \"m365backup_exchange_protection_policy\" \"fleet\" {{\n  for_each     = local.tenants\n  tenant_id    = each.key\n  display_name = \"{name}\"\n  mailbox_ids  = [\"7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b3a\"]\n  depends_on   = [m365backup_billing_enablement.fleet]\n}}\n"
            )
        };
        env.write_config(&config("Mail"));
        env.apply()
            .expect_code(0, "two tenants onboarded with a policy each");
        env.admin.post(
            &format!("/_emulator/tenants/{b}/consent"),
            json!({ "client_id": DEMO_CLIENT_ID, "granted": false }),
        );
        env.plan()
            .expect_code(
                0,
                "no error and no change: the revoked tenant keeps its state",
            )
            .expect_contains("kept the last known state", "warns")
            .expect_contains(&b, "names the tenant");
        env.write_config(&config("Mail (renamed)"));
        env.apply()
            .expect_code(0, "the healthy tenant's change applies");
        let policies = |t: &str| {
            let state = env.admin.get("/_emulator/state?full=1");
            find_tenant(&state, t).unwrap()["protection"]["policies"][0]["displayName"].clone()
        };
        assert_eq!(policies(&a), "Mail (renamed)");
        assert_eq!(
            policies(&b),
            "Mail",
            "nothing was sent to the revoked tenant"
        );
    });
}
