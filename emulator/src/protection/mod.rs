//! Protection of one tenant, free of I/O: policies of three workloads, their units,
//! inclusion rules, bulk addition jobs, the email notification setting and the directory
//! they refer to. Every operation takes `now` (virtual time); [`Protection::advance`] applies
//! the work whose delay has passed, oldest first, so the HTTP layer only translates.
//!
//! Decisions where Graph is silent (each also in the emulator's README):
//! - writes are acknowledged at once and finish after a virtual delay of
//!   `protect_seconds` + `protect_seconds_per_100` per started 100 units (default 60 s + 1 s);
//!   the delay applies per request (a "batch"), to rules and to bulk jobs alike;
//! - units go `protectRequested` -> `protected`, `unprotectRequested` -> `unprotected`,
//!   `removeRequested` -> gone from the policy's list (still addressable at
//!   `protectionUnits/{id}` as `unprotected`, so that it can be offboarded; the setting
//!   `removed_units_stay_listed` keeps it listed instead), `offboardRequested` -> `offboarded`,
//!   `cancelOffboardRequested` -> `unprotected`; units added to an inactive policy are
//!   `unprotected` at once;
//! - policy status is the aggregate of its units (as documented for protectionPolicyBase), with `updating` also while an
//!   activation or deactivation is being processed; an enabled policy without units is
//!   `active`; a unit with an `error` makes it `activeWithErrors`;
//! - `isEnabled` is true from activate to deactivate; activating an enabled policy or
//!   deactivating a disabled one is 400 `invalidStateForActivation` (the documented example);
//!   activating while another policy of the workload is enabled is 409
//!   `PolicyActivationNotAllowed`;
//! - one unit per protected resource and workload: adding a resource already in another
//!   policy is `ProtectionUnitAlreadyExists`; adding one already in the same policy is a no-op
//!   that echoes the unit; re-adding a removed resource re-attaches its old unit (same id);
//! - static rules and bulk jobs add units with source `manual`; dynamic rules add
//!   `dynamicRule` (and a unit both added manually and by a rule carries both);
//! - deleting a policy (only when inactive) removes its units from every list;
//! - the email notification setting starts disabled, `additionalEvents` `none`, role `custom`
//!   and no recipients.

pub mod directory;
pub mod expression;
pub mod restore;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::lifecycle::{IdentitySet, LcError, is_guid, to_ticks};
use directory::Directory;
use expression::{Expr, ExprError};

/// At most this many units in one create or `@delta` PATCH.
pub const MAX_UNITS_PER_REQUEST: usize = 50;
/// At most this many inputs in one bulk addition job.
pub const MAX_JOB_INPUTS: usize = 50_000;
pub const MAX_DISPLAY_NAME: usize = 1024;
/// At most this many users are protected through one dynamic rule; the rest are reported
/// in the rule's `error` (`completedWithErrors`).
pub const MAX_DYNAMIC_RULE_USERS: usize = 6000;
/// Retention periods Graph accepts for the weekly (`R/P1W`) tier.
pub const RETENTION_PERIODS: &[&str] = &[
    "P90D", "P180D", "P365D", "P730D", "P1095D", "P1460D", "P1825D", "P2190D", "P2555D", "P2920D",
    "P3285D", "P3650D",
];
/// Graph's default weekly retention (as its examples show it).
pub const DEFAULT_RETENTION: &str = "P1Y";

fn err(status: u16, code: &'static str, message: impl Into<String>) -> LcError {
    LcError {
        status,
        code,
        message: message.into(),
    }
}

/// Emulator-wide settings (admin `PUT /_emulator/settings`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    pub page_size: usize,
    pub protect_seconds: u64,
    pub protect_seconds_per_100: u64,
    #[serde(default)]
    pub removed_units_stay_listed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            page_size: 100,
            protect_seconds: 60,
            protect_seconds_per_100: 1,
            removed_units_stay_listed: false,
        }
    }
}

impl Settings {
    /// Processing delay of a batch of `n` units.
    pub fn delay(&self, n: usize) -> Duration {
        let hundreds = n.div_ceil(100) as u64;
        Duration::seconds((self.protect_seconds + self.protect_seconds_per_100 * hundreds) as i64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Workload {
    SharePoint,
    OneDrive,
    Exchange,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Self::SharePoint, Self::OneDrive, Self::Exchange];

    /// The short prefix of the unit, rule and job names: `site`, `drive`, `mailbox`.
    pub fn short(self) -> &'static str {
        match self {
            Self::SharePoint => "site",
            Self::OneDrive => "drive",
            Self::Exchange => "mailbox",
        }
    }

    /// The policy type's prefix: `sharePoint`, `oneDriveForBusiness`, `exchange`.
    pub fn long(self) -> &'static str {
        match self {
            Self::SharePoint => "sharePoint",
            Self::OneDrive => "oneDriveForBusiness",
            Self::Exchange => "exchange",
        }
    }

    pub fn from_short(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|w| s.eq_ignore_ascii_case(w.short()))
    }

    pub fn from_long(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|w| s.eq_ignore_ascii_case(w.long()))
    }

    /// What identifies the protected resource: a site id, or a user's object id.
    pub fn resource_property(self) -> &'static str {
        match self {
            Self::SharePoint => "siteId",
            _ => "directoryObjectId",
        }
    }
}

/// Members of `protectionUnitStatus`; those after `unknownFutureValue` are evolvable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnitStatus {
    ProtectRequested,
    Protected,
    UnprotectRequested,
    Unprotected,
    RemoveRequested,
    OffboardRequested,
    Offboarded,
    CancelOffboardRequested,
}

impl UnitStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::ProtectRequested => "protectRequested",
            Self::Protected => "protected",
            Self::UnprotectRequested => "unprotectRequested",
            Self::Unprotected => "unprotected",
            Self::RemoveRequested => "removeRequested",
            Self::OffboardRequested => "offboardRequested",
            Self::Offboarded => "offboarded",
            Self::CancelOffboardRequested => "cancelOffboardRequested",
        }
    }

    /// The member as served: evolvable members only to clients that asked for them.
    pub fn as_str(self, include_unknown: bool) -> &'static str {
        match self {
            Self::OffboardRequested | Self::Offboarded | Self::CancelOffboardRequested
                if !include_unknown =>
            {
                "unknownFutureValue"
            }
            s => s.name(),
        }
    }

    pub fn is_requested(self) -> bool {
        matches!(
            self,
            Self::ProtectRequested
                | Self::UnprotectRequested
                | Self::RemoveRequested
                | Self::OffboardRequested
                | Self::CancelOffboardRequested
        )
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::ProtectRequested,
            Self::Protected,
            Self::UnprotectRequested,
            Self::Unprotected,
            Self::RemoveRequested,
            Self::OffboardRequested,
            Self::Offboarded,
            Self::CancelOffboardRequested,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleStatus {
    Active,
    Completed,
    CompletedWithErrors,
    UpdateRequested,
    DeleteRequested,
}

impl RuleStatus {
    pub fn as_str(self, include_unknown: bool) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completedWithErrors",
            Self::UpdateRequested | Self::DeleteRequested if !include_unknown => {
                "unknownFutureValue"
            }
            Self::UpdateRequested => "updateRequested",
            Self::DeleteRequested => "deleteRequested",
        }
    }

    fn done(self) -> bool {
        matches!(self, Self::Completed | Self::CompletedWithErrors)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    Active,
    Completed,
    CompletedWithErrors,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completedWithErrors",
        }
    }
}

/// Graph's `publicError`, reduced to what the emulator fills in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub target: String,
}

/// Who created or last changed an object, interned per tenant (units are many, actors few).
pub type ActorRef = u32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stamp {
    pub created_by: ActorRef,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    pub created: OffsetDateTime,
    pub modified_by: ActorRef,
    #[serde(with = "time::serde::timestamp::nanoseconds")]
    pub modified: OffsetDateTime,
}

impl Stamp {
    fn new(by: ActorRef, now: OffsetDateTime) -> Self {
        Self {
            created_by: by,
            created: now,
            modified_by: by,
            modified: now,
        }
    }
    fn touch(&mut self, by: ActorRef, now: OffsetDateTime) {
        self.modified_by = by;
        self.modified = now;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub workload: Workload,
    pub display_name: String,
    pub enabled: bool,
    /// The weekly tier's period as the client spelled it.
    pub retention: String,
    pub stamp: Stamp,
    /// An activation or deactivation is processed until then.
    #[serde(default, with = "time::serde::timestamp::nanoseconds::option")]
    pub busy_until: Option<OffsetDateTime>,
}

/// `protectionSource` flags.
pub const SOURCE_MANUAL: u8 = 1;
pub const SOURCE_DYNAMIC: u8 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub workload: Workload,
    pub policy_id: Arc<str>,
    /// Site id or directory object id, as first sent.
    pub resource: String,
    pub status: UnitStatus,
    pub sources: u8,
    /// The dynamic rule that added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Arc<str>>,
    /// Its removal was processed: no longer in its policy's list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::timestamp::nanoseconds::option"
    )]
    pub offboard_requested: Option<OffsetDateTime>,
    /// The pending transition completes then.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::timestamp::nanoseconds::option"
    )]
    pub due: Option<OffsetDateTime>,
    pub stamp: Stamp,
    /// Intervals (unix seconds) during which it was `protected`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<(i64, Option<i64>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub workload: Workload,
    pub policy_id: String,
    pub expression: String,
    pub dynamic: bool,
    pub status: RuleStatus,
    pub error: Option<PublicError>,
    #[serde(default, with = "time::serde::timestamp::nanoseconds::option")]
    pub due: Option<OffsetDateTime>,
    pub stamp: Stamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub workload: Workload,
    pub policy_id: String,
    pub display_name: Option<String>,
    /// Site ids or directory object ids.
    pub ids: Vec<String>,
    /// Site urls or email addresses.
    pub names: Vec<String>,
    pub status: JobStatus,
    pub error: Option<PublicError>,
    #[serde(default, with = "time::serde::timestamp::nanoseconds::option")]
    pub due: Option<OffsetDateTime>,
    pub stamp: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub email: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Starts disabled, `additionalEvents` `none`, no custom recipients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    pub is_enabled: bool,
    pub restore_and_policy_updates: bool,
    pub recipients: Vec<Recipient>,
}

/// Work waiting for its time.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Work {
    Units(Vec<u32>),
    Rule(String),
    Job(String),
}

/// One entry of a `…ProtectionUnits@delta` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem {
    Add { resource: String },
    Remove { unit_id: String },
}

/// The outcome of one `@delta` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Unit(usize),
    Failed {
        item: DeltaItem,
        status: u16,
        code: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Protection {
    pub policies: Vec<Policy>,
    pub units: Vec<Unit>,
    pub rules: Vec<Rule>,
    pub jobs: Vec<Job>,
    pub notifications: Notifications,
    pub directory: Directory,
    pub actors: Vec<IdentitySet>,
    #[serde(with = "queue_as_list")]
    queue: BTreeMap<(i128, u64), Work>,
    seq: u64,
    /// Ids are derived from this random seed and a counter: a random UUID per unit costs a
    /// system call, which dominated adding 50,000 units.
    #[serde(default)]
    id_seed: u64,
    #[serde(default)]
    ids_issued: u64,
    #[serde(skip)]
    unit_ids: HashMap<String, usize>,
    #[serde(skip)]
    resources: HashMap<(Workload, String), usize>,
}

/// splitmix64: spreads a counter over 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn nanos(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos()
}

/// A site id as Graph writes it: `host[/path],guid,guid`.
pub fn is_site_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split(',').collect();
    matches!(parts.as_slice(), [host, a, b] if !host.is_empty() && !host.contains(' ') && is_guid(a) && is_guid(b))
}

fn retention_days(period: &str) -> i64 {
    let p = period.to_ascii_uppercase();
    let num = |s: &str| s[1..s.len() - 1].parse::<i64>().ok();
    match p.as_bytes().last() {
        Some(b'D') => num(&p).unwrap_or(365),
        Some(b'W') => num(&p).map_or(365, |n| n * 7),
        Some(b'Y') => num(&p).map_or(365, |n| n * 365),
        _ => 365,
    }
}

impl Protection {
    /// A tenant's protection before anything was set: no objects, open directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the indexes after loading from disk.
    pub fn reindex(&mut self) {
        self.directory.reindex();
        self.unit_ids.clear();
        self.resources.clear();
        for (i, u) in self.units.iter().enumerate() {
            self.unit_ids.insert(key(&u.id), i);
            self.resources.insert((u.workload, key(&u.resource)), i);
        }
    }

    fn new_id(&mut self) -> String {
        if self.id_seed == 0 {
            self.id_seed = u64::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..8]
                    .try_into()
                    .unwrap_or([1; 8]),
            ) | 1;
        }
        self.ids_issued += 1;
        let a = mix(self.id_seed ^ self.ids_issued);
        let b = mix(a ^ self.ids_issued.rotate_left(32));
        let bytes = ((a as u128) << 64 | b as u128).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// Interns an identity (few distinct ones per tenant).
    pub fn actor(&mut self, who: &IdentitySet) -> ActorRef {
        if let Some(i) = self.actors.iter().position(|a| a == who) {
            return i as ActorRef;
        }
        self.actors.push(who.clone());
        (self.actors.len() - 1) as ActorRef
    }

    fn schedule(&mut self, at: OffsetDateTime, work: Work) {
        self.seq += 1;
        self.queue.insert((nanos(at), self.seq), work);
    }

    // ----- lookups -----

    pub fn policy_index(&self, id: &str) -> Option<usize> {
        self.policies
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(id))
    }

    pub fn unit_index(&self, id: &str) -> Option<usize> {
        self.unit_ids.get(&key(id)).copied()
    }

    pub fn rule_index(&self, id: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.id.eq_ignore_ascii_case(id))
    }

    pub fn job_index(&self, id: &str) -> Option<usize> {
        self.jobs.iter().position(|j| j.id.eq_ignore_ascii_case(id))
    }

    /// Whether a unit shows in its policy's list (and in tenant-wide lists).
    pub fn listed(&self, u: &Unit, stay_listed: bool) -> bool {
        !u.removed || stay_listed
    }

    pub fn retention_of(&self, policy_id: &str) -> Duration {
        let days = self
            .policy_index(policy_id)
            .map_or(365, |i| retention_days(&self.policies[i].retention));
        Duration::days(days)
    }

    /// Policy status as Graph documents it for protectionPolicyBase, from its units.
    pub fn policy_status(&self, p: &Policy, now: OffsetDateTime) -> &'static str {
        if p.busy_until.is_some_and(|t| t > now) {
            return "updating";
        }
        let mut requested = false;
        let mut bad = false;
        for u in self
            .units
            .iter()
            .filter(|u| !u.removed && *u.policy_id == *p.id)
        {
            requested |= u.status.is_requested();
            bad |= u.error.is_some() || u.status == UnitStatus::Unprotected;
        }
        match (requested, p.enabled, bad) {
            (true, _, _) => "updating",
            (false, false, _) => "inactive",
            (false, true, true) => "activeWithErrors",
            (false, true, false) => "active",
        }
    }

    // ----- the clock -----

    /// Applies every piece of work due at or before `now`. Returns whether anything changed.
    pub fn advance(&mut self, now: OffsetDateTime, settings: &Settings) -> bool {
        let mut changed = false;
        while let Some(entry) = self.queue.first_entry() {
            let (at_ns, _) = *entry.key();
            if at_ns > nanos(now) {
                break;
            }
            let work = entry.remove();
            let at = OffsetDateTime::from_unix_timestamp_nanos(at_ns).unwrap_or(now);
            changed = true;
            match work {
                Work::Units(idx) => {
                    for i in idx {
                        self.complete_unit(i as usize, at, settings);
                    }
                }
                Work::Rule(id) => self.complete_rule(&id, at, settings),
                Work::Job(id) => self.complete_job(&id, at, settings),
            }
        }
        for p in &mut self.policies {
            if p.busy_until.is_some_and(|t| t <= now) {
                p.busy_until = None;
                changed = true;
            }
        }
        changed
    }

    fn complete_unit(&mut self, i: usize, at: OffsetDateTime, settings: &Settings) {
        let enabled = {
            let pid = self.units[i].policy_id.clone();
            self.policy_index(&pid)
                .is_some_and(|p| self.policies[p].enabled)
        };
        let u = &mut self.units[i];
        if u.due != Some(at) {
            return; // superseded by a later change
        }
        u.due = None;
        let secs = at.unix_timestamp();
        let stop = |u: &mut Unit| {
            if let Some(last) = u.history.last_mut()
                && last.1.is_none()
            {
                last.1 = Some(secs);
            }
        };
        match u.status {
            UnitStatus::ProtectRequested if enabled => {
                u.status = UnitStatus::Protected;
                // still open when protection was never interrupted (re-activated in time); a
                // failing unit takes no backups until its error is cleared
                if u.error.is_none() && u.history.last().is_none_or(|h| h.1.is_some()) {
                    u.history.push((secs, None));
                }
            }
            UnitStatus::ProtectRequested | UnitStatus::UnprotectRequested => {
                u.status = UnitStatus::Unprotected;
                stop(u);
            }
            UnitStatus::RemoveRequested => {
                u.status = UnitStatus::Unprotected;
                u.sources = 0;
                u.rule_id = None;
                u.removed = !settings.removed_units_stay_listed;
                stop(u);
            }
            UnitStatus::OffboardRequested => u.status = UnitStatus::Offboarded,
            UnitStatus::CancelOffboardRequested => u.status = UnitStatus::Unprotected,
            UnitStatus::Protected | UnitStatus::Unprotected | UnitStatus::Offboarded => {}
        }
        u.stamp.modified = at;
    }

    /// Puts units into a requested state, completing together after the batch delay.
    fn request(
        &mut self,
        idx: &[usize],
        status: UnitStatus,
        by: ActorRef,
        now: OffsetDateTime,
        settings: &Settings,
    ) {
        if idx.is_empty() {
            return;
        }
        let due = to_ticks(now + settings.delay(idx.len()));
        for &i in idx {
            let u = &mut self.units[i];
            u.status = status;
            u.due = Some(due);
            u.stamp.touch(by, now);
        }
        self.schedule(due, Work::Units(idx.iter().map(|&i| i as u32).collect()));
    }

    // ----- policies -----

    pub fn validate_name(name: Option<&str>) -> Result<String, LcError> {
        match name {
            Some(n) if !n.trim().is_empty() && n.chars().count() <= MAX_DISPLAY_NAME => {
                Ok(n.to_string())
            }
            _ => Err(err(
                400,
                "InvalidDisplayName",
                format!("The displayName must have 1 to {MAX_DISPLAY_NAME} characters."),
            )),
        }
    }

    pub fn validate_retention(period: &str) -> Result<String, LcError> {
        if RETENTION_PERIODS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(period))
        {
            Ok(period.to_ascii_uppercase())
        } else {
            Err(err(
                400,
                "InvalidRetentionSettings",
                format!(
                    "The retention period '{period}' is not supported; use one of {}.",
                    RETENTION_PERIODS.join(", ")
                ),
            ))
        }
    }

    fn enabled_policy(&self, w: Workload, except: Option<&str>) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.workload == w && p.enabled && Some(p.id.as_str()) != except)
    }

    /// `POST /{W}ProtectionPolicies`. Returns the policy's index and, per unit, the outcome.
    #[allow(clippy::too_many_arguments)]
    pub fn create_policy(
        &mut self,
        w: Workload,
        name: Option<&str>,
        retention: Option<&str>,
        resources: Vec<String>,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(usize, Vec<ItemOutcome>), LcError> {
        let now = to_ticks(now);
        let name = Self::validate_name(name)?;
        let retention = match retention {
            Some(r) => Self::validate_retention(r)?,
            None => DEFAULT_RETENTION.to_string(),
        };
        if resources.len() > MAX_UNITS_PER_REQUEST {
            return Err(too_many(resources.len()));
        }
        if let Some(p) = self.enabled_policy(w, None) {
            return Err(err(
                409,
                "PolicyCreationNotAllowed",
                format!(
                    "Another active Policy already exists for this service: '{}'.",
                    p.id
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &resources {
            self.check_resource(w, r)?;
            if !seen.insert(key(r)) {
                return Err(err(
                    400,
                    "DuplicateProtectionUnitInList",
                    format!("'{r}' appears more than once in the request."),
                ));
            }
            if let Some(&i) = self.resources.get(&(w, key(r)))
                && !self.units[i].removed
                && self.units[i].sources != 0
            {
                return Err(err(
                    409,
                    "ProtectionUnitAlreadyExists",
                    format!("'{r}' is already protected under another policy."),
                ));
            }
        }
        let by = self.actor(who);
        let id = self.new_id();
        self.policies.push(Policy {
            id,
            workload: w,
            display_name: name,
            enabled: false,
            retention,
            stamp: Stamp::new(by, now),
            busy_until: None,
        });
        let pi = self.policies.len() - 1;
        let items = resources
            .into_iter()
            .map(|resource| DeltaItem::Add { resource })
            .collect();
        let outcomes = self.apply_delta(pi, items, by, now, settings)?;
        Ok((pi, outcomes))
    }

    /// 400 `InvalidProtectionUnitId` unless the id is well-formed and (in a closed directory)
    /// exists with the workload's resource.
    fn check_resource(&self, w: Workload, r: &str) -> Result<(), LcError> {
        let ok = match w {
            Workload::SharePoint => {
                is_site_id(r) && (self.directory.open || self.directory.site(r).is_some())
            }
            Workload::OneDrive | Workload::Exchange => {
                is_guid(r)
                    && (self.directory.open
                        || self.directory.user(r).is_some_and(|u| {
                            if w == Workload::Exchange {
                                u.mailbox
                            } else {
                                u.drive
                            }
                        }))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(err(
                400,
                "InvalidProtectionUnitId",
                format!(
                    "'{r}' is not a valid {} of this tenant.",
                    w.resource_property()
                ),
            ))
        }
    }

    /// `PATCH` of a policy: name, retention and `…ProtectionUnits@delta`.
    #[allow(clippy::too_many_arguments)]
    pub fn patch_policy(
        &mut self,
        pi: usize,
        name: Option<Option<&str>>,
        retention: Option<&str>,
        items: Vec<DeltaItem>,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<Vec<ItemOutcome>, LcError> {
        let now = to_ticks(now);
        let name = name.map(Self::validate_name).transpose()?;
        let retention = retention.map(Self::validate_retention).transpose()?;
        if items.len() > MAX_UNITS_PER_REQUEST {
            return Err(too_many(items.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for it in &items {
            let k = match it {
                DeltaItem::Add { resource } => ("a", key(resource)),
                DeltaItem::Remove { unit_id } => ("r", key(unit_id)),
            };
            if !seen.insert(k) {
                return Err(err(
                    400,
                    "DuplicateProtectionUnitInList",
                    "The same protection unit appears more than once in the request.",
                ));
            }
        }
        let pid = self.policies[pi].id.clone();
        for it in &items {
            if let DeltaItem::Remove { unit_id } = it
                && let Some(i) = self.unit_index(unit_id)
                && *self.units[i].policy_id == *pid
                && self.units[i].sources & SOURCE_DYNAMIC != 0
            {
                return Err(err(
                    400,
                    "ProtectionUnitActionNotAllowed",
                    format!(
                        "The protection unit '{unit_id}' is protected by a dynamic rule and cannot be removed manually."
                    ),
                ));
            }
        }
        let by = self.actor(who);
        let p = &mut self.policies[pi];
        if let Some(n) = name {
            p.display_name = n;
        }
        if let Some(r) = retention {
            p.retention = r;
        }
        p.stamp.touch(by, now);
        self.apply_delta(pi, items, by, now, settings)
    }

    fn apply_delta(
        &mut self,
        pi: usize,
        items: Vec<DeltaItem>,
        by: ActorRef,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<Vec<ItemOutcome>, LcError> {
        let (w, pid, enabled) = {
            let p = &self.policies[pi];
            (p.workload, Arc::<str>::from(p.id.as_str()), p.enabled)
        };
        let mut outcomes = Vec::with_capacity(items.len());
        let mut to_protect = Vec::new();
        let mut to_remove = Vec::new();
        for item in items {
            match &item {
                DeltaItem::Add { resource } => {
                    if let Err(e) = self.check_resource(w, resource) {
                        outcomes.push(failed(item.clone(), e));
                        continue;
                    }
                    match self.attach(w, &pid, resource, SOURCE_MANUAL, None, by, now) {
                        Ok((i, fresh)) => {
                            if fresh {
                                to_protect.push(i);
                            }
                            outcomes.push(ItemOutcome::Unit(i));
                        }
                        Err(e) => outcomes.push(failed(item.clone(), e)),
                    }
                }
                DeltaItem::Remove { unit_id } => match self.unit_index(unit_id) {
                    Some(i) if *self.units[i].policy_id == *pid && !self.units[i].removed => {
                        if self.units[i].status != UnitStatus::RemoveRequested {
                            to_remove.push(i);
                        }
                        outcomes.push(ItemOutcome::Unit(i));
                    }
                    _ => outcomes.push(ItemOutcome::Failed {
                        item: item.clone(),
                        status: 404,
                        code: "ProtectionUnitNotFound",
                        message: format!(
                            "The protection unit '{unit_id}' was not found in this policy."
                        ),
                    }),
                },
            }
        }
        if enabled {
            self.request(&to_protect, UnitStatus::ProtectRequested, by, now, settings);
        }
        self.request(&to_remove, UnitStatus::RemoveRequested, by, now, settings);
        Ok(outcomes)
    }

    /// Adds `resource` to a policy with `source`. Returns the unit and whether it needs
    /// protecting (new or re-attached), or `ProtectionUnitAlreadyExists`.
    #[allow(clippy::too_many_arguments)]
    fn attach(
        &mut self,
        w: Workload,
        pid: &Arc<str>,
        resource: &str,
        source: u8,
        rule: Option<&Arc<str>>,
        by: ActorRef,
        now: OffsetDateTime,
    ) -> Result<(usize, bool), LcError> {
        let k = (w, key(resource));
        if let Some(&i) = self.resources.get(&k) {
            let u = &mut self.units[i];
            let gone = u.removed
                || (u.status == UnitStatus::Unprotected && u.sources == 0)
                || matches!(
                    u.status,
                    UnitStatus::Offboarded | UnitStatus::OffboardRequested
                );
            if !gone && *u.policy_id != **pid {
                return Err(err(
                    409,
                    "ProtectionUnitAlreadyExists",
                    format!("'{resource}' is already protected under another policy."),
                ));
            }
            if !gone && u.status != UnitStatus::RemoveRequested {
                u.sources |= source;
                if let Some(r) = rule {
                    u.rule_id = Some(r.clone());
                }
                return Ok((i, false));
            }
            // a pending removal is overtaken: protection stops now and restarts when requested
            if let Some(last) = u.history.last_mut()
                && last.1.is_none()
            {
                last.1 = Some(now.unix_timestamp());
            }
            u.policy_id = pid.clone();
            u.removed = false;
            u.sources = source;
            u.rule_id = rule.cloned();
            u.status = UnitStatus::Unprotected;
            u.due = None;
            u.error = None;
            u.offboard_requested = None;
            u.stamp.touch(by, now);
            return Ok((i, true));
        }
        let id = self.new_id();
        self.units.push(Unit {
            id: id.clone(),
            workload: w,
            policy_id: pid.clone(),
            resource: resource.to_string(),
            status: UnitStatus::Unprotected,
            sources: source,
            rule_id: rule.cloned(),
            removed: false,
            error: None,
            offboard_requested: None,
            due: None,
            stamp: Stamp::new(by, now),
            history: Vec::new(),
        });
        let i = self.units.len() - 1;
        self.unit_ids.insert(key(&id), i);
        self.resources.insert(k, i);
        Ok((i, true))
    }

    /// Units of a policy that are not removed.
    fn policy_units(&self, pid: &str) -> Vec<usize> {
        (0..self.units.len())
            .filter(|&i| !self.units[i].removed && *self.units[i].policy_id == *pid)
            .collect()
    }

    pub fn activate(
        &mut self,
        pi: usize,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(), LcError> {
        let now = to_ticks(now);
        let (w, pid) = (self.policies[pi].workload, self.policies[pi].id.clone());
        if self.policies[pi].enabled {
            return Err(err(
                400,
                "invalidStateForActivation",
                "To activate, the policy must be Inactive.",
            ));
        }
        if let Some(other) = self.enabled_policy(w, Some(&pid)) {
            return Err(err(
                409,
                "PolicyActivationNotAllowed",
                format!(
                    "Only one active backup policy per underlying service is allowed; '{}' is active.",
                    other.id
                ),
            ));
        }
        let by = self.actor(who);
        let units: Vec<usize> = self
            .policy_units(&pid)
            .into_iter()
            .filter(|&i| {
                matches!(
                    self.units[i].status,
                    UnitStatus::Unprotected | UnitStatus::UnprotectRequested
                )
            })
            .collect();
        let p = &mut self.policies[pi];
        p.enabled = true;
        p.stamp.touch(by, now);
        p.busy_until = Some(now + settings.delay(units.len()));
        self.request(&units, UnitStatus::ProtectRequested, by, now, settings);
        Ok(())
    }

    pub fn deactivate(
        &mut self,
        pi: usize,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(), LcError> {
        let now = to_ticks(now);
        if !self.policies[pi].enabled {
            return Err(err(
                400,
                "invalidStateForActivation",
                "To deactivate, the policy must be Active or ActiveWithErrors.",
            ));
        }
        let by = self.actor(who);
        self.disable(pi, by, now, settings);
        Ok(())
    }

    fn disable(&mut self, pi: usize, by: ActorRef, now: OffsetDateTime, settings: &Settings) {
        let pid = self.policies[pi].id.clone();
        let units: Vec<usize> = self
            .policy_units(&pid)
            .into_iter()
            .filter(|&i| {
                matches!(
                    self.units[i].status,
                    UnitStatus::Protected | UnitStatus::ProtectRequested
                )
            })
            .collect();
        let p = &mut self.policies[pi];
        p.enabled = false;
        p.stamp.touch(by, now);
        p.busy_until = Some(now + settings.delay(units.len()));
        self.request(&units, UnitStatus::UnprotectRequested, by, now, settings);
    }

    /// The billing profile turned invalid on an enabled tenant: every policy is deactivated.
    pub fn deactivate_all(&mut self, who: &IdentitySet, now: OffsetDateTime, settings: &Settings) {
        let by = self.actor(who);
        for pi in 0..self.policies.len() {
            if self.policies[pi].enabled {
                self.disable(pi, by, to_ticks(now), settings);
            }
        }
    }

    pub fn delete_policy(&mut self, pi: usize, now: OffsetDateTime) -> Result<(), LcError> {
        if self.policies[pi].enabled || self.policy_status(&self.policies[pi], now) != "inactive" {
            return Err(err(
                403,
                "PolicyActionNotAllowed",
                "Only an inactive policy can be deleted; deactivate it first.",
            ));
        }
        let pid = self.policies.remove(pi).id;
        for u in self.units.iter_mut().filter(|u| *u.policy_id == *pid) {
            u.removed = true;
            u.sources = 0;
            u.rule_id = None;
        }
        self.rules.retain(|r| r.policy_id != pid);
        self.jobs.retain(|j| j.policy_id != pid);
        Ok(())
    }

    // ----- units -----

    /// `offboard` (`on = true`) or `cancelOffboard`.
    pub fn offboard(
        &mut self,
        ui: usize,
        on: bool,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(), LcError> {
        let now = to_ticks(now);
        let u = &self.units[ui];
        let removed = u.removed || (u.status == UnitStatus::Unprotected && u.sources == 0);
        let allowed = if on {
            removed && u.status == UnitStatus::Unprotected
        } else {
            matches!(
                u.status,
                UnitStatus::OffboardRequested | UnitStatus::Offboarded
            )
        };
        if !allowed {
            return Err(err(
                403,
                "OperationNotAllowed",
                format!(
                    "The protection unit is not in valid state for {}.",
                    if on {
                        "offboarding"
                    } else {
                        "cancelling the offboarding"
                    }
                ),
            ));
        }
        let by = self.actor(who);
        if on {
            self.units[ui].offboard_requested = Some(now);
            self.request(&[ui], UnitStatus::OffboardRequested, by, now, settings);
        } else {
            self.request(
                &[ui],
                UnitStatus::CancelOffboardRequested,
                by,
                now,
                settings,
            );
        }
        Ok(())
    }

    /// Admin: these units carry an error (unknown ids are reported back). A failing unit gets
    /// no restore points from `now` until its error is cleared: its protection interval ends
    /// and, when cleared while still `protected`, a new one starts.
    pub fn set_unit_errors(
        &mut self,
        ids: &[String],
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Vec<String> {
        let secs = now.unix_timestamp();
        let mut unknown = Vec::new();
        for id in ids {
            let Some(i) = self.unit_index(id) else {
                unknown.push(id.clone());
                continue;
            };
            let u = &mut self.units[i];
            u.error = (!code.is_empty()).then(|| PublicError {
                code: code.to_string(),
                message: message.to_string(),
                details: Vec::new(),
            });
            let open = u.history.last().is_some_and(|h| h.1.is_none());
            match (&u.error, open) {
                (Some(_), true) => {
                    if let Some(last) = u.history.last_mut() {
                        last.1 = Some(secs);
                    }
                }
                (None, false) if u.status == UnitStatus::Protected => {
                    u.history.push((secs, None));
                }
                _ => {}
            }
        }
        unknown
    }

    // ----- rules -----

    fn parse_rule(w: Workload, expression: &str) -> Result<Expr, LcError> {
        let parsed = match w {
            Workload::SharePoint => expression::parse_sites(expression),
            _ => expression::parse_groups(expression),
        };
        parsed.map_err(|e| match e {
            ExprError::Invalid(why) => err(
                400,
                "InvalidRuleExpression",
                format!("Invalid rule expression: {why}."),
            ),
            ExprError::TooManyGroups(n) => err(
                413,
                "InvalidRuleExpressionGroupLimitExceeded",
                format!(
                    "The expression has {n} groups; at most {} are allowed.",
                    expression::MAX_GROUPS
                ),
            ),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_rule(
        &mut self,
        pi: usize,
        expression: &str,
        dynamic: bool,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<usize, LcError> {
        let now = to_ticks(now);
        let (w, pid) = (self.policies[pi].workload, self.policies[pi].id.clone());
        if dynamic && w == Workload::SharePoint {
            return Err(err(
                400,
                "InvalidInclusionRuleCreateRequest",
                "Dynamic rules are not supported for SharePoint.",
            ));
        }
        Self::parse_rule(w, expression)?;
        if dynamic && let Some(r) = self.rules.iter().find(|r| r.policy_id == pid && r.dynamic) {
            return Err(err(
                400,
                "InvalidInclusionRuleCreateRequest",
                format!("The policy already has a dynamic rule: '{}'.", r.id),
            ));
        }
        let by = self.actor(who);
        let id = self.new_id();
        let due = to_ticks(now + settings.delay(0));
        self.rules.push(Rule {
            id: id.clone(),
            workload: w,
            policy_id: pid,
            expression: expression.to_string(),
            dynamic,
            status: RuleStatus::Active,
            error: None,
            due: Some(due),
            stamp: Stamp::new(by, now),
        });
        self.schedule(due, Work::Rule(id));
        Ok(self.rules.len() - 1)
    }

    pub fn patch_rule(
        &mut self,
        ri: usize,
        expression: &str,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(), LcError> {
        let now = to_ticks(now);
        let r = &self.rules[ri];
        if !r.dynamic {
            return Err(err(
                400,
                "PatchNotAllowedForStaticRule",
                "Only dynamic rules can be updated.",
            ));
        }
        match r.status {
            RuleStatus::DeleteRequested => {
                return Err(err(
                    422,
                    "InvalidProtectionRuleStatusForDynamicRuleEdit",
                    "The rule is being deleted.",
                ));
            }
            s if !s.done() => {
                return Err(err(
                    400,
                    "InvalidProtectionRuleStatusForUpdation",
                    "The rule can be updated only when it is completed or completedWithErrors.",
                ));
            }
            _ => {}
        }
        Self::parse_rule(r.workload, expression)?;
        let by = self.actor(who);
        let due = to_ticks(now + settings.delay(0));
        let r = &mut self.rules[ri];
        r.expression = expression.to_string();
        r.status = RuleStatus::UpdateRequested;
        r.due = Some(due);
        r.stamp.touch(by, now);
        let id = r.id.clone();
        self.schedule(due, Work::Rule(id));
        Ok(())
    }

    pub fn run_rule(
        &mut self,
        ri: usize,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(), LcError> {
        let now = to_ticks(now);
        let r = &self.rules[ri];
        if r.dynamic {
            return Err(err(
                400,
                "RunNotAllowedForDynamicRule",
                "Dynamic rules are applied automatically and cannot be run.",
            ));
        }
        if !r.status.done() {
            return Err(err(
                400,
                "ProtectionRuleActionNotAllowed",
                "The rule is still running.",
            ));
        }
        let by = self.actor(who);
        let due = to_ticks(now + settings.delay(0));
        let r = &mut self.rules[ri];
        r.status = RuleStatus::Active;
        r.due = Some(due);
        r.stamp.touch(by, now);
        let id = r.id.clone();
        self.schedule(due, Work::Rule(id));
        Ok(())
    }

    pub fn delete_rule(&mut self, ri: usize) -> Result<(), LcError> {
        let r = &self.rules[ri];
        if !r.status.done() {
            return Err(if r.dynamic {
                err(
                    422,
                    "InvalidProtectionRuleStatusForDynamicRuleDeletion",
                    "A dynamic rule can be deleted only when it is completed or completedWithErrors.",
                )
            } else {
                err(
                    400,
                    "InvalidProtectionRuleStatusForDeletion",
                    "A rule can be deleted only when it is completed or completedWithErrors.",
                )
            });
        }
        // Units keep their protection; they simply stop following the rule.
        let id = self.rules.remove(ri).id;
        for u in self.units.iter_mut() {
            if u.rule_id.as_deref() == Some(id.as_str()) {
                u.rule_id = None;
                u.sources = (u.sources & !SOURCE_DYNAMIC) | SOURCE_MANUAL;
            }
        }
        Ok(())
    }

    pub fn delete_and_unprotect(
        &mut self,
        ri: usize,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<(), LcError> {
        let now = to_ticks(now);
        let r = &self.rules[ri];
        if !r.dynamic {
            return Err(err(
                400,
                "ProtectionRuleActionNotAllowed",
                "deleteAndUnprotect applies to dynamic rules only.",
            ));
        }
        if r.status == RuleStatus::DeleteRequested || !r.status.done() {
            return Err(err(
                422,
                "InvalidProtectionRuleStatusForDynamicRuleDeleteAndUnprotectAll",
                "The rule must be completed or completedWithErrors.",
            ));
        }
        let by = self.actor(who);
        let due = to_ticks(now + settings.delay(0));
        let r = &mut self.rules[ri];
        r.status = RuleStatus::DeleteRequested;
        r.due = Some(due);
        r.stamp.touch(by, now);
        let id = r.id.clone();
        self.schedule(due, Work::Rule(id));
        Ok(())
    }

    /// The resources a rule selects now, and the groups it names that do not exist.
    fn evaluate(&self, r: &Rule) -> (Vec<String>, Vec<String>) {
        let Ok(expr) = Self::parse_rule(r.workload, &r.expression) else {
            return (Vec::new(), Vec::new());
        };
        match &expr {
            Expr::Groups(groups) => {
                let mut out = Vec::new();
                let mut missing = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for g in groups {
                    let Some(group) = self.directory.group(g) else {
                        missing.push(g.clone());
                        continue;
                    };
                    for m in &group.members {
                        let fits = self.directory.user(m).is_some_and(|u| match r.workload {
                            Workload::Exchange => u.mailbox,
                            _ => u.drive,
                        });
                        if fits && seen.insert(key(m)) {
                            out.push(m.clone());
                        }
                    }
                }
                (out, missing)
            }
            Expr::Sites { .. } => (
                self.directory
                    .doc
                    .sites
                    .iter()
                    .filter(|s| {
                        expr.matches_site(
                            s.display_name.as_deref().unwrap_or_default(),
                            s.web_url.as_deref().unwrap_or_default(),
                        )
                    })
                    .map(|s| s.id.clone())
                    .collect(),
                Vec::new(),
            ),
        }
    }

    fn complete_rule(&mut self, id: &str, at: OffsetDateTime, settings: &Settings) {
        let Some(ri) = self.rule_index(id) else {
            return;
        };
        if self.rules[ri].due != Some(at) {
            return;
        }
        self.rules[ri].due = None;
        if self.rules[ri].status == RuleStatus::DeleteRequested {
            let rule = self.rules.remove(ri);
            // Whoever asked for deleteAndUnprotect changed the units.
            self.unprotect_rule_units(&rule.id, None, rule.stamp.modified_by, at, settings);
            return;
        }
        self.apply_rule(ri, at, settings);
    }

    /// Drops the rule's source from its units (all, or those not in `keep`); units left with
    /// no source are removed from the policy.
    fn unprotect_rule_units(
        &mut self,
        rid: &str,
        keep: Option<&std::collections::HashSet<String>>,
        by: ActorRef,
        at: OffsetDateTime,
        settings: &Settings,
    ) {
        let mut remove = Vec::new();
        for (i, u) in self.units.iter_mut().enumerate() {
            if u.rule_id.as_deref() != Some(rid)
                || keep.is_some_and(|k| k.contains(&key(&u.resource)))
            {
                continue;
            }
            u.rule_id = None;
            u.sources &= !SOURCE_DYNAMIC;
            if u.sources == 0 && !u.removed {
                remove.push(i);
            }
        }
        self.request(&remove, UnitStatus::RemoveRequested, by, at, settings);
    }

    /// Applies a rule now: adds what it selects, and for a dynamic rule releases what it no
    /// longer selects.
    fn apply_rule(&mut self, ri: usize, at: OffsetDateTime, settings: &Settings) {
        let r = self.rules[ri].clone();
        let (mut selected, missing) = self.evaluate(&r);
        let over: Vec<String> = if r.dynamic && selected.len() > MAX_DYNAMIC_RULE_USERS {
            selected.split_off(MAX_DYNAMIC_RULE_USERS)
        } else {
            Vec::new()
        };
        let Some(pi) = self.policy_index(&r.policy_id) else {
            return;
        };
        let pid: Arc<str> = Arc::from(r.policy_id.as_str());
        let rid: Arc<str> = Arc::from(r.id.as_str());
        let (source, rule) = if r.dynamic {
            (SOURCE_DYNAMIC, Some(&rid))
        } else {
            (SOURCE_MANUAL, None)
        };
        let by = r.stamp.modified_by;
        let mut fresh = Vec::new();
        let mut details = Vec::new();
        for res in &selected {
            match self.attach(r.workload, &pid, res, source, rule, by, at) {
                Ok((i, true)) => fresh.push(i),
                Ok(_) => {}
                Err(e) => details.push(ErrorDetail {
                    code: e.code.to_string(),
                    message: e.message,
                    target: res.clone(),
                }),
            }
        }
        if self.policies[pi].enabled {
            self.request(&fresh, UnitStatus::ProtectRequested, by, at, settings);
        }
        if r.dynamic {
            let keep: std::collections::HashSet<String> = selected.iter().map(|s| key(s)).collect();
            self.unprotect_rule_units(&r.id, Some(&keep), by, at, settings);
        }
        for u in over {
            details.push(ErrorDetail {
                code: "DynamicRuleUserLimitExceeded".into(),
                message: format!("A dynamic rule protects at most {MAX_DYNAMIC_RULE_USERS} users."),
                target: u,
            });
        }
        for g in missing {
            details.push(ErrorDetail {
                code: "GroupNotFound".into(),
                message: format!("The group '{g}' was not found."),
                target: g,
            });
        }
        let rule = &mut self.rules[ri];
        if details.is_empty() {
            rule.status = RuleStatus::Completed;
            rule.error = None;
        } else {
            rule.status = RuleStatus::CompletedWithErrors;
            rule.error = Some(PublicError {
                code: "ProtectionRuleCompletedWithErrors".into(),
                message: format!("{} resources could not be protected.", details.len()),
                details,
            });
        }
        rule.stamp.modified = at;
    }

    /// Re-evaluates every dynamic rule (the directory changed).
    pub fn directory_changed(&mut self, now: OffsetDateTime, settings: &Settings) {
        for ri in 0..self.rules.len() {
            if self.rules[ri].dynamic && self.rules[ri].status.done() {
                self.apply_rule(ri, to_ticks(now), settings);
            }
        }
    }

    // ----- bulk addition jobs -----

    #[allow(clippy::too_many_arguments)]
    pub fn create_job(
        &mut self,
        pi: usize,
        display_name: Option<String>,
        ids: Vec<String>,
        names: Vec<String>,
        who: &IdentitySet,
        now: OffsetDateTime,
        settings: &Settings,
    ) -> Result<usize, LcError> {
        let now = to_ticks(now);
        let n = ids.len() + names.len();
        if n == 0 {
            return Err(err(
                400,
                "InvalidBulkAdditionJobRequest",
                "The job names no resource.",
            ));
        }
        if n > MAX_JOB_INPUTS {
            return Err(err(
                413,
                "ProtectionUnitsLimitBreached",
                format!(
                    "A bulk addition job takes at most {MAX_JOB_INPUTS} resources; this one has {n}."
                ),
            ));
        }
        let by = self.actor(who);
        let (w, pid) = (self.policies[pi].workload, self.policies[pi].id.clone());
        let id = self.new_id();
        let due = to_ticks(now + settings.delay(n));
        self.jobs.push(Job {
            id: id.clone(),
            workload: w,
            policy_id: pid,
            display_name,
            ids,
            names,
            status: JobStatus::Active,
            error: None,
            due: Some(due),
            stamp: Stamp::new(by, now),
        });
        self.schedule(due, Work::Job(id));
        Ok(self.jobs.len() - 1)
    }

    fn complete_job(&mut self, id: &str, at: OffsetDateTime, settings: &Settings) {
        let Some(ji) = self.job_index(id) else { return };
        let job = std::mem::take(&mut self.jobs[ji].ids);
        let names = std::mem::take(&mut self.jobs[ji].names);
        let (w, pid, by) = {
            let j = &self.jobs[ji];
            (j.workload, j.policy_id.clone(), j.stamp.modified_by)
        };
        let mut details = Vec::new();
        let mut resolved = Vec::with_capacity(job.len() + names.len());
        for r in &job {
            match self.check_resource(w, r) {
                Ok(()) => resolved.push((r.clone(), r.clone())),
                Err(e) => details.push(ErrorDetail {
                    code: e.code.into(),
                    message: e.message,
                    target: r.clone(),
                }),
            }
        }
        for n in &names {
            let found = match w {
                Workload::SharePoint => self.directory.site_by_url(n).map(|s| s.id.clone()),
                _ => self.directory.user_by_email(n).map(|u| u.id.clone()),
            };
            match found {
                // The user must also have what the workload protects (a mailbox, a drive).
                Some(id) => match self.check_resource(w, &id) {
                    Ok(()) => resolved.push((n.clone(), id)),
                    Err(e) => details.push(ErrorDetail {
                        code: e.code.into(),
                        message: e.message,
                        target: n.clone(),
                    }),
                },
                None => details.push(ErrorDetail {
                    code: if w == Workload::SharePoint {
                        "SiteUrlNotFound"
                    } else {
                        "EmailNotFound"
                    }
                    .into(),
                    message: format!("'{n}' was not found in this tenant."),
                    target: n.clone(),
                }),
            }
        }
        let pid: Arc<str> = Arc::from(pid.as_str());
        let enabled = self
            .policy_index(&pid)
            .is_some_and(|p| self.policies[p].enabled);
        let mut fresh = Vec::new();
        for (input, res) in resolved {
            match self.attach(w, &pid, &res, SOURCE_MANUAL, None, by, at) {
                Ok((i, true)) => fresh.push(i),
                Ok(_) => {}
                Err(e) => details.push(ErrorDetail {
                    code: e.code.into(),
                    message: e.message,
                    target: input,
                }),
            }
        }
        if enabled {
            self.request(&fresh, UnitStatus::ProtectRequested, by, at, settings);
        }
        let j = &mut self.jobs[ji];
        j.ids = job;
        j.names = names;
        j.due = None;
        j.stamp.modified = at;
        if details.is_empty() {
            j.status = JobStatus::Completed;
        } else {
            j.status = JobStatus::CompletedWithErrors;
            j.error = Some(PublicError {
                code: "ProtectionResourcesNotFound".into(),
                message: format!(
                    "{} of the job's resources could not be added.",
                    details.len()
                ),
                details,
            });
        }
    }
}

/// JSON maps need string keys: the queue is stored as a list of `[at, seq, work]`.
mod queue_as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Work;

    pub fn serialize<S: Serializer>(
        q: &BTreeMap<(i128, u64), Work>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let list: Vec<(i128, u64, &Work)> = q.iter().map(|((a, b), w)| (*a, *b, w)).collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(i128, u64), Work>, D::Error> {
        let list: Vec<(i128, u64, Work)> = Vec::deserialize(d)?;
        Ok(list.into_iter().map(|(a, b, w)| ((a, b), w)).collect())
    }
}

fn too_many(n: usize) -> LcError {
    err(
        413,
        "ProtectionUnitsLimitBreached",
        format!(
            "At most {MAX_UNITS_PER_REQUEST} protection units are allowed per request; this one has {n}."
        ),
    )
}

fn failed(item: DeltaItem, e: LcError) -> ItemOutcome {
    ItemOutcome::Failed {
        item,
        status: e.status,
        code: e.code,
        message: e.message,
    }
}

#[cfg(test)]
mod tests {
    use super::directory::{DirectoryDoc, Group, User};
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-01 00:00:00 UTC);

    #[test]
    fn delays_grow_per_started_hundred_units() {
        let s = Settings::default();
        assert_eq!(s.delay(0), Duration::seconds(60));
        assert_eq!(s.delay(1), Duration::seconds(61));
        assert_eq!(s.delay(100), Duration::seconds(61));
        assert_eq!(s.delay(101), Duration::seconds(62));
        assert_eq!(s.delay(50_000), Duration::seconds(560));
    }

    #[test]
    fn a_bulk_job_adds_an_email_only_when_the_user_has_what_the_workload_protects() {
        let user = |i: usize, mailbox: bool| User {
            id: format!("00000000-0000-4000-8000-{i:012}"),
            email: Some(format!("user{i}@contoso.com")),
            display_name: None,
            mailbox,
            drive: true,
        };
        let doc = DirectoryDoc {
            groups: Vec::new(),
            users: vec![user(1, true), user(2, false)],
            sites: Vec::new(),
        };
        let s = Settings::default();
        let who = IdentitySet::default();
        let mut p = Protection::new();
        p.directory = Directory::closed(doc);
        let (pi, _) = p
            .create_policy(
                Workload::Exchange,
                Some("p"),
                None,
                Vec::new(),
                &who,
                T0,
                &s,
            )
            .unwrap();
        let names = vec![
            "USER1@contoso.com".to_string(),
            "user2@contoso.com".to_string(),
        ];
        let ji = p
            .create_job(pi, None, Vec::new(), names, &who, T0, &s)
            .unwrap();
        p.advance(T0 + Duration::hours(1), &s);
        assert_eq!(p.jobs[ji].status, JobStatus::CompletedWithErrors);
        let e = p.jobs[ji].error.as_ref().unwrap();
        assert_eq!(e.details.len(), 1, "{e:?}");
        assert_eq!(e.details[0].target, "user2@contoso.com");
        assert_eq!(e.details[0].code, "InvalidProtectionUnitId");
        assert_eq!(p.units.len(), 1, "only the user with a mailbox");
        assert_eq!(p.units[0].resource, "00000000-0000-4000-8000-000000000001");
    }

    #[test]
    fn delete_and_unprotect_is_attributed_to_its_caller() {
        let user = "00000000-0000-4000-8000-000000000001";
        let group = "00000000-0000-4000-9000-000000000001";
        let doc = DirectoryDoc {
            users: vec![User {
                id: user.into(),
                email: None,
                display_name: None,
                mailbox: true,
                drive: true,
            }],
            groups: vec![Group {
                id: group.into(),
                members: vec![user.into()],
            }],
            sites: Vec::new(),
        };
        let s = Settings::default();
        let app = IdentitySet {
            application: Some("app".into()),
            ..IdentitySet::default()
        };
        let admin = IdentitySet {
            user: Some("admin".into()),
            ..IdentitySet::default()
        };
        let mut p = Protection::new();
        p.directory = Directory::closed(doc);
        let (pi, _) = p
            .create_policy(
                Workload::OneDrive,
                Some("p"),
                None,
                Vec::new(),
                &app,
                T0,
                &s,
            )
            .unwrap();
        let expr = format!("(memberOf -any (group.id -in ['{group}']))");
        let ri = p.create_rule(pi, &expr, true, &app, T0, &s).unwrap();
        p.advance(T0 + Duration::hours(1), &s);
        assert_eq!(p.units.len(), 1);
        // The unit was last changed by the app that created the rule.
        p.units[0].stamp.modified_by = p.actor(&app);
        p.delete_and_unprotect(ri, &admin, T0 + Duration::hours(2), &s)
            .unwrap();
        p.advance(T0 + Duration::hours(3), &s);
        assert!(p.rules.is_empty());
        let by_admin = p.actor(&admin);
        assert_eq!(
            p.units[0].stamp.modified_by, by_admin,
            "not the first unit's last actor"
        );
    }

    #[test]
    fn a_dynamic_rule_protects_at_most_6000_users() {
        let users: Vec<User> = (0..6005)
            .map(|i| User {
                id: format!("00000000-0000-4000-8000-{i:012}"),
                email: None,
                display_name: None,
                mailbox: true,
                drive: true,
            })
            .collect();
        let group = "00000000-0000-4000-9000-000000000000";
        let doc = DirectoryDoc {
            groups: vec![Group {
                id: group.into(),
                members: users.iter().map(|u| u.id.clone()).collect(),
            }],
            users,
            sites: Vec::new(),
        };
        let s = Settings::default();
        let who = IdentitySet::default();
        let mut p = Protection::new();
        p.directory = Directory::closed(doc);
        let (pi, _) = p
            .create_policy(
                Workload::Exchange,
                Some("p"),
                None,
                Vec::new(),
                &who,
                T0,
                &s,
            )
            .unwrap();
        let expr = format!("(memberOf -any (group.id -in ['{group}']))");
        let ri = p.create_rule(pi, &expr, true, &who, T0, &s).unwrap();
        p.advance(T0 + Duration::hours(1), &s);
        assert_eq!(p.rules[ri].status, RuleStatus::CompletedWithErrors);
        let e = p.rules[ri].error.as_ref().unwrap();
        assert_eq!(e.details.len(), 5);
        assert_eq!(e.details[0].code, "DynamicRuleUserLimitExceeded");
        assert_eq!(p.units.len(), MAX_DYNAMIC_RULE_USERS);
    }
}
