//! Credentials: the [`AppOnlyCredential`] trait and the client secret (hand-written on the shared
//! client; the other kinds live in [`super::app_only`]), and the delegated sources (refresh
//! tokens from the configuration or the token cache, a ready access token).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::entra::TokenRequestContext;
use super::error::AuthError;
use super::{AccessToken, TokenKind};
use crate::secret::Secret;

/// A way for the controller app to obtain an app-only (client credentials) token.
#[async_trait]
pub trait AppOnlyCredential: Send + Sync {
    /// The credential kind as named in diagnostics, e.g. `"client secret"`.
    fn name(&self) -> &'static str;

    /// Obtains a token for `tenant` with `scope`. Implementations send exactly one logical token
    /// request (with the context's retries) and never put a secret in an error.
    async fn acquire(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError>;
}

/// Client credentials with a client secret.
pub struct ClientSecretCredential {
    client_id: String,
    client_secret: Secret,
}

impl ClientSecretCredential {
    pub fn new(client_id: String, client_secret: Secret) -> Self {
        Self {
            client_id,
            client_secret,
        }
    }
}

#[async_trait]
impl AppOnlyCredential for ClientSecretCredential {
    fn name(&self) -> &'static str {
        "client secret"
    }

    async fn acquire(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", scope),
            ("grant_type", "client_credentials"),
        ];
        let r = ctx
            .redeem(tenant, self.name(), &form, &[self.client_secret.expose()])
            .await?;
        Ok(AccessToken {
            secret: r.access_token,
            expires_at: r.expires_at,
        })
    }
}

/// How a refresh token from `M365BACKUP_DELEGATED_REFRESH_TOKEN` is named in diagnostics.
pub const REFRESH_FROM_ENV: &str =
    "delegated refresh token from M365BACKUP_DELEGATED_REFRESH_TOKEN";
/// How a refresh token from the provider block is named in diagnostics.
pub const REFRESH_FROM_BLOCK: &str = "delegated refresh token from delegated_refresh_token";
/// How a refresh token from the token cache written by `login` is named in diagnostics.
pub const REFRESH_CACHED: &str = "delegated refresh token from the token cache";

/// Receives refresh tokens rotated by Entra, e.g. to persist them in the token cache written by
/// `login`. Called after each successful redemption that returned a new refresh token.
pub trait RefreshTokenSink: Send + Sync {
    fn rotated(&self, tenant: &str, refresh_token: &Secret);
}

/// One delegated refresh token and the tenants it may be redeemed in.
pub(crate) struct RefreshSource {
    /// `None`: any tenant (a token from `organizations`/`common`, or one given in the
    /// configuration, whose scope only Entra knows). `Some(t)`: only tenant `t` (lower case).
    pub(crate) tenant: Option<String>,
    pub(crate) token: Secret,
    /// How the token is named in diagnostics.
    pub(crate) name: &'static str,
    pub(crate) sink: Option<Arc<dyn RefreshTokenSink>>,
}

/// Delegated refresh tokens, redeemed per tenant (a token obtained through `organizations` is
/// redeemable in every tenant the admin can reach). Entra rotates refresh tokens: the one it
/// returns replaces, for later redemptions in that tenant, the one we hold, and goes to the
/// source's sink (the token cache file, for tokens that came from it).
pub(crate) struct RefreshTokenCredential {
    sources: Vec<RefreshSource>,
    rotated: Mutex<HashMap<(usize, String), Secret>>,
}

impl RefreshTokenCredential {
    /// A token given in the configuration (`delegated_refresh_token`), for any tenant.
    pub(crate) fn new(original: Secret) -> Self {
        Self::from_sources(vec![RefreshSource {
            tenant: None,
            token: original,
            name: Self::NAME,
            sink: None,
        }])
    }

    pub(crate) fn from_sources(sources: Vec<RefreshSource>) -> Self {
        Self {
            sources,
            rotated: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) const NAME: &'static str = "delegated refresh token";
    pub(crate) const CACHED_NAME: &'static str = REFRESH_CACHED;

    /// Names the configured token by where it came from (the provider block's
    /// `delegated_refresh_token` or `M365BACKUP_DELEGATED_REFRESH_TOKEN`), for diagnostics.
    pub(crate) fn set_configured_name(&mut self, name: &'static str) {
        for s in &mut self.sources {
            if s.name == Self::NAME {
                s.name = name;
            }
        }
    }

    pub(crate) fn set_sink(&mut self, sink: Arc<dyn RefreshTokenSink>) {
        for s in &mut self.sources {
            s.sink = Some(sink.clone());
        }
    }

    /// The source for `tenant`: a token for exactly that tenant, else one for any tenant.
    pub(crate) fn source_for(&self, tenant: &str) -> Option<(usize, &RefreshSource)> {
        let exact = self.sources.iter().enumerate().find(|(_, s)| {
            s.tenant
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
        });
        exact.or_else(|| {
            self.sources
                .iter()
                .enumerate()
                .find(|(_, s)| s.tenant.is_none())
        })
    }

    /// True when some token may be redeemed in `tenant`.
    pub(crate) fn covers(&self, tenant: &str) -> bool {
        self.source_for(tenant.trim()).is_some()
    }

    fn current(&self, index: usize, tenant_key: &str) -> Option<Secret> {
        self.rotated
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(index, tenant_key.to_owned()))
            .cloned()
    }

    pub(crate) async fn acquire(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError> {
        let key = tenant.to_ascii_lowercase();
        let Some((index, source)) = self.source_for(&key) else {
            return Err(AuthError::NotConfigured {
                kind: TokenKind::Delegated,
                hint: delegated_sign_in_hint(tenant, Some(client_id)),
            });
        };
        let refresh = self
            .current(index, &key)
            .unwrap_or_else(|| source.token.clone());
        let form = [
            ("client_id", client_id),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("scope", scope),
        ];
        let secrets = [refresh.expose(), source.token.expose()];
        let r = ctx.redeem(tenant, source.name, &form, &secrets).await?;
        if let Some(new_rt) = r.refresh_token {
            if let Some(sink) = &source.sink {
                sink.rotated(tenant, &new_rt);
            }
            self.rotated
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((index, key), new_rt);
        }
        Ok(AccessToken {
            secret: r.access_token,
            expires_at: r.expires_at,
        })
    }
}

/// A ready delegated access token: used as-is, only in its own tenant, until it expires.
pub(crate) struct StaticAccessToken {
    token: Secret,
    /// The `tid` claim (lower case) and expiry, or why the token could not be read.
    claims: Result<(String, Option<OffsetDateTime>), String>,
}

impl StaticAccessToken {
    pub(crate) fn new(token: Secret) -> Self {
        let claims = super::jwt::decode_claims_unverified(token.expose()).and_then(|c| {
            let tid = c
                .tid
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| "it has no `tid` (tenant) claim".to_owned())?;
            let exp = c
                .exp
                .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok());
            Ok((tid, exp))
        });
        Self { token, claims }
    }

    /// The tenant of the token, when readable.
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.claims.as_ref().ok().map(|(t, _)| t.as_str())
    }

    pub(crate) fn get(&self, tenant: &str, now: OffsetDateTime) -> Result<AccessToken, AuthError> {
        let (tid, exp) = self
            .claims
            .as_ref()
            .map_err(|e| AuthError::InvalidAccessToken(e.clone()))?;
        if !tid.eq_ignore_ascii_case(tenant.trim()) {
            return Err(AuthError::AccessTokenWrongTenant {
                token_tenant: tid.clone(),
                tenant: tenant.to_owned(),
            });
        }
        let expires_at = exp.unwrap_or(now + std::time::Duration::from_secs(3600));
        if expires_at <= now {
            return Err(AuthError::AccessTokenExpired {
                expired_at: expires_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| expires_at.to_string()),
            });
        }
        Ok(AccessToken {
            secret: self.token.clone(),
            expires_at,
        })
    }
}

/// The hint given when a token kind is needed but no credential of that kind is configured.
pub fn not_configured_hint(kind: TokenKind, tenant: &str, client_id: Option<&str>) -> String {
    match kind {
        TokenKind::Delegated => delegated_sign_in_hint(tenant, client_id),
        TokenKind::AppOnly => "configure the controller app's credential: client_id \
             (ARM_CLIENT_ID) with client_secret (ARM_CLIENT_SECRET), client_secret_file_path, \
             client_certificate / client_certificate_path (ARM_CLIENT_CERTIFICATE[_PATH]), \
             use_oidc (ARM_USE_OIDC) with an OIDC token, or use_msi (ARM_USE_MSI); or a delegated \
             sign-in (terraform-provider-m365backup login, M365BACKUP_DELEGATED_REFRESH_TOKEN / \
             M365BACKUP_DELEGATED_ACCESS_TOKEN)"
            .to_owned(),
    }
}

/// How to provide a delegated credential, for diagnostics (also at plan time). A clause in lower
/// case without a final period, to follow "To fix:"; [`super::AuthError::hint`] makes it a
/// sentence.
pub fn delegated_sign_in_hint(tenant: &str, client_id: Option<&str>) -> String {
    let tenant = if tenant.is_empty() {
        "<tenant-id>"
    } else {
        tenant
    };
    let client = client_id.unwrap_or(super::error::CLIENT_PLACEHOLDER);
    format!(
        "sign in as a tenant admin to the controller app: run `terraform-provider-m365backup login \
         --tenant {tenant} --client-id {client}`, or set M365BACKUP_DELEGATED_REFRESH_TOKEN or \
         M365BACKUP_DELEGATED_ACCESS_TOKEN (provider arguments delegated_refresh_token / \
         delegated_access_token)"
    )
}
