//! `simulate`: run the simulated App Store Connect ([`crate::sim`]) until
//! Ctrl-C, so that every other command (and the exporter) can be tried
//! without an Apple account.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use clap::Args;
use serde::Serialize;

use super::Context;
use crate::asc::KeySource;
use crate::asc::auth::{generate_key_pair, public_key_pem, write_private_key};
use crate::sim::{self, Fault, Fixture, Scenario, SimConfig};

/// Key id the simulator announces when it generates its own key.
pub const SIM_KEY_ID: &str = "SIMKEY0001";
/// Issuer id the simulator announces when it generates its own key.
pub const SIM_ISSUER_ID: &str = "00000000-0000-4000-8000-00000000a5c1";

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Seed of the synthetic account (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of synthetic apps.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub apps: u64,
    /// Marketing versions per app.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub versions: u64,
    /// SPKI PEM public key that verifies client tokens. Default: derived from
    /// the configured private key, or a freshly generated pair.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Where a generated private key is written (mode 0600).
    #[arg(long, value_name = "FILE", default_value = "./sim-key.p8")]
    pub write_key: PathBuf,
    /// Serve a saved response for one id: ROUTE:ID=FILE with ROUTE one of
    /// app-metrics, build-metrics, signatures, logs, app, app-builds,
    /// app-overview (repeatable).
    #[arg(long = "fixture", value_name = "ROUTE:ID=FILE")]
    pub fixtures: Vec<String>,
    /// Directory that relative fixture paths are resolved against.
    #[arg(long, value_name = "DIR")]
    pub fixtures_dir: Option<PathBuf>,
    /// Hourly request budget reported in X-Rate-Limit.
    #[arg(long, default_value_t = 3600)]
    pub hour_limit: u64,
    /// Per-minute request budget reported in X-Rate-Limit (Apple's is 150);
    /// 0 = no minute window, e.g. to load a benchmark account at full speed.
    #[arg(long, default_value_t = 150, value_name = "N")]
    pub minute_limit: u64,
    /// The account at start: baseline (healthy, no insight), regression (a
    /// new version regresses sharply) or mixed (standing insights of a
    /// lived-in account); switch later with PUT /_sim/scenario.
    #[arg(long, default_value = "baseline", value_parser = parse_scenario)]
    pub scenario: Scenario,
    /// Inject a fault from the start, in the JSON form of POST /_sim/faults,
    /// e.g. '{"path_prefix":"/v1/apps","kind":"html_502","times":3}'
    /// (repeatable; every kind is in docs/simulator.md).
    #[arg(long = "fault", value_name = "JSON")]
    pub faults: Vec<String>,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::parse(s)
        .ok_or_else(|| format!("'{s}' is not a scenario: baseline, regression or mixed"))
}

/// What `simulate --output json` prints once listening.
#[derive(Debug, Serialize)]
pub struct SimulateInfo {
    pub base_url: String,
    /// Set when the simulator generated its own key pair.
    pub private_key_path: Option<String>,
    pub key_id: Option<String>,
    pub issuer_id: Option<String>,
    pub app_ids: Vec<String>,
}

/// Starts the simulator and waits for Ctrl-C (or SIGTERM).
pub async fn run(args: SimulateArgs, ctx: &Context) -> anyhow::Result<()> {
    // Which public key verifies tokens, and whether we generated the pair.
    // A generated private key is written only once the server is up, so a
    // failed start (bad fixture, port in use) leaves existing files alone.
    let (public, generated_private) = if let Some(path) = &args.public_key {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read public key {}", path.display()))?;
        (pem, None)
    } else if let Some(source) = ctx.key_source() {
        (public_key_pem(&source)?, None)
    } else {
        let (private, public) = generate_key_pair();
        (public, Some(private))
    };
    let generated = generated_private.is_some();

    let mut config = SimConfig::new(public);
    config.seed = args.seed;
    config.apps = usize::try_from(args.apps).unwrap_or(1);
    config.versions = usize::try_from(args.versions).unwrap_or(8);
    config.hour_limit = args.hour_limit;
    config.minute_limit = args.minute_limit;
    if generated {
        config.key_id = Some(SIM_KEY_ID.to_string());
        config.issuer_id = Some(SIM_ISSUER_ID.to_string());
    } else {
        // Check the kid/iss the user configured, like Apple would.
        config.key_id = ctx.global.key_id.clone().filter(|k| !k.trim().is_empty());
        config.issuer_id = ctx.issuer_id();
    }
    for spec in &args.fixtures {
        config
            .fixtures
            .push(Fixture::parse_spec(spec, args.fixtures_dir.as_deref()).map_err(|e| anyhow!(e))?);
    }

    let faults = args
        .faults
        .iter()
        .map(|spec| Fault::from_json(spec).map_err(|e| anyhow!("invalid --fault {spec}: {e}")))
        .collect::<anyhow::Result<Vec<Fault>>>()?;

    let handle = sim::start(config, args.listen)
        .await
        .with_context(|| format!("cannot start the simulator on {}", args.listen))?;
    handle.control.set_scenario(args.scenario);
    for fault in faults {
        handle.control.inject(fault).map_err(|e| anyhow!(e))?;
    }
    let base_url = handle.base_url();
    if let Some(private) = &generated_private {
        write_private_key(&args.write_key, private).with_context(|| {
            format!(
                "cannot write the generated private key to {}",
                args.write_key.display()
            )
        })?;
    }
    let key_path = generated.then(|| {
        std::fs::canonicalize(&args.write_key)
            .unwrap_or_else(|_| args.write_key.clone())
            .display()
            .to_string()
    });
    let info = SimulateInfo {
        base_url: base_url.clone(),
        private_key_path: key_path.clone(),
        key_id: generated.then(|| SIM_KEY_ID.to_string()),
        issuer_id: generated.then(|| SIM_ISSUER_ID.to_string()),
        app_ids: handle.control.app_ids(),
    };
    if ctx.json() {
        ctx.emit_json(&info)?;
    } else {
        let mut out = String::new();
        let _ = writeln!(out, "Simulated App Store Connect listening on {base_url}");
        let _ = writeln!(out, "Apps: {}", info.app_ids.join(", "));
        let _ = writeln!(
            out,
            "Scenario: {} (switch: curl -X PUT -d '{{\"scenario\":\"regression\"}}' {base_url}/_sim/scenario)",
            args.scenario.as_str()
        );
        match &key_path {
            Some(path) => {
                let _ = writeln!(
                    out,
                    "Generated a key pair; point the CLI at the simulator with:\n"
                );
                let _ = writeln!(out, "export ASC_API_BASE_URL={base_url}");
                let _ = writeln!(out, "export ASC_ISSUER_ID={SIM_ISSUER_ID}");
                let _ = writeln!(out, "export ASC_KEY_ID={SIM_KEY_ID}");
                let _ = writeln!(out, "export ASC_PRIVATE_KEY_PATH={path}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "Tokens are verified with the configured key; point the CLI at it with:\n"
                );
                let _ = writeln!(out, "export ASC_API_BASE_URL={base_url}");
            }
        }
        let _ = writeln!(out, "\nPress Ctrl-C to stop.");
        ctx.emit(&out)?;
    }
    if let Some(KeySource::Inline(_)) = ctx.key_source() {
        tracing::debug!("verifying tokens with the key from ASC_PRIVATE_KEY");
    }
    wait_for_shutdown().await;
    tracing::info!("shutting down the simulator");
    handle.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
