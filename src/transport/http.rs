//! The shared HTTP layer: building the one reqwest client, HTTPS validation, and sending one
//! logical request with retries under a deadline (used for Graph and for Entra token requests).

use std::time::{Duration, SystemTime};

use reqwest::{Method, RequestBuilder, Url};
use tokio::time::Instant;

use super::retry::{self, Decision, Failure, GiveUp};

/// Largest response body read before decoding; larger answers are an error. Graph echoes a bulk
/// addition job's inputs in its answer: 50,000 ids (the documented maximum) take about 2 MB
/// per id list, so the bound leaves room for both lists and a margin.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The `User-Agent` sent on every request.
pub fn user_agent() -> String {
    format!(
        "terraform-provider-m365backup/{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Builds the single HTTP client shared by Graph and Entra calls: rustls with the system trust
/// store (which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`), HTTPS only, connection reuse, HTTP/2 with
/// an adaptive window when the server offers it, no redirects (a bearer token must not follow
/// one), and a connect timeout.
pub fn build_http_client(request_timeout: Duration) -> Result<reqwest::Client, String> {
    let connect_timeout = request_timeout
        .min(Duration::from_secs(15))
        .max(Duration::from_millis(100));
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent())
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(32)
        .tcp_keepalive(Duration::from_secs(30))
        .http2_adaptive_window(true);
    if !request_timeout.is_zero() {
        // Safety net only: every call has its own deadline.
        builder = builder.timeout(request_timeout);
    }
    builder.build().map_err(|e| {
        format!(
            "could not set up the HTTPS client: {}",
            error_chain(&e as &dyn std::error::Error)
        )
    })
}

/// Parses `value` as an absolute `https://` URL with a host, for the setting named `what`
/// (e.g. `graph_endpoint`). Trailing slashes are allowed; query strings and fragments are not.
pub fn validate_https(what: &str, value: &str) -> Result<Url, String> {
    let trimmed = value.trim();
    let url =
        Url::parse(trimmed).map_err(|e| format!("{what} {trimmed:?} is not a valid URL ({e})"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "{what} must be an https:// URL, got {trimmed:?}: TLS is always required (the emulator \
             serves HTTPS too; trust its CA with SSL_CERT_FILE)"
        ));
    }
    if url.host_str().is_none_or(|h| h.is_empty()) {
        return Err(format!("{what} {trimmed:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{what} {trimmed:?} must not have a query string or fragment"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} must not contain credentials"));
    }
    Ok(url)
}

/// `base` with `segments` appended as percent-encoded path segments.
pub(crate) fn join_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .expect("an https URL can always be a base");
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    url
}

/// A response whose body has been read (at most `MAX_BODY_BYTES + 1` bytes).
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    /// The `Date` header (an HTTP-date): the server's clock when it answered.
    pub date: Option<String>,
    pub body: Vec<u8>,
    /// The body was longer than `MAX_BODY_BYTES` and has been cut.
    pub truncated: bool,
    /// Attempts made for this logical request, including this one.
    pub attempts: u32,
}

impl RawResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why `send_with_retries` produced no response.
#[derive(Debug, Clone)]
pub(crate) enum SendError {
    /// The deadline passed, or the next retry's wait would have passed it. `last` is the last
    /// error answer, if any.
    Timeout {
        attempts: u32,
        last: Option<Box<RawResponse>>,
        last_transport: Option<String>,
    },
    /// The request could not be sent or read, and retrying did not help (or was pointless).
    Transport { attempts: u32, message: String },
}

/// What is logged about a request; never contains a token.
pub(crate) struct LogContext<'a> {
    pub service: &'static str,
    pub operation: &'a str,
    pub tenant: &'a str,
    pub method: &'a Method,
    pub path: &'a str,
}

/// Sends the request built by `build` (called again for each attempt), retrying on 429/5xx and
/// transport errors per [`retry::decide`], until success, a non-retryable answer, `max_retries`
/// retries or the deadline. Error answers that are not retried are returned as `Ok` for the
/// caller to interpret; after the last retry the last error answer is returned as `Ok` too.
pub(crate) async fn send_with_retries(
    build: &(dyn Fn() -> RequestBuilder + Send + Sync),
    deadline: Instant,
    max_retries: u32,
    log: &LogContext<'_>,
) -> Result<RawResponse, SendError> {
    let mut attempts: u32 = 0;
    let mut last: Option<Box<RawResponse>> = None;
    let mut last_transport: Option<String> = None;
    loop {
        attempts += 1;
        let started = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, attempt(build(), attempts)).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (failure, retry_after) = match outcome {
            Err(_elapsed) => {
                tracing::debug!(
                    service = log.service,
                    operation = log.operation,
                    tenant = log.tenant,
                    method = %log.method,
                    path = log.path,
                    attempt = attempts,
                    elapsed_ms,
                    "request timed out at the deadline"
                );
                return Err(SendError::Timeout {
                    attempts,
                    last,
                    last_transport,
                });
            }
            Ok(Ok(resp)) => {
                tracing::debug!(
                    service = log.service,
                    operation = log.operation,
                    tenant = log.tenant,
                    method = %log.method,
                    path = log.path,
                    status = resp.status,
                    request_id = resp.request_id.as_deref().unwrap_or("-"),
                    attempt = attempts,
                    elapsed_ms,
                    "request"
                );
                if !retry::is_retryable_status(resp.status) {
                    return Ok(resp);
                }
                let ra = resp
                    .retry_after
                    .as_deref()
                    .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                let status = resp.status;
                last = Some(Box::new(resp));
                (Failure::Status(status), ra)
            }
            Ok(Err((message, tls))) => {
                tracing::debug!(
                    service = log.service,
                    operation = log.operation,
                    tenant = log.tenant,
                    method = %log.method,
                    path = log.path,
                    attempt = attempts,
                    elapsed_ms,
                    error = %message,
                    "request failed"
                );
                let failure = if tls {
                    Failure::Tls
                } else {
                    Failure::Transport
                };
                last_transport = Some(message);
                (failure, None)
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        match retry::decide(
            failure,
            attempts - 1,
            max_retries,
            remaining,
            retry_after,
            retry::random_jitter(),
        ) {
            Decision::RetryAfter(wait) => {
                tracing::debug!(
                    service = log.service,
                    operation = log.operation,
                    tenant = log.tenant,
                    wait_ms = wait.as_millis() as u64,
                    attempt = attempts,
                    "retrying"
                );
                tokio::time::sleep(wait).await;
            }
            Decision::GiveUp(GiveUp::DeadlineWouldPass) => {
                return Err(SendError::Timeout {
                    attempts,
                    last,
                    last_transport,
                });
            }
            Decision::GiveUp(_) => {
                if let Some(mut resp) = last.filter(|_| matches!(failure, Failure::Status(_))) {
                    resp.attempts = attempts;
                    return Ok(*resp);
                }
                return Err(SendError::Transport {
                    attempts,
                    message: last_transport.unwrap_or_else(|| "unknown error".to_owned()),
                });
            }
        }
    }
}

/// One attempt: send, then read the body up to the limit. Errors are (message, is_tls).
async fn attempt(req: RequestBuilder, attempts: u32) -> Result<RawResponse, (String, bool)> {
    let mut resp = req.send().await.map_err(|e| classify(&e))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let request_id = header("request-id").or_else(|| header("x-ms-request-id"));
    let retry_after = header("retry-after");
    let date = header("date");
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e))? {
        let room = MAX_BODY_BYTES + 1 - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        request_id,
        retry_after,
        date,
        body,
        truncated,
        attempts,
    })
}

fn classify(e: &reqwest::Error) -> (String, bool) {
    let message = error_chain(e as &dyn std::error::Error);
    (message, is_tls_error(e))
}

/// True when the error chain shows a failed TLS handshake (certificate not trusted, ...).
fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("unknownissuer") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// `e` and its sources, joined by ": " (reqwest's top-level message alone hides the cause).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required() {
        assert!(validate_https("graph_endpoint", "https://graph.microsoft.com").is_ok());
        assert!(validate_https("graph_endpoint", "https://127.0.0.1:8443/").is_ok());
        let e = validate_https("graph_endpoint", "http://127.0.0.1:8443").unwrap_err();
        assert!(
            e.contains("graph_endpoint") && e.contains("https://"),
            "{e}"
        );
        assert!(validate_https("authority_host", "login.microsoftonline.com").is_err());
        assert!(validate_https("authority_host", "https://x/?a=b").is_err());
        assert!(validate_https("authority_host", "https://u:p@x/").is_err());
        assert!(validate_https("authority_host", "").is_err());
    }

    #[test]
    fn segments_are_encoded_and_joined() {
        let base = Url::parse("https://h:1/").unwrap();
        assert_eq!(
            join_segments(&base, &["v1.0", "solutions", "a b/c"]).as_str(),
            "https://h:1/v1.0/solutions/a%20b%2Fc"
        );
        let base = Url::parse("https://h/prefix/").unwrap();
        assert_eq!(join_segments(&base, &["x"]).as_str(), "https://h/prefix/x");
    }

    #[test]
    fn client_builds() {
        build_http_client(Duration::from_secs(60)).unwrap();
        build_http_client(Duration::ZERO).unwrap();
    }
}
