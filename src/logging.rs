//! Provider logs go to stderr, where Terraform picks them up: `TF_LOG_PROVIDER` (or `TF_LOG`)
//! sets the level. Only this crate logs below INFO, so dependencies never dump request details.

use tracing_subscriber::EnvFilter;

/// The level Terraform asked for, as a tracing directive (`None` = logging off).
pub fn level_from_env(
    provider_level: Option<&str>,
    global_level: Option<&str>,
) -> Option<&'static str> {
    let text = provider_level.filter(|l| !l.is_empty()).or(global_level)?;
    match text.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" => Some("warn"),
        "ERROR" => Some("error"),
        "OFF" | "" => None,
        _ => Some("warn"),
    }
}

/// Installs the stderr subscriber unless tf-provider installs its own (`PLUGIN_LOG_FILE`).
pub fn init() {
    if std::env::var_os("PLUGIN_LOG_FILE").is_some() {
        return;
    }
    let provider = std::env::var("TF_LOG_PROVIDER").ok();
    let global = std::env::var("TF_LOG").ok();
    let Some(level) = level_from_env(provider.as_deref(), global.as_deref()) else {
        return;
    };
    let filter = EnvFilter::new(format!("warn,terraform_provider_m365backup={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_levels_map_to_tracing() {
        assert_eq!(level_from_env(Some("DEBUG"), Some("ERROR")), Some("debug"));
        assert_eq!(level_from_env(None, Some("trace")), Some("trace"));
        assert_eq!(level_from_env(Some(""), Some("JSON")), Some("trace"));
        assert_eq!(level_from_env(None, None), None);
        assert_eq!(level_from_env(Some("off"), None), None);
    }
}
