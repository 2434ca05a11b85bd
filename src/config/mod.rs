//! The exporter's configuration: every setting declared once, read from a
//! YAML file, environment variables and flags (flags win over the
//! environment, the environment over the file), validated at start.
//!
//! - [`settings`](mod@settings) declares each setting once, with the
//!   [`declare`] macro: its type, default, file key, environment variables,
//!   flag and doc. The serde structs ([`Config`] and its sections), the
//!   `serve` flags ([`SettingArgs`]), the environment layer and the table in
//!   `docs/configuration.md` ([`docs`]) are all made from it.
//! - [`value`] is how each type reads a value, the same from every source
//!   (`90`, `90s` and `1m 30s` are one duration everywhere).
//! - [`Loader`] merges the layers key by key (a file that sets one key
//!   leaves the others, and the `--demo` defaults, alone) and reads the
//!   result once with `serde_path_to_error`, so an error names the key, the
//!   source and what is expected; `validate` checks ranges and relations and
//!   returns warnings for the caller to log once logging is up.
//!
//! Why no configuration crate does the layering: figment's `Env` provider
//! reads only the process environment (so tests cannot give it one) and
//! converts invalid UTF-8 with `to_string_lossy`, silently; its YAML
//! provider goes through the deprecated `serde_yaml`, and last-wins on
//! duplicate keys when it builds its value tree. clap's `env` reports invalid
//! UTF-8 without naming the variable, reads only the process environment,
//! and a value from the environment fails with the flag's name. Neither
//! declares the file key, the variable, the flag and the docs in one place.
//! So clap (the builder API, driven by the declaration) parses the flags,
//! serde and `serde_path_to_error` read the merged tree, `serde_norway`
//! parses YAML (with a visitor that refuses repeated keys), and the
//! declaration macro ties them together.

mod args;
mod declare;
pub mod docs;
mod listen;
mod load;
mod settings;
mod validate;
pub mod value;

use std::net::SocketAddr;

pub use args::SettingArgs;
pub use declare::Setting;
pub use listen::resolve as resolve_listen_address;
pub use load::{ConfigError, Loaded, Loader, Source, all, setting, setting_for_flag};
pub use settings::*;
pub use validate::check_log_filter;
pub use value::{Kind, parse_duration};

/// The environment variable holding the private key itself (never a flag,
/// never logged).
pub const PRIVATE_KEY_ENV: &str = "ASC_PRIVATE_KEY";

/// Every `(key, environment variable, flag)` the loader knows: the
/// documented variable and flag (without `--`), each empty for a setting
/// that has none. [`Loader::flag`] takes the flag as given here.
pub fn settings() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    all().map(|s| (s.key, s.env.first().copied().unwrap_or(""), s.flag))
}

impl Config {
    /// Every address to listen on, resolved: `web.listen_addresses`, else
    /// `listen` (both in the exporter-toolkit syntax: `:9472`,
    /// `host:port`, `[::1]:9472`, `localhost:9472`). An address that does
    /// not resolve is left out; [`Loader::load`] and [`Config::check`]
    /// refuse such a configuration.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        let texts: Vec<&String> = if self.web.listen_addresses.is_empty() {
            vec![&self.listen]
        } else {
            self.web.listen_addresses.iter().collect()
        };
        texts
            .into_iter()
            .filter_map(|a| listen::resolve(a).ok())
            .collect()
    }

    /// The first of [`Config::listen_addrs`] (`0.0.0.0:9472` if none
    /// resolves, which a checked configuration rules out).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addrs()
            .into_iter()
            .next()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 9472)))
    }

    /// Validates a configuration made in code (the [`Loader`] does this for
    /// loaded ones); `Ok` holds the warnings.
    pub fn check(&self) -> Result<Vec<String>, ConfigError> {
        validate::validate(self, &|_| Some("the configuration".to_string()))
    }

    /// The configuration as YAML (`serve --print-config`), OTLP header
    /// values redacted. It reads back as a config file.
    pub fn to_yaml(&self) -> String {
        let mut shown = self.clone();
        shown.otlp = shown.otlp.redacted();
        serde_norway::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
