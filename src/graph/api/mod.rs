//! Typed operations per entity set, on the generic verbs of [`super::GraphClient`]. Each file
//! names its operations (for messages and logs), paths and models; nothing else.

pub mod inclusion_rules;
pub mod notifications;
pub mod protection;
pub mod protection_policies;
pub mod restore_points;
pub mod root;
pub mod service_apps;
