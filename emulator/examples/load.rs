//! Load generator for a running emulator: N concurrent clients (one connection each) for
//! a while, mixing Graph reads, register/unregister cycles and token requests. Exits
//! non-zero if any request fails or answers an unexpected status.
//!
//! `cargo run --release -p m365backup-emulator --example load -- --url URL --ca CA.pem`
//! (see the emulator's README, "Load test").

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use m365backup_emulator::demo;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long)]
    ca: PathBuf,
    #[arg(long, default_value_t = 200)]
    clients: usize,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca).expect("CA PEM")])
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn app_token(c: &reqwest::Client, url: &str, tenant: &str, id: &str, secret: &str) -> String {
    let v: Value = c
        .post(format!("{url}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
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
    let args = Args::parse();
    let ca = std::fs::read(&args.ca).expect("reading the CA");
    let url = args.url.trim_end_matches('/').to_string();
    let setup = client(&ca);
    let tenant = uuid::Uuid::new_v4().to_string();
    setup
        .put(format!("{url}/_emulator/tenants/{tenant}"))
        .json(&json!({"controller": "none"}))
        .send()
        .await
        .expect("create tenant")
        .error_for_status()
        .expect("create tenant");
    let reader = app_token(&setup, &url, &tenant, demo::CLIENT_ID, demo::CLIENT_SECRET).await;

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let c = client(&ca);
        let url = url.clone();
        let tenant = tenant.clone();
        let reader = reader.clone();
        let (ok, failed, latencies) = (ok.clone(), failed.clone(), latencies.clone());
        // writers get their own app
        let writer = if i % 5 == 4 {
            let id = uuid::Uuid::new_v4().to_string();
            let secret = format!("s-{id}");
            setup
                .put(format!("{url}/_emulator/apps/{id}"))
                .json(&json!({"client_secret": secret}))
                .send()
                .await
                .expect("create app");
            Some((
                id.clone(),
                app_token(&setup, &url, &tenant, &id, &secret).await,
            ))
        } else {
            None
        };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut step = 0u64;
            while Instant::now() < deadline {
                step += 1;
                let t0 = Instant::now();
                let (req, expected) = match (i % 5, &writer) {
                    (0, _) => (
                        c.get(format!("{url}/v1.0/solutions/backupRestore"))
                            .bearer_auth(&reader),
                        200,
                    ),
                    (1, _) => (
                        c.get(format!("{url}/beta/solutions/backupRestore/serviceApps"))
                            .bearer_auth(&reader),
                        200,
                    ),
                    (2, _) => (
                        c.get(format!(
                            "{url}/v1.0/solutions/backupRestore/serviceApps/{}",
                            uuid::Uuid::new_v4()
                        ))
                        .bearer_auth(&reader),
                        404,
                    ),
                    (3, _) => (
                        c.post(format!("{url}/{tenant}/oauth2/v2.0/token")).form(&[
                            ("grant_type", "client_credentials"),
                            ("client_id", demo::CLIENT_ID),
                            ("client_secret", demo::CLIENT_SECRET),
                            ("scope", "https://graph.microsoft.com/.default"),
                        ]),
                        200,
                    ),
                    (_, Some((id, token))) if step % 2 == 1 => (
                        c.post(format!("{url}/v1.0/solutions/backupRestore/serviceApps"))
                            .bearer_auth(token)
                            .json(&json!({})),
                        202,
                    ),
                    (_, Some((id, token))) => (
                        c.delete(format!(
                            "{url}/v1.0/solutions/backupRestore/serviceApps/{id}"
                        ))
                        .bearer_auth(token),
                        204,
                    ),
                    _ => unreachable!(),
                };
                match req.send().await {
                    Ok(r) if r.status().as_u16() == expected => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("client {i}: status {} (wanted {expected})", r.status());
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("client {i}: {e}");
                    }
                }
                mine.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let ok = ok.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "{} clients, {:.1}s: {ok} ok, {failed} failed, {:.0} req/s, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        args.clients,
        elapsed,
        ok as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    if failed > 0 || ok == 0 {
        std::process::exit(1);
    }
}
