//! `m365backup_protection_policies`: every protection policy of a tenant, all three workloads
//! (Graph's polymorphic `protectionPolicies`, v1.0).

use async_trait::async_trait;
use tf_provider::value::Value;

use crate::framework::values::text;
use crate::framework::{Call, ReadOnlySource};
use crate::lifecycle::Problem;

crate::attributes! {
    /// One protection policy.
    pub struct PolicyItem {
        id: String => Computed, "The policy's Graph ID.";
        workload: String => Computed, "`sharepoint`, `onedrive` or `exchange` (null for a kind this provider does not know).";
        display_name: String => Computed, "The policy's display name.";
        status: String => Computed, "Graph's status: `inactive`, `activeWithErrors`, `updating`, `active`, or any newer value Graph sends.";
        is_enabled: bool => Computed, "Whether the policy is activated (Graph's `isEnabled`).";
        retention_period: String => Computed, "How long weekly restore points are kept (ISO 8601, e.g. `P1Y`).";
    }
}

crate::attributes! {
    pub struct ProtectionPoliciesData {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`.";
        policies: Vec<PolicyItem> => Computed, "Every protection policy of the tenant, all workloads: `id`, `workload`, `display_name`, `status`, `is_enabled`, `retention_period`.";
    }
}

pub struct ProtectionPoliciesDataSource;

#[async_trait]
impl ReadOnlySource for ProtectionPoliciesDataSource {
    type State = ProtectionPoliciesData;
    const DESCRIPTION: &'static str = "Every Microsoft 365 Backup Storage protection policy of a tenant (SharePoint, OneDrive and Exchange), with its status and retention.";

    async fn read(
        &self,
        call: &mut Call,
        tenant: String,
        _config: ProtectionPoliciesData,
    ) -> Result<ProtectionPoliciesData, Problem> {
        let policies = call.ctx.graph.list_all_policies(&tenant).await?;
        let items = policies
            .into_iter()
            .map(|policy| PolicyItem {
                workload: text(policy.workload().map(|w| w.name())),
                display_name: text(policy.display_name.as_ref()),
                status: text(policy.status.as_ref().map(|s| s.to_string())),
                is_enabled: policy.is_enabled.map(Value::Value).unwrap_or(Value::Null),
                retention_period: text(policy.weekly_retention()),
                id: Value::Value(policy.id),
            })
            .collect();
        Ok(ProtectionPoliciesData {
            tenant_id: Value::Null,
            policies: Value::Value(items),
        })
    }
}
