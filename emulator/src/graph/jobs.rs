//! Bulk addition jobs: `{W}ProtectionPolicies/{pid}/{w}ProtectionUnitsBulkAdditionJobs`
//! (create, list without the inputs, get with them) and the root sets (read-only).

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::paging::{collection, page};
use super::policies::find_policy;
use super::{
    Access, Caller, Ctx, GraphError, GraphResult, Perm, annotate, count_response, render,
    with_protection,
};
use crate::common::graph_json;
use crate::protection::{Protection, Workload};

fn find_job(p: &Protection, id: &str, pid: Option<&str>, w: Workload) -> GraphResult<usize> {
    p.job_index(id)
        .filter(|&i| {
            let j = &p.jobs[i];
            j.workload == w && pid.is_none_or(|pid| j.policy_id.eq_ignore_ascii_case(pid))
        })
        .ok_or_else(|| {
            GraphError::new(
                404,
                "itemNotFound",
                format!("The bulk addition job '{id}' was not found."),
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
                Value::String(ctx.context("microsoft.graph.protectionUnitsBulkJobBase")),
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
        let all: Vec<usize> = (0..p.jobs.len())
            .filter(|&i| {
                let j = &p.jobs[i];
                j.workload == w && pid.as_deref().is_none_or(|pid| j.policy_id == pid)
            })
            .collect();
        if count {
            return Ok(Err(all.len()));
        }
        let (a, b, next) = page(ctx, all.len(), s.page_size)?;
        let value = all[a..b]
            .iter()
            .map(|&i| render::job(p, &p.jobs[i], false))
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
        .strip_suffix("ProtectionUnitsBulkAdditionJobs")
        .and_then(Workload::from_short)
        .ok_or_else(|| GraphError::bad_request("Unknown job set."))?;
    ctx.allow(&[Method::GET])?;
    caller.require(Perm::Configuration, false)?;
    if ctx.path.action.is_some() || ctx.path.cast.is_some() {
        return Err(GraphError::bad_request("Create jobs through their policy."));
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
                let i = find_job(p, id, None, w)?;
                Ok(render::job(p, &p.jobs[i], true))
            })?;
            Ok(entity(ctx, v, StatusCode::OK))
        }
    }
}

/// A list of strings from the body (absent = empty).
fn strings(ctx: &Ctx, name: &str) -> GraphResult<Vec<String>> {
    match ctx.body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    GraphError::bad_request(format!("'{name}' must be a list of strings."))
                })
            })
            .collect(),
        Some(_) => Err(GraphError::bad_request(format!(
            "'{name}' must be a list of strings."
        ))),
    }
}

pub fn handle_policy(ctx: &Ctx, caller: &Caller, w: Workload, pid: &str) -> GraphResult {
    let nav = ctx.path.nav.as_ref().expect("navigation");
    if !nav
        .0
        .eq_ignore_ascii_case(&format!("{}ProtectionUnitsBulkAdditionJobs", w.short()))
        || ctx.path.action.is_some()
    {
        return Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{}'.",
            nav.0
        )));
    }
    match &nav.1 {
        None => {
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
            // The documentation names a Read permission for this write; the emulator asks
            // for ReadWrite like every other write.
            caller.require(Perm::Configuration, true)?;
            let (ids, names) = match w {
                Workload::SharePoint => (strings(ctx, "siteIds")?, strings(ctx, "siteWebUrls")?),
                Workload::OneDrive => {
                    (strings(ctx, "directoryObjectIds")?, strings(ctx, "drives")?)
                }
                Workload::Exchange => (
                    strings(ctx, "directoryObjectIds")?,
                    strings(ctx, "mailboxes")?,
                ),
            };
            let name = ctx
                .body
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::to_string);
            let (now, who) = (ctx.now, caller.identity());
            let v = with_protection(ctx, caller, Access::Write, |p, s| {
                let pi = find_policy(p, pid, Some(w))?;
                let ji = p.create_job(pi, name, ids, names, &who, now, s)?;
                Ok(render::job(p, &p.jobs[ji], true))
            })?;
            Ok(entity(ctx, v, StatusCode::CREATED))
        }
        Some(id) => {
            ctx.allow(&[Method::GET])?;
            caller.require(Perm::Configuration, false)?;
            let v = with_protection(ctx, caller, Access::Read, |p, _| {
                find_policy(p, pid, Some(w))?;
                let i = find_job(p, id, Some(pid), w)?;
                Ok(render::job(p, &p.jobs[i], true))
            })?;
            Ok(entity(ctx, v, StatusCode::OK))
        }
    }
}
