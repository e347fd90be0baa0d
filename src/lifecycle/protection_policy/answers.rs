//! What Graph answered to the provider's unit writes. Decision 7: per-item failures inside a
//! 200 PATCH answer are warnings, while "not found" on a removal and "already in this policy"
//! on an addition count as success. Decision 8: a bulk job carries a nonce in its
//! `displayName`, so that after a lost answer the provider finds it instead of posting again.

use std::collections::HashMap;

use super::notices::{ItemFailure, describe_unit};
use crate::graph::api::protection::{
    BulkAdditionJob, DeltaAnswerItem, ProtectionPolicy, ProtectionUnit, Workload,
};

/// How the items of one `@delta` PATCH answer turned out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeltaOutcome {
    pub succeeded: usize,
    pub failures: Vec<ItemFailure>,
}

/// Judges a PATCH answer (decision 7). A removal answered `ProtectionUnitNotFound` and an
/// addition answered `ProtectionUnitAlreadyExists` for a unit of *this* policy (its `policyId`)
/// succeeded; `ProtectionUnitAlreadyExists` naming another policy, or none, is a failure (if the
/// unit was in fact ours, the next refresh finds it and nothing is retried).
pub fn judge_delta_answer(
    workload: Workload,
    policy_id: &str,
    answer: &[DeltaAnswerItem],
) -> DeltaOutcome {
    let mut outcome = DeltaOutcome::default();
    for item in answer {
        let Some(failure) = &item.failure else {
            outcome.succeeded += 1;
            continue;
        };
        let code = failure.info.as_ref().and_then(|i| i.code.clone());
        let operation = failure.failed_operation.as_deref().unwrap_or_default();
        let harmless = match code.as_deref() {
            Some("ProtectionUnitNotFound") => operation.eq_ignore_ascii_case("remove"),
            Some("ProtectionUnitAlreadyExists") => {
                operation.eq_ignore_ascii_case("add")
                    && item
                        .unit
                        .policy_id
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(policy_id))
            }
            _ => false,
        };
        if harmless {
            outcome.succeeded += 1;
        } else {
            outcome.failures.push(ItemFailure {
                item: describe_unit(workload, &item.unit),
                code,
                message: failure.info.as_ref().and_then(|i| i.message.clone()),
            });
        }
    }
    outcome
}

/// Applies Graph's echo of a `@delta` PATCH to the units listed before it: each unit the answer
/// shows (added: `protectRequested`, removed: `removeRequested`) replaces the listed one with
/// the same unit id or resource id, or joins the list. Failed items change nothing; the next
/// refresh sees what Graph did. This is how apply knows the policy's units after a change
/// without listing a policy of 50,000 units again (decision 9: one listing per process).
pub fn apply_delta_answer(units: &mut Vec<ProtectionUnit>, answer: &[DeltaAnswerItem]) {
    let echoed: Vec<&ProtectionUnit> = answer
        .iter()
        .filter(|item| item.failure.is_none())
        .map(|item| &item.unit)
        .filter(|unit| !unit.id.is_empty() || unit.resource_id().is_some())
        .collect();
    if echoed.is_empty() {
        return;
    }
    // Keys of the echoed units; a listed unit matching one is replaced in place.
    let mut wanted: HashMap<String, usize> = HashMap::with_capacity(echoed.len() * 2);
    for (n, unit) in echoed.iter().enumerate() {
        if !unit.id.is_empty() {
            wanted.insert(format!("u:{}", unit.id.to_ascii_lowercase()), n);
        }
        if let Some(resource) = unit.resource_id() {
            wanted.insert(format!("r:{}", resource.to_ascii_lowercase()), n);
        }
    }
    let mut placed = vec![false; echoed.len()];
    for listed in units.iter_mut() {
        let by_id = (!listed.id.is_empty())
            .then(|| wanted.get(&format!("u:{}", listed.id.to_ascii_lowercase())))
            .flatten();
        let by_resource = || {
            listed
                .resource_id()
                .and_then(|r| wanted.get(&format!("r:{}", r.to_ascii_lowercase())))
        };
        if let Some(&n) = by_id.or_else(by_resource)
            && !placed[n]
        {
            *listed = echoed[n].clone();
            placed[n] = true;
        }
    }
    for (n, unit) in echoed.into_iter().enumerate() {
        if !placed[n] {
            units.push(unit.clone());
        }
    }
}

/// Takes the policy properties a write's answer carries (Graph answers a PATCH, an activate and a
/// deactivate with the policy) over the ones read before it. `false` when the answer has no
/// policy or another one, so it must be read.
pub fn apply_policy_answer(
    policy: &mut ProtectionPolicy,
    answer: Option<ProtectionPolicy>,
) -> bool {
    let Some(answer) = answer.filter(|answer| answer.id.eq_ignore_ascii_case(&policy.id)) else {
        return false;
    };
    let ProtectionPolicy {
        odata_type: _,
        id: _,
        display_name,
        is_enabled,
        status,
        retention_settings,
        protection_policy_artifact_count,
        created_by,
        created_date_time,
        last_modified_by,
        last_modified_date_time,
    } = answer;
    fn take<T>(mine: &mut Option<T>, newer: Option<T>) {
        if newer.is_some() {
            *mine = newer;
        }
    }
    take(&mut policy.display_name, display_name);
    take(&mut policy.is_enabled, is_enabled);
    take(&mut policy.status, status);
    take(&mut policy.retention_settings, retention_settings);
    take(
        &mut policy.protection_policy_artifact_count,
        protection_policy_artifact_count,
    );
    take(&mut policy.created_by, created_by);
    take(&mut policy.created_date_time, created_date_time);
    take(&mut policy.last_modified_by, last_modified_by);
    take(&mut policy.last_modified_date_time, last_modified_date_time);
    true
}

/// The `displayName` of a bulk job: carries a nonce so that a job whose creating answer was
/// lost can be found again instead of posted twice (decision 8).
pub fn bulk_job_display_name(nonce: &str) -> String {
    format!("terraform-m365backup {nonce}")
}

/// The job created with this nonce, if Graph lists it.
pub fn find_bulk_job<'a>(jobs: &'a [BulkAdditionJob], nonce: &str) -> Option<&'a BulkAdditionJob> {
    let name = bulk_job_display_name(nonce);
    jobs.iter()
        .find(|job| job.display_name.as_deref() == Some(name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::api::protection::{
        DataModificationException, FailureInfo, ProtectionUnitStatus,
    };

    #[test]
    fn delta_answers_count_not_found_and_already_here_as_success() {
        let failed = |code: &str, operation: &str, policy: Option<&str>| DeltaAnswerItem {
            failure: Some(DataModificationException {
                info: Some(FailureInfo {
                    code: Some(code.into()),
                    message: Some("m".into()),
                }),
                failed_operation: Some(operation.into()),
                response_code: Some(409),
            }),
            unit: ProtectionUnit {
                id: "u".into(),
                policy_id: policy.map(String::from),
                directory_object_id: Some("d".into()),
                ..ProtectionUnit::default()
            },
            ..DeltaAnswerItem::default()
        };
        let answer = vec![
            DeltaAnswerItem::default(),
            failed("ProtectionUnitNotFound", "remove", None),
            failed("ProtectionUnitAlreadyExists", "add", Some("POLICY-1")),
            failed("ProtectionUnitAlreadyExists", "add", Some("policy-2")),
            failed("ProtectionUnitNotFound", "add", None),
            failed("QuotaExceeded", "add", Some("policy-1")),
        ];
        let outcome = judge_delta_answer(Workload::Exchange, "policy-1", &answer);
        assert_eq!(outcome.succeeded, 3);
        assert_eq!(outcome.failures.len(), 3);
        assert_eq!(outcome.failures[0].item, "mailbox d (unit u)");
        assert_eq!(outcome.failures[2].code.as_deref(), Some("QuotaExceeded"));
    }

    fn unit(id: &str, object: &str, status: ProtectionUnitStatus) -> ProtectionUnit {
        ProtectionUnit {
            id: id.into(),
            directory_object_id: Some(object.into()),
            status: Some(status),
            ..ProtectionUnit::default()
        }
    }

    fn echo(unit: ProtectionUnit) -> DeltaAnswerItem {
        DeltaAnswerItem {
            unit,
            ..DeltaAnswerItem::default()
        }
    }

    #[test]
    fn a_delta_answer_updates_the_listed_units() {
        use ProtectionUnitStatus::{ProtectRequested, Protected, RemoveRequested};
        let mut units = vec![unit("u1", "A", Protected), unit("u2", "B", Protected)];
        let mut failed = echo(unit("", "C", ProtectRequested));
        failed.failure = Some(DataModificationException::default());
        let answer = vec![
            // A removal echoes the unit id; an addition the resource, in the caller's case.
            echo(unit("U2", "b", RemoveRequested)),
            echo(unit("u3", "d", ProtectRequested)),
            failed,
        ];
        apply_delta_answer(&mut units, &answer);
        let seen: Vec<_> = units
            .iter()
            .map(|u| (u.id.as_str(), u.status.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("u1", Some(Protected)),
                ("U2", Some(RemoveRequested)),
                ("u3", Some(ProtectRequested)),
            ]
        );
        // An addition of a unit already listed (by its resource id) replaces it, not a copy.
        apply_delta_answer(&mut units, &[echo(unit("u1", "a", ProtectRequested))]);
        assert_eq!(units.len(), 3);
        assert_eq!(units[0].status, Some(ProtectRequested));
        apply_delta_answer(&mut units, &[]);
        assert_eq!(units.len(), 3);
    }

    #[test]
    fn a_patch_answer_updates_the_policy_it_names() {
        let mut policy = ProtectionPolicy {
            id: "p1".into(),
            display_name: Some("Old".into()),
            created_date_time: Some("2026-01-01T00:00:00Z".into()),
            ..ProtectionPolicy::default()
        };
        let answer = |id: &str| ProtectionPolicy {
            id: id.into(),
            display_name: Some("New".into()),
            ..ProtectionPolicy::default()
        };
        assert!(!apply_policy_answer(&mut policy, None));
        assert!(!apply_policy_answer(&mut policy, Some(answer(""))));
        assert!(!apply_policy_answer(&mut policy, Some(answer("p2"))));
        assert_eq!(policy.display_name.as_deref(), Some("Old"));
        assert!(apply_policy_answer(&mut policy, Some(answer("P1"))));
        assert_eq!(policy.display_name.as_deref(), Some("New"));
        // What the answer leaves out stays as read.
        assert!(policy.created_date_time.is_some());
        assert_eq!(policy.id, "p1");
    }

    #[test]
    fn bulk_jobs_are_found_by_their_nonce() {
        let jobs = vec![
            BulkAdditionJob {
                id: "a".into(),
                display_name: Some("someone else".into()),
                ..BulkAdditionJob::default()
            },
            BulkAdditionJob {
                id: "b".into(),
                display_name: Some(bulk_job_display_name("n-1")),
                ..BulkAdditionJob::default()
            },
        ];
        assert_eq!(
            find_bulk_job(&jobs, "n-1").map(|j| j.id.as_str()),
            Some("b")
        );
        assert!(find_bulk_job(&jobs, "n-2").is_none());
    }
}
