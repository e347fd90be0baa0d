//! `m365backup_*_protection_units` through the real terraform binary against the emulator: two
//! units resources sharing a policy (and one id), email-keyed units with and without a delegated
//! sign-in, drift, the authoritative-set conflict, and deferral behind a deferred policy.

mod common;

use common::*;
use serde_json::{Value, json};

fn ids(n: usize, seed: u128) -> Vec<String> {
    (0..n)
        .map(|i| uuid::Uuid::from_u128(seed + i as u128).to_string())
        .collect()
}

fn hcl_set(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Service app, billing, an Exchange policy (`policy` is its body) and `rest`.
fn config(tenant: &str, app_extra: &str, policy: &str, rest: &str) -> String {
    let owner = m365backup_emulator::demo::TENANT_ID;
    format!(
        "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n\n\
         resource \"m365backup_exchange_protection_policy\" \"mail\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"Mail\"\n{policy}\n  depends_on = [m365backup_billing_enablement.this]\n}}\n\n{rest}\n",
        service_app_block("this", tenant, app_extra)
    )
}

/// A units resource on the policy.
fn units(name: &str, body: &str) -> String {
    format!(
        "resource \"m365backup_exchange_protection_units\" \"{name}\" {{\n  policy_id = m365backup_exchange_protection_policy.mail.id\n{body}\n}}\n"
    )
}

/// The resources (mailbox ids) the policy's listed units protect.
fn protected(env: &Env, tenant: &str) -> Vec<String> {
    let state = env.admin.get("/_emulator/state?full=1");
    let protection = find_tenant(&state, tenant).expect("tenant")["protection"].clone();
    let mut found: Vec<String> = protection["units"]
        .as_array()
        .map(|units| {
            units
                .iter()
                .filter(|u| u["removed"] != true && u["status"] != "removeRequested")
                .filter_map(|u| u["resource"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn unit_id_of(env: &Env, tenant: &str, mailbox: &str) -> String {
    let state = env.admin.get("/_emulator/state?full=1");
    let protection = find_tenant(&state, tenant).expect("tenant")["protection"].clone();
    protection["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["resource"] == mailbox && u["removed"] != true)
        .and_then(|u| u["id"].as_str())
        .expect("unit of the mailbox")
        .to_string()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn remove_outside_terraform(env: &Env, tenant: &str, policy_id: &str, unit_id: &str) {
    env.admin.post(
        &format!("/_emulator/tenants/{tenant}/as-admin"),
        json!({
            "method": "PATCH",
            "path": format!("/solutions/backupRestore/exchangeProtectionPolicies/{policy_id}"),
            "body": {"mailboxProtectionUnits@delta": [{"@removed": {"reason": "changed"}, "id": unit_id}]}
        }),
    );
}

/// When the removal by the resource that added `shared` reached Graph before the other units
/// resource listing it could keep it (Terraform planned them in that order, or is older than
/// 1.3), the other resource's next plan puts it back: a unit it lists is missing.
fn restored_by_the_other(env: &Env, tenant: &str, shared: &str) {
    if protected(env, tenant).iter().any(|id| id == shared) {
        return;
    }
    env.plan()
        .expect_code(2, "the other resource plans the shared id back")
        .expect_contains(shared, "names it");
    env.apply().expect_code(0, "the other resource restores it");
}

#[test]
fn two_units_resources_share_a_policy_without_touching_each_others_units() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let a = ids(3, 0x1000);
        let b = ids(2, 0x2000);
        let shared = ids(1, 0x3000).remove(0);
        let with_shared = |set: &[String]| {
            let mut v = set.to_vec();
            v.push(shared.clone());
            v
        };
        let team_a = |set: &[String]| units("a", &format!("  mailbox_ids = {}", hcl_set(set)));
        let team_b = |set: &[String]| units("b", &format!("  mailbox_ids = {}", hcl_set(set)));

        env.write_config(&config(&tenant, "", "", &team_a(&with_shared(&a))));
        env.apply().expect_code(0, "policy and team A's units");
        let policy_id = env
            .resource("m365backup_exchange_protection_policy.mail")
            .unwrap()["policy_id"]
            .as_str()
            .expect("policy created")
            .to_string();
        let state_a = env
            .resource("m365backup_exchange_protection_units.a")
            .unwrap();
        assert_eq!(state_a["unit_count"], 4, "{state_a}");
        assert_eq!(state_a["deferred_reason"], Value::Null);
        env.plan().expect_code(0, "clean after create");

        // Team B joins with its own ids and the shared one: it adopts the shared id.
        let both = format!("{}\n{}", team_a(&with_shared(&a)), team_b(&with_shared(&b)));
        env.write_config(&config(&tenant, "", "", &both));
        env.apply().expect_code(0, "team B's units");
        let all = sorted([a.clone(), b.clone(), vec![shared.clone()]].concat());
        assert_eq!(protected(env, &tenant), all);
        let state_b = env
            .resource("m365backup_exchange_protection_units.b")
            .unwrap();
        assert_eq!(
            state_b["unit_count"], 3,
            "B counts its own units: {state_b}"
        );
        env.plan().expect_code(0, "clean with two units resources");

        // Team A drops one of its ids: only that unit leaves.
        let a_less = with_shared(&a[1..]);
        let both = format!("{}\n{}", team_a(&a_less), team_b(&with_shared(&b)));
        env.write_config(&config(&tenant, "", "", &both));
        env.plan()
            .expect_code(2, "A's removal is planned")
            .expect_contains("1 mailbox", "with the removal warning");
        env.apply().expect_code(0, "A removes one id");
        let all = sorted([a[1..].to_vec(), b.clone(), vec![shared.clone()]].concat());
        assert_eq!(protected(env, &tenant), all, "B's units untouched");
        env.plan().expect_code(0, "clean after A's removal");

        // A stops listing an id it added that B still lists: it stays (kept by A's plan, or
        // kept by B's apply when Terraform planned A first).
        let both = format!("{}\n{}", team_a(&a[1..]), team_b(&with_shared(&b)));
        env.write_config(&config(&tenant, "", "", &both));
        env.apply().expect_code(0, "A drops the shared id");
        restored_by_the_other(env, &tenant, &shared);
        assert_eq!(protected(env, &tenant), all, "the shared id stays for B");
        env.plan()
            .expect_code(0, "clean after A dropped the shared id");
        let both = format!("{}\n{}", team_a(&a_less), team_b(&with_shared(&b)));
        env.write_config(&config(&tenant, "", "", &both));
        env.apply().expect_code(0, "A lists it again");

        // Team B leaves: its own ids go, the shared id stays (A still lists it).
        env.write_config(&config(&tenant, "", "", &team_a(&a_less)));
        env.apply().expect_code(0, "B destroyed");
        restored_by_the_other(env, &tenant, &shared);
        let all = sorted([a[1..].to_vec(), vec![shared.clone()]].concat());
        assert_eq!(protected(env, &tenant), all, "the shared id stays");
        env.plan().expect_code(0, "clean after B left");

        // B comes back listing the shared id, then A leaves: the shared id stays while B lists
        // it.
        let both = format!(
            "{}\n{}",
            team_a(&a_less),
            team_b(std::slice::from_ref(&shared))
        );
        env.write_config(&config(&tenant, "", "", &both));
        env.apply().expect_code(0, "B back");
        env.write_config(&config(
            &tenant,
            "",
            "",
            &team_b(std::slice::from_ref(&shared)),
        ));
        env.apply().expect_code(0, "A destroyed");
        restored_by_the_other(env, &tenant, &shared);
        assert_eq!(protected(env, &tenant), vec![shared.clone()], "B's id");
        env.plan().expect_code(0, "clean");
        let _ = policy_id;
    });
}

#[test]
fn email_keyed_units_need_a_sign_in_to_add_then_refresh_app_only_and_drift_comes_back() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let people = ids(3, 0x4000);
        let emails: Vec<String> = (0..3).map(|i| format!("user{i}@contoso.com")).collect();
        env.admin.put(
            &format!("/_emulator/tenants/{tenant}/directory"),
            json!({ "users": people.iter().zip(&emails).map(|(id, email)| json!({
                "id": id, "email": email, "display_name": email, "mailbox": true, "drive": true
            })).collect::<Vec<_>>() }),
        );
        let body = format!(
            "  mailbox_emails = {}\n  mailbox_ids    = [\"{}\"]",
            hcl_set(&emails[..2]),
            people[2]
        );
        env.write_config(&config(&tenant, "", "", ""));
        env.apply().expect_code(0, "policy");
        env.write_config(&config(&tenant, "", "", &units("mail", &body)));

        // Without a delegated credential: a plan-time error that says how to sign in.
        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.plan()
            .expect_code(1, "emails without a delegated credential")
            .expect_contains(
                "A delegated sign-in is needed to add mailbox_emails",
                "says why",
            )
            .expect_contains("terraform-provider-m365backup login --tenant", "says how")
            .expect_contains(&tenant, "names the tenant");

        // With one: applied, and the emails are matched to their units.
        env.reset_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.apply().expect_code(0, "email-keyed units");
        assert_eq!(protected(env, &tenant), sorted(people.clone()));
        let state = env
            .resource("m365backup_exchange_protection_units.mail")
            .unwrap();
        assert_eq!(state["unit_count"], 3, "{state}");
        assert_eq!(state["pending_job_count"], 0, "{state}");
        let text = state.to_string();
        assert!(
            !text.contains(&people[0]) && !text.contains(&people[1]),
            "no resolved id in state: {state}"
        );

        // App-only from here on: refresh and plan are clean.
        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.tf(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
            .expect_code(0, "refresh app-only");
        env.plan().expect_code(0, "clean app-only");
        assert_eq!(
            env.resource("m365backup_exchange_protection_units.mail")
                .unwrap()["mailbox_emails"]
                .as_array()
                .map(Vec::len),
            Some(2),
            "the emails stay recorded"
        );

        // An email's unit removed outside Terraform comes back, by id, still app-only.
        let policy_id = env
            .resource("m365backup_exchange_protection_policy.mail")
            .unwrap()["policy_id"]
            .as_str()
            .unwrap()
            .to_string();
        remove_outside_terraform(
            env,
            &tenant,
            &policy_id,
            &unit_id_of(env, &tenant, &people[0]),
        );
        remove_outside_terraform(
            env,
            &tenant,
            &policy_id,
            &unit_id_of(env, &tenant, &people[2]),
        );
        assert_eq!(protected(env, &tenant), vec![people[1].clone()]);
        env.plan()
            .expect_code(2, "drift is planned back")
            .expect_contains(&emails[0], "names the email");
        env.apply().expect_code(0, "put back app-only");
        assert_eq!(protected(env, &tenant), sorted(people.clone()));
        env.plan().expect_code(0, "clean after the drift is undone");

        // Destroy removes what it added, app-only (the match is in private state).
        env.write_config(&config(&tenant, "", "", ""));
        env.apply().expect_code(0, "units destroyed");
        if env.version_tuple() >= (1, 3) {
            assert_eq!(protected(env, &tenant), Vec::<String>::new());
        }
    });
}

#[test]
fn an_authoritative_set_and_a_units_resource_on_one_policy_fail_before_any_write() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let owned = ids(2, 0x5000);
        let policy = format!("  mailbox_ids  = {}", hcl_set(&owned));
        let extra = units(
            "team",
            &format!("  mailbox_ids = {}", hcl_set(&ids(1, 0x6000))),
        );
        // Both new: the policy's id is unknown at plan, so apply finds the conflict before the
        // units resource writes anything.
        env.write_config(&config(&tenant, "", &policy, &extra));
        env.apply()
            .expect_code(1, "conflict detected at apply")
            .expect_contains("authoritative unit set and a units resource", "says what");
        assert_eq!(
            protected(env, &tenant),
            sorted(owned.clone()),
            "no unit added"
        );
        // Now the policy's id is known: the plan fails.
        env.plan()
            .expect_code(1, "conflict detected at plan")
            .expect_contains("authoritative unit set and a units resource", "says what")
            .expect_contains(&tenant, "names the tenant");
        assert_eq!(
            protected(env, &tenant),
            sorted(owned.clone()),
            "nothing written"
        );
    });
}

#[test]
fn units_wait_for_a_deferred_policy_then_are_added() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("firstparty");
        let mailboxes = ids(2, 0x7000);
        // While policy_id is null the tenant cannot come from it: a fleet module sets it.
        let rest = units(
            "team",
            &format!(
                "  tenant_id   = \"{tenant}\"\n  mailbox_ids = {}",
                hcl_set(&mailboxes)
            ),
        );
        env.write_config(&config(&tenant, "  effective_after = \"8d\"", "", &rest));
        env.apply()
            .expect_code(0, "held by Microsoft's controller: nothing fails");
        let state = env
            .resource("m365backup_exchange_protection_units.team")
            .unwrap();
        assert_eq!(state["id"], Value::Null, "deferred: {state}");
        assert!(
            state["deferred_reason"]
                .as_str()
                .is_some_and(|r| r.contains(&tenant)),
            "{state}"
        );
        env.plan().expect_code(0, "nothing to do while deferred");

        env.admin.advance_days(9);
        env.apply().expect_code(0, "after the date: billing");
        env.apply().expect_code(0, "then the policy and the units");
        let state = env
            .resource("m365backup_exchange_protection_units.team")
            .unwrap();
        assert!(state["id"].is_string(), "created: {state}");
        assert_eq!(state["deferred_reason"], Value::Null);
        assert_eq!(protected(env, &tenant), sorted(mailboxes.clone()));
        env.plan().expect_code(0, "clean");
    });
}

#[test]
fn units_resources_are_not_importable() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&format!(
            "resource \"m365backup_exchange_protection_units\" \"x\" {{\n  policy_id = \"{tenant}/{}\"\n}}\n",
            ids(1, 0x8000)[0]
        ));
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_exchange_protection_units.x",
            &format!("{tenant}/{}", ids(1, 0x8000)[0]),
        ])
        .expect_code(1, "import refused")
        .expect_contains("cannot be imported", "says so")
        .expect_contains(
            "m365backup_exchange_protection_policy",
            "names the alternative",
        );
    });
}
