//! `m365backup_{sharepoint,onedrive,exchange}_protection_units`: additive membership of one
//! policy, for teams that split its units (like `azuread_group_member`). One generic
//! implementation; decisions live in [`crate::lifecycle::protection_units`] (ownership, names,
//! claims) and [`crate::lifecycle::protection_policy`] (managed set, chunks, gating), Graph
//! reads are shared with the policy resource (one listing per policy per process, decision 9).

use std::collections::BTreeSet;
use std::marker::PhantomData;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::value::Value;

use super::protection_policy::{
    error, gate, notice, observe, observe_shared, report_failures, send_units, stop,
};
use crate::framework::attributes::StringSet;
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::api::protection::{BulkAdditionJob, ProtectionUnit, Workload};
use crate::lifecycle::Problem;
use crate::lifecycle::protection_policy::gating::{WriteDecision, WriteSubject, decide_write};
use crate::lifecycle::protection_policy::ids::{
    MAX_INLINE_IDS, id_key, slow_inline_set_notice, validate_inline_ids,
};
use crate::lifecycle::protection_policy::notices::{
    ItemFailure, bulk_job_failures, count_units, unit_error_failures,
};
use crate::lifecycle::protection_policy::references::{parse_policy_reference, resolve_tenant};
use crate::lifecycle::protection_policy::unit_set::{
    DEFAULT_BULK_THRESHOLD, ManagedSet, covered_by_rule_notice, removal_notice, unit_requests,
};
use crate::lifecycle::protection_units::{
    Ownership, UnitsInput, UnitsPlan, claims, guarded_notice, kept_notice, left_unmatched_notice,
    name_key, observed_ids, observed_names, own_units, pending_names, plan_units, sign_in_needed,
    unmatched_notice,
};

/// Access to one units kind's state: the shared rows and its two sets.
pub trait UnitsState: Attributes {
    const WORKLOAD: Workload;
    const DESCRIPTION: &'static str;
    fn common(&mut self) -> UnitsCommon<'_>;
    fn ids(&self) -> Option<Vec<String>>;
    fn set_ids(&mut self, ids: Option<Vec<String>>);
    fn names(&self) -> Option<Vec<String>>;
    fn set_names(&mut self, names: Option<Vec<String>>);
}

/// Mutable views of the shared attributes.
pub struct UnitsCommon<'a> {
    pub tenant_id: &'a mut Value<String>,
    pub policy_id: &'a mut Value<String>,
    pub id: &'a mut Value<String>,
    pub deferred_reason: &'a mut Value<String>,
    pub pending_job_count: &'a mut Value<i64>,
    pub protected_unit_count: &'a mut Value<i64>,
    pub pending_unit_count: &'a mut Value<i64>,
    pub failed_unit_count: &'a mut Value<i64>,
    pub unit_count: &'a mut Value<i64>,
}

macro_rules! units_state {
    ($name:ident, $workload:expr, $ids:ident, $ids_doc:literal, $names:ident, $names_doc:literal, $description:literal) => {
        crate::attributes! {
            pub struct $name {
                tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the tenant in `policy_id` (`<tenantId>/<policyId>`, which it must match), else the provider's `tenant_id`.";
                policy_id: String => Required, "The policy: its `id` (`<tenantId>/<policyId>`) or `policy_id`. Null while the policy's create is deferred: this resource then waits too. Changing it from one policy to another replaces the resource.", replace = true;
                $ids: StringSet => Optional, $ids_doc;
                $names: StringSet => Optional, $names_doc;
                id: String => Computed, "`<tenantId>/<policyId>/<unique suffix>`.", stable = true;
                deferred_reason: String => Computed, "Why the additions wait (the policy is deferred, or the tenant does not allow protection changes yet), or null.";
                pending_job_count: i64 => Computed, "Bulk addition jobs of this resource Graph is still running.";
                protected_unit_count: i64 => Computed, "Units of this resource that are `protected`.";
                pending_unit_count: i64 => Computed, "Units of this resource with a change in progress (any `…Requested` status).";
                failed_unit_count: i64 => Computed, "Units of this resource that carry an error.";
                unit_count: i64 => Computed, "Units of this resource in the policy.";
            }
        }

        impl UnitsState for $name {
            const WORKLOAD: Workload = $workload;
            const DESCRIPTION: &'static str = $description;

            fn common(&mut self) -> UnitsCommon<'_> {
                UnitsCommon {
                    tenant_id: &mut self.tenant_id,
                    policy_id: &mut self.policy_id,
                    id: &mut self.id,
                    deferred_reason: &mut self.deferred_reason,
                    pending_job_count: &mut self.pending_job_count,
                    protected_unit_count: &mut self.protected_unit_count,
                    pending_unit_count: &mut self.pending_unit_count,
                    failed_unit_count: &mut self.failed_unit_count,
                    unit_count: &mut self.unit_count,
                }
            }

            fn ids(&self) -> Option<Vec<String>> {
                self.$ids.as_ref_option().map(StringSet::texts)
            }

            fn set_ids(&mut self, ids: Option<Vec<String>>) {
                self.$ids = ids.map_or(Value::Null, |ids| Value::Value(StringSet::from_texts(ids)));
            }

            fn names(&self) -> Option<Vec<String>> {
                self.$names.as_ref_option().map(StringSet::texts)
            }

            fn set_names(&mut self, names: Option<Vec<String>>) {
                self.$names =
                    names.map_or(Value::Null, |names| Value::Value(StringSet::from_texts(names)));
            }
        }
    };
}

units_state!(
    SharePointUnitsState,
    Workload::SharePoint,
    site_ids,
    "SharePoint site ids (`host[/path],guid,guid` or a GUID) this resource adds to the policy. Additive: other units of the policy are left alone.",
    site_web_urls,
    "Site urls this resource adds to the policy, through bulk addition jobs. Needs a delegated sign-in when urls are added (Graph shows which unit a url became only to a delegated token); refresh runs app-only.",
    "Additive membership of a SharePoint protection policy: the sites this resource adds, and only those, are removed again by it. Several of these resources can share one policy."
);
units_state!(
    OneDriveUnitsState,
    Workload::OneDrive,
    user_ids,
    "Entra object ids of OneDrive owners this resource adds to the policy. Additive: other units of the policy are left alone.",
    user_emails,
    "Email addresses of OneDrive owners this resource adds to the policy, through bulk addition jobs. Needs a delegated sign-in when emails are added (Graph shows which unit an email became only to a delegated token); refresh runs app-only.",
    "Additive membership of a OneDrive for Business protection policy: the OneDrive accounts this resource adds, and only those, are removed again by it. Several of these resources can share one policy."
);
units_state!(
    ExchangeUnitsState,
    Workload::Exchange,
    mailbox_ids,
    "Entra object ids of user or shared mailboxes this resource adds to the policy. Additive: other units of the policy are left alone.",
    mailbox_emails,
    "Email addresses of mailboxes this resource adds to the policy, through bulk addition jobs. Needs a delegated sign-in when emails are added (Graph shows which unit an email became only to a delegated token); refresh runs app-only.",
    "Additive membership of an Exchange protection policy: the mailboxes this resource adds, and only those, are removed again by it. Several of these resources can share one policy."
);

/// Private state: the compact ownership map, and what the plan decided.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct UnitsPrivate {
    #[serde(default, rename = "o", skip_serializing_if = "Ownership::is_empty")]
    pub own: Ownership,
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub write: bool,
    /// Set by the destroy plan (Terraform ≥ 1.3): ids other units resources still list.
    #[serde(default, rename = "k", skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
}

/// One of the three units resources.
pub struct ProtectionUnitsResource<S>(PhantomData<S>);

pub type SharePointUnits = ProtectionUnitsResource<SharePointUnitsState>;
pub type OneDriveUnits = ProtectionUnitsResource<OneDriveUnitsState>;
pub type ExchangeUnits = ProtectionUnitsResource<ExchangeUnitsState>;

impl<S> Default for ProtectionUnitsResource<S> {
    fn default() -> Self {
        ProtectionUnitsResource(PhantomData)
    }
}

/// Where the resource points: its tenant and, unless deferred, the raw policy id.
struct Target {
    tenant: String,
    policy_id: Option<String>,
}

/// The tenant comes from `policy_id` when it is `<tenantId>/<policyId>` (it must then agree with
/// a configured `tenant_id`), else from `tenant_id`, else the provider's. At plan `configured`
/// is the configuration's `tenant_id` (the adapter has already filled the planned one with the
/// provider's default); elsewhere it is the state's, which plan resolved.
fn target<S: UnitsState>(
    call: &Call,
    state: &mut S,
    configured: Option<String>,
) -> Result<Target, Problem> {
    let c = state.common();
    let reference = match &*c.policy_id {
        Value::Value(text) => Some(parse_policy_reference(text, "policy_id").map_err(error)?),
        _ => None,
    };
    let default = call.ctx.default_tenant.clone().unwrap_or_default();
    let tenant = match &reference {
        Some(r) => resolve_tenant(r, configured.as_deref(), &default).map_err(error)?,
        None => configured.unwrap_or(default),
    };
    let tenant = call.ctx.tenant_for(Some(&tenant))?;
    *c.tenant_id = Value::Value(tenant.clone());
    Ok(Target {
        tenant,
        policy_id: reference.map(|r| r.policy_id),
    })
}

/// The state's own `tenant_id`, when known.
fn tenant_of<S: UnitsState>(state: &mut S) -> Option<String> {
    state.common().tenant_id.as_ref_option().cloned()
}

/// The unit set the resource lists (null sets are empty).
fn configured<S: UnitsState>(state: &S) -> (Vec<String>, Vec<String>) {
    (
        state.ids().unwrap_or_default(),
        state.names().unwrap_or_default(),
    )
}

/// The claimant key of the per-process registry: the resource's id, else a plan-local one.
fn claimant<S: UnitsState>(state: &mut S) -> String {
    state
        .common()
        .id
        .as_ref_option()
        .cloned()
        .unwrap_or_else(|| format!("planned-{}", uuid::Uuid::new_v4()))
}

/// The suffix of the resource's id, carried in its bulk jobs' names so that its own jobs can be
/// told apart (`pending_job_count`).
fn job_prefix<S: UnitsState>(state: &mut S) -> Option<String> {
    let id = state.common().id.as_ref_option()?.clone();
    let suffix = id.rsplit('/').next()?.to_string();
    Some(format!("terraform-units-{suffix}-"))
}

fn record_deferred<S: UnitsState>(state: &mut S, reason: &str) {
    let c = state.common();
    *c.id = Value::Null;
    *c.deferred_reason = Value::Value(reason.to_string());
    for v in [
        c.pending_job_count,
        c.protected_unit_count,
        c.pending_unit_count,
        c.failed_unit_count,
        c.unit_count,
    ] {
        *v = Value::Value(0);
    }
}

fn policy_deferred_reason(workload: Workload, tenant: &str) -> String {
    format!(
        "Tenant {tenant}: waits for its {} to be created (the policy's create is deferred, so \
         policy_id is null). The first apply after the policy exists adds the units.",
        workload.policy_resource_type()
    )
}

/// Units writes to one policy run one at a time within a process, so that a destroy and
/// another units resource's update of the same apply see each other's claims and writes
/// (decision 13: a shared id stays while another resource lists it).
fn policy_lock(tenant: &str, policy_id: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks
        .entry(format!(
            "{}/{}",
            tenant.to_ascii_lowercase(),
            policy_id.to_ascii_lowercase()
        ))
        .or_default()
        .clone()
}

/// Running bulk jobs of a policy, read once per policy per process.
async fn running_jobs(
    call: &Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
) -> Result<Vec<BulkAdditionJob>, Problem> {
    let key = format!(
        "jobs/{}/{}",
        tenant.to_ascii_lowercase(),
        policy_id.to_ascii_lowercase()
    );
    if let Some(jobs) = call.ctx.memo.get::<Vec<BulkAdditionJob>>(&key) {
        return Ok(jobs);
    }
    let jobs = call
        .ctx
        .graph
        .running_bulk_jobs(tenant, workload, policy_id)
        .await?;
    call.ctx.memo.put(key, jobs.clone());
    Ok(jobs)
}

fn forget_jobs(call: &Call, tenant: &str, policy_id: &str) {
    call.ctx.memo.forget(&format!(
        "jobs/{}/{}",
        tenant.to_ascii_lowercase(),
        policy_id.to_ascii_lowercase()
    ));
}

/// Matches urls / emails not matched yet, from the listing when it came with names (a
/// delegated default token), else from a delegated listing when a delegated credential covers
/// the tenant. A failure is a warning: the names stay pending.
async fn resolve_names(
    call: &mut Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    names: &[String],
    own: &mut Ownership,
    units: &[ProtectionUnit],
) {
    if own.unresolved(names).is_empty() {
        return;
    }
    own.resolve_from(names, units);
    if own.unresolved(names).is_empty()
        || units.iter().any(|u| u.resource_name().is_some())
        || !call.ctx.auth.has_delegated_for(tenant)
    {
        return;
    }
    match call
        .ctx
        .graph
        .list_policy_units_delegated(tenant, workload, policy_id)
        .await
    {
        Ok(listed) => {
            own.resolve_from(names, &listed);
        }
        Err(e) => call.warn(Problem::from(e)),
    }
}

/// Copies the counts of this resource's units into the state.
fn apply_counts<S: UnitsState>(
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    units: &[ProtectionUnit],
    listed: &[String],
    jobs: &[BulkAdditionJob],
) {
    let prefix = job_prefix(state);
    let mine = own_units(units, listed);
    let counts = count_units(&mine);
    let pending_jobs = jobs
        .iter()
        .filter(|j| j.is_running())
        .filter(|j| {
            prefix
                .as_deref()
                .is_some_and(|p| j.display_name.as_deref().is_some_and(|n| n.starts_with(p)))
        })
        .count();
    let c = state.common();
    *c.tenant_id = Value::Value(tenant.to_string());
    *c.deferred_reason = Value::Null;
    if c.id.is_null() || matches!(*c.id, Value::Unknown) {
        *c.id = Value::Value(format!("{tenant}/{policy_id}/{}", uuid::Uuid::new_v4()));
    }
    *c.pending_job_count = Value::Value(pending_jobs as i64);
    *c.protected_unit_count = Value::Value(counts.protected as i64);
    *c.pending_unit_count = Value::Value(counts.pending as i64);
    *c.failed_unit_count = Value::Value(counts.failed as i64);
    *c.unit_count = Value::Value(counts.total as i64);
}

/// The ids this resource listed before: its ids and its matched names.
fn previous<S: UnitsState>(prior: &S, own: &Ownership) -> Vec<String> {
    let (ids, names) = configured(prior);
    own.listed_ids(&ids, &names)
}

/// What the configuration asks for against the policy as Graph shows it.
fn decide<S: UnitsState>(
    config: &S,
    previous: &[String],
    own: &Ownership,
    units: &[ProtectionUnit],
    jobs: &[BulkAdditionJob],
    elsewhere: &BTreeSet<String>,
) -> UnitsPlan {
    let (ids, names) = configured(config);
    let pending = pending_names(jobs);
    let managed = ManagedSet::from_units(units).with_running_jobs(jobs);
    plan_units(
        &UnitsInput {
            ids: &ids,
            names: &names,
            previous,
            listed_elsewhere: elsewhere,
            pending_names: &pending,
        },
        own,
        &managed,
    )
}

/// The warnings of a plan: removals (with decision 12's wording), rule-covered ids, kept ids.
fn plan_warnings(
    call: &mut Call,
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    plan: &UnitsPlan,
    units: &[ProtectionUnit],
) {
    let managed = ManagedSet::from_units(units).len();
    let removals = plan.diff.removals.len();
    if let Some(n) = removal_notice(workload, tenant, policy_id, removals, managed) {
        call.warn(notice(n));
    }
    if let Some(n) = covered_by_rule_notice(workload, tenant, policy_id, &plan.diff.covered_by_rule)
    {
        call.warn(notice(n));
    }
    if let Some(n) = kept_notice(workload, tenant, policy_id, &plan.kept) {
        call.warn(notice(n));
    }
}

/// Fails the plan when urls / emails must go through a bulk job without a delegated credential.
fn require_delegated(
    call: &Call,
    workload: Workload,
    tenant: &str,
    names: &[String],
) -> Result<(), Problem> {
    if names.is_empty() || call.ctx.auth.has_delegated_for(tenant) {
        return Ok(());
    }
    Err(error(sign_in_needed(
        workload,
        tenant,
        call.ctx.client_id.as_deref(),
        names,
    )))
}

/// Decision 13 inside the process: declares the listed ids; an authoritative set on the same
/// policy is an error.
fn claim<S: UnitsState>(
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    listed: &[String],
) -> Result<(), Problem> {
    let me = claimant(state);
    claims::units(S::WORKLOAD, tenant, policy_id, &me, listed).map_err(error)
}

/// Sends the plan: id additions and removals like the policy's (chunks or a bulk job), then
/// one bulk job per 50,000 urls / emails; waits briefly for those jobs and matches their names.
async fn write_units<S: UnitsState>(
    call: &mut Call,
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    plan: &UnitsPlan,
) -> Result<Ownership, Problem> {
    let workload = S::WORKLOAD;
    let mut failures: Vec<ItemFailure> = Vec::new();
    let mut own = plan.ownership.clone();
    stop::listen();
    for (index, request) in unit_requests(&plan.diff, DEFAULT_BULK_THRESHOLD)
        .into_iter()
        .enumerate()
    {
        if index > 0 && stop::requested() {
            // Decision 17: the request in flight finished; the next plan sends the rest.
            return Err(Problem::error(
                "Units apply interrupted",
                format!(
                    "Terraform was interrupted while {} changed policy {policy_id} in tenant {tenant}; the requests sent so far stay applied. Run terraform apply again to send the rest.",
                    workload.units_resource_type()
                ),
            ));
        }
        send_units(call, workload, tenant, policy_id, request, &mut failures).await?;
    }
    if !plan.name_additions.is_empty() && stop::requested() {
        return Err(Problem::error(
            "Units apply interrupted",
            format!(
                "Terraform was interrupted before the bulk addition job for {} of policy {policy_id} in tenant {tenant} was sent. Run terraform apply again.",
                workload.names_attribute()
            ),
        ));
    }
    let prefix = job_prefix(state).unwrap_or_else(|| "terraform-units-".into());
    let mut jobs = Vec::new();
    for chunk in plan
        .name_additions
        .chunks(crate::graph::api::protection::MAX_IDS_PER_BULK_JOB)
    {
        let name = format!("{prefix}{}", uuid::Uuid::new_v4());
        let body = BulkAdditionJob::names_body(workload, &name, chunk.to_vec());
        if let Some(job) = crate::resources::creating_post::create_bulk_job(
            &call.ctx.graph,
            tenant,
            workload,
            policy_id,
            &body,
        )
        .await?
        {
            jobs.push(job.id);
        }
    }
    forget_jobs(call, tenant, policy_id);
    if !jobs.is_empty() {
        // Graph matches names asynchronously: a short wait covers the usual case; a longer job
        // is matched by a later refresh with a delegated sign-in.
        let mut pause = std::time::Duration::from_millis(200);
        for _ in 0..6 {
            let mut running = false;
            let mut job_failures = Vec::new();
            for job_id in &jobs {
                match call
                    .ctx
                    .graph
                    .get_bulk_job(tenant, workload, policy_id, job_id)
                    .await?
                {
                    Some(job) if job.is_running() => running = true,
                    Some(job) => job_failures.extend(bulk_job_failures(&job)),
                    None => {}
                }
            }
            if !running {
                failures.extend(job_failures);
                break;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    let (_, names) = configured(state);
    if !plan.name_additions.is_empty() || !own.unresolved(&names).is_empty() {
        if let Ok(listed) = call
            .ctx
            .graph
            .list_policy_units_delegated(tenant, workload, policy_id)
            .await
        {
            own.resolve_from(&names, &listed);
        }
        let unresolved: Vec<String> = own.unresolved(&names).into_iter().cloned().collect();
        if let Some(n) = unmatched_notice(workload, tenant, policy_id, &unresolved) {
            call.warn(notice(n));
        }
    }
    report_failures(call, workload, tenant, policy_id, &failures);
    Ok(own)
}

/// After writes: the counts from a fresh listing (best effort; the next refresh repeats it).
async fn refresh<S: UnitsState>(
    call: &mut Call,
    state: &mut S,
    tenant: &str,
    policy_id: &str,
    own: &Ownership,
) {
    let listing = observe(call, S::WORKLOAD, tenant, policy_id).await;
    let jobs = running_jobs(call, S::WORKLOAD, tenant, policy_id)
        .await
        .unwrap_or_default();
    let (ids, names) = configured(state);
    let listed = own.listed_ids(&ids, &names);
    match listing {
        Ok(Some(found)) => apply_counts(state, tenant, policy_id, &found.1, &listed, &jobs),
        _ => apply_counts(state, tenant, policy_id, &[], &listed, &jobs),
    }
}

/// Adds what the configuration lists (create, a deferred create, or an update).
async fn apply_write<S: UnitsState>(
    call: &mut Call,
    mut state: S,
    prior: Option<&S>,
    mut own: Ownership,
    kept_at_plan: &[String],
) -> Result<(S, UnitsPrivate), WriteError<S>> {
    let workload = S::WORKLOAD;
    let configured_tenant = tenant_of(&mut state);
    let Target { tenant, policy_id } = target(call, &mut state, configured_tenant)?;
    let Some(policy_id) = policy_id else {
        record_deferred(&mut state, &policy_deferred_reason(workload, &tenant));
        return Ok((
            state,
            UnitsPrivate {
                own,
                ..UnitsPrivate::default()
            },
        ));
    };
    let subject = match prior {
        Some(p) if !p.clone().common().id.is_null() => WriteSubject::ExistingObject,
        Some(_) => WriteSubject::DeferredObject,
        None => WriteSubject::NewObject,
    };
    let what = format!(
        "the {} of policy {policy_id}",
        workload.units_resource_type()
    );
    match decide_write(&gate(call, &tenant).await?, subject, &what) {
        WriteDecision::Proceed(_) => {}
        WriteDecision::Defer { reason, notice: n } => {
            call.warn(notice(n));
            if subject == WriteSubject::ExistingObject {
                if let Some(p) = prior {
                    state.copy_computed_from(p);
                }
            } else {
                record_deferred(&mut state, &reason);
            }
            return Ok((
                state,
                UnitsPrivate {
                    own,
                    ..UnitsPrivate::default()
                },
            ));
        }
        WriteDecision::WarnOnly(n) => {
            call.warn(notice(n));
            if let Some(p) = prior {
                state.copy_computed_from(p);
            }
            return Ok((
                state,
                UnitsPrivate {
                    own,
                    ..UnitsPrivate::default()
                },
            ));
        }
    }
    let (ids, names) = configured(&state);
    let listed = own.listed_ids(&ids, &names);
    let lock = policy_lock(&tenant, &policy_id);
    let _serialized = lock.lock().await;
    // Decision 13 at apply, before any write (the policy's id was unknown at plan).
    if state.common().id.is_null() || matches!(*state.common().id, Value::Unknown) {
        *state.common().id = Value::Value(format!("{tenant}/{policy_id}/{}", uuid::Uuid::new_v4()));
    }
    claim(&mut state, &tenant, &policy_id, &listed)?;
    let Some(found) = observe_shared(call, workload, &tenant, &policy_id).await? else {
        return Err(WriteError::Failed(Problem::error(
            "Protection policy not found",
            format!(
                "Policy {policy_id} does not exist in tenant {tenant}, so {} cannot add units to it. Check policy_id, or run terraform apply again once the policy exists.",
                workload.units_resource_type()
            ),
        )));
    };
    let units = &found.1;
    resolve_names(call, workload, &tenant, &policy_id, &names, &mut own, units).await;
    let jobs = running_jobs(call, workload, &tenant, &policy_id).await?;
    let before = prior.map(|p| previous(p, &own)).unwrap_or_default();
    let me = claimant(&mut state);
    let mut elsewhere = claims::listed_elsewhere(&tenant, &policy_id, &me);
    // What the plan saw other units resources list (they are not applied in this process).
    elsewhere.extend(kept_at_plan.iter().map(|id| id_key(id)));
    let plan = decide(&state, &before, &own, units, &jobs, &elsewhere);
    tracing::debug!(tenant, policy = %policy_id, me, elsewhere = ?elsewhere, kept = ?plan.kept, removals = plan.diff.removals.len(), additions = plan.diff.additions.len(), "units resource apply");
    if let Some(n) = kept_notice(workload, &tenant, &policy_id, &plan.kept) {
        call.warn(notice(n));
    }
    let own = match write_units(call, &mut state, &tenant, &policy_id, &plan).await {
        Ok(own) => own,
        Err(problem) => {
            refresh(call, &mut state, &tenant, &policy_id, &plan.ownership).await;
            return Err(WriteError::Partial(state, problem));
        }
    };
    refresh(call, &mut state, &tenant, &policy_id, &own).await;
    Ok((
        state,
        UnitsPrivate {
            own,
            ..UnitsPrivate::default()
        },
    ))
}

#[async_trait]
impl<S: UnitsState> ManagedResource for ProtectionUnitsResource<S> {
    type State = S;
    type Private = UnitsPrivate;

    const DESCRIPTION: &'static str = S::DESCRIPTION;
    const IMPORT: ImportId = ImportId {
        key: "policyId",
        key_meaning: "a protection policy ID",
        bare_key: true,
        note: "",
        // Not importable: `import` below refuses.
        key_attribute: "policy_id",
        id_has_key: true,
    };

    fn validate(config: &S) -> Vec<Problem> {
        let mut problems: Vec<Problem> = Vec::new();
        let too_large = |attribute: &'static str, count: usize| {
            Problem::error(
                format!("{attribute} is too large"),
                format!(
                    "{attribute} lists {count} entries; a units resource takes at most {MAX_INLINE_IDS} because Terraform's plan request would exceed the provider's 4 MiB message limit. Split them across several {} resources, or list them in the policy's {} (a file) instead.",
                    S::WORKLOAD.units_resource_type(),
                    S::WORKLOAD.ids_file_attribute()
                ),
            )
            .at(attribute)
        };
        if let Some(ids) = config.ids() {
            if ids.len() > MAX_INLINE_IDS {
                problems.push(too_large(S::WORKLOAD.ids_attribute(), ids.len()));
            }
            // The policy's checks, minus its size advice (which names the policy's file).
            problems.extend(
                validate_inline_ids(S::WORKLOAD, &ids)
                    .into_iter()
                    .filter(|n| !n.summary.ends_with("is too large for an inline set"))
                    .map(error),
            );
            let instead = format!(
                "Split the ids over several {} resources, or list the policy's units in its {}.",
                S::WORKLOAD.units_resource_type(),
                S::WORKLOAD.ids_file_attribute()
            );
            problems.extend(
                slow_inline_set_notice(S::WORKLOAD.ids_attribute(), ids.len(), &instead)
                    .map(notice),
            );
        }
        if let Some(names) = config.names() {
            let attribute = S::WORKLOAD.names_attribute();
            if names.len() > MAX_INLINE_IDS {
                problems.push(too_large(attribute, names.len()));
            }
            let bad: Vec<String> = names
                .iter()
                .filter(|n| match S::WORKLOAD {
                    Workload::SharePoint => {
                        !(n.starts_with("https://") && n.len() > "https://".len())
                    }
                    _ => {
                        let parts: Vec<&str> = n.split('@').collect();
                        parts.len() != 2 || parts.iter().any(|p| p.trim().is_empty())
                    }
                })
                .map(|n| format!("{n:?}"))
                .collect();
            if !bad.is_empty() {
                let expected = if S::WORKLOAD == Workload::SharePoint {
                    "site urls starting with https://"
                } else {
                    "email addresses"
                };
                problems.push(
                    Problem::error(
                        format!("Invalid entries in {attribute}"),
                        format!(
                            "{attribute} takes {expected}; these are not: {}.",
                            bad.join(", ")
                        ),
                    )
                    .at(attribute),
                );
            }
            let mut seen = BTreeSet::new();
            let dups: Vec<&String> = names.iter().filter(|n| !seen.insert(name_key(n))).collect();
            if !dups.is_empty() {
                problems.push(
                    Problem::error(
                        format!("Duplicate entries in {attribute}"),
                        format!(
                            "{attribute} compares case-insensitively{}; list each once: {}.",
                            if S::WORKLOAD == Workload::SharePoint {
                                " and ignores a trailing /"
                            } else {
                                ""
                            },
                            dups.iter()
                                .map(|d| format!("{d:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .at(attribute),
                );
            }
        }
        problems
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: S,
        mut private: UnitsPrivate,
    ) -> Result<Option<(S, UnitsPrivate)>, Problem> {
        let workload = S::WORKLOAD;
        let configured_tenant = tenant_of(&mut state);
        let Target { tenant, policy_id } = target(call, &mut state, configured_tenant)?;
        let Some(policy_id) = policy_id.filter(|_| !state.common().id.is_null()) else {
            return Ok(Some((state, private))); // deferred: nothing in Graph to read
        };
        let (ids, names) = configured(&state);
        // Declared before any Graph call, so that the destroy plan of another units resource on
        // this policy, made after its own read, most likely sees it (decision 13).
        let early = private.own.listed_ids(&ids, &names);
        let _ = claim(&mut state, &tenant, &policy_id, &early);
        tracing::debug!(tenant, policy = %policy_id, ids = ?early, "units resource read: claims declared");
        let Some(found) = observe_shared(call, workload, &tenant, &policy_id).await? else {
            return Ok(None);
        };
        let units = &found.1;
        let mut own = std::mem::take(&mut private.own);
        resolve_names(call, workload, &tenant, &policy_id, &names, &mut own, units).await;
        own.retain_configured(&ids, &names);
        let listed = own.listed_ids(&ids, &names);
        let _ = claim(&mut state, &tenant, &policy_id, &listed);
        let jobs = running_jobs(call, workload, &tenant, &policy_id).await?;
        let managed = ManagedSet::from_units(units).with_running_jobs(&jobs);
        if let Some(ids) = state.ids() {
            state.set_ids(Some(observed_ids(&ids, &managed)));
        }
        if let Some(names) = state.names() {
            // Graph was asked with a delegated token: a name neither matched nor in a running
            // job was not added (its job failed), so the next plan tries again (decision 7).
            let asked = units.iter().any(|u| u.resource_name().is_some())
                || call.ctx.auth.has_delegated_for(&tenant);
            let pending = pending_names(&jobs);
            let kept: Vec<String> = observed_names(&names, &own, &managed)
                .into_iter()
                .filter(|n| {
                    !asked
                        || own.resolved.contains_key(&name_key(n))
                        || pending.contains(&name_key(n))
                })
                .collect();
            state.set_names(Some(kept));
        }
        apply_counts(&mut state, &tenant, &policy_id, units, &listed, &jobs);
        let mine = own_units(units, &listed);
        let failures = unit_error_failures(workload, &mine);
        report_failures(call, workload, &tenant, &policy_id, &failures);
        private.own = own;
        Ok(Some((state, private)))
    }

    async fn plan_create(
        &self,
        call: &mut Call,
        mut planned: S,
        config: &S,
    ) -> Result<(S, UnitsPrivate), Problem> {
        let workload = S::WORKLOAD;
        let write = UnitsPrivate {
            write: true,
            ..UnitsPrivate::default()
        };
        let configured_tenant = tenant_of(&mut config.clone());
        if matches!(*planned.common().policy_id, Value::Unknown) {
            // The policy is created in this apply: its tenant is learnt then; checked again at
            // apply.
            *planned.common().tenant_id = match configured_tenant {
                Some(tenant) => {
                    require_delegated(call, workload, &tenant, &configured(&planned).1)?;
                    Value::Value(tenant)
                }
                None => Value::Unknown,
            };
            return Ok((planned, write));
        }
        let Target { tenant, policy_id } = target(call, &mut planned, configured_tenant)?;
        let Some(policy_id) = policy_id else {
            record_deferred(&mut planned, &policy_deferred_reason(workload, &tenant));
            return Ok((planned, write));
        };
        let (ids, names) = configured(&planned);
        claim(&mut planned, &tenant, &policy_id, &ids)?;
        require_delegated(call, workload, &tenant, &names)?;
        let what = format!(
            "the {} of policy {policy_id}",
            workload.units_resource_type()
        );
        match decide_write(&gate(call, &tenant).await?, WriteSubject::NewObject, &what) {
            WriteDecision::Proceed(n) => n.into_iter().for_each(|n| call.warn(notice(n))),
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
        private: UnitsPrivate,
    ) -> Result<(S, UnitsPrivate), Problem> {
        let workload = S::WORKLOAD;
        let own = private.own.clone();
        let nothing = UnitsPrivate {
            own: own.clone(),
            ..UnitsPrivate::default()
        };
        let write = UnitsPrivate {
            own: own.clone(),
            write: true,
            ..UnitsPrivate::default()
        };
        if matches!(*planned.common().policy_id, Value::Unknown) {
            if prior.clone().common().id.is_null() {
                planned.unknown_on_create(); // the deferred create goes ahead with the policy
            } else {
                planned.unknown_on_change();
            }
            *planned.common().tenant_id =
                tenant_of(&mut config.clone()).map_or(Value::Unknown, Value::Value);
            return Ok((planned, write));
        }
        let configured_tenant = tenant_of(&mut config.clone());
        let Target { tenant, policy_id } = target(call, &mut planned, configured_tenant)?;
        let Some(policy_id) = policy_id else {
            // Still waiting for the policy: a config change is recorded without a Graph call.
            return Ok((planned, nothing));
        };
        let (ids, names) = configured(config);
        let listed = own.listed_ids(&ids, &names);
        claim(&mut planned, &tenant, &policy_id, &listed)?;
        let what = format!(
            "the {} of policy {policy_id}",
            workload.units_resource_type()
        );
        if prior.clone().common().id.is_null() {
            // Deferred before (policy or tenant): propose the create once the tenant allows it.
            require_delegated(call, workload, &tenant, &names)?;
            return match decide_write(
                &gate(call, &tenant).await?,
                WriteSubject::DeferredObject,
                &what,
            ) {
                WriteDecision::Proceed(n) => {
                    n.into_iter().for_each(|n| call.warn(notice(n)));
                    planned.unknown_on_create();
                    Ok((planned, write))
                }
                WriteDecision::Defer { notice: n, .. } | WriteDecision::WarnOnly(n) => {
                    call.warn(notice(n));
                    Ok((planned, nothing))
                }
            };
        }
        let Some(found) = observe_shared(call, workload, &tenant, &policy_id).await? else {
            return Ok((planned, nothing));
        };
        let units = &found.1;
        let jobs = running_jobs(call, workload, &tenant, &policy_id).await?;
        let me = claimant(&mut planned);
        let elsewhere = claims::listed_elsewhere(&tenant, &policy_id, &me);
        let before = previous(prior, &own);
        let plan = decide(config, &before, &own, units, &jobs, &elsewhere);
        plan_warnings(call, workload, &tenant, &policy_id, &plan, units);
        // Ids another units resource added and is planned to destroy: this apply makes sure
        // they stay (decision 13), so the plan is an update even when nothing else changes.
        let leaving = claims::leaving_elsewhere(&tenant, &policy_id, &me);
        let guarded: Vec<String> = listed
            .iter()
            .filter(|id| leaving.contains(&id_key(id)))
            .cloned()
            .collect();
        if let Some(n) = guarded_notice(workload, &tenant, &policy_id, &guarded) {
            call.warn(notice(n));
        }
        tracing::debug!(tenant, policy = %policy_id, me, elsewhere = ?elsewhere, leaving = ?leaving, kept = ?plan.kept, removals = plan.diff.removals.len(), "units resource plan");
        let changed_config = configured(prior) != configured(config);
        if plan.is_empty() && !changed_config && guarded.is_empty() {
            return Ok((planned, nothing));
        }
        // Terraform plans again at apply, in a process that may not have read the other units
        // resources: what this plan keeps for them may be removed there. So every id this
        // resource would remove is announced; another units resource planned after it that
        // still lists one plans an update whose apply keeps it (or adds it back at once).
        let none = BTreeSet::new();
        let removed: Vec<String> = decide(config, &before, &own, units, &jobs, &none)
            .diff
            .removals
            .into_iter()
            .map(|r| r.resource_id)
            .collect();
        if !removed.is_empty() {
            claims::leaving(&tenant, &policy_id, &format!("{me}#removing"), &removed);
        }
        let write = UnitsPrivate {
            keep: plan.kept.clone(),
            ..write
        };
        if plan.is_empty() {
            // Only the recorded sets change (an id kept or a rule covers) or ids are guarded:
            // apply sends nothing it need not, and the counts of this resource's units follow.
            planned.unknown_on_change();
            return Ok((planned, write));
        }
        require_delegated(call, workload, &tenant, &plan.name_additions)?;
        match decide_write(
            &gate(call, &tenant).await?,
            WriteSubject::ExistingObject,
            &what,
        ) {
            WriteDecision::Proceed(n) => {
                n.into_iter().for_each(|n| call.warn(notice(n)));
                planned.unknown_on_change();
                Ok((planned, write))
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
        mut private: UnitsPrivate,
    ) -> Result<UnitsPrivate, Problem> {
        let mut prior = prior.clone();
        let configured_tenant = tenant_of(&mut prior);
        let Target { tenant, policy_id } = target(call, &mut prior, configured_tenant)?;
        if let (Some(policy_id), Value::Value(me)) = (policy_id, prior.common().id.clone()) {
            let (ids, names) = configured(&prior);
            let listed = private.own.listed_ids(&ids, &names);
            claims::leaving(&tenant, &policy_id, &me, &listed);
            private.keep = claims::listed_elsewhere(&tenant, &policy_id, &me)
                .into_iter()
                .collect();
            tracing::debug!(tenant, policy = %policy_id, keep = ?private.keep, "destroy plan of a units resource: ids other units resources list");
        }
        Ok(private)
    }

    async fn create(
        &self,
        call: &mut Call,
        state: S,
        _config: &S,
        private: UnitsPrivate,
    ) -> Result<(S, UnitsPrivate), WriteError<S>> {
        apply_write(call, state, None, private.own, &[]).await
    }

    async fn update(
        &self,
        call: &mut Call,
        prior: &S,
        mut state: S,
        _config: &S,
        private: UnitsPrivate,
    ) -> Result<(S, UnitsPrivate), WriteError<S>> {
        if !private.write {
            state.copy_computed_from(prior);
            let reason = prior.clone().common().deferred_reason.clone();
            *state.common().deferred_reason = reason;
            return Ok((
                state,
                UnitsPrivate {
                    own: private.own,
                    ..UnitsPrivate::default()
                },
            ));
        }
        apply_write(call, state, Some(prior), private.own, &private.keep).await
    }

    async fn delete(
        &self,
        call: &mut Call,
        mut prior: S,
        private: UnitsPrivate,
    ) -> Result<(), Problem> {
        let workload = S::WORKLOAD;
        let configured_tenant = tenant_of(&mut prior);
        let Target { tenant, policy_id } = target(call, &mut prior, configured_tenant)?;
        let (Some(policy_id), Value::Value(me)) = (policy_id, prior.common().id.clone()) else {
            return Ok(()); // deferred: nothing was added
        };
        let what = format!(
            "the {} of policy {policy_id}",
            workload.units_resource_type()
        );
        if let WriteDecision::Defer { reason, .. }
        | WriteDecision::WarnOnly(crate::lifecycle::protection_policy::Notice {
            detail: reason,
            ..
        }) = decide_write(
            &gate(call, &tenant).await?,
            WriteSubject::ExistingObject,
            &what,
        ) {
            call.warn(Problem::warning(
                format!("Units of policy {policy_id} left in place (tenant {tenant})"),
                format!(
                    "{reason} This destroy removed {what} from the Terraform state only: the units it added stay protected in tenant {tenant}."
                ),
            ));
            return Ok(());
        }
        let lock = policy_lock(&tenant, &policy_id);
        let _serialized = lock.lock().await;
        let Some(found) = observe(call, workload, &tenant, &policy_id).await? else {
            return Ok(()); // the policy is gone, and its units with it
        };
        let units = &found.1;
        let (ids, names) = configured(&prior);
        let mut own = private.own;
        resolve_names(call, workload, &tenant, &policy_id, &names, &mut own, units).await;
        let before = own.listed_ids(&ids, &names);
        let mut elsewhere = claims::listed_elsewhere(&tenant, &policy_id, &me);
        elsewhere.extend(private.keep.iter().map(|id| id_key(id)));
        tracing::debug!(tenant, policy = %policy_id, keep = ?elsewhere, "units resource destroy");
        let managed = ManagedSet::from_units(units);
        let none = BTreeSet::new();
        let plan = plan_units(
            &UnitsInput {
                ids: &[],
                names: &[],
                previous: &before,
                listed_elsewhere: &elsewhere,
                pending_names: &none,
            },
            &own,
            &managed,
        );
        let unresolved: Vec<String> = own.unresolved(&names).into_iter().cloned().collect();
        if let Some(n) = left_unmatched_notice(workload, &tenant, &policy_id, &unresolved) {
            call.warn(notice(n));
        }
        if let Some(n) = kept_notice(workload, &tenant, &policy_id, &plan.kept) {
            call.warn(notice(n));
        }
        let mut failures = Vec::new();
        for request in unit_requests(&plan.diff, DEFAULT_BULK_THRESHOLD) {
            send_units(call, workload, &tenant, &policy_id, request, &mut failures).await?;
        }
        report_failures(call, workload, &tenant, &policy_id, &failures);
        call.ctx.memo.forget(&format!(
            "policy/{}/{}",
            tenant.to_ascii_lowercase(),
            policy_id.to_ascii_lowercase()
        ));
        Ok(())
    }

    async fn import(
        &self,
        _call: &mut Call,
        tenant: String,
        policy_id: String,
    ) -> Result<(S, UnitsPrivate), Problem> {
        let workload = S::WORKLOAD;
        Err(Problem::error(
            format!("{} cannot be imported", workload.units_resource_type()),
            format!(
                "A units resource owns only the units it added, which Graph does not record, so importing one for policy {policy_id} in tenant {tenant} could not tell its units from the rest. Declare the resource in the configuration instead: its ids already in the policy are adopted (kept, never removed by it). To manage every manual unit of the policy, import the policy as {} and set {}.",
                workload.policy_resource_type(),
                workload.ids_attribute()
            ),
        ))
    }
}
