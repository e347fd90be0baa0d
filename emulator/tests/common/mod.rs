//! Test harness: one emulator per test (own state dir), a reqwest client that trusts its
//! CA, and helpers for tokens, Graph calls and the admin API.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use m365backup_emulator::{EmulatorHandle, Options, demo, spawn};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const DELEGATED_SCOPE: &str = "https://graph.microsoft.com/.default offline_access";

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

pub struct Emu {
    pub handle: EmulatorHandle,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

pub fn client_for(handle: &EmulatorHandle) -> Client {
    let pem = std::fs::read(handle.ca_cert_path()).unwrap();
    Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn fmt(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

pub fn parse(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// Claims of a JWT (no verification).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        json,
        text,
    }
}

impl Emu {
    pub fn start() -> Emu {
        let dir = tempfile::tempdir().unwrap();
        let handle = spawn(Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: dir.path().join("state"),
        })
        .unwrap();
        let client = client_for(&handle);
        Emu {
            handle,
            client,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.url(), path)
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        to_resp(rb.send().await.unwrap()).await
    }

    pub async fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.admin(method, path, body).await;
        assert!(
            (200..300).contains(&r.status),
            "admin {path}: {} {}",
            r.status,
            r.text
        );
        r.json
    }

    /// The virtual clock.
    pub async fn now(&self) -> OffsetDateTime {
        let v = self.admin_ok(Method::GET, "/_emulator/clock", None).await;
        parse(v["now"].as_str().unwrap())
    }

    pub async fn advance(&self, seconds: i64) -> OffsetDateTime {
        let v = self
            .admin_ok(
                Method::POST,
                "/_emulator/clock/advance",
                Some(json!({ "seconds": seconds })),
            )
            .await;
        parse(v["now"].as_str().unwrap())
    }

    pub async fn put_tenant(&self, controller: &str) -> String {
        let id = new_id();
        self.admin_ok(
            Method::PUT,
            &format!("/_emulator/tenants/{id}"),
            Some(json!({ "controller": controller })),
        )
        .await;
        id
    }

    /// Registers an Entra app (secret = "secret-<id>", public client).
    pub async fn put_app(&self) -> String {
        let id = new_id();
        self.admin_ok(
            Method::PUT,
            &format!("/_emulator/apps/{id}"),
            Some(json!({ "client_secret": format!("secret-{id}"), "public_client": true })),
        )
        .await;
        id
    }

    pub async fn token_form(&self, tenant: &str, form: &[(&str, &str)]) -> Resp {
        let r = self
            .client
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(form)
            .send()
            .await
            .unwrap();
        to_resp(r).await
    }

    pub async fn app_token_for(&self, tenant: &str, client: &str, secret: &str) -> String {
        let r = self
            .token_form(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("client_secret", secret),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["access_token"].as_str().unwrap().to_string()
    }

    /// App-only token for an app made by [`Emu::put_app`] (or the demo app).
    pub async fn app_token(&self, tenant: &str, client: &str) -> String {
        let secret = if client == demo::CLIENT_ID {
            demo::CLIENT_SECRET.to_string()
        } else {
            format!("secret-{client}")
        };
        self.app_token_for(tenant, client, &secret).await
    }

    /// Starts a device code sign-in; returns the devicecode response.
    pub async fn device_code(&self, tenant: &str, client: &str) -> Value {
        let r = self
            .client
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/devicecode")))
            .form(&[("client_id", client), ("scope", DELEGATED_SCOPE)])
            .send()
            .await
            .unwrap();
        let r = to_resp(r).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }

    pub async fn approve(&self, user_code: &str) {
        self.admin_ok(
            Method::POST,
            "/_emulator/devicecode/approve",
            Some(json!({ "user_code": user_code })),
        )
        .await;
    }

    /// Delegated sign-in of the demo admin through device code: (access, refresh).
    pub async fn user_tokens(&self, tenant: &str, client: &str) -> (String, String) {
        let dc = self.device_code(tenant, client).await;
        self.approve(dc["user_code"].as_str().unwrap()).await;
        let r = self
            .token_form(
                tenant,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", client),
                    ("device_code", dc["device_code"].as_str().unwrap()),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        (
            r.json["access_token"].as_str().unwrap().to_string(),
            r.json["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn user_token(&self, tenant: &str, client: &str) -> String {
        self.user_tokens(tenant, client).await.0
    }

    /// A Graph call: `path` is after the version, e.g. `/solutions/backupRestore`.
    pub async fn graph_v(
        &self,
        version: &str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .client
            .request(method, self.url(&format!("/{version}{path}")))
            .bearer_auth(token);
        for (k, v) in extra {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        to_resp(rb.send().await.unwrap()).await
    }

    pub async fn graph(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Resp {
        self.graph_v("v1.0", method, path, token, body, &[]).await
    }

    pub async fn root(&self, token: &str) -> Value {
        let r = self
            .graph(Method::GET, "/solutions/backupRestore", token, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }

    pub async fn register(&self, app_token: &str) -> Resp {
        self.graph(
            Method::POST,
            "/solutions/backupRestore/serviceApps",
            app_token,
            Some(json!({})),
        )
        .await
    }

    pub async fn get_app(&self, token: &str, id: &str) -> Resp {
        self.graph(
            Method::GET,
            &format!("/solutions/backupRestore/serviceApps/{id}"),
            token,
            None,
        )
        .await
    }

    pub async fn status_of(&self, token: &str, id: &str) -> String {
        let r = self.get_app(token, id).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["status"].as_str().unwrap().to_string()
    }

    pub async fn activate(&self, user_token: &str, id: &str, when: Option<OffsetDateTime>) -> Resp {
        let body = match when {
            Some(t) => json!({ "effectiveDateTime": fmt(t) }),
            None => json!({}),
        };
        self.graph(
            Method::POST,
            &format!("/solutions/backupRestore/serviceApps/{id}/activate"),
            user_token,
            Some(body),
        )
        .await
    }

    pub async fn deactivate(&self, user_token: &str, id: &str) -> Resp {
        self.graph(
            Method::POST,
            &format!("/solutions/backupRestore/serviceApps/{id}/deactivate"),
            user_token,
            Some(json!({})),
        )
        .await
    }

    pub async fn delete(&self, token: &str, id: &str) -> Resp {
        self.graph(
            Method::DELETE,
            &format!("/solutions/backupRestore/serviceApps/{id}"),
            token,
            None,
        )
        .await
    }

    pub async fn enable(&self, token: &str, owner: &str) -> Resp {
        self.graph(
            Method::POST,
            "/solutions/backupRestore/enable",
            token,
            Some(json!({ "appOwnerTenantId": owner })),
        )
        .await
    }

    /// A new app registered and activated (immediately) as controller of `tenant`, which
    /// must have no controller: (client id, app token, user token).
    pub async fn active_controller(&self, tenant: &str) -> (String, String, String) {
        let app = self.put_app().await;
        let at = self.app_token(tenant, &app).await;
        let ut = self.user_token(tenant, &app).await;
        assert_eq!(self.register(&at).await.status, 202);
        let now = self.now().await;
        let r = self.activate(&ut, &app, Some(now)).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json["status"], "active");
        (app, at, ut)
    }
}
