//! The lifecycle seed's numbered transitions 1-8, its documented errors and the decisions
//! the spec fixes where Graph is silent, all through HTTPS.

mod common;

use common::{Emu, new_id, parse};
use reqwest::Method;
use serde_json::json;
use time::Duration;

const OWNER: &str = "23014d8c-71fe-4d00-a01a-31850bc5b42a";

#[tokio::test]
async fn transition_1_register_is_inactive_and_second_registration_conflicts() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let app = e.put_app().await;
    let at = e.app_token(&t, &app).await;

    let r = e.register(&at).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["status"], "inactive");
    assert_eq!(r.json["id"], app.as_str());
    assert_eq!(r.json["application"]["id"], app.as_str());
    assert_eq!(r.json["@odata.type"], "#microsoft.graph.serviceApp");
    assert!(
        r.json["registrationDateTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let loc = r.header("content-location").expect("Content-Location");
    assert_eq!(
        loc,
        e.url(&format!("/v1.0/solutions/backupRestore/serviceApps/{app}"))
    );

    // the location answers
    let got = e.get_app(&at, &app).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["status"], "inactive");
    assert!(
        got.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#solutions/backupRestore/serviceApps/$entity")
    );

    // listed
    let list = e
        .graph(
            Method::GET,
            "/solutions/backupRestore/serviceApps",
            &at,
            None,
        )
        .await;
    assert_eq!(list.status, 200);
    assert!(list.json["@odata.context"].is_string());
    let ids: Vec<_> = list.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![app.clone()]);

    // second registration: 409 Conflict
    let again = e.register(&at).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.code(), "Conflict");

    // unknown extra properties are ignored
    let other = e.put_app().await;
    let ot = e.app_token(&t, &other).await;
    let r = e
        .graph(
            Method::POST,
            "/solutions/backupRestore/serviceApps",
            &ot,
            Some(json!({"application": {"id": "ignored"}, "somethingNew": 1})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["id"], other.as_str());
}

#[tokio::test]
async fn transition_2_immediate_activation_then_enable() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let app = e.put_app().await;
    let at = e.app_token(&t, &app).await;
    let ut = e.user_token(&t, &app).await;
    assert_eq!(e.register(&at).await.status, 202);

    // enable before active: 403
    let r = e.enable(&at, OWNER).await;
    assert_eq!(r.status, 403, "{}", r.text);

    let now = e.now().await;
    let r = e.activate(&ut, &app, Some(now)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["status"], "active");
    assert_eq!(
        parse(r.json["effectiveDateTime"].as_str().unwrap()),
        now.replace_nanosecond(now.nanosecond() / 100 * 100)
            .unwrap()
    );
    assert!(r.header("content-location").unwrap().ends_with(&app));
    assert_eq!(
        r.json["lastModifiedBy"]["user"]["id"],
        m365backup_emulator::demo::ADMIN_USER_ID
    );
    assert_eq!(r.json["lastModifiedBy"]["application"]["id"], app.as_str());
    assert_eq!(e.status_of(&at, &app).await, "active");

    // activating the active app again is a no-op
    let r = e.activate(&ut, &app, Some(now)).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json["status"], "active");

    // enable (step 4) returns a serviceStatus, not the root
    let r = e.enable(&at, OWNER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["@odata.type"], "#microsoft.graph.serviceStatus");
    assert!(r.json.get("serviceStatus").is_none());
    assert_eq!(r.json["status"], "enabled");
    assert_eq!(r.json["backupServiceConsumer"], "thirdparty");
    assert_eq!(r.json["disableReason"], "none");
    assert_eq!(r.json["lastModifiedBy"]["application"]["id"], app.as_str());
    // idempotent
    assert_eq!(e.enable(&at, OWNER).await.status, 200);

    let root = e.root(&at).await;
    assert_eq!(root["serviceStatus"]["status"], "enabled");
    assert_eq!(root["serviceStatus"]["backupServiceConsumer"], "thirdparty");
    assert!(
        root["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#solutions/backupRestore/$entity")
    );
    // trailing slash form of the root
    let r = e
        .graph(Method::GET, "/solutions/backupRestore/", &at, None)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn transitions_3_and_4_first_party_handover_with_window() {
    let e = Emu::start();
    let t = e.put_tenant("firstparty").await;
    let app = e.put_app().await;
    let at = e.app_token(&t, &app).await;
    let ut = e.user_token(&t, &app).await;
    let root = e.root(&at).await;
    assert_eq!(root["serviceStatus"]["status"], "enabled");
    assert_eq!(root["serviceStatus"]["backupServiceConsumer"], "firstparty");
    assert_eq!(e.register(&at).await.status, 202);

    let now = e.now().await;
    // window violations: 400
    for bad in [
        Some(now),
        Some(now + Duration::days(6)),
        Some(now + Duration::days(31)),
    ] {
        let r = e.activate(&ut, &app, bad).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text);
        assert_eq!(r.code(), "BadRequest");
    }
    // effectiveDateTime is required; and must be a date
    assert_eq!(e.activate(&ut, &app, None).await.status, 400);
    let r = e
        .graph(
            Method::POST,
            &format!("/solutions/backupRestore/serviceApps/{app}/activate"),
            &ut,
            Some(json!({"effectiveDateTime": "next tuesday"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(e.status_of(&at, &app).await, "inactive");

    // transition 3
    let eff = now + Duration::days(8);
    let r = e.activate(&ut, &app, Some(eff)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["status"], "pendingActive");
    // echoed at Graph's 100 ns resolution
    let echoed = parse(r.json["effectiveDateTime"].as_str().unwrap());
    assert!((echoed - eff).abs() < Duration::microseconds(1));

    // a second activation while the change is pending: 403
    let r = e.activate(&ut, &app, Some(now + Duration::days(9))).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // enable while pendingActive: 403
    assert_eq!(e.enable(&at, OWNER).await.status, 403);

    // transition 4 at the effective date
    e.advance(Duration::days(8).whole_seconds() - 60).await;
    assert_eq!(e.status_of(&at, &app).await, "pendingActive");
    e.advance(120).await;
    assert_eq!(e.status_of(&at, &app).await, "active");
    // first party's status stays until the new controller enables
    let root = e.root(&at).await;
    assert_eq!(root["serviceStatus"]["backupServiceConsumer"], "firstparty");
    let r = e.enable(&at, OWNER).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["backupServiceConsumer"], "thirdparty");
}

#[tokio::test]
async fn transitions_3_and_4_between_third_parties() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let (a, a_at, a_ut) = e.active_controller(&t).await;
    let b = e.put_app().await;
    let b_at = e.app_token(&t, &b).await;
    let b_ut = e.user_token(&t, &b).await;
    assert_eq!(e.register(&b_at).await.status, 202);

    // A is active (not enabled): still an existing controller -> window applies
    let now = e.now().await;
    assert_eq!(e.activate(&b_ut, &b, Some(now)).await.status, 400);
    let eff = now + Duration::days(10);
    let r = e.activate(&b_ut, &b, Some(eff)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["status"], "pendingActive");
    let a_now = e.get_app(&a_at, &a).await;
    assert_eq!(a_now.json["status"], "pendingInactive");
    assert_eq!(
        a_now.json["effectiveDateTime"], r.json["effectiveDateTime"],
        "both apps carry the same effectiveDateTime"
    );

    // documented errors during the pending change
    let r = e.delete(&a_at, &a).await;
    assert_eq!(r.status, 403, "delete pendingInactive: {}", r.text);
    let r = e.activate(&a_ut, &a, Some(now + Duration::days(9))).await;
    assert_eq!(r.status, 403, "second pending change: {}", r.text);
    // deactivate pendingInactive: no change
    let r = e.deactivate(&a_ut, &a).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json["status"], "pendingInactive");

    e.advance(Duration::days(10).whole_seconds() + 1).await;
    assert_eq!(e.status_of(&b_at, &b).await, "active");
    assert_eq!(e.status_of(&a_at, &a).await, "inactive");
    // the old controller can now be unregistered
    assert_eq!(e.delete(&a_at, &a).await.status, 204);
}

#[tokio::test]
async fn transition_5_deactivate_pending_active_and_deactivate_rules() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let (a, a_at, a_ut) = e.active_controller(&t).await;
    let b = e.put_app().await;
    let b_at = e.app_token(&t, &b).await;
    let b_ut = e.user_token(&t, &b).await;
    assert_eq!(e.register(&b_at).await.status, 202);

    // deactivate inactive: 202 no-op
    let r = e.deactivate(&b_ut, &b).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["status"], "inactive");
    assert!(r.header("content-location").is_some());

    let now = e.now().await;
    assert_eq!(
        e.activate(
            &b_ut,
            &b,
            Some(now + Duration::days(7) + Duration::hours(1))
        )
        .await
        .status,
        202
    );
    let r = e.deactivate(&b_ut, &b).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json["status"], "inactive");
    assert!(r.json["effectiveDateTime"].is_null());
    assert_eq!(e.status_of(&a_at, &a).await, "active");

    // deactivate active: 403
    let r = e.deactivate(&a_ut, &a).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(e.status_of(&a_at, &a).await, "active");
    // the change did not happen later either
    e.advance(Duration::days(31).whole_seconds()).await;
    assert_eq!(e.status_of(&a_at, &a).await, "active");
    assert_eq!(e.status_of(&b_at, &b).await, "inactive");
}

#[tokio::test]
async fn transition_6_unregister_inactive() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let app = e.put_app().await;
    let at = e.app_token(&t, &app).await;
    assert_eq!(e.register(&at).await.status, 202);
    let r = e.delete(&at, &app).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    let r = e.get_app(&at, &app).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "itemNotFound");
    assert_eq!(e.delete(&at, &app).await.status, 404);
    // re-registration works
    assert_eq!(e.register(&at).await.status, 202);
}

#[tokio::test]
async fn transition_7_unregister_pending_active_cancels_the_change() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let (a, a_at, _) = e.active_controller(&t).await;
    let b = e.put_app().await;
    let b_at = e.app_token(&t, &b).await;
    let b_ut = e.user_token(&t, &b).await;
    assert_eq!(e.register(&b_at).await.status, 202);
    let now = e.now().await;
    assert_eq!(
        e.activate(&b_ut, &b, Some(now + Duration::days(20)))
            .await
            .status,
        202
    );
    assert_eq!(e.status_of(&a_at, &a).await, "pendingInactive");
    assert_eq!(e.delete(&b_at, &b).await.status, 204);
    assert_eq!(e.get_app(&a_at, &b).await.status, 404);
    let a_now = e.get_app(&a_at, &a).await;
    assert_eq!(a_now.json["status"], "active");
    // A's own activation date is back
    assert!(a_now.json["effectiveDateTime"].is_string());
    e.advance(Duration::days(21).whole_seconds()).await;
    assert_eq!(e.status_of(&a_at, &a).await, "active");
}

#[tokio::test]
async fn transition_8_unregister_active_starts_grace_period() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let (a, a_at, _) = e.active_controller(&t).await;
    assert_eq!(e.enable(&a_at, OWNER).await.status, 200);
    let now = e.now().await;
    let r = e.delete(&a_at, &a).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // removed at once
    assert_eq!(e.get_app(&a_at, &a).await.status, 404);

    let root = e.root(&a_at).await;
    let s = &root["serviceStatus"];
    assert_eq!(s["status"], "enabled");
    let grace = parse(s["gracePeriodDateTime"].as_str().unwrap());
    assert!((grace - (now + Duration::days(7))).abs() < Duration::minutes(1));
    // evolvable enum member: hidden on v1.0 without Prefer
    assert_eq!(s["disableReason"], "unknownFutureValue");
    // the v1.0 model lacks the member: unknownFutureValue even when asked, and the
    // preference is still acknowledged
    let prefer = [("Prefer", "include-unknown-enum-members")];
    let r = e
        .graph_v(
            "v1.0",
            Method::GET,
            "/solutions/backupRestore",
            &a_at,
            None,
            &prefer,
        )
        .await;
    assert_eq!(
        r.json["serviceStatus"]["disableReason"],
        "unknownFutureValue"
    );
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("include-unknown-enum-members")
    );
    // beta has it, but sends it only to clients that ask
    let r = e
        .graph_v(
            "beta",
            Method::GET,
            "/solutions/backupRestore",
            &a_at,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["serviceStatus"]["disableReason"],
        "unknownFutureValue"
    );
    assert_eq!(r.header("preference-applied"), None);
    let r = e
        .graph_v(
            "beta",
            Method::GET,
            "/solutions/backupRestore",
            &a_at,
            None,
            &prefer,
        )
        .await;
    assert_eq!(
        r.json["serviceStatus"]["disableReason"],
        "controllerServiceAppDeleted"
    );
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("include-unknown-enum-members")
    );

    // grace period ends with no other controller: disabled, userRequested, +30 days
    e.advance(Duration::days(7).whole_seconds() + 1).await;
    let root = e.root(&a_at).await;
    let s = &root["serviceStatus"];
    assert_eq!(s["status"], "disabled");
    assert_eq!(s["disableReason"], "userRequested");
    let till = parse(s["restoreAllowedTillDateTime"].as_str().unwrap());
    assert_eq!(till, grace + Duration::days(30));
}

#[tokio::test]
async fn delegated_only_and_caller_rules() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let a = e.put_app().await;
    let a_at = e.app_token(&t, &a).await;
    assert_eq!(e.register(&a_at).await.status, 202);
    let now = e.now().await;

    // app-only token on activate / deactivate: 403
    let r = e.activate(&a_at, &a, Some(now)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = e.deactivate(&a_at, &a).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(e.status_of(&a_at, &a).await, "inactive");

    // another app cannot activate or deactivate A's serviceApp ...
    let b = e.put_app().await;
    let b_at = e.app_token(&t, &b).await;
    let b_ut = e.user_token(&t, &b).await;
    assert_eq!(e.activate(&b_ut, &a, Some(now)).await.status, 403);
    assert_eq!(e.deactivate(&b_ut, &a).await.status, 403);
    // ... but may unregister it
    assert_eq!(e.delete(&b_at, &a).await.status, 204);

    // unknown serviceApp: 404 itemNotFound on every verb
    let ghost = new_id();
    assert_eq!(e.get_app(&b_at, &ghost).await.status, 404);
    assert_eq!(e.delete(&b_at, &ghost).await.status, 404);
    assert_eq!(e.activate(&b_ut, &ghost, Some(now)).await.status, 404);
    assert_eq!(e.deactivate(&b_ut, &ghost).await.status, 404);
}

#[tokio::test]
async fn enable_errors() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let (_a, a_at, _) = e.active_controller(&t).await;

    let r = e.enable(&a_at, "not-a-guid").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidAppOwnerTenantId");
    let r = e
        .graph(
            Method::POST,
            "/solutions/backupRestore/enable",
            &a_at,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 400);

    e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{t}/billing-profile"),
        Some(json!({"readable": false})),
    )
    .await;
    let r = e.enable(&a_at, OWNER).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "UnableToReadBillingProfile");

    e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{t}/billing-profile"),
        Some(json!({"valid": false})),
    )
    .await;
    let r = e.enable(&a_at, OWNER).await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert_eq!(r.code(), "InvalidBillingProfile");
    let root = e.root(&a_at).await;
    assert_eq!(root["serviceStatus"]["status"], "disabled");
    assert_eq!(
        root["serviceStatus"]["disableReason"],
        "invalidBillingProfile"
    );

    e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{t}/billing-profile"),
        Some(json!({"valid": true})),
    )
    .await;
    let r = e.enable(&a_at, OWNER).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "enabled");
    assert_eq!(r.json["disableReason"], "none");
}

#[tokio::test]
async fn admin_takeover_cancel_clock_and_state() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let (a, a_at, _) = e.active_controller(&t).await;
    let x = new_id();

    // takeover in an hour: A pendingInactive, X pendingActive
    let st = e
        .admin_ok(
            Method::POST,
            &format!("/_emulator/tenants/{t}/takeover"),
            Some(json!({"client_id": x, "effective_in_seconds": 3600})),
        )
        .await;
    assert_eq!(st["pendingChange"]["newApp"], x.as_str());
    assert_eq!(e.status_of(&a_at, &a).await, "pendingInactive");
    assert_eq!(e.status_of(&a_at, &x).await, "pendingActive");

    // the tenant admin cancels
    e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{t}/cancel-pending-change"),
        None,
    )
    .await;
    assert_eq!(e.status_of(&a_at, &a).await, "active");
    assert_eq!(e.status_of(&a_at, &x).await, "inactive");
    // nothing to cancel now
    let r = e
        .admin(
            Method::POST,
            &format!("/_emulator/tenants/{t}/cancel-pending-change"),
            None,
        )
        .await;
    assert_eq!(r.status, 409);

    // takeover again, completes with the clock
    e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{t}/takeover"),
        Some(json!({"client_id": x, "effective_in_seconds": 3600})),
    )
    .await;
    let before = e.now().await;
    let after = e.advance(3601).await;
    assert!(after - before >= Duration::seconds(3601));
    assert_eq!(e.status_of(&a_at, &a).await, "inactive");
    assert_eq!(e.status_of(&a_at, &x).await, "active");

    // immediate takeover
    let y = new_id();
    e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{t}/takeover"),
        Some(json!({"client_id": y, "effective_in_seconds": 0})),
    )
    .await;
    assert_eq!(e.status_of(&a_at, &y).await, "active");
    assert_eq!(e.status_of(&a_at, &x).await, "inactive");

    // state shows every tenant
    let state = e.admin_ok(Method::GET, "/_emulator/state", None).await;
    let tenant = &state["tenants"][&t];
    assert_eq!(tenant["serviceStatus"]["status"], "disabled");
    assert_eq!(tenant["serviceApps"].as_array().unwrap().len(), 3);
    assert!(state["tenants"][m365backup_emulator::demo::TENANT_ID].is_object());

    // unknown tenant on admin calls: 404; bad controller: 400
    let r = e
        .admin(
            Method::POST,
            &format!("/_emulator/tenants/{}/takeover", new_id()),
            Some(json!({"client_id": y})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .admin(
            Method::PUT,
            &format!("/_emulator/tenants/{}", new_id()),
            Some(json!({"controller": "someone"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // the clock never goes back
    let r = e
        .admin(
            Method::POST,
            "/_emulator/clock/advance",
            Some(json!({"seconds": -5})),
        )
        .await;
    assert_eq!(r.status, 400);

    // resetting a tenant forgets its apps
    e.admin_ok(
        Method::PUT,
        &format!("/_emulator/tenants/{t}"),
        Some(json!({"controller": "firstparty"})),
    )
    .await;
    assert_eq!(e.get_app(&a_at, &y).await.status, 404);
    let root = e.root(&a_at).await;
    assert_eq!(root["serviceStatus"]["backupServiceConsumer"], "firstparty");
}

#[tokio::test]
async fn service_apps_count_is_plain_text() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let a = e.put_app().await;
    let at = e.app_token(&t, &a).await;
    let r = e
        .graph(
            Method::GET,
            "/solutions/backupRestore/serviceApps/$count",
            &at,
            None,
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "0"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    e.register(&at).await;
    let r = e
        .graph(
            Method::GET,
            "/solutions/backupRestore/serviceApps/$count",
            &at,
            None,
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "1"));
}
