//! `/solutions/backupRestore`: the tenant's service status, and `enable`.

use serde_json::json;

use crate::graph::client::GraphClient;
use crate::graph::error::{GraphError, GraphErrorKind};
use crate::graph::models::{BackupRestoreRoot, ServiceStatus};

impl GraphClient {
    /// `GET /solutions/backupRestore`.
    pub async fn get_root(&self, tenant: &str) -> Result<BackupRestoreRoot, GraphError> {
        self.get("get backupRestoreRoot", tenant, &[]).await
    }

    /// `POST /solutions/backupRestore/enable {appOwnerTenantId}` → the serviceStatus.
    pub async fn enable(
        &self,
        tenant: &str,
        app_owner_tenant_id: &str,
    ) -> Result<ServiceStatus, GraphError> {
        const OP: &str = "enable backupRestore";
        let body = json!({ "appOwnerTenantId": app_owner_tenant_id });
        let answer = self.post(OP, tenant, &["enable"], body).await?;
        answer.ok_or_else(|| {
            GraphError::new(
                GraphErrorKind::Decode,
                OP,
                tenant,
                "Graph answered enable without the service status",
            )
        })
    }
}
