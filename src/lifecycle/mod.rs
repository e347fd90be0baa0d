//! Pure decisions, one file per family: (prior state, configuration, observed Graph state,
//! clock) -> what to do and what to tell the user. No I/O here, so every combination can be
//! unit- and property-tested; resources only translate.

pub mod billing;
pub mod inclusion_rule;
pub mod notifications;
pub mod problem;
pub mod protection_policy;
pub mod protection_units;
pub mod restore_points;
pub mod service_app;

pub use problem::{Problem, Severity};
