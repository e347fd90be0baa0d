//! Inclusion rules: `{W}ProtectionPolicies/{pid}/{w}InclusionRules` (create, list, get,
//! PATCH, DELETE, `run`, `deleteAndUnprotect`) and the root `{w}InclusionRules` (read-only).

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::paging::{collection, page};
use super::policies::find_policy;
use super::{
    Access, Caller, Ctx, GraphError, GraphResult, Perm, annotate, count_response, no_content,
    render, with_protection,
};
use crate::common::graph_json;
use crate::lifecycle::is_guid;
use crate::protection::{Protection, Workload};

fn find_rule(p: &Protection, id: &str, pid: Option<&str>, w: Workload) -> GraphResult<usize> {
    if !is_guid(id) {
        return Err(GraphError::new(
            400,
            "InvalidInclusionRuleId",
            format!("'{id}' is not a valid inclusion rule id."),
        ));
    }
    p.rule_index(id)
        .filter(|&i| {
            let r = &p.rules[i];
            r.workload == w && pid.is_none_or(|pid| r.policy_id.eq_ignore_ascii_case(pid))
        })
        .ok_or_else(|| {
            GraphError::new(
                404,
                "ProtectionRuleNotFound",
                format!("The inclusion rule '{id}' was not found."),
            )
        })
}

fn entity(ctx: &Ctx, v: Value, status: StatusCode) -> axum::response::Response {
    graph_json(
        status,
        &annotate(
            v,
            &[(
                "@odata.context",
                Value::String(ctx.context("microsoft.graph.protectionRuleBase")),
            )],
        ),
    )
}

fn list(
    ctx: &Ctx,
    caller: &Caller,
    w: Workload,
    pid: Option<String>,
    context: String,
) -> GraphResult {
    let count = ctx.path.count;
    let out = with_protection(ctx, caller, Access::Read, |p, s| {
        let all: Vec<usize> = (0..p.rules.len())
            .filter(|&i| {
                let r = &p.rules[i];
                r.workload == w && pid.as_deref().is_none_or(|pid| r.policy_id == pid)
            })
            .collect();
        if count {
            return Ok(Err(all.len()));
        }
        let (a, b, next) = page(ctx, all.len(), s.page_size)?;
        let value = all[a..b]
            .iter()
            .map(|&i| render::rule(ctx, p, &p.rules[i]))
            .collect();
        Ok(Ok(collection(context, value, next)))
    })?;
    match out {
        Ok(v) => Ok(graph_json(StatusCode::OK, &v)),
        Err(n) => Ok(count_response(n)),
    }
}

pub fn handle_root(ctx: &Ctx, caller: &Caller) -> GraphResult {
    let set = ctx.path.set.unwrap_or_default();
    let w = set
        .strip_suffix("InclusionRules")
        .and_then(Workload::from_short)
        .ok_or_else(|| GraphError::bad_request("Unknown rule set."))?;
    ctx.allow(&[Method::GET])?;
    caller.require(Perm::Configuration, false)?;
    if ctx.path.action.is_some() || ctx.path.cast.is_some() {
        return Err(GraphError::bad_request(
            "Change inclusion rules through their policy.",
        ));
    }
    match &ctx.path.key {
        None => list(
            ctx,
            caller,
            w,
            None,
            ctx.context(&format!("solutions/backupRestore/{set}")),
        ),
        Some(id) => {
            let v = with_protection(ctx, caller, Access::Read, |p, _| {
                let i = find_rule(p, id, None, w)?;
                Ok(render::rule(ctx, p, &p.rules[i]))
            })?;
            Ok(entity(ctx, v, StatusCode::OK))
        }
    }
}

pub fn handle_policy(ctx: &Ctx, caller: &Caller, w: Workload, pid: &str) -> GraphResult {
    let nav = ctx.path.nav.as_ref().expect("navigation");
    if !nav
        .0
        .eq_ignore_ascii_case(&format!("{}InclusionRules", w.short()))
    {
        return Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{}'.",
            nav.0
        )));
    }
    let expr_prop = format!("{}Expression", w.short());
    let (now, who) = (ctx.now, caller.identity());
    match (&nav.1, ctx.path.action) {
        (None, None) => {
            ctx.allow(&[Method::GET, Method::POST])?;
            if ctx.method == Method::GET {
                caller.require(Perm::Configuration, false)?;
                let pid = with_protection(ctx, caller, Access::Read, |p, _| {
                    Ok(p.policies[find_policy(p, pid, Some(w))?].id.clone())
                })?;
                let context = ctx.context(&format!(
                    "solutions/backupRestore/{}ProtectionPolicies('{pid}')/{}",
                    w.long(),
                    nav.0
                ));
                return list(ctx, caller, w, Some(pid), context);
            }
            caller.require(Perm::Configuration, true)?;
            let invalid =
                |m: &str| GraphError::new(400, "InvalidInclusionRuleCreateRequest", m.to_string());
            let expression = match ctx.body.get(&expr_prop) {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => return Err(invalid(&format!("'{expr_prop}' is required."))),
            };
            let dynamic = match ctx.body.get("isAutoApplyEnabled") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("'isAutoApplyEnabled' must be a boolean.")),
            };
            let v = with_protection(ctx, caller, Access::Write, |p, s| {
                let pi = find_policy(p, pid, Some(w))?;
                let ri = p.create_rule(pi, &expression, dynamic, &who, now, s)?;
                Ok(render::rule(ctx, p, &p.rules[ri]))
            })?;
            Ok(entity(ctx, v, StatusCode::CREATED))
        }
        (Some(id), None) => {
            ctx.allow(&[Method::GET, Method::PATCH, Method::DELETE])?;
            match ctx.method.clone() {
                Method::GET => {
                    caller.require(Perm::Configuration, false)?;
                    let v = with_protection(ctx, caller, Access::Read, |p, _| {
                        find_policy(p, pid, Some(w))?;
                        let i = find_rule(p, id, Some(pid), w)?;
                        Ok(render::rule(ctx, p, &p.rules[i]))
                    })?;
                    Ok(entity(ctx, v, StatusCode::OK))
                }
                Method::DELETE => {
                    caller.require(Perm::Configuration, true)?;
                    with_protection(ctx, caller, Access::Write, |p, _| {
                        find_policy(p, pid, Some(w))?;
                        let i = find_rule(p, id, Some(pid), w)?;
                        Ok(p.delete_rule(i)?)
                    })?;
                    Ok(no_content())
                }
                _ => {
                    caller.require(Perm::Configuration, true)?;
                    let invalid =
                        |m: String| GraphError::new(400, "InvalidProtectionRulePatchRequest", m);
                    if ctx.body.contains_key("isAutoApplyEnabled") {
                        return Err(invalid(
                            "'isAutoApplyEnabled' can be set only when the rule is created.".into(),
                        ));
                    }
                    let expression = match ctx.body.get(&expr_prop) {
                        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                        _ => return Err(invalid(format!("'{expr_prop}' is required."))),
                    };
                    let v = with_protection(ctx, caller, Access::Write, |p, s| {
                        find_policy(p, pid, Some(w))?;
                        let i = find_rule(p, id, Some(pid), w)?;
                        p.patch_rule(i, &expression, &who, now, s)?;
                        Ok(render::rule(ctx, p, &p.rules[i]))
                    })?;
                    Ok(entity(ctx, v, StatusCode::OK))
                }
            }
        }
        (Some(id), Some(action @ ("run" | "deleteAndUnprotect"))) => {
            ctx.allow(&[Method::POST])?;
            caller.require(Perm::Configuration, true)?;
            let v = with_protection(ctx, caller, Access::Write, |p, s| {
                find_policy(p, pid, Some(w))?;
                let i = find_rule(p, id, Some(pid), w)?;
                if action == "run" {
                    p.run_rule(i, &who, now, s)?;
                } else {
                    p.delete_and_unprotect(i, &who, now, s)?;
                }
                Ok(render::rule(ctx, p, &p.rules[i]))
            })?;
            Ok(entity(ctx, v, StatusCode::ACCEPTED))
        }
        (_, Some(a)) => Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{a}'."
        ))),
    }
}
