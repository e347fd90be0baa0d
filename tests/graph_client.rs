//! The Graph client and token acquisition against the real emulator over HTTPS, trusting the
//! emulator's CA through `SSL_CERT_FILE` (the system trust store path, as users do).
//!
//! One emulator serves every test of this binary; tests run one at a time (they share its
//! fault list and request log) and each uses its own tenant.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use m365backup_emulator::{EmulatorHandle, Options, demo};
use serde_json::{Value, json};
use terraform_provider_m365backup::auth::{AuthError, AuthSettings, Authenticator, Secret};
use terraform_provider_m365backup::graph::{
    GraphClient, GraphErrorKind, GraphSettings, build_http_client,
};

struct Shared {
    emu: EmulatorHandle,
    admin: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let emu = m365backup_emulator::spawn(Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: dir.path().to_path_buf(),
        })
        .expect("emulator starts");
        // SAFETY: set once, before any HTTP client of this process is built (every test goes
        // through this initialiser first), and never changed afterwards.
        unsafe { std::env::set_var("SSL_CERT_FILE", emu.trust_bundle_path()) };
        let admin = build_http_client(Duration::from_secs(10)).unwrap();
        Shared {
            emu,
            admin,
            _dir: dir,
        }
    })
}

/// Serialises the tests of this file: they share the emulator's faults and request log.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

async fn admin(method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let s = shared();
    let mut rb = s.admin.request(method, format!("{}{path}", s.emu.url()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("admin call");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "admin {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Resets faults and the request log, and creates a fresh tenant with no controller.
async fn fresh_tenant() -> String {
    let tenant = uuid::Uuid::new_v4().to_string();
    admin(reqwest::Method::DELETE, "/_emulator/faults", None).await;
    admin(reqwest::Method::DELETE, "/_emulator/requests", None).await;
    admin(
        reqwest::Method::PUT,
        &format!("/_emulator/tenants/{tenant}"),
        Some(json!({"controller": "none"})),
    )
    .await;
    tenant
}

async fn fault(f: Value) {
    admin(reqwest::Method::POST, "/_emulator/faults", Some(f)).await;
}

async fn log() -> Vec<Value> {
    match admin(reqwest::Method::GET, "/_emulator/requests", None).await {
        Value::Array(v) => v,
        other => panic!("request log: {other}"),
    }
}

fn is_token_request(e: &Value) -> bool {
    e["path"]
        .as_str()
        .unwrap_or("")
        .ends_with("/oauth2/v2.0/token")
}

fn is_graph_request(e: &Value) -> bool {
    e["path"].as_str().unwrap_or("").starts_with("/v1.0/")
}

struct Config {
    timeout: Duration,
    max_retries: u32,
    secret: Option<&'static str>,
    delegated: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: Duration::from_secs(20),
            max_retries: 8,
            secret: Some(demo::CLIENT_SECRET),
            delegated: true,
        }
    }
}

fn client(cfg: Config) -> GraphClient {
    let s = shared();
    let http = build_http_client(cfg.timeout).unwrap();
    let auth = Authenticator::try_new(
        AuthSettings {
            authority_host: s.emu.url().to_owned(),
            client_id: Some(demo::CLIENT_ID.to_owned()),
            client_secret: cfg.secret.map(Secret::new),
            delegated_refresh_token: cfg
                .delegated
                .then(|| Secret::new(s.emu.delegated_refresh_token())),
            delegated_access_token: None,
            app_scope: "https://graph.microsoft.com/.default".into(),
            delegated_scope: "https://graph.microsoft.com/.default offline_access".into(),
            request_timeout: cfg.timeout,
        },
        http.clone(),
    )
    .unwrap()
    .with_max_retries(cfg.max_retries);
    GraphClient::try_new(
        GraphSettings {
            graph_endpoint: s.emu.url().to_owned(),
            api_version: "v1.0".into(),
            request_timeout: cfg.timeout,
            max_retries: cfg.max_retries,
        },
        Arc::new(auth),
        http,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_reads_cause_one_token_request() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    let c = client(Config::default());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = c.clone();
        let t = tenant.clone();
        tasks.push(tokio::spawn(async move { c.get_root(&t).await }));
    }
    for t in tasks {
        let root = t.await.unwrap().expect("get_root");
        assert!(root.service_status.is_some());
    }
    let log = log().await;
    let tokens: Vec<&Value> = log.iter().filter(|e| is_token_request(e)).collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["token_kind"], "app");
    assert_eq!(log.iter().filter(|e| is_graph_request(e)).count(), 50);
    assert_eq!(c.authenticator().token_requests(), 1);
}

#[tokio::test]
async fn throttling_with_both_retry_after_forms_then_success() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    fault(json!({"method": "GET", "path_prefix": "/v1.0/solutions", "status": 429, "retry_after": "1", "count": 1})).await;
    fault(json!({"method": "GET", "path_prefix": "/v1.0/solutions", "status": 429, "retry_after": "http-date", "retry_after_seconds": 1, "count": 1})).await;
    let c = client(Config::default());
    let started = Instant::now();
    c.get_root(&tenant)
        .await
        .expect("succeeds after throttling");
    assert!(started.elapsed() >= Duration::from_millis(1000));
    let statuses: Vec<u64> = log()
        .await
        .iter()
        .filter(|e| is_graph_request(e))
        .map(|e| e["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
}

#[tokio::test]
async fn service_unavailable_then_success() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    fault(json!({"method": "GET", "path_prefix": "/v1.0/solutions", "status": 503, "count": 1}))
        .await;
    let c = client(Config::default());
    let apps = c.list_service_apps(&tenant).await.expect("list");
    assert!(apps.is_empty());
    let statuses: Vec<u64> = log()
        .await
        .iter()
        .filter(|e| is_graph_request(e))
        .map(|e| e["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [503, 200]);
}

#[tokio::test]
async fn a_call_is_bounded_by_request_timeout() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    let c = client(Config {
        timeout: Duration::from_millis(2500),
        ..Config::default()
    });
    // Get the token first, so that only Graph time counts.
    c.authenticator()
        .token(
            &tenant,
            terraform_provider_m365backup::auth::TokenKind::AppOnly,
        )
        .await
        .unwrap();
    fault(json!({"method": "GET", "path_prefix": "/v1.0/solutions", "status": 503, "retry_after": "1", "count": 100})).await;
    let started = Instant::now();
    let e = c.get_root(&tenant).await.unwrap_err();
    let elapsed = started.elapsed();
    // The bound plus scheduling slack on a loaded machine.
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
    assert_eq!(e.kind, GraphErrorKind::Timeout, "{e:?}");
    assert!(e.message.contains("attempts"), "{}", e.message);
    assert!(e.request_id.is_some(), "{e:?}");
    assert!(e.user_message().contains("request_timeout"));

    // A slow answer is cut at the deadline too.
    admin(reqwest::Method::DELETE, "/_emulator/faults", None).await;
    fault(
        json!({"method": "GET", "path_prefix": "/v1.0/solutions", "delay_ms": 10000, "count": 1}),
    )
    .await;
    let started = Instant::now();
    let e = c.get_root(&tenant).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert_eq!(e.kind, GraphErrorKind::Timeout, "{e:?}");
    admin(reqwest::Method::DELETE, "/_emulator/faults", None).await;
}

#[tokio::test]
async fn errors_carry_graph_request_ids() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    let c = client(Config::default());
    assert_eq!(
        c.get_service_app(&tenant, "00000000-0000-0000-0000-00000000dead")
            .await
            .unwrap(),
        None
    );
    let e = c
        .delete_service_app(&tenant, "00000000-0000-0000-0000-00000000dead")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let rid = e.request_id.clone().expect("request-id");
    let logged: Vec<String> = log()
        .await
        .iter()
        .filter_map(|e| e["request_id"].as_str().map(str::to_owned))
        .collect();
    assert!(logged.contains(&rid), "{rid} not in {logged:?}");
    assert!(e.user_message().contains(&rid));
}

#[tokio::test]
async fn register_activate_deactivate_with_app_only_and_delegated_tokens() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    let c = client(Config::default());
    let created = c.create_service_app(&tenant).await.expect("register");
    if let Some(app) = &created {
        assert_eq!(app.id, demo::CLIENT_ID);
        assert_eq!(app.status.as_ref().map(|v| v.as_str()), Some("inactive"));
    }
    let app = c
        .get_service_app(&tenant, demo::CLIENT_ID)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(app.status.as_ref().map(|v| v.as_str()), Some("inactive"));
    // No controller: activation "now" is immediate.
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let app = c
        .activate(&tenant, demo::CLIENT_ID, &now)
        .await
        .expect("activate");
    assert_eq!(app.status.as_ref().map(|v| v.as_str()), Some("active"));
    let apps = c.list_service_apps(&tenant).await.unwrap();
    assert!(apps.iter().any(|a| a.id == demo::CLIENT_ID));

    // Graph forbids deactivating the active controller.
    let e = c.deactivate(&tenant, demo::CLIENT_ID).await.unwrap_err();
    assert!(e.is_status(403), "{e:?}");
    assert!(e.request_id.is_some());

    let status = c.enable(&tenant, demo::TENANT_ID).await.expect("enable");
    assert_eq!(status.status.as_ref().map(|v| v.as_str()), Some("enabled"));

    let log = log().await;
    let kinds: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| is_graph_request(e))
        .map(|e| {
            (
                e["path"].as_str().unwrap_or(""),
                e["token_kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for (path, kind) in &kinds {
        let expect = if path.ends_with("/activate") || path.ends_with("/deactivate") {
            "user"
        } else {
            "app"
        };
        assert_eq!(kind, &expect, "{path}");
    }
    // One app-only and one delegated token for the whole sequence.
    assert_eq!(log.iter().filter(|e| is_token_request(e)).count(), 2);
}

#[tokio::test]
async fn missing_delegated_credential_and_wrong_secret_are_explained() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    let c = client(Config {
        delegated: false,
        ..Config::default()
    });
    let e = c
        .activate(&tenant, demo::CLIENT_ID, "2030-01-01T00:00:00Z")
        .await
        .unwrap_err();
    assert!(matches!(
        e.kind,
        GraphErrorKind::Auth(AuthError::NotConfigured { .. })
    ));
    assert!(
        e.user_message()
            .contains("terraform-provider-m365backup login --tenant")
    );

    let c = client(Config {
        secret: Some("definitely-the-wrong-secret"),
        ..Config::default()
    });
    let e = c.get_root(&tenant).await.unwrap_err();
    let m = e.user_message();
    assert!(m.contains("client secret"), "{m}");
    assert!(m.contains("AADSTS7000215"), "{m}");
    assert!(!m.contains("definitely-the-wrong-secret"), "{m}");
    assert!(!format!("{e:?}").contains("definitely-the-wrong-secret"));
}

#[tokio::test]
async fn expired_tokens_are_replaced_once() {
    let _g = serial().await;
    let tenant = fresh_tenant().await;
    let c = client(Config::default());
    c.get_root(&tenant).await.unwrap();
    admin(
        reqwest::Method::POST,
        "/_emulator/tokens/expire",
        Some(json!({})),
    )
    .await;
    c.get_root(&tenant).await.expect("a fresh token is fetched");
    let log = log().await;
    assert_eq!(log.iter().filter(|e| is_token_request(e)).count(), 2);
    let statuses: Vec<u64> = log
        .iter()
        .filter(|e| is_graph_request(e))
        .map(|e| e["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}
