//! Protection policies of the three workloads and their units, on the generic verbs. Part 2
//! always speaks Graph v1.0 (binding decision 20), whatever `api_version` says for Part 1.

use serde_json::Value;

use super::protection::{
    BulkAdditionJob, PolicyCreate, PolicyPatch, PolicyPatchAnswer, ProtectionPolicy,
    ProtectionUnit, Workload,
};
use crate::auth::TokenKind;
use crate::graph::client::GraphClient;
use crate::graph::error::{GraphError, GraphErrorKind};

const LIST: &str = "list protection policies";
const GET: &str = "get protection policy";
const UNITS: &str = "list protection units";
const CREATE: &str = "create protection policy";
const PATCH: &str = "update protection policy";
const ACTIVATE: &str = "activate protection policy";
const DEACTIVATE: &str = "deactivate protection policy";
const DELETE: &str = "delete protection policy";
const BULK_JOB: &str = "create bulk addition job";
const BULK_JOBS: &str = "list bulk addition jobs";
const GET_BULK_JOB: &str = "get bulk addition job";

fn body(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl GraphClient {
    /// Every policy of one workload in the tenant (every page).
    pub async fn list_policies(
        &self,
        tenant: &str,
        workload: Workload,
    ) -> Result<Vec<ProtectionPolicy>, GraphError> {
        let path = [workload.policy_entity_set()];
        self.v1().list_all(LIST, tenant, &path).await
    }

    /// A policy of any workload (`protectionPolicies/{id}`); `None` on 404.
    pub async fn get_policy(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ProtectionPolicy>, GraphError> {
        let path = ["protectionPolicies", id];
        self.v1().get_or_none(GET, tenant, &path).await
    }

    /// Every unit of a policy (every page).
    pub async fn list_policy_units(
        &self,
        tenant: &str,
        workload: Workload,
        id: &str,
    ) -> Result<Vec<ProtectionUnit>, GraphError> {
        let path = [workload.policy_entity_set(), id, workload.units_property()];
        self.v1().list_all(UNITS, tenant, &path).await
    }

    /// Every unit of a policy read with a delegated token, the only kind Graph fills
    /// `siteWebUrl` / `email` for (used to match urls and emails to their units).
    pub async fn list_policy_units_delegated(
        &self,
        tenant: &str,
        workload: Workload,
        id: &str,
    ) -> Result<Vec<ProtectionUnit>, GraphError> {
        let path = [workload.policy_entity_set(), id, workload.units_property()];
        self.v1()
            .list_all_as(UNITS, tenant, &path, Some(TokenKind::Delegated))
            .await
    }

    /// One bulk addition job of a policy, with its inputs; `None` on 404.
    pub async fn get_bulk_job(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        job_id: &str,
    ) -> Result<Option<BulkAdditionJob>, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.bulk_jobs_property(),
            job_id,
        ];
        self.v1().get_or_none(GET_BULK_JOB, tenant, &path).await
    }

    /// `POST` a new policy with at most 50 units, **once**: no transport retry (binding
    /// decision 8). A lost answer or a 5xx may mean the policy exists; the caller looks for it
    /// ([`crate::lifecycle::protection_policy::activation::find_adoptable_policy`]) before
    /// posting again, and retries throttling itself.
    pub async fn create_policy(
        &self,
        tenant: &str,
        create: &PolicyCreate,
    ) -> Result<ProtectionPolicy, GraphError> {
        let path = [create.workload.policy_entity_set()];
        let answer = self
            .v1()
            .without_retries()
            .post(CREATE, tenant, &path, body(create))
            .await?;
        answer.ok_or_else(|| no_body(CREATE, tenant))
    }

    /// `PATCH` a policy: name, retention, and one `…ProtectionUnits@delta` chunk. The 200
    /// answer lists each unit, with per-item failures.
    pub async fn patch_policy(
        &self,
        tenant: &str,
        id: &str,
        patch: &PolicyPatch,
    ) -> Result<PolicyPatchAnswer, GraphError> {
        let path = [patch.workload.policy_entity_set(), id];
        let answer = self.v1().patch(PATCH, tenant, &path, body(patch)).await?;
        Ok(answer.unwrap_or_default())
    }

    /// `POST protectionPolicies/{id}/activate` (202, `updating`): the policy, when the answer
    /// carries it.
    pub async fn activate_policy(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ProtectionPolicy>, GraphError> {
        let path = ["protectionPolicies", id, "activate"];
        self.v1().action(ACTIVATE, tenant, &path, None, None).await
    }

    /// `POST protectionPolicies/{id}/deactivate` (202, `updating`): the policy, when the answer
    /// carries it.
    pub async fn deactivate_policy(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ProtectionPolicy>, GraphError> {
        let path = ["protectionPolicies", id, "deactivate"];
        self.v1()
            .action(DEACTIVATE, tenant, &path, None, None)
            .await
    }

    /// `DELETE protectionPolicies/{id}` (only an inactive policy).
    pub async fn delete_policy(&self, tenant: &str, id: &str) -> Result<(), GraphError> {
        self.v1()
            .delete(DELETE, tenant, &["protectionPolicies", id])
            .await
    }

    /// The bulk addition jobs of a policy that are still running, each with its inputs (Graph
    /// lists jobs without their inputs: one GET per running job, usually none).
    pub async fn running_bulk_jobs(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
    ) -> Result<Vec<BulkAdditionJob>, GraphError> {
        let jobs_property = workload.bulk_jobs_property();
        let path = [workload.policy_entity_set(), policy_id, jobs_property];
        let listed: Vec<BulkAdditionJob> = self.v1().list_all(BULK_JOBS, tenant, &path).await?;
        let mut running = Vec::new();
        for job in listed.into_iter().filter(BulkAdditionJob::is_running) {
            let path = [
                workload.policy_entity_set(),
                policy_id,
                jobs_property,
                &job.id,
            ];
            if let Some(full) = self.v1().get_or_none(GET_BULK_JOB, tenant, &path).await? {
                running.push(full);
            }
        }
        Ok(running)
    }

    /// The policy's bulk addition job named `display_name` (a nonce the provider gives each job),
    /// if any.
    pub async fn find_bulk_job(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        display_name: &str,
    ) -> Result<Option<BulkAdditionJob>, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.bulk_jobs_property(),
        ];
        let listed: Vec<BulkAdditionJob> = self.v1().list_all(BULK_JOBS, tenant, &path).await?;
        Ok(listed
            .into_iter()
            .find(|job| job.display_name.as_deref() == Some(display_name)))
    }

    /// `POST` one bulk addition job of at most 50,000 ids, **once**: no transport retry
    /// (binding decision 8; see `resources::creating_post`).
    pub async fn create_bulk_job(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        job: &BulkAdditionJob,
    ) -> Result<Option<BulkAdditionJob>, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.bulk_jobs_property(),
        ];
        self.v1()
            .without_retries()
            .post(BULK_JOB, tenant, &path, body(job))
            .await
    }
}

fn no_body(op: &'static str, tenant: &str) -> GraphError {
    GraphError::new(
        GraphErrorKind::Decode,
        op,
        tenant,
        "Graph answered without the policy",
    )
}
