//! Timestamps and durations as users write them and as Graph spells them.
//!
//! Graph echoes timestamps in its own style (`2024-04-19T12:01:03.45Z`, or seven fractional
//! digits). Computed timestamps are stored in one canonical UTC form so that a different spelling
//! of the same instant never shows up as a diff.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Parses an RFC 3339 timestamp (any offset, any number of fractional digits).
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|e| {
        format!("{text:?} is not an RFC 3339 timestamp such as \"2030-01-31T09:00:00Z\" ({e})")
    })
}

/// The canonical spelling of an instant: UTC, `Z`, fractional seconds only when non-zero and
/// without trailing zeros (e.g. `2024-04-19T12:01:03.45Z`).
pub fn canonical(instant: OffsetDateTime) -> String {
    let utc = instant.to_offset(UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    let nanos = utc.nanosecond();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let digits = format!("{nanos:09}");
        format!("{base}.{}Z", digits.trim_end_matches('0'))
    }
}

/// Canonical form of a timestamp as Graph sent it; text that does not parse is kept as-is
/// (shown to the user rather than failing a refresh).
pub fn canonical_text(text: &str) -> String {
    match parse_rfc3339(text) {
        Ok(instant) => canonical(instant),
        Err(_) => text.to_string(),
    }
}

/// Whether two timestamp texts denote the same instant (falls back to text equality).
pub fn same_instant(a: &str, b: &str) -> bool {
    match (parse_rfc3339(a), parse_rfc3339(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Parses a duration such as `"8d"`, `"192h"`, `"7d12h"`, `"90m"` or `"3600s"`.
/// Units: `d` (24 h), `h`, `m`, `s`; at least one component; whole numbers only.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let fail = || {
        format!(
            "{text:?} is not a duration: write whole numbers with units d, h, m or s, e.g. \"8d\", \"192h\" or \"7d12h\""
        )
    };
    if trimmed.is_empty() {
        return Err(fail());
    }
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    let mut seen_unit = false;
    for ch in trimmed.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let per_unit: i64 = match ch {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(fail()),
        };
        if digits.is_empty() || digits.len() > 9 {
            return Err(fail());
        }
        let amount: i64 = digits.parse().map_err(|_| fail())?;
        total += Duration::seconds(amount * per_unit);
        digits.clear();
        seen_unit = true;
    }
    if !digits.is_empty() || !seen_unit {
        return Err(fail());
    }
    Ok(total)
}

/// A duration in the unit users think in: `"8d"`, `"7d12h"`, `"90m"`.
pub fn format_duration(duration: Duration) -> String {
    let mut seconds = duration.whole_seconds();
    if seconds == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if seconds < 0 {
        out.push('-');
        seconds = -seconds;
    }
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn graph_spellings_of_one_instant_are_canonicalised_alike() {
        let forms = [
            "2024-04-19T12:01:03.45Z",
            "2024-04-19T12:01:03.4500000Z",
            "2024-04-19T14:01:03.45+02:00",
        ];
        for form in forms {
            assert_eq!(canonical_text(form), "2024-04-19T12:01:03.45Z", "{form}");
        }
        assert_eq!(
            canonical_text("2024-04-19T12:01:03.0000000Z"),
            "2024-04-19T12:01:03Z"
        );
        assert!(same_instant(
            "2024-04-19T12:01:03Z",
            "2024-04-19T12:01:03.000Z"
        ));
        assert!(!same_instant(
            "2024-04-19T12:01:03Z",
            "2024-04-19T12:01:04Z"
        ));
    }

    #[test]
    fn unparsable_graph_text_is_kept() {
        assert_eq!(
            canonical_text("2023-06-19T12-01-03.45Z"),
            "2023-06-19T12-01-03.45Z"
        );
    }

    #[test]
    fn rfc3339_errors_show_an_example() {
        let err = parse_rfc3339("next tuesday").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
        assert!(parse_rfc3339("2030-01-31").is_err());
        assert_eq!(
            parse_rfc3339("2030-01-31T09:00:00Z").unwrap(),
            datetime!(2030-01-31 09:00:00 UTC)
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("8d").unwrap(), Duration::days(8));
        assert_eq!(parse_duration("192h").unwrap(), Duration::hours(192));
        assert_eq!(
            parse_duration("7d12h").unwrap(),
            Duration::days(7) + Duration::hours(12)
        );
        assert_eq!(parse_duration(" 90m ").unwrap(), Duration::minutes(90));
        for bad in [
            "",
            "8",
            "d",
            "8x",
            "-8d",
            "8.5d",
            "8 d",
            "1234567890d",
            "8dd",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn canonical_round_trips(secs in 0i64..4_000_000_000, nanos in 0u32..1_000_000_000) {
            let instant = OffsetDateTime::from_unix_timestamp(secs).unwrap() + Duration::nanoseconds(nanos as i64);
            let text = canonical(instant);
            prop_assert_eq!(parse_rfc3339(&text).unwrap(), instant);
            prop_assert_eq!(canonical_text(&text), text.clone());
            prop_assert!(text.ends_with('Z'));
        }

        #[test]
        fn durations_round_trip(secs in 1i64..100_000_000) {
            let d = Duration::seconds(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = parse_duration(&text);
            let _ = parse_rfc3339(&text);
            let _ = canonical_text(&text);
        }
    }
}
