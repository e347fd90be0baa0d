//! The controller lookups and writes that resources share: who controls a tenant, whether a
//! delegated sign-in is there for activate/deactivate, an activation that defers on another
//! app's pending change, and whether a tenant allows protection writes (decisions 5 and 6).

use crate::auth::credential::delegated_sign_in_hint;
use crate::framework::Call;
use crate::framework::ProviderContext;
use crate::framework::gates::TenantSnapshot;
use crate::graph::{GraphError, ServiceApp};
use crate::lifecycle::Problem;
use crate::lifecycle::protection_policy::gating::Gate;
use crate::lifecycle::service_app::{
    self as lifecycle, AppStatus, Controller, ObservedApp, ObservedService, Subject,
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

/// Fails the plan unless this provider can activate or deactivate `app_id` in `tenant`: Graph
/// takes the calling app's registration, with a delegated token.
pub fn require_controller_write(
    ctx: &ProviderContext,
    tenant: &str,
    app_id: &str,
) -> Result<(), Problem> {
    let who = Subject::new(tenant, app_id);
    lifecycle::require_own_app(app_id, ctx.client_id.as_deref(), who)?;
    require_delegated(ctx, tenant)
}

/// Looks up who controls the tenant (GET root + list serviceApps, concurrently).
pub async fn observe_controller(
    ctx: &ProviderContext,
    tenant: &str,
    our_app_id: &str,
) -> Result<Controller, Problem> {
    // The same facts answer the protection gate (root + our serviceApp): share them when the
    // app looked up is the one that writes protection (the provider's client id).
    let seed = ctx
        .client_id
        .as_deref()
        .filter(|id| id.eq_ignore_ascii_case(our_app_id))
        .map(|_| ctx.gates.seed(tenant));
    let (root, apps) = tokio::join!(
        ctx.graph.get_root(tenant),
        ctx.graph.list_service_apps(tenant)
    );
    let (root, apps) = (root?, apps?);
    if let Some(seed) = seed {
        seed.fill(TenantSnapshot {
            service: root.service_status.clone(),
            our_app: apps
                .iter()
                .find(|app| app.id.eq_ignore_ascii_case(our_app_id))
                .cloned(),
        });
    }
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

/// [`observe_controller`] when the decision `needs` it (two Graph reads), else `None`.
pub async fn observe_controller_if(
    needs: bool,
    ctx: &ProviderContext,
    tenant: &str,
    our_app_id: &str,
) -> Result<Option<Controller>, Problem> {
    if !needs {
        return Ok(None);
    }
    observe_controller(ctx, tenant, our_app_id).await.map(Some)
}

/// Activates our app; `None` when Graph refused because another app's change is pending,
/// which is a tenant condition: a warning, and the app stays registered (the next plan
/// proposes the activation again).
pub async fn activate_or_defer(
    call: &mut Call,
    tenant: &str,
    app_id: &str,
    date: &str,
) -> Result<Option<ServiceApp>, Problem> {
    let graph = &call.ctx.graph;
    let error = match graph.activate_reconciled(tenant, app_id, date).await {
        Ok(app) => return Ok(Some(app)),
        Err(error) => error,
    };
    if error.is_status(403)
        && let pending @ Controller::ChangePending { .. } =
            observe_controller(&call.ctx, tenant, app_id).await?
    {
        let who = Subject::new(tenant, app_id);
        call.warn(lifecycle::waiting_for_pending(&pending, who));
        return Ok(None);
    }
    Err(error.into())
}

/// Whether `tenant` allows protection writes (decision 5), from the per-process lookup shared
/// by every resource of the tenant; `writer` says what needs the controller app's client id
/// ("Inclusion rules are changed by the controller app").
pub async fn protection_gate(call: &Call, tenant: &str, writer: &str) -> Result<Gate, Problem> {
    let client = call.ctx.client_id_for(writer)?;
    call.ctx.gates.gate(&call.ctx.graph, tenant, &client).await
}

/// Decision 6: Graph's refusals of a write for gating are undocumented (403, 409 or 423), so
/// the tenant's root and our serviceApp are read again; when the tenant does not allow the
/// write, the deferral reason (for `deferred_reason` and the warning). Steps planned in this
/// process do not count here: the refusal shows they have not taken effect. `None`: another
/// refusal, which stays an error.
pub async fn gated_refusal(call: &Call, tenant: &str, e: &GraphError) -> Option<String> {
    if ![403, 409, 423].iter().any(|s| e.is_status(*s)) {
        return None;
    }
    call.ctx.gates.invalidate(tenant);
    let client = call.ctx.client_id.as_deref()?;
    match call
        .ctx
        .gates
        .gate_as_observed(&call.ctx.graph, tenant, client)
        .await
    {
        Ok(Gate::Deferred(reason) | Gate::ReadOnlyWarn(reason)) => Some(reason),
        Ok(Gate::Allowed) => None,
        Err(problem) => {
            tracing::warn!(tenant, error = %problem.detail, "could not read the tenant again after a refused write");
            None
        }
    }
}
