//! Graph JSON shapes for the Backup Storage types (names as in the CSDL extracts).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::lifecycle::{IdentitySet, ServiceApp, ServiceStatus};

/// Graph's DateTimeOffset form: UTC, `Z`, up to 7 fractional digits with trailing zeros
/// trimmed (`2024-04-19T12:01:03.45Z`, `2024-05-21T04:47:52.5769075Z`, `2024-04-19T12:01:03Z`).
pub fn graph_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ticks = t.nanosecond() / 100;
    if ticks == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{ticks:07}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// RFC 3339 with nanoseconds as `time` formats it (admin API).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(graph_time(t)))
        .unwrap_or(Value::Null)
}

pub fn identity_set(by: &IdentitySet) -> Value {
    if by.is_empty() {
        return Value::Null;
    }
    let mut m = Map::new();
    if let Some(app) = &by.application {
        let mut a = Map::new();
        a.insert("id".into(), Value::String(app.clone()));
        if let Some(n) = &by.application_display_name {
            a.insert("displayName".into(), Value::String(n.clone()));
        }
        m.insert("application".into(), Value::Object(a));
    }
    if let Some(user) = &by.user {
        m.insert("user".into(), json!({ "id": user }));
    }
    Value::Object(m)
}

/// A serviceApp entity (without `@odata.context`).
pub fn service_app(a: &ServiceApp) -> Value {
    let mut application = Map::new();
    application.insert("id".into(), Value::String(a.id.clone()));
    if let Some(n) = &a.display_name {
        application.insert("displayName".into(), Value::String(n.clone()));
    }
    json!({
        "@odata.type": "#microsoft.graph.serviceApp",
        "id": a.id,
        "application": Value::Object(application),
        "status": a.status.as_str(),
        "effectiveDateTime": opt_time(a.effective_date_time),
        "registrationDateTime": graph_time(a.registration_date_time),
        "lastModifiedDateTime": graph_time(a.last_modified_date_time),
        "lastModifiedBy": identity_set(&a.last_modified_by),
    })
}

/// A serviceStatus complex value. `include_unknown` decides whether evolvable-enum members
/// after `unknownFutureValue` are sent as themselves.
pub fn service_status(s: &ServiceStatus, include_unknown: bool) -> Value {
    json!({
        "status": s.status.as_str(),
        "backupServiceConsumer": s.backup_service_consumer.as_str(),
        "disableReason": s.disable_reason.as_str(include_unknown),
        "gracePeriodDateTime": opt_time(s.grace_period_date_time),
        "restoreAllowedTillDateTime": opt_time(s.restore_allowed_till_date_time),
        "lastModifiedDateTime": graph_time(s.last_modified_date_time),
        "lastModifiedBy": identity_set(&s.last_modified_by),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn graph_time_forms() {
        assert_eq!(
            graph_time(datetime!(2024-04-19 12:01:03.45 UTC)),
            "2024-04-19T12:01:03.45Z"
        );
        assert_eq!(
            graph_time(datetime!(2024-05-21 04:47:52.57690759 UTC)),
            "2024-05-21T04:47:52.5769075Z"
        );
        assert_eq!(
            graph_time(datetime!(2024-04-19 14:01:03 +02:00)),
            "2024-04-19T12:01:03Z"
        );
    }
}
