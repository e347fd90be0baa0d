//! `login --status` (what is cached, never the tokens) and `logout` (remove cached sign-ins).

use super::{CliError, CommonArgs, LogoutArgs};
use crate::auth::token_file::CacheEntry;

fn describe(e: &CacheEntry) -> String {
    let mut line = format!(
        "{}  tenant {}  client {}  signed in {}",
        e.key.authority, e.key.tenant, e.key.client_id, e.signed_in_at
    );
    if let Some(u) = &e.user {
        line.push_str(&format!(" as {u}"));
    }
    if let Some(t) = e.home_tenant.as_ref().filter(|t| **t != e.key.tenant) {
        line.push_str(&format!(" (home tenant {t})"));
    }
    if let Some(r) = &e.rotated_at {
        line.push_str(&format!(", token rotated {r}"));
    }
    line
}

pub(super) fn status(common: &CommonArgs) -> Result<(), CliError> {
    let file = super::cache_file(common)?;
    let entries = file.load().map_err(CliError::new)?;
    if entries.is_empty() {
        println!(
            "No cached sign-ins in {}. Sign in with `terraform-provider-m365backup login --tenant <tenant-id> --client-id <client-id>`.",
            file.path().display()
        );
        return Ok(());
    }
    println!(
        "{} cached sign-in(s) in {}:",
        entries.len(),
        file.path().display()
    );
    for e in &entries {
        println!("  {}", describe(e));
    }
    Ok(())
}

pub(super) fn logout(args: &LogoutArgs) -> Result<(), CliError> {
    let file = super::cache_file(&args.common)?;
    let authority = match args.authority_host.as_deref() {
        Some(a) => Some(
            crate::config::validate_endpoint("authority_host", a)
                .map_err(|e| CliError::new(format!("--authority-host: {}", e.detail)))?
                .to_ascii_lowercase(),
        ),
        None => None,
    };
    let tenant = args
        .tenant
        .as_deref()
        .map(|t| t.trim().to_ascii_lowercase());
    let client = args
        .client_id
        .as_deref()
        .map(|c| c.trim().to_ascii_lowercase());
    let removed = file
        .remove(|e| {
            tenant.as_ref().is_none_or(|t| *t == e.key.tenant)
                && client.as_ref().is_none_or(|c| *c == e.key.client_id)
                && authority.as_ref().is_none_or(|a| *a == e.key.authority)
        })
        .map_err(CliError::new)?;
    if removed.is_empty() {
        println!("No matching sign-in in {}.", file.path().display());
        return Ok(());
    }
    println!(
        "Removed {} sign-in(s) from {}:",
        removed.len(),
        file.path().display()
    );
    for e in &removed {
        println!("  {}", describe(e));
    }
    println!(
        "The refresh tokens stay valid at Entra until they expire or an administrator revokes the \
         user's sessions."
    );
    Ok(())
}
