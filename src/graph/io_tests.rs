//! I/O tests of GraphClient + Authenticator against a local plain-HTTP test server: retries,
//! Retry-After, deadlines, token single flight, token refresh on 401, headers, paging, errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::Url;
use tokio::time::Instant;

use super::testserver::{Req, Resp, TestServer};
use super::{GraphClient, GraphErrorKind, GraphSettings};
use crate::auth::{AuthError, AuthSettings, Authenticator, Secret, TokenKind};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const ROOT: &str = "/v1.0/solutions/backupRestore";

fn is_token(r: &Req) -> bool {
    r.path().ends_with("/oauth2/v2.0/token")
}

fn is_graph(r: &Req) -> bool {
    r.path().starts_with("/v1.0/")
}

fn auth_settings() -> AuthSettings {
    AuthSettings {
        authority_host: "https://unused.example".into(),
        client_id: Some("client-1".into()),
        client_secret: Some(Secret::new("the-client-secret")),
        delegated_refresh_token: None,
        delegated_access_token: None,
        app_scope: "https://graph.microsoft.com/.default".into(),
        delegated_scope: "https://graph.microsoft.com/.default offline_access".into(),
        request_timeout: Duration::from_secs(10),
    }
}

fn graph_settings() -> GraphSettings {
    GraphSettings {
        graph_endpoint: "https://unused.example".into(),
        api_version: "v1.0".into(),
        request_timeout: Duration::from_secs(10),
        max_retries: 8,
    }
}

fn client_for(server: &TestServer, g: GraphSettings, a: AuthSettings) -> GraphClient {
    let http = reqwest::Client::new();
    let base = Url::parse(&server.base).unwrap();
    let auth = Arc::new(Authenticator::for_tests_with_authority(
        a,
        http.clone(),
        base.clone(),
    ));
    GraphClient::for_tests_with_endpoint(g, auth, http, base)
}

/// A token endpoint answering `tok-<n>` (n counts token requests), and a handler for Graph.
fn with_tokens(
    graph: impl Fn(&Req, usize) -> Resp + Send + Sync + 'static,
) -> impl Fn(&Req, usize) -> Resp + Send + Sync + 'static {
    let n = AtomicU32::new(0);
    move |req, i| {
        if is_token(req) {
            let k = n.fetch_add(1, Ordering::SeqCst) + 1;
            Resp::json(
                200,
                &format!(
                    r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"tok-{k}","refresh_token":"rt-{k}"}}"#
                ),
            )
            .delayed(Duration::from_millis(100))
        } else {
            graph(req, i)
        }
    }
}

const ROOT_BODY: &str = r#"{"@odata.context":"x","serviceStatus":{"status":"enabled","backupServiceConsumer":"thirdparty"}}"#;

fn graph_error(code: &str, rid: &str) -> String {
    format!(
        r#"{{"error":{{"code":"{code}","message":"msg {code}","innerError":{{"date":"2024-01-01T00:00:00","request-id":"{rid}","client-request-id":"x"}}}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_share_one_token_request() {
    let server = TestServer::start(with_tokens(|_, _| {
        Resp::json(200, ROOT_BODY).header("request-id", "rid")
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.get_root(TENANT).await }));
    }
    for t in tasks {
        let root = t.await.unwrap().unwrap();
        assert_eq!(
            root.service_status
                .unwrap()
                .status
                .as_ref()
                .map(|v| v.as_str()),
            Some("enabled")
        );
    }
    assert_eq!(server.count(is_token), 1);
    assert_eq!(server.count(is_graph), 50);
    let reqs = server.requests();
    let token_req = reqs.iter().find(|r| is_token(r)).unwrap();
    assert_eq!(token_req.path(), format!("/{TENANT}/oauth2/v2.0/token"));
    let form = token_req.form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["client_secret"], "the-client-secret");
    assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
    for r in reqs.iter().filter(|r| is_graph(r)) {
        assert_eq!(r.header("authorization"), Some("Bearer tok-1"));
        assert_eq!(r.header("prefer"), Some("include-unknown-enum-members"));
        assert_eq!(r.method, "GET");
        assert_eq!(r.path(), ROOT);
        assert!(
            uuid::Uuid::parse_str(r.header("client-request-id").unwrap()).is_ok(),
            "{r:?}"
        );
    }
    // One fresh client-request-id per logical call.
    let mut ids: Vec<_> = reqs
        .iter()
        .filter(|r| is_graph(r))
        .map(|r| r.header("client-request-id").unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
}

#[tokio::test]
async fn throttling_with_both_retry_after_forms_then_success() {
    let server = TestServer::start(with_tokens(|_, i| match i {
        0 => Resp::json(429, &graph_error("TooManyRequests", "r0")).header("Retry-After", "1"),
        1 => Resp::json(429, &graph_error("TooManyRequests", "r1")).header(
            "Retry-After",
            &httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2)),
        ),
        _ => Resp::json(200, ROOT_BODY),
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let started = Instant::now();
    client.get_root(TENANT).await.unwrap();
    let elapsed = started.elapsed();
    // 1 s, then 1-2 s (the HTTP date has one-second resolution).
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    let graph: Vec<Req> = server.requests().into_iter().filter(is_graph).collect();
    assert_eq!(graph.len(), 3);
    let crid = graph[0].header("client-request-id").unwrap();
    assert!(
        graph
            .iter()
            .all(|r| r.header("client-request-id") == Some(crid))
    );
    assert_eq!(server.count(is_token), 1);
}

#[tokio::test]
async fn service_unavailable_then_success() {
    let server = TestServer::start(with_tokens(|_, i| {
        if i == 0 {
            Resp::json(503, &graph_error("serviceNotAvailable", "r0"))
        } else {
            Resp::json(200, r#"{"value":[]}"#)
        }
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let started = Instant::now();
    assert!(client.list_service_apps(TENANT).await.unwrap().is_empty());
    // Backoff for the first retry lies in [0.25 s, 0.5 s].
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(server.count(is_graph), 2);
}

#[tokio::test]
async fn the_whole_call_is_bounded_by_request_timeout() {
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let server = TestServer::start(with_tokens(move |_, _| {
        let k = n2.fetch_add(1, Ordering::SeqCst);
        Resp::json(503, "not json at all")
            .header("Retry-After", "1")
            .header("request-id", &format!("rid-{k}"))
    }))
    .await;
    let mut g = graph_settings();
    g.request_timeout = Duration::from_millis(2500);
    let client = client_for(&server, g, auth_settings());
    let started = Instant::now();
    let e = client.get_root(TENANT).await.unwrap_err();
    let elapsed = started.elapsed();
    // The bound plus scheduling slack on a loaded machine.
    assert!(elapsed < Duration::from_millis(3300), "{elapsed:?}");
    assert_eq!(e.kind, GraphErrorKind::Timeout, "{e:?}");
    let attempts = n.load(Ordering::SeqCst);
    assert!((2..=3).contains(&attempts), "{attempts}");
    assert!(
        e.message.contains(&format!("after {attempts} attempts")),
        "{}",
        e.message
    );
    assert!(e.message.contains("HTTP 503"), "{}", e.message);
    assert!(e.is_status(503));
    assert_eq!(e.request_id, Some(format!("rid-{}", attempts - 1)));
    let m = e.user_message();
    assert!(m.contains("request_timeout") && m.contains(TENANT), "{m}");
}

#[tokio::test]
async fn a_slow_answer_is_cut_at_the_deadline() {
    let server = TestServer::start(with_tokens(|_, _| {
        Resp::json(200, ROOT_BODY).delayed(Duration::from_secs(5))
    }))
    .await;
    let mut g = graph_settings();
    g.request_timeout = Duration::from_millis(800);
    let client = client_for(&server, g, auth_settings());
    let started = Instant::now();
    let e = client.get_root(TENANT).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1800));
    assert_eq!(e.kind, GraphErrorKind::Timeout, "{e:?}");
    assert!(e.message.contains("after 1 attempt"), "{}", e.message);
}

#[tokio::test]
async fn retries_are_bounded_by_max_retries() {
    let server = TestServer::start(with_tokens(|_, _| {
        Resp::json(500, &graph_error("generalException", "rid-x")).header("Retry-After", "0")
    }))
    .await;
    let mut g = graph_settings();
    g.max_retries = 2;
    let client = client_for(&server, g, auth_settings());
    let e = client.get_root(TENANT).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Http);
    assert_eq!(e.status, Some(500));
    assert_eq!(e.code.as_deref(), Some("generalException"));
    assert_eq!(e.request_id.as_deref(), Some("rid-x"));
    assert!(e.message.contains("after 3 attempts"), "{}", e.message);
    assert_eq!(server.count(is_graph), 3);
}

#[tokio::test]
async fn errors_carry_the_request_id_and_404_semantics() {
    let server = TestServer::start(with_tokens(|req, _| {
        match (req.method.as_str(), req.path()) {
            ("GET", p) if p.ends_with("/serviceApps/missing") => {
                Resp::json(404, &graph_error("itemNotFound", "rid-404"))
            }
            ("DELETE", _) => Resp::empty(404).header("request-id", "hdr-404"),
            ("POST", p) if p.ends_with("/enable") => {
                Resp::json(402, &graph_error("InvalidBillingProfile", "body-rid"))
                    .header("request-id", "hdr-rid")
            }
            _ => Resp::json(403, "<html>Forbidden</html>").header("request-id", "hdr-403"),
        }
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    assert_eq!(
        client.get_service_app(TENANT, "missing").await.unwrap(),
        None
    );

    let e = client.delete_service_app(TENANT, "gone").await.unwrap_err();
    assert!(e.is_not_found() && e.is_status(404));
    assert_eq!(e.request_id.as_deref(), Some("hdr-404"));

    let e = client.enable(TENANT, "owner").await.unwrap_err();
    assert_eq!(e.request_id.as_deref(), Some("body-rid"));
    assert_eq!(e.code.as_deref(), Some("InvalidBillingProfile"));
    assert!(e.user_message().contains("request-id body-rid"));
    let enable_req = server
        .requests()
        .into_iter()
        .find(|r| r.path().ends_with("/enable"))
        .unwrap();
    assert_eq!(enable_req.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&enable_req.body).unwrap(),
        serde_json::json!({"appOwnerTenantId": "owner"})
    );

    let e = client.get_root(TENANT).await.unwrap_err();
    assert_eq!(e.status, Some(403));
    assert_eq!(e.request_id.as_deref(), Some("hdr-403"));
    assert!(e.message.contains("Forbidden"), "{}", e.message);
    assert!(e.client_request_id.is_some());
    // Non-retryable answers are not retried.
    assert_eq!(server.count(|r| r.method == "GET" && r.path() == ROOT), 1);
}

#[tokio::test]
async fn an_expired_token_is_replaced_once() {
    let server = TestServer::start(with_tokens(|req, _| {
        if req.header("authorization") == Some("Bearer tok-1") {
            Resp::json(401, &graph_error("InvalidAuthenticationToken", "r401"))
        } else {
            Resp::json(200, ROOT_BODY)
        }
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    client.get_root(TENANT).await.unwrap();
    assert_eq!(server.count(is_token), 2);
    assert_eq!(server.count(is_graph), 2);
    // The fresh token is cached.
    client.get_root(TENANT).await.unwrap();
    assert_eq!(server.count(is_token), 2);

    // A second 401 in a row is reported, not looped on.
    let server = TestServer::start(with_tokens(|_, _| {
        Resp::json(401, &graph_error("InvalidAuthenticationToken", "r401"))
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let e = client.get_root(TENANT).await.unwrap_err();
    assert!(e.is_status(401));
    assert_eq!(e.request_id.as_deref(), Some("r401"));
    assert_eq!(server.count(is_token), 2);
    assert_eq!(server.count(is_graph), 2);
}

#[tokio::test]
async fn paging_follows_next_links_on_the_same_origin() {
    let server = TestServer::start(with_tokens(|req, i| {
        let base = format!("http://{}", req.header("host").unwrap());
        match i {
            0 => Resp::json(
                200,
                &format!(
                    r#"{{"value":[{{"id":"a","status":"active"}}],"@odata.nextLink":"{base}{ROOT}/serviceApps?$skiptoken=2"}}"#
                ),
            ),
            _ => {
                assert!(req.target.contains("skiptoken=2"));
                Resp::json(200, r#"{"value":[{"id":"b","status":"inactive","futureProp":1}]}"#)
            }
        }
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let apps = client.list_service_apps(TENANT).await.unwrap();
    assert_eq!(
        apps.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let graph: Vec<Req> = server.requests().into_iter().filter(is_graph).collect();
    assert_eq!(
        graph[0].header("client-request-id"),
        graph[1].header("client-request-id")
    );
}

#[tokio::test]
async fn register_accepts_201_and_202_with_or_without_body() {
    let server = TestServer::start(with_tokens(|_, i| match i {
        0 => Resp::empty(202).header("Content-Location", "/x"),
        _ => Resp::json(201, r#"{"id":"client-1","status":"inactive"}"#),
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    assert_eq!(client.create_service_app(TENANT).await.unwrap(), None);
    let app = client.create_service_app(TENANT).await.unwrap().unwrap();
    assert_eq!(app.id, "client-1");
    for r in server.requests().into_iter().filter(is_graph) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path(), format!("{ROOT}/serviceApps"));
        assert_eq!(r.body, b"{}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn activate_and_deactivate_use_a_rotated_delegated_token() {
    let server = TestServer::start(with_tokens(|req, _| match req.path() {
        p if p.ends_with("/activate") => Resp::json(
            202,
            r#"{"id":"client-1","status":"pendingActive","effectiveDateTime":"2030-01-01T00:00:00Z"}"#,
        ),
        p if p.ends_with("/deactivate") => {
            Resp::json(202, r#"{"id":"client-1","status":"inactive"}"#)
        }
        _ => Resp::json(200, ROOT_BODY),
    }))
    .await;
    let mut a = auth_settings();
    a.delegated_refresh_token = Some(Secret::new("rt-0"));
    let client = client_for(&server, graph_settings(), a);
    client.get_root(TENANT).await.unwrap();
    let app = client
        .activate(TENANT, "client-1", "2030-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        app.status.as_ref().map(|v| v.as_str()),
        Some("pendingActive")
    );
    client
        .authenticator()
        .invalidate(TENANT, TokenKind::Delegated);
    let app = client.deactivate(TENANT, "client-1").await.unwrap();
    assert_eq!(app.status.as_ref().map(|v| v.as_str()), Some("inactive"));

    let reqs = server.requests();
    let tokens: Vec<&Req> = reqs.iter().filter(|r| is_token(r)).collect();
    assert_eq!(tokens.len(), 3);
    // App-only for the read.
    assert_eq!(tokens[0].form()["grant_type"], "client_credentials");
    // Delegated: a secret-less public-client refresh, then the rotated refresh token.
    let f1 = tokens[1].form();
    assert_eq!(f1["grant_type"], "refresh_token");
    assert_eq!(f1["refresh_token"], "rt-0");
    assert_eq!(f1["client_id"], "client-1");
    assert_eq!(
        f1["scope"],
        "https://graph.microsoft.com/.default offline_access"
    );
    assert!(!f1.contains_key("client_secret"));
    assert_eq!(tokens[2].form()["refresh_token"], "rt-2");

    let act = reqs
        .iter()
        .find(|r| r.path().ends_with("/activate"))
        .unwrap();
    assert_eq!(act.header("authorization"), Some("Bearer tok-2"));
    assert_eq!(act.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&act.body).unwrap(),
        serde_json::json!({"effectiveDateTime": "2030-01-01T00:00:00Z"})
    );
    let deact = reqs
        .iter()
        .find(|r| r.path().ends_with("/deactivate"))
        .unwrap();
    assert_eq!(deact.header("authorization"), Some("Bearer tok-3"));
    assert!(deact.body.is_empty());
}

#[tokio::test]
async fn an_action_without_a_body_reads_the_app_back() {
    let server = TestServer::start(with_tokens(|req, _| {
        if req.method == "POST" {
            Resp::empty(202)
        } else {
            Resp::json(200, r#"{"id":"client-1","status":"active"}"#)
        }
    }))
    .await;
    let mut a = auth_settings();
    a.delegated_refresh_token = Some(Secret::new("rt-0"));
    let client = client_for(&server, graph_settings(), a);
    let app = client
        .activate(TENANT, "client-1", "2030-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(app.status.as_ref().map(|v| v.as_str()), Some("active"));
}

#[tokio::test]
async fn only_delegated_configured_serves_every_call() {
    let server = TestServer::start(with_tokens(|_, _| Resp::json(200, ROOT_BODY))).await;
    let mut a = auth_settings();
    a.client_secret = None;
    a.delegated_refresh_token = Some(Secret::new("rt-0"));
    let client = client_for(&server, graph_settings(), a);
    assert_eq!(client.default_token_kind(), TokenKind::Delegated);
    client.get_root(TENANT).await.unwrap();
    let reqs = server.requests();
    assert_eq!(
        reqs.iter().find(|r| is_token(r)).unwrap().form()["grant_type"],
        "refresh_token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_errors_name_the_credential_and_code_without_secrets() {
    let server = TestServer::start(|req: &Req, _| {
        if is_token(req) {
            Resp::json(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided 'the-client-secret'.\r\nTrace ID: t1\r\nCorrelation ID: c1\r\nTimestamp: 2024","error_codes":[7000215],"trace_id":"t1","correlation_id":"c1"}"#,
            )
            .delayed(Duration::from_millis(100))
        } else {
            Resp::json(200, ROOT_BODY)
        }
    })
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.get_root(TENANT).await }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        let GraphErrorKind::Auth(AuthError::Entra {
            credential, aadsts, ..
        }) = &e.kind
        else {
            panic!("{e:?}")
        };
        assert_eq!(*credential, "client secret");
        assert_eq!(aadsts.as_deref(), Some("AADSTS7000215"));
        assert_eq!(e.code.as_deref(), Some("AADSTS7000215"));
        let all = format!("{e} {e:?} {}", e.user_message());
        assert!(!all.contains("the-client-secret"), "{all}");
        assert!(all.contains("trace ID t1"), "{all}");
    }
    // Concurrent callers shared the one failed attempt; nothing reached Graph.
    assert_eq!(server.count(is_token), 1);
    assert_eq!(server.count(is_graph), 0);
}

#[tokio::test]
async fn token_requests_are_retried_on_throttling() {
    let server = TestServer::start(|req: &Req, i| {
        if is_token(req) {
            if i == 0 {
                Resp::json(503, "{}").header("Retry-After", "0")
            } else {
                Resp::json(200, r#"{"access_token":"tok","expires_in":3599}"#)
            }
        } else {
            Resp::json(200, ROOT_BODY)
        }
    })
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    client.get_root(TENANT).await.unwrap();
    assert_eq!(server.count(is_token), 2);
    assert_eq!(client.authenticator().token_requests(), 2);
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    let server = TestServer::start(with_tokens(|_, _| {
        let mut body = String::from(r#"{"value":[],"pad":""#);
        body.push_str(&"x".repeat(crate::transport::MAX_BODY_BYTES + 1));
        body.push_str(r#""}"#);
        Resp::json(200, &body)
    }))
    .await;
    let client = client_for(&server, graph_settings(), auth_settings());
    let e = client.list_service_apps(TENANT).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Decode);
    assert!(e.message.contains("larger than"), "{}", e.message);
}

#[tokio::test]
async fn unreachable_graph_is_a_transport_error_after_retries() {
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tokens = TestServer::start(with_tokens(|_, _| Resp::empty(500))).await;
    let http = reqwest::Client::new();
    let auth = Arc::new(Authenticator::for_tests_with_authority(
        auth_settings(),
        http.clone(),
        Url::parse(&tokens.base).unwrap(),
    ));
    let mut g = graph_settings();
    g.max_retries = 1;
    let client = GraphClient::for_tests_with_endpoint(
        g,
        auth,
        http,
        Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
    );
    let e = client.get_root(TENANT).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Transport, "{e:?}");
    assert!(e.message.contains("2 attempts"), "{}", e.message);
    assert!(e.user_message().contains("graph_endpoint"));
}
