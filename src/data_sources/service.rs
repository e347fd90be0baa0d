//! `m365backup_service`: the tenant's Backup Storage serviceStatus (who controls it, grace
//! period and restore-until dates).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{DataSource, Diagnostics};

use crate::provider::{SharedContext, add_problem};
use crate::resources::graph_problem;
use crate::schema::{Kind, attr, schema, service_status_attrs};
use crate::timefmt::canonical_text;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ServiceData {
    pub tenant_id: Value<String>,
    pub status: Value<String>,
    pub backup_service_consumer: Value<String>,
    pub disable_reason: Value<String>,
    pub grace_period_date_time: Value<String>,
    pub restore_allowed_till_date_time: Value<String>,
    pub last_modified_date_time: Value<String>,
}

pub struct ServiceDataSource {
    shared: SharedContext,
}

impl ServiceDataSource {
    pub fn new(shared: SharedContext) -> Self {
        Self { shared }
    }
}

/// `Some(text)` as a Terraform value, `None` as null.
pub fn text(value: Option<String>) -> Value<String> {
    value.map(Value::Value).unwrap_or(Value::Null)
}

/// A Graph timestamp in canonical form, `None` as null.
pub fn timestamp(value: Option<String>) -> Value<String> {
    value
        .map(|v| Value::Value(canonical_text(&v)))
        .unwrap_or(Value::Null)
}

#[async_trait]
impl DataSource for ServiceDataSource {
    type State<'a> = ServiceData;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeType::String;
        Some(schema(
            0,
            "The Microsoft 365 Backup Storage service status of a tenant: whether it is enabled, who controls it, and the grace-period and restore-until dates.",
            std::iter::once(attr(
                "tenant_id",
                String,
                Kind::OptionalComputed,
                "Tenant ID. Defaults to the provider's `tenant_id`.",
            ))
            .chain(service_status_attrs())
            .collect(),
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
        let root = match ctx.graph.get_root(&tenant).await {
            Ok(root) => root,
            Err(e) => {
                add_problem(diags, &graph_problem(&e), false);
                return None;
            }
        };
        let s = root.service_status.unwrap_or_default();
        Some(ServiceData {
            tenant_id: Value::Value(tenant),
            status: text(s.status),
            backup_service_consumer: text(s.backup_service_consumer),
            disable_reason: text(s.disable_reason),
            grace_period_date_time: timestamp(s.grace_period_date_time),
            restore_allowed_till_date_time: timestamp(s.restore_allowed_till_date_time),
            last_modified_date_time: timestamp(s.last_modified_date_time),
        })
    }
}
