//! Protection units: tenant-wide (`protectionUnits`, with or without a type cast, and the
//! root `{site,drive,mailbox}ProtectionUnits`), per policy, get by id, `offboard` and
//! `cancelOffboard` (bound to `protectionUnits` only, delegated only).

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::paging::{collection, page};
use super::policies::find_policy;
use super::{
    Access, Caller, Ctx, GraphError, GraphResult, Perm, annotate, count_response, render,
    with_protection,
};
use crate::common::graph_json;
use crate::lifecycle::is_guid;
use crate::protection::{Protection, Unit, UnitStatus, Workload};

/// A `$filter` the emulator applies to unit lists: `status eq '…'` or `policyId eq '…'`.
enum Filter {
    None,
    Status(UnitStatus),
    Policy(String),
}

fn filter(ctx: &Ctx) -> GraphResult<Filter> {
    let Some(f) = ctx.query("$filter") else {
        return Ok(Filter::None);
    };
    let bad = || {
        GraphError::new(
            400,
            "InvalidFilter",
            format!(
                "Unsupported $filter '{f}': the emulator supports status eq '…' and policyId eq '…'."
            ),
        )
    };
    let parts: Vec<&str> = f.splitn(3, ' ').collect();
    let [prop, op, value] = parts.as_slice() else {
        return Err(bad());
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let value = value
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(bad)?;
    if prop.eq_ignore_ascii_case("status") {
        UnitStatus::parse(value).map(Filter::Status).ok_or_else(bad)
    } else if prop.eq_ignore_ascii_case("policyId") {
        Ok(Filter::Policy(value.to_string()))
    } else {
        Err(bad())
    }
}

fn keep(u: &Unit, f: &Filter) -> bool {
    match f {
        Filter::None => true,
        Filter::Status(s) => u.status == *s,
        Filter::Policy(p) => u.policy_id.eq_ignore_ascii_case(p),
    }
}

pub fn find_unit(p: &Protection, id: &str) -> GraphResult<usize> {
    if !is_guid(id) {
        return Err(GraphError::new(
            400,
            "InvalidProtectionUnitId",
            format!("'{id}' is not a valid protection unit id."),
        ));
    }
    p.unit_index(id).ok_or_else(|| {
        GraphError::new(
            404,
            "ProtectionUnitNotFound",
            format!("The protection unit '{id}' was not found."),
        )
    })
}

/// Lists (or counts) units passing `select`, as one page.
fn list(
    ctx: &Ctx,
    caller: &Caller,
    context: String,
    select: impl Fn(&Protection, &Unit) -> bool,
) -> GraphResult {
    let f = filter(ctx)?;
    let delegated = caller.is_user();
    let count = ctx.path.count;
    let out = with_protection(ctx, caller, Access::Read, |p, s| {
        let all: Vec<usize> = (0..p.units.len())
            .filter(|&i| {
                let u = &p.units[i];
                p.listed(u, s.removed_units_stay_listed) && select(p, u) && keep(u, &f)
            })
            .collect();
        if count {
            return Ok(Err(all.len()));
        }
        let (a, b, next) = page(ctx, all.len(), s.page_size)?;
        let value = all[a..b]
            .iter()
            .map(|&i| render::unit(ctx, p, &p.units[i], delegated))
            .collect();
        Ok(Ok(collection(context, value, next)))
    })?;
    match out {
        Ok(body) => Ok(graph_json(StatusCode::OK, &body)),
        Err(n) => Ok(count_response(n)),
    }
}

fn one(ctx: &Ctx, caller: &Caller, id: &str, select: impl Fn(&Unit) -> bool) -> GraphResult {
    let delegated = caller.is_user();
    let v = with_protection(ctx, caller, Access::Read, |p, _| {
        let i = find_unit(p, id)?;
        if !select(&p.units[i]) {
            return Err(GraphError::new(
                404,
                "ProtectionUnitNotFound",
                format!("The protection unit '{id}' was not found here."),
            ));
        }
        Ok(render::unit(ctx, p, &p.units[i], delegated))
    })?;
    Ok(graph_json(
        StatusCode::OK,
        &annotate(
            v,
            &[(
                "@odata.context",
                Value::String(ctx.context("solutions/backupRestore/protectionUnits/$entity")),
            )],
        ),
    ))
}

/// The workload a unit set or cast names.
fn workload(name: &str, suffix: &str) -> Option<Workload> {
    name.strip_suffix(suffix).and_then(Workload::from_short)
}

pub fn handle_root(ctx: &Ctx, caller: &Caller) -> GraphResult {
    let set = ctx.path.set.unwrap_or_default();
    let from_set = workload(set, "ProtectionUnits");
    let from_cast = match ctx.path.cast {
        None => None,
        Some(c) => Some(workload(c, "ProtectionUnit").ok_or_else(|| {
            GraphError::bad_request(format!("'{c}' is not a protection unit type."))
        })?),
    };
    if from_set.is_some() && from_cast.is_some_and(|c| Some(c) != from_set) {
        return Err(GraphError::bad_request(
            "The type cast does not match the entity set.",
        ));
    }
    let w = from_set.or(from_cast);
    caller.require(Perm::Configuration, ctx.path.action.is_some())?;
    match (&ctx.path.key, ctx.path.action) {
        (None, None) => {
            ctx.allow(&[Method::GET])?;
            let context = match ctx.path.cast {
                Some(c) => format!("solutions/backupRestore/protectionUnits/microsoft.graph.{c}"),
                None => format!("solutions/backupRestore/{set}"),
            };
            list(ctx, caller, context, |_, u| {
                w.is_none_or(|w| u.workload == w)
            })
        }
        (Some(id), None) => {
            ctx.allow(&[Method::GET])?;
            one(ctx, caller, id, |u| w.is_none_or(|w| u.workload == w))
        }
        (Some(id), Some(action @ ("offboard" | "cancelOffboard"))) if set == "protectionUnits" => {
            ctx.allow(&[Method::POST])?;
            caller.require_user(action)?;
            let (now, who, delegated) = (ctx.now, caller.identity(), caller.is_user());
            let v = with_protection(ctx, caller, Access::Write, |p, s| {
                let i = find_unit(p, id)?;
                p.offboard(i, action == "offboard", &who, now, s)?;
                Ok(render::unit(ctx, p, &p.units[i], delegated))
            })?;
            Ok(graph_json(
                StatusCode::OK,
                &annotate(
                    v,
                    &[(
                        "@odata.context",
                        Value::String(ctx.context("microsoft.graph.protectionUnitBase")),
                    )],
                ),
            ))
        }
        (_, Some(a)) => Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{a}'."
        ))),
    }
}

/// `{W}ProtectionPolicies/{pid}/{w}ProtectionUnits[/{id}]`.
pub fn handle_policy(ctx: &Ctx, caller: &Caller, w: Workload, pid: &str) -> GraphResult {
    ctx.allow(&[Method::GET])?;
    caller.require(Perm::Configuration, false)?;
    if ctx.path.action.is_some() {
        return Err(GraphError::bad_request(
            "Call offboard and cancelOffboard through protectionUnits/{id}.",
        ));
    }
    let pid_owned = with_protection(ctx, caller, Access::Read, |p, _| {
        let i = find_policy(p, pid, Some(w))?;
        Ok(p.policies[i].id.clone())
    })?;
    let nav = ctx.path.nav.as_ref().expect("navigation");
    match &nav.1 {
        None => list(
            ctx,
            caller,
            ctx.context(&format!(
                "solutions/backupRestore/{}ProtectionPolicies('{pid_owned}')/{}",
                w.long(),
                nav.0
            )),
            |_, u| *u.policy_id == *pid_owned,
        ),
        Some(id) => one(ctx, caller, id, |u| {
            *u.policy_id == *pid_owned && !u.removed
        }),
    }
}
