//! `m365backup_*_inclusion_rule` through the real terraform binary against the emulator:
//! dynamic group rules following directory changes, PATCH of a dynamic rule, a second dynamic
//! rule deferred with a warning naming the first, import, destroy with and without
//! `unprotect_on_destroy`, a static SharePoint keyword rule run again on `rerun_triggers`, and
//! the plan-time limits.

mod common;

use common::*;
use serde_json::{Value, json};

fn guid(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

/// Controller, billing and the given policies (HCL bodies) for `tenant`, plus `rest`.
fn tenant_config(tenant: &str, policies: &str, rest: &str) -> String {
    let owner = m365backup_emulator::demo::TENANT_ID;
    format!(
        "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n\n{policies}\n{rest}\n",
        service_app_block("this", tenant, "")
    )
}

fn policy(kind: &str, name: &str, tenant: &str) -> String {
    format!(
        "resource \"m365backup_{kind}_protection_policy\" \"{name}\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"{name}\"\n  depends_on   = [m365backup_billing_enablement.this]\n}}\n"
    )
}

/// Resources (directory object ids or site ids) of the policy's units that are not leaving,
/// with their sources.
fn units(env: &Env, tenant: &str, policy_id: &str) -> Vec<(String, Value)> {
    protection(env, tenant)["units"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|u| {
            u["policyId"] == policy_id
                && u["removed"] != true
                && !u["status"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("remove") || s.starts_with("unprotect"))
        })
        .map(|u| {
            (
                u["resource"].as_str().unwrap().to_lowercase(),
                u["sources"].clone(),
            )
        })
        .collect()
}

fn has_unit(env: &Env, tenant: &str, policy_id: &str, id: &str) -> bool {
    units(env, tenant, policy_id)
        .iter()
        .any(|(r, _)| r == &id.to_lowercase())
}

fn rules_of(env: &Env, tenant: &str) -> Vec<Value> {
    protection(env, tenant)["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn state_of(env: &Env, address: &str) -> Value {
    env.resource(address)
        .unwrap_or_else(|| panic!("{address} in state"))
}

fn put_directory(env: &Env, tenant: &str, directory: Value) {
    env.admin
        .put(&format!("/_emulator/tenants/{tenant}/directory"), directory);
}

fn user(id: &str) -> Value {
    json!({ "id": id, "mailbox": true, "drive": true })
}

#[test]
fn dynamic_rules_follow_groups_patch_defer_import_and_destroy_both_ways() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let (u1, u2, u3, u4) = (guid(0x11), guid(0x12), guid(0x13), guid(0x14));
        let (g1, g2) = (guid(0x21), guid(0x22));
        let directory = |g1_members: &[&String]| {
            json!({
                "users": [user(&u1), user(&u2), user(&u3), user(&u4)],
                "groups": [
                    { "id": g1, "members": g1_members },
                    { "id": g2, "members": [u3] },
                ],
            })
        };
        put_directory(env, &tenant, directory(&[&u1, &u2]));
        let policies = format!(
            "{}\n{}",
            policy("exchange", "mail", &tenant),
            policy("onedrive", "drives", &tenant)
        );
        let mail_rule = |groups: &str, extra: &str| {
            format!(
                "resource \"m365backup_exchange_inclusion_rule\" \"staff\" {{\n  policy_id = m365backup_exchange_protection_policy.mail.id\n  group_ids = {groups}\n{extra}}}\n"
            )
        };
        let drive_rule = format!(
            "resource \"m365backup_onedrive_inclusion_rule\" \"staff\" {{\n  policy_id            = m365backup_onedrive_protection_policy.drives.id\n  group_ids            = [\"{g2}\"]\n  unprotect_on_destroy = true\n  wait_for_completion  = true\n}}\n"
        );
        let g1_only = format!("[\"{g1}\"]");
        env.write_config(&tenant_config(
            &tenant,
            &policies,
            &format!("{}\n{drive_rule}", mail_rule(&g1_only, "")),
        ));
        env.apply().expect_code(
            0,
            "controller, billing, two policies and two dynamic rules in one apply",
        );
        let mail = state_of(env, "m365backup_exchange_protection_policy.mail");
        let mail_policy = mail["policy_id"].as_str().unwrap().to_string();
        let drives = state_of(env, "m365backup_onedrive_protection_policy.drives");
        let drive_policy = drives["policy_id"].as_str().unwrap().to_string();
        let rule = state_of(env, "m365backup_exchange_inclusion_rule.staff");
        let rule_id = rule["id"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(rule["id"], format!("{tenant}/{mail_policy}/{rule_id}"));
        assert_eq!(
            rule["tenant_id"],
            tenant.as_str(),
            "tenant taken from policy_id"
        );
        assert_eq!(
            rule["status"], "completed",
            "applied at once (no delay): {rule}"
        );
        assert_eq!(rule["auto_apply"], true);
        let held = rules_of(env, &tenant);
        let mine = held.iter().find(|r| r["id"] == rule_id.as_str()).unwrap();
        assert_eq!(mine["isAutoApplyEnabled"], true);
        assert_eq!(
            mine["expression"],
            format!("(memberOf -any (group.id -in ['{g1}']))")
        );
        assert!(
            has_unit(env, &tenant, &mail_policy, &u1) && has_unit(env, &tenant, &mail_policy, &u2)
        );
        assert!(has_unit(env, &tenant, &drive_policy, &u3));
        env.plan().expect_code(0, "clean after create");

        // The directory changes: u4 joins g1, u2 leaves; the dynamic rule follows.
        put_directory(env, &tenant, directory(&[&u1, &u4]));
        assert!(
            has_unit(env, &tenant, &mail_policy, &u4),
            "new member protected"
        );
        assert!(
            !has_unit(env, &tenant, &mail_policy, &u2),
            "former member dropped"
        );
        env.plan().expect_code(0, "a directory change is no drift");

        // More groups: PATCH in place, same rule.
        let both = format!("[\"{g1}\", \"{g2}\"]");
        env.write_config(&tenant_config(
            &tenant,
            &policies,
            &format!("{}\n{drive_rule}", mail_rule(&both, "")),
        ));
        env.plan()
            .expect_code(2, "groups changed")
            .expect_contains("1 to change, 0 to destroy", "an in-place update");
        env.apply().expect_code(0, "PATCH of the dynamic rule");
        let held = rules_of(env, &tenant);
        let mine = held
            .iter()
            .find(|r| r["id"] == rule_id.as_str())
            .expect("same rule");
        assert!(mine["expression"].as_str().unwrap().contains(&g2), "{mine}");
        assert!(has_unit(env, &tenant, &mail_policy, &u3));
        env.plan().expect_code(0, "clean after the PATCH");

        // A second dynamic rule on the same policy waits, naming the first.
        let second = format!(
            "resource \"m365backup_exchange_inclusion_rule\" \"second\" {{\n  policy_id = m365backup_exchange_protection_policy.mail.id\n  group_ids = [\"{g2}\"]\n}}\n"
        );
        let with_second = format!("{}\n{drive_rule}\n{second}", mail_rule(&both, ""));
        env.write_config(&tenant_config(&tenant, &policies, &with_second));
        env.apply()
            .expect_code(0, "a second dynamic rule is no error")
            .expect_contains(
                &format!("already has a dynamic inclusion rule, {rule_id}"),
                "names the first",
            )
            .expect_contains(&format!("Tenant {tenant}"), "names the tenant");
        let deferred = state_of(env, "m365backup_exchange_inclusion_rule.second");
        assert_eq!(deferred["id"], Value::Null);
        assert!(
            deferred["deferred_reason"]
                .as_str()
                .unwrap()
                .contains(&rule_id)
        );
        assert_eq!(rules_of(env, &tenant).len(), 2, "nothing created");
        env.plan().expect_code(0, "still deferred: no change");

        // Import the first rule into a fresh state entry: the next plan is clean.
        env.tf(&["state", "rm", "m365backup_exchange_inclusion_rule.staff"])
            .expect_code(0, "state rm");
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_exchange_inclusion_rule.staff",
            &format!("{tenant}/{mail_policy}"),
        ])
        .expect_code(1, "a policy id alone is no rule id")
        .expect_contains("<tenantId>/<policyId>/<ruleId>", "says the form");
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_exchange_inclusion_rule.staff",
            &format!("{tenant}/{mail_policy}/{rule_id}"),
        ])
        .expect_code(0, "import");
        let imported = state_of(env, "m365backup_exchange_inclusion_rule.staff");
        assert_eq!(
            imported["group_ids"].as_array().map(Vec::len),
            Some(2),
            "{imported}"
        );
        env.plan().expect_code(0, "clean after import");

        // Drift: an admin narrows the rule to g2; the plan PATCHes it back in place.
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/as-admin"),
            json!({
                "method": "PATCH",
                "path": format!("/solutions/backupRestore/exchangeProtectionPolicies/{mail_policy}/mailboxInclusionRules/{rule_id}"),
                "body": {"mailboxExpression": format!("(memberOf -any (group.id -in ['{g2}']))")}
            }),
        );
        env.plan()
            .expect_code(2, "the narrowed rule is planned back")
            .expect_contains("1 to change, 0 to destroy", "in place")
            .expect_contains(&g1, "names the missing group");
        env.apply().expect_code(0, "PATCH back");
        let held = rules_of(env, &tenant);
        let mine = held.iter().find(|r| r["id"] == rule_id.as_str()).unwrap();
        assert!(mine["expression"].as_str().unwrap().contains(&g1), "{mine}");
        env.plan().expect_code(0, "clean after the drift is undone");

        // Destroy both first rules: DELETE keeps the mailboxes, deleteAndUnprotect drops the
        // OneDrive accounts. The deferred one goes without a Graph call.
        env.write_config(&tenant_config(&tenant, &policies, ""));
        env.apply().expect_code(0, "destroy the rules");
        assert!(rules_of(env, &tenant).is_empty(), "both rules gone");
        for u in [&u1, &u3, &u4] {
            assert!(has_unit(env, &tenant, &mail_policy, u), "DELETE keeps {u}");
        }
        assert!(
            !has_unit(env, &tenant, &drive_policy, &u3),
            "deleteAndUnprotect unprotects: {:?}",
            units(env, &tenant, &drive_policy)
        );
    });
}

#[test]
fn a_static_sharepoint_rule_runs_again_on_rerun_triggers_and_is_replaced_on_new_keywords() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let site = |n: u128, name: &str| {
            json!({
                "id": format!("contoso.sharepoint.com,{},{}", guid(0x100 + n), guid(0x200 + n)),
                "web_url": format!("https://contoso.sharepoint.com/sites/{}", name.replace(' ', "")),
                "display_name": name,
            })
        };
        let mut sites = vec![site(1, "Finance Team"), site(2, "Legal")];
        put_directory(env, &tenant, json!({ "sites": sites }));
        let rule = |keywords: &str, run: &str| {
            format!(
                "resource \"m365backup_sharepoint_inclusion_rule\" \"finance\" {{\n  policy_id           = m365backup_sharepoint_protection_policy.sites.id\n  site_name_keywords  = {keywords}\n  wait_for_completion = true\n  rerun_triggers = {{\n    run = \"{run}\"\n  }}\n}}\n"
            )
        };
        let policies = policy("sharepoint", "sites", &tenant);
        env.write_config(&tenant_config(
            &tenant,
            &policies,
            &rule("[\"Finance\"]", "1"),
        ));
        env.apply().expect_code(0, "a static keyword rule");
        let policy_id = state_of(env, "m365backup_sharepoint_protection_policy.sites")["policy_id"]
            .as_str()
            .unwrap()
            .to_string();
        let state = state_of(env, "m365backup_sharepoint_inclusion_rule.finance");
        assert_eq!(state["status"], "completed");
        let site_id = |v: &Value| v["id"].as_str().unwrap().to_string();
        assert!(has_unit(env, &tenant, &policy_id, &site_id(&sites[0])));
        assert!(!has_unit(env, &tenant, &policy_id, &site_id(&sites[1])));
        let held = rules_of(env, &tenant);
        assert_eq!(held[0]["isAutoApplyEnabled"], false);
        env.plan().expect_code(0, "clean after create");

        // A new matching site is not picked up by a static rule until it runs again.
        sites.push(site(3, "Finance Archive"));
        put_directory(env, &tenant, json!({ "sites": sites }));
        assert!(
            !has_unit(env, &tenant, &policy_id, &site_id(&sites[2])),
            "static: applied once"
        );
        env.write_config(&tenant_config(
            &tenant,
            &policies,
            &rule("[\"Finance\"]", "2"),
        ));
        env.plan()
            .expect_code(2, "rerun_triggers changed")
            .expect_contains("1 to change, 0 to destroy", "an in-place run");
        env.apply().expect_code(0, "run again");
        assert!(
            has_unit(env, &tenant, &policy_id, &site_id(&sites[2])),
            "picked up by the run"
        );
        assert_eq!(rules_of(env, &tenant).len(), 1);
        env.plan().expect_code(0, "clean after the run");

        // New keywords replace a static rule (Graph cannot change it). The answer to the
        // creating POST is lost: the rule is found and adopted, not posted twice.
        let old_rule = rules_of(env, &tenant)[0]["id"].clone();
        env.write_config(&tenant_config(
            &tenant,
            &policies,
            &rule("[\"Legal\"]", "2"),
        ));
        env.plan()
            .expect_code(2, "keywords changed")
            .expect_contains("must be replaced", "a replacement");
        let rules_path = format!(
            "/v1.0/solutions/backupRestore/sharePointProtectionPolicies/{policy_id}/siteInclusionRules"
        );
        env.admin.fault(json!({
            "method": "POST", "path_prefix": rules_path, "drop": "after", "count": 1
        }));
        env.admin.reset_requests();
        env.apply()
            .expect_code(0, "replacement despite the lost answer");
        let requests = env.admin.requests();
        let posts: Vec<&Value> = requests
            .iter()
            .filter(|r| {
                r["method"] == "POST"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("siteInclusionRules"))
            })
            .collect();
        assert_eq!(posts.len(), 1, "no second POST: {posts:?}");
        assert!(
            !posts[0]["fault"].is_null(),
            "the fault hit the create: {posts:?}"
        );
        let held = rules_of(env, &tenant);
        assert_eq!(held.len(), 1, "one rule: {held:?}");
        assert_ne!(held[0]["id"], old_rule);
        assert!(has_unit(env, &tenant, &policy_id, &site_id(&sites[1])));
        assert!(
            has_unit(env, &tenant, &policy_id, &site_id(&sites[0])),
            "units of a deleted static rule stay"
        );
    });
}

#[test]
fn limits_and_attribute_combinations_fail_at_plan() {
    for_each_terraform(|env| {
        let policy = format!("{}/{}", guid(0x1), guid(0x2));
        let groups = |n: u128| {
            let ids: Vec<String> = (0..n)
                .map(|i| format!("\"{}\"", guid(0x1000 + i)))
                .collect();
            format!("[{}]", ids.join(", "))
        };
        let body = format!(
            "resource \"m365backup_exchange_inclusion_rule\" \"too_many\" {{\n  policy_id = \"{policy}\"\n  group_ids = {}\n}}\n\
             resource \"m365backup_onedrive_inclusion_rule\" \"static_unprotect\" {{\n  policy_id            = \"{policy}\"\n  group_ids            = {}\n  auto_apply           = false\n  unprotect_on_destroy = true\n}}\n\
             resource \"m365backup_onedrive_inclusion_rule\" \"dynamic_rerun\" {{\n  policy_id      = \"{policy}\"\n  group_ids      = {}\n  rerun_triggers = {{ v = \"1\" }}\n}}\n\
             resource \"m365backup_exchange_inclusion_rule\" \"both\" {{\n  policy_id  = \"{policy}\"\n  group_ids  = {}\n  expression = \"(x)\"\n}}\n\
             resource \"m365backup_sharepoint_inclusion_rule\" \"short\" {{\n  policy_id         = \"{policy}\"\n  site_url_keywords = [\"ab\"]\n}}\n\
             variable \"group\" {{\n  type = string\n}}\n\
             resource \"m365backup_exchange_inclusion_rule\" \"known_later\" {{\n  policy_id = \"{policy}\"\n  group_ids = [var.group]\n}}\n\
             resource \"m365backup_sharepoint_inclusion_rule\" \"sp_unprotect\" {{\n  policy_id            = \"{policy}\"\n  site_name_keywords   = [\"Finance\"]\n  unprotect_on_destroy = true\n}}\n",
            groups(101),
            groups(1),
            groups(1),
            groups(1)
        );
        env.write_config(&body);
        let run = env.tf(&["validate", "-no-color"]);
        run.expect_code(1, "invalid rules")
            .expect_contains(
                "group_ids holds 101 ids; a rule takes 1 to 100 groups",
                "group limit",
            )
            .expect_contains(
                "unprotect_on_destroy needs a dynamic rule",
                "static unprotect",
            )
            .expect_contains("SharePoint rules are always static", "SharePoint unprotect")
            .expect_contains("rerun_triggers needs a static rule", "dynamic rerun")
            .expect_contains("Conflicting expression and group_ids", "conflict")
            .expect_contains("\"ab\" (2 characters)", "keyword length");
        let all = unwrap_lines(&run.combined());
        assert_eq!(
            all.matches("Wrong number of groups").count(),
            1,
            "a set known only later is not checked yet: {all}"
        );
    });
}

#[test]
fn a_rule_waits_for_its_deferred_policy_then_is_created_in_place_and_warns_about_errors() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("firstparty");
        let (u1, g1, gone) = (guid(0x31), guid(0x41), guid(0x4F));
        put_directory(
            env,
            &tenant,
            json!({ "users": [user(&u1)], "groups": [{ "id": g1, "members": [u1] }] }),
        );
        let owner = m365backup_emulator::demo::TENANT_ID;
        let config = format!(
            "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n\n{}\n\
             resource \"m365backup_exchange_inclusion_rule\" \"staff\" {{\n  tenant_id = \"{tenant}\"\n  policy_id = m365backup_exchange_protection_policy.mail.id\n  group_ids = [\"{g1}\", \"{gone}\"]\n}}\n",
            service_app_block("this", &tenant, "  effective_after = \"8d\""),
            policy("exchange", "mail", &tenant)
        );
        env.write_config(&config);
        env.apply()
            .expect_code(0, "held by Microsoft's controller: nothing fails")
            .expect_contains("waits for its protection policy", "the rule says why");
        let rule = state_of(env, "m365backup_exchange_inclusion_rule.staff");
        assert_eq!(rule["policy_id"], Value::Null);
        assert_eq!(rule["id"], Value::Null);
        assert!(rule["deferred_reason"].as_str().unwrap().contains(&tenant));
        env.plan()
            .expect_code(0, "nothing to do while the app is pendingActive");

        env.admin.advance_days(9);
        env.apply()
            .expect_code(
                0,
                "after the date: billing, the policy, then the rule, in place",
            )
            .expect_contains(
                "0 added, 3 changed, 0 destroyed",
                "the rule is no replacement",
            )
            .expect_contains(
                "Inclusion rule completed with errors",
                "a missing group warns",
            )
            .expect_contains(
                &format!("tenant {tenant}: {gone}: GroupNotFound"),
                "names it",
            );
        let rule = state_of(env, "m365backup_exchange_inclusion_rule.staff");
        let policy_id = state_of(env, "m365backup_exchange_protection_policy.mail")["policy_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            rule["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{tenant}/{policy_id}/"))
        );
        assert_eq!(rule["deferred_reason"], Value::Null);
        assert_eq!(rule["status"], "completedWithErrors");
        assert_eq!(rule["error_code"], "ProtectionRuleCompletedWithErrors");
        assert!(has_unit(env, &tenant, &policy_id, &u1));
        env.plan().expect_code(0, "clean, with the warning only");
    });
}

#[test]
fn a_static_rule_and_an_authoritative_set_on_one_policy_are_refused() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let site = format!("contoso.sharepoint.com,{},{}", guid(0x301), guid(0x302));
        let policies = format!(
            "resource \"m365backup_sharepoint_protection_policy\" \"sites\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"sites\"\n  site_ids     = [\"{site}\"]\n  depends_on   = [m365backup_billing_enablement.this]\n}}\n"
        );
        let rule = "resource \"m365backup_sharepoint_inclusion_rule\" \"finance\" {\n  policy_id          = m365backup_sharepoint_protection_policy.sites.id\n  site_name_keywords = [\"Finance\"]\n}\n";
        env.write_config(&tenant_config(&tenant, &policies, rule));
        let conflict = "both an authoritative unit set and a static inclusion rule";
        // The policy's id is known only at apply: the rule is refused there, before any write.
        env.apply()
            .expect_code(1, "a static rule beside an authoritative set")
            .expect_contains(conflict, "names the conflict")
            .expect_contains("site_ids", "names the set");
        assert!(rules_of(env, &tenant).is_empty(), "no rule was created");
        // Once the policy exists, the plan refuses it.
        env.plan()
            .expect_code(1, "the plan refuses it too")
            .expect_contains(conflict, "names the conflict at plan");
    });
}
