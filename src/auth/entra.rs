//! Hand-written requests to the Entra ID v2.0 token endpoint
//! (`{authority_host}/{tenant}/oauth2/v2.0/token`), on the shared HTTP client.

use std::time::Duration;

use reqwest::{Method, Url};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::error::{AuthError, excerpt, parse_entra_error};
use crate::secret::{Secret, redact};
use crate::transport::http::{LogContext, SendError, join_segments, send_with_retries};

/// A successful token answer.
#[derive(Debug, Clone)]
pub(crate) struct TokenResponse {
    pub access_token: Secret,
    pub expires_at: OffsetDateTime,
    /// A rotated refresh token, when Entra returned one.
    pub refresh_token: Option<Secret>,
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `{authority}/{tenant}/oauth2/v2.0/token`.
pub(crate) fn token_url(authority: &Url, tenant: &str) -> Url {
    join_segments(authority, &[tenant, "oauth2", "v2.0", "token"])
}

/// Everything a credential needs to send a token request.
pub struct TokenRequestContext<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) authority: &'a Url,
    pub(crate) deadline: Instant,
    pub(crate) max_retries: u32,
    pub(crate) counter: &'a std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl TokenRequestContext<'_> {
    /// Posts `form` to the tenant's token endpoint, with retries on 429/5xx/transport errors
    /// within the deadline, and parses the answer. `credential` names the credential in errors;
    /// `secrets` are redacted from any text Entra sends back.
    pub(crate) async fn redeem(
        &self,
        tenant: &str,
        credential: &'static str,
        form: &[(&'static str, &str)],
        secrets: &[&str],
    ) -> Result<TokenResponse, AuthError> {
        let url = token_url(self.authority, tenant);
        let path = url.path().to_owned();
        let method = Method::POST;
        let log = LogContext {
            service: "entra",
            operation: credential,
            tenant,
            method: &method,
            path: &path,
        };
        let owned_form: Vec<(&'static str, String)> =
            form.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let http = self.http.clone();
        let counter = self.counter.clone();
        let build = move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            http.post(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&owned_form)
        };
        let resp = match send_with_retries(&build, self.deadline, self.max_retries, &log).await {
            Ok(r) => r,
            Err(SendError::Timeout { .. }) => return Err(AuthError::Timeout),
            Err(SendError::Transport { message, .. }) => {
                return Err(AuthError::Transport(redact(&message, secrets)));
            }
        };
        if !resp.is_success() {
            let e = parse_entra_error(resp.status, &resp.body);
            tracing::debug!(
                tenant,
                credential,
                status = resp.status,
                error = %e.error,
                aadsts = e.aadsts.as_deref().unwrap_or("-"),
                "token request rejected"
            );
            return Err(AuthError::Entra {
                credential,
                tenant: tenant.to_owned(),
                status: resp.status,
                error: redact(&e.error, secrets),
                aadsts: e.aadsts,
                client_id: form
                    .iter()
                    .find(|(key, _)| *key == "client_id")
                    .map(|(_, id)| (*id).to_owned()),
                description: redact(&e.description, secrets),
                trace_id: e.trace_id,
                correlation_id: e.correlation_id,
            });
        }
        if resp.truncated {
            return Err(AuthError::Decode(
                "the token response is larger than 1 MiB".to_owned(),
            ));
        }
        parse_token_response(&resp.body, OffsetDateTime::now_utc())
            .map_err(|e| AuthError::Decode(redact(&e, secrets)))
    }
}

/// Parses a token endpoint success body. `expires_in` may be a number or a string; when it is
/// missing the token's `exp` claim is used, else one hour.
pub(crate) fn parse_token_response(
    body: &[u8],
    now: OffsetDateTime,
) -> Result<TokenResponse, String> {
    let raw: RawTokenResponse = serde_json::from_slice(body).map_err(|_| {
        format!(
            "expected a JSON token response, got: {}",
            // A success body might be a token in an unexpected shape: show little of it.
            if body.starts_with(b"{") {
                "(unreadable JSON)".to_owned()
            } else {
                excerpt(body, 80)
            }
        )
    })?;
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token response has no access_token".to_owned())?;
    let expires_in = raw.expires_in.and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    });
    let expires_at = match expires_in {
        Some(secs) => now + Duration::from_secs(secs.max(0) as u64),
        None => super::jwt::decode_claims_unverified(&access_token)
            .ok()
            .and_then(|c| c.exp)
            .and_then(|exp| OffsetDateTime::from_unix_timestamp(exp).ok())
            .unwrap_or(now + Duration::from_secs(3600)),
    };
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        expires_at,
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_shape() {
        let a = Url::parse("https://login.microsoftonline.com").unwrap();
        assert_eq!(
            token_url(&a, "contoso.onmicrosoft.com").as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let a = Url::parse("https://127.0.0.1:8443/").unwrap();
        assert_eq!(
            token_url(&a, "organizations").as_str(),
            "https://127.0.0.1:8443/organizations/oauth2/v2.0/token"
        );
    }

    #[test]
    fn parses_token_responses() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let r = parse_token_response(
            br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.a.b"}"#,
            now,
        )
        .unwrap();
        assert_eq!(r.access_token.expose(), "eyJ.a.b");
        assert_eq!(r.expires_at, now + Duration::from_secs(3599));
        assert!(r.refresh_token.is_none());

        let r = parse_token_response(
            br#"{"expires_in":"60","access_token":"x","refresh_token":"rt2"}"#,
            now,
        )
        .unwrap();
        assert_eq!(r.expires_at, now + Duration::from_secs(60));
        assert_eq!(r.refresh_token.unwrap().expose(), "rt2");

        let r = parse_token_response(br#"{"access_token":"opaque"}"#, now).unwrap();
        assert_eq!(r.expires_at, now + Duration::from_secs(3600));
    }

    #[test]
    fn bad_token_responses_do_not_echo_tokens() {
        let now = OffsetDateTime::now_utc();
        let e = parse_token_response(br#"{"token_type":"Bearer"}"#, now).unwrap_err();
        assert!(e.contains("access_token"));
        let e =
            parse_token_response(br#"{"access_token": 12, "secretish":"zzzz"}"#, now).unwrap_err();
        assert!(!e.contains("zzzz"), "{e}");
        let e = parse_token_response(b"<html>oops</html>", now).unwrap_err();
        assert!(e.contains("oops"));
    }
}
