//! `/solutions/backupRestore/serviceApps`: the controller registrations of a tenant.

use serde_json::json;

use crate::auth::TokenKind;
use crate::graph::client::GraphClient;
use crate::graph::enums::ServiceAppStatus;
use crate::graph::error::{GraphError, GraphErrorKind};
use crate::graph::models::ServiceApp;

const LIST: &str = "list serviceApps";
const REGISTER: &str = "register serviceApp";
const GET: &str = "get serviceApp";
const UNREGISTER: &str = "unregister serviceApp";
const ACTIVATE: &str = "activate serviceApp";
const DEACTIVATE: &str = "deactivate serviceApp";

impl GraphClient {
    /// Every serviceApp of the tenant (every page).
    pub async fn list_service_apps(&self, tenant: &str) -> Result<Vec<ServiceApp>, GraphError> {
        self.list_all(LIST, tenant, &["serviceApps"]).await
    }

    /// `POST .../serviceApps {}`; `None` when the answer has no readable body (GET the app to
    /// learn its state).
    pub async fn create_service_app(&self, tenant: &str) -> Result<Option<ServiceApp>, GraphError> {
        match self
            .post(REGISTER, tenant, &["serviceApps"], json!({}))
            .await
        {
            Err(e) if e.kind == GraphErrorKind::Decode => {
                tracing::warn!(tenant, error = %e, "registration succeeded but its answer was not understood");
                Ok(None)
            }
            other => other,
        }
    }

    /// One serviceApp; `None` when Graph answers 404.
    pub async fn get_service_app(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ServiceApp>, GraphError> {
        self.get_or_none(GET, tenant, &["serviceApps", id]).await
    }

    /// `DELETE .../serviceApps/{id}` (a 404 is an error with status 404).
    pub async fn delete_service_app(&self, tenant: &str, id: &str) -> Result<(), GraphError> {
        self.delete(UNREGISTER, tenant, &["serviceApps", id]).await
    }

    /// `POST .../serviceApps/{id}/activate {effectiveDateTime}`, delegated only.
    pub async fn activate(
        &self,
        tenant: &str,
        id: &str,
        effective_date_time: &str,
    ) -> Result<ServiceApp, GraphError> {
        let body = json!({ "effectiveDateTime": effective_date_time });
        let path = ["serviceApps", id, "activate"];
        let answer = (self.action(
            ACTIVATE,
            tenant,
            &path,
            Some(body),
            Some(TokenKind::Delegated),
        ))
        .await?;
        self.app_or_read_back(ACTIVATE, tenant, id, answer).await
    }

    /// `POST .../serviceApps/{id}/deactivate`, delegated only.
    pub async fn deactivate(&self, tenant: &str, id: &str) -> Result<ServiceApp, GraphError> {
        let path = ["serviceApps", id, "deactivate"];
        let delegated = Some(TokenKind::Delegated);
        let answer = self
            .action(DEACTIVATE, tenant, &path, None, delegated)
            .await?;
        self.app_or_read_back(DEACTIVATE, tenant, id, answer).await
    }

    /// Registers our app, adopting an existing registration (a retry after a lost response, or
    /// an app registered outside Terraform). `None` when Graph accepted but cannot show it.
    pub async fn register_or_adopt(
        &self,
        tenant: &str,
        client_id: &str,
    ) -> Result<Option<ServiceApp>, GraphError> {
        match self.create_service_app(tenant).await {
            Ok(Some(app)) if app.status.is_some() => Ok(Some(app)),
            // 202 without a usable body: read the registration back.
            Ok(_) => self.get_service_app(tenant, client_id).await,
            Err(e) if e.is_status(409) => {
                tracing::info!(
                    tenant,
                    client_id,
                    "serviceApp already registered; adopting it"
                );
                self.get_service_app(tenant, client_id).await
            }
            Err(e) => Err(e),
        }
    }

    /// Activates and, when that fails, reads the app: a lost response after Graph applied it,
    /// or a retry refused because the first attempt already worked, is a success.
    pub async fn activate_reconciled(
        &self,
        tenant: &str,
        id: &str,
        effective_date_time: &str,
    ) -> Result<ServiceApp, GraphError> {
        let error = match self.activate(tenant, id, effective_date_time).await {
            Ok(app) => return Ok(app),
            Err(error) => error,
        };
        tracing::debug!(tenant, id, "activate failed; checking the app's status");
        match self.get_service_app(tenant, id).await {
            Ok(Some(app))
                if matches!(
                    app.status,
                    Some(ServiceAppStatus::Active | ServiceAppStatus::PendingActive)
                ) =>
            {
                tracing::info!(tenant, id, "activation had been applied; continuing");
                Ok(app)
            }
            _ => Err(error),
        }
    }

    /// The serviceApp in an action's answer; when Graph sent no body, the app as a GET shows it.
    async fn app_or_read_back(
        &self,
        op: &'static str,
        tenant: &str,
        id: &str,
        answer: Option<ServiceApp>,
    ) -> Result<ServiceApp, GraphError> {
        if let Some(app) = answer {
            return Ok(app);
        }
        tracing::debug!(
            tenant,
            operation = op,
            "no body in the answer; reading the serviceApp"
        );
        self.get_service_app(tenant, id).await?.ok_or_else(|| {
            GraphError::new(
                GraphErrorKind::Decode,
                op,
                tenant,
                format!("Graph accepted {op} but serviceApp {id} cannot be read back"),
            )
        })
    }
}
