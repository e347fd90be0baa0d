//! `m365backup_*_protection_units` as pure decisions: additive membership of one policy.
//!
//! A units resource owns exactly the units it added. An id it lists that the policy already
//! protected (another units resource, the admin center) is *adopted*: kept listed, never removed
//! by this resource (decision 13). Ids go through `@delta` chunks (or a bulk job above
//! `bulk_threshold`), urls / emails through bulk addition jobs; a url or email is matched to its
//! site / object id once Graph shows the unit with a delegated token, and the match is kept in
//! the compact private map ([`Ownership`], decision 1) so that later reads run app-only.
//! The unit diff itself is [`super::protection_policy::unit_set`]'s: chunking, bulk threshold and
//! the managed set (decision 9) are shared with the policy resources.
//!
//! The per-process [`claims`] registry detects an authoritative set and a units resource on one
//! policy (decision 13) and lets a units resource keep an id another one still lists.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::protection_policy::Notice;
use super::protection_policy::ids::id_key;
use super::protection_policy::notices::bounded_lines;
use super::protection_policy::unit_set::{ManagedSet, Removal, UnitDiff};
use crate::graph::api::protection::{BulkAdditionJob, ProtectionUnit, Workload};

/// The key of a url or email address: case-insensitive, a url without its trailing `/`.
pub fn name_key(name: &str) -> String {
    name.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// What this resource knows beyond its configuration, kept in private state (compact: a few
/// bytes per url/email and per adopted id; never a list in state).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ownership {
    /// url / email key → the site id / object id Graph resolved it to.
    #[serde(default, rename = "r", skip_serializing_if = "BTreeMap::is_empty")]
    pub resolved: BTreeMap<String, String>,
    /// Keys of ids that were already in the policy when this resource first listed them: kept,
    /// never removed by this resource.
    #[serde(default, rename = "a", skip_serializing_if = "BTreeSet::is_empty")]
    pub adopted: BTreeSet<String>,
}

impl Ownership {
    pub fn is_empty(&self) -> bool {
        self.resolved.is_empty() && self.adopted.is_empty()
    }

    /// The ids this resource stands for: its configured ids and its resolved names.
    pub fn listed_ids(&self, ids: &[String], names: &[String]) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut listed = Vec::new();
        let resolved = names
            .iter()
            .filter_map(|n| self.resolved.get(&name_key(n)).cloned());
        for id in ids.iter().cloned().chain(resolved) {
            if seen.insert(id_key(&id)) {
                listed.push(id);
            }
        }
        listed
    }

    /// Records the ids Graph shows for names not matched yet (the listing must come from a
    /// delegated token, the only kind Graph fills `siteWebUrl` / `email` for). Returns how many
    /// names were matched now.
    pub fn resolve_from(&mut self, names: &[String], units: &[ProtectionUnit]) -> usize {
        let mut by_name: BTreeMap<String, &str> = BTreeMap::new();
        for unit in units {
            if let (Some(name), Some(id)) = (unit.resource_name(), unit.resource_id()) {
                by_name.insert(name_key(name), id);
            }
        }
        let mut matched = 0;
        for name in names {
            let key = name_key(name);
            if self.resolved.contains_key(&key) {
                continue;
            }
            if let Some(id) = by_name.get(&key) {
                self.resolved.insert(key, id.to_string());
                matched += 1;
            }
        }
        matched
    }

    /// Forgets matches and adoptions of names and ids no longer configured.
    pub fn retain_configured(&mut self, ids: &[String], names: &[String]) {
        let names: BTreeSet<String> = names.iter().map(|n| name_key(n)).collect();
        self.resolved.retain(|name, _| names.contains(name));
        let listed: BTreeSet<String> = self
            .listed_ids(ids, &names.iter().cloned().collect::<Vec<_>>())
            .iter()
            .map(|id| id_key(id))
            .collect();
        self.adopted.retain(|id| listed.contains(id));
    }

    /// Names not matched to an id yet.
    pub fn unresolved<'a>(&self, names: &'a [String]) -> Vec<&'a String> {
        names
            .iter()
            .filter(|n| !self.resolved.contains_key(&name_key(n)))
            .collect()
    }
}

/// Urls / emails that bulk jobs still running were given (they count as present, decision 9).
pub fn pending_names(jobs: &[BulkAdditionJob]) -> BTreeSet<String> {
    jobs.iter()
        .filter(|job| job.is_running())
        .flat_map(|job| {
            [&job.site_web_urls, &job.drives, &job.mailboxes]
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|n| name_key(n))
        .collect()
}

/// What one units resource asks for and what it listed before.
#[derive(Clone, Debug)]
pub struct UnitsInput<'a> {
    /// Configured ids (null = empty).
    pub ids: &'a [String],
    /// Configured urls / emails.
    pub names: &'a [String],
    /// The ids this resource listed before (prior state's ids and resolved names).
    pub previous: &'a [String],
    /// Keys of ids another units resource (or an authoritative set) still lists.
    pub listed_elsewhere: &'a BTreeSet<String>,
    /// Names inputs of bulk jobs still running.
    pub pending_names: &'a BTreeSet<String>,
}

/// What a plan or apply of a units resource sends, and the ownership afterwards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitsPlan {
    /// Ids to add and units to remove, sent like the policy's (chunks or a bulk job).
    pub diff: UnitDiff,
    /// Urls / emails to add through a bulk job (neither matched nor pending).
    pub name_additions: Vec<String>,
    /// Ids no longer listed here that stay because another resource lists them or this one
    /// adopted them.
    pub kept: Vec<String>,
    /// The ownership once the writes are done.
    pub ownership: Ownership,
}

impl UnitsPlan {
    pub fn is_empty(&self) -> bool {
        self.diff.is_empty() && self.name_additions.is_empty()
    }
}

/// Decides the writes of one units resource against the policy's managed set (decision 9,
/// bulk-job inputs included) and its ownership.
///
/// - a listed id absent from the policy is added (a unit removed outside Terraform comes
///   back, and is owned from then on); one a dynamic rule covers is left to the rule;
/// - a listed id the policy already protects and this resource did not list before is adopted;
/// - an id no longer listed is removed only when this resource owns it and nobody else lists
///   it; units a dynamic rule carries are never in the managed set, so never removed;
/// - a url / email not matched yet and not in a running job goes through a bulk job.
pub fn plan_units(input: &UnitsInput<'_>, own: &Ownership, managed: &ManagedSet) -> UnitsPlan {
    let mut ownership = own.clone();
    ownership.retain_configured(input.ids, input.names);
    let listed = ownership.listed_ids(input.ids, input.names);
    let listed_keys: BTreeSet<String> = listed.iter().map(|id| id_key(id)).collect();
    let previous: BTreeSet<String> = input.previous.iter().map(|id| id_key(id)).collect();
    let mut plan = UnitsPlan::default();
    for id in &listed {
        let key = id_key(id);
        if managed.contains(id) {
            if !previous.contains(&key) && !own.adopted.contains(&key) && !was_owned(own, &key) {
                ownership.adopted.insert(key);
            }
        } else if managed.is_covered_by_rule(id) {
            plan.diff.covered_by_rule.push(id.clone());
        } else {
            // Added (back) by this resource: from now on it owns the unit.
            ownership.adopted.remove(&key);
            plan.diff.additions.push(id.clone());
        }
    }
    for id in input.previous {
        let key = id_key(id);
        if listed_keys.contains(&key) {
            continue;
        }
        if own.adopted.contains(&key) || input.listed_elsewhere.contains(&key) {
            plan.kept.push(id.clone());
            continue;
        }
        for unit_id in managed.unit_ids_of(id) {
            plan.diff.removals.push(Removal {
                unit_id: unit_id.clone(),
                resource_id: id.clone(),
            });
        }
    }
    plan.name_additions = ownership
        .unresolved(input.names)
        .into_iter()
        .filter(|n| !input.pending_names.contains(&name_key(n)))
        .cloned()
        .collect();
    plan.diff.additions.sort_by_key(|id| id_key(id));
    plan.diff.additions.dedup_by_key(|id| id_key(id));
    plan.ownership = ownership;
    plan
}

/// Whether the resource added this id itself (an id it resolved from one of its names).
fn was_owned(own: &Ownership, key: &str) -> bool {
    own.resolved.values().any(|id| id_key(id) == key)
}

/// The ids to record in state after a read: the configured ids the policy protects (or a
/// running job is adding), in the configured spelling. A listed id that left the policy is
/// dropped, so the next plan adds it back (drift); an id a dynamic rule covers is kept (not
/// drift, decision 3).
pub fn observed_ids(configured: &[String], managed: &ManagedSet) -> Vec<String> {
    configured
        .iter()
        .filter(|id| managed.contains(id) || managed.is_covered_by_rule(id))
        .cloned()
        .collect()
}

/// The names to record after a read: a matched name whose unit left the policy is dropped (the
/// next plan adds it back by id, no sign-in needed); names not matched yet stay (their bulk job
/// may still run, or Graph has not been asked with a delegated token yet).
pub fn observed_names(configured: &[String], own: &Ownership, managed: &ManagedSet) -> Vec<String> {
    configured
        .iter()
        .filter(|name| match own.resolved.get(&name_key(name)) {
            Some(id) => managed.contains(id) || managed.is_covered_by_rule(id),
            None => true,
        })
        .cloned()
        .collect()
}

/// The units this resource stands for, for its counts.
pub fn own_units(units: &[ProtectionUnit], listed: &[String]) -> Vec<ProtectionUnit> {
    let keys: BTreeSet<String> = listed.iter().map(|id| id_key(id)).collect();
    units
        .iter()
        .filter(|u| u.resource_id().is_some_and(|id| keys.contains(&id_key(id))))
        .filter(|u| !u.status.as_ref().is_some_and(|s| s.is_leaving()))
        .cloned()
        .collect()
}

/// The plan-time error when urls / emails must be added without a delegated credential.
pub fn sign_in_needed(
    workload: Workload,
    tenant: &str,
    client_id: Option<&str>,
    names: &[String],
) -> Notice {
    let attribute = workload.names_attribute();
    let client = client_id.unwrap_or("<client-id>");
    Notice::on(
        attribute,
        format!("A delegated sign-in is needed to add {attribute}"),
        format!(
            "Tenant {tenant}: this plan adds {} by {} ({}). Microsoft Graph adds them only \
             through bulk addition jobs and shows which unit each became only to a delegated \
             token (a tenant admin signed in to the controller app). To fix: run \
             `terraform-provider-m365backup login --tenant {tenant} --client-id {client}`, or set \
             M365BACKUP_DELEGATED_REFRESH_TOKEN or M365BACKUP_DELEGATED_ACCESS_TOKEN (provider \
             arguments delegated_refresh_token / delegated_access_token); or list them by id in \
             {}, which needs no sign-in.",
            workload.count_of(names.len()),
            if workload == Workload::SharePoint {
                "url"
            } else {
                "email address"
            },
            bounded_lines(names.to_vec()).join(", "),
            workload.ids_attribute()
        ),
    )
}

/// The warning when names are still not matched after an apply.
pub fn unmatched_notice(
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    names: &[String],
) -> Option<Notice> {
    if names.is_empty() {
        return None;
    }
    Some(Notice::on(
        workload.names_attribute(),
        format!(
            "{} of {} not matched to a unit yet (policy {policy_id}, tenant {tenant})",
            workload.count_of(names.len()),
            workload.names_attribute()
        ),
        format!(
            "Tenant {tenant}: the bulk addition job for {} has not finished or did not add them. \
             The next refresh with a delegated sign-in matches them; until then they are left out \
             of this resource's unit counts (pending_job_count shows a job still running) and \
             never removed by it. A job that failed for them is reported as a warning with \
             Graph's error code.",
            bounded_lines(names.to_vec()).join(", ")
        ),
    ))
}

/// The warning when destroy leaves urls / emails it could not match in the policy.
pub fn left_unmatched_notice(
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    names: &[String],
) -> Option<Notice> {
    if names.is_empty() {
        return None;
    }
    Some(Notice::new(
        format!(
            "{} added by {} stay in policy {policy_id} (tenant {tenant})",
            workload.count_of(names.len()),
            workload.names_attribute()
        ),
        format!(
            "Tenant {tenant}: without a delegated sign-in Graph does not show which units {} \
             became, so this destroy left them protected. Remove them in the Microsoft 365 admin \
             center, or sign in (terraform-provider-m365backup login --tenant {tenant}) and \
             destroy again from a configuration that still has this resource.",
            bounded_lines(names.to_vec()).join(", ")
        ),
    ))
}

/// The warning when ids stay because another resource lists them or they were adopted.
pub fn kept_notice(
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    kept: &[String],
) -> Option<Notice> {
    if kept.is_empty() {
        return None;
    }
    Some(Notice::new(
        format!(
            "{} stay in policy {policy_id} (tenant {tenant})",
            workload.count_of(kept.len())
        ),
        format!(
            "Tenant {tenant}: {} are no longer listed by this resource but stay protected: \
             another {} resource or the policy still lists them, or they were already in the \
             policy when this resource listed them.",
            bounded_lines(kept.to_vec()).join(", "),
            workload.units_resource_type()
        ),
    ))
}

/// The warning when ids this resource lists are planned to be removed by the destroy of the
/// resource that added them: this resource's apply keeps them (or adds them back at once).
pub fn guarded_notice(
    workload: Workload,
    tenant: &str,
    policy_id: &str,
    ids: &[String],
) -> Option<Notice> {
    if ids.is_empty() {
        return None;
    }
    Some(Notice::new(
        format!(
            "{} stay in policy {policy_id} for this resource (tenant {tenant})",
            workload.count_of(ids.len())
        ),
        format!(
            "Tenant {tenant}: another {} that added {} is planned for destroy. This resource \
             still lists them, so this apply keeps them protected (or adds them back at once if \
             the destroy removed them first).",
            workload.units_resource_type(),
            bounded_lines(ids.to_vec()).join(", ")
        ),
    ))
}

/// Decision 13 inside one provider process: which resources claim the manual units of a policy.
/// Keys are `tenant/policy` in lower case; claimants are units resources (by their `id`, or a
/// plan-local key before they have one).
pub mod claims {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::sync::{Mutex, OnceLock};

    use super::super::protection_policy::Notice;
    use super::id_key;
    use crate::graph::api::protection::Workload;

    #[derive(Default)]
    struct PolicyClaims {
        /// The policy resource's authoritative set is configured.
        authoritative: bool,
        /// Units resource → the id keys it lists.
        units: BTreeMap<String, BTreeSet<String>>,
        /// Units resource planned for destroy → the id keys it will remove unless kept.
        leaving: BTreeMap<String, BTreeSet<String>>,
        /// Static inclusion rules of the policy: their units look manual (decision 9).
        static_rules: BTreeSet<String>,
    }

    fn registry() -> &'static Mutex<HashMap<String, PolicyClaims>> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, PolicyClaims>>> = OnceLock::new();
        REGISTRY.get_or_init(Default::default)
    }

    fn key(tenant: &str, policy_id: &str) -> String {
        format!(
            "{}/{}",
            tenant.to_ascii_lowercase(),
            policy_id.to_ascii_lowercase()
        )
    }

    fn conflict(workload: Workload, tenant: &str, policy_id: &str) -> Notice {
        Notice::new(
            format!(
                "Policy {policy_id} has both an authoritative unit set and a units resource (tenant {tenant})"
            ),
            format!(
                "Tenant {tenant}: {} sets {} (or {}), which makes it the only owner of the \
                 policy's manually added units, and a {} resource adds units to the same policy: \
                 each would undo the other. Either list every unit in the policy's set, or leave \
                 {} and {} unset on the policy and use {} resources only.",
                workload.policy_resource_type(),
                workload.ids_attribute(),
                workload.ids_file_attribute(),
                workload.units_resource_type(),
                workload.ids_attribute(),
                workload.ids_file_attribute(),
                workload.units_resource_type()
            ),
        )
    }

    fn static_rule_conflict(workload: Workload, tenant: &str, policy_id: &str) -> Notice {
        Notice::new(
            format!(
                "Policy {policy_id} has both an authoritative unit set and a static inclusion rule (tenant {tenant})"
            ),
            format!(
                "Tenant {tenant}: the units a static rule adds are recorded by Graph as added \
                 manually, so the {} set ({} or {}) would remove them on the next apply. List \
                 those units in the set, make the rule dynamic (auto_apply = true, OneDrive and \
                 Exchange), or leave the set unset on the policy.",
                workload.policy_resource_type(),
                workload.ids_attribute(),
                workload.ids_file_attribute(),
            ),
        )
    }

    /// The policy resource declares its authoritative set; an error when a units resource or a
    /// static rule on the same policy was seen in this process.
    pub fn authoritative(workload: Workload, tenant: &str, policy_id: &str) -> Result<(), Notice> {
        let mut all = registry().lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(key(tenant, policy_id)).or_default();
        entry.authoritative = true;
        if !entry.units.is_empty() {
            Err(conflict(workload, tenant, policy_id))
        } else if !entry.static_rules.is_empty() {
            Err(static_rule_conflict(workload, tenant, policy_id))
        } else {
            Ok(())
        }
    }

    /// A static inclusion rule declares its policy; an error when the policy's authoritative
    /// set was seen in this process.
    pub fn static_rule(
        workload: Workload,
        tenant: &str,
        policy_id: &str,
        claimant: &str,
    ) -> Result<(), Notice> {
        let mut all = registry().lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(key(tenant, policy_id)).or_default();
        entry.static_rules.insert(claimant.to_ascii_lowercase());
        if entry.authoritative {
            Err(static_rule_conflict(workload, tenant, policy_id))
        } else {
            Ok(())
        }
    }

    /// A units resource declares the ids it lists; an error when the policy's authoritative set
    /// was seen in this process.
    pub fn units(
        workload: Workload,
        tenant: &str,
        policy_id: &str,
        claimant: &str,
        ids: &[String],
    ) -> Result<(), Notice> {
        let mut all = registry().lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(key(tenant, policy_id)).or_default();
        entry.units.insert(
            claimant.to_ascii_lowercase(),
            ids.iter().map(|id| id_key(id)).collect(),
        );
        if entry.authoritative {
            Err(conflict(workload, tenant, policy_id))
        } else {
            Ok(())
        }
    }

    /// A units resource is being destroyed: it lists nothing any more.
    #[cfg(test)]
    pub fn release(tenant: &str, policy_id: &str, claimant: &str) {
        let mut all = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = all.get_mut(&key(tenant, policy_id)) {
            entry.units.remove(&claimant.to_ascii_lowercase());
        }
    }

    /// A units resource is planned for destroy: it may remove these ids (Terraform plans a
    /// destroy before it reads the other resources, so they learn it here).
    pub fn leaving(tenant: &str, policy_id: &str, claimant: &str, ids: &[String]) {
        let mut all = registry().lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(key(tenant, policy_id)).or_default();
        entry.units.remove(&claimant.to_ascii_lowercase());
        entry.leaving.insert(
            claimant.to_ascii_lowercase(),
            ids.iter().map(|id| id_key(id)).collect(),
        );
    }

    /// Id keys other units resources of the policy are planned to remove by their destroy.
    pub fn leaving_elsewhere(tenant: &str, policy_id: &str, claimant: &str) -> BTreeSet<String> {
        let all = registry().lock().unwrap_or_else(|p| p.into_inner());
        let me = claimant.to_ascii_lowercase();
        all.get(&key(tenant, policy_id))
            .map(|entry| {
                entry
                    .leaving
                    .iter()
                    .filter(|(who, _)| **who != me)
                    .flat_map(|(_, ids)| ids.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Id keys other units resources of the policy list (seen in this process).
    pub fn listed_elsewhere(tenant: &str, policy_id: &str, claimant: &str) -> BTreeSet<String> {
        let all = registry().lock().unwrap_or_else(|p| p.into_inner());
        let me = claimant.to_ascii_lowercase();
        all.get(&key(tenant, policy_id))
            .map(|entry| {
                entry
                    .units
                    .iter()
                    .filter(|(who, _)| **who != me)
                    .flat_map(|(_, ids)| ids.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::api::protection::{Flags, ProtectionUnitStatus};
    use proptest::prelude::*;

    fn guid(n: usize) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn unit(n: usize, sources: &str) -> ProtectionUnit {
        ProtectionUnit {
            id: format!("unit-{n}"),
            directory_object_id: Some(guid(n)),
            protection_sources: Flags::parse(sources),
            status: Some(ProtectionUnitStatus::Protected),
            ..ProtectionUnit::default()
        }
    }

    fn managed(units: &[ProtectionUnit]) -> ManagedSet {
        ManagedSet::from_units(units)
    }

    fn empty() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn adds_missing_ids_and_adopts_present_ones() {
        let units = [unit(1, "manual")];
        let ids = [guid(1), guid(2)];
        let none = empty();
        let input = UnitsInput {
            ids: &ids,
            names: &[],
            previous: &[],
            listed_elsewhere: &none,
            pending_names: &none,
        };
        let plan = plan_units(&input, &Ownership::default(), &managed(&units));
        assert_eq!(plan.diff.additions, vec![guid(2)]);
        assert!(plan.diff.removals.is_empty());
        assert_eq!(plan.ownership.adopted, BTreeSet::from([guid(1)]));
    }

    #[test]
    fn removes_only_owned_ids_nobody_else_lists() {
        let units = [unit(1, "manual"), unit(2, "manual"), unit(3, "manual")];
        let previous = [guid(1), guid(2), guid(3)];
        let own = Ownership {
            adopted: BTreeSet::from([guid(2)]),
            ..Ownership::default()
        };
        let elsewhere = BTreeSet::from([guid(3)]);
        let none = empty();
        let input = UnitsInput {
            ids: &[],
            names: &[],
            previous: &previous,
            listed_elsewhere: &elsewhere,
            pending_names: &none,
        };
        let plan = plan_units(&input, &own, &managed(&units));
        let removed: Vec<&str> = plan
            .diff
            .removals
            .iter()
            .map(|r| r.unit_id.as_str())
            .collect();
        assert_eq!(removed, vec!["unit-1"], "adopted and shared ids stay");
        assert_eq!(plan.kept, vec![guid(2), guid(3)]);
        assert!(plan.ownership.adopted.is_empty(), "nothing listed any more");
    }

    #[test]
    fn never_removes_or_adds_rule_units() {
        let units = [unit(1, "manual,dynamicRule"), unit(2, "dynamicRule")];
        let none = empty();
        let ids = [guid(2)];
        let previous = [guid(1)];
        let input = UnitsInput {
            ids: &ids,
            names: &[],
            previous: &previous,
            listed_elsewhere: &none,
            pending_names: &none,
        };
        let plan = plan_units(&input, &Ownership::default(), &managed(&units));
        assert!(
            plan.diff.removals.is_empty(),
            "a dynamicRule unit is never removed"
        );
        assert!(plan.diff.additions.is_empty());
        assert_eq!(plan.diff.covered_by_rule, vec![guid(2)]);
    }

    #[test]
    fn a_unit_removed_outside_terraform_is_added_back_and_owned() {
        let own = Ownership {
            adopted: BTreeSet::from([guid(1)]),
            ..Ownership::default()
        };
        let ids = [guid(1)];
        let none = empty();
        let input = UnitsInput {
            ids: &ids,
            names: &[],
            previous: &[],
            listed_elsewhere: &none,
            pending_names: &none,
        };
        let plan = plan_units(&input, &own, &managed(&[]));
        assert_eq!(plan.diff.additions, vec![guid(1)]);
        assert!(plan.ownership.adopted.is_empty(), "added by us: owned");
    }

    #[test]
    fn names_go_through_a_job_until_matched_then_by_id() {
        let names = ["Ada@Contoso.com".to_string(), "bob@contoso.com".to_string()];
        let pending = BTreeSet::from(["bob@contoso.com".to_string()]);
        let none = empty();
        let input = UnitsInput {
            ids: &[],
            names: &names,
            previous: &[],
            listed_elsewhere: &none,
            pending_names: &pending,
        };
        let plan = plan_units(&input, &Ownership::default(), &managed(&[]));
        assert_eq!(plan.name_additions, vec!["Ada@Contoso.com".to_string()]);
        assert!(plan.diff.additions.is_empty());

        // Matched (from a delegated listing), then removed outside Terraform: back by id.
        let mut own = Ownership::default();
        let mut seen = unit(7, "manual");
        seen.email = Some("ada@contoso.com".into());
        assert_eq!(own.resolve_from(&names, &[seen]), 1);
        let plan = plan_units(&input, &own, &managed(&[]));
        assert_eq!(plan.diff.additions, vec![guid(7)]);
        assert!(plan.name_additions.is_empty());
        assert_eq!(
            observed_names(&names, &own, &managed(&[])),
            vec!["bob@contoso.com".to_string()],
            "the matched name whose unit left is drift; the unmatched one waits"
        );
    }

    #[test]
    fn a_name_removed_from_the_configuration_removes_its_unit() {
        let mut own = Ownership::default();
        own.resolved.insert("ada@contoso.com".into(), guid(7));
        let units = [unit(7, "manual")];
        let previous = own.listed_ids(&[], &["ada@contoso.com".to_string()]);
        let none = empty();
        let input = UnitsInput {
            ids: &[],
            names: &[],
            previous: &previous,
            listed_elsewhere: &none,
            pending_names: &none,
        };
        let plan = plan_units(&input, &own, &managed(&units));
        assert_eq!(plan.diff.removals.len(), 1);
        assert!(plan.ownership.resolved.is_empty());
    }

    #[test]
    fn refresh_drops_listed_ids_that_left_and_keeps_rule_covered_ones() {
        let mut leaving = unit(2, "manual");
        leaving.status = Some(ProtectionUnitStatus::RemoveRequested);
        let units = [unit(1, "manual"), leaving, unit(3, "dynamicRule")];
        let configured = [guid(1), guid(2), guid(3), guid(4)];
        assert_eq!(
            observed_ids(&configured, &managed(&units)),
            vec![guid(1), guid(3)],
            "2 is leaving and 4 is absent: both drift; 3 belongs to a rule"
        );
    }

    #[test]
    fn running_jobs_hold_their_names_as_pending() {
        let job = |status: &str, names: &[&str]| BulkAdditionJob {
            status: Some(crate::graph::api::protection::BulkJobStatus::parse(status)),
            mailboxes: Some(names.iter().map(|n| n.to_string()).collect()),
            ..BulkAdditionJob::default()
        };
        let jobs = [job("active", &["A@x.com"]), job("completed", &["b@x.com"])];
        assert_eq!(
            pending_names(&jobs),
            BTreeSet::from(["a@x.com".to_string()])
        );
    }

    #[test]
    fn the_private_map_is_compact_and_empty_when_unused() {
        assert_eq!(serde_json::to_string(&Ownership::default()).unwrap(), "{}");
        let mut own = Ownership::default();
        own.resolved.insert("a@x.com".into(), guid(1));
        own.adopted.insert(guid(2));
        let text = serde_json::to_string(&own).unwrap();
        assert!(text.len() < 120, "{text}");
        assert_eq!(serde_json::from_str::<Ownership>(&text).unwrap(), own);
    }

    #[test]
    fn counts_cover_only_this_resources_units() {
        let units = [unit(1, "manual"), unit(2, "manual"), unit(3, "manual")];
        let mine = own_units(&units, &[guid(1), guid(3), guid(9)]);
        let ids: Vec<&str> = mine.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, vec!["unit-1", "unit-3"]);
    }

    #[test]
    fn urls_compare_without_case_or_trailing_slash() {
        assert_eq!(
            name_key("https://Contoso.sharepoint.com/sites/Ops/"),
            "https://contoso.sharepoint.com/sites/ops"
        );
    }

    #[test]
    fn the_registry_reports_an_authoritative_set_with_a_units_resource() {
        let (t, p) = ("tenant-reg-1", "policy-reg-1");
        assert!(claims::units(Workload::Exchange, t, p, "a", &[guid(1)]).is_ok());
        assert!(claims::units(Workload::Exchange, t, p, "b", &[guid(2)]).is_ok());
        assert_eq!(
            claims::listed_elsewhere(t, p, "a"),
            BTreeSet::from([guid(2)])
        );
        let err = claims::authoritative(Workload::Exchange, t, p).unwrap_err();
        assert!(err.detail.contains(t) && err.detail.contains("mailbox_ids"));
        assert!(claims::units(Workload::Exchange, t, p, "c", &[]).is_err());
        claims::leaving(t, p, "b", &[guid(2)]);
        assert_eq!(
            claims::leaving_elsewhere(t, p, "a"),
            BTreeSet::from([guid(2)])
        );
        assert!(
            claims::leaving_elsewhere(t, p, "b").is_empty(),
            "not its own"
        );
        assert!(
            claims::listed_elsewhere(t, p, "a").is_empty(),
            "b released; c lists nothing"
        );
        // Another policy is unaffected.
        assert!(claims::units(Workload::Exchange, t, "policy-reg-2", "a", &[]).is_ok());
    }

    #[test]
    fn an_authoritative_set_and_a_static_rule_on_one_policy_conflict_in_either_order() {
        let (t, p) = ("tenant-reg-3", "policy-reg-3");
        assert!(claims::static_rule(Workload::SharePoint, t, p, "rule-a").is_ok());
        let err = claims::authoritative(Workload::SharePoint, t, p).unwrap_err();
        assert!(err.summary.contains("static inclusion rule") && err.detail.contains("site_ids"));
        let (t, p) = ("tenant-reg-4", "policy-reg-4");
        assert!(claims::authoritative(Workload::OneDrive, t, p).is_ok());
        let err = claims::static_rule(Workload::OneDrive, t, p, "rule-b").unwrap_err();
        assert!(err.detail.contains(t) && err.detail.contains("auto_apply = true"));
        // A static rule on another policy is unaffected.
        assert!(claims::static_rule(Workload::OneDrive, t, "policy-reg-5", "rule-b").is_ok());
    }

    #[test]
    fn sign_in_message_names_tenant_and_command() {
        let n = sign_in_needed(Workload::Exchange, "t-1", Some("app"), &["a@b.c".into()]);
        assert_eq!(n.attribute, Some("mailbox_emails"));
        assert!(n.detail.contains("login --tenant t-1 --client-id app"));
        assert!(n.detail.contains("a@b.c"));
    }

    proptest! {
        /// Whatever the ownership and listings, a removal only ever targets a unit this
        /// resource listed before, does not list now, did not adopt, and nobody else lists.
        #[test]
        fn removals_are_only_of_owned_unlisted_ids(
            present in proptest::collection::btree_set(0usize..12, 0..12),
            now in proptest::collection::btree_set(0usize..12, 0..12),
            before in proptest::collection::btree_set(0usize..12, 0..12),
            adopted in proptest::collection::btree_set(0usize..12, 0..12),
            elsewhere in proptest::collection::btree_set(0usize..12, 0..12),
        ) {
            let units: Vec<_> = present.iter().map(|&n| unit(n, "manual")).collect();
            let ids: Vec<_> = now.iter().map(|&n| guid(n)).collect();
            let previous: Vec<_> = before.iter().map(|&n| guid(n)).collect();
            let elsewhere: BTreeSet<_> = elsewhere.iter().map(|&n| guid(n)).collect();
            let own = Ownership { adopted: adopted.iter().map(|&n| guid(n)).collect(), ..Ownership::default() };
            let none = empty();
            let input = UnitsInput { ids: &ids, names: &[], previous: &previous, listed_elsewhere: &elsewhere, pending_names: &none };
            let plan = plan_units(&input, &own, &managed(&units));
            for removal in &plan.diff.removals {
                let n: usize = removal.unit_id.trim_start_matches("unit-").parse().unwrap();
                prop_assert!(before.contains(&n) && !now.contains(&n));
                prop_assert!(!own.adopted.contains(&guid(n)) && !elsewhere.contains(&guid(n)));
                prop_assert!(present.contains(&n));
            }
            for id in &plan.diff.additions {
                prop_assert!(ids.contains(id));
                prop_assert!(!present.iter().any(|&n| guid(n) == *id));
            }
        }
    }
}
