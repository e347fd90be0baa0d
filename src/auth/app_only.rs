//! The app-only credential kinds besides the client secret: client certificate, OIDC federation
//! (a token, a token file, or GitHub Actions' token request) and managed identity (App Service
//! or the VM metadata endpoint). The token exchange itself runs in `azure_identity` (see
//! [`super::azure`]); obtaining the assertion (signing with the certificate, reading or
//! requesting the federated token) is ours, so that every failure names its credential and
//! setting.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::Deserialize;
use time::OffsetDateTime;

use super::azure::{self, ReadyAssertion, SharedTransport};
use super::certificate::ClientCertificate;
use super::credential::AppOnlyCredential;
use super::entra::{TokenRequestContext, token_url};
use super::error::{AuthError, excerpt};
use super::{AccessToken, jwt};
use crate::secret::{Secret, redact};
use crate::transport::http::{LogContext, SendError, send_with_retries};

/// The audience Entra expects in federated tokens (GitHub Actions, workload identity).
pub const OIDC_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The VM instance metadata service's token endpoint (plain HTTP on a link-local address: the only
/// non-TLS endpoint the provider talks to, through its own client).
pub const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

fn transport(
    ctx: &TokenRequestContext<'_>,
    operation: &'static str,
    tenant: &str,
) -> SharedTransport {
    SharedTransport {
        http: ctx.http.clone(),
        counter: ctx.counter.clone(),
        operation,
        tenant: tenant.to_owned(),
    }
}

/// Exchanges a ready client assertion for an app-only token through `azure_identity`.
async fn exchange_assertion(
    ctx: &TokenRequestContext<'_>,
    credential: &'static str,
    client_id: &str,
    tenant: &str,
    scope: &str,
    assertion: Secret,
) -> Result<AccessToken, AuthError> {
    let options = azure_identity::ClientAssertionCredentialOptions {
        client_options: azure::client_options(
            transport(ctx, credential, tenant),
            Some(ctx.authority),
            ctx.max_retries,
        ),
    };
    let secret_text = assertion.expose().to_owned();
    let cred = azure_identity::ClientAssertionCredential::new(
        tenant.to_owned(),
        client_id.to_owned(),
        ReadyAssertion(assertion),
        Some(options),
    )
    .map_err(|e| AuthError::InvalidConfig(format!("{credential}: {e}")))?;
    azure::get_token(cred.as_ref(), scope, credential, tenant, &[&secret_text]).await
}

/// Client credentials with a certificate-signed client assertion.
pub struct ClientCertificateCredential {
    client_id: String,
    certificate: Arc<ClientCertificate>,
}

impl ClientCertificateCredential {
    pub fn new(client_id: String, certificate: ClientCertificate) -> Self {
        Self {
            client_id,
            certificate: Arc::new(certificate),
        }
    }
}

#[async_trait]
impl AppOnlyCredential for ClientCertificateCredential {
    fn name(&self) -> &'static str {
        "client certificate"
    }

    async fn acquire(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError> {
        let audience = token_url(ctx.authority, tenant);
        let assertion = self
            .certificate
            .assertion(
                &self.client_id,
                audience.as_str(),
                OffsetDateTime::now_utc(),
            )
            .map_err(|message| AuthError::Credential {
                credential: self.name(),
                message,
            })?;
        exchange_assertion(ctx, self.name(), &self.client_id, tenant, scope, assertion).await
    }
}

/// Where a federated (OIDC) token comes from.
#[derive(Clone, Debug)]
pub enum OidcTokenSource {
    Token(Secret),
    /// Read at every acquisition: workload identity rotates the file.
    File(String),
    /// GitHub Actions' ID token request (`ACTIONS_ID_TOKEN_REQUEST_URL` / `_TOKEN`).
    Request {
        url: String,
        token: Secret,
    },
}

/// Client credentials with a federated token (workload identity federation).
pub struct OidcCredential {
    client_id: String,
    source: OidcTokenSource,
}

impl OidcCredential {
    pub fn new(client_id: String, source: OidcTokenSource) -> Self {
        Self { client_id, source }
    }

    fn fail(&self, message: String) -> AuthError {
        AuthError::Credential {
            credential: self.name(),
            message,
        }
    }

    /// The federated token to present.
    pub(crate) async fn federated_token(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
    ) -> Result<Secret, AuthError> {
        match &self.source {
            OidcTokenSource::Token(t) => Ok(t.clone()),
            OidcTokenSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    self.fail(format!("cannot read oidc_token_file_path {path:?}: {e}"))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(self.fail(format!("oidc_token_file_path {path:?} is empty")));
                }
                Ok(Secret::new(token))
            }
            OidcTokenSource::Request { url, token } => {
                self.request_github_token(ctx, tenant, url, token).await
            }
        }
    }

    async fn request_github_token(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        url: &str,
        bearer: &Secret,
    ) -> Result<Secret, AuthError> {
        let mut url = Url::parse(url)
            .map_err(|e| self.fail(format!("oidc_request_url is not a URL ({e})")))?;
        if !url.query_pairs().any(|(k, _)| k == "audience") {
            url.query_pairs_mut().append_pair("audience", OIDC_AUDIENCE);
        }
        let path = url.path().to_owned();
        let method = Method::GET;
        let log = LogContext {
            service: "oidc",
            operation: "OIDC token request",
            tenant,
            method: &method,
            path: &path,
        };
        let http = ctx.http.clone();
        let bearer_value = format!("Bearer {}", bearer.expose());
        let counter = ctx.counter.clone();
        let build = move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            http.get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::AUTHORIZATION, bearer_value.clone())
        };
        let secrets = [bearer.expose()];
        let resp = match send_with_retries(&build, ctx.deadline, ctx.max_retries, &log).await {
            Ok(r) => r,
            Err(SendError::Timeout { .. }) => return Err(AuthError::Timeout),
            Err(SendError::Transport { message, .. }) => {
                return Err(self.fail(format!(
                    "the OIDC token request (oidc_request_url) failed: {}",
                    redact(&message, &secrets)
                )));
            }
        };
        if !resp.is_success() {
            return Err(self.fail(format!(
                "the OIDC token request (oidc_request_url) answered HTTP {}: {}{}",
                resp.status,
                redact(&excerpt(&resp.body, 200), &secrets),
                if resp.status == 401 || resp.status == 403 {
                    " (check oidc_request_token / ACTIONS_ID_TOKEN_REQUEST_TOKEN, and that the \
                     job has `permissions: id-token: write`)"
                } else {
                    ""
                }
            )));
        }
        #[derive(Deserialize)]
        struct Answer {
            value: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(&resp.body).map_err(|_| {
            self.fail("the OIDC token request answered something else than {\"value\": ...}".into())
        })?;
        answer
            .value
            .filter(|v| !v.trim().is_empty())
            .map(|v| Secret::new(v.trim()))
            .ok_or_else(|| self.fail("the OIDC token request answered no `value`".into()))
    }
}

#[async_trait]
impl AppOnlyCredential for OidcCredential {
    fn name(&self) -> &'static str {
        "OIDC federated token"
    }

    async fn acquire(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError> {
        let token = self.federated_token(ctx, tenant).await?;
        exchange_assertion(ctx, self.name(), &self.client_id, tenant, scope, token).await
    }
}

/// Which managed identity endpoint to ask.
#[derive(Clone, Debug)]
pub enum ManagedIdentitySource {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` (App Service, Functions, Container Apps).
    AppService { endpoint: String },
    /// The VM instance metadata service.
    VmMetadata,
}

/// A managed identity (system-assigned, or the user-assigned one whose client id is given).
/// Its tokens are valid in the identity's own tenant only.
pub struct ManagedIdentityCredential {
    client_id: Option<String>,
    source: ManagedIdentitySource,
    /// A client for plain-HTTP endpoints (the VM metadata service, App Service on loopback).
    plain_http: reqwest::Client,
}

/// The client for the VM metadata endpoint: plain HTTP is allowed (link-local only), no proxy.
pub fn metadata_http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .user_agent(crate::transport::user_agent())
        .build()
        .map_err(|e| format!("could not set up the metadata endpoint client: {e}"))
}

impl ManagedIdentityCredential {
    pub fn new(client_id: Option<String>, source: ManagedIdentitySource) -> Result<Self, String> {
        Ok(Self {
            client_id,
            source,
            plain_http: metadata_http_client()?,
        })
    }

    fn options(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
    ) -> azure_identity::ManagedIdentityCredentialOptions {
        let https = match &self.source {
            ManagedIdentitySource::AppService { endpoint } => endpoint.starts_with("https://"),
            ManagedIdentitySource::VmMetadata => false,
        };
        let mut t = transport(ctx, "managed identity", tenant);
        if !https {
            t.http = self.plain_http.clone();
        }
        azure_identity::ManagedIdentityCredentialOptions {
            user_assigned_id: self
                .client_id
                .clone()
                .map(azure_identity::UserAssignedId::ClientId),
            client_options: azure::client_options(t, None, ctx.max_retries),
        }
    }
}

#[async_trait]
impl AppOnlyCredential for ManagedIdentityCredential {
    fn name(&self) -> &'static str {
        "managed identity"
    }

    async fn acquire(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError> {
        let cred = azure_identity::ManagedIdentityCredential::new(Some(self.options(ctx, tenant)))
            .map_err(|e| AuthError::Credential {
                credential: self.name(),
                message: e.to_string(),
            })?;
        let token = azure::get_token(cred.as_ref(), scope, self.name(), tenant, &[]).await?;
        // A managed identity belongs to one tenant: say so instead of letting Graph answer 401.
        if let Ok(home) = jwt::tenant_of(token.secret.expose())
            && !home.eq_ignore_ascii_case(tenant)
        {
            return Err(AuthError::IdentityOfAnotherTenant {
                credential: self.name(),
                home: home.to_string(),
                tenant: tenant.to_owned(),
            });
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU64;

    /// (method, URL, headers) of one request.
    type Seen = (String, String, Vec<(String, String)>);

    /// Records requests; answers with a canned IMDS token response.
    #[derive(Debug, Default)]
    struct Recorder {
        seen: Mutex<Vec<Seen>>,
    }

    #[async_trait]
    impl azure_core::http::HttpClient for Recorder {
        async fn execute_request(
            &self,
            request: &azure_core::http::Request,
        ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
            let headers = request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
                .collect();
            self.seen.lock().unwrap().push((
                request.method().to_string(),
                request.url().to_string(),
                headers,
            ));
            let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
            let body = format!(
                r#"{{"access_token":"tok","expires_on":"{exp}","resource":"https://graph.microsoft.com","token_type":"Bearer"}}"#
            );
            Ok(azure_core::http::AsyncRawResponse::from_bytes(
                azure_core::http::StatusCode::Ok,
                azure_core::http::headers::Headers::new(),
                body.into_bytes(),
            ))
        }
    }

    /// The VM metadata request: GET on the link-local endpoint with `Metadata: true`, the Graph
    /// resource (no `/.default`) and the user-assigned client id.
    #[tokio::test]
    async fn vm_metadata_request_shape() {
        if std::env::var_os("IDENTITY_ENDPOINT").is_some()
            || std::env::var_os("MSI_ENDPOINT").is_some()
        {
            return; // running inside a managed-identity host: azure_identity picks that source
        }
        let recorder = Arc::new(Recorder::default());
        let options = azure_identity::ManagedIdentityCredentialOptions {
            user_assigned_id: Some(azure_identity::UserAssignedId::ClientId(
                "11111111-2222-3333-4444-555555555555".into(),
            )),
            client_options: azure_core::http::ClientOptions {
                transport: Some(azure_core::http::Transport::new(recorder.clone())),
                ..Default::default()
            },
        };
        let cred = azure_identity::ManagedIdentityCredential::new(Some(options)).unwrap();
        let t = azure::get_token(
            cred.as_ref(),
            "https://graph.microsoft.com/.default",
            "managed identity",
            "t",
            &[],
        )
        .await
        .unwrap();
        assert_eq!(t.secret.expose(), "tok");
        let seen = recorder.seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (method, url, headers) = &seen[0];
        assert_eq!(method, "GET");
        let url = Url::parse(url).unwrap();
        assert_eq!(
            format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap(),
                url.path()
            ),
            IMDS_TOKEN_ENDPOINT
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["resource"], "https://graph.microsoft.com");
        assert_eq!(q["client_id"], "11111111-2222-3333-4444-555555555555");
        assert!(q.contains_key("api-version"));
        assert!(
            headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("metadata") && v == "true"),
            "{headers:?}"
        );
    }

    #[test]
    fn metadata_client_builds() {
        metadata_http_client().unwrap();
    }

    #[tokio::test]
    async fn oidc_file_source_is_read_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let c = OidcCredential::new(
            "app".into(),
            OidcTokenSource::File(path.display().to_string()),
        );
        let http = crate::transport::build_http_client(Duration::from_secs(5)).unwrap();
        let authority = Url::parse("https://login.example.test").unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let ctx = TokenRequestContext {
            http: &http,
            authority: &authority,
            deadline: tokio::time::Instant::now() + Duration::from_secs(5),
            max_retries: 0,
            counter: &counter,
        };
        assert_eq!(
            c.federated_token(&ctx, "t").await.unwrap().expose(),
            "first"
        );
        std::fs::write(&path, "second").unwrap();
        assert_eq!(
            c.federated_token(&ctx, "t").await.unwrap().expose(),
            "second"
        );
        std::fs::write(&path, "  ").unwrap();
        let e = c.federated_token(&ctx, "t").await.unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
