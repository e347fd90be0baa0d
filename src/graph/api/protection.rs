//! Serde models of Graph's protection entities (v1.0, `graph-csdl-protection-v1.0.xml`):
//! policies, units, inclusion rules, bulk addition jobs, retention, notification settings and
//! restore points, plus the request bodies the provider writes and the per-item failures Graph
//! reports inside 200 answers.
//!
//! Evolvable enums are typed but keep members this provider does not know verbatim
//! (`Other(String)`), because the provider always sends `Prefer: include-unknown-enum-members`
//! and must show new members as-is. Flags enums (`protectionSources`, `tags`, ...) are Graph's
//! comma-separated strings. Unknown properties are ignored; missing or `null` ones are `None`.
//!
//! [`Workload`] holds every per-kind name (entity sets, `@delta` properties, id properties,
//! attribute names, nouns, resource types), so that the three policy kinds share one
//! implementation.

use std::fmt;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::graph::models::IdentitySet;

/// Graph accepts at most this many units in one create or `@delta` request
/// (413 `ProtectionUnitsLimitBreached`).
pub const MAX_UNITS_PER_REQUEST: usize = 50;
/// At most this many ids per bulk addition job.
pub const MAX_IDS_PER_BULK_JOB: usize = 50_000;
/// `restorePoints/search` takes at most this many protection unit ids.
pub const MAX_UNITS_PER_RESTORE_POINT_SEARCH: usize = 20;
/// The retention tier the provider manages (weekly restore points).
pub const WEEKLY_INTERVAL: &str = "R/P1W";

pub use crate::graph::enums::GraphEnum;

crate::open_enum! {
    /// `protectionPolicyStatus`.
    pub enum ProtectionPolicyStatus {
        Inactive = "inactive",
        ActiveWithErrors = "activeWithErrors",
        Updating = "updating",
        Active = "active",
        UnknownFutureValue = "unknownFutureValue",
    }
}

crate::open_enum! {
    /// `protectionUnitStatus` (the last three are evolvable members).
    pub enum ProtectionUnitStatus {
        ProtectRequested = "protectRequested",
        Protected = "protected",
        UnprotectRequested = "unprotectRequested",
        Unprotected = "unprotected",
        RemoveRequested = "removeRequested",
        UnknownFutureValue = "unknownFutureValue",
        OffboardRequested = "offboardRequested",
        Offboarded = "offboarded",
        CancelOffboardRequested = "cancelOffboardRequested",
    }
}

impl ProtectionUnitStatus {
    /// Any `*Requested` status, including ones Graph adds later: work Graph has not finished.
    pub fn is_pending(&self) -> bool {
        self.as_str().ends_with("Requested")
    }

    /// The unit is leaving the policy (removal or offboarding), so it is no longer a member.
    pub fn is_leaving(&self) -> bool {
        matches!(
            self,
            Self::RemoveRequested
                | Self::OffboardRequested
                | Self::Offboarded
                | Self::CancelOffboardRequested
        )
    }
}

crate::open_enum! {
    /// `protectionRuleStatus` (the last two are evolvable members).
    pub enum ProtectionRuleStatus {
        Draft = "draft",
        Active = "active",
        Completed = "completed",
        CompletedWithErrors = "completedWithErrors",
        UnknownFutureValue = "unknownFutureValue",
        UpdateRequested = "updateRequested",
        DeleteRequested = "deleteRequested",
    }
}

crate::open_enum! {
    /// `protectionUnitsBulkJobStatus`.
    pub enum BulkJobStatus {
        Unknown = "unknown",
        Active = "active",
        Completed = "completed",
        CompletedWithErrors = "completedWithErrors",
        UnknownFutureValue = "unknownFutureValue",
    }
}

impl BulkJobStatus {
    /// Whether Graph is still working on the job (`unknown` is transient too).
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Active | Self::Unknown)
    }
}

crate::open_enum! {
    /// A member of the `protectionSource` flags.
    pub enum ProtectionSource {
        None = "none",
        Manual = "manual",
        DynamicRule = "dynamicRule",
        UnknownFutureValue = "unknownFutureValue",
    }
}

crate::open_enum! {
    /// A member of the `restorePointTags` flags.
    pub enum RestorePointTag {
        None = "none",
        FastRestore = "fastRestore",
        UnknownFutureValue = "unknownFutureValue",
    }
}

crate::open_enum! {
    /// `restorePointPreference`.
    pub enum RestorePointPreference {
        Latest = "latest",
        Oldest = "oldest",
        UnknownFutureValue = "unknownFutureValue",
    }
}

crate::open_enum! {
    /// A member of the `notificationEventsType` flags.
    pub enum NotificationEvent {
        None = "none",
        RestoreAndPolicyUpdates = "restoreAndPolicyUpdates",
        UnknownFutureValue = "unknownFutureValue",
    }
}

crate::open_enum! {
    /// A member of the `notificationRecipientsType` flags.
    pub enum NotificationRecipientRole {
        None = "none",
        GlobalAdmins = "globalAdmins",
        BackupAdmins = "backupAdmins",
        Custom = "custom",
        AllAdmins = "allAdmins",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// A flags enum value: Graph's comma-separated member list (`"manual,dynamicRule"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flags<T>(pub Vec<T>);

impl<T> Default for Flags<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: GraphEnum + PartialEq> Flags<T> {
    /// Parses `"a,b"`; blanks around members are dropped.
    pub fn parse(text: &str) -> Self {
        Self(
            text.split(',')
                .map(str::trim)
                .filter(|member| !member.is_empty())
                .map(T::parse)
                .collect(),
        )
    }

    pub fn contains(&self, member: &T) -> bool {
        self.0.contains(member)
    }
}

impl<T: GraphEnum> fmt::Display for Flags<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, member) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            f.write_str(member.as_str())?;
        }
        Ok(())
    }
}

impl<T: GraphEnum> Serialize for Flags<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, T: GraphEnum + PartialEq> Deserialize<'de> for Flags<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        Ok(text.map(|text| Self::parse(&text)).unwrap_or_default())
    }
}

/// The three protection workloads; every per-kind name lives here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    SharePoint,
    OneDrive,
    Exchange,
}

/// What kind of id a workload's units are addressed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitIdKind {
    /// Graph's site id, `host[/path],siteCollectionGuid,webGuid`.
    SiteId,
    /// An Entra object id (a GUID).
    DirectoryObjectId,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Self::SharePoint, Self::OneDrive, Self::Exchange];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(name))
    }

    /// The workload of a policy's `@odata.type` (with or without the leading `#`).
    pub fn from_policy_odata_type(odata_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| {
            odata_type.eq_ignore_ascii_case(w.policy_odata_type())
                || odata_type.eq_ignore_ascii_case(&w.policy_odata_type()[1..])
        })
    }

    pub fn from_unit_odata_type(odata_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| {
            odata_type.eq_ignore_ascii_case(w.unit_odata_type())
                || odata_type.eq_ignore_ascii_case(&w.unit_odata_type()[1..])
        })
    }

    /// The unit property naming the protected object: `siteId` or `directoryObjectId`.
    pub fn unit_id_property(self) -> &'static str {
        match self.unit_id_kind() {
            UnitIdKind::SiteId => "siteId",
            UnitIdKind::DirectoryObjectId => "directoryObjectId",
        }
    }

    pub fn unit_id_kind(self) -> UnitIdKind {
        match self {
            Self::SharePoint => UnitIdKind::SiteId,
            Self::OneDrive | Self::Exchange => UnitIdKind::DirectoryObjectId,
        }
    }

    /// "1 mailbox", "3 mailboxes".
    pub fn count_of(self, count: usize) -> String {
        if count == 1 {
            format!("1 {}", self.noun_singular())
        } else {
            format!("{count} {}", self.noun())
        }
    }
}

/// Every name a workload goes by, in Graph and in this provider: one row per name, in the order
/// SharePoint, OneDrive, Exchange.
macro_rules! workload_names {
    ($($(#[$doc:meta])* $method:ident => [$sharepoint:expr, $onedrive:expr, $exchange:expr];)*) => {
        impl Workload {
            $(
                $(#[$doc])*
                pub fn $method(self) -> &'static str {
                    match self {
                        Self::SharePoint => $sharepoint,
                        Self::OneDrive => $onedrive,
                        Self::Exchange => $exchange,
                    }
                }
            )*
        }
    };
}

workload_names! {
    /// The workload's short name, as the data sources spell it.
    name => ["sharepoint", "onedrive", "exchange"];
    /// `@odata.type` of the workload's policies.
    policy_odata_type => ["#microsoft.graph.sharePointProtectionPolicy", "#microsoft.graph.oneDriveForBusinessProtectionPolicy", "#microsoft.graph.exchangeProtectionPolicy"];
    /// `@odata.type` of the workload's units.
    unit_odata_type => ["#microsoft.graph.siteProtectionUnit", "#microsoft.graph.driveProtectionUnit", "#microsoft.graph.mailboxProtectionUnit"];
    /// The root entity set of the workload's policies (create, PATCH).
    policy_entity_set => ["sharePointProtectionPolicies", "oneDriveForBusinessProtectionPolicies", "exchangeProtectionPolicies"];
    /// The policy's units collection, also the units property of a create body.
    units_property => ["siteProtectionUnits", "driveProtectionUnits", "mailboxProtectionUnits"];
    /// The PATCH property carrying unit additions and removals.
    units_delta_property => ["siteProtectionUnits@delta", "driveProtectionUnits@delta", "mailboxProtectionUnits@delta"];
    /// The policy's bulk addition jobs collection.
    bulk_jobs_property => ["siteProtectionUnitsBulkAdditionJobs", "driveProtectionUnitsBulkAdditionJobs", "mailboxProtectionUnitsBulkAdditionJobs"];
    /// The bulk job property taking ids: `siteIds` or `directoryObjectIds`.
    bulk_job_ids_property => ["siteIds", "directoryObjectIds", "directoryObjectIds"];
    /// The bulk job property taking urls or email addresses.
    bulk_job_names_property => ["siteWebUrls", "drives", "mailboxes"];
    /// The policy's inclusion rules collection.
    inclusion_rules_property => ["siteInclusionRules", "driveInclusionRules", "mailboxInclusionRules"];
    /// The rule property holding its expression.
    rule_expression_property => ["siteExpression", "driveExpression", "mailboxExpression"];
    /// The policy resource's inline id set attribute.
    ids_attribute => ["site_ids", "user_ids", "mailbox_ids"];
    /// The file-backed alternative to [`Self::ids_attribute`].
    ids_file_attribute => ["site_ids_file", "user_ids_file", "mailbox_ids_file"];
    /// The units resource's attribute taking urls or email addresses (bulk jobs only).
    names_attribute => ["site_web_urls", "user_emails", "mailbox_emails"];
    /// What the units are, for the user: "sites", "OneDrive accounts", "mailboxes".
    noun => ["sites", "OneDrive accounts", "mailboxes"];
    /// One unit, for the user.
    noun_singular => ["site", "OneDrive account", "mailbox"];
    /// The Terraform type of the workload's policy resource.
    policy_resource_type => ["m365backup_sharepoint_protection_policy", "m365backup_onedrive_protection_policy", "m365backup_exchange_protection_policy"];
    /// The Terraform type of the workload's units resource.
    units_resource_type => ["m365backup_sharepoint_protection_units", "m365backup_onedrive_protection_units", "m365backup_exchange_protection_units"];
    /// The Terraform type of the workload's inclusion rule resource.
    inclusion_rule_resource_type => ["m365backup_sharepoint_inclusion_rule", "m365backup_onedrive_inclusion_rule", "m365backup_exchange_inclusion_rule"];
}

/// `microsoft.graph.publicErrorDetail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublicErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `microsoft.graph.publicError`: the `error` of units, rules and jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublicError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub details: Vec<PublicErrorDetail>,
}

impl PublicError {
    /// Graph sometimes sends an error object with nothing in it; that is no failure.
    pub fn is_failure(&self) -> bool {
        let filled = |text: &Option<String>| text.as_deref().is_some_and(|t| !t.is_empty());
        filled(&self.code) || filled(&self.message)
    }

    /// `code: message`, with whichever part exists.
    pub fn describe(&self) -> String {
        match (self.code.as_deref(), self.message.as_deref()) {
            (Some(code), Some(message)) if !message.is_empty() => format!("{code}: {message}"),
            (Some(code), _) => code.to_string(),
            (None, Some(message)) => message.to_string(),
            (None, None) => "unknown error".to_string(),
        }
    }
}

/// `microsoft.graph.retentionSetting`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetentionSetting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

impl RetentionSetting {
    /// The weekly tier with this period: the only entry create and update send.
    pub fn weekly(period: &str) -> Self {
        Self {
            interval: Some(WEEKLY_INTERVAL.to_string()),
            period: Some(period.to_string()),
        }
    }
}

/// `microsoft.graph.protectionPolicyArtifactCount` (returned only on `$select`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProtectionPolicyArtifactCount {
    pub total: Option<i32>,
    pub completed: Option<i32>,
    pub failed: Option<i32>,
    pub in_progress: Option<i32>,
}

/// `protectionPolicyBase` and its three kinds (told apart by `@odata.type`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProtectionPolicy {
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ProtectionPolicyStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_settings: Option<Vec<RetentionSetting>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection_policy_artifact_count: Option<ProtectionPolicyArtifactCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}

impl ProtectionPolicy {
    /// The policy's kind, from `@odata.type`.
    pub fn workload(&self) -> Option<Workload> {
        self.odata_type
            .as_deref()
            .and_then(Workload::from_policy_odata_type)
    }

    /// The application that created the policy, if Graph says.
    pub fn created_by_application(&self) -> Option<&str> {
        self.created_by
            .as_ref()?
            .application
            .as_ref()?
            .id
            .as_deref()
    }

    /// The period of the weekly tier (`R/P1W`), the one retention the provider manages.
    pub fn weekly_retention(&self) -> Option<&str> {
        self.retention_settings
            .as_deref()?
            .iter()
            .find(|s| s.interval.as_deref() == Some(WEEKLY_INTERVAL))?
            .period
            .as_deref()
    }
}

/// `protectionUnitBase` and its three kinds: one struct, the kind-specific fields optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProtectionUnit {
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ProtectionUnitStatus>,
    pub protection_sources: Flags<ProtectionSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offboard_requested_date_time: Option<String>,
    /// Site units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_web_url: Option<String>,
    /// Drive and mailbox units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_object_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}

impl ProtectionUnit {
    /// The protected object: `siteId` for sites, `directoryObjectId` for drives and mailboxes.
    pub fn resource_id(&self) -> Option<&str> {
        self.site_id
            .as_deref()
            .or(self.directory_object_id.as_deref())
    }

    /// The url or email address Graph fills in for delegated tokens.
    pub fn resource_name(&self) -> Option<&str> {
        self.site_web_url.as_deref().or(self.email.as_deref())
    }

    pub fn workload(&self) -> Option<Workload> {
        self.odata_type
            .as_deref()
            .and_then(Workload::from_unit_odata_type)
    }

    /// The unit's error, when it really reports one.
    pub fn failure(&self) -> Option<&PublicError> {
        self.error.as_ref().filter(|e| e.is_failure())
    }
}

/// `protectionRuleBase` and its three kinds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProtectionRule {
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ProtectionRuleStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_auto_apply_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drive_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}

impl ProtectionRule {
    /// A create body: the expression under the workload's property name.
    pub fn create_body(workload: Workload, expression: &str, auto_apply: Option<bool>) -> Self {
        let mut rule = Self {
            is_auto_apply_enabled: auto_apply,
            ..Self::default()
        };
        let slot = match workload {
            Workload::SharePoint => &mut rule.site_expression,
            Workload::OneDrive => &mut rule.drive_expression,
            Workload::Exchange => &mut rule.mailbox_expression,
        };
        *slot = Some(expression.to_string());
        rule
    }

    pub fn expression(&self) -> Option<&str> {
        self.site_expression
            .as_deref()
            .or(self.drive_expression.as_deref())
            .or(self.mailbox_expression.as_deref())
    }
}

/// `protectionUnitsBulkJobBase` and the three addition jobs. List answers omit the inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BulkAdditionJob {
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BulkJobStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_web_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_object_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drives: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailboxes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<IdentitySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}

impl BulkAdditionJob {
    /// The create body of a job adding these ids (site ids or directory object ids).
    pub fn create_body(workload: Workload, display_name: &str, ids: Vec<String>) -> Self {
        let mut job = Self {
            display_name: Some(display_name.to_string()),
            ..Self::default()
        };
        match workload.unit_id_kind() {
            UnitIdKind::SiteId => job.site_ids = Some(ids),
            UnitIdKind::DirectoryObjectId => job.directory_object_ids = Some(ids),
        }
        job
    }

    /// The create body of a job adding these urls (sites) or email addresses (drives,
    /// mailboxes): Graph's only way to add units by name.
    pub fn names_body(workload: Workload, display_name: &str, names: Vec<String>) -> Self {
        let mut job = Self {
            display_name: Some(display_name.to_string()),
            ..Self::default()
        };
        match workload {
            Workload::SharePoint => job.site_web_urls = Some(names),
            Workload::OneDrive => job.drives = Some(names),
            Workload::Exchange => job.mailboxes = Some(names),
        }
        job
    }

    /// The ids the job adds, when Graph returned them (a GET of one job does, a list does not).
    pub fn id_inputs(&self) -> Option<&[String]> {
        self.site_ids
            .as_deref()
            .or(self.directory_object_ids.as_deref())
    }

    pub fn is_running(&self) -> bool {
        self.status.as_ref().is_some_and(BulkJobStatus::is_running)
    }
}

/// One entry of a `…ProtectionUnits@delta` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem {
    /// Protect this site id / directory object id.
    Add(String),
    /// Remove the unit with this *unit* id (not the site or object id).
    Remove(String),
}

struct DeltaEntry<'a> {
    workload: Workload,
    item: &'a DeltaItem,
}

impl Serialize for DeltaEntry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        match self.item {
            DeltaItem::Add(id) => map.serialize_entry(self.workload.unit_id_property(), id)?,
            DeltaItem::Remove(unit_id) => {
                map.serialize_entry("@removed", &serde_json::json!({"reason": "changed"}))?;
                map.serialize_entry("id", unit_id)?;
            }
        }
        map.end()
    }
}

struct DeltaEntries<'a> {
    workload: Workload,
    items: &'a [DeltaItem],
}

impl Serialize for DeltaEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.items.iter().map(|item| DeltaEntry {
            workload: self.workload,
            item,
        }))
    }
}

/// The body of `POST /{workload}ProtectionPolicies`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCreate {
    pub workload: Workload,
    pub display_name: String,
    /// `None` leaves Graph's default retention.
    pub retention_period: Option<String>,
    /// Site ids or directory object ids (at most [`MAX_UNITS_PER_REQUEST`]).
    pub unit_ids: Vec<String>,
}

impl Serialize for PolicyCreate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("displayName", &self.display_name)?;
        if let Some(period) = &self.retention_period {
            map.serialize_entry("retentionSettings", &[RetentionSetting::weekly(period)])?;
        }
        let units: Vec<_> = self
            .unit_ids
            .iter()
            .map(|id| serde_json::json!({ self.workload.unit_id_property(): id }))
            .collect();
        map.serialize_entry(self.workload.units_property(), &units)?;
        map.end()
    }
}

/// The body of `PATCH /{workload}ProtectionPolicies/{id}`: only what changes.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPatch {
    pub workload: Workload,
    pub display_name: Option<String>,
    pub retention_period: Option<String>,
    /// At most [`MAX_UNITS_PER_REQUEST`] entries. Always sent (Graph marks it required).
    pub units: Vec<DeltaItem>,
}

impl Serialize for PolicyPatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(name) = &self.display_name {
            map.serialize_entry("displayName", name)?;
        }
        if let Some(period) = &self.retention_period {
            map.serialize_entry("retentionSettings", &[RetentionSetting::weekly(period)])?;
        }
        map.serialize_entry(
            self.workload.units_delta_property(),
            &DeltaEntries {
                workload: self.workload,
                items: &self.units,
            },
        )?;
        map.end()
    }
}

/// `info` of a per-item failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailureInfo {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// `@Core.DataModificationException`: one item of a 200 answer failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataModificationException {
    pub info: Option<FailureInfo>,
    /// `add` or `remove` (kept as text: OData does not close the list).
    pub failed_operation: Option<String>,
    pub response_code: Option<u16>,
}

/// One entry of the `@delta` echo in a PATCH answer: the unit, or a per-item failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeltaAnswerItem {
    #[serde(rename = "@contentId", skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    #[serde(
        rename = "@Core.DataModificationException",
        skip_serializing_if = "Option::is_none"
    )]
    pub failure: Option<DataModificationException>,
    #[serde(rename = "@removed", skip_serializing_if = "Option::is_none")]
    pub removed: Option<serde_json::Value>,
    #[serde(flatten)]
    pub unit: ProtectionUnit,
}

/// The answer to a PATCH: the policy as it now is, with whichever `…ProtectionUnits@delta`
/// property the workload uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PolicyPatchAnswer {
    /// Empty `id` when the answer carries no policy properties.
    #[serde(flatten)]
    pub policy: ProtectionPolicy,
    #[serde(
        rename = "siteProtectionUnits@delta",
        deserialize_with = "null_as_default"
    )]
    pub site_units: Vec<DeltaAnswerItem>,
    #[serde(
        rename = "driveProtectionUnits@delta",
        deserialize_with = "null_as_default"
    )]
    pub drive_units: Vec<DeltaAnswerItem>,
    #[serde(
        rename = "mailboxProtectionUnits@delta",
        deserialize_with = "null_as_default"
    )]
    pub mailbox_units: Vec<DeltaAnswerItem>,
}

impl PolicyPatchAnswer {
    pub fn items(&self, workload: Workload) -> &[DeltaAnswerItem] {
        match workload {
            Workload::SharePoint => &self.site_units,
            Workload::OneDrive => &self.drive_units,
            Workload::Exchange => &self.mailbox_units,
        }
    }
}

/// `microsoft.graph.emailIdentity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailIdentity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `microsoft.graph.notificationRecipients`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NotificationRecipients {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Flags<NotificationRecipientRole>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_recipients: Option<Vec<EmailIdentity>>,
}

/// `microsoft.graph.emailNotificationsSetting`; as a PATCH body, only the fields that change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailNotificationsSetting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_events: Option<Flags<NotificationEvent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<NotificationRecipients>,
}

/// `microsoft.graph.restorePoint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestorePoint {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Flags<RestorePointTag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection_unit: Option<ProtectionUnit>,
}

impl RestorePoint {
    pub fn is_fast_restore(&self) -> bool {
        self.tags
            .as_ref()
            .is_some_and(|tags| tags.contains(&RestorePointTag::FastRestore))
    }
}

/// `microsoft.graph.timePeriod`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TimePeriod {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
}

/// `microsoft.graph.artifactQuery`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArtifactQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_expression: Option<String>,
}

/// The body of `POST /restorePoints/search` (at most
/// [`MAX_UNITS_PER_RESTORE_POINT_SEARCH`] unit ids).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestorePointSearch {
    pub protection_unit_ids: Vec<String>,
    pub protection_time_period: TimePeriod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_point_preference: Option<RestorePointPreference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Flags<RestorePointTag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_query: Option<ArtifactQuery>,
}

/// `microsoft.graph.restorePointSearchResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestorePointSearchResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_hit_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_point: Option<RestorePoint>,
}

/// `microsoft.graph.restorePointSearchResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestorePointSearchResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_response_id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub search_results: Vec<RestorePointSearchResult>,
    #[serde(deserialize_with = "null_as_default")]
    pub no_result_protection_unit_ids: Vec<String>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_a_polymorphic_policy_list_entry() {
        let policy: ProtectionPolicy = serde_json::from_value(json!({
            "@odata.type": "#microsoft.graph.exchangeProtectionPolicy",
            "id": "9fec8e78-bce4-4aaf-ab1b-5451cc387264",
            "displayName": "Exchange Protection Policy",
            "isEnabled": true,
            "status": "activeWithErrors",
            "retentionSettings": [
                {"interval": "R/PT10M", "period": "P2W"},
                {"interval": "R/P1W", "period": "P1Y"}
            ],
            "createdBy": {"application": {"id": "1fec8e78-0000-4aaf-ab1b-5451cc387264"}, "user": {"email": "a@b"}},
            "createdDateTime": "2015-06-19T12:01:03.45Z",
            "newProperty": [1, 2]
        }))
        .unwrap();
        assert_eq!(policy.workload(), Some(Workload::Exchange));
        assert_eq!(
            policy.status,
            Some(ProtectionPolicyStatus::ActiveWithErrors)
        );
        assert_eq!(policy.is_enabled, Some(true));
        assert_eq!(policy.weekly_retention(), Some("P1Y"));
        assert_eq!(
            policy.created_by_application(),
            Some("1fec8e78-0000-4aaf-ab1b-5451cc387264")
        );
    }

    #[test]
    fn decodes_units_with_flags_errors_and_evolvable_statuses() {
        let unit: ProtectionUnit = serde_json::from_value(json!({
            "@odata.type": "#microsoft.graph.siteProtectionUnit",
            "id": "89014d8c-71fe-4d00-a01a-31850bc5b32c",
            "siteId": "contoso.sharepoint.com/sites/hr,00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002",
            "policyId": "845457dc-4bb2-4815-bef3-8628ebd1952e",
            "protectionSources": "manual,dynamicRule",
            "status": "offboardRequested",
            "error": {"code": "QuotaExceeded", "message": "full", "details": null},
            "offboardRequestedDateTime": "0001-01-01T00:00:00.0000000Z"
        }))
        .unwrap();
        assert_eq!(unit.workload(), Some(Workload::SharePoint));
        assert!(unit.protection_sources.contains(&ProtectionSource::Manual));
        assert!(
            unit.protection_sources
                .contains(&ProtectionSource::DynamicRule)
        );
        assert_eq!(unit.status, Some(ProtectionUnitStatus::OffboardRequested));
        assert!(unit.status.as_ref().unwrap().is_leaving());
        assert!(
            unit.resource_id()
                .unwrap()
                .starts_with("contoso.sharepoint.com/sites/hr,")
        );
        assert_eq!(unit.failure().unwrap().describe(), "QuotaExceeded: full");

        let unit: ProtectionUnit = serde_json::from_value(json!({
            "@odata.type": "#microsoft.graph.mailboxProtectionUnit",
            "id": "u1", "directoryObjectId": "d1", "email": "a@contoso.com",
            "protectionSources": null, "status": "frozenRequested", "error": {"code": null}
        }))
        .unwrap();
        assert_eq!(unit.workload(), Some(Workload::Exchange));
        assert_eq!(unit.resource_id(), Some("d1"));
        assert_eq!(unit.resource_name(), Some("a@contoso.com"));
        assert!(unit.protection_sources.0.is_empty());
        let status = unit.status.clone().unwrap();
        assert_eq!(
            status,
            ProtectionUnitStatus::Other("frozenRequested".into())
        );
        assert!(status.is_pending() && !status.is_leaving());
        assert!(
            unit.failure().is_none(),
            "an empty error object is no failure"
        );
    }

    #[test]
    fn create_bodies_use_the_workload_names() {
        let body = PolicyCreate {
            workload: Workload::SharePoint,
            display_name: "Sites".into(),
            retention_period: Some("P730D".into()),
            unit_ids: vec!["h,g1,g2".into()],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"displayName": "Sites",
                   "retentionSettings": [{"interval": "R/P1W", "period": "P730D"}],
                   "siteProtectionUnits": [{"siteId": "h,g1,g2"}]})
        );
        let body = PolicyCreate {
            workload: Workload::OneDrive,
            display_name: "Drives".into(),
            retention_period: None,
            unit_ids: vec![],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"displayName": "Drives", "driveProtectionUnits": []})
        );
    }

    #[test]
    fn patch_bodies_add_by_object_id_and_remove_by_unit_id() {
        let body = PolicyPatch {
            workload: Workload::Exchange,
            display_name: None,
            retention_period: None,
            units: vec![
                DeltaItem::Add("obj-1".into()),
                DeltaItem::Remove("unit-9".into()),
            ],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"mailboxProtectionUnits@delta": [
                {"directoryObjectId": "obj-1"},
                {"@removed": {"reason": "changed"}, "id": "unit-9"}
            ]})
        );
        let body = PolicyPatch {
            workload: Workload::SharePoint,
            display_name: Some("New".into()),
            retention_period: Some("P90D".into()),
            units: vec![],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"displayName": "New",
                   "retentionSettings": [{"interval": "R/P1W", "period": "P90D"}],
                   "siteProtectionUnits@delta": []})
        );
    }

    #[test]
    fn patch_answers_carry_per_item_failures() {
        let answer: PolicyPatchAnswer = serde_json::from_value(json!({
            "@odata.context": "x",
            "id": "p1", "status": "updating", "isEnabled": true,
            "driveProtectionUnits@delta": [
                {"id": "u1", "directoryObjectId": "d1", "status": "protectRequested",
                 "protectionSources": "manual"},
                {"@contentId": "2", "id": "u2",
                 "@Core.DataModificationException": {
                    "info": {"code": "ProtectionUnitNotFound", "message": "gone"},
                    "failedOperation": "remove", "responseCode": 404}}
            ]
        }))
        .unwrap();
        assert_eq!(answer.policy.id, "p1");
        assert_eq!(answer.policy.is_enabled, Some(true));
        let items = answer.items(Workload::OneDrive);
        assert_eq!(items.len(), 2);
        assert!(answer.items(Workload::Exchange).is_empty());
        assert!(items[0].failure.is_none());
        assert_eq!(
            items[0].unit.status,
            Some(ProtectionUnitStatus::ProtectRequested)
        );
        let failure = items[1].failure.as_ref().unwrap();
        assert_eq!(failure.failed_operation.as_deref(), Some("remove"));
        assert_eq!(failure.response_code, Some(404));
        assert_eq!(
            failure.info.as_ref().unwrap().code.as_deref(),
            Some("ProtectionUnitNotFound")
        );
        assert_eq!(items[1].unit.id, "u2");
        assert_eq!(items[1].content_id.as_deref(), Some("2"));
    }

    #[test]
    fn bulk_jobs_and_rules() {
        let job = BulkAdditionJob::create_body(Workload::Exchange, "tf-nonce", vec!["a".into()]);
        assert_eq!(
            serde_json::to_value(&job).unwrap(),
            json!({"displayName": "tf-nonce", "directoryObjectIds": ["a"]})
        );
        let job = BulkAdditionJob::create_body(Workload::SharePoint, "n", vec!["s".into()]);
        assert_eq!(
            serde_json::to_value(&job).unwrap(),
            json!({"displayName": "n", "siteIds": ["s"]})
        );
        let job: BulkAdditionJob = serde_json::from_value(json!({
            "id": "j", "status": "completedWithErrors",
            "error": {"code": "ProtectionResourcesNotFound", "message": "m",
                      "details": [{"code": "SiteUrlNotFound", "message": "x", "target": "https://u"}]}
        }))
        .unwrap();
        assert!(!job.is_running());
        assert!(job.id_inputs().is_none());
        assert_eq!(
            job.error.unwrap().details[0].target.as_deref(),
            Some("https://u")
        );

        let rule = ProtectionRule::create_body(
            Workload::OneDrive,
            "(memberOf -any (group.id -in ['g']))",
            Some(true),
        );
        assert_eq!(
            serde_json::to_value(&rule).unwrap(),
            json!({"isAutoApplyEnabled": true, "driveExpression": "(memberOf -any (group.id -in ['g']))"})
        );
        let rule: ProtectionRule = serde_json::from_value(
            json!({"id": "r", "status": "deleteRequested", "siteExpression": "e"}),
        )
        .unwrap();
        assert_eq!(rule.status, Some(ProtectionRuleStatus::DeleteRequested));
        assert_eq!(rule.expression(), Some("e"));
    }

    #[test]
    fn notification_settings_and_restore_points() {
        let setting: EmailNotificationsSetting = serde_json::from_value(json!({
            "isEnabled": true, "additionalEvents": "restoreAndPolicyUpdates",
            "recipients": {"role": "custom", "customRecipients": [{"email": "ops@contoso.com"}]}
        }))
        .unwrap();
        assert_eq!(
            setting.additional_events,
            Some(Flags(vec![NotificationEvent::RestoreAndPolicyUpdates]))
        );
        let patch = EmailNotificationsSetting {
            is_enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"isEnabled": false})
        );

        let answer: RestorePointSearchResponse = serde_json::from_value(json!({
            "searchResponseId": "s",
            "searchResults": [{"artifactHitCount": 0, "restorePoint": {
                "id": "rp", "protectionDateTime": "2026-01-01T00:00:00Z",
                "expirationDateTime": "2027-01-01T00:00:00Z", "tags": "fastRestore",
                "protectionUnit": {"id": "u"}}}],
            "noResultProtectionUnitIds": ["u2"]
        }))
        .unwrap();
        let point = answer.search_results[0].restore_point.as_ref().unwrap();
        assert!(point.is_fast_restore());
        assert_eq!(point.protection_unit.as_ref().unwrap().id, "u");
        assert_eq!(answer.no_result_protection_unit_ids, vec!["u2"]);

        let request = RestorePointSearch {
            protection_unit_ids: vec!["u".into()],
            protection_time_period: TimePeriod {
                start_date_time: Some("2026-01-01T00:00:00Z".into()),
                end_date_time: None,
            },
            restore_point_preference: Some(RestorePointPreference::Latest),
            tags: None,
            artifact_query: None,
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"protectionUnitIds": ["u"],
                   "protectionTimePeriod": {"startDateTime": "2026-01-01T00:00:00Z"},
                   "restorePointPreference": "latest"})
        );
    }

    #[test]
    fn workload_names_are_consistent() {
        for workload in Workload::ALL {
            assert_eq!(
                Workload::from_policy_odata_type(workload.policy_odata_type()),
                Some(workload)
            );
            assert_eq!(
                Workload::from_policy_odata_type(&workload.policy_odata_type()[1..]),
                Some(workload)
            );
            assert_eq!(
                Workload::from_unit_odata_type(workload.unit_odata_type()),
                Some(workload)
            );
            assert_eq!(Workload::from_name(workload.name()), Some(workload));
            assert!(
                workload
                    .units_delta_property()
                    .starts_with(workload.units_property())
            );
            assert!(
                workload
                    .bulk_jobs_property()
                    .starts_with(workload.units_property())
            );
            assert!(
                workload
                    .ids_file_attribute()
                    .starts_with(workload.ids_attribute())
            );
            assert!(workload.policy_resource_type().contains(workload.name()));
        }
        assert_eq!(Workload::SharePoint.unit_id_property(), "siteId");
        assert_eq!(Workload::OneDrive.unit_id_property(), "directoryObjectId");
        assert_eq!(Workload::OneDrive.count_of(1), "1 OneDrive account");
        assert_eq!(Workload::Exchange.count_of(2), "2 mailboxes");
        assert_eq!(
            Workload::from_policy_odata_type("#microsoft.graph.other"),
            None
        );
    }
}

#[cfg(test)]
mod enum_properties {
    use super::*;
    use proptest::prelude::*;

    fn member_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z]{1,20}",
            prop::sample::select(vec![
                "manual",
                "dynamicRule",
                "none",
                "protected",
                "removeRequested",
                "active",
                "unknownFutureValue",
                "offboarded",
                "completedWithErrors",
                "fastRestore",
            ])
            .prop_map(String::from),
        ]
    }

    proptest! {
        /// Any member, known or not, comes back exactly as Graph spelled it.
        #[test]
        fn enums_round_trip_verbatim(text in member_text()) {
            prop_assert_eq!(ProtectionUnitStatus::parse(&text).to_string(), text.clone());
            prop_assert_eq!(ProtectionPolicyStatus::parse(&text).to_string(), text.clone());
            prop_assert_eq!(ProtectionRuleStatus::parse(&text).to_string(), text.clone());
            prop_assert_eq!(BulkJobStatus::parse(&text).to_string(), text.clone());
            let json = serde_json::to_string(&ProtectionUnitStatus::parse(&text)).unwrap();
            prop_assert_eq!(serde_json::from_str::<ProtectionUnitStatus>(&json).unwrap().to_string(), text.clone());
        }

        /// A known member never decodes as `Other`.
        #[test]
        fn known_members_are_typed(index in 0usize..9) {
            let member = &ProtectionUnitStatus::KNOWN[index];
            prop_assert!(!matches!(ProtectionUnitStatus::parse(member.as_str()), ProtectionUnitStatus::Other(_)));
        }

        /// Flags keep every member, in order, and serialise back to the same text.
        #[test]
        fn flags_round_trip(members in prop::collection::vec(member_text(), 0..5)) {
            let text = members.join(",");
            let flags: Flags<ProtectionSource> = serde_json::from_value(serde_json::Value::String(text.clone())).unwrap();
            prop_assert_eq!(flags.0.len(), members.len());
            prop_assert_eq!(serde_json::to_value(&flags).unwrap(), serde_json::Value::String(text));
        }

        /// Whatever Graph sends, decoding a unit or a PATCH answer never panics.
        #[test]
        fn decoding_arbitrary_json_never_panics(
            keys in prop::collection::vec(prop::sample::select(vec![
                "id", "status", "protectionSources", "error", "siteId", "@Core.DataModificationException",
                "mailboxProtectionUnits@delta", "info", "policyId"]), 0..6),
            values in prop::collection::vec(prop_oneof![
                Just(serde_json::Value::Null), Just(serde_json::json!(1)), Just(serde_json::json!("x")),
                Just(serde_json::json!([{"id": "a"}])), Just(serde_json::json!({"code": 2}))], 6),
        ) {
            let object: serde_json::Map<String, serde_json::Value> =
                keys.iter().map(|k| k.to_string()).zip(values).collect();
            let value = serde_json::Value::Object(object);
            let _ = serde_json::from_value::<ProtectionUnit>(value.clone());
            let _ = serde_json::from_value::<PolicyPatchAnswer>(value.clone());
            let _ = serde_json::from_value::<ProtectionPolicy>(value);
        }
    }
}
