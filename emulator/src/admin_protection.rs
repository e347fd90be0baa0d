//! The admin API's protection calls: the tenant directory, settings, per-unit errors,
//! consent, Graph calls made by someone else (`as-admin`), and the protection part of
//! `GET /_emulator/state`.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::{admin_error, plain_json, read_body};
use crate::graph::{self, Caller};
use crate::json::graph_time;
use crate::protection::directory::{Directory, DirectoryDoc};
use crate::protection::{Protection, Settings};
use crate::store::{Consent, Emu};

/// The Microsoft 365 admin center's app id, as `as-admin` calls show it in `createdBy`.
pub const ADMIN_CENTER_APP_ID: &str = "00000006-0000-0ff1-ce00-000000000000";
/// Above this many units, `GET /_emulator/state` shows counts instead of the units.
pub const SUMMARY_LIMIT: usize = 1000;

fn bad(msg: impl Into<String>) -> Response {
    admin_error(StatusCode::BAD_REQUEST, msg)
}

async fn body<T: for<'de> Deserialize<'de>>(req: Request) -> Result<T, Response> {
    let bytes = read_body(req.into_body(), 64 * 1024 * 1024)
        .await
        .map_err(|_| {
            admin_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large or unreadable",
            )
        })?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        bytes
    };
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

fn no_tenant(id: &str) -> Response {
    admin_error(
        StatusCode::NOT_FOUND,
        format!("tenant {id:?} does not exist (create it with PUT /_emulator/tenants/{{id}})"),
    )
}

/// Runs `f` on an existing tenant's protection (due work applied first) and marks it for
/// writing.
fn on_protection<R>(
    emu: &Emu,
    tenant: &str,
    f: impl FnOnce(&mut Protection, &Settings, OffsetDateTime) -> R,
) -> Result<R, Response> {
    let now = emu.now();
    let out = emu.mutate_if(|p| {
        let Some(key) = p.tenant_id(tenant) else {
            return (None, false);
        };
        let settings = p.settings.clone();
        let prot = p.protection_mut(&key);
        prot.advance(now, &settings);
        (Some((f(prot, &settings, now), key)), false)
    });
    let (r, key) = out.ok_or_else(|| no_tenant(tenant))?;
    emu.protection_changed(&key);
    Ok(r)
}

fn directory_json(d: &Directory) -> Value {
    json!({
        "open": d.open,
        "users": d.doc.users.len(),
        "groups": d.doc.groups.len(),
        "sites": d.doc.sites.len(),
    })
}

fn set_directory(emu: &Emu, tenant: &str, doc: DirectoryDoc) -> Response {
    match on_protection(emu, tenant, |p, s, now| {
        p.directory = Directory::closed(doc);
        p.directory_changed(now, s);
        directory_json(&p.directory)
    }) {
        Ok(v) => plain_json(StatusCode::OK, &v),
        Err(r) => r,
    }
}

/// `PUT /tenants/{id}/directory`: replaces the directory; dynamic rules re-evaluate.
pub async fn put_directory(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    match body::<DirectoryDoc>(req).await {
        Ok(doc) => set_directory(&emu, &tenant, doc),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct Generate {
    #[serde(default)]
    users: usize,
    #[serde(default)]
    groups: usize,
    #[serde(default)]
    sites: usize,
}

/// `POST /tenants/{id}/directory/generate`.
pub async fn generate_directory(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let g: Generate = match body(req).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    if g.users + g.groups + g.sites > 2_000_000 {
        return bad("at most 2,000,000 directory objects");
    }
    let Some(key) = emu.read(|p| p.tenant_id(&tenant)) else {
        return no_tenant(&tenant);
    };
    let doc = Directory::generate(&key, g.users, g.groups, g.sites);
    set_directory(&emu, &tenant, doc)
}

/// `GET /settings`.
pub async fn get_settings(State(emu): State<Arc<Emu>>) -> Response {
    plain_json(StatusCode::OK, &json!(emu.read(|p| p.settings.clone())))
}

#[derive(Deserialize)]
pub struct SettingsBody {
    page_size: Option<usize>,
    protect_seconds: Option<u64>,
    protect_seconds_per_100: Option<u64>,
    removed_units_stay_listed: Option<bool>,
}

/// `PUT /settings`: fields left out keep their value.
pub async fn put_settings(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let b: SettingsBody = match body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.page_size
        .is_some_and(|n| !(1..=graph::MAX_TOP).contains(&n))
    {
        return bad(format!("page_size must be 1 to {}", graph::MAX_TOP));
    }
    let s = emu.mutate(|p| {
        let s = &mut p.settings;
        if let Some(n) = b.page_size {
            s.page_size = n;
        }
        if let Some(n) = b.protect_seconds {
            s.protect_seconds = n;
        }
        if let Some(n) = b.protect_seconds_per_100 {
            s.protect_seconds_per_100 = n;
        }
        if let Some(v) = b.removed_units_stay_listed {
            s.removed_units_stay_listed = v;
        }
        s.clone()
    });
    plain_json(StatusCode::OK, &json!(s))
}

#[derive(Deserialize)]
pub struct UnitErrors {
    unit_ids: Vec<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// `POST /tenants/{id}/unit-errors`: these units carry this error (`code` null or "" clears).
pub async fn unit_errors(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let b: UnitErrors = match body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let code = b.code.unwrap_or_default();
    let message = b
        .message
        .unwrap_or_else(|| format!("The protection unit failed: {code}."));
    match on_protection(&emu, &tenant, |p, _, now| {
        p.set_unit_errors(&b.unit_ids, &code, &message, now)
    }) {
        Ok(unknown) if unknown.is_empty() => {
            plain_json(StatusCode::OK, &json!({"updated": b.unit_ids.len()}))
        }
        Ok(unknown) => admin_error(
            StatusCode::NOT_FOUND,
            format!("unknown unit ids: {unknown:?}"),
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct ConsentBody {
    client_id: String,
    #[serde(default = "yes")]
    granted: bool,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// `POST /tenants/{id}/consent`: revoke or restore an app's consent in one tenant, or grant
/// only some permissions. Tokens already issued keep what they carry.
pub async fn consent(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let b: ConsentBody = match body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let out = emu.mutate(|p| {
        let key = p.tenant_id(&tenant)?;
        let m = p.consents.entry(key.to_ascii_lowercase()).or_default();
        m.insert(
            b.client_id.to_ascii_lowercase(),
            Consent {
                granted: b.granted,
                roles: b.roles.clone(),
            },
        );
        Some(json!({
            "tenant": key,
            "client_id": b.client_id,
            "granted": b.granted,
            "permissions": p.permissions(&key, &b.client_id),
        }))
    });
    match out {
        Some(v) => plain_json(StatusCode::OK, &v),
        None => no_tenant(&tenant),
    }
}

#[derive(Deserialize)]
pub struct AsAdmin {
    method: String,
    path: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    client_id: Option<String>,
}

/// `POST /tenants/{id}/as-admin`: a Graph call made by the admin center (not gated by the
/// controller) or, with `client_id`, by that app with app-only permissions. The answer is
/// Graph's, as is.
pub async fn as_admin(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let b: AsAdmin = match body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(method) = Method::from_bytes(b.method.to_ascii_uppercase().as_bytes()) else {
        return bad("unknown method");
    };
    let path = if b.path.starts_with("/v1.0/") || b.path.starts_with("/beta/") {
        b.path.clone()
    } else {
        format!("/v1.0/{}", b.path.trim_start_matches('/'))
    };
    let Ok(uri) = path.parse::<Uri>() else {
        return bad("'path' is not a valid path");
    };
    let caller = emu.read(|p| {
        let key = p.tenant_id(&tenant)?;
        Some(match &b.client_id {
            Some(c) => Caller {
                tenant: key.clone(),
                app_id: p.app(c).map_or(c.clone(), |a| a.client_id.clone()),
                app_display_name: p.app(c).and_then(|a| a.display_name.clone()),
                user_id: None,
                permissions: p.permissions(&key, c).unwrap_or_default(),
                admin_center: false,
            },
            None => Caller {
                tenant: key,
                app_id: ADMIN_CENTER_APP_ID.to_string(),
                app_display_name: Some("Microsoft 365 admin center".into()),
                user_id: Some(crate::demo::ADMIN_USER_ID.to_string()),
                permissions: crate::tokens::DEFAULT_PERMISSIONS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                admin_center: true,
            },
        })
    });
    let Some(caller) = caller else {
        return no_tenant(&tenant);
    };
    let bytes = b
        .body
        .map(|v| Bytes::from(v.to_string()))
        .unwrap_or_default();
    let mut h = HeaderMap::new();
    if let Some(host) = headers.get(header::HOST) {
        h.insert(header::HOST, host.clone());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "prefer",
        HeaderValue::from_static("include-unknown-enum-members"),
    );
    graph::serve(&emu, &caller, &method, &uri, &h, &bytes, true)
        .unwrap_or_else(IntoResponse::into_response)
}

/// The protection part of a tenant in `GET /_emulator/state`: policies, rules, jobs
/// (without inputs), settings and directory size; units in full when few or `full`,
/// otherwise counted by policy and status.
pub fn summary(p: &Protection, now: OffsetDateTime, full: bool) -> Value {
    let policies: Vec<Value> = p
        .policies
        .iter()
        .map(|x| {
            json!({
                "id": x.id,
                "type": format!("{}ProtectionPolicy", x.workload.long()),
                "displayName": x.display_name,
                "isEnabled": x.enabled,
                "status": p.policy_status(x, now),
                "retentionPeriod": x.retention,
            })
        })
        .collect();
    let mut counts: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for u in &p.units {
        let k = if u.removed {
            "(removed)".to_string()
        } else {
            u.policy_id.to_string()
        };
        *counts
            .entry(k)
            .or_default()
            .entry(u.status.name())
            .or_default() += 1;
    }
    let mut v = json!({
        "policies": policies,
        "unitCount": p.units.len(),
        "unitsByPolicyAndStatus": counts,
        "rules": p.rules.iter().map(|r| json!({
            "id": r.id, "policyId": r.policy_id, "expression": r.expression,
            "isAutoApplyEnabled": r.dynamic, "status": r.status.as_str(true),
            "error": r.error.as_ref().map(|e| &e.code),
        })).collect::<Vec<_>>(),
        "bulkAdditionJobs": p.jobs.iter().map(|j| json!({
            "id": j.id, "policyId": j.policy_id, "displayName": j.display_name,
            "status": j.status.as_str(), "inputs": j.ids.len() + j.names.len(),
            "error": j.error.as_ref().map(|e| &e.code),
        })).collect::<Vec<_>>(),
        "emailNotificationsSetting": crate::graph::render_notifications(&p.notifications),
        "directory": directory_json(&p.directory),
    });
    if full || p.units.len() <= SUMMARY_LIMIT {
        v["units"] = Value::Array(
            p.units
                .iter()
                .map(|u| {
                    json!({
                        "id": u.id, "policyId": &*u.policy_id, "type": format!("{}ProtectionUnit", u.workload.short()),
                        "resource": u.resource, "status": u.status.name(), "removed": u.removed,
                        "sources": u.sources, "error": u.error.as_ref().map(|e| &e.code),
                        "lastModifiedDateTime": graph_time(u.stamp.modified),
                    })
                })
                .collect(),
        );
    }
    v
}
