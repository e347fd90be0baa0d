//! Read-only views of a tenant: its service status, its serviceApps, and what is backed up.

pub mod protection_policies;
pub mod protection_units;
pub mod restore_points;
pub mod service;
pub mod service_apps;
