//! `m365backup_*_protection_policy` through the real terraform binary against the emulator:
//! a whole tenant in one apply, unit changes across the 50-unit chunk, rename, deactivation,
//! the destroy guard, import, and deferral across the controller's grace period.

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

/// Service app, billing and one Exchange policy for `tenant`.
fn tenant_config(tenant: &str, app_extra: &str, policy: &str) -> String {
    let owner = m365backup_emulator::demo::TENANT_ID;
    format!(
        "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n\n\
         resource \"m365backup_exchange_protection_policy\" \"mail\" {{\n  tenant_id = \"{tenant}\"\n{policy}\n  depends_on = [m365backup_billing_enablement.this]\n}}\n",
        service_app_block("this", tenant, app_extra)
    )
}

fn units_of(env: &Env, tenant: &str, policy_id: &str) -> usize {
    protection(env, tenant)["units"]
        .as_array()
        .map(|units| {
            units
                .iter()
                .filter(|u| u["policyId"] == policy_id && u["removed"] != true)
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_whole_tenant_in_one_apply_then_unit_changes_rename_deactivate_and_destroy() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let all = ids(120, 0x1000);
        let policy = |name: &str, ids: &[String], extra: &str| {
            format!(
                "  display_name = \"{name}\"\n  mailbox_ids  = {}\n{extra}",
                hcl_set(ids)
            )
        };
        env.write_config(&tenant_config(&tenant, "", &policy("Mail", &all, "")));
        env.apply().expect_code(
            0,
            "controller, billing and a 120-mailbox policy in one apply",
        );
        let state = env
            .resource("m365backup_exchange_protection_policy.mail")
            .unwrap();
        let policy_id = state["policy_id"].as_str().expect("created").to_string();
        assert_eq!(state["id"], format!("{tenant}/{policy_id}"));
        assert_eq!(state["deferred_reason"], Value::Null);
        assert_eq!(
            units_of(env, &tenant, &policy_id),
            120,
            "crossed the 50-unit chunk"
        );
        let held = &protection(env, &tenant)["policies"][0];
        assert_eq!(held["isEnabled"], true, "activated last");
        env.plan().expect_code(0, "clean after create");

        // Remove 10, add 5.
        let mut changed: Vec<String> = all[10..].to_vec();
        changed.extend(ids(5, 0x9000));
        env.write_config(&tenant_config(&tenant, "", &policy("Mail", &changed, "")));
        env.plan().expect_code(2, "unit change planned");
        env.apply().expect_code(0, "unit change");
        assert_eq!(units_of(env, &tenant, &policy_id), 115);
        env.plan().expect_code(0, "clean after the unit change");

        // Drift: a unit removed outside Terraform is planned back.
        // Rename and deactivate in one update.
        env.write_config(&tenant_config(
            &tenant,
            "",
            &policy("Mail (all staff)", &changed, "  active = false\n"),
        ));
        env.apply().expect_code(0, "rename and deactivate");
        let held = &protection(env, &tenant)["policies"][0];
        assert_eq!(held["displayName"], "Mail (all staff)");
        assert_eq!(held["isEnabled"], false);
        env.plan().expect_code(0, "clean after rename");

        // Inactive: destroy deletes it.
        env.write_config(&tenant_config(
            &tenant,
            "  allow_unregister_while_active = true",
            &policy("Mail (all staff)", &changed, "  active = false\n"),
        ));
        env.apply().expect_code(0, "record the controller's guard");
        env.destroy().expect_code(0, "destroy");
        assert_eq!(protection(env, &tenant)["policies"], json!([]));
    });
}

#[test]
fn destroy_of_an_active_policy_needs_the_switch_and_import_is_clean() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let mailboxes = ids(10, 0x2000);
        let body = |extra: &str| {
            format!(
                "  display_name = \"Mail\"\n  mailbox_ids  = {}\n{extra}",
                hcl_set(&mailboxes)
            )
        };
        env.write_config(&tenant_config(&tenant, "", &body("")));
        env.apply().expect_code(0, "create");
        let policy_id = env
            .resource("m365backup_exchange_protection_policy.mail")
            .unwrap()["policy_id"]
            .as_str()
            .unwrap()
            .to_string();
        env.tf(&[
            "destroy",
            "-auto-approve",
            "-no-color",
            "-target=m365backup_exchange_protection_policy.mail",
        ])
        .expect_code(1, "an active policy is not destroyed by accident")
        .expect_contains("allow_destroy_while_active", "names the switch");

        // Import into a fresh state: the next plan is clean, unit set included.
        env.tf(&["state", "rm", "m365backup_exchange_protection_policy.mail"])
            .expect_code(0, "state rm");
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_exchange_protection_policy.mail",
            &format!("{tenant}/{policy_id}"),
        ])
        .expect_code(0, "import");
        env.plan().expect_code(0, "clean after import");

        env.write_config(&tenant_config(
            &tenant,
            "",
            &body("  allow_destroy_while_active = true\n"),
        ));
        env.apply().expect_code(0, "record the switch");
        env.tf(&[
            "destroy",
            "-auto-approve",
            "-no-color",
            "-target=m365backup_exchange_protection_policy.mail",
        ])
        .expect_code(0, "destroy with the switch")
        .expect_contains("restore points", "says what remains");
        assert_eq!(protection(env, &tenant)["policies"], json!([]));
    });
}

#[test]
fn a_policy_waits_with_a_warning_through_the_grace_period_then_is_created() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("firstparty");
        let body = format!(
            "  display_name = \"Mail\"\n  mailbox_ids  = {}\n",
            hcl_set(&ids(3, 0x3000))
        );
        env.write_config(&tenant_config(&tenant, "  effective_after = \"8d\"", &body));
        env.apply()
            .expect_code(0, "held by Microsoft's controller: nothing fails")
            .expect_contains(
                "protection changes wait for",
                "the policy says what it waits for",
            );
        let state = env
            .resource("m365backup_exchange_protection_policy.mail")
            .unwrap();
        assert_eq!(state["policy_id"], Value::Null, "deferred");
        assert!(state["deferred_reason"].as_str().unwrap().contains(&tenant));
        assert_eq!(protection(env, &tenant)["policies"], json!([]));
        env.plan()
            .expect_code(0, "nothing to do while the app is pendingActive");

        env.admin.advance_days(9);
        env.apply()
            .expect_code(0, "after the date: billing, then the policy");
        env.apply()
            .expect_code(0, "the policy once billing is enabled");
        let state = env
            .resource("m365backup_exchange_protection_policy.mail")
            .unwrap();
        assert!(state["policy_id"].is_string(), "created: {state}");
        assert_eq!(state["deferred_reason"], Value::Null);
        env.plan().expect_code(0, "clean");
    });
}

fn policy_state(env: &Env) -> Value {
    env.resource("m365backup_exchange_protection_policy.mail")
        .expect("policy in state")
}

fn posts_to(env: &Env, suffix: &str) -> usize {
    env.admin
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with(suffix))
        })
        .count()
}

#[test]
fn a_file_backed_set_of_2000_mailboxes_goes_through_a_bulk_job_then_changes_by_ten() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let all = ids(2000, 0x5000);
        let write_file = |ids: &[String]| {
            let text = format!("# exported mailboxes\n\n{}\n", ids.join("\n"));
            std::fs::write(env.work_dir().join("mailboxes.txt"), text).unwrap();
        };
        write_file(&all);
        let body = "  display_name        = \"Mail\"\n  mailbox_ids_file    = \"mailboxes.txt\"\n  wait_for_completion = true\n  timeouts {\n    create = \"5m\"\n  }\n";
        env.write_config(&tenant_config(&tenant, "", body));
        env.admin.reset_requests();
        env.apply()
            .expect_code(0, "a policy of 2,000 mailboxes from a file");
        assert_eq!(
            posts_to(env, "mailboxProtectionUnitsBulkAdditionJobs"),
            1,
            "the 1,950 ids beyond the POST go through one bulk job"
        );
        let state = policy_state(env);
        let policy_id = state["policy_id"].as_str().expect("created").to_string();
        assert_eq!(units_of(env, &tenant, &policy_id), 2000);
        assert_eq!(state["unit_count"], 2000);
        assert_eq!(state["pending_unit_count"], 0, "waited: {state}");
        assert_eq!(state["mailbox_ids"], Value::Null);
        assert_eq!(state["ids_sha256"].as_str().map(str::len), Some(64));
        let raw = std::fs::read_to_string(env.work_dir().join("terraform.tfstate")).unwrap();
        assert!(!raw.contains(&all[1234]), "no id in state");
        env.plan().expect_code(0, "clean after create");

        // Ten out, ten in.
        let mut changed: Vec<String> = all[10..].to_vec();
        changed.extend(ids(10, 0xA_0000));
        write_file(&changed);
        env.plan()
            .expect_code(2, "the file changed")
            .expect_contains("+10 / −10", "the plan says how much");
        env.apply().expect_code(0, "ten out, ten in");
        assert_eq!(units_of(env, &tenant, &policy_id), 2000);
        let held = protection(env, &tenant);
        let units = held["units"].as_array().unwrap();
        let present = |id: &str| {
            units.iter().any(|u| {
                u["policyId"] == policy_id.as_str() && u["removed"] != true && u["resource"] == id
            })
        };
        assert!(present(&changed[1999]) && !present(&all[0]));
        env.plan().expect_code(0, "clean after the change");

        // Both forms at once is a configuration error.
        let both = format!("{body}  mailbox_ids = {}\n", hcl_set(&ids(1, 0x5000)));
        env.write_config(&tenant_config(&tenant, "", &both));
        env.plan()
            .expect_code(1, "inline and file conflict")
            .expect_contains("Conflicting mailbox_ids and mailbox_ids_file", "names both");

        // Either form chosen by a variable is no conflict: unknown at validate, one at plan.
        let chosen = "variable \"mailboxes\" {\n  type    = set(string)\n  default = null\n}\n\n\
                      resource \"m365backup_exchange_protection_policy\" \"chosen\" {\n  tenant_id        = \"00000000-0000-0000-0000-000000000001\"\n  display_name     = \"chosen\"\n  mailbox_ids      = var.mailboxes\n  mailbox_ids_file = var.mailboxes == null ? \"mailboxes.txt\" : null\n}\n";
        env.write_config(chosen);
        env.tf(&["validate", "-no-color"])
            .expect_code(0, "a set or a file chosen by a variable validates");
    });
}

#[test]
fn a_lost_answer_to_a_bulk_job_post_adopts_the_job_instead_of_a_second_one() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        env.write_config(&tenant_config(
            &tenant,
            "",
            "  display_name = \"Mail\"\n  mailbox_ids  = []\n",
        ));
        env.apply().expect_code(0, "an empty policy");
        let policy_id = policy_state(env)["policy_id"].as_str().unwrap().to_string();
        // 600 mailboxes are more than the bulk threshold (500): one bulk addition job.
        let body = format!(
            "  display_name = \"Mail\"\n  mailbox_ids  = {}\n",
            hcl_set(&ids(600, 0x6_1000))
        );
        env.write_config(&tenant_config(&tenant, "", &body));
        env.admin.fault(json!({
            "method": "POST",
            "path_prefix": format!("/v1.0/solutions/backupRestore/exchangeProtectionPolicies/{policy_id}/mailboxProtectionUnitsBulkAdditionJobs"),
            "drop": "after",
            "count": 1
        }));
        env.admin.reset_requests();
        env.apply()
            .expect_code(0, "the change converges despite the lost answer");
        assert_eq!(
            posts_to(env, "/mailboxProtectionUnitsBulkAdditionJobs"),
            1,
            "no second POST: the job was found by its name and adopted"
        );
        let jobs = protection(env, &tenant)["bulkAdditionJobs"].clone();
        assert_eq!(jobs.as_array().map(Vec::len), Some(1), "one job: {jobs}");
        assert_eq!(units_of(env, &tenant, &policy_id), 600);
        env.plan().expect_code(0, "clean afterwards");
    });
}

#[test]
fn a_lost_answer_to_the_creating_post_adopts_the_policy_instead_of_a_duplicate() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let body = format!(
            "  display_name = \"Mail\"\n  mailbox_ids  = {}\n",
            hcl_set(&ids(3, 0x6000))
        );
        env.write_config(&tenant_config(&tenant, "", &body));
        env.admin.fault(json!({
            "method": "POST",
            "path_prefix": "/v1.0/solutions/backupRestore/exchangeProtectionPolicies",
            "drop": "after",
            "count": 1
        }));
        env.admin.reset_requests();
        env.apply()
            .expect_code(0, "the create converges despite the lost answer");
        let requests = env.admin.requests();
        assert!(
            requests
                .iter()
                .any(|r| r["method"] == "POST" && !r["fault"].is_null()),
            "the fault hit the create: {requests:?}"
        );
        assert_eq!(
            posts_to(env, "/exchangeProtectionPolicies"),
            1,
            "no second POST: the policy was found and adopted"
        );
        let policies = protection(env, &tenant)["policies"].clone();
        assert_eq!(
            policies.as_array().unwrap().len(),
            1,
            "one policy: {policies}"
        );
        let state = policy_state(env);
        assert_eq!(state["policy_id"], policies[0]["id"], "state has it");
        assert_eq!(policies[0]["isEnabled"], true);
        env.plan().expect_code(0, "clean after adoption");
    });
}

#[test]
fn ctrl_c_during_a_large_create_sends_no_new_chunk_and_the_next_apply_finishes() {
    const POLICIES: &str = "/v1.0/solutions/backupRestore/exchangeProtectionPolicies";
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let all = ids(170, 0x7000); // POST 50, PATCH 50 + 50 + 20, activate
        env.write_config(&tenant_config(
            &tenant,
            "",
            &format!(
                "  display_name = \"Mail\"\n  mailbox_ids  = {}\n",
                hcl_set(&all)
            ),
        ));
        // The first chunk is slow: the interrupt arrives while it is in flight.
        env.admin.fault(
            json!({"method": "PATCH", "path_prefix": POLICIES, "delay_ms": 3000, "count": 1}),
        );
        let text = apply_interrupted(
            env,
            |r| r["method"] == "POST" && r["path"] == POLICIES,
            || {},
        );
        let requests = env.admin.requests();
        let patches = requests.iter().filter(|r| r["method"] == "PATCH").count();
        assert_eq!(
            patches, 1,
            "the chunk in flight finished, no new one started:\n{text}"
        );
        assert!(
            !requests.iter().any(|r| r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/activate") && p.contains("protectionPolicies"))),
            "no activation after Ctrl-C"
        );
        let state = policy_state(env);
        let policy_id = state["policy_id"].as_str().expect("recorded").to_string();
        assert_eq!(units_of(env, &tenant, &policy_id), 100);
        env.apply().expect_code(0, "the next apply sends the rest");
        assert_eq!(units_of(env, &tenant, &policy_id), 170);
        assert_eq!(protection(env, &tenant)["policies"][0]["isEnabled"], true);
        assert_eq!(
            protection(env, &tenant)["policies"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        env.plan().expect_code(0, "clean");
    });
}

#[test]
fn a_unit_removed_outside_terraform_is_planned_back_and_unit_errors_are_warnings() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let mailboxes = ids(10, 0x8000);
        let body = format!(
            "  display_name = \"Mail\"\n  mailbox_ids  = {}\n",
            hcl_set(&mailboxes)
        );
        env.write_config(&tenant_config(&tenant, "", &body));
        env.apply().expect_code(0, "create");
        let policy_id = policy_state(env)["policy_id"].as_str().unwrap().to_string();
        let unit = |mailbox: &str| {
            protection(env, &tenant)["units"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["resource"] == mailbox && u["removed"] != true)
                .map(|u| u["id"].as_str().unwrap().to_string())
        };
        let gone = unit(&mailboxes[3]).expect("unit of mailbox 3");
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/as-admin"),
            json!({
                "method": "PATCH",
                "path": format!("/solutions/backupRestore/exchangeProtectionPolicies/{policy_id}"),
                "body": {"mailboxProtectionUnits@delta": [{"@removed": {"reason": "changed"}, "id": gone}]}
            }),
        );
        assert_eq!(units_of(env, &tenant, &policy_id), 9, "removed by an admin");
        env.plan()
            .expect_code(2, "the removed mailbox is planned back")
            .expect_contains(&mailboxes[3], "names it");
        env.apply().expect_code(0, "put back");
        assert!(unit(&mailboxes[3]).is_some());
        env.plan().expect_code(0, "clean after the drift is undone");

        // A unit Microsoft 365 failed to protect: a warning with its code, never an error.
        let failing = unit(&mailboxes[5]).unwrap();
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/unit-errors"),
            json!({"unit_ids": [failing], "code": "MailboxNotFound", "message": "The mailbox is gone."}),
        );
        env.plan()
            .expect_code(0, "a failed unit is no diff")
            .expect_contains("MailboxNotFound", "the warning carries Graph's code");
        assert_eq!(
            policy_state(env)["failed_unit_count"],
            0,
            "plan does not write state"
        );
        env.tf(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
            .expect_code(0, "refresh");
        assert_eq!(policy_state(env)["failed_unit_count"], 1);
    });
}

#[test]
fn a_wait_that_runs_out_warns_and_a_plan_while_the_bulk_job_runs_adds_nothing_twice() {
    for_each_terraform(|env| {
        // Default processing delays: the emulator's virtual clock holds the job until advanced.
        let tenant = env.tenant("none");
        let all = ids(600, 0xB000);
        let text = all.join("\n");
        std::fs::write(env.work_dir().join("mailboxes.txt"), text).unwrap();
        let body = "  display_name        = \"Mail\"\n  mailbox_ids_file    = \"mailboxes.txt\"\n  wait_for_completion = true\n  timeouts {\n    create = \"2s\"\n  }\n";
        env.write_config(&tenant_config(&tenant, "", body));
        env.apply()
            .expect_code(
                0,
                "create: 50 in the POST, 550 in a job; a wait that runs out is no error",
            )
            .expect_contains("still processing", "the expired wait is a warning")
            .expect_contains("timeouts.create", "it names the timeout");
        let jobs = protection(env, &tenant)["bulkAdditionJobs"].clone();
        assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
        assert_eq!(jobs[0]["status"], "active", "the job still runs: {jobs}");
        assert_eq!(
            policy_state(env)["pending_job_count"],
            1,
            "the running job is counted"
        );
        env.admin.reset_requests();
        env.plan()
            .expect_code(0, "the running job's inputs count as present");
        // The refresh counts the running jobs and the plan needs them again: one lookup.
        let job_lists = (env.admin.requests().iter())
            .filter(|r| {
                r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/mailboxProtectionUnitsBulkAdditionJobs"))
            })
            .count();
        assert_eq!(job_lists, 1, "{:#?}", env.admin.requests());
        env.admin
            .post("/_emulator/clock/advance", json!({ "seconds": 3600 }));
        env.plan().expect_code(0, "clean once the job is done");
        let policy_id = policy_state(env)["policy_id"].as_str().unwrap().to_string();
        assert_eq!(units_of(env, &tenant, &policy_id), 600);
        assert_eq!(posts_to(env, "mailboxProtectionUnitsBulkAdditionJobs"), 0);
        env.tf(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
            .expect_code(0, "refresh");
        assert_eq!(
            policy_state(env)["pending_job_count"],
            0,
            "counted until it ended"
        );
    });
}

/// An Exchange policy resource block named `name` (for a second policy in one configuration).
fn extra_policy(tenant: &str, name: &str, display_name: &str) -> String {
    format!(
        "\nresource \"m365backup_exchange_protection_policy\" \"{name}\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"{display_name}\"\n  mailbox_ids  = []\n  depends_on   = [m365backup_billing_enablement.this]\n}}\n"
    )
}

/// How many live units each mailbox has in the policy (a duplicate shows as 2).
fn units_per_mailbox(env: &Env, tenant: &str, policy_id: &str) -> Vec<(String, usize)> {
    let held = protection(env, tenant);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for unit in held["units"].as_array().into_iter().flatten() {
        if unit["policyId"] == policy_id && unit["removed"] != true {
            let resource = unit["resource"].as_str().unwrap_or_default().to_lowercase();
            *counts.entry(resource).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

#[test]
fn an_empty_policy_then_retention_a_lost_patch_answer_and_two_active_policies_in_one_configuration()
{
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let policy = |ids: &[String], extra: &str| {
            format!(
                "  display_name = \"Mail\"\n  mailbox_ids  = {}\n{extra}",
                hcl_set(ids)
            )
        };
        env.write_config(&tenant_config(&tenant, "", &policy(&[], "")));
        env.apply().expect_code(0, "a policy with 0 units");
        let state = policy_state(env);
        let policy_id = state["policy_id"].as_str().expect("created").to_string();
        assert_eq!(state["unit_count"], 0);
        assert_eq!(state["pending_job_count"], 0);
        assert_eq!(state["mailbox_ids"], json!([]), "managed, and empty");
        let held = protection(env, &tenant)["policies"][0].clone();
        assert_eq!(
            held["isEnabled"], true,
            "an empty policy is activated: {held}"
        );
        env.plan().expect_code(0, "clean after the empty create");

        // Retention: the plan warns, apply sends it, the next plan is clean.
        let longer = policy(&[], "  retention_period = \"P730D\"\n");
        env.write_config(&tenant_config(&tenant, "", &longer));
        env.plan()
            .expect_code(2, "the retention change is planned")
            .expect_contains("Retention of policy", "the plan warns")
            .expect_contains("grows the backup storage", "says what lengthening costs");
        env.admin.reset_requests();
        env.apply().expect_code(0, "retention applied");
        let patches = env.admin.requests();
        assert!(
            patches.iter().any(|r| r["method"] == "PATCH"),
            "apply sent the retention: {patches:?}"
        );
        let held = protection(env, &tenant)["policies"][0].clone();
        assert_eq!(held["retentionPeriod"], "P730D", "{held}");
        assert_eq!(policy_state(env)["retention_period"], "P730D");
        env.plan()
            .expect_code(0, "clean after the retention change");

        // The answer to a unit PATCH is lost after Graph applied it.
        let three = ids(3, 0xC000);
        env.write_config(&tenant_config(
            &tenant,
            "",
            &policy(&three, "  retention_period = \"P730D\"\n"),
        ));
        env.admin.fault(json!({
            "method": "PATCH",
            "path_prefix": format!("/v1.0/solutions/backupRestore/exchangeProtectionPolicies/{policy_id}"),
            "drop": "after",
            "count": 1
        }));
        env.admin.reset_requests();
        let first = env.apply();
        let requests = env.admin.requests();
        assert!(
            requests
                .iter()
                .any(|r| r["method"] == "PATCH" && !r["fault"].is_null()),
            "the fault hit the unit PATCH: {requests:?}"
        );
        if first.code != 0 {
            env.apply().expect_code(0, "the next apply converges");
        }
        let expected: Vec<(String, usize)> = {
            let mut ids: Vec<String> = three.iter().map(|id| id.to_lowercase()).collect();
            ids.sort();
            ids.into_iter().map(|id| (id, 1)).collect()
        };
        assert_eq!(
            units_per_mailbox(env, &tenant, &policy_id),
            expected,
            "each mailbox once, no duplicate unit"
        );
        env.plan().expect_code(0, "clean after the lost answer");

        // Two active policies of one workload in one configuration: a plan-time error.
        let mut two = tenant_config(
            &tenant,
            "",
            &policy(&three, "  retention_period = \"P730D\"\n"),
        );
        two.push_str(&extra_policy(&tenant, "second", "Mail 2"));
        env.write_config(&two);
        env.plan()
            .expect_code(1, "two active policies of one workload")
            .expect_contains(
                "Two active exchange protection policies",
                "the error says what",
            )
            .expect_contains("Mail 2", "and names the policies");
        assert_eq!(
            protection(env, &tenant)["policies"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "nothing was created"
        );
    });
}

#[test]
fn another_active_policy_made_outside_terraform_defers_the_create_until_it_is_inactive() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let as_admin = |method: &str, path: String, body: Value| {
            env.admin.post(
                &format!("/_emulator/tenants/{tenant}/as-admin"),
                json!({ "method": method, "path": path, "body": body }),
            )
        };
        let other = as_admin(
            "POST",
            "/solutions/backupRestore/exchangeProtectionPolicies".into(),
            json!({ "displayName": "Admin mail" }),
        );
        let other_id = other["id"]
            .as_str()
            .expect("created by the admin")
            .to_string();
        as_admin(
            "POST",
            format!("/solutions/backupRestore/protectionPolicies/{other_id}/activate"),
            json!({}),
        );
        let body = format!(
            "  display_name = \"Mail\"\n  mailbox_ids  = {}\n",
            hcl_set(&ids(2, 0xD000))
        );
        env.write_config(&tenant_config(&tenant, "", &body));
        env.apply()
            .expect_code(0, "another active policy is a deferral, not an error")
            .expect_contains("\"Admin mail\"", "the warning names the other policy")
            .expect_contains(&format!("{tenant}/{other_id}"), "and how to import it");
        let state = policy_state(env);
        assert_eq!(state["policy_id"], Value::Null, "deferred: {state}");
        let reason = state["deferred_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("Admin mail"), "{reason}");
        assert_eq!(
            protection(env, &tenant)["policies"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "no second policy"
        );
        env.plan()
            .expect_code(0, "still held: no change proposed")
            .expect_contains("\"Admin mail\"", "the plan says why");

        as_admin(
            "POST",
            format!("/solutions/backupRestore/protectionPolicies/{other_id}/deactivate"),
            json!({}),
        );
        env.plan()
            .expect_code(2, "the create is proposed once the other is inactive");
        env.apply().expect_code(0, "created");
        let state = policy_state(env);
        assert!(state["policy_id"].is_string(), "{state}");
        assert_eq!(state["deferred_reason"], Value::Null);
        env.plan().expect_code(0, "clean");
    });
}

#[test]
fn a_file_backed_set_of_20000_mailboxes_is_created_and_the_next_plan_is_clean() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let all = ids(20_000, 0x10_0000);
        std::fs::write(env.work_dir().join("mailboxes.txt"), all.join("\n")).unwrap();
        let body = "  display_name        = \"Mail\"\n  mailbox_ids_file    = \"mailboxes.txt\"\n  wait_for_completion = true\n";
        env.write_config(&tenant_config(&tenant, "", body));
        env.apply().expect_code(0, "20,000 mailboxes from a file");
        let state = policy_state(env);
        let policy_id = state["policy_id"].as_str().expect("created").to_string();
        assert_eq!(state["unit_count"], 20_000, "{state}");
        assert_eq!(state["pending_job_count"], 0, "waited for the job");
        assert_eq!(units_of(env, &tenant, &policy_id), 20_000);
        env.plan().expect_code(0, "clean after the create");
    });
}

#[test]
fn an_inline_set_above_two_thousand_ids_validates_with_a_warning_that_names_the_file() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        let policy = |n: usize| {
            format!(
                "resource \"m365backup_exchange_protection_policy\" \"mail\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"Mail\"\n  mailbox_ids  = {}\n}}\n",
                hcl_set(&ids(n, 0x1e00))
            )
        };
        env.write_config(&policy(2_000));
        let quiet = env.tf(&["validate", "-no-color"]);
        quiet.expect_code(0, "validate 2,000 ids");
        assert!(!quiet.combined().contains("large for an inline set"));

        env.write_config(&policy(2_001));
        let run = env.tf(&["validate", "-no-color"]);
        run.expect_code(0, "validate 2,001 ids: a warning, not an error");
        let text = run.combined();
        assert!(
            text.contains("mailbox_ids is large for an inline set"),
            "{text}"
        );
        assert!(text.contains("2,001 ids"), "{text}");
        assert!(text.contains("mailbox_ids_file"), "{text}");
    });
}

#[test]
fn activating_a_policy_while_another_is_active_waits_with_a_warning_then_goes_ahead() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let mailboxes = hcl_set(&ids(2, 0xA000));
        let config = |extra: &str| {
            tenant_config(
                &tenant,
                "",
                &format!("  display_name = \"Mail\"\n  mailbox_ids  = {mailboxes}\n{extra}"),
            )
        };
        env.write_config(&config("  active       = false\n"));
        env.apply().expect_code(0, "an inactive policy");
        let ours = policy_state(env)["policy_id"].as_str().unwrap().to_string();

        // Meanwhile an administrator activates another Exchange policy.
        let as_admin = |method: &str, path: String| {
            env.admin.post(
                &format!("/_emulator/tenants/{tenant}/as-admin"),
                json!({ "method": method, "path": path, "body": {"displayName": "Admin mail"} }),
            )
        };
        let other = as_admin(
            "POST",
            "/solutions/backupRestore/exchangeProtectionPolicies".into(),
        );
        let other_id = other["id"].as_str().expect("created").to_string();
        as_admin(
            "POST",
            format!("/solutions/backupRestore/protectionPolicies/{other_id}/activate"),
        );
        let enabled = |env: &Env, id: &str| {
            protection(env, &tenant)["policies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id)
                .map(|p| p["isEnabled"].clone())
        };

        env.write_config(&config(""));
        env.apply()
            .expect_code(0, "a tenant condition: a warning, not an error")
            .expect_contains("\"Admin mail\"", "the warning names the active policy")
            .expect_contains(&format!("{tenant}/{other_id}"), "and how to import it");
        assert_eq!(enabled(env, &ours), Some(json!(false)), "still inactive");
        let state = policy_state(env);
        let reason = state["deferred_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("Admin mail"), "{state}");
        env.plan()
            .expect_code(2, "the activation is proposed again while it waits");

        as_admin(
            "POST",
            format!("/solutions/backupRestore/protectionPolicies/{other_id}/deactivate"),
        );
        env.apply()
            .expect_code(0, "activated once the other is inactive");
        assert_eq!(enabled(env, &ours), Some(json!(true)));
        assert_eq!(policy_state(env)["deferred_reason"], Value::Null);
        env.plan().expect_code(0, "clean");
    });
}
