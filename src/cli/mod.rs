//! The small CLI a person runs: `login` (device code, or authorization code + PKCE with
//! `--browser`), `login --status` and `logout`, over the token cache the provider reads.
//!
//! It honours the provider's environment variables: `ARM_TENANT_ID`, `ARM_CLIENT_ID`,
//! `ARM_ENVIRONMENT`, `M365BACKUP_AUTHORITY_HOST`, `M365BACKUP_TOKEN_CACHE`,
//! `M365BACKUP_REQUEST_TIMEOUT` and `M365BACKUP_MAX_RETRIES`.

mod login;
mod status;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::token_file::TokenCacheFile;
use crate::config::{CLOUD_NAMES, Cloud, find_cloud, validate_endpoint};

#[derive(Parser, Debug)]
#[command(
    name = "terraform-provider-m365backup",
    about = "Sign a tenant admin in to the Backup Storage controller app for the m365backup Terraform provider",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in (device code by default, or --browser) and store the delegated refresh token in
    /// the token cache, or show what is cached (--status).
    Login(LoginArgs),
    /// Remove cached sign-ins: all of them, or those matching --tenant / --client-id.
    Logout(LogoutArgs),
}

#[derive(Args, Debug)]
pub(crate) struct CommonArgs {
    /// Token cache file.
    #[arg(long, env = "M365BACKUP_TOKEN_CACHE", value_name = "PATH")]
    token_cache: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    /// Tenant to sign in to: a tenant ID, a domain, or `organizations` for one refresh token
    /// that the provider redeems in every tenant the admin manages.
    #[arg(long, env = "ARM_TENANT_ID", value_name = "T")]
    tenant: Option<String>,
    /// Application (client) ID of the controller app.
    #[arg(long, env = "ARM_CLIENT_ID", value_name = "C")]
    client_id: Option<String>,
    /// Entra authority (https only); default: the environment's, e.g. https://login.microsoftonline.com.
    #[arg(long, env = "M365BACKUP_AUTHORITY_HOST", value_name = "URL")]
    authority_host: Option<String>,
    /// Cloud: public (default), usgovernment, dod or china.
    #[arg(long, env = "ARM_ENVIRONMENT", value_name = "NAME")]
    environment: Option<String>,
    /// Authorization code + PKCE through a loopback redirect (http://localhost:PORT/) instead
    /// of a device code, where Conditional Access blocks device code.
    #[arg(long)]
    browser: bool,
    /// With --browser: only print the sign-in URL, do not try to open a browser.
    #[arg(long)]
    no_open: bool,
    /// With --browser: the loopback port to listen on (default: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// List the cached sign-ins (never the tokens) instead of signing in.
    #[arg(long)]
    status: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
pub(crate) struct LogoutArgs {
    /// Only sign-ins for this tenant (as given at login, e.g. `organizations`).
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// Only sign-ins for this client id.
    #[arg(long, value_name = "C")]
    client_id: Option<String>,
    /// Only sign-ins at this authority.
    #[arg(long, value_name = "URL")]
    authority_host: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// A failure the CLI reports: what went wrong and what to do.
#[derive(Debug)]
pub(crate) struct CliError {
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl From<crate::auth::AuthError> for CliError {
    fn from(e: crate::auth::AuthError) -> Self {
        let hint = e.hint();
        CliError::with_hint(e.to_string(), hint)
    }
}

/// Runs `login`/`logout` with the process arguments (the first being the subcommand).
pub fn run(args: &[String]) -> ExitCode {
    let argv =
        std::iter::once("terraform-provider-m365backup".to_owned()).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Login(args) if args.status => status::status(&args.common),
        Command::Login(args) => match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(login::login(args)),
            Err(e) => Err(CliError::new(format!(
                "cannot start the async runtime: {e}"
            ))),
        },
        Command::Logout(args) => status::logout(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", e.message);
            if let Some(h) = e.hint {
                eprintln!("\n{h}");
            }
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn cache_file(common: &CommonArgs) -> Result<TokenCacheFile, CliError> {
    TokenCacheFile::resolve(common.token_cache.as_deref()).map_err(CliError::new)
}

/// The cloud named by `--environment` / `ARM_ENVIRONMENT` (default public).
pub(crate) fn cloud(name: Option<&str>) -> Result<Cloud, CliError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("public");
    find_cloud(name)
        .ok_or_else(|| CliError::new(format!("environment {name:?} is not one of {CLOUD_NAMES}")))
}

/// `--authority-host`, else the cloud's authority; https only, scheme + host (+ port).
pub(crate) fn authority(configured: Option<&str>, cloud: &Cloud) -> Result<String, CliError> {
    let value = configured
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(cloud.authority_host);
    validate_endpoint("authority_host", value)
        .map_err(|e| CliError::new(format!("--authority-host: {}", e.detail)))
}

/// `M365BACKUP_REQUEST_TIMEOUT` (default 60 s): the bound on one Entra call with its retries.
pub(crate) fn request_timeout() -> Duration {
    std::env::var("M365BACKUP_REQUEST_TIMEOUT")
        .ok()
        .and_then(|t| crate::timefmt::parse_duration(&t).ok())
        .map(|d| d.whole_seconds())
        .filter(|s| (1..=3600).contains(s))
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(Duration::from_secs(60))
}

/// `M365BACKUP_MAX_RETRIES` (default 8).
pub(crate) fn max_retries() -> u32 {
    std::env::var("M365BACKUP_MAX_RETRIES")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .filter(|n| *n <= 50)
        .unwrap_or(crate::auth::DEFAULT_MAX_RETRIES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_commands() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                std::iter::once("terraform-provider-m365backup").chain(args.iter().copied()),
            )
        };
        let c = parse(&[
            "login",
            "--tenant",
            "organizations",
            "--client-id",
            "c",
            "--authority-host",
            "https://127.0.0.1:8443",
            "--browser",
        ])
        .unwrap();
        let Command::Login(l) = c.command else {
            panic!()
        };
        assert!(l.browser);
        assert_eq!(l.tenant.as_deref(), Some("organizations"));
        let c = parse(&["login", "--status"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Login(LoginArgs { status: true, .. })
        ));
        let c = parse(&["logout", "--tenant", "t"]).unwrap();
        assert!(matches!(c.command, Command::Logout(_)));
        assert!(parse(&["login", "--bogus"]).is_err());
    }

    #[test]
    fn authority_must_be_https() {
        let public = cloud(None).unwrap();
        assert_eq!(
            authority(None, &public).unwrap(),
            "https://login.microsoftonline.com"
        );
        assert_eq!(
            authority(Some("https://127.0.0.1:8443/"), &public).unwrap(),
            "https://127.0.0.1:8443"
        );
        let e = authority(Some("http://127.0.0.1:8443"), &public).unwrap_err();
        assert!(e.message.contains("https"), "{}", e.message);
        let china = cloud(Some("China")).unwrap();
        assert_eq!(
            authority(None, &china).unwrap(),
            "https://login.chinacloudapi.cn"
        );
        assert!(cloud(Some("mars")).is_err());
    }
}
