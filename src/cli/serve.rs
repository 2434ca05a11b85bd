//! `serve`: the exporter. Configuration comes from a YAML file, the
//! environment and flags (flags win), see [`crate::config`]; `--demo` runs
//! it against an in-process simulated App Store Connect.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::Context;
use crate::config::{Config, Loader, PRIVATE_KEY_ENV, Source};
use crate::service::{self, Demo, ServeOptions};

/// Arguments of `serve`. Every setting can also be given in the config file
/// or the environment; see `docs/configuration.md`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// YAML configuration file.
    #[arg(long, env = "ASC_EXPORTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run against a built-in simulated App Store Connect (no Apple account needed).
    #[arg(long)]
    pub demo: bool,
    /// Seed of the demo account.
    #[arg(long, default_value_t = 42, requires = "demo")]
    pub demo_seed: u64,
    /// Number of apps in the demo account.
    #[arg(long, default_value_t = 3, requires = "demo", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub demo_apps: u64,
    /// Address of the demo simulator (its `/_sim` admin API switches scenarios).
    #[arg(
        long,
        default_value = "127.0.0.1:0",
        requires = "demo",
        value_name = "ADDR"
    )]
    pub demo_listen: SocketAddr,
    /// Print the resolved configuration as YAML and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Address to serve /metrics on [config: listen, env: ASC_EXPORTER_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for the last good data [state_dir].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Log level or RUST_LOG-style filter [log.level]; RUST_LOG wins.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// text or json [log.format].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Time between refreshes, e.g. 1h, 30m [refresh.interval].
    #[arg(long, value_name = "DURATION")]
    pub refresh_interval: Option<String>,
    /// Random extra delay as a fraction of the interval [refresh.jitter].
    #[arg(long, value_name = "FRACTION")]
    pub refresh_jitter: Option<String>,
    /// Apps refreshed in parallel [refresh.concurrency].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,
    /// Only these app ids or bundle ids, comma-separated or repeated [refresh.apps].
    #[arg(long = "app", value_name = "ID")]
    pub apps: Vec<String>,
    /// Newest builds per app [refresh.builds_per_app].
    #[arg(long, value_name = "N")]
    pub builds_per_app: Option<String>,
    /// Fetch build-level metrics: true/false [refresh.build_metrics].
    #[arg(long, value_name = "BOOL")]
    pub build_metrics: Option<String>,
    /// Skip optional work below this share of the hourly budget [refresh.rate_limit_reserve].
    #[arg(long, value_name = "FRACTION")]
    pub rate_limit_reserve: Option<String>,
    /// Only these devices, e.g. all_iphones or all_* (repeatable) [refresh.devices].
    #[arg(long = "device", value_name = "DEVICE")]
    pub devices: Vec<String>,
    /// Keep percentage breakdowns: true/false [refresh.percentage_breakdowns].
    #[arg(long, value_name = "BOOL")]
    pub percentage_breakdowns: Option<String>,
    /// Fetch diagnostic signatures: true/false [diagnostics.enabled].
    #[arg(long, value_name = "BOOL")]
    pub diagnostics: Option<String>,
    /// DISK_WRITES, HANGS, LAUNCHES (comma-separated or repeated) [diagnostics.types].
    #[arg(long = "diagnostic-type", value_name = "TYPE")]
    pub diagnostic_types: Vec<String>,
    /// Top signatures by weight per build [diagnostics.top].
    #[arg(long, value_name = "N")]
    pub signatures_per_build: Option<String>,
    /// Fetch the logs of the top signatures: true/false [diagnostics.logs].
    #[arg(long, value_name = "BOOL")]
    pub logs: Option<String>,
    /// Signatures per build whose logs are fetched [diagnostics.logs_top].
    #[arg(long, value_name = "N")]
    pub logs_top: Option<String>,
    /// Logs per signature [diagnostics.logs_per_signature].
    #[arg(long, value_name = "N")]
    pub logs_per_signature: Option<String>,
    /// Retries on 429/5xx/network errors [asc.max_retries].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<String>,
    /// Serve the Prometheus exposition on /metrics: true/false [prometheus.enabled].
    #[arg(long, value_name = "BOOL")]
    pub prometheus: Option<String>,
    /// Push metrics (and diagnostic logs) over OTLP: true/false [otlp.enabled].
    #[arg(long, value_name = "BOOL")]
    pub otlp: Option<String>,
    /// OTLP protocol: grpc or http/protobuf [otlp.protocol].
    #[arg(long, value_name = "PROTOCOL")]
    pub otlp_protocol: Option<String>,
    /// OTLP collector base URL, e.g. http://localhost:4317 [otlp.endpoint].
    /// Headers (API keys) are set in the file or ASC_EXPORTER_OTLP_HEADERS only.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Timeout of one OTLP export request, e.g. 10s [otlp.timeout].
    #[arg(long, value_name = "DURATION")]
    pub otlp_timeout: Option<String>,
    /// OTLP compression: gzip or none [otlp.compression].
    #[arg(long, value_name = "COMPRESSION")]
    pub otlp_compression: Option<String>,
    /// Time between OTLP metric exports, e.g. 60s [otlp.interval].
    #[arg(long, value_name = "DURATION")]
    pub otlp_interval: Option<String>,
    /// Send diagnostic logs as OTLP log records: true/false [otlp.logs].
    #[arg(long, value_name = "BOOL")]
    pub otlp_logs: Option<String>,
    /// Extra OTLP resource attributes, key=value,... [otlp.resource_attributes].
    #[arg(long, value_name = "K=V,...")]
    pub otlp_resource_attributes: Option<String>,
}

/// Resolves the configuration: demo defaults < file < env < flags.
pub fn resolve(
    args: &ServeArgs,
    ctx: &Context,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Config> {
    let mut loader = Loader::new();
    if args.demo {
        // Demo data changes only when a scenario is switched: refresh often.
        loader = loader.value("refresh.interval", "30s".into(), Source::Flag("--demo"));
        loader = loader.value("refresh.jitter", 0.0.into(), Source::Flag("--demo"));
    }
    if let Some(path) = &args.config {
        loader = loader.file(path)?;
    }
    loader = loader.env(env)?;
    let g = &ctx.global;
    let explicit = |id: &str| ctx.explicit.iter().any(|e| e == id);
    if explicit("issuer_id")
        && let Some(v) = &g.issuer_id
    {
        loader = loader.flag("--issuer-id", v)?;
    }
    if explicit("key_id")
        && let Some(v) = &g.key_id
    {
        loader = loader.flag("--key-id", v)?;
    }
    if explicit("private_key_path")
        && let Some(v) = &g.private_key_path
    {
        loader = loader.flag("--private-key-path", &v.to_string_lossy())?;
    }
    if explicit("base_url") {
        loader = loader.flag("--base-url", &g.base_url)?;
    }
    if explicit("timeout") {
        loader = loader.flag("--timeout", &format!("{}s", g.timeout))?;
    }
    let flags: [(&'static str, &Option<String>); 29] = [
        ("--prometheus", &args.prometheus),
        ("--otlp", &args.otlp),
        ("--otlp-protocol", &args.otlp_protocol),
        ("--otlp-endpoint", &args.otlp_endpoint),
        ("--otlp-timeout", &args.otlp_timeout),
        ("--otlp-compression", &args.otlp_compression),
        ("--otlp-interval", &args.otlp_interval),
        ("--otlp-logs", &args.otlp_logs),
        ("--otlp-resource-attributes", &args.otlp_resource_attributes),
        ("--listen", &args.listen),
        ("--state-dir", &args.state_dir),
        ("--log-level", &args.log_level),
        ("--log-format", &args.log_format),
        ("--refresh-interval", &args.refresh_interval),
        ("--refresh-jitter", &args.refresh_jitter),
        ("--concurrency", &args.concurrency),
        ("--builds-per-app", &args.builds_per_app),
        ("--build-metrics", &args.build_metrics),
        ("--rate-limit-reserve", &args.rate_limit_reserve),
        ("--percentage-breakdowns", &args.percentage_breakdowns),
        (
            "--device",
            &(!args.devices.is_empty()).then(|| args.devices.join(",")),
        ),
        ("--diagnostics", &args.diagnostics),
        ("--signatures-per-build", &args.signatures_per_build),
        ("--logs", &args.logs),
        ("--logs-top", &args.logs_top),
        ("--logs-per-signature", &args.logs_per_signature),
        ("--max-retries", &args.max_retries),
        (
            "--app",
            &(!args.apps.is_empty()).then(|| args.apps.join(",")),
        ),
        (
            "--diagnostic-type",
            &(!args.diagnostic_types.is_empty()).then(|| args.diagnostic_types.join(",")),
        ),
    ];
    for (flag, value) in flags {
        if let Some(v) = value {
            loader = loader.flag(flag, v)?;
        }
    }
    Ok(loader.build()?)
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if config.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn run(args: ServeArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = resolve(&args, ctx, |k| std::env::var(k).ok())?;
    if args.print_config {
        // Header values are API keys: never printed.
        let mut shown = config.clone();
        shown.otlp = shown.otlp.redacted();
        return ctx
            .emit(&serde_norway::to_string(&shown).context("cannot render the configuration")?);
    }
    init_logging(&config);
    let private_key_inline = std::env::var(PRIVATE_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty());
    let demo = args.demo.then_some(Demo {
        seed: args.demo_seed,
        apps: args.demo_apps as usize,
        listen: args.demo_listen,
    });
    if demo.is_none() && config.asc.key_id.is_none() {
        return Err(crate::asc::AuthError::MissingKeyId.into());
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
