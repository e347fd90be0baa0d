//! Errors of token acquisition, and the parsing of Entra ID's error answers.

use serde::Deserialize;

use super::TokenKind;

/// Why no token could be obtained. Never contains a secret or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential of the needed kind is configured. `hint` says how to configure one (it is
    /// not part of the message: diagnostics add [`AuthError::hint`] once).
    #[error("no {kind} credential is configured")]
    NotConfigured { kind: TokenKind, hint: String },

    /// Entra ID answered the token request with an error. The message blames the credential
    /// only when Entra's code says the credential itself was refused
    /// ([`credential_is_the_cause`]); otherwise it says no token could be had for the tenant.
    #[error(
        "{}",
        entra_message(credential, tenant, *status, error, aadsts.as_deref(), description, trace_id.as_deref(), correlation_id.as_deref())
    )]
    Entra {
        /// Which credential was presented: "client secret", "delegated refresh token", ...
        credential: &'static str,
        tenant: String,
        status: u16,
        /// OAuth `error`, e.g. `invalid_client`, `invalid_grant`.
        error: String,
        /// `AADSTSnnnn`, from `error_codes` or the description.
        aadsts: Option<String>,
        /// The app that asked, when known (for sign-in commands in the hint).
        client_id: Option<String>,
        /// First line of `error_description`, secrets redacted.
        description: String,
        trace_id: Option<String>,
        correlation_id: Option<String>,
    },

    /// The token endpoint could not be reached (connection, TLS, ...), after retries.
    #[error("could not reach the Entra ID token endpoint: {0}")]
    Transport(String),

    /// The token request (with its retries) did not finish within `request_timeout`.
    #[error("the Entra ID token request timed out (request_timeout)")]
    Timeout,

    /// The configuration cannot work (e.g. an `http://` authority host).
    #[error("invalid authentication configuration: {0}")]
    InvalidConfig(String),

    /// `delegated_access_token` belongs to another tenant.
    #[error(
        "delegated_access_token was issued for tenant {token_tenant} and cannot be used for tenant {tenant}"
    )]
    AccessTokenWrongTenant {
        token_tenant: String,
        tenant: String,
    },

    /// `delegated_access_token` has expired.
    #[error("delegated_access_token expired at {expired_at}")]
    AccessTokenExpired { expired_at: String },

    /// `delegated_access_token` is not a readable JWT.
    #[error("delegated_access_token is not a valid JWT access token: {0}")]
    InvalidAccessToken(String),

    /// A credential could not produce what it presents to Entra (a certificate that cannot
    /// sign, an unreadable OIDC token file, a failed GitHub token request, a managed identity
    /// of another tenant, ...).
    #[error("the {credential} credential could not be used: {message}")]
    Credential {
        credential: &'static str,
        message: String,
    },

    /// A managed identity's token is for its own tenant, not the one asked for.
    #[error(
        "the {credential} belongs to tenant {home}, and its tokens are valid there only, not in tenant {tenant}"
    )]
    IdentityOfAnotherTenant {
        credential: &'static str,
        home: String,
        tenant: String,
    },

    /// Entra ID answered with success but the body was not a token response.
    #[error("unexpected answer from the Entra ID token endpoint: {0}")]
    Decode(String),
}

impl AuthError {
    /// The Entra `AADSTSnnnn` code, when Entra sent one.
    pub fn aadsts(&self) -> Option<&str> {
        match self {
            AuthError::Entra { aadsts, .. } => aadsts.as_deref(),
            _ => None,
        }
    }

    /// What the user can do about it, one or two sentences.
    pub fn hint(&self) -> String {
        match self {
            AuthError::NotConfigured { hint, .. } => sentence(hint),
            AuthError::Entra {
                credential,
                aadsts,
                error,
                tenant,
                client_id,
                ..
            } => entra_hint(
                credential,
                aadsts.as_deref(),
                error,
                tenant,
                client_id.as_deref(),
            ),
            AuthError::Transport(msg) => {
                if looks_like_tls(msg) {
                    "The authority host's TLS certificate is not trusted. For the emulator, set \
                     SSL_CERT_FILE to its trust bundle; otherwise check the system CA store and any \
                     TLS-intercepting proxy."
                        .to_owned()
                } else {
                    "Check network access to the authority host (authority_host / \
                     M365BACKUP_AUTHORITY_HOST) and retry."
                        .to_owned()
                }
            }
            AuthError::Timeout => {
                "Entra ID did not answer in time; retry, or raise request_timeout \
                 (M365BACKUP_REQUEST_TIMEOUT)."
                    .to_owned()
            }
            AuthError::InvalidConfig(_) => "Fix the provider configuration.".to_owned(),
            AuthError::AccessTokenWrongTenant { .. } => {
                "A delegated access token only works in its own tenant: use a delegated refresh token \
                 (terraform-provider-m365backup login --tenant organizations --client-id <client-id>, or \
                 M365BACKUP_DELEGATED_REFRESH_TOKEN) to manage several tenants."
                    .to_owned()
            }
            AuthError::AccessTokenExpired { .. } => {
                "Obtain a fresh token, or use a delegated refresh token instead \
                 (terraform-provider-m365backup login, or M365BACKUP_DELEGATED_REFRESH_TOKEN)."
                    .to_owned()
            }
            AuthError::InvalidAccessToken(_) => {
                "Set delegated_access_token (M365BACKUP_DELEGATED_ACCESS_TOKEN) to a Microsoft Graph \
                 access token (a JWT)."
                    .to_owned()
            }
            AuthError::Decode(_) => {
                "Check that authority_host points at a Microsoft Entra ID authority.".to_owned()
            }
            AuthError::IdentityOfAnotherTenant { .. } => "Manage other tenants with a \
                 multi-tenant app registration (client certificate, client secret or OIDC \
                 federation), or use the managed identity for its own tenant only."
                .to_owned(),
            AuthError::Credential { credential, .. } => {
                if credential.starts_with("client certificate") {
                    "Check client_certificate / client_certificate_path and \
                     client_certificate_password (ARM_CLIENT_CERTIFICATE[_PATH], \
                     ARM_CLIENT_CERTIFICATE_PASSWORD)."
                        .to_owned()
                } else if credential.starts_with("OIDC federated token") {
                    "Check the OIDC token source (oidc_token, oidc_token_file_path, or \
                     oidc_request_url / oidc_request_token; in GitHub Actions the job needs \
                     `permissions: id-token: write`)."
                        .to_owned()
                } else if credential.starts_with("managed identity") {
                    "Check that the managed identity is enabled on this host (App Service: \
                     IDENTITY_ENDPOINT / IDENTITY_HEADER; VM: the metadata endpoint) and \
                     assigned to the app."
                        .to_owned()
                } else {
                    "Fix the credential configuration.".to_owned()
                }
            }
        }
    }

    /// The same error, with the credential named `label` (e.g. "client secret from
    /// ARM_CLIENT_SECRET": the kind and the argument or variable it came from).
    pub fn with_credential_label(mut self, label: &'static str) -> Self {
        match &mut self {
            AuthError::Entra { credential, .. }
            | AuthError::Credential { credential, .. }
            | AuthError::IdentityOfAnotherTenant { credential, .. } => *credential = label,
            _ => {}
        }
        self
    }
}

/// Entra codes that mean the presented credential itself was refused (a wrong or expired
/// secret, a certificate or federated token Entra does not accept, an invalid or expired
/// refresh token). Any other failure (unknown app or tenant, missing consent, Conditional
/// Access, ...) is not the credential's fault.
const CREDENTIAL_CODES: &[&str] = &[
    "AADSTS7000215",
    "AADSTS7000222",
    "AADSTS700027",
    "AADSTS700021",
    "AADSTS700023",
    "AADSTS700024",
    "AADSTS70021",
    "AADSTS700211",
    "AADSTS700212",
    "AADSTS700213",
    "AADSTS70000",
    "AADSTS700082",
    "AADSTS70008",
    "AADSTS50173",
    "AADSTS700084",
];

/// True when Entra's answer blames the credential presented (by AADSTS code; without one, by
/// the OAuth error code).
pub fn credential_is_the_cause(credential: &str, aadsts: Option<&str>, error: &str) -> bool {
    match aadsts {
        Some(code) => CREDENTIAL_CODES.contains(&code),
        None => {
            error == "invalid_client"
                || (error == "invalid_grant" && credential.contains("refresh"))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn entra_message(
    credential: &str,
    tenant: &str,
    status: u16,
    error: &str,
    aadsts: Option<&str>,
    description: &str,
    trace_id: Option<&str>,
    correlation_id: Option<&str>,
) -> String {
    let mut ids = format!("HTTP {status}, error {error}");
    if let Some(t) = trace_id {
        ids.push_str(&format!(", trace ID {t}"));
    }
    if let Some(c) = correlation_id {
        ids.push_str(&format!(", correlation ID {c}"));
    }
    let description = description.trim_end_matches('.');
    let what = match (aadsts, description.is_empty()) {
        (Some(code), false) => format!("{code}: {description}"),
        (Some(code), true) => code.to_owned(),
        (None, _) => description.to_owned(),
    };
    if credential_is_the_cause(credential, aadsts, error) {
        format!("Entra ID rejected the {credential} for tenant {tenant}: {what} ({ids})")
    } else if what.is_empty() {
        format!("could not get a token for tenant {tenant} ({ids})")
    } else {
        format!("could not get a token for tenant {tenant} ({what}; {ids})")
    }
}

/// `text` as a sentence: first letter in upper case, final period.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Stands in for the app's client ID in a suggested command when the error does not carry it.
pub(crate) const CLIENT_PLACEHOLDER: &str = "<client-id>";

pub(crate) fn looks_like_tls(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("certificate") || m.contains("tls") || m.contains("unknownissuer")
}

fn entra_hint(
    credential: &str,
    aadsts: Option<&str>,
    error: &str,
    tenant: &str,
    client_id: Option<&str>,
) -> String {
    let client = client_id.unwrap_or(CLIENT_PLACEHOLDER);
    let code = aadsts.unwrap_or("");
    let login =
        format!("`terraform-provider-m365backup login --tenant {tenant} --client-id {client}`");
    let sign_in = format!("{login} (or --tenant organizations for every tenant)");
    let refresh_advice = || match credential {
        super::credential::REFRESH_FROM_ENV => format!(
            "M365BACKUP_DELEGATED_REFRESH_TOKEN is set in the environment and outranks the \
             sign-ins that `login` keeps in the token cache, so the cache was not used. Unset it \
             to use the cache (after signing in with {login} if you have not), or set it to a \
             fresh refresh token."
        ),
        super::credential::REFRESH_FROM_BLOCK => format!(
            "delegated_refresh_token in the provider block outranks the environment and the \
             token cache: give it a fresh refresh token, or remove it and sign in with {sign_in}."
        ),
        super::credential::REFRESH_CACHED => format!("Sign in again with {sign_in}."),
        _ => format!(
            "Sign in again with {sign_in}, or set a fresh M365BACKUP_DELEGATED_REFRESH_TOKEN."
        ),
    };
    match code {
        // Entra's own description already says to send the secret's value, not its ID.
        "AADSTS7000215" | "AADSTS7000222" => format!(
            "Put the current secret in the {credential}, or create a new one under the app \
             registration's Certificates & secrets{}.",
            // A label with its source ("client secret from ARM_CLIENT_SECRET") says where.
            if credential.contains(" from ") {
                ""
            } else {
                " (client_secret / ARM_CLIENT_SECRET, or client_secret_file_path)"
            }
        ),
        "AADSTS700027" | "AADSTS700021" | "AADSTS700023" => format!(
            "Entra did not accept the {credential}'s client assertion: upload the certificate \
             (its public part, .cer/.pem) to the app registration under Certificates & secrets, \
             and check that client_id is that app."
        ),
        "AADSTS70021" | "AADSTS700211" | "AADSTS700212" | "AADSTS700213" => "No federated \
             credential of the app registration matches the OIDC token: add one (Certificates & \
             secrets > Federated credentials) whose issuer, subject (e.g. \
             repo:ORG/REPO:environment:NAME) and audience api://AzureADTokenExchange match the token."
            .to_owned(),
        "AADSTS700024" => format!(
            "The {credential} has expired or is not yet valid: OIDC tokens are short-lived (GitHub's \
             last minutes), so let the provider request them (oidc_request_url) or refresh the token \
             file; check the machine's clock."
        ),
        "AADSTS50011" | "AADSTS500113" | "AADSTS500117" => "The redirect URI is not registered: add \
             http://localhost as a redirect URI of the app registration (Authentication > Add a \
             platform > Mobile and desktop applications) to sign in with `login --browser`."
            .to_owned(),
        // Entra's description already says the app may lack consent in the tenant.
        "AADSTS700016" => format!(
            "Check that client_id (ARM_CLIENT_ID) is the controller app; an admin of tenant \
             {tenant} adds it at https://login.microsoftonline.com/{tenant}/v2.0/adminconsent?client_id={client}&scope=https://graph.microsoft.com/.default."
        ),
        "AADSTS90002" | "AADSTS900023" => "Set tenant_id on the resource or the provider \
             (ARM_TENANT_ID), and environment (ARM_ENVIRONMENT) for a national cloud."
            .to_owned(),
        "AADSTS70000" | "AADSTS700082" | "AADSTS70008" | "AADSTS50173" | "AADSTS700084" => {
            refresh_advice()
        }
        "AADSTS65001" | "AADSTS650057" | "AADSTS90094" => format!(
            "The app lacks admin consent in tenant {tenant}: a tenant admin must grant consent to \
             the Microsoft Graph permission BackupRestore-Control.ReadWrite.All (delegated and \
             application), e.g. at https://login.microsoftonline.com/{tenant}/v2.0/adminconsent?client_id={client}&scope=https://graph.microsoft.com/.default."
        ),
        "AADSTS7000218" => "The app registration must allow public client flows (Authentication > \
             Advanced settings > Allow public client flows = Yes) for device-code and refresh-token \
             sign-in without a client secret."
            .to_owned(),
        "AADSTS50076" | "AADSTS50079" | "AADSTS53003" | "AADSTS50158" => {
            "Conditional Access or MFA requires an interactive sign-in: run \
             `terraform-provider-m365backup login` (with --browser if device code is blocked)."
                .to_owned()
        }
        _ if error == "invalid_grant" && credential.contains("refresh") => refresh_advice(),
        _ if error == "invalid_client" => {
            format!("Check client_id (ARM_CLIENT_ID) and the {credential}.")
        }
        "" => "Check the credential configuration and authority_host \
               (M365BACKUP_AUTHORITY_HOST)."
            .to_owned(),
        _ => "Entra's error codes are explained at \
              https://learn.microsoft.com/entra/identity-platform/reference-error-codes."
            .to_owned(),
    }
}

/// The fields of an Entra ID OAuth error answer that we use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraErrorBody {
    pub error: String,
    pub aadsts: Option<String>,
    pub description: String,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

#[derive(Deserialize)]
struct RawEntraError {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<serde_json::Value>>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
}

/// Parses an Entra ID error answer. Never fails: a body that is not Entra's JSON gives
/// `error = "http_<status>"` and an excerpt of the body as description.
pub fn parse_entra_error(status: u16, body: &[u8]) -> EntraErrorBody {
    if let Ok(raw) = serde_json::from_slice::<RawEntraError>(body) {
        if raw.error.is_some() || raw.error_description.is_some() {
            let description_full = raw.error_description.unwrap_or_default();
            let code_from_list = raw.error_codes.as_ref().and_then(|codes| {
                codes.first().and_then(|c| match c {
                    serde_json::Value::Number(n) => Some(format!("AADSTS{n}")),
                    serde_json::Value::String(s) if s.chars().all(|c| c.is_ascii_digit()) => {
                        Some(format!("AADSTS{s}"))
                    }
                    _ => None,
                })
            });
            let aadsts = code_from_list.or_else(|| aadsts_in(&description_full));
            let trace_id = raw
                .trace_id
                .or_else(|| labelled_line(&description_full, "Trace ID:"));
            let correlation_id = raw
                .correlation_id
                .or_else(|| labelled_line(&description_full, "Correlation ID:"));
            return EntraErrorBody {
                error: raw.error.unwrap_or_else(|| format!("http_{status}")),
                aadsts,
                description: first_line_without_code(&description_full),
                trace_id,
                correlation_id,
            };
        }
    }
    EntraErrorBody {
        error: format!("http_{status}"),
        aadsts: None,
        description: excerpt(body, 300),
        trace_id: None,
        correlation_id: None,
    }
}

/// `AADSTS` followed by digits, anywhere in `text`.
fn aadsts_in(text: &str) -> Option<String> {
    let idx = text.find("AADSTS")?;
    let digits: String = text[idx + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if digits.is_empty() {
        None
    } else {
        Some(format!("AADSTS{digits}"))
    }
}

fn labelled_line(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix(label)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// The first line of an Entra description, without its leading `AADSTSnnnn:` (kept separately).
fn first_line_without_code(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    // Trace and correlation ids are reported separately (some answers put them on the same line).
    let line = line.split(" Trace ID:").next().unwrap_or(line).trim();
    let line = match line.strip_prefix("AADSTS") {
        Some(rest) => {
            let after_digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            after_digits
                .strip_prefix(':')
                .unwrap_or(after_digits)
                .trim()
        }
        None => line,
    };
    truncate_chars(line, 500)
}

/// A printable excerpt of at most `max` characters of a (possibly binary) body.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = collapsed.trim();
    if trimmed.is_empty() {
        "(empty body)".to_owned()
    } else {
        truncate_chars(trimmed, max)
    }
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_typical_entra_error() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 0a1b\r\nCorrelation ID: 9f8e\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"trace-1","correlation_id":"corr-1","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;
        let e = parse_entra_error(401, body);
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.aadsts.as_deref(), Some("AADSTS7000215"));
        assert_eq!(
            e.description,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value."
        );
        assert_eq!(e.trace_id.as_deref(), Some("trace-1"));
        assert_eq!(e.correlation_id.as_deref(), Some("corr-1"));
    }

    #[test]
    fn takes_code_and_ids_from_the_description_when_fields_are_missing() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired.\nTrace ID: t-2\nCorrelation ID: c-2"}"#;
        let e = parse_entra_error(400, body);
        assert_eq!(e.error, "invalid_grant");
        assert_eq!(e.aadsts.as_deref(), Some("AADSTS700082"));
        assert_eq!(e.description, "The refresh token has expired.");
        assert_eq!(e.trace_id.as_deref(), Some("t-2"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-2"));
    }

    #[test]
    fn ids_on_the_same_line_are_cut_from_the_description() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired. Trace ID: t-3 Correlation ID: c-3 Timestamp: 2024-01-01 00:00:00Z","error_codes":[700082],"trace_id":"t-3"}"#;
        let e = parse_entra_error(400, body);
        assert_eq!(e.description, "The refresh token has expired.");
        assert_eq!(e.trace_id.as_deref(), Some("t-3"));
    }

    #[test]
    fn string_error_codes_are_accepted() {
        let body = br#"{"error":"invalid_grant","error_codes":["70000"]}"#;
        let e = parse_entra_error(400, body);
        assert_eq!(e.aadsts.as_deref(), Some("AADSTS70000"));
        assert_eq!(e.description, "");
    }

    #[test]
    fn non_json_and_empty_bodies_still_give_an_error() {
        let e = parse_entra_error(502, b"<html><body>Bad gateway</body></html>");
        assert_eq!(e.error, "http_502");
        assert!(e.description.contains("Bad gateway"));
        let e = parse_entra_error(500, b"");
        assert_eq!(e.error, "http_500");
        assert_eq!(e.description, "(empty body)");
        let e = parse_entra_error(500, &[0xff, 0xfe, 0x00, 0x41]);
        assert_eq!(e.error, "http_500");
        let e = parse_entra_error(400, br#"{"unrelated":true}"#);
        assert_eq!(e.error, "http_400");
    }

    #[test]
    fn excerpt_is_bounded() {
        let long = "x".repeat(10_000);
        let e = excerpt(long.as_bytes(), 100);
        assert_eq!(e.chars().count(), 101);
    }

    #[test]
    fn sign_in_hints_name_the_app_and_tenant() {
        let expired = |client_id: Option<&str>| AuthError::Entra {
            credential: "delegated refresh token",
            tenant: "t1".into(),
            status: 400,
            error: "invalid_grant".into(),
            aadsts: Some("AADSTS700082".into()),
            client_id: client_id.map(str::to_owned),
            description: "The refresh token has expired.".into(),
            trace_id: None,
            correlation_id: None,
        };
        let hint = expired(Some("11111111-2222-3333-4444-555555555555")).hint();
        assert!(
            hint.contains("--tenant t1 --client-id 11111111-2222-3333-4444-555555555555"),
            "{hint}"
        );
        let hint = expired(None).hint();
        assert!(hint.contains("--client-id <client-id>"), "{hint}");
    }

    #[test]
    fn display_names_credential_and_code() {
        let e = AuthError::Entra {
            credential: "client secret",
            tenant: "t1".into(),
            status: 401,
            error: "invalid_client".into(),
            aadsts: Some("AADSTS7000215".into()),
            client_id: Some("11111111-2222-3333-4444-555555555555".into()),
            description: "Invalid client secret provided.".into(),
            trace_id: Some("tr".into()),
            correlation_id: None,
        };
        let s = e.to_string();
        assert!(s.contains("client secret"), "{s}");
        assert!(s.contains("AADSTS7000215"), "{s}");
        assert!(s.contains("tenant t1"), "{s}");
        assert!(s.contains("trace ID tr"), "{s}");
        assert!(e.hint().contains("ARM_CLIENT_SECRET"));
    }

    proptest::proptest! {
        #[test]
        fn parse_entra_error_never_panics(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let e = parse_entra_error(status, &body);
            proptest::prop_assert!(!e.error.is_empty());
        }

        #[test]
        fn aadsts_from_list_wins(code in 1u32..100_000_000) {
            let body = format!(r#"{{"error":"invalid_request","error_description":"AADSTS1: x","error_codes":[{code}]}}"#);
            let e = parse_entra_error(400, body.as_bytes());
            proptest::prop_assert_eq!(e.aadsts, Some(format!("AADSTS{code}")));
        }
    }
}
