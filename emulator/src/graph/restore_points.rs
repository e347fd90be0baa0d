//! `restorePoints` (list, with the required `$expand=protectionUnit($filter=id eq '…')` and
//! `$filter=protectionDateTime …`) and `restorePoints/search`. Points are synthesized by
//! [`crate::protection::restore`].

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::units::find_unit;
use super::{
    Access, Caller, Ctx, GraphError, GraphResult, Perm, parse_dto, render, with_protection,
};
use crate::common::graph_json;
use crate::protection::restore;

/// At most this many points per list, and per unit in a search.
pub const MAX_POINTS: usize = 5;
/// At most this many units per search.
pub const MAX_SEARCH_UNITS: usize = 20;

fn quoted_after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    let lower = s.to_ascii_lowercase();
    let at = lower.find(marker)? + marker.len();
    let rest = s[at..].trim_start().strip_prefix('\'')?;
    rest.split('\'').next()
}

/// `protectionDateTime lt|le|gt|ge <time>` clauses joined by `and`: (from, to).
fn time_window(f: &str) -> GraphResult<(Option<OffsetDateTime>, Option<OffsetDateTime>)> {
    let bad = || {
        GraphError::new(
            400,
            "InvalidFilter",
            format!(
                "Unsupported $filter '{f}': use protectionDateTime lt|le|gt|ge <DateTimeOffset>."
            ),
        )
    };
    let (mut from, mut to) = (None, None);
    for clause in f.split(" and ") {
        let parts: Vec<&str> = clause.split_whitespace().collect();
        let [prop, op, value] = parts.as_slice() else {
            return Err(bad());
        };
        if !prop.eq_ignore_ascii_case("protectionDateTime") {
            return Err(bad());
        }
        let t = parse_dto(value.trim_matches('\'')).ok_or_else(bad)?;
        match op.to_ascii_lowercase().as_str() {
            "lt" => to = Some(t - time::Duration::nanoseconds(1)),
            "le" => to = Some(t),
            "gt" => from = Some(t + time::Duration::nanoseconds(1)),
            "ge" => from = Some(t),
            _ => return Err(bad()),
        }
    }
    Ok((from, to))
}

pub fn handle(ctx: &Ctx, caller: &Caller) -> GraphResult {
    caller.require(Perm::Search, false)?;
    match (ctx.path.key.as_deref(), ctx.path.action) {
        (None, None) if !ctx.path.count => list(ctx, caller),
        (None, Some("search")) => search(ctx, caller),
        _ => Err(GraphError::bad_request(
            "Use restorePoints?$expand=…&$filter=… or restorePoints/search.",
        )),
    }
}

fn list(ctx: &Ctx, caller: &Caller) -> GraphResult {
    ctx.allow(&[Method::GET])?;
    let required = || {
        GraphError::bad_request(
            "$expand=protectionUnit($filter=id eq '<unit id>') and $filter=protectionDateTime … are required.",
        )
    };
    let expand = ctx.query("$expand").ok_or_else(required)?;
    let unit_id = quoted_after(expand, "id eq")
        .filter(|_| expand.to_ascii_lowercase().starts_with("protectionunit"))
        .ok_or_else(required)?
        .to_string();
    let (from, to) = time_window(ctx.query("$filter").ok_or_else(required)?)?;
    let oldest_first = ctx
        .query("$orderby")
        .is_some_and(|o| o.to_ascii_lowercase().ends_with(" asc"));
    let (now, delegated) = (ctx.now, caller.is_user());
    let v = with_protection(ctx, caller, Access::Read, |p, _| {
        let i = find_unit(p, &unit_id)?;
        let u = &p.units[i];
        let points = restore::points(
            &u.id,
            &u.history,
            p.retention_of(&u.policy_id),
            now,
            from,
            to,
            MAX_POINTS,
            oldest_first,
        );
        let unit = render::unit(ctx, p, u, delegated);
        Ok(points
            .iter()
            .map(|rp| render::restore_point(rp, Some(unit.clone())))
            .collect::<Vec<_>>())
    })?;
    Ok(graph_json(
        StatusCode::OK,
        &json!({
            "@odata.context": ctx.context("solutions/backupRestore/restorePoints(protectionUnit())"),
            "value": v,
        }),
    ))
}

fn search(ctx: &Ctx, caller: &Caller) -> GraphResult {
    ctx.allow(&[Method::POST])?;
    let invalid = |m: &str| GraphError::new(400, "InvalidSearchRequest", m.to_string());
    let ids: Vec<String> = match ctx.body.get("protectionUnitIds") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("'protectionUnitIds' must be a list of strings."))?,
        _ => return Err(invalid("'protectionUnitIds' (1 to 20 ids) is required.")),
    };
    if ids.len() > MAX_SEARCH_UNITS {
        return Err(invalid(&format!(
            "At most {MAX_SEARCH_UNITS} protection units can be searched at once."
        )));
    }
    let period = ctx
        .body
        .get("protectionTimePeriod")
        .filter(|v| v.is_object())
        .ok_or_else(|| invalid("'protectionTimePeriod' is required."))?;
    let time_of = |k: &str| -> GraphResult<Option<OffsetDateTime>> {
        match &period[k] {
            Value::Null => Ok(None),
            Value::String(s) => parse_dto(s)
                .map(Some)
                .ok_or_else(|| invalid(&format!("'{k}' is not a DateTimeOffset."))),
            _ => Err(invalid(&format!("'{k}' is not a DateTimeOffset."))),
        }
    };
    let (from, to) = (time_of("startDateTime")?, time_of("endDateTime")?);
    let oldest_first = match ctx
        .body
        .get("restorePointPreference")
        .and_then(Value::as_str)
    {
        None | Some("latest") => false,
        Some("oldest") => true,
        Some(_) => {
            return Err(invalid(
                "'restorePointPreference' must be 'latest' or 'oldest'.",
            ));
        }
    };
    let fast_only = match ctx.body.get("tags").and_then(Value::as_str) {
        None | Some("none") => false,
        Some("fastRestore") => true,
        Some(_) => return Err(invalid("'tags' must be 'none' or 'fastRestore'.")),
    };
    if ctx.body.get("artifactQuery").is_some_and(|q| !q.is_null()) && ids.len() != 1 {
        return Err(invalid(
            "An artifactQuery needs exactly one protection unit.",
        ));
    }
    for id in &ids {
        if !crate::lifecycle::is_guid(id) {
            return Err(GraphError::new(
                400,
                "InvalidProtectionUnitId",
                format!("'{id}' is not a valid protection unit id."),
            ));
        }
    }
    let (now, delegated) = (ctx.now, caller.is_user());
    let (results, none) = with_protection(ctx, caller, Access::Read, |p, _| {
        let mut results = Vec::new();
        let mut none = Vec::new();
        for id in &ids {
            let Some(i) = p.unit_index(id) else {
                none.push(id.clone());
                continue;
            };
            let u = &p.units[i];
            let mut points = restore::points(
                &u.id,
                &u.history,
                p.retention_of(&u.policy_id),
                now,
                from,
                to,
                if fast_only { usize::MAX } else { MAX_POINTS },
                oldest_first,
            );
            if fast_only {
                points.retain(|rp| rp.fast_restore);
                points.truncate(MAX_POINTS);
            }
            if points.is_empty() {
                none.push(id.clone());
            }
            let unit = render::unit(ctx, p, u, delegated);
            for rp in points {
                results.push(json!({
                    "artifactHitCount": 0,
                    "restorePoint": render::restore_point(&rp, Some(unit.clone())),
                }));
            }
        }
        Ok((results, none))
    })?;
    Ok(graph_json(
        StatusCode::OK,
        &json!({
            "@odata.context": ctx.context("microsoft.graph.restorePointSearchResponse"),
            "searchResponseId": uuid::Uuid::new_v4().to_string(),
            "searchResults": results,
            "noResultProtectionUnitIds": none,
        }),
    ))
}
