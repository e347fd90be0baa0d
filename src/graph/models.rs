//! Serde models of the Backup Storage control plane (camelCase JSON). Unknown properties are
//! ignored, missing or `null` ones are `None`, and enums are open ([`super::enums`]) so that a
//! new member (`unknownFutureValue`, `controllerServiceAppDeleted`, ...) never breaks decoding.

use serde::{Deserialize, Serialize};

use super::enums::{BackupServiceConsumer, BackupServiceStatus, DisableReason, ServiceAppStatus};

/// `microsoft.graph.identity` (open type: extra keys are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Identity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `microsoft.graph.identitySet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IdentitySet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Identity>,
}

/// `microsoft.graph.serviceApp`. `status` is a `serviceAppStatus` member
/// (`inactive`, `active`, `pendingActive`, `pendingInactive`, `unknownFutureValue`, or newer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceApp {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceAppStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<IdentitySet>,
}

/// `microsoft.graph.serviceStatus`. `status` is a `backupServiceStatus`, `disable_reason` a
/// `disableReason`, `backup_service_consumer` a `backupServiceConsumer` member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BackupServiceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_reason: Option<DisableReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_service_consumer: Option<BackupServiceConsumer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_allowed_till_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<IdentitySet>,
}

/// `microsoft.graph.backupRestoreRoot` (only what the control plane needs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupRestoreRoot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_status: Option<ServiceStatus>,
}

/// An OData collection page.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct Page<T> {
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: Vec<T>,
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_documented_service_app() {
        let body = r##"{
          "@odata.type": "#microsoft.graph.serviceApp",
          "id": "71633878-8321-4950-bfaf-ed285bdd1461",
          "status": "pendingActive",
          "registrationDateTime": "2023-06-19T12:01:03.45Z",
          "effectiveDateTime": "2024-04-19T12:01:03.45Z",
          "lastModifiedDateTime": "2023-06-19T12:01:03.45Z",
          "lastModifiedBy": {
            "application": { "id": "1fec8e78-bce4-4aaf-ab1b-5451cc387264" },
            "user": { "id": "845457dc-4bb2-4815-bef3-8628ebd1952e", "identity": "x" }
          }
        }"##;
        let a: ServiceApp = serde_json::from_str(body).unwrap();
        assert_eq!(a.id, "71633878-8321-4950-bfaf-ed285bdd1461");
        assert_eq!(a.status, Some(ServiceAppStatus::PendingActive));
        assert_eq!(
            a.effective_date_time.as_deref(),
            Some("2024-04-19T12:01:03.45Z")
        );
        let by = a.last_modified_by.unwrap();
        assert_eq!(
            by.application.unwrap().id.as_deref(),
            Some("1fec8e78-bce4-4aaf-ab1b-5451cc387264")
        );
        assert!(by.device.is_none());
        assert!(a.application.is_none());
    }

    #[test]
    fn tolerates_nulls_unknown_members_and_missing_fields() {
        let a: ServiceApp = serde_json::from_str(
            r#"{"id":null,"status":"someNewStatus","application":null,"lastModifiedBy":{"application":null},"newProp":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(a.id, "");
        assert_eq!(a.status.as_ref().map(|v| v.as_str()), Some("someNewStatus"));
        assert_eq!(a.last_modified_by, Some(IdentitySet::default()));
        let a: ServiceApp = serde_json::from_str("{}").unwrap();
        assert_eq!(a, ServiceApp::default());
    }

    #[test]
    fn decodes_root_and_enable_answers() {
        let root: BackupRestoreRoot = serde_json::from_str(
            r#"{"@odata.context":"x","serviceStatus":{"status":"enabled","disableReason":"controllerServiceAppDeleted","backupServiceConsumer":"firstparty","lastModifiedDateTime":"2024-05-21T04:47:52.5769075Z","lastModifiedBy":{"user":{"identity":"40927a5d"}}}}"#,
        )
        .unwrap();
        assert!(root.id.is_none());
        let s = root.service_status.unwrap();
        assert_eq!(s.status.as_ref().map(|v| v.as_str()), Some("enabled"));
        assert_eq!(
            s.disable_reason.as_ref().map(|v| v.as_str()),
            Some("controllerServiceAppDeleted")
        );
        assert_eq!(
            s.backup_service_consumer.as_ref().map(|v| v.as_str()),
            Some("firstparty")
        );
        assert_eq!(s.last_modified_by.unwrap().user, Some(Identity::default()));

        // The documented enable example (non-schema `id`, `serviceConsumer`).
        let s: ServiceStatus = serde_json::from_str(
            r##"{"@odata.type":"#microsoft.graph.serviceStatus","id":"b3177c20","status":"enabled","serviceConsumer":"thirdParty","lastModifiedDateTime":"2023-06-19T12:01:03.45Z"}"##,
        )
        .unwrap();
        assert_eq!(s.status.as_ref().map(|v| v.as_str()), Some("enabled"));
        assert!(s.backup_service_consumer.is_none());

        let root: BackupRestoreRoot = serde_json::from_str(r#"{"serviceStatus":null}"#).unwrap();
        assert!(root.service_status.is_none());
    }

    #[test]
    fn pages() {
        let p: Page<ServiceApp> = serde_json::from_str(
            r#"{"@odata.context":"c","value":[{"id":"a"},{"id":"b","status":"active"}],"@odata.nextLink":"https://h/v1.0/x?$skiptoken=1"}"#,
        )
        .unwrap();
        assert_eq!(p.value.len(), 2);
        assert_eq!(
            p.next_link.as_deref(),
            Some("https://h/v1.0/x?$skiptoken=1")
        );
        let p: Page<ServiceApp> = serde_json::from_str(r#"{"value":null}"#).unwrap();
        assert!(p.value.is_empty() && p.next_link.is_none());
    }

    #[test]
    fn serializes_camel_case_without_nones() {
        let a = ServiceApp {
            id: "x".into(),
            status: Some("active".into()),
            effective_date_time: Some("2024-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"id":"x","status":"active","effectiveDateTime":"2024-01-01T00:00:00Z"}"#
        );
    }
}

#[cfg(test)]
mod decoding_properties {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::hash_map(
                    prop_oneof![
                        Just("id".to_string()),
                        Just("status".to_string()),
                        Just("serviceStatus".to_string()),
                        Just("application".to_string()),
                        Just("lastModifiedBy".to_string()),
                        "[a-zA-Z@.]{1,12}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever Graph sends, decoding returns a value or an error, never a panic.
        #[test]
        fn decoding_arbitrary_json_never_panics(value in json_value()) {
            let text = value.to_string();
            let _ = serde_json::from_str::<ServiceApp>(&text);
            let _ = serde_json::from_str::<BackupRestoreRoot>(&text);
            let _ = serde_json::from_str::<ServiceStatus>(&text);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = serde_json::from_slice::<ServiceApp>(&bytes);
            let _ = serde_json::from_slice::<BackupRestoreRoot>(&bytes);
        }

        /// Enum members this provider does not know yet are kept exactly, never rejected.
        #[test]
        fn unknown_enum_members_are_kept(status in "[a-zA-Z]{1,24}", reason in "[a-zA-Z]{1,24}") {
            let app: ServiceApp = serde_json::from_value(serde_json::json!({"id": "x", "status": status, "extra": {"nested": 1}})).unwrap();
            prop_assert_eq!(app.status.as_ref().map(|v| v.as_str()), Some(status.as_str()));
            let root: BackupRestoreRoot = serde_json::from_value(serde_json::json!({"serviceStatus": {"disableReason": reason}})).unwrap();
            let decoded = root.service_status.unwrap().disable_reason;
            prop_assert_eq!(decoded.as_ref().map(|v| v.as_str()), Some(reason.as_str()));
        }
    }
}
