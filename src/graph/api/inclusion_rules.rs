//! Inclusion rules of a policy (`{W}ProtectionPolicies/{pid}/{w}InclusionRules`), on the
//! generic verbs. Always Graph v1.0 (binding decision 20). Statuses are open enums
//! ([`super::protection::ProtectionRuleStatus`]): newer members are kept as Graph sent them.

use serde_json::Value;

use super::protection::{ProtectionRule, Workload};
use crate::graph::client::GraphClient;
use crate::graph::error::{GraphError, GraphErrorKind};

const LIST: &str = "list inclusion rules";
const GET: &str = "get inclusion rule";
const CREATE: &str = "create inclusion rule";
const PATCH: &str = "update inclusion rule";
const RUN: &str = "run inclusion rule";
const DELETE: &str = "delete inclusion rule";
const DELETE_AND_UNPROTECT: &str = "delete and unprotect inclusion rule";

fn body(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl GraphClient {
    /// Every inclusion rule of a policy (every page).
    pub async fn list_rules(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
    ) -> Result<Vec<ProtectionRule>, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
        ];
        self.v1().list_all(LIST, tenant, &path).await
    }

    /// One rule; `None` on 404 (the rule, or its policy, is gone).
    pub async fn get_rule(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        rule_id: &str,
    ) -> Result<Option<ProtectionRule>, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
            rule_id,
        ];
        self.v1().get_or_none(GET, tenant, &path).await
    }

    /// `POST` a rule, **once**: no transport retry (binding decision 8). After a lost answer
    /// or a 5xx the caller lists the rules and adopts one with the same expression before
    /// posting again.
    pub async fn create_rule(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        rule: &ProtectionRule,
    ) -> Result<ProtectionRule, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
        ];
        let answer = self
            .v1()
            .without_retries()
            .post(CREATE, tenant, &path, body(rule))
            .await?;
        answer.ok_or_else(|| {
            GraphError::new(
                GraphErrorKind::Decode,
                CREATE,
                tenant,
                "Graph answered without the rule",
            )
        })
    }

    /// `PATCH` a dynamic rule's expression (Graph refuses it for static rules).
    pub async fn patch_rule_expression(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        rule_id: &str,
        expression: &str,
    ) -> Result<Option<ProtectionRule>, GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
            rule_id,
        ];
        let mut patch = serde_json::Map::new();
        patch.insert(
            workload.rule_expression_property().to_string(),
            Value::String(expression.to_string()),
        );
        self.v1()
            .patch(PATCH, tenant, &path, Value::Object(patch))
            .await
    }

    /// `POST …/run`: applies a static rule again, **once** like a create (decision 8); the
    /// caller retries throttling.
    pub async fn run_rule(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        rule_id: &str,
    ) -> Result<(), GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
            rule_id,
            "run",
        ];
        let _: Option<Value> = self
            .v1()
            .without_retries()
            .action(RUN, tenant, &path, None, None)
            .await?;
        Ok(())
    }

    /// `DELETE` a rule (only when `completed` or `completedWithErrors`); its units stay.
    pub async fn delete_rule(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        rule_id: &str,
    ) -> Result<(), GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
            rule_id,
        ];
        self.v1().delete(DELETE, tenant, &path).await
    }

    /// `POST …/deleteAndUnprotect` (dynamic rules): the rule goes `deleteRequested`, then
    /// disappears, and the units it added stop being protected.
    pub async fn delete_and_unprotect_rule(
        &self,
        tenant: &str,
        workload: Workload,
        policy_id: &str,
        rule_id: &str,
    ) -> Result<(), GraphError> {
        let path = [
            workload.policy_entity_set(),
            policy_id,
            workload.inclusion_rules_property(),
            rule_id,
            "deleteAndUnprotect",
        ];
        let _: Option<Value> = self
            .v1()
            .action(DELETE_AND_UNPROTECT, tenant, &path, None, None)
            .await?;
        Ok(())
    }
}
