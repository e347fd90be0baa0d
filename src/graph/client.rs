//! The Graph client shared by every resource and data source: generic verbs (get, list every
//! page, post, patch, bound actions, delete) with one deadline, client-request-id and error shape
//! per logical call. Typed operations per entity set live in [`super::api`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::error::{GraphError, GraphErrorKind, error_from_answer, parse_graph_error};
use super::models::Page;
use crate::auth::error::{excerpt, truncate_chars};
use crate::auth::{Authenticator, TokenKind};
use crate::transport::http::{
    LogContext, RawResponse, SendError, join_segments, send_with_retries,
};

/// Where and how to call Graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphSettings {
    /// Scheme + host (+ port), no version, `https://`, e.g. `https://graph.microsoft.com`.
    pub graph_endpoint: String,
    /// `v1.0` or `beta`.
    pub api_version: String,
    /// Bound on one logical call (token, attempts, retries and waits).
    pub request_timeout: Duration,
    /// Retries on 429/5xx/connection errors.
    pub max_retries: u32,
}

impl Default for GraphSettings {
    fn default() -> Self {
        GraphSettings {
            graph_endpoint: "https://graph.microsoft.com".to_owned(),
            api_version: "v1.0".to_owned(),
            request_timeout: Duration::from_secs(60),
            max_retries: 8,
        }
    }
}

/// The API versions the provider speaks.
pub const API_VERSIONS: [&str; 2] = ["v1.0", "beta"];

/// Checks `graph_endpoint` and `api_version`; returns the `.../solutions/backupRestore` root.
pub fn backup_restore_root_url(settings: &GraphSettings) -> Result<Url, String> {
    let endpoint =
        crate::transport::http::validate_https("graph_endpoint", &settings.graph_endpoint)?;
    if !API_VERSIONS.contains(&settings.api_version.as_str()) {
        return Err(format!(
            "api_version must be \"v1.0\" or \"beta\", got {:?}",
            settings.api_version
        ));
    }
    let last = endpoint
        .path_segments()
        .and_then(|mut s| s.rfind(|x| !x.is_empty()))
        .unwrap_or("");
    if API_VERSIONS.contains(&last) {
        return Err(format!(
            "graph_endpoint must not include the API version (got {:?}); set api_version instead",
            settings.graph_endpoint
        ));
    }
    Ok(join_segments(
        &endpoint,
        &[&settings.api_version, "solutions", "backupRestore"],
    ))
}

/// Microsoft Graph Backup Storage control-plane client. Cheap to clone; shares one connection
/// pool and one token cache.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: GraphSettings,
    root: Result<Url, String>,
    auth: Arc<Authenticator>,
    http: reqwest::Client,
    /// Graph's clock, shared by every client derived from this one (`v1()`, ...).
    clock: Arc<GraphClock>,
}

/// The newest `Date` header Graph sent and when it arrived: Graph's "now" without trusting the
/// local clock (restore-point windows are measured on it, binding decision 16).
#[derive(Default)]
struct GraphClock(std::sync::Mutex<Option<(String, Instant)>>);

impl GraphClock {
    fn observe(&self, date: Option<&str>) {
        if let Some(date) = date {
            let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *last = Some((date.to_owned(), Instant::now()));
        }
    }

    /// The last `Date` Graph sent, advanced by the time since it arrived.
    fn now(&self) -> Option<time::OffsetDateTime> {
        let last = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (date, seen) = last?;
        let at = httpdate::parse_http_date(&date).ok()?;
        Some(time::OffsetDateTime::from(at) + seen.elapsed())
    }
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("settings", &self.inner.settings)
            .field("auth", &self.inner.auth)
            .finish()
    }
}

/// Largest number of pages followed in a collection.
const MAX_PAGES: usize = 1000;

impl GraphClient {
    /// Builds a client. An invalid `graph_endpoint` (not `https://`) or `api_version` does not
    /// fail here: every call then fails with a [`GraphErrorKind::Config`] error. Use
    /// [`Self::try_new`] or [`backup_restore_root_url`] to fail early.
    pub fn new(settings: GraphSettings, auth: Arc<Authenticator>, http: reqwest::Client) -> Self {
        Self::with_clock(settings, auth, http, Arc::default())
    }

    fn with_clock(
        settings: GraphSettings,
        auth: Arc<Authenticator>,
        http: reqwest::Client,
        clock: Arc<GraphClock>,
    ) -> Self {
        let root = backup_restore_root_url(&settings);
        GraphClient {
            inner: Arc::new(Inner {
                settings,
                root,
                auth,
                http,
                clock,
            }),
        }
    }

    /// Graph's current time as its last answer's `Date` header tells (advanced by the time
    /// since); `None` before any answer with one.
    pub fn graph_now(&self) -> Option<time::OffsetDateTime> {
        self.inner.clock.now()
    }

    /// Like [`Self::new`], but refuses an invalid endpoint or API version.
    pub fn try_new(
        settings: GraphSettings,
        auth: Arc<Authenticator>,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let c = Self::new(settings, auth, http);
        c.inner.root.clone().map(|_| c)
    }

    /// Test-only: a client whose endpoint may be plain http (a local test server).
    #[cfg(test)]
    pub(crate) fn for_tests_with_endpoint(
        settings: GraphSettings,
        auth: Arc<Authenticator>,
        http: reqwest::Client,
        endpoint: Url,
    ) -> Self {
        let root = join_segments(
            &endpoint,
            &[&settings.api_version, "solutions", "backupRestore"],
        );
        GraphClient {
            inner: Arc::new(Inner {
                settings,
                root: Ok(root),
                auth,
                http,
                clock: Arc::default(),
            }),
        }
    }

    /// This client on Graph v1.0 (Part 2 always uses it, whatever `api_version` says).
    pub fn v1(&self) -> GraphClient {
        if self.inner.settings.api_version == "v1.0" {
            return self.clone();
        }
        self.with_settings(|s| s.api_version = "v1.0".to_owned())
    }

    /// This client without transport retries (creating POSTs must not be repeated blindly),
    /// on the same connection pool and token cache.
    pub fn without_retries(&self) -> GraphClient {
        self.with_settings(|s| s.max_retries = 0)
    }

    fn with_settings(&self, change: impl FnOnce(&mut GraphSettings)) -> GraphClient {
        let mut settings = self.inner.settings.clone();
        change(&mut settings);
        GraphClient::with_clock(
            settings,
            self.inner.auth.clone(),
            self.inner.http.clone(),
            self.inner.clock.clone(),
        )
    }

    pub fn settings(&self) -> &GraphSettings {
        &self.inner.settings
    }

    pub fn authenticator(&self) -> &Arc<Authenticator> {
        &self.inner.auth
    }

    /// The token kind used for every call but activate/deactivate: app-only when an app-only
    /// credential is configured, else delegated.
    pub fn default_token_kind(&self) -> TokenKind {
        if self.inner.auth.has_app_only() || !self.inner.auth.has_delegated() {
            TokenKind::AppOnly
        } else {
            TokenKind::Delegated
        }
    }

    /// `GET {path}`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
    ) -> Result<T, GraphError> {
        let call = Call::new(self, op, tenant);
        let resp = call.send(Method::GET, path, None, None).await?;
        call.decode(&resp)
    }

    /// `GET {path}`; a 404 gives `Ok(None)`.
    pub async fn get_or_none<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
    ) -> Result<Option<T>, GraphError> {
        match self.get(op, tenant, path).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET {path}` of a collection, following every `@odata.nextLink` (on Graph's origin only).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
    ) -> Result<Vec<T>, GraphError> {
        self.list_all_as(op, tenant, path, None).await
    }

    /// [`Self::list_all`] with a specific token kind (Graph fills some properties, such as a
    /// unit's `email`, only for delegated tokens).
    pub async fn list_all_as<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
        token: Option<TokenKind>,
    ) -> Result<Vec<T>, GraphError> {
        let call = Call::new(self, op, tenant);
        let mut url = call.url(path)?;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = call.send_url(Method::GET, url, None, token).await?;
            let page: Page<T> = call.decode(&resp)?;
            items.extend(page.value);
            match page.next_link {
                Some(next) if !next.trim().is_empty() => url = call.next_link(&next)?,
                _ => return Ok(items),
            }
        }
        Err(call.error(
            GraphErrorKind::Decode,
            format!("more than {MAX_PAGES} pages; giving up"),
        ))
    }

    /// `POST {path}` with a JSON body; `None` when Graph answers without a body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
        body: serde_json::Value,
    ) -> Result<Option<T>, GraphError> {
        self.write(Method::POST, op, tenant, path, Some(body), None)
            .await
    }

    /// `PATCH {path}` with a JSON body; `None` when Graph answers without a body.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
        body: serde_json::Value,
    ) -> Result<Option<T>, GraphError> {
        self.write(Method::PATCH, op, tenant, path, Some(body), None)
            .await
    }

    /// `PATCH {path}` with a specific token kind (Graph allows some PATCHes, such as the
    /// notification settings, only with a delegated token).
    pub async fn patch_as<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
        body: serde_json::Value,
        token: TokenKind,
    ) -> Result<Option<T>, GraphError> {
        self.write(Method::PATCH, op, tenant, path, Some(body), Some(token))
            .await
    }

    /// A bound action: `POST {path}/{action}` with an optional body and, when Graph requires
    /// one, a specific token kind (activate/deactivate are delegated-only).
    pub async fn action<T: DeserializeOwned>(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
        body: Option<serde_json::Value>,
        token: Option<TokenKind>,
    ) -> Result<Option<T>, GraphError> {
        self.write(Method::POST, op, tenant, path, body, token)
            .await
    }

    /// `DELETE {path}`. A 404 is an error with status 404: the caller decides whether "already
    /// gone" is fine.
    pub async fn delete(
        &self,
        op: &'static str,
        tenant: &str,
        path: &[&str],
    ) -> Result<(), GraphError> {
        let call = Call::new(self, op, tenant);
        call.send(Method::DELETE, path, None, None)
            .await
            .map(|_| ())
    }

    async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        op: &'static str,
        tenant: &str,
        path: &[&str],
        body: Option<serde_json::Value>,
        token: Option<TokenKind>,
    ) -> Result<Option<T>, GraphError> {
        let call = Call::new(self, op, tenant);
        let resp = call.send(method, path, body, token).await?;
        if resp.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        call.decode(&resp).map(Some)
    }
}

/// One logical call: its operation name, tenant, client-request-id and deadline.
struct Call<'a> {
    client: &'a GraphClient,
    operation: &'static str,
    tenant: &'a str,
    client_request_id: String,
    deadline: Instant,
}

impl<'a> Call<'a> {
    fn new(client: &'a GraphClient, operation: &'static str, tenant: &'a str) -> Self {
        Call {
            client,
            operation,
            tenant,
            client_request_id: uuid::Uuid::new_v4().to_string(),
            deadline: Instant::now() + client.inner.settings.request_timeout,
        }
    }

    fn error(&self, kind: GraphErrorKind, message: impl Into<String>) -> GraphError {
        let mut e = GraphError::new(kind, self.operation, self.tenant, message);
        e.client_request_id = Some(self.client_request_id.clone());
        e
    }

    fn url(&self, segments: &[&str]) -> Result<Url, GraphError> {
        let root = self
            .client
            .inner
            .root
            .as_ref()
            // Nothing was sent: no request id to name.
            .map_err(|e| {
                GraphError::new(
                    GraphErrorKind::Config,
                    self.operation,
                    self.tenant,
                    e.clone(),
                )
            })?;
        Ok(join_segments(root, segments))
    }

    /// Accepts an `@odata.nextLink` only on the configured Graph origin (the bearer token must
    /// never go elsewhere).
    fn next_link(&self, link: &str) -> Result<Url, GraphError> {
        let root = self.url(&[])?;
        let next = Url::parse(link.trim()).or_else(|_| root.join(link.trim()));
        match next {
            Ok(u) if u.origin() == root.origin() => Ok(u),
            _ => Err(self.error(
                GraphErrorKind::Decode,
                format!(
                    "Graph returned a next page link outside graph_endpoint: {}",
                    truncate_chars(link, 200)
                ),
            )),
        }
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<serde_json::Value>,
        kind: Option<TokenKind>,
    ) -> Result<RawResponse, GraphError> {
        let url = self.url(segments)?;
        self.send_url(method, url, body, kind).await
    }

    /// Sends the request with a token of `kind` (default: [`GraphClient::default_token_kind`]);
    /// returns the 2xx answer, or the error. A 401 `InvalidAuthenticationToken` drops the cached
    /// token and retries once with a fresh one.
    async fn send_url(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        kind: Option<TokenKind>,
    ) -> Result<RawResponse, GraphError> {
        let inner = &self.client.inner;
        let kind = kind.unwrap_or_else(|| self.client.default_token_kind());
        let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
        let path = url.path().to_owned();
        let mut token_refreshed = false;
        loop {
            let token =
                match tokio::time::timeout_at(self.deadline, inner.auth.token(self.tenant, kind))
                    .await
                {
                    Err(_) => {
                        let mut e = GraphError::from_auth(
                            self.operation,
                            self.tenant,
                            crate::auth::AuthError::Timeout,
                        );
                        // Only name a request id when a request with it reached Graph.
                        e.client_request_id =
                            token_refreshed.then(|| self.client_request_id.clone());
                        return Err(e);
                    }
                    Ok(Err(auth_err)) => {
                        let mut e = GraphError::from_auth(self.operation, self.tenant, auth_err);
                        e.client_request_id =
                            token_refreshed.then(|| self.client_request_id.clone());
                        return Err(e);
                    }
                    Ok(Ok(t)) => t,
                };
            let log = LogContext {
                service: "graph",
                operation: self.operation,
                tenant: self.tenant,
                method: &method,
                path: &path,
            };
            let build = || {
                let mut rb = inner
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.secret.expose())
                    .header(ACCEPT, "application/json")
                    .header("client-request-id", &self.client_request_id)
                    .header("Prefer", "include-unknown-enum-members");
                if let Some(b) = &body {
                    rb = rb.header(CONTENT_TYPE, "application/json").body(b.clone());
                }
                rb
            };
            let resp =
                match send_with_retries(&build, self.deadline, inner.settings.max_retries, &log)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return Err(self.send_error(e)),
                };
            inner.clock.observe(resp.date.as_deref());
            if resp.is_success() {
                return Ok(resp);
            }
            if resp.status == 401 && !token_refreshed {
                let code = parse_graph_error(&resp.body).and_then(|p| p.code);
                if code
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case("InvalidAuthenticationToken"))
                {
                    tracing::debug!(
                        tenant = self.tenant,
                        %kind,
                        "token rejected by Graph; retrying once with a fresh token"
                    );
                    inner
                        .auth
                        .invalidate_token(self.tenant, kind, &token.secret);
                    token_refreshed = true;
                    continue;
                }
            }
            let mut e = error_from_answer(
                self.operation,
                self.tenant,
                resp.status,
                &resp.body,
                resp.request_id.clone(),
                &self.client_request_id,
                resp.attempts,
            );
            if resp.status == 401 {
                e.message.push_str(&format!(" ({kind} token)"));
            }
            return Err(e);
        }
    }

    fn send_error(&self, e: SendError) -> GraphError {
        let timeout = self.client.inner.settings.request_timeout;
        match e {
            SendError::Timeout {
                attempts,
                last,
                last_transport,
            } => {
                let mut msg = format!(
                    "no successful answer within request_timeout ({}) after {attempts} attempt{}",
                    fmt_duration(timeout),
                    if attempts == 1 { "" } else { "s" }
                );
                let mut err = self.error(GraphErrorKind::Timeout, String::new());
                if let Some(last) = last {
                    let parsed = error_from_answer(
                        self.operation,
                        self.tenant,
                        last.status,
                        &last.body,
                        last.request_id.clone(),
                        &self.client_request_id,
                        1,
                    );
                    msg.push_str(&format!("; last answer: HTTP {}", last.status));
                    if let Some(c) = &parsed.code {
                        msg.push_str(&format!(" {c}"));
                    }
                    msg.push_str(&format!(": {}", parsed.message));
                    err.status = parsed.status;
                    err.code = parsed.code;
                    err.request_id = parsed.request_id;
                } else if let Some(t) = last_transport {
                    msg.push_str(&format!("; last error: {t}"));
                }
                err.message = msg;
                err
            }
            SendError::Transport {
                attempts, message, ..
            } => self.error(
                GraphErrorKind::Transport,
                format!(
                    "could not reach Graph ({attempts} attempt{}): {message}",
                    if attempts == 1 { "" } else { "s" }
                ),
            ),
        }
    }

    fn decode<T: DeserializeOwned>(&self, resp: &RawResponse) -> Result<T, GraphError> {
        let fail = |message: String| {
            let mut e = self.error(GraphErrorKind::Decode, message);
            e.status = Some(resp.status);
            e.request_id = resp.request_id.clone();
            e
        };
        if resp.truncated {
            return Err(fail(format!(
                "Graph's answer is larger than {} bytes",
                crate::transport::http::MAX_BODY_BYTES
            )));
        }
        serde_json::from_slice(&resp.body).map_err(|e| {
            fail(format!(
                "could not decode Graph's answer (HTTP {}): {e}; body starts with: {}",
                resp.status,
                excerpt(&resp.body, 200)
            ))
        })
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthSettings;

    fn settings(endpoint: &str, version: &str) -> GraphSettings {
        GraphSettings {
            graph_endpoint: endpoint.into(),
            api_version: version.into(),
            request_timeout: Duration::from_secs(5),
            max_retries: 2,
        }
    }

    #[test]
    fn root_urls() {
        assert_eq!(
            backup_restore_root_url(&settings("https://graph.microsoft.com", "v1.0"))
                .unwrap()
                .as_str(),
            "https://graph.microsoft.com/v1.0/solutions/backupRestore"
        );
        assert_eq!(
            backup_restore_root_url(&settings("https://127.0.0.1:8443/", "beta"))
                .unwrap()
                .as_str(),
            "https://127.0.0.1:8443/beta/solutions/backupRestore"
        );
        assert!(
            backup_restore_root_url(&settings("http://127.0.0.1:8443", "v1.0"))
                .unwrap_err()
                .contains("https")
        );
        assert!(
            backup_restore_root_url(&settings("https://graph.microsoft.com", "v2"))
                .unwrap_err()
                .contains("api_version")
        );
        assert!(
            backup_restore_root_url(&settings("https://graph.microsoft.com/v1.0/", "v1.0"))
                .unwrap_err()
                .contains("API version")
        );
    }

    fn auth() -> Arc<Authenticator> {
        Arc::new(Authenticator::new(
            AuthSettings {
                authority_host: "https://login.example.test".into(),
                client_id: Some("app".into()),
                client_secret: None,
                delegated_refresh_token: None,
                delegated_access_token: None,
                app_scope: "https://graph.microsoft.com/.default".into(),
                delegated_scope: "https://graph.microsoft.com/.default offline_access".into(),
                request_timeout: Duration::from_secs(5),
            },
            crate::transport::build_http_client(Duration::from_secs(5)).unwrap(),
        ))
    }

    #[tokio::test]
    async fn http_endpoint_fails_every_call_clearly() {
        let http = crate::transport::build_http_client(Duration::from_secs(5)).unwrap();
        assert!(GraphClient::try_new(settings("http://x", "v1.0"), auth(), http.clone()).is_err());
        let c = GraphClient::new(settings("http://x", "v1.0"), auth(), http);
        let e = c.get_root("t").await.unwrap_err();
        assert_eq!(e.kind, GraphErrorKind::Config);
        assert!(e.user_message().contains("https"), "{}", e.user_message());
    }

    #[tokio::test]
    async fn activate_without_delegated_credential_says_how_to_sign_in() {
        let http = crate::transport::build_http_client(Duration::from_secs(5)).unwrap();
        let c = GraphClient::new(settings("https://graph.example.test", "v1.0"), auth(), http);
        let e = c
            .activate("tenant-1", "app", "2030-01-01T00:00:00Z")
            .await
            .unwrap_err();
        assert!(matches!(
            e.kind,
            GraphErrorKind::Auth(crate::auth::AuthError::NotConfigured {
                kind: TokenKind::Delegated,
                ..
            })
        ));
        let m = e.user_message();
        assert!(
            m.contains("terraform-provider-m365backup login --tenant tenant-1 --client-id app"),
            "{m}"
        );
        assert!(e.client_request_id.is_none(), "no request was sent");
        assert_eq!(c.authenticator().token_requests(), 0);
    }

    #[test]
    fn next_links_must_stay_on_the_graph_origin() {
        let http = crate::transport::build_http_client(Duration::from_secs(5)).unwrap();
        let c = GraphClient::new(settings("https://graph.example.test", "v1.0"), auth(), http);
        let call = Call::new(&c, "list serviceApps", "t");
        assert!(
            call.next_link(
                "https://graph.example.test/v1.0/solutions/backupRestore/serviceApps?$skiptoken=a"
            )
            .is_ok()
        );
        assert!(call.next_link("https://evil.example/steal").is_err());
        assert!(call.next_link("http://graph.example.test/v1.0/x").is_err());
        assert!(
            call.next_link("https://graph.example.test:444/v1.0/x")
                .is_err()
        );
    }

    #[test]
    fn durations_print_nicely() {
        assert_eq!(fmt_duration(Duration::from_secs(60)), "60s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
    }
}
