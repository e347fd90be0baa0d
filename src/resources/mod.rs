//! Terraform resources: thin adapters over [`crate::lifecycle`] and [`crate::graph`] on the
//! [`crate::framework`].

pub mod backup_notifications;
pub mod billing_enablement;
pub mod controller;
pub mod creating_post;
pub mod inclusion_rule;
pub mod protection_policy;
pub mod protection_units;
pub mod service_app;
pub mod service_app_values;
pub mod service_status;

/// `skip_serializing_if` helper for private-state flags. Terraform stores the private state of
/// every resource instance and hands it back on every call, so fields at their default are left
/// out: a fleet of a thousand tenants carries no bytes for actions nobody planned.
pub(crate) fn is_false(flag: &bool) -> bool {
    !*flag
}
