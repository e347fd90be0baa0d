//! What each tenant allows, looked up once per tenant per provider process and shared by every
//! protection resource of that tenant (binding decision 5): one GET of the root and one of our
//! serviceApp, single-flight, so a fleet of 1,000 tenants × 3 policies makes 2,000 lookups, not
//! 6,000. Steps planned earlier in the process (an immediate activation, billing's enable)
//! count as met; a controller write in the tenant drops the entry so the next use looks again.
//! The same two facts read by the refresh of the service app and billing resources fill the
//! entry too, so a refresh plan with protection changes makes no lookup of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::graph::{GraphClient, ServiceApp, ServiceStatus};
use crate::lifecycle::Problem;
use crate::lifecycle::protection_policy::gating::{Gate, GateFacts, PlannedSteps, gate};

/// The root's serviceStatus and our serviceApp (`None`: not registered) in one tenant.
#[derive(Clone, Debug, Default)]
pub struct TenantSnapshot {
    pub service: Option<ServiceStatus>,
    pub our_app: Option<ServiceApp>,
}

type Cell = Arc<OnceCell<TenantSnapshot>>;

/// See [`TenantGates::seed`].
pub struct Seed(Cell);

impl Seed {
    /// Records the snapshot unless the slot is filled (or being filled) already.
    pub fn fill(self, snapshot: TenantSnapshot) {
        let _ = self.0.set(snapshot);
    }
}

/// Halves of a snapshot seen by refresh reads (`None`: not seen yet).
#[derive(Default)]
struct SeenByReads {
    service: Option<Option<ServiceStatus>>,
    our_app: Option<Option<ServiceApp>>,
}

/// Per-process cache of [`TenantSnapshot`]s and of the steps planned per tenant.
#[derive(Default)]
pub struct TenantGates {
    snapshots: Mutex<HashMap<String, Cell>>,
    planned: Mutex<HashMap<String, PlannedSteps>>,
    seen_by_reads: Mutex<HashMap<String, SeenByReads>>,
}

impl TenantGates {
    /// Whether protection writes may go ahead in `tenant` now.
    pub async fn gate(
        &self,
        graph: &GraphClient,
        tenant: &str,
        client_id: &str,
    ) -> Result<Gate, Problem> {
        let planned = self.planned_steps(tenant);
        self.judge(graph, tenant, client_id, planned).await
    }

    /// Whether `tenant` allows protection writes by what Graph says now, without counting the
    /// steps planned in this process: what a refused write is judged by (decision 6), since
    /// Graph's refusal shows those steps have not taken effect.
    pub async fn gate_as_observed(
        &self,
        graph: &GraphClient,
        tenant: &str,
        client_id: &str,
    ) -> Result<Gate, Problem> {
        (self.judge(graph, tenant, client_id, PlannedSteps::default())).await
    }

    async fn judge(
        &self,
        graph: &GraphClient,
        tenant: &str,
        client_id: &str,
        planned: PlannedSteps,
    ) -> Result<Gate, Problem> {
        let snapshot = self.snapshot(graph, tenant, client_id).await?;
        let facts = GateFacts::from_graph(
            tenant,
            snapshot.service.as_ref(),
            snapshot.our_app.as_ref(),
            planned,
        );
        Ok(gate(&facts))
    }

    async fn snapshot(
        &self,
        graph: &GraphClient,
        tenant: &str,
        client_id: &str,
    ) -> Result<TenantSnapshot, Problem> {
        let key = tenant.to_ascii_lowercase();
        let cell = {
            let mut cells = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key).or_default().clone()
        };
        let snapshot = cell
            .get_or_try_init(|| async {
                let (root, app) = tokio::join!(
                    graph.get_root(tenant),
                    graph.get_service_app(tenant, client_id)
                );
                Ok::<_, Problem>(TenantSnapshot {
                    service: root?.service_status,
                    our_app: app?,
                })
            })
            .await?;
        Ok(snapshot.clone())
    }

    /// Records a step planned for `tenant` in this process.
    pub fn note_planned(&self, tenant: &str, step: impl FnOnce(&mut PlannedSteps)) {
        let mut planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
        step(planned.entry(tenant.to_ascii_lowercase()).or_default());
    }

    /// Whether a step planned in this process (not yet done in Graph) is part of what lets
    /// `tenant`'s writes go ahead: reads that need our app in place wait for apply then.
    pub fn relies_on_planned_steps(&self, tenant: &str) -> bool {
        let steps = self.planned_steps(tenant);
        steps.app_activation || steps.billing_enable
    }

    fn planned_steps(&self, tenant: &str) -> PlannedSteps {
        let planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
        planned
            .get(&tenant.to_ascii_lowercase())
            .copied()
            .unwrap_or_default()
    }

    /// A slot for `tenant`'s snapshot, taken *before* another lookup of the same facts starts
    /// (the controller lookup reads the root and lists the serviceApps, which include ours), so
    /// that the gate reuses that lookup instead of reading again. [`Seed::fill`] keeps an entry
    /// that is already there; a controller write in between ([`Self::invalidate`]) detaches
    /// the slot, so what was read before the write is never used after it.
    pub fn seed(&self, tenant: &str) -> Seed {
        let key = tenant.to_ascii_lowercase();
        let mut cells = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        Seed(cells.entry(key).or_default().clone())
    }

    /// The root's serviceStatus as a read (billing's refresh) saw it.
    pub fn saw_root(&self, tenant: &str, service: Option<ServiceStatus>) {
        self.saw(tenant, |seen| seen.service = Some(service));
    }

    /// Our serviceApp as a read (the service app's refresh) saw it.
    pub fn saw_our_app(&self, tenant: &str, app: Option<ServiceApp>) {
        self.saw(tenant, |seen| seen.our_app = Some(app));
    }

    /// A refresh plan reads the root and our serviceApp anyway (billing and the service app
    /// resources): once both halves are in, they are the tenant's snapshot, and a protection
    /// resource planned after them makes no lookup of its own.
    fn saw(&self, tenant: &str, record: impl FnOnce(&mut SeenByReads)) {
        let key = tenant.to_ascii_lowercase();
        let complete = {
            let mut seen = self.seen_by_reads.lock().unwrap_or_else(|p| p.into_inner());
            let entry = seen.entry(key.clone()).or_default();
            record(entry);
            match entry {
                SeenByReads {
                    service: Some(service),
                    our_app: Some(our_app),
                } => Some(TenantSnapshot {
                    service: service.clone(),
                    our_app: our_app.clone(),
                }),
                _ => None,
            }
        };
        if let Some(snapshot) = complete {
            self.seed(&key).fill(snapshot);
        }
    }

    /// Forgets what was seen in `tenant` (after a controller write there).
    pub fn invalidate(&self, tenant: &str) {
        let key = tenant.to_ascii_lowercase();
        let mut cells = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        cells.remove(&key);
        let mut seen = self.seen_by_reads.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(&key);
    }
}
