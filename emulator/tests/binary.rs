//! The `m365backup-emulator` binary: output contract, SIGTERM, and state kept across restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Running {
    child: Child,
    lines: Vec<String>,
}

fn start(dir: &std::path::Path, print_env: bool, expect_lines: usize) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_m365backup-emulator"));
    cmd.args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if print_env {
        cmd.arg("--print-env");
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..expect_lines {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_string());
    }
    Running { child, lines }
}

fn stop(mut r: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        if let Some(s) = r.child.try_wait().unwrap() {
            assert!(s.success(), "exit status {s}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = r.child.kill();
    panic!("the emulator did not stop on SIGTERM");
}

/// Parses `export NAME='value'` lines.
fn exports(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("export ").expect(l);
            let (k, v) = rest.split_once('=').unwrap();
            let v = v.strip_prefix('\'').unwrap().strip_suffix('\'').unwrap();
            (k.to_string(), v.replace("'\\''", "'"))
        })
        .collect()
}

fn client(ca: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn print_env_sigterm_and_restart_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");

    let r = start(&state, true, 8);
    let env = exports(&r.lines);
    let names: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
    for must in [
        "M365BACKUP_EMULATOR_URL",
        "M365BACKUP_GRAPH_ENDPOINT",
        "M365BACKUP_AUTHORITY_HOST",
        "SSL_CERT_FILE",
        "ARM_CLIENT_ID",
        "ARM_CLIENT_SECRET",
        "ARM_TENANT_ID",
        "M365BACKUP_DELEGATED_REFRESH_TOKEN",
    ] {
        assert!(names.contains(&must), "{must} missing from {names:?}");
    }
    let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let url = get("M365BACKUP_EMULATOR_URL");
    assert!(url.starts_with("https://127.0.0.1:"));
    assert_eq!(get("M365BACKUP_GRAPH_ENDPOINT"), url);
    let bundle = std::fs::read_to_string(get("SSL_CERT_FILE")).unwrap();
    let ca_pem = std::fs::read_to_string(state.join("ca.pem")).unwrap();
    assert!(
        bundle.contains(ca_pem.trim()),
        "trust bundle includes the CA"
    );

    // the trust bundle alone is enough for a client
    let c = client(std::path::Path::new(&get("SSL_CERT_FILE")));
    let tenant = uuid::Uuid::new_v4().to_string();
    let resp = c
        .put(format!("{url}/_emulator/tenants/{tenant}"))
        .json(&json!({"controller": "firstparty"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .post(format!("{url}/_emulator/clock/advance"))
        .json(&json!({"seconds": 86400 * 3}))
        .send()
        .await
        .unwrap();
    let advanced: Value = resp.json().await.unwrap();
    // the printed delegated refresh token works
    let resp = c
        .post(format!("{url}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", get("ARM_CLIENT_ID").as_str()),
            (
                "refresh_token",
                get("M365BACKUP_DELEGATED_REFRESH_TOKEN").as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    stop(r);

    // restart without --print-env: same CA, tenant and clock are still there
    let r = start(&state, false, 1);
    let line = &r.lines[0];
    let url = line
        .strip_prefix("M365BACKUP_EMULATOR_URL=")
        .expect(line)
        .to_string();
    assert_eq!(
        std::fs::read_to_string(state.join("ca.pem")).unwrap(),
        ca_pem
    );
    let c = client(&state.join("ca.pem"));
    let st: Value = c
        .get(format!("{url}/_emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        st["tenants"][&tenant]["serviceStatus"]["backupServiceConsumer"],
        "firstparty"
    );
    let clock: Value = c
        .get(format!("{url}/_emulator/clock"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(clock["now"].as_str().unwrap() >= advanced["now"].as_str().unwrap());
    stop(r);
}
