//! `m365backup_backup_notifications`: the tenant's backup notification settings (Graph's
//! `emailNotificationsSetting`, one per tenant). Graph allows changing them only with a
//! delegated token, so a plan that changes them without one fails saying how to sign in. Graph
//! has no delete: destroy forgets them with a warning.

use async_trait::async_trait;
use tf_provider::value::Value;

use crate::framework::attributes::StringSet;
use crate::framework::values::known;
use crate::framework::{Call, ImportId, ManagedResource, WriteError};
use crate::lifecycle::Problem;
use crate::lifecycle::notifications::{self as lifecycle, Settings};

crate::attributes! {
    /// Terraform state of a tenant's backup notification settings.
    pub struct BackupNotificationsState {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.", replace = true;
        enabled: bool => Required, "Whether Microsoft 365 Backup sends notification emails (Graph's `isEnabled`).";
        notify_on_restore_and_policy_updates: bool => OptionalComputed, "Also notify on restores and policy changes (Graph's `additionalEvents = restoreAndPolicyUpdates`). Default `false`.", default = false;
        recipient_emails: StringSet => Optional, "Who receives the emails (Graph's custom recipients; the recipient role is `custom` and read-only for partner apps). Compared case-insensitively. Null or empty: no custom recipients.";
        id: String => Computed, "The tenant ID.", stable = true;
    }
}

pub struct BackupNotifications;

fn desired(state: &BackupNotificationsState) -> Settings {
    Settings {
        enabled: state.enabled.as_ref_option().copied().unwrap_or(false),
        restore_and_policy_updates: state
            .notify_on_restore_and_policy_updates
            .as_ref_option()
            .copied()
            .unwrap_or(false),
        emails: state
            .recipient_emails
            .as_ref_option()
            .map(StringSet::texts)
            .unwrap_or_default(),
    }
}

/// Fails the plan when no delegated credential covers `tenant`.
fn require_delegated(call: &Call, tenant: &str, current: Option<&Settings>) -> Result<(), Problem> {
    if call.ctx.auth.has_delegated_for(tenant) {
        return Ok(());
    }
    Err(lifecycle::sign_in_needed(
        tenant,
        call.ctx.client_id.as_deref(),
        current,
    ))
}

/// Copies what Graph holds into `state`.
fn record(state: &mut BackupNotificationsState, tenant: &str, observed: &Settings) {
    let prior = state.recipient_emails.as_ref_option().map(StringSet::texts);
    state.enabled = Value::Value(observed.enabled);
    state.notify_on_restore_and_policy_updates = Value::Value(observed.restore_and_policy_updates);
    state.recipient_emails = lifecycle::recorded_emails(prior.as_deref(), &observed.emails)
        .map_or(Value::Null, |emails| {
            Value::Value(StringSet::from_texts(emails))
        });
    state.tenant_id = Value::Value(tenant.to_string());
    state.id = Value::Value(tenant.to_string());
}

impl BackupNotifications {
    /// PATCHes Graph to `planned` (with a delegated token) unless it already holds it; returns
    /// the state as Graph then holds it.
    async fn write(
        &self,
        call: &mut Call,
        mut planned: BackupNotificationsState,
    ) -> Result<(BackupNotificationsState, ()), WriteError<BackupNotificationsState>> {
        let tenant = known(&planned.tenant_id, "tenant_id")?.to_string();
        let want = desired(&planned);
        let graph = &call.ctx.graph;
        let current = Settings::observed(&graph.get_notifications(&tenant).await?);
        let held = if current.same_as(&want) {
            current
        } else {
            match graph.patch_notifications(&tenant, &want.patch()).await? {
                Some(answer) => Settings::observed(&answer),
                None => Settings::observed(&graph.get_notifications(&tenant).await?),
            }
        };
        record(&mut planned, &tenant, &held);
        Ok((planned, ()))
    }
}

#[async_trait]
impl ManagedResource for BackupNotifications {
    type State = BackupNotificationsState;
    type Private = ();
    const DESCRIPTION: &'static str = "The backup notification settings of a tenant (Graph's `emailNotificationsSetting`): whether Microsoft 365 Backup sends emails, on which events, and to whom. Changing them needs a delegated sign-in; destroy leaves them in place.";
    const IMPORT: ImportId = ImportId {
        key: "tenantId",
        key_meaning: "a tenant ID",
        bare_key: true,
        note: "",
        key_attribute: "tenant_id",
        id_has_key: false,
    };

    fn validate(config: &BackupNotificationsState) -> Vec<Problem> {
        let emails = config
            .recipient_emails
            .as_ref_option()
            .map(StringSet::texts)
            .unwrap_or_default();
        lifecycle::check_emails(&emails)
    }

    async fn read(
        &self,
        call: &mut Call,
        mut state: BackupNotificationsState,
        private: (),
    ) -> Result<Option<(BackupNotificationsState, ())>, Problem> {
        let tenant = known(&state.tenant_id, "tenant_id")?.to_string();
        let setting = call.ctx.graph.get_notifications(&tenant).await?;
        record(&mut state, &tenant, &Settings::observed(&setting));
        Ok(Some((state, private)))
    }

    async fn plan_create(
        &self,
        call: &mut Call,
        mut planned: BackupNotificationsState,
        _config: &BackupNotificationsState,
    ) -> Result<(BackupNotificationsState, ()), Problem> {
        // Setting the tenant's notifications is a PATCH, which needs a delegated token.
        if let Value::Value(tenant) = &planned.tenant_id {
            require_delegated(call, tenant, None)?;
            planned.id = Value::Value(tenant.clone());
        }
        Ok((planned, ()))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &BackupNotificationsState,
        planned: BackupNotificationsState,
        _config: &BackupNotificationsState,
        private: (),
    ) -> Result<(BackupNotificationsState, ()), Problem> {
        // `prior` is what Graph holds (refreshed): a difference is a change or drift to undo.
        let current = desired(prior);
        if !desired(&planned).same_as(&current)
            && let Value::Value(tenant) = &planned.tenant_id
        {
            require_delegated(call, tenant, Some(&current))?;
        }
        Ok((planned, private))
    }

    async fn create(
        &self,
        call: &mut Call,
        planned: BackupNotificationsState,
        _config: &BackupNotificationsState,
        _private: (),
    ) -> Result<(BackupNotificationsState, ()), WriteError<BackupNotificationsState>> {
        self.write(call, planned).await
    }

    async fn update(
        &self,
        call: &mut Call,
        _prior: &BackupNotificationsState,
        planned: BackupNotificationsState,
        _config: &BackupNotificationsState,
        _private: (),
    ) -> Result<(BackupNotificationsState, ()), WriteError<BackupNotificationsState>> {
        self.write(call, planned).await
    }

    async fn delete(
        &self,
        call: &mut Call,
        prior: BackupNotificationsState,
        _private: (),
    ) -> Result<(), Problem> {
        let tenant = prior.tenant_id.as_ref_option().cloned().unwrap_or_default();
        call.warn(lifecycle::forgotten_warning(&tenant));
        Ok(())
    }
}
