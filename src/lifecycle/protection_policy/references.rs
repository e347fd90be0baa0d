//! Decision 18: a policy's Terraform `id` is `<tenantId>/<policyId>` next to the raw Graph id
//! `policy_id`; dependents accept either form and take the tenant from it (a mismatch with their
//! `tenant_id` is an error); importing a policy of another workload names the right resource
//! type.

use super::notices::Notice;
use crate::graph::api::protection::{ProtectionPolicy, Workload};

/// The Terraform `id` of a policy.
pub fn policy_resource_id(tenant_id: &str, policy_id: &str) -> String {
    format!("{tenant_id}/{policy_id}")
}

/// A policy named by `<tenantId>/<policyId>` or by the raw `<policyId>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyReference {
    pub tenant_id: Option<String>,
    pub policy_id: String,
}

/// Parses a policy reference (an import id or a dependent's `policy_id`).
pub fn parse_policy_reference(
    text: &str,
    attribute: &'static str,
) -> Result<PolicyReference, Notice> {
    let invalid = || {
        Notice::on(
            attribute,
            format!("Invalid {attribute}"),
            format!("{text:?} is neither \"<tenantId>/<policyId>\" nor a policy id."),
        )
    };
    let parts: Vec<&str> = text.split('/').collect();
    if parts
        .iter()
        .any(|part| part.trim().is_empty() || *part != part.trim())
    {
        return Err(invalid());
    }
    match parts.as_slice() {
        [policy] => Ok(PolicyReference {
            tenant_id: None,
            policy_id: policy.to_string(),
        }),
        [tenant, policy] => Ok(PolicyReference {
            tenant_id: Some(tenant.to_string()),
            policy_id: policy.to_string(),
        }),
        _ => Err(invalid()),
    }
}

/// The tenant a dependent works in: the reference's, which must agree with a configured
/// `tenant_id` (case-insensitively); else the configured one; else the provider's default.
pub fn resolve_tenant(
    reference: &PolicyReference,
    configured_tenant: Option<&str>,
    default_tenant: &str,
) -> Result<String, Notice> {
    match (reference.tenant_id.as_deref(), configured_tenant) {
        (Some(from_reference), Some(configured))
            if !from_reference.eq_ignore_ascii_case(configured) =>
        {
            Err(Notice::on(
                "tenant_id",
                "tenant_id does not match the policy's tenant",
                format!(
                    "policy {} belongs to tenant {from_reference}, but tenant_id is {configured}. \
                     Remove tenant_id or make it match.",
                    reference.policy_id
                ),
            ))
        }
        (Some(from_reference), _) => Ok(from_reference.to_string()),
        (None, Some(configured)) => Ok(configured.to_string()),
        (None, None) => Ok(default_tenant.to_string()),
    }
}

/// Import of a policy of another workload fails naming the resource type that fits it.
pub fn check_import_workload(
    expected: Workload,
    policy: &ProtectionPolicy,
    import_id: &str,
) -> Result<(), Notice> {
    match policy.workload() {
        Some(found) if found == expected => Ok(()),
        Some(found) => Err(Notice::new(
            format!("{import_id} is a {} protection policy", found.name()),
            format!(
                "It cannot be imported as {}; import it as {} instead.",
                expected.policy_resource_type(),
                found.policy_resource_type()
            ),
        )),
        None => Err(Notice::new(
            format!("{import_id} is not a protection policy this provider knows"),
            format!(
                "Graph reports its type as {}.",
                policy.odata_type.as_deref().unwrap_or("(none)")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn references() {
        assert_eq!(
            parse_policy_reference("t/p", "policy_id").unwrap(),
            PolicyReference {
                tenant_id: Some("t".into()),
                policy_id: "p".into()
            }
        );
        assert_eq!(
            parse_policy_reference("p", "policy_id").unwrap().tenant_id,
            None
        );
        for bad in ["", "/p", "t/", "a/b/c", " t/p", "t/ p"] {
            assert!(parse_policy_reference(bad, "policy_id").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tenants() {
        let with = |tenant: Option<&str>| PolicyReference {
            tenant_id: tenant.map(String::from),
            policy_id: "p".into(),
        };
        assert_eq!(
            resolve_tenant(&with(Some("ABC")), Some("abc"), "d").unwrap(),
            "ABC"
        );
        assert_eq!(resolve_tenant(&with(Some("a")), None, "d").unwrap(), "a");
        assert_eq!(resolve_tenant(&with(None), Some("c"), "d").unwrap(), "c");
        assert_eq!(resolve_tenant(&with(None), None, "d").unwrap(), "d");
        let error = resolve_tenant(&with(Some("a")), Some("b"), "d").unwrap_err();
        assert_eq!(error.attribute, Some("tenant_id"));
    }

    #[test]
    fn import_names_the_right_type() {
        let policy = ProtectionPolicy {
            odata_type: Some(Workload::OneDrive.policy_odata_type().into()),
            ..ProtectionPolicy::default()
        };
        assert!(check_import_workload(Workload::OneDrive, &policy, "t/p").is_ok());
        let error = check_import_workload(Workload::Exchange, &policy, "t/p").unwrap_err();
        assert!(
            error
                .detail
                .contains("import it as m365backup_onedrive_protection_policy")
        );
        assert!(
            check_import_workload(Workload::Exchange, &ProtectionPolicy::default(), "t/p").is_err()
        );
    }

    proptest! {
        /// The composed id parses back into its parts.
        #[test]
        fn ids_round_trip(tenant in "[a-z0-9.-]{1,20}", policy in "[A-Za-z0-9-]{1,36}") {
            let reference = parse_policy_reference(&policy_resource_id(&tenant, &policy), "id").unwrap();
            prop_assert_eq!(reference.tenant_id, Some(tenant));
            prop_assert_eq!(reference.policy_id, policy);
        }
    }
}
