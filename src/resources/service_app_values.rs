//! A serviceApp as Terraform attribute values, shared by `m365backup_service_app` and the
//! `m365backup_service_apps` data source (same translation, same canonical timestamps).

use tf_provider::value::Value;

use crate::framework::values::{text, timestamp};
use crate::graph::ServiceApp;

/// What Graph says about one serviceApp, as attribute values.
pub struct AppValues {
    pub id: Value<String>,
    /// Graph's `application.id`, else the serviceApp ID.
    pub application_id: Value<String>,
    pub status: Value<String>,
    pub effective_date_time: Value<String>,
    pub registration_date_time: Value<String>,
    pub last_modified_date_time: Value<String>,
    pub last_modified_by_user_id: Value<String>,
    pub last_modified_by_application_id: Value<String>,
}

impl From<&ServiceApp> for AppValues {
    fn from(app: &ServiceApp) -> Self {
        let application = app.application.as_ref().and_then(|a| a.id.clone());
        let by = app.last_modified_by.as_ref();
        let by_user = by.and_then(|b| b.user.as_ref()).and_then(|u| u.id.clone());
        let by_app = by.and_then(|b| b.application.as_ref());
        AppValues {
            id: Value::Value(app.id.clone()),
            application_id: Value::Value(application.unwrap_or_else(|| app.id.clone())),
            status: text(app.status.as_ref()),
            effective_date_time: timestamp(app.effective_date_time.as_deref()),
            registration_date_time: timestamp(app.registration_date_time.as_deref()),
            last_modified_date_time: timestamp(app.last_modified_date_time.as_deref()),
            last_modified_by_user_id: text(by_user),
            last_modified_by_application_id: text(by_app.and_then(|a| a.id.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Identity, IdentitySet, ServiceAppStatus};

    fn identity(id: &str) -> Option<Identity> {
        let id = Some(id.to_string());
        Some(Identity {
            id,
            display_name: None,
        })
    }

    #[test]
    fn graph_values_are_canonicalised() {
        let app = ServiceApp {
            id: "22222222-2222-2222-2222-222222222222".into(),
            application: identity("33333333-3333-3333-3333-333333333333"),
            status: Some(ServiceAppStatus::PendingActive),
            effective_date_time: Some("2029-12-31T23:00:00.0000000Z".into()),
            registration_date_time: Some("2026-11-23T09:00:00.45Z".into()),
            last_modified_date_time: None,
            last_modified_by: Some(IdentitySet {
                user: identity("u"),
                ..Default::default()
            }),
        };
        let values = AppValues::from(&app);
        let v = |s: &str| Value::Value(s.to_string());
        assert_eq!(values.status, v("pendingActive"));
        assert_eq!(values.effective_date_time, v("2029-12-31T23:00:00Z"));
        assert_eq!(values.registration_date_time, v("2026-11-23T09:00:00.45Z"));
        assert_eq!(values.last_modified_date_time, Value::Null);
        let application = v("33333333-3333-3333-3333-333333333333");
        assert_eq!(values.application_id, application);
        assert_eq!(values.last_modified_by_user_id, v("u"));
        assert_eq!(values.last_modified_by_application_id, Value::Null);
        // Without `application`, the serviceApp ID stands for it.
        let bare = AppValues::from(&ServiceApp {
            application: None,
            ..app
        });
        assert_eq!(bare.application_id, bare.id);
    }
}
