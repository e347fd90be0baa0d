//! `terraform-provider-m365backup`: serves the provider to Terraform, or answers a person.

use std::process::ExitCode;

use terraform_provider_m365backup::{logging, plugin_socket, provider::M365BackupProvider};

const PLUGIN_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";

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
         Commands:\n  --version    print the version",
        env!("CARGO_PKG_VERSION")
    )
}

fn serve() -> ExitCode {
    logging::init();
    // reqwest and tf-provider's gRPC stack pull in two rustls crypto back ends; pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A terminal Ctrl-C reaches the whole process group. Like go-plugin servers, keep running and
    // let Terraform finish or stop the provider, so an in-flight Graph call is not cut in half.
    // SAFETY: installing SIG_IGN for SIGINT has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    if let Err(e) = plugin_socket::relay_stdout_with_nodelay() {
        tracing::debug!(error = %e, "stdout relay not installed; continuing without TCP_NODELAY");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
