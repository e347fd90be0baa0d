//! `emailNotificationsSetting`: the tenant's backup notification settings (one per tenant; no
//! create or delete). GET works app-only; Graph allows PATCH only with a delegated token.

use super::protection::EmailNotificationsSetting;
use crate::auth::TokenKind;
use crate::graph::client::GraphClient;
use crate::graph::error::GraphError;

const GET: &str = "get emailNotificationsSetting";
const PATCH: &str = "update emailNotificationsSetting";
const PATH: [&str; 1] = ["emailNotificationsSetting"];

impl GraphClient {
    /// `GET emailNotificationsSetting`.
    pub async fn get_notifications(
        &self,
        tenant: &str,
    ) -> Result<EmailNotificationsSetting, GraphError> {
        self.v1().get(GET, tenant, &PATH).await
    }

    /// `PATCH emailNotificationsSetting` with a delegated token; the answer is the new setting
    /// (`None` when Graph answers without a body).
    pub async fn patch_notifications(
        &self,
        tenant: &str,
        patch: &EmailNotificationsSetting,
    ) -> Result<Option<EmailNotificationsSetting>, GraphError> {
        let body = serde_json::to_value(patch).unwrap_or_default();
        self.v1()
            .patch_as(PATCH, tenant, &PATH, body, TokenKind::Delegated)
            .await
    }
}
