//! Terraform resources, and the helpers they share: Graph errors as diagnostics, the existing
//! controller lookup, the delegated sign-in check.

pub mod billing_enablement;
pub mod service_app;

use tf_provider::Diagnostics;
use tf_provider::value::Value;

use crate::auth::credential::delegated_sign_in_hint;
use crate::graph::GraphError;
use crate::lifecycle::{self, AppStatus, Controller, ObservedApp, ObservedService, Problem};
use crate::provider::{ProviderContext, add_problem};

/// A Graph failure as a diagnostic: what happened, for which tenant, Graph's request-id, and what
/// to do next (all in [`GraphError::user_message`]).
pub fn graph_problem(error: &GraphError) -> Problem {
    Problem {
        attribute: None,
        summary: format!("Microsoft Graph: {} failed", error.operation),
        detail: error.user_message(),
    }
}

/// A known string value from state; `None` (after an internal-error diagnostic is added by the
/// caller's framework) when the state is malformed.
pub fn opt(value: &Value<String>) -> Option<String> {
    value.as_ref_option().cloned()
}

/// Fails the plan when an activation or deactivation is planned without a delegated credential
/// usable in `tenant`.
pub fn require_delegated(
    ctx: &ProviderContext,
    tenant: &str,
    diags: &mut Diagnostics,
) -> Option<()> {
    if ctx.auth.has_delegated_for(tenant) {
        return Some(());
    }
    let hint = delegated_sign_in_hint(tenant, ctx.client_id.as_deref());
    add_problem(
        diags,
        &Problem {
            attribute: Some("activate"),
            summary: "A delegated sign-in is needed to activate or deactivate".into(),
            detail: format!(
                "This plan activates or deactivates the Backup Storage controller app in tenant \
                 {tenant}, which Microsoft Graph only allows with a delegated token. To fix: {hint}"
            ),
        },
        false,
    );
    None
}

/// Looks up who controls the tenant (GET root + list serviceApps).
pub async fn observe_controller(
    ctx: &ProviderContext,
    tenant: &str,
    our_app_id: &str,
    diags: &mut Diagnostics,
) -> Option<Controller> {
    let (root, apps) = tokio::join!(
        ctx.graph.get_root(tenant),
        ctx.graph.list_service_apps(tenant)
    );
    let (root, apps) = match (root, apps) {
        (Ok(root), Ok(apps)) => (root, apps),
        (Err(e), _) | (_, Err(e)) => {
            add_problem(diags, &graph_problem(&e), false);
            return None;
        }
    };
    let status = root.service_status.unwrap_or_default();
    let service = ObservedService {
        status: status.status,
        consumer: status.backup_service_consumer,
        last_modified: status.last_modified_date_time,
    };
    let apps: Vec<ObservedApp> = apps
        .into_iter()
        .map(|app| ObservedApp {
            status: AppStatus::parse(app.status.as_deref().unwrap_or("")),
            effective_date_time: app.effective_date_time,
            id: app.id,
        })
        .collect();
    Some(lifecycle::existing_controller(&service, &apps, our_app_id))
}

/// The error when Graph accepted a registration but the app cannot be read back.
pub fn missing_after_register(tenant: &str, app_id: &str) -> Problem {
    Problem {
        attribute: None,
        summary: "Registered serviceApp not found".into(),
        detail: format!(
            "Microsoft Graph accepted the registration in tenant {tenant}, but serviceApp {app_id} \
             cannot be read back. Check that client_id is the app the credentials belong to, then \
             run terraform apply again (a repeated registration is adopted, not duplicated)."
        ),
    }
}

/// `skip_serializing_if` helper for private-state flags. Terraform stores the private state of
/// every resource instance and hands it back on every call, so fields at their default are left
/// out: a fleet of a thousand tenants carries no bytes for actions nobody planned.
pub(crate) fn is_false(flag: &bool) -> bool {
    !*flag
}
