//! `m365backup_{sharepoint,onedrive,exchange}_protection_policy`: what is backed up, as code.
//! One generic implementation; each resource is a table (its unit set attribute differs) and a
//! [`Workload`]. Decisions live in [`crate::lifecycle::protection_policy`], Graph calls in
//! [`crate::graph::api::protection_policies`].

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::value::Value;

use crate::framework::attributes::StringSet;
use crate::framework::values::{known, text, timestamp};
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::api::protection::{PolicyCreate, ProtectionPolicy, ProtectionUnit, Workload};
use crate::lifecycle::Problem;
use crate::lifecycle::protection_policy::activation::{self, DestroyDecision, DestroyFacts};
use crate::lifecycle::protection_policy::answers::{
    apply_delta_answer, apply_policy_answer, judge_delta_answer,
};
use crate::lifecycle::protection_policy::gating::{
    Gate, WriteDecision, WriteSubject, decide_write,
};
use crate::lifecycle::protection_policy::id_file::{file_change_notice, parse_id_file, set_digest};
use crate::lifecycle::protection_policy::ids::{
    slow_inline_set_notice, validate_display_name, validate_inline_ids, validate_retention_period,
};
use crate::lifecycle::protection_policy::notices::{
    ItemFailure, Notice, count_units, item_failure_notice, unit_error_failures,
};
use crate::lifecycle::protection_policy::plan::{
    Observed, PolicyConfig, PolicyWrite, UpdatePlan, plan_update,
};
use crate::lifecycle::protection_policy::unit_set::{
    CreateStep, DEFAULT_BULK_THRESHOLD, ManagedSet, UnitRequest, create_steps, observed_inline_set,
};
use crate::lifecycle::protection_policy::waiting::{
    self, FIRST_PAUSE, Operation, is_settled, next_pause, stopped_notice, timeout_of,
    validate_timeout, wait_expired_notice,
};
use crate::resources::creating_post::post_without_duplicates;

/// The attributes every policy kind shares, and access to its unit set.
pub trait PolicyState: Attributes {
    const WORKLOAD: Workload;
    const DESCRIPTION: &'static str;
    fn common(&mut self) -> Common<'_>;
    fn unit_ids(&self) -> Option<Vec<String>>;
    fn set_unit_ids(&mut self, ids: Option<Vec<String>>);
    /// Whether the inline set is set (known or not).
    fn has_inline_ids(&self) -> bool;
    /// Whether the inline set is set to a known value (not null, not unknown).
    fn has_known_inline_ids(&self) -> bool;
    /// The `*_ids_file` attribute.
    fn ids_file(&self) -> &Value<String>;
}

/// Mutable views of the shared attributes.
pub struct Common<'a> {
    pub tenant_id: &'a mut Value<String>,
    pub display_name: &'a mut Value<String>,
    pub active: &'a mut Value<bool>,
    pub retention_period: &'a mut Value<String>,
    pub allow_destroy_while_active: &'a mut Value<bool>,
    pub wait_for_completion: &'a mut Value<bool>,
    pub timeouts: &'a mut Value<Timeouts>,
    pub ids_sha256: &'a mut Value<String>,
    pub id: &'a mut Value<String>,
    pub policy_id: &'a mut Value<String>,
    pub deferred_reason: &'a mut Value<String>,
    pub pending_job_count: &'a mut Value<i64>,
    pub status: &'a mut Value<String>,
    pub is_enabled: &'a mut Value<bool>,
    pub protected_unit_count: &'a mut Value<i64>,
    pub pending_unit_count: &'a mut Value<i64>,
    pub failed_unit_count: &'a mut Value<i64>,
    pub unit_count: &'a mut Value<i64>,
    pub created_date_time: &'a mut Value<String>,
    pub last_modified_date_time: &'a mut Value<String>,
}

crate::attributes! {
    /// The `timeouts` block: how long `wait_for_completion` and destroy's wait may take.
    pub struct Timeouts {
        create: String => Optional, "Bound of the wait after a create (default `20m`).";
        update: String => Optional, "Bound of the wait after an update (default `20m`).";
        delete: String => Optional, "Bound of destroy's wait for the policy to become inactive (default `30m`).";
    }
}
crate::block_type!(Timeouts);

/// Defines one policy kind's state from the shared rows plus its unit set attributes.
macro_rules! policy_state {
    ($name:ident, $workload:expr, $ids:ident, $ids_doc:literal, $ids_file:ident, $ids_file_doc:literal, $description:literal) => {
        crate::attributes! {
            pub struct $name {
                tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.", replace = true;
                display_name: String => Required, "Display name (1 to 1024 characters).";
                active: bool => OptionalComputed, "Whether the policy is active (default `true`); read from Graph's `isEnabled`.", default = true;
                retention_period: String => OptionalComputed, "How long weekly restore points are kept: `P90D`, `P180D`, `P365D`, `P730D`, `P1095D`, `P1460D`, `P1825D`, `P2190D`, `P2555D`, `P2920D`, `P3285D` or `P3650D`. Unset: Graph's default, shown here and not managed.";
                $ids: StringSet => Optional, $ids_doc;
                $ids_file: String => Optional, $ids_file_doc;
                allow_destroy_while_active: bool => OptionalComputed, "Safety switch (default `false`): destroying an active policy stops the backups of every unit and is refused unless this is `true` in state.", default = false;
                wait_for_completion: bool => OptionalComputed, "Whether apply waits until Graph has processed the change (no unit pending, status not `updating`), bounded by `timeouts` (default `false`: apply returns once Graph accepted the change). A wait that runs out is a warning.", default = false;
                #[serde(default, with = "crate::framework::attributes::optional_block")]
                timeouts: Timeouts => Block, "How long waits may take.";
                ids_sha256: String => Computed, "With a file-backed set: the SHA-256 of the policy's manually added units as last read from Graph (ids lower-cased, sorted, one per line). Null otherwise.";
                id: String => Computed, "`<tenantId>/<policyId>`.", stable = true;
                policy_id: String => Computed, "Graph's policy ID.", stable = true;
                deferred_reason: String => Computed, "Why the creation or activation waits (the tenant does not allow protection changes yet, or another policy of the workload is active), or null.";
                pending_job_count: i64 => Computed, "Bulk addition jobs of this policy still running (started by a create or update; counted again at each refresh until they end). Their ids count as present until then, so a plan never adds them twice.";
                status: String => Computed, "`inactive`, `updating`, `active`, `activeWithErrors`, or a newer value.";
                is_enabled: bool => Computed, "Graph's `isEnabled`.";
                protected_unit_count: i64 => Computed, "Units that are `protected`.";
                pending_unit_count: i64 => Computed, "Units with a change in progress (any `…Requested` status).";
                failed_unit_count: i64 => Computed, "Units that carry an error.";
                unit_count: i64 => Computed, "All units of the policy.";
                created_date_time: String => Computed, "When the policy was created.", stable = true;
                last_modified_date_time: String => Computed, "When Graph last changed the policy.";
            }
        }

        impl PolicyState for $name {
            const WORKLOAD: Workload = $workload;
            const DESCRIPTION: &'static str = $description;

            fn common(&mut self) -> Common<'_> {
                Common {
                    wait_for_completion: &mut self.wait_for_completion,
                    timeouts: &mut self.timeouts,
                    ids_sha256: &mut self.ids_sha256,
                    tenant_id: &mut self.tenant_id,
                    display_name: &mut self.display_name,
                    active: &mut self.active,
                    retention_period: &mut self.retention_period,
                    allow_destroy_while_active: &mut self.allow_destroy_while_active,
                    id: &mut self.id,
                    policy_id: &mut self.policy_id,
                    deferred_reason: &mut self.deferred_reason,
                    pending_job_count: &mut self.pending_job_count,
                    status: &mut self.status,
                    is_enabled: &mut self.is_enabled,
                    protected_unit_count: &mut self.protected_unit_count,
                    pending_unit_count: &mut self.pending_unit_count,
                    failed_unit_count: &mut self.failed_unit_count,
                    unit_count: &mut self.unit_count,
                    created_date_time: &mut self.created_date_time,
                    last_modified_date_time: &mut self.last_modified_date_time,
                }
            }

            fn unit_ids(&self) -> Option<Vec<String>> {
                self.$ids.as_ref_option().map(StringSet::texts)
            }

            fn set_unit_ids(&mut self, ids: Option<Vec<String>>) {
                self.$ids = ids.map_or(Value::Null, |ids| Value::Value(StringSet::from_texts(ids)));
            }

            fn has_inline_ids(&self) -> bool {
                !self.$ids.is_null()
            }

            fn has_known_inline_ids(&self) -> bool {
                matches!(self.$ids, Value::Value(_))
            }

            fn ids_file(&self) -> &Value<String> {
                &self.$ids_file
            }
        }
    };
}

policy_state!(
    SharePointPolicyState,
    Workload::SharePoint,
    site_ids,
    "SharePoint site ids (`host[/path],guid,guid` or a GUID). **Authoritative when set**: the policy's manually added units are exactly these (units of inclusion rules are never touched). Null: units are not managed here. At most 15,000; use `site_ids_file` beyond.",
    site_ids_file,
    "Path of a file listing the site ids, one per line (`#` starts a comment), for sets too large to write inline. Authoritative like `site_ids`, which it conflicts with. State keeps only `ids_sha256` and the counts; a plan whose file differs from the policy's units proposes an update with a `+N / −M` warning.",
    "A SharePoint protection policy of Microsoft 365 Backup: which sites are backed up, how long weekly restore points are kept, and whether it is active."
);
policy_state!(
    OneDrivePolicyState,
    Workload::OneDrive,
    user_ids,
    "Entra object ids of the OneDrive owners. **Authoritative when set**: the policy's manually added units are exactly these (units of inclusion rules are never touched). Null: units are not managed here. At most 15,000; use `user_ids_file` beyond.",
    user_ids_file,
    "Path of a file listing the owners' object ids, one per line (`#` starts a comment), for sets too large to write inline. Authoritative like `user_ids`, which it conflicts with. State keeps only `ids_sha256` and the counts; a plan whose file differs from the policy's units proposes an update with a `+N / −M` warning.",
    "A OneDrive for Business protection policy of Microsoft 365 Backup: whose OneDrive is backed up, how long weekly restore points are kept, and whether it is active."
);
policy_state!(
    ExchangePolicyState,
    Workload::Exchange,
    mailbox_ids,
    "Entra object ids of user or shared mailboxes. **Authoritative when set**: the policy's manually added units are exactly these (units of inclusion rules are never touched). Null: units are not managed here. At most 15,000; use `mailbox_ids_file` beyond.",
    mailbox_ids_file,
    "Path of a file listing the mailboxes' object ids, one per line (`#` starts a comment), for sets too large to write inline. Authoritative like `mailbox_ids`, which it conflicts with. State keeps only `ids_sha256` and the counts; a plan whose file differs from the policy's units proposes an update with a `+N / −M` warning.",
    "An Exchange protection policy of Microsoft 365 Backup: which mailboxes are backed up, how long weekly restore points are kept, and whether it is active."
);

/// What the plan decided, carried to apply.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PolicyPlan {
    /// Write to Graph (create, or update what differs).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub write: bool,
    /// Set by import: the next read fills the unit set.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub importing: bool,
}

/// One of the three policy resources.
pub struct ProtectionPolicyResource<S>(PhantomData<S>);

pub type SharePointPolicy = ProtectionPolicyResource<SharePointPolicyState>;
pub type OneDrivePolicy = ProtectionPolicyResource<OneDrivePolicyState>;
pub type ExchangePolicy = ProtectionPolicyResource<ExchangePolicyState>;

impl<S> Default for ProtectionPolicyResource<S> {
    fn default() -> Self {
        ProtectionPolicyResource(PhantomData)
    }
}

pub(crate) fn notice(n: Notice) -> Problem {
    let problem = Problem::warning(n.summary, n.detail);
    match n.attribute {
        Some(attribute) => problem.at(attribute),
        None => problem,
    }
}

pub(crate) fn error(n: Notice) -> Problem {
    let problem = Problem::error(n.summary, n.detail);
    match n.attribute {
        Some(attribute) => problem.at(attribute),
        None => problem,
    }
}

/// Copies what Graph holds into the computed attributes.
fn apply_policy<S: PolicyState>(
    state: &mut S,
    tenant: &str,
    policy: &ProtectionPolicy,
    units: &[ProtectionUnit],
) {
    let counts = count_units(units);
    let digest = (!state.ids_file().is_null()).then(|| ManagedSet::from_units(units).digest());
    let prior_active = state.common().active.as_option();
    let c = state.common();
    *c.tenant_id = Value::Value(tenant.to_string());
    *c.id = Value::Value(format!("{tenant}/{}", policy.id));
    *c.policy_id = Value::Value(policy.id.clone());
    *c.deferred_reason = Value::Null;
    if let Some(name) = &policy.display_name {
        *c.display_name = Value::Value(name.clone());
    }
    let active =
        activation::observed_active(policy.is_enabled, policy.status.as_ref(), prior_active);
    if let Some(active) = active {
        *c.active = Value::Value(active);
    }
    if let Some(period) = policy.weekly_retention() {
        let same = c.retention_period.as_ref_option().is_some_and(|mine| {
            crate::lifecycle::protection_policy::retention::same_retention(mine, period)
        });
        if !same {
            *c.retention_period = Value::Value(period.to_string());
        }
    }
    *c.status = text(policy.status.as_ref().map(|s| s.as_str()));
    *c.is_enabled = policy.is_enabled.map_or(Value::Null, Value::Value);
    *c.protected_unit_count = Value::Value(counts.protected as i64);
    *c.pending_unit_count = Value::Value(counts.pending as i64);
    *c.failed_unit_count = Value::Value(counts.failed as i64);
    *c.unit_count = Value::Value(counts.total as i64);
    *c.ids_sha256 = digest.map_or(Value::Null, Value::Value);
    *c.created_date_time = timestamp(policy.created_date_time.as_deref());
    *c.last_modified_date_time = timestamp(policy.last_modified_date_time.as_deref());
}

/// Records a create that waits for the tenant (decision 4): no id, counts 0, the reason.
fn record_deferred<S: PolicyState>(state: &mut S, reason: &str) {
    let c = state.common();
    for v in [
        c.id,
        c.policy_id,
        c.status,
        c.created_date_time,
        c.last_modified_date_time,
    ] {
        *v = Value::Null;
    }
    *c.is_enabled = Value::Null;
    for v in [
        c.protected_unit_count,
        c.pending_unit_count,
        c.failed_unit_count,
        c.unit_count,
        c.pending_job_count,
    ] {
        *v = Value::Value(0);
    }
    *c.deferred_reason = Value::Value(reason.to_string());
}

struct Target {
    tenant: String,
    policy_id: Option<String>,
}

fn target<S: PolicyState>(state: &mut S) -> Result<Target, Problem> {
    let c = state.common();
    let tenant = known(c.tenant_id, "tenant_id")?.to_string();
    let policy_id = c.policy_id.as_ref_option().cloned();
    Ok(Target { tenant, policy_id })
}

fn name_of<S: PolicyState>(state: &mut S) -> String {
    state
        .common()
        .display_name
        .as_ref_option()
        .cloned()
        .unwrap_or_default()
}

pub(crate) async fn gate(call: &Call, tenant: &str) -> Result<Gate, Problem> {
    let client = call
        .ctx
        .client_id_for("Protection policies are changed by the controller app")?;
    call.ctx.gates.gate(&call.ctx.graph, tenant, &client).await
}

/// Reads the policy and every page of its units; `None` when the policy is gone.
pub(crate) async fn observe(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
) -> Result<Observation, Problem> {
    let graph = &call.ctx.graph;
    let key = memo_key(tenant, policy_id);
    let Some(policy) = graph.get_policy(tenant, policy_id).await? else {
        call.ctx.memo.forget(&key);
        return Ok(None);
    };
    let units = graph.list_policy_units(tenant, workload, policy_id).await?;
    // Shared, not copied: a policy of 50,000 units is tens of MB as structs.
    let observed = Some(Arc::new((policy, units)));
    call.ctx.memo.put(key, observed.clone());
    Ok(observed)
}

fn memo_key(tenant: &str, policy_id: &str) -> String {
    format!(
        "policy/{}/{}",
        tenant.to_ascii_lowercase(),
        policy_id.to_ascii_lowercase()
    )
}

type Observation = Option<Arc<(ProtectionPolicy, Vec<ProtectionUnit>)>>;

/// The policy and its units as read earlier in this process (the refresh before a plan, the
/// plan before an apply), else from Graph: one listing per policy per run (decision 9). Reads
/// after a write always go to Graph.
pub(crate) async fn observe_shared(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
) -> Result<Observation, Problem> {
    match call
        .ctx
        .memo
        .get::<Observation>(&memo_key(tenant, policy_id))
    {
        Some(seen) => Ok(seen),
        None => observe(call, workload, tenant, policy_id).await,
    }
}

/// Reads a `*_ids_file` (decision 1). Relative paths are relative to the directory Terraform
/// runs in.
fn read_id_file(workload: Workload, path: &str) -> Result<Vec<String>, Problem> {
    let attribute = workload.ids_file_attribute();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problem::error(
            format!("Cannot read {attribute}"),
            format!(
                "{attribute} = {path:?}: {e}. A relative path is taken from the directory terraform runs in; in a module write \"${{path.module}}/<file>\"."
            ),
        )
        .at(attribute)
    })?;
    parse_id_file(workload, path, &text).map_err(error)
}

/// The configured unit set: the file's ids, the inline set, or `None` (units not managed).
fn desired_ids<S: PolicyState>(state: &S) -> Result<Option<Vec<String>>, Problem> {
    match state.ids_file() {
        Value::Value(path) => read_id_file(S::WORKLOAD, path).map(Some),
        _ => Ok(state.unit_ids()),
    }
}

/// Ctrl-C (decision 17): SIGINT and SIGTERM set a process-wide flag that waits and chunk loops
/// check. `main` ignores SIGINT so that an in-flight Graph call finishes; the listener installed
/// here on first use replaces that with "finish the current request, then stop".
pub(crate) mod stop {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Once, OnceLock};
    use std::time::Duration;

    use tokio::sync::Notify;

    static STOP: AtomicBool = AtomicBool::new(false);
    static LISTENING: Once = Once::new();

    fn notify() -> &'static Notify {
        static NOTIFY: OnceLock<Notify> = OnceLock::new();
        NOTIFY.get_or_init(Notify::new)
    }

    /// Installs the signal listener once per process (needs a running Tokio runtime).
    pub fn listen() {
        #[cfg(unix)]
        LISTENING.call_once(|| {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let _guard = runtime.enter();
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            runtime.spawn(async move {
                loop {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    tracing::info!("interrupted: protection policy waits and chunk loops stop");
                    STOP.store(true, Ordering::SeqCst);
                    notify().notify_waiters();
                }
            });
        });
    }

    pub fn requested() -> bool {
        STOP.load(Ordering::SeqCst)
    }

    /// Sleeps `pause`; `false` when a stop cut it short.
    pub async fn sleep(pause: Duration) -> bool {
        let stopped = notify().notified();
        if requested() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => true,
            _ = stopped => false,
        }
    }
}

/// The creating POST without blind retries (decision 8, see `creating_post`): after a lost
/// answer or a 500/502/504 the workload's policies are listed and one made by our app with this
/// name is adopted before posting again.
///
/// `None` when Graph refuses the create because another policy of the workload is active
/// (409 `PolicyCreationNotAllowed`): a tenant condition, for the caller to defer (decision 3).
async fn post_policy(
    call: &mut Call,
    tenant: &str,
    create: &PolicyCreate,
) -> Result<Option<ProtectionPolicy>, Problem> {
    let workload = create.workload;
    let our_app = call
        .ctx
        .client_id_for("Protection policies are created by the controller app")?;
    let graph = &call.ctx.graph;
    let posted = post_without_duplicates(
        || graph.create_policy(tenant, create),
        || async {
            let policies = graph.list_policies(tenant, workload).await?;
            Ok(activation::find_adoptable_policy(
                &policies,
                workload,
                &create.display_name,
                &our_app,
            )
            .cloned())
        },
    )
    .await;
    match posted {
        Ok(policy) => Ok(Some(policy)),
        Err(e) if e.is_status(409) && e.has_code("PolicyCreationNotAllowed") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `wait_for_completion` (Shared behaviour): polls with backoff until no unit is pending and the
/// policy is not `updating`, bounded by `timeouts.<operation>`; an expiry or a Ctrl-C is a
/// warning (decision 7). The state gets what Graph showed last.
async fn wait_for_completion<S: PolicyState>(
    call: &mut Call,
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    operation: Operation,
) {
    let c = state.common();
    if c.wait_for_completion.as_option() != Some(true) {
        return;
    }
    let configured = configured_timeout(c.timeouts, operation);
    let timeout = timeout_of(operation, configured.as_deref());
    let deadline = tokio::time::Instant::now() + timeout;
    let name = name_of(state);
    let mut pause = FIRST_PAUSE;
    loop {
        let found = match observe(call, S::WORKLOAD, tenant, policy_id).await {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(problem) => {
                call.warn(problem);
                return;
            }
        };
        let (policy, units) = &*found;
        apply_policy(state, tenant, policy, units);
        let counts = count_units(units);
        if is_settled(policy.status.as_ref().map(|s| s.as_str()), &counts) {
            return;
        }
        if tokio::time::Instant::now() + pause > deadline {
            call.warn(notice(wait_expired_notice(
                operation,
                tenant,
                &name,
                timeout,
                counts.pending,
            )));
            return;
        }
        if !stop::sleep(pause).await {
            call.warn(notice(stopped_notice(
                tenant,
                &name,
                "apply stopped waiting for Microsoft 365 to finish",
            )));
            return;
        }
        pause = next_pause(pause);
    }
}

fn configured_timeout(timeouts: &Value<Timeouts>, operation: Operation) -> Option<String> {
    let Value::Value(t) = timeouts else {
        return None;
    };
    let value = match operation {
        Operation::Create => &t.create,
        Operation::Update => &t.update,
        Operation::Delete => &t.delete,
    };
    value.as_ref_option().cloned()
}

/// After Ctrl-C: the state keeps the planned `active` (Terraform requires the configured value
/// back), everything else is what Graph holds; the next plan finishes the work.
async fn stopped<S: PolicyState>(
    call: &mut Call,
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    what: &str,
) {
    let planned_active = *state.common().active;
    refresh(call, state, tenant, Some(policy_id)).await;
    *state.common().active = planned_active;
    let name = name_of(state);
    call.warn(notice(stopped_notice(tenant, &name, what)));
}

/// Decision 9: inputs of bulk jobs still running count as present, so that a plan made while
/// Graph processes a job does not add its ids again. Looked up only when `wanted` (units are
/// diffed, or a job may be running), once per policy per process until a job is posted.
async fn running_jobs(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    wanted: bool,
) -> Result<Vec<crate::graph::api::protection::BulkAdditionJob>, Problem> {
    if !wanted {
        return Ok(Vec::new());
    }
    let key = jobs_memo_key(tenant, policy_id);
    if let Some(jobs) = call.ctx.memo.get(&key) {
        return Ok(jobs);
    }
    let jobs = (call.ctx.graph)
        .running_bulk_jobs(tenant, workload, policy_id)
        .await?;
    call.ctx.memo.put(key, jobs.clone());
    Ok(jobs)
}

fn jobs_memo_key(tenant: &str, policy_id: &str) -> String {
    format!("running-jobs/{}", memo_key(tenant, policy_id))
}

/// Creates the policy: POST with up to 50 units, the rest in chunks, activation last. `false`
/// when Graph refused the POST because another policy of the workload is active.
async fn create_policy<S: PolicyState>(
    call: &mut Call,
    state: &mut S,
) -> Result<bool, WriteError<S>> {
    let workload = S::WORKLOAD;
    let Target { tenant, .. } = target(state)?;
    let c = state.common();
    let display_name = known(c.display_name, "display_name")?.to_string();
    let retention_period = c.retention_period.as_ref_option().cloned();
    let active = c.active.as_option().unwrap_or(true);
    let ids = desired_ids(state)?;
    let steps = create_steps(ids.as_deref(), active, DEFAULT_BULK_THRESHOLD);
    let starts_job =
        (steps.iter()).any(|s| matches!(s, CreateStep::Units(UnitRequest::BulkJob(_))));
    let mut policy_id: Option<String> = None;
    let mut failures = Vec::new();
    stop::listen();
    for step in steps {
        if let Some(id) = policy_id.as_deref()
            && stop::requested()
        {
            // Decision 17: no new request after Ctrl-C; the next plan sends the rest.
            report_failures(call, workload, &tenant, &display_name, &failures);
            stopped(
                call,
                state,
                &tenant,
                id,
                "the create stopped before sending every unit and the activation",
            )
            .await;
            return Ok(true);
        }
        let result = match (step, &policy_id) {
            (CreateStep::Post { unit_ids }, _) => {
                let create = PolicyCreate {
                    workload,
                    display_name: display_name.clone(),
                    retention_period: retention_period.clone(),
                    unit_ids,
                };
                let Some(created) = post_policy(call, &tenant, &create).await? else {
                    return Ok(false);
                };
                policy_id = Some(created.id.clone());
                Ok(())
            }
            (CreateStep::Units(request), Some(id)) => {
                send_units(call, workload, &tenant, id, request, &mut failures).await
            }
            (CreateStep::Activate, Some(id)) => (call.ctx.graph.activate_policy(&tenant, id).await)
                .map(|_| ())
                .map_err(Problem::from),
            (_, None) => Ok(()),
        };
        if let Err(problem) = result {
            // Only an inactive policy exists: Terraform records it (tainted).
            refresh(call, state, &tenant, policy_id.as_deref()).await;
            return Err(WriteError::Partial(state.clone(), problem));
        }
    }
    report_failures(call, workload, &tenant, &display_name, &failures);
    refresh(call, state, &tenant, policy_id.as_deref()).await;
    if let Some(id) = policy_id.as_deref() {
        wait_for_completion(call, state, &tenant, id, Operation::Create).await;
        if let Err(problem) = count_jobs(call, state, &tenant, id, starts_job).await {
            call.warn(problem);
        }
    }
    Ok(true)
}

/// Sends one unit request (a `@delta` chunk or a bulk job), gathering per-item failures.
pub(crate) async fn send_units(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    request: UnitRequest,
    failures: &mut Vec<ItemFailure>,
) -> Result<(), Problem> {
    match request {
        UnitRequest::Patch(units) => {
            let patch = crate::graph::api::protection::PolicyPatch {
                workload,
                display_name: None,
                retention_period: None,
                units,
            };
            let answer = call
                .ctx
                .graph
                .patch_policy(tenant, policy_id, &patch)
                .await?;
            failures
                .extend(judge_delta_answer(workload, policy_id, answer.items(workload)).failures);
        }
        UnitRequest::BulkJob(ids) => {
            call.ctx.memo.forget(&jobs_memo_key(tenant, policy_id));
            let name = format!("terraform-{}", uuid::Uuid::new_v4());
            let job =
                crate::graph::api::protection::BulkAdditionJob::create_body(workload, &name, ids);
            crate::resources::creating_post::create_bulk_job(
                &call.ctx.graph,
                tenant,
                workload,
                policy_id,
                &job,
            )
            .await?;
        }
    }
    Ok(())
}

pub(crate) fn report_failures(
    call: &mut Call,
    workload: Workload,
    tenant: &str,
    policy: &str,
    failures: &[ItemFailure],
) {
    if let Some(n) = item_failure_notice(workload, tenant, policy, failures) {
        call.warn(notice(n));
    }
}

/// Reads back what Graph holds after writes (best effort: the next refresh repeats it).
async fn refresh<S: PolicyState>(
    call: &Call,
    state: &mut S,
    tenant: &str,
    policy_id: Option<&str>,
) {
    let Some(id) = policy_id else { return };
    if let Ok(Some(found)) = observe(call, S::WORKLOAD, tenant, id).await {
        let (policy, units) = &*found;
        apply_policy(state, tenant, policy, units);
    }
}

/// What an update sends, from the configuration and what Graph shows (the running bulk jobs
/// are read only when units are managed here); the policy's configured name comes with it.
async fn plan_writes<S: PolicyState>(
    call: &Call,
    config: &S,
    ids: Option<&[String]>,
    observed: (&str, &str, &ProtectionPolicy, &[ProtectionUnit]),
    prior_active: Option<bool>,
) -> Result<(UpdatePlan, String), Problem> {
    let (tenant, policy_id, policy, units) = observed;
    let mut config = config.clone();
    let c = config.common();
    let name = c.display_name.as_ref_option().cloned().unwrap_or_default();
    let retention = c.retention_period.as_ref_option().cloned();
    let policy_config = PolicyConfig {
        workload: S::WORKLOAD,
        display_name: &name,
        active: c.active.as_option().unwrap_or(true),
        retention_period: retention.as_deref(),
        unit_ids: ids,
        bulk_threshold: DEFAULT_BULK_THRESHOLD,
    };
    let jobs = running_jobs(call, S::WORKLOAD, tenant, policy_id, ids.is_some()).await?;
    let observed = Observed {
        tenant_id: tenant,
        policy,
        units,
        running_jobs: &jobs,
        prior_active,
    };
    Ok((plan_update(&policy_config, &observed), name))
}

#[async_trait]
impl<S: PolicyState> ManagedResource for ProtectionPolicyResource<S> {
    type State = S;
    type Private = PolicyPlan;

    const DESCRIPTION: &'static str = S::DESCRIPTION;
    const IMPORT: ImportId = ImportId {
        key: "policyId",
        key_meaning: "a protection policy ID",
        bare_key: true,
        note: "",
        key_attribute: "policy_id",
        id_has_key: true,
    };

    fn validate(config: &S) -> Vec<Problem> {
        let mut config = config.clone();
        let mut problems = Vec::new();
        // Only values known now conflict: `x == null ? "file" : null` is unknown at validate.
        if config.has_known_inline_ids() && matches!(config.ids_file(), Value::Value(_)) {
            let (inline, file) = (
                S::WORKLOAD.ids_attribute(),
                S::WORKLOAD.ids_file_attribute(),
            );
            problems.push(
                Problem::error(
                    format!("Conflicting {inline} and {file}"),
                    format!(
                        "Set either {inline} (up to 15,000 ids) or {file} (a file, for larger sets), not both."
                    ),
                )
                .at(file),
            );
        }
        for operation in [Operation::Create, Operation::Update, Operation::Delete] {
            if let Some(text) = configured_timeout(config.common().timeouts, operation)
                && let Err(n) = validate_timeout(operation, &text)
            {
                problems.push(error(n));
            }
        }
        if let Some(ids) = config.unit_ids() {
            problems.extend(
                validate_inline_ids(S::WORKLOAD, &ids)
                    .into_iter()
                    .map(error),
            );
            let instead = format!(
                "Sets this large belong in {} (a file, one id per line): state then keeps only \
                 its digest and counts.",
                S::WORKLOAD.ids_file_attribute()
            );
            problems.extend(
                slow_inline_set_notice(S::WORKLOAD.ids_attribute(), ids.len(), &instead)
                    .map(notice),
            );
        }
        let c = config.common();
        if let Value::Value(name) = &*c.display_name
            && let Err(n) = validate_display_name(name)
        {
            problems.push(error(n));
        }
        if let Value::Value(period) = &*c.retention_period
            && let Err(n) = validate_retention_period(period)
        {
            problems.push(error(n));
        }
        problems
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: S,
        mut private: PolicyPlan,
    ) -> Result<Option<(S, PolicyPlan)>, Problem> {
        let Target { tenant, policy_id } = target(&mut state)?;
        let Some(policy_id) = policy_id else {
            return Ok(Some((state, private))); // deferred: nothing in Graph to read
        };
        let Some(found) = observe(call, S::WORKLOAD, &tenant, &policy_id).await? else {
            return Ok(None);
        };
        let jobs_may_run = state.common().pending_job_count.as_option() != Some(0);
        let (policy, units) = &*found;
        apply_policy(&mut state, &tenant, policy, units);
        count_jobs(call, &mut state, &tenant, &policy_id, jobs_may_run).await?;
        let managed = ManagedSet::from_units(units);
        let configured = state.unit_ids();
        if private.importing {
            state.set_unit_ids(managed.import_inline_set());
            private.importing = false;
        } else {
            state.set_unit_ids(observed_inline_set(configured.as_deref(), &managed));
        }
        let failures = unit_error_failures(S::WORKLOAD, units);
        report_failures(call, S::WORKLOAD, &tenant, &name_of(&mut state), &failures);
        Ok(Some((state, private)))
    }

    async fn plan_create(
        &self,
        call: &mut Call,
        mut planned: S,
        _config: &S,
    ) -> Result<(S, PolicyPlan), Problem> {
        let write = PolicyPlan {
            write: true,
            importing: false,
        };
        // A file-backed set is read at plan: a missing or malformed file is a plan-time error.
        desired_ids(&planned)?;
        claim_active(call, &mut planned)?;
        let Value::Value(tenant) = planned.common().tenant_id.clone() else {
            return Ok((planned, write));
        };
        let what = format!("policy {}", name_of(&mut planned));
        match decide_write(&gate(call, &tenant).await?, WriteSubject::NewObject, &what) {
            WriteDecision::Proceed(n) => {
                n.into_iter().for_each(|n| call.warn(notice(n)));
                // Decision 3: apply records the create as deferred while another policy is active.
                if !call.ctx.gates.relies_on_planned_steps(&tenant) {
                    let other = other_active::<S>(call, &tenant, None).await?;
                    call.warn_all(other.map(notice));
                }
            }
            WriteDecision::Defer { notice: n, .. } | WriteDecision::WarnOnly(n) => {
                call.warn(notice(n))
            }
        }
        Ok((planned, write))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &S,
        mut planned: S,
        config: &S,
        _private: PolicyPlan,
    ) -> Result<(S, PolicyPlan), Problem> {
        let mut prior = prior.clone();
        let Target { tenant, policy_id } = target(&mut prior)?;
        claim_active(call, &mut planned)?;
        let what = format!("policy {}", name_of(&mut planned));
        let nothing = PolicyPlan::default();
        let Some(policy_id) = policy_id else {
            // Deferred create: propose it once the tenant allows it (decision 4).
            return match decide_write(
                &gate(call, &tenant).await?,
                WriteSubject::DeferredObject,
                &what,
            ) {
                WriteDecision::Proceed(n) => {
                    n.into_iter().for_each(|n| call.warn(notice(n)));
                    if !call.ctx.gates.relies_on_planned_steps(&tenant)
                        && let Some(n) = other_active::<S>(call, &tenant, None).await?
                    {
                        call.warn(notice(n));
                        return Ok((planned, nothing));
                    }
                    planned.unknown_on_create();
                    Ok((
                        planned,
                        PolicyPlan {
                            write: true,
                            importing: false,
                        },
                    ))
                }
                WriteDecision::Defer { notice: n, .. } => {
                    // Still waiting: the warning says for what now; the recorded reason stays,
                    // so a reworded reason is never a diff.
                    call.warn(notice(n));
                    Ok((planned, nothing))
                }
                WriteDecision::WarnOnly(n) => {
                    call.warn(notice(n));
                    Ok((planned, nothing))
                }
            };
        };
        claim_authoritative(config, &tenant, &policy_id)?;
        let Some(found) = observe_shared(call, S::WORKLOAD, &tenant, &policy_id).await? else {
            return Ok((planned, nothing));
        };
        let (policy, units) = &*found;
        let ids = desired_ids(config)?;
        let file = config.ids_file().as_ref_option().cloned();
        // Decision 1: the file's digest equal to the state's means the set is in sync.
        let file_in_sync = file.is_some()
            && ids.as_ref().is_some_and(|ids| {
                prior
                    .common()
                    .ids_sha256
                    .as_ref_option()
                    .map(String::as_str)
                    == Some(set_digest(ids.iter().map(String::as_str)).as_str())
            });
        let ids = if file_in_sync { None } else { ids };
        let seen = (
            tenant.as_str(),
            policy_id.as_str(),
            policy,
            units.as_slice(),
        );
        let prior_active = prior.common().active.as_option();
        let (update, name) = plan_writes(call, config, ids.as_deref(), seen, prior_active).await?;
        if let (Some(path), Some(ids)) = (&file, &ids)
            && !update.units.is_empty()
        {
            call.warn(notice(file_change_notice(
                S::WORKLOAD,
                &tenant,
                &name,
                path,
                ids.len(),
                update.units.difference(),
            )));
        }
        update
            .warnings
            .iter()
            .cloned()
            .for_each(|n| call.warn(notice(n)));
        if update.is_empty() {
            return Ok((planned, nothing));
        }
        match decide_write(
            &gate(call, &tenant).await?,
            WriteSubject::ExistingObject,
            &what,
        ) {
            WriteDecision::Proceed(n) => {
                n.into_iter().for_each(|n| call.warn(notice(n)));
                planned.unknown_on_change();
                Ok((
                    planned,
                    PolicyPlan {
                        write: true,
                        importing: false,
                    },
                ))
            }
            WriteDecision::Defer { notice: n, .. } | WriteDecision::WarnOnly(n) => {
                call.warn(notice(n));
                Ok((planned, nothing))
            }
        }
    }

    async fn plan_destroy(
        &self,
        call: &mut Call,
        prior: &S,
        private: PolicyPlan,
    ) -> Result<PolicyPlan, Problem> {
        let mut prior = prior.clone();
        match destroy_decision(call, &mut prior).await? {
            DestroyDecision::Refuse(n) => Err(error(n)),
            _ => Ok(private),
        }
    }

    async fn create(
        &self,
        call: &mut Call,
        mut state: S,
        _config: &S,
        _private: PolicyPlan,
    ) -> Result<(S, PolicyPlan), WriteError<S>> {
        let Target { tenant, .. } = target(&mut state)?;
        let what = format!("policy {}", name_of(&mut state));
        match decide_write(&gate(call, &tenant).await?, WriteSubject::NewObject, &what) {
            // Graph refuses a create while another policy of the workload is active; that
            // refusal, not a listing before every create, is what defers it (decision 3).
            WriteDecision::Proceed(_) => {
                if create_policy(call, &mut state).await? {
                    if let Some(id) = state.common().policy_id.as_ref_option().cloned() {
                        // Units resources applied after this one in the process see the set.
                        let _ = claim_authoritative(&state, &tenant, &id);
                    }
                } else {
                    let n = other_active::<S>(call, &tenant, None)
                        .await?
                        .unwrap_or_else(|| {
                            activation::creation_refused_notice(S::WORKLOAD, &tenant)
                        });
                    record_deferred(&mut state, &n.summary);
                    call.warn(notice(n));
                }
            }
            WriteDecision::Defer { reason, notice: n } => {
                call.warn(notice(n));
                record_deferred(&mut state, &reason);
            }
            WriteDecision::WarnOnly(n) => {
                call.warn(notice(n));
                record_deferred(&mut state, &n_detail(&what));
            }
        }
        Ok((state, PolicyPlan::default()))
    }

    async fn update(
        &self,
        call: &mut Call,
        prior: &S,
        mut state: S,
        config: &S,
        private: PolicyPlan,
    ) -> Result<(S, PolicyPlan), WriteError<S>> {
        let mut prior = prior.clone();
        let Target { tenant, policy_id } = target(&mut prior)?;
        if !private.write {
            state.copy_computed_from(&prior);
            return Ok((state, PolicyPlan::default()));
        }
        let Some(policy_id) = policy_id else {
            // The deferred create can go ahead now.
            return self.create(call, state, config, private).await;
        };
        claim_authoritative(config, &tenant, &policy_id)?;
        let workload = S::WORKLOAD;
        let Some(found) = observe_shared(call, workload, &tenant, &policy_id).await? else {
            return Err(WriteError::Failed(Problem::error(
                "Protection policy not found",
                format!(
                    "Policy {policy_id} no longer exists in tenant {tenant}; run terraform plan again to recreate it."
                ),
            )));
        };
        let ids = desired_ids(config)?;
        let seen = (
            tenant.as_str(),
            policy_id.as_str(),
            &found.0,
            found.1.as_slice(),
        );
        let prior_active = prior.common().active.as_option();
        let (plan, name) = plan_writes(call, config, ids.as_deref(), seen, prior_active).await?;
        let jobs_may_run = prior.common().pending_job_count.as_option() != Some(0)
            || (plan.writes(workload).iter()).any(|w| matches!(w, PolicyWrite::BulkJob(_)));
        // The listing becomes the state after the writes: Graph's answers are applied to it
        // instead of listing the policy again (decision 9). Taken from the memo, not copied.
        let key = memo_key(&tenant, &policy_id);
        call.ctx.memo.forget(&key);
        // The jobs are counted again after the writes, from Graph.
        call.ctx.memo.forget(&jobs_memo_key(&tenant, &policy_id));
        let (mut policy, mut units) =
            Arc::try_unwrap(found).unwrap_or_else(|shared| (*shared).clone());
        let mut policy_read_back = true;
        let mut activation_waits = None;
        let mut failures = Vec::new();
        stop::listen();
        for (index, write) in plan.writes(workload).into_iter().enumerate() {
            if index > 0 && stop::requested() {
                // Decision 17: the current request finished; no new one starts.
                report_failures(call, workload, &tenant, &name, &failures);
                stopped(
                    call,
                    &mut state,
                    &tenant,
                    &policy_id,
                    "the update stopped before sending every change",
                )
                .await;
                return Ok((state, PolicyPlan::default()));
            }
            let result = match write {
                PolicyWrite::Patch(patch) => match call
                    .ctx
                    .graph
                    .patch_policy(&tenant, &policy_id, &patch)
                    .await
                {
                    Ok(answer) => {
                        let items = answer.items(workload);
                        failures.extend(judge_delta_answer(workload, &policy_id, items).failures);
                        apply_delta_answer(&mut units, items);
                        policy_read_back &= apply_policy_answer(&mut policy, Some(answer.policy));
                        Ok(())
                    }
                    Err(e) => Err(Problem::from(e)),
                },
                // The job's inputs count as present while it runs (running jobs, decision 9).
                PolicyWrite::BulkJob(ids) => {
                    send_units(
                        call,
                        workload,
                        &tenant,
                        &policy_id,
                        UnitRequest::BulkJob(ids),
                        &mut failures,
                    )
                    .await
                }
                // Graph answers 202 with the policy; without it, the policy is read after.
                PolicyWrite::Activate => {
                    match call.ctx.graph.activate_policy(&tenant, &policy_id).await {
                        Ok(answer) => {
                            policy_read_back = apply_policy_answer(&mut policy, answer);
                            Ok(())
                        }
                        // Decision 3: another active policy of the workload is a tenant
                        // condition, whatever Graph's (undocumented) code for it: the
                        // activation waits with a warning and the next apply tries again.
                        Err(e) => {
                            policy_read_back = false;
                            match other_active::<S>(call, &tenant, Some(&policy_id)).await {
                                Ok(Some(n)) => {
                                    activation_waits = Some(n);
                                    Ok(())
                                }
                                _ => Err(Problem::from(e)),
                            }
                        }
                    }
                }
                PolicyWrite::Deactivate => (call.ctx.graph)
                    .deactivate_policy(&tenant, &policy_id)
                    .await
                    .map(|answer| policy_read_back = apply_policy_answer(&mut policy, answer))
                    .map_err(Problem::from),
            };
            if let Err(problem) = result {
                // Decision 7: the best known state, which is what the answers so far showed.
                apply_policy(&mut state, &tenant, &policy, &units);
                return Err(WriteError::Partial(state, problem));
            }
        }
        if !policy_read_back {
            // An answer without the policy: its `isEnabled` and status are read (one GET).
            match call.ctx.graph.get_policy(&tenant, &policy_id).await {
                Ok(Some(read)) => policy = read,
                Ok(None) => {}
                Err(e) => call.warn(Problem::from(e)),
            }
        }
        let planned_active = *state.common().active;
        apply_policy(&mut state, &tenant, &policy, &units);
        call.ctx.memo.put(key, Some(Arc::new((policy, units))));
        if let Some(n) = activation_waits {
            // Terraform requires the planned `active` back; the next refresh shows the policy
            // inactive, so the next plan proposes the activation again (decision 7).
            let c = state.common();
            *c.active = planned_active;
            *c.deferred_reason = Value::Value(n.summary.clone());
            call.warn(notice(n));
        }
        report_failures(call, workload, &tenant, &name, &failures);
        wait_for_completion(call, &mut state, &tenant, &policy_id, Operation::Update).await;
        if let Err(problem) = count_jobs(call, &mut state, &tenant, &policy_id, jobs_may_run).await
        {
            call.warn(problem);
        }
        Ok((state, PolicyPlan::default()))
    }

    async fn delete(
        &self,
        call: &mut Call,
        mut prior: S,
        _private: PolicyPlan,
    ) -> Result<(), Problem> {
        let Target { tenant, policy_id } = target(&mut prior)?;
        let decision = destroy_decision(call, &mut prior).await?;
        let Some(policy_id) = policy_id else {
            return Ok(());
        };
        match decision {
            DestroyDecision::Nothing => Ok(()),
            DestroyDecision::Forget(n) => {
                call.warn(notice(n));
                Ok(())
            }
            DestroyDecision::Refuse(n) => Err(error(n)),
            DestroyDecision::Delete {
                deactivate_first,
                notice: n,
            } => {
                if deactivate_first {
                    call.ctx
                        .graph
                        .deactivate_policy(&tenant, &policy_id)
                        .await?;
                }
                let timeout = timeout_of(
                    Operation::Delete,
                    configured_timeout(prior.common().timeouts, Operation::Delete).as_deref(),
                );
                wait_until_inactive(call, &tenant, &policy_id, timeout).await?;
                match call.ctx.graph.delete_policy(&tenant, &policy_id).await {
                    Err(e) if !e.is_not_found() => return Err(e.into()),
                    _ => {}
                }
                call.warn(notice(n));
                Ok(())
            }
        }
    }

    async fn import(
        &self,
        call: &mut Call,
        tenant: String,
        policy_id: String,
    ) -> Result<(S, PolicyPlan), Problem> {
        let Some(policy) = call.ctx.graph.get_policy(&tenant, &policy_id).await? else {
            return Err(Problem::error(
                "Cannot import protection policy",
                format!("Policy {policy_id} was not found in tenant {tenant}."),
            ));
        };
        if let Some(other) = policy.workload().filter(|w| *w != S::WORKLOAD) {
            return Err(Problem::error(
                "Cannot import protection policy",
                format!(
                    "Policy {policy_id} in tenant {tenant} is a {} policy: import it as {}.",
                    other.name(),
                    other.policy_resource_type()
                ),
            ));
        }
        let mut state = S::default();
        apply_policy(&mut state, &tenant, &policy, &[]);
        *state.common().allow_destroy_while_active = Value::Value(false);
        Ok((
            state,
            PolicyPlan {
                write: false,
                importing: true,
            },
        ))
    }
}

/// Decision 13: an authoritative set is declared to the per-process registry, which reports a
/// units resource on the same policy (whichever of the two is planned or applied second fails).
fn claim_authoritative<S: PolicyState>(
    config: &S,
    tenant: &str,
    policy_id: &str,
) -> Result<(), Problem> {
    if !config.has_inline_ids() && config.ids_file().is_null() {
        return Ok(());
    }
    crate::lifecycle::protection_units::claims::authoritative(S::WORKLOAD, tenant, policy_id)
        .map_err(error)
}

fn n_detail(what: &str) -> String {
    format!("The create of {what} waits: this app's serviceApp is pendingInactive in the tenant.")
}

async fn destroy_decision<S: PolicyState>(
    call: &Call,
    state: &mut S,
) -> Result<DestroyDecision, Problem> {
    let Target { tenant, policy_id } = target(state)?;
    let name = name_of(state);
    let c = state.common();
    let facts = DestroyFacts {
        deferred: policy_id.is_none(),
        enabled: c.is_enabled.as_option().unwrap_or(false)
            || c.active.as_option().unwrap_or(false)
                && c.status.as_ref_option().is_some_and(|s| s != "inactive"),
        allow_destroy_while_active: c.allow_destroy_while_active.as_option().unwrap_or(false),
        controls_tenant: policy_id.is_none()
            || !matches!(gate(call, &tenant).await?, Gate::Deferred(_)),
    };
    Ok(activation::decide_destroy(facts, &tenant, &name))
}

/// Polls until the policy is `inactive` (Graph deletes only inactive policies), bounded by
/// `timeouts.delete`; Ctrl-C ends the wait (the policy stays in state).
async fn wait_until_inactive(
    call: &Call,
    tenant: &str,
    policy_id: &str,
    timeout: std::time::Duration,
) -> Result<(), Problem> {
    stop::listen();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        let Some(policy) = call.ctx.graph.get_policy(tenant, policy_id).await? else {
            return Ok(());
        };
        if policy.is_enabled != Some(true)
            && policy
                .status
                .as_ref()
                .is_none_or(|s| s.as_str() == "inactive")
        {
            return Ok(());
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Err(Problem::error(
                "Protection policy still deactivating",
                format!(
                    "Policy {policy_id} in tenant {tenant} did not become inactive within {} (timeouts.delete); it was deactivated and Microsoft 365 is still processing. Run terraform destroy again later, or raise timeouts.delete.",
                    waiting::human(timeout)
                ),
            ));
        }
        if !stop::sleep(pause).await {
            return Err(Problem::error(
                "Destroy interrupted",
                format!(
                    "Terraform was interrupted while policy {policy_id} in tenant {tenant} was becoming inactive; it was not deleted. Run terraform destroy again."
                ),
            ));
        }
        pause = next_pause(pause);
    }
}

/// Decision 9's computed `pending_job_count`: the policy's running bulk addition jobs. Graph is
/// asked only when one may run (a write started one, or the last count is not a known 0: an
/// interrupted write or an import leaves it null); otherwise the count is 0.
async fn count_jobs<S: PolicyState>(
    call: &Call,
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    may_run: bool,
) -> Result<(), Problem> {
    // The refresh's lookup serves the plan after it (running_jobs shares it).
    let count = running_jobs(call, S::WORKLOAD, tenant, policy_id, may_run)
        .await?
        .len();
    *state.common().pending_job_count = Value::Value(count as i64);
    Ok(())
}

/// Decision 3: two `active = true` policies of one workload and tenant in one configuration are
/// an error. The first one planned in this process holds the tenant's slot (by display name).
fn claim_active<S: PolicyState>(call: &Call, planned: &mut S) -> Result<(), Problem> {
    let c = planned.common();
    let (Value::Value(tenant), Value::Value(true), Value::Value(name)) =
        (&*c.tenant_id, &*c.active, &*c.display_name)
    else {
        return Ok(());
    };
    let workload = S::WORKLOAD;
    let key = format!(
        "active-policy/{}/{}",
        tenant.to_ascii_lowercase(),
        workload.name()
    );
    (call.ctx.memo.claim(key, name.clone())).map_err(|first| {
        error(activation::two_active_in_configuration(
            workload, tenant, &first, name,
        ))
    })
}

/// Decision 3: another active policy of the workload in the tenant (made outside this
/// configuration) holds the create back; the notice names it and suggests import.
async fn other_active<S: PolicyState>(
    call: &Call,
    tenant: &str,
    own_id: Option<&str>,
) -> Result<Option<Notice>, Problem> {
    let policies = call.ctx.graph.list_policies(tenant, S::WORKLOAD).await?;
    let other = activation::other_active_policy(&policies, S::WORKLOAD, own_id);
    Ok(other.map(|other| activation::other_active_policy_notice(S::WORKLOAD, tenant, other)))
}
