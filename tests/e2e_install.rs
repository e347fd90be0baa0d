//! Installing like a real provider: `scripts/install.sh` lays the binary out as a filesystem
//! mirror and a plain `terraform init` (no dev_overrides) installs it from there.

mod common;

use std::process::Command;

use common::*;

#[test]
fn terraform_init_installs_the_provider_from_the_mirror() {
    for bin in terraform_binaries() {
        let home = tempfile::tempdir().unwrap();
        let status = Command::new("scripts/install.sh")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HOME", home.path())
            .arg("--binary")
            .arg(provider_binary())
            .status()
            .expect("install.sh runs");
        assert!(status.success(), "install.sh failed");
        let work = home.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(
            work.join("main.tf"),
            "terraform {\n  required_providers {\n    m365backup = {\n      source  = \"m365backup/m365backup\"\n      version = \">= 0.1.0\"\n    }\n  }\n}\n",
        )
        .unwrap();
        // HOME points at the fresh home: ~/.terraform.d/plugins is Terraform's implied mirror.
        let out = Command::new(bin)
            .args(["init", "-no-color", "-input=false"])
            .current_dir(&work)
            .env("HOME", home.path())
            .env_remove("TF_CLI_CONFIG_FILE")
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "terraform init via the mirror failed ({}):\n{text}",
            bin.display()
        );
        assert!(text.contains("m365backup/m365backup"), "{text}");
        let lock = std::fs::read_to_string(work.join(".terraform.lock.hcl")).unwrap();
        assert!(
            lock.contains("registry.terraform.io/m365backup/m365backup"),
            "{lock}"
        );
        let schema = Command::new(bin)
            .args(["providers", "schema", "-json"])
            .current_dir(&work)
            .env("HOME", home.path())
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&schema.stdout).expect("schema JSON");
        let provider = &json["provider_schemas"]["registry.terraform.io/m365backup/m365backup"];
        assert!(provider["resource_schemas"]["m365backup_service_app"].is_object());
    }
}
