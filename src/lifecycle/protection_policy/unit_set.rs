//! The policy's unit set: what Terraform manages (decision 9), how the desired set differs from
//! it (decisions 3 and 12), how the difference is sent (≤ 50 units per `@delta` PATCH, bulk
//! addition jobs of ≤ 50,000 ids above `bulk_threshold`), the create order (decision 7), the
//! removal warning (decision 12). What Graph answers to these writes is judged in
//! [`super::answers`].

use std::collections::{BTreeMap, BTreeSet};

use super::id_file::{SetDifference, set_digest};
use super::ids::{MAX_INLINE_IDS, id_key, thousands};
use super::notices::Notice;
use crate::graph::api::protection::{
    BulkAdditionJob, DeltaItem, MAX_IDS_PER_BULK_JOB, MAX_UNITS_PER_REQUEST, ProtectionSource,
    ProtectionUnit, Workload,
};

/// Additions above this many go through bulk addition jobs (provider argument `bulk_threshold`).
pub const DEFAULT_BULK_THRESHOLD: usize = 500;
/// A removal of more units than this (or of more than a tenth of the set) is called out.
pub const LARGE_REMOVAL_UNITS: usize = 100;

/// Decision 9: a unit Terraform manages has `manual` among its sources, not `dynamicRule`, and is
/// not leaving the policy (`removeRequested`, `offboard*`). Unknown statuses count as members.
/// Units a static rule added look manual and count too (Graph does not tell them apart).
pub fn is_managed(unit: &ProtectionUnit) -> bool {
    let sources = &unit.protection_sources;
    sources.contains(&ProtectionSource::Manual)
        && !sources.contains(&ProtectionSource::DynamicRule)
        && !unit.status.as_ref().is_some_and(|s| s.is_leaving())
}

/// A unit a dynamic rule covers: never removed by Terraform and never drift (decision 3).
pub fn is_rule_owned(unit: &ProtectionUnit) -> bool {
    unit.protection_sources
        .contains(&ProtectionSource::DynamicRule)
        && !unit.status.as_ref().is_some_and(|s| s.is_leaving())
}

/// One protected object of the managed set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The site id / directory object id as Graph (or the job's input) spells it.
    pub resource_id: String,
    /// Its units in the policy; empty while it is only an input of a running bulk job.
    pub unit_ids: Vec<String>,
}

/// The managed units of one policy, keyed case-insensitively by site id / object id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedSet {
    members: BTreeMap<String, Member>,
    rule_owned: BTreeSet<String>,
    running_jobs: usize,
}

impl ManagedSet {
    /// Builds the set from the policy's full unit listing (every page).
    pub fn from_units(units: &[ProtectionUnit]) -> Self {
        let mut set = Self::default();
        for unit in units {
            let Some(resource_id) = unit.resource_id() else {
                continue;
            };
            if is_rule_owned(unit) {
                set.rule_owned.insert(id_key(resource_id));
            } else if is_managed(unit) {
                set.members
                    .entry(id_key(resource_id))
                    .or_insert_with(|| Member {
                        resource_id: resource_id.to_string(),
                        unit_ids: Vec::new(),
                    })
                    .unit_ids
                    .push(unit.id.clone());
            }
        }
        set
    }

    /// Decision 9: inputs of a bulk job still running count as present until it ends. Jobs
    /// listed without their inputs still count in [`Self::pending_job_count`].
    pub fn with_running_jobs(mut self, jobs: &[BulkAdditionJob]) -> Self {
        for job in jobs.iter().filter(|job| job.is_running()) {
            self.running_jobs += 1;
            for id in job.id_inputs().unwrap_or_default() {
                self.members.entry(id_key(id)).or_insert_with(|| Member {
                    resource_id: id.clone(),
                    unit_ids: Vec::new(),
                });
            }
        }
        self
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.members.contains_key(&id_key(id))
    }

    /// The unit ids of one member (none when it is absent or only a running job's input).
    pub fn unit_ids_of(&self, id: &str) -> &[String] {
        self.members
            .get(&id_key(id))
            .map_or(&[], |m| m.unit_ids.as_slice())
    }

    /// Whether a dynamic rule covers this id.
    pub fn is_covered_by_rule(&self, id: &str) -> bool {
        self.rule_owned.contains(&id_key(id))
    }

    pub fn pending_job_count(&self) -> usize {
        self.running_jobs
    }

    /// The members' ids as Graph spells them, in key order.
    pub fn resource_ids(&self) -> impl Iterator<Item = &str> {
        self.members.values().map(|m| m.resource_id.as_str())
    }

    /// `ids_sha256` of the observed set (decision 1).
    pub fn digest(&self) -> String {
        set_digest(self.resource_ids())
    }

    /// What import writes into the inline set: the members, or null above the inline limit
    /// (decision 12; the user then switches to the file-backed set).
    pub fn import_inline_set(&self) -> Option<Vec<String>> {
        (self.len() <= MAX_INLINE_IDS).then(|| self.resource_ids().map(String::from).collect())
    }
}

/// One unit to remove, by its unit id (Graph removes by unit id, never by site or object id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub unit_id: String,
    pub resource_id: String,
}

/// Desired vs observed managed units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitDiff {
    /// Ids to add, in the configured spelling.
    pub additions: Vec<String>,
    pub removals: Vec<Removal>,
    /// Desired ids a dynamic rule already protects: left to the rule, warned about.
    pub covered_by_rule: Vec<String>,
    /// Undesired ids known only as inputs of a running bulk job: removed once it ends.
    pub waiting_for_job: Vec<String>,
}

impl UnitDiff {
    pub fn is_empty(&self) -> bool {
        self.additions.is_empty() && self.removals.is_empty()
    }

    /// The "+N / −M" of the difference (in units for removals).
    pub fn difference(&self) -> SetDifference {
        SetDifference {
            added: self.additions.len(),
            removed: self.removals.len(),
        }
    }
}

/// Decision 12: `None` (null) leaves the units alone; `Some(&[])` removes every managed unit.
/// Results are sorted by id key so that plans are stable.
pub fn diff_units(desired: Option<&[String]>, managed: &ManagedSet) -> UnitDiff {
    let Some(desired) = desired else {
        return UnitDiff::default();
    };
    let mut diff = UnitDiff::default();
    let mut wanted: BTreeMap<String, &String> = BTreeMap::new();
    for id in desired {
        wanted.entry(id_key(id)).or_insert(id);
    }
    for (key, id) in &wanted {
        if managed.members.contains_key(key) {
            continue;
        }
        if managed.rule_owned.contains(key) {
            diff.covered_by_rule.push((*id).clone());
        } else {
            diff.additions.push((*id).clone());
        }
    }
    for (key, member) in &managed.members {
        if wanted.contains_key(key) {
            continue;
        }
        if member.unit_ids.is_empty() {
            diff.waiting_for_job.push(member.resource_id.clone());
        }
        for unit_id in &member.unit_ids {
            diff.removals.push(Removal {
                unit_id: unit_id.clone(),
                resource_id: member.resource_id.clone(),
            });
        }
    }
    diff
}

/// The inline set as refresh records it (decisions 12, 18, 3): the observed managed members,
/// each in the configured spelling when it matches case-insensitively, plus configured ids a
/// dynamic rule covers (not drift). A unit added or removed outside Terraform shows as a
/// difference, so the next plan puts it back. `None` when the set is not managed.
pub fn observed_inline_set(
    configured: Option<&[String]>,
    managed: &ManagedSet,
) -> Option<Vec<String>> {
    let configured = configured?;
    let spelling: BTreeMap<String, &String> =
        configured.iter().map(|id| (id_key(id), id)).collect();
    let mut observed: BTreeMap<String, String> = managed
        .members
        .iter()
        .map(|(key, member)| {
            let shown = spelling.get(key).map_or(&member.resource_id, |id| *id);
            (key.clone(), shown.clone())
        })
        .collect();
    for (key, id) in &spelling {
        if managed.rule_owned.contains(key) {
            observed.entry(key.clone()).or_insert_with(|| (*id).clone());
        }
    }
    Some(observed.into_values().collect())
}

/// The plan of a file-backed set (decision 1). The digest is the fast path: equal to the
/// state's (the observed set's) means no change without diffing. A different digest plans the
/// diff, which may still be empty (ids a rule covers, inputs of running jobs): then nothing
/// changes and the prior `ids_sha256` stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSetPlan {
    pub file_digest: String,
    pub diff: UnitDiff,
}

pub fn plan_file_set(
    file_ids: &[String],
    state_digest: Option<&str>,
    managed: &ManagedSet,
) -> FileSetPlan {
    let file_digest = set_digest(file_ids.iter().map(String::as_str));
    let diff = if state_digest == Some(file_digest.as_str()) {
        UnitDiff::default()
    } else {
        diff_units(Some(file_ids), managed)
    };
    FileSetPlan { file_digest, diff }
}

/// One write of unit changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitRequest {
    /// A `…ProtectionUnits@delta` PATCH of at most 50 entries.
    Patch(Vec<DeltaItem>),
    /// One bulk addition job of at most 50,000 ids.
    BulkJob(Vec<String>),
}

/// How a diff is sent: additions above `bulk_threshold` go through bulk jobs, everything else
/// through `@delta` chunks, additions first (a partial apply then protects more, never less).
pub fn unit_requests(diff: &UnitDiff, bulk_threshold: usize) -> Vec<UnitRequest> {
    let mut requests = Vec::new();
    let mut delta: Vec<DeltaItem> = Vec::new();
    if diff.additions.len() > bulk_threshold {
        requests.extend(
            diff.additions
                .chunks(MAX_IDS_PER_BULK_JOB)
                .map(|chunk| UnitRequest::BulkJob(chunk.to_vec())),
        );
    } else {
        delta.extend(diff.additions.iter().cloned().map(DeltaItem::Add));
    }
    delta.extend(
        diff.removals
            .iter()
            .map(|removal| DeltaItem::Remove(removal.unit_id.clone())),
    );
    requests.extend(
        delta
            .chunks(MAX_UNITS_PER_REQUEST)
            .map(|chunk| UnitRequest::Patch(chunk.to_vec())),
    );
    requests
}

/// One step of a create, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateStep {
    /// The creating POST with the first (at most 50) units.
    Post {
        unit_ids: Vec<String>,
    },
    Units(UnitRequest),
    /// Always last: an error before it leaves only an inactive policy (decision 7).
    Activate,
}

/// Decision 7's create order: POST (≤ 50 units), the remaining units (chunks or bulk jobs),
/// activation last.
pub fn create_steps(
    desired: Option<&[String]>,
    active: bool,
    bulk_threshold: usize,
) -> Vec<CreateStep> {
    let desired = diff_units(desired, &ManagedSet::default()).additions;
    let split = desired.len().min(MAX_UNITS_PER_REQUEST);
    let mut steps = vec![CreateStep::Post {
        unit_ids: desired[..split].to_vec(),
    }];
    let rest = UnitDiff {
        additions: desired[split..].to_vec(),
        ..UnitDiff::default()
    };
    steps.extend(
        unit_requests(&rest, bulk_threshold)
            .into_iter()
            .map(CreateStep::Units),
    );
    if active {
        steps.push(CreateStep::Activate);
    }
    steps
}

/// Decision 12: every plan that removes units warns with the count; a large removal (above 100
/// units or 10 % of the set) says it "stops protecting N mailboxes".
pub fn removal_notice(
    workload: Workload,
    tenant_id: &str,
    policy: &str,
    removals: usize,
    managed: usize,
) -> Option<Notice> {
    if removals == 0 {
        return None;
    }
    let what = workload.count_of(removals);
    let large = removals > LARGE_REMOVAL_UNITS || removals * 10 > managed;
    let summary = if large {
        format!("This plan stops protecting {what} (policy {policy}, tenant {tenant_id})")
    } else {
        format!("This plan removes {what} from policy {policy} (tenant {tenant_id})")
    };
    Some(Notice::new(
        summary,
        format!(
            "Tenant {tenant_id}: {} of the {} {} policy {policy} protects for this configuration \
             leave it, and no new backups are taken of them. Restore points already taken remain \
             until their retention ends.",
            thousands(removals),
            thousands(managed),
            workload.noun()
        ),
    ))
}

/// Decision 3: desired ids a dynamic rule already covers are left to the rule.
pub fn covered_by_rule_notice(
    workload: Workload,
    tenant_id: &str,
    policy: &str,
    ids: &[String],
) -> Option<Notice> {
    if ids.is_empty() {
        return None;
    }
    Some(Notice::on(
        workload.ids_attribute(),
        format!(
            "{} of {} are protected by an inclusion rule of policy {policy} (tenant {tenant_id})",
            workload.count_of(ids.len()),
            workload.ids_attribute()
        ),
        format!(
            "Tenant {tenant_id}: the policy's dynamic rule covers {}, so Terraform neither adds nor \
             removes them. Remove them from {} or import the rule as {} to manage it here.",
            super::notices::bounded_lines(ids.to_vec()).join(", "),
            workload.ids_attribute(),
            workload.inclusion_rule_resource_type()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::api::protection::{BulkJobStatus, Flags, ProtectionUnitStatus};
    use proptest::prelude::*;

    fn guid(n: usize) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn unit(n: usize, sources: &str, status: &str) -> ProtectionUnit {
        ProtectionUnit {
            id: format!("unit-{n}"),
            directory_object_id: Some(guid(n)),
            protection_sources: Flags::parse(sources),
            status: Some(ProtectionUnitStatus::parse(status)),
            ..ProtectionUnit::default()
        }
    }

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(guid).collect()
    }

    #[test]
    fn managed_set_follows_decision_9() {
        let units = vec![
            unit(1, "manual", "protected"),
            unit(2, "manual,dynamicRule", "protected"),
            unit(3, "dynamicRule", "protectRequested"),
            unit(4, "manual", "removeRequested"),
            unit(5, "manual", "offboarded"),
            unit(6, "manual", "somethingNew"),
            unit(7, "none", "unprotected"),
            unit(8, "manual,unknownFutureValue", "unprotected"),
        ];
        let set = ManagedSet::from_units(&units);
        let members: Vec<&str> = set.resource_ids().collect();
        assert_eq!(members, vec![guid(1), guid(6), guid(8)]);
        assert!(set.is_covered_by_rule(&guid(2)) && set.is_covered_by_rule(&guid(3)));
        assert!(!set.is_covered_by_rule(&guid(4)));
        assert!(set.contains(&guid(1).to_uppercase()));
    }

    #[test]
    fn null_is_unmanaged_and_empty_removes_every_manual_unit() {
        let units = vec![
            unit(1, "manual", "protected"),
            unit(2, "dynamicRule", "protected"),
        ];
        let set = ManagedSet::from_units(&units);
        assert!(diff_units(None, &set).is_empty());
        let diff = diff_units(Some(&[]), &set);
        assert!(diff.additions.is_empty());
        assert_eq!(
            diff.removals,
            vec![Removal {
                unit_id: "unit-1".into(),
                resource_id: guid(1)
            }]
        );
    }

    #[test]
    fn diff_adds_by_id_removes_by_unit_id_and_leaves_rule_units() {
        let units = vec![
            unit(1, "manual", "protected"),
            unit(2, "manual", "protected"),
            unit(3, "dynamicRule", "protected"),
            unit(4, "manual,dynamicRule", "protected"),
        ];
        let set = ManagedSet::from_units(&units);
        let desired = vec![guid(1).to_uppercase(), guid(3), guid(5)];
        let diff = diff_units(Some(&desired), &set);
        assert_eq!(diff.additions, vec![guid(5)]);
        assert_eq!(diff.removals.len(), 1);
        assert_eq!(diff.removals[0].unit_id, "unit-2");
        assert_eq!(diff.covered_by_rule, vec![guid(3)]);
        assert_eq!(
            diff.difference(),
            SetDifference {
                added: 1,
                removed: 1
            }
        );
    }

    #[test]
    fn running_job_inputs_count_as_present() {
        let job = BulkAdditionJob {
            status: Some(BulkJobStatus::Active),
            directory_object_ids: Some(vec![guid(7), guid(8)]),
            ..BulkAdditionJob::default()
        };
        let finished = BulkAdditionJob {
            status: Some(BulkJobStatus::Completed),
            directory_object_ids: Some(vec![guid(9)]),
            ..BulkAdditionJob::default()
        };
        let listed_without_inputs = BulkAdditionJob {
            status: Some(BulkJobStatus::Active),
            ..BulkAdditionJob::default()
        };
        let set = ManagedSet::from_units(&[unit(7, "manual", "protectRequested")])
            .with_running_jobs(&[job, finished, listed_without_inputs]);
        assert_eq!(set.pending_job_count(), 2);
        assert!(set.contains(&guid(8)) && !set.contains(&guid(9)));
        let diff = diff_units(Some(&[guid(7), guid(9)]), &set);
        assert_eq!(diff.additions, vec![guid(9)]);
        assert!(diff.removals.is_empty());
        assert_eq!(diff.waiting_for_job, vec![guid(8)]);
    }

    #[test]
    fn requests_chunk_by_fifty_and_switch_to_bulk_jobs_above_the_threshold() {
        let set = ManagedSet::from_units(
            &(0..30)
                .map(|n| unit(n, "manual", "protected"))
                .collect::<Vec<_>>(),
        );
        let desired = ids(10..130);
        let diff = diff_units(Some(&desired), &set);
        assert_eq!((diff.additions.len(), diff.removals.len()), (100, 10));
        let requests = unit_requests(&diff, DEFAULT_BULK_THRESHOLD);
        let sizes: Vec<usize> = requests
            .iter()
            .map(|r| match r {
                UnitRequest::Patch(items) => items.len(),
                UnitRequest::BulkJob(_) => panic!("no job below the threshold"),
            })
            .collect();
        assert_eq!(sizes, vec![50, 50, 10]);
        assert!(
            matches!(&requests[2], UnitRequest::Patch(items) if items.iter().all(|i| matches!(i, DeltaItem::Remove(_))))
        );

        let requests = unit_requests(&diff, 99);
        assert_eq!(requests.len(), 2);
        assert!(matches!(&requests[0], UnitRequest::BulkJob(job) if job.len() == 100));
        assert!(matches!(&requests[1], UnitRequest::Patch(items) if items.len() == 10));

        let big = UnitDiff {
            additions: ids(0..120_001),
            ..UnitDiff::default()
        };
        let jobs: Vec<usize> = unit_requests(&big, DEFAULT_BULK_THRESHOLD)
            .iter()
            .map(|r| match r {
                UnitRequest::BulkJob(ids) => ids.len(),
                UnitRequest::Patch(_) => panic!("additions above the threshold never go by PATCH"),
            })
            .collect();
        assert_eq!(jobs, vec![50_000, 50_000, 20_001]);
    }

    #[test]
    fn create_posts_fifty_then_the_rest_then_activates() {
        let steps = create_steps(Some(&ids(0..120)), true, DEFAULT_BULK_THRESHOLD);
        assert_eq!(steps.len(), 4);
        assert!(matches!(&steps[0], CreateStep::Post { unit_ids } if unit_ids.len() == 50));
        assert!(matches!(&steps[1], CreateStep::Units(UnitRequest::Patch(i)) if i.len() == 50));
        assert!(matches!(&steps[2], CreateStep::Units(UnitRequest::Patch(i)) if i.len() == 20));
        assert_eq!(steps[3], CreateStep::Activate);

        assert_eq!(
            create_steps(None, false, DEFAULT_BULK_THRESHOLD),
            vec![CreateStep::Post { unit_ids: vec![] }]
        );
        let steps = create_steps(Some(&ids(0..1000)), true, DEFAULT_BULK_THRESHOLD);
        assert!(matches!(&steps[1], CreateStep::Units(UnitRequest::BulkJob(j)) if j.len() == 950));
        assert_eq!(steps.last(), Some(&CreateStep::Activate));
    }

    #[test]
    fn removal_warnings() {
        assert!(removal_notice(Workload::Exchange, "t", "P", 0, 10).is_none());
        let small = removal_notice(Workload::Exchange, "t", "P", 5, 1000).unwrap();
        assert_eq!(
            small.summary,
            "This plan removes 5 mailboxes from policy P (tenant t)"
        );
        let large = removal_notice(Workload::Exchange, "t", "P", 101, 100_000).unwrap();
        assert!(
            large
                .summary
                .starts_with("This plan stops protecting 101 mailboxes")
        );
        let tenth = removal_notice(Workload::SharePoint, "t", "P", 1, 10).unwrap();
        assert!(tenth.summary.starts_with("This plan removes 1 site from"));
        let above_tenth = removal_notice(Workload::SharePoint, "t", "P", 2, 19).unwrap();
        assert!(
            above_tenth
                .summary
                .starts_with("This plan stops protecting 2 sites")
        );
        assert!(above_tenth.detail.contains("Tenant t"));
    }

    #[test]
    fn import_fills_the_inline_set_up_to_its_limit() {
        let units: Vec<_> = (0..3).map(|n| unit(n, "manual", "protected")).collect();
        assert_eq!(
            ManagedSet::from_units(&units).import_inline_set(),
            Some(ids(0..3))
        );
        let many: Vec<_> = (0..=MAX_INLINE_IDS)
            .map(|n| unit(n, "manual", "protected"))
            .collect();
        assert_eq!(ManagedSet::from_units(&many).import_inline_set(), None);
    }

    #[test]
    fn refresh_keeps_the_configured_spelling_and_shows_drift() {
        let units = vec![
            unit(1, "manual", "protected"),
            unit(2, "manual", "protected"),
            unit(3, "dynamicRule", "protected"),
        ];
        let set = ManagedSet::from_units(&units);
        assert_eq!(observed_inline_set(None, &set), None);
        let configured = vec![guid(1).to_uppercase(), guid(3), guid(4)];
        assert_eq!(
            observed_inline_set(Some(&configured), &set),
            Some(vec![guid(1).to_uppercase(), guid(2), guid(3)]),
            "2 was added outside Terraform, 4 is missing, 3 belongs to a rule"
        );
    }

    #[test]
    fn file_sets_plan_by_digest_then_by_diff() {
        let set = ManagedSet::from_units(&[
            unit(1, "manual", "protected"),
            unit(3, "dynamicRule", "protected"),
        ]);
        let same = plan_file_set(&[guid(1)], Some(&set.digest()), &set);
        assert!(same.diff.is_empty());
        assert_eq!(same.file_digest, set.digest());
        let changed = plan_file_set(&[guid(2)], Some(&set.digest()), &set);
        assert_eq!(
            changed.diff.difference(),
            SetDifference {
                added: 1,
                removed: 1
            }
        );
        let only_rule = plan_file_set(&[guid(1), guid(3)], Some(&set.digest()), &set);
        assert_ne!(only_rule.file_digest, set.digest());
        assert!(
            only_rule.diff.is_empty(),
            "ids a rule covers never plan a change"
        );
    }

    fn observed_units() -> impl Strategy<Value = Vec<ProtectionUnit>> {
        let sources = prop::sample::select(vec![
            "manual",
            "dynamicRule",
            "manual,dynamicRule",
            "none",
            "manual,other",
        ]);
        let status = prop::sample::select(vec![
            "protected",
            "protectRequested",
            "removeRequested",
            "offboardRequested",
            "unprotected",
            "future",
        ]);
        prop::collection::vec((0usize..40, sources, status, any::<bool>()), 0..40).prop_map(
            |rows| {
                rows.into_iter()
                    .enumerate()
                    .map(|(index, (n, sources, status, upper))| {
                        let mut u = unit(n, sources, status);
                        u.id = format!("unit-{index}");
                        if upper {
                            u.directory_object_id =
                                u.directory_object_id.map(|id| id.to_uppercase());
                        }
                        u
                    })
                    .collect()
            },
        )
    }

    proptest! {
        /// Applying the diff to the managed set yields exactly the desired set, minus what a
        /// rule covers; nothing a rule owns or that is leaving is ever removed.
        #[test]
        fn diff_converges_and_never_touches_rule_units(
            units in observed_units(),
            desired in prop::collection::btree_set(0usize..40, 0..40),
        ) {
            let set = ManagedSet::from_units(&units);
            let desired: Vec<String> = desired.into_iter().map(guid).collect();
            let diff = diff_units(Some(&desired), &set);
            let removable: BTreeSet<&str> = units.iter().filter(|u| is_managed(u) && !is_rule_owned(u)).map(|u| u.id.as_str()).collect();
            for removal in &diff.removals {
                prop_assert!(removable.contains(removal.unit_id.as_str()));
            }
            let mut after: BTreeSet<String> = set.resource_ids().map(id_key).collect();
            for removal in &diff.removals {
                after.remove(&id_key(&removal.resource_id));
            }
            after.extend(diff.additions.iter().map(|id| id_key(id)));
            let expected: BTreeSet<String> = desired.iter()
                .filter(|id| !set.is_covered_by_rule(id) || set.contains(id))
                .map(|id| id_key(id)).collect();
            prop_assert_eq!(after, expected);
            // A second plan after a successful apply is empty.
            let applied: Vec<ProtectionUnit> = units.iter().filter(|u| !diff.removals.iter().any(|r| r.unit_id == u.id)).cloned()
                .chain(diff.additions.iter().enumerate().map(|(i, id)| ProtectionUnit {
                    id: format!("new-{i}"), directory_object_id: Some(id.clone()),
                    protection_sources: Flags::parse("manual"), ..ProtectionUnit::default() }))
                .collect();
            prop_assert!(diff_units(Some(&desired), &ManagedSet::from_units(&applied)).is_empty());
        }

        /// Requests respect Graph's limits and carry every change exactly once.
        #[test]
        fn requests_respect_limits(additions in 0usize..1200, removals in 0usize..300, threshold in 0usize..1000) {
            let diff = UnitDiff {
                additions: ids(0..additions),
                removals: (0..removals).map(|n| Removal { unit_id: format!("u{n}"), resource_id: guid(n) }).collect(),
                ..UnitDiff::default()
            };
            let (mut added, mut removed) = (0, 0);
            for request in unit_requests(&diff, threshold) {
                match request {
                    UnitRequest::Patch(items) => {
                        prop_assert!(!items.is_empty() && items.len() <= MAX_UNITS_PER_REQUEST);
                        for item in items {
                            match item { DeltaItem::Add(_) => added += 1, DeltaItem::Remove(_) => removed += 1 }
                        }
                    }
                    UnitRequest::BulkJob(ids) => {
                        prop_assert!(additions > threshold);
                        prop_assert!(!ids.is_empty() && ids.len() <= MAX_IDS_PER_BULK_JOB);
                        added += ids.len();
                    }
                }
            }
            prop_assert_eq!((added, removed), (additions, removals));
        }

        /// A create sends every desired id once and activates last, only when asked.
        #[test]
        fn create_sends_everything_once(count in 0usize..700, active in any::<bool>()) {
            let steps = create_steps(Some(&ids(0..count)), active, DEFAULT_BULK_THRESHOLD);
            let mut sent = 0;
            for (index, step) in steps.iter().enumerate() {
                match step {
                    CreateStep::Post { unit_ids } => { prop_assert_eq!(index, 0); prop_assert!(unit_ids.len() <= 50); sent += unit_ids.len(); }
                    CreateStep::Units(UnitRequest::Patch(items)) => sent += items.len(),
                    CreateStep::Units(UnitRequest::BulkJob(ids)) => sent += ids.len(),
                    CreateStep::Activate => prop_assert_eq!(index, steps.len() - 1),
                }
            }
            prop_assert_eq!(sent, count);
            prop_assert_eq!(steps.last() == Some(&CreateStep::Activate), active);
        }
    }
}
