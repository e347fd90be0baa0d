//! `m365backup_service_app`: registers the configured app as a Backup Storage controller of a
//! tenant and activates it. Decisions live in [`crate::lifecycle::service_app`].

use async_trait::async_trait;
use tf_provider::value::Value;
use time::OffsetDateTime;

use super::controller::{activate_or_defer, observe_controller_if, require_controller_write};
use super::service_app_values::AppValues;
use crate::framework::resource::imported_state;
use crate::framework::values::{known, opt_str};
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::ServiceApp;
use crate::lifecycle::Problem;
use crate::lifecycle::service_app::{
    self as lifecycle, AppStatus, DateRequest, Deferral, Desired, DestroyDecision, PlannedAction,
    Subject,
};
use crate::timefmt::canonical_text;

crate::attributes! {
    /// Terraform state of one serviceApp.
    pub struct ServiceAppState {
        tenant_id: String => OptionalComputed, "Consuming tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.", replace = true;
        activate: bool => OptionalComputed, "Whether the app should be the controller (default `true`). `false` registers it only (`inactive`).", default = true;
        effective_date_time: String => Optional, "RFC 3339 activation time, 7 to 30 days ahead when the tenant already has a controller. Stored exactly as written; only validated when an activation is planned.";
        effective_after: String => Optional, "Duration such as `\"8d\"` or `\"192h\"`: the activation date is now plus this, fixed when the activation is planned. Conflicts with `effective_date_time`.";
        allow_unregister_while_active: bool => OptionalComputed, "Safety switch (default `false`): destroying the `active` controller is refused unless this is `true` in state. Unregistering an active controller starts a 7-day grace period and billing may continue up to 37 days.", default = false;
        id: String => Computed, "`<tenantId>/<serviceAppId>`.", stable = true;
        service_app_id: String => Computed, "The serviceApp ID (the app's application ID).", stable = true;
        application_id: String => Computed, "Graph's `application.id`, else the serviceApp ID.";
        status: String => Computed, "`inactive`, `pendingActive`, `active`, `pendingInactive`, or a newer value Graph sends; `unregistered` when someone unregistered the app outside Terraform after it was pending or active (Terraform keeps the resource and does not register it again).";
        activation_date_time: String => Computed, "Graph's `effectiveDateTime`: when the activation took or takes effect (for `pendingInactive`: when the other app takes over).";
        registration_date_time: String => Computed, "When the app was registered.", stable = true;
        last_modified_date_time: String => Computed, "When Graph last changed the serviceApp.";
        last_modified_by_user_id: String => Computed, "User who last changed the serviceApp, when Graph reports one.";
        last_modified_by_application_id: String => Computed, "Application that last changed the serviceApp, when Graph reports one.";
        activation_requested: bool => Computed, "Whether Microsoft Graph accepted an activation of this app (it became `pendingActive` or `active`). From then on, a cancellation or a takeover by another app is the customer's decision: Terraform warns and does not activate again; `terraform apply -replace` asks again.";
    }
}

impl ServiceAppState {
    /// Copies what Graph says into the computed attributes (canonical timestamps); configured
    /// arguments are never touched.
    fn apply_graph(&mut self, tenant: &str, app: &ServiceApp) {
        let values = AppValues::from(app);
        let recorded = self.activation_requested.as_option();
        let requested = lifecycle::activation_requested(app.status.as_ref(), recorded);
        self.tenant_id = Value::Value(tenant.to_string());
        self.id = Value::Value(format!("{tenant}/{}", app.id));
        self.service_app_id = values.id;
        self.application_id = values.application_id;
        self.status = values.status;
        self.activation_requested = Value::Value(requested);
        self.activation_date_time = values.effective_date_time;
        self.registration_date_time = values.registration_date_time;
        self.last_modified_date_time = values.last_modified_date_time;
        self.last_modified_by_user_id = values.last_modified_by_user_id;
        self.last_modified_by_application_id = values.last_modified_by_application_id;
    }

    /// The configured date; `None` while either argument is unknown (the apply-time plan
    /// decides then).
    fn date_request(&self) -> Option<DateRequest> {
        match (&self.effective_date_time, &self.effective_after) {
            (Value::Unknown, _) | (_, Value::Unknown) => None,
            (Value::Value(date), _) => Some(DateRequest::Exact(date.clone())),
            (_, Value::Value(after)) => Some(DateRequest::After(after.clone())),
            _ => Some(DateRequest::Unspecified),
        }
    }

    fn app_status(&self) -> AppStatus {
        AppStatus::parse(opt_str(&self.status).unwrap_or_default())
    }

    /// The tenant and serviceApp this state is about.
    fn subject(&self) -> Result<(String, String), Problem> {
        let tenant = known(&self.tenant_id, "tenant_id")?.to_string();
        let app_id = known(&self.service_app_id, "service_app_id")?.to_string();
        Ok((tenant, app_id))
    }

    /// Destroy's decision for an app in `status`, with the guard as recorded in this state.
    fn decide_destroy(
        &self,
        status: &AppStatus,
        activation: Option<&str>,
    ) -> Result<DestroyDecision, Problem> {
        let (tenant, app_id) = self.subject()?;
        let allow = self.allow_unregister_while_active == Value::Value(true);
        let (who, now) = (Subject::new(&tenant, &app_id), OffsetDateTime::now_utc());
        let decision = lifecycle::decide_destroy(status, allow, activation, who, now);
        Ok(decision)
    }
}

pub struct ServiceAppResource;

#[async_trait]
impl ManagedResource for ServiceAppResource {
    type State = ServiceAppState;
    type Private = PlannedAction;

    const DESCRIPTION: &'static str = "Makes the provider's app (`client_id`) the Microsoft 365 Backup Storage controller of a tenant: registers it as a serviceApp and activates it, at once when the tenant has no controller, or at an effective date 7 to 30 days ahead when it has one.";
    const IMPORT: ImportId = ImportId {
        key: "serviceAppId",
        key_meaning: "a serviceApp ID (the app's application ID)",
        bare_key: true,
        note: "",
        key_attribute: "service_app_id",
        id_has_key: true,
    };

    fn validate(config: &ServiceAppState) -> Vec<Problem> {
        let exact = opt_str(&config.effective_date_time);
        lifecycle::check_dates(exact, opt_str(&config.effective_after))
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: ServiceAppState,
        private: PlannedAction,
    ) -> Result<Option<(ServiceAppState, PlannedAction)>, Problem> {
        let (tenant, app_id) = state.subject()?;
        let app = call.ctx.graph.get_service_app(&tenant, &app_id).await?;
        if (call.ctx.client_id.as_deref()).is_some_and(|ours| ours.eq_ignore_ascii_case(&app_id)) {
            call.ctx.gates.saw_our_app(&tenant, app.clone());
        }
        let Some(app) = app else {
            let who = Subject::new(&tenant, &app_id);
            let Some(warning) = lifecycle::unregistered_outside(opt_str(&state.status), who) else {
                tracing::info!(tenant, app_id, "serviceApp gone; removing it from state");
                return Ok(None);
            };
            call.warn(warning);
            state.status = Value::Value(lifecycle::UNREGISTERED.into());
            return Ok(Some((state, private)));
        };
        state.apply_graph(&tenant, &app);
        Ok(Some((state, private)))
    }

    async fn plan_create(
        &self,
        call: &mut Call,
        mut planned: ServiceAppState,
        config: &ServiceAppState,
    ) -> Result<(ServiceAppState, PlannedAction), Problem> {
        let client_id = call
            .ctx
            .client_id_for("Registering a serviceApp needs the controller app's client ID")?;
        if let Value::Value(tenant) = &planned.tenant_id {
            planned.id = Value::Value(format!("{tenant}/{client_id}"));
            planned.service_app_id = Value::Value(client_id.clone());
        }
        // Unknown values (e.g. from other resources) are decided by the apply-time plan.
        let (Value::Value(tenant), Value::Value(activate), Some(request)) = (
            planned.tenant_id.clone(),
            planned.activate,
            config.date_request(),
        ) else {
            return Ok((planned, PlannedAction::default()));
        };
        if activate {
            require_controller_write(&call.ctx, &tenant, &client_id)?;
        }
        let needs = activate && request == DateRequest::Unspecified;
        let controller = observe_controller_if(needs, &call.ctx, &tenant, &client_id).await?;
        let (who, now) = (Subject::new(&tenant, &client_id), OffsetDateTime::now_utc());
        let plan = lifecycle::plan_create(activate, &request, controller.as_ref(), who, now)?;
        let (private, warning) = plan.into_action(request.attribute());
        call.warn_all(warning);
        Ok((planned, noted(call, &tenant, private)))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &ServiceAppState,
        mut planned: ServiceAppState,
        config: &ServiceAppState,
        _private: PlannedAction,
    ) -> Result<(ServiceAppState, PlannedAction), Problem> {
        let (Value::Value(activate), Some(date)) = (planned.activate, config.date_request()) else {
            planned.unknown_on_change();
            return Ok((planned, PlannedAction::default()));
        };
        let (tenant, app_id) = prior.subject()?;
        let (status, who) = (prior.app_status(), Subject::new(&tenant, &app_id));
        let desired = Desired {
            activate,
            activate_changed: prior.activate != planned.activate,
            date,
            activation_requested: prior.activation_requested.as_option().unwrap_or(true),
            date_changed: config.effective_date_time != prior.effective_date_time
                || config.effective_after != prior.effective_after,
        };
        let needs = lifecycle::update_needs_controller(&status, &desired);
        let controller = observe_controller_if(needs, &call.ctx, &tenant, &app_id).await?;
        let activation = opt_str(&prior.activation_date_time);
        let now = OffsetDateTime::now_utc();
        let decision =
            lifecycle::plan_update(&status, activation, &desired, controller.as_ref(), who, now)?;
        call.warn_all(decision.warnings);
        if decision.action.needs_delegated_token() {
            require_controller_write(&call.ctx, &tenant, &app_id)?;
            planned.unknown_on_change();
        }
        let private = PlannedAction::for_update(&decision.action, desired.date.attribute());
        Ok((planned, noted(call, &tenant, private)))
    }

    async fn plan_destroy(
        &self,
        call: &mut Call,
        prior: &ServiceAppState,
        private: PlannedAction,
    ) -> Result<PlannedAction, Problem> {
        let activation = opt_str(&prior.activation_date_time);
        let decision = prior.decide_destroy(&prior.app_status(), activation)?;
        call.warn_all(decision.for_plan()?);
        Ok(private)
    }

    async fn create(
        &self,
        call: &mut Call,
        planned: ServiceAppState,
        _config: &ServiceAppState,
        action: PlannedAction,
    ) -> Result<(ServiceAppState, PlannedAction), WriteError<ServiceAppState>> {
        let tenant = known(&planned.tenant_id, "tenant_id")?.to_string();
        // Re-check the date before any Graph call: a saved plan may be applied days later.
        let date = action.date_for_apply(OffsetDateTime::now_utc())?;
        let client = call.ctx.client_id.clone().unwrap_or_default();
        call.ctx.gates.invalidate(&tenant);
        let registered = (call.ctx.graph.register_or_adopt(&tenant, &client).await?)
            .ok_or_else(|| lifecycle::missing_after_register(&tenant, &client))?;
        let mut state = planned;
        state.apply_graph(&tenant, &registered);
        call.warn_all(action.deferred.as_ref().map(Deferral::warning));
        // An adopted registration that is already pending or active is not activated again.
        let Some(date) = date.filter(|_| !state.app_status().activation_accepted()) else {
            return Ok((state, PlannedAction::default()));
        };
        match activate_into(call, &mut state, &tenant, &registered.id, &date).await {
            Ok(()) => Ok((state, PlannedAction::default())),
            // Terraform records the registration (tainted) and replaces it safely.
            Err(problem) => Err(WriteError::Partial(state, problem)),
        }
    }

    async fn update(
        &self,
        call: &mut Call,
        prior: &ServiceAppState,
        mut state: ServiceAppState,
        _config: &ServiceAppState,
        action: PlannedAction,
    ) -> Result<(ServiceAppState, PlannedAction), WriteError<ServiceAppState>> {
        state.copy_computed_from(prior);
        if !action.deactivate && !action.activate {
            // Only Terraform's record changes.
            return Ok((state, PlannedAction::default()));
        }
        let (tenant, app_id) = prior.subject()?;
        let date = action.date_for_apply(OffsetDateTime::now_utc())?;
        call.ctx.gates.invalidate(&tenant);
        if action.deactivate {
            let app = call.ctx.graph.deactivate(&tenant, &app_id).await?;
            state.apply_graph(&tenant, &app);
            // The user's own choice: a later activate = true asks afresh.
            state.activation_requested = Value::Value(false);
        }
        let Some(date) = date else {
            return Ok((state, PlannedAction::default()));
        };
        let Err(problem) = activate_into(call, &mut state, &tenant, &app_id, &date).await else {
            return Ok((state, PlannedAction::default()));
        };
        // Record what Graph holds now, so state matches the tenant.
        let Ok(Some(app)) = call.ctx.graph.get_service_app(&tenant, &app_id).await else {
            return Err(WriteError::Failed(problem));
        };
        state.apply_graph(&tenant, &app);
        Err(WriteError::Partial(state, problem))
    }

    async fn delete(
        &self,
        call: &mut Call,
        prior: ServiceAppState,
        _private: PlannedAction,
    ) -> Result<(), Problem> {
        let (tenant, app_id) = prior.subject()?;
        // Decide on what Graph holds now (state may be stale, and Terraform < 1.3 never calls
        // plan_destroy), with the guard as recorded in state.
        let Some(current) = call.ctx.graph.get_service_app(&tenant, &app_id).await? else {
            return Ok(());
        };
        let status = current.status.unwrap_or_else(|| AppStatus::parse(""));
        let activation = current.effective_date_time.as_deref().map(canonical_text);
        let warning = prior
            .decide_destroy(&status, activation.as_deref())?
            .into_result()?;
        if let Err(e) = call.ctx.graph.delete_service_app(&tenant, &app_id).await
            && !e.is_not_found()
        {
            return Err(e.into());
        }
        call.warn_all(warning);
        Ok(())
    }

    async fn import(
        &self,
        call: &mut Call,
        tenant: String,
        app_id: String,
    ) -> Result<(ServiceAppState, PlannedAction), Problem> {
        match call.ctx.graph.get_service_app(&tenant, &app_id).await? {
            Some(_) => Ok((
                imported_state(&Self::IMPORT, tenant, app_id),
                Default::default(),
            )),
            None => Err(lifecycle::not_registered_for_import(&tenant, &app_id)),
        }
    }
}

/// Counts an immediate activation as done for the later plans of this process in the tenant.
fn noted(call: &Call, tenant: &str, action: PlannedAction) -> PlannedAction {
    if action.activates_now() {
        (call.ctx.gates).note_planned(tenant, |steps| steps.app_activation = true);
    }
    action
}

/// Activates (or defers, see [`activate_or_defer`]) and records Graph's answer in `state`.
async fn activate_into(
    call: &mut Call,
    state: &mut ServiceAppState,
    tenant: &str,
    app_id: &str,
    date: &str,
) -> Result<(), Problem> {
    let app = activate_or_defer(call, tenant, app_id, date).await?;
    app.into_iter()
        .for_each(|app| state.apply_graph(tenant, &app));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_values_fill_computed_attributes_and_keep_arguments() {
        let mut state = ServiceAppState {
            effective_date_time: Value::Value("2030-01-01T00:00:00+01:00".into()),
            activation_requested: Value::Value(false),
            ..Default::default()
        };
        let app = ServiceApp {
            id: "22222222-2222-2222-2222-222222222222".into(),
            status: Some(AppStatus::PendingActive),
            effective_date_time: Some("2029-12-31T23:00:00.0000000Z".into()),
            ..Default::default()
        };
        state.apply_graph("11111111-1111-1111-1111-111111111111", &app);
        let v = |s: &str| Value::Value(s.to_string());
        assert_eq!(state.effective_date_time, v("2030-01-01T00:00:00+01:00"));
        assert_eq!(state.activation_date_time, v("2029-12-31T23:00:00Z"));
        assert_eq!(state.activation_requested, Value::Value(true));
        let id = "11111111-1111-1111-1111-111111111111/22222222-2222-2222-2222-222222222222";
        assert_eq!(state.id, v(id));
    }
}
