//! `azure_identity` behind our [`AppOnlyCredential`](super::AppOnlyCredential) trait: its
//! client-assertion exchange (certificate and OIDC federation) and its managed identity
//! credential (App Service and VM metadata endpoints).
//!
//! Its HTTP pipeline runs on *our* reqwest client through [`SharedTransport`], so connections,
//! TLS trust (`SSL_CERT_FILE`), request counting and logging are shared with Graph calls. A new
//! `azure_identity` credential is built for every acquisition: the provider's own per-(tenant,
//! kind) cache decides when a token is needed, and an invalidated token must not come back from
//! a second cache inside the library.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{
    AsyncRawResponse, ClientMethodOptions, ClientOptions, ExponentialRetryOptions, HttpClient,
    Request, RetryOptions, Transport,
};
use time::OffsetDateTime;

use super::error::{AuthError, parse_entra_error};
use crate::secret::{Secret, redact};
use crate::transport::http::error_chain;

/// Our reqwest client as `azure_core`'s transport: counts and logs every attempt (method, path,
/// status; never a header, body or query value).
#[derive(Debug, Clone)]
pub(crate) struct SharedTransport {
    pub(crate) http: reqwest::Client,
    pub(crate) counter: Arc<AtomicU64>,
    pub(crate) operation: &'static str,
    pub(crate) tenant: String,
}

#[async_trait]
impl HttpClient for SharedTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        self.counter.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let result = HttpClient::execute_request(&self.http, request).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(resp) => tracing::debug!(
                service = "entra",
                operation = self.operation,
                tenant = %self.tenant,
                method = %request.method(),
                path = request.url().path(),
                status = u16::from(resp.status()),
                elapsed_ms,
                "request"
            ),
            Err(e) => tracing::debug!(
                service = "entra",
                operation = self.operation,
                tenant = %self.tenant,
                method = %request.method(),
                path = request.url().path(),
                elapsed_ms,
                error = %e,
                "request failed"
            ),
        }
        result
    }
}

/// Client options for one acquisition: our transport, the authority as a custom cloud, and a
/// bounded retry policy (the caller's deadline bounds it too).
pub(crate) fn client_options(
    transport: SharedTransport,
    authority: Option<&reqwest::Url>,
    max_retries: u32,
) -> ClientOptions {
    let mut options = ClientOptions {
        transport: Some(Transport::new(Arc::new(transport))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(500),
            max_retries,
            max_total_elapsed: azure_core::time::Duration::seconds(60),
            max_delay: azure_core::time::Duration::seconds(10),
        }),
        ..Default::default()
    };
    if let Some(authority) = authority {
        let mut cloud = azure_core::cloud::CustomConfiguration::default();
        cloud.authority_host = authority.as_str().trim_end_matches('/').to_owned();
        options.cloud = Some(Arc::new(cloud.into()));
    }
    options
}

/// A client assertion computed before the exchange (a signed certificate JWT, or an OIDC token).
#[derive(Clone)]
pub(crate) struct ReadyAssertion(pub(crate) Secret);

impl std::fmt::Debug for ReadyAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadyAssertion(***)")
    }
}

#[async_trait]
impl azure_identity::ClientAssertion for ReadyAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        Ok(self.0.expose().to_owned())
    }
}

/// Runs `credential.get_token(scope)` and converts the answer into our types.
pub(crate) async fn get_token(
    credential: &dyn TokenCredential,
    scope: &str,
    credential_name: &'static str,
    tenant: &str,
    secrets: &[&str],
) -> Result<super::AccessToken, AuthError> {
    match credential.get_token(&[scope], None).await {
        Ok(t) => {
            let expires_at = if t.expires_on > OffsetDateTime::UNIX_EPOCH {
                t.expires_on
            } else {
                OffsetDateTime::now_utc() + std::time::Duration::from_secs(3600)
            };
            Ok(super::AccessToken {
                secret: Secret::new(t.token.secret()),
                expires_at,
            })
        }
        Err(e) => Err(to_auth_error(&e, credential_name, tenant, secrets)),
    }
}

/// The innermost `HttpResponse` error in a chain of `azure_core` errors, if any.
fn http_response(e: &azure_core::Error) -> Option<&azure_core::Error> {
    let mut cur = e;
    loop {
        if matches!(cur.kind(), ErrorKind::HttpResponse { .. }) {
            return Some(cur);
        }
        cur = cur.get_ref()?.downcast_ref::<azure_core::Error>()?;
    }
}

/// Converts an `azure_core` error: Entra's answers become [`AuthError::Entra`] (with the AADSTS
/// code), connection problems [`AuthError::Transport`]; secrets are redacted from any text.
pub(crate) fn to_auth_error(
    e: &azure_core::Error,
    credential: &'static str,
    tenant: &str,
    secrets: &[&str],
) -> AuthError {
    if let Some(resp_err) = http_response(e)
        && let ErrorKind::HttpResponse {
            status,
            raw_response,
            ..
        } = resp_err.kind()
    {
        let status = u16::from(*status);
        let body: Vec<u8> = raw_response
            .as_ref()
            .map(|r| r.body().as_ref().to_vec())
            .unwrap_or_default();
        let parsed = parse_entra_error(status, &body);
        // Managed identity endpoints answer `{"statusCode", "message"}` or `{"error": ...}`.
        let description = if parsed.description.is_empty() || parsed.error.starts_with("http_") {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .or_else(|| v.get("error_description"))
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| parsed.description.clone());
            super::error::truncate_chars(&msg, 500)
        } else {
            parsed.description.clone()
        };
        return AuthError::Entra {
            credential,
            tenant: tenant.to_owned(),
            status,
            error: redact(&parsed.error, secrets),
            aadsts: parsed.aadsts,
            client_id: None,
            description: redact(&description, secrets),
            trace_id: parsed.trace_id,
            correlation_id: parsed.correlation_id,
        };
    }
    let text = redact(&error_chain(e as &dyn std::error::Error), secrets);
    let transport = {
        let mut cur: Option<&azure_core::Error> = Some(e);
        let mut found = false;
        while let Some(err) = cur {
            if matches!(err.kind(), ErrorKind::Io | ErrorKind::Connection) {
                found = true;
                break;
            }
            cur = err
                .get_ref()
                .and_then(|r| r.downcast_ref::<azure_core::Error>());
        }
        found
    };
    if transport {
        AuthError::Transport(text)
    } else {
        AuthError::Decode(format!("{credential}: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_errors_keep_their_code_and_lose_secrets() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS700027: bad assertion eyJsecretassertion","error_codes":[700027]}"#;
        let raw = azure_core::http::RawResponse::from_bytes(
            azure_core::http::StatusCode::Unauthorized,
            azure_core::http::headers::Headers::new(),
            body.to_vec(),
        );
        let e = azure_core::Error::new(
            ErrorKind::HttpResponse {
                status: azure_core::http::StatusCode::Unauthorized,
                error_code: Some("700027".into()),
                raw_response: Some(Box::new(raw)),
            },
            "failed",
        );
        let wrapped = azure_core::Error::with_error(ErrorKind::Credential, e, "wrapped");
        let a = to_auth_error(
            &wrapped,
            "client certificate",
            "t1",
            &["eyJsecretassertion"],
        );
        let AuthError::Entra {
            aadsts,
            description,
            status,
            ..
        } = &a
        else {
            panic!("{a:?}")
        };
        assert_eq!(aadsts.as_deref(), Some("AADSTS700027"));
        assert_eq!(*status, 401);
        assert!(!description.contains("eyJsecretassertion"), "{description}");
    }
}
