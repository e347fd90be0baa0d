//! The admin API under `/_emulator` (provider-spec.md, "Emulator admin API").
//! JSON in and out; errors are `{"error": "..."}`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::{ADMIN_BODY_LIMIT, admin_error, plain_json, read_body};
use crate::json;
use crate::lifecycle::{Actor, BillingProfile, InitialController, LcError, Tenant};
use crate::store::{AppReg, Emu, Fault};

fn bad(msg: impl Into<String>) -> Response {
    admin_error(StatusCode::BAD_REQUEST, msg)
}

/// Reads an optional JSON body (empty = `{}`), whatever the content type says.
async fn body_json<T: for<'de> Deserialize<'de> + Default>(req: Request) -> Result<T, Response> {
    let bytes = read_body(req.into_body(), ADMIN_BODY_LIMIT)
        .await
        .map_err(|_| {
            admin_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large or unreadable",
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

/// One tenant in admin answers: Graph-shaped serviceStatus (all enum members shown as
/// themselves) and serviceApps, plus the emulator's own bookkeeping.
pub fn tenant_json(t: &Tenant) -> Value {
    json!({
        "id": t.id,
        "serviceStatus": json::service_status(&t.service, true),
        "serviceApps": t.apps.iter().map(json::service_app).collect::<Vec<_>>(),
        "firstPartyController": t.first_party,
        "pendingChange": t.pending.as_ref().map(|p| json!({
            "newApp": p.new_app,
            "oldApp": p.old_app,
            "effectiveDateTime": json::graph_time(p.effective),
        })),
        "billingProfile": match t.billing {
            BillingProfile::Valid => "valid",
            BillingProfile::Invalid => "invalid",
            BillingProfile::Unreadable => "unreadable",
        },
    })
}

pub async fn get_clock(State(emu): State<Arc<Emu>>) -> Response {
    plain_json(StatusCode::OK, &json!({ "now": json::rfc3339(emu.now()) }))
}

#[derive(Deserialize, Default)]
pub struct Advance {
    seconds: Option<f64>,
}

pub async fn advance_clock(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let a: Advance = match body_json(req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(seconds) = a.seconds.filter(|s| s.is_finite()) else {
        return bad("'seconds' (a number) is required");
    };
    if seconds < 0.0 {
        return bad("the clock only moves forward: 'seconds' must be >= 0");
    }
    if seconds > 100.0 * 365.0 * 86400.0 {
        return bad("'seconds' is too large");
    }
    let now = emu.advance_clock(seconds);
    // Apply due transitions at once so that /_emulator/state and state.json agree.
    emu.mutate_if(|p| {
        let mut changed = false;
        for t in p.tenants.values_mut() {
            changed |= t.advance(now);
        }
        ((), changed)
    });
    plain_json(StatusCode::OK, &json!({ "now": json::rfc3339(now) }))
}

#[derive(Deserialize, Default)]
pub struct AppBody {
    client_secret: Option<String>,
    certificate_pem: Option<String>,
    federated_subject: Option<String>,
    public_client: Option<bool>,
    display_name: Option<String>,
    tenant_id: Option<String>,
}

fn app_json(a: &AppReg) -> Value {
    json!({
        "client_id": a.client_id,
        "has_client_secret": a.client_secret.is_some(),
        "has_certificate": a.certificate_pem.is_some(),
        "federated_subject": a.federated_subject,
        "public_client": a.public_client,
        "display_name": a.display_name,
        "tenant_id": a.tenant_id,
    })
}

pub async fn put_app(
    State(emu): State<Arc<Emu>>,
    Path(client_id): Path<String>,
    req: Request,
) -> Response {
    let b: AppBody = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if client_id.trim().is_empty() {
        return bad("client id must not be empty");
    }
    if let Some(pem) = &b.certificate_pem
        && jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_err()
    {
        return bad("certificate_pem must be a PEM certificate (or public key) with an RSA key");
    }
    let app = AppReg {
        client_id: client_id.clone(),
        client_secret: b.client_secret,
        certificate_pem: b.certificate_pem,
        federated_subject: b.federated_subject,
        public_client: b.public_client.unwrap_or(false),
        display_name: b.display_name,
        tenant_id: b.tenant_id,
    };
    let out = app_json(&app);
    emu.mutate(|p| {
        if let Some(k) = crate::store::stored_key(&p.apps, &client_id).map(str::to_string) {
            p.apps.remove(&k);
        }
        p.apps.insert(client_id.clone(), app);
    });
    plain_json(StatusCode::OK, &out)
}

pub async fn list_apps(State(emu): State<Arc<Emu>>) -> Response {
    let apps = emu.read(|p| p.apps.values().map(app_json).collect::<Vec<_>>());
    plain_json(StatusCode::OK, &Value::Array(apps))
}

#[derive(Deserialize, Default)]
pub struct TenantBody {
    controller: Option<String>,
}

pub async fn put_tenant(
    State(emu): State<Arc<Emu>>,
    Path(tenant_id): Path<String>,
    req: Request,
) -> Response {
    let b: TenantBody = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let controller = match b.controller.as_deref().unwrap_or("none") {
        "none" => InitialController::None,
        "firstparty" => InitialController::FirstParty,
        other => {
            return bad(format!(
                "controller must be \"none\" or \"firstparty\", not {other:?}"
            ));
        }
    };
    let reserved = [
        "organizations",
        "common",
        "consumers",
        "_emulator",
        "v1.0",
        "beta",
    ];
    if tenant_id.trim().is_empty()
        || reserved.iter().any(|r| r.eq_ignore_ascii_case(&tenant_id))
        || tenant_id.contains('/')
    {
        return bad(format!("{tenant_id:?} cannot be a tenant id"));
    }
    let now = emu.now();
    let out = emu.mutate(|p| {
        let key = p.tenant_id(&tenant_id).unwrap_or(tenant_id.clone());
        let t = Tenant::new(key.clone(), controller, now);
        let out = tenant_json(&t);
        p.tenants.insert(key.clone(), t);
        p.protection.remove(&key);
        p.consents.remove(&key.to_ascii_lowercase());
        (out, key)
    });
    let (out, key) = out;
    emu.protection_changed(&key);
    plain_json(StatusCode::OK, &out)
}

/// Runs an admin operation on a tenant; 404 when it does not exist.
fn on_tenant(
    emu: &Emu,
    tenant_id: &str,
    f: impl FnOnce(&mut Tenant, OffsetDateTime) -> Result<(), LcError>,
) -> Response {
    let now = emu.now();
    let r = emu.mutate_if(|p| match p.tenant_mut(tenant_id) {
        None => (None, false),
        Some(t) => {
            let before = t.clone();
            t.advance(now);
            let r = f(t, now).map(|()| tenant_json(t));
            let changed = *t != before;
            (Some(r), changed)
        }
    });
    match r {
        None => admin_error(
            StatusCode::NOT_FOUND,
            format!(
                "tenant {tenant_id:?} does not exist (create it with PUT /_emulator/tenants/{{id}})"
            ),
        ),
        Some(Ok(v)) => plain_json(StatusCode::OK, &v),
        Some(Err(e)) => admin_error(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::CONFLICT),
            e.message,
        ),
    }
}

pub async fn cancel_pending(
    State(emu): State<Arc<Emu>>,
    Path(tenant_id): Path<String>,
) -> Response {
    on_tenant(&emu, &tenant_id, |t, now| t.cancel_pending_change(now))
}

#[derive(Deserialize, Default)]
pub struct TakeoverBody {
    client_id: Option<String>,
    effective_in_seconds: Option<f64>,
}

pub async fn takeover(
    State(emu): State<Arc<Emu>>,
    Path(tenant_id): Path<String>,
    req: Request,
) -> Response {
    let b: TakeoverBody = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(client_id) = b.client_id.filter(|c| !c.trim().is_empty()) else {
        return bad("'client_id' is required");
    };
    let secs = b.effective_in_seconds.unwrap_or(0.0);
    if !secs.is_finite() || !(0.0..=100.0 * 365.0 * 86400.0).contains(&secs) {
        return bad("'effective_in_seconds' must be a number between 0 and 100 years");
    }
    let display = emu.read(|p| p.app(&client_id).and_then(|a| a.display_name.clone()));
    let actor = Actor {
        app_id: client_id,
        app_display_name: display,
        user_id: Some(crate::demo::ADMIN_USER_ID.to_string()),
    };
    let delta = time::Duration::seconds_f64(secs);
    on_tenant(&emu, &tenant_id, |t, now| {
        t.takeover(&actor, delta, now).map(|_| ())
    })
}

#[derive(Deserialize, Default)]
pub struct BillingBody {
    valid: Option<bool>,
    /// Extension: `false` makes the next enable fail 403 `UnableToReadBillingProfile`.
    readable: Option<bool>,
}

pub async fn billing_profile(
    State(emu): State<Arc<Emu>>,
    Path(tenant_id): Path<String>,
    req: Request,
) -> Response {
    let b: BillingBody = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let profile = match (b.readable, b.valid) {
        (Some(false), _) => BillingProfile::Unreadable,
        (_, Some(false)) => BillingProfile::Invalid,
        (_, Some(true)) | (Some(true), None) => BillingProfile::Valid,
        (None, None) => return bad("'valid' (a boolean) is required"),
    };
    // An invalid profile on an enabled tenant locks protection changes and deactivates
    // every policy at once (the service status page's billing case).
    let now = emu.now();
    let locked = emu.mutate(|p| {
        let Some(key) = p.tenant_id(&tenant_id) else {
            return false;
        };
        let settings = p.settings.clone();
        let t = p.tenant_mut(&key).expect("exists");
        if profile != BillingProfile::Invalid || !t.lock_for_billing(now) {
            return false;
        }
        let by = crate::lifecycle::IdentitySet {
            user: Some(crate::demo::ADMIN_USER_ID.to_string()),
            ..Default::default()
        };
        let prot = p.protection_mut(&key);
        prot.advance(now, &settings);
        prot.deactivate_all(&by, now, &settings);
        true
    });
    if locked && let Some(key) = emu.read(|p| p.tenant_id(&tenant_id)) {
        emu.protection_changed(&key);
    }
    on_tenant(&emu, &tenant_id, |t, _| {
        t.set_billing(profile);
        Ok(())
    })
}

pub async fn pending_device_codes(State(emu): State<Arc<Emu>>) -> Response {
    let now = OffsetDateTime::now_utc();
    let list: Vec<Value> = emu
        .volatile()
        .device_codes
        .iter()
        .filter(|d| d.expires_at > now && d.approved_user.is_none())
        .map(|d| {
            json!({
                "user_code": d.user_code,
                "client_id": d.client_id,
                "tenant": d.tenant,
                "scope": d.scope,
                "expires_at": d.expires_at_rfc3339,
            })
        })
        .collect();
    plain_json(StatusCode::OK, &Value::Array(list))
}

#[derive(Deserialize, Default)]
pub struct ApproveBody {
    user_code: Option<String>,
    /// Extension: sign in as this user id instead of the demo admin.
    user_id: Option<String>,
}

pub async fn approve_device_code(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let b: ApproveBody = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(code) = b.user_code else {
        return bad("'user_code' is required");
    };
    let user = b
        .user_id
        .unwrap_or_else(|| crate::demo::ADMIN_USER_ID.to_string());
    if crate::entra::approve_device_code(&emu, &code, &user) {
        plain_json(
            StatusCode::OK,
            &json!({ "user_code": code, "approved": true, "user_id": user }),
        )
    } else {
        admin_error(
            StatusCode::NOT_FOUND,
            format!("no waiting device code with user_code {code:?}"),
        )
    }
}

pub async fn expire_tokens(State(emu): State<Arc<Emu>>) -> Response {
    let now = OffsetDateTime::now_utc();
    let us = (now.unix_timestamp_nanos() / 1000) as i64;
    emu.mutate(|p| p.tokens_not_before_us = us);
    plain_json(
        StatusCode::OK,
        &json!({ "expired_issued_before": json::rfc3339(now) }),
    )
}

pub async fn add_fault(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let f: Fault = match body_json(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(d) = &f.drop
        && d != "before"
        && d != "after"
    {
        return bad("'drop' must be \"before\" or \"after\"");
    }
    if let Some(s) = f.status
        && !(100..=599).contains(&s)
    {
        return bad("'status' must be an HTTP status code");
    }
    if f.status.is_none() && f.drop.is_none() && f.delay_ms.is_none() && f.body.is_none() {
        return bad("a fault needs at least one of status, drop, delay_ms, body");
    }
    if f.retry_after_seconds.is_some_and(|s| s > 86400) {
        return bad("'retry_after_seconds' must be at most 86400");
    }
    if let Some(ra) = &f.retry_after {
        let ok = match ra {
            Value::String(s) => s == "http-date" || s.parse::<u64>().is_ok(),
            Value::Number(n) => n.as_u64().is_some(),
            _ => false,
        };
        if !ok {
            return bad("'retry_after' must be a number of seconds or \"http-date\"");
        }
    }
    let out = serde_json::to_value(&f).unwrap_or_default();
    emu.volatile().faults.push(f);
    plain_json(StatusCode::CREATED, &out)
}

pub async fn list_faults(State(emu): State<Arc<Emu>>) -> Response {
    let v = serde_json::to_value(&emu.volatile().faults).unwrap_or_default();
    plain_json(StatusCode::OK, &v)
}

pub async fn clear_faults(State(emu): State<Arc<Emu>>) -> Response {
    emu.volatile().faults.clear();
    plain_json(StatusCode::OK, &json!([]))
}

pub async fn get_requests(State(emu): State<Arc<Emu>>) -> Response {
    let v = serde_json::to_value(&emu.volatile().requests).unwrap_or_default();
    plain_json(StatusCode::OK, &v)
}

pub async fn clear_requests(State(emu): State<Arc<Emu>>) -> Response {
    emu.volatile().requests.clear();
    plain_json(StatusCode::OK, &json!([]))
}

pub async fn get_state(
    State(emu): State<Arc<Emu>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let now = emu.now();
    let full = q.get("full").is_some_and(|v| v == "1" || v == "true");
    let (tenants, advanced) = emu.mutate_if(|p| {
        let mut changed = false;
        let mut advanced = Vec::new();
        let mut tenants = serde_json::Map::new();
        let settings = p.settings.clone();
        for (id, t) in p.tenants.iter_mut() {
            changed |= t.advance(now);
            let mut v = tenant_json(t);
            if let Some(prot) = p.protection.get_mut(id) {
                if prot.advance(now, &settings) {
                    advanced.push(id.clone());
                }
                v["protection"] = crate::admin_protection::summary(prot, now, full);
            }
            tenants.insert(id.clone(), v);
        }
        ((tenants, advanced), changed)
    });
    for t in advanced {
        emu.protection_changed(&t);
    }
    plain_json(
        StatusCode::OK,
        &json!({ "now": json::rfc3339(now), "tenants": tenants }),
    )
}

pub async fn not_found() -> Response {
    admin_error(StatusCode::NOT_FOUND, "unknown admin call")
}
