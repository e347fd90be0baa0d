//! terraform-provider-m365backup: makes an app the Microsoft 365 Backup Storage controller of a
//! tenant, as Terraform resources.

pub mod auth;
pub mod cli;
pub mod config;
pub mod data_sources;
pub mod framework;
pub mod graph;
pub mod ids;
pub mod lifecycle;
pub mod logging;
pub mod plugin_socket;
pub mod provider;
pub mod resources;
pub mod secret;
pub mod timefmt;
pub mod transport;
