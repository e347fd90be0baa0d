//! `m365backup_backup_notifications`: the tenant's backup notification settings (Graph's
//! `emailNotificationsSetting`, one per tenant). Graph allows changing them only with a
//! delegated token, so a plan that changes them without one fails saying how to sign in. Graph
//! has no delete: destroy forgets them with a warning.
//!
//! Like every protection write, the PATCH waits while the tenant does not allow protection
//! changes (decisions 4 to 6, through the tenant's shared gate): the configuration is recorded
//! with `deferred_reason` set and no Graph call, reads of a deferred object make no call, plans
//! show no change until the tenant allows it, and the first plan after that proposes the write.
//! A `deferred_reason` that is known in the planned state (settings still deferred) means
//! "record, do not write"; an unknown one means "write": apply looks the tenant up again and
//! writes, or records the deferral (also on Graph's refusal).

use async_trait::async_trait;
use tf_provider::value::Value;

use crate::framework::attributes::StringSet;
use crate::framework::values::known;
use crate::framework::{Call, ImportId, ManagedResource, WriteError};
use crate::lifecycle::Problem;
use crate::lifecycle::notifications::{self as lifecycle, Settings};
use crate::lifecycle::protection_policy::gating::{
    Gate, WriteDecision, WriteSubject, decide_write,
};
use crate::resources::controller::{gated_refusal, protection_gate};

crate::attributes! {
    /// Terraform state of a tenant's backup notification settings.
    pub struct BackupNotificationsState {
        tenant_id: String => OptionalComputed, "Tenant ID. Defaults to the provider's `tenant_id`. Changing it replaces the resource.", replace = true;
        enabled: bool => Required, "Whether Microsoft 365 Backup sends notification emails (Graph's `isEnabled`).";
        notify_on_restore_and_policy_updates: bool => OptionalComputed, "Also notify on restores and policy changes (Graph's `additionalEvents = restoreAndPolicyUpdates`). Default `false`.", default = false;
        recipient_emails: StringSet => Optional, "Who receives the emails (Graph's custom recipients; the recipient role is `custom` and read-only for partner apps). Compared case-insensitively. Null or empty: no custom recipients.";
        id: String => Computed, "The tenant ID; null while the first write of the settings is deferred.", stable = true;
        deferred_reason: String => Computed, "Why the settings are not written yet (the tenant does not allow protection changes: this app is not its active Backup Storage controller, or the backup service is not enabled), naming the tenant, what it waits for and what you can do; null when not deferred.";
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

/// Copies what Graph holds into `state` (no longer deferred).
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
    state.deferred_reason = Value::Null;
}

/// Whether the state holds settings that wait for the tenant (decision 4).
fn is_deferred(state: &BackupNotificationsState) -> bool {
    matches!(state.deferred_reason, Value::Value(_))
}

/// Records the configuration as deferred: `reason` set; `id` null unless the settings were
/// written before (then they exist in Graph as last applied).
fn record_deferred(state: &mut BackupNotificationsState, written_before: bool, reason: &str) {
    if !written_before {
        state.id = Value::Null;
    }
    state.deferred_reason = Value::Value(reason.to_string());
}

/// Marks the planned state as a write: apply decides whether it is written or deferred.
fn plan_write(planned: &mut BackupNotificationsState, written_before: bool) {
    if !written_before {
        planned.id = Value::Unknown;
    }
    planned.deferred_reason = Value::Unknown;
}

fn what(tenant: &str) -> String {
    format!("the backup notification settings of tenant {tenant}")
}

async fn gate(call: &Call, tenant: &str) -> Result<Gate, Problem> {
    protection_gate(
        call,
        tenant,
        "Backup notification settings are changed in tenants that the controller app controls",
    )
    .await
}

impl BackupNotifications {
    /// Decides a planned write (create, update, or the write of deferred settings) against the
    /// tenant's gate: a write needs a delegated credential; a tenant that does not allow it
    /// gets a warning naming it, and apply records the deferral.
    async fn plan_write(
        &self,
        call: &mut Call,
        planned: &mut BackupNotificationsState,
        tenant: &str,
        subject: WriteSubject,
        current: Option<&Settings>,
    ) -> Result<(), Problem> {
        let written_before = subject == WriteSubject::ExistingObject;
        match decide_write(&gate(call, tenant).await?, subject, &what(tenant)) {
            WriteDecision::Proceed(_) => {
                require_delegated(call, tenant, current)?;
                plan_write(planned, written_before);
            }
            // Apply looks the tenant up again and records the deferral with the reason it
            // finds then (steps planned in this run may be done by then, and the reason's
            // wording follows them).
            WriteDecision::Defer { reason, .. } => {
                call.warn(lifecycle::deferred_warning(tenant, &reason));
                plan_write(planned, written_before);
            }
            WriteDecision::WarnOnly(notice) => {
                call.warn(lifecycle::deferred_warning(tenant, &notice.detail));
                plan_write(planned, written_before);
            }
        }
        Ok(())
    }

    /// PATCHes Graph to `planned` (with a delegated token) unless it already holds it; returns
    /// the state as Graph then holds it. A tenant that does not allow the write now (looked up
    /// again before the first write, decision 5, or after Graph refused it, decision 6) gets
    /// the configuration recorded as deferred.
    async fn write(
        &self,
        call: &mut Call,
        mut planned: BackupNotificationsState,
        written_before: bool,
    ) -> Result<(BackupNotificationsState, ()), WriteError<BackupNotificationsState>> {
        let tenant = known(&planned.tenant_id, "tenant_id")?.to_string();
        if let Value::Value(reason) = &planned.deferred_reason {
            // Planned as deferred: recorded without a Graph call.
            call.warn(lifecycle::deferred_warning(&tenant, reason));
            return Ok((planned, ()));
        }
        if let Gate::Deferred(reason) | Gate::ReadOnlyWarn(reason) = gate(call, &tenant).await? {
            call.warn(lifecycle::deferred_warning(&tenant, &reason));
            record_deferred(&mut planned, written_before, &reason);
            return Ok((planned, ()));
        }
        let want = desired(&planned);
        let graph = &call.ctx.graph;
        let current = Settings::observed(&graph.get_notifications(&tenant).await?);
        let held = if current.same_as(&want) {
            current
        } else {
            match graph.patch_notifications(&tenant, &want.patch()).await {
                Ok(Some(answer)) => Settings::observed(&answer),
                Ok(None) => Settings::observed(&graph.get_notifications(&tenant).await?),
                Err(e) => {
                    let Some(reason) = gated_refusal(call, &tenant, &e).await else {
                        return Err(e.into());
                    };
                    call.warn(lifecycle::refused_warning(
                        &tenant,
                        e.status,
                        e.code.as_deref(),
                        e.request_id.as_deref(),
                        &reason,
                    ));
                    record_deferred(&mut planned, written_before, &reason);
                    return Ok((planned, ()));
                }
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
        if is_deferred(&state) {
            // Decision 4: the recorded configuration stays until the write is made.
            return Ok(Some((state, private)));
        }
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
        // Setting the tenant's notifications is a PATCH (a delegated token) that the tenant
        // must allow. An unknown tenant is decided at apply.
        if let Value::Value(tenant) = planned.tenant_id.clone() {
            self.plan_write(call, &mut planned, &tenant, WriteSubject::NewObject, None)
                .await?;
        }
        Ok((planned, ()))
    }

    async fn plan_update(
        &self,
        call: &mut Call,
        prior: &BackupNotificationsState,
        mut planned: BackupNotificationsState,
        _config: &BackupNotificationsState,
        private: (),
    ) -> Result<(BackupNotificationsState, ()), Problem> {
        let Value::Value(tenant) = planned.tenant_id.clone() else {
            return Ok((planned, private));
        };
        if is_deferred(prior) {
            // Recorded without a Graph call: written once the tenant allows it. Until then the
            // recorded reason stays (a reworded reason is never a diff) and a configuration
            // change is recorded without a call.
            let written_before = prior.id.as_ref_option().is_some();
            let subject = if written_before {
                WriteSubject::ExistingObject
            } else {
                WriteSubject::DeferredObject
            };
            match gate(call, &tenant).await? {
                Gate::Allowed => {
                    // Graph may already hold these settings: then no PATCH (and no delegated
                    // credential) is needed, only the state catches up.
                    let held =
                        Settings::observed(&call.ctx.graph.get_notifications(&tenant).await?);
                    if held.same_as(&desired(&planned)) {
                        plan_write(&mut planned, written_before);
                    } else {
                        self.plan_write(call, &mut planned, &tenant, subject, Some(&held))
                            .await?;
                    }
                    call.warn(lifecycle::resumed_warning(&tenant));
                }
                Gate::Deferred(reason) | Gate::ReadOnlyWarn(reason) => {
                    call.warn(lifecycle::deferred_warning(&tenant, &reason));
                }
            }
            return Ok((planned, private));
        }
        // `prior` is what Graph holds (refreshed): a difference is a change or drift to undo.
        let current = desired(prior);
        if !desired(&planned).same_as(&current) {
            self.plan_write(
                call,
                &mut planned,
                &tenant,
                WriteSubject::ExistingObject,
                Some(&current),
            )
            .await?;
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
        self.write(call, planned, false).await
    }

    async fn update(
        &self,
        call: &mut Call,
        prior: &BackupNotificationsState,
        planned: BackupNotificationsState,
        _config: &BackupNotificationsState,
        _private: (),
    ) -> Result<(BackupNotificationsState, ()), WriteError<BackupNotificationsState>> {
        let written_before = prior.id.as_ref_option().is_some();
        self.write(call, planned, written_before).await
    }

    async fn delete(
        &self,
        call: &mut Call,
        prior: BackupNotificationsState,
        _private: (),
    ) -> Result<(), Problem> {
        if prior.id.is_null() && is_deferred(&prior) {
            // Decision 4: never written, so nothing is left in Graph.
            return Ok(());
        }
        let tenant = prior.tenant_id.as_ref_option().cloned().unwrap_or_default();
        call.warn(lifecycle::forgotten_warning(&tenant));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured() -> BackupNotificationsState {
        BackupNotificationsState {
            tenant_id: Value::Value("t1".into()),
            enabled: Value::Value(true),
            notify_on_restore_and_policy_updates: Value::Value(true),
            recipient_emails: Value::Value(StringSet::from_texts(vec!["Ops@Contoso.com".into()])),
            id: Value::Unknown,
            deferred_reason: Value::Unknown,
        }
    }

    #[test]
    fn a_deferred_create_keeps_the_configuration_with_a_null_id() {
        let mut state = configured();
        record_deferred(&mut state, false, "Tenant t1: wait.");
        assert!(is_deferred(&state));
        assert!(state.id.is_null());
        assert_eq!(
            state.deferred_reason,
            Value::Value("Tenant t1: wait.".into())
        );
        assert_eq!(
            desired(&state),
            desired(&configured()),
            "the configuration stays"
        );

        // A change of settings written before keeps their id: they exist in Graph.
        let mut written = configured();
        written.id = Value::Value("t1".into());
        record_deferred(&mut written, true, "Tenant t1: wait.");
        assert_eq!(written.id, Value::Value("t1".into()));
        assert!(is_deferred(&written));
    }

    #[test]
    fn a_planned_write_leaves_the_outcome_to_apply() {
        let mut state = configured();
        record_deferred(&mut state, false, "r");
        plan_write(&mut state, false);
        assert!(state.id.is_unknown() && state.deferred_reason.is_unknown());
        assert!(!is_deferred(&state));
        let mut written = configured();
        written.id = Value::Value("t1".into());
        plan_write(&mut written, true);
        assert_eq!(written.id, Value::Value("t1".into()), "the id is stable");
        assert!(written.deferred_reason.is_unknown());
    }

    #[test]
    fn what_graph_holds_ends_the_deferral_and_keeps_the_spelling() {
        let mut state = configured();
        record_deferred(&mut state, false, "r");
        let held = Settings {
            enabled: true,
            restore_and_policy_updates: true,
            emails: vec!["ops@contoso.com".into()],
        };
        record(&mut state, "t1", &held);
        assert!(!is_deferred(&state));
        assert!(state.deferred_reason.is_null());
        assert_eq!(state.id, Value::Value("t1".into()));
        assert_eq!(
            state.recipient_emails.as_ref_option().map(StringSet::texts),
            Some(vec!["Ops@Contoso.com".to_string()])
        );
    }
}
