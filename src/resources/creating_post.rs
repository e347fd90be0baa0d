//! Creating POSTs without blind retries (binding decision 8): Graph may have applied a POST
//! whose answer was lost, so posting again could create a duplicate. Throttling (429, 503,
//! `PolicySaveFailed`) is retried with backoff; after a lost answer or a 500/502/504 the
//! caller's `adopt` looks for the object the POST may have created, and only when there is none
//! is it posted again.

use std::future::Future;
use std::time::Duration;

use crate::graph::api::protection::{BulkAdditionJob, Workload};
use crate::graph::{GraphClient, GraphError, GraphErrorKind};
use crate::resources::protection_policy::stop;

/// Attempts of one creating POST, the first included.
const ATTEMPTS: u32 = 4;

/// Graph refused for now (throttled, or a policy save that failed on its side): the POST was
/// not applied and may be sent again.
pub fn throttled(e: &GraphError) -> bool {
    e.is_status(429) || e.is_status(503) || e.has_code("PolicySaveFailed")
}

/// The POST may have been applied: the answer was lost or Graph failed in the middle.
pub fn answer_lost(e: &GraphError) -> bool {
    matches!(e.kind, GraphErrorKind::Transport | GraphErrorKind::Timeout)
        || [500, 502, 504].iter().any(|s| e.is_status(*s))
}

/// Sends `post` (which must not retry on its own) until it succeeds, `adopt` finds what an
/// earlier attempt created, or the error is final. A stop request (Ctrl-C) ends the retries.
pub async fn post_without_duplicates<T, Post, PostFut, Adopt, AdoptFut>(
    mut post: Post,
    mut adopt: Adopt,
) -> Result<T, GraphError>
where
    Post: FnMut() -> PostFut,
    PostFut: Future<Output = Result<T, GraphError>>,
    Adopt: FnMut() -> AdoptFut,
    AdoptFut: Future<Output = Result<Option<T>, GraphError>>,
{
    let mut pause = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = match post().await {
            Ok(created) => return Ok(created),
            Err(e) => e,
        };
        let lost = answer_lost(&e);
        if attempt >= ATTEMPTS || !(lost || throttled(&e)) {
            return Err(e);
        }
        if lost && let Some(created) = adopt().await? {
            tracing::info!("the lost create was applied: adopting what it created");
            return Ok(created);
        }
        if stop::requested() || !stop::sleep(pause).await {
            return Err(e);
        }
        pause *= 2;
    }
}

/// Creates one bulk addition job at most once: its display name is a nonce that finds it again
/// after a lost answer.
pub async fn create_bulk_job(
    graph: &GraphClient,
    tenant: &str,
    workload: Workload,
    policy_id: &str,
    job: &BulkAdditionJob,
) -> Result<Option<BulkAdditionJob>, GraphError> {
    let name = job.display_name.clone().unwrap_or_default();
    post_without_duplicates(
        || graph.create_bulk_job(tenant, workload, policy_id, job),
        || async {
            let found = graph
                .find_bulk_job(tenant, workload, policy_id, &name)
                .await?;
            Ok(found.map(Some))
        },
    )
    .await
}
