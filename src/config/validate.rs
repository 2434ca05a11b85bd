//! Checks of the resolved values that their types cannot express (ranges,
//! enumerations, addresses, relations between keys). An error names the key,
//! where its value came from and what is expected; warnings are returned, so
//! the caller logs them once logging is set up.

use std::time::Duration;

use super::listen::{self, LISTEN_EXPECTED};
use super::{Config, ConfigError, MAX_RETRIES, WebConfig};

/// Where each key's value came from: `None` for a default.
pub(super) type Origin<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Levels `log.level` accepts as a bare word.
const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];

/// Checks a `log.level` / `RUST_LOG` value: bare levels or `target=level`
/// directives, comma-separated. A bare word that is not a level (`verbose`)
/// is refused: tracing would read it as a target name and log nothing else.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    let expected = "expected error, warn, info, debug, trace, off, or target=level directives such as info,asc_perf_exporter::refresh=debug";
    if filter.trim().is_empty() {
        return Err(format!("an empty filter; {expected}"));
    }
    for directive in filter.split(',').map(str::trim) {
        if directive.is_empty() {
            return Err(format!("'{filter}' has an empty directive; {expected}"));
        }
        match directive.rsplit_once('=') {
            Some((target, level)) => {
                if target.trim().is_empty()
                    || !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
                {
                    return Err(format!("'{directive}' is not target=level; {expected}"));
                }
            }
            None => {
                if !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
                    return Err(format!("'{directive}' is not a level; {expected}"));
                }
            }
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(|_| ())
        .map_err(|e| format!("'{filter}': {e}; {expected}"))
}

/// Validates `config`; `Ok` holds the warnings.
pub(super) fn validate(config: &Config, origin: Origin) -> Result<Vec<String>, ConfigError> {
    let bad = |key: &str, reason: String| ConfigError::Invalid {
        key: key.into(),
        origin: origin(key).unwrap_or_else(|| "defaults".into()),
        reason,
    };
    let mut warnings = Vec::new();

    // Addresses: web.listen_addresses, else listen.
    if config.web.listen_addresses.is_empty() {
        listen::resolve(&config.listen).map_err(|e| bad("listen", e))?;
    } else {
        let mut seen = Vec::new();
        for a in &config.web.listen_addresses {
            let addr = listen::resolve(a).map_err(|e| bad("web.listen_addresses", e))?;
            if seen.contains(&addr) && addr.port() != 0 {
                return Err(bad(
                    "web.listen_addresses",
                    format!(
                        "'{a}' is listed twice ({addr}); give each address once ({LISTEN_EXPECTED})"
                    ),
                ));
            }
            seen.push(addr);
        }
        if origin("listen").is_some() && config.listen != config.web.listen_addresses[0] {
            warnings.push(format!(
                "listen ({}) is ignored: web.listen_addresses is set ({}); remove listen",
                config.listen,
                config.web.listen_addresses.join(", ")
            ));
        }
    }

    if !matches!(config.log.format.as_str(), "text" | "json") {
        return Err(bad(
            "log.format",
            format!("'{}' must be text or json", config.log.format),
        ));
    }
    check_log_filter(&config.log.level).map_err(|e| bad("log.level", e))?;

    let asc = &config.asc;
    crate::asc::client::parse_base_url(&asc.base_url)
        .map_err(|e| bad("asc.base_url", e.to_string()))?;
    if asc.timeout.is_zero() || asc.timeout > Duration::from_secs(3600) {
        return Err(bad(
            "asc.timeout",
            format!(
                "{} must be more than 0s and at most 1h, e.g. 60s",
                humantime::format_duration(asc.timeout)
            ),
        ));
    }
    if asc.max_retries > MAX_RETRIES {
        return Err(bad(
            "asc.max_retries",
            format!(
                "{} is more than {MAX_RETRIES}; every retry of a failing request spends the hourly budget (4 is the default)",
                asc.max_retries
            ),
        ));
    }
    if asc.max_response_bytes < 1024 {
        return Err(bad(
            "asc.max_response_bytes",
            format!(
                "{} is too small for any App Store Connect response; the default is 67108864 (64 MiB)",
                asc.max_response_bytes
            ),
        ));
    }

    let r = &config.refresh;
    if r.interval < Duration::from_secs(1) {
        return Err(bad(
            "refresh.interval",
            format!(
                "{} is too short; use at least 1s (Apple updates the data about daily; 1h is the default)",
                humantime::format_duration(r.interval)
            ),
        ));
    }
    for (key, d) in [
        ("refresh.timeout", r.timeout),
        ("refresh.app_timeout", r.app_timeout),
    ] {
        if d < Duration::from_secs(1) {
            return Err(bad(
                key,
                format!(
                    "{} is too short; use at least 1s",
                    humantime::format_duration(d)
                ),
            ));
        }
    }
    if r.app_timeout > r.timeout {
        return Err(bad(
            "refresh.app_timeout",
            format!(
                "{} is longer than refresh.timeout ({}); an app's deadline must fit in the refresh's",
                humantime::format_duration(r.app_timeout),
                humantime::format_duration(r.timeout)
            ),
        ));
    }
    if !(0.0..=1.0).contains(&r.jitter) {
        return Err(bad(
            "refresh.jitter",
            format!("{} must be between 0 and 1", r.jitter),
        ));
    }
    if !(0.0..1.0).contains(&r.rate_limit_reserve) {
        return Err(bad(
            "refresh.rate_limit_reserve",
            format!("{} must be at least 0 and below 1", r.rate_limit_reserve),
        ));
    }
    if !(0.0..=1.0).contains(&r.budget_share) {
        return Err(bad(
            "refresh.budget_share",
            format!(
                "{} must be more than 0 and at most 1 (or 0 for one share per shard)",
                r.budget_share
            ),
        ));
    }
    config
        .shard
        .parse::<crate::refresh::shard::Shard>()
        .map_err(|e| bad("shard", e))?;
    validate_accounts(config, &bad)?;
    if !(1..=64).contains(&r.concurrency) {
        return Err(bad(
            "refresh.concurrency",
            format!("{} must be between 1 and 64", r.concurrency),
        ));
    }
    if r.builds_per_app > 200 {
        return Err(bad("refresh.builds_per_app", "must be at most 200".into()));
    }

    let d = &config.diagnostics;
    for t in &d.types {
        if !matches!(t.as_str(), "DISK_WRITES" | "HANGS" | "LAUNCHES") {
            warnings.push(format!(
                "unknown diagnostic type '{t}' in diagnostics.types (known: DISK_WRITES, HANGS, LAUNCHES); passing it to Apple as-is"
            ));
        }
    }
    if d.top > 200 {
        return Err(bad("diagnostics.top", "must be at most 200".into()));
    }
    if !(1..=200).contains(&d.logs_per_signature) {
        return Err(bad(
            "diagnostics.logs_per_signature",
            "must be between 1 and 200".into(),
        ));
    }

    let o = &config.otlp;
    if let Some(p) = &o.protocol
        && !matches!(p.as_str(), "grpc" | "http/protobuf")
    {
        return Err(bad(
            "otlp.protocol",
            format!("'{p}' must be grpc or http/protobuf"),
        ));
    }
    if let Some(c) = &o.compression
        && !matches!(c.as_str(), "gzip" | "none")
    {
        return Err(bad(
            "otlp.compression",
            format!("'{c}' must be gzip or none"),
        ));
    }
    if let Some(e) = &o.endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        return Err(bad(
            "otlp.endpoint",
            format!("'{e}' must be an http:// or https:// URL such as http://localhost:4317"),
        ));
    }
    if o.interval < Duration::from_secs(1) {
        return Err(bad("otlp.interval", "must be at least 1s, e.g. 60s".into()));
    }
    if o.timeout.is_some_and(|t| t.is_zero()) {
        return Err(bad("otlp.timeout", "must be more than 0s, e.g. 10s".into()));
    }

    validate_web(&config.web, &bad)?;
    if !config.prometheus.enabled && !config.otlp.enabled {
        warnings.push(
            "both outputs are off (prometheus.enabled and otlp.enabled are false): the exporter only refreshes its state".into(),
        );
    }
    Ok(warnings)
}

/// `accounts`: unique names fit for a label and a file name, a key each,
/// and no `asc.*` key beside them (which would be ignored).
fn validate_accounts(
    config: &Config,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let accounts = &config.accounts;
    if accounts.is_empty() {
        return Ok(());
    }
    let asc = &config.asc;
    if asc.key_id.is_some() || asc.issuer_id.is_some() || asc.private_key_path.is_some() {
        return Err(bad(
            "accounts",
            "asc.key_id, asc.issuer_id and asc.private_key_path are ignored when accounts are listed; move that key into accounts (e.g. with name: default) and unset them".into(),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, a) in accounts.iter().enumerate() {
        let which = if a.name.is_empty() {
            format!("accounts[{i}]")
        } else {
            format!("account '{}'", a.name)
        };
        let ok_name = !a.name.is_empty()
            && a.name.len() <= 64
            && a.name != "."
            && a.name != ".."
            && a.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok_name {
            return Err(bad(
                "accounts",
                format!(
                    "{which}: name '{}' must be 1-64 characters of A-Z a-z 0-9 _ . - (it is the account label and part of the state file's name)",
                    a.name
                ),
            ));
        }
        if names.contains(&a.name.as_str()) {
            return Err(bad(
                "accounts",
                format!("{which} is listed twice; give each account its own name"),
            ));
        }
        names.push(&a.name);
        if a.key_id.trim().is_empty() {
            return Err(bad(
                "accounts",
                format!(
                    "{which} has no key_id; set it to the 10-character key id from App Store Connect (Users and Access > Integrations)"
                ),
            ));
        }
        match (&a.private_key_path, &a.private_key_env) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "accounts",
                    format!("{which} sets both private_key_path and private_key_env; keep one"),
                ));
            }
            (None, None) => {
                return Err(bad(
                    "accounts",
                    format!(
                        "{which} has no key: set private_key_path to its .p8 file, or private_key_env to the variable holding it"
                    ),
                ));
            }
            _ => {}
        }
        if let Some(url) = &a.base_url {
            crate::asc::client::parse_base_url(url)
                .map_err(|e| bad("accounts", format!("{which}: base_url: {e}")))?;
        }
    }
    Ok(())
}

fn validate_web(
    web: &WebConfig,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    for (key, value, example) in [
        ("web.header_read_timeout", web.header_read_timeout, "10s"),
        ("web.idle_timeout", web.idle_timeout, "60s"),
        ("web.shutdown_timeout", web.shutdown_timeout, "5s"),
    ] {
        if value.is_zero() {
            return Err(bad(key, format!("must be more than 0s, e.g. {example}")));
        }
        if value > WebConfig::MAX_DURATION {
            return Err(bad(
                key,
                format!(
                    "{} is too long; use at most 24h, e.g. {example}",
                    humantime::format_duration(value)
                ),
            ));
        }
    }
    if !(1..=WebConfig::MAX_CONNECTIONS_LIMIT).contains(&web.max_connections) {
        return Err(bad(
            "web.max_connections",
            format!(
                "{} must be between 1 and {}, e.g. 512",
                web.max_connections,
                WebConfig::MAX_CONNECTIONS_LIMIT
            ),
        ));
    }
    let p = &web.telemetry_path;
    if !p.starts_with('/')
        || p.len() < 2
        || p.contains(|c: char| c.is_whitespace() || c == '?' || c == '#')
        || matches!(p.as_str(), "/healthz" | "/ready")
    {
        return Err(bad(
            "web.telemetry_path",
            format!(
                "'{p}' must be a path such as /metrics (starting with /, not /, /healthz or /ready)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters() {
        for ok in [
            "info",
            "DEBUG",
            "off",
            "warn,asc_perf_exporter=debug",
            "a::b=trace",
        ] {
            check_log_filter(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["verbose", "", "info,", "info,verbose", "x=loud", "=info"] {
            let e = check_log_filter(bad).unwrap_err();
            assert!(e.contains("error, warn, info"), "{bad}: {e}");
        }
    }
}
