//! Token acquisition for Microsoft Graph: app-only (client credentials) and delegated tokens,
//! cached per (tenant, token kind) for the life of the process, with single-flight acquisition.
//!
//! Every request runs on the shared reqwest client (the same connection pool and TLS trust as
//! Graph calls), so token-request counts are exact and observable. The client secret and the
//! delegated flows (refresh token, and the `login` CLI's device code and authorization code) are
//! hand-written; the certificate, OIDC and managed identity exchanges go through
//! `azure_identity` with that client as its transport ([`azure`]).
//!
//! Which app-only credential is used is decided by the provider configuration
//! ([`crate::config::AppOnlyCredential`]: the block's before the environment's, then client
//! certificate, client secret, OIDC federation, managed identity). Delegated:
//! `delegated_access_token` for its own tenant and `delegated_refresh_token` (the block's, else
//! the environment's); without either, the refresh tokens that `login` stored in the token cache
//! for this authority and client id.

// GraphError/AuthError are returned by value on purpose (plain fields for diagnostics);
// errors are rare and never on a hot path.
#![allow(clippy::result_large_err)]

pub mod app_only;
mod azure;
mod cache;
pub mod certificate;
pub mod credential;
pub mod entra;
pub mod error;
pub mod jwt;

pub mod token_file;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use reqwest::Url;
use time::OffsetDateTime;
use tokio::time::Instant;

pub use crate::secret::Secret;
pub use credential::{
    AppOnlyCredential, ClientSecretCredential, RefreshTokenSink, delegated_sign_in_hint,
    not_configured_hint,
};
pub use entra::TokenRequestContext;
pub use error::AuthError;

use cache::TokenCache;
use credential::{RefreshSource, RefreshTokenCredential, StaticAccessToken};
use token_file::{CacheEntry, CacheKey, TokenCacheFile};

/// Which kind of token a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Client credentials: the app itself (secret, certificate, OIDC, managed identity).
    AppOnly,
    /// A tenant admin signed in to the controller app.
    Delegated,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::AppOnly => "app-only",
            TokenKind::Delegated => "delegated",
        })
    }
}

/// An access token and its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    pub secret: Secret,
    pub expires_at: OffsetDateTime,
}

/// Authentication settings, already resolved from provider arguments and environment variables.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Entra authority, `https://`, e.g. `https://login.microsoftonline.com` (trailing slash ok).
    pub authority_host: String,
    /// The controller app's application (client) ID.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub delegated_refresh_token: Option<Secret>,
    pub delegated_access_token: Option<Secret>,
    /// App-only scope, e.g. `https://graph.microsoft.com/.default`.
    pub app_scope: String,
    /// Delegated scope, e.g. `https://graph.microsoft.com/.default offline_access`.
    pub delegated_scope: String,
    /// Bound on one token acquisition including its retries.
    pub request_timeout: Duration,
}

/// Writes refresh tokens rotated by Entra back to the token cache entry they came from.
struct CacheFileSink {
    file: TokenCacheFile,
    key: CacheKey,
}

impl RefreshTokenSink for CacheFileSink {
    fn rotated(&self, tenant: &str, refresh_token: &Secret) {
        match self.file.rotate(&self.key, refresh_token) {
            Ok(_) => tracing::debug!(
                tenant,
                cache = %self.file.path().display(),
                "rotated refresh token saved to the token cache"
            ),
            Err(e) => tracing::warn!(
                tenant,
                error = %e,
                "could not save the rotated refresh token to the token cache"
            ),
        }
    }
}

/// A `'static` copy of `text`, made once per distinct text (credential labels are a handful of
/// fixed combinations of a kind and an argument or variable name).
fn intern(text: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(found) = seen.get(text) {
        return found;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    seen.insert(leaked);
    leaked
}

/// Default bound on retries of a token request (the provider's `max_retries` default).
pub const DEFAULT_MAX_RETRIES: u32 = 8;

/// Obtains and caches tokens. Share it in an `Arc`.
pub struct Authenticator {
    http: reqwest::Client,
    authority: Result<Url, String>,
    client_id: Option<String>,
    app_scope: String,
    delegated_scope: String,
    request_timeout: Duration,
    max_retries: u32,
    app_only: Option<Box<dyn AppOnlyCredential>>,
    /// How errors name the app-only credential (its kind and where it came from), when known.
    app_only_label: Option<&'static str>,
    /// Why app-only is not available although something was configured (e.g. a secret
    /// without a client id).
    app_only_problem: Option<String>,
    refresh: Option<RefreshTokenCredential>,
    access: Option<StaticAccessToken>,
    cache: TokenCache,
    token_requests: Arc<AtomicU64>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("authority", &self.authority)
            .field("client_id", &self.client_id)
            .field(
                "app_only",
                &self.app_only.as_ref().map(|c| c.name()).unwrap_or("none"),
            )
            .field("delegated_refresh_token", &self.refresh.is_some())
            .field("delegated_access_token", &self.access.is_some())
            .finish()
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn non_empty_secret(s: Option<Secret>) -> Option<Secret> {
    s.filter(|v| !v.expose().trim().is_empty())
        .map(|v| Secret::new(v.expose().trim()))
}

impl Authenticator {
    /// Builds an authenticator. An invalid (e.g. `http://`) authority host does not fail here:
    /// every token request then fails with [`AuthError::InvalidConfig`]. Use [`Self::try_new`]
    /// to fail early.
    pub fn new(settings: AuthSettings, http: reqwest::Client) -> Self {
        let authority =
            crate::transport::validate_https("authority_host", &settings.authority_host);
        let client_id = non_empty(settings.client_id);
        let client_secret = non_empty_secret(settings.client_secret);
        let (app_only, app_only_problem): (Option<Box<dyn AppOnlyCredential>>, _) =
            match (&client_id, client_secret) {
                (Some(id), Some(secret)) => (
                    Some(Box::new(ClientSecretCredential::new(id.clone(), secret))),
                    None,
                ),
                (None, Some(_)) => (
                    None,
                    Some("client_secret is set but client_id (ARM_CLIENT_ID) is not".to_owned()),
                ),
                _ => (None, None),
            };
        Self {
            http,
            authority,
            client_id,
            app_scope: settings.app_scope,
            delegated_scope: settings.delegated_scope,
            request_timeout: settings.request_timeout,
            max_retries: DEFAULT_MAX_RETRIES,
            app_only,
            app_only_label: None,
            app_only_problem,
            refresh: non_empty_secret(settings.delegated_refresh_token)
                .map(RefreshTokenCredential::new),
            access: non_empty_secret(settings.delegated_access_token).map(StaticAccessToken::new),
            cache: TokenCache::default(),
            token_requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Like [`Self::new`], but refuses an invalid authority host.
    pub fn try_new(settings: AuthSettings, http: reqwest::Client) -> Result<Self, String> {
        let a = Self::new(settings, http);
        a.authority.clone().map(|_| a)
    }

    /// Test-only: an authenticator whose authority may be plain http (a local test server).
    #[cfg(test)]
    pub(crate) fn for_tests_with_authority(
        settings: AuthSettings,
        http: reqwest::Client,
        authority: Url,
    ) -> Self {
        let mut a = Self::new(settings, http);
        a.authority = Ok(authority);
        a
    }

    /// Bound on retries of one token request (default [`DEFAULT_MAX_RETRIES`]).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Replaces the app-only credential (certificate, OIDC, managed identity, ...).
    pub fn with_app_only_credential(mut self, credential: Box<dyn AppOnlyCredential>) -> Self {
        self.app_only = Some(credential);
        self.app_only_problem = None;
        self
    }

    /// Names the app-only credential in errors as `label`, e.g. "client secret from
    /// ARM_CLIENT_SECRET" (its kind and the argument or variable it came from).
    pub fn with_app_only_label(mut self, label: &str) -> Self {
        self.app_only_label = Some(intern(label));
        self
    }

    /// Says where the configured delegated refresh token came from: the environment
    /// (`M365BACKUP_DELEGATED_REFRESH_TOKEN`, which outranks the token cache) or the provider
    /// block. Errors about it then name that source.
    pub fn with_delegated_refresh_token_from_environment(mut self, from_env: bool) -> Self {
        if let Some(r) = &mut self.refresh {
            r.set_configured_name(if from_env {
                credential::REFRESH_FROM_ENV
            } else {
                credential::REFRESH_FROM_BLOCK
            });
        }
        self
    }

    /// Receives rotated refresh tokens (e.g. to persist them in the token cache).
    pub fn with_refresh_token_sink(mut self, sink: Arc<dyn RefreshTokenSink>) -> Self {
        if let Some(r) = &mut self.refresh {
            r.set_sink(sink);
        }
        self
    }

    /// Uses the refresh tokens `login` stored in `file` (`entries`, already filtered to this
    /// authority and client id) when no delegated refresh token is configured: an entry for the
    /// tenant itself wins, else one from `organizations` (then `common`). Tokens Entra rotates
    /// are written back to the file.
    pub fn with_cached_refresh_tokens(
        mut self,
        file: TokenCacheFile,
        entries: Vec<CacheEntry>,
    ) -> Self {
        if self.refresh.is_some() || entries.is_empty() {
            return self;
        }
        let mut entries = entries;
        // Tenant-specific first, then organizations before common.
        entries.sort_by_key(|e| match e.key.tenant.as_str() {
            "organizations" => 1,
            "common" => 2,
            _ => 0,
        });
        let sources = entries
            .into_iter()
            .map(|e| RefreshSource {
                // A sign-in to a domain name (contoso.onmicrosoft.com) serves its tenant ID.
                tenant: (!e.key.is_multi_tenant()).then(|| {
                    match e
                        .home_tenant
                        .as_deref()
                        .filter(|_| !crate::ids::is_guid(&e.key.tenant))
                    {
                        Some(home) => home.trim().to_ascii_lowercase(),
                        None => e.key.tenant.clone(),
                    }
                }),
                token: e.refresh_token,
                name: RefreshTokenCredential::CACHED_NAME,
                sink: Some(Arc::new(CacheFileSink {
                    file: file.clone(),
                    key: e.key,
                }) as Arc<dyn RefreshTokenSink>),
            })
            .collect();
        self.refresh = Some(RefreshTokenCredential::from_sources(sources));
        self
    }

    /// An app-only credential is configured.
    pub fn has_app_only(&self) -> bool {
        self.app_only.is_some()
    }

    /// A delegated credential (refresh token or ready access token) is configured.
    pub fn has_delegated(&self) -> bool {
        self.refresh.is_some() || self.access.is_some()
    }

    /// True when a delegated token can (as far as we can tell without asking Entra) be had for
    /// `tenant`: a refresh token, or an access token issued for that tenant.
    pub fn has_delegated_for(&self, tenant: &str) -> bool {
        self.refresh.as_ref().is_some_and(|r| r.covers(tenant))
            || self
                .access
                .as_ref()
                .and_then(|a| a.tenant())
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant.trim()))
    }

    /// The controller app's client id, when configured.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The name of the configured app-only credential kind, e.g. `"client secret"`.
    pub fn app_only_credential_name(&self) -> Option<&'static str> {
        self.app_only.as_ref().map(|c| c.name())
    }

    /// Number of token requests sent to Entra so far (attempts, including retries).
    pub fn token_requests(&self) -> u64 {
        self.token_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token of `kind` for `tenant`, from the cache when still fresh (refreshed a little before
    /// expiry). Concurrent callers for the same (tenant, kind) share one token request.
    pub async fn token(&self, tenant: &str, kind: TokenKind) -> Result<AccessToken, AuthError> {
        let tenant = tenant.trim();
        if tenant.is_empty() {
            return Err(AuthError::InvalidConfig(
                "no tenant given: set tenant_id on the provider (ARM_TENANT_ID) or the resource"
                    .to_owned(),
            ));
        }
        self.cache
            .get_or_acquire(tenant, kind, || self.acquire(tenant, kind))
            .await
    }

    /// Forgets the cached token of (tenant, kind).
    pub fn invalidate(&self, tenant: &str, kind: TokenKind) {
        self.cache.invalidate(tenant.trim(), kind, None);
    }

    /// Forgets the cached token of (tenant, kind) only if it is still `rejected` (another caller
    /// may already have replaced it).
    pub fn invalidate_token(&self, tenant: &str, kind: TokenKind, rejected: &Secret) {
        self.cache.invalidate(tenant.trim(), kind, Some(rejected));
    }

    async fn acquire(&self, tenant: &str, kind: TokenKind) -> Result<AccessToken, AuthError> {
        let authority = self
            .authority
            .as_ref()
            .map_err(|e| AuthError::InvalidConfig(e.clone()))?;
        let ctx = TokenRequestContext {
            http: &self.http,
            authority,
            deadline: Instant::now() + self.request_timeout,
            max_retries: self.max_retries,
            counter: &self.token_requests,
        };
        let fut = async {
            match kind {
                TokenKind::AppOnly => self.acquire_app_only(&ctx, tenant).await,
                TokenKind::Delegated => self.acquire_delegated(&ctx, tenant).await,
            }
        };
        match tokio::time::timeout_at(ctx.deadline, fut).await {
            Ok(r) => r,
            Err(_) => Err(AuthError::Timeout),
        }
    }

    async fn acquire_app_only(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
    ) -> Result<AccessToken, AuthError> {
        let Some(credential) = &self.app_only else {
            let hint = not_configured_hint(TokenKind::AppOnly, tenant, self.client_id());
            return Err(AuthError::NotConfigured {
                kind: TokenKind::AppOnly,
                hint: match &self.app_only_problem {
                    Some(p) => format!("{hint}; {p}"),
                    None => hint,
                },
            });
        };
        let result = credential.acquire(ctx, tenant, &self.app_scope).await;
        match self.app_only_label {
            Some(label) => result.map_err(|e| e.with_credential_label(label)),
            None => result,
        }
    }

    async fn acquire_delegated(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
    ) -> Result<AccessToken, AuthError> {
        if let Some(access) = &self.access {
            match access.get(tenant, OffsetDateTime::now_utc()) {
                Ok(t) => return Ok(t),
                Err(e) if self.refresh.is_none() => return Err(e),
                Err(_) => {} // fall back to the refresh token
            }
        }
        let Some(refresh) = &self.refresh else {
            return Err(AuthError::NotConfigured {
                kind: TokenKind::Delegated,
                hint: delegated_sign_in_hint(tenant, self.client_id()),
            });
        };
        let Some(client_id) = self.client_id() else {
            return Err(AuthError::InvalidConfig(
                "delegated_refresh_token needs client_id (ARM_CLIENT_ID): the refresh token is \
                 redeemed for the controller app it was issued to"
                    .to_owned(),
            ));
        };
        refresh
            .acquire(ctx, tenant, client_id, &self.delegated_scope)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            authority_host: "https://login.example.test".into(),
            client_id: Some("app".into()),
            client_secret: None,
            delegated_refresh_token: None,
            delegated_access_token: None,
            app_scope: "https://graph.microsoft.com/.default".into(),
            delegated_scope: "https://graph.microsoft.com/.default offline_access".into(),
            request_timeout: Duration::from_secs(5),
        }
    }

    fn http() -> reqwest::Client {
        crate::transport::build_http_client(Duration::from_secs(5)).unwrap()
    }

    fn jwt(payload: &str) -> String {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(br#"{"alg":"none"}"#),
            e.encode(payload.as_bytes())
        )
    }

    #[test]
    fn http_authority_is_refused() {
        let mut s = settings();
        s.authority_host = "http://login.example.test".into();
        let e = Authenticator::try_new(s, http()).unwrap_err();
        assert!(e.contains("authority_host") && e.contains("https"), "{e}");
    }

    #[tokio::test]
    async fn http_authority_fails_token_requests_clearly() {
        let mut s = settings();
        s.authority_host = "http://login.example.test".into();
        s.client_secret = Some("abcdefgh".into());
        let a = Authenticator::new(s, http());
        let e = a.token("t", TokenKind::AppOnly).await.unwrap_err();
        assert!(matches!(e, AuthError::InvalidConfig(_)), "{e:?}");
        assert_eq!(a.token_requests(), 0);
    }

    #[tokio::test]
    async fn missing_delegated_credential_says_how_to_sign_in() {
        let a = Authenticator::new(settings(), http());
        assert!(!a.has_delegated());
        assert!(!a.has_app_only());
        let e = a.token("tenant-1", TokenKind::Delegated).await.unwrap_err();
        let AuthError::NotConfigured { kind, hint } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*kind, TokenKind::Delegated);
        assert!(
            hint.contains("terraform-provider-m365backup login --tenant tenant-1 --client-id app"),
            "{hint}"
        );
        assert!(hint.contains("M365BACKUP_DELEGATED_REFRESH_TOKEN"));
        assert!(hint.contains("M365BACKUP_DELEGATED_ACCESS_TOKEN"));
        let e = a.token("tenant-1", TokenKind::AppOnly).await.unwrap_err();
        assert!(e.hint().contains("ARM_CLIENT_SECRET"), "{e}");
        // The advice is given once, by hint(), not repeated in the message.
        assert!(!e.to_string().contains("ARM_CLIENT_SECRET"), "{e}");
    }

    #[tokio::test]
    async fn secret_without_client_id_is_explained() {
        let mut s = settings();
        s.client_id = None;
        s.client_secret = Some("abcdefgh".into());
        let a = Authenticator::new(s, http());
        let e = a.token("t", TokenKind::AppOnly).await.unwrap_err();
        assert!(e.hint().contains("client_id"), "{e}");
        assert!(!format!("{e} {}", e.hint()).contains("abcdefgh"));
    }

    #[tokio::test]
    async fn ready_access_token_only_for_its_tenant() {
        let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let tok = jwt(&format!(
            r#"{{"tid":"AAAAAAAA-0000-0000-0000-000000000001","exp":{exp}}}"#
        ));
        let mut s = settings();
        s.delegated_access_token = Some(Secret::new(tok.clone()));
        let a = Authenticator::new(s, http());
        assert!(a.has_delegated());
        assert!(a.has_delegated_for("aaaaaaaa-0000-0000-0000-000000000001"));
        assert!(!a.has_delegated_for("bbbbbbbb-0000-0000-0000-000000000002"));
        let t = a
            .token("aaaaaaaa-0000-0000-0000-000000000001", TokenKind::Delegated)
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), tok);
        assert_eq!(t.expires_at.unix_timestamp(), exp);
        let e = a
            .token("bbbbbbbb-0000-0000-0000-000000000002", TokenKind::Delegated)
            .await
            .unwrap_err();
        assert!(
            matches!(e, AuthError::AccessTokenWrongTenant { .. }),
            "{e:?}"
        );
        let msg = format!("{e} {e:?} {}", e.hint());
        assert!(!msg.contains(&tok));
        assert!(msg.contains("bbbbbbbb-0000-0000-0000-000000000002"));
        assert_eq!(a.token_requests(), 0);
    }

    #[tokio::test]
    async fn expired_or_opaque_access_tokens_are_refused() {
        let tok = jwt(r#"{"tid":"t1","exp":1000}"#);
        let mut s = settings();
        s.delegated_access_token = Some(Secret::new(tok));
        let a = Authenticator::new(s, http());
        let e = a.token("t1", TokenKind::Delegated).await.unwrap_err();
        assert!(matches!(e, AuthError::AccessTokenExpired { .. }), "{e:?}");

        let mut s = settings();
        s.delegated_access_token = Some(Secret::new("opaque-token-123"));
        let a = Authenticator::new(s, http());
        let e = a.token("t1", TokenKind::Delegated).await.unwrap_err();
        assert!(matches!(e, AuthError::InvalidAccessToken(_)), "{e:?}");
        assert!(!e.to_string().contains("opaque-token-123"));
    }

    fn cached(tenant: &str, home: Option<&str>) -> CacheEntry {
        CacheEntry {
            key: CacheKey::new("https://login.example.test", tenant, "app"),
            refresh_token: Secret::new(format!("rt-{tenant}")),
            signed_in_at: token_file::now_rfc3339(),
            rotated_at: None,
            home_tenant: home.map(str::to_owned),
            user: None,
        }
    }

    #[test]
    fn cached_sign_ins_cover_their_tenants() {
        let t1 = "aaaaaaaa-0000-0000-0000-000000000001";
        let t2 = "bbbbbbbb-0000-0000-0000-000000000002";
        let file = TokenCacheFile::at("/nonexistent/cache.json");
        let a = Authenticator::new(settings(), http())
            .with_cached_refresh_tokens(file.clone(), vec![cached(t1, Some(t1))]);
        assert!(a.has_delegated());
        assert!(a.has_delegated_for(t1));
        assert!(!a.has_delegated_for(t2));
        let a = Authenticator::new(settings(), http()).with_cached_refresh_tokens(
            file.clone(),
            vec![
                cached("organizations", Some(t1)),
                cached("contoso.example", Some(t2)),
            ],
        );
        assert!(a.has_delegated_for(t2));
        assert!(a.has_delegated_for("cccccccc-0000-0000-0000-000000000003"));
        let r = a.refresh.as_ref().unwrap();
        // The domain sign-in serves its tenant ID; organizations serves the rest.
        assert_eq!(
            r.source_for(t2).unwrap().1.token.expose(),
            "rt-contoso.example"
        );
        assert_eq!(
            r.source_for(t1).unwrap().1.token.expose(),
            "rt-organizations"
        );
        // A configured refresh token wins over the cache.
        let mut s = settings();
        s.delegated_refresh_token = Some(Secret::new("configured"));
        let a =
            Authenticator::new(s, http()).with_cached_refresh_tokens(file, vec![cached(t1, None)]);
        let r = a.refresh.as_ref().unwrap();
        assert_eq!(r.source_for(t1).unwrap().1.token.expose(), "configured");
    }

    #[test]
    fn debug_does_not_leak() {
        let mut s = settings();
        s.client_secret = Some("client-secret-value".into());
        s.delegated_refresh_token = Some("refresh-token-value".into());
        let printed = format!("{s:?}");
        assert!(!printed.contains("client-secret-value"), "{printed}");
        assert!(!printed.contains("refresh-token-value"), "{printed}");
        let a = Authenticator::new(s, http());
        let printed = format!("{a:?}");
        assert!(!printed.contains("client-secret-value"), "{printed}");
        assert!(!printed.contains("refresh-token-value"), "{printed}");
        assert!(printed.contains("client secret"));
    }
}
