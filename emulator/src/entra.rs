//! Entra ID (v2.0 endpoints) stand-in: token endpoint (client credentials with a secret,
//! a certificate-signed assertion or a federated token; refresh token; device code;
//! authorization code + PKCE), the device-code endpoint, an authorize endpoint that signs
//! the demo admin in at once, and an App Service-style managed identity endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::common::{BodyError, LogMeta, ReqIds, base_url, content_type, plain_json, read_body};
use crate::store::{AppReg, AuthCode, DeviceCode, Emu, random_token};
use crate::tokens::{self, GRAPH_RESOURCE, Kind};

const FORM_LIMIT: usize = 1024 * 1024;
const DEVICE_CODE_LIFETIME: time::Duration = time::Duration::minutes(15);
/// Polling interval announced for device codes (Entra says 5; tests prefer fast).
const DEVICE_CODE_INTERVAL: u64 = 1;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn is_multi(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case("organizations") || tenant.eq_ignore_ascii_case("common")
}

struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

fn err(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> EntraError {
    EntraError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        error,
        code,
        description: description.into(),
    }
}

impl EntraError {
    fn into_response(self, ids: &ReqIds) -> Response {
        let now = OffsetDateTime::now_utc();
        let ts = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
                self.code, self.description, ids.request_id, ids.client_request_id, ts
            ),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": ids.request_id,
            "correlation_id": ids.client_request_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        plain_json(self.status, &body)
    }
}

fn ids_of(req: &Request) -> ReqIds {
    req.extensions()
        .get::<ReqIds>()
        .cloned()
        .unwrap_or_else(|| ReqIds {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: uuid::Uuid::new_v4().to_string(),
        })
}

fn unknown_tenant(tenant: &str) -> EntraError {
    err(
        400,
        "invalid_request",
        90002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        ),
    )
}

fn unknown_app(client_id: &str, tenant: &str) -> EntraError {
    err(
        400,
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        ),
    )
}

fn missing(param: &str) -> EntraError {
    err(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{param}'."),
    )
}

async fn read_form(req: Request) -> Result<(HeaderMap, HashMap<String, String>), EntraError> {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, FORM_LIMIT).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Err(err(
                413,
                "invalid_request",
                90056,
                "The request body is too large.",
            ));
        }
        Err(BodyError::Read) => {
            return Err(err(
                400,
                "invalid_request",
                90014,
                "The request body could not be read.",
            ));
        }
    };
    match content_type(&parts.headers).as_deref() {
        Some("application/x-www-form-urlencoded") => {}
        _ => return Err(missing("grant_type")),
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        err(
            400,
            "invalid_request",
            90014,
            "The request body is not valid application/x-www-form-urlencoded.",
        )
    })?;
    Ok((parts.headers, pairs.into_iter().collect()))
}

/// Resolves a path tenant to a known tenant id.
fn known_tenant(emu: &Emu, tenant: &str) -> Option<String> {
    emu.read(|p| p.tenant_id(tenant))
}

fn find_app(emu: &Emu, client_id: &str) -> Option<AppReg> {
    emu.read(|p| p.app(client_id).cloned())
}

/// Client authentication: secret or assertion when sent; otherwise only public clients pass.
fn authenticate_client(
    app: &AppReg,
    form: &HashMap<String, String>,
    require_credential: bool,
) -> Result<(), EntraError> {
    if let Some(secret) = form.get("client_secret") {
        return match &app.client_secret {
            Some(s) if s == secret => Ok(()),
            _ => Err(err(
                401,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.client_id
                ),
            )),
        };
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(err(
                400,
                "invalid_request",
                50027,
                format!("client_assertion_type must be '{JWT_BEARER}'."),
            ));
        }
        return verify_assertion(app, assertion);
    }
    if require_credential {
        return Err(err(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    }
    if !app.public_client {
        return Err(err(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    }
    Ok(())
}

fn verify_assertion(app: &AppReg, assertion: &str) -> Result<(), EntraError> {
    let malformed = || {
        err(
            400,
            "invalid_client",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    let claims = tokens::insecure_payload(assertion).ok_or_else(malformed)?;
    let claim = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let expired = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp + 300 < now);
    let self_signed = claim("iss").eq_ignore_ascii_case(&app.client_id);
    let rsa = matches!(
        header.alg,
        jsonwebtoken::Algorithm::RS256
            | jsonwebtoken::Algorithm::RS384
            | jsonwebtoken::Algorithm::RS512
            | jsonwebtoken::Algorithm::PS256
            | jsonwebtoken::Algorithm::PS384
            | jsonwebtoken::Algorithm::PS512
    );
    if let (Some(pem), true) = (
        &app.certificate_pem,
        self_signed || app.federated_subject.is_none(),
    ) {
        if !rsa {
            return Err(err(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation: only RSA signatures (RS256/PS256) are accepted.",
            ));
        }
        if !claim("sub").eq_ignore_ascii_case(&app.client_id) || !self_signed {
            return Err(err(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            err(
                401,
                "invalid_client",
                700027,
                "The certificate registered on the application could not be read.",
            )
        })?;
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.validate_aud = false;
        v.validate_exp = false;
        v.set_required_spec_claims::<&str>(&[]);
        jsonwebtoken::decode::<Value>(assertion, &key, &v).map_err(|_| {
            err(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            )
        })?;
        if expired {
            return Err(err(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        return Ok(());
    }
    if let Some(subject) = &app.federated_subject {
        if claim("sub") != subject {
            return Err(err(
                400,
                "invalid_client",
                70021,
                format!(
                    "No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'.",
                    claim("iss"),
                    claim("sub"),
                    claims.get("aud").map(|a| a.to_string()).unwrap_or_default()
                ),
            ));
        }
        if expired {
            return Err(err(
                400,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        return Ok(());
    }
    Err(err(
        401,
        "invalid_client",
        700027,
        "No certificate or federated credential is registered on the application for client assertions.",
    ))
}

fn token_response(
    access: tokens::Issued,
    scope: &str,
    refresh: Option<String>,
    id_token: bool,
) -> Value {
    let mut v = json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": access.expires_in,
        "ext_expires_in": access.expires_in,
        "access_token": access.token,
    });
    if let Some(r) = refresh {
        v["refresh_token"] = Value::String(r);
    }
    let _ = id_token;
    v
}

/// The permissions granted to `client_id` for `resource` in tenant `tid`. Graph is the only
/// resource a tenant of the emulator has: any other is refused as Entra refuses a resource
/// whose service principal is missing (AADSTS500011). Revoked consent (admin API) is
/// AADSTS700016 for app-only grants and AADSTS65001 for delegated ones.
fn granted(
    emu: &Emu,
    tid: &str,
    client_id: &str,
    resource: &str,
    delegated: bool,
) -> Result<Vec<String>, EntraError> {
    if resource != GRAPH_RESOURCE {
        return Err(err(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tid}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    match emu.read(|p| p.permissions(tid, client_id)) {
        Some(p) => Ok(p),
        None if delegated => Err(err(
            400,
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource."
            ),
        )),
        None => Err(err(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tid}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        )),
    }
}

/// (scp claim, scope string in the response) for delegated permissions.
fn delegated_scope(permissions: &[String]) -> (String, String) {
    (
        permissions.join(" "),
        permissions
            .iter()
            .map(|p| format!("{GRAPH_RESOURCE}/{p}"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Issues the user tokens of a completed sign-in (device code, authorization code).
fn user_tokens(
    emu: &Emu,
    app: &AppReg,
    sign_in_tenant: &str,
    user: &str,
    scope: &str,
) -> Result<Value, EntraError> {
    let tid = if is_multi(sign_in_tenant) {
        crate::demo::TENANT_ID.to_string()
    } else {
        known_tenant(emu, sign_in_tenant).ok_or_else(|| unknown_tenant(sign_in_tenant))?
    };
    let resource = tokens::scope_resource(scope);
    let (scp, scope_out) = delegated_scope(&granted(emu, &tid, &app.client_id, &resource, true)?);
    let access = tokens::issue_access(
        &emu.jwt_key,
        &tid,
        &app.client_id,
        app.display_name.as_deref(),
        &resource,
        Kind::User {
            oid: user.to_string(),
            scp,
        },
    );
    let offline = scope
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case("offline_access"));
    let refresh = offline.then(|| {
        tokens::issue_refresh(
            &emu.jwt_key,
            &app.client_id,
            &tid,
            user,
            scope,
            is_multi(sign_in_tenant),
            emu.now(),
        )
    });
    let scope_out = if offline {
        format!("{scope_out} offline_access")
    } else {
        scope_out
    };
    Ok(token_response(access, &scope_out, refresh, false))
}

pub async fn token(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let ids = ids_of(&req);
    let mut meta = LogMeta {
        tenant: Some(tenant.clone()),
        ..Default::default()
    };
    let result = token_inner(&emu, &tenant, req, &mut meta).await;
    let mut resp = match result {
        Ok(v) => {
            let mut r = plain_json(StatusCode::OK, &v);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            r
        }
        Err(e) => e.into_response(&ids),
    };
    resp.extensions_mut().insert(meta);
    resp
}

async fn token_inner(
    emu: &Emu,
    tenant: &str,
    req: Request,
    meta: &mut LogMeta,
) -> Result<Value, EntraError> {
    let (_headers, form) = read_form(req).await?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| missing("grant_type"))?
        .clone();
    let client_id = form.get("client_id").cloned();
    meta.client_id = client_id.clone();
    meta.token_kind = match grant.as_str() {
        "client_credentials" => Some("app"),
        _ => Some("user"),
    };
    let client_id = client_id.ok_or_else(|| missing("client_id"))?;
    match grant.as_str() {
        "client_credentials" => {
            if is_multi(tenant) || tenant.eq_ignore_ascii_case("consumers") {
                return Err(err(
                    400,
                    "invalid_request",
                    90002,
                    format!(
                        "Tenant '{tenant}' cannot be used with the client credentials flow; use the tenant ID."
                    ),
                ));
            }
            let tid = known_tenant(emu, tenant).ok_or_else(|| unknown_tenant(tenant))?;
            let app = find_app(emu, &client_id).ok_or_else(|| unknown_app(&client_id, tenant))?;
            let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
            if !scope.trim().ends_with("/.default") || scope.split_whitespace().count() != 1 {
                return Err(err(
                    400,
                    "invalid_scope",
                    1002012,
                    format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                ));
            }
            authenticate_client(&app, &form, true)?;
            let resource = tokens::scope_resource(scope);
            let roles = granted(emu, &tid, &app.client_id, &resource, false)?;
            let access = tokens::issue_access(
                &emu.jwt_key,
                &tid,
                &app.client_id,
                app.display_name.as_deref(),
                &resource,
                Kind::App { roles },
            );
            meta.tenant = Some(tid);
            let mut v = token_response(access, "", None, false);
            if let Value::Object(m) = &mut v {
                m.remove("scope");
            }
            Ok(v)
        }
        "refresh_token" => {
            if !is_multi(tenant) && known_tenant(emu, tenant).is_none() {
                return Err(unknown_tenant(tenant));
            }
            let app = find_app(emu, &client_id).ok_or_else(|| unknown_app(&client_id, tenant))?;
            authenticate_client(&app, &form, false)?;
            let rt = form
                .get("refresh_token")
                .ok_or_else(|| missing("refresh_token"))?;
            let invalid = |why: &str| {
                err(
                    400,
                    "invalid_grant",
                    70000,
                    format!("The provided value for the 'refresh_token' is not valid. {why}"),
                )
            };
            let claims = tokens::decode_refresh(&emu.jwt_key, rt).ok_or_else(|| {
                invalid("The refresh token is malformed or was not issued by this service.")
            })?;
            if !claims.client_id.eq_ignore_ascii_case(&app.client_id) {
                return Err(invalid(
                    "The refresh token was issued to a different client.",
                ));
            }
            let now = emu.now();
            if claims.exp < now.unix_timestamp() {
                return Err(err(
                    400,
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity. The token was issued and was inactive for 90.00:00:00.",
                ));
            }
            let tid = if is_multi(tenant) {
                claims.tid.clone()
            } else {
                let t = known_tenant(emu, tenant).ok_or_else(|| unknown_tenant(tenant))?;
                if !claims.multi_tenant && !t.eq_ignore_ascii_case(&claims.tid) {
                    return Err(invalid(
                        "The refresh token was issued in another tenant; only tokens obtained through 'organizations' or 'common' can be redeemed in any tenant.",
                    ));
                }
                t
            };
            meta.tenant = Some(tid.clone());
            let scope = form
                .get("scope")
                .cloned()
                .unwrap_or_else(|| claims.scope.clone());
            let resource = tokens::scope_resource(&scope);
            let (scp, scope_out) =
                delegated_scope(&granted(emu, &tid, &app.client_id, &resource, true)?);
            let access = tokens::issue_access(
                &emu.jwt_key,
                &tid,
                &app.client_id,
                app.display_name.as_deref(),
                &resource,
                Kind::User {
                    oid: claims.oid.clone(),
                    scp,
                },
            );
            let refresh = tokens::issue_refresh(
                &emu.jwt_key,
                &app.client_id,
                &claims.tid,
                &claims.oid,
                &scope,
                claims.multi_tenant,
                now,
            );
            Ok(token_response(
                access,
                &format!("{scope_out} offline_access"),
                Some(refresh),
                false,
            ))
        }
        DEVICE_GRANT => {
            let code = form
                .get("device_code")
                .or_else(|| form.get("code"))
                .ok_or_else(|| missing("device_code"))?
                .clone();
            let app = find_app(emu, &client_id).ok_or_else(|| unknown_app(&client_id, tenant))?;
            let found = {
                let v = emu.volatile();
                v.device_codes
                    .iter()
                    .find(|d| d.device_code == code)
                    .cloned()
            };
            let Some(dc) = found else {
                return Err(err(
                    400,
                    "invalid_grant",
                    70000,
                    "The provided value for the input parameter 'device_code' is not valid.",
                ));
            };
            if !dc.client_id.eq_ignore_ascii_case(&app.client_id) {
                return Err(err(
                    400,
                    "invalid_grant",
                    70000,
                    "The device code was issued to a different client.",
                ));
            }
            if !app.public_client
                && !form.contains_key("client_secret")
                && !form.contains_key("client_assertion")
            {
                return Err(err(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
            authenticate_client(&app, &form, false)?;
            if OffsetDateTime::now_utc() > dc.expires_at {
                emu.volatile()
                    .device_codes
                    .retain(|d| d.device_code != code);
                return Err(err(
                    400,
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                ));
            }
            let Some(user) = dc.approved_user.clone() else {
                return Err(err(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ));
            };
            emu.volatile()
                .device_codes
                .retain(|d| d.device_code != code);
            let v = user_tokens(emu, &app, &dc.tenant, &user, &dc.scope)?;
            meta.tenant = Some(if is_multi(&dc.tenant) {
                crate::demo::TENANT_ID.to_string()
            } else {
                dc.tenant.clone()
            });
            Ok(v)
        }
        "authorization_code" => {
            let code = form.get("code").ok_or_else(|| missing("code"))?.clone();
            let app = find_app(emu, &client_id).ok_or_else(|| unknown_app(&client_id, tenant))?;
            authenticate_client(&app, &form, false)?;
            let Some(ac) = emu.volatile().auth_codes.remove(&code) else {
                return Err(err(
                    400,
                    "invalid_grant",
                    70000,
                    "The provided authorization code is invalid or was already redeemed.",
                ));
            };
            if !ac.client_id.eq_ignore_ascii_case(&app.client_id) {
                return Err(err(
                    400,
                    "invalid_grant",
                    70000,
                    "The authorization code was issued to a different client.",
                ));
            }
            if OffsetDateTime::now_utc() > ac.expires_at {
                return Err(err(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity.",
                ));
            }
            if form.get("redirect_uri").map(String::as_str) != Some(ac.redirect_uri.as_str()) {
                return Err(err(
                    400,
                    "invalid_grant",
                    500117,
                    "The reply uri specified in the request isn't a match for the reply uri of the authorization request.",
                ));
            }
            if let Some(challenge) = &ac.code_challenge {
                let verifier = form
                    .get("code_verifier")
                    .ok_or_else(|| missing("code_verifier"))?;
                let computed = match ac.code_challenge_method.as_deref() {
                    Some(m) if m.eq_ignore_ascii_case("plain") => verifier.clone(),
                    _ => {
                        use base64::Engine;
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .encode(Sha256::digest(verifier.as_bytes()))
                    }
                };
                if &computed != challenge {
                    return Err(err(
                        400,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    ));
                }
            }
            let v = user_tokens(emu, &app, &ac.tenant, &ac.user_id, &ac.scope)?;
            Ok(v)
        }
        other => Err(err(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

pub async fn devicecode(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let ids = ids_of(&req);
    let base = base_url(req.headers(), req.uri());
    let mut meta = LogMeta {
        tenant: Some(tenant.clone()),
        ..Default::default()
    };
    let result = async {
        if !is_multi(&tenant) && known_tenant(&emu, &tenant).is_none() {
            return Err(unknown_tenant(&tenant));
        }
        let (_h, form) = read_form(req).await.map_err(|e| {
            if e.code == 900144 {
                missing("client_id")
            } else {
                e
            }
        })?;
        let client_id = form.get("client_id").ok_or_else(|| missing("client_id"))?;
        meta.client_id = Some(client_id.clone());
        let app = find_app(&emu, client_id).ok_or_else(|| unknown_app(client_id, &tenant))?;
        let scope = form
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("{GRAPH_RESOURCE}/.default offline_access"));
        let user_code = user_code();
        let device_code = random_token(48);
        let expires_at = OffsetDateTime::now_utc() + DEVICE_CODE_LIFETIME;
        let verification_uri = format!("{base}/devicelogin");
        let dc = DeviceCode {
            device_code: device_code.clone(),
            user_code: user_code.clone(),
            client_id: app.client_id.clone(),
            tenant: tenant.clone(),
            scope,
            expires_at,
            expires_at_rfc3339: crate::json::rfc3339(expires_at),
            approved_user: None,
        };
        {
            let mut v = emu.volatile();
            let now = OffsetDateTime::now_utc();
            v.device_codes.retain(|d| d.expires_at > now);
            v.device_codes.push(dc);
        }
        Ok(json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": DEVICE_CODE_LIFETIME.whole_seconds(),
            "interval": DEVICE_CODE_INTERVAL,
            "message": format!(
                "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
            ),
        }))
    }
    .await;
    let mut resp = match result {
        Ok(v) => plain_json(StatusCode::OK, &v),
        Err(e) => e.into_response(&ids),
    };
    resp.extensions_mut().insert(meta);
    resp
}

fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uuid::Uuid::new_v4().as_bytes()[..9]
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Approves a waiting device code (admin API and the `/devicelogin` page).
pub fn approve_device_code(emu: &Emu, user_code: &str, user_id: &str) -> bool {
    let mut v = emu.volatile();
    let now = OffsetDateTime::now_utc();
    match v
        .device_codes
        .iter_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(user_code.trim()) && d.expires_at > now)
    {
        Some(d) => {
            d.approved_user = Some(user_id.to_string());
            true
        }
        None => false,
    }
}

pub async fn devicelogin_page() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><title>m365backup-emulator sign-in</title></head><body>\
         <h1>m365backup-emulator: device sign-in</h1>\
         <p>Enter the code shown by the application to sign in as the demo administrator.</p>\
         <form method=\"post\" action=\"/devicelogin\"><input name=\"user_code\" autofocus>\
         <button type=\"submit\">Sign in</button></form>\
         <p>Automation can use <code>POST /_emulator/devicecode/approve</code> instead.</p>\
         </body></html>",
    )
}

pub async fn devicelogin_submit(State(emu): State<Arc<Emu>>, req: Request) -> Response {
    let form = read_form(req).await.map(|(_, f)| f).unwrap_or_default();
    let code = form.get("user_code").cloned().unwrap_or_default();
    if approve_device_code(&emu, &code, crate::demo::ADMIN_USER_ID) {
        Html("<!doctype html><p>Signed in. You can close this window.</p>").into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Html("<!doctype html><p>Unknown or expired code.</p>"),
        )
            .into_response()
    }
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs the demo admin in at once and redirects
/// back with a code (auth code + PKCE flow).
pub async fn authorize(
    State(emu): State<Arc<Emu>>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let ids = ids_of(&req);
    let fail = |e: EntraError| e.into_response(&ids);
    if !is_multi(&tenant) && known_tenant(&emu, &tenant).is_none() {
        return fail(unknown_tenant(&tenant));
    }
    let Some(client_id) = q.get("client_id") else {
        return fail(missing("client_id"));
    };
    let Some(app) = find_app(&emu, client_id) else {
        return fail(unknown_app(client_id, &tenant));
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail(err(
            400,
            "unsupported_response_type",
            700054,
            "response_type must be 'code'.",
        ));
    }
    let Some(redirect) = q.get("redirect_uri") else {
        return fail(missing("redirect_uri"));
    };
    let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
        .iter()
        .any(|p| redirect.starts_with(p));
    if !loopback && !redirect.starts_with("https://") {
        return fail(err(
            400,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
            ),
        ));
    }
    let code = random_token(32);
    emu.volatile().auth_codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            tenant: tenant.clone(),
            scope: q
                .get("scope")
                .cloned()
                .unwrap_or_else(|| format!("{GRAPH_RESOURCE}/.default offline_access")),
            redirect_uri: redirect.clone(),
            code_challenge: q.get("code_challenge").cloned(),
            code_challenge_method: q.get("code_challenge_method").cloned(),
            user_id: crate::demo::ADMIN_USER_ID.to_string(),
            expires_at: OffsetDateTime::now_utc() + time::Duration::minutes(10),
        },
    );
    let mut query = vec![("code", code.as_str())];
    if let Some(s) = q.get("state") {
        query.push(("state", s.as_str()));
    }
    let qs = serde_urlencoded::to_string(&query).unwrap_or_default();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{sep}{qs}");
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.extensions_mut().insert(LogMeta {
        token_kind: None,
        tenant: Some(tenant),
        client_id: Some(app.client_id),
    });
    resp
}

/// OpenID discovery document for a tenant (some client libraries fetch it first).
pub async fn openid_configuration(
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let base = base_url(&headers, &uri);
    plain_json(
        StatusCode::OK,
        &json!({
            "issuer": format!("{base}/{tenant}/v2.0"),
            "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["client_credentials", "refresh_token", DEVICE_GRANT, "authorization_code"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "tenant_region_scope": "WW",
        }),
    )
}

/// App Service-style managed identity endpoint (`IDENTITY_ENDPOINT` = `{url}/msi/token`,
/// header `X-IDENTITY-HEADER` = [`crate::demo::IDENTITY_HEADER`]); also answers the VM
/// metadata path `/metadata/identity/oauth2/token` (header `Metadata: true`).
pub async fn managed_identity(
    State(emu): State<Arc<Emu>>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let imds = req.uri().path().starts_with("/metadata/");
    let headers = req.headers();
    let authorized = if imds {
        headers
            .get("metadata")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    } else {
        headers
            .get("x-identity-header")
            .and_then(|v| v.to_str().ok())
            == Some(crate::demo::IDENTITY_HEADER)
    };
    let fail = |status: StatusCode, msg: &str| {
        if imds {
            plain_json(
                status,
                &json!({"error": "invalid_request", "error_description": msg}),
            )
        } else {
            plain_json(
                status,
                &json!({"statusCode": status.as_u16(), "message": msg}),
            )
        }
    };
    if !authorized {
        return fail(
            StatusCode::UNAUTHORIZED,
            "The identity header (X-IDENTITY-HEADER, or Metadata: true) is missing or wrong.",
        );
    }
    let Some(resource) = q.get("resource") else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The 'resource' query parameter is required.",
        );
    };
    let client_id = q
        .get("client_id")
        .cloned()
        .unwrap_or_else(|| crate::demo::CLIENT_ID.to_string());
    let Some(app) = find_app(&emu, &client_id) else {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("No managed identity with client_id '{client_id}' is assigned."),
        );
    };
    let tenant = app
        .tenant_id
        .clone()
        .unwrap_or_else(|| crate::demo::TENANT_ID.to_string());
    let Some(tid) = known_tenant(&emu, &tenant) else {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("The managed identity's tenant '{tenant}' does not exist."),
        );
    };
    let audience = tokens::scope_resource(&format!("{}/.default", resource.trim_end_matches('/')));
    let roles = match granted(&emu, &tid, &app.client_id, &audience, false) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                StatusCode::BAD_REQUEST,
                &format!("AADSTS{}: {}", e.code, e.description),
            );
        }
    };
    let access = tokens::issue_access(
        &emu.jwt_key,
        &tid,
        &app.client_id,
        app.display_name.as_deref(),
        &audience,
        Kind::App { roles },
    );
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let expires_on = (now + access.expires_in).to_string();
    let body = if imds {
        json!({
            "access_token": access.token,
            "refresh_token": "",
            "expires_in": access.expires_in.to_string(),
            "expires_on": expires_on,
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": app.client_id,
        })
    } else {
        json!({
            "access_token": access.token,
            "expires_on": expires_on,
            "resource": resource,
            "token_type": "Bearer",
            "client_id": app.client_id,
        })
    };
    let mut resp = plain_json(StatusCode::OK, &body);
    resp.extensions_mut().insert(LogMeta {
        token_kind: Some("app"),
        tenant: Some(tid),
        client_id: Some(app.client_id),
    });
    resp
}
