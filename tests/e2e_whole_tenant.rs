//! A whole tenant in one apply: `examples/onboarding` takes a tenant without a controller from
//! nothing to controller, billing, Exchange, OneDrive and SharePoint policies, dynamic group
//! rules and notification emails in one `terraform apply`, and the next plan is clean. A tenant
//! that Microsoft's controller holds until a date gets the same configuration deferred (its
//! notification emails too), and the first apply after the date completes it.

mod common;

use common::*;
use serde_json::{Value, json};

/// The emulator's generated directory ids (see the emulator README, `directory/generate`).
fn directory_id(tenant: &str, kind: u16, i: usize) -> String {
    format!("{}-{kind:04x}-{i:012x}", &tenant[..18])
}

fn site_id(tenant: &str, i: usize) -> String {
    format!(
        "t{}.sharepoint.com,{},{}",
        &tenant[..8],
        directory_id(tenant, 0x8003, i),
        directory_id(tenant, 0x8004, i)
    )
}

/// Live units per policy display name, with their protection sources.
fn units_by_policy(protection: &Value) -> std::collections::BTreeMap<String, Vec<(String, u64)>> {
    let mut out = std::collections::BTreeMap::new();
    let policies = protection["policies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for policy in &policies {
        let units: Vec<(String, u64)> = protection["units"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["policyId"] == policy["id"] && u["removed"] != true)
            .map(|u| {
                (
                    u["resource"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    u["sources"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        out.insert(policy["displayName"].as_str().unwrap().to_string(), units);
    }
    out
}

/// The values of `address` in the tenant module instance of `tenant`.
fn module_resource(env: &Env, tenant: &str, address: &str) -> Option<Value> {
    let full = format!("module.tenant[\"{tenant}\"].{address}");
    let state = env.show();
    state["values"]["root_module"]["child_modules"]
        .as_array()?
        .iter()
        .flat_map(|m| m["resources"].as_array().cloned().unwrap_or_default())
        .find(|r| r["address"] == full.as_str())
        .map(|r| r["values"].clone())
}

#[test]
fn onboarding_example_protects_a_whole_tenant_in_one_apply() {
    for_each_terraform(|env| {
        env.admin.put(
            "/_emulator/settings",
            json!({ "protect_seconds": 0, "protect_seconds_per_100": 0 }),
        );
        let empty = env.tenant("none");
        let held = env.tenant("firstparty");
        // Six users in two groups (user i is in group i % 2), three sites.
        env.admin.post(
            &format!("/_emulator/tenants/{empty}/directory/generate"),
            json!({ "users": 6, "groups": 2, "sites": 3 }),
        );
        let user = |i| directory_id(&empty, 0x8001, i);
        let group = |i| directory_id(&empty, 0x8002, i);
        let held_group = directory_id(&held, 0x8002, 0);
        let date = days_from_now(10);

        env.use_example("onboarding");
        env.write_vars(&json!({
            "tenant_ids": [empty, held],
            "app_owner_tenant_id": m365backup_emulator::demo::TENANT_ID,
            "effective_dates": { held.clone(): date },
            "exchange_mailbox_ids": { empty.clone(): [user(1)] },
            "exchange_group_ids": { empty.clone(): [group(0)], held.clone(): [held_group] },
            "onedrive_group_ids": { empty.clone(): [group(1)] },
            "sharepoint_site_ids": { empty.clone(): [site_id(&empty, 0), site_id(&empty, 2)] },
            "notification_emails": {
                empty.clone(): ["backup-admins@contoso.com"],
                held.clone(): ["held-admins@contoso.com"],
            },
        }));
        env.apply()
            .expect_code(0, "one apply onboards and protects the tenant")
            .expect_contains(&held, "the held tenant's deferrals name it");

        // The tenant without a controller: everything in place after one apply.
        let p = protection(env, &empty);
        let units = units_by_policy(&p);
        let exchange: Vec<String> = units["Exchange backup"]
            .iter()
            .map(|u| u.0.clone())
            .collect();
        let mut want: Vec<String> = [user(0), user(1), user(2), user(4)]
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        want.sort();
        let mut got = exchange.clone();
        got.sort();
        assert_eq!(
            got, want,
            "group 0's members (0, 2, 4) and the listed mailbox 1"
        );
        assert_eq!(
            units["OneDrive backup"].len(),
            3,
            "group 1's members: {units:?}"
        );
        assert_eq!(units["SharePoint backup"].len(), 2);
        for policy in p["policies"].as_array().unwrap() {
            assert_eq!(policy["isEnabled"], true, "activated: {policy}");
        }
        let rules = p["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{rules:?}");
        assert!(rules.iter().all(|r| r["isAutoApplyEnabled"] == true));
        assert_eq!(
            p["emailNotificationsSetting"]["isEnabled"], true,
            "{}",
            p["emailNotificationsSetting"]
        );

        // The held tenant: controller pending, billing and protection waiting for the date.
        let held_protection = protection(env, &held);
        assert!(
            held_protection["policies"]
                .as_array()
                .is_none_or(|p| p.is_empty()),
            "nothing created before the date: {held_protection}"
        );
        let held_notifications =
            module_resource(env, &held, "m365backup_backup_notifications.this[0]")
                .expect("the held tenant's notifications in state");
        assert!(
            held_notifications["deferred_reason"]
                .as_str()
                .is_some_and(|r| r.contains(&held)),
            "the held tenant's notifications wait, naming it: {held_notifications}"
        );
        assert!(
            !held_protection["emailNotificationsSetting"]
                .to_string()
                .contains("held-admins@contoso.com"),
            "not written before the date: {held_protection}"
        );
        let outputs = env.show();
        let waiting = &outputs["values"]["outputs"]["waiting"]["value"];
        assert!(
            waiting[&held]["exchange"].as_str().is_some(),
            "the waiting output names the deferred policy: {waiting}"
        );

        // No resource changes: the rules' units are not drift of the Exchange list. (The
        // outputs' unit counts do change: Graph has processed the rules since the apply.)
        assert_no_resource_changes(&env.plan(), "after the first apply");

        // After the date, one apply completes the held tenant.
        env.admin.advance_days(11);
        env.apply().expect_code(0, "the apply after the date");
        let held_protection = protection(env, &held);
        assert_eq!(
            held_protection["policies"].as_array().map(Vec::len),
            Some(1),
            "{held_protection}"
        );
        assert_eq!(held_protection["rules"].as_array().map(Vec::len), Some(1));
        let held_setting = &held_protection["emailNotificationsSetting"];
        assert_eq!(held_setting["isEnabled"], true, "{held_setting}");
        assert_eq!(
            held_setting["recipients"]["customRecipients"][0]["email"], "held-admins@contoso.com",
            "{held_setting}"
        );
        let held_notifications =
            module_resource(env, &held, "m365backup_backup_notifications.this[0]")
                .expect("the held tenant's notifications in state");
        assert_eq!(held_notifications["deferred_reason"], Value::Null);
        assert_no_resource_changes(&env.plan(), "after the apply after the date");
    });
}

/// The plan proposes no action on any resource (outputs may change).
fn assert_no_resource_changes(run: &Run, when: &str) {
    let text = run.combined();
    assert!(
        run.code == 0 || run.code == 2,
        "{when}: plan failed:\n{text}"
    );
    for action in [" will be ", " must be "] {
        assert!(
            !text.contains(action),
            "{when}: a resource change is planned:\n{text}"
        );
    }
}
