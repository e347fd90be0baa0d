//! HTTPS transport shared by Entra (`auth`) and Graph (`graph`): the one reqwest client, retries
//! with `Retry-After`, deadlines per logical call, and log context. It knows neither tokens nor
//! Graph's error format, so both callers import it and nothing imports back.

pub mod http;
pub mod retry;

pub use http::{MAX_BODY_BYTES, build_http_client, user_agent, validate_https};
