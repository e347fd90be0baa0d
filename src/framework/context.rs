//! What `configure` builds and every resource and data source shares: the Graph client, the
//! authenticator, and the provider's defaults.

use std::sync::{Arc, RwLock};

use super::gates::TenantGates;
use super::memo::Memo;
use crate::auth::Authenticator;
use crate::graph::GraphClient;
use crate::ids::is_guid;
use crate::lifecycle::Problem;

/// The configured provider, shared by every resource.
pub struct ProviderContext {
    pub graph: GraphClient,
    pub auth: Arc<Authenticator>,
    pub default_tenant: Option<String>,
    pub client_id: Option<String>,
    /// What each tenant allows, looked up once per tenant per process.
    pub gates: TenantGates,
    /// Graph reads shared by the calls of one run.
    pub memo: Memo,
}

impl ProviderContext {
    /// The tenant a resource works in: its own `tenant_id`, else the provider's.
    pub fn tenant_for(&self, configured: Option<&str>) -> Result<String, Problem> {
        let tenant = configured
            .map(str::to_string)
            .or_else(|| self.default_tenant.clone());
        match tenant {
            Some(t) if is_guid(&t) => Ok(t),
            Some(t) => Err(invalid_tenant(&t)),
            None => Err(Problem::new(
                Some("tenant_id"),
                "No tenant",
                "Set tenant_id on the resource, or tenant_id (ARM_TENANT_ID) on the provider.",
            )),
        }
    }

    /// The controller app's client ID, which `what` needs.
    pub fn client_id_for(&self, what: &str) -> Result<String, Problem> {
        self.client_id.clone().ok_or_else(|| {
            Problem::error(
                "No client_id",
                format!("{what}: set client_id on the provider or ARM_CLIENT_ID."),
            )
        })
    }
}

/// The error for a `tenant_id` that is not a GUID.
pub fn invalid_tenant(value: &str) -> Problem {
    Problem::new(
        Some("tenant_id"),
        "Invalid tenant_id",
        format!(
            "tenant_id {value:?} is not a tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)."
        ),
    )
}

/// Holds the context once Terraform has configured the provider; resources are created before.
#[derive(Default, Clone)]
pub struct SharedContext(Arc<RwLock<Option<Arc<ProviderContext>>>>);

impl SharedContext {
    pub fn get(&self) -> Result<Arc<ProviderContext>, Problem> {
        self.0.read().ok().and_then(|guard| guard.clone()).ok_or_else(|| {
            Problem::error(
                "Provider not configured",
                "The m365backup provider was used before Terraform configured it. This is a bug in the provider or Terraform; please report it.",
            )
        })
    }

    pub fn set(&self, ctx: ProviderContext) {
        if let Ok(mut guard) = self.0.write() {
            *guard = Some(Arc::new(ctx));
        }
    }
}
