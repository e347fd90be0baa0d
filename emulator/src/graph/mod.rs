//! Microsoft Graph `/v1.0` and `/beta` under `solutions/backupRestore`: authentication, the
//! OData path ([`odata`]), request bodies and query options, and dispatch to one module per
//! entity set. The state machines live in [`crate::lifecycle`] (controller) and
//! [`crate::protection`] (policies, units, rules, jobs); these modules only translate.

pub mod error;
mod jobs;
mod notifications;
pub mod odata;
mod paging;
mod policies;
mod render;
mod restore_points;
mod root;
mod rules;
mod service_apps;
mod units;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::common::{
    BODY_LIMIT, BodyError, LogMeta, base_url, content_type, graph_json, read_body,
};
use crate::lifecycle::{Actor, BackupServiceStatus, IdentitySet, ServiceAppStatus, Tenant};
use crate::protection::{Protection, Settings};
use crate::store::Emu;
use crate::tokens;

pub use error::{GraphError, GraphResult};
use odata::{ODataPath, PathError};
pub use paging::MAX_TOP;
pub use render::notifications as render_notifications;

/// Permission families of the Backup Storage API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// `BackupRestore-Control.*`: root, enable, serviceApps, emailNotificationsSetting.
    Control,
    /// `BackupRestore-Configuration.*`: policies, units, rules, bulk jobs.
    Configuration,
    /// `BackupRestore-Search.*`: restore points.
    Search,
}

impl Perm {
    fn prefix(self) -> &'static str {
        match self {
            Perm::Control => "BackupRestore-Control.",
            Perm::Configuration => "BackupRestore-Configuration.",
            Perm::Search => "BackupRestore-Search.",
        }
    }
}

/// Who calls: from the access token, or made up by the admin API's `as-admin`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    pub app_id: String,
    pub app_display_name: Option<String>,
    /// Delegated token: the signed-in user.
    pub user_id: Option<String>,
    /// Permissions (roles or scopes).
    pub permissions: Vec<String>,
    /// The Microsoft 365 admin center (admin API): not subject to controller gating.
    pub admin_center: bool,
}

impl Caller {
    pub fn is_user(&self) -> bool {
        self.user_id.is_some()
    }

    pub fn identity(&self) -> IdentitySet {
        self.actor().identity()
    }

    pub fn actor(&self) -> Actor {
        Actor {
            app_id: self.app_id.clone(),
            app_display_name: self.app_display_name.clone(),
            user_id: self.user_id.clone(),
        }
    }

    /// 403 unless the token carries `perm` (`write`: a `ReadWrite` permission).
    pub fn require(&self, perm: Perm, write: bool) -> GraphResult<()> {
        let ok = self.permissions.iter().any(|p| {
            p.strip_prefix(perm.prefix())
                .is_some_and(|rest| !write || rest.starts_with("ReadWrite"))
        });
        if ok {
            return Ok(());
        }
        let want = format!(
            "{}{}",
            perm.prefix(),
            if write { "ReadWrite.All" } else { "Read.All" }
        );
        Err(GraphError::new(
            403,
            "accessDenied",
            format!("Either scp or roles claim need to be present in the token with {want}."),
        ))
    }

    /// 403 for app-only tokens on delegated-only operations.
    pub fn require_user(&self, op: &str) -> GraphResult<()> {
        if self.is_user() || self.admin_center {
            return Ok(());
        }
        Err(GraphError::new(
            403,
            "accessDenied",
            format!(
                "Application permissions are not supported for '{op}': call it with a delegated token of a signed-in administrator."
            ),
        ))
    }
}

/// One request after authentication and body parsing.
pub struct Ctx {
    pub emu: Arc<Emu>,
    pub version: &'static str,
    pub base: String,
    /// `Prefer: include-unknown-enum-members` was sent.
    pub prefer_unknown: bool,
    pub now: OffsetDateTime,
    pub method: Method,
    /// The path after the version, as sent (for `@odata.nextLink`).
    pub raw_path: String,
    pub path: ODataPath,
    pub query: Vec<(String, String)>,
    pub body: Map<String, Value>,
}

impl Ctx {
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/{}/$metadata#{}", self.base, self.version, fragment)
    }

    pub fn url(&self, rest: &str) -> String {
        format!(
            "{}/{}/solutions/backupRestore/{}",
            self.base, self.version, rest
        )
    }

    /// A query option by name (case-insensitive, `$` optional as OData allows).
    pub fn query(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('$');
        self.query
            .iter()
            .find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case(bare))
            .map(|(_, v)| v.as_str())
    }

    /// 405 unless the method is one of `allowed`.
    pub fn allow(&self, allowed: &[Method]) -> GraphResult<()> {
        if allowed.contains(&self.method) {
            return Ok(());
        }
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Err(GraphError::new(
            405,
            "BadRequest",
            format!(
                "The HTTP method '{}' is not allowed on this resource.",
                self.method
            ),
        )
        .with_header("allow", allow))
    }
}

/// `Prefer: include-unknown-enum-members` in any `Prefer` header.
fn prefers_unknown_members(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',').any(|p| {
                p.trim()
                    .eq_ignore_ascii_case("include-unknown-enum-members")
            })
        })
    })
}

/// Puts `@odata.context` (and more annotations) in front of an entity's properties.
pub fn annotate(mut v: Value, annotations: &[(&str, Value)]) -> Value {
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        for (k, a) in annotations {
            out.insert((*k).to_string(), a.clone());
        }
        for (k, x) in std::mem::take(m) {
            out.entry(k).or_insert(x);
        }
        *m = out;
    }
    v
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The `$count` answer: the number as plain text, as Graph sends it.
pub fn count_response(n: usize) -> Response {
    let mut r = (StatusCode::OK, n.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Parses a JSON object body; an empty body is an empty object.
fn json_object(headers: &HeaderMap, bytes: &[u8]) -> GraphResult<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match content_type(headers) {
        Some(ct) if ct == "application/json" || ct.ends_with("+json") => {}
        other => {
            return Err(GraphError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "Content-Type '{}' is not supported for this request; send application/json.",
                    other.unwrap_or_default()
                ),
            ));
        }
    }
    parse_object(bytes)
}

fn parse_object(bytes: &[u8]) -> GraphResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GraphError::bad_request(
            "The request payload must be a JSON object.",
        )),
        Err(_) => Err(GraphError::bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

pub fn parse_dto(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn unauthorized(msg: impl Into<String>) -> GraphError {
    GraphError::new(401, "InvalidAuthenticationToken", msg).with_header(
        "www-authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    )
}

fn authenticate(emu: &Emu, headers: &HeaderMap) -> GraphResult<Caller> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized("Access token is empty."));
    };
    let value = value.to_str().unwrap_or_default().trim();
    let token = match value.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(unauthorized("Access token is empty.")),
    };
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    let cutoff = emu.read(|p| p.tokens_not_before_us);
    let claims = tokens::validate_access(&emu.jwt_key, token, cutoff).map_err(unauthorized)?;
    let (tenant, display) = emu.read(|p| {
        (
            p.tenant_id(&claims.tid),
            p.app(&claims.appid).and_then(|a| a.display_name.clone()),
        )
    });
    let Some(tenant) = tenant else {
        return Err(unauthorized(
            "Access token validation failure. The token's tenant is not known to this service.",
        ));
    };
    let permissions: Vec<String> = claims
        .roles
        .iter()
        .flatten()
        .cloned()
        .chain(
            claims
                .scp
                .iter()
                .flat_map(|s| s.split(' ').map(str::to_string)),
        )
        .collect();
    if !permissions.iter().any(|p| p.starts_with("BackupRestore-")) {
        return Err(GraphError::new(
            403,
            "accessDenied",
            "Either scp or roles claim need to be present in the token with BackupRestore permissions.",
        ));
    }
    Ok(Caller {
        tenant,
        app_id: claims.appid.clone(),
        app_display_name: display,
        user_id: if claims.idtyp == "user" {
            claims.oid.clone()
        } else {
            None
        },
        permissions,
        admin_center: false,
    })
}

pub async fn handle(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let mut meta = LogMeta::default();
    let prefer = prefers_unknown_members(&parts.headers);
    let body = read_body(body, BODY_LIMIT).await;
    let result = match authenticate(&emu, &parts.headers) {
        Ok(caller) => {
            meta.token_kind = Some(if caller.is_user() { "user" } else { "app" });
            meta.tenant = Some(caller.tenant.clone());
            meta.client_id = Some(caller.app_id.clone());
            match body {
                Ok(bytes) => serve(
                    &emu,
                    &caller,
                    &parts.method,
                    &parts.uri,
                    &parts.headers,
                    &bytes,
                    false,
                ),
                Err(BodyError::TooLarge) => Err(GraphError::new(
                    413,
                    "RequestEntityTooLarge",
                    "The request body exceeds the maximum allowed size (4 MB).",
                )),
                Err(BodyError::Read) => Err(GraphError::bad_request(
                    "The request body could not be read.",
                )),
            }
        }
        Err(e) => Err(e),
    };
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    finish(&emu, &mut resp, prefer);
    resp.extensions_mut().insert(meta);
    resp
}

/// What every Graph answer carries: `Preference-Applied` when the enum preference was sent
/// (on both versions), and `Date` in virtual time.
fn finish(emu: &Emu, resp: &mut Response, prefer: bool) {
    if prefer {
        resp.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("include-unknown-enum-members"),
        );
    }
    let date = httpdate::fmt_http_date(emu.now().into());
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(header::DATE, v);
    }
}

/// Serves one authenticated Graph request (`json_body`: parse the body whatever its
/// content type says, for the admin API's `as-admin`).
pub fn serve(
    emu: &Arc<Emu>,
    caller: &Caller,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    bytes: &Bytes,
    json_body: bool,
) -> GraphResult {
    let full = uri.path();
    let (version, rest) = if let Some(r) = full.strip_prefix("/v1.0") {
        ("v1.0", r)
    } else if let Some(r) = full.strip_prefix("/beta") {
        ("beta", r)
    } else {
        return Err(GraphError::bad_request(format!(
            "Invalid version in '{full}': use /v1.0 or /beta."
        )));
    };
    let path = odata::parse(rest).map_err(|e| match e {
        PathError::Segment(s) => {
            GraphError::bad_request(format!("Resource not found for the segment '{s}'."))
        }
        PathError::NotImplemented(s) => GraphError::new(
            501,
            "notSupported",
            format!(
                "The emulator implements only the Backup Storage control plane and protection; '{s}' is not available."
            ),
        ),
    })?;
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let body = if matches!(*method, Method::POST | Method::PATCH | Method::PUT) {
        if json_body && !bytes.is_empty() {
            parse_object(bytes)?
        } else {
            json_object(headers, bytes)?
        }
    } else {
        Map::new()
    };
    let ctx = Ctx {
        emu: emu.clone(),
        version,
        base: base_url(headers, uri),
        prefer_unknown: prefers_unknown_members(headers),
        now: emu.now(),
        method: method.clone(),
        raw_path: rest.to_string(),
        path,
        query,
        body,
    };
    dispatch(&ctx, caller)
}

fn dispatch(ctx: &Ctx, caller: &Caller) -> GraphResult {
    let Some(set) = ctx.path.set else {
        return root::handle(ctx, caller);
    };
    match set {
        "serviceApps" => service_apps::handle(ctx, caller),
        "protectionPolicies"
        | "sharePointProtectionPolicies"
        | "oneDriveForBusinessProtectionPolicies"
        | "exchangeProtectionPolicies" => policies::handle(ctx, caller),
        "protectionUnits"
        | "siteProtectionUnits"
        | "driveProtectionUnits"
        | "mailboxProtectionUnits" => units::handle_root(ctx, caller),
        "siteInclusionRules" | "driveInclusionRules" | "mailboxInclusionRules" => {
            rules::handle_root(ctx, caller)
        }
        "siteProtectionUnitsBulkAdditionJobs"
        | "driveProtectionUnitsBulkAdditionJobs"
        | "mailboxProtectionUnitsBulkAdditionJobs" => jobs::handle_root(ctx, caller),
        "emailNotificationsSetting" => notifications::handle(ctx, caller),
        "restorePoints" => restore_points::handle(ctx, caller),
        other => Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{other}'."
        ))),
    }
}

/// Read or write, for gating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Controller gating of protection (Graph documents no code; the emulator's choice):
/// reads need our app registered in the tenant; writes need it `active` or `pendingInactive`
/// (403 `accessDenied` otherwise, e.g. `pendingActive`: read-only) and the service `enabled`
/// (403 `ServiceNotEnabled`, also when `protectionChangeLocked` or `restoreLocked`).
fn gate(t: &Tenant, caller: &Caller, access: Access) -> GraphResult<()> {
    if caller.admin_center {
        return Ok(());
    }
    let Some(app) = t.app(&caller.app_id) else {
        return Err(GraphError::new(
            403,
            "accessDenied",
            format!(
                "The application '{}' is not registered as a serviceApp of this tenant.",
                caller.app_id
            ),
        ));
    };
    if access == Access::Read {
        return Ok(());
    }
    match app.status {
        ServiceAppStatus::Active | ServiceAppStatus::PendingInactive => {}
        s => {
            return Err(GraphError::new(
                403,
                "accessDenied",
                format!(
                    "The serviceApp is {}: only the controlling app can change protection.",
                    s.as_str()
                ),
            ));
        }
    }
    if t.service.status != BackupServiceStatus::Enabled {
        return Err(GraphError::new(
            403,
            "ServiceNotEnabled",
            format!(
                "Protection cannot be changed while the backup service is {}.",
                t.service.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// Runs `f` on the caller's tenant's protection after due work is applied and gating
/// passed. Writes (and reads that applied due work) mark the tenant's protection file for
/// writing.
pub fn with_protection<R>(
    ctx: &Ctx,
    caller: &Caller,
    access: Access,
    f: impl FnOnce(&mut Protection, &Settings) -> GraphResult<R>,
) -> GraphResult<R> {
    let now = ctx.now;
    let tid = caller.tenant.as_str();
    let (result, touched) = ctx.emu.mutate_if(|p| {
        let settings = p.settings.clone();
        let Some(t) = p.tenant_mut(tid) else {
            return (
                (
                    Err(unauthorized(
                        "The token's tenant is not known to this service.",
                    )),
                    false,
                ),
                false,
            );
        };
        let tenant_changed = t.advance(now);
        if let Err(e) = gate(t, caller, access) {
            return ((Err(e), false), tenant_changed);
        }
        let prot = p.protection_mut(tid);
        let advanced = prot.advance(now, &settings);
        let r = f(prot, &settings);
        let touched = advanced || (access == Access::Write && r.is_ok());
        ((r, touched), tenant_changed)
    });
    if touched {
        ctx.emu.protection_changed(tid);
    }
    result
}

/// Runs `f` on the caller's tenant (after applying due transitions); the state is persisted
/// when the tenant changed.
pub fn with_tenant<R>(
    ctx: &Ctx,
    tid: &str,
    f: impl FnOnce(&mut Tenant) -> Result<R, GraphError>,
) -> GraphResult<R> {
    let now = ctx.now;
    let result = ctx.emu.mutate_if(|p| match p.tenant_mut(tid) {
        None => (None, false),
        Some(t) => {
            let before = t.clone();
            t.advance(now);
            let r = f(t);
            let changed = *t != before;
            (Some(r), changed)
        }
    });
    result.unwrap_or_else(|| {
        Err(unauthorized(
            "Access token validation failure. The token's tenant is not known to this service.",
        ))
    })
}

pub fn json_ok(status: StatusCode, v: &Value) -> GraphResult {
    Ok(graph_json(status, v))
}
