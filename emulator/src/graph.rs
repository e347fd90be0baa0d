//! Microsoft Graph `/v1.0` and `/beta` Backup Storage control plane: a thin layer that
//! authenticates, routes, parses bodies and turns [`crate::lifecycle`] results into Graph
//! responses.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::common::{
    BODY_LIMIT, BodyError, LogMeta, ReqIds, base_url, content_type, graph_error, graph_json,
    read_body,
};
use crate::json;
use crate::lifecycle::{Actor, LcError, Tenant};
use crate::store::Emu;
use crate::tokens::{self, AccessClaims};

/// Navigation properties of backupRestoreRoot (v1.0 + beta) that the emulator does not
/// implement: answered 501 instead of "segment not found".
const OTHER_NAVIGATION: &[&str] = &[
    "activityLogs",
    "browseSessions",
    "driveExclusionUnits",
    "driveExclusionUnitsBulkAdditionJobs",
    "driveInclusionRules",
    "driveProtectionUnits",
    "driveProtectionUnitsBulkAdditionJobs",
    "emailNotificationsSetting",
    "exchangeProtectionPolicies",
    "exchangeRestoreSessions",
    "exclusionUnits",
    "mailboxExclusionUnits",
    "mailboxExclusionUnitsBulkAdditionJobs",
    "mailboxInclusionRules",
    "mailboxProtectionUnits",
    "mailboxProtectionUnitsBulkAdditionJobs",
    "oneDriveForBusinessBrowseSessions",
    "oneDriveForBusinessProtectionPolicies",
    "oneDriveForBusinessRestoreSessions",
    "protectionPolicies",
    "protectionUnits",
    "reports",
    "restorePoints",
    "restoreSessions",
    "sharePointBrowseSessions",
    "sharePointProtectionPolicies",
    "sharePointRestoreSessions",
    "siteExclusionUnits",
    "siteExclusionUnitsBulkAdditionJobs",
    "siteInclusionRules",
    "siteProtectionUnits",
    "siteProtectionUnitsBulkAdditionJobs",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Root,
    Enable,
    ServiceApps,
    ServiceApp(String),
    Activate(String),
    Deactivate(String),
}

impl Route {
    fn allowed(&self) -> &'static [Method] {
        match self {
            Route::Root => &[Method::GET],
            Route::Enable | Route::Activate(_) | Route::Deactivate(_) => &[Method::POST],
            Route::ServiceApps => &[Method::GET, Method::POST],
            Route::ServiceApp(_) => &[Method::GET, Method::DELETE],
        }
    }
}

enum RouteError {
    Segment(String),
    NotImplemented(String),
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `activate` or `microsoft.graph.activate`.
fn is_action(seg: &str, name: &str) -> bool {
    eq(seg, name)
        || seg
            .strip_prefix("microsoft.graph.")
            .is_some_and(|s| eq(s, name))
}

/// `serviceApps('id')` / `serviceApps(id)` key syntax.
fn key_in_parens(seg: &str) -> Option<String> {
    seg.get(..12).filter(|p| eq(p, "serviceApps("))?;
    let inner = seg[12..].strip_suffix(')')?;
    let inner = inner.trim_matches('\'');
    Some(inner.to_string())
}

fn route(rest: &str) -> Result<Route, RouteError> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let bad = |s: &str| Err(RouteError::Segment(s.to_string()));
    match segs.first() {
        Some(s) if eq(s, "solutions") => {}
        Some(s) => return bad(s),
        None => return bad(""),
    }
    match segs.get(1) {
        Some(s) if eq(s, "backupRestore") => {}
        Some(s) => return bad(s),
        None => return bad("solutions"),
    }
    let tail = &segs[2..];
    let (app_id, after): (Option<String>, &[&str]) = match tail.first() {
        None => return Ok(Route::Root),
        Some(s) if tail.len() == 1 && is_action(s, "enable") => return Ok(Route::Enable),
        Some(s) if eq(s, "serviceApps") => match tail.get(1) {
            None => return Ok(Route::ServiceApps),
            Some(id) => (Some(id.to_string()), &tail[2..]),
        },
        Some(s) if key_in_parens(s).is_some() => (key_in_parens(s), &tail[1..]),
        Some(s) if OTHER_NAVIGATION.iter().any(|n| eq(n, s)) => {
            return Err(RouteError::NotImplemented(s.to_string()));
        }
        Some(s) => return bad(s),
    };
    let id = app_id.unwrap_or_default();
    match after {
        [] => Ok(Route::ServiceApp(id)),
        [a] if is_action(a, "activate") => Ok(Route::Activate(id)),
        [a] if is_action(a, "deactivate") => Ok(Route::Deactivate(id)),
        [a, ..] => bad(a),
    }
}

struct Ctx {
    emu: Arc<Emu>,
    ids: ReqIds,
    version: &'static str,
    base: String,
    include_unknown: bool,
}

impl Ctx {
    fn err(&self, status: u16, code: &str, message: &str) -> Response {
        graph_error(&self.ids, status, code, message)
    }
    fn lc(&self, e: LcError) -> Response {
        self.err(e.status, e.code, &e.message)
    }
    fn context(&self, fragment: &str) -> String {
        format!("{}/{}/$metadata#{}", self.base, self.version, fragment)
    }
    fn app_location(&self, id: &str) -> String {
        format!(
            "{}/{}/solutions/backupRestore/serviceApps/{}",
            self.base, self.version, id
        )
    }
}

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

fn with_entity(mut v: Value, context: String) -> Value {
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert("@odata.context".into(), Value::String(context));
        out.extend(std::mem::take(m));
        *m = out;
    }
    v
}

fn accepted_app(ctx: &Ctx, app: &crate::lifecycle::ServiceApp, fragment: &str) -> Response {
    let body = with_entity(json::service_app(app), ctx.context(fragment));
    let mut resp = graph_json(StatusCode::ACCEPTED, &body);
    if let Ok(v) = HeaderValue::from_str(&ctx.app_location(&app.id)) {
        resp.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    resp
}

/// Parses a JSON object body; an empty body is an empty object.
fn json_object(
    ctx: &Ctx,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Map<String, Value>, Response> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match content_type(headers) {
        Some(ct) if ct == "application/json" || ct.ends_with("+json") => {}
        other => {
            return Err(ctx.err(
                415,
                "UnsupportedMediaType",
                &format!(
                    "Content-Type '{}' is not supported for this request; send application/json.",
                    other.unwrap_or_default()
                ),
            ));
        }
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ctx.err(
            400,
            "BadRequest",
            "The request payload must be a JSON object.",
        )),
        Err(_) => Err(ctx.err(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

fn parse_dto(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

pub async fn handle(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let ids = req
        .extensions()
        .get::<ReqIds>()
        .cloned()
        .unwrap_or_else(|| ReqIds {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: uuid::Uuid::new_v4().to_string(),
        });
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let (version, rest) = if let Some(r) = path.strip_prefix("/v1.0") {
        ("v1.0", r)
    } else if let Some(r) = path.strip_prefix("/beta") {
        ("beta", r)
    } else {
        ("v1.0", path.as_str())
    };
    let prefer = prefers_unknown_members(&parts.headers);
    let ctx = Ctx {
        emu: emu.clone(),
        ids,
        version,
        base: base_url(&parts.headers, &parts.uri),
        include_unknown: version == "beta" || prefer,
    };
    let mut meta = LogMeta::default();
    let mut resp = dispatch(&ctx, &parts.method, &parts.headers, rest, body, &mut meta).await;
    if prefer && version == "v1.0" {
        resp.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("include-unknown-enum-members"),
        );
    }
    resp.extensions_mut().insert(meta);
    resp
}

fn authenticate(ctx: &Ctx, headers: &HeaderMap) -> Result<AccessClaims, Response> {
    let unauthorized = |msg: &str| {
        let mut r = ctx.err(401, "InvalidAuthenticationToken", msg);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            ),
        );
        r
    };
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
    let cutoff = ctx.emu.read(|p| p.tokens_not_before_us);
    let claims = tokens::validate_access(&ctx.emu.jwt_key, token, cutoff).map_err(unauthorized)?;
    if ctx.emu.read(|p| p.tenant_id(&claims.tid)).is_none() {
        return Err(unauthorized(
            "Access token validation failure. The token's tenant is not known to this service.",
        ));
    }
    let granted = claims
        .roles
        .iter()
        .flatten()
        .map(String::as_str)
        .chain(claims.scp.iter().flat_map(|s| s.split(' ')))
        .any(|p| p.starts_with("BackupRestore-Control."));
    if !granted {
        return Err(ctx.err(
            403,
            "accessDenied",
            "Either scp or roles claim need to be present in the token with BackupRestore-Control permissions.",
        ));
    }
    Ok(claims)
}

async fn dispatch(
    ctx: &Ctx,
    method: &Method,
    headers: &HeaderMap,
    rest: &str,
    body: Body,
    meta: &mut LogMeta,
) -> Response {
    let claims = match authenticate(ctx, headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let is_user = claims.idtyp == "user";
    meta.token_kind = Some(if is_user { "user" } else { "app" });
    meta.tenant = Some(claims.tid.clone());
    meta.client_id = Some(claims.appid.clone());

    let route = match route(rest) {
        Ok(r) => r,
        Err(RouteError::Segment(s)) => {
            return ctx.err(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{s}'."),
            );
        }
        Err(RouteError::NotImplemented(s)) => {
            return ctx.err(
                501,
                "notSupported",
                &format!(
                    "The emulator implements only the Backup Storage control plane; '{s}' is not available."
                ),
            );
        }
    };
    if !route.allowed().contains(method) {
        let allow = route
            .allowed()
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut r = ctx.err(
            405,
            "BadRequest",
            &format!("The HTTP method '{method}' is not allowed on this resource."),
        );
        if let Ok(v) = HeaderValue::from_str(&allow) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    }
    let bytes = match read_body(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return ctx.err(
                413,
                "RequestEntityTooLarge",
                "The request body exceeds the maximum allowed size (4 MB).",
            );
        }
        Err(BodyError::Read) => {
            return ctx.err(400, "BadRequest", "The request body could not be read.");
        }
    };
    let body = if *method == Method::POST {
        match json_object(ctx, headers, &bytes) {
            Ok(m) => m,
            Err(r) => return r,
        }
    } else {
        Map::new()
    };

    let display = ctx
        .emu
        .read(|p| p.app(&claims.appid).and_then(|a| a.display_name.clone()));
    let actor = Actor {
        app_id: claims.appid.clone(),
        app_display_name: display,
        user_id: if is_user { claims.oid.clone() } else { None },
    };
    let tid = claims.tid.clone();
    let now = ctx.emu.now();

    match (route, method.clone()) {
        (Route::Root, _) => {
            let status = with_tenant(ctx, &tid, now, |t| Ok(t.service.clone()));
            match status {
                Ok(s) => {
                    let body = serde_json::json!({
                        "@odata.context": ctx.context("solutions/backupRestore/$entity"),
                        "id": tid,
                        "serviceStatus": json::service_status(&s, ctx.include_unknown),
                    });
                    graph_json(StatusCode::OK, &body)
                }
                Err(r) => r,
            }
        }
        (Route::Enable, _) => {
            let owner = match body.get("appOwnerTenantId") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => {
                    return ctx.err(
                        400,
                        "BadRequest",
                        "The parameter 'appOwnerTenantId' in the request payload is required.",
                    );
                }
                Some(_) => {
                    return ctx.err(
                        400,
                        "InvalidAppOwnerTenantId",
                        "The parameter 'appOwnerTenantId' must be a string (a tenant ID).",
                    );
                }
            };
            match with_tenant(ctx, &tid, now, |t| t.enable(&actor, &owner, now)) {
                Ok(s) => {
                    let mut v = json::service_status(&s, ctx.include_unknown);
                    if let Value::Object(m) = &mut v {
                        let mut out = Map::new();
                        out.insert(
                            "@odata.context".into(),
                            Value::String(ctx.context("microsoft.graph.serviceStatus")),
                        );
                        out.insert(
                            "@odata.type".into(),
                            Value::String("#microsoft.graph.serviceStatus".into()),
                        );
                        out.extend(std::mem::take(m));
                        *m = out;
                    }
                    graph_json(StatusCode::OK, &v)
                }
                Err(r) => r,
            }
        }
        (Route::ServiceApps, Method::GET) => {
            match with_tenant(ctx, &tid, now, |t| Ok(t.apps.clone())) {
                Ok(apps) => {
                    let body = serde_json::json!({
                        "@odata.context": ctx.context("solutions/backupRestore/serviceApps"),
                        "value": apps.iter().map(json::service_app).collect::<Vec<_>>(),
                    });
                    graph_json(StatusCode::OK, &body)
                }
                Err(r) => r,
            }
        }
        (Route::ServiceApps, _) => match with_tenant(ctx, &tid, now, |t| t.register(&actor, now)) {
            Ok(app) => accepted_app(ctx, &app, "solutions/backupRestore/serviceApps/$entity"),
            Err(r) => r,
        },
        (Route::ServiceApp(id), Method::GET) => {
            match with_tenant(ctx, &tid, now, |t| {
                t.app(&id).cloned().ok_or_else(|| LcError {
                    status: 404,
                    code: "itemNotFound",
                    message: format!("The serviceApp '{id}' was not found in this tenant."),
                })
            }) {
                Ok(app) => graph_json(
                    StatusCode::OK,
                    &with_entity(
                        json::service_app(&app),
                        ctx.context("solutions/backupRestore/serviceApps/$entity"),
                    ),
                ),
                Err(r) => r,
            }
        }
        (Route::ServiceApp(id), _) => match with_tenant(ctx, &tid, now, |t| t.delete(&id, now)) {
            Ok(()) => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
            Err(r) => r,
        },
        (Route::Activate(id), _) => {
            if !is_user {
                return app_only_refused(ctx, "activate");
            }
            let effective = match body.get("effectiveDateTime") {
                Some(Value::String(s)) => match parse_dto(s) {
                    Some(t) => t,
                    None => {
                        return ctx.err(
                            400,
                            "BadRequest",
                            &format!(
                                "Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."
                            ),
                        );
                    }
                },
                Some(Value::Null) | None => {
                    return ctx.err(
                        400,
                        "BadRequest",
                        "The parameter 'effectiveDateTime' in the request payload is required and cannot be null.",
                    );
                }
                Some(_) => {
                    return ctx.err(
                        400,
                        "BadRequest",
                        "The parameter 'effectiveDateTime' must be a string in RFC 3339 form.",
                    );
                }
            };
            match with_tenant(ctx, &tid, now, |t| t.activate(&id, effective, &actor, now)) {
                Ok(app) => accepted_app(ctx, &app, "microsoft.graph.serviceApp"),
                Err(r) => r,
            }
        }
        (Route::Deactivate(id), _) => {
            if !is_user {
                return app_only_refused(ctx, "deactivate");
            }
            match with_tenant(ctx, &tid, now, |t| t.deactivate(&id, &actor, now)) {
                Ok(app) => accepted_app(ctx, &app, "microsoft.graph.serviceApp"),
                Err(r) => r,
            }
        }
    }
}

fn app_only_refused(ctx: &Ctx, op: &str) -> Response {
    ctx.err(
        403,
        "accessDenied",
        &format!(
            "Application permissions are not supported for '{op}': call it with a delegated token of a signed-in administrator."
        ),
    )
}

/// Runs `f` on the caller's tenant (after applying due transitions) and persists changes.
fn with_tenant<R>(
    ctx: &Ctx,
    tid: &str,
    now: OffsetDateTime,
    f: impl FnOnce(&mut Tenant) -> Result<R, LcError>,
) -> Result<R, Response> {
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
    match result {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(ctx.lc(e)),
        None => Err(ctx.err(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure. The token's tenant is not known to this service.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/solutions/backupRestore").ok(), Some(Route::Root));
        assert_eq!(route("/solutions/backupRestore/").ok(), Some(Route::Root));
        assert_eq!(
            route("/Solutions/BackupRestore/serviceApps/abc/microsoft.graph.activate").ok(),
            Some(Route::Activate("abc".into()))
        );
        assert_eq!(
            route("/solutions/backupRestore/serviceApps('abc')").ok(),
            Some(Route::ServiceApp("abc".into()))
        );
        assert!(matches!(
            route("/solutions/backupRestore/protectionPolicies"),
            Err(RouteError::NotImplemented(_))
        ));
        assert!(matches!(
            route("/solutions/nope"),
            Err(RouteError::Segment(_))
        ));
    }
}
