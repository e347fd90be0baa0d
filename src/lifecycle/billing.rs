//! Billing enablement as pure decisions: whether the recorded service status is what an enable
//! by our app leaves behind (drift), whether our app may enable now (readiness), and what a
//! plan proposes and tells the user. Graph has no disable call, so the only write is `enable`.

use serde::{Deserialize, Serialize};

use super::problem::Problem;
use super::service_app::AppStatus;
use crate::graph::{BackupServiceStatus, GraphError, ServiceApp, ServiceStatus};
use crate::ids::is_guid;
use crate::timefmt::canonical_text;

/// Kept in Terraform's private state: who last enabled billing (Graph's
/// `lastModifiedBy.application.id`), and whether the plan decided to call enable. Fields at
/// their default are left out of the encoding.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct BillingPrivate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_enabled_by_app: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable: bool,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

impl BillingPrivate {
    /// What a read or an enable records: who enabled billing last; no enable planned.
    pub fn enabled_by(app: Option<String>) -> Self {
        BillingPrivate {
            last_enabled_by_app: app,
            enable: false,
        }
    }

    /// A plan that calls enable.
    pub fn to_enable() -> Self {
        BillingPrivate {
            last_enabled_by_app: None,
            enable: true,
        }
    }
}

/// Configuration errors in `app_owner_tenant_id`, found without a Graph call.
pub fn check_owner_tenant(owner: Option<&str>) -> Vec<Problem> {
    match owner {
        Some(v) if !is_guid(v) => vec![Problem::new(
            Some("app_owner_tenant_id"),
            "Invalid app_owner_tenant_id",
            format!(
                "app_owner_tenant_id {v:?} is not a tenant ID (a GUID such as \
                 00000000-0000-0000-0000-000000000000)."
            ),
        )],
        _ => vec![],
    }
}

/// The tenant's serviceStatus as last recorded in state.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServiceSnapshot<'a> {
    pub status: Option<&'a str>,
    pub consumer: Option<&'a str>,
    pub disable_reason: Option<&'a str>,
}

/// Why the recorded service status is not what an enable by our app leaves behind, if it is not.
pub fn drift_reason(
    recorded: ServiceSnapshot<'_>,
    last_enabled_by_app: Option<&str>,
    client_id: &str,
) -> Option<String> {
    if recorded.status != Some("enabled") {
        let reason = recorded
            .disable_reason
            .map(|r| format!(" (disableReason {r})"))
            .unwrap_or_default();
        return Some(format!(
            "the backup service is {}{reason}",
            recorded.status.unwrap_or("not reported")
        ));
    }
    if recorded.consumer != Some("thirdparty") {
        return Some(format!(
            "the backup service is consumed by {} rather than a third-party controller",
            recorded.consumer.unwrap_or("an unknown party")
        ));
    }
    match last_enabled_by_app {
        Some(app) if !app.eq_ignore_ascii_case(client_id) => {
            Some(format!("billing was last enabled by another app ({app})"))
        }
        _ => None,
    }
}

/// What our controller app's registration says about enabling billing now.
#[derive(Clone, Debug, PartialEq)]
pub enum Readiness {
    Ready,
    /// `pendingActive` until this date (when Graph reports it).
    Deferred {
        effective: Option<String>,
    },
    NotActive(Problem),
}

/// Readiness from our serviceApp's status (`None`: not registered).
pub fn readiness(
    status: Option<&AppStatus>,
    effective: Option<String>,
    client: &str,
    tenant: &str,
) -> Readiness {
    match status {
        Some(AppStatus::Active | AppStatus::PendingInactive) => Readiness::Ready,
        Some(AppStatus::PendingActive) => Readiness::Deferred { effective },
        other => Readiness::NotActive(Problem::error(
            "The controller app is not active in this tenant",
            format!(
                "Billing can only be enabled by the active Backup Storage controller, but app {client} \
                 is {} in tenant {tenant}. Activate it first (m365backup_service_app with activate = \
                 true, and depends_on from this resource), then apply again.",
                other.map(AppStatus::as_str).unwrap_or("not registered")
            ),
        )),
    }
}

/// Readiness from our serviceApp as Graph holds it (`None`: not registered).
pub fn app_readiness(app: Option<&ServiceApp>, client: &str, tenant: &str) -> Readiness {
    let status = app.and_then(|a| a.status.as_ref());
    let effective = app.and_then(|a| a.effective_date_time.as_deref());
    readiness(status, effective.map(canonical_text), client, tenant)
}

/// The warning while our app waits for its effective date.
pub fn deferred_warning(tenant: &str, effective: Option<&str>) -> Problem {
    Problem::warning(
        "Billing enablement deferred until the controller app becomes active",
        format!(
            "The controller app is pendingActive in tenant {tenant}: Microsoft's or another \
             controller holds the tenant until {}. Microsoft Graph only lets the active controller \
             enable its billing policy, so nothing was enabled yet. The first plan after that date \
             proposes the enable.",
            effective.unwrap_or("the end of the grace period")
        ),
    )
}

/// The warning when create cannot enable yet (anything but [`Readiness::Ready`]).
pub fn waiting_warning(tenant: &str, readiness: Readiness) -> Problem {
    match readiness {
        Readiness::Deferred { effective } => deferred_warning(tenant, effective.as_deref()),
        Readiness::NotActive(mut problem) => {
            problem.summary =
                "Billing enablement deferred: the controller app is not active".into();
            problem.detail = format!(
                "{} Nothing was enabled; the first plan after the app becomes active proposes \
                 the enable, and nothing else in this run waits for this tenant.",
                problem.detail
            );
            problem.as_warning()
        }
        Readiness::Ready => Problem::warning("Billing enablement deferred", tenant.to_string()),
    }
}

/// What a plan of an existing enablement proposes.
#[derive(Clone, Debug, PartialEq)]
pub struct BillingPlan {
    pub enable: bool,
    pub warning: Option<Problem>,
}

/// Whether a plan must look at our app before deciding: only when something asks for an enable.
pub fn needs_readiness(asked: bool, drift: Option<&str>) -> bool {
    asked || drift.is_some()
}

/// What asks a plan of an existing enablement to enable again: the configuration (`asked`, the
/// owner tenant or triggers changed) or a drift of the `recorded` status from what an enable by
/// our app (`client_id`) leaves behind.
#[derive(Clone, Debug, PartialEq)]
pub struct EnableRequest {
    pub asked: bool,
    pub drift: Option<String>,
}

/// The request, `None` when nothing asks for an enable (the plan then needs no Graph call).
pub fn enable_request(
    asked: bool,
    recorded: ServiceSnapshot<'_>,
    last_enabled_by_app: Option<&str>,
    client_id: &str,
) -> Option<EnableRequest> {
    let drift = drift_reason(recorded, last_enabled_by_app, client_id);
    needs_readiness(asked, drift.as_deref()).then_some(EnableRequest { asked, drift })
}

impl EnableRequest {
    /// The plan, once our app's readiness is known (see [`plan_update`]).
    pub fn plan(
        self,
        tenant: &str,
        recorded: ServiceSnapshot<'_>,
        ready: Readiness,
    ) -> BillingPlan {
        plan_update(tenant, self.asked, self.drift, recorded, ready)
    }
}

/// The plan for an existing enablement: `asked` when the configuration changed (owner tenant or
/// triggers), `drift` from [`drift_reason`], `ready` from [`readiness`].
pub fn plan_update(
    tenant: &str,
    asked: bool,
    drift: Option<String>,
    recorded: ServiceSnapshot<'_>,
    ready: Readiness,
) -> BillingPlan {
    match ready {
        Readiness::Ready => {
            let warning = drift.filter(|_| !asked).map(|reason| {
                let taken_over =
                    recorded.consumer == Some("firstparty") && recorded.status == Some("enabled");
                let (summary, what) = if taken_over {
                    (
                        "Controller change took effect: billing to enable",
                        "the controller app is active now, so this plan enables its billing policy",
                    )
                } else {
                    (
                        "Billing enablement drifted",
                        "this plan enables the billing policy again",
                    )
                };
                Problem::warning(summary, format!("In tenant {tenant}, {reason}; {what}."))
            });
            BillingPlan {
                enable: true,
                warning,
            }
        }
        Readiness::Deferred { effective } => BillingPlan {
            enable: false,
            warning: Some(deferred_warning(tenant, effective.as_deref())),
        },
        Readiness::NotActive(mut warning) => {
            if let Some(reason) = drift {
                warning.detail = format!("In tenant {tenant}, {reason}. {}", warning.detail);
            }
            warning.detail.push_str(" Terraform plans no change.");
            BillingPlan {
                enable: false,
                warning: Some(warning.as_warning()),
            }
        }
    }
}

/// A failed enable, with advice for its documented error codes (never branching on messages).
pub fn enable_problem(error: &GraphError, owner: &str) -> Problem {
    let hint = if error.has_code("InvalidBillingProfile") {
        Some(format!(
            "The billing profile of app owner tenant {owner} is invalid: check the controller app's \
             billing policy (Azure subscription and resource group are healthy and linked), then \
             apply again."
        ))
    } else if error.has_code("UnableToReadBillingProfile") {
        Some(format!(
            "Microsoft could not read the billing profile of app owner tenant {owner}: check that the \
             billing policy exists and is reachable, then apply again."
        ))
    } else if error.has_code("InvalidAppOwnerTenantId") {
        Some(format!(
            "app_owner_tenant_id {owner} was not accepted: it must be the ID of the tenant that owns \
             the controller app and its billing policy."
        ))
    } else {
        None
    };
    let mut problem = Problem::from(error);
    if let Some(hint) = hint {
        problem.detail = format!("{hint} {}", problem.detail);
        if error.has_code("InvalidAppOwnerTenantId") {
            problem.attribute = Some("app_owner_tenant_id");
        }
    }
    problem
}

/// Success of an enable requires Graph to answer `enabled`.
pub fn check_enabled(tenant: &str, owner: &str, answer: &ServiceStatus) -> Result<(), Problem> {
    if answer.status == Some(BackupServiceStatus::Enabled) {
        return Ok(());
    }
    let show = |v: Option<&str>| v.unwrap_or_default().to_string();
    let status = show(answer.status.as_ref().map(|s| s.as_str()));
    let reason = show(answer.disable_reason.as_ref().map(|r| r.as_str()));
    Err(Problem::error(
        "Billing was not enabled",
        format!(
            "Microsoft Graph answered enable for tenant {tenant} with status {status:?} (disableReason {reason:?}) instead of \"enabled\". Check the billing policy of app owner tenant {owner}, then apply again."
        ),
    ))
}

/// Destroy only forgets the resource: the warning says what stays.
pub fn stays_enabled_warning(tenant: &str) -> Problem {
    Problem::warning(
        "Billing stays enabled",
        format!(
            "Microsoft Graph has no call to disable billing, so tenant {tenant} keeps its backup \
             service enabled and billed to the controller app's billing policy until the \
             controller is replaced or unregistered. The resource was only removed from state."
        ),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ME: &str = "22222222-2222-2222-2222-222222222222";
    const TENANT: &str = "11111111-1111-1111-1111-111111111111";

    fn snap<'a>(status: &'a str, consumer: &'a str) -> ServiceSnapshot<'a> {
        ServiceSnapshot {
            status: Some(status),
            consumer: Some(consumer),
            disable_reason: None,
        }
    }

    #[test]
    fn drift_is_disabled_service_other_consumer_or_other_enabler() {
        assert_eq!(
            drift_reason(snap("enabled", "thirdparty"), Some(ME), ME),
            None
        );
        assert_eq!(drift_reason(snap("enabled", "thirdparty"), None, ME), None);
        assert!(
            drift_reason(snap("disabled", "thirdparty"), Some(ME), ME)
                .unwrap()
                .contains("disabled")
        );
        assert!(
            drift_reason(snap("enabled", "firstparty"), Some(ME), ME)
                .unwrap()
                .contains("firstparty")
        );
        assert!(
            drift_reason(snap("enabled", "thirdparty"), Some("other"), ME)
                .unwrap()
                .contains("another app")
        );
        assert!(drift_reason(ServiceSnapshot::default(), None, ME).is_some());
    }

    #[test]
    fn readiness_follows_our_app_status() {
        assert_eq!(
            readiness(Some(&AppStatus::Active), None, ME, TENANT),
            Readiness::Ready
        );
        assert_eq!(
            readiness(Some(&AppStatus::PendingInactive), None, ME, TENANT),
            Readiness::Ready
        );
        assert_eq!(
            readiness(
                Some(&AppStatus::PendingActive),
                Some("d".into()),
                ME,
                TENANT
            ),
            Readiness::Deferred {
                effective: Some("d".into())
            }
        );
        let Readiness::NotActive(p) = readiness(None, None, ME, TENANT) else {
            panic!("not registered is not ready")
        };
        assert!(p.detail.contains("not registered") && p.detail.contains(TENANT));
    }

    #[test]
    fn takeover_that_took_effect_is_announced_as_such() {
        let plan = plan_update(
            TENANT,
            false,
            Some("x".into()),
            snap("enabled", "firstparty"),
            Readiness::Ready,
        );
        assert!(plan.enable);
        assert_eq!(
            plan.warning.unwrap().summary,
            "Controller change took effect: billing to enable"
        );
    }

    proptest! {
        /// Billing is only ever enabled when our app is ready, and a plan that does not enable
        /// always says why (deferred or not active) with a warning naming the tenant.
        #[test]
        fn enable_only_when_ready_and_never_silent(
            asked: bool,
            drift in proptest::option::of("[a-z ]{1,12}"),
            ready_kind in 0..3u8,
        ) {
            let ready = match ready_kind {
                0 => Readiness::Ready,
                1 => Readiness::Deferred { effective: None },
                _ => readiness(Some(&AppStatus::Inactive), None, ME, TENANT),
            };
            let was_ready = ready == Readiness::Ready;
            let plan = plan_update(TENANT, asked, drift.clone(), snap("disabled", "unknown"), ready);
            prop_assert_eq!(plan.enable, was_ready);
            if !was_ready {
                let w = plan.warning.clone().expect("a deferral is never silent");
                prop_assert!(w.is_warning());
                prop_assert!(w.detail.contains(TENANT));
            }
            if was_ready && (asked || drift.is_none()) {
                prop_assert!(plan.warning.is_none());
            }
        }
    }

    #[test]
    fn private_state_keeps_only_what_is_set() {
        let steady = BillingPrivate::enabled_by(Some(ME.into()));
        let bytes = rmp_serde::to_vec_named(&steady).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"\xa6enable"));
        let back: BillingPrivate = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, steady);
        let empty = rmp_serde::to_vec_named(&BillingPrivate::default()).unwrap();
        assert_eq!(empty, [0x80]);
    }

    #[test]
    fn owner_tenant_must_be_a_guid() {
        assert!(check_owner_tenant(Some(TENANT)).is_empty());
        assert!(check_owner_tenant(None).is_empty());
        let problems = check_owner_tenant(Some("contoso"));
        assert_eq!(problems[0].attribute, Some("app_owner_tenant_id"));
        assert!(
            problems[0]
                .detail
                .contains("\"contoso\" is not a tenant ID")
        );
    }

    #[test]
    fn readiness_of_an_app_uses_its_canonical_date() {
        let app = ServiceApp {
            id: ME.into(),
            status: Some(AppStatus::PendingActive),
            effective_date_time: Some("2030-01-01T00:00:00.0000000Z".into()),
            ..Default::default()
        };
        let effective = Some("2030-01-01T00:00:00Z".to_string());
        let deferred = Readiness::Deferred { effective };
        assert_eq!(app_readiness(Some(&app), ME, TENANT), deferred);
        let unregistered = app_readiness(None, ME, TENANT);
        assert!(matches!(unregistered, Readiness::NotActive(_)));
    }

    #[test]
    fn only_a_change_or_a_drift_asks_for_an_enable() {
        let steady = snap("enabled", "thirdparty");
        assert_eq!(enable_request(false, steady, Some(ME), ME), None);
        let asked = enable_request(true, steady, Some(ME), ME).unwrap();
        assert_eq!((asked.asked, asked.drift), (true, None));
        let drifted = enable_request(false, snap("disabled", "thirdparty"), Some(ME), ME);
        let plan = drifted.unwrap().plan(TENANT, steady, Readiness::Ready);
        assert!(plan.enable);
        assert_eq!(plan.warning.unwrap().summary, "Billing enablement drifted");
        assert!(BillingPrivate::to_enable().enable);
    }
}
