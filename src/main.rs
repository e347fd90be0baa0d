//! `terraform-provider-m365backup`: serves the provider to Terraform, or answers a person.

use std::process::ExitCode;

use terraform_provider_m365backup::{logging, plugin_socket, provider::M365BackupProvider};

const PLUGIN_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";

// Every gRPC call from Terraform and every Graph request allocate and free many small buffers;
// glibc's malloc was 18% of the provider's CPU per read in the fleet profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("version") => {
            println!(
                "terraform-provider-m365backup {}",
                env!("CARGO_PKG_VERSION")
            );
            return ExitCode::SUCCESS;
        }
        Some("login") | Some("logout") => return terraform_provider_m365backup::cli::run(&args),
        Some("--help") | Some("-h") | Some("help") => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown argument {other:?}\n\n{}", usage());
            return ExitCode::from(2);
        }
        None => {}
    }
    if std::env::var_os(PLUGIN_COOKIE_KEY).is_none() {
        eprintln!("{}", usage());
        return ExitCode::from(1);
    }
    serve()
}

fn usage() -> String {
    format!(
        "terraform-provider-m365backup {}\n\
         This is a Terraform/OpenTofu plugin: Terraform starts it, so you do not run it directly.\n\
         Install it as a provider (see the README), then use it from a configuration with\n  \
         terraform {{ required_providers {{ m365backup = {{ source = \"m365backup/m365backup\" }} }} }}\n\n\
         Commands:\n  \
         login --tenant T --client-id C [--authority-host URL] [--browser]\n               \
         sign a tenant admin in (device code, or authorization code + PKCE with --browser)\n               \
         and store the delegated refresh token in the token cache (--tenant organizations:\n               \
         one sign-in for every tenant you manage)\n  \
         login --status  list the cached sign-ins (never the tokens)\n  \
         logout [--tenant T] [--client-id C]\n               \
         remove cached sign-ins (all, or those matching)\n  \
         --version    print the version",
        env!("CARGO_PKG_VERSION")
    )
}

fn serve() -> ExitCode {
    // tf-provider attaches a Rust backtrace to every diagnostic when RUST_BACKTRACE is set in
    // the user's environment; diagnostics are for people, not for debugging the provider.
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::remove_var("RUST_BACKTRACE");
        std::env::remove_var("RUST_LIB_BACKTRACE");
    }
    logging::init();
    // reqwest and tf-provider's gRPC stack pull in two rustls crypto back ends; pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A terminal Ctrl-C reaches the whole process group. Like go-plugin servers, keep running and
    // let Terraform finish or stop the provider, so an in-flight Graph call is not cut in half.
    // SAFETY: installing SIG_IGN for SIGINT has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    // M365BACKUP_PLUGIN_NODELAY=0 keeps tf-provider's plain socket, so the benchmark can show
    // what the relay saves.
    if std::env::var("M365BACKUP_PLUGIN_NODELAY").as_deref() != Ok("0")
        && let Err(e) = plugin_socket::relay_stdout_with_nodelay()
    {
        tracing::debug!(error = %e, "stdout relay not installed; continuing without TCP_NODELAY");
    }
    // One thread is plenty: every call waits on Terraform or Graph, and at fleet scale the
    // machine's cores belong to Terraform itself (the benchmark measured less CPU per plan
    // than with a worker per core).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tf_provider::serve(
        "m365backup",
        M365BackupProvider::default(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provider server stopped: {e:#}");
            ExitCode::FAILURE
        }
    }
}
