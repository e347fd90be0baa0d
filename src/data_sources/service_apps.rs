//! `m365backup_service_apps`: every serviceApp registered in a tenant, with its status.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{DataSource, Diagnostics};

use crate::data_sources::service::{text, timestamp};
use crate::provider::{SharedContext, add_problem};
use crate::resources::graph_problem;
use crate::schema::{Kind, attr, schema};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ServiceAppItem {
    pub id: Value<String>,
    pub application_id: Value<String>,
    pub status: Value<String>,
    pub effective_date_time: Value<String>,
    pub registration_date_time: Value<String>,
    pub last_modified_date_time: Value<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ServiceAppsData {
    pub tenant_id: Value<String>,
    pub service_apps: Value<Vec<ServiceAppItem>>,
}

pub struct ServiceAppsDataSource {
    shared: SharedContext,
}

impl ServiceAppsDataSource {
    pub fn new(shared: SharedContext) -> Self {
        Self { shared }
    }
}

#[async_trait]
impl DataSource for ServiceAppsDataSource {
    type State<'a> = ServiceAppsData;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeType::{List, Object, String};
        let item: HashMap<std::string::String, AttributeType> = [
            "id",
            "application_id",
            "status",
            "effective_date_time",
            "registration_date_time",
            "last_modified_date_time",
        ]
        .into_iter()
        .map(|name| (name.to_string(), String))
        .collect();
        Some(schema(
            0,
            "The serviceApps (Backup Storage controller registrations) of a tenant.",
            vec![
                attr(
                    "tenant_id",
                    String,
                    Kind::OptionalComputed,
                    "Tenant ID. Defaults to the provider's `tenant_id`.",
                ),
                attr(
                    "service_apps",
                    List(Box::new(Object(item))),
                    Kind::Computed,
                    "Each registered serviceApp: `id`, `application_id`, `status`, `effective_date_time`, `registration_date_time`, `last_modified_date_time`.",
                ),
            ],
        ))
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let ctx = self.shared.get(diags)?;
        let tenant =
            ctx.tenant_or_report(config.tenant_id.as_ref_option().map(String::as_str), diags)?;
        let apps = match ctx.graph.list_service_apps(&tenant).await {
            Ok(apps) => apps,
            Err(e) => {
                add_problem(diags, &graph_problem(&e), false);
                return None;
            }
        };
        let items = apps
            .into_iter()
            .map(|app| ServiceAppItem {
                application_id: Value::Value(
                    app.application
                        .and_then(|a| a.id)
                        .unwrap_or_else(|| app.id.clone()),
                ),
                id: Value::Value(app.id),
                status: text(app.status),
                effective_date_time: timestamp(app.effective_date_time),
                registration_date_time: timestamp(app.registration_date_time),
                last_modified_date_time: timestamp(app.last_modified_date_time),
            })
            .collect();
        Some(ServiceAppsData {
            tenant_id: Value::Value(tenant),
            service_apps: Value::Value(items),
        })
    }
}
