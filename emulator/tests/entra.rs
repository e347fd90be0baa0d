//! Entra token endpoint flows, Entra error shape and token enforcement on Graph.

mod common;

use base64::Engine;
use common::{DELEGATED_SCOPE, Emu, GRAPH_SCOPE, claims, new_id};
use m365backup_emulator::demo;
use reqwest::Method;
use serde_json::json;
use sha2::Digest;

fn assert_entra_error(r: &common::Resp, status: u16, error: &str, code: u64) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["error"], error, "{}", r.text);
    assert_eq!(r.json["error_codes"][0], code, "{}", r.text);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}:")),
        "{}",
        r.text
    );
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.json[k].is_string(), "{k} missing: {}", r.text);
    }
}

#[tokio::test]
async fn client_secret_tokens_and_errors() {
    let e = Emu::start();
    let t = demo::TENANT_ID;
    let r = e
        .token_form(
            t,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo::CLIENT_ID),
                ("client_secret", demo::CLIENT_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(r.json["expires_in"].as_i64().unwrap() > 3000);
    let c = claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], t);
    assert_eq!(c["appid"], demo::CLIENT_ID);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["roles"][0], "BackupRestore-Control.ReadWrite.All");
    assert!(c["jti"].is_string() && c["exp"].is_i64() && c["iat"].is_i64());

    // wrong secret
    let r = e
        .token_form(
            t,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo::CLIENT_ID),
                ("client_secret", "wrong"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_entra_error(&r, 401, "invalid_client", 7000215);
    // unknown app
    let r = e
        .token_form(
            t,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &new_id()),
                ("client_secret", "x"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_entra_error(&r, 400, "unauthorized_client", 700016);
    // unknown tenant
    let r = e
        .token_form(
            &new_id(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo::CLIENT_ID),
                ("client_secret", demo::CLIENT_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_entra_error(&r, 400, "invalid_request", 90002);
    // no credential
    let r = e
        .token_form(
            t,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo::CLIENT_ID),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 401);
    // not a form
    let r = e
        .client
        .post(e.url(&format!("/{t}/oauth2/v2.0/token")))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // unsupported grant
    let r = e
        .token_form(
            t,
            &[("grant_type", "password"), ("client_id", demo::CLIENT_ID)],
        )
        .await;
    assert_entra_error(&r, 400, "unsupported_grant_type", 70003);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_old_ones_stay_valid() {
    let e = Emu::start();
    let t = demo::TENANT_ID;
    let (_, r1) = e.user_tokens(t, demo::CLIENT_ID).await;
    let redeem = |rt: String| {
        let e = &e;
        async move {
            e.token_form(
                t,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", demo::CLIENT_ID),
                    ("refresh_token", &rt),
                    ("scope", DELEGATED_SCOPE),
                ],
            )
            .await
        }
    };
    let a = redeem(r1.clone()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let r2 = a.json["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "rotated");
    let c = claims(a.json["access_token"].as_str().unwrap());
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["oid"], demo::ADMIN_USER_ID);
    assert!(c["scp"].as_str().unwrap().contains("BackupRestore-Control"));
    // the old one is still good, and so is the new one
    assert_eq!(redeem(r1.clone()).await.status, 200);
    assert_eq!(redeem(r2.clone()).await.status, 200);

    // garbage
    let bad = redeem("not-a-refresh-token".into()).await;
    assert_entra_error(&bad, 400, "invalid_grant", 70000);
    // a tenant-bound refresh token cannot be used in another tenant
    let other = e.put_tenant("none").await;
    let r = e
        .token_form(
            &other,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", demo::CLIENT_ID),
                ("refresh_token", &r1),
            ],
        )
        .await;
    assert_entra_error(&r, 400, "invalid_grant", 70000);
    // another client cannot redeem it
    let app = e.put_app().await;
    let r = e
        .token_form(
            t,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &app),
                ("refresh_token", &r1),
            ],
        )
        .await;
    assert_entra_error(&r, 400, "invalid_grant", 70000);

    // refresh tokens expire after 90 days of the virtual clock
    e.advance(91 * 86400).await;
    let r = redeem(r2).await;
    assert_entra_error(&r, 400, "invalid_grant", 700082);
}

#[tokio::test]
async fn organizations_refresh_token_works_in_every_tenant() {
    let e = Emu::start();
    let rt = e.handle.delegated_refresh_token().to_string();
    let env: std::collections::HashMap<_, _> = e.handle.env_exports().into_iter().collect();
    assert_eq!(env["M365BACKUP_DELEGATED_REFRESH_TOKEN"], rt);

    let t2 = e.put_tenant("none").await;
    let r = e
        .token_form(
            &t2,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", demo::CLIENT_ID),
                ("refresh_token", &rt),
                ("scope", DELEGATED_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let user = r.json["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&user)["tid"], t2.as_str());
    // the rotated one is still multi-tenant
    let rt2 = r.json["refresh_token"].as_str().unwrap().to_string();
    let r = e
        .token_form(
            demo::TENANT_ID,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", demo::CLIENT_ID),
                ("refresh_token", &rt2),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // and the delegated token really controls tenant 2
    let app = e.app_token(&t2, demo::CLIENT_ID).await;
    assert_eq!(e.register(&app).await.status, 202);
    let now = e.now().await;
    let r = e.activate(&user, demo::CLIENT_ID, Some(now)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(e.status_of(&app, demo::CLIENT_ID).await, "active");
    // the demo tenant is untouched
    let demo_app = e.app_token(demo::TENANT_ID, demo::CLIENT_ID).await;
    assert_eq!(e.get_app(&demo_app, demo::CLIENT_ID).await.status, 404);
}

#[tokio::test]
async fn device_code_flow() {
    let e = Emu::start();
    let dc = e.device_code("organizations", demo::CLIENT_ID).await;
    for k in ["device_code", "user_code", "verification_uri", "message"] {
        assert!(dc[k].is_string(), "{k}: {dc}");
    }
    assert!(dc["expires_in"].as_i64().unwrap() > 0);
    assert!(dc["interval"].as_i64().unwrap() > 0);
    let device_code = dc["device_code"].as_str().unwrap().to_string();
    let poll = || {
        let e = &e;
        let device_code = device_code.clone();
        async move {
            e.token_form(
                "organizations",
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", demo::CLIENT_ID),
                    ("device_code", &device_code),
                ],
            )
            .await
        }
    };
    let r = poll().await;
    assert_entra_error(&r, 400, "authorization_pending", 70016);

    let pending = e
        .admin_ok(Method::GET, "/_emulator/devicecode/pending", None)
        .await;
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["user_code"] == dc["user_code"])
    );
    e.approve(dc["user_code"].as_str().unwrap()).await;
    let r = poll().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["tid"], demo::TENANT_ID);
    assert!(r.json["refresh_token"].is_string());
    // single use
    assert_eq!(poll().await.status, 400);
    // unknown user code
    let r = e
        .admin(
            Method::POST,
            "/_emulator/devicecode/approve",
            Some(json!({"user_code": "NOPE"})),
        )
        .await;
    assert_eq!(r.status, 404);

    // a confidential client cannot use device code without its secret
    let conf = new_id();
    e.admin_ok(
        Method::PUT,
        &format!("/_emulator/apps/{conf}"),
        Some(json!({"client_secret": "s"})),
    )
    .await;
    let dc = e.device_code(demo::TENANT_ID, &conf).await;
    e.approve(dc["user_code"].as_str().unwrap()).await;
    let r = e
        .token_form(
            demo::TENANT_ID,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &conf),
                ("device_code", dc["device_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_entra_error(&r, 401, "invalid_client", 7000218);
}

#[tokio::test]
async fn expire_endpoint_and_graph_token_enforcement() {
    let e = Emu::start();
    let t = demo::TENANT_ID;
    let token = e.app_token(t, demo::CLIENT_ID).await;
    assert_eq!(
        e.graph(Method::GET, "/solutions/backupRestore", &token, None)
            .await
            .status,
        200
    );
    e.admin_ok(Method::POST, "/_emulator/tokens/expire", None)
        .await;
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &token, None)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "InvalidAuthenticationToken");
    assert!(r.header("www-authenticate").is_some());
    let fresh = e.app_token(t, demo::CLIENT_ID).await;
    assert_eq!(
        e.graph(Method::GET, "/solutions/backupRestore", &fresh, None)
            .await
            .status,
        200
    );

    // garbage and missing tokens
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", "garbage", None)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "InvalidAuthenticationToken");
    let r = e
        .client
        .get(e.url("/v1.0/solutions/backupRestore"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // a token for another audience
    let r = e
        .token_form(
            t,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", demo::CLIENT_ID),
                ("client_secret", demo::CLIENT_SECRET),
                ("scope", "https://management.azure.com/.default"),
            ],
        )
        .await;
    // the emulated tenant has no such resource: refused as Entra does
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["error"], "invalid_resource");
    assert_eq!(r.json["error_codes"][0], 500011);

    // a token minted by another emulator (another key, another tenant): 401
    let other = Emu::start();
    let t2 = other.put_tenant("none").await;
    let foreign = other.app_token(&t2, demo::CLIENT_ID).await;
    let r = e
        .graph(Method::GET, "/solutions/backupRestore", &foreign, None)
        .await;
    assert_eq!(r.status, 401);
}

fn rsa_cert() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["controller.example".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn assertion(client: &str, aud: &str, key_pem: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "iss": client, "sub": client, "aud": aud, "jti": new_id(),
        "nbf": now, "iat": now, "exp": now + 600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn certificate_and_federated_assertions() {
    let e = Emu::start();
    let t = demo::TENANT_ID;
    let (cert, key) = rsa_cert();
    let app = new_id();
    e.admin_ok(
        Method::PUT,
        &format!("/_emulator/apps/{app}"),
        Some(json!({"certificate_pem": cert})),
    )
    .await;
    let aud = e.url(&format!("/{t}/oauth2/v2.0/token"));
    let cc = |a: String| {
        let e = &e;
        let app = app.clone();
        async move {
            e.token_form(
                t,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app),
                    ("scope", GRAPH_SCOPE),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
            )
            .await
        }
    };
    let r = cc(assertion(&app, &aud, &key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claims(r.json["access_token"].as_str().unwrap())["appid"],
        app.as_str()
    );
    // signed with another key
    let (_, other_key) = rsa_cert();
    let r = cc(assertion(&app, &aud, &other_key)).await;
    assert_entra_error(&r, 401, "invalid_client", 700027);

    // federated credential (e.g. GitHub Actions OIDC)
    let fed = new_id();
    let subject = "repo:contoso/infra:ref:refs/heads/main";
    e.admin_ok(
        Method::PUT,
        &format!("/_emulator/apps/{fed}"),
        Some(json!({"federated_subject": subject})),
    )
    .await;
    let gh_token = |sub: &str| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"iss": "https://token.actions.githubusercontent.com", "sub": sub,
                    "aud": "api://AzureADTokenExchange", "exp": now + 300}),
            &jsonwebtoken::EncodingKey::from_secret(b"github"),
        )
        .unwrap()
    };
    let fcc = |a: String| {
        let e = &e;
        let fed = fed.clone();
        async move {
            e.token_form(
                t,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &fed),
                    ("scope", GRAPH_SCOPE),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
            )
            .await
        }
    };
    let r = fcc(gh_token(subject)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = fcc(gh_token("repo:evil/infra:ref:refs/heads/main")).await;
    assert_entra_error(&r, 400, "invalid_client", 70021);
}

#[tokio::test]
async fn managed_identity_endpoint() {
    let e = Emu::start();
    let url = e.handle.msi_endpoint();
    let r = e
        .client
        .get(&url)
        .query(&[
            ("resource", "https://graph.microsoft.com"),
            ("api-version", "2019-08-01"),
        ])
        .header("X-IDENTITY-HEADER", demo::IDENTITY_HEADER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["idtyp"], "app");
    assert_eq!(
        e.graph(Method::GET, "/solutions/backupRestore", token, None)
            .await
            .status,
        200
    );
    // a user-assigned identity in its own tenant
    let t2 = e.put_tenant("none").await;
    let mi = new_id();
    e.admin_ok(
        Method::PUT,
        &format!("/_emulator/apps/{mi}"),
        Some(json!({"tenant_id": t2})),
    )
    .await;
    let v: serde_json::Value = e
        .client
        .get(&url)
        .query(&[
            ("resource", "https://graph.microsoft.com"),
            ("client_id", &mi),
        ])
        .header("X-IDENTITY-HEADER", demo::IDENTITY_HEADER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], t2.as_str());
    assert_eq!(c["appid"], mi.as_str());
    // without the header
    let r = e
        .client
        .get(&url)
        .query(&[("resource", "https://graph.microsoft.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let e = Emu::start();
    let verifier = "a-very-long-code-verifier-0123456789-abcdefghijklmnop";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://localhost:53123/callback";
    let authorize = || {
        e.client
            .get(e.url("/organizations/oauth2/v2.0/authorize"))
            .query(&[
                ("client_id", demo::CLIENT_ID),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", DELEGATED_SCOPE),
                ("state", "xyz"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
    };
    let code_of = |r: reqwest::Response| {
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with(redirect), "{loc}");
        assert!(loc.contains("state=xyz"));
        let q = loc.split_once('?').unwrap().1.to_string();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&q).unwrap();
        pairs.into_iter().find(|(k, _)| k == "code").unwrap().1
    };
    let code = code_of(authorize().await.unwrap());
    let redeem = |code: String, verifier: &'static str| {
        let e = &e;
        async move {
            e.token_form(
                "organizations",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", demo::CLIENT_ID),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let r = redeem(code, verifier).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["refresh_token"].is_string());
    assert_eq!(
        claims(r.json["access_token"].as_str().unwrap())["idtyp"],
        "user"
    );

    let code = code_of(authorize().await.unwrap());
    let r = redeem(code, "the-wrong-verifier-0123456789-abcdefghijklmnopqrstu").await;
    assert_entra_error(&r, 400, "invalid_grant", 501481);
}
