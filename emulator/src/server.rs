//! HTTPS plumbing: the router, the front layer (request ids, fault injection, request
//! log) and the accept loop (rustls + hyper, HTTP/1.1 and HTTP/2).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post, put};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::common::{DropConnection, LogMeta, ReqIds, graph_error, plain_json};
use crate::store::{Emu, Fault, LogEntry};
use crate::{admin, admin_protection, entra, graph, json};

pub fn router(emu: Arc<Emu>) -> Router {
    let admin_routes = Router::new()
        .route("/clock", get(admin::get_clock))
        .route("/clock/advance", post(admin::advance_clock))
        .route("/apps", get(admin::list_apps))
        .route("/apps/{client_id}", put(admin::put_app))
        .route("/tenants/{tenant_id}", put(admin::put_tenant))
        .route(
            "/tenants/{tenant_id}/cancel-pending-change",
            post(admin::cancel_pending),
        )
        .route("/tenants/{tenant_id}/takeover", post(admin::takeover))
        .route(
            "/tenants/{tenant_id}/billing-profile",
            post(admin::billing_profile),
        )
        .route("/devicecode/pending", get(admin::pending_device_codes))
        .route("/devicecode/approve", post(admin::approve_device_code))
        .route("/tokens/expire", post(admin::expire_tokens))
        .route(
            "/faults",
            post(admin::add_fault)
                .get(admin::list_faults)
                .delete(admin::clear_faults),
        )
        .route(
            "/requests",
            get(admin::get_requests).delete(admin::clear_requests),
        )
        .route("/state", get(admin::get_state))
        .route(
            "/settings",
            get(admin_protection::get_settings).put(admin_protection::put_settings),
        )
        .route(
            "/tenants/{tenant_id}/directory",
            put(admin_protection::put_directory),
        )
        .route(
            "/tenants/{tenant_id}/directory/generate",
            post(admin_protection::generate_directory),
        )
        .route(
            "/tenants/{tenant_id}/unit-errors",
            post(admin_protection::unit_errors),
        )
        .route(
            "/tenants/{tenant_id}/consent",
            post(admin_protection::consent),
        )
        .route(
            "/tenants/{tenant_id}/as-admin",
            post(admin_protection::as_admin),
        )
        .fallback(admin::not_found)
        .method_not_allowed_fallback(|| async {
            crate::common::admin_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        });

    Router::new()
        .nest("/_emulator", admin_routes)
        .route("/v1.0", any(graph::handle))
        .route("/v1.0/", any(graph::handle))
        .route("/v1.0/{*rest}", any(graph::handle))
        .route("/beta", any(graph::handle))
        .route("/beta/", any(graph::handle))
        .route("/beta/{*rest}", any(graph::handle))
        .route("/{tenant}/oauth2/v2.0/token", post(entra::token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(entra::devicecode))
        .route("/{tenant}/oauth2/v2.0/authorize", get(entra::authorize))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(entra::openid_configuration),
        )
        .route(
            "/devicelogin",
            get(entra::devicelogin_page).post(entra::devicelogin_submit),
        )
        .route("/msi/token", get(entra::managed_identity))
        .route(
            "/metadata/identity/oauth2/token",
            get(entra::managed_identity),
        )
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(emu.clone(), front))
        .with_state(emu)
}

fn ids_of(req: &Request) -> ReqIds {
    req.extensions()
        .get::<ReqIds>()
        .cloned()
        .unwrap_or_else(|| ReqIds {
            request_id: String::new(),
            client_request_id: String::new(),
        })
}

async fn unknown_path(req: Request) -> Response {
    let ids = ids_of(&req);
    graph_error(
        &ids,
        404,
        "NotFound",
        &format!(
            "The path '{}' does not exist on this service.",
            req.uri().path()
        ),
    )
}

async fn wrong_method(req: Request) -> Response {
    let ids = ids_of(&req);
    graph_error(
        &ids,
        405,
        "BadRequest",
        &format!(
            "The HTTP method '{}' is not allowed on '{}'.",
            req.method(),
            req.uri().path()
        ),
    )
}

fn is_graph(path: &str) -> bool {
    ["/v1.0", "/beta"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Takes one use of the first fault matching the request.
fn take_fault(emu: &Emu, method: &str, path: &str) -> Option<Fault> {
    let mut v = emu.volatile();
    let idx = v.faults.iter().position(|f| {
        f.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
    })?;
    let f = v.faults[idx].clone();
    let left = f.count.unwrap_or(1).max(1) - 1;
    if left == 0 {
        v.faults.remove(idx);
    } else {
        v.faults[idx].count = Some(left);
    }
    Some(f)
}

fn retry_after_value(f: &Fault) -> Option<String> {
    match f.retry_after.as_ref()? {
        Value::String(s) if s == "http-date" => {
            let secs = f.retry_after_seconds.unwrap_or(2);
            Some(httpdate::fmt_http_date(
                SystemTime::now() + Duration::from_secs(secs),
            ))
        }
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn fault_code(status: u16) -> &'static str {
    match status {
        429 => "TooManyRequests",
        500 => "generalException",
        502 => "BadGateway",
        503 => "serviceNotAvailable",
        504 => "GatewayTimeout",
        _ => "injectedFault",
    }
}

fn fault_response(ids: &ReqIds, path: &str, status: u16, f: &Fault) -> Response {
    if let Some(body) = &f.body {
        let mut r = Response::new(Body::from(body.clone()));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let ct = f.content_type.as_deref().unwrap_or("application/json");
        if let Ok(v) = HeaderValue::from_str(ct) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        return r;
    }
    if is_graph(path) {
        graph_error(
            ids,
            status,
            fault_code(status),
            "Injected fault (m365backup-emulator).",
        )
    } else {
        plain_json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &serde_json::json!({
                "error": if status == 429 { "temporarily_unavailable" } else { "server_error" },
                "error_description": "AADSTS90033: Injected fault (m365backup-emulator).",
                "error_codes": [90033],
                "trace_id": ids.request_id,
                "correlation_id": ids.client_request_id,
            }),
        )
    }
}

/// Front layer: request ids, faults and the request log for everything except the admin
/// API.
async fn front(State(emu): State<Arc<Emu>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().as_str().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .map(str::to_string);
    let request_id = uuid::Uuid::new_v4().to_string();
    let ids = ReqIds {
        client_request_id: client_request_id.unwrap_or_else(|| request_id.clone()),
        request_id,
    };
    req.extensions_mut().insert(ids.clone());
    crate::graph::error::REQUEST_IDS
        .scope(ids.clone(), front_scoped(emu, req, next, ids, path, method))
        .await
}

/// The front layer inside the request-id scope.
async fn front_scoped(
    emu: Arc<Emu>,
    req: Request,
    next: Next,
    ids: ReqIds,
    path: String,
    method: String,
) -> Response {
    if path == "/_emulator" || path.starts_with("/_emulator/") {
        return next.run(req).await;
    }

    let fault = take_fault(&emu, &method, &path);
    let mut fault_tag: Option<&'static str> = None;
    let mut resp = match &fault {
        Some(f) => {
            if let Some(ms) = f.delay_ms {
                tokio::time::sleep(Duration::from_millis(ms.min(600_000))).await;
                fault_tag = Some("delay");
            }
            if f.drop.as_deref() == Some("before") {
                emu.log(LogEntry {
                    method,
                    path,
                    status: None,
                    token_kind: None,
                    tenant: None,
                    time: json::rfc3339(emu.now()),
                    client_id: None,
                    request_id: Some(ids.request_id.clone()),
                    fault: Some("drop_before"),
                });
                let mut r = Response::new(Body::empty());
                r.extensions_mut().insert(DropConnection);
                return r;
            }
            if let Some(status) = f.status {
                fault_tag = Some("status");
                let mut r = fault_response(&ids, &path, status, f);
                if let Some(ra) = retry_after_value(f)
                    && let Ok(v) = HeaderValue::from_str(&ra)
                {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            } else {
                let mut r = next.run(req).await;
                if let Some(body) = &f.body {
                    fault_tag = Some("body");
                    let meta = r.extensions().get::<LogMeta>().cloned();
                    let status = r.status();
                    let mut nr = Response::new(Body::from(body.clone()));
                    *nr.status_mut() = status;
                    let ct = f.content_type.as_deref().unwrap_or("application/json");
                    if let Ok(v) = HeaderValue::from_str(ct) {
                        nr.headers_mut().insert(header::CONTENT_TYPE, v);
                    }
                    if let Some(m) = meta {
                        nr.extensions_mut().insert(m);
                    }
                    r = nr;
                }
                r
            }
        }
        None => next.run(req).await,
    };

    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        headers.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ids.client_request_id) {
        headers.insert("client-request-id", v);
    }
    let meta = resp
        .extensions()
        .get::<LogMeta>()
        .cloned()
        .unwrap_or_default();
    let drop_after = fault.as_ref().and_then(|f| f.drop.as_deref()) == Some("after");
    if drop_after {
        fault_tag = Some("drop_after");
    }
    emu.log(LogEntry {
        method,
        path,
        status: Some(resp.status().as_u16()),
        token_kind: meta.token_kind,
        tenant: meta.tenant,
        time: json::rfc3339(emu.now()),
        client_id: meta.client_id,
        request_id: Some(ids.request_id.clone()),
        fault: fault_tag,
    });
    if drop_after {
        resp.extensions_mut().insert(DropConnection);
    }
    resp
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Accepts TLS connections until `shutdown` resolves, then aborts open connections.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let router = router.clone();
                    conns.spawn(async move {
                        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            _ => return,
                        };
                        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let router = router.clone();
                            async move {
                                let resp = match router.oneshot(req.map(Body::new)).await {
                                    Ok(r) => r,
                                    Err(never) => match never {},
                                };
                                if resp.extensions().get::<DropConnection>().is_some() {
                                    Err(Dropped)
                                } else {
                                    Ok(resp)
                                }
                            }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), svc)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
