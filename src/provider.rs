//! The provider: its configuration schema, and `configure`, which builds the one HTTP client,
//! token cache and Graph client that every resource and data source shares.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, DynamicDataSource, DynamicResource, Provider};

use crate::auth::{AuthSettings, Authenticator};
use crate::config::{self, AppOnlyCredential, ProviderSettings, RawProviderConfig};
use crate::data_sources::service::ServiceDataSource;
use crate::data_sources::service_apps::ServiceAppsDataSource;
use crate::framework::diagnostics::report;
use crate::framework::schema::{Kind, attr, schema, secret};
use crate::framework::{DataSourceAdapter, ProviderContext, ResourceAdapter, SharedContext};
use crate::graph::{GraphClient, GraphSettings, build_http_client};
use crate::lifecycle::Problem;
use crate::resources::billing_enablement::BillingEnablement;
use crate::resources::inclusion_rule::{ExchangeRule, OneDriveRule, SharePointRule};
use crate::resources::protection_policy::{ExchangePolicy, OneDrivePolicy, SharePointPolicy};
use crate::resources::service_app::ServiceAppResource;

/// `provider "m365backup" {}` arguments as Terraform sends them.
#[derive(Serialize, Deserialize, Default, Debug)]
pub struct ProviderConfig {
    pub tenant_id: Value<String>,
    pub client_id: Value<String>,
    pub client_secret: Value<String>,
    pub client_secret_file_path: Value<String>,
    pub client_certificate: Value<String>,
    pub client_certificate_path: Value<String>,
    pub client_certificate_password: Value<String>,
    pub use_oidc: Value<bool>,
    pub oidc_token: Value<String>,
    pub oidc_token_file_path: Value<String>,
    pub oidc_request_url: Value<String>,
    pub oidc_request_token: Value<String>,
    pub use_msi: Value<bool>,
    pub delegated_refresh_token: Value<String>,
    pub delegated_access_token: Value<String>,
    pub token_cache_path: Value<String>,
    pub environment: Value<String>,
    pub graph_endpoint: Value<String>,
    pub authority_host: Value<String>,
    pub api_version: Value<String>,
    pub request_timeout: Value<String>,
    pub max_retries: Value<i64>,
}

impl ProviderConfig {
    fn raw(self) -> RawProviderConfig {
        RawProviderConfig {
            tenant_id: self.tenant_id.as_option(),
            client_id: self.client_id.as_option(),
            client_secret: self.client_secret.as_option(),
            client_secret_file_path: self.client_secret_file_path.as_option(),
            client_certificate: self.client_certificate.as_option(),
            client_certificate_path: self.client_certificate_path.as_option(),
            client_certificate_password: self.client_certificate_password.as_option(),
            use_oidc: self.use_oidc.as_option(),
            oidc_token: self.oidc_token.as_option(),
            oidc_token_file_path: self.oidc_token_file_path.as_option(),
            oidc_request_url: self.oidc_request_url.as_option(),
            oidc_request_token: self.oidc_request_token.as_option(),
            use_msi: self.use_msi.as_option(),
            delegated_refresh_token: self.delegated_refresh_token.as_option(),
            delegated_access_token: self.delegated_access_token.as_option(),
            token_cache_path: self.token_cache_path.as_option(),
            environment: self.environment.as_option(),
            graph_endpoint: self.graph_endpoint.as_option(),
            authority_host: self.authority_host.as_option(),
            api_version: self.api_version.as_option(),
            request_timeout: self.request_timeout.as_option(),
            max_retries: self.max_retries.as_option(),
        }
    }
}

/// The provider itself.
#[derive(Default)]
pub struct M365BackupProvider {
    shared: SharedContext,
}

fn credential_problem(attribute: &'static str, summary: &str, detail: String) -> Problem {
    Problem::new(Some(attribute), summary, detail)
}

/// The app-only credential other than the client secret (which [`AuthSettings`] carries), built
/// and checked now so that a broken certificate or missing token file fails the plan.
fn app_only_credential(
    settings: &ProviderSettings,
) -> Result<Option<Box<dyn crate::auth::AppOnlyCredential>>, Problem> {
    use crate::auth::app_only::{
        ClientCertificateCredential, ManagedIdentityCredential, ManagedIdentitySource,
        OidcCredential, OidcTokenSource,
    };
    use crate::auth::certificate::{ClientCertificate, decode_base64_pkcs12};
    use crate::config::{CertificateSource, MsiSource, OidcSource};
    let client_id = settings.client_id.clone().unwrap_or_default();
    Ok(Some(match &settings.app_only {
        AppOnlyCredential::ClientSecret(_) | AppOnlyCredential::None => return Ok(None),
        AppOnlyCredential::ClientCertificate {
            certificate,
            password,
        } => {
            let (attribute, bytes) = match certificate {
                CertificateSource::Base64(b64) => (
                    "client_certificate",
                    decode_base64_pkcs12(b64.expose()).map_err(|e| {
                        credential_problem(
                            "client_certificate",
                            "Invalid client certificate",
                            format!("{}: {e}.", settings.source_name("client_certificate")),
                        )
                    })?,
                ),
                CertificateSource::Path(path) => (
                    "client_certificate_path",
                    std::fs::read(path).map_err(|e| {
                        credential_problem(
                            "client_certificate_path",
                            "Cannot read the client certificate",
                            format!(
                                "{} {path:?}: {e}.",
                                settings.source_name("client_certificate_path")
                            ),
                        )
                    })?,
                ),
            };
            let password = password.as_ref().map(|p| p.expose()).unwrap_or("");
            let cert = ClientCertificate::from_pkcs12(&bytes, password).map_err(|e| {
                credential_problem(
                    attribute,
                    "Invalid client certificate",
                    format!(
                        "The client certificate from {} cannot be used: {e}.",
                        settings.source_name(attribute)
                    ),
                )
            })?;
            Box::new(ClientCertificateCredential::new(client_id, cert))
        }
        AppOnlyCredential::Oidc(source) => {
            let source = match source {
                OidcSource::Token(t) => OidcTokenSource::Token(t.clone()),
                OidcSource::TokenFile(path) => {
                    if let Err(e) = std::fs::metadata(path) {
                        return Err(credential_problem(
                            "oidc_token_file_path",
                            "Cannot read the OIDC token file",
                            format!(
                                "{} {path:?}: {e}.",
                                settings.source_name("oidc_token_file_path")
                            ),
                        ));
                    }
                    OidcTokenSource::File(path.clone())
                }
                OidcSource::Request { url, token } => OidcTokenSource::Request {
                    url: url.clone(),
                    token: token.clone(),
                },
            };
            Box::new(OidcCredential::new(client_id, source))
        }
        AppOnlyCredential::ManagedIdentity(source) => {
            let source = match source {
                MsiSource::AppService { endpoint, .. } => ManagedIdentitySource::AppService {
                    endpoint: endpoint.clone(),
                },
                MsiSource::VmMetadata => ManagedIdentitySource::VmMetadata,
            };
            Box::new(
                ManagedIdentityCredential::new(settings.client_id.clone(), source).map_err(
                    |e| credential_problem("use_msi", "Cannot set up the managed identity", e),
                )?,
            )
        }
    }))
}

/// Adds the refresh tokens `login` cached for this authority and client id, when no delegated
/// token is configured. A cache that cannot be read is an error only when its path was
/// configured explicitly.
fn with_token_cache(
    auth: Authenticator,
    settings: &ProviderSettings,
) -> Result<Authenticator, Problem> {
    use crate::auth::token_file::{TokenCacheFile, entries_for};
    if settings.delegated_refresh_token.is_some() || settings.delegated_access_token.is_some() {
        return Ok(auth);
    }
    let Some(client_id) = settings.client_id.as_deref() else {
        return Ok(auth);
    };
    let explicit = settings.token_cache_path.is_some();
    let loaded = TokenCacheFile::resolve(settings.token_cache_path.as_deref())
        .and_then(|file| file.load().map(|entries| (file, entries)));
    match loaded {
        Ok((file, entries)) => {
            let entries = entries_for(&entries, &settings.authority_host, client_id);
            tracing::debug!(
                cache = %file.path().display(),
                entries = entries.len(),
                "delegated sign-ins from the token cache"
            );
            Ok(auth.with_cached_refresh_tokens(file, entries))
        }
        Err(e) if explicit => Err(credential_problem(
            "token_cache_path",
            "Cannot read the token cache",
            format!("{}: {e}", settings.source_name("token_cache_path")),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the token cache");
            Ok(auth)
        }
    }
}

fn settings_to_context(settings: ProviderSettings) -> Result<ProviderContext, Problem> {
    let http = build_http_client(settings.request_timeout).map_err(|e| {
        Problem::error(
            "Cannot set up HTTPS",
            format!("The provider could not create its HTTPS client: {e}"),
        )
    })?;
    let client_secret = match &settings.app_only {
        AppOnlyCredential::ClientSecret(secret) => Some(secret.clone()),
        _ => None,
    };
    let extra_credential = app_only_credential(&settings)?;
    tracing::debug!(
        app_only = settings.app_only.kind_name(),
        app_only_from = settings
            .app_only_source
            .map(|c| c.origin.name())
            .unwrap_or("-"),
        delegated_refresh_token = settings.delegated_refresh_token.is_some(),
        delegated_access_token = settings.delegated_access_token.is_some(),
        "credentials"
    );
    let mut auth = Authenticator::new(
        AuthSettings {
            authority_host: settings.authority_host.clone(),
            client_id: settings.client_id.clone(),
            client_secret,
            delegated_refresh_token: settings.delegated_refresh_token.clone(),
            delegated_access_token: settings.delegated_access_token.clone(),
            app_scope: settings.app_scope(),
            delegated_scope: settings.delegated_scope(),
            request_timeout: settings.request_timeout,
        },
        http.clone(),
    )
    .with_max_retries(settings.max_retries)
    .with_delegated_refresh_token_from_environment(
        settings
            .origin("delegated_refresh_token")
            .is_some_and(|o| o.is_env()),
    );
    if let Some(credential) = extra_credential {
        auth = auth.with_app_only_credential(credential);
    }
    if let Some(label) = settings.app_only_label() {
        auth = auth.with_app_only_label(&label);
    }
    let auth = Arc::new(with_token_cache(auth, &settings)?);
    let graph = GraphClient::new(
        GraphSettings {
            graph_endpoint: settings.graph_endpoint.clone(),
            api_version: settings.api_version.clone(),
            request_timeout: settings.request_timeout,
            max_retries: settings.max_retries,
        },
        auth.clone(),
        http,
    );
    Ok(ProviderContext {
        graph,
        auth,
        default_tenant: settings.tenant_id,
        client_id: settings.client_id,
        gates: Default::default(),
        memo: Default::default(),
    })
}

#[async_trait]
impl Provider for M365BackupProvider {
    type Config<'a> = ProviderConfig;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeType::{Bool, Number, String};
        Some(schema(
            0,
            "Makes an Entra app the **Microsoft 365 Backup Storage controller** of Microsoft 365 tenants. Every argument is optional and falls back to the environment variable named in its description.",
            vec![
                attr(
                    "tenant_id",
                    String,
                    Kind::Optional,
                    "Default consuming tenant ID (GUID). Env: `ARM_TENANT_ID`.",
                ),
                attr(
                    "client_id",
                    String,
                    Kind::Optional,
                    "Application (client) ID of the controller app. Env: `ARM_CLIENT_ID`.",
                ),
                secret(
                    "client_secret",
                    "Client secret of the controller app, for app-only calls. Env: `ARM_CLIENT_SECRET`.",
                ),
                attr(
                    "client_secret_file_path",
                    String,
                    Kind::Optional,
                    "Path to a file holding the client secret. Env: `ARM_CLIENT_SECRET_FILE_PATH`.",
                ),
                secret(
                    "client_certificate",
                    "Base64-encoded PKCS#12 client certificate. Env: `ARM_CLIENT_CERTIFICATE`.",
                ),
                attr(
                    "client_certificate_path",
                    String,
                    Kind::Optional,
                    "Path to a PKCS#12 client certificate. Env: `ARM_CLIENT_CERTIFICATE_PATH`.",
                ),
                secret(
                    "client_certificate_password",
                    "Password of the PKCS#12 certificate. Env: `ARM_CLIENT_CERTIFICATE_PASSWORD`.",
                ),
                attr(
                    "use_oidc",
                    Bool,
                    Kind::Optional,
                    "Use a federated (OIDC) credential. Env: `ARM_USE_OIDC`.",
                ),
                secret(
                    "oidc_token",
                    "An OIDC ID token to exchange. Env: `ARM_OIDC_TOKEN`.",
                ),
                attr(
                    "oidc_token_file_path",
                    String,
                    Kind::Optional,
                    "Path to a file holding an OIDC ID token. Env: `ARM_OIDC_TOKEN_FILE_PATH`.",
                ),
                attr(
                    "oidc_request_url",
                    String,
                    Kind::Optional,
                    "GitHub Actions ID token request URL. Env: `ARM_OIDC_REQUEST_URL`, then `ACTIONS_ID_TOKEN_REQUEST_URL`.",
                ),
                secret(
                    "oidc_request_token",
                    "GitHub Actions ID token request bearer token. Env: `ARM_OIDC_REQUEST_TOKEN`, then `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.",
                ),
                attr(
                    "use_msi",
                    Bool,
                    Kind::Optional,
                    "Use a managed identity. Env: `ARM_USE_MSI`.",
                ),
                secret(
                    "delegated_refresh_token",
                    "Refresh token of a tenant admin signed in to the controller app; needed for activate/deactivate. Env: `M365BACKUP_DELEGATED_REFRESH_TOKEN`.",
                ),
                secret(
                    "delegated_access_token",
                    "A ready delegated access token (valid for its own tenant only). Env: `M365BACKUP_DELEGATED_ACCESS_TOKEN`.",
                ),
                attr(
                    "token_cache_path",
                    String,
                    Kind::Optional,
                    "Token cache written by `terraform-provider-m365backup login`. Default `~/.m365backup/token-cache.json`. Env: `M365BACKUP_TOKEN_CACHE`.",
                ),
                attr(
                    "environment",
                    String,
                    Kind::Optional,
                    "Cloud: `public` (default), `usgovernment`, `dod` or `china`; also azuread's `global`, `usgovernmentl4`, `usgovernmentl5`. Env: `ARM_ENVIRONMENT`.",
                ),
                attr(
                    "graph_endpoint",
                    String,
                    Kind::Optional,
                    "Override of the Microsoft Graph endpoint (scheme + host + port, https only), e.g. the emulator. Env: `M365BACKUP_GRAPH_ENDPOINT`.",
                ),
                attr(
                    "authority_host",
                    String,
                    Kind::Optional,
                    "Override of the Entra authority host (https only). Env: `M365BACKUP_AUTHORITY_HOST`.",
                ),
                attr(
                    "api_version",
                    String,
                    Kind::Optional,
                    "Graph API version: `v1.0` (default) or `beta`. Env: `M365BACKUP_API_VERSION`.",
                ),
                attr(
                    "request_timeout",
                    String,
                    Kind::Optional,
                    "Bound on one Graph or Entra call including its retries, e.g. `\"60s\"` (default). Env: `M365BACKUP_REQUEST_TIMEOUT`.",
                ),
                attr(
                    "max_retries",
                    Number,
                    Kind::Optional,
                    "Retries on throttling (429), server errors and connection errors, honouring `Retry-After` (default 8). Env: `M365BACKUP_MAX_RETRIES`.",
                ),
            ],
        ))
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        terraform_version: String,
        config: Self::Config<'a>,
    ) -> Option<()> {
        tracing::debug!(terraform_version, "configuring provider");
        let raw = config.raw();
        let settings = match config::resolve(&raw, &|name| std::env::var(name).ok(), &|path| {
            std::fs::read_to_string(path).map_err(|e| e.to_string())
        }) {
            Ok(settings) => settings,
            Err(e) => {
                diags.error(e.summary, e.detail, AttributePath::new(e.attribute));
                return None;
            }
        };
        for warning in &settings.warnings {
            diags.root_warning(warning.summary.clone(), warning.detail.clone());
        }
        tracing::debug!(
            graph_endpoint = %settings.graph_endpoint,
            authority_host = %settings.authority_host,
            api_version = %settings.api_version,
            "provider settings resolved"
        );
        match settings_to_context(settings) {
            Ok(ctx) => {
                self.shared.set(ctx);
                Some(())
            }
            Err(problem) => {
                report(diags, &problem);
                None
            }
        }
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        let shared = &self.shared;
        let mut resources: HashMap<String, Box<dyn DynamicResource>> = HashMap::new();
        let mut add = |name: &str, resource: Box<dyn DynamicResource>| {
            resources.insert(name.to_string(), resource)
        };
        add(
            "billing_enablement",
            Box::new(ResourceAdapter::new(BillingEnablement, shared.clone())),
        );
        add(
            "service_app",
            Box::new(ResourceAdapter::new(ServiceAppResource, shared.clone())),
        );
        add(
            "backup_notifications",
            Box::new(ResourceAdapter::new(
                crate::resources::backup_notifications::BackupNotifications,
                shared.clone(),
            )),
        );
        add(
            "onedrive_inclusion_rule",
            Box::new(ResourceAdapter::new(
                OneDriveRule::default(),
                shared.clone(),
            )),
        );
        add(
            "exchange_inclusion_rule",
            Box::new(ResourceAdapter::new(
                ExchangeRule::default(),
                shared.clone(),
            )),
        );
        add(
            "sharepoint_inclusion_rule",
            Box::new(ResourceAdapter::new(
                SharePointRule::default(),
                shared.clone(),
            )),
        );
        add(
            "sharepoint_protection_policy",
            Box::new(ResourceAdapter::new(
                SharePointPolicy::default(),
                shared.clone(),
            )),
        );
        add(
            "onedrive_protection_policy",
            Box::new(ResourceAdapter::new(
                OneDrivePolicy::default(),
                shared.clone(),
            )),
        );
        add(
            "exchange_protection_policy",
            Box::new(ResourceAdapter::new(
                ExchangePolicy::default(),
                shared.clone(),
            )),
        );
        use crate::resources::protection_units::{ExchangeUnits, OneDriveUnits, SharePointUnits};
        add(
            "sharepoint_protection_units",
            Box::new(ResourceAdapter::new(
                SharePointUnits::default(),
                shared.clone(),
            )),
        );
        add(
            "onedrive_protection_units",
            Box::new(ResourceAdapter::new(
                OneDriveUnits::default(),
                shared.clone(),
            )),
        );
        add(
            "exchange_protection_units",
            Box::new(ResourceAdapter::new(
                ExchangeUnits::default(),
                shared.clone(),
            )),
        );
        Some(resources)
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        let shared = &self.shared;
        let mut sources: HashMap<String, Box<dyn DynamicDataSource>> = HashMap::new();
        let mut add = |name: &str, source: Box<dyn DynamicDataSource>| {
            sources.insert(name.to_string(), source)
        };
        add(
            "service",
            Box::new(DataSourceAdapter::new(ServiceDataSource, shared.clone())),
        );
        add(
            "service_apps",
            Box::new(DataSourceAdapter::new(
                ServiceAppsDataSource,
                shared.clone(),
            )),
        );
        add(
            "protection_policies",
            Box::new(DataSourceAdapter::new(
                crate::data_sources::protection_policies::ProtectionPoliciesDataSource,
                shared.clone(),
            )),
        );
        add(
            "protection_units",
            Box::new(DataSourceAdapter::new(
                crate::data_sources::protection_units::ProtectionUnitsDataSource,
                shared.clone(),
            )),
        );
        add(
            "restore_points",
            Box::new(DataSourceAdapter::new(
                crate::data_sources::restore_points::RestorePointsDataSource,
                shared.clone(),
            )),
        );
        Some(sources)
    }
}
