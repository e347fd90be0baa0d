//! Every way the controller app signs in, through the real terraform binary against the
//! emulator: client secret (value and file), client certificate (a PKCS#12 generated here),
//! OIDC federation (token file, and a GitHub Actions-style token request served by a tiny local
//! HTTPS endpoint), managed identity (the emulator's App Service endpoint), the `login` CLI
//! (device code and `--browser`), the token cache (read, `organizations` across tenants,
//! rotation written back), diagnostics, and a `TF_LOG=TRACE` apply that leaks nothing.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use m365backup_emulator::demo;
use serde_json::{Value, json};

/// A fresh app registration id.
fn new_app_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Config that registers (without activating: app-only calls only) the app in `tenant`.
fn register_only(tenant: &str) -> String {
    service_app_block("this", tenant, "  activate = false")
}

/// Uses only `app` with no client secret: the credential under test must do the work.
fn use_app(env: &mut Env, app: &str) {
    env.set_env("ARM_CLIENT_ID", app);
    env.remove_env("ARM_CLIENT_SECRET");
}

fn assert_registered(env: &Env, tenant: &str, app: &str) {
    assert_eq!(
        env.admin.app_status(tenant, app).as_deref(),
        Some("inactive"),
        "registered in {tenant}"
    );
}

/// An unsigned-looking federated token (the emulator checks `sub`, `exp`; Entra would check
/// the issuer's signature too).
fn federated_token(subject: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"test"}"#);
    let claims = json!({
        "iss": "https://token.actions.githubusercontent.com",
        "sub": subject,
        "aud": "api://AzureADTokenExchange",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

// ---------------------------------------------------------------------------------------------
// App-only credentials

#[test]
fn client_secret_and_secret_file() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        // The harness's ARM_CLIENT_SECRET (the demo app's secret).
        env.write_config(&register_only(&tenant));
        env.apply().expect_code(0, "apply with ARM_CLIENT_SECRET");
        assert_registered(env, &tenant, DEMO_CLIENT_ID);

        // The same secret from a file, with the variable removed.
        let tenant = env.tenant("none");
        let file = env.dir.path().join("secret.txt");
        std::fs::write(&file, format!("{}\n", demo::CLIENT_SECRET)).unwrap();
        env.remove_env("ARM_CLIENT_SECRET");
        env.set_env("ARM_CLIENT_SECRET_FILE_PATH", file.to_str().unwrap());
        env.write_config(&register_only(&tenant));
        env.apply()
            .expect_code(0, "apply with ARM_CLIENT_SECRET_FILE_PATH");
        assert_registered(env, &tenant, DEMO_CLIENT_ID);
    });
}

/// A 2048-bit RSA key and self-signed certificate, as PKCS#12 (password-protected) and PEM.
fn generate_pkcs12(password: &str) -> (Vec<u8>, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let mut params =
        rcgen::CertificateParams::new(vec!["m365backup-test-controller".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "m365backup test controller");
    let cert = params.self_signed(&key).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(
        vec![1u8, 2, 3, 4],
        p12_keystore::PrivateKey::from_der(&key.serialize_der()).unwrap(),
        [p12_keystore::Certificate::from_der(cert.der()).unwrap()],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "controller",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    let pfx = store.writer(password).write().expect("PKCS#12");
    (pfx, cert.pem())
}

#[test]
fn client_certificate_base64_and_path() {
    let (pfx, pem) = generate_pkcs12("test-pfx-password");
    for_each_terraform(|env| {
        let app = new_app_id();
        env.admin.put(
            &format!("/_emulator/apps/{app}"),
            json!({ "certificate_pem": pem }),
        );
        use_app(env, &app);

        // base64, from the environment.
        let tenant = env.tenant("none");
        env.set_env("ARM_CLIENT_CERTIFICATE", &STANDARD.encode(&pfx));
        env.set_env("ARM_CLIENT_CERTIFICATE_PASSWORD", "test-pfx-password");
        env.write_config(&register_only(&tenant));
        env.apply()
            .expect_code(0, "apply with ARM_CLIENT_CERTIFICATE");
        assert_registered(env, &tenant, &app);

        // A file path; a wrong password is a plan-time error that names the setting.
        let tenant = env.tenant("none");
        let path = env.dir.path().join("controller.pfx");
        std::fs::write(&path, &pfx).unwrap();
        env.remove_env("ARM_CLIENT_CERTIFICATE");
        env.set_env("ARM_CLIENT_CERTIFICATE_PATH", path.to_str().unwrap());
        env.set_env("ARM_CLIENT_CERTIFICATE_PASSWORD", "wrong-password");
        env.write_config(&register_only(&tenant));
        let run = env.plan();
        run.expect_code(1, "plan with a wrong certificate password")
            .expect_contains("client_certificate_password", "names the password setting");
        assert!(!run.combined().contains("wrong-password"));

        env.set_env("ARM_CLIENT_CERTIFICATE_PASSWORD", "test-pfx-password");
        env.apply()
            .expect_code(0, "apply with ARM_CLIENT_CERTIFICATE_PATH");
        assert_registered(env, &tenant, &app);

        // The certificate path written in the block wins over a client secret in the shell (the
        // password still comes from ARM_CLIENT_CERTIFICATE_PASSWORD).
        env.remove_env("ARM_CLIENT_CERTIFICATE_PATH");
        env.set_env("ARM_CLIENT_SECRET", "a-secret-left-in-the-shell");
        let tenant = env.tenant("none");
        write_config_with_provider(
            env,
            &format!("  client_certificate_path = {:?}", path.to_str().unwrap()),
            &register_only(&tenant),
        );
        let run = env.apply();
        run.expect_code(0, "apply with the block's certificate")
            .expect_contains(
                "Using the client certificate from client_certificate_path",
                "the warning names the certificate",
            )
            .expect_contains(
                "ignores the client secret from the environment variable ARM_CLIENT_SECRET",
                "and the secret ignored",
            );
        assert!(!run.combined().contains("a-secret-left-in-the-shell"));
        assert_registered(env, &tenant, &app);
    });
}

#[test]
fn oidc_token_file_and_missing_source() {
    for_each_terraform(|env| {
        let app = new_app_id();
        let subject = "repo:contoso/infra:environment:production";
        env.admin.put(
            &format!("/_emulator/apps/{app}"),
            json!({ "federated_subject": subject }),
        );
        use_app(env, &app);
        let tenant = env.tenant("none");
        env.write_config(&register_only(&tenant));

        env.set_env("ARM_USE_OIDC", "true");
        env.plan()
            .expect_code(1, "use_oidc without a token")
            .expect_contains("No OIDC token source", "summary")
            .expect_contains("oidc_token_file_path", "names the settings");

        let file = env.dir.path().join("oidc-token");
        std::fs::write(&file, federated_token(subject)).unwrap();
        env.set_env("ARM_OIDC_TOKEN_FILE_PATH", file.to_str().unwrap());
        env.apply()
            .expect_code(0, "apply with ARM_OIDC_TOKEN_FILE_PATH");
        assert_registered(env, &tenant, &app);

        // A token for another subject: Entra's AADSTS70021, named as the OIDC credential.
        std::fs::write(
            &file,
            federated_token("repo:contoso/other:ref:refs/heads/main"),
        )
        .unwrap();
        env.write_config(&register_only(&env.tenant("none")));
        env.plan()
            .expect_code(1, "plan with a token of another subject")
            .expect_contains("OIDC federated token", "names the credential")
            .expect_contains("AADSTS70021", "Entra's code");
    });
}

/// A one-thread HTTPS server that answers GitHub's ID token request: `{"value": token}` for
/// `Authorization: Bearer <request_token>` and the Entra audience, 401 otherwise.
struct OidcServer {
    url: String,
    trust_bundle: PathBuf,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

fn start_oidc_server(env: &Env, request_token: &str, federated: &str) -> OidcServer {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "e2e OIDC test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    leaf.subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    // Trust the emulator's CA and this one.
    let mut bundle = std::fs::read_to_string(env.emulator.trust_bundle_path()).unwrap();
    bundle.push('\n');
    bundle.push_str(&ca_cert.pem());
    let trust_bundle = env.dir.path().join("bundle-with-oidc-ca.pem");
    std::fs::write(&trust_bundle, bundle).unwrap();

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf_cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (expected_auth, answer) = (
        format!("bearer {request_token}"),
        json!({ "count": 1, "value": federated }).to_string(),
    );
    let hits_in = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
            let authorized = text.lines().any(|l| {
                l.to_ascii_lowercase().starts_with("authorization:")
                    && l[14..].trim().eq_ignore_ascii_case(&expected_auth)
            });
            let audience_ok = target.contains("audience=api%3A%2F%2FAzureADTokenExchange");
            let (status, body) =
                if authorized && audience_ok && target.starts_with("/token?api-version=2.0") {
                    hits_in.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    ("200 OK", answer.clone())
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"message":"bad request token or audience"}"#.to_string(),
                    )
                };
            let _ = write!(
                tls,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    OidcServer {
        url: format!("https://127.0.0.1:{port}/token?api-version=2.0"),
        trust_bundle,
        hits,
    }
}

#[test]
fn oidc_github_actions_token_request() {
    for_each_terraform(|env| {
        let app = new_app_id();
        let subject = "repo:contoso/infra:ref:refs/heads/main";
        env.admin.put(
            &format!("/_emulator/apps/{app}"),
            json!({ "federated_subject": subject }),
        );
        let server = start_oidc_server(env, "gh-request-token-value", &federated_token(subject));
        use_app(env, &app);
        env.set_env("SSL_CERT_FILE", server.trust_bundle.to_str().unwrap());
        env.set_env("ARM_USE_OIDC", "true");
        env.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &server.url);
        env.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token-value");
        let tenant = env.tenant("none");
        env.write_config(&register_only(&tenant));
        env.apply()
            .expect_code(0, "apply with GitHub's ACTIONS_ID_TOKEN_REQUEST_*");
        assert_registered(env, &tenant, &app);
        assert!(server.hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);

        // A wrong request token: the diagnostic names the OIDC credential and the status.
        env.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "not-the-request-token");
        env.write_config(&register_only(&env.tenant("none")));
        let run = env.plan();
        run.expect_code(1, "plan with a wrong request token")
            .expect_contains("OIDC federated token", "names the credential")
            .expect_contains("HTTP 401", "the endpoint's answer");
        assert!(!run.combined().contains("not-the-request-token"));
    });
}

#[test]
fn managed_identity_through_the_app_service_endpoint() {
    for_each_terraform(|env| {
        env.remove_env("ARM_CLIENT_SECRET");
        env.set_env("ARM_USE_MSI", "true");
        env.set_env("IDENTITY_ENDPOINT", &env.emulator.msi_endpoint());
        env.set_env("IDENTITY_HEADER", demo::IDENTITY_HEADER);
        env.admin.reset_requests();
        // The identity's own tenant (the demo tenant), activated with the delegated token.
        env.write_config(&service_app_block("this", demo::TENANT_ID, ""));
        env.apply().expect_code(0, "apply with a managed identity");
        assert_eq!(
            env.admin
                .app_status(demo::TENANT_ID, DEMO_CLIENT_ID)
                .as_deref(),
            Some("active")
        );
        let msi_calls = env
            .admin
            .requests()
            .into_iter()
            .filter(|r| r["path"] == "/msi/token")
            .count();
        assert!(msi_calls >= 1, "the managed identity endpoint was used");

        // Another tenant: a managed identity is single-tenant, and the diagnostic says so.
        let other = env.tenant("none");
        env.write_config(&format!(
            "{}\ndata \"m365backup_service_apps\" \"other\" {{\n  tenant_id = \"{other}\"\n}}\n",
            service_app_block("this", demo::TENANT_ID, "")
        ));
        env.plan()
            .expect_code(1, "managed identity in another tenant")
            .expect_contains("managed identity", "names the credential")
            .expect_contains(
                &format!("belongs to tenant {}", demo::TENANT_ID),
                "names its tenant",
            );
    });
}

// ---------------------------------------------------------------------------------------------
// Which credential is used

/// Writes `main.tf` with `provider_args` written in the provider block, and `body`.
fn write_config_with_provider(env: &Env, provider_args: &str, body: &str) {
    let text = format!(
        "terraform {{\n  required_providers {{\n    m365backup = {{\n      source = \"m365backup/m365backup\"\n    }}\n  }}\n}}\n\nprovider \"m365backup\" {{\n{provider_args}\n}}\n\n{body}\n"
    );
    std::fs::write(env.work_dir().join("main.tf"), text).unwrap();
}

fn assert_no_secret(run: &Run, secrets: &[&str]) {
    let all = run.combined();
    for secret in secrets {
        assert!(!all.contains(secret), "a secret appears in the output");
    }
}

#[test]
fn credentials_in_the_provider_block_win_over_the_environment() {
    for_each_terraform(|env| {
        let right = env.dir.path().join("right-secret.txt");
        std::fs::write(&right, format!("{}\n", demo::CLIENT_SECRET)).unwrap();
        let wrong = env.dir.path().join("wrong-secret.txt");
        std::fs::write(&wrong, "wrong-secret-in-a-file\n").unwrap();
        let secrets = [
            demo::CLIENT_SECRET,
            "wrong-secret-in-a-file",
            "wrong-secret-from-the-environment",
        ];

        // A wrong ARM_CLIENT_SECRET in the shell, the right secret file in the block: the block
        // wins, and the warning names the credential used and the one ignored.
        env.set_env("ARM_CLIENT_SECRET", "wrong-secret-from-the-environment");
        let tenant = env.tenant("none");
        write_config_with_provider(
            env,
            &format!("  client_secret_file_path = {:?}", right.to_str().unwrap()),
            &register_only(&tenant),
        );
        let run = env.apply();
        run.expect_code(0, "apply with the block's secret file")
            .expect_contains(
                "Using the client secret from client_secret_file_path",
                "the warning names the credential used",
            )
            .expect_contains(
                "ignores the client secret from the environment variable ARM_CLIENT_SECRET",
                "and the one ignored",
            );
        assert_no_secret(&run, &secrets);
        assert_registered(env, &tenant, DEMO_CLIENT_ID);

        // The reverse: the right secret in the block, a wrong secret file in the environment.
        env.remove_env("ARM_CLIENT_SECRET");
        env.set_env("ARM_CLIENT_SECRET_FILE_PATH", wrong.to_str().unwrap());
        let tenant = env.tenant("none");
        write_config_with_provider(
            env,
            &format!("  client_secret = {:?}", demo::CLIENT_SECRET),
            &register_only(&tenant),
        );
        let run = env.apply();
        run.expect_code(0, "apply with the block's secret")
            .expect_contains(
                "Using the client secret from client_secret",
                "the warning names the argument",
            )
            .expect_contains(
                "the environment variable ARM_CLIENT_SECRET_FILE_PATH",
                "and the variable ignored",
            );
        assert_no_secret(&run, &secrets);
        assert_registered(env, &tenant, DEMO_CLIENT_ID);

        // The block wins even when it holds the wrong secret (the right one is in
        // ARM_CLIENT_SECRET): the error names the block's argument.
        env.reset_env("ARM_CLIENT_SECRET_FILE_PATH");
        env.reset_env("ARM_CLIENT_SECRET");
        write_config_with_provider(
            env,
            &format!("  client_secret_file_path = {:?}", wrong.to_str().unwrap()),
            &register_only(&env.tenant("none")),
        );
        let run = env.plan();
        run.expect_code(1, "plan with a wrong secret file in the block")
            .expect_contains(
                "Entra ID rejected the client secret from client_secret_file_path",
                "names the credential and where it came from",
            )
            .expect_contains("AADSTS7000215", "Entra's code");
        assert_no_secret(&run, &secrets);

        // One credential: no warning.
        let tenant = env.tenant("none");
        env.write_config(&register_only(&tenant));
        let run = env.plan();
        run.expect_code(2, "plan with ARM_CLIENT_SECRET alone");
        assert!(
            !run.combined().contains("Using the client secret"),
            "no warning for a single credential:\n{}",
            run.combined()
        );

        // An app Entra does not know: the secret is not blamed. (A refresh of objects already in
        // state keeps them with a warning, as for a tenant whose consent was revoked; the
        // registration is a write and fails.)
        env.set_env("ARM_CLIENT_ID", &new_app_id());
        let run = env.apply();
        run.expect_code(1, "apply with an unknown app")
            .expect_contains(
                "could not get a token for tenant",
                "says no token could be had",
            )
            .expect_contains(
                "(AADSTS700016: Application with identifier",
                "with Entra's code",
            );
        assert!(
            !run.combined().contains("rejected the client secret"),
            "the secret is not the cause:\n{}",
            run.combined()
        );
        env.reset_env("ARM_CLIENT_ID");

        // azuread's name for the global cloud.
        write_config_with_provider(env, "  environment = \"global\"", &register_only(&tenant));
        env.plan().expect_code(2, "environment = \"global\"");
    });
}

// ---------------------------------------------------------------------------------------------
// The login CLI and the token cache

/// The provider binary as a CLI, with only the environment a person would have.
fn cli(env: &Env, cache: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(provider_binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("SSL_CERT_FILE", env.emulator.trust_bundle_path())
        .env("M365BACKUP_AUTHORITY_HOST", env.emulator.url())
        .env("M365BACKUP_TOKEN_CACHE", cache)
        .env("M365BACKUP_REQUEST_TIMEOUT", "20s")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn wait_output(child: Child, what: &str) -> (i32, String, String) {
    let out = child.wait_with_output().expect(what);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Approves the device code the emulator is waiting on for `client_id`, as the admin would.
fn approve_device_code(env: &Env, client_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = env.admin.get("/_emulator/devicecode/pending");
        if let Some(code) = pending.as_array().unwrap().iter().find(|d| {
            d["client_id"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(client_id))
        }) {
            env.admin.post(
                "/_emulator/devicecode/approve",
                json!({ "user_code": code["user_code"] }),
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no device code appeared: {pending}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn login_device_code(env: &Env, cache: &Path, tenant: &str) -> String {
    let child = cli(
        env,
        cache,
        &["login", "--tenant", tenant, "--client-id", DEMO_CLIENT_ID],
    )
    .spawn()
    .unwrap();
    approve_device_code(env, DEMO_CLIENT_ID);
    let (code, stdout, stderr) = wait_output(child, "login");
    assert_eq!(code, 0, "login failed\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("enter the code"),
        "prints Entra's message: {stderr}"
    );
    format!("{stdout}\n{stderr}")
}

fn cache_entries(cache: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&std::fs::read(cache).unwrap()).unwrap();
    v["entries"].as_array().unwrap().clone()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_device_code_then_apply_from_the_cache_status_and_logout() {
    for_each_terraform(|env| {
        let cache = env.dir.path().join("cache-dir").join("token-cache.json");
        let tenant = env.tenant("none");
        let output = login_device_code(env, &cache, &tenant);
        assert_eq!(mode(&cache), 0o600);
        assert_eq!(mode(cache.parent().unwrap()), 0o700);
        let entries = cache_entries(&cache);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["tenant"], tenant.as_str());
        assert_eq!(entries[0]["client_id"], DEMO_CLIENT_ID);
        assert_eq!(entries[0]["authority"], env.emulator.url());
        let refresh = entries[0]["refresh_token"].as_str().unwrap().to_string();
        assert!(!output.contains(&refresh), "login never prints the token");

        // The provider finds the sign-in in the cache: no delegated token in the environment.
        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.set_env("M365BACKUP_TOKEN_CACHE", cache.to_str().unwrap());
        env.write_config(&service_app_block("this", &tenant, ""));
        env.apply()
            .expect_code(0, "apply activating with the cached sign-in");
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );

        // --status lists the sign-in, never the token.
        let (code, stdout, stderr) = wait_output(
            cli(env, &cache, &["login", "--status"]).spawn().unwrap(),
            "status",
        );
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(&tenant) && stdout.contains(DEMO_CLIENT_ID),
            "{stdout}"
        );
        let rotated = cache_entries(&cache)[0]["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            !stdout.contains(&refresh) && !stdout.contains(&rotated),
            "{stdout}"
        );

        // logout --tenant of another tenant removes nothing; logout removes it.
        let (code, stdout, _) = wait_output(
            cli(env, &cache, &["logout", "--tenant", "organizations"])
                .spawn()
                .unwrap(),
            "logout",
        );
        assert_eq!(code, 0);
        assert!(stdout.contains("No matching sign-in"), "{stdout}");
        let (code, stdout, _) =
            wait_output(cli(env, &cache, &["logout"]).spawn().unwrap(), "logout");
        assert_eq!(code, 0);
        assert!(stdout.contains("Removed 1 sign-in"), "{stdout}");
        assert!(cache_entries(&cache).is_empty());

        // Without it, a plan that needs to activate says how to sign in.
        env.write_config(&service_app_block("next", &env.tenant("none"), ""));
        env.plan()
            .expect_code(1, "plan without any delegated credential")
            .expect_contains("terraform-provider-m365backup login", "says how to sign in");
    });
}

#[test]
fn login_explains_what_the_app_registration_lacks() {
    for_each_terraform(|env| {
        // Not a public client: Entra's AADSTS7000218 at the first poll.
        let app = new_app_id();
        env.admin.put(
            &format!("/_emulator/apps/{app}"),
            json!({ "client_secret": "x-secret-value" }),
        );
        let cache = env.dir.path().join("cache.json");
        let child = cli(
            env,
            &cache,
            &["login", "--tenant", demo::TENANT_ID, "--client-id", &app],
        )
        .spawn()
        .unwrap();
        let (code, _, stderr) = wait_output(child, "login");
        assert_eq!(code, 1);
        assert!(stderr.contains("AADSTS7000218"), "{stderr}");
        assert!(stderr.contains("Allow public client flows"), "{stderr}");
        // An http:// authority is refused before anything is sent.
        let child = cli(
            env,
            &cache,
            &["login", "--tenant", "organizations", "--client-id", &app],
        )
        .env(
            "M365BACKUP_AUTHORITY_HOST",
            env.emulator.url().replace("https://", "http://"),
        )
        .spawn()
        .unwrap();
        let (code, _, stderr) = wait_output(child, "login");
        assert_eq!(code, 1);
        assert!(stderr.contains("https"), "{stderr}");
        assert!(!cache.exists());
    });
}

/// `login --browser`: the test plays the browser, following the emulator's redirect to the
/// loopback listener.
fn login_browser(env: &Env, cache: &Path, tenant: &str) {
    let mut child = cli(
        env,
        cache,
        &[
            "login",
            "--browser",
            "--no-open",
            "--tenant",
            tenant,
            "--client-id",
            DEMO_CLIENT_ID,
        ],
    )
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("login prints the URL").unwrap();
        if line.trim().starts_with("https://") {
            break line.trim().to_string();
        }
    };
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let ca = std::fs::read(env.emulator.ca_cert_path()).unwrap();
    let browser = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = browser.get(&url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("http://localhost:"), "{location}");
    let page = browser.get(&location).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("Signed in"));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "login --browser failed: {rest:?}");
}

#[test]
fn organizations_sign_in_serves_three_tenants_and_rotation_is_persisted() {
    for_each_terraform(|env| {
        let cache = env.dir.path().join("token-cache.json");
        login_browser(env, &cache, "organizations");
        let before = cache_entries(&cache);
        assert_eq!(before.len(), 1);
        assert_eq!(before[0]["tenant"], "organizations");
        let original = before[0]["refresh_token"].as_str().unwrap().to_string();

        env.remove_env("M365BACKUP_DELEGATED_REFRESH_TOKEN");
        env.set_env("M365BACKUP_TOKEN_CACHE", cache.to_str().unwrap());
        let tenants: Vec<String> = (0..3).map(|_| env.tenant("none")).collect();
        env.write_config(&format!(
            "resource \"m365backup_service_app\" \"fleet\" {{\n  for_each  = toset({})\n  tenant_id = each.key\n}}\n",
            serde_json::to_string(&tenants).unwrap()
        ));
        env.admin.reset_requests();
        env.apply()
            .expect_code(0, "for_each apply with one organizations sign-in");
        for t in &tenants {
            assert_eq!(
                env.admin.app_status(t, DEMO_CLIENT_ID).as_deref(),
                Some("active"),
                "{t}"
            );
        }
        let user_tokens: Vec<Value> = env
            .admin
            .requests()
            .into_iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/oauth2/v2.0/token"))
                    && r["token_kind"] == "user"
            })
            .collect();
        for t in &tenants {
            assert!(
                user_tokens.iter().any(|r| r["tenant"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(t))
                    && r["status"] == 200),
                "a delegated token was redeemed in {t}: {user_tokens:?}"
            );
        }

        // Entra rotated the refresh token; the provider wrote it back, keeping the file private.
        let after = cache_entries(&cache);
        assert_eq!(after.len(), 1);
        let rotated = after[0]["refresh_token"].as_str().unwrap();
        assert_ne!(rotated, original, "the rotated refresh token is persisted");
        assert!(after[0]["rotated_at"].is_string());
        assert_eq!(mode(&cache), 0o600);
        env.plan().expect_code(0, "clean plan afterwards");
    });
}

// ---------------------------------------------------------------------------------------------
// Diagnostics and logs

#[test]
fn wrong_secret_and_expired_refresh_token_are_named_without_leaking() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.write_config(&service_app_block("this", &tenant, ""));
        env.set_env("ARM_CLIENT_SECRET", "definitely-the-wrong-secret");
        let run = env.plan();
        run.expect_code(1, "plan with a wrong secret")
            .expect_contains(
                "rejected the client secret from ARM_CLIENT_SECRET",
                "names the credential and its variable",
            )
            .expect_contains("AADSTS7000215", "Entra's code");
        assert!(!run.combined().contains("definitely-the-wrong-secret"));

        // Refresh tokens expire after 90 days of inactivity (emulator clock).
        env.remove_env("ARM_CLIENT_SECRET");
        env.set_env("ARM_CLIENT_SECRET", demo::CLIENT_SECRET);
        env.admin.advance_days(91);
        let refresh = env.emulator.delegated_refresh_token().to_string();
        let run = env.apply();
        run.expect_code(1, "activation with an expired refresh token")
            .expect_contains(
                "delegated refresh token from M365BACKUP_DELEGATED_REFRESH_TOKEN",
                "names the credential and its variable",
            )
            .expect_contains("AADSTS700082", "Entra's code")
            .expect_contains(
                "outranks the sign-ins",
                "says the variable hides the login cache",
            )
            .expect_contains("login", "says how to sign in again");
        assert!(!run.combined().contains(&refresh));
    });
}

/// True when `text` contains something shaped like a JWT (`eyJ...eyJ...`).
fn contains_jwt(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("eyJ") {
        let start = i + pos;
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
            .collect();
        if token.matches('.').count() >= 2 && token.len() > 40 {
            return Some(token);
        }
        i = start + 3;
        if i >= bytes.len() {
            break;
        }
    }
    None
}

#[test]
fn trace_logs_of_a_full_apply_hold_no_secret_or_token() {
    for_each_terraform(|env| {
        let tenant = env.tenant("none");
        env.set_env("TF_LOG", "TRACE");
        env.write_config(&service_app_block("this", &tenant, ""));
        let run = env.apply();
        run.expect_code(0, "apply at TRACE");
        assert_eq!(
            env.admin.app_status(&tenant, DEMO_CLIENT_ID).as_deref(),
            Some("active")
        );
        let all = run.combined();
        assert!(
            all.contains("entra") && all.contains("oauth2/v2.0/token"),
            "the provider logged its token requests"
        );
        assert!(
            !all.contains(demo::CLIENT_SECRET),
            "client secret in the logs"
        );
        assert!(
            !all.contains(env.emulator.delegated_refresh_token()),
            "refresh token in the logs"
        );
        if let Some(jwt) = contains_jwt(&all) {
            panic!(
                "a token appears in the TRACE output: {}...",
                &jwt[..jwt.len().min(24)]
            );
        }
    });
}
