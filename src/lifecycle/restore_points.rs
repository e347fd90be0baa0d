//! Backup health: which units a data source looks at, and which of them lack a recent restore
//! point (binding decision 16). Pure functions of what Graph answered and a clock.
//!
//! The window is `since` back from Graph's "now": the `Date` header of Graph's last answer
//! (the emulator sends its virtual time there), or the wall clock when no answer carried one,
//! raised to the newest instant Graph reported in this read (a restore point or a unit change
//! cannot be in Graph's future). A client clock that differs from Graph's then neither hides
//! missing restore points nor reports present ones missing.

use std::collections::{BTreeMap, HashSet};

use time::{Duration, OffsetDateTime};

use super::Problem;
use super::protection_policy::references::{parse_policy_reference, resolve_tenant};
use crate::graph::api::protection::{
    ProtectionPolicy, ProtectionUnit, ProtectionUnitStatus, RestorePoint, Workload,
};
use crate::timefmt::{canonical, parse_duration, parse_rfc3339};

/// At most this many explicit unit ids per read (searched 20 at a time).
pub const MAX_UNIT_IDS: usize = 2_000;
/// `since` when the configuration leaves it out.
pub const DEFAULT_SINCE: &str = "24h";

/// Which units a units read keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitFilter {
    pub policy_id: Option<String>,
    pub workload: Option<Workload>,
    /// Lower-cased statuses; empty = every status.
    pub statuses: HashSet<String>,
}

impl UnitFilter {
    pub fn keeps(&self, unit: &ProtectionUnit) -> bool {
        if let (Some(want), Some(got)) = (self.workload, unit.workload())
            && want != got
        {
            return false;
        }
        self.statuses.is_empty()
            || unit
                .status
                .as_ref()
                .is_some_and(|s| self.statuses.contains(&s.to_string().to_ascii_lowercase()))
    }
}

/// The tenant and filter of a units read, from the configuration.
pub fn unit_filter(
    policy_id: Option<&str>,
    configured_tenant: Option<&str>,
    tenant: &str,
    workload: Option<&str>,
    statuses: Vec<String>,
) -> Result<(String, UnitFilter), Problem> {
    let (tenant, policy_id) = policy_tenant(policy_id, configured_tenant, tenant)?;
    let workload = match workload {
        None => None,
        Some(name) => Some(Workload::from_name(name).ok_or_else(|| {
            Problem::new(
                Some("workload"),
                "Invalid workload",
                format!(
                    "workload {name:?} is not one of \"sharepoint\", \"onedrive\", \"exchange\"."
                ),
            )
        })?),
    };
    let statuses = statuses
        .into_iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    Ok((
        tenant,
        UnitFilter {
            policy_id,
            workload,
            statuses,
        },
    ))
}

/// The tenant and raw policy id of an optional `policy_id` (`<tenantId>/<policyId>` or raw).
pub fn policy_tenant(
    policy_id: Option<&str>,
    configured_tenant: Option<&str>,
    tenant: &str,
) -> Result<(String, Option<String>), Problem> {
    let Some(text) = policy_id else {
        return Ok((tenant.to_string(), None));
    };
    let as_problem =
        |n: super::protection_policy::Notice| Problem::new(n.attribute, n.summary, n.detail);
    let reference = parse_policy_reference(text, "policy_id").map_err(as_problem)?;
    let tenant = resolve_tenant(&reference, configured_tenant, tenant).map_err(as_problem)?;
    if !crate::ids::is_guid(&tenant) {
        return Err(Problem::new(
            Some("policy_id"),
            "Invalid policy_id",
            format!("{text:?}: {tenant:?} is not a tenant ID (a GUID)."),
        ));
    }
    Ok((tenant, Some(reference.policy_id)))
}

pub fn policy_not_found(tenant: &str, policy_id: &str) -> Problem {
    Problem::new(
        Some("policy_id"),
        "Protection policy not found",
        format!(
            "Tenant {tenant} has no protection policy {policy_id} (Graph answered 404). Check \
             policy_id, e.g. with the m365backup_protection_policies data source."
        ),
    )
}

pub fn unknown_policy_kind(tenant: &str, policy: &ProtectionPolicy) -> Problem {
    Problem::new(
        Some("policy_id"),
        "Unknown kind of protection policy",
        format!(
            "Policy {} of tenant {tenant} is of a kind this provider does not know ({}). Upgrade \
             the provider, or name the units with protection_unit_ids.",
            policy.id,
            policy.odata_type.as_deref().unwrap_or("no @odata.type")
        ),
    )
}

/// Units per status (unknown statuses as Graph spells them, a missing one as `unknown`).
pub fn count_by_status(units: &[ProtectionUnit]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for unit in units {
        let status = unit
            .status
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |s| s.to_string());
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// `since` as a positive duration.
pub fn parse_since(text: Option<&str>) -> Result<Duration, Problem> {
    let text = text.unwrap_or(DEFAULT_SINCE);
    match parse_duration(text) {
        Ok(d) if d > Duration::ZERO => Ok(d),
        Ok(_) => Err(Problem::new(
            Some("since"),
            "Invalid since",
            "since must be longer than 0s, e.g. \"24h\".",
        )),
        Err(why) => Err(Problem::new(Some("since"), "Invalid since", why)),
    }
}

/// The explicit unit ids, deduplicated (case-insensitively, first spelling kept), at most
/// [`MAX_UNIT_IDS`].
pub fn explicit_unit_ids(ids: Vec<String>) -> Result<Vec<String>, Problem> {
    let mut seen = HashSet::new();
    let ids: Vec<String> = ids
        .into_iter()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty() && seen.insert(id.to_ascii_lowercase()))
        .collect();
    if ids.len() > MAX_UNIT_IDS {
        return Err(Problem::new(
            Some("protection_unit_ids"),
            "Too many protection units",
            format!(
                "protection_unit_ids lists {} units; at most {MAX_UNIT_IDS} are searched in one \
                 read. Split them over several m365backup_restore_points data sources, or use \
                 policy_id.",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

/// Exactly one of `protection_unit_ids` and `policy_id`.
pub fn check_selection(has_ids: bool, has_policy: bool) -> Result<(), Problem> {
    match (has_ids, has_policy) {
        (true, false) | (false, true) => Ok(()),
        (true, true) => Err(Problem::new(
            Some("policy_id"),
            "Conflicting arguments",
            "Set either protection_unit_ids or policy_id, not both.",
        )),
        (false, false) => Err(Problem::error(
            "Missing argument",
            "Set protection_unit_ids (the units to check) or policy_id (check its protected units).",
        )),
    }
}

/// The units of a policy whose restore points are checked: the protected ones.
pub fn protected_units(units: Vec<ProtectionUnit>) -> Vec<ProtectionUnit> {
    units
        .into_iter()
        .filter(|u| u.status == Some(ProtectionUnitStatus::Protected))
        .collect()
}

/// Graph's "now" as well as the provider can tell: Graph's clock (its `Date` header) or else
/// the wall clock, raised to the newest instant Graph reported.
pub fn estimate_now<'a>(
    clock: OffsetDateTime,
    reported: impl IntoIterator<Item = &'a str>,
) -> OffsetDateTime {
    reported
        .into_iter()
        .filter_map(|t| parse_rfc3339(t).ok())
        .fold(clock, OffsetDateTime::max)
}

/// How far before the window the search starts: Graph's clock is only known after it answers,
/// and searching earlier than needed only adds older points that the window then drops.
pub const SEARCH_MARGIN: Duration = Duration::days(1);

/// Where the restore-point search starts: `since` before the earlier of the two clocks, less
/// [`SEARCH_MARGIN`].
pub fn search_start(
    wall: OffsetDateTime,
    graph_now: Option<OffsetDateTime>,
    since: Duration,
) -> OffsetDateTime {
    graph_now.map_or(wall, |g| g.min(wall)) - since - SEARCH_MARGIN
}

/// A unit's most recent restore point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    pub protection_date_time: String,
    pub expiration_date_time: Option<String>,
    pub fast_restore: bool,
    at: OffsetDateTime,
}

/// The newest point per unit id (lower-cased) among search results.
pub fn newest_points(points: &[RestorePoint]) -> BTreeMap<String, Latest> {
    let mut newest: BTreeMap<String, Latest> = BTreeMap::new();
    for point in points {
        let Some(unit) = point
            .protection_unit
            .as_ref()
            .map(|u| u.id.to_ascii_lowercase())
        else {
            continue;
        };
        let Some(at) = point
            .protection_date_time
            .as_deref()
            .and_then(|t| parse_rfc3339(t).ok())
        else {
            continue;
        };
        if newest.get(&unit).is_none_or(|l| l.at < at) {
            newest.insert(
                unit,
                Latest {
                    protection_date_time: canonical(at),
                    expiration_date_time: point
                        .expiration_date_time
                        .as_deref()
                        .map(crate::timefmt::canonical_text),
                    fast_restore: point.is_fast_restore(),
                    at,
                },
            );
        }
    }
    newest
}

/// What the provider knows of a unit without a recent restore point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitAge {
    /// Graph has no such unit.
    Unknown,
    /// Its status, and when it last changed (for a protected unit: since when it is).
    Seen {
        status: Option<ProtectionUnitStatus>,
        changed: Option<String>,
    },
}

impl UnitAge {
    pub fn of(unit: &ProtectionUnit) -> Self {
        UnitAge::Seen {
            status: unit.status.clone(),
            changed: unit
                .last_modified_date_time
                .clone()
                .or_else(|| unit.created_date_time.clone()),
        }
    }

    /// Protected (or being protected) for less than the window: not reported missing.
    fn is_new(&self, window_start: OffsetDateTime) -> bool {
        match self {
            UnitAge::Unknown => false,
            UnitAge::Seen { status, changed } => match status {
                Some(ProtectionUnitStatus::ProtectRequested) => true,
                Some(ProtectionUnitStatus::Protected) => changed
                    .as_deref()
                    .and_then(|t| parse_rfc3339(t).ok())
                    .is_some_and(|t| t > window_start),
                _ => false,
            },
        }
    }
}

/// The outcome of a health read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Unit id (as asked) → its newest point in the window.
    pub latest: BTreeMap<String, Latest>,
    /// Units without a point in the window that are not new, in the order asked.
    pub missing: Vec<String>,
}

/// The units (as asked) whose newest point is older than the window or absent.
pub fn stale_units(
    unit_ids: &[String],
    newest: &BTreeMap<String, Latest>,
    window_start: OffsetDateTime,
) -> Vec<String> {
    unit_ids
        .iter()
        .filter(|id| {
            newest
                .get(&id.to_ascii_lowercase())
                .is_none_or(|l| l.at < window_start)
        })
        .cloned()
        .collect()
}

/// Splits the units into those with a recent point and those missing one; `ages` (by
/// lower-cased id) tells which stale units are new.
pub fn assess(
    unit_ids: &[String],
    newest: &BTreeMap<String, Latest>,
    ages: &BTreeMap<String, UnitAge>,
    window_start: OffsetDateTime,
) -> Health {
    let mut health = Health::default();
    for id in unit_ids {
        let key = id.to_ascii_lowercase();
        match newest.get(&key) {
            Some(latest) if latest.at >= window_start => {
                health.latest.insert(id.clone(), latest.clone());
            }
            _ => {
                let new = ages.get(&key).is_some_and(|a| a.is_new(window_start));
                if !new {
                    health.missing.push(id.clone());
                }
            }
        }
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::api::protection::{Flags, RestorePointTag};

    fn at(text: &str) -> OffsetDateTime {
        parse_rfc3339(text).unwrap()
    }

    fn point(unit: &str, when: &str, fast: bool) -> RestorePoint {
        RestorePoint {
            id: format!("{unit}_{when}"),
            protection_date_time: Some(when.into()),
            expiration_date_time: Some("2030-01-01T00:00:00Z".into()),
            tags: Some(Flags(vec![if fast {
                RestorePointTag::FastRestore
            } else {
                RestorePointTag::None
            }])),
            protection_unit: Some(ProtectionUnit {
                id: unit.into(),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn newest_point_wins_and_old_or_absent_units_are_missing_unless_new() {
        let points = [
            point("A", "2026-01-02T00:00:00Z", true),
            point("a", "2026-01-02T10:00:00Z", false),
            point("B", "2025-12-30T00:00:00Z", true),
        ];
        let newest = newest_points(&points);
        assert_eq!(newest["a"].protection_date_time, "2026-01-02T10:00:00Z");
        assert!(!newest["a"].fast_restore);
        let ids: Vec<String> = ["A", "B", "C", "D", "E"].map(String::from).to_vec();
        let start = at("2026-01-01T12:00:00Z");
        assert_eq!(stale_units(&ids, &newest, start), ["B", "C", "D", "E"]);
        let seen = |status, changed: &str| UnitAge::Seen {
            status: Some(status),
            changed: Some(changed.into()),
        };
        let ages = BTreeMap::from([
            (
                "b".to_string(),
                seen(ProtectionUnitStatus::Protected, "2025-12-01T00:00:00Z"),
            ),
            (
                "c".to_string(),
                seen(ProtectionUnitStatus::Protected, "2026-01-02T00:00:00Z"),
            ),
            (
                "d".to_string(),
                seen(
                    ProtectionUnitStatus::ProtectRequested,
                    "2025-01-01T00:00:00Z",
                ),
            ),
            ("e".to_string(), UnitAge::Unknown),
        ]);
        let health = assess(&ids, &newest, &ages, start);
        assert_eq!(health.latest.keys().collect::<Vec<_>>(), ["A"]);
        assert_eq!(
            health.missing,
            ["B", "E"],
            "C and D are protected for less than the window"
        );
    }

    #[test]
    fn the_search_starts_before_either_clock_could_place_the_window() {
        let wall = parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
        let behind = parse_rfc3339("2026-01-01T12:00:00Z").unwrap();
        let ahead = parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
        let day = Duration::days(1);
        assert_eq!(search_start(wall, None, day), wall - day - SEARCH_MARGIN);
        assert_eq!(
            search_start(wall, Some(behind), day),
            behind - day - SEARCH_MARGIN
        );
        assert_eq!(
            search_start(wall, Some(ahead), day),
            wall - day - SEARCH_MARGIN
        );
        // Whichever clock is Graph's, the window lies inside the searched period.
        for clock in [wall, behind, ahead] {
            assert!(search_start(wall, Some(clock), day) <= estimate_now(clock, []) - day);
        }
    }

    #[test]
    fn now_is_never_behind_what_graph_reported() {
        let wall = at("2026-01-01T00:00:00Z");
        assert_eq!(estimate_now(wall, ["2025-12-31T00:00:00Z", "bad"]), wall);
        assert_eq!(
            estimate_now(wall, ["2026-01-03T00:00:00Z"]),
            at("2026-01-03T00:00:00Z")
        );
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(parse_since(None).unwrap(), Duration::hours(24));
        assert!(parse_since(Some("0s")).is_err());
        assert!(parse_since(Some("yesterday")).is_err());
        let many: Vec<String> = (0..2001).map(|i| format!("u{i}")).collect();
        assert!(explicit_unit_ids(many).unwrap_err().detail.contains("2001"));
        assert_eq!(
            explicit_unit_ids(vec!["a".into(), "A".into(), " b ".into()]).unwrap(),
            ["a", "b"]
        );
        assert!(check_selection(true, true).is_err());
        assert!(check_selection(false, false).is_err());
        let t = "11111111-1111-1111-1111-111111111111";
        let (tenant, filter) = unit_filter(
            Some(&format!("{t}/p1")),
            None,
            "22222222-2222-2222-2222-222222222222",
            Some("Exchange"),
            vec!["Protected".into()],
        )
        .unwrap();
        assert_eq!(tenant, t);
        assert_eq!(filter.policy_id.as_deref(), Some("p1"));
        assert_eq!(filter.workload, Some(Workload::Exchange));
        assert!(filter.statuses.contains("protected"));
        assert!(unit_filter(None, None, t, Some("teams"), vec![]).is_err());
        assert!(
            unit_filter(
                Some(&format!("{t}/p1")),
                Some("22222222-2222-2222-2222-222222222222"),
                t,
                None,
                vec![]
            )
            .is_err(),
            "tenant mismatch"
        );
    }

    #[test]
    fn counts_by_status() {
        let unit = |s: &str| ProtectionUnit {
            status: Some(crate::graph::api::protection::GraphEnum::parse(s)),
            ..Default::default()
        };
        let counts = count_by_status(&[unit("protected"), unit("protected"), unit("newThing")]);
        assert_eq!(counts["protected"], 2);
        assert_eq!(counts["newThing"], 1);
    }
}
