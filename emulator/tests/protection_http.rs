//! Protection endpoints over HTTP: success and documented errors of each, gating by the
//! controller, asynchrony on the virtual clock, paging, faults and the admin calls.

mod common;

use common::{Emu, new_id};
use reqwest::Method;
use serde_json::{Value, json};

const ROOT: &str = "/solutions/backupRestore";
const PREFER: [(&str, &str); 1] = [("Prefer", "include-unknown-enum-members")];

fn site() -> String {
    format!("contoso.sharepoint.com,{},{}", new_id(), new_id())
}

/// A tenant whose service our app controls and has enabled.
struct Tenant {
    e: Emu,
    t: String,
    app: String,
    at: String,
    ut: String,
}

impl Tenant {
    async fn enabled() -> Tenant {
        let e = Emu::start();
        let t = e.put_tenant("none").await;
        let (app, at, ut) = e.active_controller(&t).await;
        let r = e.enable(&at, "23014d8c-71fe-4d00-a01a-31850bc5b42a").await;
        assert_eq!(r.status, 200, "{}", r.text);
        Tenant { e, t, app, at, ut }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> common::Resp {
        self.e
            .graph_v(
                "v1.0",
                method,
                &format!("{ROOT}{path}"),
                &self.at,
                body,
                &PREFER,
            )
            .await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        r.json
    }

    async fn policy(&self, kind: &str, units: Value) -> Value {
        let r = self
            .call(
                Method::POST,
                &format!("/{kind}ProtectionPolicies"),
                Some(json!({"displayName": format!("p-{}", new_id()), kind_units(kind): units})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    async fn units_of(&self, kind: &str, pid: &str) -> Vec<Value> {
        let nav = format!("{}ProtectionUnits", short(kind));
        self.ok(
            Method::GET,
            &format!("/{kind}ProtectionPolicies/{pid}/{nav}"),
            None,
        )
        .await["value"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn short(kind: &str) -> &'static str {
    match kind {
        "sharePoint" => "site",
        "oneDriveForBusiness" => "drive",
        _ => "mailbox",
    }
}

fn kind_units(kind: &str) -> String {
    format!("{}ProtectionUnits", short(kind))
}

#[tokio::test]
async fn gating_follows_the_controller() {
    let e = Emu::start();
    let t = e.put_tenant("firstparty").await;
    let app = e.put_app().await;
    let at = e.app_token(&t, &app).await;
    let ut = e.user_token(&t, &app).await;
    let list = format!("{ROOT}/protectionPolicies");
    let create = |tok: String| {
        let e = &e;
        async move {
            e.graph(
                Method::POST,
                &format!("{ROOT}/exchangeProtectionPolicies"),
                &tok,
                Some(json!({"displayName": "x"})),
            )
            .await
        }
    };
    // not registered: no access at all
    let r = e.graph(Method::GET, &list, &at, None).await;
    assert_eq!((r.status, r.code()), (403, "accessDenied"));
    // registered, pendingActive (the first party still controls): read-only
    e.register(&at).await;
    let now = e.now().await;
    let r = e
        .activate(&ut, &app, Some(now + time::Duration::days(8)))
        .await;
    assert_eq!(r.json["status"], "pendingActive");
    assert_eq!(e.graph(Method::GET, &list, &at, None).await.status, 200);
    let r = create(at.clone()).await;
    assert_eq!((r.status, r.code()), (403, "accessDenied"), "{}", r.text);
    // active, but our service not enabled yet: the first party's enablement does not count
    // for writes only when the status is not enabled, so disable it through billing first
    e.advance(time::Duration::days(8).whole_seconds() + 1).await;
    assert_eq!(
        create(at.clone()).await.status,
        201,
        "enabled by the first party"
    );
    let t2 = e.put_tenant("none").await;
    let (_, at2, _) = e.active_controller(&t2).await;
    let r = create(at2.clone()).await;
    assert_eq!((r.status, r.code()), (403, "ServiceNotEnabled"));
    assert_eq!(e.enable(&at2, &t2).await.status, 200);
    assert_eq!(create(at2).await.status, 201);
}

#[tokio::test]
async fn policy_lifecycle_and_its_errors() {
    let s = Tenant::enabled().await;
    let (a, b) = (site(), site());
    let p = s
        .policy("sharePoint", json!([{"siteId": a}, {"siteId": b}]))
        .await;
    assert_eq!(p["status"], "inactive");
    assert_eq!(p["isEnabled"], false);
    assert_eq!(
        p["@odata.type"],
        "#microsoft.graph.sharePointProtectionPolicy"
    );
    assert_eq!(
        p["retentionSettings"][1],
        json!({"interval": "R/P1W", "period": "P1Y"})
    );
    let pid = p["id"].as_str().unwrap().to_string();
    let units = s.units_of("sharePoint", &pid).await;
    assert_eq!(units.len(), 2);
    assert!(
        units
            .iter()
            .all(|u| u["status"] == "unprotected" && u["protectionSources"] == "manual")
    );

    // documented create errors
    let post = |body: Value| s.call(Method::POST, "/sharePointProtectionPolicies", Some(body));
    let r = post(json!({"displayName": ""})).await;
    assert_eq!((r.status, r.code()), (400, "InvalidDisplayName"));
    let r = post(json!({"displayName": "x".repeat(1025)})).await;
    assert_eq!((r.status, r.code()), (400, "InvalidDisplayName"));
    let many: Vec<Value> = (0..51).map(|_| json!({"siteId": site()})).collect();
    let r = post(json!({"displayName": "x", "siteProtectionUnits": many})).await;
    assert_eq!((r.status, r.code()), (413, "ProtectionUnitsLimitBreached"));
    let r =
        post(json!({"displayName": "x", "siteProtectionUnits": [{"siteId": "not-a-site"}]})).await;
    assert_eq!((r.status, r.code()), (400, "InvalidProtectionUnitId"));
    let r = post(json!({"displayName": "x", "siteProtectionUnits": [{"siteId": a}]})).await;
    assert_eq!((r.status, r.code()), (409, "ProtectionUnitAlreadyExists"));
    let r = post(
        json!({"displayName": "x", "retentionSettings": [{"interval": "R/P1W", "period": "P5D"}]}),
    )
    .await;
    assert_eq!(r.status, 400);

    // activate: 202 updating, then active with protected units once the delay passed
    let r = s
        .call(
            Method::POST,
            &format!("/protectionPolicies/{pid}/activate"),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        (r.json["status"].as_str(), r.json["isEnabled"].as_bool()),
        (Some("updating"), Some(true))
    );
    assert!(
        r.header("content-location")
            .unwrap()
            .ends_with(&format!("/protectionPolicies/{pid}"))
    );
    let r = s
        .call(
            Method::POST,
            &format!("/protectionPolicies/{pid}/activate"),
            None,
        )
        .await;
    assert_eq!(r.status / 100, 4, "already active");
    s.e.advance(61).await;
    let got = s
        .ok(Method::GET, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!(got["status"], "active");
    assert!(
        s.units_of("sharePoint", &pid)
            .await
            .iter()
            .all(|u| u["status"] == "protected")
    );

    // one active policy per workload
    let r = post(json!({"displayName": "second"})).await;
    assert_eq!((r.status, r.code()), (409, "PolicyCreationNotAllowed"));
    // delete needs an inactive policy
    let r = s
        .call(Method::DELETE, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!((r.status, r.code()), (403, "PolicyActionNotAllowed"));
    let r = s
        .call(
            Method::POST,
            &format!("/protectionPolicies/{pid}/deactivate"),
            None,
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.json["status"].as_str(),
            r.json["isEnabled"].as_bool()
        ),
        (202, Some("updating"), Some(false))
    );
    s.e.advance(61).await;
    let got = s
        .ok(Method::GET, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!(got["status"], "inactive");
    let r = s
        .call(Method::DELETE, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .call(Method::GET, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "PolicyNotFound"));
    let r = s.call(Method::GET, "/protectionPolicies/nope", None).await;
    assert_eq!((r.status, r.code()), (400, "InvalidPolicyId"));

    // polymorphic list
    s.policy("exchange", json!([])).await;
    s.policy("oneDriveForBusiness", json!([])).await;
    let all = s.ok(Method::GET, "/protectionPolicies", None).await;
    let mut types: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["@odata.type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "#microsoft.graph.exchangeProtectionPolicy",
            "#microsoft.graph.oneDriveForBusinessProtectionPolicy"
        ]
    );
    // an activated policy with no units is active
    let ex = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["@odata.type"] == "#microsoft.graph.exchangeProtectionPolicy")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{ex}/activate"),
        None,
    )
    .await;
    s.e.advance(61).await;
    assert_eq!(
        s.ok(
            Method::GET,
            &format!("/exchangeProtectionPolicies/{ex}"),
            None
        )
        .await["status"],
        "active"
    );
}

#[tokio::test]
async fn delta_patch_adds_removes_and_reports_per_item_failures() {
    let s = Tenant::enabled().await;
    let (u1, u2, u3) = (new_id(), new_id(), new_id());
    let a = s
        .policy("exchange", json!([{"directoryObjectId": u1}]))
        .await;
    let aid = a["id"].as_str().unwrap().to_string();
    let b = s.policy("exchange", json!([])).await;
    let bid = b["id"].as_str().unwrap().to_string();
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{aid}/activate"),
        None,
    )
    .await;
    let unit1 = s.units_of("exchange", &aid).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // add two, one of which is in another policy; remove one that does not exist
    let r = s
        .call(
            Method::PATCH,
            &format!("/exchangeProtectionPolicies/{bid}"),
            Some(
                json!({"displayName": "renamed", "mailboxProtectionUnits@delta": [
                    {"directoryObjectId": u2},
                    {"directoryObjectId": u1},
                    {"@removed": {"reason": "changed"}, "id": new_id()},
                ]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["displayName"], "renamed");
    let delta = r.json["mailboxProtectionUnits@delta"].as_array().unwrap();
    assert_eq!(delta[0]["directoryObjectId"], u2.as_str());
    assert_eq!(delta[0]["status"], "unprotected", "inactive policy");
    assert_eq!(
        delta[1]["@Core.DataModificationException"]["info"]["code"],
        "ProtectionUnitAlreadyExists"
    );
    assert_eq!(
        delta[1]["@Core.DataModificationException"]["responseCode"],
        409
    );
    assert_eq!(
        delta[2]["@Core.DataModificationException"]["info"]["code"],
        "ProtectionUnitNotFound"
    );
    assert_eq!(
        delta[2]["@Core.DataModificationException"]["failedOperation"],
        "remove"
    );

    // on the active policy: add is protectRequested, remove is removeRequested, then gone
    let r = s
        .call(
            Method::PATCH,
            &format!("/exchangeProtectionPolicies/{aid}"),
            Some(json!({"mailboxProtectionUnits@delta": [
                {"directoryObjectId": u3},
                {"@removed": {"reason": "changed"}, "id": unit1},
            ]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let delta = r.json["mailboxProtectionUnits@delta"].as_array().unwrap();
    assert_eq!(
        (delta[0]["status"].as_str(), delta[1]["status"].as_str()),
        (Some("protectRequested"), Some("removeRequested"))
    );
    assert_eq!(r.json["status"], "updating");
    // duplicates and too many
    let r = s.call(Method::PATCH, &format!("/exchangeProtectionPolicies/{aid}"), Some(json!({"mailboxProtectionUnits@delta": [{"directoryObjectId": u3}, {"directoryObjectId": u3}]}))).await;
    assert_eq!((r.status, r.code()), (400, "DuplicateProtectionUnitInList"));
    let many: Vec<Value> = (0..51)
        .map(|_| json!({"directoryObjectId": new_id()}))
        .collect();
    let r = s
        .call(
            Method::PATCH,
            &format!("/exchangeProtectionPolicies/{aid}"),
            Some(json!({"mailboxProtectionUnits@delta": many})),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "ProtectionUnitsLimitBreached"));

    s.e.advance(61).await;
    let units = s.units_of("exchange", &aid).await;
    assert_eq!(units.len(), 1, "the removed unit left the list");
    assert_eq!(
        (
            units[0]["directoryObjectId"].as_str(),
            units[0]["status"].as_str()
        ),
        (Some(u3.as_str()), Some("protected"))
    );
    // the removed unit is still addressable, and can be offboarded (delegated only)
    let got = s
        .ok(Method::GET, &format!("/protectionUnits/{unit1}"), None)
        .await;
    assert_eq!(got["status"], "unprotected");
    let r = s
        .call(
            Method::POST,
            &format!("/protectionUnits/{unit1}/offboard"),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "accessDenied"));
    let off = |tok: String, id: String, prefer: bool| {
        let e = &s.e;
        async move {
            let h: &[(&str, &str)] = if prefer { &PREFER } else { &[] };
            e.graph_v(
                "v1.0",
                Method::POST,
                &format!("{ROOT}/protectionUnits/{id}/offboard"),
                &tok,
                None,
                h,
            )
            .await
        }
    };
    let r = off(s.ut.clone(), unit1.clone(), false).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["status"], "unknownFutureValue",
        "evolvable member without Prefer"
    );
    let got = s
        .ok(Method::GET, &format!("/protectionUnits/{unit1}"), None)
        .await;
    assert_eq!(got["status"], "offboardRequested");
    assert_ne!(got["offboardRequestedDateTime"], "0001-01-01T00:00:00Z");
    let attached = units[0]["id"].as_str().unwrap().to_string();
    let r = off(s.ut.clone(), attached, true).await;
    assert_eq!((r.status, r.code()), (403, "OperationNotAllowed"));
    // tenant-wide typed listing
    let r = s
        .ok(
            Method::GET,
            "/protectionUnits/microsoft.graph.mailboxProtectionUnit",
            None,
        )
        .await;
    assert_eq!(
        r["value"].as_array().unwrap().len(),
        2,
        "u2 and u3; the removed unit is listed nowhere"
    );
    let r = s
        .ok(
            Method::GET,
            "/protectionUnits/microsoft.graph.siteProtectionUnit",
            None,
        )
        .await;
    assert!(r["value"].as_array().unwrap().is_empty());
    assert_eq!(s.app.len(), 36);
}

#[tokio::test]
async fn faults_apply_to_protection_writes_including_a_lost_patch_answer() {
    let s = Tenant::enabled().await;
    let p = s.policy("oneDriveForBusiness", json!([])).await;
    let pid = p["id"].as_str().unwrap().to_string();
    s.e.admin_ok(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"method": "PATCH", "path_prefix": "/v1.0/solutions/backupRestore/oneDriveForBusinessProtectionPolicies", "drop": "after"})),
    )
    .await;
    let user = new_id();
    let r =
        s.e.client
            .patch(s.e.url(&format!(
                "/v1.0{ROOT}/oneDriveForBusinessProtectionPolicies/{pid}"
            )))
            .bearer_auth(&s.at)
            .json(&json!({"driveProtectionUnits@delta": [{"directoryObjectId": user}]}))
            .send()
            .await;
    assert!(r.is_err(), "the answer is lost");
    let units = s.units_of("oneDriveForBusiness", &pid).await;
    assert_eq!(
        units[0]["directoryObjectId"],
        user.as_str(),
        "but the change was applied"
    );
    s.e.admin_ok(Method::POST, "/_emulator/faults", Some(json!({"path_prefix": "/v1.0/solutions/backupRestore/protectionPolicies", "status": 429, "retry_after": "3"}))).await;
    let r = s.call(Method::GET, "/protectionPolicies", None).await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (429, Some("3"))
    );
}

#[tokio::test]
async fn inclusion_rules_dynamic_and_static() {
    let s = Tenant::enabled().await;
    let (g, u1, u2, u3) = (new_id(), new_id(), new_id(), new_id());
    let dir = json!({
        "users": [
            {"id": u1, "email": "a@x.test", "display_name": "A"},
            {"id": u2, "email": "b@x.test", "display_name": "B"},
            {"id": u3, "email": "c@x.test", "display_name": "C", "mailbox": false},
        ],
        "groups": [{"id": g, "members": [u1, u3]}],
        "sites": [{"id": site(), "web_url": "https://x.sharepoint.com/sites/finance", "display_name": "Finance"},
                  {"id": site(), "web_url": "https://x.sharepoint.com/sites/hr", "display_name": "HR"}],
    });
    s.e.admin_ok(
        Method::PUT,
        &format!("/_emulator/tenants/{}/directory", s.t),
        Some(dir.clone()),
    )
    .await;
    let p = s.policy("exchange", json!([])).await;
    let pid = p["id"].as_str().unwrap().to_string();
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{pid}/activate"),
        None,
    )
    .await;
    let rules = format!("/exchangeProtectionPolicies/{pid}/mailboxInclusionRules");
    let expr = format!("(memberOf -any (group.id -in ['{g}']))");
    let r = s
        .call(
            Method::POST,
            &rules,
            Some(json!({"mailboxExpression": "nonsense"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRuleExpression"));
    let r = s.call(Method::POST, &rules, Some(json!({}))).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidInclusionRuleCreateRequest")
    );
    let groups = (0..101)
        .map(|_| format!("'{}'", new_id()))
        .collect::<Vec<_>>()
        .join(",");
    let r = s
        .call(
            Method::POST,
            &rules,
            Some(
                json!({"mailboxExpression": format!("(memberOf -any (group.id -in [{groups}]))")}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (413, "InvalidRuleExpressionGroupLimitExceeded")
    );
    let r = s
        .call(
            Method::POST,
            &rules,
            Some(json!({"mailboxExpression": expr, "isAutoApplyEnabled": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.json["status"].as_str(),
            r.json["isAutoApplyEnabled"].as_bool()
        ),
        (Some("active"), Some(true))
    );
    let rid = r.json["id"].as_str().unwrap().to_string();
    let r = s
        .call(
            Method::POST,
            &rules,
            Some(json!({"mailboxExpression": expr, "isAutoApplyEnabled": true})),
        )
        .await;
    assert_eq!(r.status, 400, "one dynamic rule per policy");
    let r = s
        .call(Method::DELETE, &format!("{rules}/{rid}"), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "InvalidProtectionRuleStatusForDynamicRuleDeletion")
    );
    s.e.advance(61).await;
    let r = s.ok(Method::GET, &format!("{rules}/{rid}"), None).await;
    assert_eq!(r["status"], "completed");
    let units = s.units_of("exchange", &pid).await;
    assert_eq!(units.len(), 1, "u3 has no mailbox");
    assert_eq!(
        (
            units[0]["directoryObjectId"].as_str(),
            units[0]["protectionSources"].as_str()
        ),
        (Some(u1.as_str()), Some("dynamicRule"))
    );
    // a rule-owned unit cannot be removed by hand
    let r = s
        .call(
            Method::PATCH,
            &format!("/exchangeProtectionPolicies/{pid}"),
            Some(json!({"mailboxProtectionUnits@delta": [{"@removed": {}, "id": units[0]["id"]}]})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "ProtectionUnitActionNotAllowed")
    );
    // the directory changes: the rule follows
    let mut dir2 = dir.clone();
    dir2["groups"][0]["members"] = json!([u2]);
    s.e.admin_ok(
        Method::PUT,
        &format!("/_emulator/tenants/{}/directory", s.t),
        Some(dir2),
    )
    .await;
    s.e.advance(61).await;
    let units = s.units_of("exchange", &pid).await;
    assert_eq!(units.len(), 1);
    assert_eq!(units[0]["directoryObjectId"], u2.as_str());
    // PATCH (dynamic only), run (static only)
    let r = s
        .call(
            Method::PATCH,
            &format!("{rules}/{rid}"),
            Some(json!({"mailboxExpression": expr, "isAutoApplyEnabled": false})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidProtectionRulePatchRequest")
    );
    let r = s
        .call(
            Method::PATCH,
            &format!("{rules}/{rid}"),
            Some(json!({"mailboxExpression": expr})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("updateRequested"))
    );
    let r = s
        .call(Method::POST, &format!("{rules}/{rid}/run"), None)
        .await;
    assert_eq!((r.status, r.code()), (400, "RunNotAllowedForDynamicRule"));
    s.e.advance(61).await;
    // deleteAndUnprotect: deleteRequested, then the rule is gone and its units removed
    let r = s
        .call(
            Method::POST,
            &format!("{rules}/{rid}/deleteAndUnprotect"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (202, Some("deleteRequested"))
    );
    let r = s
        .call(
            Method::PATCH,
            &format!("{rules}/{rid}"),
            Some(json!({"mailboxExpression": expr})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "InvalidProtectionRuleStatusForDynamicRuleEdit")
    );
    s.e.advance(200).await;
    let r = s.call(Method::GET, &format!("{rules}/{rid}"), None).await;
    assert_eq!((r.status, r.code()), (404, "ProtectionRuleNotFound"));
    assert!(s.units_of("exchange", &pid).await.is_empty());

    // SharePoint: static only; run; delete when completed (units stay)
    let sp = s.policy("sharePoint", json!([])).await;
    let spid = sp["id"].as_str().unwrap().to_string();
    let srules = format!("/sharePointProtectionPolicies/{spid}/siteInclusionRules");
    let r = s.call(Method::POST, &srules, Some(json!({"siteExpression": "displayName -contains 'Finance'", "isAutoApplyEnabled": true}))).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidInclusionRuleCreateRequest")
    );
    let r = s.call(Method::POST, &srules, Some(json!({"siteExpression": "(displayName -contains 'Finance') -or (webUrl -contains 'legal')"}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let srid = r.json["id"].as_str().unwrap().to_string();
    let r = s
        .call(
            Method::PATCH,
            &format!("{srules}/{srid}"),
            Some(json!({"siteExpression": "displayName -contains 'HR1'"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "PatchNotAllowedForStaticRule"));
    let r = s
        .call(Method::POST, &format!("{srules}/{srid}/run"), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "ProtectionRuleActionNotAllowed"),
        "still running"
    );
    s.e.advance(61).await;
    let units = s.units_of("sharePoint", &spid).await;
    assert_eq!(units.len(), 1);
    assert_eq!(units[0]["protectionSources"], "manual");
    let r = s
        .call(Method::POST, &format!("{srules}/{srid}/run"), None)
        .await;
    assert_eq!((r.status, r.json["status"].as_str()), (202, Some("active")));
    let r = s
        .call(
            Method::POST,
            &format!("{srules}/{srid}/deleteAndUnprotect"),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "static rule");
    s.e.advance(61).await;
    assert_eq!(
        s.call(Method::DELETE, &format!("{srules}/{srid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(s.units_of("sharePoint", &spid).await.len(), 1);
    let list = s.ok(Method::GET, &srules, None).await;
    assert!(list["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bulk_addition_jobs() {
    let s = Tenant::enabled().await;
    let u1 = new_id();
    s.e.admin_ok(
        Method::PUT,
        &format!("/_emulator/tenants/{}/directory", s.t),
        Some(json!({"users": [{"id": u1, "email": "a@x.test"}, {"id": new_id(), "email": "b@x.test"}]})),
    )
    .await;
    let p = s.policy("oneDriveForBusiness", json!([])).await;
    let pid = p["id"].as_str().unwrap().to_string();
    let jobs = format!(
        "/oneDriveForBusinessProtectionPolicies/{pid}/driveProtectionUnitsBulkAdditionJobs"
    );
    let r = s
        .call(Method::POST, &jobs, Some(json!({"displayName": "j", "directoryObjectIds": [u1], "drives": ["b@x.test", "nobody@x.test"]})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.json["status"].as_str(),
            r.json["drives"].as_array().map(Vec::len)
        ),
        (Some("active"), Some(2))
    );
    let jid = r.json["id"].as_str().unwrap().to_string();
    let list = s.ok(Method::GET, &jobs, None).await;
    assert!(
        list["value"][0].get("drives").is_none(),
        "inputs omitted in lists"
    );
    s.e.advance(61).await;
    let got = s.ok(Method::GET, &format!("{jobs}/{jid}"), None).await;
    assert_eq!(got["status"], "completedWithErrors");
    assert_eq!(got["error"]["code"], "ProtectionResourcesNotFound");
    assert_eq!(got["error"]["details"][0]["target"], "nobody@x.test");
    assert_eq!(got["directoryObjectIds"][0], u1.as_str());
    assert_eq!(s.units_of("oneDriveForBusiness", &pid).await.len(), 2);
    let too_many: Vec<String> = (0..50_001)
        .map(|i| format!("{i:08}-0000-4000-8000-000000000000"))
        .collect();
    let r = s
        .call(
            Method::POST,
            &jobs,
            Some(json!({"directoryObjectIds": too_many})),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "ProtectionUnitsLimitBreached"));
}

#[tokio::test]
async fn email_notifications_setting() {
    let s = Tenant::enabled().await;
    let got = s.ok(Method::GET, "/emailNotificationsSetting", None).await;
    assert_eq!(
        (
            got["isEnabled"].as_bool(),
            got["recipients"]["role"].as_str()
        ),
        (Some(false), Some("custom"))
    );
    let body = json!({"isEnabled": true, "additionalEvents": "restoreAndPolicyUpdates", "recipients": {"customRecipients": [{"email": "ops@x.test"}]}});
    let r = s
        .call(
            Method::PATCH,
            "/emailNotificationsSetting",
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "accessDenied"),
        "app-only cannot PATCH"
    );
    let r =
        s.e.graph(
            Method::PATCH,
            &format!("{ROOT}/emailNotificationsSetting"),
            &s.ut,
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["recipients"]["customRecipients"][0]["email"],
        "ops@x.test"
    );
    let r =
        s.e.graph(
            Method::PATCH,
            &format!("{ROOT}/emailNotificationsSetting"),
            &s.ut,
            Some(json!({"recipients": {"role": "globalAdmins"}})),
        )
        .await;
    assert_eq!(r.status, 400, "role is read-only");
    let got = s.ok(Method::GET, "/emailNotificationsSetting", None).await;
    assert_eq!(got["additionalEvents"], "restoreAndPolicyUpdates");
}

#[tokio::test]
async fn restore_points_list_and_search() {
    let s = Tenant::enabled().await;
    let p = s
        .policy("exchange", json!([{"directoryObjectId": new_id()}]))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{pid}/activate"),
        None,
    )
    .await;
    s.e.advance(60 + 1 + 3600).await;
    let unit = s.units_of("exchange", &pid).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.call(Method::GET, "/restorePoints", None).await;
    assert_eq!(r.status, 400, "$expand and $filter are required");
    let now = common::fmt(s.e.now().await);
    let q = format!(
        "/restorePoints?$expand=protectionUnit($filter=id eq '{unit}')&$filter=protectionDateTime lt {now}"
    );
    let r = s.ok(Method::GET, &q, None).await;
    let points = r["value"].as_array().unwrap();
    assert_eq!(points.len(), 5);
    assert_eq!(points[0]["protectionUnit"]["id"], unit.as_str());
    assert!(
        points[0]["protectionDateTime"].as_str() > points[1]["protectionDateTime"].as_str(),
        "newest first"
    );
    let search = |ids: Vec<String>| {
        s.call(Method::POST, "/restorePoints/search", Some(json!({"protectionUnitIds": ids, "protectionTimePeriod": {"startDateTime": "2000-01-01T00:00:00Z"}, "restorePointPreference": "latest"})))
    };
    let r = search((0..21).map(|_| new_id()).collect()).await;
    assert_eq!((r.status, r.code()), (400, "InvalidSearchRequest"));
    let other = new_id();
    let r = search(vec![unit.clone(), other.clone()]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["searchResults"].as_array().unwrap().len(), 5);
    assert_eq!(r.json["noResultProtectionUnitIds"], json!([other]));
    // needs the Search permission
    let app = s.e.put_app().await;
    s.e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{}/consent", s.t),
        Some(json!({"client_id": app, "roles": ["BackupRestore-Configuration.Read.All"]})),
    )
    .await;
    let tok = s.e.app_token(&s.t, &app).await;
    assert_eq!(
        s.e.graph(
            Method::POST,
            &format!("{ROOT}/serviceApps"),
            &tok,
            Some(json!({}))
        )
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn paging_count_dates_and_preferences() {
    let s = Tenant::enabled().await;
    s.e.admin_ok(
        Method::PUT,
        "/_emulator/settings",
        Some(json!({"page_size": 2})),
    )
    .await;
    let units: Vec<Value> = (0..5).map(|_| json!({"siteId": site()})).collect();
    let p = s.policy("sharePoint", json!(units)).await;
    let pid = p["id"].as_str().unwrap().to_string();
    let first = s
        .ok(
            Method::GET,
            &format!("/sharePointProtectionPolicies/{pid}/siteProtectionUnits"),
            None,
        )
        .await;
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    let mut next = first["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.contains("$skiptoken="));
    let mut seen = 2;
    loop {
        let r =
            s.e.client
                .get(&next)
                .bearer_auth(&s.at)
                .send()
                .await
                .unwrap();
        let v: Value = r.json().await.unwrap();
        seen += v["value"].as_array().unwrap().len();
        match v["@odata.nextLink"].as_str() {
            Some(n) => next = n.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, 5);
    let r = s
        .call(
            Method::GET,
            &format!("/sharePointProtectionPolicies/{pid}/siteProtectionUnits?$top=5"),
            None,
        )
        .await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 5);
    let r = s
        .call(Method::GET, "/protectionPolicies?$top=1000", None)
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .call(
            Method::GET,
            &format!("/sharePointProtectionPolicies/{pid}/siteProtectionUnits/$count"),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "5"));
    // Preference-Applied on every answer to the preference; Date in virtual time
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("include-unknown-enum-members")
    );
    let later = s.e.advance(30 * 86400).await;
    let r = s.call(Method::GET, "/protectionPolicies", None).await;
    let date = httpdate::parse_http_date(&r.header("date").unwrap()).unwrap();
    let date = time::OffsetDateTime::from(date);
    assert!(
        (date - later).abs() < time::Duration::seconds(5),
        "{date} vs {later}"
    );
}

#[tokio::test]
async fn invalid_billing_locks_protection_and_deactivates_policies() {
    let s = Tenant::enabled().await;
    let p = s
        .policy("exchange", json!([{"directoryObjectId": new_id()}]))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{pid}/activate"),
        None,
    )
    .await;
    s.e.advance(61).await;
    s.e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{}/billing-profile", s.t),
        Some(json!({"valid": false})),
    )
    .await;
    assert_eq!(
        s.e.root(&s.at).await["serviceStatus"]["status"],
        "protectionChangeLocked"
    );
    let got = s
        .ok(Method::GET, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!(got["isEnabled"], false);
    let r = s
        .call(
            Method::POST,
            &format!("/protectionPolicies/{pid}/activate"),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "ServiceNotEnabled"));
    s.e.advance(30 * 86400 + 1).await;
    assert_eq!(
        s.e.root(&s.at).await["serviceStatus"]["status"],
        "restoreLocked"
    );
}

#[tokio::test]
async fn consent_and_as_admin() {
    let s = Tenant::enabled().await;
    let app = s.e.put_app().await;
    s.e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{}/consent", s.t),
        Some(json!({"client_id": app, "granted": false})),
    )
    .await;
    let r =
        s.e.token_form(
            &s.t,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app),
                ("client_secret", &format!("secret-{app}")),
                ("scope", common::GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.json["error_codes"][0].as_i64()),
        (400, Some(700016))
    );
    // the admin center creates a policy outside our control
    let r = s
        .e
        .admin(Method::POST, &format!("/_emulator/tenants/{}/as-admin", s.t), Some(json!({"method": "POST", "path": "/solutions/backupRestore/exchangeProtectionPolicies", "body": {"displayName": "from the admin center"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json["createdBy"]["application"]["id"],
        "00000006-0000-0ff1-ce00-000000000000"
    );
    let list = s.ok(Method::GET, "/exchangeProtectionPolicies", None).await;
    assert_eq!(list["value"][0]["displayName"], "from the admin center");
    let state = s.e.admin_ok(Method::GET, "/_emulator/state", None).await;
    assert_eq!(
        state["tenants"][&s.t]["protection"]["policies"][0]["displayName"],
        "from the admin center"
    );
}

#[tokio::test]
async fn protection_survives_a_restart() {
    let s = Tenant::enabled().await;
    let p = s.policy("sharePoint", json!([{"siteId": site()}])).await;
    let pid = p["id"].as_str().unwrap().to_string();
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{pid}/activate"),
        None,
    )
    .await;
    s.e.advance(61).await;
    let before = s.units_of("sharePoint", &pid).await;
    let state_dir = s.e.handle.state_dir();
    let Tenant { e, at, .. } = s;
    let common::Emu { handle, dir, .. } = e;
    handle.shutdown();
    let handle = m365backup_emulator::spawn(m365backup_emulator::Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir,
    })
    .unwrap();
    let e = common::Emu {
        client: common::client_for(&handle),
        handle,
        dir,
    };
    let r = e
        .graph(
            Method::GET,
            &format!("{ROOT}/sharePointProtectionPolicies/{pid}/siteProtectionUnits"),
            &at,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["value"].as_array().unwrap(), &before);
    let r = e
        .graph(
            Method::GET,
            &format!("{ROOT}/protectionPolicies/{pid}"),
            &at,
            None,
        )
        .await;
    assert_eq!(
        (r.json["status"].as_str(), r.json["isEnabled"].as_bool()),
        (Some("active"), Some(true))
    );
}

#[tokio::test]
async fn root_sets_filters_counts_unit_errors_and_settings() {
    let s = Tenant::enabled().await;
    let generated =
        s.e.admin_ok(
            Method::POST,
            &format!("/_emulator/tenants/{}/directory/generate", s.t),
            Some(json!({"users": 30, "groups": 3, "sites": 4})),
        )
        .await;
    assert_eq!(
        (generated["users"].as_u64(), generated["open"].as_bool()),
        (Some(30), Some(false))
    );
    let head: String = s.t.chars().take(18).collect();
    let user = |i: usize| format!("{head}-8001-{i:012x}");
    let p = s
        .policy(
            "exchange",
            json!([{"directoryObjectId": user(0)}, {"directoryObjectId": user(1)}]),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let r = s.call(Method::POST, "/exchangeProtectionPolicies", Some(json!({"displayName": "x", "mailboxProtectionUnits": [{"directoryObjectId": new_id()}]}))).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidProtectionUnitId"),
        "closed directory"
    );
    // rules and jobs are readable at the root, not writable there
    s.ok(Method::POST, &format!("/exchangeProtectionPolicies/{pid}/mailboxInclusionRules"), Some(json!({"mailboxExpression": format!("(memberOf -any (group.id -in ['{head}-8002-000000000001']))")}))).await;
    let rules = s.ok(Method::GET, "/mailboxInclusionRules", None).await;
    assert_eq!(rules["value"].as_array().unwrap().len(), 1);
    let r = s
        .call(Method::POST, "/mailboxInclusionRules", Some(json!({})))
        .await;
    assert_eq!(r.status, 405);
    assert!(
        s.ok(Method::GET, "/siteProtectionUnitsBulkAdditionJobs", None)
            .await["value"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.call(
            Method::POST,
            "/protectionPolicies",
            Some(json!({"displayName": "x"}))
        )
        .await
        .status,
        405
    );
    let r = s
        .call(Method::GET, "/protectionPolicies/$count", None)
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "1"));
    // root unit sets and filters
    s.ok(
        Method::POST,
        &format!("/protectionPolicies/{pid}/activate"),
        None,
    )
    .await;
    s.e.advance(61).await;
    let all = s.ok(Method::GET, "/mailboxProtectionUnits", None).await;
    assert_eq!(
        all["value"].as_array().unwrap().len(),
        11,
        "users 0 and 1, and group 1 (1, 4, … 28)"
    );
    // the rule's units started their own batch when the rule completed
    s.e.advance(200).await;
    let r = s
        .ok(
            Method::GET,
            "/protectionUnits?$filter=status eq 'protected'",
            None,
        )
        .await;
    assert_eq!(r["value"].as_array().unwrap().len(), 11);
    let r = s
        .ok(
            Method::GET,
            "/protectionUnits?$filter=status eq 'protectRequested'",
            None,
        )
        .await;
    assert!(r["value"].as_array().unwrap().is_empty());
    let r = s
        .call(
            Method::GET,
            "/protectionUnits?$filter=displayName eq 'x'",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .call(Method::GET, "/protectionUnits/not-an-id", None)
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidProtectionUnitId"));
    let r = s
        .call(Method::GET, &format!("/protectionUnits/{}", new_id()), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "ProtectionUnitNotFound"));
    let r = s
        .call(
            Method::POST,
            &format!("/siteProtectionUnits/{}/offboard", new_id()),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "offboard is bound to protectionUnits only");
    // delegated reads fill the computed fields
    let first = all["value"][0]["id"].as_str().unwrap().to_string();
    let r =
        s.e.graph(
            Method::GET,
            &format!("{ROOT}/protectionUnits/{first}"),
            &s.ut,
            None,
        )
        .await;
    assert!(
        r.json["email"]
            .as_str()
            .unwrap()
            .ends_with(".onmicrosoft.com")
    );
    assert_eq!(
        all["value"][0]["email"],
        Value::Null,
        "app-only: not filled"
    );
    // a unit error makes the policy activeWithErrors
    s.e.admin_ok(
        Method::POST,
        &format!("/_emulator/tenants/{}/unit-errors", s.t),
        Some(json!({"unit_ids": [first], "code": "QuotaExceeded"})),
    )
    .await;
    let got = s
        .ok(Method::GET, &format!("/protectionPolicies/{pid}"), None)
        .await;
    assert_eq!(got["status"], "activeWithErrors");
    let u = s
        .ok(Method::GET, &format!("/protectionUnits/{first}"), None)
        .await;
    assert_eq!(u["error"]["code"], "QuotaExceeded");
    // removed units can stay listed as unprotected
    s.e.admin_ok(Method::PUT, "/_emulator/settings", Some(json!({"removed_units_stay_listed": true, "protect_seconds": 5, "protect_seconds_per_100": 0}))).await;
    let manual = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["protectionSources"] == "manual")
        .unwrap()["id"]
        .clone();
    let r = s
        .call(
            Method::PATCH,
            &format!("/exchangeProtectionPolicies/{pid}"),
            Some(json!({"mailboxProtectionUnits@delta": [{"@removed": {}, "id": manual}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.e.advance(6).await;
    let units = s.units_of("exchange", &pid).await;
    let removed = units
        .iter()
        .find(|u| u["id"] == manual)
        .expect("still listed");
    assert_eq!(
        (
            removed["status"].as_str(),
            removed["protectionSources"].as_str()
        ),
        (Some("unprotected"), Some("none"))
    );
    // cancelOffboard only for offboarding units
    let r =
        s.e.graph(
            Method::POST,
            &format!(
                "{ROOT}/protectionUnits/{}/cancelOffboard",
                manual.as_str().unwrap()
            ),
            &s.ut,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "OperationNotAllowed"));
    let r =
        s.e.graph(
            Method::POST,
            &format!(
                "{ROOT}/protectionUnits/{}/offboard",
                manual.as_str().unwrap()
            ),
            &s.ut,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r =
        s.e.graph_v(
            "v1.0",
            Method::POST,
            &format!(
                "{ROOT}/protectionUnits/{}/cancelOffboard",
                manual.as_str().unwrap()
            ),
            &s.ut,
            None,
            &PREFER,
        )
        .await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("cancelOffboardRequested"))
    );
    // the state summary counts units by policy and status
    let st = s.e.admin_ok(Method::GET, "/_emulator/state", None).await;
    assert_eq!(st["tenants"][&s.t]["protection"]["unitCount"], 11);
}
