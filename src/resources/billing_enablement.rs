//! `m365backup_billing_enablement`: step 4 of onboarding, `POST /solutions/backupRestore/enable`
//! with the app owner's tenant, which makes the controller app's billing policy pay for the
//! consuming tenant's backup. Decisions live in [`crate::lifecycle::billing`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use tf_provider::value::Value;

use super::service_status::{self as docs, StatusValues, last_enabled_by};
use crate::framework::values::{known, opt_str};
use crate::framework::{Attributes, Call, ImportId, ManagedResource, WriteError};
use crate::graph::ServiceStatus;
use crate::lifecycle::Problem;
use crate::lifecycle::billing::{self, BillingPrivate, Readiness, ServiceSnapshot};

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

impl BillingState {
    /// Records the tenant's serviceStatus; returns who last enabled billing.
    fn apply_status(&mut self, tenant: &str, status: &ServiceStatus) -> Option<String> {
        let values = StatusValues::from(status);
        self.tenant_id = Value::Value(tenant.to_string());
        self.id = Value::Value(tenant.to_string());
        self.status = values.status;
        self.backup_service_consumer = values.backup_service_consumer;
        self.disable_reason = values.disable_reason;
        self.grace_period_date_time = values.grace_period_date_time;
        self.restore_allowed_till_date_time = values.restore_allowed_till_date_time;
        self.last_modified_date_time = values.last_modified_date_time;
        last_enabled_by(status)
    }

    fn snapshot(&self) -> ServiceSnapshot<'_> {
        ServiceSnapshot {
            status: opt_str(&self.status),
            consumer: opt_str(&self.backup_service_consumer),
            disable_reason: opt_str(&self.disable_reason),
        }
    }
}

pub struct BillingEnablement;

/// Whether our controller app may enable billing now (one GET of our serviceApp).
async fn readiness(call: &Call, tenant: &str) -> Result<Readiness, Problem> {
    let client = (call.ctx).client_id_for("Enabling billing is done by the controller app")?;
    let app = call.ctx.graph.get_service_app(tenant, &client).await?;
    Ok(billing::app_readiness(app.as_ref(), &client, tenant))
}

/// Calls enable; success requires Graph to answer `enabled`.
async fn enable(
    call: &Call,
    state: &mut BillingState,
    tenant: &str,
) -> Result<BillingPrivate, Problem> {
    let owner = known(&state.app_owner_tenant_id, "app_owner_tenant_id")?.to_string();
    call.ctx.gates.invalidate(tenant);
    let status = (call.ctx.graph.enable(tenant, &owner).await)
        .map_err(|e| billing::enable_problem(&e, &owner))?;
    billing::check_enabled(tenant, &owner, &status)?;
    let last = state.apply_status(tenant, &status);
    let last = last.or_else(|| call.ctx.client_id.clone());
    Ok(BillingPrivate::enabled_by(last))
}

/// Reads the tenant's serviceStatus into `state`; the private state records who enabled it.
async fn read_status(
    call: &Call,
    state: &mut BillingState,
    tenant: &str,
) -> Result<BillingPrivate, Problem> {
    let status = call.ctx.graph.get_root(tenant).await?.service_status;
    call.ctx.gates.saw_root(tenant, status.clone());
    let last = state.apply_status(tenant, &status.unwrap_or_default());
    Ok(BillingPrivate::enabled_by(last))
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
        key_attribute: "app_owner_tenant_id",
        id_has_key: false,
    };

    fn validate(config: &BillingState) -> Vec<Problem> {
        billing::check_owner_tenant(opt_str(&config.app_owner_tenant_id))
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: BillingState,
        _private: BillingPrivate,
    ) -> Result<Option<(BillingState, BillingPrivate)>, Problem> {
        let tenant = known(&state.tenant_id, "tenant_id")?.to_string();
        let private = read_status(call, &mut state, &tenant).await?;
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
            (call.ctx.gates).note_planned(tenant, |steps| steps.billing_enable = true);
        }
        Ok((planned, BillingPrivate::to_enable()))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &BillingState,
        mut planned: BillingState,
        _config: &BillingState,
        private: BillingPrivate,
    ) -> Result<(BillingState, BillingPrivate), Problem> {
        let keep = BillingPrivate::enabled_by(private.last_enabled_by_app);
        let asked = planned.triggers != prior.triggers
            || planned.app_owner_tenant_id != prior.app_owner_tenant_id;
        let client = call.ctx.client_id.clone().unwrap_or_default();
        let last = keep.last_enabled_by_app.as_deref();
        let Some(request) = billing::enable_request(asked, prior.snapshot(), last, &client) else {
            return Ok((planned, keep));
        };
        let tenant = known(&prior.tenant_id, "tenant_id")?;
        let plan = request.plan(tenant, prior.snapshot(), readiness(call, tenant).await?);
        call.warn_all(plan.warning);
        if plan.enable {
            planned.unknown_on_change();
            (call.ctx.gates).note_planned(tenant, |steps| steps.billing_enable = true);
        }
        let enable = plan.enable;
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
        let private = match readiness(call, &tenant).await? {
            Readiness::Ready => enable(call, &mut state, &tenant).await?,
            waiting => {
                // Our app is not active yet (pending, inactive, not registered): a tenant
                // condition. Record the service as it is; a later plan proposes the enable.
                call.warn(billing::waiting_warning(&tenant, waiting));
                read_status(call, &mut state, &tenant).await?
            }
        };
        Ok((state, private))
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
        let tenant = known(&prior.tenant_id, "tenant_id")?;
        let private = enable(call, &mut state, tenant).await?;
        Ok((state, private))
    }

    async fn delete(
        &self,
        call: &mut Call,
        prior: BillingState,
        _private: BillingPrivate,
    ) -> Result<(), Problem> {
        let tenant = opt_str(&prior.tenant_id).unwrap_or_default();
        call.warn(billing::stays_enabled_warning(tenant));
        Ok(())
    }
}
