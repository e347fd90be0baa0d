//! Pure retry policy shared by Graph and Entra calls: which answers are retried, how long to wait
//! (`Retry-After` in both its forms, else exponential backoff with jitter), and whether a retry
//! still fits in the call's deadline. No I/O, no clock: callers pass `now` and the remaining time.

use std::time::{Duration, SystemTime};

/// First backoff step.
pub const BASE_DELAY: Duration = Duration::from_millis(500);
/// Longest backoff step (a server's `Retry-After` may ask for longer; the deadline decides).
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// HTTP statuses that are retried: throttling and transient server errors.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Parses a `Retry-After` header value: delta-seconds (`"120"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, also the obsolete RFC 850 and asctime forms).
/// A date in the past means "now" (zero). Anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit: the server asks for an absurdly long wait.
        return Some(
            v.parse::<u64>()
                .map(Duration::from_secs)
                .unwrap_or(Duration::MAX),
        );
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Backoff before retry number `retry` (0 for the first retry) when the server gave no
/// `Retry-After`: `BASE_DELAY * 2^retry` capped at `MAX_DELAY`, with "equal jitter": the result
/// lies in `[d/2, d]`, `jitter` in `[0, 1)` choosing where.
pub fn backoff_delay(retry: u32, jitter: f64) -> Duration {
    let factor = 2u64.saturating_pow(retry.min(32));
    let d = BASE_DELAY
        .checked_mul(u32::try_from(factor).unwrap_or(u32::MAX))
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    d / 2 + d.mul_f64(0.5 * jitter)
}

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status.
    Status(u16),
    /// The request could not be sent or the answer not read (connection refused/reset, ...).
    Transport,
    /// The TLS handshake failed (untrusted certificate, ...): retrying cannot help.
    Tls,
}

/// Why no further attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The failure is not transient.
    NotRetryable,
    /// `max_retries` retries have been made.
    RetriesExhausted,
    /// Waiting before the next attempt would pass the deadline.
    DeadlineWouldPass,
}

/// The retry decision after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop and report the last failure.
    GiveUp(GiveUp),
}

/// Decides whether to retry after `failure`, given the retries already made, the bound on
/// retries, the time left before the call's deadline, the server's `Retry-After` (already
/// parsed) and a jitter value in `[0, 1)`.
pub fn decide(
    failure: Failure,
    retries_done: u32,
    max_retries: u32,
    remaining: Duration,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Decision {
    let retryable = match failure {
        Failure::Status(s) => is_retryable_status(s),
        Failure::Transport => true,
        Failure::Tls => false,
    };
    if !retryable {
        return Decision::GiveUp(GiveUp::NotRetryable);
    }
    if retries_done >= max_retries {
        return Decision::GiveUp(GiveUp::RetriesExhausted);
    }
    let wait = retry_after.unwrap_or_else(|| backoff_delay(retries_done, jitter));
    if wait >= remaining {
        return Decision::GiveUp(GiveUp::DeadlineWouldPass);
    }
    Decision::RetryAfter(wait)
}

/// A jitter value in `[0, 1)` from the OS random source (through uuid v4).
pub fn random_jitter() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> SystemTime {
        // 2015-10-21T07:28:00Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [
            200, 201, 202, 204, 400, 401, 402, 403, 404, 409, 501, 505, 507,
        ] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(parse_retry_after("2", t0()), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", t0()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", t0()),
            Some(Duration::MAX)
        );
        assert_eq!(parse_retry_after("-1", t0()), None);
        assert_eq!(parse_retry_after("1.5", t0()), None);
        assert_eq!(parse_retry_after("", t0()), None);
        assert_eq!(parse_retry_after("soon", t0()), None);
    }

    #[test]
    fn retry_after_http_date_forms() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", t0()),
            Some(Duration::from_secs(5))
        );
        // RFC 850 and asctime forms.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:03 GMT", t0()),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:07 2015", t0()),
            Some(Duration::from_secs(7))
        );
        // In the past: retry at once.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", t0()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_schedule() {
        assert_eq!(backoff_delay(0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff_delay(0, 1.0), Duration::from_millis(500));
        assert_eq!(backoff_delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff_delay(6, 1.0), Duration::from_secs(30));
        assert_eq!(backoff_delay(u32::MAX, 1.0), Duration::from_secs(30));
        assert_eq!(backoff_delay(u32::MAX, 0.0), Duration::from_secs(15));
        assert_eq!(backoff_delay(2, f64::NAN), Duration::from_secs(1));
    }

    #[test]
    fn decisions() {
        let long = Duration::from_secs(60);
        assert_eq!(
            decide(Failure::Status(404), 0, 8, long, None, 0.0),
            Decision::GiveUp(GiveUp::NotRetryable)
        );
        assert_eq!(
            decide(Failure::Tls, 0, 8, long, None, 0.0),
            Decision::GiveUp(GiveUp::NotRetryable)
        );
        assert_eq!(
            decide(
                Failure::Status(429),
                0,
                8,
                long,
                Some(Duration::from_secs(2)),
                0.3
            ),
            Decision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            decide(Failure::Transport, 1, 8, long, None, 1.0),
            Decision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            decide(Failure::Status(503), 8, 8, long, None, 0.0),
            Decision::GiveUp(GiveUp::RetriesExhausted)
        );
        assert_eq!(
            decide(Failure::Status(503), 0, 0, long, None, 0.0),
            Decision::GiveUp(GiveUp::RetriesExhausted)
        );
        assert_eq!(
            decide(
                Failure::Status(429),
                0,
                8,
                Duration::from_secs(5),
                Some(Duration::from_secs(5)),
                0.0
            ),
            Decision::GiveUp(GiveUp::DeadlineWouldPass)
        );
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..1000 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }

    proptest! {
        #[test]
        fn backoff_is_bounded(retry in 0u32..1000, jitter in 0.0f64..1.0) {
            let d = backoff_delay(retry, jitter);
            prop_assert!(d <= MAX_DELAY);
            prop_assert!(d >= BASE_DELAY / 2);
        }

        #[test]
        fn backoff_upper_bound_grows_monotonically(retry in 0u32..64) {
            prop_assert!(backoff_delay(retry, 1.0) <= backoff_delay(retry + 1, 1.0));
            prop_assert!(backoff_delay(retry, 0.0) <= backoff_delay(retry + 1, 0.0));
        }

        #[test]
        fn backoff_within_its_window(retry in 0u32..64, jitter in 0.0f64..1.0) {
            let hi = backoff_delay(retry, 1.0);
            let d = backoff_delay(retry, jitter);
            prop_assert!(d >= hi / 2 && d <= hi);
        }

        #[test]
        fn delta_seconds_round_trip(secs in 0u64..10_000_000) {
            prop_assert_eq!(parse_retry_after(&secs.to_string(), t0()), Some(Duration::from_secs(secs)));
        }

        #[test]
        fn http_date_round_trip(offset in 0u64..10_000_000, now_secs in 0u64..4_000_000_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
            let when = now + Duration::from_secs(offset);
            let header = httpdate::fmt_http_date(when);
            prop_assert_eq!(parse_retry_after(&header, now), Some(Duration::from_secs(offset)));
        }

        #[test]
        fn http_date_in_the_past_is_zero(back in 1u64..10_000_000, now_secs in 10_000_000u64..4_000_000_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
            let header = httpdate::fmt_http_date(now - Duration::from_secs(back));
            prop_assert_eq!(parse_retry_after(&header, now), Some(Duration::ZERO));
        }

        #[test]
        fn parse_never_panics(s in ".{0,64}") {
            let _ = parse_retry_after(&s, t0());
        }

        #[test]
        fn a_retry_never_waits_past_the_deadline(
            status in 400u16..600,
            retries_done in 0u32..20,
            max_retries in 0u32..20,
            remaining_ms in 0u64..120_000,
            retry_after_ms in proptest::option::of(0u64..120_000),
            jitter in 0.0f64..1.0,
        ) {
            let remaining = Duration::from_millis(remaining_ms);
            let d = decide(Failure::Status(status), retries_done, max_retries, remaining, retry_after_ms.map(Duration::from_millis), jitter);
            match d {
                Decision::RetryAfter(w) => {
                    prop_assert!(is_retryable_status(status));
                    prop_assert!(retries_done < max_retries);
                    prop_assert!(w < remaining);
                    if let Some(ra) = retry_after_ms { prop_assert_eq!(w, Duration::from_millis(ra)); }
                }
                Decision::GiveUp(GiveUp::NotRetryable) => prop_assert!(!is_retryable_status(status)),
                Decision::GiveUp(GiveUp::RetriesExhausted) => prop_assert!(retries_done >= max_retries),
                Decision::GiveUp(GiveUp::DeadlineWouldPass) => prop_assert!(retries_done < max_retries),
            }
        }

        #[test]
        fn total_backoff_waits_fit_the_deadline(max_retries in 0u32..30, timeout_ms in 0u64..200_000, jitter in 0.0f64..1.0) {
            // Simulate a server failing every time with no Retry-After and zero-time attempts.
            let timeout = Duration::from_millis(timeout_ms);
            let mut elapsed = Duration::ZERO;
            let mut retries = 0;
            while let Decision::RetryAfter(w) = decide(Failure::Status(503), retries, max_retries, timeout.saturating_sub(elapsed), None, jitter) {
                elapsed += w;
                retries += 1;
            }
            prop_assert!(elapsed < timeout || elapsed.is_zero());
            prop_assert!(retries <= max_retries);
        }
    }
}
