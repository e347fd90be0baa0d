//! Scale benchmark of protection (not a test): one tenant with 200,000 mailbox units, then
//! the latency of the calls the provider makes, the size and write time of the tenant's
//! protection file, memory, and a restart.
//!
//! `cargo run --release -p m365backup-emulator --example protection_scale [-- UNITS]`
//!
//! Latencies are measured by the client over HTTPS on loopback, so they bound the emulator's
//! CPU per request from above (they include TLS and the client's own parsing).

use std::time::{Duration, Instant};

use m365backup_emulator::{Options, demo, spawn};
use serde_json::{Value, json};

const ROOT: &str = "/v1.0/solutions/backupRestore";

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Duration) {
        let started = Instant::now();
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("Prefer", "include-unknown-enum-members");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let took = started.elapsed();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            took,
        )
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("admin");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("admin json")
    }

    /// The median of `n` runs of a call, in ms.
    async fn median(&self, n: usize, method: reqwest::Method, path: &str) -> f64 {
        let mut t = Vec::new();
        for _ in 0..n {
            let (s, _, d) = self.call(method.clone(), path, None).await;
            assert_eq!(s, 200, "{path}");
            t.push(d.as_secs_f64() * 1000.0);
        }
        t.sort_by(f64::total_cmp);
        t[n / 2]
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn token(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> String {
    let v: Value = http
        .post(format!("{url}/{}/oauth2/v2.0/token", demo::TENANT_ID))
        .form(form)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[tokio::main]
async fn main() {
    let units: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let state_dir = dir.path().join("state");
    let rss0 = rss_mib();
    let emu = spawn(Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: state_dir.clone(),
    })
    .expect("spawn");
    let pem = std::fs::read(emu.ca_cert_path()).expect("ca");
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let url = emu.url().to_string();
    let app = token(
        &http,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", demo::CLIENT_ID),
            ("client_secret", demo::CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    let user = token(
        &http,
        &url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", demo::CLIENT_ID),
            ("client_secret", demo::CLIENT_SECRET),
            ("refresh_token", emu.delegated_refresh_token()),
        ],
    )
    .await;
    let c = Client {
        http: http.clone(),
        url: url.clone(),
        token: app,
    };
    let u = Client {
        http,
        url: url.clone(),
        token: user,
    };

    // our app controls the demo tenant and has enabled the service
    assert_eq!(
        c.call(
            reqwest::Method::POST,
            &format!("{ROOT}/serviceApps"),
            Some(json!({}))
        )
        .await
        .0,
        202
    );
    let now = c
        .admin(reqwest::Method::GET, "/_emulator/clock", json!({}))
        .await["now"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _, _) = u
        .call(
            reqwest::Method::POST,
            &format!("{ROOT}/serviceApps/{}/activate", demo::CLIENT_ID),
            Some(json!({"effectiveDateTime": now})),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(
        c.call(
            reqwest::Method::POST,
            &format!("{ROOT}/enable"),
            Some(json!({"appOwnerTenantId": demo::TENANT_ID}))
        )
        .await
        .0,
        200
    );

    let started = Instant::now();
    c.admin(
        reqwest::Method::POST,
        &format!("/_emulator/tenants/{}/directory/generate", demo::TENANT_ID),
        json!({"users": units + 50, "groups": 10}),
    )
    .await;
    println!(
        "directory of {} users generated: {}",
        units + 50,
        ms(started.elapsed())
    );
    let head: String = demo::TENANT_ID.chars().take(18).collect();
    let uid = |i: usize| format!("{head}-8001-{i:012x}");

    let (s, p, _) = c
        .call(
            reqwest::Method::POST,
            &format!("{ROOT}/exchangeProtectionPolicies"),
            Some(json!({"displayName": "all mailboxes"})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    let jobs =
        format!("{ROOT}/exchangeProtectionPolicies/{pid}/mailboxProtectionUnitsBulkAdditionJobs");
    let mut job_posts = Vec::new();
    for chunk in (0..units).collect::<Vec<_>>().chunks(50_000) {
        let ids: Vec<String> = chunk.iter().map(|&i| uid(i)).collect();
        let (s, _, d) = c
            .call(
                reqwest::Method::POST,
                &jobs,
                Some(json!({"displayName": "bulk", "directoryObjectIds": ids})),
            )
            .await;
        assert_eq!(s, 201);
        job_posts.push(d);
    }
    println!(
        "bulk job POST (50,000 ids, body ~2 MB): {}",
        job_posts
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    c.admin(
        reqwest::Method::POST,
        "/_emulator/clock/advance",
        json!({"seconds": 3600}),
    )
    .await;
    // the first request after the jobs' delay applies them (50,000 units each)
    let (s, _, d) = c
        .call(
            reqwest::Method::GET,
            &format!("{ROOT}/protectionPolicies/{pid}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    println!(
        "first read after the jobs completed (applies {} additions): {}",
        units,
        ms(d)
    );
    let (s, _, d) = c
        .call(
            reqwest::Method::POST,
            &format!("{ROOT}/protectionPolicies/{pid}/activate"),
            None,
        )
        .await;
    assert_eq!(s, 202);
    println!("activate ({} units -> protectRequested): {}", units, ms(d));
    c.admin(
        reqwest::Method::POST,
        "/_emulator/clock/advance",
        json!({"seconds": 3600}),
    )
    .await;
    let (_, _, d) = c
        .call(
            reqwest::Method::GET,
            &format!("{ROOT}/protectionPolicies/{pid}"),
            None,
        )
        .await;
    println!("read applying {} completions: {}", units, ms(d));
    let (_, n, _) = c
        .call(
            reqwest::Method::GET,
            &format!("{ROOT}/exchangeProtectionPolicies/{pid}/mailboxProtectionUnits/$count"),
            None,
        )
        .await;
    println!("units in the policy: {n}");

    let list = format!("{ROOT}/exchangeProtectionPolicies/{pid}/mailboxProtectionUnits");
    println!(
        "list first page (100), median of 20: {:.1} ms",
        c.median(20, reqwest::Method::GET, &list).await
    );
    println!(
        "list a deep page ($skiptoken=o150000), median of 20: {:.1} ms",
        c.median(
            20,
            reqwest::Method::GET,
            &format!("{list}?$skiptoken=o150000")
        )
        .await
    );
    println!(
        "list $top=999, median of 10: {:.1} ms",
        c.median(10, reqwest::Method::GET, &format!("{list}?$top=999"))
            .await
    );
    println!(
        "GET policy (status aggregated over all units), median of 20: {:.1} ms",
        c.median(
            20,
            reqwest::Method::GET,
            &format!("{ROOT}/protectionPolicies/{pid}")
        )
        .await
    );
    let mut patches = Vec::new();
    for round in 0..5 {
        let delta: Vec<Value> = (0..50)
            .map(|i| json!({"directoryObjectId": uid(units + i)}))
            .collect();
        let body = if round % 2 == 0 {
            json!({"mailboxProtectionUnits@delta": delta})
        } else {
            // remove what the previous round added
            let (_, l, _) = c
                .call(
                    reqwest::Method::GET,
                    &format!("{list}?$filter=status eq 'protectRequested'&$top=50"),
                    None,
                )
                .await;
            let rm: Vec<Value> = l["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| json!({"@removed": {}, "id": u["id"]}))
                .collect();
            json!({"mailboxProtectionUnits@delta": rm})
        };
        let (s, _, d) = c
            .call(
                reqwest::Method::PATCH,
                &format!("{ROOT}/exchangeProtectionPolicies/{pid}"),
                Some(body),
            )
            .await;
        assert_eq!(s, 200);
        patches.push(d);
        c.admin(
            reqwest::Method::POST,
            "/_emulator/clock/advance",
            json!({"seconds": 120}),
        )
        .await;
    }
    println!(
        "50-unit @delta PATCH: {}",
        patches
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let ids: Vec<String> = {
        let (_, l, _) = c
            .call(reqwest::Method::GET, &format!("{list}?$top=20"), None)
            .await;
        l["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, _, d) = c.call(reqwest::Method::POST, &format!("{ROOT}/restorePoints/search"), Some(json!({"protectionUnitIds": ids, "protectionTimePeriod": {"startDateTime": "2000-01-01T00:00:00Z"}}))).await;
    assert_eq!(s, 200);
    println!("restorePoints/search, 20 units: {}", ms(d));
    let (_, st, d) = c.call(reqwest::Method::GET, "/_emulator/state", None).await;
    println!(
        "GET /_emulator/state (summarised, {} bytes): {}",
        st.to_string().len(),
        ms(d)
    );

    // persistence: the file is written once the tenant is idle
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let file = state_dir
        .join("protection")
        .join(format!("{}.json", demo::TENANT_ID));
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "protection file: {:.1} MiB; state.json: {} bytes",
        size as f64 / 1048576.0,
        std::fs::metadata(state_dir.join("state.json"))
            .map(|m| m.len())
            .unwrap_or(0)
    );
    println!(
        "RSS: {:.0} MiB before, {:.0} MiB with {} units (client included)",
        rss0,
        rss_mib(),
        units
    );
    let started = Instant::now();
    emu.shutdown();
    println!("shutdown (final flush): {}", ms(started.elapsed()));
    let started = Instant::now();
    let emu = spawn(Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: state_dir.clone(),
    })
    .expect("respawn");
    println!("restart (load + reindex): {}", ms(started.elapsed()));
    let c = Client {
        http: c.http,
        url: emu.url().to_string(),
        token: c.token,
    };
    let (s, n, _) = c
        .call(
            reqwest::Method::GET,
            &format!("{ROOT}/exchangeProtectionPolicies/{pid}/mailboxProtectionUnits/$count"),
            None,
        )
        .await;
    println!("after restart: {s} {n} units");
}
