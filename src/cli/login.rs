//! `login`: the device-code flow (default) or authorization code + PKCE through a loopback
//! redirect (`--browser`), then the refresh token goes to the token cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{CliError, LoginArgs};
use crate::auth::entra::TokenRequestContext;
use crate::auth::error::parse_entra_error;
use crate::auth::token_file::{CacheEntry, CacheKey, now_rfc3339};
use crate::auth::{AuthError, Secret, jwt};
use crate::transport::http::{LogContext, SendError, join_segments, send_with_retries};

/// Everything both flows need.
struct Session {
    http: reqwest::Client,
    authority: Url,
    authority_text: String,
    tenant: String,
    client_id: String,
    scope: String,
    counter: Arc<AtomicU64>,
}

impl Session {
    fn ctx(&self) -> TokenRequestContext<'_> {
        TokenRequestContext {
            http: &self.http,
            authority: &self.authority,
            deadline: Instant::now() + super::request_timeout(),
            max_retries: super::max_retries(),
            counter: &self.counter,
        }
    }
}

pub(super) async fn login(args: LoginArgs) -> Result<(), CliError> {
    let tenant = args
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            CliError::with_hint(
                "--tenant is required",
                "Give the tenant to sign in to (--tenant or ARM_TENANT_ID): a tenant ID, a domain, \
                 or `organizations` for one sign-in that works in every tenant you manage.",
            )
        })?
        .to_owned();
    let client_id = args
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            CliError::with_hint(
                "--client-id is required",
                "Give the controller app's application (client) ID (--client-id or ARM_CLIENT_ID).",
            )
        })?
        .to_owned();
    let cloud = super::cloud(args.environment.as_deref())?;
    let authority_text = super::authority(args.authority_host.as_deref(), &cloud)?;
    let authority = Url::parse(&authority_text).map_err(|e| CliError::new(e.to_string()))?;
    let file = super::cache_file(&args.common)?;
    let http =
        crate::transport::build_http_client(super::request_timeout()).map_err(CliError::new)?;
    let session = Session {
        http,
        authority,
        authority_text,
        tenant,
        client_id,
        scope: format!("{}/.default offline_access", cloud.graph_host),
        counter: Arc::new(AtomicU64::new(0)),
    };
    let tokens = if args.browser {
        browser_flow(&session, args.port, !args.no_open).await?
    } else {
        device_code_flow(&session).await?
    };
    let Some(refresh_token) = tokens.refresh_token else {
        return Err(CliError::new(
            "Entra signed you in but returned no refresh token (the offline_access scope was not \
             granted), so nothing could be cached",
        ));
    };
    let claims = jwt::decode_claims_unverified(tokens.access_token.expose()).unwrap_or_default();
    let user = claims
        .upn
        .or(claims.preferred_username)
        .or(claims.oid)
        .filter(|u| !u.trim().is_empty());
    let entry = CacheEntry {
        key: CacheKey::new(&session.authority_text, &session.tenant, &session.client_id),
        refresh_token,
        signed_in_at: now_rfc3339(),
        rotated_at: None,
        home_tenant: claims.tid.clone(),
        user: user.clone(),
    };
    file.upsert(entry).map_err(CliError::new)?;
    println!(
        "Signed in{}{} for tenant {} and client {}; the refresh token is stored in {}.",
        user.as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default(),
        claims
            .tid
            .as_deref()
            .map(|t| format!(" (home tenant {t})"))
            .unwrap_or_default(),
        session.tenant,
        session.client_id,
        file.path().display()
    );
    if crate::auth::token_file::is_multi_tenant(&session.tenant) {
        println!(
            "The provider redeems it in every tenant you can administer (resources' tenant_id)."
        );
    }
    Ok(())
}

/// The token answer of a completed sign-in.
struct SignedIn {
    access_token: Secret,
    refresh_token: Option<Secret>,
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    user_code: String,
    device_code: String,
    verification_uri: Option<String>,
    /// Older endpoints spell it `verification_url`.
    verification_url: Option<String>,
    expires_in: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
    message: Option<String>,
}

fn as_u64(v: &Option<serde_json::Value>) -> Option<u64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Explains an Entra error answer of the CLI's own requests.
fn entra_error(status: u16, body: &[u8], s: &Session, what: &'static str) -> CliError {
    let e = parse_entra_error(status, body);
    AuthError::Entra {
        credential: what,
        tenant: s.tenant.clone(),
        status,
        error: e.error,
        aadsts: e.aadsts,
        client_id: Some(s.client_id.clone()),
        description: e.description,
        trace_id: e.trace_id,
        correlation_id: e.correlation_id,
    }
    .into()
}

async fn device_code_flow(s: &Session) -> Result<SignedIn, CliError> {
    let url = join_segments(&s.authority, &[&s.tenant, "oauth2", "v2.0", "devicecode"]);
    let path = url.path().to_owned();
    let method = Method::POST;
    let log = LogContext {
        service: "entra",
        operation: "device code",
        tenant: &s.tenant,
        method: &method,
        path: &path,
    };
    let form = vec![
        ("client_id", s.client_id.clone()),
        ("scope", s.scope.clone()),
    ];
    let http = s.http.clone();
    let build = move || {
        http.post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
    };
    let ctx = s.ctx();
    let resp = match send_with_retries(&build, ctx.deadline, ctx.max_retries, &log).await {
        Ok(r) => r,
        Err(SendError::Timeout { .. }) => return Err(AuthError::Timeout.into()),
        Err(SendError::Transport { message, .. }) => {
            return Err(AuthError::Transport(message).into());
        }
    };
    if !resp.is_success() {
        return Err(entra_error(
            resp.status,
            &resp.body,
            s,
            "device code sign-in",
        ));
    }
    let answer: DeviceCodeAnswer = serde_json::from_slice(&resp.body).map_err(|_| {
        CliError::new("the device code endpoint answered something else than a device code")
    })?;
    let uri = answer
        .verification_uri
        .clone()
        .or(answer.verification_url.clone())
        .unwrap_or_else(|| "https://microsoft.com/devicelogin".to_owned());
    eprintln!(
        "{}",
        answer.message.clone().unwrap_or_else(|| format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {} to authenticate.",
            answer.user_code
        ))
    );
    eprintln!(
        "Sign in as an administrator of tenant {} and consent for the app if asked. Waiting...",
        s.tenant
    );
    let expires_at =
        Instant::now() + Duration::from_secs(as_u64(&answer.expires_in).unwrap_or(900).max(1));
    let mut interval = Duration::from_secs(as_u64(&answer.interval).unwrap_or(5).clamp(1, 60));
    let device_code = Secret::new(answer.device_code);
    loop {
        tokio::time::sleep(interval).await;
        if Instant::now() >= expires_at {
            return Err(expired_code());
        }
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", s.client_id.as_str()),
            ("device_code", device_code.expose()),
        ];
        match s
            .ctx()
            .redeem(
                &s.tenant,
                "device code sign-in",
                &form,
                &[device_code.expose()],
            )
            .await
        {
            Ok(r) => {
                return Ok(SignedIn {
                    access_token: r.access_token,
                    refresh_token: r.refresh_token,
                });
            }
            // RFC 8628 error codes (Entra sends them as `error`).
            Err(AuthError::Entra { error, .. }) if error == "authorization_pending" => {}
            Err(AuthError::Entra { error, .. }) if error == "slow_down" => {
                interval += Duration::from_secs(5);
            }
            Err(AuthError::Entra { error, .. }) if error == "expired_token" => {
                return Err(expired_code());
            }
            Err(AuthError::Entra { error, .. })
                if error == "authorization_declined" || error == "access_denied" =>
            {
                return Err(CliError::with_hint(
                    "the sign-in was declined",
                    "Run login again and approve the sign-in (and the app's consent prompt).",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn expired_code() -> CliError {
    CliError::with_hint(
        "the device code expired before the sign-in was completed",
        "Run `terraform-provider-m365backup login` again and enter the code within its lifetime.",
    )
}

fn random_urlsafe(bytes: usize) -> Result<String, CliError> {
    let mut buf = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .map_err(|_| CliError::new("no secure random numbers available"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The PKCE S256 challenge of `verifier`.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The authorize URL of the browser flow.
fn authorize_url(s: &Session, redirect_uri: &str, state: &str, challenge: &str) -> Url {
    let mut url = join_segments(&s.authority, &[&s.tenant, "oauth2", "v2.0", "authorize"]);
    url.query_pairs_mut()
        .append_pair("client_id", &s.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &s.scope)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    url
}

/// How long the loopback listener waits for the browser.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

async fn browser_flow(s: &Session, port: u16, open: bool) -> Result<SignedIn, CliError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| CliError::new(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::new(e.to_string()))?
        .port();
    let redirect_uri = format!("http://localhost:{port}/");
    let verifier = random_urlsafe(32)?;
    let state = random_urlsafe(16)?;
    let url = authorize_url(s, &redirect_uri, &state, &pkce_challenge(&verifier));
    eprintln!(
        "Open this URL in a browser and sign in as an administrator of tenant {}:\n",
        s.tenant
    );
    eprintln!("{url}\n");
    eprintln!(
        "Waiting for the browser to return to {redirect_uri} (the app registration needs the \
         redirect URI http://localhost under Mobile and desktop applications; Entra reports \
         AADSTS50011 otherwise)..."
    );
    if open {
        try_open_browser(url.as_str());
    }
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let params = loop {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
        let (mut stream, _) = match accepted {
            Err(_) => {
                return Err(CliError::with_hint(
                    "no sign-in came back within 5 minutes",
                    "Run login --browser again and open the printed URL.",
                ));
            }
            Ok(Err(e)) => return Err(CliError::new(format!("loopback listener failed: {e}"))),
            Ok(Ok(c)) => c,
        };
        let Some(target) = read_request_target(&mut stream).await else {
            continue;
        };
        let Ok(parsed) = Url::parse(&format!("http://localhost{target}")) else {
            let _ = respond(&mut stream, 400, "Bad request.").await;
            continue;
        };
        if parsed.path() != "/" {
            let _ = respond(&mut stream, 404, "Not found.").await;
            continue;
        }
        let params: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
        if params.get("state").map(String::as_str) != Some(state.as_str()) {
            let _ = respond(
                &mut stream,
                400,
                "Unexpected sign-in answer (state mismatch).",
            )
            .await;
            continue;
        }
        if params.contains_key("code") {
            let _ = respond(
                &mut stream,
                200,
                "Signed in. You can close this window and return to the terminal.",
            )
            .await;
        } else {
            let _ = respond(&mut stream, 200, "Sign-in failed: see the terminal.").await;
        }
        break params;
    };
    if let Some(error) = params.get("error") {
        let body = serde_json::json!({
            "error": error,
            "error_description": params.get("error_description").cloned().unwrap_or_default(),
        });
        return Err(entra_error(
            400,
            body.to_string().as_bytes(),
            s,
            "browser sign-in",
        ));
    }
    let code = Secret::new(params.get("code").cloned().unwrap_or_default());
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", s.client_id.as_str()),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
        ("scope", s.scope.as_str()),
    ];
    let r = s
        .ctx()
        .redeem(
            &s.tenant,
            "browser sign-in",
            &form,
            &[code.expose(), &verifier],
        )
        .await?;
    Ok(SignedIn {
        access_token: r.access_token,
        refresh_token: r.refresh_token,
    })
}

/// Reads an HTTP request head and returns its target (`/?code=...`).
async fn read_request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 16 * 1024 {
                break;
            }
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()??;
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.lines().next()?.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    (method == "GET").then(|| target.to_owned())
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: u16,
    text: &str,
) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><html><head><title>terraform-provider-m365backup</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Best effort: a desktop session opens the URL; elsewhere the printed URL is enough.
fn try_open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_challenge() {
        // Computed independently: base64url(SHA-256(verifier)) without padding.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mJ0vOS0FgjfDm7JePYlNd0ZAK8IhEI"),
            "bKHOkwZEBoSWI8QkwF0Aya3Ezs3WnvEdyoMaOW43RpM"
        );
    }

    #[test]
    fn authorize_url_shape() {
        let s = Session {
            http: reqwest::Client::new(),
            authority: Url::parse("https://login.example.test").unwrap(),
            authority_text: "https://login.example.test".into(),
            tenant: "organizations".into(),
            client_id: "app".into(),
            scope: "https://graph.microsoft.com/.default offline_access".into(),
            counter: Arc::new(AtomicU64::new(0)),
        };
        let u = authorize_url(&s, "http://localhost:1234/", "st", "ch");
        assert_eq!(u.path(), "/organizations/oauth2/v2.0/authorize");
        let q: HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["redirect_uri"], "http://localhost:1234/");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["response_type"], "code");
        assert!(q["scope"].contains("offline_access"));
    }
}
