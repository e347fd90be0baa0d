//! `m365backup_service`: the tenant's Backup Storage serviceStatus (who controls it, grace
//! period and restore-until dates).

use async_trait::async_trait;

use crate::framework::{Call, ReadOnlySource};
use crate::lifecycle::Problem;
use crate::resources::service_status::{self as docs, StatusValues};

crate::attributes! {
    pub struct ServiceData {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`.";
        status: String => Computed, docs::STATUS;
        backup_service_consumer: String => Computed, docs::CONSUMER;
        disable_reason: String => Computed, docs::DISABLE_REASON;
        grace_period_date_time: String => Computed, docs::GRACE_PERIOD;
        restore_allowed_till_date_time: String => Computed, docs::RESTORE_ALLOWED_TILL;
        last_modified_date_time: String => Computed, docs::LAST_MODIFIED;
    }
}

pub struct ServiceDataSource;

#[async_trait]
impl ReadOnlySource for ServiceDataSource {
    type State = ServiceData;
    const DESCRIPTION: &'static str = "The Microsoft 365 Backup Storage service status of a tenant: whether it is enabled, who controls it, and the grace-period and restore-until dates.";

    async fn read(
        &self,
        call: &mut Call,
        tenant: String,
        _config: ServiceData,
    ) -> Result<ServiceData, Problem> {
        let root = call.ctx.graph.get_root(&tenant).await?;
        let s = StatusValues::from(&root.service_status.unwrap_or_default());
        Ok(ServiceData {
            tenant_id: Default::default(),
            status: s.status,
            backup_service_consumer: s.backup_service_consumer,
            disable_reason: s.disable_reason,
            grace_period_date_time: s.grace_period_date_time,
            restore_allowed_till_date_time: s.restore_allowed_till_date_time,
            last_modified_date_time: s.last_modified_date_time,
        })
    }
}
