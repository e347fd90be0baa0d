//! `wait_for_completion` and the `timeouts` block (Shared behaviour, decisions 7 and 17): how
//! long a write may wait, whether the policy is done, how long to pause between polls.

use std::time::Duration;

use super::notices::{Notice, UnitCounts};

/// Default bound of a create's and an update's wait.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Default bound of destroy's wait for `inactive`.
pub const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// First pause between polls, and the longest.
pub const FIRST_PAUSE: Duration = Duration::from_millis(250);
pub const LONGEST_PAUSE: Duration = Duration::from_secs(15);

/// Which operation a timeout bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    pub fn default_timeout(self) -> Duration {
        match self {
            Operation::Delete => DEFAULT_DELETE_TIMEOUT,
            _ => DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// Parses a duration in Terraform's spelling: one or more `<number><unit>` with units `h`, `m`,
/// `s` (e.g. `20m`, `1h30m`, `90s`, `1.5h`). Zero is allowed (do not wait).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty".into());
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(format!("has an unknown unit {c:?} (use h, m or s)")),
        };
        let value: f64 = number
            .parse()
            .map_err(|_| format!("needs a number before {c:?}"))?;
        total += value * unit;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any {
        return Err("needs a unit after each number (h, m or s), e.g. \"20m\"".into());
    }
    if total > 7.0 * 24.0 * 3600.0 {
        return Err("is longer than a week".into());
    }
    Ok(Duration::from_secs_f64(total))
}

/// The bound of `operation`: the configured value, else the default.
pub fn timeout_of(operation: Operation, configured: Option<&str>) -> Duration {
    configured
        .and_then(|text| parse_duration(text).ok())
        .unwrap_or_else(|| operation.default_timeout())
}

/// The plan-time error of a malformed `timeouts.<operation>`.
pub fn validate_timeout(operation: Operation, text: &str) -> Result<(), Notice> {
    parse_duration(text).map(|_| ()).map_err(|why| {
        Notice::on(
            "timeouts",
            format!("Invalid timeouts.{}", operation.name()),
            format!(
                "timeouts.{} = {text:?} {why}. Write a duration such as \"20m\" or \"1h30m\".",
                operation.name()
            ),
        )
    })
}

/// Whether Graph finished the work: no unit pending and the policy not `updating`.
pub fn is_settled(status: Option<&str>, counts: &UnitCounts) -> bool {
    counts.pending == 0 && status != Some("updating")
}

/// The pause after `pause`: doubled, at most [`LONGEST_PAUSE`].
pub fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(LONGEST_PAUSE)
}

/// Decision 7: a wait that ran out is a warning; the work goes on in Microsoft 365.
pub fn wait_expired_notice(
    operation: Operation,
    tenant_id: &str,
    policy: &str,
    timeout: Duration,
    pending: usize,
) -> Notice {
    Notice::new(
        format!("Policy {policy} still processing in tenant {tenant_id}"),
        format!(
            "wait_for_completion waited {} (timeouts.{}) and {pending} unit(s) of policy {policy} \
             in tenant {tenant_id} are still pending. Microsoft 365 keeps processing them; the \
             counts update on the next refresh. Raise timeouts.{} to wait longer.",
            human(timeout),
            operation.name(),
            operation.name()
        ),
    )
}

/// Decision 17: a wait or a chunk loop cut short by Ctrl-C.
pub fn stopped_notice(tenant_id: &str, policy: &str, what: &str) -> Notice {
    Notice::new(
        format!("Stopped: policy {policy} in tenant {tenant_id}"),
        format!(
            "Terraform was interrupted; {what}. The state records what Graph holds now; run \
             terraform apply again to finish."
        ),
    )
}

/// `20m`, `1h30m`, `45s`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if s > 0 || text.is_empty() {
        text.push_str(&format!("{s}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_terraform_durations() {
        assert_eq!(parse_duration("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "20", "m", "20 minutes", "2d", "-1m", "1000h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_validation() {
        assert_eq!(timeout_of(Operation::Create, None), DEFAULT_WRITE_TIMEOUT);
        assert_eq!(timeout_of(Operation::Delete, None), DEFAULT_DELETE_TIMEOUT);
        assert_eq!(
            timeout_of(Operation::Update, Some("5m")),
            Duration::from_secs(300)
        );
        let error = validate_timeout(Operation::Delete, "30").unwrap_err();
        assert_eq!(error.summary, "Invalid timeouts.delete");
        assert_eq!(error.attribute, Some("timeouts"));
    }

    #[test]
    fn settled_and_backoff() {
        let idle = UnitCounts::default();
        let busy = UnitCounts {
            pending: 3,
            ..UnitCounts::default()
        };
        assert!(is_settled(Some("active"), &idle));
        assert!(!is_settled(Some("updating"), &idle));
        assert!(!is_settled(Some("active"), &busy));
        assert_eq!(next_pause(Duration::from_secs(10)), LONGEST_PAUSE);
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    proptest! {
        /// What `human` prints parses back to the same whole seconds.
        #[test]
        fn human_round_trips(secs in 0u64..(7 * 24 * 3600)) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&human(d)), Ok(d));
        }
    }
}
