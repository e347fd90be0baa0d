//! Provider configuration: every argument falls back to an environment variable, then to a
//! default. Resolution is pure (the environment is passed in) so it is unit-tested.

use std::time::Duration;

use crate::secret::Secret;
use crate::timefmt::parse_duration;

/// The provider block's arguments as Terraform sent them (`None` = null or unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawProviderConfig {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file_path: Option<String>,
    pub client_certificate: Option<String>,
    pub client_certificate_path: Option<String>,
    pub client_certificate_password: Option<String>,
    pub use_oidc: Option<bool>,
    pub oidc_token: Option<String>,
    pub oidc_token_file_path: Option<String>,
    pub oidc_request_url: Option<String>,
    pub oidc_request_token: Option<String>,
    pub use_msi: Option<bool>,
    pub delegated_refresh_token: Option<String>,
    pub delegated_access_token: Option<String>,
    pub token_cache_path: Option<String>,
    pub environment: Option<String>,
    pub graph_endpoint: Option<String>,
    pub authority_host: Option<String>,
    pub api_version: Option<String>,
    pub request_timeout: Option<String>,
    pub max_retries: Option<i64>,
}

/// One national cloud's endpoints and Graph audience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cloud {
    pub name: &'static str,
    pub graph_host: &'static str,
    pub authority_host: &'static str,
}

pub const CLOUDS: [Cloud; 4] = [
    Cloud {
        name: "public",
        graph_host: "https://graph.microsoft.com",
        authority_host: "https://login.microsoftonline.com",
    },
    Cloud {
        name: "usgovernment",
        graph_host: "https://graph.microsoft.us",
        authority_host: "https://login.microsoftonline.us",
    },
    Cloud {
        name: "dod",
        graph_host: "https://dod-graph.microsoft.us",
        authority_host: "https://login.microsoftonline.us",
    },
    Cloud {
        name: "china",
        graph_host: "https://microsoftgraph.chinacloudapi.cn",
        authority_host: "https://login.chinacloudapi.cn",
    },
];

/// The app-only credential the provider uses. When several are configured, the first of this
/// precedence wins (the others are ignored):
///
/// 1. client secret: `client_secret` (`ARM_CLIENT_SECRET`), then `client_secret_file_path`
///    (`ARM_CLIENT_SECRET_FILE_PATH`);
/// 2. client certificate: `client_certificate` (`ARM_CLIENT_CERTIFICATE`, base64 PKCS#12), then
///    `client_certificate_path` (`ARM_CLIENT_CERTIFICATE_PATH`), with
///    `client_certificate_password` (`ARM_CLIENT_CERTIFICATE_PASSWORD`);
/// 3. OIDC federation, when `use_oidc` (`ARM_USE_OIDC`) is true: `oidc_token`
///    (`ARM_OIDC_TOKEN`), then `oidc_token_file_path` (`ARM_OIDC_TOKEN_FILE_PATH`), then
///    `oidc_request_url` + `oidc_request_token` (`ARM_OIDC_REQUEST_URL`/`_TOKEN`, then GitHub's
///    `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`);
/// 4. managed identity, when `use_msi` (`ARM_USE_MSI`) is true: App Service
///    (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), else the VM metadata endpoint.
///
/// Every kind but managed identity needs `client_id`; a selected kind that lacks a piece is a
/// configuration (plan-time) error that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppOnlyCredential {
    ClientSecret(Secret),
    ClientCertificate {
        certificate: CertificateSource,
        password: Option<Secret>,
    },
    Oidc(OidcSource),
    ManagedIdentity(MsiSource),
    None,
}

impl AppOnlyCredential {
    /// The kind as named in diagnostics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            AppOnlyCredential::ClientSecret(_) => "client secret",
            AppOnlyCredential::ClientCertificate { .. } => "client certificate",
            AppOnlyCredential::Oidc(_) => "OIDC federated token",
            AppOnlyCredential::ManagedIdentity(_) => "managed identity",
            AppOnlyCredential::None => "none",
        }
    }
}

/// Where the PKCS#12 client certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    /// `client_certificate`: the bundle, base64.
    Base64(Secret),
    /// `client_certificate_path`.
    Path(String),
}

/// Where the federated (OIDC) token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OidcSource {
    Token(Secret),
    /// Re-read at every token request (workload identity rotates the file).
    TokenFile(String),
    /// GitHub Actions: `GET url&audience=api://AzureADTokenExchange` with the bearer token.
    Request {
        url: String,
        token: Secret,
    },
}

/// Which managed identity endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MsiSource {
    /// App Service / Functions / Container Apps: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    AppService { endpoint: String, header: Secret },
    /// The VM instance metadata service, `http://169.254.169.254`.
    VmMetadata,
}

/// Fully resolved provider settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub app_only: AppOnlyCredential,
    pub delegated_refresh_token: Option<Secret>,
    pub delegated_access_token: Option<Secret>,
    pub token_cache_path: Option<String>,
    pub cloud: Cloud,
    pub graph_endpoint: String,
    pub authority_host: String,
    pub api_version: String,
    pub request_timeout: Duration,
    pub max_retries: u32,
}

impl ProviderSettings {
    /// App-only scope: the cloud's Graph audience even when `graph_endpoint` is overridden.
    pub fn app_scope(&self) -> String {
        format!("{}/.default", self.cloud.graph_host)
    }

    pub fn delegated_scope(&self) -> String {
        format!("{}/.default offline_access", self.cloud.graph_host)
    }
}

/// A configuration error, tied to the argument it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub attribute: &'static str,
    pub summary: String,
    pub detail: String,
}

fn error(attribute: &'static str, summary: &str, detail: String) -> ConfigError {
    ConfigError {
        attribute,
        summary: summary.to_string(),
        detail,
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" | "" => Some(false),
        _ => None,
    }
}

/// Checks that an endpoint is `https://host[:port]` without a path: credentials never travel
/// over plain HTTP.
pub fn validate_endpoint(attribute: &'static str, value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").ok_or_else(|| {
        error(
            attribute,
            "Endpoint must use https",
            format!(
                "{attribute} = {value:?} is not an https:// URL. Tokens and secrets are only sent \
                 over TLS; the emulator serves HTTPS too (use the URL `m365backup-emulator \
                 --print-env` prints)."
            ),
        )
    })?;
    if rest.is_empty() || rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Err(error(
            attribute,
            "Endpoint must be scheme and host only",
            format!(
                "{attribute} = {value:?}: give only scheme, host and optional port (for example \
                 \"https://127.0.0.1:8443\"); the provider adds the API version and path itself."
            ),
        ));
    }
    Ok(trimmed.to_string())
}

pub use crate::ids::is_guid;

impl AppOnlyCredential {
    /// Every kind but managed identity authenticates the controller app by its client id.
    pub fn needs_client_id(&self) -> bool {
        !matches!(
            self,
            AppOnlyCredential::ManagedIdentity(_) | AppOnlyCredential::None
        )
    }
}

type Pick<'a> = dyn Fn(&Option<String>, &[&str]) -> Option<String> + 'a;
type PickBool<'a> =
    dyn Fn(Option<bool>, &'static str, &'static str) -> Result<bool, ConfigError> + 'a;

/// True for hosts that never leave the machine (App Service's identity endpoint is plain HTTP
/// on loopback).
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The app-only credential, by the precedence documented on [`AppOnlyCredential`].
fn resolve_app_only(
    raw: &RawProviderConfig,
    pick: &Pick<'_>,
    pick_bool: &PickBool<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<AppOnlyCredential, ConfigError> {
    if let Some(secret) = pick(&raw.client_secret, &["ARM_CLIENT_SECRET"]) {
        return Ok(AppOnlyCredential::ClientSecret(Secret::new(secret)));
    }
    if let Some(path) = pick(
        &raw.client_secret_file_path,
        &["ARM_CLIENT_SECRET_FILE_PATH"],
    ) {
        let text = read_file(&path).map_err(|e| {
            error(
                "client_secret_file_path",
                "Cannot read the client secret file",
                format!("client_secret_file_path {path:?}: {e}"),
            )
        })?;
        let secret = text.trim().to_string();
        if secret.is_empty() {
            return Err(error(
                "client_secret_file_path",
                "The client secret file is empty",
                format!("client_secret_file_path {path:?} contains no secret."),
            ));
        }
        return Ok(AppOnlyCredential::ClientSecret(Secret::new(secret)));
    }

    let password = pick(
        &raw.client_certificate_password,
        &["ARM_CLIENT_CERTIFICATE_PASSWORD"],
    )
    .map(Secret::new);
    if let Some(b64) = pick(&raw.client_certificate, &["ARM_CLIENT_CERTIFICATE"]) {
        return Ok(AppOnlyCredential::ClientCertificate {
            certificate: CertificateSource::Base64(Secret::new(b64)),
            password,
        });
    }
    if let Some(path) = pick(
        &raw.client_certificate_path,
        &["ARM_CLIENT_CERTIFICATE_PATH"],
    ) {
        return Ok(AppOnlyCredential::ClientCertificate {
            certificate: CertificateSource::Path(path),
            password,
        });
    }

    if pick_bool(raw.use_oidc, "use_oidc", "ARM_USE_OIDC")? {
        if let Some(token) = pick(&raw.oidc_token, &["ARM_OIDC_TOKEN"]) {
            return Ok(AppOnlyCredential::Oidc(OidcSource::Token(Secret::new(
                token,
            ))));
        }
        if let Some(path) = pick(&raw.oidc_token_file_path, &["ARM_OIDC_TOKEN_FILE_PATH"]) {
            return Ok(AppOnlyCredential::Oidc(OidcSource::TokenFile(path)));
        }
        let url = pick(
            &raw.oidc_request_url,
            &["ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL"],
        );
        let token = pick(
            &raw.oidc_request_token,
            &["ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
        );
        return match (url, token) {
            (Some(url), Some(token)) => {
                if !url.trim().starts_with("https://") {
                    return Err(error(
                        "oidc_request_url",
                        "OIDC request URL must use https",
                        format!(
                            "oidc_request_url {url:?} is not an https:// URL: the request carries a \
                             bearer token and is only sent over TLS."
                        ),
                    ));
                }
                Ok(AppOnlyCredential::Oidc(OidcSource::Request {
                    url: url.trim().to_owned(),
                    token: Secret::new(token),
                }))
            }
            (Some(_), None) => Err(error(
                "oidc_request_token",
                "Missing OIDC request token",
                "use_oidc is true and oidc_request_url is set, but oidc_request_token is not: set \
                 oidc_request_token (ARM_OIDC_REQUEST_TOKEN), or in GitHub Actions grant the job \
                 `permissions: id-token: write` so that ACTIONS_ID_TOKEN_REQUEST_TOKEN is set."
                    .to_owned(),
            )),
            (None, Some(_)) => Err(error(
                "oidc_request_url",
                "Missing OIDC request URL",
                "use_oidc is true and oidc_request_token is set, but oidc_request_url is not: set \
                 oidc_request_url (ARM_OIDC_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_URL)."
                    .to_owned(),
            )),
            (None, None) => Err(error(
                "use_oidc",
                "No OIDC token source",
                "use_oidc is true but no OIDC token is configured: set oidc_token \
                 (ARM_OIDC_TOKEN), oidc_token_file_path (ARM_OIDC_TOKEN_FILE_PATH), or \
                 oidc_request_url and oidc_request_token (ARM_OIDC_REQUEST_URL / \
                 ARM_OIDC_REQUEST_TOKEN; in GitHub Actions, grant the job `permissions: id-token: \
                 write` and ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are used)."
                    .to_owned(),
            )),
        };
    }

    if pick_bool(raw.use_msi, "use_msi", "ARM_USE_MSI")? {
        let endpoint = non_empty(env("IDENTITY_ENDPOINT"));
        let header = non_empty(env("IDENTITY_HEADER"));
        return match (endpoint, header) {
            (Some(endpoint), Some(header)) => {
                let url = reqwest::Url::parse(endpoint.trim()).map_err(|e| {
                    error(
                        "use_msi",
                        "Invalid IDENTITY_ENDPOINT",
                        format!("IDENTITY_ENDPOINT {endpoint:?} is not a URL ({e})."),
                    )
                })?;
                let local = url.host_str().is_some_and(is_loopback_host);
                if url.scheme() != "https" && !(url.scheme() == "http" && local) {
                    return Err(error(
                        "use_msi",
                        "IDENTITY_ENDPOINT must use https",
                        format!(
                            "IDENTITY_ENDPOINT {endpoint:?} must be https://, or http:// on the \
                             loopback interface as App Service provides it."
                        ),
                    ));
                }
                Ok(AppOnlyCredential::ManagedIdentity(MsiSource::AppService {
                    endpoint: endpoint.trim().to_owned(),
                    header: Secret::new(header),
                }))
            }
            (Some(_), None) => Err(error(
                "use_msi",
                "Incomplete managed identity environment",
                "use_msi is true and IDENTITY_ENDPOINT is set, but IDENTITY_HEADER is not: both \
                 are set by App Service for the app's managed identity."
                    .to_owned(),
            )),
            _ => Ok(AppOnlyCredential::ManagedIdentity(MsiSource::VmMetadata)),
        };
    }
    Ok(AppOnlyCredential::None)
}

/// Resolves arguments, then environment variables, then defaults.
pub fn resolve(
    raw: &RawProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<ProviderSettings, ConfigError> {
    let pick = |value: &Option<String>, names: &[&str]| -> Option<String> {
        non_empty(value.clone()).or_else(|| names.iter().find_map(|name| non_empty(env(name))))
    };
    let pick_bool = |value: Option<bool>,
                     attribute: &'static str,
                     name: &'static str|
     -> Result<bool, ConfigError> {
        match value {
            Some(v) => Ok(v),
            None => match env(name) {
                None => Ok(false),
                Some(text) => parse_bool(&text).ok_or_else(|| {
                    error(
                        attribute,
                        "Invalid boolean environment variable",
                        format!("{name}={text:?} is not a boolean (use true or false)."),
                    )
                }),
            },
        }
    };

    let tenant_id = pick(&raw.tenant_id, &["ARM_TENANT_ID"]);
    if let Some(tenant) = &tenant_id
        && !is_guid(tenant)
    {
        return Err(error(
            "tenant_id",
            "Invalid tenant_id",
            format!(
                "tenant_id {tenant:?} is not a tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)."
            ),
        ));
    }
    let client_id = pick(&raw.client_id, &["ARM_CLIENT_ID"]);
    if let Some(client) = &client_id
        && !is_guid(client)
    {
        return Err(error(
            "client_id",
            "Invalid client_id",
            format!("client_id {client:?} is not an application (client) ID (a GUID)."),
        ));
    }

    let app_only = resolve_app_only(raw, &pick, &pick_bool, env, read_file)?;
    if app_only.needs_client_id() && client_id.is_none() {
        return Err(error(
            "client_id",
            "Missing client_id",
            format!(
                "The {} credential is configured but client_id (ARM_CLIENT_ID) is not: set it to \
                 the controller app's application (client) ID.",
                app_only.kind_name()
            ),
        ));
    }

    let environment =
        pick(&raw.environment, &["ARM_ENVIRONMENT"]).unwrap_or_else(|| "public".into());
    let cloud = *CLOUDS
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(environment.trim()))
        .ok_or_else(|| {
            error(
                "environment",
                "Unknown environment",
                format!(
                    "environment {environment:?} is not one of public, usgovernment, dod, china."
                ),
            )
        })?;

    let graph_override = pick(&raw.graph_endpoint, &["M365BACKUP_GRAPH_ENDPOINT"]);
    if cloud.name != "public" && graph_override.is_none() {
        return Err(error(
            "environment",
            "Microsoft 365 Backup Storage is only available in the global cloud",
            format!(
                "environment = {:?}: Microsoft documents the Backup Storage Graph APIs for the \
                 global service only (not for US Government L4/L5 or China). Use environment = \
                 \"public\", or set graph_endpoint explicitly if your cloud offers the API.",
                cloud.name
            ),
        ));
    }
    let graph_endpoint = validate_endpoint(
        "graph_endpoint",
        graph_override.as_deref().unwrap_or(cloud.graph_host),
    )?;
    let authority_host = validate_endpoint(
        "authority_host",
        pick(&raw.authority_host, &["M365BACKUP_AUTHORITY_HOST"])
            .as_deref()
            .unwrap_or(cloud.authority_host),
    )?;

    let api_version =
        pick(&raw.api_version, &["M365BACKUP_API_VERSION"]).unwrap_or_else(|| "v1.0".into());
    if api_version != "v1.0" && api_version != "beta" {
        return Err(error(
            "api_version",
            "Unknown api_version",
            format!("api_version {api_version:?} is not \"v1.0\" or \"beta\"."),
        ));
    }

    let timeout_text =
        pick(&raw.request_timeout, &["M365BACKUP_REQUEST_TIMEOUT"]).unwrap_or_else(|| "60s".into());
    let request_timeout = parse_duration(&timeout_text)
        .ok()
        .filter(|d| d.whole_seconds() >= 1 && d.whole_seconds() <= 3600)
        .map(|d| Duration::from_secs(d.whole_seconds() as u64))
        .ok_or_else(|| {
            error(
                "request_timeout",
                "Invalid request_timeout",
                format!("request_timeout {timeout_text:?} must be a duration from 1s to 1h, such as \"60s\" or \"2m\"."),
            )
        })?;

    let max_retries = match raw.max_retries {
        Some(n) => Some(n),
        None => match env("M365BACKUP_MAX_RETRIES") {
            None => None,
            Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
                error(
                    "max_retries",
                    "Invalid max_retries",
                    format!("M365BACKUP_MAX_RETRIES={text:?} is not a whole number."),
                )
            })?),
        },
    }
    .unwrap_or(8);
    if !(0..=50).contains(&max_retries) {
        return Err(error(
            "max_retries",
            "Invalid max_retries",
            format!("max_retries = {max_retries} must be between 0 and 50."),
        ));
    }

    Ok(ProviderSettings {
        tenant_id,
        client_id,
        app_only,
        delegated_refresh_token: pick(
            &raw.delegated_refresh_token,
            &["M365BACKUP_DELEGATED_REFRESH_TOKEN"],
        )
        .map(Secret::new),
        delegated_access_token: pick(
            &raw.delegated_access_token,
            &["M365BACKUP_DELEGATED_ACCESS_TOKEN"],
        )
        .map(Secret::new),
        token_cache_path: pick(&raw.token_cache_path, &["M365BACKUP_TOKEN_CACHE"]),
        cloud,
        graph_endpoint,
        authority_host,
        api_version,
        request_timeout,
        max_retries: max_retries as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(
        raw: RawProviderConfig,
        vars: &[(&str, &str)],
    ) -> Result<ProviderSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&raw, &|name| map.get(name).cloned(), &|path| {
            if path == "/secret" {
                Ok("from-file\n".into())
            } else {
                Err("no such file".into())
            }
        })
    }

    #[test]
    fn defaults_are_the_global_cloud() {
        let s = resolve_with(RawProviderConfig::default(), &[]).unwrap();
        assert_eq!(s.graph_endpoint, "https://graph.microsoft.com");
        assert_eq!(s.authority_host, "https://login.microsoftonline.com");
        assert_eq!(s.api_version, "v1.0");
        assert_eq!(s.request_timeout, Duration::from_secs(60));
        assert_eq!(s.max_retries, 8);
        assert_eq!(s.app_scope(), "https://graph.microsoft.com/.default");
        assert_eq!(
            s.delegated_scope(),
            "https://graph.microsoft.com/.default offline_access"
        );
        assert_eq!(s.app_only, AppOnlyCredential::None);
    }

    #[test]
    fn arguments_win_over_environment() {
        let raw = RawProviderConfig {
            client_secret: Some("arg".into()),
            request_timeout: Some("2m".into()),
            ..Default::default()
        };
        let s = resolve_with(
            raw,
            &[
                ("ARM_CLIENT_SECRET", "env"),
                ("ARM_CLIENT_ID", APP),
                ("M365BACKUP_REQUEST_TIMEOUT", "5s"),
                ("M365BACKUP_MAX_RETRIES", "3"),
                ("M365BACKUP_GRAPH_ENDPOINT", "https://127.0.0.1:8443/"),
            ],
        )
        .unwrap();
        assert_eq!(s.app_only, AppOnlyCredential::ClientSecret("arg".into()));
        assert_eq!(s.request_timeout, Duration::from_secs(120));
        assert_eq!(s.max_retries, 3);
        assert_eq!(s.graph_endpoint, "https://127.0.0.1:8443");
    }

    #[test]
    fn secret_file_is_read_and_trimmed() {
        let s = resolve_with(
            RawProviderConfig::default(),
            &[
                ("ARM_CLIENT_SECRET_FILE_PATH", "/secret"),
                ("ARM_CLIENT_ID", APP),
            ],
        )
        .unwrap();
        assert_eq!(
            s.app_only,
            AppOnlyCredential::ClientSecret("from-file".into())
        );
        let e = resolve_with(
            RawProviderConfig::default(),
            &[("ARM_CLIENT_SECRET_FILE_PATH", "/nope")],
        )
        .unwrap_err();
        assert_eq!(e.attribute, "client_secret_file_path");
    }

    #[test]
    fn http_endpoints_are_refused() {
        let e = resolve_with(
            RawProviderConfig::default(),
            &[("M365BACKUP_GRAPH_ENDPOINT", "http://127.0.0.1:8443")],
        )
        .unwrap_err();
        assert_eq!(e.attribute, "graph_endpoint");
        assert!(e.detail.contains("https"));
        let raw = RawProviderConfig {
            authority_host: Some("https://host/path".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_with(raw, &[]).unwrap_err().attribute,
            "authority_host"
        );
    }

    #[test]
    fn national_clouds_need_an_explicit_endpoint() {
        let e = resolve_with(
            RawProviderConfig::default(),
            &[("ARM_ENVIRONMENT", "china")],
        )
        .unwrap_err();
        assert_eq!(e.attribute, "environment");
        assert!(e.detail.contains("global"));
        let s = resolve_with(
            RawProviderConfig::default(),
            &[
                ("ARM_ENVIRONMENT", "usgovernment"),
                ("M365BACKUP_GRAPH_ENDPOINT", "https://graph.microsoft.us"),
            ],
        )
        .unwrap();
        assert_eq!(s.authority_host, "https://login.microsoftonline.us");
        assert_eq!(s.app_scope(), "https://graph.microsoft.us/.default");
        assert!(
            resolve_with(RawProviderConfig::default(), &[("ARM_ENVIRONMENT", "mars")]).is_err()
        );
    }

    #[test]
    fn bad_values_name_their_argument() {
        let cases: Vec<(RawProviderConfig, &str)> = vec![
            (
                RawProviderConfig {
                    tenant_id: Some("contoso".into()),
                    ..Default::default()
                },
                "tenant_id",
            ),
            (
                RawProviderConfig {
                    client_id: Some("x".into()),
                    ..Default::default()
                },
                "client_id",
            ),
            (
                RawProviderConfig {
                    api_version: Some("v2".into()),
                    ..Default::default()
                },
                "api_version",
            ),
            (
                RawProviderConfig {
                    request_timeout: Some("forever".into()),
                    ..Default::default()
                },
                "request_timeout",
            ),
            (
                RawProviderConfig {
                    max_retries: Some(-1),
                    ..Default::default()
                },
                "max_retries",
            ),
        ];
        for (raw, attribute) in cases {
            assert_eq!(resolve_with(raw, &[]).unwrap_err().attribute, attribute);
        }
    }

    const APP: &str = "3c9f1d2e-8a47-4b6c-b0d5-7e2a91f4c8a3";

    fn kind(vars: &[(&str, &str)]) -> Result<AppOnlyCredential, ConfigError> {
        let mut all = vec![("ARM_CLIENT_ID", APP)];
        all.extend_from_slice(vars);
        resolve_with(RawProviderConfig::default(), &all).map(|s| s.app_only)
    }

    #[test]
    fn precedence_secret_certificate_oidc_msi() {
        let everything = [
            ("ARM_CLIENT_SECRET", "s"),
            ("ARM_CLIENT_SECRET_FILE_PATH", "/secret"),
            ("ARM_CLIENT_CERTIFICATE", "YmFzZTY0"),
            ("ARM_CLIENT_CERTIFICATE_PATH", "/cert.p12"),
            ("ARM_CLIENT_CERTIFICATE_PASSWORD", "pw"),
            ("ARM_USE_OIDC", "true"),
            ("ARM_OIDC_TOKEN", "oidc"),
            ("ARM_OIDC_TOKEN_FILE_PATH", "/oidc"),
            ("ARM_OIDC_REQUEST_URL", "https://gh.example/token?x=1"),
            ("ARM_OIDC_REQUEST_TOKEN", "gh"),
            ("ARM_USE_MSI", "true"),
        ];
        let mut vars = everything.to_vec();
        let expect = [
            AppOnlyCredential::ClientSecret("s".into()),
            AppOnlyCredential::ClientSecret("from-file".into()),
            AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Base64("YmFzZTY0".into()),
                password: Some("pw".into()),
            },
            AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Path("/cert.p12".into()),
                password: Some("pw".into()),
            },
        ];
        for (i, want) in expect.iter().enumerate() {
            assert_eq!(&kind(&vars).unwrap(), want, "step {i}");
            vars.remove(0);
        }
        vars.retain(|(k, _)| *k != "ARM_CLIENT_CERTIFICATE_PASSWORD");
        assert_eq!(
            kind(&vars).unwrap(),
            AppOnlyCredential::Oidc(OidcSource::Token("oidc".into()))
        );
        vars.retain(|(k, _)| *k != "ARM_OIDC_TOKEN");
        assert_eq!(
            kind(&vars).unwrap(),
            AppOnlyCredential::Oidc(OidcSource::TokenFile("/oidc".into()))
        );
        vars.retain(|(k, _)| *k != "ARM_OIDC_TOKEN_FILE_PATH");
        assert_eq!(
            kind(&vars).unwrap(),
            AppOnlyCredential::Oidc(OidcSource::Request {
                url: "https://gh.example/token?x=1".into(),
                token: "gh".into()
            })
        );
        vars.retain(|(k, _)| !k.starts_with("ARM_OIDC") && *k != "ARM_USE_OIDC");
        assert_eq!(
            kind(&vars).unwrap(),
            AppOnlyCredential::ManagedIdentity(MsiSource::VmMetadata)
        );
        vars.push(("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"));
        vars.push(("IDENTITY_HEADER", "h"));
        assert_eq!(
            kind(&vars).unwrap(),
            AppOnlyCredential::ManagedIdentity(MsiSource::AppService {
                endpoint: "http://127.0.0.1:41741/msi/token".into(),
                header: "h".into()
            })
        );
        vars.retain(|(k, _)| *k != "ARM_USE_MSI");
        assert_eq!(kind(&vars).unwrap(), AppOnlyCredential::None);
    }

    #[test]
    fn github_actions_variables_are_the_fallback() {
        let k = kind(&[
            ("ARM_USE_OIDC", "true"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/a"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t-gh"),
            ("ARM_OIDC_REQUEST_URL", "https://arm.example/b"),
        ])
        .unwrap();
        assert_eq!(
            k,
            AppOnlyCredential::Oidc(OidcSource::Request {
                url: "https://arm.example/b".into(),
                token: "t-gh".into()
            })
        );
        // Without use_oidc, GitHub's variables (always present with id-token: write) are ignored.
        let k = kind(&[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/a"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t-gh"),
        ])
        .unwrap();
        assert_eq!(k, AppOnlyCredential::None);
    }

    #[test]
    fn incomplete_kinds_name_the_missing_piece() {
        let e = kind(&[("ARM_USE_OIDC", "true")]).unwrap_err();
        assert_eq!(e.attribute, "use_oidc");
        assert!(e.detail.contains("oidc_token_file_path"), "{}", e.detail);
        let e = kind(&[
            ("ARM_USE_OIDC", "1"),
            ("ARM_OIDC_REQUEST_URL", "https://gh.example/a"),
        ])
        .unwrap_err();
        assert_eq!(e.attribute, "oidc_request_token");
        let e = kind(&[
            ("ARM_USE_OIDC", "1"),
            ("ARM_OIDC_REQUEST_URL", "http://gh.example/a"),
            ("ARM_OIDC_REQUEST_TOKEN", "t"),
        ])
        .unwrap_err();
        assert_eq!(e.attribute, "oidc_request_url");
        let e = kind(&[("ARM_USE_MSI", "true"), ("IDENTITY_ENDPOINT", "https://x")]).unwrap_err();
        assert!(e.detail.contains("IDENTITY_HEADER"), "{}", e.detail);
        let e = kind(&[
            ("ARM_USE_MSI", "true"),
            ("IDENTITY_ENDPOINT", "http://10.0.0.1/msi"),
            ("IDENTITY_HEADER", "h"),
        ])
        .unwrap_err();
        assert!(e.detail.contains("loopback"), "{}", e.detail);
        let e = resolve_with(
            RawProviderConfig::default(),
            &[("ARM_CLIENT_CERTIFICATE_PATH", "/c.p12")],
        )
        .unwrap_err();
        assert_eq!(e.attribute, "client_id");
        assert!(e.detail.contains("client certificate"), "{}", e.detail);
        let e =
            resolve_with(RawProviderConfig::default(), &[("ARM_CLIENT_SECRET", "s")]).unwrap_err();
        assert_eq!(e.attribute, "client_id");
        // Managed identity needs no client id (system-assigned identity).
        let s = resolve_with(RawProviderConfig::default(), &[("ARM_USE_MSI", "true")]).unwrap();
        assert_eq!(
            s.app_only,
            AppOnlyCredential::ManagedIdentity(MsiSource::VmMetadata)
        );
        let e =
            resolve_with(RawProviderConfig::default(), &[("ARM_USE_MSI", "maybe")]).unwrap_err();
        assert_eq!(e.attribute, "use_msi");
    }

    #[test]
    fn settings_debug_does_not_leak() {
        let s = resolve_with(
            RawProviderConfig::default(),
            &[
                ("ARM_CLIENT_ID", APP),
                ("ARM_CLIENT_SECRET", "super-secret-value"),
            ],
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("super-secret-value"));
    }
}
