//! Graph JSON of the protection types (names as in the protection CSDL).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Ctx;
use crate::json::{graph_time, identity_set};
use crate::protection::restore::RestorePoint;
use crate::protection::{
    ActorRef, Job, Notifications, Policy, Protection, PublicError, Rule, SOURCE_DYNAMIC,
    SOURCE_MANUAL, Stamp, Unit, Workload,
};

/// What Graph shows for an unset `offboardRequestedDateTime` (its list examples).
const UNSET_TIME: &str = "0001-01-01T00:00:00Z";

pub fn public_error(e: &Option<PublicError>) -> Value {
    let Some(e) = e else { return Value::Null };
    let mut m = Map::new();
    m.insert("code".into(), json!(e.code));
    m.insert("message".into(), json!(e.message));
    if !e.details.is_empty() {
        m.insert(
            "details".into(),
            Value::Array(
                e.details
                    .iter()
                    .map(|d| json!({"code": d.code, "message": d.message, "target": d.target}))
                    .collect(),
            ),
        );
    }
    Value::Object(m)
}

fn who(p: &Protection, a: ActorRef) -> Value {
    p.actors.get(a as usize).map_or(Value::Null, identity_set)
}

fn stamp(p: &Protection, s: &Stamp, m: &mut Map<String, Value>) {
    m.insert("createdBy".into(), who(p, s.created_by));
    m.insert("createdDateTime".into(), json!(graph_time(s.created)));
    m.insert("lastModifiedBy".into(), who(p, s.modified_by));
    m.insert("lastModifiedDateTime".into(), json!(graph_time(s.modified)));
}

pub fn policy_type(w: Workload) -> String {
    format!("{}ProtectionPolicy", w.long())
}

pub fn policy(ctx: &Ctx, p: &Protection, pol: &Policy, now: OffsetDateTime) -> Value {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{}", policy_type(pol.workload))),
    );
    m.insert("id".into(), json!(pol.id));
    m.insert("displayName".into(), json!(pol.display_name));
    m.insert("isEnabled".into(), json!(pol.enabled));
    m.insert("status".into(), json!(p.policy_status(pol, now)));
    m.insert(
        "retentionSettings".into(),
        json!([
            {"interval": "R/PT10M", "period": "P2W"},
            {"interval": "R/P1W", "period": pol.retention},
        ]),
    );
    stamp(p, &pol.stamp, &mut m);
    // Returned only on $select (documented for beta; the emulator does it on both).
    if ctx.query("$select").is_some_and(|s| {
        s.split(',').any(|f| {
            f.trim()
                .eq_ignore_ascii_case("protectionPolicyArtifactCount")
        })
    }) {
        let (mut total, mut done, mut failed, mut pending) = (0, 0, 0, 0);
        for u in p
            .units
            .iter()
            .filter(|u| !u.removed && *u.policy_id == *pol.id)
        {
            total += 1;
            if u.error.is_some() {
                failed += 1;
            } else if u.status.is_requested() {
                pending += 1;
            } else {
                done += 1;
            }
        }
        m.insert(
            "protectionPolicyArtifactCount".into(),
            json!({"total": total, "completed": done, "failed": failed, "inProgress": pending}),
        );
    }
    Value::Object(m)
}

fn sources(bits: u8) -> &'static str {
    match (bits & SOURCE_MANUAL != 0, bits & SOURCE_DYNAMIC != 0) {
        (true, true) => "manual,dynamicRule",
        (true, false) => "manual",
        (false, true) => "dynamicRule",
        (false, false) => "none",
    }
}

/// A unit; `delegated` fills the computed name/url/email fields (Graph does so only for
/// delegated tokens).
pub fn unit(ctx: &Ctx, p: &Protection, u: &Unit, delegated: bool) -> Value {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        json!(format!(
            "#microsoft.graph.{}ProtectionUnit",
            u.workload.short()
        )),
    );
    m.insert("id".into(), json!(u.id));
    m.insert("policyId".into(), json!(&*u.policy_id));
    m.insert("status".into(), json!(u.status.as_str(ctx.prefer_unknown)));
    m.insert("protectionSources".into(), json!(sources(u.sources)));
    m.insert("error".into(), public_error(&u.error));
    m.insert(
        "offboardRequestedDateTime".into(),
        json!(
            u.offboard_requested
                .map_or(UNSET_TIME.to_string(), graph_time)
        ),
    );
    stamp(p, &u.stamp, &mut m);
    match u.workload {
        Workload::SharePoint => {
            m.insert("siteId".into(), json!(u.resource));
            let site = delegated.then(|| p.directory.site(&u.resource)).flatten();
            m.insert(
                "siteName".into(),
                json!(site.and_then(|s| s.display_name.clone())),
            );
            m.insert(
                "siteWebUrl".into(),
                json!(site.and_then(|s| s.web_url.clone())),
            );
        }
        _ => {
            m.insert("directoryObjectId".into(), json!(u.resource));
            let user = delegated.then(|| p.directory.user(&u.resource)).flatten();
            m.insert(
                "displayName".into(),
                json!(user.and_then(|s| s.display_name.clone())),
            );
            m.insert("email".into(), json!(user.and_then(|s| s.email.clone())));
        }
    }
    Value::Object(m)
}

pub fn rule(ctx: &Ctx, p: &Protection, r: &Rule) -> Value {
    let mut m = Map::new();
    let short = r.workload.short();
    m.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{short}ProtectionRule")),
    );
    m.insert("id".into(), json!(r.id));
    m.insert(format!("{short}Expression"), json!(r.expression));
    m.insert("isAutoApplyEnabled".into(), json!(r.dynamic));
    m.insert("status".into(), json!(r.status.as_str(ctx.prefer_unknown)));
    m.insert("error".into(), public_error(&r.error));
    stamp(p, &r.stamp, &mut m);
    Value::Object(m)
}

/// A bulk addition job; lists omit the inputs (`with_inputs` false), as Graph's do.
pub fn job(p: &Protection, j: &Job, with_inputs: bool) -> Value {
    let mut m = Map::new();
    let short = j.workload.short();
    m.insert(
        "@odata.type".into(),
        json!(format!(
            "#microsoft.graph.{short}ProtectionUnitsBulkAdditionJob"
        )),
    );
    m.insert("id".into(), json!(j.id));
    m.insert("displayName".into(), json!(j.display_name));
    m.insert("status".into(), json!(j.status.as_str()));
    m.insert("error".into(), public_error(&j.error));
    stamp(p, &j.stamp, &mut m);
    if with_inputs {
        let (ids, names) = match j.workload {
            Workload::SharePoint => ("siteIds", "siteWebUrls"),
            Workload::OneDrive => ("directoryObjectIds", "drives"),
            Workload::Exchange => ("directoryObjectIds", "mailboxes"),
        };
        m.insert(ids.into(), json!(j.ids));
        m.insert(names.into(), json!(j.names));
    }
    Value::Object(m)
}

pub fn notifications(n: &Notifications) -> Value {
    json!({
        "id": "emailNotificationsSetting",
        "isEnabled": n.is_enabled,
        "additionalEvents": if n.restore_and_policy_updates { "restoreAndPolicyUpdates" } else { "none" },
        "recipients": {
            "role": "custom",
            "customRecipients": n.recipients.iter().map(|r| {
                let mut m = Map::new();
                m.insert("email".into(), json!(r.email));
                if let Some(id) = &r.id { m.insert("id".into(), json!(id)); }
                if let Some(d) = &r.display_name { m.insert("displayName".into(), json!(d)); }
                Value::Object(m)
            }).collect::<Vec<_>>(),
        },
    })
}

pub fn restore_point(rp: &RestorePoint, unit: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(rp.id));
    m.insert(
        "protectionDateTime".into(),
        json!(graph_time(rp.protection)),
    );
    m.insert(
        "expirationDateTime".into(),
        json!(graph_time(rp.expiration)),
    );
    m.insert(
        "tags".into(),
        json!(if rp.fast_restore {
            "fastRestore"
        } else {
            "none"
        }),
    );
    if let Some(u) = unit {
        m.insert("protectionUnit".into(), u);
    }
    Value::Object(m)
}
