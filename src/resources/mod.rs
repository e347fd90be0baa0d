//! Terraform resources: thin adapters over [`crate::lifecycle`] and [`crate::graph`] on the
//! [`crate::framework`], and the controller lookups they share.

pub mod backup_notifications;
pub mod billing_enablement;
pub mod protection_policy;
pub mod service_app;
pub mod service_status;

use crate::auth::credential::delegated_sign_in_hint;
use crate::framework::ProviderContext;
use crate::lifecycle::Problem;
use crate::lifecycle::service_app::{
    self as lifecycle, AppStatus, Controller, ObservedApp, ObservedService,
};

/// Fails the plan when an activation or deactivation is planned without a delegated credential
/// usable in `tenant`.
pub fn require_delegated(ctx: &ProviderContext, tenant: &str) -> Result<(), Problem> {
    if ctx.auth.has_delegated_for(tenant) {
        return Ok(());
    }
    let hint = delegated_sign_in_hint(tenant, ctx.client_id.as_deref());
    Err(Problem::new(
        Some("activate"),
        "A delegated sign-in is needed to activate or deactivate",
        format!(
            "This plan activates or deactivates the Backup Storage controller app in tenant \
             {tenant}, which Microsoft Graph only allows with a delegated token. To fix: {hint}"
        ),
    ))
}

/// Looks up who controls the tenant (GET root + list serviceApps, concurrently).
pub async fn observe_controller(
    ctx: &ProviderContext,
    tenant: &str,
    our_app_id: &str,
) -> Result<Controller, Problem> {
    let (root, apps) = tokio::join!(
        ctx.graph.get_root(tenant),
        ctx.graph.list_service_apps(tenant)
    );
    let (root, apps) = (root?, apps?);
    let status = root.service_status.unwrap_or_default();
    let service = ObservedService {
        status: status.status.map(|s| s.as_str().to_string()),
        consumer: status
            .backup_service_consumer
            .map(|c| c.as_str().to_string()),
        last_modified: status.last_modified_date_time,
    };
    let apps: Vec<ObservedApp> = apps
        .into_iter()
        .map(|app| ObservedApp {
            status: app.status.unwrap_or_else(|| AppStatus::parse("")),
            effective_date_time: app.effective_date_time,
            id: app.id,
        })
        .collect();
    Ok(lifecycle::existing_controller(&service, &apps, our_app_id))
}

/// `skip_serializing_if` helper for private-state flags. Terraform stores the private state of
/// every resource instance and hands it back on every call, so fields at their default are left
/// out: a fleet of a thousand tenants carries no bytes for actions nobody planned.
pub(crate) fn is_false(flag: &bool) -> bool {
    !*flag
}
