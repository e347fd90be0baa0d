//! `m365backup_billing_enablement`: step 4 of onboarding, `POST /solutions/backupRestore/enable`
//! with the app owner's tenant, which makes the controller app's billing policy pay for the
//! consuming tenant's backup. Graph has no disable call.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::config::is_guid;
use crate::graph::{GraphError, ServiceStatus};
use crate::lifecycle::{AppStatus, Problem};
use crate::provider::{ProviderContext, SharedContext, add_problem};
use crate::resources::{graph_problem, opt};
use crate::schema::{Kind, attr, schema, service_status_attrs};
use crate::timefmt::canonical_text;

/// Terraform state of a tenant's billing enablement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct BillingState {
    pub tenant_id: Value<String>,
    pub app_owner_tenant_id: Value<String>,
    pub triggers: Value<BTreeMap<String, Value<String>>>,
    pub id: Value<String>,
    pub status: Value<String>,
    pub backup_service_consumer: Value<String>,
    pub disable_reason: Value<String>,
    pub grace_period_date_time: Value<String>,
    pub restore_allowed_till_date_time: Value<String>,
    pub last_modified_date_time: Value<String>,
}

/// Kept in Terraform's private state: who last enabled billing (Graph's
/// `lastModifiedBy.application.id`), and whether the plan decided to call enable.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct BillingPrivate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_enabled_by_app: Option<String>,
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub enable: bool,
}

impl BillingState {
    fn apply_status(&mut self, tenant: &str, status: &ServiceStatus) {
        let text = |v: &Option<String>| v.clone().map(Value::Value).unwrap_or(Value::Null);
        let time = |v: &Option<String>| {
            v.as_deref()
                .map(canonical_text)
                .map(Value::Value)
                .unwrap_or(Value::Null)
        };
        self.tenant_id = Value::Value(tenant.to_string());
        self.id = Value::Value(tenant.to_string());
        self.status = text(&status.status);
        self.backup_service_consumer = text(&status.backup_service_consumer);
        self.disable_reason = text(&status.disable_reason);
        self.grace_period_date_time = time(&status.grace_period_date_time);
        self.restore_allowed_till_date_time = time(&status.restore_allowed_till_date_time);
        self.last_modified_date_time = time(&status.last_modified_date_time);
    }

    fn set_computed_unknown(&mut self) {
        for field in [
            &mut self.status,
            &mut self.backup_service_consumer,
            &mut self.disable_reason,
            &mut self.grace_period_date_time,
            &mut self.restore_allowed_till_date_time,
            &mut self.last_modified_date_time,
        ] {
            *field = Value::Unknown;
        }
    }

    fn copy_computed_from(&mut self, prior: &BillingState) {
        self.id = prior.id.clone();
        self.status = prior.status.clone();
        self.backup_service_consumer = prior.backup_service_consumer.clone();
        self.disable_reason = prior.disable_reason.clone();
        self.grace_period_date_time = prior.grace_period_date_time.clone();
        self.restore_allowed_till_date_time = prior.restore_allowed_till_date_time.clone();
        self.last_modified_date_time = prior.last_modified_date_time.clone();
    }
}

fn last_enabled_by(status: &ServiceStatus) -> Option<String> {
    status
        .last_modified_by
        .as_ref()
        .and_then(|b| b.application.as_ref())
        .and_then(|a| a.id.clone())
}

/// Why the recorded service status is not what an enable by our app leaves behind, if it is not.
pub fn drift_reason(
    state: &BillingState,
    last_enabled_by_app: Option<&str>,
    client_id: &str,
) -> Option<String> {
    let status = state.status.as_ref_option().map(String::as_str);
    let consumer = state
        .backup_service_consumer
        .as_ref_option()
        .map(String::as_str);
    if status != Some("enabled") {
        let reason = state
            .disable_reason
            .as_ref_option()
            .map(|r| format!(" (disableReason {r})"))
            .unwrap_or_default();
        return Some(format!(
            "the backup service is {}{reason}",
            status.unwrap_or("not reported")
        ));
    }
    if consumer != Some("thirdparty") {
        return Some(format!(
            "the backup service is consumed by {} rather than a third-party controller",
            consumer.unwrap_or("an unknown party")
        ));
    }
    match last_enabled_by_app {
        Some(app) if !app.eq_ignore_ascii_case(client_id) => {
            Some(format!("billing was last enabled by another app ({app})"))
        }
        _ => None,
    }
}

pub struct BillingEnablementResource {
    shared: SharedContext,
}

impl BillingEnablementResource {
    pub fn new(shared: SharedContext) -> Self {
        Self { shared }
    }
}

/// What our controller app's registration says about enabling billing now.
enum Readiness {
    Ready,
    Deferred { effective: Option<String> },
    NotActive(Problem),
}

async fn readiness(
    ctx: &ProviderContext,
    tenant: &str,
    diags: &mut Diagnostics,
) -> Option<Readiness> {
    let Some(client) = ctx.client_id.clone() else {
        diags.root_error(
            "No client_id",
            "Enabling billing is done by the controller app: set client_id on the provider or ARM_CLIENT_ID.",
        );
        return None;
    };
    let app = match ctx.graph.get_service_app(tenant, &client).await {
        Ok(app) => app,
        Err(e) => {
            add_problem(diags, &graph_problem(&e), false);
            return None;
        }
    };
    let status = app.as_ref().and_then(|a| a.status.clone());
    Some(match status.as_deref().map(AppStatus::parse) {
        Some(AppStatus::Active) | Some(AppStatus::PendingInactive) => Readiness::Ready,
        Some(AppStatus::PendingActive) => Readiness::Deferred {
            effective: app
                .and_then(|a| a.effective_date_time)
                .map(|d| canonical_text(&d)),
        },
        other => Readiness::NotActive(Problem {
            attribute: None,
            summary: "The controller app is not active in this tenant".into(),
            detail: format!(
                "Billing can only be enabled by the active Backup Storage controller, but app {client} \
                 is {} in tenant {tenant}. Activate it first (m365backup_service_app with activate = \
                 true, and depends_on from this resource), then apply again.",
                match other {
                    None => "not registered".to_string(),
                    Some(s) => s.as_str().to_string(),
                }
            ),
        }),
    })
}

fn deferred_warning(tenant: &str, effective: Option<&str>) -> Problem {
    Problem {
        attribute: None,
        summary: "Billing enablement deferred until the controller app becomes active".into(),
        detail: format!(
            "The controller app is pendingActive in tenant {tenant}: Microsoft's or another \
             controller holds the tenant until {}. Microsoft Graph only lets the active controller \
             enable its billing policy, so nothing was enabled yet. The first plan after that date \
             proposes the enable.",
            effective.unwrap_or("the end of the grace period")
        ),
    }
}

/// Diagnostic for enable's documented errors (branching on codes, never on messages).
fn enable_problem(error: &GraphError, owner: &str) -> Problem {
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
    let mut problem = graph_problem(error);
    if let Some(hint) = hint {
        problem.detail = format!("{hint} {}", problem.detail);
        if error.has_code("InvalidAppOwnerTenantId") {
            problem.attribute = Some("app_owner_tenant_id");
        }
    }
    problem
}

/// Calls enable; success requires Graph to answer `enabled`.
async fn enable(
    ctx: &ProviderContext,
    state: &mut BillingState,
    tenant: &str,
    owner: &str,
    diags: &mut Diagnostics,
) -> Option<BillingPrivate> {
    match ctx.graph.enable(tenant, owner).await {
        Ok(status) if status.status.as_deref() == Some("enabled") => {
            state.apply_status(tenant, &status);
            Some(BillingPrivate {
                last_enabled_by_app: last_enabled_by(&status).or_else(|| ctx.client_id.clone()),
                enable: false,
            })
        }
        Ok(status) => {
            diags.root_error(
                "Billing was not enabled",
                format!(
                    "Microsoft Graph answered enable for tenant {tenant} with status {:?} (disableReason {:?}) instead of \"enabled\". Check the billing policy of app owner tenant {owner}, then apply again.",
                    status.status.unwrap_or_default(),
                    status.disable_reason.unwrap_or_default()
                ),
            );
            None
        }
        Err(e) => {
            add_problem(diags, &enable_problem(&e, owner), false);
            None
        }
    }
}

/// Reads the tenant's serviceStatus into `state`; returns who last enabled billing.
async fn read_status(
    ctx: &ProviderContext,
    state: &mut BillingState,
    tenant: &str,
    diags: &mut Diagnostics,
) -> Option<Option<String>> {
    match ctx.graph.get_root(tenant).await {
        Ok(root) => {
            let status = root.service_status.unwrap_or_default();
            state.apply_status(tenant, &status);
            Some(last_enabled_by(&status))
        }
        Err(e) => {
            add_problem(diags, &graph_problem(&e), false);
            None
        }
    }
}

fn fill_tenant(
    state: &mut BillingState,
    ctx: &ProviderContext,
    diags: &mut Diagnostics,
) -> Option<String> {
    let configured = state.tenant_id.as_ref_option().cloned();
    let tenant = ctx.tenant_or_report(configured.as_deref(), diags)?;
    state.tenant_id = Value::Value(tenant.clone());
    state.id = Value::Value(tenant.clone());
    Some(tenant)
}

#[async_trait]
impl Resource for BillingEnablementResource {
    type State<'a> = BillingState;
    type PrivateState<'a> = BillingPrivate;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeType::{Map, String};
        Some(schema(
            0,
            "Enables the controller app's billing policy in a consuming tenant (step 4 of onboarding). Graph has no disable call: destroying this resource only removes it from state.",
            [
                attr(
                    "tenant_id",
                    String,
                    Kind::OptionalComputed,
                    "Consuming tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.",
                ),
                attr(
                    "app_owner_tenant_id",
                    String,
                    Kind::Required,
                    "ID of the tenant that owns the controller app and its billing policy.",
                ),
                attr(
                    "triggers",
                    Map(Box::new(String)),
                    Kind::Optional,
                    "Arbitrary values; any change calls enable again (e.g. when the billing policy or Azure subscription changes).",
                ),
                attr("id", String, Kind::Computed, "The consuming tenant ID."),
            ]
            .into_iter()
            .chain(service_status_attrs())
            .collect(),
        ))
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        for (name, value) in [
            ("tenant_id", &config.tenant_id),
            ("app_owner_tenant_id", &config.app_owner_tenant_id),
        ] {
            if let Value::Value(v) = value
                && !is_guid(v)
            {
                diags.error(
                    format!("Invalid {name}"),
                    format!("{name} {v:?} is not a tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)."),
                    AttributePath::new(name),
                );
            }
        }
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        mut state: Self::State<'a>,
        mut private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        let tenant = opt(&state.tenant_id)?;
        private.last_enabled_by_app = read_status(&ctx, &mut state, &tenant, diags).await?;
        private.enable = false;
        Some((state, private))
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        let mut planned = proposed;
        if planned.tenant_id.is_unknown() {
            planned.id = Value::Unknown;
        } else {
            fill_tenant(&mut planned, &ctx, diags)?;
        }
        planned.set_computed_unknown();
        Some((
            planned,
            BillingPrivate {
                enable: true,
                ..Default::default()
            },
        ))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        prior_private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let ctx = self.shared.get(diags)?;
        let mut planned = proposed;
        if planned.tenant_id.is_null() {
            fill_tenant(&mut planned, &ctx, diags)?;
        }
        planned.copy_computed_from(&prior);
        let keep = BillingPrivate {
            enable: false,
            ..prior_private.clone()
        };
        if planned.tenant_id != prior.tenant_id {
            planned.id = Value::Unknown;
            planned.set_computed_unknown();
            return Some((planned, keep, vec![AttributePath::new("tenant_id")]));
        }
        let asked = planned.triggers != prior.triggers
            || planned.app_owner_tenant_id != prior.app_owner_tenant_id;
        let tenant = opt(&prior.tenant_id)?;
        let client = ctx.client_id.clone().unwrap_or_default();
        let drift = drift_reason(
            &prior,
            prior_private.last_enabled_by_app.as_deref(),
            &client,
        );
        if !asked && drift.is_none() {
            return Some((planned, keep, vec![]));
        }
        // Enabling only works for the active controller: look at our app before planning it.
        match readiness(&ctx, &tenant, diags).await? {
            Readiness::Ready => {
                if let Some(reason) = drift.filter(|_| !asked) {
                    let (summary, what) = if prior
                        .backup_service_consumer
                        .as_ref_option()
                        .map(String::as_str)
                        == Some("firstparty")
                        && prior.status.as_ref_option().map(String::as_str) == Some("enabled")
                    {
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
                    diags.root_warning(summary, format!("In tenant {tenant}, {reason}; {what}."));
                }
                planned.set_computed_unknown();
                Some((
                    planned,
                    BillingPrivate {
                        enable: true,
                        ..keep
                    },
                    vec![],
                ))
            }
            Readiness::Deferred { effective } => {
                add_problem(
                    diags,
                    &deferred_warning(&tenant, effective.as_deref()),
                    true,
                );
                Some((planned, keep, vec![]))
            }
            Readiness::NotActive(problem) => {
                let mut warning = problem;
                if let Some(reason) = drift {
                    warning.detail = format!("In tenant {tenant}, {reason}. {}", warning.detail);
                }
                warning.detail.push_str(" Terraform plans no change.");
                add_problem(diags, &warning, true);
                Some((planned, keep, vec![]))
            }
        }
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: Self::State<'a>,
        prior_private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        Some(prior_private)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let ctx = self.shared.get(diags)?;
        let mut state = planned;
        let tenant = fill_tenant(&mut state, &ctx, diags)?;
        let owner = opt(&state.app_owner_tenant_id)?;
        match readiness(&ctx, &tenant, diags).await? {
            Readiness::Ready => {
                let private = enable(&ctx, &mut state, &tenant, &owner, diags).await?;
                Some((state, private))
            }
            Readiness::Deferred { effective } => {
                // Record the resource with the service as it is; the plan after the date enables.
                add_problem(
                    diags,
                    &deferred_warning(&tenant, effective.as_deref()),
                    true,
                );
                let last = read_status(&ctx, &mut state, &tenant, diags).await?;
                Some((
                    state,
                    BillingPrivate {
                        last_enabled_by_app: last,
                        enable: false,
                    },
                ))
            }
            Readiness::NotActive(problem) => {
                add_problem(diags, &problem, false);
                None
            }
        }
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let mut state = planned;
        if !private.enable {
            state.copy_computed_from(&prior);
            return Some((state, private));
        }
        let ctx = self.shared.get(diags)?;
        let tenant = opt(&prior.tenant_id)?;
        let owner = opt(&state.app_owner_tenant_id)?;
        let private = enable(&ctx, &mut state, &tenant, &owner, diags).await?;
        Some((state, private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        let tenant = prior.tenant_id.as_ref_option().cloned().unwrap_or_default();
        diags.root_warning(
            "Billing stays enabled",
            format!(
                "Microsoft Graph has no call to disable billing, so tenant {tenant} keeps its backup \
                 service enabled and billed to the controller app's billing policy until the \
                 controller is replaced or unregistered. The resource was only removed from state."
            ),
        );
        Some(())
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let parts: Vec<&str> = id.split('/').collect();
        let [tenant, owner] = parts.as_slice() else {
            diags.root_error(
                "Invalid import ID",
                format!(
                    "Import IDs are `<tenantId>/<appOwnerTenantId>` (Graph never returns the app owner tenant, so the ID carries it); got {id:?}."
                ),
            );
            return None;
        };
        for (name, value) in [("tenant ID", tenant), ("app owner tenant ID", owner)] {
            if !is_guid(value) {
                diags.root_error("Invalid import ID", format!("{value:?} is not a {name} (a GUID). Import IDs are `<tenantId>/<appOwnerTenantId>`."));
                return None;
            }
        }
        let state = BillingState {
            tenant_id: Value::Value(tenant.to_string()),
            app_owner_tenant_id: Value::Value(owner.to_string()),
            id: Value::Value(tenant.to_string()),
            ..Default::default()
        };
        Some((state, BillingPrivate::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_state_keeps_only_what_is_set() {
        let steady = BillingPrivate {
            last_enabled_by_app: Some("3c9f1d2e-8a47-4b6c-b0d5-7e2a91f4c8a3".into()),
            enable: false,
        };
        let bytes = rmp_serde::to_vec_named(&steady).unwrap();
        assert!(
            !bytes.windows(7).any(|w| w == b"\xa6enable"),
            "no `enable` key"
        );
        assert_eq!(
            rmp_serde::from_slice::<BillingPrivate>(&bytes).unwrap(),
            steady
        );
        assert_eq!(
            rmp_serde::to_vec_named(&BillingPrivate::default()).unwrap(),
            [0x80]
        );
    }

    fn state(status: &str, consumer: &str) -> BillingState {
        BillingState {
            status: Value::Value(status.into()),
            backup_service_consumer: Value::Value(consumer.into()),
            ..Default::default()
        }
    }

    #[test]
    fn drift_is_disabled_service_other_consumer_or_other_enabler() {
        let me = "22222222-2222-2222-2222-222222222222";
        assert_eq!(
            drift_reason(&state("enabled", "thirdparty"), Some(me), me),
            None
        );
        assert_eq!(
            drift_reason(&state("enabled", "thirdparty"), None, me),
            None
        );
        assert!(
            drift_reason(&state("disabled", "thirdparty"), Some(me), me)
                .unwrap()
                .contains("disabled")
        );
        assert!(
            drift_reason(&state("enabled", "firstparty"), Some(me), me)
                .unwrap()
                .contains("firstparty")
        );
        assert!(
            drift_reason(&state("enabled", "thirdparty"), Some("other"), me)
                .unwrap()
                .contains("another app")
        );
        assert!(drift_reason(&BillingState::default(), None, me).is_some());
    }
}
