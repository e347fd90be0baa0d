//! `m365backup_service_app`: registers the configured app as a Backup Storage controller of a
//! tenant and activates it. Decisions live in [`crate::lifecycle::service_app`].

use async_trait::async_trait;
use tf_provider::value::Value;
use time::OffsetDateTime;

use super::controller::{activate_or_defer, observe_controller, require_delegated};
use crate::framework::values::{known, text, timestamp};
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::ServiceApp;
use crate::lifecycle::Problem;
use crate::lifecycle::service_app::{
    self as lifecycle, ActivationDate, AppStatus, CreatePlan, DateRequest, Deferral, Desired,
    DestroyDecision, PlannedAction, Subject, UpdateAction,
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
        let by = app.last_modified_by.as_ref();
        let application = app.application.as_ref().and_then(|a| a.id.clone());
        self.tenant_id = Value::Value(tenant.to_string());
        self.id = Value::Value(format!("{tenant}/{}", app.id));
        self.service_app_id = Value::Value(app.id.clone());
        self.application_id = Value::Value(application.unwrap_or_else(|| app.id.clone()));
        self.status = text(app.status.as_ref());
        if let Some(AppStatus::PendingActive | AppStatus::Active | AppStatus::PendingInactive) =
            &app.status
        {
            self.activation_requested = Value::Value(true);
        } else if !self.activation_requested.is_value() {
            self.activation_requested = Value::Value(false);
        }
        self.activation_date_time = timestamp(app.effective_date_time.as_deref());
        self.registration_date_time = timestamp(app.registration_date_time.as_deref());
        self.last_modified_date_time = timestamp(app.last_modified_date_time.as_deref());
        self.last_modified_by_user_id =
            text(by.and_then(|b| b.user.as_ref()).and_then(|u| u.id.clone()));
        self.last_modified_by_application_id = text(
            by.and_then(|b| b.application.as_ref())
                .and_then(|a| a.id.clone()),
        );
    }

    fn date_request(&self) -> DateRequest {
        match (&self.effective_date_time, &self.effective_after) {
            (Value::Value(date), _) => DateRequest::Exact(date.clone()),
            (_, Value::Value(after)) => DateRequest::After(after.clone()),
            _ => DateRequest::Unspecified,
        }
    }

    fn app_status(&self) -> AppStatus {
        AppStatus::parse(self.status.as_ref_option().map_or("", String::as_str))
    }

    /// The tenant and serviceApp this state is about.
    fn subject(&self) -> Result<(String, String), Problem> {
        let tenant = known(&self.tenant_id, "tenant_id")?;
        Ok((
            tenant.into(),
            known(&self.service_app_id, "service_app_id")?.into(),
        ))
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
    };

    fn validate(config: &ServiceAppState) -> Vec<Problem> {
        let exact = config.effective_date_time.as_ref_option();
        let after = config.effective_after.as_ref_option();
        lifecycle::check_dates(exact.map(String::as_str), after.map(String::as_str))
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: ServiceAppState,
        private: PlannedAction,
    ) -> Result<Option<(ServiceAppState, PlannedAction)>, Problem> {
        let (tenant, app_id) = state.subject()?;
        let Some(app) = call.ctx.graph.get_service_app(&tenant, &app_id).await? else {
            if !matches!(state.app_status(), AppStatus::Inactive) && state.status.is_value() {
                // It was pending or active: someone unregistered it; keep it and say so.
                call.warn(lifecycle::unregistered_warning(Subject::new(
                    &tenant, &app_id,
                )));
                state.status = Value::Value(lifecycle::UNREGISTERED.into());
                return Ok(Some((state, private)));
            }
            tracing::info!(
                tenant,
                app_id,
                "serviceApp no longer exists; removing it from state"
            );
            return Ok(None);
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
        let (Value::Value(tenant), Value::Value(activate)) =
            (planned.tenant_id.clone(), planned.activate)
        else {
            return Ok((planned, PlannedAction::default()));
        };
        if config.effective_date_time.is_unknown() || config.effective_after.is_unknown() {
            return Ok((planned, PlannedAction::default()));
        }
        let request = config.date_request();
        if activate {
            require_delegated(&call.ctx, &tenant)?;
        }
        let controller = if activate && request == DateRequest::Unspecified {
            Some(observe_controller(&call.ctx, &tenant, &client_id).await?)
        } else {
            None
        };
        let who = Subject::new(&tenant, &client_id);
        let now = OffsetDateTime::now_utc();
        let private =
            match lifecycle::plan_create(activate, &request, controller.as_ref(), who, now)? {
                CreatePlan::RegisterOnly => PlannedAction::default(),
                CreatePlan::RegisterAndActivate(date) => {
                    if date == ActivationDate::Now {
                        let gates = &call.ctx.gates;
                        gates.note_planned(&tenant, |steps| steps.app_activation = true);
                    }
                    PlannedAction::activate(date, request.attribute())
                }
                CreatePlan::RegisterAndWait(warning) => {
                    let deferred = Some(Deferral::from(&warning));
                    call.warn(warning);
                    PlannedAction {
                        deferred,
                        ..Default::default()
                    }
                }
            };
        Ok((planned, private))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &ServiceAppState,
        mut planned: ServiceAppState,
        config: &ServiceAppState,
        _private: PlannedAction,
    ) -> Result<(ServiceAppState, PlannedAction), Problem> {
        let (Value::Value(activate), false, false) = (
            planned.activate,
            config.effective_date_time.is_unknown(),
            config.effective_after.is_unknown(),
        ) else {
            planned.unknown_on_change();
            return Ok((planned, PlannedAction::default()));
        };
        let (tenant, app_id) = prior.subject()?;
        let status = prior.app_status();
        let desired = Desired {
            activate,
            activate_changed: prior.activate != planned.activate,
            date: config.date_request(),
            activation_requested: prior.activation_requested.as_option().unwrap_or(true),
            date_changed: config.effective_date_time != prior.effective_date_time
                || config.effective_after != prior.effective_after,
        };
        let controller = if lifecycle::update_needs_controller(&status, &desired) {
            Some(observe_controller(&call.ctx, &tenant, &app_id).await?)
        } else {
            None
        };
        let decision = lifecycle::plan_update(
            &status,
            prior
                .activation_date_time
                .as_ref_option()
                .map(String::as_str),
            &desired,
            controller.as_ref(),
            Subject::new(&tenant, &app_id),
            OffsetDateTime::now_utc(),
        )?;
        decision.warnings.into_iter().for_each(|w| call.warn(w));
        if decision.action.needs_delegated_token() {
            let who = Subject::new(&tenant, &app_id);
            lifecycle::require_own_app(&app_id, call.ctx.client_id.as_deref(), who)?;
            require_delegated(&call.ctx, &tenant)?;
            planned.unknown_on_change();
        }
        if decision.action == UpdateAction::Activate(ActivationDate::Now) {
            let gates = &call.ctx.gates;
            gates.note_planned(&tenant, |steps| steps.app_activation = true);
        }
        let private = PlannedAction::for_update(&decision.action, desired.date.attribute());
        Ok((planned, private))
    }

    async fn plan_destroy(
        &self,
        call: &mut Call,
        prior: &ServiceAppState,
        private: PlannedAction,
    ) -> Result<PlannedAction, Problem> {
        let (tenant, app_id) = prior.subject()?;
        let allow = prior
            .allow_unregister_while_active
            .as_option()
            .unwrap_or(false);
        let activation = prior
            .activation_date_time
            .as_ref_option()
            .map(String::as_str);
        let now = OffsetDateTime::now_utc();
        let who = Subject::new(&tenant, &app_id);
        match lifecycle::decide_destroy(&prior.app_status(), allow, activation, who, now) {
            DestroyDecision::Refuse(problem) => Err(problem),
            DestroyDecision::Unregister { warning } => {
                if let Some(mut w) = warning {
                    // The apply reports the result; the plan announces it.
                    w.summary = "This plan unregisters the active Backup Storage controller".into();
                    call.warn(w);
                }
                Ok(private)
            }
        }
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
        let adopted_active = matches!(
            state.app_status(),
            AppStatus::Active | AppStatus::PendingActive
        );
        if let Some(deferral) = &action.deferred {
            call.warn(deferral.warning());
        }
        let Some(date) = date.filter(|_| !adopted_active) else {
            return Ok((state, PlannedAction::default()));
        };
        match activate_or_defer(call, &tenant, &registered.id, &date).await {
            Ok(app) => {
                app.into_iter()
                    .for_each(|app| state.apply_graph(&tenant, &app));
                Ok((state, PlannedAction::default()))
            }
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
        match activate_or_defer(call, &tenant, &app_id, &date).await {
            Ok(app) => app
                .into_iter()
                .for_each(|app| state.apply_graph(&tenant, &app)),
            // Record what Graph holds now, so state matches the tenant.
            Err(problem) => match call.ctx.graph.get_service_app(&tenant, &app_id).await {
                Ok(Some(app)) => {
                    state.apply_graph(&tenant, &app);
                    return Err(WriteError::Partial(state, problem));
                }
                _ => return Err(WriteError::Failed(problem)),
            },
        }
        Ok((state, PlannedAction::default()))
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
        let allow = prior
            .allow_unregister_while_active
            .as_option()
            .unwrap_or(false);
        let activation = current.effective_date_time.as_deref().map(canonical_text);
        let now = OffsetDateTime::now_utc();
        let who = Subject::new(&tenant, &app_id);
        match lifecycle::decide_destroy(&status, allow, activation.as_deref(), who, now) {
            DestroyDecision::Refuse(problem) => Err(problem),
            DestroyDecision::Unregister { warning } => {
                match call.ctx.graph.delete_service_app(&tenant, &app_id).await {
                    Err(e) if !e.is_not_found() => return Err(e.into()),
                    _ => {}
                }
                warning.into_iter().for_each(|w| call.warn(w));
                Ok(())
            }
        }
    }

    async fn import(
        &self,
        call: &mut Call,
        tenant: String,
        app_id: String,
    ) -> Result<(ServiceAppState, PlannedAction), Problem> {
        if call
            .ctx
            .graph
            .get_service_app(&tenant, &app_id)
            .await?
            .is_none()
        {
            return Err(Problem::error(
                "Cannot import serviceApp",
                format!(
                    "serviceApp {app_id} is not registered in tenant {tenant} (the tenant \
                     searched: the one in the import ID, else the provider's tenant_id or \
                     ARM_TENANT_ID). Import with `<tenantId>/<serviceAppId>` to name the tenant."
                ),
            ));
        }
        let state = ServiceAppState {
            id: Value::Value(format!("{tenant}/{app_id}")),
            tenant_id: Value::Value(tenant),
            activate: Value::Value(true),
            allow_unregister_while_active: Value::Value(false),
            service_app_id: Value::Value(app_id),
            ..Default::default()
        };
        Ok((state, PlannedAction::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Identity, IdentitySet};

    #[test]
    fn graph_values_are_canonicalised_and_arguments_kept() {
        let mut state = ServiceAppState {
            effective_date_time: Value::Value("2030-01-01T00:00:00+01:00".into()),
            activate: Value::Value(true),
            ..Default::default()
        };
        let user = Identity {
            id: Some("u".into()),
            display_name: None,
        };
        let app = ServiceApp {
            id: "22222222-2222-2222-2222-222222222222".into(),
            application: Some(Identity {
                id: Some("33333333-3333-3333-3333-333333333333".into()),
                display_name: None,
            }),
            status: Some(AppStatus::PendingActive),
            effective_date_time: Some("2029-12-31T23:00:00.0000000Z".into()),
            registration_date_time: Some("2026-11-23T09:00:00.45Z".into()),
            last_modified_date_time: None,
            last_modified_by: Some(IdentitySet {
                user: Some(user),
                ..Default::default()
            }),
        };
        state.apply_graph("11111111-1111-1111-1111-111111111111", &app);
        let v = |s: &str| Value::Value(s.to_string());
        assert_eq!(state.effective_date_time, v("2030-01-01T00:00:00+01:00"));
        assert_eq!(state.activation_date_time, v("2029-12-31T23:00:00Z"));
        assert_eq!(state.registration_date_time, v("2026-11-23T09:00:00.45Z"));
        assert_eq!(
            state.application_id,
            v("33333333-3333-3333-3333-333333333333")
        );
        assert_eq!(state.last_modified_by_user_id, v("u"));
        assert_eq!(state.last_modified_by_application_id, Value::Null);
        let id = "11111111-1111-1111-1111-111111111111/22222222-2222-2222-2222-222222222222";
        assert_eq!(state.id, v(id));
    }
}
