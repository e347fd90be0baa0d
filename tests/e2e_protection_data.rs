//! The protection data sources and `m365backup_backup_notifications` through the real terraform
//! binary against the emulator: policies listed; units filtered and counted; restore points
//! found after virtual time passes and a unit reported missing once its backups stopped; unit
//! errors shown; notification settings created, drift planned back, a plan without a delegated
//! credential refused, import, destroy as state removal; notification settings of a tenant held
//! by Microsoft's controller deferred until the takeover date, then written.

mod common;

use common::*;
use serde_json::{Value, json};

fn id(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

fn hcl_list(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn advance_seconds(env: &Env, seconds: i64) {
    env.admin
        .post("/_emulator/clock/advance", json!({ "seconds": seconds }));
}

/// Controller and billing for `tenant`, then `body`.
fn tenant_config(tenant: &str, body: &str) -> String {
    tenant_config_with(tenant, "", body)
}

/// Controller (with `app_extra` in its block) and billing for `tenant`, then `body`.
fn tenant_config_with(tenant: &str, app_extra: &str, body: &str) -> String {
    let owner = m365backup_emulator::demo::TENANT_ID;
    format!(
        "{}\nresource \"m365backup_billing_enablement\" \"this\" {{\n  tenant_id           = \"{tenant}\"\n  app_owner_tenant_id = \"{owner}\"\n  depends_on          = [m365backup_service_app.this]\n}}\n\n{body}\n",
        service_app_block("this", tenant, app_extra)
    )
}

fn policies(tenant: &str, mailboxes: &[String], drives: &[String]) -> String {
    format!(
        "resource \"m365backup_exchange_protection_policy\" \"mail\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"Mail\"\n  mailbox_ids  = {}\n  depends_on   = [m365backup_billing_enablement.this]\n}}\n\n\
         resource \"m365backup_onedrive_protection_policy\" \"drives\" {{\n  tenant_id    = \"{tenant}\"\n  display_name = \"Drives\"\n  user_ids     = {}\n  depends_on   = [m365backup_billing_enablement.this]\n}}\n",
        hcl_list(mailboxes),
        hcl_list(drives)
    )
}

fn outputs(env: &Env) -> Value {
    let run = env.tf(&["output", "-json", "-no-color"]);
    run.expect_code(0, "terraform output");
    let all: Value = serde_json::from_str(&run.stdout).expect("output -json");
    let mut values = serde_json::Map::new();
    for (name, o) in all.as_object().cloned().unwrap_or_default() {
        values.insert(name, o["value"].clone());
    }
    Value::Object(values)
}

const DATA: &str = r#"
data "m365backup_protection_policies" "all" {
  tenant_id  = m365backup_exchange_protection_policy.mail.tenant_id
  depends_on = [m365backup_onedrive_protection_policy.drives]
}

data "m365backup_protection_units" "mail" {
  policy_id = m365backup_exchange_protection_policy.mail.id
  statuses  = ["protected"]
}

data "m365backup_protection_units" "drives" {
  tenant_id  = m365backup_exchange_protection_policy.mail.tenant_id
  workload   = "onedrive"
  depends_on = [m365backup_onedrive_protection_policy.drives]
}

data "m365backup_protection_units" "everything" {
  tenant_id  = m365backup_exchange_protection_policy.mail.tenant_id
  depends_on = [m365backup_onedrive_protection_policy.drives]
}

data "m365backup_restore_points" "mail" {
  policy_id = m365backup_exchange_protection_policy.mail.id
}

output "policies" { value = data.m365backup_protection_policies.all.policies }
output "mail_units" { value = data.m365backup_protection_units.mail.units }
output "mail_counts" { value = data.m365backup_protection_units.mail.counts }
output "drive_units" { value = data.m365backup_protection_units.drives.units }
output "all_counts" { value = data.m365backup_protection_units.everything.counts }
output "latest" { value = data.m365backup_restore_points.mail.latest }
output "missing" { value = data.m365backup_restore_points.mail.units_without_restore_point }
"#;

#[test]
fn policies_units_and_restore_points() {
    for_each_terraform(|env| {
        fast_processing(env);
        let tenant = env.tenant("none");
        let mailboxes = vec![id(0xA1), id(0xA2), id(0xA3)];
        let drives = vec![id(0xD1)];
        let config = |mailboxes: &[String], extra: &str| {
            tenant_config(
                &tenant,
                &format!("{}\n{DATA}\n{extra}", policies(&tenant, mailboxes, &drives)),
            )
        };
        env.write_config(&config(&mailboxes, ""));
        env.apply()
            .expect_code(0, "controller, billing, two policies and the data sources");
        // An hour of virtual time: six restore points per unit.
        advance_seconds(env, 3600);
        env.apply().expect_code(0, "read the data sources again");
        let out = outputs(env);

        let listed = out["policies"].as_array().expect("policies");
        let mut workloads: Vec<&str> = listed
            .iter()
            .map(|p| p["workload"].as_str().unwrap())
            .collect();
        workloads.sort();
        assert_eq!(workloads, ["exchange", "onedrive"], "{listed:?}");
        let mail = listed.iter().find(|p| p["workload"] == "exchange").unwrap();
        assert_eq!(mail["display_name"], "Mail");
        assert_eq!(mail["is_enabled"], true);
        assert_eq!(mail["retention_period"], "P1Y");

        let units = out["mail_units"].as_array().expect("units");
        assert_eq!(units.len(), 3, "{units:?}");
        assert!(units.iter().all(|u| u["status"] == "protected"
            && u["workload"] == "exchange"
            && u["protection_sources"] == "manual"
            && u["error_code"].is_null()));
        assert_eq!(out["mail_counts"], json!({ "protected": 3 }));
        let drive_units = out["drive_units"].as_array().unwrap();
        assert_eq!(drive_units.len(), 1);
        assert_eq!(drive_units[0]["directory_object_id"], drives[0]);
        assert_eq!(out["all_counts"], json!({ "protected": 4 }));

        let latest = out["latest"].as_object().expect("latest");
        assert_eq!(
            latest.len(),
            3,
            "every protected mailbox has a restore point: {latest:?}"
        );
        let point = latest.values().next().unwrap();
        assert_eq!(
            point["fast_restore"], true,
            "10-minute points are fast-restore"
        );
        assert!(
            point["protection_date_time"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert_eq!(out["missing"], json!([]));

        // A unit error shows in the units data source.
        let unit_of = |mailbox: &str| {
            units
                .iter()
                .find(|u| u["directory_object_id"] == mailbox)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (kept, failing, removed) = (
            unit_of(&mailboxes[0]),
            unit_of(&mailboxes[1]),
            unit_of(&mailboxes[2]),
        );
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/unit-errors"),
            json!({ "unit_ids": [failing], "code": "QuotaExceeded", "message": "Mailbox quota exceeded." }),
        );
        let with_error = format!(
            "data \"m365backup_protection_units\" \"failing\" {{\n  tenant_id = \"{tenant}\"\n  workload  = \"exchange\"\n}}\n\
             output \"failing\" {{ value = [for u in data.m365backup_protection_units.failing.units : u.id if u.error_code == \"QuotaExceeded\"] }}\n"
        );
        env.write_config(&config(&mailboxes, &with_error));
        env.apply().expect_code(0, "read a unit error");
        assert_eq!(outputs(env)["failing"], json!([failing]));
        let set_error = |unit: &str, code: &str| {
            env.admin.post(
                &format!("/_emulator/tenants/{tenant}/unit-errors"),
                json!({ "unit_ids": [unit], "code": code }),
            );
        };
        set_error(&failing, "");

        // Backups of one mailbox stop (removed from the policy); two days later it is the one
        // without a restore point, while the policy's protected units are all fine.
        env.write_config(&config(&mailboxes[..2], &with_error));
        env.apply()
            .expect_code(0, "remove a mailbox from the policy");
        advance_seconds(env, 2 * 86_400);
        let explicit = format!(
            "{with_error}\ndata \"m365backup_restore_points\" \"explicit\" {{\n  tenant_id           = \"{tenant}\"\n  protection_unit_ids = {}\n  since               = \"24h\"\n}}\n\
             output \"explicit_missing\" {{ value = data.m365backup_restore_points.explicit.units_without_restore_point }}\n\
             output \"explicit_latest\" {{ value = keys(data.m365backup_restore_points.explicit.latest) }}\n",
            hcl_list(&[kept.clone(), removed.clone()])
        );
        env.write_config(&config(&mailboxes[..2], &explicit));
        env.apply()
            .expect_code(0, "read restore points two days later");
        let out = outputs(env);
        assert_eq!(out["explicit_missing"], json!([removed]));
        assert_eq!(out["explicit_latest"], json!([kept]));
        assert_eq!(
            out["missing"],
            json!([]),
            "the policy's protected units are backed up"
        );

        // A unit error stops its backups: a day later it has no recent restore point (the data
        // sources on every version; the health check block goes red on 1.5+), and once the
        // error is cleared its backups resume and the check is green again.
        let check = if env.version_tuple() >= (1, 5) {
            "check \"backed_up\" {\n  data \"m365backup_restore_points\" \"health\" {\n    policy_id = m365backup_exchange_protection_policy.mail.id\n  }\n\n  assert {\n    condition     = length(data.m365backup_restore_points.health.units_without_restore_point) == 0\n    error_message = \"Units without a restore point: ${join(\", \", data.m365backup_restore_points.health.units_without_restore_point)}\"\n  }\n}\n".to_string()
        } else {
            String::new()
        };
        let with_check = format!("{explicit}\n{check}");
        env.write_config(&config(&mailboxes[..2], &with_check));
        set_error(&kept, "QuotaExceeded");
        advance_seconds(env, 25 * 3600);
        let run = env.apply();
        run.expect_code(0, "a failed check is a warning");
        let out = outputs(env);
        assert_eq!(
            out["missing"],
            json!([kept]),
            "the failing mailbox is missing"
        );
        // protection_unit_ids is a set: Terraform hands it over sorted, not as written.
        let mut both = vec![kept.clone(), removed.clone()];
        both.sort();
        assert_eq!(out["explicit_missing"], json!(both));
        if !check.is_empty() {
            run.expect_contains(
                &format!("Units without a restore point: {kept}"),
                "the check names the unit",
            );
        }
        set_error(&kept, "");
        advance_seconds(env, 600);
        let run = env.apply();
        run.expect_code(0, "backups resumed");
        assert!(
            !run.combined().contains("Units without a restore point"),
            "the check is green again:\n{}",
            run.combined()
        );
        let out = outputs(env);
        assert_eq!(out["missing"], json!([]));
        assert_eq!(out["explicit_missing"], json!([removed]));
        env.write_config(&config(&mailboxes[..2], &explicit));

        // More than 2,000 units is a clear error.
        let many: Vec<String> = (0..2001).map(|i| id(0x5000 + i)).collect();
        env.write_config(&tenant_config(
            &tenant,
            &format!(
                "data \"m365backup_restore_points\" \"too_many\" {{\n  tenant_id           = \"{tenant}\"\n  protection_unit_ids = {}\n}}\n",
                hcl_list(&many)
            ),
        ));
        env.plan()
            .expect_code(1, "too many units")
            .expect_contains("at most 2000", "names the limit");
    });
}

const NOTIFY: &str = r#"
resource "m365backup_backup_notifications" "this" {
  tenant_id                            = m365backup_billing_enablement.this.tenant_id
  enabled                              = true
  notify_on_restore_and_policy_updates = true
  recipient_emails                     = ["Ops@Contoso.com", "secops@contoso.com"]
}
"#;

fn notifications(env: &Env, tenant: &str) -> Value {
    env.admin.post(
        &format!("/_emulator/tenants/{tenant}/as-admin"),
        json!({ "method": "GET", "path": "/v1.0/solutions/backupRestore/emailNotificationsSetting" }),
    )
}

#[test]
fn notifications_create_drift_delegated_only_import_and_destroy() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&tenant_config(&tenant, NOTIFY));
        env.apply()
            .expect_code(0, "controller, billing and notifications");
        let held = notifications(env, &tenant);
        assert_eq!(held["isEnabled"], true, "{held}");
        assert_eq!(held["additionalEvents"], "restoreAndPolicyUpdates");
        assert_eq!(held["recipients"]["role"], "custom");
        assert_eq!(
            held["recipients"]["customRecipients"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        env.plan().expect_code(0, "clean after create");

        // Drift (the admin center turns emails off): planned back.
        env.admin.post(
            &format!("/_emulator/tenants/{tenant}/as-admin"),
            json!({ "method": "PATCH", "path": "/v1.0/solutions/backupRestore/emailNotificationsSetting",
                    "body": { "isEnabled": false, "recipients": { "customRecipients": [{ "email": "ops@contoso.com" }] } } }),
        );
        env.plan().expect_code(2, "drift is planned back");
        env.apply().expect_code(0, "undo the drift");
        assert_eq!(notifications(env, &tenant)["isEnabled"], true);
        env.plan().expect_code(0, "clean after undoing the drift");

        // A 403 to the PATCH while the tenant allows protection changes is not a deferral: the
        // tenant is read again, and the apply fails with Graph's error and its request-id.
        let disabled = NOTIFY.replace("true\n  notify", "false\n  notify");
        env.write_config(&tenant_config(&tenant, &disabled));
        env.admin.fault(json!({
            "method": "PATCH",
            "path_prefix": "/v1.0/solutions/backupRestore/emailNotificationsSetting",
            "status": 403,
            "count": 1,
        }));
        let refused = env.apply();
        refused
            .expect_code(1, "a refusal the tenant does not explain")
            .expect_contains("HTTP 403", "Graph's answer")
            .expect_contains("request-id", "with its request-id");
        assert!(
            !refused
                .combined()
                .contains("Backup notification settings of tenant"),
            "not a deferral: {}",
            refused.combined()
        );
        assert_eq!(notifications(env, &tenant)["isEnabled"], true);
        env.write_config(&tenant_config(&tenant, NOTIFY));
        env.plan().expect_code(0, "nothing was changed");

        // Without a delegated credential, a plan that changes the settings fails and says how
        // to sign in; one that changes nothing is fine.
        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.plan()
            .expect_code(0, "no change, no delegated credential needed");
        env.write_config(&tenant_config(
            &tenant,
            &NOTIFY.replace("true\n  notify", "false\n  notify"),
        ));
        env.plan()
            .expect_code(1, "a change without a delegated credential")
            .expect_contains("A delegated sign-in is needed", "says why")
            .expect_contains("terraform-provider-m365backup login --tenant", "says how");
        env.reset_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.write_config(&tenant_config(&tenant, NOTIFY));

        // Import into a fresh state: the next plan is clean.
        env.tf(&["state", "rm", "m365backup_backup_notifications.this"])
            .expect_code(0, "state rm");
        env.tf(&[
            "import",
            "-no-color",
            "m365backup_backup_notifications.this",
            &tenant,
        ])
        .expect_code(0, "import by tenant id");
        env.plan().expect_code(0, "clean after import");

        // Destroy forgets the settings and says so.
        env.tf(&[
            "destroy",
            "-auto-approve",
            "-no-color",
            "-target=m365backup_backup_notifications.this",
        ])
        .expect_code(0, "destroy")
        .expect_contains("left as they are", "warns that Graph keeps them");
        assert_eq!(notifications(env, &tenant)["isEnabled"], true);
    });
}

/// Requests to the notification settings since the last reset, by method.
fn notification_calls(env: &Env, method: &str) -> usize {
    env.admin
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == method
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("emailNotificationsSetting"))
        })
        .count()
}

#[test]
fn notifications_wait_for_the_takeover_date_then_are_written() {
    for_each_terraform(|env| {
        // Microsoft's controller holds the tenant: our app is pendingActive until the date and
        // Graph refuses the PATCH (403) until then.
        let tenant = env.tenant("firstparty");
        let before = notifications(env, &tenant);
        env.write_config(&tenant_config_with(
            &tenant,
            "  effective_after = \"8d\"",
            NOTIFY,
        ));
        env.admin.reset_requests();
        env.apply()
            .expect_code(0, "held by Microsoft's controller: nothing fails")
            .expect_contains(
                &format!("Backup notification settings of tenant {tenant} deferred"),
                "the deferral names the tenant",
            )
            .expect_contains("protection changes wait for", "and what it waits for");
        assert_eq!(
            notification_calls(env, "PATCH"),
            0,
            "no PATCH while deferred"
        );
        assert_eq!(notifications(env, &tenant), before, "Graph unchanged");
        let state = env
            .resource("m365backup_backup_notifications.this")
            .expect("recorded in state");
        assert_eq!(state["id"], Value::Null, "never written: {state}");
        assert!(
            state["deferred_reason"]
                .as_str()
                .is_some_and(|r| r.contains(&tenant) && r.contains("to become active")),
            "the reason names the tenant: {state}"
        );
        assert_eq!(state["enabled"], true, "the configuration is recorded");
        assert_eq!(state["recipient_emails"].as_array().map(Vec::len), Some(2));

        // Destroying settings that were never written changes nothing and says nothing about
        // settings left in Graph; the next apply records them as deferred again.
        let destroyed = env.tf(&[
            "destroy",
            "-auto-approve",
            "-no-color",
            "-target=m365backup_backup_notifications.this",
        ]);
        destroyed.expect_code(0, "destroy of deferred settings");
        assert!(
            !destroyed.combined().contains("left as they are"),
            "nothing was left in Graph: {}",
            destroyed.combined()
        );
        assert!(
            env.resource("m365backup_backup_notifications.this")
                .is_none()
        );
        env.apply().expect_code(0, "deferred again");
        assert_eq!(notification_calls(env, "PATCH"), 0);

        // Before the date: no change, no read of the deferred settings, and no delegated
        // credential needed.
        env.admin.reset_requests();
        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.plan()
            .expect_code(0, "nothing to do while the app is pendingActive")
            .expect_contains(&tenant, "the warning names the tenant");
        assert_eq!(
            notification_calls(env, "GET"),
            0,
            "a deferred read makes no call"
        );
        // A configuration change while deferred is recorded without a Graph call.
        env.write_config(&tenant_config_with(
            &tenant,
            "  effective_after = \"8d\"",
            &NOTIFY.replace("\"secops@contoso.com\"", "\"soc@contoso.com\""),
        ));
        env.apply()
            .expect_code(0, "a change while deferred, without a delegated credential");
        assert_eq!(notification_calls(env, "PATCH"), 0);
        env.plan().expect_code(0, "clean while deferred");
        env.reset_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");

        // After the date the plan proposes the write, saying why, and the apply makes it.
        env.admin.advance_days(11);
        env.plan()
            .expect_code(2, "the deferred settings are proposed")
            .expect_contains(
                &format!(
                    "Deferred backup notification settings of tenant {tenant} can be written now"
                ),
                "says why",
            );
        env.apply().expect_code(0, "billing, then the settings");
        let held = notifications(env, &tenant);
        assert_eq!(held["isEnabled"], true, "{held}");
        assert_eq!(held["additionalEvents"], "restoreAndPolicyUpdates");
        let emails: Vec<String> = held["recipients"]["customRecipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["email"].as_str().unwrap().to_ascii_lowercase())
            .collect();
        assert_eq!(emails.len(), 2, "{held}");
        assert!(emails.contains(&"soc@contoso.com".to_string()), "{held}");
        let state = env
            .resource("m365backup_backup_notifications.this")
            .unwrap();
        assert_eq!(state["deferred_reason"], Value::Null, "{state}");
        assert_eq!(state["id"], json!(tenant));
        env.plan().expect_code(0, "clean after the write");

        // State written before `deferred_reason` existed still loads.
        let path = env.work_dir().join("terraform.tfstate");
        let mut tfstate: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for resource in tfstate["resources"].as_array_mut().unwrap() {
            if resource["type"] == "m365backup_backup_notifications" {
                for instance in resource["instances"].as_array_mut().unwrap() {
                    instance["attributes"]
                        .as_object_mut()
                        .unwrap()
                        .remove("deferred_reason");
                }
            }
        }
        std::fs::write(&path, serde_json::to_string_pretty(&tfstate).unwrap()).unwrap();
        env.plan()
            .expect_code(0, "a state without deferred_reason loads and plans clean");
    });
}
