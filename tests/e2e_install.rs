//! Installing like a real provider: `scripts/install.sh` lays the binary out as a filesystem
//! mirror and a plain `terraform init` (no dev_overrides) installs it from there. It also puts
//! `terraform-provider-m365backup` (and, with `--with-emulator`, `m365backup-emulator`) on the
//! user's PATH, in `~/.local/bin`, as the docs say.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `<os>_<arch>` as Terraform names the platform.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// The emulator binary of the same build as the provider (built on demand when only the
/// provider's tests were compiled).
fn emulator_binary() -> PathBuf {
    let path = provider_binary().with_file_name("m365backup-emulator");
    if !path.is_file() {
        let release = provider_binary()
            .parent()
            .is_some_and(|d| d.ends_with("release"));
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args([
            "build",
            "-p",
            "m365backup-emulator",
            "--bin",
            "m365backup-emulator",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("cargo runs").success(),
            "building the emulator failed"
        );
    }
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// PATH without any `.local/bin`, so that the test sees what a user without it sees.
fn plain_path() -> String {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.ends_with(".local/bin"))
        .collect::<Vec<_>>()
        .join(":")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.env_remove("RUST_BACKTRACE").output().expect("runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn install_puts_both_commands_on_the_path_and_names_the_mirror_file() {
    let home = tempfile::tempdir().unwrap();
    let (ok, text) = run(Command::new("scripts/install.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home.path())
        .env("PATH", plain_path())
        .arg("--binary")
        .arg(provider_binary())
        .arg("--emulator-binary")
        .arg(emulator_binary()));
    assert!(ok, "install.sh failed:\n{text}");
    let bin_dir = home.path().join(".local/bin");
    let file = home.path().join(format!(
        ".terraform.d/plugins/registry.terraform.io/m365backup/m365backup/{VERSION}/{}/terraform-provider-m365backup_v{VERSION}",
        platform()
    ));
    assert!(file.is_file(), "{} is missing:\n{text}", file.display());
    // The script names what it installed, and where.
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(
        text.contains(
            &bin_dir
                .join("terraform-provider-m365backup")
                .display()
                .to_string()
        ),
        "{text}"
    );
    assert!(
        text.contains(&bin_dir.join("m365backup-emulator").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} is not on your PATH", bin_dir.display())),
        "{text}"
    );
    let link = bin_dir.join("terraform-provider-m365backup");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(link.canonicalize().unwrap(), file.canonicalize().unwrap());
    // Both commands run by name once ~/.local/bin is on PATH.
    let path = format!("{}:{}", bin_dir.display(), plain_path());
    for command in ["terraform-provider-m365backup", "m365backup-emulator"] {
        let (ok, text) = run(Command::new("bash")
            .args(["-c", &format!("{command} --version")])
            .env("PATH", &path));
        assert!(ok, "{command} --version:\n{text}");
        assert!(text.contains(VERSION), "{command} --version: {text}");
    }
    // Installing again replaces both (the link is not followed into the old file).
    let (ok, text) = run(Command::new("scripts/install.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home.path())
        .env("PATH", &path)
        .arg("--binary")
        .arg(provider_binary())
        .arg("--emulator-binary")
        .arg(emulator_binary()));
    assert!(ok, "second install.sh failed:\n{text}");
    assert!(!text.contains("is not on your PATH"), "{text}");
}

/// The command the docs print to find the binary `terraform init` installed.
fn find_installed(work: &Path) -> String {
    let (ok, text) = run(Command::new("bash")
        .args([
            "-c",
            "find -L .terraform/providers -name 'terraform-provider-m365backup_v*' -type f",
        ])
        .current_dir(work));
    assert!(ok, "{text}");
    text.trim().to_string()
}

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
        // The docs' `find -L` finds the installed file (through Terraform's symbolic links), and
        // it answers `--version`.
        let found = find_installed(&work);
        assert_eq!(found.lines().count(), 1, "{found}");
        assert!(
            found.ends_with(&format!("terraform-provider-m365backup_v{VERSION}")),
            "{found}"
        );
        let (ok, text) = run(Command::new(work.join(&found)).arg("--version"));
        assert!(ok && text.contains(VERSION), "{found} --version: {text}");
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
