//! Per-(tenant, kind) token cache with single-flight acquisition: however many callers ask for
//! the same missing token at once, one acquisition runs and the others wait for its result
//! (success or failure).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use super::{AccessToken, AuthError, Secret, TokenKind};

/// Refresh a token this long before it expires (at most half its lifetime).
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// When to stop using a token obtained at `obtained` and expiring at `expires_at`.
pub(crate) fn refresh_at(obtained: OffsetDateTime, expires_at: OffsetDateTime) -> OffsetDateTime {
    let lifetime = expires_at - obtained;
    if lifetime <= time::Duration::ZERO {
        return expires_at;
    }
    let margin = time::Duration::try_from(REFRESH_MARGIN)
        .unwrap_or(time::Duration::MAX)
        .min(lifetime / 2);
    expires_at - margin
}

#[derive(Default)]
struct State {
    token: Option<(AccessToken, OffsetDateTime)>,
    /// The last failed acquisition and when it ended, shared with callers that were already
    /// waiting (so that N waiters do not retry a failing credential N times in a row).
    failure: Option<(AuthError, std::time::Instant)>,
}

#[derive(Default)]
struct Slot {
    state: Mutex<State>,
    gate: tokio::sync::Mutex<()>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self, now: OffsetDateTime) -> Option<AccessToken> {
        let s = self.lock();
        match &s.token {
            Some((t, refresh_at)) if now < *refresh_at => Some(t.clone()),
            _ => None,
        }
    }

    fn still_valid(&self, now: OffsetDateTime) -> Option<AccessToken> {
        let s = self.lock();
        match &s.token {
            Some((t, _)) if now < t.expires_at => Some(t.clone()),
            _ => None,
        }
    }
}

#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<(String, TokenKind), Arc<Slot>>>,
}

impl TokenCache {
    fn slot(&self, tenant: &str, kind: TokenKind) -> Arc<Slot> {
        let mut map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((tenant.to_ascii_lowercase(), kind))
            .or_default()
            .clone()
    }

    pub(crate) async fn get_or_acquire<F, Fut>(
        &self,
        tenant: &str,
        kind: TokenKind,
        acquire: F,
    ) -> Result<AccessToken, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, AuthError>>,
    {
        let slot = self.slot(tenant, kind);
        let started = std::time::Instant::now();
        if let Some(t) = slot.fresh(OffsetDateTime::now_utc()) {
            return Ok(t);
        }
        let _gate = slot.gate.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(t) = slot.fresh(now) {
            return Ok(t);
        }
        {
            let s = slot.lock();
            if let Some((err, at)) = &s.failure {
                if *at >= started {
                    return Err(err.clone());
                }
            }
        }
        match acquire().await {
            Ok(token) => {
                let obtained = OffsetDateTime::now_utc();
                let mut s = slot.lock();
                s.token = Some((token.clone(), refresh_at(obtained, token.expires_at)));
                s.failure = None;
                Ok(token)
            }
            Err(err) => {
                slot.lock().failure = Some((err.clone(), std::time::Instant::now()));
                // A refresh ahead of expiry failed: the old token still works for a while.
                if let Some(t) = slot.still_valid(OffsetDateTime::now_utc()) {
                    tracing::debug!(%kind, error = %err, "token refresh failed; using the still-valid token");
                    return Ok(t);
                }
                Err(err)
            }
        }
    }

    pub(crate) fn invalidate(&self, tenant: &str, kind: TokenKind, only: Option<&Secret>) {
        let slot = self.slot(tenant, kind);
        let mut s = slot.lock();
        let matches = match (&s.token, only) {
            (Some((t, _)), Some(rejected)) => t.secret == *rejected,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if matches {
            s.token = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn token(v: &str, secs: i64) -> AccessToken {
        AccessToken {
            secret: Secret::new(v),
            expires_at: OffsetDateTime::now_utc() + time::Duration::seconds(secs),
        }
    }

    #[test]
    fn refresh_margin() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let hour = t0 + time::Duration::seconds(3600);
        assert_eq!(refresh_at(t0, hour), hour - time::Duration::seconds(300));
        let minute = t0 + time::Duration::seconds(60);
        assert_eq!(refresh_at(t0, minute), t0 + time::Duration::seconds(30));
        assert_eq!(refresh_at(t0, t0), t0);
        let past = t0 - time::Duration::seconds(5);
        assert_eq!(refresh_at(t0, past), past);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_acquisition_for_many_concurrent_callers() {
        let cache = Arc::new(TokenCache::default());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_acquire("T1", TokenKind::AppOnly, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(token("tok", 3600))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().secret.expose(), "tok");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Case-insensitive tenant key; other kind is separate.
        cache
            .get_or_acquire("t1", TokenKind::AppOnly, || async { panic!("cached") })
            .await
            .unwrap();
        let d = cache
            .get_or_acquire("t1", TokenKind::Delegated, || async {
                Ok(token("d", 3600))
            })
            .await
            .unwrap();
        assert_eq!(d.secret.expose(), "d");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_waiters_share_a_failure() {
        let cache = Arc::new(TokenCache::default());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_acquire("t", TokenKind::AppOnly, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(AuthError::Timeout)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), AuthError::Timeout);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A later caller tries again.
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async { Ok(token("ok", 3600)) })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "ok");
    }

    #[tokio::test]
    async fn near_expiry_refreshes_and_invalidate_forgets() {
        let cache = TokenCache::default();
        // Lifetime 10 s: refresh after 5 s, so a token expiring in 2 s... obtained now is used
        // until half its lifetime. One that is already past its refresh point is refetched.
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async { Ok(token("a", 0)) })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "a");
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async { Ok(token("b", 3600)) })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "b");
        // invalidate_token with a different token keeps the cached one.
        cache.invalidate("t", TokenKind::AppOnly, Some(&Secret::new("a")));
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async { Ok(token("c", 3600)) })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "b");
        cache.invalidate("T", TokenKind::AppOnly, Some(&Secret::new("b")));
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async { Ok(token("c", 3600)) })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "c");
        cache.invalidate("t", TokenKind::AppOnly, None);
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async { Ok(token("d", 3600)) })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "d");
    }

    #[tokio::test]
    async fn failed_refresh_falls_back_to_the_still_valid_token() {
        let cache = TokenCache::default();
        // 200 s left on a 3600 s token: past the refresh point, still valid.
        let obtained_long_ago = token("old", 200);
        {
            let slot = cache.slot("t", TokenKind::AppOnly);
            slot.lock().token = Some((
                obtained_long_ago.clone(),
                obtained_long_ago.expires_at - time::Duration::seconds(300),
            ));
        }
        let t = cache
            .get_or_acquire("t", TokenKind::AppOnly, || async {
                Err(AuthError::Transport("down".into()))
            })
            .await
            .unwrap();
        assert_eq!(t.secret.expose(), "old");
    }
}
