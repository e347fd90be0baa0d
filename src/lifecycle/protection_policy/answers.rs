//! What Graph answered to the provider's unit writes. Decision 7: per-item failures inside a
//! 200 PATCH answer are warnings, while "not found" on a removal and "already in this policy"
//! on an addition count as success. Decision 8: a bulk job carries a nonce in its
//! `displayName`, so that after a lost answer the provider finds it instead of posting again.

use super::notices::{ItemFailure, describe_unit};
use crate::graph::api::protection::{BulkAdditionJob, DeltaAnswerItem, Workload};

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
    use crate::graph::api::protection::{DataModificationException, FailureInfo, ProtectionUnit};

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
