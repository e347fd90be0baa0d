//! Fault injection, the request log, bad input hardening and a bounded concurrency test.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{Emu, new_id};
use m365backup_emulator::demo;
use reqwest::Method;
use serde_json::json;

async fn fault(e: &Emu, f: serde_json::Value) {
    let r = e.admin(Method::POST, "/_emulator/faults", Some(f)).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn throttling_with_both_retry_after_forms() {
    let e = Emu::start();
    let token = e.app_token(demo::TENANT_ID, demo::CLIENT_ID).await;
    fault(
        &e,
        json!({"method": "GET", "path_prefix": "/v1.0/solutions", "status": 429, "retry_after": "2", "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let r = e
            .graph(Method::GET, "/solutions/backupRestore", &token, None)
            .await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after").as_deref(), Some("2"));
        assert!(r.json["error"]["innerError"]["request-id"].is_string());
        assert_eq!(
            r.json["error"]["innerError"]["request-id"].as_str(),
            r.header("request-id").as_deref()
        );
    }
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &token, None)
        .await;
    assert_eq!(r.status, 200, "count exhausted");

    // only matching method + prefix
    fault(
        &e,
        json!({"method": "POST", "path_prefix": "/v1.0/solutions/backupRestore/serviceApps", "status": 503, "retry_after": "http-date"}),
    )
    .await;
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &token, None)
        .await;
    assert_eq!(r.status, 200);
    let r = e.register(&token).await;
    assert_eq!(r.status, 503);
    let date = httpdate::parse_http_date(&r.header("retry-after").unwrap()).unwrap();
    let now = SystemTime::now();
    assert!(date + Duration::from_secs(1) >= now, "in the future");
    assert!(date <= now + Duration::from_secs(5));
    // the failed request changed nothing
    assert_eq!(e.get_app(&token, demo::CLIENT_ID).await.status, 404);

    // Entra can be throttled too
    fault(
        &e,
        json!({"path_prefix": format!("/{}/oauth2", demo::TENANT_ID), "status": 429, "retry_after": 1}),
    )
    .await;
    let r = e
        .token_form(
            demo::TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo::CLIENT_ID),
                ("client_secret", demo::CLIENT_SECRET),
                ("scope", common::GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));

    // list and clear
    fault(&e, json!({"status": 500, "count": 5})).await;
    let list = e.admin_ok(Method::GET, "/_emulator/faults", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    e.admin_ok(Method::DELETE, "/_emulator/faults", None).await;
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &token, None)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn lost_response_after_the_change_and_drop_before() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let a = e.put_app().await;
    let at = e.app_token(&t, &a).await;

    // drop before: nothing applied, no answer
    fault(
        &e,
        json!({"method": "POST", "path_prefix": "/v1.0/solutions/backupRestore/serviceApps", "drop": "before"}),
    )
    .await;
    let err = e
        .client
        .post(e.url("/v1.0/solutions/backupRestore/serviceApps"))
        .bearer_auth(&at)
        .json(&json!({}))
        .send()
        .await;
    assert!(err.is_err(), "no response expected: {err:?}");
    assert_eq!(e.get_app(&at, &a).await.status, 404);

    // drop after: applied, but the response is lost
    fault(
        &e,
        json!({"method": "POST", "path_prefix": "/v1.0/solutions/backupRestore/serviceApps", "drop": "after"}),
    )
    .await;
    let err = e
        .client
        .post(e.url("/v1.0/solutions/backupRestore/serviceApps"))
        .bearer_auth(&at)
        .json(&json!({}))
        .send()
        .await;
    assert!(err.is_err(), "no response expected: {err:?}");
    assert_eq!(e.status_of(&at, &a).await, "inactive");
    // a retry now sees the conflict
    assert_eq!(e.register(&at).await.status, 409);

    // a lost activate response
    let ut = e.user_token(&t, &a).await;
    fault(
        &e,
        json!({"method": "POST", "path_prefix": format!("/v1.0/solutions/backupRestore/serviceApps/{a}/activate"), "drop": "after"}),
    )
    .await;
    let now = e.now().await;
    let err = e
        .client
        .post(e.url(&format!(
            "/v1.0/solutions/backupRestore/serviceApps/{a}/activate"
        )))
        .bearer_auth(&ut)
        .json(&json!({"effectiveDateTime": common::fmt(now)}))
        .send()
        .await;
    assert!(err.is_err());
    assert_eq!(e.status_of(&at, &a).await, "active");

    // the log records both
    let log = e.admin_ok(Method::GET, "/_emulator/requests", None).await;
    let faults: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["fault"].as_str())
        .collect();
    assert_eq!(faults, vec!["drop_before", "drop_after", "drop_after"]);
}

#[tokio::test]
async fn delay_and_body_override() {
    let e = Emu::start();
    let token = e.app_token(demo::TENANT_ID, demo::CLIENT_ID).await;
    fault(
        &e,
        json!({"method": "GET", "path_prefix": "/v1.0/", "delay_ms": 400}),
    )
    .await;
    let started = Instant::now();
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &token, None)
        .await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    fault(
        &e,
        json!({"method": "GET", "path_prefix": "/v1.0/", "status": 200, "body": "<html>proxy</html>", "content_type": "text/html"}),
    )
    .await;
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &token, None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "<html>proxy</html>");
    assert_eq!(r.header("content-type").as_deref(), Some("text/html"));

    // bad fault definitions
    let r = e
        .admin(
            Method::POST,
            "/_emulator/faults",
            Some(json!({"drop": "sideways"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = e
        .admin(
            Method::POST,
            "/_emulator/faults",
            Some(json!({"path_prefix": "/v1.0"})),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn request_log_covers_graph_and_entra_not_admin() {
    let e = Emu::start();
    e.admin_ok(Method::DELETE, "/_emulator/requests", None)
        .await;
    let app = e.app_token(demo::TENANT_ID, demo::CLIENT_ID).await;
    let user = e.user_token(demo::TENANT_ID, demo::CLIENT_ID).await;
    e.graph(Method::GET, "/solutions/backupRestore", &app, None)
        .await;
    e.graph(
        Method::GET,
        "/solutions/backupRestore/serviceApps",
        &user,
        None,
    )
    .await;
    let log = e.admin_ok(Method::GET, "/_emulator/requests", None).await;
    let log = log.as_array().unwrap();
    assert!(
        log.iter()
            .all(|l| !l["path"].as_str().unwrap().starts_with("/_emulator"))
    );
    for l in log {
        for k in ["method", "path", "status", "token_kind", "tenant", "time"] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
    }
    let graph: Vec<_> = log
        .iter()
        .filter(|l| l["path"].as_str().unwrap().starts_with("/v1.0"))
        .collect();
    assert_eq!(graph.len(), 2);
    assert_eq!(graph[0]["token_kind"], "app");
    assert_eq!(graph[0]["status"], 200);
    assert_eq!(graph[0]["method"], "GET");
    assert_eq!(graph[0]["tenant"], demo::TENANT_ID);
    assert_eq!(graph[1]["token_kind"], "user");
    let entra = log
        .iter()
        .filter(|l| l["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
        .count();
    assert!(entra >= 2);
    e.admin_ok(Method::DELETE, "/_emulator/requests", None)
        .await;
    let log = e.admin_ok(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(log.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_input_gets_graph_shaped_errors() {
    let e = Emu::start();
    let token = e.app_token(demo::TENANT_ID, demo::CLIENT_ID).await;
    let graph_shaped = |r: &common::Resp| {
        assert!(r.json["error"]["code"].is_string(), "{}", r.text);
        assert!(r.json["error"]["message"].is_string(), "{}", r.text);
        assert!(
            r.json["error"]["innerError"]["request-id"].is_string(),
            "{}",
            r.text
        );
        assert!(
            r.json["error"]["innerError"]["date"].is_string(),
            "{}",
            r.text
        );
        assert!(r.header("request-id").is_some());
    };
    let post_raw = |body: Vec<u8>, ct: &'static str| {
        let e = &e;
        let token = token.clone();
        async move {
            let r = e
                .client
                .post(e.url("/v1.0/solutions/backupRestore/serviceApps"))
                .bearer_auth(&token)
                .header("content-type", ct)
                .header("client-request-id", "my-client-id-123")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let text = r.text().await.unwrap();
            common::Resp {
                status,
                headers,
                json: serde_json::from_str(&text).unwrap_or_default(),
                text,
            }
        }
    };
    // malformed JSON
    let r = post_raw(b"{\"oops\":".to_vec(), "application/json").await;
    assert_eq!(r.status, 400);
    graph_shaped(&r);
    assert_eq!(
        r.header("client-request-id").as_deref(),
        Some("my-client-id-123")
    );
    assert_eq!(
        r.json["error"]["innerError"]["client-request-id"],
        "my-client-id-123"
    );
    // JSON that is not an object
    let r = post_raw(b"[1,2]".to_vec(), "application/json").await;
    assert_eq!(r.status, 400);
    graph_shaped(&r);
    // wrong content type
    let r = post_raw(b"{}".to_vec(), "text/plain").await;
    assert_eq!(r.status, 415);
    graph_shaped(&r);
    // 5 MB body
    let r = post_raw(vec![b' '; 5 * 1024 * 1024], "application/json").await;
    assert_eq!(r.status, 413);
    graph_shaped(&r);
    // nothing registered by all that
    assert_eq!(e.get_app(&token, demo::CLIENT_ID).await.status, 404);

    // unknown paths
    let r = e
        .graph(Method::GET, "/solutions/nothingHere", &token, None)
        .await;
    assert_eq!(r.status, 400);
    graph_shaped(&r);
    let r = e
        .graph(
            Method::GET,
            "/solutions/backupRestore/serviceApps/x/y/z",
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    graph_shaped(&r);
    let r = e
        .graph(
            Method::GET,
            "/solutions/backupRestore/restoreSessions",
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, 501);
    graph_shaped(&r);
    let r = e.admin(Method::GET, "/no/such/thing", None).await;
    assert_eq!(r.status, 404);
    graph_shaped(&r);
    // wrong methods
    let r = e
        .graph(
            Method::PUT,
            "/solutions/backupRestore",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 405);
    graph_shaped(&r);
    let r = e
        .graph(Method::GET, "/solutions/backupRestore/enable", &token, None)
        .await;
    assert_eq!(r.status, 405);
    let r = e
        .admin(
            Method::DELETE,
            &format!("/{}/oauth2/v2.0/token", demo::TENANT_ID),
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    // garbage tokens
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", ""] {
        let r = e
            .client
            .get(e.url("/v1.0/solutions/backupRestore"))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    // admin API: bad JSON is a 400, not a crash
    let r = e
        .client
        .post(e.url("/_emulator/clock/advance"))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // the emulator is still fine
    assert_eq!(
        e.graph(Method::GET, "/solutions/backupRestore", &token, None)
            .await
            .status,
        200
    );
}

/// 200 concurrent clients (each with its own connection) for a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients() {
    let e = Emu::start();
    let t = e.put_tenant("none").await;
    let app = e.app_token(&t, demo::CLIENT_ID).await;
    let user = e.user_token(&t, demo::CLIENT_ID).await;
    let url = e.handle.url().to_string();
    let clients: Vec<_> = (0..200).map(|_| common::client_for(&e.handle)).collect();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let url = url.clone();
        let token = if i % 2 == 0 {
            app.clone()
        } else {
            user.clone()
        };
        let tenant = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            let mut errors = Vec::new();
            loop {
                if ok > 0 && Instant::now() >= deadline {
                    break;
                }
                let r = match i % 4 {
                    0 => {
                        client
                            .get(format!("{url}/v1.0/solutions/backupRestore"))
                            .bearer_auth(&token)
                            .send()
                            .await
                    }
                    1 => {
                        client
                            .get(format!("{url}/v1.0/solutions/backupRestore/serviceApps"))
                            .bearer_auth(&token)
                            .send()
                            .await
                    }
                    2 => {
                        client
                            .get(format!(
                                "{url}/beta/solutions/backupRestore/serviceApps/{}",
                                new_id()
                            ))
                            .bearer_auth(&token)
                            .send()
                            .await
                    }
                    _ => {
                        client
                            .post(format!("{url}/{tenant}/oauth2/v2.0/token"))
                            .form(&[
                                ("grant_type", "client_credentials"),
                                ("client_id", demo::CLIENT_ID),
                                ("client_secret", demo::CLIENT_SECRET),
                                ("scope", common::GRAPH_SCOPE),
                            ])
                            .send()
                            .await
                    }
                };
                match r {
                    Ok(r) => {
                        let expected = if i % 4 == 2 { 404 } else { 200 };
                        if r.status().as_u16() == expected {
                            let _ = r.bytes().await;
                            ok += 1;
                        } else {
                            errors.push(format!("status {}", r.status()));
                        }
                    }
                    Err(err) => errors.push(err.to_string()),
                }
            }
            (ok, errors)
        }));
    }
    let mut total = 0;
    for task in tasks {
        let (ok, errors) = task.await.unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(ok > 0, "every client got answers");
        total += ok;
    }
    assert!(total >= 200);
    eprintln!(
        "{total} requests from 200 clients in {:?}",
        started.elapsed()
    );
    // the log is bounded and the emulator still answers
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &app, None)
        .await;
    assert_eq!(r.status, 200);
}
