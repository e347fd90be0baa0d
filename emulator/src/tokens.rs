//! Access and refresh tokens: HS256 JWTs signed with the key in the state dir.
//!
//! Access tokens expire in real time (one hour) because clients check `exp` with their
//! own clock; `/_emulator/tokens/expire` additionally expires every access token issued
//! before it (cutoff on the `emu_iat_us` claim, microseconds of real time). Refresh tokens
//! expire after 90 days of the *virtual* clock, so a test can reach AADSTS700082 by moving
//! the clock.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
pub const CONTROL_PERMISSION: &str = "BackupRestore-Control.ReadWrite.All";
/// What an app is granted in a tenant unless the admin API's `consent` says otherwise: the
/// Backup Storage permissions the provider asks for (as roles, or as scopes when delegated).
pub const DEFAULT_PERMISSIONS: &[&str] = &[
    CONTROL_PERMISSION,
    "BackupRestore-Configuration.ReadWrite.All",
    "BackupRestore-Search.Read.All",
];
pub const ACCESS_LIFETIME_SECS: i64 = 3600;
pub const REFRESH_LIFETIME: time::Duration = time::Duration::days(90);
const REFRESH_AUD: &str = "urn:m365backup-emulator:refresh-token";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub appid: String,
    pub azp: String,
    pub idtyp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    pub sub: String,
    pub jti: String,
    pub ver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    pub emu_iat_us: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub aud: String,
    pub jti: String,
    pub client_id: String,
    /// Tenant the token was issued in (the user's home tenant for `organizations`/`common`).
    pub tid: String,
    pub oid: String,
    pub scope: String,
    /// Obtained through `organizations`/`common`: redeemable in any tenant.
    pub multi_tenant: bool,
    /// Virtual-clock issue time and expiry (unix seconds).
    pub iat: i64,
    pub exp: i64,
}

pub enum Kind {
    App { roles: Vec<String> },
    User { oid: String, scp: String },
}

pub struct Issued {
    pub token: String,
    pub expires_in: i64,
}

fn now_us() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

pub fn issue_access(
    key: &[u8],
    tenant: &str,
    client_id: &str,
    app_name: Option<&str>,
    audience: &str,
    kind: Kind,
) -> Issued {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (idtyp, roles, scp, oid) = match kind {
        Kind::App { roles } => ("app", Some(roles), None, None),
        Kind::User { oid, scp } => ("user", None, Some(scp), Some(oid)),
    };
    let claims = AccessClaims {
        aud: audience.to_string(),
        iss: format!("https://sts.windows.net/{tenant}/"),
        iat: now,
        nbf: now,
        exp: now + ACCESS_LIFETIME_SECS,
        tid: tenant.to_string(),
        appid: client_id.to_string(),
        azp: client_id.to_string(),
        idtyp: idtyp.to_string(),
        roles,
        scp,
        sub: oid.clone().unwrap_or_else(|| client_id.to_string()),
        oid,
        jti: uuid::Uuid::new_v4().to_string(),
        ver: "1.0".to_string(),
        app_displayname: app_name.map(str::to_string),
        emu_iat_us: now_us(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .expect("HS256 signing cannot fail");
    Issued {
        token,
        expires_in: ACCESS_LIFETIME_SECS - 1,
    }
}

/// Why an access token was refused (message for `InvalidAuthenticationToken`).
pub fn validate_access(
    key: &[u8],
    token: &str,
    not_before_us: i64,
) -> Result<AccessClaims, &'static str> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[GRAPH_RESOURCE, "https://graph.microsoft.com/", GRAPH_APP_ID]);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "aud"]);
    match jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(key), &v) {
        Ok(data) => {
            if data.claims.emu_iat_us <= not_before_us {
                return Err("Lifetime validation failed, the token is expired.");
            }
            Ok(data.claims)
        }
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                "Lifetime validation failed, the token is expired."
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => "Invalid audience.",
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                "Access token validation failure. Invalid signature."
            }
            _ => {
                "IDX14100: JWT is not well formed, there are no dots (.) or the token is malformed."
            }
        }),
    }
}

pub fn issue_refresh(
    key: &[u8],
    client_id: &str,
    tid: &str,
    oid: &str,
    scope: &str,
    multi_tenant: bool,
    virtual_now: OffsetDateTime,
) -> String {
    let claims = RefreshClaims {
        aud: REFRESH_AUD.to_string(),
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client_id.to_string(),
        tid: tid.to_string(),
        oid: oid.to_string(),
        scope: scope.to_string(),
        multi_tenant,
        iat: virtual_now.unix_timestamp(),
        exp: (virtual_now + REFRESH_LIFETIME).unix_timestamp(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .expect("HS256 signing cannot fail")
}

/// Decodes a refresh token without judging its expiry (the caller compares `exp` with the
/// virtual clock).
pub fn decode_refresh(key: &[u8], token: &str) -> Option<RefreshClaims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[REFRESH_AUD]);
    v.validate_exp = false;
    v.set_required_spec_claims(&["aud"]);
    jsonwebtoken::decode::<RefreshClaims>(token, &DecodingKey::from_secret(key), &v)
        .ok()
        .map(|d| d.claims)
}

/// The resource a scope string asks for (`https://graph.microsoft.com/.default offline_access`
/// -> `https://graph.microsoft.com`). Bare permission names mean Graph.
pub fn scope_resource(scope: &str) -> String {
    for item in scope.split_whitespace() {
        let lower = item.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "offline_access" | "openid" | "profile" | "email"
        ) {
            continue;
        }
        let resource = match item.rfind('/') {
            Some(i) if item.contains("://") || item[..i].len() == 36 => &item[..i],
            _ => return GRAPH_RESOURCE.to_string(),
        };
        if resource.eq_ignore_ascii_case(GRAPH_APP_ID)
            || resource
                .trim_end_matches('/')
                .eq_ignore_ascii_case(GRAPH_RESOURCE)
        {
            return GRAPH_RESOURCE.to_string();
        }
        return resource.trim_end_matches('/').to_string();
    }
    GRAPH_RESOURCE.to_string()
}

/// Decodes a JWT payload without verifying it (client assertions, federated tokens).
pub fn insecure_payload(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let mut parts = token.split('.');
    let _header = parts.next()?;
    let payload = parts.next()?;
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(
            scope_resource("https://graph.microsoft.com/.default offline_access"),
            GRAPH_RESOURCE
        );
        assert_eq!(
            scope_resource("00000003-0000-0000-c000-000000000000/.default"),
            GRAPH_RESOURCE
        );
        assert_eq!(
            scope_resource("https://management.azure.com/.default"),
            "https://management.azure.com"
        );
        assert_eq!(
            scope_resource("offline_access BackupRestore-Control.ReadWrite.All"),
            GRAPH_RESOURCE
        );
    }

    #[test]
    fn access_roundtrip_and_cutoff() {
        let key = b"0123456789abcdef0123456789abcdef";
        let t = issue_access(
            key,
            "t",
            "c",
            None,
            GRAPH_RESOURCE,
            Kind::App {
                roles: vec![CONTROL_PERMISSION.into()],
            },
        );
        let c = validate_access(key, &t.token, 0).unwrap();
        assert_eq!(c.idtyp, "app");
        assert!(validate_access(key, &t.token, i64::MAX).is_err());
        assert!(validate_access(key, "garbage", 0).is_err());
    }
}
