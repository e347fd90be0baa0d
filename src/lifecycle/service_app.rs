//! The controller lifecycle as pure decisions: (observed Graph state, configuration, clock) ->
//! what to do, plus the warnings and errors the user sees. No I/O here, so that every
//! combination can be unit- and property-tested; the resources only translate.
//!
//! States and transitions follow Microsoft's "Application lifecycle for Microsoft 365 Backup
//! Storage": register -> `inactive`; activate -> `active` at once when no controller exists,
//! else `pendingActive` until an effective date 7 to 30 days out; deactivate cancels a pending
//! activation; unregistering is refused while `pendingInactive`.

use time::{Duration, OffsetDateTime};

use super::problem::Problem;
use crate::timefmt::{canonical, format_duration, parse_duration, parse_rfc3339};

/// Graph accepts an effective date no earlier than this after now when a controller exists.
pub const MIN_NOTICE: Duration = Duration::days(7);
/// ... and no later than this.
pub const MAX_NOTICE: Duration = Duration::days(30);
/// The grace period Graph starts when the active controller is unregistered.
pub const UNREGISTER_GRACE: Duration = Duration::days(7);

/// A serviceApp's `status`, keeping any value this provider does not know yet.
pub use crate::graph::ServiceAppStatus as AppStatus;

/// The `status` recorded when our serviceApp vanished after it was pending or active: someone
/// unregistered it outside Terraform, and Terraform does not register it again on its own.
pub const UNREGISTERED: &str = "unregistered";

impl AppStatus {
    /// `active` or `pendingInactive`: the app controls the tenant right now.
    pub fn controls(&self) -> bool {
        matches!(self, Self::Active | Self::PendingInactive)
    }

    /// `pendingActive` or `active`: an activation of the app was accepted and stands.
    pub fn activation_accepted(&self) -> bool {
        matches!(self, Self::PendingActive | Self::Active)
    }
}

/// Whether an activation by Terraform was accepted (Graph's `status`, else what state
/// `recorded`): from then on a cancellation or takeover is the customer's decision.
pub fn activation_requested(status: Option<&AppStatus>, recorded: Option<bool>) -> bool {
    match status {
        Some(s) if s.activation_accepted() || *s == AppStatus::PendingInactive => true,
        _ => recorded.unwrap_or(false),
    }
}

/// Which tenant and app a message is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
}

impl<'a> Subject<'a> {
    pub fn new(tenant_id: &'a str, app_id: &'a str) -> Self {
        Subject { tenant_id, app_id }
    }

    fn describe(&self) -> String {
        format!("serviceApp {} in tenant {}", self.app_id, self.tenant_id)
    }
}

/// The allowed effective-date window at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub earliest: OffsetDateTime,
    pub latest: OffsetDateTime,
}

impl Window {
    pub fn at(now: OffsetDateTime) -> Self {
        Self {
            earliest: now + MIN_NOTICE,
            latest: now + MAX_NOTICE,
        }
    }

    pub fn contains(&self, date: OffsetDateTime) -> bool {
        self.earliest <= date && date <= self.latest
    }

    pub fn describe(&self) -> String {
        format!(
            "between {} and {} (7 to 30 days from now)",
            canonical(truncate_to_seconds(self.earliest)),
            canonical(truncate_to_seconds(self.latest))
        )
    }
}

fn truncate_to_seconds(instant: OffsetDateTime) -> OffsetDateTime {
    instant.replace_nanosecond(0).unwrap_or(instant)
}

/// How the configuration asks for the activation date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateRequest {
    /// Neither `effective_date_time` nor `effective_after`: activate now if nobody controls the tenant.
    Unspecified,
    /// `effective_date_time`, exactly as written.
    Exact(String),
    /// `effective_after`, a duration from the moment the activation is planned.
    After(String),
}

impl DateRequest {
    pub fn attribute(&self) -> Option<&'static str> {
        match self {
            Self::Unspecified => None,
            Self::Exact(_) => Some("effective_date_time"),
            Self::After(_) => Some("effective_after"),
        }
    }
}

/// When an activation takes effect, as sent to Graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationDate {
    /// No controller exists: the provider sends the current time and Graph activates at once.
    Now,
    At(OffsetDateTime),
}

/// Turns a date request into a concrete date checked against the window at `now`.
/// `Ok(None)` means no date was requested.
pub fn resolve_date(
    request: &DateRequest,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, Problem> {
    let window = Window::at(now);
    match request {
        DateRequest::Unspecified => Ok(None),
        DateRequest::Exact(text) => {
            let date = parse_rfc3339(text).map_err(|e| {
                Problem::new(
                    Some("effective_date_time"),
                    "Invalid effective_date_time",
                    e,
                )
            })?;
            if window.contains(date) {
                Ok(Some(date))
            } else {
                Err(Problem::new(
                    Some("effective_date_time"),
                    "effective_date_time is outside the allowed window",
                    format!(
                        "{text} is not allowed: Microsoft Graph accepts an activation date {}. \
                         Choose a date in that window, or write effective_after = \"8d\" to let \
                         the provider pick one when it plans the activation.",
                        window.describe()
                    ),
                ))
            }
        }
        DateRequest::After(text) => {
            let after = parse_duration(text)
                .map_err(|e| Problem::new(Some("effective_after"), "Invalid effective_after", e))?;
            if after < MIN_NOTICE || after > MAX_NOTICE {
                return Err(Problem::new(
                    Some("effective_after"),
                    "effective_after is outside the allowed window",
                    format!(
                        "effective_after = {text:?} ({}) is not allowed: Microsoft Graph accepts an \
                         activation date 7 to 30 days ahead, i.e. {}. Write a duration from \"7d\" \
                         to \"30d\".",
                        format_duration(after),
                        window.describe()
                    ),
                ));
            }
            Ok(Some(date_after(after, now)))
        }
    }
}

/// How far past the earliest allowed date an `effective_after` date is placed at least, so that
/// the date is still inside Graph's window when the activation request reaches it.
pub const LOWER_BOUND_MARGIN: Duration = Duration::minutes(15);

/// The concrete date for `effective_after`: `now + after` in whole seconds, moved to at least
/// 7 days and [`LOWER_BOUND_MARGIN`] ahead (so `"7d"` means "as early as Graph allows").
pub fn date_after(after: Duration, now: OffsetDateTime) -> OffsetDateTime {
    let earliest = truncate_to_seconds(now + MIN_NOTICE + LOWER_BOUND_MARGIN);
    truncate_to_seconds(now + after).max(earliest)
}

/// Re-checks at apply time a date fixed at plan time (a saved plan may be applied days later).
pub fn recheck_date(
    date: OffsetDateTime,
    attribute: Option<&'static str>,
    now: OffsetDateTime,
) -> Result<(), Problem> {
    let window = Window::at(now);
    if window.contains(date) {
        return Ok(());
    }
    Err(Problem::new(
        attribute,
        "The planned activation date is no longer allowed",
        format!(
            "The plan asked Microsoft Graph to activate at {}, but Graph now only accepts a date {}. \
             Nothing was changed. Run terraform plan again (with a date in the window, or \
             effective_after) and apply the new plan.",
            canonical(date),
            window.describe()
        ),
    ))
}

/// What Graph says about the tenant's service, reduced to what the decisions need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedService {
    pub status: Option<String>,
    pub consumer: Option<String>,
    pub last_modified: Option<String>,
}

/// One serviceApp of the tenant as listed by Graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedApp {
    pub id: String,
    pub status: AppStatus,
    pub effective_date_time: Option<String>,
}

/// Who controls the tenant's Backup Storage, other than the app being planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Controller {
    None,
    /// Microsoft's own controller (the admin center).
    FirstParty {
        since: Option<String>,
    },
    ThirdParty {
        app_id: String,
        status: AppStatus,
        since: Option<String>,
    },
    /// Another app's activation is pending: Graph refuses every other change until it takes
    /// effect or is cancelled.
    ChangePending {
        app_id: String,
        effective: Option<String>,
    },
}

impl Controller {
    pub fn exists(&self) -> bool {
        !matches!(self, Self::None)
    }

    pub fn describe(&self) -> String {
        match self {
            Self::None => "no controller".into(),
            Self::FirstParty { since } => match since {
                Some(since) => {
                    format!("Microsoft's first-party controller (service enabled since {since})")
                }
                None => "Microsoft's first-party controller".into(),
            },
            Self::ChangePending { app_id, effective } => format!(
                "a pending change to the app {app_id}{}",
                effective
                    .as_ref()
                    .map(|d| format!(" (effective {d})"))
                    .unwrap_or_default()
            ),
            Self::ThirdParty {
                app_id,
                status,
                since,
            } => match since {
                Some(since) => format!(
                    "the third-party app {app_id} ({}, effective {since})",
                    status.as_str()
                ),
                None => format!("the third-party app {app_id} ({})", status.as_str()),
            },
        }
    }
}

/// An existing controller is another app that is `active`/`pendingInactive`, or a service that is
/// `enabled` (Microsoft's controller, or a third party's whose app this caller cannot see).
pub fn existing_controller(
    service: &ObservedService,
    apps: &[ObservedApp],
    our_app_id: &str,
) -> Controller {
    let other = |app: &&ObservedApp| !app.id.eq_ignore_ascii_case(our_app_id);
    if let Some(pending) = apps
        .iter()
        .filter(other)
        .find(|app| app.status == AppStatus::PendingActive)
    {
        return Controller::ChangePending {
            app_id: pending.id.clone(),
            effective: pending.effective_date_time.clone(),
        };
    }
    if let Some(other) = apps
        .iter()
        .find(|app| !app.id.eq_ignore_ascii_case(our_app_id) && app.status.controls())
    {
        return Controller::ThirdParty {
            app_id: other.id.clone(),
            status: other.status.clone(),
            since: other.effective_date_time.clone(),
        };
    }
    let our_app_controls = apps
        .iter()
        .any(|app| app.id.eq_ignore_ascii_case(our_app_id) && app.status.controls());
    if service.status.as_deref() == Some("enabled") && !our_app_controls {
        return match service.consumer.as_deref() {
            Some("thirdparty") => Controller::ThirdParty {
                app_id: "(not visible to this app)".into(),
                status: AppStatus::Active,
                since: service.last_modified.clone(),
            },
            _ => Controller::FirstParty {
                since: service.last_modified.clone(),
            },
        };
    }
    Controller::None
}

fn controller_exists_error(
    controller: &Controller,
    subject: Subject<'_>,
    now: OffsetDateTime,
) -> Problem {
    let window = Window::at(now);
    Problem::new(
        Some("effective_date_time"),
        "An activation date is required: this tenant already has a Backup Storage controller",
        format!(
            "Tenant {} is controlled by {}. Microsoft Graph only hands over control at an \
             effective date {}. Set effective_date_time to a date in that window (for example \
             \"{}\"), or effective_after = \"8d\"; or set activate = false to only register {}.",
            subject.tenant_id,
            controller.describe(),
            window.describe(),
            canonical(truncate_to_seconds(now + Duration::days(8))),
            subject.app_id
        ),
    )
}

/// What create does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreatePlan {
    RegisterOnly,
    RegisterAndActivate(ActivationDate),
    /// Register now; the activation waits for the tenant (the warning says for what).
    RegisterAndWait(Problem),
}

/// Decides create. `controller` is `None` when it could not be looked up at plan time (unknown
/// tenant): the plan then assumes an immediate activation and apply decides.
pub fn plan_create(
    activate: bool,
    request: &DateRequest,
    controller: Option<&Controller>,
    subject: Subject<'_>,
    now: OffsetDateTime,
) -> Result<CreatePlan, Problem> {
    if !activate {
        // A date that is not used for an activation is not validated.
        return Ok(CreatePlan::RegisterOnly);
    }
    if let Some(pending @ Controller::ChangePending { .. }) = controller {
        return Ok(CreatePlan::RegisterAndWait(waiting_for_pending(
            pending, subject,
        )));
    }
    match resolve_date(request, now)? {
        Some(date) => Ok(CreatePlan::RegisterAndActivate(ActivationDate::At(date))),
        None => match controller {
            Some(controller) if controller.exists() => Ok(CreatePlan::RegisterAndWait(
                waiting_for_date(controller, subject, now),
            )),
            _ => Ok(CreatePlan::RegisterAndActivate(ActivationDate::Now)),
        },
    }
}

impl CreatePlan {
    /// What the plan carries to apply (the date came through `attribute`), and the warning to
    /// show now: the deferral is also repeated when apply registers the app.
    pub fn into_action(self, attribute: Option<&'static str>) -> (PlannedAction, Option<Problem>) {
        match self {
            CreatePlan::RegisterOnly => (PlannedAction::default(), None),
            CreatePlan::RegisterAndActivate(date) => {
                (PlannedAction::activate(date, attribute), None)
            }
            CreatePlan::RegisterAndWait(warning) => {
                let deferred = Some(Deferral::from(&warning));
                let action = PlannedAction {
                    deferred,
                    ..Default::default()
                };
                (action, Some(warning))
            }
        }
    }
}

/// The deferral while another app's change is pending (Graph refuses ours meanwhile).
pub fn waiting_for_pending(pending: &Controller, subject: Subject<'_>) -> Problem {
    Problem::warning(
        "Activation deferred: another controller change is pending",
        format!(
            "Tenant {} has {}, so Microsoft Graph refuses to activate {} until that change takes \
             effect or a tenant admin cancels it. The app is registered; the first plan after \
             that proposes the activation. Nothing else in this run waits for this tenant.",
            subject.tenant_id,
            pending.describe(),
            subject.app_id
        ),
    )
}

/// The deferral while another controller holds the tenant and no date is configured.
pub fn waiting_for_date(
    controller: &Controller,
    subject: Subject<'_>,
    now: OffsetDateTime,
) -> Problem {
    let mut p = controller_exists_error(controller, subject, now).as_warning();
    p.summary = "Activation deferred: this tenant already has a Backup Storage controller".into();
    p.detail = format!(
        "{} Until then the app is only registered (inactive); nothing else in this run waits \
         for this tenant.",
        p.detail
    );
    p
}

/// The configuration as it bears on an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub activate: bool,
    /// `activate` was false in the prior state.
    pub activate_changed: bool,
    pub date: DateRequest,
    /// The configured date (or `effective_after`) differs from the prior state's.
    pub date_changed: bool,
    /// Terraform's own activation was accepted earlier (recorded in state): a later
    /// cancellation or takeover is the customer's decision and stands.
    pub activation_requested: bool,
}

/// What update does on Graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateAction {
    /// Only Terraform's record changes (or nothing at all).
    Nothing,
    /// Cancel a pending activation.
    Deactivate,
    /// Activate an `inactive` app.
    Activate(ActivationDate),
    /// Move a pending activation: deactivate, then activate at the new date.
    Reschedule(OffsetDateTime),
}

impl UpdateAction {
    /// Activate and deactivate need a delegated token issued to the app itself.
    pub fn needs_delegated_token(&self) -> bool {
        !matches!(self, Self::Nothing)
    }
}

/// The decision for an update, with warnings to show in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateDecision {
    pub action: UpdateAction,
    pub warnings: Vec<Problem>,
}

impl UpdateDecision {
    fn nothing() -> Self {
        Self {
            action: UpdateAction::Nothing,
            warnings: vec![],
        }
    }

    fn warn(mut self, warning: Problem) -> Self {
        self.warnings.push(warning.as_warning());
        self
    }
}

/// Whether [`plan_update`] needs to know the tenant's controller (costs Graph reads, so only
/// asked for when an `inactive` app should be activated).
pub fn update_needs_controller(status: &AppStatus, desired: &Desired) -> bool {
    *status == AppStatus::Inactive && desired.activate
}

fn choices_text(subject: Subject<'_>) -> String {
    format!(
        "Choose one: set effective_date_time to a date 7 to 30 days ahead (or effective_after = \
         \"8d\") to take over again; set activate = false to keep {} registered but inactive; or \
         remove the resource.",
        subject.app_id
    )
}

/// Decides an update from the refreshed status. `prior_activation` is the refreshed
/// `activation_date_time` (for `pendingInactive`: when the other app takes over).
pub fn plan_update(
    status: &AppStatus,
    prior_activation: Option<&str>,
    desired: &Desired,
    controller: Option<&Controller>,
    subject: Subject<'_>,
    now: OffsetDateTime,
) -> Result<UpdateDecision, Problem> {
    match status {
        AppStatus::Active => {
            if !desired.activate {
                return Err(Problem::new(
                    Some("activate"),
                    "The active controller cannot be deactivated",
                    format!(
                        "{} is the tenant's active Backup Storage controller, and Microsoft Graph \
                         refuses to deactivate an active controller. To stop controlling the tenant, \
                         activate another app, or destroy this resource after applying \
                         allow_unregister_while_active = true (unregistering starts a 7-day grace \
                         period, and billing may continue for up to 37 days).",
                        subject.describe()
                    ),
                ));
            }
            if desired.date_changed {
                return Ok(UpdateDecision::nothing().warn(Problem::new(
                    desired.date.attribute(),
                    "The activation date change is only recorded",
                    format!(
                        "{} is already active{}; the new date is stored in Terraform state but \
                         changes nothing in Microsoft 365.",
                        subject.describe(),
                        prior_activation.map(|d| format!(" (since {d})")).unwrap_or_default()
                    ),
                )));
            }
            Ok(UpdateDecision::nothing())
        }
        AppStatus::PendingActive => {
            if !desired.activate {
                return Ok(UpdateDecision {
                    action: UpdateAction::Deactivate,
                    warnings: vec![],
                });
            }
            if desired.date_changed {
                return match resolve_date(&desired.date, now)? {
                    Some(date) => Ok(UpdateDecision {
                        action: UpdateAction::Reschedule(date),
                        warnings: vec![],
                    }),
                    None => Err(Problem::new(
                        Some("effective_date_time"),
                        "An activation date is required while a controller change is pending",
                        format!(
                            "{} is pendingActive{}: another controller holds the tenant until then, so \
                             Microsoft Graph needs a date 7 to 30 days ahead, {}. Keep \
                             effective_date_time or effective_after set.",
                            subject.describe(),
                            prior_activation.map(|d| format!(" until {d}")).unwrap_or_default(),
                            Window::at(now).describe()
                        ),
                    )),
                };
            }
            Ok(UpdateDecision::nothing())
        }
        AppStatus::PendingInactive => Ok(UpdateDecision::nothing().warn(Problem::new(
            None,
            "Another app is taking over as Backup Storage controller",
            format!(
                "{} is pendingInactive: another app was activated outside Terraform and takes over \
                 {}. Until then this app stays the controller and keeps paying for the tenant's \
                 backup; afterwards it becomes inactive. A tenant admin can cancel the pending \
                 change in the Microsoft 365 admin center. Terraform changes nothing in Microsoft \
                 365 meanwhile.",
                subject.describe(),
                prior_activation
                    .map(|d| format!("at {d}"))
                    .unwrap_or_else(|| "at the end of the grace period".into())
            ),
        ))),
        AppStatus::Inactive => plan_inactive(prior_activation, desired, controller, subject, now),
        AppStatus::Other(text) if text == UNREGISTERED => {
            Ok(UpdateDecision::nothing().warn(unregistered_warning(subject)))
        }
        AppStatus::Other(text) => Ok(UpdateDecision::nothing().warn(Problem::new(
            None,
            "Unknown serviceApp status",
            format!(
                "Microsoft Graph reports status {text:?} for {}, which this provider version does not \
                 know. Terraform changes nothing; upgrade the provider.",
                subject.describe()
            ),
        ))),
    }
}

fn plan_inactive(
    prior_activation: Option<&str>,
    desired: &Desired,
    controller: Option<&Controller>,
    subject: Subject<'_>,
    now: OffsetDateTime,
) -> Result<UpdateDecision, Problem> {
    if !desired.activate {
        return Ok(UpdateDecision::nothing());
    }
    // A user who just switched activate on, or wrote a new date, made a configuration choice:
    // an unusable date is their error, and they ask again.
    let user_asked = desired.activate_changed || desired.date_changed;
    if desired.activation_requested && !user_asked {
        let decision = customer_decision(prior_activation, controller, subject);
        return Ok(UpdateDecision::nothing().warn(decision));
    }
    let controller_now = controller.cloned().unwrap_or(Controller::None);
    if let Controller::ChangePending { .. } = controller_now {
        return Ok(UpdateDecision::nothing().warn(waiting_for_pending(&controller_now, subject)));
    }
    let activate = |date: ActivationDate| {
        let mut decision = UpdateDecision {
            action: UpdateAction::Activate(date),
            warnings: vec![],
        };
        if !user_asked {
            decision.warnings.push(Problem::warning(
                "Deferred activation planned",
                format!(
                    "{} was registered while tenant {} could not accept its activation; it can \
                     now, so this plan activates it {}.",
                    subject.describe(),
                    subject.tenant_id,
                    match date {
                        ActivationDate::Now => "now (no other controller holds the tenant)".into(),
                        ActivationDate::At(date) => format!("effective {}", canonical(date)),
                    }
                ),
            ));
        }
        decision
    };
    match resolve_date(&desired.date, now) {
        Ok(Some(date)) => Ok(activate(ActivationDate::At(date))),
        Ok(None) if !controller_now.exists() => Ok(activate(ActivationDate::Now)),
        Ok(None) => {
            Ok(UpdateDecision::nothing().warn(waiting_for_date(&controller_now, subject, now)))
        }
        Err(problem) if user_asked => Err(problem),
        // A fixed date that went stale while the activation waited: a deferral, not an error.
        Err(problem) => Ok(UpdateDecision::nothing().warn(Problem::new(
            problem.attribute,
            "Activation deferred: the configured date is no longer usable",
            format!(
                "{} is registered and waits for its activation, but {} {}",
                subject.describe(),
                problem.detail,
                choices_text(subject)
            ),
        ))),
    }
}

/// The warning when the customer cancelled our activation or moved to another app after
/// Terraform asked: their decision stands.
fn customer_decision(
    prior_activation: Option<&str>,
    controller: Option<&Controller>,
    subject: Subject<'_>,
) -> Problem {
    let now_held_by = match controller {
        Some(c) if c.exists() => format!(
            " Tenant {} is now held by {}.",
            subject.tenant_id,
            c.describe()
        ),
        _ => String::new(),
    };
    Problem::warning(
        "Not the Backup Storage controller any more",
        format!(
            "{} is inactive although activate = true: Terraform's activation was accepted \
             earlier{}, and since then a tenant admin cancelled it or another app took over.{} \
             That is the customer's decision, so Terraform changes nothing. To ask again, run \
             terraform apply -replace on this resource (it registers and activates anew), or set \
             a new effective_date_time / effective_after.",
            subject.describe(),
            prior_activation
                .map(|d| format!(" (effective {d})"))
                .unwrap_or_default(),
            now_held_by
        ),
    )
}

/// The warning while our serviceApp is gone after it was pending or active (decision: no
/// re-registration behind the customer's back).
pub fn unregistered_warning(subject: Subject<'_>) -> Problem {
    Problem::warning(
        "The controller app was unregistered outside Terraform",
        format!(
            "{} no longer exists although Terraform registered and activated it: a tenant admin \
             or another tool unregistered it. Terraform does not register it again on its own. \
             To take the tenant back, run terraform apply -replace on this resource; to stop \
             managing the tenant, remove the resource.",
            subject.describe()
        ),
    )
}

/// What a read that finds no serviceApp means, from the `recorded` status: the warning when the
/// app was pending or active (someone unregistered it; Terraform keeps it as `unregistered`),
/// `None` when it is simply gone (never activated: Terraform plans it again).
pub fn unregistered_outside(recorded: Option<&str>, subject: Subject<'_>) -> Option<Problem> {
    let status = AppStatus::parse(recorded?);
    (status != AppStatus::Inactive).then(|| unregistered_warning(subject))
}

/// What destroy does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestroyDecision {
    Unregister { warning: Option<Problem> },
    Refuse(Problem),
}

impl DestroyDecision {
    /// The refusal as an error, else the warning to show once the app is unregistered.
    pub fn into_result(self) -> Result<Option<Problem>, Problem> {
        match self {
            DestroyDecision::Refuse(problem) => Err(problem),
            DestroyDecision::Unregister { warning } => Ok(warning),
        }
    }

    /// As [`DestroyDecision::into_result`], for the plan: the warning announces the unregistering
    /// (apply reports its result).
    pub fn for_plan(self) -> Result<Option<Problem>, Problem> {
        let warning = self.into_result()?;
        Ok(warning.map(|mut w| {
            w.summary = "This plan unregisters the active Backup Storage controller".into();
            w
        }))
    }
}

/// The import error when the tenant has no such serviceApp.
pub fn not_registered_for_import(tenant: &str, app_id: &str) -> Problem {
    Problem::error(
        "Cannot import serviceApp",
        format!(
            "serviceApp {app_id} is not registered in tenant {tenant} (the tenant searched: the \
             one in the import ID, else the provider's tenant_id or ARM_TENANT_ID). Import with \
             `<tenantId>/<serviceAppId>` to name the tenant."
        ),
    )
}

/// Appended to destroy refusals: Terraform before 1.3 never asks the provider at plan time, so
/// the refusal comes at apply, possibly after resources that depend on the serviceApp were
/// destroyed in the same run.
const OLD_TERRAFORM_NOTE: &str = " On Terraform before 1.3 this is found only at apply, so \
     resources that depend on it may already have been destroyed in this run.";

/// Decides destroy from the status (refreshed at plan, fetched again at apply).
pub fn decide_destroy(
    status: &AppStatus,
    allow_unregister_while_active: bool,
    activation_date: Option<&str>,
    subject: Subject<'_>,
    now: OffsetDateTime,
) -> DestroyDecision {
    match status {
        AppStatus::Inactive | AppStatus::PendingActive => {
            DestroyDecision::Unregister { warning: None }
        }
        AppStatus::PendingInactive => DestroyDecision::Refuse(Problem::new(
            None,
            "Cannot unregister while another app is taking over",
            format!(
                "{} is pendingInactive: Microsoft Graph refuses to unregister it until the grace \
                 period ends {}. Destroy it after that date (it is then inactive), or leave the \
                 tenant without unregistering with a `removed` block or `terraform state rm`. \
                 The serviceApp was not unregistered.{}",
                subject.describe(),
                activation_date
                    .map(|d| format!("at {d}"))
                    .unwrap_or_else(|| "(date not reported by Graph)".into()),
                OLD_TERRAFORM_NOTE
            ),
        )),
        AppStatus::Active if allow_unregister_while_active => DestroyDecision::Unregister {
            warning: Some(Problem::warning(
                "Unregistered the active Backup Storage controller",
                format!(
                    "{} was the active controller. Microsoft 365 now runs a 7-day grace period \
                     (until about {}); unless another app is activated, the backup service is then \
                     offboarded and pay-as-you-go billing may continue for up to 37 days in total.",
                    subject.describe(),
                    canonical(truncate_to_seconds(now + UNREGISTER_GRACE))
                ),
            )),
        },
        AppStatus::Active => DestroyDecision::Refuse(Problem::new(
            Some("allow_unregister_while_active"),
            "Refusing to unregister the active Backup Storage controller",
            format!(
                "{} is the tenant's active controller. Unregistering it starts a 7-day grace period \
                 after which the backup service is offboarded, and billing may continue for up to \
                 37 days. If that is intended, set allow_unregister_while_active = true, apply, \
                 then destroy. To stop managing the tenant without unregistering, use a `removed` \
                 block or `terraform state rm`. The serviceApp was not unregistered.{}",
                subject.describe(),
                OLD_TERRAFORM_NOTE
            ),
        )),
        AppStatus::Other(text) if text == UNREGISTERED => {
            DestroyDecision::Unregister { warning: None }
        }
        AppStatus::Other(text) => DestroyDecision::Refuse(Problem::new(
            None,
            "Unknown serviceApp status",
            format!(
                "Microsoft Graph reports status {text:?} for {}, which this provider version does \
                 not know, so it will not guess whether unregistering is safe. Upgrade the \
                 provider, or use `terraform state rm` to stop managing it. The serviceApp was \
                 not unregistered.{}",
                subject.describe(),
                OLD_TERRAFORM_NOTE
            ),
        )),
    }
}

/// Activate and deactivate must be called by the app itself (Graph takes the caller's app id).
pub fn require_own_app(
    app_id: &str,
    client_id: Option<&str>,
    subject: Subject<'_>,
) -> Result<(), Problem> {
    match client_id {
        Some(client) if client.eq_ignore_ascii_case(app_id) => Ok(()),
        _ => Err(Problem::new(
            None,
            "Only the app itself can activate or deactivate its registration",
            format!(
                "This plan needs to activate or deactivate {}, but the provider signs in as {}. \
                 Microsoft Graph activates and deactivates the calling app only: configure the \
                 provider with client_id = \"{}\" (and a delegated sign-in for that app), or change \
                 nothing on this resource.",
                subject.describe(),
                client_id.unwrap_or("(no client_id configured)"),
                app_id
            ),
        )),
    }
}

/// Configuration errors in the date arguments, found without a Graph call.
pub fn check_dates(exact: Option<&str>, after: Option<&str>) -> Vec<Problem> {
    let mut problems = Vec::new();
    if exact.is_some() && after.is_some() {
        problems.push(Problem::new(
            Some("effective_after"),
            "Conflicting arguments",
            "Set either effective_date_time or effective_after, not both.",
        ));
    }
    if let Some(Err(e)) = exact.map(parse_rfc3339) {
        let attribute = Some("effective_date_time");
        problems.push(Problem::new(attribute, "Invalid effective_date_time", e));
    }
    if let Some(Err(e)) = after.map(parse_duration) {
        let attribute = Some("effective_after");
        problems.push(Problem::new(attribute, "Invalid effective_after", e));
    }
    problems
}

/// The error when Graph accepted a registration but the app cannot be read back.
pub fn missing_after_register(tenant: &str, client: &str) -> Problem {
    Problem::error(
        "Registered serviceApp not found",
        format!(
            "Microsoft Graph accepted the registration in tenant {tenant}, but serviceApp {client} \
             cannot be read back. Check that client_id is the app the credentials belong to, then \
             run terraform apply again (a repeated registration is adopted, not duplicated)."
        ),
    )
}

/// What a plan decided, carried to apply in Terraform's private state. Fields at their default
/// are left out: Terraform stores this for every instance, so a fleet carries no bytes for
/// actions nobody planned.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PlannedAction {
    /// Activate the app (at `activate_at`, or now when that is `None`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub activate: bool,
    /// The concrete activation date fixed by the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_at: Option<String>,
    /// Deactivate first (cancel a pending activation).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deactivate: bool,
    /// Which attribute the date came from, for apply-time messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_attribute: Option<String>,
    /// Why the activation waits, repeated as a warning when apply registers the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred: Option<Deferral>,
}

/// A deferral carried from plan to apply.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Deferral {
    pub summary: String,
    pub detail: String,
}

impl Deferral {
    pub fn warning(&self) -> Problem {
        Problem::warning(self.summary.clone(), self.detail.clone())
    }
}

impl From<&Problem> for Deferral {
    fn from(problem: &Problem) -> Self {
        Deferral {
            summary: problem.summary.clone(),
            detail: problem.detail.clone(),
        }
    }
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

impl PlannedAction {
    /// An activation at `date`, asked for through `attribute`.
    pub fn activate(date: ActivationDate, attribute: Option<&'static str>) -> Self {
        PlannedAction {
            activate: true,
            activate_at: match date {
                ActivationDate::Now => None,
                ActivationDate::At(d) => Some(canonical(d)),
            },
            deactivate: false,
            date_attribute: attribute.map(str::to_string),
            deferred: None,
        }
    }

    /// Whether the plan activates at once (later plans in the process count the tenant's
    /// controller as active).
    pub fn activates_now(&self) -> bool {
        self.activate && self.activate_at.is_none()
    }

    /// The record of an update decision.
    pub fn for_update(action: &UpdateAction, attribute: Option<&'static str>) -> Self {
        match *action {
            UpdateAction::Nothing => PlannedAction::default(),
            UpdateAction::Deactivate => PlannedAction {
                deactivate: true,
                ..Default::default()
            },
            UpdateAction::Activate(date) => Self::activate(date, attribute),
            UpdateAction::Reschedule(date) => PlannedAction {
                deactivate: true,
                ..Self::activate(ActivationDate::At(date), attribute)
            },
        }
    }

    /// The date to send to Graph for a planned activation, re-checked against the window at
    /// `now` (a saved plan may be applied days later). `None` when no activation is planned.
    pub fn date_for_apply(&self, now: OffsetDateTime) -> Result<Option<String>, Problem> {
        if !self.activate {
            return Ok(None);
        }
        let Some(date_text) = self.activate_at.as_ref() else {
            return Ok(Some(canonical(now.replace_nanosecond(0).unwrap_or(now))));
        };
        let attribute = match self.date_attribute.as_deref() {
            Some("effective_after") => Some("effective_after"),
            Some("effective_date_time") => Some("effective_date_time"),
            _ => None,
        };
        let date = parse_rfc3339(date_text)
            .map_err(|e| Problem::error("Invalid planned activation date", e))?;
        recheck_date(date, attribute, now)?;
        Ok(Some(date_text.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 09:00:00 UTC);
    const SUBJECT: Subject<'static> = Subject {
        tenant_id: "11111111-1111-1111-1111-111111111111",
        app_id: "22222222-2222-2222-2222-222222222222",
    };

    fn desired(activate: bool, date: DateRequest) -> Desired {
        Desired {
            activate,
            activate_changed: false,
            date,
            date_changed: false,
            activation_requested: true,
        }
    }

    fn first_party() -> Controller {
        Controller::FirstParty { since: None }
    }

    #[test]
    fn window_bounds_are_inclusive() {
        let w = Window::at(NOW);
        assert!(w.contains(NOW + Duration::days(7)));
        assert!(w.contains(NOW + Duration::days(30)));
        assert!(!w.contains(NOW + Duration::days(7) - Duration::seconds(1)));
        assert!(!w.contains(NOW + Duration::days(30) + Duration::seconds(1)));
        assert!(w.describe().contains("2026-11-30T09:00:00Z"));
        assert!(w.describe().contains("2026-12-23T09:00:00Z"));
    }

    #[test]
    fn exact_dates_are_checked_against_the_window() {
        let ok = DateRequest::Exact("2026-12-03T09:00:00Z".into());
        assert_eq!(
            resolve_date(&ok, NOW).unwrap(),
            Some(datetime!(2026-12-03 09:00:00 UTC))
        );
        let too_soon = DateRequest::Exact("2026-11-26T09:00:00Z".into());
        let err = resolve_date(&too_soon, NOW).unwrap_err();
        assert_eq!(err.attribute, Some("effective_date_time"));
        assert!(
            err.detail.contains("2026-11-30T09:00:00Z"),
            "{}",
            err.detail
        );
        let garbage = DateRequest::Exact("soon".into());
        assert!(
            resolve_date(&garbage, NOW)
                .unwrap_err()
                .detail
                .contains("RFC 3339")
        );
    }

    #[test]
    fn effective_after_becomes_a_concrete_date() {
        let eight = DateRequest::After("8d".into());
        assert_eq!(
            resolve_date(&eight, NOW).unwrap(),
            Some(NOW + Duration::days(8))
        );
        for bad in ["6d", "31d", "eight days"] {
            let err = resolve_date(&DateRequest::After(bad.into()), NOW).unwrap_err();
            assert_eq!(err.attribute, Some("effective_after"), "{bad}");
        }
    }

    #[test]
    fn a_saved_plan_is_rechecked_at_apply() {
        let date = NOW + Duration::days(7) + Duration::seconds(20);
        assert!(recheck_date(date, Some("effective_date_time"), NOW).is_ok());
        let later = NOW + Duration::seconds(30);
        let err = recheck_date(date, Some("effective_date_time"), later).unwrap_err();
        assert!(err.detail.contains("Nothing was changed"));
    }

    #[test]
    fn controller_detection() {
        let enabled = ObservedService {
            status: Some("enabled".into()),
            consumer: Some("firstparty".into()),
            last_modified: Some("2024-05-21T04:47:52Z".into()),
        };
        assert!(matches!(
            existing_controller(&enabled, &[], SUBJECT.app_id),
            Controller::FirstParty { .. }
        ));
        let disabled = ObservedService {
            status: Some("disabled".into()),
            ..Default::default()
        };
        assert_eq!(
            existing_controller(&disabled, &[], SUBJECT.app_id),
            Controller::None
        );
        let other = ObservedApp {
            id: "33333333-3333-3333-3333-333333333333".into(),
            status: AppStatus::Active,
            effective_date_time: Some("2026-01-01T00:00:00Z".into()),
        };
        match existing_controller(&disabled, std::slice::from_ref(&other), SUBJECT.app_id) {
            Controller::ThirdParty { app_id, .. } => assert_eq!(app_id, other.id),
            c => panic!("{c:?}"),
        }
        // Our own active app is not "another" controller, even though the service is enabled.
        let ours = ObservedApp {
            id: SUBJECT.app_id.to_uppercase(),
            status: AppStatus::Active,
            effective_date_time: None,
        };
        let enabled_3p = ObservedService {
            status: Some("enabled".into()),
            consumer: Some("thirdparty".into()),
            last_modified: None,
        };
        assert_eq!(
            existing_controller(&enabled_3p, &[ours], SUBJECT.app_id),
            Controller::None
        );
    }

    #[test]
    fn create_without_date_needs_an_empty_tenant() {
        assert_eq!(
            plan_create(
                true,
                &DateRequest::Unspecified,
                Some(&Controller::None),
                SUBJECT,
                NOW
            ),
            Ok(CreatePlan::RegisterAndActivate(ActivationDate::Now))
        );
        let Ok(CreatePlan::RegisterAndWait(err)) = plan_create(
            true,
            &DateRequest::Unspecified,
            Some(&first_party()),
            SUBJECT,
            NOW,
        ) else {
            panic!("a controller without a date is a deferral, not an error")
        };
        assert!(err.is_warning());
        assert!(err.detail.contains("first-party"), "{}", err.detail);
        assert!(
            err.detail.contains("2026-11-30T09:00:00Z"),
            "{}",
            err.detail
        );
        assert_eq!(
            plan_create(
                false,
                &DateRequest::Exact("garbage".into()),
                None,
                SUBJECT,
                NOW
            ),
            Ok(CreatePlan::RegisterOnly),
            "a date not used for an activation is not validated"
        );
    }

    #[test]
    fn update_rules_by_status() {
        let date = DateRequest::Exact("2026-12-03T09:00:00Z".into());
        // active: deactivation refused, date change recorded with a warning, dates never re-validated.
        assert_eq!(
            plan_update(
                &AppStatus::Active,
                None,
                &desired(false, DateRequest::Unspecified),
                None,
                SUBJECT,
                NOW
            )
            .unwrap_err()
            .attribute,
            Some("activate")
        );
        let old_date = DateRequest::Exact("2020-01-01T00:00:00Z".into());
        assert_eq!(
            plan_update(
                &AppStatus::Active,
                None,
                &desired(true, old_date.clone()),
                None,
                SUBJECT,
                NOW
            ),
            Ok(UpdateDecision::nothing())
        );
        let mut changed = desired(true, old_date);
        changed.date_changed = true;
        let d = plan_update(&AppStatus::Active, None, &changed, None, SUBJECT, NOW).unwrap();
        assert_eq!(d.action, UpdateAction::Nothing);
        assert_eq!(d.warnings.len(), 1);
        // pendingActive: deactivate, reschedule.
        assert_eq!(
            plan_update(
                &AppStatus::PendingActive,
                None,
                &desired(false, date.clone()),
                None,
                SUBJECT,
                NOW
            )
            .unwrap()
            .action,
            UpdateAction::Deactivate
        );
        let mut moved = desired(true, date.clone());
        moved.date_changed = true;
        assert_eq!(
            plan_update(&AppStatus::PendingActive, None, &moved, None, SUBJECT, NOW)
                .unwrap()
                .action,
            UpdateAction::Reschedule(datetime!(2026-12-03 09:00:00 UTC))
        );
        // pendingInactive: warning, nothing.
        let d = plan_update(
            &AppStatus::PendingInactive,
            Some("2026-12-01T00:00:00Z"),
            &desired(true, DateRequest::Unspecified),
            None,
            SUBJECT,
            NOW,
        )
        .unwrap();
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(d.warnings[0].detail.contains("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn a_cancelled_activation_stands_and_a_deferred_one_is_still_planned() {
        let date = DateRequest::Exact("2026-12-03T09:00:00Z".into());
        let plan = |desired: &Desired, controller: Controller| {
            plan_update(
                &AppStatus::Inactive,
                None,
                desired,
                Some(&controller),
                SUBJECT,
                NOW,
            )
            .unwrap()
        };
        // Terraform's activation was accepted, then cancelled outside: the customer's decision.
        let d = plan(&desired(true, date.clone()), first_party());
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(
            d.warnings[0].detail.contains("-replace"),
            "{}",
            d.warnings[0].detail
        );
        let d = plan(&desired(true, DateRequest::Unspecified), Controller::None);
        assert_eq!(
            d.action,
            UpdateAction::Nothing,
            "not even into an empty tenant"
        );
        // A new date is the user asking again.
        let mut asked = desired(true, date.clone());
        asked.date_changed = true;
        let d = plan(&asked, first_party());
        let at = ActivationDate::At(datetime!(2026-12-03 09:00:00 UTC));
        assert_eq!(d.action, UpdateAction::Activate(at));
        assert!(d.warnings.is_empty());
        // A deferred activation (never accepted) is planned once the tenant allows it ...
        let mut deferred = desired(true, DateRequest::Unspecified);
        deferred.activation_requested = false;
        let d = plan(&deferred, Controller::None);
        assert_eq!(d.action, UpdateAction::Activate(ActivationDate::Now));
        assert_eq!(d.warnings[0].summary, "Deferred activation planned");
        // ... and waits, with a warning, while a controller holds it without a date,
        let d = plan(&deferred, first_party());
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(d.warnings[0].detail.contains("effective_after"));
        // while another app's change is pending,
        let pending = Controller::ChangePending {
            app_id: "33333333-3333-3333-3333-333333333333".into(),
            effective: Some("2026-12-05T00:00:00Z".into()),
        };
        let d = plan(&deferred, pending);
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(
            d.warnings[0]
                .detail
                .contains("33333333-3333-3333-3333-333333333333")
        );
        // and while its fixed date is stale (an error only when the date changed in this plan).
        deferred.date = DateRequest::Exact("2026-11-01T00:00:00Z".into());
        let d = plan(&deferred, first_party());
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(d.warnings[0].is_warning());
        deferred.date_changed = true;
        let err = plan_update(
            &AppStatus::Inactive,
            None,
            &deferred,
            Some(&first_party()),
            SUBJECT,
            NOW,
        );
        assert!(err.is_err());
    }

    #[test]
    fn an_unregistered_app_is_kept_and_never_registered_again() {
        let gone = AppStatus::Other(UNREGISTERED.into());
        let d = plan_update(
            &gone,
            None,
            &desired(true, DateRequest::Unspecified),
            None,
            SUBJECT,
            NOW,
        )
        .unwrap();
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(
            d.warnings[0]
                .summary
                .contains("unregistered outside Terraform")
        );
        let destroy = decide_destroy(&gone, false, None, SUBJECT, NOW);
        assert!(matches!(
            destroy,
            DestroyDecision::Unregister { warning: None }
        ));
    }

    #[test]
    fn destroy_rules() {
        let s = |status: AppStatus, allow: bool| {
            decide_destroy(&status, allow, Some("2026-12-01T00:00:00Z"), SUBJECT, NOW)
        };
        assert!(matches!(
            s(AppStatus::Inactive, false),
            DestroyDecision::Unregister { warning: None }
        ));
        assert!(matches!(
            s(AppStatus::PendingActive, false),
            DestroyDecision::Unregister { warning: None }
        ));
        match s(AppStatus::PendingInactive, true) {
            DestroyDecision::Refuse(p) => assert!(p.detail.contains("2026-12-01T00:00:00Z")),
            d => panic!("{d:?}"),
        }
        assert!(matches!(
            s(AppStatus::Active, false),
            DestroyDecision::Refuse(_)
        ));
        match s(AppStatus::Active, true) {
            DestroyDecision::Unregister { warning: Some(w) } => {
                assert!(w.detail.contains("37 days"))
            }
            d => panic!("{d:?}"),
        }
        assert!(matches!(
            s(AppStatus::Other("x".into()), true),
            DestroyDecision::Refuse(_)
        ));
    }

    #[test]
    fn only_the_app_itself_may_activate() {
        assert!(require_own_app("ABC", Some("abc"), SUBJECT).is_ok());
        assert!(require_own_app("abc", Some("def"), SUBJECT).is_err());
        assert!(require_own_app("abc", None, SUBJECT).is_err());
    }

    fn any_status() -> impl Strategy<Value = AppStatus> {
        prop_oneof![
            Just(AppStatus::Inactive),
            Just(AppStatus::PendingActive),
            Just(AppStatus::Active),
            Just(AppStatus::PendingInactive),
            "[a-zA-Z]{1,12}".prop_map(|s| AppStatus::parse(&s)),
        ]
    }

    fn any_date_request() -> impl Strategy<Value = DateRequest> {
        prop_oneof![
            Just(DateRequest::Unspecified),
            (-40i64..40).prop_map(|days| DateRequest::Exact(canonical(NOW + Duration::days(days)))),
            "[0-9]{1,2}[dhms]".prop_map(DateRequest::After),
            ".{0,12}".prop_map(DateRequest::Exact),
        ]
    }

    fn any_controller() -> impl Strategy<Value = Option<Controller>> {
        prop_oneof![
            Just(None),
            Just(Some(Controller::None)),
            Just(Some(first_party())),
            Just(Some(Controller::ThirdParty {
                app_id: "33333333-3333-3333-3333-333333333333".into(),
                status: AppStatus::Active,
                since: None
            })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every (status x configuration x controller) combination gives a decision that Graph
        /// would accept: no deactivation of an active app, no activation outside the window, no
        /// Graph call at all while pendingInactive or for an unknown status.
        #[test]
        fn update_decisions_are_always_safe(
            status in any_status(),
            activate in any::<bool>(),
            activate_changed in any::<bool>(),
            date in any_date_request(),
            date_changed in any::<bool>(),
            activation_requested in any::<bool>(),
            controller in any_controller(),
        ) {
            let desired = Desired { activate, activate_changed, date, date_changed, activation_requested };
            let result = plan_update(&status, None, &desired, controller.as_ref(), SUBJECT, NOW);
            match result {
                Err(problem) => {
                    prop_assert!(!problem.detail.is_empty());
                }
                Ok(decision) => {
                    match decision.action {
                        UpdateAction::Nothing => {}
                        UpdateAction::Deactivate => prop_assert_eq!(&status, &AppStatus::PendingActive),
                        UpdateAction::Reschedule(d) => {
                            prop_assert_eq!(&status, &AppStatus::PendingActive);
                            prop_assert!(Window::at(NOW).contains(d));
                        }
                        UpdateAction::Activate(ActivationDate::At(d)) => {
                            prop_assert_eq!(&status, &AppStatus::Inactive);
                            prop_assert!(Window::at(NOW).contains(d));
                        }
                        UpdateAction::Activate(ActivationDate::Now) => {
                            prop_assert_eq!(&status, &AppStatus::Inactive);
                            prop_assert!(!controller.clone().unwrap_or(Controller::None).exists());
                        }
                    }
                    if matches!(status, AppStatus::PendingInactive | AppStatus::Other(_)) {
                        prop_assert_eq!(decision.action, UpdateAction::Nothing);
                        prop_assert_eq!(decision.warnings.len(), 1);
                    }
                    if status == AppStatus::Active {
                        prop_assert!(activate);
                    }
                }
            }
        }

        #[test]
        fn destroy_never_unregisters_pending_inactive_or_unguarded_active(
            status in any_status(),
            allow in any::<bool>(),
        ) {
            let decision = decide_destroy(&status, allow, None, SUBJECT, NOW);
            let unregisters = matches!(decision, DestroyDecision::Unregister { .. });
            match status {
                AppStatus::Inactive | AppStatus::PendingActive => prop_assert!(unregisters),
                AppStatus::Active => prop_assert_eq!(unregisters, allow),
                _ => prop_assert!(!unregisters),
            }
        }

        #[test]
        fn create_activates_only_inside_the_window_or_into_an_empty_tenant(
            activate in any::<bool>(),
            date in any_date_request(),
            controller in any_controller(),
        ) {
            match plan_create(activate, &date, controller.as_ref(), SUBJECT, NOW) {
                Ok(CreatePlan::RegisterOnly) => prop_assert!(!activate),
                Ok(CreatePlan::RegisterAndActivate(ActivationDate::At(d))) => prop_assert!(Window::at(NOW).contains(d)),
                Ok(CreatePlan::RegisterAndActivate(ActivationDate::Now)) => {
                    prop_assert_eq!(&date, &DateRequest::Unspecified);
                    prop_assert!(!controller.unwrap_or(Controller::None).exists());
                }
                Ok(CreatePlan::RegisterAndWait(w)) => {
                    // Only a tenant condition defers: another controller, no usable date.
                    prop_assert!(activate && w.is_warning());
                    prop_assert!(controller.unwrap_or(Controller::None).exists());
                }
                Err(p) => prop_assert!(p.attribute.is_some()),
            }
        }
    }

    /// tf-provider encodes private state with `rmp_serde::to_vec_named`.
    #[test]
    fn planned_action_is_empty_when_nothing_is_planned_and_old_encodings_still_load() {
        let none = rmp_serde::to_vec_named(&PlannedAction::default()).unwrap();
        assert_eq!(none, [0x80], "an empty map: nothing stored per instance");
        let planned = PlannedAction::activate(ActivationDate::At(NOW), Some("effective_after"));
        let bytes = rmp_serde::to_vec_named(&planned).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<PlannedAction>(&bytes).unwrap(),
            planned
        );
        // States written before defaults were left out carry every field.
        #[derive(serde::Serialize)]
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
        let expected = PlannedAction::for_update(&UpdateAction::Deactivate, None);
        assert_eq!(
            rmp_serde::from_slice::<PlannedAction>(&old).unwrap(),
            expected
        );
    }

    #[test]
    fn apply_time_recheck_refuses_a_stale_date() {
        let stale = PlannedAction {
            activate: true,
            activate_at: Some("2020-01-01T00:00:00Z".into()),
            deactivate: false,
            date_attribute: Some("effective_date_time".into()),
            deferred: None,
        };
        let err = stale.date_for_apply(NOW).unwrap_err();
        assert_eq!(err.attribute, Some("effective_date_time"));
        let now = PlannedAction::activate(ActivationDate::Now, None);
        assert_eq!(now.date_for_apply(NOW).unwrap(), Some(canonical(NOW)));
        assert_eq!(PlannedAction::default().date_for_apply(NOW).unwrap(), None);
    }

    #[test]
    fn create_plans_carry_the_date_and_the_deferral_to_apply() {
        let (now, warning) = CreatePlan::RegisterAndActivate(ActivationDate::Now).into_action(None);
        assert!(now.activates_now() && warning.is_none());
        let at = ActivationDate::At(NOW + Duration::days(8));
        let (later, _) = CreatePlan::RegisterAndActivate(at).into_action(Some("effective_after"));
        assert!(later.activate && !later.activates_now());
        assert_eq!(later.date_attribute.as_deref(), Some("effective_after"));
        let wait = waiting_for_pending(&first_party(), SUBJECT);
        let (action, warning) = CreatePlan::RegisterAndWait(wait.clone()).into_action(None);
        assert_eq!(warning, Some(wait.clone()));
        assert!(!action.activate);
        assert_eq!(action.deferred.unwrap().warning(), wait.as_warning());
        let (register, warning) = CreatePlan::RegisterOnly.into_action(None);
        assert_eq!((register, warning), (PlannedAction::default(), None));
    }

    #[test]
    fn destroy_plans_announce_and_applies_report() {
        let allowed = |allow| decide_destroy(&AppStatus::Active, allow, None, SUBJECT, NOW);
        let plan = allowed(true).for_plan().unwrap().unwrap();
        assert_eq!(
            plan.summary,
            "This plan unregisters the active Backup Storage controller"
        );
        let apply = allowed(true).into_result().unwrap().unwrap();
        assert_eq!(
            apply.summary,
            "Unregistered the active Backup Storage controller"
        );
        assert_eq!(plan.detail, apply.detail);
        assert!(allowed(false).for_plan().is_err());
        let inactive = decide_destroy(&AppStatus::Inactive, false, None, SUBJECT, NOW);
        assert_eq!(inactive.into_result(), Ok(None));
    }

    #[test]
    fn import_error_names_the_tenant_and_the_id_form() {
        let p = not_registered_for_import(SUBJECT.tenant_id, SUBJECT.app_id);
        assert!(!p.is_warning());
        assert!(p.detail.contains(SUBJECT.tenant_id) && p.detail.contains(SUBJECT.app_id));
        assert!(p.detail.contains("searched: the one in the import ID"));
    }

    #[test]
    fn a_vanished_app_is_kept_only_after_an_activation() {
        let kept = |s| unregistered_outside(s, SUBJECT);
        assert_eq!(kept(None), None);
        assert_eq!(kept(Some("inactive")), None);
        for status in ["pendingActive", "active", "pendingInactive", UNREGISTERED] {
            let warning = kept(Some(status)).expect("kept with a warning");
            assert!(warning.is_warning() && warning.detail.contains(SUBJECT.app_id));
        }
    }

    #[test]
    fn an_accepted_activation_is_remembered() {
        let requested = activation_requested;
        assert!(requested(Some(&AppStatus::PendingActive), Some(false)));
        assert!(requested(Some(&AppStatus::PendingInactive), None));
        assert!(!requested(Some(&AppStatus::Inactive), None));
        assert!(requested(Some(&AppStatus::Inactive), Some(true)));
        assert!(!requested(None, Some(false)));
        assert!(AppStatus::Active.activation_accepted());
        assert!(!AppStatus::PendingInactive.activation_accepted());
    }
}
