//! `m365backup_service_apps`: every serviceApp registered in a tenant, with its status.

use async_trait::async_trait;
use tf_provider::value::Value;

use crate::framework::{Call, ReadOnlySource};
use crate::lifecycle::Problem;
use crate::resources::service_app_values::AppValues;

crate::attributes! {
    /// One registered serviceApp.
    pub struct ServiceAppItem {
        id: String => Computed, "serviceApp ID.";
        application_id: String => Computed, "Graph's `application.id`, else the serviceApp ID.";
        status: String => Computed, "serviceApp status.";
        effective_date_time: String => Computed, "When the activation took or takes effect.";
        registration_date_time: String => Computed, "When the app was registered.";
        last_modified_date_time: String => Computed, "When Graph last changed the serviceApp.";
    }
}

crate::attributes! {
    pub struct ServiceAppsData {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`.";
        service_apps: Vec<ServiceAppItem> => Computed, "Each registered serviceApp: `id`, `application_id`, `status`, `effective_date_time`, `registration_date_time`, `last_modified_date_time`.";
    }
}

pub struct ServiceAppsDataSource;

#[async_trait]
impl ReadOnlySource for ServiceAppsDataSource {
    type State = ServiceAppsData;
    const DESCRIPTION: &'static str =
        "The serviceApps (Backup Storage controller registrations) of a tenant.";

    async fn read(
        &self,
        call: &mut Call,
        tenant: String,
        _config: ServiceAppsData,
    ) -> Result<ServiceAppsData, Problem> {
        let apps = call.ctx.graph.list_service_apps(&tenant).await?;
        let items = apps
            .into_iter()
            .map(|app| {
                let values = AppValues::from(&app);
                ServiceAppItem {
                    id: values.id,
                    application_id: values.application_id,
                    status: values.status,
                    effective_date_time: values.effective_date_time,
                    registration_date_time: values.registration_date_time,
                    last_modified_date_time: values.last_modified_date_time,
                }
            })
            .collect();
        Ok(ServiceAppsData {
            tenant_id: Value::Null,
            service_apps: Value::Value(items),
        })
    }
}
