//! Decision 5: whether protection writes may be planned in a tenant, from one GET of the root
//! (`serviceStatus`) and one of our serviceApp. Writes are allowed when the service is
//! `enabled`, `backupServiceConsumer` is `thirdparty` and our app is `active`; a write the
//! tenant does not allow yet is deferred with a reason naming what it waits for (with the date
//! when known) and what the user can do. While our app is `pendingInactive` nothing is written
//! and drift is only a warning. Steps already planned in this process for the tenant (an
//! immediate activation of our app, billing's enable) count as met, so that a whole tenant
//! onboards in one apply. [`decide_write`] applies decision 4's deferral mechanics per
//! resource, and [`judge_write_refusal`] decision 6 (a 403/409/423 to a write).

use super::notices::Notice;
use crate::graph::models::{ServiceApp, ServiceStatus};

/// Steps planned earlier in this provider process for the same tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlannedSteps {
    /// Our serviceApp is planned to become `active` at once (no other controller).
    pub app_activation: bool,
    /// `m365backup_billing_enablement` is planned to enable the service.
    pub billing_enable: bool,
}

/// What the root and our serviceApp say, as text (enum members kept as Graph sent them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateFacts<'a> {
    pub tenant_id: &'a str,
    /// `serviceStatus.status`: `disabled`, `enabled`, `protectionChangeLocked`, ...
    pub service_status: Option<&'a str>,
    /// `serviceStatus.backupServiceConsumer`: `firstparty`, `thirdparty`, ...
    pub service_consumer: Option<&'a str>,
    /// Our serviceApp's `status`; `None` when the app is not registered in the tenant.
    pub app_status: Option<&'a str>,
    pub app_effective_date_time: Option<&'a str>,
    pub planned: PlannedSteps,
}

impl<'a> GateFacts<'a> {
    /// From the root's `serviceStatus` and our serviceApp (`None`: not registered, 404).
    pub fn from_graph(
        tenant_id: &'a str,
        service: Option<&'a ServiceStatus>,
        our_app: Option<&'a ServiceApp>,
        planned: PlannedSteps,
    ) -> Self {
        Self {
            tenant_id,
            service_status: service.and_then(|s| s.status.as_ref().map(|v| v.as_str())),
            service_consumer: service
                .and_then(|s| s.backup_service_consumer.as_ref().map(|v| v.as_str())),
            app_status: our_app.and_then(|a| a.status.as_ref().map(|v| v.as_str())),
            app_effective_date_time: our_app.and_then(|a| a.effective_date_time.as_deref()),
            planned,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Allowed,
    /// Writes wait; the text is the resource's `deferred_reason` and the warning's detail.
    Deferred(String),
    /// Our app is `pendingInactive`: plan no writes, report drift as a warning.
    ReadOnlyWarn(String),
}

pub fn gate(facts: &GateFacts<'_>) -> Gate {
    let tenant = facts.tenant_id;
    if facts.app_status == Some("pendingInactive") {
        let when = facts
            .app_effective_date_time
            .map(|date| format!(" on {date}"))
            .unwrap_or_default();
        return Gate::ReadOnlyWarn(format!(
            "Tenant {tenant}: this app's serviceApp is pendingInactive (the customer is moving \
             to another backup controller, which takes over{when}). Protection policies are \
             not changed; differences from the configuration are reported as warnings only."
        ));
    }
    let mut waits: Vec<String> = Vec::new();
    let mut actions: Vec<&str> = Vec::new();
    match facts.app_status {
        Some("active") => {}
        _ if facts.planned.app_activation => {}
        Some("pendingActive") => {
            let when = facts
                .app_effective_date_time
                .map(|date| format!(" on {date}"))
                .unwrap_or_else(|| " at its effective date".to_string());
            waits.push(format!(
                "this app's serviceApp to become active{when} (until then Graph gives it \
                 read-only access)"
            ));
            actions
                .push("nothing to do but wait: the first plan after that date proposes the change");
        }
        Some(other) if other != "inactive" => {
            waits.push(format!(
                "this app's serviceApp (status {other}) to become active"
            ));
            actions.push("check the m365backup_service_app resource of this tenant");
        }
        _ => {
            waits.push(
                "this app to be registered and activated as the tenant's Backup Storage controller"
                    .into(),
            );
            actions.push(
                "add an m365backup_service_app resource with activate = true for this tenant",
            );
        }
    }
    let consumer_is_us = facts
        .service_consumer
        .is_some_and(|c| c.eq_ignore_ascii_case("thirdparty"));
    match facts.service_status {
        _ if facts.planned.billing_enable => {}
        Some("enabled") if consumer_is_us => {}
        Some("enabled") => {
            waits.push(format!(
                "the service to be enabled for a third-party controller (it is enabled for {})",
                facts.service_consumer.unwrap_or("an unknown consumer")
            ));
            actions.push("enable billing with an m365backup_billing_enablement resource once this app is active");
        }
        Some(locked @ ("protectionChangeLocked" | "restoreLocked")) => {
            waits.push(format!(
                "the service to leave {locked} (an unhealthy billing profile or no active \
                 controller; Graph takes 24 to 48 hours after billing is fixed)"
            ));
            actions.push("fix the tenant's billing profile");
        }
        status => {
            waits.push(format!(
                "Backup Storage to be enabled (service status {})",
                status.unwrap_or("unknown")
            ));
            actions.push("add an m365backup_billing_enablement resource for this tenant");
        }
    }
    if waits.is_empty() {
        return Gate::Allowed;
    }
    Gate::Deferred(format!(
        "Tenant {tenant}: protection changes wait for {}. What you can do: {}. Nothing is \
         written until then; the first plan after that proposes the changes.",
        waits.join("; and for "),
        actions.join("; ")
    ))
}

/// Where the planned write stands (decision 4's deferral mechanics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSubject {
    /// A create of an object that does not exist yet (first plan).
    NewObject,
    /// A create recorded as deferred earlier (`id` null in state).
    DeferredObject,
    /// A change to an object that exists in Graph.
    ExistingObject,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteDecision {
    /// Plan the write. A deferred create that may now proceed carries a warning saying why
    /// `id` and the computed values become unknown.
    Proceed(Option<Notice>),
    /// Record the configuration without a Graph call; `reason` is `deferred_reason`.
    Defer { reason: String, notice: Notice },
    /// Our app is `pendingInactive`: plan no change, show the difference as a warning.
    WarnOnly(Notice),
}

/// Turns the tenant's [`Gate`] into what one resource's plan does; `what` names the object
/// for the user ("policy Mail").
pub fn decide_write(gate: &Gate, subject: WriteSubject, what: &str) -> WriteDecision {
    match gate {
        Gate::Allowed => {
            WriteDecision::Proceed((subject == WriteSubject::DeferredObject).then(|| {
                Notice::new(
                    format!("The deferred create of {what} can proceed"),
                    format!(
                        "The tenant now allows protection changes, so {what} is created by this \
                     apply; its id and computed values are known after apply."
                    ),
                )
            }))
        }
        Gate::Deferred(reason) => WriteDecision::Defer {
            reason: reason.clone(),
            notice: Notice::new(format!("Changes to {what} are deferred"), reason.clone()),
        },
        Gate::ReadOnlyWarn(reason) if subject == WriteSubject::ExistingObject => {
            WriteDecision::WarnOnly(Notice::new(
                format!("{what} differs from the configuration; no change is planned"),
                reason.clone(),
            ))
        }
        Gate::ReadOnlyWarn(reason) => WriteDecision::Defer {
            reason: reason.clone(),
            notice: Notice::new(format!("The create of {what} is deferred"), reason.clone()),
        },
    }
}

/// The application permission every protection write needs.
pub const WRITE_ROLE: &str = "BackupRestore-Configuration.ReadWrite.All";

/// What a 403/409/423 answer to a write means (decision 6), once root and serviceApp were read
/// again and the token's `roles` inspected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalDecision {
    /// The tenant gates the write: a deferral with this reason.
    Defer(String),
    /// The token lacks [`WRITE_ROLE`] in this tenant: a per-tenant deferral with this reason.
    MissingRole(String),
    /// Neither: an error (with the request-id, added by the caller).
    Error,
}

/// Decision 6: gating refusals are undocumented and `accessDenied` also means "insufficient
/// privileges", so the answer alone decides nothing.
pub fn judge_write_refusal(
    http_status: u16,
    gate_after_reread: &Gate,
    token_roles: &[String],
    tenant_id: &str,
    client_id: &str,
    authority_host: &str,
) -> RefusalDecision {
    if !matches!(http_status, 403 | 409 | 423) {
        return RefusalDecision::Error;
    }
    match gate_after_reread {
        Gate::Deferred(reason) | Gate::ReadOnlyWarn(reason) => {
            RefusalDecision::Defer(reason.clone())
        }
        Gate::Allowed
            if !token_roles
                .iter()
                .any(|r| r.eq_ignore_ascii_case(WRITE_ROLE)) =>
        {
            RefusalDecision::MissingRole(format!(
                "Tenant {tenant_id}: this app's token has no {WRITE_ROLE} role. An administrator \
                 of the tenant grants it at {}/{tenant_id}/adminconsent?client_id={client_id}; \
                 protection changes in this tenant wait until then.",
                authority_host.trim_end_matches('/')
            ))
        }
        Gate::Allowed => RefusalDecision::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts<'a>(service: &'a str, consumer: &'a str, app: Option<&'a str>) -> GateFacts<'a> {
        GateFacts {
            tenant_id: "t-1",
            service_status: Some(service),
            service_consumer: Some(consumer),
            app_status: app,
            app_effective_date_time: None,
            planned: PlannedSteps::default(),
        }
    }

    #[test]
    fn allowed_only_when_enabled_for_us_and_active() {
        assert_eq!(
            gate(&facts("enabled", "thirdparty", Some("active"))),
            Gate::Allowed
        );
        assert_eq!(
            gate(&facts("enabled", "thirdParty", Some("active"))),
            Gate::Allowed
        );
        assert!(
            matches!(gate(&facts("enabled", "firstparty", Some("active"))), Gate::Deferred(r) if r.contains("enabled for firstparty"))
        );
        assert!(
            matches!(gate(&facts("disabled", "unknown", Some("active"))), Gate::Deferred(r) if r.contains("m365backup_billing_enablement"))
        );
        assert!(
            matches!(gate(&facts("protectionChangeLocked", "thirdparty", Some("active"))), Gate::Deferred(r) if r.contains("billing profile"))
        );
    }

    #[test]
    fn pending_active_waits_for_its_date() {
        let mut f = facts("enabled", "firstparty", Some("pendingActive"));
        f.app_effective_date_time = Some("2026-12-09T00:00:00Z");
        let Gate::Deferred(reason) = gate(&f) else {
            panic!("deferred expected")
        };
        assert!(reason.starts_with("Tenant t-1: "));
        assert!(reason.contains("become active on 2026-12-09T00:00:00Z"));
        assert!(
            reason.contains("enabled for firstparty"),
            "both waits are named: {reason}"
        );
        f.app_effective_date_time = None;
        assert!(matches!(gate(&f), Gate::Deferred(r) if r.contains("at its effective date")));
    }

    #[test]
    fn unregistered_or_inactive_app_waits_for_the_service_app() {
        for app in [None, Some("inactive")] {
            assert!(
                matches!(gate(&facts("enabled", "thirdparty", app)), Gate::Deferred(r) if r.contains("m365backup_service_app"))
            );
        }
        assert!(
            matches!(gate(&facts("enabled", "thirdparty", Some("newStatus"))), Gate::Deferred(r) if r.contains("status newStatus"))
        );
    }

    #[test]
    fn pending_inactive_is_read_only() {
        let mut f = facts("enabled", "thirdparty", Some("pendingInactive"));
        f.app_effective_date_time = Some("2027-01-01T00:00:00Z");
        assert!(
            matches!(gate(&f), Gate::ReadOnlyWarn(r) if r.contains("on 2027-01-01T00:00:00Z") && r.contains("t-1"))
        );
    }

    #[test]
    fn steps_planned_in_this_process_count_as_met() {
        // A tenant held by Microsoft's controller onboards in one apply.
        let mut f = facts("disabled", "unknown", Some("inactive"));
        f.planned = PlannedSteps {
            app_activation: true,
            billing_enable: true,
        };
        assert_eq!(gate(&f), Gate::Allowed);
        f.planned.billing_enable = false;
        assert!(
            matches!(gate(&f), Gate::Deferred(r) if !r.contains("serviceApp") && r.contains("billing"))
        );
    }

    #[test]
    fn write_decisions_follow_the_gate() {
        let allowed = decide_write(&Gate::Allowed, WriteSubject::NewObject, "policy P");
        assert_eq!(allowed, WriteDecision::Proceed(None));
        let resumed = decide_write(&Gate::Allowed, WriteSubject::DeferredObject, "policy P");
        assert!(
            matches!(resumed, WriteDecision::Proceed(Some(n)) if n.summary.contains("can proceed"))
        );
        let waiting = Gate::Deferred("Tenant t: wait".into());
        assert!(
            matches!(decide_write(&waiting, WriteSubject::ExistingObject, "policy P"),
            WriteDecision::Defer { reason, .. } if reason == "Tenant t: wait")
        );
        let leaving = Gate::ReadOnlyWarn("Tenant t: leaving".into());
        assert!(matches!(
            decide_write(&leaving, WriteSubject::ExistingObject, "policy P"),
            WriteDecision::WarnOnly(_)
        ));
        assert!(matches!(
            decide_write(&leaving, WriteSubject::NewObject, "policy P"),
            WriteDecision::Defer { .. }
        ));
    }

    #[test]
    fn facts_from_graph_models() {
        let service = ServiceStatus {
            status: Some("enabled".into()),
            backup_service_consumer: Some("thirdparty".into()),
            ..ServiceStatus::default()
        };
        let app = ServiceApp {
            status: Some("active".into()),
            ..ServiceApp::default()
        };
        let facts = GateFacts::from_graph("t", Some(&service), Some(&app), PlannedSteps::default());
        assert_eq!(gate(&facts), Gate::Allowed);
        let unregistered =
            GateFacts::from_graph("t", Some(&service), None, PlannedSteps::default());
        assert!(matches!(gate(&unregistered), Gate::Deferred(_)));
    }

    #[test]
    fn refusals_are_judged_after_a_reread() {
        let roles = vec![WRITE_ROLE.to_lowercase()];
        let host = "https://login.microsoftonline.com/";
        let gated = Gate::Deferred("Tenant t: wait".into());
        assert_eq!(
            judge_write_refusal(403, &gated, &roles, "t", "c", host),
            RefusalDecision::Defer("Tenant t: wait".into())
        );
        assert_eq!(
            judge_write_refusal(500, &gated, &roles, "t", "c", host),
            RefusalDecision::Error
        );
        assert_eq!(
            judge_write_refusal(423, &Gate::Allowed, &roles, "t", "c", host),
            RefusalDecision::Error
        );
        let missing = judge_write_refusal(403, &Gate::Allowed, &[], "t", "c", host);
        assert!(matches!(missing, RefusalDecision::MissingRole(r)
            if r.contains("https://login.microsoftonline.com/t/adminconsent?client_id=c")));
    }

    proptest! {
        /// Writes are allowed exactly when every condition holds (planned steps included).
        #[test]
        fn allowed_iff_every_condition_holds(
            service in prop::sample::select(vec!["enabled", "disabled", "protectionChangeLocked", "restoreLocked", "x"]),
            consumer in prop::sample::select(vec!["thirdparty", "firstparty", "unknown"]),
            app in prop::option::of(prop::sample::select(vec!["active", "pendingActive", "inactive", "pendingInactive", "y"])),
            activation in any::<bool>(), billing in any::<bool>(),
        ) {
            let mut f = facts(service, consumer, app);
            f.planned = PlannedSteps { app_activation: activation, billing_enable: billing };
            let app_ok = app == Some("active") || (activation && app != Some("pendingInactive"));
            let service_ok = billing || (service == "enabled" && consumer == "thirdparty");
            match gate(&f) {
                Gate::Allowed => prop_assert!(app_ok && service_ok),
                Gate::ReadOnlyWarn(_) => prop_assert_eq!(app, Some("pendingInactive")),
                Gate::Deferred(reason) => {
                    prop_assert!(!(app_ok && service_ok));
                    prop_assert!(reason.contains("t-1"));
                }
            }
        }
    }
}
