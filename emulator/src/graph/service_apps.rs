//! `serviceApps`: list, `$count`, register, get, delete, activate, deactivate.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    Caller, Ctx, GraphError, GraphResult, Perm, annotate, count_response, no_content, parse_dto,
    with_tenant,
};
use crate::common::graph_json;
use crate::json;
use crate::lifecycle::ServiceApp;

pub fn handle(ctx: &Ctx, caller: &Caller) -> GraphResult {
    let p = &ctx.path;
    if p.cast.is_some() || p.nav.is_some() {
        return Err(GraphError::bad_request(
            "Resource not found for the segment in this serviceApps path.",
        ));
    }
    let actor = caller.actor();
    let now = ctx.now;
    let tid = caller.tenant.as_str();
    match (&p.key, p.action, p.count) {
        (None, None, true) => {
            ctx.allow(&[Method::GET])?;
            caller.require(Perm::Control, false)?;
            let n = with_tenant(ctx, tid, |t| Ok(t.apps.len()))?;
            Ok(count_response(n))
        }
        (None, None, false) => {
            ctx.allow(&[Method::GET, Method::POST])?;
            if ctx.method == Method::GET {
                caller.require(Perm::Control, false)?;
                let apps = with_tenant(ctx, tid, |t| Ok(t.apps.clone()))?;
                return Ok(graph_json(
                    StatusCode::OK,
                    &json!({
                        "@odata.context": ctx.context("solutions/backupRestore/serviceApps"),
                        "value": apps.iter().map(json::service_app).collect::<Vec<_>>(),
                    }),
                ));
            }
            caller.require(Perm::Control, true)?;
            let app = with_tenant(ctx, tid, |t| Ok(t.register(&actor, now)))??;
            Ok(accepted(
                ctx,
                &app,
                "solutions/backupRestore/serviceApps/$entity",
            ))
        }
        (Some(id), None, false) => {
            ctx.allow(&[Method::GET, Method::DELETE])?;
            if ctx.method == Method::GET {
                caller.require(Perm::Control, false)?;
                let app = with_tenant(ctx, tid, |t| {
                    t.app(id).cloned().ok_or_else(|| {
                        GraphError::new(
                            404,
                            "itemNotFound",
                            format!("The serviceApp '{id}' was not found in this tenant."),
                        )
                    })
                })?;
                return Ok(graph_json(
                    StatusCode::OK,
                    &annotate(
                        json::service_app(&app),
                        &[(
                            "@odata.context",
                            Value::String(
                                ctx.context("solutions/backupRestore/serviceApps/$entity"),
                            ),
                        )],
                    ),
                ));
            }
            caller.require(Perm::Control, true)?;
            with_tenant(ctx, tid, |t| Ok(t.delete(id, now)))??;
            Ok(no_content())
        }
        (Some(id), Some("activate"), false) => {
            ctx.allow(&[Method::POST])?;
            caller.require(Perm::Control, true)?;
            caller.require_user("activate")?;
            let effective = match ctx.body.get("effectiveDateTime") {
                Some(Value::String(s)) => parse_dto(s).ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."
                    ))
                })?,
                Some(Value::Null) | None => {
                    return Err(GraphError::bad_request(
                        "The parameter 'effectiveDateTime' in the request payload is required and cannot be null.",
                    ));
                }
                Some(_) => {
                    return Err(GraphError::bad_request(
                        "The parameter 'effectiveDateTime' must be a string in RFC 3339 form.",
                    ));
                }
            };
            let app = with_tenant(ctx, tid, |t| Ok(t.activate(id, effective, &actor, now)))??;
            Ok(accepted(ctx, &app, "microsoft.graph.serviceApp"))
        }
        (Some(id), Some("deactivate"), false) => {
            ctx.allow(&[Method::POST])?;
            caller.require(Perm::Control, true)?;
            caller.require_user("deactivate")?;
            let app = with_tenant(ctx, tid, |t| Ok(t.deactivate(id, &actor, now)))??;
            Ok(accepted(ctx, &app, "microsoft.graph.serviceApp"))
        }
        (_, Some(a), _) => Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{a}'."
        ))),
        (Some(_), None, true) => Err(GraphError::bad_request(
            "Resource not found for the segment '$count'.",
        )),
    }
}

fn accepted(ctx: &Ctx, app: &ServiceApp, fragment: &str) -> Response {
    let body = annotate(
        json::service_app(app),
        &[("@odata.context", Value::String(ctx.context(fragment)))],
    );
    let mut resp = graph_json(StatusCode::ACCEPTED, &body);
    if let Ok(v) = HeaderValue::from_str(&ctx.url(&format!("serviceApps/{}", app.id))) {
        resp.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    resp
}
