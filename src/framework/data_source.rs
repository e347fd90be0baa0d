//! [`ReadOnlySource`]: what a data source implements, and [`DataSourceAdapter`], the one
//! implementation of tf-provider's `DataSource` for all of them (context lookup, tenant
//! defaulting, problems into diagnostics).

use async_trait::async_trait;
use tf_provider::schema::Schema;
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{DataSource, Diagnostics};

use super::attributes::{Attributes, tenant_field};
use super::context::{SharedContext, invalid_tenant};
use super::diagnostics::report;
use super::resource::Call;
use super::schema::schema_from_rows;
use crate::ids::is_guid;
use crate::lifecycle::Problem;

/// A Terraform data source on this framework.
#[async_trait]
pub trait ReadOnlySource: Send + Sync + 'static {
    type State: Attributes;
    const DESCRIPTION: &'static str;

    /// Reads the data for `tenant` (the configured one, else the provider's). The adapter
    /// fills a null `tenant_id` of the answer with `tenant`.
    async fn read(
        &self,
        call: &mut Call,
        tenant: String,
        config: Self::State,
    ) -> Result<Self::State, Problem>;
}

/// Implements tf-provider's `DataSource` for a [`ReadOnlySource`].
pub struct DataSourceAdapter<D> {
    source: D,
    shared: SharedContext,
}

impl<D: ReadOnlySource> DataSourceAdapter<D> {
    pub fn new(source: D, shared: SharedContext) -> Self {
        DataSourceAdapter { source, shared }
    }
}

#[async_trait]
impl<D: ReadOnlySource> DataSource for DataSourceAdapter<D> {
    type State<'a> = D::State;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema_from_rows(D::DESCRIPTION, D::State::rows()))
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, mut config: D::State) -> Option<()> {
        if let Some(Value::Value(t)) = tenant_field(&mut config)
            && !is_guid(t)
        {
            report(diags, &invalid_tenant(t));
        }
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        mut config: D::State,
        _meta: ValueEmpty,
    ) -> Option<D::State> {
        let ctx = self
            .shared
            .get()
            .map_err(|problem| report(diags, &problem))
            .ok()?;
        let configured = tenant_field(&mut config).and_then(|t| t.as_ref_option().cloned());
        let mut call = Call::new(ctx);
        let outcome = match call.ctx.tenant_for(configured.as_deref()) {
            Ok(tenant) => self
                .source
                .read(&mut call, tenant.clone(), config)
                .await
                .map(|mut data| {
                    // A source that read another tenant (named by a `<tenantId>/<id>`
                    // reference) has already said which.
                    if let Some(field) = tenant_field(&mut data)
                        && field.is_null()
                    {
                        *field = Value::Value(tenant);
                    }
                    data
                }),
            Err(problem) => Err(problem),
        };
        call.flush(diags);
        outcome.map_err(|problem| report(diags, &problem)).ok()
    }
}
