//! The reads behind the protection data sources: every policy of a tenant (all workloads), the
//! units of a workload or a policy, one unit, and `restorePoints/search`. Part 2 always speaks
//! Graph v1.0 (binding decision 20).

use super::protection::{
    MAX_UNITS_PER_RESTORE_POINT_SEARCH, ProtectionPolicy, ProtectionUnit, RestorePointSearch,
    RestorePointSearchResponse, Workload,
};
use crate::graph::client::GraphClient;
use crate::graph::error::{GraphError, GraphErrorKind};

const LIST_ALL: &str = "list protection policies";
const LIST_UNITS: &str = "list protection units";
const GET_UNIT: &str = "get protection unit";
const SEARCH: &str = "search restore points";

impl GraphClient {
    /// Every policy of every workload (`protectionPolicies`, polymorphic; every page).
    pub async fn list_all_policies(
        &self,
        tenant: &str,
    ) -> Result<Vec<ProtectionPolicy>, GraphError> {
        self.v1()
            .list_all(LIST_ALL, tenant, &["protectionPolicies"])
            .await
    }

    /// Every unit of one workload in the tenant (`{site,drive,mailbox}ProtectionUnits` at the
    /// root; every page).
    pub async fn list_workload_units(
        &self,
        tenant: &str,
        workload: Workload,
    ) -> Result<Vec<ProtectionUnit>, GraphError> {
        self.v1()
            .list_all(LIST_UNITS, tenant, &[workload.units_property()])
            .await
    }

    /// One unit of any workload (`protectionUnits/{id}`); `None` on 404.
    pub async fn get_unit(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ProtectionUnit>, GraphError> {
        self.v1()
            .get_or_none(GET_UNIT, tenant, &["protectionUnits", id])
            .await
    }

    /// `POST restorePoints/search` for at most 20 units (not paginated; at most 5 points per
    /// unit).
    pub async fn search_restore_points(
        &self,
        tenant: &str,
        search: &RestorePointSearch,
    ) -> Result<RestorePointSearchResponse, GraphError> {
        if search.protection_unit_ids.len() > MAX_UNITS_PER_RESTORE_POINT_SEARCH {
            return Err(GraphError::new(
                GraphErrorKind::Config,
                SEARCH,
                tenant,
                format!(
                    "at most {MAX_UNITS_PER_RESTORE_POINT_SEARCH} units per search; this is a bug in the provider"
                ),
            ));
        }
        let body = serde_json::to_value(search).unwrap_or_default();
        let answer = self
            .v1()
            .post(SEARCH, tenant, &["restorePoints", "search"], body)
            .await?;
        Ok(answer.unwrap_or_default())
    }
}
