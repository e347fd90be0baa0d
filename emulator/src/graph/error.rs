//! Graph's error answer as a value handlers return with `?`.
//!
//! The body needs the request ids the front layer assigned; they travel in a task-local
//! ([`REQUEST_IDS`]) so that `GraphError` can implement axum's `IntoResponse` on its own.

use axum::response::{IntoResponse, Response};

use crate::common::{ReqIds, graph_error};
use crate::lifecycle::LcError;

tokio::task_local! {
    /// Ids of the request being answered (set by the front layer around every request).
    pub static REQUEST_IDS: ReqIds;
}

/// The ids of the current request (fresh ones outside a request scope, e.g. in unit tests).
pub fn current_ids() -> ReqIds {
    REQUEST_IDS.try_with(Clone::clone).unwrap_or_else(|_| {
        let id = uuid::Uuid::new_v4().to_string();
        ReqIds {
            request_id: id.clone(),
            client_request_id: id,
        }
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Extra headers (e.g. `Allow` on 405, `WWW-Authenticate` on 401).
    pub headers: Vec<(&'static str, String)>,
}

impl GraphError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<LcError> for GraphError {
    fn from(e: LcError) -> Self {
        Self::new(e.status, e.code, e.message)
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut r = graph_error(&current_ids(), self.status, &self.code, &self.message);
        for (name, value) in self.headers {
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

pub type GraphResult<T = Response> = Result<T, GraphError>;
