//! Microsoft Graph Backup Storage control-plane client: HTTP (one shared reqwest client, retries
//! with `Retry-After`, a deadline per call, request-ids in every error) and the serde models.

// GraphError/AuthError are returned by value on purpose (plain fields for diagnostics);
// errors are rare and never on a hot path.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod client;
pub mod error;
pub mod http;
pub mod models;
pub mod retry;

#[cfg(test)]
mod io_tests;
#[cfg(test)]
pub(crate) mod testserver;

pub use crate::auth::TokenKind;
pub use client::{API_VERSIONS, GraphClient, GraphSettings, backup_restore_root_url};
pub use error::{GraphError, GraphErrorBody, GraphErrorKind, parse_graph_error};
pub use http::{MAX_BODY_BYTES, build_http_client, user_agent, validate_https};
pub use models::{BackupRestoreRoot, Identity, IdentitySet, ServiceApp, ServiceStatus};
