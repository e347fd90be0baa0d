//! Provider configuration: every argument falls back to an environment variable, then to a
//! default. Resolution is pure (the environment and the file system are passed in) so it is
//! unit-tested.
//!
//! Credentials follow their own rule (spec decision 21): a credential *written in the provider
//! block* (a non-null, non-empty argument) wins over every credential found only in the
//! environment. See [`AppOnlyCredential`] for the order, and [`ProviderSettings::warnings`] for
//! the warning that names the one used when several are configured.

use std::collections::BTreeMap;
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

/// The names `environment` accepts besides the cloud names: the azuread provider's.
pub const CLOUD_ALIASES: [(&str, &str); 3] = [
    ("global", "public"),
    ("usgovernmentl4", "usgovernment"),
    ("usgovernmentl5", "dod"),
];

/// The cloud called `name` (case-insensitive): `public`, `usgovernment`, `dod`, `china`, or one
/// of azuread's names for them (`global`, `usgovernmentl4`, `usgovernmentl5`).
pub fn find_cloud(name: &str) -> Option<Cloud> {
    let name = name.trim();
    let canonical = CLOUD_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map(|(_, cloud)| *cloud)
        .unwrap_or(name);
    CLOUDS
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(canonical))
        .copied()
}

/// The accepted `environment` values, for error messages.
pub const CLOUD_NAMES: &str = "public (or global), usgovernment (or usgovernmentl4), dod (or \
                               usgovernmentl5), china";

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// The provider block's argument of that name.
    Block(&'static str),
    /// The environment variable of that name.
    Env(&'static str),
}

impl Origin {
    /// The argument or environment variable name: what a diagnostic names.
    pub fn name(&self) -> &'static str {
        match self {
            Origin::Block(n) | Origin::Env(n) => n,
        }
    }

    pub fn is_env(&self) -> bool {
        matches!(self, Origin::Env(_))
    }

    /// "`client_secret_file_path` in the provider block" / "the environment variable
    /// `ARM_CLIENT_SECRET`".
    pub fn describe(&self) -> String {
        match self {
            Origin::Block(n) => format!("{n} in the provider block"),
            Origin::Env(n) => format!("the environment variable {n}"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Picked {
    value: String,
    origin: Origin,
}

/// The app-only credential the provider uses. A credential written in the provider block wins
/// over any found only in the environment. Among several in the block, and among several in the
/// environment, the first of this order wins (azurerm's; the others are ignored, with a
/// warning):
///
/// 1. client certificate: `client_certificate` (`ARM_CLIENT_CERTIFICATE`, base64 PKCS#12), then
///    `client_certificate_path` (`ARM_CLIENT_CERTIFICATE_PATH`), with
///    `client_certificate_password` (`ARM_CLIENT_CERTIFICATE_PASSWORD`);
/// 2. client secret: `client_secret` (`ARM_CLIENT_SECRET`), then `client_secret_file_path`
///    (`ARM_CLIENT_SECRET_FILE_PATH`);
/// 3. OIDC federation, when `use_oidc` (`ARM_USE_OIDC`) is true: `oidc_token`
///    (`ARM_OIDC_TOKEN`), then `oidc_token_file_path` (`ARM_OIDC_TOKEN_FILE_PATH`), then
///    `oidc_request_url` + `oidc_request_token` (`ARM_OIDC_REQUEST_URL`/`_TOKEN`, then GitHub's
///    `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`);
/// 4. managed identity, when `use_msi` (`ARM_USE_MSI`) is true: App Service
///    (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), else the VM metadata endpoint.
///
/// Parameters of the chosen kind (the certificate password, the OIDC token source and request
/// URL/token) fall back to the environment argument by argument; `use_oidc = false` /
/// `use_msi = false` in the block beat `ARM_USE_OIDC` / `ARM_USE_MSI`.
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
            AppOnlyCredential::ClientSecret(_) => CredentialKind::Secret.name(),
            AppOnlyCredential::ClientCertificate { .. } => CredentialKind::Certificate.name(),
            AppOnlyCredential::Oidc(_) => CredentialKind::Oidc.name(),
            AppOnlyCredential::ManagedIdentity(_) => CredentialKind::ManagedIdentity.name(),
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

/// The four app-only credential kinds, in their order of precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialKind {
    Certificate,
    Secret,
    Oidc,
    ManagedIdentity,
}

impl CredentialKind {
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::Certificate => "client certificate",
            CredentialKind::Secret => "client secret",
            CredentialKind::Oidc => "OIDC federated token",
            CredentialKind::ManagedIdentity => "managed identity",
        }
    }
}

/// One configured app-only credential: its kind and the argument or variable that gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialSource {
    pub kind: CredentialKind,
    pub origin: Origin,
}

impl CredentialSource {
    /// "the client secret from ARM_CLIENT_SECRET" style, for warnings.
    pub fn describe(&self) -> String {
        format!("the {} from {}", self.kind.name(), self.origin.describe())
    }

    /// "client secret from ARM_CLIENT_SECRET": how token errors name the credential.
    pub fn label(&self) -> String {
        format!("{} from {}", self.kind.name(), self.origin.name())
    }
}

/// A warning found while resolving the configuration (the provider goes on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub summary: String,
    pub detail: String,
}

/// Fully resolved provider settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub app_only: AppOnlyCredential,
    /// The credential `app_only` was built from (`None` when there is none).
    pub app_only_source: Option<CredentialSource>,
    pub delegated_refresh_token: Option<Secret>,
    pub delegated_access_token: Option<Secret>,
    pub token_cache_path: Option<String>,
    pub cloud: Cloud,
    pub graph_endpoint: String,
    pub authority_host: String,
    pub api_version: String,
    pub request_timeout: Duration,
    pub max_retries: u32,
    /// Where each value that was set came from, by argument name.
    pub origins: BTreeMap<&'static str, Origin>,
    /// E.g. several app-only credentials configured: the warning names the one used.
    pub warnings: Vec<ConfigWarning>,
}

impl ProviderSettings {
    /// App-only scope: the cloud's Graph audience even when `graph_endpoint` is overridden.
    pub fn app_scope(&self) -> String {
        format!("{}/.default", self.cloud.graph_host)
    }

    pub fn delegated_scope(&self) -> String {
        format!("{}/.default offline_access", self.cloud.graph_host)
    }

    /// How token errors name the app-only credential: its kind and the argument or variable
    /// that gave it (for OIDC, the token source: "OIDC federated token from
    /// ACTIONS_ID_TOKEN_REQUEST_URL").
    pub fn app_only_label(&self) -> Option<String> {
        let source = self.app_only_source?;
        if source.kind == CredentialKind::Oidc
            && let Some(origin) = ["oidc_token", "oidc_token_file_path", "oidc_request_url"]
                .iter()
                .find_map(|a| self.origin(a))
        {
            return Some(format!("{} from {}", source.kind.name(), origin.name()));
        }
        Some(source.label())
    }

    /// Where the value of `attribute` came from, when it was set.
    pub fn origin(&self, attribute: &str) -> Option<Origin> {
        self.origins.get(attribute).copied()
    }

    /// The name to show for the value of `attribute`: the environment variable it came from,
    /// else the argument itself.
    pub fn source_name(&self, attribute: &'static str) -> &'static str {
        self.origin(attribute).map_or(attribute, |o| o.name())
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
    validate_endpoint_named(attribute, attribute, value)
}

/// [`validate_endpoint`], naming the value as `name` (the environment variable it came from).
fn validate_endpoint_named(
    attribute: &'static str,
    name: &str,
    value: &str,
) -> Result<String, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").ok_or_else(|| {
        error(
            attribute,
            "Endpoint must use https",
            format!(
                "{name} = {value:?} is not an https:// URL. Tokens and secrets are only sent \
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
                "{name} = {value:?}: give only scheme, host and optional port (for example \
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

/// True for hosts that never leave the machine (App Service's identity endpoint is plain HTTP
/// on loopback).
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Reads the configuration's values from the block and the environment, remembering where
/// each came from.
struct Sources<'a> {
    raw: &'a RawProviderConfig,
    env: &'a dyn Fn(&str) -> Option<String>,
    origins: BTreeMap<&'static str, Origin>,
}

impl Sources<'_> {
    /// The block's value of `attribute` (non-empty), without the environment.
    fn block(&self, value: &Option<String>, attribute: &'static str) -> Option<Picked> {
        non_empty(value.clone()).map(|value| Picked {
            value,
            origin: Origin::Block(attribute),
        })
    }

    /// The first non-empty of the environment variables `names`.
    fn env(&self, names: &[&'static str]) -> Option<Picked> {
        names.iter().find_map(|name| {
            non_empty((self.env)(name)).map(|value| Picked {
                value,
                origin: Origin::Env(name),
            })
        })
    }

    /// The block's value, else the first environment variable set; recorded in `origins`.
    fn pick(
        &mut self,
        value: &Option<String>,
        attribute: &'static str,
        names: &[&'static str],
    ) -> Option<Picked> {
        let picked = self.block(value, attribute).or_else(|| self.env(names))?;
        self.origins.insert(attribute, picked.origin);
        Some(picked)
    }

    /// A boolean argument, else its environment variable; `None` when neither is set.
    fn flag(
        &mut self,
        value: Option<bool>,
        attribute: &'static str,
        name: &'static str,
    ) -> Result<Flag, ConfigError> {
        let found = match value {
            Some(v) => Some((v, Origin::Block(attribute))),
            None => match non_empty((self.env)(name)) {
                None => None,
                Some(text) => Some((
                    parse_bool(&text).ok_or_else(|| {
                        error(
                            attribute,
                            "Invalid boolean environment variable",
                            format!("{name}={text:?} is not a boolean (use true or false)."),
                        )
                    })?,
                    Origin::Env(name),
                )),
            },
        };
        if let Some((_, origin)) = found {
            self.origins.insert(attribute, origin);
        }
        Ok(found)
    }

    fn record(&mut self, attribute: &'static str, picked: &Picked) {
        self.origins.insert(attribute, picked.origin);
    }
}

/// A boolean setting and where it came from; `None` when it is not set.
type Flag = Option<(bool, Origin)>;

/// Every app-only credential that is configured, most preferred first: the block's (in kind
/// order), then the environment's (in kind order).
fn configured_app_only(s: &mut Sources<'_>) -> Result<(Vec<CredentialSource>, Flag), ConfigError> {
    use CredentialKind::*;
    let raw = s.raw;
    let oidc = s.flag(raw.use_oidc, "use_oidc", "ARM_USE_OIDC")?;
    let msi = s.flag(raw.use_msi, "use_msi", "ARM_USE_MSI")?;
    let source = |kind, origin| CredentialSource { kind, origin };
    let mut found = Vec::new();

    // Written in the provider block.
    for (kind, value, attribute) in [
        (Certificate, &raw.client_certificate, "client_certificate"),
        (
            Certificate,
            &raw.client_certificate_path,
            "client_certificate_path",
        ),
        (Secret, &raw.client_secret, "client_secret"),
        (
            Secret,
            &raw.client_secret_file_path,
            "client_secret_file_path",
        ),
    ] {
        if let Some(p) = s.block(value, attribute) {
            found.push(source(kind, p.origin));
        }
    }
    match oidc {
        Some((true, origin @ Origin::Block(_))) => found.push(source(Oidc, origin)),
        // Enabled by ARM_USE_OIDC, with its token source written in the block.
        Some((true, Origin::Env(_))) => {
            if let Some(p) = s
                .block(&raw.oidc_token, "oidc_token")
                .or_else(|| s.block(&raw.oidc_token_file_path, "oidc_token_file_path"))
                .or_else(|| s.block(&raw.oidc_request_url, "oidc_request_url"))
            {
                found.push(source(Oidc, p.origin));
            }
        }
        _ => {}
    }
    if let Some((true, origin @ Origin::Block(_))) = msi {
        found.push(source(ManagedIdentity, origin));
    }

    // Found only in the environment.
    for (kind, name) in [
        (Certificate, "ARM_CLIENT_CERTIFICATE"),
        (Certificate, "ARM_CLIENT_CERTIFICATE_PATH"),
        (Secret, "ARM_CLIENT_SECRET"),
        (Secret, "ARM_CLIENT_SECRET_FILE_PATH"),
    ] {
        if let Some(p) = s.env(&[name]) {
            found.push(source(kind, p.origin));
        }
    }
    if let Some((true, origin @ Origin::Env(_))) = oidc
        && !found.iter().any(|c| c.kind == Oidc)
    {
        found.push(source(Oidc, origin));
    }
    if let Some((true, origin @ Origin::Env(_))) = msi {
        found.push(source(ManagedIdentity, origin));
    }
    Ok((found, oidc))
}

/// The warning when several app-only credentials are configured.
fn several_credentials_warning(
    used: &CredentialSource,
    ignored: &[CredentialSource],
) -> ConfigWarning {
    let ignored: Vec<String> = ignored.iter().map(CredentialSource::describe).collect();
    ConfigWarning {
        summary: format!("Using the {} from {}", used.kind.name(), used.origin.name()),
        detail: format!(
            "Several app-only credentials are configured. The provider uses {}, and ignores {}. \
             A credential written in the provider block wins over any found only in the \
             environment; among several from the same place, the order is client certificate, \
             client secret, OIDC, managed identity. Remove the credentials you do not mean to use \
             to silence this warning.",
            used.describe(),
            ignored.join(", ")
        ),
    }
}

/// The app-only credential, by the precedence documented on [`AppOnlyCredential`].
fn resolve_app_only(
    s: &mut Sources<'_>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<
    (
        AppOnlyCredential,
        Option<CredentialSource>,
        Option<ConfigWarning>,
    ),
    ConfigError,
> {
    let (found, oidc_flag) = configured_app_only(s)?;
    let Some(used) = found.first().copied() else {
        return Ok((AppOnlyCredential::None, None, None));
    };
    let warning = (found.len() > 1).then(|| several_credentials_warning(&used, &found[1..]));
    let raw = s.raw;
    // The value of the chosen argument or variable.
    let value_of = |s: &mut Sources<'_>, attribute: &'static str, value: &Option<String>| {
        let picked = match used.origin {
            Origin::Block(_) => s.block(value, attribute),
            Origin::Env(name) => s.env(&[name]),
        }
        .expect("a configured credential has a value");
        s.record(attribute, &picked);
        picked
    };
    let credential = match used.kind {
        CredentialKind::Certificate => {
            let password = s
                .pick(
                    &raw.client_certificate_password,
                    "client_certificate_password",
                    &["ARM_CLIENT_CERTIFICATE_PASSWORD"],
                )
                .map(|p| Secret::new(p.value));
            let certificate = match used.origin.name() {
                "client_certificate" | "ARM_CLIENT_CERTIFICATE" => CertificateSource::Base64(
                    Secret::new(value_of(s, "client_certificate", &raw.client_certificate).value),
                ),
                _ => CertificateSource::Path(
                    value_of(s, "client_certificate_path", &raw.client_certificate_path).value,
                ),
            };
            AppOnlyCredential::ClientCertificate {
                certificate,
                password,
            }
        }
        CredentialKind::Secret => match used.origin.name() {
            "client_secret" | "ARM_CLIENT_SECRET" => AppOnlyCredential::ClientSecret(Secret::new(
                value_of(s, "client_secret", &raw.client_secret).value,
            )),
            _ => {
                let path = value_of(s, "client_secret_file_path", &raw.client_secret_file_path);
                let name = path.origin.name();
                let path = path.value;
                let text = read_file(&path).map_err(|e| {
                    error(
                        "client_secret_file_path",
                        "Cannot read the client secret file",
                        format!("{name} {path:?}: {e}"),
                    )
                })?;
                let secret = text.trim().to_string();
                if secret.is_empty() {
                    return Err(error(
                        "client_secret_file_path",
                        "The client secret file is empty",
                        format!("{name} {path:?} contains no secret."),
                    ));
                }
                AppOnlyCredential::ClientSecret(Secret::new(secret))
            }
        },
        CredentialKind::Oidc => resolve_oidc(s, oidc_flag)?,
        CredentialKind::ManagedIdentity => resolve_msi(s)?,
    };
    Ok((credential, Some(used), warning))
}

/// The OIDC token source: the block's arguments first, then the environment's; the request URL
/// and token fall back to the environment one by one.
fn resolve_oidc(s: &mut Sources<'_>, flag: Flag) -> Result<AppOnlyCredential, ConfigError> {
    let raw = s.raw;
    let enabled_by = flag.map_or("use_oidc", |(_, o)| o.name());
    let block_token = s.block(&raw.oidc_token, "oidc_token");
    let block_file = s.block(&raw.oidc_token_file_path, "oidc_token_file_path");
    let block_request = s.block(&raw.oidc_request_url, "oidc_request_url").is_some()
        || s.block(&raw.oidc_request_token, "oidc_request_token")
            .is_some();
    let (token, file) = if block_token.is_some() || block_file.is_some() || block_request {
        (block_token, block_file)
    } else {
        (
            s.env(&["ARM_OIDC_TOKEN"]),
            s.env(&["ARM_OIDC_TOKEN_FILE_PATH"]),
        )
    };
    if let Some(token) = token {
        s.record("oidc_token", &token);
        return Ok(AppOnlyCredential::Oidc(OidcSource::Token(Secret::new(
            token.value,
        ))));
    }
    if let Some(file) = file {
        s.record("oidc_token_file_path", &file);
        return Ok(AppOnlyCredential::Oidc(OidcSource::TokenFile(file.value)));
    }
    let url = s.pick(
        &raw.oidc_request_url,
        "oidc_request_url",
        &["ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL"],
    );
    let token = s.pick(
        &raw.oidc_request_token,
        "oidc_request_token",
        &["ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
    );
    match (url, token) {
        (Some(url), Some(token)) => {
            if !url.value.trim().starts_with("https://") {
                return Err(error(
                    "oidc_request_url",
                    "OIDC request URL must use https",
                    format!(
                        "{} {:?} is not an https:// URL: the request carries a bearer token and \
                         is only sent over TLS.",
                        url.origin.name(),
                        url.value
                    ),
                ));
            }
            Ok(AppOnlyCredential::Oidc(OidcSource::Request {
                url: url.value.trim().to_owned(),
                token: Secret::new(token.value),
            }))
        }
        (Some(url), None) => Err(error(
            "oidc_request_token",
            "Missing OIDC request token",
            format!(
                "{enabled_by} is true and {} is set, but no OIDC request token is: set \
                 oidc_request_token (ARM_OIDC_REQUEST_TOKEN), or in GitHub Actions grant the job \
                 `permissions: id-token: write` so that ACTIONS_ID_TOKEN_REQUEST_TOKEN is set.",
                url.origin.name()
            ),
        )),
        (None, Some(token)) => Err(error(
            "oidc_request_url",
            "Missing OIDC request URL",
            format!(
                "{enabled_by} is true and {} is set, but no OIDC request URL is: set \
                 oidc_request_url (ARM_OIDC_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_URL).",
                token.origin.name()
            ),
        )),
        (None, None) => Err(error(
            "use_oidc",
            "No OIDC token source",
            format!(
                "{enabled_by} is true but no OIDC token is configured: set oidc_token \
                 (ARM_OIDC_TOKEN), oidc_token_file_path (ARM_OIDC_TOKEN_FILE_PATH), or \
                 oidc_request_url and oidc_request_token (ARM_OIDC_REQUEST_URL / \
                 ARM_OIDC_REQUEST_TOKEN; in GitHub Actions, grant the job `permissions: id-token: \
                 write` and ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are used)."
            ),
        )),
    }
}

/// The managed identity endpoint: App Service's variables, else the VM metadata service.
fn resolve_msi(s: &mut Sources<'_>) -> Result<AppOnlyCredential, ConfigError> {
    let endpoint = non_empty((s.env)("IDENTITY_ENDPOINT"));
    let header = non_empty((s.env)("IDENTITY_HEADER"));
    match (endpoint, header) {
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
    }
}

/// Resolves arguments, then environment variables, then defaults.
pub fn resolve(
    raw: &RawProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<ProviderSettings, ConfigError> {
    let mut s = Sources {
        raw,
        env,
        origins: BTreeMap::new(),
    };

    let tenant_id = s.pick(&raw.tenant_id, "tenant_id", &["ARM_TENANT_ID"]);
    if let Some(tenant) = &tenant_id
        && !is_guid(&tenant.value)
    {
        return Err(error(
            "tenant_id",
            "Invalid tenant_id",
            format!(
                "{} {:?} is not a tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000).",
                tenant.origin.name(),
                tenant.value
            ),
        ));
    }
    let client_id = s.pick(&raw.client_id, "client_id", &["ARM_CLIENT_ID"]);
    if let Some(client) = &client_id
        && !is_guid(&client.value)
    {
        return Err(error(
            "client_id",
            "Invalid client_id",
            format!(
                "{} {:?} is not an application (client) ID (a GUID).",
                client.origin.name(),
                client.value
            ),
        ));
    }

    let (app_only, app_only_source, credential_warning) = resolve_app_only(&mut s, read_file)?;
    if app_only.needs_client_id() && client_id.is_none() {
        let from = app_only_source
            .map(|c| format!(" (from {})", c.origin.name()))
            .unwrap_or_default();
        return Err(error(
            "client_id",
            "Missing client_id",
            format!(
                "The {} credential is configured{from} but client_id (ARM_CLIENT_ID) is not: set \
                 it to the controller app's application (client) ID.",
                app_only.kind_name()
            ),
        ));
    }

    let environment = s.pick(&raw.environment, "environment", &["ARM_ENVIRONMENT"]);
    let cloud = match &environment {
        None => CLOUDS[0],
        Some(e) => find_cloud(&e.value).ok_or_else(|| {
            error(
                "environment",
                "Unknown environment",
                format!(
                    "{} {:?} is not one of {CLOUD_NAMES}.",
                    e.origin.name(),
                    e.value
                ),
            )
        })?,
    };

    let graph_override = s.pick(
        &raw.graph_endpoint,
        "graph_endpoint",
        &["M365BACKUP_GRAPH_ENDPOINT"],
    );
    if cloud.name != "public" && graph_override.is_none() {
        let (named, value) = environment
            .as_ref()
            .map_or(("environment", cloud.name), |e| {
                (e.origin.name(), e.value.as_str())
            });
        return Err(error(
            "environment",
            "Microsoft 365 Backup Storage is only available in the global cloud",
            format!(
                "{named} = {value:?}: Microsoft documents the Backup Storage Graph APIs for the \
                 global service only (not for US Government L4/L5 or China). Use environment = \
                 \"public\", or set graph_endpoint explicitly if your cloud offers the API."
            ),
        ));
    }
    let graph_endpoint = match &graph_override {
        Some(p) => validate_endpoint_named("graph_endpoint", p.origin.name(), &p.value)?,
        None => validate_endpoint("graph_endpoint", cloud.graph_host)?,
    };
    let authority_host = match s.pick(
        &raw.authority_host,
        "authority_host",
        &["M365BACKUP_AUTHORITY_HOST"],
    ) {
        Some(p) => validate_endpoint_named("authority_host", p.origin.name(), &p.value)?,
        None => validate_endpoint("authority_host", cloud.authority_host)?,
    };

    let api_version = s.pick(&raw.api_version, "api_version", &["M365BACKUP_API_VERSION"]);
    if let Some(p) = &api_version
        && p.value != "v1.0"
        && p.value != "beta"
    {
        return Err(error(
            "api_version",
            "Unknown api_version",
            format!(
                "{} {:?} is not \"v1.0\" or \"beta\".",
                p.origin.name(),
                p.value
            ),
        ));
    }
    let api_version = api_version.map_or_else(|| "v1.0".to_owned(), |p| p.value);

    let timeout = s.pick(
        &raw.request_timeout,
        "request_timeout",
        &["M365BACKUP_REQUEST_TIMEOUT"],
    );
    let request_timeout = match &timeout {
        None => Duration::from_secs(60),
        Some(p) => parse_duration(&p.value)
            .ok()
            .filter(|d| d.whole_seconds() >= 1 && d.whole_seconds() <= 3600)
            .map(|d| Duration::from_secs(d.whole_seconds() as u64))
            .ok_or_else(|| {
                error(
                    "request_timeout",
                    "Invalid request_timeout",
                    format!(
                        "{} {:?} must be a duration from 1s to 1h, such as \"60s\" or \"2m\".",
                        p.origin.name(),
                        p.value
                    ),
                )
            })?,
    };

    let max_retries = match raw.max_retries {
        Some(n) => {
            s.origins
                .insert("max_retries", Origin::Block("max_retries"));
            Some((n, "max_retries"))
        }
        None => match s.env(&["M365BACKUP_MAX_RETRIES"]) {
            None => None,
            Some(p) => {
                s.record("max_retries", &p);
                Some((
                    p.value.trim().parse::<i64>().map_err(|_| {
                        error(
                            "max_retries",
                            "Invalid max_retries",
                            format!(
                                "M365BACKUP_MAX_RETRIES={:?} is not a whole number.",
                                p.value
                            ),
                        )
                    })?,
                    "M365BACKUP_MAX_RETRIES",
                ))
            }
        },
    };
    let max_retries = match max_retries {
        None => 8,
        Some((n, _)) if (0..=50).contains(&n) => n,
        Some((n, name)) => {
            return Err(error(
                "max_retries",
                "Invalid max_retries",
                format!("{name} = {n} must be between 0 and 50."),
            ));
        }
    };

    // Delegated sources: the block's tokens, else the environment's (else, later, the token
    // cache written by `login`).
    let block_refresh = s.block(&raw.delegated_refresh_token, "delegated_refresh_token");
    let block_access = s.block(&raw.delegated_access_token, "delegated_access_token");
    let (refresh, access) = if block_refresh.is_some() || block_access.is_some() {
        (block_refresh, block_access)
    } else {
        (
            s.env(&["M365BACKUP_DELEGATED_REFRESH_TOKEN"]),
            s.env(&["M365BACKUP_DELEGATED_ACCESS_TOKEN"]),
        )
    };
    if let Some(p) = &refresh {
        s.record("delegated_refresh_token", p);
    }
    if let Some(p) = &access {
        s.record("delegated_access_token", p);
    }
    let token_cache_path = s.pick(
        &raw.token_cache_path,
        "token_cache_path",
        &["M365BACKUP_TOKEN_CACHE"],
    );

    Ok(ProviderSettings {
        tenant_id: tenant_id.map(|p| p.value),
        client_id: client_id.map(|p| p.value),
        app_only,
        app_only_source,
        delegated_refresh_token: refresh.map(|p| Secret::new(p.value)),
        delegated_access_token: access.map(|p| Secret::new(p.value)),
        token_cache_path: token_cache_path.map(|p| p.value),
        cloud,
        graph_endpoint,
        authority_host,
        api_version,
        request_timeout,
        max_retries: max_retries as u32,
        origins: s.origins,
        warnings: credential_warning.into_iter().collect(),
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
    fn environment_order_certificate_secret_oidc_msi() {
        let everything = [
            ("ARM_CLIENT_CERTIFICATE", "YmFzZTY0"),
            ("ARM_CLIENT_CERTIFICATE_PATH", "/cert.p12"),
            ("ARM_CLIENT_SECRET", "s"),
            ("ARM_CLIENT_SECRET_FILE_PATH", "/secret"),
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
            AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Base64("YmFzZTY0".into()),
                password: Some("pw".into()),
            },
            AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Path("/cert.p12".into()),
                password: Some("pw".into()),
            },
            AppOnlyCredential::ClientSecret("s".into()),
            AppOnlyCredential::ClientSecret("from-file".into()),
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

    fn with_app(raw: RawProviderConfig, vars: &[(&str, &str)]) -> ProviderSettings {
        let mut all = vec![("ARM_CLIENT_ID", APP)];
        all.extend_from_slice(vars);
        resolve_with(raw, &all).unwrap()
    }

    #[test]
    fn a_secret_file_in_the_block_beats_a_secret_in_the_environment() {
        let raw = RawProviderConfig {
            client_secret_file_path: Some("/secret".into()),
            ..Default::default()
        };
        let s = with_app(raw, &[("ARM_CLIENT_SECRET", "wrong")]);
        assert_eq!(
            s.app_only,
            AppOnlyCredential::ClientSecret("from-file".into())
        );
        assert_eq!(
            s.app_only_source,
            Some(CredentialSource {
                kind: CredentialKind::Secret,
                origin: Origin::Block("client_secret_file_path")
            })
        );
        assert_eq!(s.warnings.len(), 1);
        let w = &s.warnings[0];
        assert!(w.summary.contains("client_secret_file_path"), "{w:?}");
        assert!(w.detail.contains("ARM_CLIENT_SECRET"), "{w:?}");
        assert!(
            !format!("{w:?}").contains("wrong"),
            "no secret in the warning"
        );

        // The reverse: the secret in the block, a (broken) file path in the environment, which
        // is ignored without being read.
        let raw = RawProviderConfig {
            client_secret: Some("block".into()),
            ..Default::default()
        };
        let s = with_app(raw, &[("ARM_CLIENT_SECRET_FILE_PATH", "/nope")]);
        assert_eq!(s.app_only, AppOnlyCredential::ClientSecret("block".into()));
        assert!(s.warnings[0].summary.contains("client_secret"));
        assert!(s.warnings[0].detail.contains("ARM_CLIENT_SECRET_FILE_PATH"));
    }

    #[test]
    fn a_block_certificate_beats_an_environment_secret_and_takes_its_password_from_there() {
        let raw = RawProviderConfig {
            client_certificate_path: Some("/cert.p12".into()),
            ..Default::default()
        };
        let s = with_app(
            raw,
            &[
                ("ARM_CLIENT_SECRET", "s"),
                ("ARM_CLIENT_CERTIFICATE", "ZW52"),
                ("ARM_CLIENT_CERTIFICATE_PASSWORD", "pw"),
            ],
        );
        assert_eq!(
            s.app_only,
            AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Path("/cert.p12".into()),
                password: Some("pw".into()),
            }
        );
        assert_eq!(
            s.origin("client_certificate_password"),
            Some(Origin::Env("ARM_CLIENT_CERTIFICATE_PASSWORD"))
        );
        assert_eq!(
            s.source_name("client_certificate_path"),
            "client_certificate_path"
        );
        let d = &s.warnings[0].detail;
        assert!(
            d.contains("ARM_CLIENT_SECRET") && d.contains("ARM_CLIENT_CERTIFICATE"),
            "{d}"
        );
    }

    #[test]
    fn block_flags_beat_the_environment() {
        // use_msi = false in the block: ARM_USE_MSI is ignored, and nothing else is configured.
        let raw = RawProviderConfig {
            use_msi: Some(false),
            use_oidc: Some(false),
            ..Default::default()
        };
        let s = with_app(
            raw,
            &[
                ("ARM_USE_MSI", "true"),
                ("ARM_USE_OIDC", "true"),
                ("ARM_OIDC_TOKEN", "t"),
            ],
        );
        assert_eq!(s.app_only, AppOnlyCredential::None);
        assert!(s.warnings.is_empty());
        // use_msi = true in the block beats an environment secret.
        let raw = RawProviderConfig {
            use_msi: Some(true),
            ..Default::default()
        };
        let s = with_app(raw, &[("ARM_CLIENT_SECRET", "s")]);
        assert_eq!(
            s.app_only,
            AppOnlyCredential::ManagedIdentity(MsiSource::VmMetadata)
        );
        assert!(
            s.warnings[0]
                .summary
                .contains("managed identity from use_msi")
        );
        // ARM_USE_OIDC with the token file written in the block counts as the block's.
        let raw = RawProviderConfig {
            oidc_token_file_path: Some("/oidc".into()),
            ..Default::default()
        };
        let s = with_app(
            raw,
            &[
                ("ARM_USE_OIDC", "true"),
                ("ARM_OIDC_TOKEN", "env-token"),
                ("ARM_CLIENT_SECRET", "s"),
            ],
        );
        assert_eq!(
            s.app_only,
            AppOnlyCredential::Oidc(OidcSource::TokenFile("/oidc".into()))
        );
        // use_oidc in the block: the request URL from the block, its token from GitHub's variable.
        let raw = RawProviderConfig {
            use_oidc: Some(true),
            oidc_request_url: Some("https://block.example/t".into()),
            ..Default::default()
        };
        let s = with_app(
            raw,
            &[
                ("ARM_OIDC_TOKEN", "ignored"),
                ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/a"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t-gh"),
            ],
        );
        assert_eq!(
            s.app_only,
            AppOnlyCredential::Oidc(OidcSource::Request {
                url: "https://block.example/t".into(),
                token: "t-gh".into()
            })
        );
        assert_eq!(
            s.origin("oidc_request_token"),
            Some(Origin::Env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
        );
        assert_eq!(
            s.app_only_label().unwrap(),
            "OIDC federated token from oidc_request_url"
        );
        assert!(s.warnings.is_empty(), "one credential: {:?}", s.warnings);
    }

    #[test]
    fn one_credential_gives_no_warning() {
        let s = with_app(RawProviderConfig::default(), &[("ARM_CLIENT_SECRET", "s")]);
        assert!(s.warnings.is_empty());
        assert_eq!(
            s.app_only_source.unwrap().label(),
            "client secret from ARM_CLIENT_SECRET"
        );
    }

    #[test]
    fn delegated_tokens_from_the_block_replace_the_environments() {
        let raw = RawProviderConfig {
            delegated_access_token: Some("block-access".into()),
            ..Default::default()
        };
        let env = [
            ("M365BACKUP_DELEGATED_REFRESH_TOKEN", "env-refresh"),
            ("M365BACKUP_DELEGATED_ACCESS_TOKEN", "env-access"),
        ];
        let s = with_app(raw, &env);
        assert_eq!(s.delegated_access_token, Some("block-access".into()));
        assert_eq!(s.delegated_refresh_token, None);
        let s = with_app(RawProviderConfig::default(), &env);
        assert_eq!(s.delegated_refresh_token, Some("env-refresh".into()));
        assert_eq!(s.delegated_access_token, Some("env-access".into()));
        assert_eq!(
            s.origin("delegated_refresh_token"),
            Some(Origin::Env("M365BACKUP_DELEGATED_REFRESH_TOKEN"))
        );
    }

    #[test]
    fn azuread_environment_names_are_accepted() {
        for (name, cloud) in [
            ("global", "public"),
            ("Public", "public"),
            ("usgovernmentl4", "usgovernment"),
            ("usgovernmentl5", "dod"),
            ("china", "china"),
        ] {
            let raw = RawProviderConfig {
                environment: Some(name.into()),
                graph_endpoint: Some("https://127.0.0.1:8443".into()),
                ..Default::default()
            };
            assert_eq!(resolve_with(raw, &[]).unwrap().cloud.name, cloud, "{name}");
        }
        assert_eq!(
            find_cloud("usgovernmentl5").unwrap().graph_host,
            "https://dod-graph.microsoft.us"
        );
        let e =
            resolve_with(RawProviderConfig::default(), &[("ARM_ENVIRONMENT", "mars")]).unwrap_err();
        assert!(
            e.detail.contains("ARM_ENVIRONMENT") && e.detail.contains("global"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn errors_about_environment_values_name_the_variable() {
        let cases = [
            ("ARM_TENANT_ID", "contoso", "tenant_id"),
            ("ARM_CLIENT_ID", "x", "client_id"),
            ("M365BACKUP_API_VERSION", "v2", "api_version"),
            ("M365BACKUP_REQUEST_TIMEOUT", "forever", "request_timeout"),
            ("M365BACKUP_MAX_RETRIES", "99", "max_retries"),
            ("M365BACKUP_GRAPH_ENDPOINT", "http://x", "graph_endpoint"),
            ("M365BACKUP_AUTHORITY_HOST", "https://x/y", "authority_host"),
            (
                "ARM_CLIENT_SECRET_FILE_PATH",
                "/nope",
                "client_secret_file_path",
            ),
            ("ARM_USE_OIDC", "maybe", "use_oidc"),
        ];
        for (name, value, attribute) in cases {
            let e = resolve_with(
                RawProviderConfig::default(),
                &[("ARM_CLIENT_ID", APP), (name, value)],
            )
            .unwrap_err();
            assert_eq!(e.attribute, attribute, "{name}");
            assert!(e.detail.contains(name), "{name}: {}", e.detail);
        }
        // The same value written in the block names the argument.
        let raw = RawProviderConfig {
            tenant_id: Some("contoso".into()),
            ..Default::default()
        };
        let e = resolve_with(raw, &[]).unwrap_err();
        assert!(e.detail.starts_with("tenant_id "), "{}", e.detail);
        let e = kind(&[
            ("ARM_USE_OIDC", "true"),
            ("ARM_OIDC_REQUEST_URL", "https://a"),
        ])
        .unwrap_err();
        assert!(
            e.detail
                .contains("ARM_USE_OIDC is true and ARM_OIDC_REQUEST_URL"),
            "{}",
            e.detail
        );
    }

    /// Which sources a generated configuration has, in the block and in the environment:
    /// certificate (base64), certificate path, secret, secret file, OIDC, managed identity.
    #[derive(Clone, Debug)]
    struct Layout {
        block: [bool; 6],
        env: [bool; 6],
        block_msi_false: bool,
    }

    /// The reference model: the block's sources in order, then the environment's, OIDC and
    /// managed identity counted once per place they are enabled from.
    fn model(l: &Layout) -> Vec<(usize, bool)> {
        let mut out: Vec<(usize, bool)> =
            (0..6).filter(|i| l.block[*i]).map(|i| (i, true)).collect();
        for i in 0..6 {
            let enabled_in_block = match i {
                4 => l.block[4],
                5 => l.block[5] || l.block_msi_false,
                _ => false,
            };
            if l.env[i] && !enabled_in_block {
                out.push((i, false));
            }
        }
        out
    }

    fn expected_credential(index: usize, block: bool) -> AppOnlyCredential {
        let tag = if block { "b" } else { "e" };
        match index {
            0 => AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Base64(format!("{tag}-cert").into()),
                password: None,
            },
            1 => AppOnlyCredential::ClientCertificate {
                certificate: CertificateSource::Path(format!("/{tag}-cert.p12")),
                password: None,
            },
            2 => AppOnlyCredential::ClientSecret(format!("{tag}-secret").into()),
            3 => AppOnlyCredential::ClientSecret(format!("{tag}-file").into()),
            4 => AppOnlyCredential::Oidc(OidcSource::Token(format!("{tag}-oidc").into())),
            _ => AppOnlyCredential::ManagedIdentity(MsiSource::VmMetadata),
        }
    }

    fn layout() -> impl proptest::strategy::Strategy<Value = Layout> {
        use proptest::prelude::*;
        (any::<[bool; 6]>(), any::<[bool; 6]>(), any::<bool>()).prop_map(|(block, env, f)| Layout {
            block,
            env,
            block_msi_false: f && !block[5],
        })
    }

    proptest::proptest! {
        #[test]
        fn the_block_wins_then_the_kind_order(l in layout()) {
            let some = |on: bool, v: &str| on.then(|| v.to_owned());
            let raw = RawProviderConfig {
                client_certificate: some(l.block[0], "b-cert"),
                client_certificate_path: some(l.block[1], "/b-cert.p12"),
                client_secret: some(l.block[2], "b-secret"),
                client_secret_file_path: some(l.block[3], "/b-file"),
                use_oidc: l.block[4].then_some(true),
                oidc_token: some(l.block[4], "b-oidc"),
                use_msi: if l.block[5] { Some(true) } else if l.block_msi_false { Some(false) } else { None },
                ..Default::default()
            };
            let mut vars: Vec<(&str, &str)> = vec![("ARM_CLIENT_ID", APP)];
            let env_values = [
                ("ARM_CLIENT_CERTIFICATE", "e-cert"),
                ("ARM_CLIENT_CERTIFICATE_PATH", "/e-cert.p12"),
                ("ARM_CLIENT_SECRET", "e-secret"),
                ("ARM_CLIENT_SECRET_FILE_PATH", "/e-file"),
                ("ARM_USE_OIDC", "true"),
                ("ARM_USE_MSI", "true"),
            ];
            for (i, pair) in env_values.iter().enumerate() {
                if l.env[i] {
                    vars.push(*pair);
                }
            }
            if l.env[4] {
                vars.push(("ARM_OIDC_TOKEN", "e-oidc"));
            }
            let map: std::collections::HashMap<String, String> =
                vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let s = resolve(&raw, &|n| map.get(n).cloned(), &|p| match p {
                "/b-file" => Ok("b-file".into()),
                "/e-file" => Ok("e-file".into()),
                _ => Err("no such file".into()),
            })
            .unwrap();
            let expected = model(&l);
            match expected.first() {
                None => proptest::prop_assert_eq!(&s.app_only, &AppOnlyCredential::None),
                Some((index, block)) => {
                    proptest::prop_assert_eq!(&s.app_only, &expected_credential(*index, *block));
                    proptest::prop_assert_eq!(s.app_only_source.unwrap().origin.is_env(), !*block);
                }
            }
            proptest::prop_assert_eq!(s.warnings.len(), usize::from(expected.len() > 1));
            let printed = format!("{:?}", s.warnings);
            for secret in ["b-cert", "e-cert", "b-secret", "e-secret", "b-oidc", "e-oidc"] {
                proptest::prop_assert!(!printed.contains(&format!("\"{secret}")), "{printed}");
            }
        }
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
