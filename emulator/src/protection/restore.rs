//! Restore points, synthesized on demand from a unit's protection history and the clock
//! (never stored): one every 10 minutes from the moment the unit became `protected`, kept
//! 14 days (tagged `fastRestore`), and one a week from that moment, kept for the policy's
//! retention period (tag `none`). A point at an instant both series share belongs to the
//! weekly series. Ids are `<unitId>_<unix seconds>`, so a point keeps its id across calls.

use time::{Duration, OffsetDateTime};

pub const SHORT_INTERVAL: Duration = Duration::minutes(10);
pub const SHORT_KEEP: Duration = Duration::days(14);
pub const WEEK: Duration = Duration::weeks(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePoint {
    pub id: String,
    pub unit_id: String,
    pub protection: OffsetDateTime,
    pub expiration: OffsetDateTime,
    pub fast_restore: bool,
}

/// Points of one unit taken in `[from, to]` (`to` capped at `now`), newest first, at most
/// `limit`. `history` = intervals during which the unit was protected (`None` = still is).
#[allow(clippy::too_many_arguments)]
pub fn points(
    unit_id: &str,
    history: &[(i64, Option<i64>)],
    retention: Duration,
    now: OffsetDateTime,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    limit: usize,
    oldest_first: bool,
) -> Vec<RestorePoint> {
    let now_s = now.unix_timestamp();
    let to_s = to.map_or(now_s, |t| t.unix_timestamp().min(now_s));
    let from_s = from.map_or(i64::MIN, |t| t.unix_timestamp());
    let short = SHORT_INTERVAL.whole_seconds();
    let week = WEEK.whole_seconds();
    let keep_short = SHORT_KEEP.whole_seconds();
    let keep_week = retention.whole_seconds();
    let mut out: Vec<i64> = Vec::new();
    for &(start, end) in history {
        let end = end.unwrap_or(now_s).min(to_s);
        if end < start {
            continue;
        }
        // weekly series: alive while t + retention > now
        let first_week_k = ((now_s - keep_week - start) / week).max(0);
        let mut k = first_week_k;
        while start + k * week <= end {
            let t = start + k * week;
            if t >= from_s && t + keep_week > now_s {
                out.push(t);
            }
            k += 1;
        }
        // 10-minute series: alive for 14 days
        let lo = (now_s - keep_short + 1).max(start).max(from_s);
        if lo <= end {
            let mut k = (lo - start + short - 1) / short;
            while start + k * short <= end {
                let t = start + k * short;
                if (t - start) % week != 0 {
                    out.push(t);
                }
                k += 1;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    if !oldest_first {
        out.reverse();
    }
    out.truncate(limit);
    out.into_iter()
        .map(|t| {
            let at = OffsetDateTime::from_unix_timestamp(t).unwrap_or(now);
            let weekly = history.iter().any(|&(s, _)| t >= s && (t - s) % week == 0);
            RestorePoint {
                id: format!("{unit_id}_{t}"),
                unit_id: unit_id.to_string(),
                protection: at,
                expiration: at + if weekly { retention } else { SHORT_KEEP },
                fast_restore: !weekly,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    #[test]
    fn ten_minute_points_for_14_days_and_weekly_ones_for_the_retention() {
        let start = T0.unix_timestamp();
        let h = [(start, None)];
        let now = T0 + Duration::days(30);
        let all = points(
            "u",
            &h,
            Duration::days(365),
            now,
            None,
            None,
            usize::MAX,
            true,
        );
        let weekly: Vec<_> = all.iter().filter(|p| !p.fast_restore).collect();
        assert_eq!(weekly.len(), 5, "days 0, 7, 14, 21, 28");
        let short = all.len() - weekly.len();
        // 14 days of 10-minute points, minus the weekly instants among them
        assert_eq!(short, 14 * 24 * 6 - 2);
        let latest = points("u", &h, Duration::days(365), now, None, None, 1, false);
        assert_eq!(latest[0].protection, now);
        assert!(latest[0].expiration == now + SHORT_KEEP);
    }

    #[test]
    fn nothing_before_protection_or_after_it_stopped() {
        let start = T0.unix_timestamp();
        let h = [(start, Some(start + 3600))];
        let now = T0 + Duration::days(1);
        let all = points(
            "u",
            &h,
            Duration::days(90),
            now,
            None,
            None,
            usize::MAX,
            true,
        );
        assert_eq!(all.len(), 7);
        assert!(points("u", &[], Duration::days(90), now, None, None, 5, false).is_empty());
        let late = points(
            "u",
            &h,
            Duration::days(90),
            now + Duration::days(100),
            None,
            None,
            5,
            false,
        );
        assert!(late.is_empty(), "expired");
    }
}
