//! The policy object's own lifecycle: whether it is active (decision 10: from `isEnabled`, the
//! prior value kept while `updating`), activate/deactivate, another active policy of the
//! workload (decision 3: a deferral, not an error), adoption of a policy whose creating answer
//! was lost (decision 8), and destroy safety (an active policy is destroyed only when
//! `allow_destroy_while_active` is already true in state; decision 4 for deferred policies and
//! tenants we no longer control).

use super::notices::Notice;
use crate::graph::api::protection::{ProtectionPolicy, ProtectionPolicyStatus, Workload};
use crate::timefmt::parse_rfc3339;

/// Decision 10: `active` is Graph's `isEnabled`; while the policy is `updating` the prior value
/// stays (Graph flips `isEnabled` before the work is done). `None` when nothing is known.
pub fn observed_active(
    is_enabled: Option<bool>,
    status: Option<&ProtectionPolicyStatus>,
    prior: Option<bool>,
) -> Option<bool> {
    if status == Some(&ProtectionPolicyStatus::Updating) {
        prior.or(is_enabled)
    } else {
        is_enabled.or(prior)
    }
}

/// What apply does about `active`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationChange {
    Keep,
    Activate,
    Deactivate,
}

/// `active` (configured) vs what Graph shows; an unknown state counts as inactive, which is how
/// Graph creates policies.
pub fn plan_activation(desired_active: bool, observed: Option<bool>) -> ActivationChange {
    match (desired_active, observed.unwrap_or(false)) {
        (true, false) => ActivationChange::Activate,
        (false, true) => ActivationChange::Deactivate,
        _ => ActivationChange::Keep,
    }
}

/// Decision 10: a state error on activate/deactivate (400 `invalidStateForActivation` or 403
/// `PolicyActionNotAllowed`) is followed by a read; if Graph is already where we wanted, it
/// succeeded.
pub fn state_error_is_success(change: ActivationChange, reread_is_enabled: Option<bool>) -> bool {
    match change {
        ActivationChange::Keep => true,
        ActivationChange::Activate => reread_is_enabled == Some(true),
        ActivationChange::Deactivate => reread_is_enabled == Some(false),
    }
}

fn is_enabled(policy: &ProtectionPolicy) -> bool {
    let active_status = matches!(
        policy.status,
        Some(ProtectionPolicyStatus::Active | ProtectionPolicyStatus::ActiveWithErrors)
    );
    policy.is_enabled.unwrap_or(active_status)
}

/// Decision 3: an active policy of the same workload other than `own_id` (Graph allows one).
pub fn other_active_policy<'a>(
    policies: &'a [ProtectionPolicy],
    workload: Workload,
    own_id: Option<&str>,
) -> Option<&'a ProtectionPolicy> {
    policies.iter().find(|policy| {
        policy.workload() == Some(workload)
            && !own_id.is_some_and(|own| own.eq_ignore_ascii_case(&policy.id))
            && is_enabled(policy)
    })
}

/// The deferral warning for a create or activation blocked by another active policy.
pub fn other_active_policy_notice(
    workload: Workload,
    tenant_id: &str,
    other: &ProtectionPolicy,
) -> Notice {
    let name = other.display_name.as_deref().unwrap_or("(no name)");
    Notice::new(
        format!(
            "Tenant {tenant_id} already has an active {} protection policy: {name:?}",
            workload.name()
        ),
        format!(
            "Microsoft Graph allows one active policy per workload, and {name:?} ({}) is active in \
             tenant {tenant_id}. This policy's creation or activation waits until it is not. To \
             manage that policy with Terraform instead, import it: terraform import \
             {}.<name> {tenant_id}/{}",
            other.id,
            workload.policy_resource_type(),
            other.id
        ),
    )
}

/// Decision 3, when Graph refused the create for another active policy that the listing right
/// after did not show (it was deactivated in between): the create waits for the next apply.
pub fn creation_refused_notice(workload: Workload, tenant_id: &str) -> Notice {
    Notice::new(
        format!(
            "Tenant {tenant_id} refused a new {} protection policy",
            workload.name()
        ),
        format!(
            "Microsoft Graph answered 409 PolicyCreationNotAllowed: another {} policy is active \
             in tenant {tenant_id}. The create waits; the next terraform apply tries again.",
            workload.name()
        ),
    )
}

/// Decision 3: the configuration error when two `active = true` policies of one workload and
/// tenant are planned in one configuration (`first` was planned earlier in this run).
pub fn two_active_in_configuration(
    workload: Workload,
    tenant_id: &str,
    first: &str,
    second: &str,
) -> Notice {
    Notice::on(
        "active",
        format!(
            "Two active {} protection policies for tenant {tenant_id}",
            workload.name()
        ),
        format!(
            "This configuration has {first:?} and {second:?} as {} resources of tenant \
             {tenant_id}, both with active = true, but Microsoft Graph allows one active policy \
             per workload and tenant. Set active = false on one of them, or put their units in one \
             policy.",
            workload.policy_resource_type()
        ),
    )
}

/// Decision 8: after a lost answer to the creating POST, the policy to adopt rather than
/// posting again: same kind, same display name, created by our app. Several matches: the
/// newest (ties: the smallest id), so that repeated lookups agree.
pub fn find_adoptable_policy<'a>(
    policies: &'a [ProtectionPolicy],
    workload: Workload,
    display_name: &str,
    our_app_id: &str,
) -> Option<&'a ProtectionPolicy> {
    let created = |policy: &ProtectionPolicy| {
        policy
            .created_date_time
            .as_deref()
            .and_then(|t| parse_rfc3339(t).ok())
    };
    policies
        .iter()
        .filter(|policy| {
            policy.workload() == Some(workload)
                && policy.display_name.as_deref() == Some(display_name)
                && policy
                    .created_by_application()
                    .is_some_and(|app| app.eq_ignore_ascii_case(our_app_id))
        })
        .max_by(|a, b| created(a).cmp(&created(b)).then_with(|| b.id.cmp(&a.id)))
}

/// What the policy's prior state says, as it bears on destroy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestroyFacts {
    /// `id` is null: the create is still deferred.
    pub deferred: bool,
    /// `is_enabled` in state (or as just read).
    pub enabled: bool,
    /// `allow_destroy_while_active` in the *prior state* (not only in the configuration).
    pub allow_destroy_while_active: bool,
    /// Our app may still change policies in the tenant (decision 5).
    pub controls_tenant: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestroyDecision {
    /// Deferred: nothing exists in Graph.
    Nothing,
    /// We no longer control the tenant: forget it, saying what stays in Graph.
    Forget(Notice),
    /// An active policy without the switch in state.
    Refuse(Notice),
    /// Deactivate first when enabled, wait for `inactive`, then DELETE; the notice says that
    /// restore points remain.
    Delete {
        deactivate_first: bool,
        notice: Notice,
    },
}

/// Destroy safety, at plan and again at destroy (Terraform < 1.3 never plans destroys).
pub fn decide_destroy(facts: DestroyFacts, tenant_id: &str, policy: &str) -> DestroyDecision {
    if facts.deferred {
        return DestroyDecision::Nothing;
    }
    if !facts.controls_tenant {
        return DestroyDecision::Forget(Notice::new(
            format!("Policy {policy} was removed from state but left in tenant {tenant_id}"),
            format!(
                "This app no longer controls Microsoft 365 Backup Storage in tenant {tenant_id}, \
                 so it cannot deactivate or delete policy {policy}. It stays in Graph{}; the \
                 tenant's current controller can remove it.",
                if facts.enabled { " and active" } else { "" }
            ),
        ));
    }
    if facts.enabled && !facts.allow_destroy_while_active {
        return DestroyDecision::Refuse(Notice::on(
            "allow_destroy_while_active",
            format!("Policy {policy} is active in tenant {tenant_id}"),
            "Destroying an active policy stops backups of every unit it protects. Set \
             allow_destroy_while_active = true and apply it first (it must be in state), or set \
             active = false, then destroy.",
        ));
    }
    DestroyDecision::Delete {
        deactivate_first: facts.enabled,
        notice: Notice::new(
            format!("Policy {policy} is deleted from tenant {tenant_id}"),
            format!(
                "Tenant {tenant_id}: restore points already taken remain until their retention \
                 ends; Graph deletes no backup data when protection stops."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::models::{Identity, IdentitySet};
    use proptest::prelude::*;

    fn policy(id: &str, workload: Workload, name: &str, enabled: Option<bool>) -> ProtectionPolicy {
        ProtectionPolicy {
            odata_type: Some(workload.policy_odata_type().into()),
            id: id.into(),
            display_name: Some(name.into()),
            is_enabled: enabled,
            ..ProtectionPolicy::default()
        }
    }

    fn created_by(mut policy: ProtectionPolicy, app: &str, at: &str) -> ProtectionPolicy {
        policy.created_by = Some(IdentitySet {
            application: Some(Identity {
                id: Some(app.into()),
                display_name: None,
            }),
            ..IdentitySet::default()
        });
        policy.created_date_time = Some(at.into());
        policy
    }

    #[test]
    fn active_comes_from_is_enabled_except_while_updating() {
        let updating = ProtectionPolicyStatus::Updating;
        let active = ProtectionPolicyStatus::Active;
        assert_eq!(
            observed_active(Some(true), Some(&updating), Some(false)),
            Some(false)
        );
        assert_eq!(
            observed_active(Some(true), Some(&updating), None),
            Some(true)
        );
        assert_eq!(
            observed_active(Some(false), Some(&active), Some(true)),
            Some(false)
        );
        assert_eq!(observed_active(None, Some(&active), Some(true)), Some(true));
        assert_eq!(observed_active(None, None, None), None);
    }

    #[test]
    fn activation_changes() {
        assert_eq!(
            plan_activation(true, Some(false)),
            ActivationChange::Activate
        );
        assert_eq!(plan_activation(true, None), ActivationChange::Activate);
        assert_eq!(
            plan_activation(false, Some(true)),
            ActivationChange::Deactivate
        );
        assert_eq!(plan_activation(false, None), ActivationChange::Keep);
        assert_eq!(plan_activation(true, Some(true)), ActivationChange::Keep);
        assert!(state_error_is_success(
            ActivationChange::Activate,
            Some(true)
        ));
        assert!(!state_error_is_success(
            ActivationChange::Activate,
            Some(false)
        ));
        assert!(!state_error_is_success(ActivationChange::Deactivate, None));
    }

    #[test]
    fn another_active_policy_of_the_workload() {
        let mut by_status = policy("c", Workload::Exchange, "C", None);
        by_status.status = Some(ProtectionPolicyStatus::ActiveWithErrors);
        let policies = vec![
            policy("a", Workload::SharePoint, "A", Some(true)),
            policy("b", Workload::Exchange, "B", Some(false)),
            by_status,
        ];
        assert_eq!(
            other_active_policy(&policies, Workload::Exchange, None).map(|p| p.id.as_str()),
            Some("c")
        );
        assert!(other_active_policy(&policies, Workload::Exchange, Some("C")).is_none());
        assert!(other_active_policy(&policies, Workload::OneDrive, None).is_none());
        let notice = other_active_policy_notice(Workload::SharePoint, "t-1", &policies[0]);
        assert!(
            notice
                .detail
                .contains("terraform import m365backup_sharepoint_protection_policy.<name> t-1/a")
        );
    }

    #[test]
    fn two_active_policies_in_one_configuration_name_both() {
        let n = two_active_in_configuration(Workload::Exchange, "t-1", "Mail", "Mail 2");
        assert_eq!(n.attribute, Some("active"));
        assert!(n.summary.contains("t-1") && n.detail.contains("\"Mail\" and \"Mail 2\""));
        assert!(n.detail.contains("m365backup_exchange_protection_policy"));
    }

    #[test]
    fn adoption_matches_kind_name_and_creator() {
        let ours = "11111111-1111-1111-1111-111111111111";
        let policies = vec![
            created_by(
                policy("1", Workload::Exchange, "Mail", None),
                "other-app",
                "2026-01-01T00:00:00Z",
            ),
            created_by(
                policy("2", Workload::OneDrive, "Mail", None),
                ours,
                "2026-01-01T00:00:00Z",
            ),
            created_by(
                policy("3", Workload::Exchange, "Mail", None),
                &ours.to_uppercase(),
                "2026-01-01T00:00:00Z",
            ),
            created_by(
                policy("4", Workload::Exchange, "Mail", None),
                ours,
                "2026-01-02T00:00:00.5Z",
            ),
            created_by(
                policy("5", Workload::Exchange, "mail", None),
                ours,
                "2026-02-01T00:00:00Z",
            ),
        ];
        let found = find_adoptable_policy(&policies, Workload::Exchange, "Mail", ours);
        assert_eq!(found.map(|p| p.id.as_str()), Some("4"));
        assert_eq!(
            find_adoptable_policy(&policies[..3], Workload::Exchange, "Mail", ours)
                .map(|p| p.id.as_str()),
            Some("3")
        );
        assert!(find_adoptable_policy(&policies, Workload::SharePoint, "Mail", ours).is_none());
    }

    #[test]
    fn destroy_safety() {
        let facts = DestroyFacts {
            deferred: false,
            enabled: true,
            allow_destroy_while_active: false,
            controls_tenant: true,
        };
        assert!(
            matches!(decide_destroy(facts, "t", "P"), DestroyDecision::Refuse(n) if n.attribute == Some("allow_destroy_while_active"))
        );
        let allowed = DestroyFacts {
            allow_destroy_while_active: true,
            ..facts
        };
        assert!(matches!(
            decide_destroy(allowed, "t", "P"),
            DestroyDecision::Delete {
                deactivate_first: true,
                ..
            }
        ));
        let inactive = DestroyFacts {
            enabled: false,
            ..facts
        };
        assert!(
            matches!(decide_destroy(inactive, "t", "P"), DestroyDecision::Delete { deactivate_first: false, ref notice } if notice.detail.contains("restore points"))
        );
        assert_eq!(
            decide_destroy(
                DestroyFacts {
                    deferred: true,
                    ..facts
                },
                "t",
                "P"
            ),
            DestroyDecision::Nothing
        );
        assert!(
            matches!(decide_destroy(DestroyFacts { controls_tenant: false, ..facts }, "t", "P"), DestroyDecision::Forget(n) if n.detail.contains("active"))
        );
    }

    proptest! {
        /// An active policy is only ever deleted when the switch is in state.
        #[test]
        fn active_policies_need_the_switch(deferred in any::<bool>(), enabled in any::<bool>(), allow in any::<bool>(), controls in any::<bool>()) {
            let decision = decide_destroy(DestroyFacts { deferred, enabled, allow_destroy_while_active: allow, controls_tenant: controls }, "t", "P");
            if let DestroyDecision::Delete { deactivate_first, .. } = decision {
                prop_assert!(!enabled || allow);
                prop_assert_eq!(deactivate_first, enabled);
            }
        }

        /// After the planned change, Graph's state equals the configuration.
        #[test]
        fn activation_converges(desired in any::<bool>(), observed in prop::option::of(any::<bool>())) {
            let after = match plan_activation(desired, observed) {
                ActivationChange::Keep => observed.unwrap_or(false),
                ActivationChange::Activate => true,
                ActivationChange::Deactivate => false,
            };
            prop_assert_eq!(after, desired);
        }
    }
}
