//! `protectionPolicies` (polymorphic) and the three typed policy sets: list, `$count`,
//! create, get, PATCH with `…ProtectionUnits@delta`, DELETE, activate, deactivate. The
//! navigation properties (units, rules, jobs) are handed to their own modules.

use axum::http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::paging::{collection, page};
use super::{
    Access, Caller, Ctx, GraphError, GraphResult, Perm, annotate, count_response, no_content,
    render, with_protection,
};
use crate::common::graph_json;
use crate::lifecycle::is_guid;
use crate::protection::{DeltaItem, ItemOutcome, Protection, Workload};

/// The workload a policy set or cast names (None: every workload).
fn workload_of(ctx: &Ctx) -> GraphResult<Option<Workload>> {
    let set = ctx.path.set.unwrap_or_default();
    let from_set = set
        .strip_suffix("ProtectionPolicies")
        .and_then(Workload::from_long);
    let from_cast = match ctx.path.cast {
        None => None,
        Some(c) => Some(
            c.strip_suffix("ProtectionPolicy")
                .and_then(Workload::from_long)
                .ok_or_else(|| GraphError::bad_request(format!("'{c}' is not a policy type.")))?,
        ),
    };
    match (from_set, from_cast) {
        (Some(a), Some(b)) if a != b => Err(GraphError::bad_request(
            "The type cast does not match the entity set.",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The index of policy `id`, of workload `w` when given: 400 `InvalidPolicyId` for a
/// malformed id, 404 `PolicyNotFound`.
pub fn find_policy(p: &Protection, id: &str, w: Option<Workload>) -> GraphResult<usize> {
    if !is_guid(id) {
        return Err(GraphError::new(
            400,
            "InvalidPolicyId",
            format!("'{id}' is not a valid policy id."),
        ));
    }
    p.policy_index(id)
        .filter(|&i| w.is_none_or(|w| p.policies[i].workload == w))
        .ok_or_else(|| {
            GraphError::new(
                404,
                "PolicyNotFound",
                format!("The protection policy '{id}' was not found."),
            )
        })
}

pub fn handle(ctx: &Ctx, caller: &Caller) -> GraphResult {
    let w = workload_of(ctx)?;
    if ctx.path.nav.is_some() {
        let Some(w) = w else {
            return Err(GraphError::bad_request(
                "Navigate from a typed policy set (e.g. sharePointProtectionPolicies).",
            ));
        };
        let id = ctx.path.key.clone().unwrap_or_default();
        return match ctx.path.nav.as_ref().map(|n| n.0).unwrap_or_default() {
            n if n.ends_with("ProtectionUnitsBulkAdditionJobs") => {
                super::jobs::handle_policy(ctx, caller, w, &id)
            }
            n if n.ends_with("ProtectionUnits") => super::units::handle_policy(ctx, caller, w, &id),
            _ => super::rules::handle_policy(ctx, caller, w, &id),
        };
    }
    let set_name = ctx.path.set.unwrap_or_default();
    match (&ctx.path.key, ctx.path.action) {
        (None, None) if ctx.path.count => {
            ctx.allow(&[Method::GET])?;
            caller.require(Perm::Configuration, false)?;
            let n = with_protection(ctx, caller, Access::Read, |p, _| {
                Ok(p.policies
                    .iter()
                    .filter(|x| w.is_none_or(|w| x.workload == w))
                    .count())
            })?;
            Ok(count_response(n))
        }
        (None, None) => {
            let typed = set_name != "protectionPolicies";
            ctx.allow(if typed {
                &[Method::GET, Method::POST]
            } else {
                &[Method::GET]
            })?;
            if ctx.method == Method::POST {
                return create(ctx, caller, w.expect("typed set"));
            }
            caller.require(Perm::Configuration, false)?;
            let now = ctx.now;
            let body = with_protection(ctx, caller, Access::Read, |p, s| {
                let all: Vec<usize> = (0..p.policies.len())
                    .filter(|&i| w.is_none_or(|w| p.policies[i].workload == w))
                    .collect();
                let (a, b, next) = page(ctx, all.len(), s.page_size)?;
                let value = all[a..b]
                    .iter()
                    .map(|&i| render::policy(ctx, p, &p.policies[i], now))
                    .collect();
                Ok(collection(
                    ctx.context(&format!("solutions/backupRestore/{set_name}")),
                    value,
                    next,
                ))
            })?;
            Ok(graph_json(StatusCode::OK, &body))
        }
        (Some(id), None) => {
            ctx.allow(&[Method::GET, Method::PATCH, Method::DELETE])?;
            match ctx.method.clone() {
                Method::GET => {
                    caller.require(Perm::Configuration, false)?;
                    let now = ctx.now;
                    let v = with_protection(ctx, caller, Access::Read, |p, _| {
                        let i = find_policy(p, id, w)?;
                        Ok(render::policy(ctx, p, &p.policies[i], now))
                    })?;
                    Ok(entity(ctx, v, set_name, StatusCode::OK))
                }
                Method::DELETE => {
                    caller.require(Perm::Configuration, true)?;
                    let now = ctx.now;
                    with_protection(ctx, caller, Access::Write, |p, _| {
                        let i = find_policy(p, id, w)?;
                        Ok(p.delete_policy(i, now)?)
                    })?;
                    Ok(no_content())
                }
                _ => patch(ctx, caller, w, id),
            }
        }
        (Some(id), Some(action @ ("activate" | "deactivate"))) => {
            ctx.allow(&[Method::POST])?;
            caller.require(Perm::Configuration, true)?;
            let (now, who) = (ctx.now, caller.identity());
            let v = with_protection(ctx, caller, Access::Write, |p, s| {
                let i = find_policy(p, id, w)?;
                if action == "activate" {
                    p.activate(i, &who, now, s)?;
                } else {
                    p.deactivate(i, &who, now, s)?;
                }
                Ok(render::policy(ctx, p, &p.policies[i], now))
            })?;
            let mut r = entity(ctx, v, "protectionPolicies", StatusCode::ACCEPTED);
            if let Ok(h) = HeaderValue::from_str(&ctx.url(&format!("protectionPolicies/{id}"))) {
                r.headers_mut().insert(header::CONTENT_LOCATION, h);
            }
            Ok(r)
        }
        (_, Some(a)) => Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{a}'."
        ))),
    }
}

fn entity(ctx: &Ctx, v: Value, set: &str, status: StatusCode) -> axum::response::Response {
    graph_json(
        status,
        &annotate(
            v,
            &[(
                "@odata.context",
                Value::String(ctx.context(&format!("solutions/backupRestore/{set}/$entity"))),
            )],
        ),
    )
}

/// The weekly period of a `retentionSettings` body (None when absent).
fn retention(body: &Map<String, Value>) -> GraphResult<Option<String>> {
    let Some(v) = body.get("retentionSettings") else {
        return Ok(None);
    };
    let bad = || {
        GraphError::new(
            400,
            "InvalidRetentionSettings",
            "retentionSettings must be a list of {interval, period} with one 'R/P1W' entry.",
        )
    };
    let list = v.as_array().ok_or_else(bad)?;
    let mut weekly = None;
    for s in list {
        let interval = s["interval"].as_str().ok_or_else(bad)?;
        let period = s["period"].as_str().ok_or_else(bad)?;
        match interval {
            "R/P1W" => weekly = Some(period.to_string()),
            // the 10-minute tier is fixed: only its current value is accepted
            "R/PT10M"
                if period.eq_ignore_ascii_case("P2W") || period.eq_ignore_ascii_case("P14D") => {}
            _ => return Err(bad()),
        }
    }
    weekly.map(Some).ok_or_else(bad)
}

fn create(ctx: &Ctx, caller: &Caller, w: Workload) -> GraphResult {
    caller.require(Perm::Configuration, true)?;
    let body = &ctx.body;
    let name = match body.get("displayName") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let retention = retention(body)?;
    let prop = format!("{}ProtectionUnits", w.short());
    let resources = match body.get(&prop) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|it| {
                it[w.resource_property()]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| {
                        GraphError::new(
                            400,
                            "InvalidCreateRequest",
                            format!("Each of '{prop}' needs '{}'.", w.resource_property()),
                        )
                    })
            })
            .collect::<GraphResult<Vec<_>>>()?,
        Some(_) => {
            return Err(GraphError::new(
                400,
                "InvalidCreateRequest",
                format!("'{prop}' must be a list."),
            ));
        }
    };
    let (now, who) = (ctx.now, caller.identity());
    let v = with_protection(ctx, caller, Access::Write, |p, s| {
        let (i, _) = p.create_policy(w, name, retention.as_deref(), resources, &who, now, s)?;
        Ok(render::policy(ctx, p, &p.policies[i], now))
    })?;
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let set = format!("{}ProtectionPolicies", w.long());
    let mut r = entity(ctx, v, &set, StatusCode::CREATED);
    if let Ok(h) = HeaderValue::from_str(&ctx.url(&format!("protectionPolicies/{id}"))) {
        r.headers_mut().insert(header::CONTENT_LOCATION, h);
    }
    Ok(r)
}

fn patch(ctx: &Ctx, caller: &Caller, w: Option<Workload>, id: &str) -> GraphResult {
    caller.require(Perm::Configuration, true)?;
    let Some(w) = w else {
        return Err(GraphError::new(
            405,
            "BadRequest",
            "Update a policy through its typed set (e.g. sharePointProtectionPolicies).",
        ));
    };
    let body = &ctx.body;
    let name = match body.get("displayName") {
        None => None,
        Some(Value::String(s)) => Some(Some(s.as_str())),
        Some(_) => Some(None),
    };
    let retention = retention(body)?;
    let prop = format!("{}ProtectionUnits@delta", w.short());
    let items = match body.get(&prop) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|it| {
                if it.get("@removed").is_some() {
                    it["id"]
                        .as_str()
                        .map(|u| DeltaItem::Remove { unit_id: u.to_string() })
                } else {
                    it[w.resource_property()]
                        .as_str()
                        .map(|r| DeltaItem::Add { resource: r.to_string() })
                }
                .ok_or_else(|| {
                    GraphError::new(
                        400,
                        "InvalidProtectionUnitId",
                        format!(
                            "Each entry of '{prop}' needs '{}' (to add) or '@removed' and 'id' (to remove).",
                            w.resource_property()
                        ),
                    )
                })
            })
            .collect::<GraphResult<Vec<_>>>()?,
        Some(_) => return Err(GraphError::bad_request(format!("'{prop}' must be a list."))),
    };
    let (now, who, delegated) = (ctx.now, caller.identity(), caller.is_user());
    let v = with_protection(ctx, caller, Access::Write, |p, s| {
        let i = find_policy(p, id, Some(w))?;
        let outcomes = p.patch_policy(i, name, retention.as_deref(), items, &who, now, s)?;
        let mut v = render::policy(ctx, p, &p.policies[i], now);
        let delta: Vec<Value> = outcomes
            .into_iter()
            .enumerate()
            .map(|(n, o)| match o {
                ItemOutcome::Unit(u) => render::unit(ctx, p, &p.units[u], delegated),
                ItemOutcome::Failed {
                    item,
                    status,
                    code,
                    message,
                } => {
                    let (op, idk, idv) = match item {
                        DeltaItem::Add { resource } => ("add", w.resource_property(), resource),
                        DeltaItem::Remove { unit_id } => ("remove", "id", unit_id),
                    };
                    let mut m = Map::new();
                    m.insert("@contentId".into(), json!(n.to_string()));
                    m.insert(
                        "@Core.DataModificationException".into(),
                        json!({
                            "info": {"code": code, "message": message},
                            "failedOperation": op,
                            "responseCode": status,
                        }),
                    );
                    m.insert(idk.into(), json!(idv));
                    Value::Object(m)
                }
            })
            .collect();
        if let Value::Object(m) = &mut v
            && body.contains_key(&prop)
        {
            m.insert(prop.clone(), Value::Array(delta));
        }
        Ok(v)
    })?;
    Ok(entity(
        ctx,
        v,
        &format!("{}ProtectionPolicies", w.long()),
        StatusCode::OK,
    ))
}
