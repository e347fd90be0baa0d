//! Read-only views of a tenant: its service status and its serviceApps.

pub mod service;
pub mod service_apps;
