//! Provider configuration: every argument falls back to an environment variable, then to a
//! default. Resolution is pure (the environment is passed in) so it is unit-tested.

use std::time::Duration;

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

/// The app-only credential kinds, in the order of precedence when several are configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppOnlyCredential {
    ClientSecret(String),
    /// Declared in the schema; implemented with the full credential chain (issue 5).
    Unsupported(&'static str),
    None,
}

/// Fully resolved provider settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub app_only: AppOnlyCredential,
    pub delegated_refresh_token: Option<String>,
    pub delegated_access_token: Option<String>,
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

/// Whether a text is a GUID (tenant and application IDs).
pub fn is_guid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok() && text.len() == 36
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
    let pick_bool = |value: Option<bool>, name: &'static str| -> Result<bool, ConfigError> {
        match value {
            Some(v) => Ok(v),
            None => match env(name) {
                None => Ok(false),
                Some(text) => parse_bool(&text).ok_or_else(|| {
                    error(
                        "use_oidc",
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

    let secret = pick(&raw.client_secret, &["ARM_CLIENT_SECRET"]);
    let secret_file = pick(
        &raw.client_secret_file_path,
        &["ARM_CLIENT_SECRET_FILE_PATH"],
    );
    let certificate = pick(&raw.client_certificate, &["ARM_CLIENT_CERTIFICATE"]).or_else(|| {
        pick(
            &raw.client_certificate_path,
            &["ARM_CLIENT_CERTIFICATE_PATH"],
        )
    });
    let use_oidc = pick_bool(raw.use_oidc, "ARM_USE_OIDC")?;
    let use_msi = pick_bool(raw.use_msi, "ARM_USE_MSI")?;

    let app_only = if let Some(secret) = secret {
        AppOnlyCredential::ClientSecret(secret)
    } else if let Some(path) = secret_file {
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
        AppOnlyCredential::ClientSecret(secret)
    } else if certificate.is_some() {
        AppOnlyCredential::Unsupported("client certificate")
    } else if use_oidc {
        AppOnlyCredential::Unsupported("OIDC federation")
    } else if use_msi {
        AppOnlyCredential::Unsupported("managed identity")
    } else {
        AppOnlyCredential::None
    };

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
        ),
        delegated_access_token: pick(
            &raw.delegated_access_token,
            &["M365BACKUP_DELEGATED_ACCESS_TOKEN"],
        ),
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
            &[("ARM_CLIENT_SECRET_FILE_PATH", "/secret")],
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

    #[test]
    fn credential_kinds_not_yet_supported_are_named() {
        let s = resolve_with(RawProviderConfig::default(), &[("ARM_USE_OIDC", "true")]).unwrap();
        assert_eq!(
            s.app_only,
            AppOnlyCredential::Unsupported("OIDC federation")
        );
        assert!(resolve_with(RawProviderConfig::default(), &[("ARM_USE_MSI", "maybe")]).is_err());
    }
}
