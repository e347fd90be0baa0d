//! Small helpers shared by the Graph, Entra and admin handlers.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// Graph rejects request bodies larger than this with 413.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// The admin API takes larger bodies: a fault may carry an answer bigger than any Graph
/// request, to test a client's own limit on answers.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Past the limit the rest of a body is read and discarded up to this size, so that the
/// client gets its 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

pub const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Request ids assigned by the front layer (also echoed in Graph error bodies).
#[derive(Debug, Clone)]
pub struct ReqIds {
    pub request_id: String,
    pub client_request_id: String,
}

/// What a handler tells the request log about the caller.
#[derive(Debug, Clone, Default)]
pub struct LogMeta {
    pub token_kind: Option<&'static str>,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
}

/// Marker: the front layer drops the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

pub enum BodyError {
    TooLarge,
    Read,
}

/// Reads a request body up to [`BODY_LIMIT`].
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > limit {
                too_large = true;
                buf = Vec::new();
                if total > DRAIN_LIMIT {
                    break;
                }
            } else {
                buf.extend_from_slice(&data);
            }
        }
    }
    if too_large {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(buf))
}

pub fn graph_date_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Graph's error body: `{"error":{"code","message","innerError":{...}}}`.
pub fn graph_error(ids: &ReqIds, status: u16, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": graph_date_now(),
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        }
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn graph_json(status: StatusCode, value: &Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_JSON));
    resp
}

pub fn plain_json(status: StatusCode, value: &Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

pub fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    plain_json(status, &json!({ "error": message.into() }))
}

pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// `https://host[:port]` as the client addressed us.
pub fn base_url(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    if let Some(a) = uri.authority() {
        return format!("https://{a}");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("https://{host}")
}
