//! Retention of weekly restore points (decision 11): Optional + Computed, unset = not managed
//! (removing the argument never resets it); values compare in days (`PnY` = 365n, `PnW` = 7n,
//! `PnD` = n) so that Graph answering `P1Y` for `P365D` is no diff and the user's spelling is
//! kept; a change warns that shortening may expire restore points early and lengthening grows
//! billed storage.

use super::notices::Notice;

/// Days of an ISO 8601 date duration made of years, weeks and days (`P1Y`, `P52W`, `P1Y2D`).
/// Months and time parts have no fixed length in days and are refused (`None`).
pub fn period_days(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P').or_else(|| text.strip_prefix('p'))?;
    if rest.is_empty() {
        return None;
    }
    let mut days: u64 = 0;
    let mut number = String::new();
    let mut last_rank = 0;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        // Designators must appear once each, in the order Y, W, D.
        let (rank, factor) = match c.to_ascii_uppercase() {
            'Y' => (1, 365),
            'W' => (2, 7),
            'D' => (3, 1),
            _ => return None,
        };
        if number.is_empty() || rank <= last_rank {
            return None;
        }
        let count: u64 = number.parse().ok()?;
        days = days.checked_add(count.checked_mul(factor)?)?;
        number.clear();
        last_rank = rank;
    }
    number.is_empty().then_some(days)
}

/// Whether two retention texts mean the same number of days (text equality when unparsable).
pub fn same_retention(a: &str, b: &str) -> bool {
    match (period_days(a), period_days(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// What the plan does with `retention_period`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetentionPlan {
    /// Unset: not managed; the computed attribute shows what Graph reports.
    Unmanaged { observed: Option<String> },
    /// Graph already keeps that many days; state keeps the user's spelling.
    InSync { value: String },
    /// PATCH the weekly retention to `to`.
    Change { from: Option<String>, to: String },
}

pub fn plan_retention(configured: Option<&str>, observed: Option<&str>) -> RetentionPlan {
    match (configured, observed) {
        (None, observed) => RetentionPlan::Unmanaged {
            observed: observed.map(String::from),
        },
        (Some(wanted), Some(seen)) if same_retention(wanted, seen) => RetentionPlan::InSync {
            value: wanted.to_string(),
        },
        (Some(wanted), seen) => RetentionPlan::Change {
            from: seen.map(String::from),
            to: wanted.to_string(),
        },
    }
}

/// The plan warning of a retention change; `None` when nothing was set before.
pub fn retention_change_notice(
    tenant_id: &str,
    policy: &str,
    from: Option<&str>,
    to: &str,
) -> Option<Notice> {
    let from = from?;
    let (from_days, to_days) = (period_days(from), period_days(to));
    let detail = match (from_days, to_days) {
        (Some(old), Some(new)) if new < old => format!(
            "Tenant {tenant_id}: weekly restore points of policy {policy} are kept {new} days \
             instead of {old}. Shortening retention may expire existing restore points early; \
             points older than {new} days can no longer be restored."
        ),
        (Some(old), Some(new)) => format!(
            "Tenant {tenant_id}: weekly restore points of policy {policy} are kept {new} days \
             instead of {old}. Lengthening retention grows the backup storage the tenant is \
             billed for."
        ),
        _ => format!(
            "Tenant {tenant_id}: retention of policy {policy} changes from {from} to {to}. \
             Shortening may expire restore points early; lengthening grows billed storage."
        ),
    };
    Some(Notice::on(
        "retention_period",
        format!("Retention of policy {policy} changes from {from} to {to} (tenant {tenant_id})"),
        detail,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_of_iso_durations() {
        assert_eq!(period_days("P365D"), Some(365));
        assert_eq!(period_days("P1Y"), Some(365));
        assert_eq!(period_days("P2W"), Some(14));
        assert_eq!(period_days("P1Y2W3D"), Some(365 + 14 + 3));
        assert_eq!(period_days("P10Y"), Some(3650));
        for bad in [
            "", "P", "365D", "P1M", "PT10M", "P1D1Y", "P1Y1Y", "PY", "P1Y2", "P-1D", "P1.5Y",
        ] {
            assert_eq!(period_days(bad), None, "{bad}");
        }
        assert_eq!(period_days("P99999999999999999999D"), None);
    }

    #[test]
    fn plans_keep_the_users_spelling_when_equal() {
        assert_eq!(
            plan_retention(Some("P365D"), Some("P1Y")),
            RetentionPlan::InSync {
                value: "P365D".into()
            }
        );
        assert_eq!(
            plan_retention(None, Some("P1Y")),
            RetentionPlan::Unmanaged {
                observed: Some("P1Y".into())
            }
        );
        assert_eq!(
            plan_retention(Some("P730D"), Some("P1Y")),
            RetentionPlan::Change {
                from: Some("P1Y".into()),
                to: "P730D".into()
            }
        );
        assert_eq!(
            plan_retention(Some("P90D"), None),
            RetentionPlan::Change {
                from: None,
                to: "P90D".into()
            }
        );
    }

    #[test]
    fn warnings_say_which_way() {
        let shorter = retention_change_notice("t", "P", Some("P1Y"), "P90D").unwrap();
        assert!(
            shorter
                .detail
                .contains("expire existing restore points early")
        );
        assert!(shorter.detail.contains("90 days instead of 365"));
        let longer = retention_change_notice("t", "P", Some("P365D"), "P3650D").unwrap();
        assert!(longer.detail.contains("billed"));
        assert!(longer.summary.contains("tenant t"));
        assert!(retention_change_notice("t", "P", None, "P90D").is_none());
        let odd = retention_change_notice("t", "P", Some("P1M"), "P90D").unwrap();
        assert!(odd.detail.contains("from P1M to P90D"));
    }

    proptest! {
        /// Years, weeks and days spellings of the same length are the same retention.
        #[test]
        fn spellings_of_equal_length_match(years in 0u64..20, weeks in 0u64..60, days in 0u64..400) {
            let mixed = format!("P{years}Y{weeks}W{days}D");
            let plain = format!("P{}D", years * 365 + weeks * 7 + days);
            prop_assert!(same_retention(&mixed, &plain));
            let longer = format!("P{}D", years * 365 + weeks * 7 + days + 1);
            prop_assert!(!same_retention(&mixed, &longer));
            let plan = plan_retention(Some(&plain), Some(&mixed));
            prop_assert_eq!(plan, RetentionPlan::InSync { value: plain });
        }
    }
}
