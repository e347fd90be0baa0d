//! The Backup Storage controller state machine of one tenant, free of I/O.
//!
//! Every operation takes `now` (the emulator's virtual time) and first applies the
//! transitions whose date has passed ([`Tenant::advance`]), so the HTTP layer only
//! translates requests and answers. The numbered transitions refer to the lifecycle
//! seed (`backup-3p-lifecycle.md`):
//!
//! 1. register -> `inactive`
//! 2. activate with no existing controller -> `active` at once
//! 3. activate with an existing controller -> `pendingActive`; the current
//!    third-party controller -> `pendingInactive` (both carry the same `effectiveDateTime`)
//! 4. the effective date passes -> new app `active`, old one `inactive`
//! 5. deactivate `pendingActive` -> `inactive`, the old controller `active` again
//! 6. unregister `inactive` -> gone
//! 7. unregister `pendingActive` -> gone, the pending change is cancelled
//! 8. unregister `active` -> gone at once, a 7-day grace period starts, after which the
//!    service is disabled unless another app became controller.
//!
//! Decisions where Graph is silent (see provider-spec.md, "Emulator"):
//! - a second registration of the same app is 409 `Conflict`;
//! - an effective date outside [now+7d, now+30d] while a controller exists is 400 `BadRequest`
//!   (a small clock-skew tolerance, [`WINDOW_SLACK`], applies to both bounds);
//! - `enable` by an app that is not `active` is 403;
//! - activate/deactivate of another app's serviceApp is 403 (delete by another app is allowed);
//! - re-activating the app that is already `active` (no change pending) is a 202 no-op;
//! - when Microsoft's first-party controller hands over to a third-party app (transition 4),
//!   the serviceStatus keeps saying `enabled`/`firstparty` until the new app calls `enable`
//!   (billing is still the first party's until the new controller enables its own policy);
//!   likewise after a third-party to third-party handover the status keeps naming the old
//!   app in `lastModifiedBy` until the new one enables;
//! - while the grace period after deleting the active app runs, the serviceStatus stays
//!   `enabled` with `gracePeriodDateTime` set and `disableReason` = `controllerServiceAppDeleted`;
//!   when it ends with no controller the service becomes `disabled`, reason `userRequested`,
//!   `restoreAllowedTillDateTime` = end of grace + 30 days;
//! - an invalid billing profile reported while the service is `enabled` locks it at once
//!   (`protectionChangeLocked`, reason `invalidBillingProfile`; the admin API then deactivates
//!   the tenant's policies) and 30 days later it is `restoreLocked`; a successful `enable`
//!   unlocks.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Lower bound of the activation window when a controller exists.
pub const MIN_NOTICE: Duration = Duration::days(7);
/// Upper bound of the activation window when a controller exists.
pub const MAX_NOTICE: Duration = Duration::days(30);
/// Tolerance on both bounds of the window, for clock skew and request latency.
pub const WINDOW_SLACK: Duration = Duration::seconds(60);
/// Grace period after the active controller is unregistered.
pub const GRACE_PERIOD: Duration = Duration::days(7);
/// How long restores stay allowed after the service is disabled.
pub const RESTORE_PERIOD: Duration = Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceAppStatus {
    #[serde(rename = "inactive")]
    Inactive,
    #[serde(rename = "active")]
    Active,
    #[serde(rename = "pendingActive")]
    PendingActive,
    #[serde(rename = "pendingInactive")]
    PendingInactive,
}

impl ServiceAppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Active => "active",
            Self::PendingActive => "pendingActive",
            Self::PendingInactive => "pendingInactive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupServiceStatus {
    #[serde(rename = "disabled")]
    Disabled,
    #[serde(rename = "enabled")]
    Enabled,
    #[serde(rename = "protectionChangeLocked")]
    ProtectionChangeLocked,
    #[serde(rename = "restoreLocked")]
    RestoreLocked,
}

impl BackupServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
            Self::ProtectionChangeLocked => "protectionChangeLocked",
            Self::RestoreLocked => "restoreLocked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupServiceConsumer {
    #[serde(rename = "unknown")]
    Unknown,
    #[serde(rename = "firstparty")]
    FirstParty,
    #[serde(rename = "thirdparty")]
    ThirdParty,
}

impl BackupServiceConsumer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::FirstParty => "firstparty",
            Self::ThirdParty => "thirdparty",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisableReason {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "invalidBillingProfile")]
    InvalidBillingProfile,
    #[serde(rename = "userRequested")]
    UserRequested,
    /// Beta member (after `unknownFutureValue`); v1.0 clients see it only with
    /// `Prefer: include-unknown-enum-members`.
    #[serde(rename = "controllerServiceAppDeleted")]
    ControllerServiceAppDeleted,
}

impl DisableReason {
    /// The member name, mapped to `unknownFutureValue` when the client did not opt in to
    /// members that follow the sentinel.
    pub fn as_str(self, include_unknown_members: bool) -> &'static str {
        match self {
            Self::None => "none",
            Self::InvalidBillingProfile => "invalidBillingProfile",
            Self::UserRequested => "userRequested",
            Self::ControllerServiceAppDeleted if include_unknown_members => {
                "controllerServiceAppDeleted"
            }
            Self::ControllerServiceAppDeleted => "unknownFutureValue",
        }
    }
}

/// Graph identitySet, restricted to what this API fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySet {
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub application_display_name: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

impl IdentitySet {
    pub fn is_empty(&self) -> bool {
        self.application.is_none() && self.user.is_none()
    }
}

/// Who performs an operation: the calling app and, for delegated tokens, the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub app_id: String,
    pub app_display_name: Option<String>,
    pub user_id: Option<String>,
}

impl Actor {
    pub fn identity(&self) -> IdentitySet {
        IdentitySet {
            application: Some(self.app_id.clone()),
            application_display_name: self.app_display_name.clone(),
            user: self.user_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub status: BackupServiceStatus,
    pub backup_service_consumer: BackupServiceConsumer,
    pub disable_reason: DisableReason,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub grace_period_date_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub restore_allowed_till_date_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified_date_time: OffsetDateTime,
    pub last_modified_by: IdentitySet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceApp {
    pub id: String,
    pub display_name: Option<String>,
    pub status: ServiceAppStatus,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub effective_date_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub registration_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified_date_time: OffsetDateTime,
    pub last_modified_by: IdentitySet,
}

/// A controller change waiting for its effective date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    pub new_app: String,
    /// The third-party app that is `pendingInactive`, if any (None: the first party, or an
    /// enabled service with no controlling app, is being replaced).
    pub old_app: Option<String>,
    /// The old app's `effectiveDateTime` before it went `pendingInactive`, restored on cancel.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub old_app_previous_effective: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub effective: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum BillingProfile {
    #[default]
    #[serde(rename = "valid")]
    Valid,
    #[serde(rename = "invalid")]
    Invalid,
    #[serde(rename = "unreadable")]
    Unreadable,
}

/// How a tenant starts (admin `PUT /_emulator/tenants/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialController {
    None,
    FirstParty,
}

/// Who controls the tenant right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    None,
    FirstParty,
    ThirdParty(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub service: ServiceStatus,
    /// Registered serviceApps, in registration order.
    pub apps: Vec<ServiceApp>,
    /// Microsoft's own (first-party) controller holds the tenant.
    pub first_party: bool,
    pub pending: Option<PendingChange>,
    /// End of the grace period started by unregistering the active app.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub grace_ends: Option<OffsetDateTime>,
    #[serde(default)]
    pub billing: BillingProfile,
    /// A billing lock (`protectionChangeLocked`) becomes `restoreLocked` then.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub restore_lock_at: Option<OffsetDateTime>,
}

/// A refused operation: HTTP status plus Graph error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl LcError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "accessDenied", message)
    }
    fn not_found(id: &str) -> Self {
        Self::new(
            404,
            "itemNotFound",
            format!("The serviceApp '{id}' was not found in this tenant."),
        )
    }
}

impl std::fmt::Display for LcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for LcError {}

/// Graph's DateTimeOffset resolution is 100 ns; keep stored values at that resolution so
/// that what a client sent is echoed exactly.
pub fn to_ticks(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 100).unwrap_or(t)
}

pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl Tenant {
    pub fn new(id: impl Into<String>, controller: InitialController, now: OffsetDateTime) -> Self {
        let now = to_ticks(now);
        let (status, consumer, by) = match controller {
            InitialController::None => (
                BackupServiceStatus::Disabled,
                BackupServiceConsumer::Unknown,
                IdentitySet::default(),
            ),
            InitialController::FirstParty => (
                BackupServiceStatus::Enabled,
                BackupServiceConsumer::FirstParty,
                IdentitySet {
                    user: Some(crate::demo::ADMIN_USER_ID.to_string()),
                    ..Default::default()
                },
            ),
        };
        Self {
            id: id.into(),
            service: ServiceStatus {
                status,
                backup_service_consumer: consumer,
                disable_reason: DisableReason::None,
                grace_period_date_time: None,
                restore_allowed_till_date_time: None,
                last_modified_date_time: now,
                last_modified_by: by,
            },
            apps: Vec::new(),
            first_party: controller == InitialController::FirstParty,
            pending: None,
            grace_ends: None,
            billing: BillingProfile::Valid,
            restore_lock_at: None,
        }
    }

    pub fn app(&self, id: &str) -> Option<&ServiceApp> {
        self.apps.iter().find(|a| a.id.eq_ignore_ascii_case(id))
    }

    fn app_mut(&mut self, id: &str) -> Option<&mut ServiceApp> {
        self.apps.iter_mut().find(|a| a.id.eq_ignore_ascii_case(id))
    }

    fn app_index(&self, id: &str) -> Option<usize> {
        self.apps.iter().position(|a| a.id.eq_ignore_ascii_case(id))
    }

    /// The current controller: a third-party app that is `active` or `pendingInactive`, else
    /// the first party, else none.
    pub fn controller(&self) -> Controller {
        if let Some(a) = self.apps.iter().find(|a| {
            matches!(
                a.status,
                ServiceAppStatus::Active | ServiceAppStatus::PendingInactive
            )
        }) {
            return Controller::ThirdParty(a.id.clone());
        }
        if self.first_party {
            return Controller::FirstParty;
        }
        Controller::None
    }

    /// "Existing controller" as the spec defines it: the service is `enabled`, or an app is
    /// `active`/`pendingInactive`.
    pub fn controller_exists(&self) -> bool {
        self.service.status == BackupServiceStatus::Enabled
            || !matches!(self.controller(), Controller::None)
    }

    /// Applies every transition whose date is at or before `now`, oldest first.
    /// Returns whether anything changed.
    pub fn advance(&mut self, now: OffsetDateTime) -> bool {
        let mut changed = false;
        if let Some(at) = self.restore_lock_at
            && at <= now
        {
            self.restore_lock_at = None;
            if self.service.status == BackupServiceStatus::ProtectionChangeLocked {
                self.service.status = BackupServiceStatus::RestoreLocked;
                self.service.last_modified_date_time = at;
            }
            changed = true;
        }
        loop {
            let pending_at = self.pending.as_ref().map(|p| p.effective);
            let grace_at = self.grace_ends;
            let next = match (pending_at, grace_at) {
                (Some(p), Some(g)) => Some(if p <= g { (p, true) } else { (g, false) }),
                (Some(p), None) => Some((p, true)),
                (None, Some(g)) => Some((g, false)),
                (None, None) => None,
            };
            match next {
                Some((at, true)) if at <= now => {
                    self.complete_pending(at);
                    changed = true;
                }
                Some((at, false)) if at <= now => {
                    self.complete_grace(at);
                    changed = true;
                }
                _ => return changed,
            }
        }
    }

    /// Transition 4.
    fn complete_pending(&mut self, at: OffsetDateTime) {
        let Some(p) = self.pending.take() else { return };
        if let Some(old) = &p.old_app
            && let Some(a) = self.app_mut(old)
        {
            a.status = ServiceAppStatus::Inactive;
            a.effective_date_time = None;
            a.last_modified_date_time = at;
        }
        if let Some(a) = self.app_mut(&p.new_app) {
            a.status = ServiceAppStatus::Active;
            a.effective_date_time = Some(p.effective);
            a.last_modified_date_time = at;
        }
        // The first party stops being the controller; its serviceStatus stays until the new
        // controller calls enable (see the module docs).
        self.first_party = false;
    }

    /// End of the grace period after the active app was unregistered (transition 8, second half).
    fn complete_grace(&mut self, at: OffsetDateTime) {
        self.grace_ends = None;
        if matches!(self.controller(), Controller::None) {
            self.service.status = BackupServiceStatus::Disabled;
            self.service.disable_reason = DisableReason::UserRequested;
            self.service.restore_allowed_till_date_time = Some(at + RESTORE_PERIOD);
            self.service.last_modified_date_time = at;
        } else if self.service.disable_reason == DisableReason::ControllerServiceAppDeleted {
            self.service.disable_reason = DisableReason::None;
        }
    }

    /// Transition 1. The registered app is the caller.
    pub fn register(&mut self, actor: &Actor, now: OffsetDateTime) -> Result<ServiceApp, LcError> {
        let now = to_ticks(now);
        self.advance(now);
        if self.app(&actor.app_id).is_some() {
            return Err(LcError::new(
                409,
                "Conflict",
                format!(
                    "The application '{}' is already registered as a serviceApp in this tenant.",
                    actor.app_id
                ),
            ));
        }
        let app = ServiceApp {
            id: actor.app_id.clone(),
            display_name: actor.app_display_name.clone(),
            status: ServiceAppStatus::Inactive,
            effective_date_time: None,
            registration_date_time: now,
            last_modified_date_time: now,
            last_modified_by: actor.identity(),
        };
        self.apps.push(app.clone());
        Ok(app)
    }

    /// Transitions 2 and 3. `effective` is the request's `effectiveDateTime` (required).
    pub fn activate(
        &mut self,
        app_id: &str,
        effective: OffsetDateTime,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<ServiceApp, LcError> {
        let now = to_ticks(now);
        let effective = to_ticks(effective);
        self.advance(now);
        let Some(app) = self.app(app_id) else {
            return Err(LcError::not_found(app_id));
        };
        if !app.id.eq_ignore_ascii_case(&actor.app_id) {
            return Err(LcError::forbidden(format!(
                "The caller '{}' can only activate its own serviceApp, not '{}'.",
                actor.app_id, app.id
            )));
        }
        let id = app.id.clone();
        if self.pending.is_some() {
            return Err(LcError::forbidden(
                "A controller change is already pending in this tenant; wait until it completes or is cancelled.",
            ));
        }
        match app.status {
            ServiceAppStatus::Active => return Ok(app.clone()),
            ServiceAppStatus::Inactive => {}
            // Unreachable without a pending change, but keep the answer defined.
            ServiceAppStatus::PendingActive | ServiceAppStatus::PendingInactive => {
                return Err(LcError::forbidden(
                    "A controller change is already pending in this tenant.",
                ));
            }
        }
        if !self.controller_exists() {
            // Transition 2: immediate.
            self.first_party = false;
            let a = self.app_mut(&id).expect("checked above");
            a.status = ServiceAppStatus::Active;
            a.effective_date_time = Some(effective);
            a.last_modified_date_time = now;
            a.last_modified_by = actor.identity();
            return Ok(a.clone());
        }
        let earliest = now + MIN_NOTICE;
        let latest = now + MAX_NOTICE;
        if effective < earliest - WINDOW_SLACK || effective > latest + WINDOW_SLACK {
            return Err(LcError::new(
                400,
                "BadRequest",
                format!(
                    "effectiveDateTime must be between {} and {} (at least 7 and at most 30 days from now) because the tenant already has a Backup Storage controller.",
                    crate::json::graph_time(earliest),
                    crate::json::graph_time(latest)
                ),
            ));
        }
        self.start_pending(&id, effective, actor.identity(), now);
        Ok(self.app(&id).expect("present").clone())
    }

    /// Transition 3 bookkeeping: `id` -> pendingActive, the current third-party controller
    /// (if any) -> pendingInactive, both with `effective`.
    fn start_pending(
        &mut self,
        id: &str,
        effective: OffsetDateTime,
        by: IdentitySet,
        now: OffsetDateTime,
    ) {
        let old = match self.controller() {
            Controller::ThirdParty(old) => Some(old),
            _ => None,
        };
        let mut previous = None;
        if let Some(old) = &old
            && let Some(o) = self.app_mut(old)
        {
            previous = o.effective_date_time;
            o.status = ServiceAppStatus::PendingInactive;
            o.effective_date_time = Some(effective);
            o.last_modified_date_time = now;
        }
        let a = self.app_mut(id).expect("registered");
        a.status = ServiceAppStatus::PendingActive;
        a.effective_date_time = Some(effective);
        a.last_modified_date_time = now;
        a.last_modified_by = by;
        self.pending = Some(PendingChange {
            new_app: a.id.clone(),
            old_app: old,
            old_app_previous_effective: previous,
            effective,
        });
    }

    /// Undo a pending change: the new app -> inactive, the old controller -> active.
    fn cancel(&mut self, now: OffsetDateTime) {
        let Some(p) = self.pending.take() else { return };
        if let Some(a) = self.app_mut(&p.new_app) {
            a.status = ServiceAppStatus::Inactive;
            a.effective_date_time = None;
            a.last_modified_date_time = now;
        }
        if let Some(old) = &p.old_app
            && let Some(o) = self.app_mut(old)
        {
            o.status = ServiceAppStatus::Active;
            o.effective_date_time = p.old_app_previous_effective;
            o.last_modified_date_time = now;
        }
    }

    /// Transition 5 and the documented no-ops / 403.
    pub fn deactivate(
        &mut self,
        app_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<ServiceApp, LcError> {
        let now = to_ticks(now);
        self.advance(now);
        let Some(app) = self.app(app_id) else {
            return Err(LcError::not_found(app_id));
        };
        if !app.id.eq_ignore_ascii_case(&actor.app_id) {
            return Err(LcError::forbidden(format!(
                "The caller '{}' can only deactivate its own serviceApp, not '{}'.",
                actor.app_id, app.id
            )));
        }
        let id = app.id.clone();
        match app.status {
            ServiceAppStatus::Inactive | ServiceAppStatus::PendingInactive => Ok(app.clone()),
            ServiceAppStatus::Active => Err(LcError::forbidden(
                "The active controller cannot be deactivated; activate another app or unregister this one.",
            )),
            ServiceAppStatus::PendingActive => {
                self.cancel(now);
                let a = self.app_mut(&id).expect("present");
                a.last_modified_by = actor.identity();
                Ok(a.clone())
            }
        }
    }

    /// Transitions 6, 7, 8 and the 403 for `pendingInactive`.
    pub fn delete(&mut self, app_id: &str, now: OffsetDateTime) -> Result<(), LcError> {
        let now = to_ticks(now);
        self.advance(now);
        let Some(idx) = self.app_index(app_id) else {
            return Err(LcError::not_found(app_id));
        };
        match self.apps[idx].status {
            ServiceAppStatus::Inactive => {
                self.apps.remove(idx);
            }
            ServiceAppStatus::PendingActive => {
                self.cancel(now);
                let idx = self.app_index(app_id).expect("present");
                self.apps.remove(idx);
            }
            ServiceAppStatus::PendingInactive => {
                return Err(LcError::forbidden(
                    "A serviceApp that is pendingInactive cannot be unregistered until the grace period ends or the pending change is cancelled.",
                ));
            }
            ServiceAppStatus::Active => {
                self.apps.remove(idx);
                let ends = now + GRACE_PERIOD;
                self.grace_ends = Some(ends);
                self.service.grace_period_date_time = Some(ends);
                self.service.disable_reason = DisableReason::ControllerServiceAppDeleted;
                self.service.restore_allowed_till_date_time = None;
                self.service.last_modified_date_time = now;
            }
        }
        Ok(())
    }

    /// `POST /solutions/backupRestore/enable`.
    pub fn enable(
        &mut self,
        actor: &Actor,
        app_owner_tenant_id: &str,
        now: OffsetDateTime,
    ) -> Result<ServiceStatus, LcError> {
        let now = to_ticks(now);
        self.advance(now);
        if !is_guid(app_owner_tenant_id) {
            return Err(LcError::new(
                400,
                "InvalidAppOwnerTenantId",
                format!("The app owner tenant id '{app_owner_tenant_id}' is not valid."),
            ));
        }
        match self.app(&actor.app_id).map(|a| a.status) {
            Some(ServiceAppStatus::Active) => {}
            Some(s) => {
                return Err(LcError::forbidden(format!(
                    "Only the active controller can enable the service; the serviceApp '{}' is {}.",
                    actor.app_id,
                    s.as_str()
                )));
            }
            None => {
                return Err(LcError::forbidden(format!(
                    "Only the active controller can enable the service; the application '{}' is not registered as a serviceApp.",
                    actor.app_id
                )));
            }
        }
        match self.billing {
            BillingProfile::Valid => {}
            BillingProfile::Unreadable => {
                return Err(LcError::new(
                    403,
                    "UnableToReadBillingProfile",
                    "Unable to read the billing profile from the billing profile provider.",
                ));
            }
            BillingProfile::Invalid => {
                self.service.status = BackupServiceStatus::Disabled;
                self.service.disable_reason = DisableReason::InvalidBillingProfile;
                self.service.last_modified_date_time = now;
                self.service.last_modified_by = actor.identity();
                return Err(LcError::new(
                    402,
                    "InvalidBillingProfile",
                    "Invalid billing profile received from the billing profile provider.",
                ));
            }
        }
        self.service = ServiceStatus {
            status: BackupServiceStatus::Enabled,
            backup_service_consumer: BackupServiceConsumer::ThirdParty,
            disable_reason: DisableReason::None,
            grace_period_date_time: None,
            restore_allowed_till_date_time: None,
            last_modified_date_time: now,
            last_modified_by: actor.identity(),
        };
        self.grace_ends = None;
        self.restore_lock_at = None;
        Ok(self.service.clone())
    }

    /// Admin: what a tenant admin does in the admin center.
    pub fn cancel_pending_change(&mut self, now: OffsetDateTime) -> Result<(), LcError> {
        let now = to_ticks(now);
        self.advance(now);
        if self.pending.is_none() {
            return Err(LcError::new(
                409,
                "Conflict",
                "No controller change is pending in this tenant.",
            ));
        }
        self.cancel(now);
        Ok(())
    }

    /// Admin: another app registers (if needed) and activates, bypassing the date window.
    /// `effective_in` zero switches at once; a positive value makes the app `pendingActive`
    /// (and the current third-party controller `pendingInactive`) until then, even when no
    /// controller exists.
    pub fn takeover(
        &mut self,
        actor: &Actor,
        effective_in: Duration,
        now: OffsetDateTime,
    ) -> Result<ServiceApp, LcError> {
        let now = to_ticks(now);
        self.advance(now);
        if self.pending.is_some() {
            return Err(LcError::new(
                409,
                "Conflict",
                "A controller change is already pending in this tenant.",
            ));
        }
        if self.app(&actor.app_id).is_none() {
            self.register(actor, now)?;
        }
        let id = self.app(&actor.app_id).expect("registered").id.clone();
        match self.app(&id).expect("registered").status {
            ServiceAppStatus::Active => return Ok(self.app(&id).expect("present").clone()),
            ServiceAppStatus::Inactive => {}
            _ => {
                return Err(LcError::new(
                    409,
                    "Conflict",
                    "The app is part of a pending change.",
                ));
            }
        }
        let effective = now + effective_in;
        self.start_pending(&id, effective, actor.identity(), now);
        if effective_in <= Duration::ZERO {
            self.advance(now);
        }
        Ok(self.app(&id).expect("present").clone())
    }

    /// Admin: the billing profile the next `enable` sees.
    pub fn set_billing(&mut self, profile: BillingProfile) {
        self.billing = profile;
    }

    /// Admin: the billing profile turned invalid while the service is `enabled`: protection
    /// changes lock at once and restores [`RESTORE_PERIOD`] later (the caller deactivates the
    /// policies). Returns whether the lock started.
    pub fn lock_for_billing(&mut self, now: OffsetDateTime) -> bool {
        let now = to_ticks(now);
        self.advance(now);
        if self.service.status != BackupServiceStatus::Enabled {
            return false;
        }
        self.service.status = BackupServiceStatus::ProtectionChangeLocked;
        self.service.disable_reason = DisableReason::InvalidBillingProfile;
        self.service.last_modified_date_time = now;
        self.restore_lock_at = Some(now + RESTORE_PERIOD);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    fn actor(id: &str) -> Actor {
        Actor {
            app_id: id.into(),
            app_display_name: None,
            user_id: Some("u".into()),
        }
    }

    fn status(t: &Tenant, id: &str) -> Option<ServiceAppStatus> {
        t.app(id).map(|a| a.status)
    }

    #[test]
    fn immediate_activation_then_enable() {
        let mut t = Tenant::new("t", InitialController::None, T0);
        t.register(&actor("a"), T0).unwrap();
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::Inactive));
        assert_eq!(t.register(&actor("a"), T0).unwrap_err().status, 409);
        assert_eq!(
            t.enable(&actor("a"), "00000000-0000-0000-0000-000000000001", T0)
                .unwrap_err()
                .status,
            403
        );
        t.activate("a", T0, &actor("a"), T0).unwrap();
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::Active));
        let s = t
            .enable(&actor("a"), "00000000-0000-0000-0000-000000000001", T0)
            .unwrap();
        assert_eq!(s.status, BackupServiceStatus::Enabled);
        assert_eq!(s.backup_service_consumer, BackupServiceConsumer::ThirdParty);
        assert_eq!(t.enable(&actor("a"), "nope", T0).unwrap_err().status, 400);
    }

    #[test]
    fn first_party_handover_keeps_status_until_enable() {
        let mut t = Tenant::new("t", InitialController::FirstParty, T0);
        t.register(&actor("b"), T0).unwrap();
        let err = t
            .activate("b", T0 + Duration::days(3), &actor("b"), T0)
            .unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(
            t.activate("b", T0 + Duration::days(31), &actor("b"), T0)
                .unwrap_err()
                .status,
            400
        );
        let eff = T0 + Duration::days(8);
        let a = t.activate("b", eff, &actor("b"), T0).unwrap();
        assert_eq!(a.status, ServiceAppStatus::PendingActive);
        assert!(!t.advance(eff - Duration::seconds(1)));
        assert!(t.advance(eff));
        assert_eq!(status(&t, "b"), Some(ServiceAppStatus::Active));
        assert_eq!(
            t.service.backup_service_consumer,
            BackupServiceConsumer::FirstParty
        );
        assert_eq!(t.controller(), Controller::ThirdParty("b".into()));
    }

    #[test]
    fn third_party_handover_cancel_and_delete_rules() {
        let mut t = Tenant::new("t", InitialController::None, T0);
        t.register(&actor("a"), T0).unwrap();
        t.activate("a", T0, &actor("a"), T0).unwrap();
        t.register(&actor("b"), T0).unwrap();
        let eff = T0 + Duration::days(10);
        t.activate("b", eff, &actor("b"), T0).unwrap();
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::PendingInactive));
        assert_eq!(t.app("a").unwrap().effective_date_time, Some(eff));
        assert_eq!(t.delete("a", T0).unwrap_err().status, 403);
        assert_eq!(
            t.activate("b", eff, &actor("b"), T0).unwrap_err().status,
            403
        );
        // deactivate pendingInactive: no change
        t.deactivate("a", &actor("a"), T0).unwrap();
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::PendingInactive));
        // transition 5
        t.deactivate("b", &actor("b"), T0).unwrap();
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::Active));
        assert_eq!(t.app("a").unwrap().effective_date_time, Some(T0));
        assert_eq!(status(&t, "b"), Some(ServiceAppStatus::Inactive));
        assert_eq!(t.deactivate("a", &actor("a"), T0).unwrap_err().status, 403);
        // transition 7
        t.activate("b", eff, &actor("b"), T0).unwrap();
        t.delete("b", T0).unwrap();
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::Active));
        assert!(t.pending.is_none());
        // transition 8
        t.delete("a", T0).unwrap();
        assert!(t.app("a").is_none());
        assert_eq!(t.service.grace_period_date_time, Some(T0 + GRACE_PERIOD));
        t.advance(T0 + GRACE_PERIOD);
        assert_eq!(t.service.status, BackupServiceStatus::Disabled);
        assert_eq!(t.service.disable_reason, DisableReason::UserRequested);
        assert_eq!(
            t.service.restore_allowed_till_date_time,
            Some(T0 + GRACE_PERIOD + RESTORE_PERIOD)
        );
    }

    #[test]
    fn takeover_immediate_and_cancel() {
        let mut t = Tenant::new("t", InitialController::None, T0);
        t.register(&actor("a"), T0).unwrap();
        t.activate("a", T0, &actor("a"), T0).unwrap();
        t.takeover(&actor("x"), Duration::days(9), T0).unwrap();
        assert_eq!(status(&t, "x"), Some(ServiceAppStatus::PendingActive));
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::PendingInactive));
        t.cancel_pending_change(T0).unwrap();
        assert_eq!(status(&t, "x"), Some(ServiceAppStatus::Inactive));
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::Active));
        t.takeover(&actor("x"), Duration::ZERO, T0).unwrap();
        assert_eq!(status(&t, "x"), Some(ServiceAppStatus::Active));
        assert_eq!(status(&t, "a"), Some(ServiceAppStatus::Inactive));
    }

    #[test]
    fn guid_and_ticks() {
        assert!(is_guid("23014d8c-71fe-4d00-a01a-31850bc5b42a"));
        assert!(!is_guid("23014d8c71fe4d00a01a31850bc5b42a"));
        let t = datetime!(2026-01-01 00:00:00.123456789 UTC);
        assert_eq!(to_ticks(t).nanosecond(), 123456700);
    }
}
