//! terraform-provider-m365backup: makes an app the Microsoft 365 Backup Storage controller of a
//! tenant, as Terraform resources.

pub mod lifecycle;
pub mod timefmt;
