//! The recipes of `docs/guides/testing-with-the-emulator.md` and `examples/emulator-quickstart`
//! keep working as printed: the `terraform test` file, the CI job's apply / plan / destroy with
//! `allow_unregister_while_active`, and the takeover scenario with `effective_after` and the
//! emulator's clock (advanced last).

mod common;

use common::*;
use serde_json::{Value, json};

const ALLOW: &str = "allow_unregister_while_active=true";

fn output(env: &Env, name: &str) -> Value {
    let run = env.tf(&["output", "-json", name]);
    assert_eq!(run.code, 0, "terraform output {name}: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("output JSON")
}

#[test]
fn the_quickstart_terraform_test_file_passes_and_cleans_up() {
    for_each_terraform(|env| {
        if env.version_tuple() < (1, 6) {
            eprintln!(
                "terraform test needs Terraform 1.6; {} has none",
                env.version
            );
            return;
        }
        env.use_example("emulator-quickstart");
        let tests = env.work_dir().join("tests");
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/emulator-quickstart/tests/onboarding.tftest.hcl"),
            tests.join("onboarding.tftest.hcl"),
        )
        .unwrap();
        env.tf(&["test", "-no-color"])
            .expect_code(0, "terraform test")
            .expect_contains("1 passed, 0 failed", "the run passed");
        // The teardown unregistered the app: nothing is left in Terraform's test state to clean up.
        let apps =
            env.admin.tenant_state(m365backup_emulator::demo::TENANT_ID)["serviceApps"].clone();
        assert_eq!(apps, json!([]), "the test's destroy unregistered the app");
    });
}

#[test]
fn the_ci_job_destroys_only_with_the_safety_switch_applied() {
    for_each_terraform(|env| {
        env.use_example("emulator-quickstart");
        // Without the switch, the last step of the job fails and nothing is unregistered.
        env.apply().expect_code(0, "apply");
        env.destroy()
            .expect_code(1, "destroy of the active controller without the switch");
        // The job as printed: apply, a clean plan, destroy, each with the switch.
        env.tf(&[
            "apply",
            "-input=false",
            "-auto-approve",
            "-no-color",
            "-var",
            ALLOW,
        ])
        .expect_code(0, "apply with the switch");
        env.tf(&[
            "plan",
            "-input=false",
            "-detailed-exitcode",
            "-no-color",
            "-var",
            ALLOW,
        ])
        .expect_code(0, "the second plan is clean");
        env.tf(&[
            "destroy",
            "-input=false",
            "-auto-approve",
            "-no-color",
            "-var",
            ALLOW,
        ])
        .expect_code(0, "destroy with the switch");
    });
}

#[test]
fn the_takeover_recipe_completes_when_the_clock_is_advanced_last() {
    for_each_terraform(|env| {
        let tenant = m365backup_emulator::demo::TENANT_ID;
        env.admin.put(
            &format!("/_emulator/tenants/{tenant}"),
            json!({ "controller": "firstparty" }),
        );
        env.use_example("emulator-quickstart");
        let after = ["-var", "effective_after=8d"];
        let with = |args: &[&'static str]| -> Vec<&'static str> {
            args.iter().chain(after.iter()).copied().collect()
        };
        env.tf(&with(&["apply", "-auto-approve", "-no-color"]))
            .expect_code(0, "apply with effective_after")
            .expect_contains("Billing enablement deferred", "billing waits");
        assert_eq!(output(env, "service_app")["status"], "pendingActive");
        env.tf(&with(&["plan", "-detailed-exitcode", "-no-color"]))
            .expect_code(0, "nothing to do before the date");
        env.admin.advance_days(9);
        env.tf(&with(&["plan", "-detailed-exitcode", "-no-color"]))
            .expect_code(2, "the plan after the date proposes the enable");
        env.tf(&with(&["apply", "-auto-approve", "-no-color"]))
            .expect_code(0, "enable after the date");
        assert_eq!(
            output(env, "backup_service")["backup_service_consumer"],
            "thirdparty"
        );
    });
}
