//! Errors of Graph calls, and the parsing of Graph's error body.

use std::fmt;

use serde::Deserialize;

use crate::auth::AuthError;
use crate::auth::error::{excerpt, looks_like_tls, truncate_chars};

/// What kind of failure a [`GraphError`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphErrorKind {
    /// Graph answered with an error status (`status`, `code` and `message` are Graph's).
    Http,
    /// No token could be obtained.
    Auth(AuthError),
    /// The call, including its retries and waits, did not finish within `request_timeout`.
    /// `status`/`code` hold the last error answer, if any.
    Timeout,
    /// Graph could not be reached (connection, TLS, ...).
    Transport,
    /// Graph answered with success but the body could not be decoded.
    Decode,
    /// The client is misconfigured (e.g. an `http://` graph_endpoint, an unknown api_version).
    Config,
}

/// A failed Graph call, with everything a diagnostic needs. Never contains a token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub kind: GraphErrorKind,
    /// What was attempted, e.g. `"activate serviceApp"`.
    pub operation: &'static str,
    pub tenant: String,
    /// HTTP status of Graph's (last) answer.
    pub status: Option<u16>,
    /// Graph's `error.code`, or Entra's `AADSTSnnnn` for token failures.
    pub code: Option<String>,
    pub message: String,
    /// Graph's `request-id` (from the error body or the response header).
    pub request_id: Option<String>,
    /// The `client-request-id` the provider sent.
    pub client_request_id: Option<String>,
}

impl std::error::Error for GraphError {}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for tenant {} failed: ", self.operation, self.tenant)?;
        match (&self.kind, self.status) {
            (GraphErrorKind::Http, Some(s)) => {
                write!(f, "HTTP {s}")?;
                if let Some(c) = &self.code {
                    write!(f, " {c}")?;
                }
                write!(f, ": {}", self.message)?;
            }
            _ => f.write_str(&self.message)?,
        }
        if let Some(r) = &self.request_id {
            write!(f, " (request-id {r}")?;
            if let Some(c) = &self.client_request_id {
                write!(f, ", client-request-id {c}")?;
            }
            f.write_str(")")?;
        } else if let Some(c) = &self.client_request_id {
            write!(f, " (client-request-id {c})")?;
        }
        Ok(())
    }
}

impl GraphError {
    /// Graph answered 404.
    pub fn is_not_found(&self) -> bool {
        self.kind == GraphErrorKind::Http && self.status == Some(404)
    }

    /// Graph's (last) answer had status `s`.
    pub fn is_status(&self, s: u16) -> bool {
        self.status == Some(s)
    }

    /// Graph's error code equals `code` (case-insensitive).
    pub fn has_code(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    /// The token failure behind this error, if any.
    pub fn auth_error(&self) -> Option<&AuthError> {
        match &self.kind {
            GraphErrorKind::Auth(e) => Some(e),
            _ => None,
        }
    }

    /// A diagnostic for people: what happened, for which tenant, Graph's request-id, and what to
    /// do next.
    pub fn user_message(&self) -> String {
        let mut out = self.to_string();
        if !out.ends_with('.') {
            out.push('.');
        }
        let next = self.next_step();
        if !next.is_empty() {
            out.push(' ');
            out.push_str(&next);
        }
        out
    }

    fn next_step(&self) -> String {
        match &self.kind {
            GraphErrorKind::Auth(e) => e.hint(),
            GraphErrorKind::Timeout => "Graph did not answer in time (it may be throttling or \
                 unavailable): retry later, or raise request_timeout (M365BACKUP_REQUEST_TIMEOUT) \
                 / max_retries (M365BACKUP_MAX_RETRIES)."
                .to_owned(),
            GraphErrorKind::Transport => {
                if looks_like_tls(&self.message) {
                    "Graph's TLS certificate is not trusted: for the emulator, set SSL_CERT_FILE to \
                     its trust bundle; otherwise check the system CA store and any TLS-intercepting \
                     proxy."
                        .to_owned()
                } else {
                    "Check network access to graph_endpoint (M365BACKUP_GRAPH_ENDPOINT) and retry."
                        .to_owned()
                }
            }
            GraphErrorKind::Decode => "Graph's answer was not understood; if graph_endpoint is \
                 overridden, check that it points at Microsoft Graph. Retrying may help."
                .to_owned(),
            GraphErrorKind::Config => "Fix the provider configuration.".to_owned(),
            GraphErrorKind::Http => match self.status.unwrap_or(0) {
                400 => {
                    "Graph rejected the request as invalid; check the configured values.".to_owned()
                }
                401 => format!(
                    "Graph did not accept the token for tenant {}: check tenant_id and that the \
                     app is consented in that tenant.",
                    self.tenant
                ),
                402 => "The billing profile (Azure subscription) behind the app owner tenant is \
                     not valid: fix the billing policy, then re-run enable."
                    .to_owned(),
                403 => format!(
                    "Graph refused the operation: either the controller app lacks admin consent \
                     for BackupRestore-Control.ReadWrite.All in tenant {}, or the controller \
                     lifecycle forbids it in the current state (e.g. a pending controller change).",
                    self.tenant
                ),
                404 => "The object does not exist (any more).".to_owned(),
                409 => {
                    "Graph reports a conflict with the current state; refresh and retry.".to_owned()
                }
                429 => "Graph kept throttling the requests: retry later, or raise max_retries / \
                     request_timeout."
                    .to_owned(),
                500..=599 => "Graph is having trouble: retry later. If it persists, quote the \
                     request-id to Microsoft support."
                    .to_owned(),
                _ => String::new(),
            },
        }
    }

    pub(crate) fn new(
        kind: GraphErrorKind,
        operation: &'static str,
        tenant: &str,
        message: impl Into<String>,
    ) -> Self {
        GraphError {
            kind,
            operation,
            tenant: tenant.to_owned(),
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
            client_request_id: None,
        }
    }

    pub(crate) fn from_auth(operation: &'static str, tenant: &str, e: AuthError) -> Self {
        let code = match &e {
            AuthError::Entra { aadsts, error, .. } => {
                Some(aadsts.clone().unwrap_or_else(|| error.clone()))
            }
            _ => None,
        };
        let status = match &e {
            AuthError::Entra { status, .. } => Some(*status),
            _ => None,
        };
        let message = e.to_string();
        GraphError {
            kind: GraphErrorKind::Auth(e),
            operation,
            tenant: tenant.to_owned(),
            status,
            code,
            message,
            request_id: None,
            client_request_id: None,
        }
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{"request-id",...}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    pub date: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<Inner>,
}

#[derive(Deserialize)]
struct Inner {
    code: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
    #[serde(rename = "innerError", alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    #[serde(rename = "client-request-id")]
    client_request_id: Option<String>,
    date: Option<String>,
}

fn as_text(v: Option<serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s),
        serde_json::Value::Null => None,
        serde_json::Value::String(_) => None,
        other => Some(other.to_string()),
    }
}

/// Parses Graph's error body; `None` when the body is not one.
pub fn parse_graph_error(body: &[u8]) -> Option<GraphErrorBody> {
    let env: Envelope = serde_json::from_slice(body).ok()?;
    let inner = env.error?;
    let ie = inner.inner_error;
    Some(GraphErrorBody {
        code: as_text(inner.code),
        message: as_text(inner.message).map(|m| truncate_chars(&m, 1000)),
        request_id: ie.as_ref().and_then(|i| i.request_id.clone()),
        client_request_id: ie.as_ref().and_then(|i| i.client_request_id.clone()),
        date: ie.and_then(|i| i.date),
    })
}

/// Builds the error for a Graph error answer. Never fails, whatever the body.
pub(crate) fn error_from_answer(
    operation: &'static str,
    tenant: &str,
    status: u16,
    body: &[u8],
    header_request_id: Option<String>,
    client_request_id: &str,
    attempts: u32,
) -> GraphError {
    let parsed = parse_graph_error(body);
    let mut message = match &parsed {
        Some(p) => p
            .message
            .clone()
            .unwrap_or_else(|| "(no message)".to_owned()),
        None => format!("unexpected answer: {}", excerpt(body, 300)),
    };
    if attempts > 1 {
        message.push_str(&format!(" (after {attempts} attempts)"));
    }
    GraphError {
        kind: GraphErrorKind::Http,
        operation,
        tenant: tenant.to_owned(),
        status: Some(status),
        code: parsed.as_ref().and_then(|p| p.code.clone()),
        message,
        request_id: parsed
            .as_ref()
            .and_then(|p| p.request_id.clone())
            .or(header_request_id),
        client_request_id: Some(
            parsed
                .and_then(|p| p.client_request_id)
                .unwrap_or_else(|| client_request_id.to_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_error_body() {
        let body = br#"{"error":{"code":"Forbidden","message":"Method not allowed.","innerError":{"date":"2021-11-30T12:17:46","request-id":"01c3bdb8-fbb1-4613-96ad-be961ba99e11","client-request-id":"c-1"}}}"#;
        let p = parse_graph_error(body).unwrap();
        assert_eq!(p.code.as_deref(), Some("Forbidden"));
        assert_eq!(p.message.as_deref(), Some("Method not allowed."));
        assert_eq!(
            p.request_id.as_deref(),
            Some("01c3bdb8-fbb1-4613-96ad-be961ba99e11")
        );
        assert_eq!(p.client_request_id.as_deref(), Some("c-1"));
        assert_eq!(p.date.as_deref(), Some("2021-11-30T12:17:46"));
    }

    #[test]
    fn error_from_answer_prefers_body_request_id_then_header() {
        let body = br#"{"error":{"code":"BadRequest","message":"bad date","innerError":{"request-id":"from-body"}}}"#;
        let e = error_from_answer(
            "activate serviceApp",
            "t",
            400,
            body,
            Some("from-header".into()),
            "crid",
            1,
        );
        assert_eq!(e.request_id.as_deref(), Some("from-body"));
        assert_eq!(e.code.as_deref(), Some("BadRequest"));
        assert_eq!(e.client_request_id.as_deref(), Some("crid"));
        assert!(e.is_status(400) && !e.is_not_found());

        let body = br#"{"error":{"code":"itemNotFound","message":"nope"}}"#;
        let e = error_from_answer(
            "get serviceApp",
            "t",
            404,
            body,
            Some("from-header".into()),
            "crid",
            1,
        );
        assert_eq!(e.request_id.as_deref(), Some("from-header"));
        assert!(e.is_not_found());
        assert!(e.has_code("ITEMNOTFOUND"));
    }

    #[test]
    fn non_json_and_empty_bodies_still_give_useful_errors() {
        let e = error_from_answer(
            "get backupRestoreRoot",
            "t",
            502,
            b"<html>Bad Gateway</html>",
            None,
            "c",
            9,
        );
        assert_eq!(e.status, Some(502));
        assert!(e.code.is_none());
        assert!(e.message.contains("Bad Gateway"), "{}", e.message);
        assert!(e.message.contains("after 9 attempts"), "{}", e.message);
        let e = error_from_answer("get backupRestoreRoot", "t", 500, b"", None, "c", 1);
        assert!(e.message.contains("empty body"), "{}", e.message);
        let e = error_from_answer(
            "x",
            "t",
            400,
            br#"{"error":"string-not-object"}"#,
            None,
            "c",
            1,
        );
        assert_eq!(e.status, Some(400));
        let e = error_from_answer(
            "x",
            "t",
            400,
            br#"{"error":{"code":5,"message":null}}"#,
            None,
            "c",
            1,
        );
        assert_eq!(e.code.as_deref(), Some("5"));
        assert_eq!(e.message, "(no message)");
    }

    #[test]
    fn user_message_has_tenant_request_id_and_next_step() {
        let body = br#"{"error":{"code":"Forbidden","message":"A pending controller change is in progress.","innerError":{"request-id":"rid-1"}}}"#;
        let e = error_from_answer(
            "activate serviceApp",
            "tenant-9",
            403,
            body,
            None,
            "crid-1",
            1,
        );
        let m = e.user_message();
        assert!(m.contains("activate serviceApp for tenant tenant-9 failed: HTTP 403 Forbidden: A pending controller change is in progress."), "{m}");
        assert!(m.contains("request-id rid-1"), "{m}");
        assert!(m.contains("client-request-id crid-1"), "{m}");
        assert!(m.contains("BackupRestore-Control.ReadWrite.All"), "{m}");
    }

    #[test]
    fn auth_errors_carry_the_aadsts_code() {
        let e = GraphError::from_auth(
            "get backupRestoreRoot",
            "t",
            AuthError::Entra {
                credential: "client secret",
                tenant: "t".into(),
                status: 401,
                error: "invalid_client".into(),
                aadsts: Some("AADSTS7000215".into()),
                client_id: None,
                description: "Invalid client secret provided.".into(),
                trace_id: None,
                correlation_id: None,
            },
        );
        assert_eq!(e.code.as_deref(), Some("AADSTS7000215"));
        let m = e.user_message();
        assert!(
            m.contains("client secret") && m.contains("AADSTS7000215"),
            "{m}"
        );
        assert!(e.auth_error().is_some());
        assert!(!e.is_not_found());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_body(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let e = error_from_answer("get serviceApp", "t", status, &body, None, "c", 1);
            let _ = e.user_message();
            proptest::prop_assert_eq!(e.status, Some(status));
        }

        #[test]
        fn request_id_round_trips(rid in "[0-9a-f-]{1,40}", code in "[A-Za-z]{1,20}") {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m","innerError":{{"request-id":"{rid}"}}}}}}"#);
            let e = error_from_answer("op", "t", 400, body.as_bytes(), None, "c", 1);
            proptest::prop_assert_eq!(e.request_id, Some(rid));
            proptest::prop_assert_eq!(e.code, Some(code));
        }
    }
}
