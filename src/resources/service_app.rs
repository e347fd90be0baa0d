//! `m365backup_service_app`: registers the configured app as a Backup Storage controller of a
//! tenant and activates it. A thin adapter: decisions live in [`crate::lifecycle`], Graph calls
//! in [`crate::graph`].

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};
use time::OffsetDateTime;

use crate::graph::{GraphError, ServiceApp};
use crate::lifecycle::{
    self, ActivationDate, AppStatus, CreatePlan, DateRequest, Desired, DestroyDecision, Subject,
    UpdateAction,
};
use crate::provider::{ProviderContext, SharedContext, add_problem};
use crate::resources::{
    graph_problem, missing_after_register, observe_controller, opt, require_delegated,
};
use crate::schema::{Kind, attr, schema};
use crate::timefmt::{canonical, canonical_text, parse_rfc3339};

/// Terraform state of one serviceApp.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ServiceAppState {
    pub tenant_id: Value<String>,
    pub activate: Value<bool>,
    pub effective_date_time: Value<String>,
    pub effective_after: Value<String>,
    pub allow_unregister_while_active: Value<bool>,
    pub id: Value<String>,
    pub service_app_id: Value<String>,
    pub application_id: Value<String>,
    pub status: Value<String>,
    pub activation_date_time: Value<String>,
    pub registration_date_time: Value<String>,
    pub last_modified_date_time: Value<String>,
    pub last_modified_by_user_id: Value<String>,
    pub last_modified_by_application_id: Value<String>,
}

/// What the plan decided, carried to apply in Terraform's private state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PlannedAction {
    /// Activate the app (at `activate_at`, or now when that is `None`).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub activate: bool,
    /// The concrete activation date fixed by the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_at: Option<String>,
    /// Deactivate first (cancel a pending activation).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub deactivate: bool,
    /// Which attribute the date came from, for apply-time messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_attribute: Option<String>,
}

impl ServiceAppState {
    fn set_computed_unknown(&mut self) {
        for field in [
            &mut self.application_id,
            &mut self.status,
            &mut self.activation_date_time,
            &mut self.last_modified_date_time,
            &mut self.last_modified_by_user_id,
            &mut self.last_modified_by_application_id,
        ] {
            *field = Value::Unknown;
        }
    }

    fn copy_computed_from(&mut self, prior: &ServiceAppState) {
        self.id = prior.id.clone();
        self.service_app_id = prior.service_app_id.clone();
        self.application_id = prior.application_id.clone();
        self.status = prior.status.clone();
        self.activation_date_time = prior.activation_date_time.clone();
        self.registration_date_time = prior.registration_date_time.clone();
        self.last_modified_date_time = prior.last_modified_date_time.clone();
        self.last_modified_by_user_id = prior.last_modified_by_user_id.clone();
        self.last_modified_by_application_id = prior.last_modified_by_application_id.clone();
    }

    /// Copies what Graph says into the computed attributes (canonical timestamps); configured
    /// arguments are never touched.
    fn apply_graph(&mut self, tenant: &str, app: &ServiceApp) {
        let text = |v: &Option<String>| match v {
            Some(s) => Value::Value(canonical_text(s)),
            None => Value::Null,
        };
        self.tenant_id = Value::Value(tenant.to_string());
        self.id = Value::Value(format!("{tenant}/{}", app.id));
        self.service_app_id = Value::Value(app.id.clone());
        self.application_id = Value::Value(
            app.application
                .as_ref()
                .and_then(|a| a.id.clone())
                .unwrap_or_else(|| app.id.clone()),
        );
        self.status = app.status.clone().map(Value::Value).unwrap_or(Value::Null);
        self.activation_date_time = text(&app.effective_date_time);
        self.registration_date_time = text(&app.registration_date_time);
        self.last_modified_date_time = text(&app.last_modified_date_time);
        let by = app.last_modified_by.as_ref();
        self.last_modified_by_user_id = by
            .and_then(|b| b.user.as_ref())
            .and_then(|u| u.id.clone())
            .map(Value::Value)
            .unwrap_or(Value::Null);
        self.last_modified_by_application_id = by
            .and_then(|b| b.application.as_ref())
            .and_then(|a| a.id.clone())
            .map(Value::Value)
            .unwrap_or(Value::Null);
    }

    fn date_request(&self) -> DateRequest {
        match (&self.effective_date_time, &self.effective_after) {
            (Value::Value(date), _) => DateRequest::Exact(date.clone()),
            (_, Value::Value(after)) => DateRequest::After(after.clone()),
            _ => DateRequest::Unspecified,
        }
    }

    fn app_status(&self) -> AppStatus {
        AppStatus::parse(
            self.status
                .as_ref_option()
                .map(String::as_str)
                .unwrap_or(""),
        )
    }
}

pub struct ServiceAppResource {
    shared: SharedContext,
}

impl ServiceAppResource {
    pub fn new(shared: SharedContext) -> Self {
        Self { shared }
    }
}

fn subject<'a>(tenant: &'a str, app_id: &'a str) -> Subject<'a> {
    Subject {
        tenant_id: tenant,
        app_id,
    }
}

/// Fills Optional+Computed arguments the configuration left null with their defaults.
fn fill_defaults(
    state: &mut ServiceAppState,
    ctx: &ProviderContext,
    diags: &mut Diagnostics,
) -> Option<()> {
    if state.tenant_id.is_null() {
        match ctx.tenant_for(None) {
            Ok(t) => state.tenant_id = Value::Value(t),
            Err(p) => {
                add_problem(diags, &p, false);
                return None;
            }
        }
    } else if let Value::Value(t) = &state.tenant_id
        && let Err(p) = ctx.tenant_for(Some(t))
    {
        add_problem(diags, &p, false);
        return None;
    }
    if state.activate.is_null() {
        state.activate = Value::Value(true);
    }
    if state.allow_unregister_while_active.is_null() {
        state.allow_unregister_while_active = Value::Value(false);
    }
    Some(())
}

/// Configuration errors that need no Graph call.
fn validate_arguments(config: &ServiceAppState, diags: &mut Diagnostics) {
    if config.effective_date_time.is_value() && config.effective_after.is_value() {
        diags.error(
            "Conflicting arguments",
            "Set either effective_date_time or effective_after, not both.",
            AttributePath::new("effective_after"),
        );
    }
}

fn private_for(date: ActivationDate, attribute: Option<&'static str>) -> PlannedAction {
    PlannedAction {
        activate: true,
        activate_at: match date {
            ActivationDate::Now => None,
            ActivationDate::At(d) => Some(canonical(d)),
        },
        deactivate: false,
        date_attribute: attribute.map(str::to_string),
    }
}

/// Sends an activation and reconciles by GET when it fails: a lost response after Graph applied
/// it, or a retry that Graph refused because the first attempt already worked, is a success.
async fn activate_reconciled(
    ctx: &ProviderContext,
    tenant: &str,
    app_id: &str,
    date: &str,
) -> Result<ServiceApp, GraphError> {
    match ctx.graph.activate(tenant, app_id, date).await {
        Ok(app) => Ok(app),
        Err(error) => {
            tracing::debug!(
                tenant,
                app_id,
                "activate failed; checking the app's status before reporting"
            );
            match ctx.graph.get_service_app(tenant, app_id).await {
                Ok(Some(app))
                    if matches!(
                        AppStatus::parse(app.status.as_deref().unwrap_or("")),
                        AppStatus::Active | AppStatus::PendingActive
                    ) =>
                {
                    tracing::info!(tenant, app_id, "activation had been applied; continuing");
                    Ok(app)
                }
                _ => Err(error),
            }
        }
    }
}

/// The date to send to Graph for a planned activation, re-checked against the window now.
fn activation_date_for_apply(action: &PlannedAction, diags: &mut Diagnostics) -> Option<String> {
    let now = OffsetDateTime::now_utc();
    if !action.activate {
        return None;
    }
    match action.activate_at.as_ref() {
        None => Some(canonical(now.replace_nanosecond(0).unwrap_or(now))),
        Some(date_text) => {
            let attribute = match action.date_attribute.as_deref() {
                Some("effective_after") => Some("effective_after"),
                Some("effective_date_time") => Some("effective_date_time"),
                _ => None,
            };
            let date = match parse_rfc3339(date_text) {
                Ok(d) => d,
                Err(e) => {
                    diags.root_error("Invalid planned activation date", e);
                    return None;
                }
            };
            if let Err(p) = lifecycle::recheck_date(date, attribute, now) {
                add_problem(diags, &p, false);
                return None;
            }
            Some(date_text.clone())
        }
    }
}

#[async_trait]
impl Resource for ServiceAppResource {
    type State<'a> = ServiceAppState;
    type PrivateState<'a> = PlannedAction;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeType::{Bool, String};
        Some(schema(
            0,
            "Makes the provider's app (`client_id`) the Microsoft 365 Backup Storage controller of a tenant: registers it as a serviceApp and activates it, at once when the tenant has no controller, or at an effective date 7 to 30 days ahead when it has one.",
            vec![
                attr(
                    "tenant_id",
                    String,
                    Kind::OptionalComputed,
                    "Consuming tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.",
                ),
                attr(
                    "activate",
                    Bool,
                    Kind::OptionalComputed,
                    "Whether the app should be the controller (default `true`). `false` registers it only (`inactive`).",
                ),
                attr(
                    "effective_date_time",
                    String,
                    Kind::Optional,
                    "RFC 3339 activation time, 7 to 30 days ahead when the tenant already has a controller. Stored exactly as written; only validated when an activation is planned.",
                ),
                attr(
                    "effective_after",
                    String,
                    Kind::Optional,
                    "Duration such as `\"8d\"` or `\"192h\"`: the activation date is now plus this, fixed when the activation is planned. Conflicts with `effective_date_time`.",
                ),
                attr(
                    "allow_unregister_while_active",
                    Bool,
                    Kind::OptionalComputed,
                    "Safety switch (default `false`): destroying the `active` controller is refused unless this is `true` in state. Unregistering an active controller starts a 7-day grace period and billing may continue up to 37 days.",
                ),
                attr("id", String, Kind::Computed, "`<tenantId>/<serviceAppId>`."),
                attr(
                    "service_app_id",
                    String,
                    Kind::Computed,
                    "The serviceApp ID (the app's application ID).",
                ),
                attr(
                    "application_id",
                    String,
                    Kind::Computed,
                    "Graph's `application.id`, else the serviceApp ID.",
                ),
                attr(
                    "status",
                    String,
                    Kind::Computed,
                    "`inactive`, `pendingActive`, `active`, `pendingInactive`, or a newer value Graph sends.",
                ),
                attr(
                    "activation_date_time",
                    String,
                    Kind::Computed,
                    "Graph's `effectiveDateTime`: when the activation took or takes effect (for `pendingInactive`: when the other app takes over).",
                ),
                attr(
                    "registration_date_time",
                    String,
                    Kind::Computed,
                    "When the app was registered.",
                ),
                attr(
                    "last_modified_date_time",
                    String,
                    Kind::Computed,
                    "When Graph last changed the serviceApp.",
                ),
                attr(
                    "last_modified_by_user_id",
                    String,
                    Kind::Computed,
                    "User who last changed the serviceApp, when Graph reports one.",
                ),
                attr(
                    "last_modified_by_application_id",
                    String,
                    Kind::Computed,
                    "Application that last changed the serviceApp, when Graph reports one.",
                ),
            ],
        ))
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        validate_arguments(&config, diags);
        if let Value::Value(t) = &config.tenant_id
            && !crate::config::is_guid(t)
        {
            diags.error(
                "Invalid tenant_id",
                format!("tenant_id {t:?} is not a tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)."),
                AttributePath::new("tenant_id"),
            );
        }
        if let Value::Value(d) = &config.effective_date_time
            && let Err(e) = parse_rfc3339(d)
        {
            diags.error(
                "Invalid effective_date_time",
                e,
                AttributePath::new("effective_date_time"),
            );
        }
        if let Value::Value(d) = &config.effective_after
            && let Err(e) = crate::timefmt::parse_duration(d)
        {
            diags.error(
                "Invalid effective_after",
                e,
                AttributePath::new("effective_after"),
            );
        }
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        mut state: Self::State<'a>,
        private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        let tenant = opt(&state.tenant_id)?;
        let app_id = opt(&state.service_app_id)?;
        match ctx.graph.get_service_app(&tenant, &app_id).await {
            Ok(Some(app)) => {
                state.apply_graph(&tenant, &app);
                if state.activate.is_null() {
                    state.activate = Value::Value(true);
                }
                if state.allow_unregister_while_active.is_null() {
                    state.allow_unregister_while_active = Value::Value(false);
                }
                Some((state, private_state))
            }
            Ok(None) => {
                tracing::info!(
                    tenant,
                    app_id,
                    "serviceApp no longer exists; removing it from state"
                );
                None
            }
            Err(e) => {
                add_problem(diags, &graph_problem(&e), false);
                None
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: Self::State<'a>,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        validate_arguments(&config, diags);
        let mut planned = proposed;
        fill_defaults(&mut planned, &ctx, diags)?;
        planned.set_computed_unknown();
        planned.registration_date_time = Value::Unknown;
        match (&planned.tenant_id, ctx.client_id.as_deref()) {
            (Value::Value(t), Some(client)) => {
                planned.id = Value::Value(format!("{t}/{client}"));
                planned.service_app_id = Value::Value(client.to_string());
            }
            _ => {
                planned.id = Value::Unknown;
                planned.service_app_id = Value::Unknown;
            }
        }
        let Some(client_id) = ctx.client_id.clone() else {
            diags.root_error(
                "No client_id",
                "Registering a serviceApp needs the controller app's client ID: set client_id on the provider or ARM_CLIENT_ID.",
            );
            return None;
        };
        // Unknown values (e.g. from other resources) are decided by the apply-time plan.
        let (Value::Value(tenant), Value::Value(activate)) =
            (planned.tenant_id.clone(), planned.activate)
        else {
            return Some((planned, PlannedAction::default()));
        };
        if config.effective_date_time.is_unknown() || config.effective_after.is_unknown() {
            return Some((planned, PlannedAction::default()));
        }
        let who = subject(&tenant, &client_id);
        let request = config.date_request();
        if activate {
            require_delegated(&ctx, &tenant, diags)?;
        }
        let controller = if activate && request == DateRequest::Unspecified {
            Some(observe_controller(&ctx, &tenant, &client_id, diags).await?)
        } else {
            None
        };
        let now = OffsetDateTime::now_utc();
        match lifecycle::plan_create(activate, &request, controller.as_ref(), who, now) {
            Ok(CreatePlan::RegisterOnly) => Some((planned, PlannedAction::default())),
            Ok(CreatePlan::RegisterAndActivate(date)) => {
                Some((planned, private_for(date, request.attribute())))
            }
            Err(problem) => {
                add_problem(diags, &problem, false);
                None
            }
        }
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        proposed: Self::State<'a>,
        config: Self::State<'a>,
        _prior_private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let ctx = self.shared.get(diags)?;
        validate_arguments(&config, diags);
        let mut planned = proposed;
        fill_defaults(&mut planned, &ctx, diags)?;
        planned.copy_computed_from(&prior);
        if planned.tenant_id != prior.tenant_id {
            // A different tenant is a different registration: replace.
            planned.set_computed_unknown();
            planned.id = Value::Unknown;
            planned.service_app_id = Value::Unknown;
            planned.registration_date_time = Value::Unknown;
            return Some((
                planned,
                PlannedAction::default(),
                vec![AttributePath::new("tenant_id")],
            ));
        }
        let (Value::Value(activate), false, false) = (
            planned.activate,
            config.effective_date_time.is_unknown(),
            config.effective_after.is_unknown(),
        ) else {
            planned.set_computed_unknown();
            return Some((planned, PlannedAction::default(), vec![]));
        };
        let tenant = opt(&prior.tenant_id)?;
        let app_id = opt(&prior.service_app_id)?;
        let who = subject(&tenant, &app_id);
        let status = prior.app_status();
        let desired = Desired {
            activate,
            activate_changed: prior.activate != planned.activate,
            date: config.date_request(),
            date_changed: config.effective_date_time != prior.effective_date_time
                || config.effective_after != prior.effective_after,
        };
        let controller = if lifecycle::update_needs_controller(&status, &desired) {
            Some(observe_controller(&ctx, &tenant, &app_id, diags).await?)
        } else {
            None
        };
        let now = OffsetDateTime::now_utc();
        let prior_activation = prior
            .activation_date_time
            .as_ref_option()
            .map(String::as_str);
        let decision = match lifecycle::plan_update(
            &status,
            prior_activation,
            &desired,
            controller.as_ref(),
            who,
            now,
        ) {
            Ok(d) => d,
            Err(problem) => {
                add_problem(diags, &problem, false);
                return None;
            }
        };
        for warning in &decision.warnings {
            add_problem(diags, warning, true);
        }
        if decision.action.needs_delegated_token() {
            if let Err(p) = lifecycle::require_own_app(&app_id, ctx.client_id.as_deref(), who) {
                add_problem(diags, &p, false);
                return None;
            }
            require_delegated(&ctx, &tenant, diags)?;
            planned.set_computed_unknown();
        }
        let attribute = desired.date.attribute();
        let private = match decision.action {
            UpdateAction::Nothing => PlannedAction::default(),
            UpdateAction::Deactivate => PlannedAction {
                deactivate: true,
                ..Default::default()
            },
            UpdateAction::Activate(date) => private_for(date, attribute),
            UpdateAction::Reschedule(date) => PlannedAction {
                deactivate: true,
                ..private_for(ActivationDate::At(date), attribute)
            },
        };
        Some((planned, private, vec![]))
    }

    async fn plan_destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        prior_private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        let tenant = opt(&prior.tenant_id)?;
        let app_id = opt(&prior.service_app_id)?;
        let allow = prior
            .allow_unregister_while_active
            .as_option()
            .unwrap_or(false);
        let activation = prior
            .activation_date_time
            .as_ref_option()
            .map(String::as_str);
        match lifecycle::decide_destroy(
            &prior.app_status(),
            allow,
            activation,
            subject(&tenant, &app_id),
            OffsetDateTime::now_utc(),
        ) {
            DestroyDecision::Refuse(problem) => {
                add_problem(diags, &problem, false);
                None
            }
            DestroyDecision::Unregister { warning } => {
                if let Some(mut w) = warning {
                    // The apply reports the result; the plan announces it.
                    w.summary = "This plan unregisters the active Backup Storage controller".into();
                    add_problem(diags, &w, true);
                }
                Some(prior_private)
            }
        }
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        action: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        let tenant = opt(&planned.tenant_id)?;
        // Re-check the date before any Graph call: a saved plan may be applied days later.
        let date = if action.activate {
            Some(activation_date_for_apply(&action, diags)?)
        } else {
            None
        };
        let client = ctx.client_id.clone().unwrap_or_default();
        let registered = match ctx.graph.create_service_app(&tenant).await {
            Ok(Some(app)) if app.status.is_some() => Ok(Some(app)),
            // 202 without a usable body: read the registration back.
            Ok(_) => ctx.graph.get_service_app(&tenant, &client).await,
            Err(e) if e.is_status(409) => {
                // Already registered (for instance a retry after a lost response): adopt it.
                tracing::info!(tenant, client, "serviceApp already registered; adopting it");
                ctx.graph.get_service_app(&tenant, &client).await
            }
            Err(e) => Err(e),
        };
        let registered = match registered {
            Ok(Some(app)) => app,
            Ok(None) => {
                add_problem(diags, &missing_after_register(&tenant, &client), false);
                return None;
            }
            Err(e) => {
                add_problem(diags, &graph_problem(&e), false);
                return None;
            }
        };
        let mut state = planned;
        state.apply_graph(&tenant, &registered);
        let Some(date) = date else {
            return Some((state, PlannedAction::default()));
        };
        if matches!(
            state.app_status(),
            AppStatus::Active | AppStatus::PendingActive
        ) {
            // Adopted a registration whose activation had already gone through.
            return Some((state, PlannedAction::default()));
        }
        match activate_reconciled(&ctx, &tenant, &registered.id, &date).await {
            Ok(app) => {
                state.apply_graph(&tenant, &app);
                Some((state, PlannedAction::default()))
            }
            Err(e) => {
                // Return the registration with the error: Terraform records it (tainted) and
                // replaces it safely, so nothing is orphaned.
                add_problem(diags, &graph_problem(&e), false);
                Some((state, PlannedAction::default()))
            }
        }
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        action: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let mut state = planned;
        if !action.deactivate && !action.activate {
            // Only Terraform's record changes.
            state.copy_computed_from(&prior);
            return Some((state, PlannedAction::default()));
        }
        let ctx = self.shared.get(diags)?;
        let tenant = opt(&prior.tenant_id)?;
        let app_id = opt(&prior.service_app_id)?;
        let date = if action.activate {
            Some(activation_date_for_apply(&action, diags)?)
        } else {
            None
        };
        state.copy_computed_from(&prior);
        if action.deactivate {
            match ctx.graph.deactivate(&tenant, &app_id).await {
                Ok(app) => state.apply_graph(&tenant, &app),
                Err(e) => {
                    add_problem(diags, &graph_problem(&e), false);
                    return None;
                }
            }
        }
        if let Some(date) = date {
            match activate_reconciled(&ctx, &tenant, &app_id, &date).await {
                Ok(app) => state.apply_graph(&tenant, &app),
                Err(e) => {
                    add_problem(diags, &graph_problem(&e), false);
                    // Record what Graph holds now, so state matches the tenant.
                    if let Ok(Some(app)) = ctx.graph.get_service_app(&tenant, &app_id).await {
                        state.apply_graph(&tenant, &app);
                        return Some((state, PlannedAction::default()));
                    }
                    return None;
                }
            }
        }
        Some((state, PlannedAction::default()))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        let ctx = self.shared.get(diags)?;
        let tenant = opt(&prior.tenant_id)?;
        let app_id = opt(&prior.service_app_id)?;
        // Decide on what Graph holds now (state may be stale, and Terraform < 1.3 never calls
        // plan_destroy), with the guard as recorded in state.
        let current = match ctx.graph.get_service_app(&tenant, &app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return Some(()),
            Err(e) => {
                add_problem(diags, &graph_problem(&e), false);
                return None;
            }
        };
        let status = AppStatus::parse(current.status.as_deref().unwrap_or(""));
        let allow = prior
            .allow_unregister_while_active
            .as_option()
            .unwrap_or(false);
        let activation = current.effective_date_time.as_deref().map(canonical_text);
        match lifecycle::decide_destroy(
            &status,
            allow,
            activation.as_deref(),
            subject(&tenant, &app_id),
            OffsetDateTime::now_utc(),
        ) {
            DestroyDecision::Refuse(problem) => {
                add_problem(diags, &problem, false);
                None
            }
            DestroyDecision::Unregister { warning } => {
                match ctx.graph.delete_service_app(&tenant, &app_id).await {
                    Ok(()) => {
                        if let Some(w) = warning {
                            add_problem(diags, &w, true);
                        }
                        Some(())
                    }
                    Err(e) if e.is_not_found() => Some(()),
                    Err(e) => {
                        add_problem(diags, &graph_problem(&e), false);
                        None
                    }
                }
            }
        }
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        let (tenant, app_id) = match id.split_once('/') {
            Some((tenant, app)) => (Some(tenant.to_string()), app.to_string()),
            None => (None, id.clone()),
        };
        let tenant = match ctx.tenant_for(tenant.as_deref()) {
            Ok(t) => t,
            Err(p) => {
                diags.root_error(
                    "Invalid import ID",
                    format!("{} Import IDs are `<serviceAppId>` (provider tenant) or `<tenantId>/<serviceAppId>`; got {id:?}.", p.detail),
                );
                return None;
            }
        };
        if !crate::config::is_guid(&app_id) {
            diags.root_error(
                "Invalid import ID",
                format!("{app_id:?} is not a serviceApp ID (the app's application ID, a GUID). Import IDs are `<serviceAppId>` or `<tenantId>/<serviceAppId>`."),
            );
            return None;
        }
        let state = ServiceAppState {
            tenant_id: Value::Value(tenant.clone()),
            activate: Value::Value(true),
            allow_unregister_while_active: Value::Value(false),
            id: Value::Value(format!("{tenant}/{app_id}")),
            service_app_id: Value::Value(app_id),
            ..Default::default()
        };
        Some((state, PlannedAction::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Identity, IdentitySet};

    /// tf-provider encodes private state with `rmp_serde::to_vec_named`.
    #[test]
    fn private_state_is_empty_when_nothing_is_planned_and_old_encodings_still_load() {
        let none = rmp_serde::to_vec_named(&PlannedAction::default()).unwrap();
        assert_eq!(none, [0x80], "an empty map: nothing stored per instance");
        let planned = PlannedAction {
            activate: true,
            activate_at: Some("2030-01-08T00:00:00Z".into()),
            deactivate: false,
            date_attribute: Some("effective_after".into()),
        };
        let bytes = rmp_serde::to_vec_named(&planned).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<PlannedAction>(&bytes).unwrap(),
            planned
        );
        // States written before defaults were left out carry every field.
        #[derive(Serialize)]
        struct Full {
            activate: bool,
            activate_at: Option<String>,
            deactivate: bool,
            date_attribute: Option<String>,
        }
        let old = rmp_serde::to_vec_named(&Full {
            activate: false,
            activate_at: None,
            deactivate: true,
            date_attribute: None,
        })
        .unwrap();
        assert_eq!(
            rmp_serde::from_slice::<PlannedAction>(&old).unwrap(),
            PlannedAction {
                deactivate: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn graph_values_are_canonicalised_and_arguments_kept() {
        let mut state = ServiceAppState {
            effective_date_time: Value::Value("2030-01-01T00:00:00+01:00".into()),
            activate: Value::Value(true),
            ..Default::default()
        };
        let app = ServiceApp {
            id: "22222222-2222-2222-2222-222222222222".into(),
            application: Some(Identity {
                id: Some("33333333-3333-3333-3333-333333333333".into()),
                display_name: None,
            }),
            status: Some("pendingActive".into()),
            effective_date_time: Some("2029-12-31T23:00:00.0000000Z".into()),
            registration_date_time: Some("2026-11-23T09:00:00.45Z".into()),
            last_modified_date_time: None,
            last_modified_by: Some(IdentitySet {
                user: Some(Identity {
                    id: Some("u".into()),
                    display_name: None,
                }),
                ..Default::default()
            }),
        };
        state.apply_graph("11111111-1111-1111-1111-111111111111", &app);
        assert_eq!(
            state.effective_date_time,
            Value::Value("2030-01-01T00:00:00+01:00".into())
        );
        assert_eq!(
            state.activation_date_time,
            Value::Value("2029-12-31T23:00:00Z".into())
        );
        assert_eq!(
            state.registration_date_time,
            Value::Value("2026-11-23T09:00:00.45Z".into())
        );
        assert_eq!(
            state.application_id,
            Value::Value("33333333-3333-3333-3333-333333333333".into())
        );
        assert_eq!(state.last_modified_by_user_id, Value::Value("u".into()));
        assert_eq!(state.last_modified_by_application_id, Value::Null);
        assert_eq!(
            state.id,
            Value::Value(
                "11111111-1111-1111-1111-111111111111/22222222-2222-2222-2222-222222222222".into()
            )
        );
    }

    #[test]
    fn apply_time_recheck_refuses_a_stale_date() {
        let mut diags = Diagnostics::default();
        let stale = PlannedAction {
            activate: true,
            activate_at: Some("2020-01-01T00:00:00Z".into()),
            deactivate: false,
            date_attribute: Some("effective_date_time".into()),
        };
        assert_eq!(activation_date_for_apply(&stale, &mut diags), None);
        assert!(!diags.errors.is_empty());
        let mut diags = Diagnostics::default();
        let now = PlannedAction {
            activate: true,
            ..Default::default()
        };
        assert!(activation_date_for_apply(&now, &mut diags).is_some());
    }
}
