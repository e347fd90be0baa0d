//! `m365backup_billing_enablement`: step 4 of onboarding, `POST /solutions/backupRestore/enable`
//! with the app owner's tenant, which makes the controller app's billing policy pay for the
//! consuming tenant's backup. Decisions live in [`crate::lifecycle::billing`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::value::Value;

use super::service_status::{self as docs, StatusValues, last_enabled_by};
use crate::framework::values::known;
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::ServiceStatus;
use crate::ids::is_guid;
use crate::lifecycle::Problem;
use crate::lifecycle::billing::{self, Readiness, ServiceSnapshot};
use crate::timefmt::canonical_text;

crate::attributes! {
    /// Terraform state of a tenant's billing enablement.
    pub struct BillingState {
        tenant_id: String => OptionalComputed, "Consuming tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.", replace = true;
        app_owner_tenant_id: String => Required, "ID of the tenant that owns the controller app and its billing policy.";
        triggers: BTreeMap<String, Value<String>> => Optional, "Arbitrary values; any change calls enable again (e.g. when the billing policy or Azure subscription changes).";
        id: String => Computed, "The consuming tenant ID.", stable = true;
        status: String => Computed, docs::STATUS;
        backup_service_consumer: String => Computed, docs::CONSUMER;
        disable_reason: String => Computed, docs::DISABLE_REASON;
        grace_period_date_time: String => Computed, docs::GRACE_PERIOD;
        restore_allowed_till_date_time: String => Computed, docs::RESTORE_ALLOWED_TILL;
        last_modified_date_time: String => Computed, docs::LAST_MODIFIED;
    }
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
        let values = StatusValues::from(status);
        self.tenant_id = Value::Value(tenant.to_string());
        self.id = Value::Value(tenant.to_string());
        self.status = values.status;
        self.backup_service_consumer = values.backup_service_consumer;
        self.disable_reason = values.disable_reason;
        self.grace_period_date_time = values.grace_period_date_time;
        self.restore_allowed_till_date_time = values.restore_allowed_till_date_time;
        self.last_modified_date_time = values.last_modified_date_time;
    }

    fn snapshot(&self) -> ServiceSnapshot<'_> {
        fn get(v: &Value<String>) -> Option<&str> {
            v.as_ref_option().map(String::as_str)
        }
        ServiceSnapshot {
            status: get(&self.status),
            consumer: get(&self.backup_service_consumer),
            disable_reason: get(&self.disable_reason),
        }
    }
}

pub struct BillingEnablement;

/// Whether our controller app may enable billing now (one GET of our serviceApp).
async fn readiness(call: &Call, tenant: &str) -> Result<Readiness, Problem> {
    let client = call
        .ctx
        .client_id_for("Enabling billing is done by the controller app")?;
    let app = call.ctx.graph.get_service_app(tenant, &client).await?;
    let status = app.as_ref().and_then(|a| a.status.clone());
    let effective = app
        .and_then(|a| a.effective_date_time)
        .map(|d| canonical_text(&d));
    Ok(billing::readiness(
        status.as_ref(),
        effective,
        &client,
        tenant,
    ))
}

/// Calls enable; success requires Graph to answer `enabled`.
async fn enable(
    call: &Call,
    state: &mut BillingState,
    tenant: &str,
    owner: &str,
) -> Result<BillingPrivate, Problem> {
    call.ctx.gates.invalidate(tenant);
    let status = (call.ctx.graph.enable(tenant, owner).await)
        .map_err(|e| billing::enable_problem(&e, owner))?;
    billing::check_enabled(tenant, owner, &status)?;
    state.apply_status(tenant, &status);
    Ok(BillingPrivate {
        last_enabled_by_app: last_enabled_by(&status).or_else(|| call.ctx.client_id.clone()),
        enable: false,
    })
}

/// Reads the tenant's serviceStatus into `state`; returns who last enabled billing.
async fn read_status(
    call: &Call,
    state: &mut BillingState,
    tenant: &str,
) -> Result<Option<String>, Problem> {
    let status = call.ctx.graph.get_root(tenant).await?.service_status;
    let status = status.unwrap_or_default();
    state.apply_status(tenant, &status);
    Ok(last_enabled_by(&status))
}

#[async_trait]
impl ManagedResource for BillingEnablement {
    type State = BillingState;
    type Private = BillingPrivate;

    const DESCRIPTION: &'static str = "Enables the controller app's billing policy in a consuming tenant (step 4 of onboarding). Graph has no disable call: destroying this resource only removes it from state.";
    const IMPORT: ImportId = ImportId {
        key: "appOwnerTenantId",
        key_meaning: "an app owner tenant ID",
        bare_key: false,
        note: " (Graph never returns the app owner tenant, so the ID carries it)",
    };

    fn validate(config: &BillingState) -> Vec<Problem> {
        match &config.app_owner_tenant_id {
            Value::Value(v) if !is_guid(v) => vec![Problem::new(
                Some("app_owner_tenant_id"),
                "Invalid app_owner_tenant_id",
                format!(
                    "app_owner_tenant_id {v:?} is not a tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)."
                ),
            )],
            _ => vec![],
        }
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: BillingState,
        mut private: BillingPrivate,
    ) -> Result<Option<(BillingState, BillingPrivate)>, Problem> {
        let tenant = known(&state.tenant_id, "tenant_id")?.to_string();
        private.last_enabled_by_app = read_status(call, &mut state, &tenant).await?;
        private.enable = false;
        Ok(Some((state, private)))
    }

    async fn plan_create(
        &self,
        call: &mut Call,
        mut planned: BillingState,
        _config: &BillingState,
    ) -> Result<(BillingState, BillingPrivate), Problem> {
        planned.id = planned.tenant_id.clone();
        if let Value::Value(tenant) = &planned.tenant_id {
            let gates = &call.ctx.gates;
            gates.note_planned(tenant, |steps| steps.billing_enable = true);
        }
        let enable = BillingPrivate {
            enable: true,
            ..Default::default()
        };
        Ok((planned, enable))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &BillingState,
        mut planned: BillingState,
        _config: &BillingState,
        private: BillingPrivate,
    ) -> Result<(BillingState, BillingPrivate), Problem> {
        let keep = BillingPrivate {
            enable: false,
            ..private
        };
        let asked = planned.triggers != prior.triggers
            || planned.app_owner_tenant_id != prior.app_owner_tenant_id;
        let client = call.ctx.client_id.clone().unwrap_or_default();
        let last = keep.last_enabled_by_app.as_deref();
        let drift = billing::drift_reason(prior.snapshot(), last, &client);
        if !billing::needs_readiness(asked, drift.as_deref()) {
            return Ok((planned, keep));
        }
        let tenant = known(&prior.tenant_id, "tenant_id")?;
        let ready = readiness(call, tenant).await?;
        let plan = billing::plan_update(tenant, asked, drift, prior.snapshot(), ready);
        plan.warning.into_iter().for_each(|w| call.warn(w));
        if plan.enable {
            planned.unknown_on_change();
        }
        let enable = plan.enable;
        if enable {
            let gates = &call.ctx.gates;
            gates.note_planned(tenant, |steps| steps.billing_enable = true);
        }
        Ok((planned, BillingPrivate { enable, ..keep }))
    }

    async fn create(
        &self,
        call: &mut Call,
        mut state: BillingState,
        _config: &BillingState,
        _private: BillingPrivate,
    ) -> Result<(BillingState, BillingPrivate), WriteError<BillingState>> {
        let tenant = known(&state.tenant_id, "tenant_id")?.to_string();
        let owner = known(&state.app_owner_tenant_id, "app_owner_tenant_id")?.to_string();
        match readiness(call, &tenant).await? {
            Readiness::Ready => {
                let private = enable(call, &mut state, &tenant, &owner).await?;
                Ok((state, private))
            }
            waiting => {
                // Our app is not active yet (pending, inactive, not registered): a tenant
                // condition. Record the service as it is; a later plan proposes the enable.
                call.warn(billing::waiting_warning(&tenant, waiting));
                let last = read_status(call, &mut state, &tenant).await?;
                let private = BillingPrivate {
                    last_enabled_by_app: last,
                    enable: false,
                };
                Ok((state, private))
            }
        }
    }

    async fn update(
        &self,
        call: &mut Call,
        prior: &BillingState,
        mut state: BillingState,
        _config: &BillingState,
        private: BillingPrivate,
    ) -> Result<(BillingState, BillingPrivate), WriteError<BillingState>> {
        if !private.enable {
            state.copy_computed_from(prior);
            return Ok((state, private));
        }
        let tenant = known(&prior.tenant_id, "tenant_id")?.to_string();
        let owner = known(&state.app_owner_tenant_id, "app_owner_tenant_id")?.to_string();
        let private = enable(call, &mut state, &tenant, &owner).await?;
        Ok((state, private))
    }

    async fn delete(
        &self,
        call: &mut Call,
        prior: BillingState,
        _private: BillingPrivate,
    ) -> Result<(), Problem> {
        let tenant = prior.tenant_id.as_ref_option().cloned().unwrap_or_default();
        call.warn(billing::stays_enabled_warning(&tenant));
        Ok(())
    }

    async fn import(
        &self,
        _call: &mut Call,
        tenant: String,
        owner: String,
    ) -> Result<(BillingState, BillingPrivate), Problem> {
        let state = BillingState {
            id: Value::Value(tenant.clone()),
            tenant_id: Value::Value(tenant),
            app_owner_tenant_id: Value::Value(owner),
            ..Default::default()
        };
        Ok((state, BillingPrivate::default()))
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
        assert!(!bytes.windows(7).any(|w| w == b"\xa6enable"));
        let back: BillingPrivate = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, steady);
        let empty = rmp_serde::to_vec_named(&BillingPrivate::default()).unwrap();
        assert_eq!(empty, [0x80]);
    }
}
