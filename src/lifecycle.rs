//! The controller lifecycle as pure decisions: (observed Graph state, configuration, clock) ->
//! what to do, plus the warnings and errors the user sees. No I/O here, so that every
//! combination can be unit- and property-tested; the resources only translate.
//!
//! States and transitions follow Microsoft's "Application lifecycle for Microsoft 365 Backup
//! Storage": register -> `inactive`; activate -> `active` at once when no controller exists,
//! else `pendingActive` until an effective date 7 to 30 days out; deactivate cancels a pending
//! activation; unregistering is refused while `pendingInactive`.

pub mod protection_policy;

use time::{Duration, OffsetDateTime};

use crate::timefmt::{canonical, format_duration, parse_duration, parse_rfc3339};

/// Graph accepts an effective date no earlier than this after now when a controller exists.
pub const MIN_NOTICE: Duration = Duration::days(7);
/// ... and no later than this.
pub const MAX_NOTICE: Duration = Duration::days(30);
/// The grace period Graph starts when the active controller is unregistered.
pub const UNREGISTER_GRACE: Duration = Duration::days(7);

/// A serviceApp's `status`, keeping any value this provider does not know yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppStatus {
    Inactive,
    PendingActive,
    Active,
    PendingInactive,
    Other(String),
}

impl AppStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "inactive" => Self::Inactive,
            "pendingActive" => Self::PendingActive,
            "active" => Self::Active,
            "pendingInactive" => Self::PendingInactive,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Inactive => "inactive",
            Self::PendingActive => "pendingActive",
            Self::Active => "active",
            Self::PendingInactive => "pendingInactive",
            Self::Other(text) => text,
        }
    }

    /// `active` or `pendingInactive`: the app controls the tenant right now.
    pub fn controls(&self) -> bool {
        matches!(self, Self::Active | Self::PendingInactive)
    }
}

/// A user-facing problem (error or warning) with the attribute it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub attribute: Option<&'static str>,
    pub summary: String,
    pub detail: String,
}

impl Problem {
    fn new(
        attribute: Option<&'static str>,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            attribute,
            summary: summary.into(),
            detail: detail.into(),
        }
    }
}

/// Which tenant and app a message is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
}

impl Subject<'_> {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreatePlan {
    RegisterOnly,
    RegisterAndActivate(ActivationDate),
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
    match resolve_date(request, now)? {
        Some(date) => Ok(CreatePlan::RegisterAndActivate(ActivationDate::At(date))),
        None => match controller {
            Some(controller) if controller.exists() => {
                Err(controller_exists_error(controller, subject, now))
            }
            _ => Ok(CreatePlan::RegisterAndActivate(ActivationDate::Now)),
        },
    }
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
        self.warnings.push(warning);
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
    // an unusable date is their error. Otherwise the app was deactivated outside Terraform.
    let user_asked = desired.activate_changed || desired.date_changed;
    let why = if user_asked {
        None
    } else {
        Some(format!(
            "{} is inactive although activate = true: its pending activation was cancelled \
             outside Terraform, or another app took over{}.",
            subject.describe(),
            prior_activation
                .map(|d| format!(" (last effective date {d})"))
                .unwrap_or_default()
        ))
    };
    let reactivate = |date: ActivationDate| {
        let mut decision = UpdateDecision {
            action: UpdateAction::Activate(date),
            warnings: vec![],
        };
        if let Some(why) = &why {
            let when = match date {
                ActivationDate::Now => "now (no other controller holds the tenant)".to_string(),
                ActivationDate::At(date) => format!("effective {}", canonical(date)),
            };
            decision.warnings.push(Problem::new(
                None,
                "Re-activation planned",
                format!("{why} This plan activates it again, {when}."),
            ));
        }
        decision
    };
    let controller_now = controller.cloned().unwrap_or(Controller::None);
    match resolve_date(&desired.date, now) {
        Ok(Some(date)) => Ok(reactivate(ActivationDate::At(date))),
        Ok(None) if !controller_now.exists() => Ok(reactivate(ActivationDate::Now)),
        Ok(None) => {
            if user_asked {
                Err(controller_exists_error(&controller_now, subject, now))
            } else {
                Ok(UpdateDecision::nothing().warn(Problem::new(
                    None,
                    "Not the Backup Storage controller any more",
                    format!(
                        "{} Tenant {} is controlled by {}, and without a date Microsoft Graph cannot \
                         hand control back. {}",
                        why.unwrap_or_default(),
                        subject.tenant_id,
                        controller_now.describe(),
                        choices_text(subject)
                    ),
                )))
            }
        }
        Err(problem) if user_asked => Err(problem),
        Err(problem) => Ok(UpdateDecision::nothing().warn(Problem::new(
            problem.attribute,
            "Not the Backup Storage controller any more",
            format!(
                "{} The configured date cannot be used for a new activation: {} {}",
                why.unwrap_or_default(),
                problem.detail,
                choices_text(subject)
            ),
        ))),
    }
}

/// What destroy does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestroyDecision {
    Unregister { warning: Option<Problem> },
    Refuse(Problem),
}

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
                 Nothing was changed.",
                subject.describe(),
                activation_date
                    .map(|d| format!("at {d}"))
                    .unwrap_or_else(|| "(date not reported by Graph)".into())
            ),
        )),
        AppStatus::Active if allow_unregister_while_active => DestroyDecision::Unregister {
            warning: Some(Problem::new(
                None,
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
                 block or `terraform state rm`. Nothing was changed.",
                subject.describe()
            ),
        )),
        AppStatus::Other(text) => DestroyDecision::Refuse(Problem::new(
            None,
            "Unknown serviceApp status",
            format!(
                "Microsoft Graph reports status {text:?} for {}, which this provider version does \
                 not know, so it will not guess whether unregistering is safe. Upgrade the \
                 provider, or use `terraform state rm` to stop managing it. Nothing was changed.",
                subject.describe()
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
        let err = plan_create(
            true,
            &DateRequest::Unspecified,
            Some(&first_party()),
            SUBJECT,
            NOW,
        )
        .unwrap_err();
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
    fn cancelled_activation_is_planned_again_when_it_can_succeed() {
        let date = DateRequest::Exact("2026-12-03T09:00:00Z".into());
        let d = plan_update(
            &AppStatus::Inactive,
            None,
            &desired(true, date),
            Some(&first_party()),
            SUBJECT,
            NOW,
        )
        .unwrap();
        assert_eq!(
            d.action,
            UpdateAction::Activate(ActivationDate::At(datetime!(2026-12-03 09:00:00 UTC)))
        );
        assert!(d.warnings[0].detail.contains("cancelled"));
        // No date and a controller: warn with the choices, change nothing.
        let d = plan_update(
            &AppStatus::Inactive,
            None,
            &desired(true, DateRequest::Unspecified),
            Some(&first_party()),
            SUBJECT,
            NOW,
        )
        .unwrap();
        assert_eq!(d.action, UpdateAction::Nothing);
        assert!(d.warnings[0].detail.contains("activate = false"));
        // A stale date: warn, change nothing.
        let stale = DateRequest::Exact("2026-11-01T00:00:00Z".into());
        let d = plan_update(
            &AppStatus::Inactive,
            None,
            &desired(true, stale),
            Some(&first_party()),
            SUBJECT,
            NOW,
        )
        .unwrap();
        assert_eq!(d.action, UpdateAction::Nothing);
        // No controller: activate now.
        let d = plan_update(
            &AppStatus::Inactive,
            None,
            &desired(true, DateRequest::Unspecified),
            Some(&Controller::None),
            SUBJECT,
            NOW,
        )
        .unwrap();
        assert_eq!(d.action, UpdateAction::Activate(ActivationDate::Now));
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
            controller in any_controller(),
        ) {
            let desired = Desired { activate, activate_changed, date, date_changed };
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
                Err(p) => prop_assert!(p.attribute.is_some()),
            }
        }
    }
}
