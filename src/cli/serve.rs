//! `serve`: the exporter. Configuration comes from a YAML file, the
//! environment and flags (flags win), see [`crate::config`]; `--demo` runs
//! it against an in-process simulated App Store Connect. Validation
//! warnings are logged once logging is set up (on stderr with
//! `--print-config`).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::Context;
use super::logging::{LogSetup, init_logging};
use crate::config::{self, ConfigError, Loaded, Loader, PRIVATE_KEY_ENV, SettingArgs};
use crate::service::{self, Demo, ServeOptions};

/// Arguments of `serve`. Every setting can also be given in the config file
/// or the environment; see `docs/configuration.md`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// YAML configuration file.
    #[arg(
        long,
        visible_alias = "config.file",
        env = "ASC_EXPORTER_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Run against a built-in simulated App Store Connect (no Apple account
    /// needed); refreshes every 30 s unless a source sets refresh.interval.
    #[arg(long)]
    pub demo: bool,
    /// Seed of the demo account.
    #[arg(long, default_value_t = 42, requires = "demo")]
    pub demo_seed: u64,
    /// Number of apps in the demo account.
    #[arg(long, default_value_t = 3, requires = "demo", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub demo_apps: u64,
    /// Number of demo accounts (each its own simulator and key, `demo-apps`
    /// apps each, named demo-1, demo-2, …; one account is `default`).
    #[arg(long, default_value_t = 1, requires = "demo", value_parser = clap::value_parser!(u64).range(1..=16))]
    pub demo_accounts: u64,
    /// Address of the demo simulator (its `/_sim` admin API switches scenarios).
    #[arg(
        long,
        default_value = "127.0.0.1:0",
        requires = "demo",
        value_name = "ADDR"
    )]
    pub demo_listen: SocketAddr,
    /// Print the resolved configuration as YAML (it reads back as a config
    /// file) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Every setting's flag, made from the declaration in `crate::config`.
    #[command(flatten)]
    pub settings: SettingArgs,
}

/// Resolves the configuration: (`--demo` defaults) < file < environment
/// (`env` looks variables up) < flags, global options included. `Ok` holds
/// the warnings to log once logging is set up.
pub fn resolve<V: Into<OsString>>(
    args: &ServeArgs,
    ctx: &Context,
    env: impl Fn(&str) -> Option<V>,
) -> Result<Loaded, ConfigError> {
    let mut loader = Loader::new();
    if args.demo {
        loader = loader.demo();
    }
    if let Some(path) = &args.config {
        loader = loader.file(path)?;
    }
    loader = loader.env(env)?;
    // Global options given on the command line (credentials, --timeout).
    for (id, raw) in &ctx.explicit {
        if let Some(s) = config::all().find(|s| s.global == id.as_str()) {
            loader = loader.flag_values(s.flag, std::slice::from_ref(raw))?;
        }
    }
    loader = args.settings.apply(loader)?;
    loader.load()
}

/// The `.p8` contents from `ASC_PRIVATE_KEY`: blank is unset, invalid UTF-8
/// an error (a PEM key is ASCII), never echoed.
fn inline_key() -> anyhow::Result<Option<String>> {
    match std::env::var_os(PRIVATE_KEY_ENV) {
        None => Ok(None),
        Some(v) => match v.into_string() {
            Ok(s) if s.trim().is_empty() => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(_) => anyhow::bail!(
                "environment variable {PRIVATE_KEY_ENV} is not valid UTF-8; it must hold the .p8 file's PEM text (or unset it and use ASC_PRIVATE_KEY_PATH)"
            ),
        },
    }
}

pub async fn run(args: ServeArgs, ctx: &Context) -> anyhow::Result<()> {
    let Loaded { config, warnings } = resolve(&args, ctx, |k| std::env::var_os(k))?;
    if args.print_config {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        // Header values are API keys: never printed.
        return ctx.emit(&config.to_yaml());
    }
    init_logging(&LogSetup::serve(&config));
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let private_key_inline = inline_key()?;
    let demo = args.demo.then_some(Demo {
        seed: args.demo_seed,
        apps: args.demo_apps as usize,
        listen: args.demo_listen,
        accounts: args.demo_accounts as usize,
    });
    if demo.is_none() && config.accounts.is_empty() {
        // Without credentials there is nothing to export yet: say what is
        // missing, and that the demo needs none. (`accounts` entries were
        // checked by the configuration's validation.)
        let missing = if config.asc.key_id.is_none() {
            Some(crate::asc::AuthError::MissingKeyId)
        } else if private_key_inline.is_none() && config.asc.private_key_path.is_none() {
            Some(crate::asc::AuthError::MissingKey)
        } else {
            None
        };
        if let Some(e) = missing {
            anyhow::bail!(
                "{e}; to try the exporter without an Apple account, run `serve --demo` (a built-in simulated App Store Connect)"
            );
        }
    }
    let running = service::start(ServeOptions {
        config,
        private_key_inline,
        demo,
    })
    .await?;
    eprintln!(
        "asc-perf-exporter {} serving {}",
        env!("CARGO_PKG_VERSION"),
        running.metrics_urls().join(", ")
    );
    if let Some(sim) = &running.sim {
        eprintln!(
            "demo: simulated App Store Connect at {} (scenarios: {}/_sim/scenario)",
            sim.base_url(),
            sim.base_url()
        );
    }
    service::wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
