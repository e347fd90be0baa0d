//! `m365backup_restore_points`: the newest restore point of each unit within `since`, and the
//! units without one: backup health for `check` blocks (binding decisions 15 and 16).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::AttributeType;
use tf_provider::value::Value;
use time::OffsetDateTime;

use super::protection_units::read_units;
use crate::framework::attributes::{Attributes, StringSet, TfType};
use crate::framework::{Call, ReadOnlySource};
use crate::graph::GraphError;
use crate::graph::api::protection::{
    MAX_UNITS_PER_RESTORE_POINT_SEARCH, RestorePointPreference, RestorePointSearch, TimePeriod,
};
use crate::lifecycle::Problem;
use crate::lifecycle::restore_points::{self as health, UnitAge, UnitFilter};
use crate::timefmt::canonical;

/// Units looked up at once when deciding whether a unit without a point is new.
const CONCURRENT_LOOKUPS: usize = 8;

crate::attributes! {
    /// A unit's newest restore point.
    pub struct LatestItem {
        protection_date_time: String => Computed, "When the restore point was taken (UTC, RFC 3339).";
        expiration_date_time: String => Computed, "When it expires (UTC, RFC 3339).";
        fast_restore: bool => Computed, "Whether it is a fast-restore point (Graph's `fastRestore` tag).";
    }
}

/// `map(object)`: unit id → newest point.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct LatestMap(pub BTreeMap<String, Value<LatestItem>>);

impl TfType for LatestMap {
    fn attr_type() -> AttributeType {
        let fields = LatestItem::rows()
            .into_iter()
            .map(|row| (row.name.to_string(), row.ty))
            .collect();
        AttributeType::Map(Box::new(AttributeType::Object(fields)))
    }
}

/// `list(string)`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct StringList(pub Vec<Value<String>>);

impl TfType for StringList {
    fn attr_type() -> AttributeType {
        AttributeType::List(Box::new(AttributeType::String))
    }
}

crate::attributes! {
    pub struct RestorePointsData {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`, or the tenant of `policy_id` when it is `<tenantId>/<policyId>`.";
        protection_unit_ids: StringSet => Optional, "The protection units to check (at most 2,000; Graph is asked 20 at a time). Conflicts with `policy_id`.";
        policy_id: String => Optional, "Check every protected unit of this policy: `<tenantId>/<policyId>` or the raw Graph policy ID. Conflicts with `protection_unit_ids`.";
        since: String => OptionalComputed, "How recent a restore point must be, e.g. `\"24h\"` or `\"7d\"` (units `d`, `h`, `m`, `s`; default `\"24h\"`), measured back from Graph's current time.";
        latest: LatestMap => Computed, "Unit ID → its newest restore point taken within `since`: `protection_date_time`, `expiration_date_time`, `fast_restore`. Units without one are not in the map.";
        units_without_restore_point: StringList => Computed, "The units with no restore point within `since`, sorted by unit ID. Units protected for less than `since` (or still being protected) are not listed.";
    }
}

pub struct RestorePointsDataSource;

#[async_trait]
impl ReadOnlySource for RestorePointsDataSource {
    type State = RestorePointsData;
    const DESCRIPTION: &'static str = "The newest Microsoft 365 Backup Storage restore point of each protection unit within a time window, and the units without one. Made for `check` blocks: every protected unit has a restore point from the last 24 hours.";

    async fn read(
        &self,
        call: &mut Call,
        tenant: String,
        config: RestorePointsData,
    ) -> Result<RestorePointsData, Problem> {
        let explicit = config
            .protection_unit_ids
            .as_ref_option()
            .map(StringSet::texts);
        let policy = config.policy_id.as_ref_option().map(String::as_str);
        health::check_selection(explicit.is_some(), policy.is_some())?;
        let since_text = config
            .since
            .as_ref_option()
            .cloned()
            .unwrap_or_else(|| health::DEFAULT_SINCE.to_string());
        let since = health::parse_since(Some(&since_text))?;
        let configured_tenant = config.tenant_id.as_ref_option().map(String::as_str);

        // The units, and what Graph said of them when they were listed.
        let mut ages: BTreeMap<String, UnitAge> = BTreeMap::new();
        let mut reported: Vec<String> = Vec::new();
        let (tenant, unit_ids) = match explicit {
            Some(ids) => (tenant, health::explicit_unit_ids(ids)?),
            None => {
                let (tenant, policy_id) =
                    health::policy_tenant(policy, configured_tenant, &tenant)?;
                let filter = UnitFilter {
                    policy_id,
                    ..Default::default()
                };
                let units = health::protected_units(read_units(call, &tenant, &filter).await?);
                let mut ids = Vec::new();
                for unit in &units {
                    ages.insert(unit.id.to_ascii_lowercase(), UnitAge::of(unit));
                    reported.extend(unit.last_modified_date_time.clone());
                    ids.push(unit.id.clone());
                }
                (tenant, ids)
            }
        };

        // Search 20 at a time, from far enough back for Graph's clock and ours.
        let wall = OffsetDateTime::now_utc();
        let start = health::search_start(wall, call.ctx.graph.graph_now(), since);
        let mut points = Vec::new();
        for chunk in unit_ids.chunks(MAX_UNITS_PER_RESTORE_POINT_SEARCH) {
            let search = RestorePointSearch {
                protection_unit_ids: chunk.to_vec(),
                protection_time_period: TimePeriod {
                    start_date_time: Some(canonical(start)),
                    end_date_time: None,
                },
                restore_point_preference: Some(RestorePointPreference::Latest),
                tags: None,
                artifact_query: None,
            };
            let answer = call
                .ctx
                .graph
                .search_restore_points(&tenant, &search)
                .await
                .map_err(|e| search_problem(&tenant, e))?;
            points.extend(
                answer
                    .search_results
                    .into_iter()
                    .filter_map(|r| r.restore_point),
            );
        }
        let newest = health::newest_points(&points);
        // The window ends at Graph's "now" (its last answer's `Date`), not at our clock.
        let now = health::estimate_now(
            call.ctx.graph.graph_now().unwrap_or(wall),
            reported
                .iter()
                .map(String::as_str)
                .chain(newest.values().map(|l| l.protection_date_time.as_str())),
        );
        let window_start = now - since;

        // Explicit units without a recent point: are they new?
        let stale = health::stale_units(&unit_ids, &newest, window_start);
        let unknown: Vec<String> = stale
            .into_iter()
            .filter(|id| !ages.contains_key(&id.to_ascii_lowercase()))
            .collect();
        for chunk in unknown.chunks(CONCURRENT_LOOKUPS) {
            let mut lookups = tokio::task::JoinSet::new();
            for id in chunk {
                let (graph, tenant, id) = (call.ctx.graph.clone(), tenant.clone(), id.clone());
                lookups.spawn(async move {
                    let unit = graph.get_unit(&tenant, &id).await;
                    (id, unit)
                });
            }
            while let Some(done) = lookups.join_next().await {
                let (id, unit) = done.map_err(|e| {
                    Problem::error("Internal error", format!("a unit lookup failed: {e}"))
                })?;
                let age = unit?.as_ref().map_or(UnitAge::Unknown, UnitAge::of);
                ages.insert(id.to_ascii_lowercase(), age);
            }
        }

        let result = health::assess(&unit_ids, &newest, &ages, window_start);
        let latest = result
            .latest
            .into_iter()
            .map(|(id, l)| {
                let item = LatestItem {
                    protection_date_time: Value::Value(l.protection_date_time),
                    expiration_date_time: l.expiration_date_time.map_or(Value::Null, Value::Value),
                    fast_restore: Value::Value(l.fast_restore),
                };
                (id, Value::Value(item))
            })
            .collect();
        Ok(RestorePointsData {
            tenant_id: Value::Value(tenant),
            since: Value::Value(since_text),
            latest: Value::Value(LatestMap(latest)),
            units_without_restore_point: Value::Value(StringList({
                // A stable order whatever the input's: Terraform sorts the set it sends.
                let mut missing = result.missing;
                missing.sort_by_key(|id| id.to_ascii_lowercase());
                missing.into_iter().map(Value::Value).collect()
            })),
            ..config
        })
    }
}

/// A failed search; a refusal names the permission it needs.
fn search_problem(tenant: &str, error: GraphError) -> Problem {
    let refused = error.status == Some(403);
    let mut problem = Problem::from(error);
    if refused {
        problem.detail.push_str(&format!(
            " Searching restore points needs the application permission \
             BackupRestore-Search.Read.All with admin consent in tenant {tenant}."
        ));
    }
    problem
}
