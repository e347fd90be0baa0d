//! `emailNotificationsSetting`: GET, and PATCH with a delegated token only (`recipients.role`
//! is read-only for partners: only `custom` is accepted).

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::{
    Access, Caller, Ctx, GraphError, GraphResult, Perm, annotate, render, with_protection,
};
use crate::common::graph_json;
use crate::protection::{Notifications, Recipient};

fn changed(
    body: &serde_json::Map<String, Value>,
    mut n: Notifications,
) -> GraphResult<Notifications> {
    let bad = |m: &str| GraphError::bad_request(m.to_string());
    if let Some(v) = body.get("isEnabled") {
        n.is_enabled = v
            .as_bool()
            .ok_or_else(|| bad("'isEnabled' must be a boolean."))?;
    }
    if let Some(v) = body.get("additionalEvents") {
        n.restore_and_policy_updates = match v.as_str() {
            Some("none") => false,
            Some("restoreAndPolicyUpdates") => true,
            _ => {
                return Err(bad(
                    "'additionalEvents' must be 'none' or 'restoreAndPolicyUpdates'.",
                ));
            }
        };
    }
    if let Some(r) = body.get("recipients") {
        if let Some(role) = r.get("role")
            && role.as_str() != Some("custom")
        {
            return Err(bad(
                "'recipients.role' is read-only for third-party partners ('custom').",
            ));
        }
        if let Some(list) = r.get("customRecipients") {
            let list = list
                .as_array()
                .ok_or_else(|| bad("'customRecipients' must be a list."))?;
            n.recipients = list
                .iter()
                .map(|e| {
                    let email = e["email"].as_str().filter(|s| s.contains('@'));
                    email
                        .map(|email| Recipient {
                            email: email.to_string(),
                            id: e["id"].as_str().map(str::to_string),
                            display_name: e["displayName"].as_str().map(str::to_string),
                        })
                        .ok_or_else(|| bad("each custom recipient needs an 'email' address."))
                })
                .collect::<GraphResult<Vec<_>>>()?;
        }
    }
    Ok(n)
}

pub fn handle(ctx: &Ctx, caller: &Caller) -> GraphResult {
    let p = &ctx.path;
    if p.key.is_some() || p.action.is_some() || p.cast.is_some() || p.count {
        return Err(GraphError::bad_request(
            "emailNotificationsSetting is a single object.",
        ));
    }
    ctx.allow(&[Method::GET, Method::PATCH])?;
    let write = ctx.method == Method::PATCH;
    caller.require(Perm::Control, write)?;
    let v = if write {
        caller.require_user("update emailNotificationsSetting")?;
        with_protection(ctx, caller, Access::Write, |prot, _| {
            prot.notifications = changed(&ctx.body, prot.notifications.clone())?;
            Ok(render::notifications(&prot.notifications))
        })?
    } else {
        with_protection(ctx, caller, Access::Read, |prot, _| {
            Ok(render::notifications(&prot.notifications))
        })?
    };
    Ok(graph_json(
        StatusCode::OK,
        &annotate(
            v,
            &[(
                "@odata.context",
                Value::String(
                    ctx.context("solutions/backupRestore/emailNotificationsSetting/$entity"),
                ),
            )],
        ),
    ))
}
