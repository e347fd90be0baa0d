//! What the user is told about per-item failures, and the unit counts shown in state.
//!
//! Decision 7: per-item failures (in 200 answers, in units' `error`) are warnings and the next
//! plan retries. Decision 22: Terraform folds warnings with one summary, so every line names its
//! tenant; at most [`MAX_LISTED_ITEMS`] lines are listed, then a count.

use crate::graph::api::protection::{
    BulkAdditionJob, ProtectionPolicyStatus, ProtectionUnit, ProtectionUnitStatus, Workload,
};

/// At most this many failed items are listed in one warning.
pub const MAX_LISTED_ITEMS: usize = 20;

/// A warning or error for the user, free of any Terraform type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The attribute it concerns, when there is one.
    pub attribute: Option<&'static str>,
    pub summary: String,
    pub detail: String,
}

impl Notice {
    pub fn new(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            attribute: None,
            summary: summary.into(),
            detail: detail.into(),
        }
    }

    pub fn on(
        attribute: &'static str,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            attribute: Some(attribute),
            ..Self::new(summary, detail)
        }
    }
}

/// One item Graph could not process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFailure {
    /// What failed, for the user: "mailbox 8d1f… (unit 5a2c…)".
    pub item: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ItemFailure {
    fn describe(&self) -> String {
        match (self.code.as_deref(), self.message.as_deref()) {
            (Some(code), Some(message)) => format!("{}: {code}: {message}", self.item),
            (Some(text), None) | (None, Some(text)) => format!("{}: {text}", self.item),
            (None, None) => format!("{}: failed without a reason", self.item),
        }
    }
}

/// Keeps the first [`MAX_LISTED_ITEMS`] lines and replaces the rest by "and N more".
pub fn bounded_lines(lines: Vec<String>) -> Vec<String> {
    let total = lines.len();
    let mut kept: Vec<String> = lines.into_iter().take(MAX_LISTED_ITEMS).collect();
    if total > MAX_LISTED_ITEMS {
        kept.push(format!("and {} more", total - MAX_LISTED_ITEMS));
    }
    kept
}

/// One warning for the failed items of one policy, each line naming the tenant.
/// `None` when nothing failed.
pub fn item_failure_notice(
    workload: Workload,
    tenant_id: &str,
    policy: &str,
    failures: &[ItemFailure],
) -> Option<Notice> {
    if failures.is_empty() {
        return None;
    }
    let lines = bounded_lines(
        failures
            .iter()
            .map(|failure| format!("tenant {tenant_id}: {}", failure.describe()))
            .collect(),
    );
    Some(Notice::new(
        format!(
            "{} of policy {policy} in tenant {tenant_id} failed",
            workload.count_of(failures.len())
        ),
        format!(
            "Microsoft Graph reported these failures:\n{}\nThe next plan retries what is missing.",
            lines.join("\n")
        ),
    ))
}

/// The items named by units' `error` (per-unit failures such as `QuotaExceeded`).
pub fn unit_error_failures(workload: Workload, units: &[ProtectionUnit]) -> Vec<ItemFailure> {
    units
        .iter()
        .filter_map(|unit| {
            let error = unit.failure()?;
            Some(ItemFailure {
                item: describe_unit(workload, unit),
                code: error.code.clone(),
                message: error.message.clone(),
            })
        })
        .collect()
}

/// The items a finished bulk job reports in `error.details` (each `target` is the failed id or
/// url); a job error without details is one failure of the whole job.
pub fn bulk_job_failures(job: &BulkAdditionJob) -> Vec<ItemFailure> {
    let Some(error) = job.error.as_ref().filter(|e| e.is_failure()) else {
        return Vec::new();
    };
    if error.details.is_empty() {
        return vec![ItemFailure {
            item: format!("bulk addition job {}", job.id),
            code: error.code.clone(),
            message: error.message.clone(),
        }];
    }
    error
        .details
        .iter()
        .map(|detail| ItemFailure {
            item: detail
                .target
                .clone()
                .unwrap_or_else(|| format!("an input of bulk addition job {}", job.id)),
            code: detail.code.clone(),
            message: detail.message.clone(),
        })
        .collect()
}

/// `mailbox <object id> (unit <unit id>)`.
pub fn describe_unit(workload: Workload, unit: &ProtectionUnit) -> String {
    match unit.resource_id() {
        Some(resource) => format!("{} {resource} (unit {})", workload.noun_singular(), unit.id),
        None => format!("unit {}", unit.id),
    }
}

/// Refresh's warning for a policy in `activeWithErrors` or with failed units: the units'
/// error codes, bounded and naming the tenant. `None` when all is well.
pub fn policy_health_notice(
    workload: Workload,
    tenant_id: &str,
    policy: &str,
    status: Option<&ProtectionPolicyStatus>,
    units: &[ProtectionUnit],
) -> Option<Notice> {
    let failures = unit_error_failures(workload, units);
    if let Some(mut notice) = item_failure_notice(workload, tenant_id, policy, &failures) {
        if let Some(status) = status {
            notice.summary = format!("{} (policy status {status})", notice.summary);
        }
        return Some(notice);
    }
    (status == Some(&ProtectionPolicyStatus::ActiveWithErrors)).then(|| {
        Notice::new(
            format!("Policy {policy} in tenant {tenant_id} is activeWithErrors"),
            format!(
                "Tenant {tenant_id}: Graph reports errors for policy {policy} but no unit carries \
                 an error yet; some {} may not be protected.",
                workload.noun()
            ),
        )
    })
}

/// The computed counts of a policy resource, from its unit list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitCounts {
    pub protected: usize,
    /// Units in any `*Requested` status.
    pub pending: usize,
    /// Units with an `error`.
    pub failed: usize,
    pub total: usize,
}

pub fn count_units(units: &[ProtectionUnit]) -> UnitCounts {
    let mut counts = UnitCounts {
        total: units.len(),
        ..UnitCounts::default()
    };
    for unit in units {
        match &unit.status {
            Some(ProtectionUnitStatus::Protected) => counts.protected += 1,
            Some(status) if status.is_pending() => counts.pending += 1,
            _ => {}
        }
        if unit.failure().is_some() {
            counts.failed += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::api::protection::PublicError;

    fn unit(id: &str, status: &str, error: Option<&str>) -> ProtectionUnit {
        ProtectionUnit {
            id: id.into(),
            directory_object_id: Some(format!("obj-{id}")),
            status: Some(ProtectionUnitStatus::parse(status)),
            error: error.map(|code| PublicError {
                code: Some(code.into()),
                message: Some("m".into()),
                ..PublicError::default()
            }),
            ..ProtectionUnit::default()
        }
    }

    #[test]
    fn counts_follow_the_unit_list() {
        let units = vec![
            unit("1", "protected", None),
            unit("2", "protectRequested", None),
            unit("3", "unprotectRequested", Some("QuotaExceeded")),
            unit("4", "someFutureRequested", None),
            unit("5", "unprotected", Some("UnknownError")),
            unit("6", "removeRequested", None),
        ];
        assert_eq!(
            count_units(&units),
            UnitCounts {
                protected: 1,
                pending: 4,
                failed: 2,
                total: 6
            }
        );
    }

    #[test]
    fn failure_warning_lists_twenty_then_a_count_and_names_the_tenant() {
        let units: Vec<_> = (0..23)
            .map(|i| unit(&i.to_string(), "protected", Some("QuotaExceeded")))
            .collect();
        let failures = unit_error_failures(Workload::Exchange, &units);
        assert_eq!(failures.len(), 23);
        let notice = item_failure_notice(Workload::Exchange, "t-1", "Mail", &failures).unwrap();
        assert_eq!(
            notice.summary,
            "23 mailboxes of policy Mail in tenant t-1 failed"
        );
        let listed: Vec<_> = notice
            .detail
            .lines()
            .filter(|l| l.starts_with("tenant t-1: "))
            .collect();
        assert_eq!(listed.len(), 20);
        assert_eq!(
            listed[0],
            "tenant t-1: mailbox obj-0 (unit 0): QuotaExceeded: m"
        );
        assert!(notice.detail.contains("\nand 3 more\n"));
        assert!(item_failure_notice(Workload::Exchange, "t-1", "Mail", &[]).is_none());
    }

    #[test]
    fn health_warnings_carry_error_codes() {
        let erring = ProtectionPolicyStatus::ActiveWithErrors;
        let units = vec![
            unit("1", "protected", None),
            unit("2", "unprotected", Some("QuotaExceeded")),
        ];
        let notice =
            policy_health_notice(Workload::OneDrive, "t", "P", Some(&erring), &units).unwrap();
        assert!(notice.summary.ends_with("(policy status activeWithErrors)"));
        assert!(
            notice
                .detail
                .contains("tenant t: OneDrive account obj-2 (unit 2): QuotaExceeded: m")
        );
        let quiet =
            policy_health_notice(Workload::OneDrive, "t", "P", Some(&erring), &units[..1]).unwrap();
        assert!(quiet.summary.contains("is activeWithErrors"));
        assert!(
            policy_health_notice(
                Workload::OneDrive,
                "t",
                "P",
                Some(&ProtectionPolicyStatus::Active),
                &units[..1]
            )
            .is_none()
        );
    }

    #[test]
    fn bulk_job_errors_become_items() {
        let mut job = BulkAdditionJob {
            id: "j".into(),
            ..BulkAdditionJob::default()
        };
        assert!(bulk_job_failures(&job).is_empty());
        job.error = Some(PublicError {
            code: Some("ProtectionResourcesNotFound".into()),
            details: vec![crate::graph::api::protection::PublicErrorDetail {
                code: Some("SiteUrlNotFound".into()),
                message: Some("no such site".into()),
                target: Some("https://contoso.sharepoint.com/sites/x".into()),
            }],
            ..PublicError::default()
        });
        let failures = bulk_job_failures(&job);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].item, "https://contoso.sharepoint.com/sites/x");
        job.error.as_mut().unwrap().details.clear();
        assert_eq!(bulk_job_failures(&job)[0].item, "bulk addition job j");
    }

    #[test]
    fn bounded_lines_keeps_short_lists_whole() {
        let lines: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(bounded_lines(lines.clone()), lines);
        let mut longer = lines.clone();
        longer.push("x".into());
        let bounded = bounded_lines(longer);
        assert_eq!(bounded.len(), 21);
        assert_eq!(bounded[20], "and 1 more");
    }
}
