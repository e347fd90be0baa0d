//! One update of a policy, composed from the other decisions so that the resource adapter calls
//! one function: rename and retention (decision 11) in the first PATCH, the unit diff (decisions
//! 3, 9, 12) as `@delta` chunks or bulk jobs, the activation change (decision 10) last, and
//! every plan-time warning. Gating (decision 5) is decided before, by
//! [`super::gating::decide_write`].

use super::activation::{ActivationChange, observed_active, plan_activation};
use super::notices::Notice;
use super::retention::{RetentionPlan, plan_retention, retention_change_notice};
use super::unit_set::{
    ManagedSet, UnitDiff, UnitRequest, covered_by_rule_notice, diff_units, removal_notice,
    unit_requests,
};
use crate::graph::api::protection::{
    BulkAdditionJob, PolicyPatch, ProtectionPolicy, ProtectionUnit, Workload,
};

/// The configuration of a policy resource, as it bears on an update.
#[derive(Clone, Copy, Debug)]
pub struct PolicyConfig<'a> {
    pub workload: Workload,
    pub display_name: &'a str,
    pub active: bool,
    /// `None`: retention is not managed.
    pub retention_period: Option<&'a str>,
    /// The inline set or the ids read from the file; `None`: units are not managed here.
    pub unit_ids: Option<&'a [String]>,
    pub bulk_threshold: usize,
}

/// What Graph showed (the policy, every page of its units, its running bulk jobs) and what the
/// prior state said about `active`.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub tenant_id: &'a str,
    pub policy: &'a ProtectionPolicy,
    pub units: &'a [ProtectionUnit],
    pub running_jobs: &'a [BulkAdditionJob],
    pub prior_active: Option<bool>,
}

/// Everything an update sends, and the warnings its plan shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdatePlan {
    pub rename_to: Option<String>,
    pub retention_to: Option<String>,
    pub units: UnitDiff,
    pub unit_requests: Vec<UnitRequest>,
    pub activation: ActivationChange,
    pub warnings: Vec<Notice>,
}

/// One write, in the order apply sends them.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyWrite {
    Patch(PolicyPatch),
    BulkJob(Vec<String>),
    Activate,
    Deactivate,
}

impl UpdatePlan {
    /// Nothing to send (warnings may still be shown).
    pub fn is_empty(&self) -> bool {
        self.rename_to.is_none()
            && self.retention_to.is_none()
            && self.unit_requests.is_empty()
            && self.activation == ActivationChange::Keep
    }

    /// The writes in order: name and retention ride on the first PATCH, then the remaining
    /// unit requests, then the activation change.
    pub fn writes(&self, workload: Workload) -> Vec<PolicyWrite> {
        let mut writes = Vec::new();
        let mut first_patch = PolicyPatch {
            workload,
            display_name: self.rename_to.clone(),
            retention_period: self.retention_to.clone(),
            units: Vec::new(),
        };
        let mut first_taken = false;
        for request in &self.unit_requests {
            match request {
                UnitRequest::Patch(items) if !first_taken => {
                    first_patch.units = items.clone();
                    first_taken = true;
                }
                UnitRequest::Patch(items) => writes.push(PolicyWrite::Patch(PolicyPatch {
                    workload,
                    display_name: None,
                    retention_period: None,
                    units: items.clone(),
                })),
                UnitRequest::BulkJob(ids) => writes.push(PolicyWrite::BulkJob(ids.clone())),
            }
        }
        if first_taken
            || first_patch.display_name.is_some()
            || first_patch.retention_period.is_some()
        {
            writes.insert(0, PolicyWrite::Patch(first_patch));
        }
        match self.activation {
            ActivationChange::Keep => {}
            ActivationChange::Activate => writes.push(PolicyWrite::Activate),
            ActivationChange::Deactivate => writes.push(PolicyWrite::Deactivate),
        }
        writes
    }
}

/// Plans an update of an existing policy against what Graph shows.
pub fn plan_update(config: &PolicyConfig<'_>, observed: &Observed<'_>) -> UpdatePlan {
    let policy_name = observed
        .policy
        .display_name
        .as_deref()
        .unwrap_or(config.display_name);
    let tenant = observed.tenant_id;
    let mut warnings = Vec::new();

    let rename_to = (observed.policy.display_name.as_deref() != Some(config.display_name))
        .then(|| config.display_name.to_string());

    let retention_to =
        match plan_retention(config.retention_period, observed.policy.weekly_retention()) {
            RetentionPlan::Change { from, to } => {
                warnings.extend(retention_change_notice(
                    tenant,
                    policy_name,
                    from.as_deref(),
                    &to,
                ));
                Some(to)
            }
            RetentionPlan::Unmanaged { .. } | RetentionPlan::InSync { .. } => None,
        };

    let managed = ManagedSet::from_units(observed.units).with_running_jobs(observed.running_jobs);
    let units = diff_units(config.unit_ids, &managed);
    warnings.extend(removal_notice(
        config.workload,
        tenant,
        policy_name,
        units.removals.len(),
        managed.len(),
    ));
    warnings.extend(covered_by_rule_notice(
        config.workload,
        tenant,
        policy_name,
        &units.covered_by_rule,
    ));
    let unit_requests = unit_requests(&units, config.bulk_threshold);

    let active = observed_active(
        observed.policy.is_enabled,
        observed.policy.status.as_ref(),
        observed.prior_active,
    );
    UpdatePlan {
        rename_to,
        retention_to,
        units,
        unit_requests,
        activation: plan_activation(config.active, active),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::api::protection::{
        DeltaItem, Flags, ProtectionPolicyStatus, ProtectionUnitStatus, RetentionSetting,
    };
    use crate::lifecycle::protection_policy::unit_set::DEFAULT_BULK_THRESHOLD;

    fn guid(n: usize) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn unit(n: usize) -> ProtectionUnit {
        ProtectionUnit {
            id: format!("unit-{n}"),
            directory_object_id: Some(guid(n)),
            protection_sources: Flags::parse("manual"),
            status: Some(ProtectionUnitStatus::parse("protected")),
            ..ProtectionUnit::default()
        }
    }

    fn policy(name: &str, enabled: bool, period: &str) -> ProtectionPolicy {
        ProtectionPolicy {
            odata_type: Some(Workload::Exchange.policy_odata_type().into()),
            id: "p".into(),
            display_name: Some(name.into()),
            is_enabled: Some(enabled),
            status: Some(ProtectionPolicyStatus::Active),
            retention_settings: Some(vec![RetentionSetting::weekly(period)]),
            ..ProtectionPolicy::default()
        }
    }

    fn config<'a>(ids: Option<&'a [String]>) -> PolicyConfig<'a> {
        PolicyConfig {
            workload: Workload::Exchange,
            display_name: "Mail",
            active: true,
            retention_period: Some("P365D"),
            unit_ids: ids,
            bulk_threshold: DEFAULT_BULK_THRESHOLD,
        }
    }

    #[test]
    fn matching_configuration_plans_nothing() {
        let observed_policy = policy("Mail", true, "P1Y");
        let units: Vec<_> = (0..3).map(unit).collect();
        let ids: Vec<String> = (0..3).map(|n| guid(n).to_uppercase()).collect();
        let observed = Observed {
            tenant_id: "t",
            policy: &observed_policy,
            units: &units,
            running_jobs: &[],
            prior_active: Some(true),
        };
        let plan = plan_update(&config(Some(&ids)), &observed);
        assert!(plan.is_empty(), "{plan:?}");
        assert!(plan.warnings.is_empty());
        assert!(plan.writes(Workload::Exchange).is_empty());
    }

    #[test]
    fn drift_is_planned_back_in_order() {
        let observed_policy = policy("Renamed outside", false, "P90D");
        let units: Vec<_> = (0..60).map(unit).collect();
        let ids: Vec<String> = (5..70).map(guid).collect();
        let observed = Observed {
            tenant_id: "t",
            policy: &observed_policy,
            units: &units,
            running_jobs: &[],
            prior_active: Some(true),
        };
        let plan = plan_update(&config(Some(&ids)), &observed);
        assert_eq!(plan.rename_to.as_deref(), Some("Mail"));
        assert_eq!(plan.retention_to.as_deref(), Some("P365D"));
        assert_eq!(plan.activation, ActivationChange::Activate);
        assert_eq!(
            (plan.units.additions.len(), plan.units.removals.len()),
            (10, 5)
        );
        assert_eq!(
            plan.warnings.len(),
            2,
            "retention and removal: {:?}",
            plan.warnings
        );
        let writes = plan.writes(Workload::Exchange);
        assert_eq!(writes.len(), 2);
        let PolicyWrite::Patch(first) = &writes[0] else {
            panic!("a PATCH first")
        };
        assert_eq!(first.display_name.as_deref(), Some("Mail"));
        assert_eq!(first.retention_period.as_deref(), Some("P365D"));
        assert_eq!(
            first
                .units
                .iter()
                .filter(|i| matches!(i, DeltaItem::Add(_)))
                .count(),
            10
        );
        assert_eq!(first.units.len(), 15);
        assert_eq!(writes[1], PolicyWrite::Activate);
    }

    #[test]
    fn updating_keeps_the_prior_active_and_unmanaged_parts_are_left_alone() {
        let mut observed_policy = policy("Mail", true, "P90D");
        observed_policy.status = Some(ProtectionPolicyStatus::Updating);
        let units: Vec<_> = (0..3).map(unit).collect();
        let observed = Observed {
            tenant_id: "t",
            policy: &observed_policy,
            units: &units,
            running_jobs: &[],
            prior_active: Some(false),
        };
        let mut unmanaged = config(None);
        unmanaged.retention_period = None;
        unmanaged.active = false;
        let plan = plan_update(&unmanaged, &observed);
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn large_additions_become_bulk_jobs_after_the_first_patch() {
        let observed_policy = policy("Old", true, "P365D");
        let ids: Vec<String> = (0..600).map(guid).collect();
        let observed = Observed {
            tenant_id: "t",
            policy: &observed_policy,
            units: &[],
            running_jobs: &[],
            prior_active: Some(true),
        };
        let writes = plan_update(&config(Some(&ids)), &observed).writes(Workload::Exchange);
        assert_eq!(writes.len(), 2);
        assert!(
            matches!(&writes[0], PolicyWrite::Patch(p) if p.display_name.as_deref() == Some("Mail") && p.units.is_empty())
        );
        assert!(matches!(&writes[1], PolicyWrite::BulkJob(j) if j.len() == 600));
    }

    proptest::proptest! {
        /// The writes carry every planned unit change exactly once, within Graph's limits, with
        /// at most one PATCH carrying the name and retention, and the activation change last.
        #[test]
        fn writes_carry_the_plan_once(
            observed_units in 0usize..200,
            desired in proptest::collection::btree_set(0usize..400, 0..300),
            threshold in 0usize..300,
            renamed in proptest::bool::ANY,
            enabled in proptest::bool::ANY,
        ) {
            let observed_policy = policy(if renamed { "Old" } else { "Mail" }, enabled, "P365D");
            let units: Vec<_> = (0..observed_units).map(unit).collect();
            let ids: Vec<String> = desired.iter().copied().map(guid).collect();
            let mut cfg = config(Some(&ids));
            cfg.bulk_threshold = threshold;
            let plan = plan_update(&cfg, &Observed {
                tenant_id: "t", policy: &observed_policy, units: &units, running_jobs: &[], prior_active: None,
            });
            let writes = plan.writes(Workload::Exchange);
            let (mut added, mut removed, mut named) = (0, 0, 0);
            for (index, write) in writes.iter().enumerate() {
                match write {
                    PolicyWrite::Patch(patch) => {
                        proptest::prop_assert!(patch.units.len() <= 50);
                        if patch.display_name.is_some() { named += 1; proptest::prop_assert_eq!(index, 0); }
                        added += patch.units.iter().filter(|i| matches!(i, DeltaItem::Add(_))).count();
                        removed += patch.units.iter().filter(|i| matches!(i, DeltaItem::Remove(_))).count();
                    }
                    PolicyWrite::BulkJob(job) => added += job.len(),
                    PolicyWrite::Activate | PolicyWrite::Deactivate => proptest::prop_assert_eq!(index, writes.len() - 1),
                }
            }
            proptest::prop_assert_eq!(named, usize::from(renamed));
            proptest::prop_assert_eq!(added, plan.units.additions.len());
            proptest::prop_assert_eq!(removed, plan.units.removals.len());
            proptest::prop_assert_eq!(writes.is_empty(), plan.is_empty());
            proptest::prop_assert_eq!(plan.activation == ActivationChange::Activate, !enabled);
        }
    }
}
