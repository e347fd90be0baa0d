//! `GET /solutions/backupRestore` and `POST .../enable`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Caller, Ctx, GraphError, GraphResult, Perm, annotate, json_ok, with_tenant};
use crate::json;

pub fn handle(ctx: &Ctx, caller: &Caller) -> GraphResult {
    match ctx.path.action {
        None if ctx.path.count => Err(GraphError::bad_request(
            "Resource not found for the segment '$count'.",
        )),
        None => {
            ctx.allow(&[Method::GET])?;
            caller.require(Perm::Control, false)?;
            let s = with_tenant(ctx, &caller.tenant, |t| Ok(t.service.clone()))?;
            json_ok(
                StatusCode::OK,
                &json!({
                    "@odata.context": ctx.context("solutions/backupRestore/$entity"),
                    "id": caller.tenant,
                    "serviceStatus": json::service_status(&s, members_after_sentinel(ctx)),
                }),
            )
        }
        Some("enable") => {
            ctx.allow(&[Method::POST])?;
            caller.require(Perm::Control, true)?;
            let owner = match ctx.body.get("appOwnerTenantId") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => {
                    return Err(GraphError::bad_request(
                        "The parameter 'appOwnerTenantId' in the request payload is required.",
                    ));
                }
                Some(_) => {
                    return Err(GraphError::new(
                        400,
                        "InvalidAppOwnerTenantId",
                        "The parameter 'appOwnerTenantId' must be a string (a tenant ID).",
                    ));
                }
            };
            let actor = caller.actor();
            let now = ctx.now;
            let s = with_tenant(ctx, &caller.tenant, |t| {
                let r = t.enable(&actor, &owner, now);
                Ok(r)
            })?;
            let s = s?;
            json_ok(
                StatusCode::OK,
                &annotate(
                    json::service_status(&s, members_after_sentinel(ctx)),
                    &[
                        (
                            "@odata.context",
                            Value::String(ctx.context("microsoft.graph.serviceStatus")),
                        ),
                        (
                            "@odata.type",
                            Value::String("#microsoft.graph.serviceStatus".into()),
                        ),
                    ],
                ),
            )
        }
        Some(a) => Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{a}'."
        ))),
    }
}

/// `disableReason`'s members after `unknownFutureValue` exist only in the beta model: beta
/// sends them when asked, v1.0 never (its CSDL lacks them, so `unknownFutureValue` it is).
fn members_after_sentinel(ctx: &Ctx) -> bool {
    ctx.version == "beta" && ctx.prefer_unknown
}
