//! `m365backup-emulator --listen 127.0.0.1:0 --state-dir DIR [--print-env]`

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

/// Local stand-in for the Microsoft Graph Backup Storage control plane and Entra ID.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Directory for the CA, keys and state (kept across restarts).
    #[arg(long)]
    state_dir: PathBuf,
    /// Print `export NAME='value'` lines for every variable a client needs.
    #[arg(long)]
    print_env: bool,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let handle = m365backup_emulator::spawn(m365backup_emulator::Options {
        listen: cli.listen,
        state_dir: cli.state_dir,
    })?;
    {
        let mut out = std::io::stdout().lock();
        if cli.print_env {
            for (k, v) in handle.env_exports() {
                writeln!(out, "export {k}={}", m365backup_emulator::shell_quote(&v))?;
            }
        } else {
            writeln!(out, "M365BACKUP_EMULATOR_URL={}", handle.url())?;
        }
        out.flush()?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term_fut = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term_fut => {}
        }
    });
    handle.shutdown();
    Ok(())
}
