//! `m365backup_protection_units`: the protection units of a tenant, a workload or one policy,
//! filtered by status, with counts by status. Reads every page.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::AttributeType;
use tf_provider::value::Value;

use crate::framework::attributes::{StringSet, TfType};
use crate::framework::values::text;
use crate::framework::{Call, ReadOnlySource};
use crate::graph::api::protection::{ProtectionUnit, Workload};
use crate::lifecycle::Problem;
use crate::lifecycle::restore_points::{self as health, UnitFilter};

crate::attributes! {
    /// One protection unit.
    pub struct UnitItem {
        id: String => Computed, "The unit's Graph ID (what `m365backup_restore_points` takes).";
        policy_id: String => Computed, "The Graph ID of the unit's policy.";
        workload: String => Computed, "`sharepoint`, `onedrive` or `exchange`.";
        site_id: String => Computed, "The site (SharePoint units).";
        directory_object_id: String => Computed, "The user or mailbox object ID (OneDrive and Exchange units).";
        status: String => Computed, "Graph's status: `protectRequested`, `protected`, `unprotectRequested`, `unprotected`, `removeRequested`, `offboardRequested`, `offboarded`, `cancelOffboardRequested`, or any newer value Graph sends.";
        protection_sources: String => Computed, "Who added the unit: `manual`, `dynamicRule`, or both (`manual,dynamicRule`).";
        error_code: String => Computed, "The code of the unit's error, when Graph reports one (null otherwise).";
    }
}

/// `map(number)`: units per status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<String, Value<i64>>);

impl TfType for Counts {
    fn attr_type() -> AttributeType {
        AttributeType::Map(Box::new(AttributeType::Number))
    }
}

crate::attributes! {
    pub struct ProtectionUnitsData {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`, or the tenant of `policy_id` when it is `<tenantId>/<policyId>`.";
        policy_id: String => Optional, "Only the units of this policy: `<tenantId>/<policyId>` (a policy resource's `id`) or the raw Graph policy ID (its `policy_id`).";
        workload: String => Optional, "Only units of this workload: `sharepoint`, `onedrive` or `exchange`.";
        statuses: StringSet => Optional, "Only units with one of these statuses (e.g. `[\"protected\"]`).";
        units: Vec<UnitItem> => Computed, "The matching units: `id`, `policy_id`, `workload`, `site_id`, `directory_object_id`, `status`, `protection_sources`, `error_code`.";
        counts: Counts => Computed, "The number of matching units per status.";
    }
}

pub struct ProtectionUnitsDataSource;

/// The units a filter selects: one policy's, or every unit of the selected workloads.
pub async fn read_units(
    call: &Call,
    tenant: &str,
    filter: &UnitFilter,
) -> Result<Vec<ProtectionUnit>, Problem> {
    let graph = &call.ctx.graph;
    let mut units = match &filter.policy_id {
        Some(policy_id) => {
            let Some(policy) = graph.get_policy(tenant, policy_id).await? else {
                return Err(health::policy_not_found(tenant, policy_id));
            };
            let workload = policy
                .workload()
                .ok_or_else(|| health::unknown_policy_kind(tenant, &policy))?;
            if filter.workload.is_some_and(|w| w != workload) {
                Vec::new()
            } else {
                let mut units = graph.list_policy_units(tenant, workload, policy_id).await?;
                for unit in &mut units {
                    unit.odata_type
                        .get_or_insert_with(|| workload.unit_odata_type().to_string());
                }
                units
            }
        }
        None => {
            let mut units = Vec::new();
            for workload in Workload::ALL {
                if filter.workload.is_none_or(|w| w == workload) {
                    let mut listed = graph.list_workload_units(tenant, workload).await?;
                    for unit in &mut listed {
                        unit.odata_type
                            .get_or_insert_with(|| workload.unit_odata_type().to_string());
                    }
                    units.extend(listed);
                }
            }
            units
        }
    };
    units.retain(|unit| filter.keeps(unit));
    Ok(units)
}

#[async_trait]
impl ReadOnlySource for ProtectionUnitsDataSource {
    type State = ProtectionUnitsData;
    const DESCRIPTION: &'static str = "The Microsoft 365 Backup Storage protection units of a tenant (every site, OneDrive and mailbox it protects), optionally of one policy, workload or set of statuses, with counts by status.";

    async fn read(
        &self,
        call: &mut Call,
        tenant: String,
        config: ProtectionUnitsData,
    ) -> Result<ProtectionUnitsData, Problem> {
        let (tenant, filter) = health::unit_filter(
            config.policy_id.as_ref_option().map(String::as_str),
            config.tenant_id.as_ref_option().map(String::as_str),
            &tenant,
            config.workload.as_ref_option().map(String::as_str),
            config
                .statuses
                .as_ref_option()
                .map(StringSet::texts)
                .unwrap_or_default(),
        )?;
        let units = read_units(call, &tenant, &filter).await?;
        let counts = health::count_by_status(&units)
            .into_iter()
            .map(|(status, n)| (status, Value::Value(n as i64)))
            .collect();
        let items = units.into_iter().map(unit_item).collect();
        Ok(ProtectionUnitsData {
            tenant_id: Value::Value(tenant),
            units: Value::Value(items),
            counts: Value::Value(Counts(counts)),
            ..config
        })
    }
}

fn unit_item(unit: ProtectionUnit) -> UnitItem {
    UnitItem {
        policy_id: text(unit.policy_id.as_ref()),
        workload: text(unit.workload().map(|w| w.name())),
        site_id: text(unit.site_id.as_ref()),
        directory_object_id: text(unit.directory_object_id.as_ref()),
        status: text(unit.status.as_ref().map(|s| s.to_string())),
        protection_sources: Value::Value(unit.protection_sources.to_string()),
        error_code: text(unit.failure().and_then(|e| e.code.as_ref())),
        id: Value::Value(unit.id),
    }
}
