//! `m365backup-emulator`: a local stand-in for the Microsoft Graph Backup Storage control
//! plane and protection API (`/v1.0` and `/beta` `solutions/backupRestore`: serviceApps,
//! policies, units, inclusion rules, bulk jobs, notifications, restore points), the Entra ID
//! token endpoint and an
//! App Service-style managed identity endpoint, over HTTPS with a throwaway CA, plus a
//! virtual clock and an admin API under `/_emulator`.
//!
//! Library use (tests):
//! ```no_run
//! let dir = std::env::temp_dir().join("emu-doc");
//! let emu = m365backup_emulator::spawn(m365backup_emulator::Options {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     state_dir: dir,
//! }).unwrap();
//! println!("{} trusts {}", emu.url(), emu.ca_cert_path().display());
//! ```

pub mod admin;
pub mod admin_protection;
pub mod common;
pub mod entra;
pub mod graph;
pub mod json;
pub mod lifecycle;
pub mod protection;
pub mod server;
pub mod store;
pub mod tls;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::store::Emu;

/// Fixed identities that exist at start-up.
pub mod demo {
    /// The demo consuming tenant (created with controller "none").
    pub const TENANT_ID: &str = "6b1e7c8a-3f0d-4d2e-9a51-0c7f2b9e4d11";
    /// The demo controller app (client secret, public client: device code works).
    pub const CLIENT_ID: &str = "3c9f1d2e-8a47-4b6c-b0d5-7e2a91f4c8a3";
    pub const CLIENT_SECRET: &str = "m365backup-emulator-demo-client-secret";
    /// The demo tenant administrator (the user behind delegated tokens).
    pub const ADMIN_USER_ID: &str = "9d4a2b7c-1e6f-4c3a-8b5d-2f7e0a9c6b14";
    /// Value the managed identity endpoint expects in `X-IDENTITY-HEADER`.
    pub const IDENTITY_HEADER: &str = "m365backup-emulator-identity-header";
}

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the CA, the JWT key and the state (tenants, apps, clock) live across restarts.
    pub state_dir: PathBuf,
}

/// What a started emulator tells its starter.
struct Ready {
    addr: SocketAddr,
    emu: Arc<Emu>,
}

/// A running emulator on its own thread + tokio runtime; dropping it shuts it down.
pub struct EmulatorHandle {
    url: String,
    addr: SocketAddr,
    emu: Arc<Emu>,
    delegated_refresh_token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn url_for(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => format!("https://127.0.0.1:{}", a.port()),
        SocketAddr::V4(a) => format!("https://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) if a.ip().is_unspecified() => format!("https://[::1]:{}", a.port()),
        SocketAddr::V6(a) => format!("https://[{}]:{}", a.ip(), a.port()),
    }
}

impl EmulatorHandle {
    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the generated CA.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.emu.ca_cert_path.clone()
    }

    /// System roots + the CA, for `SSL_CERT_FILE`.
    pub fn trust_bundle_path(&self) -> PathBuf {
        self.emu.trust_bundle_path.clone()
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.emu.state_dir.clone()
    }

    /// The App Service-style managed identity endpoint (`IDENTITY_ENDPOINT`); send
    /// `X-IDENTITY-HEADER: demo::IDENTITY_HEADER`.
    pub fn msi_endpoint(&self) -> String {
        format!("{}/msi/token", self.url)
    }

    /// The demo admin's refresh token for the demo app, obtained through `organizations`
    /// (redeemable in every tenant).
    pub fn delegated_refresh_token(&self) -> &str {
        &self.delegated_refresh_token
    }

    /// Exactly what `--print-env` prints, as (name, value).
    pub fn env_exports(&self) -> Vec<(String, String)> {
        env_exports(
            &self.url,
            &self.trust_bundle_path(),
            &self.delegated_refresh_token,
        )
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn env_exports(
    url: &str,
    trust_bundle: &std::path::Path,
    refresh_token: &str,
) -> Vec<(String, String)> {
    [
        ("M365BACKUP_EMULATOR_URL", url.to_string()),
        ("M365BACKUP_GRAPH_ENDPOINT", url.to_string()),
        ("M365BACKUP_AUTHORITY_HOST", url.to_string()),
        ("SSL_CERT_FILE", trust_bundle.display().to_string()),
        ("ARM_TENANT_ID", demo::TENANT_ID.to_string()),
        ("ARM_CLIENT_ID", demo::CLIENT_ID.to_string()),
        ("ARM_CLIENT_SECRET", demo::CLIENT_SECRET.to_string()),
        (
            "M365BACKUP_DELEGATED_REFRESH_TOKEN",
            refresh_token.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn demo_refresh_token(emu: &Emu) -> String {
    tokens::issue_refresh(
        &emu.jwt_key,
        demo::CLIENT_ID,
        demo::TENANT_ID,
        demo::ADMIN_USER_ID,
        &format!("{}/.default offline_access", tokens::GRAPH_RESOURCE),
        true,
        emu.now(),
    )
}

/// Starts the emulator in the background (blocking until it listens). Usable from sync tests.
pub fn spawn(options: Options) -> Result<EmulatorHandle> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("m365backup-emulator".into())
        .spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("m365backup-emulator-worker")
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(serve_inner(
                options,
                async move {
                    let _ = stop_rx.await;
                },
                move |ready| {
                    let _ = ready_tx.send(ready);
                },
            ))
        })
        .context("spawning the emulator thread")?;
    match ready_rx.recv() {
        Ok(ready) => {
            let delegated_refresh_token = demo_refresh_token(&ready.emu);
            let thread = std::thread::spawn(move || {
                if let Ok(Err(e)) = thread.join() {
                    tracing::error!("emulator stopped: {e:#}");
                }
            });
            Ok(EmulatorHandle {
                url: url_for(ready.addr),
                addr: ready.addr,
                emu: ready.emu,
                delegated_refresh_token,
                shutdown: Some(stop_tx),
                thread: Some(thread),
            })
        }
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(anyhow::anyhow!("the emulator stopped before listening")),
            Err(_) => Err(anyhow::anyhow!("the emulator thread panicked")),
        },
    }
}

/// Async variant for use inside an existing runtime: serves until `shutdown` resolves.
pub async fn serve(
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<()> {
    serve_inner(options, shutdown, move |ready| on_listening(ready.addr)).await
}

async fn serve_inner(
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Ready) + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(&options.state_dir)
        .with_context(|| format!("creating {}", options.state_dir.display()))?;
    let tls = tls::load_or_create(&options.state_dir)?;
    let emu = Arc::new(Emu::open(
        &options.state_dir,
        tls.ca_cert_path.clone(),
        tls.trust_bundle_path.clone(),
    )?);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let router = server::router(emu.clone());
    on_ready(Ready {
        addr,
        emu: emu.clone(),
    });
    let writer = tokio::spawn(emu.clone().persist_changes());
    server::accept_loop(listener, tls.server_config, router, shutdown).await;
    writer.abort();
    emu.flush()
}

#[allow(dead_code)]
fn assert_handle_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<EmulatorHandle>();
}

/// Shell-quotes a value for `export NAME='value'`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}
