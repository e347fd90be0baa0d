//! The tenant's backup notification settings (`emailNotificationsSetting`): what the
//! configuration asks for, whether Graph already holds it, the PATCH body, and the messages.
//! Graph allows the PATCH only with a delegated token, and has no delete.

use std::collections::BTreeSet;

use super::Problem;
use crate::graph::api::protection::{
    EmailIdentity, EmailNotificationsSetting, Flags, NotificationEvent, NotificationRecipients,
};

/// The settings as the configuration (or Graph) states them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub enabled: bool,
    pub restore_and_policy_updates: bool,
    /// Custom recipients, as spelt.
    pub emails: Vec<String>,
}

impl Settings {
    /// What Graph holds.
    pub fn observed(setting: &EmailNotificationsSetting) -> Self {
        Settings {
            enabled: setting.is_enabled.unwrap_or(false),
            restore_and_policy_updates: setting
                .additional_events
                .as_ref()
                .is_some_and(|e| e.contains(&NotificationEvent::RestoreAndPolicyUpdates)),
            emails: setting
                .recipients
                .as_ref()
                .and_then(|r| r.custom_recipients.as_ref())
                .map(|list| list.iter().filter_map(|r| r.email.clone()).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether Graph's settings already are these (emails compare case-insensitively, as sets).
    pub fn same_as(&self, other: &Settings) -> bool {
        self.enabled == other.enabled
            && self.restore_and_policy_updates == other.restore_and_policy_updates
            && email_keys(&self.emails) == email_keys(&other.emails)
    }

    /// The PATCH body: every managed field; `recipients.role` is read-only and never sent.
    pub fn patch(&self) -> EmailNotificationsSetting {
        let event = if self.restore_and_policy_updates {
            NotificationEvent::RestoreAndPolicyUpdates
        } else {
            NotificationEvent::None
        };
        EmailNotificationsSetting {
            id: None,
            is_enabled: Some(self.enabled),
            additional_events: Some(Flags(vec![event])),
            recipients: Some(NotificationRecipients {
                role: None,
                custom_recipients: Some(
                    self.emails
                        .iter()
                        .map(|email| EmailIdentity {
                            email: Some(email.clone()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
        }
    }
}

fn email_keys(emails: &[String]) -> BTreeSet<String> {
    emails
        .iter()
        .map(|e| e.trim().to_ascii_lowercase())
        .collect()
}

/// The recipients to record after a read: the prior spelling when Graph holds the same set,
/// `None` (not set) when Graph has none and the prior state had none either.
pub fn recorded_emails(prior: Option<&[String]>, observed: &[String]) -> Option<Vec<String>> {
    match prior {
        Some(prior) if email_keys(prior) == email_keys(observed) => Some(prior.to_vec()),
        None if observed.is_empty() => None,
        _ => Some(observed.to_vec()),
    }
}

/// Configuration errors in the recipient list.
pub fn check_emails(emails: &[String]) -> Vec<Problem> {
    emails
        .iter()
        .filter(|e| {
            let e = e.trim();
            !matches!(e.split_once('@'), Some((user, host)) if !user.is_empty() && host.contains('.'))
        })
        .map(|e| {
            Problem::new(
                Some("recipient_emails"),
                "Invalid email address",
                format!("recipient_emails: {e:?} is not an email address."),
            )
        })
        .collect()
}

/// The plan-time error when the settings must change and no delegated credential covers the
/// tenant.
pub fn sign_in_needed(
    tenant: &str,
    client_id: Option<&str>,
    current: Option<&Settings>,
) -> Problem {
    let client = client_id.unwrap_or("<client-id>");
    let what = match current {
        Some(current) => format!(
            " Graph holds: enabled = {}, notify_on_restore_and_policy_updates = {}, {} custom recipient(s).",
            current.enabled,
            current.restore_and_policy_updates,
            current.emails.len()
        ),
        None => String::new(),
    };
    Problem::error(
        "A delegated sign-in is needed to change backup notifications",
        format!(
            "This plan changes the backup notification settings of tenant {tenant}, which \
             Microsoft Graph only allows with a delegated token (a tenant admin signed in to the \
             controller app).{what} To fix: run `terraform-provider-m365backup login --tenant \
             {tenant} --client-id {client}`, or set M365BACKUP_DELEGATED_REFRESH_TOKEN or \
             M365BACKUP_DELEGATED_ACCESS_TOKEN (provider arguments delegated_refresh_token / \
             delegated_access_token); or change the configuration to match what Graph holds."
        ),
    )
}

/// The deferral (decision 4): the tenant does not allow the change yet; `reason` names the
/// tenant, what it waits for and what the user can do.
pub fn deferred_warning(tenant: &str, reason: &str) -> Problem {
    Problem::warning(
        format!("Backup notification settings of tenant {tenant} deferred"),
        format!(
            "{reason} The configured notification settings are recorded in the Terraform state \
             (deferred_reason) without a call to Microsoft Graph; plans show no change while \
             the tenant waits, and the first plan after that proposes writing them."
        ),
    )
}

/// The plan that writes settings recorded as deferred, now that the tenant allows it.
pub fn resumed_warning(tenant: &str) -> Problem {
    Problem::warning(
        format!("Deferred backup notification settings of tenant {tenant} can be written now"),
        format!(
            "Tenant {tenant} now allows protection changes (this app is its active Backup \
             Storage controller and the backup service is enabled, or both are planned in this \
             run), so this apply writes the notification settings that were deferred; \
             deferred_reason becomes null."
        ),
    )
}

/// A PATCH that Graph refused because the tenant does not allow protection changes
/// (decision 6): the change is recorded as deferred.
pub fn refused_warning(
    tenant: &str,
    status: Option<u16>,
    code: Option<&str>,
    request_id: Option<&str>,
    reason: &str,
) -> Problem {
    let answer = match (status, code) {
        (Some(s), Some(c)) => format!("HTTP {s} {c}"),
        (Some(s), None) => format!("HTTP {s}"),
        _ => "a refusal".to_string(),
    };
    Problem::warning(
        format!("Backup notification settings of tenant {tenant} deferred"),
        format!(
            "Microsoft Graph refused to change the notification settings of tenant {tenant} \
             ({answer}, request-id {}). {reason} The configured settings are recorded in the \
             Terraform state (deferred_reason); the first plan after that proposes writing them.",
            request_id.unwrap_or("unknown")
        ),
    )
}

/// Destroy only forgets the settings: Graph has no delete.
pub fn forgotten_warning(tenant: &str) -> Problem {
    Problem::warning(
        "Backup notification settings left as they are",
        format!(
            "Microsoft Graph cannot delete the notification settings of tenant {tenant}: they \
             were removed from the Terraform state and stay in Microsoft 365 as last applied. \
             Change them in the Microsoft 365 admin center, or import them again \
             (terraform import <address> {tenant})."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(enabled: bool, emails: &[&str]) -> Settings {
        Settings {
            enabled,
            restore_and_policy_updates: false,
            emails: emails.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn emails_compare_as_case_insensitive_sets_and_keep_the_configured_spelling() {
        let a = settings(true, &["Ops@Contoso.com", "b@contoso.com"]);
        let b = settings(true, &["b@contoso.com", "ops@contoso.com"]);
        assert!(a.same_as(&b));
        assert!(!a.same_as(&settings(false, &["b@contoso.com", "ops@contoso.com"])));
        assert!(!a.same_as(&settings(true, &["b@contoso.com"])));
        let prior = vec!["Ops@Contoso.com".to_string()];
        assert_eq!(
            recorded_emails(Some(&prior), &["ops@contoso.com".to_string()]),
            Some(prior.clone())
        );
        assert_eq!(recorded_emails(None, &[]), None);
        assert_eq!(recorded_emails(Some(&[]), &[]), Some(vec![]));
        assert_eq!(
            recorded_emails(None, &["x@y.com".to_string()]),
            Some(vec!["x@y.com".to_string()])
        );
    }

    #[test]
    fn the_patch_never_names_the_read_only_role_and_round_trips() {
        let want = Settings {
            enabled: true,
            restore_and_policy_updates: true,
            emails: vec!["ops@contoso.com".into()],
        };
        let body = want.patch();
        let json = serde_json::to_value(&body).unwrap();
        assert!(json["recipients"].get("role").is_none());
        assert_eq!(json["additionalEvents"], "restoreAndPolicyUpdates");
        assert_eq!(Settings::observed(&body), want);
    }

    #[test]
    fn messages_say_what_to_do() {
        let p = sign_in_needed("t1", Some("app"), None);
        assert!(p.detail.contains("login --tenant t1 --client-id app"));
        assert!(forgotten_warning("t1").is_warning());
        let deferred = deferred_warning("t1", "Tenant t1: protection changes wait for X.");
        assert!(deferred.is_warning() && deferred.summary.contains("t1"));
        assert!(
            deferred
                .detail
                .starts_with("Tenant t1: protection changes wait for X.")
        );
        assert!(resumed_warning("t1").summary.contains("tenant t1"));
        let refused = refused_warning(
            "t1",
            Some(403),
            Some("ServiceNotEnabled"),
            Some("req-9"),
            "Tenant t1: wait.",
        );
        assert!(refused.is_warning());
        assert!(
            refused
                .detail
                .contains("HTTP 403 ServiceNotEnabled, request-id req-9")
        );
        assert!(refused.detail.contains("Tenant t1: wait."));
        assert!(
            refused_warning("t1", None, None, None, "r")
                .detail
                .contains("a refusal, request-id unknown")
        );
        assert_eq!(check_emails(&["a@b.com".into(), "nope".into()]).len(), 1);
    }
}
