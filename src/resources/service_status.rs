//! The tenant's serviceStatus as Terraform attributes, shared by `m365backup_billing_enablement`
//! and the `m365backup_service` data source (same names, same meaning, same descriptions).

use tf_provider::value::Value;

use crate::framework::values::{text, timestamp};
use crate::graph::ServiceStatus;

pub const STATUS: &str = "The service status: `disabled`, `enabled`, `protectionChangeLocked`, `restoreLocked`, or a newer value.";
pub const CONSUMER: &str =
    "Who controls the service: `unknown`, `firstparty`, `thirdparty`, or a newer value.";
pub const DISABLE_REASON: &str = "Why the service is disabled: `none`, `invalidBillingProfile`, `userRequested`, `controllerServiceAppDeleted`, or a newer value.";
pub const GRACE_PERIOD: &str = "End of the grace period, when one runs.";
pub const RESTORE_ALLOWED_TILL: &str = "End of the restore-allowed period, when one runs.";
pub const LAST_MODIFIED: &str = "When the service status last changed.";

/// The six computed serviceStatus attributes, in schema order.
pub struct StatusValues {
    pub status: Value<String>,
    pub backup_service_consumer: Value<String>,
    pub disable_reason: Value<String>,
    pub grace_period_date_time: Value<String>,
    pub restore_allowed_till_date_time: Value<String>,
    pub last_modified_date_time: Value<String>,
}

impl From<&ServiceStatus> for StatusValues {
    fn from(s: &ServiceStatus) -> Self {
        StatusValues {
            status: text(s.status.as_ref()),
            backup_service_consumer: text(s.backup_service_consumer.as_ref()),
            disable_reason: text(s.disable_reason.as_ref()),
            grace_period_date_time: timestamp(s.grace_period_date_time.as_deref()),
            restore_allowed_till_date_time: timestamp(s.restore_allowed_till_date_time.as_deref()),
            last_modified_date_time: timestamp(s.last_modified_date_time.as_deref()),
        }
    }
}

/// Who last enabled billing: Graph's `lastModifiedBy.application.id`.
pub fn last_enabled_by(status: &ServiceStatus) -> Option<String> {
    status
        .last_modified_by
        .as_ref()
        .and_then(|b| b.application.as_ref())
        .and_then(|a| a.id.clone())
}
