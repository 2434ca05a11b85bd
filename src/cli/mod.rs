//! The `asc-perf-exporter` command line (clap 4).
//!
//! Layout: this module holds the clap definitions, credential resolution,
//! dispatch and the error → exit-code mapping; each command group lives in
//! its own file with an `Args` struct and an async `run(args, &Context)`.
//! Adding a command (e.g. `serve`) means: one variant in [`Command`], one
//! arm in [`Command::run`], one file. [`logging`] is the one logging setup
//! of every command.
//!
//! Exit codes: 0 on success, 1 on any failure (exactly one `error: …` line
//! on stderr), 2 on usage errors (clap's own).

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::asc::api::DEFAULT_BASE_URL;
use crate::asc::client::parse_base_url;
use crate::asc::{AscClient, AuthConfig, AuthError, ClientConfig, KeySource, TokenProvider};

pub mod apps;
pub mod diagnostics;
pub mod insights;
pub mod logging;
pub mod overview;
pub mod parse;
pub mod render;
pub mod serve;
pub mod simulate;
pub mod token;

/// Environment variable holding the `.p8` key *contents* (env only: a key
/// never appears on a command line, where `ps` and shell history see it).
pub const ENV_PRIVATE_KEY: &str = "ASC_PRIVATE_KEY";

const AFTER_HELP: &str = "\
Credentials (App Store Connect > Users and Access > Integrations > Keys):
  ASC_ISSUER_ID          issuer id of a team key (leave unset for an individual key)
  ASC_KEY_ID             the 10-character key id
  ASC_PRIVATE_KEY_PATH   path to the AuthKey_XXXXXXXXXX.p8 file, or
  ASC_PRIVATE_KEY        the .p8 contents themselves (environment only)
  ASC_API_BASE_URL       API base URL (default https://api.appstoreconnect.apple.com)

Logging goes to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.";

/// App Store Connect Power & Performance metrics and diagnostics from the
/// command line, and a Prometheus/OTLP exporter.
#[derive(Debug, Parser)]
#[command(name = "asc-perf-exporter", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables and trees for people.
    Text,
    /// Pretty-printed JSON of the decoded values, for scripts.
    Json,
}

/// Options shared by every command; each can also come from the environment.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Issuer id of a team API key; absent means an individual key (`sub: user`).
    #[arg(
        long,
        visible_alias = "asc.issuer-id",
        alias = "asc.issuer_id",
        global = true,
        env = "ASC_ISSUER_ID",
        hide_env_values = true,
        value_name = "UUID"
    )]
    pub issuer_id: Option<String>,

    /// Key id (10 characters), sent as the JWT `kid`.
    #[arg(
        long,
        visible_alias = "asc.key-id",
        alias = "asc.key_id",
        global = true,
        env = "ASC_KEY_ID",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub key_id: Option<String>,

    /// Path to the `.p8` private key (or put its contents in ASC_PRIVATE_KEY).
    #[arg(
        long,
        visible_alias = "asc.private-key-path",
        alias = "asc.private_key_path",
        global = true,
        env = "ASC_PRIVATE_KEY_PATH",
        hide_env_values = true,
        value_name = "FILE",
        value_parser = path_or_empty
    )]
    pub private_key_path: Option<PathBuf>,

    /// App Store Connect API base URL (point it at `simulate` for a local run).
    #[arg(
        long,
        visible_alias = "asc.base-url",
        alias = "asc.base_url",
        global = true,
        env = "ASC_API_BASE_URL",
        default_value = DEFAULT_BASE_URL,
        value_name = "URL"
    )]
    pub base_url: String,

    /// Output format.
    #[arg(
        long,
        short = 'o',
        global = true,
        env = "ASC_OUTPUT",
        value_enum,
        default_value_t = OutputFormat::Text
    )]
    pub output: OutputFormat,

    /// Per-request timeout: a duration such as 60s or 1m 30s, or a number of
    /// seconds (more than 0, at most 1h). `serve` also reads
    /// ASC_EXPORTER_TIMEOUT.
    #[arg(
        long,
        visible_alias = "asc.timeout",
        global = true,
        env = "ASC_TIMEOUT",
        value_name = "DURATION",
        default_value = "60s",
        value_parser = parse_timeout
    )]
    pub timeout: Duration,
}

/// `--timeout` / `ASC_TIMEOUT`: the one duration format of the
/// configuration ([`crate::config::parse_duration`]), within `asc.timeout`'s
/// bounds.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(s)?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!(
            "{} must be more than 0s and at most 1h, e.g. 60s",
            humantime::format_duration(d)
        ));
    }
    Ok(d)
}

/// Accepts an empty path (an exported but empty `ASC_PRIVATE_KEY_PATH`, as
/// compose files produce) so that it counts as "not set", like the other
/// empty credential variables, instead of a usage error.
fn path_or_empty(s: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(s))
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a signed App Store Connect JWT (generate-token.py parity).
    Token(token::TokenArgs),
    /// List apps: id, name, bundle id, SKU.
    Apps(apps::AppsArgs),
    /// List an app's builds, newest first, with marketing versions.
    Builds(apps::BuildsArgs),
    /// Show an app's regressions and trending-up metrics with their data
    /// (get-metrics-insights.py parity).
    Insights(insights::InsightsArgs),
    /// Show a build's diagnostic signatures and the logs of the top ones
    /// (get-diagnostics-logs.py parity).
    Diagnostics(diagnostics::DiagnosticsArgs),
    /// Show an app's performance overview (API 4.5): latest values and
    /// goals per category and section, insights, top call sites.
    Overview(overview::OverviewArgs),
    /// Read saved perfPowerMetrics / diagnosticLogs / performanceOverviews
    /// files (ppparser parity).
    #[command(subcommand)]
    Parse(parse::ParseCommand),
    /// Run a simulated App Store Connect API locally until Ctrl-C.
    Simulate(simulate::SimulateArgs),
    /// Run the exporter: refresh App Store Connect data on an interval and
    /// serve it on /metrics (`serve --demo` uses a built-in simulator).
    Serve(Box<serve::ServeArgs>),
}

impl Command {
    /// Runs the command.
    pub async fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self {
            Command::Token(a) => token::run(a, ctx).await,
            Command::Apps(a) => apps::run_apps(a, ctx).await,
            Command::Builds(a) => apps::run_builds(a, ctx).await,
            Command::Insights(a) => insights::run(a, ctx).await,
            Command::Diagnostics(a) => diagnostics::run(a, ctx).await,
            Command::Overview(a) => overview::run(a, ctx).await,
            Command::Parse(c) => parse::run(c, ctx).await,
            Command::Simulate(a) => simulate::run(a, ctx).await,
            Command::Serve(a) => serve::run(*a, ctx).await,
        }
    }

    /// Log level when `RUST_LOG` is unset: quiet for one-shot commands,
    /// `info` for long-running servers.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Simulate(_) | Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

/// What every command gets: the global options and helpers built on them.
#[derive(Debug, Clone)]
pub struct Context {
    pub global: GlobalArgs,
    /// The global options that carry a setting (see
    /// [`crate::config::Setting::global`]) given on the command line (not
    /// from the environment or defaults): `(clap id, raw value)`, so that
    /// `serve` layers them as flags over its file and environment.
    pub explicit: Vec<(String, OsString)>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        Self {
            global,
            explicit: Vec::new(),
        }
    }

    pub fn output(&self) -> OutputFormat {
        self.global.output
    }

    pub fn json(&self) -> bool {
        self.global.output == OutputFormat::Json
    }

    /// The configured key: the contents in `ASC_PRIVATE_KEY` first, then
    /// `--private-key-path` / `ASC_PRIVATE_KEY_PATH` (the same rule as
    /// `serve`); `None` if neither.
    pub fn key_source(&self) -> Option<KeySource> {
        let inline = std::env::var(ENV_PRIVATE_KEY).ok();
        crate::asc::auth::choose_key(inline.as_deref(), self.global.private_key_path.as_deref())
    }

    /// Issuer id, `None` for individual keys (empty counts as absent).
    pub fn issuer_id(&self) -> Option<String> {
        self.global
            .issuer_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Auth configuration from the global options; names the missing
    /// setting when incomplete.
    pub fn auth_config(&self) -> Result<AuthConfig, AuthError> {
        let key = self.key_source().ok_or(AuthError::MissingKey)?;
        let key_id = self
            .global
            .key_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::MissingKeyId)?;
        Ok(AuthConfig::new(self.issuer_id(), key_id, key))
    }

    /// A token provider (loads and checks the key).
    pub fn token_provider(&self, lifetime: Option<Duration>) -> Result<TokenProvider, AuthError> {
        let mut config = self.auth_config()?;
        if let Some(l) = lifetime {
            config.lifetime = l;
        }
        TokenProvider::new(config)
    }

    /// An API client for the configured base URL and credentials.
    pub fn client(&self) -> anyhow::Result<AscClient> {
        let base_url = parse_base_url(&self.global.base_url)?;
        let auth = self.token_provider(None)?;
        let config = ClientConfig {
            base_url,
            request_timeout: self.global.timeout,
            connect_timeout: self.global.timeout.min(Duration::from_secs(10)),
            ..ClientConfig::default()
        };
        Ok(AscClient::new(config, auth)?)
    }

    /// Writes command output to stdout, terminal control characters from
    /// files and API responses escaped ([`render::escape_text`]). A closed
    /// pipe (`| head`) is not an error.
    pub fn emit(&self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let text = render::escape_text(text);
        stdout_result(out.write_all(text.as_bytes()).and_then(|_| out.flush()))
    }

    /// Streamed text output (for big documents): what is written is
    /// escaped like [`Context::emit`]; call [`TextOut::finish`] through
    /// [`Context::finish`] at the end.
    pub fn text_out(&self) -> render::TextOut<std::io::BufWriter<std::io::StdoutLock<'static>>> {
        render::TextOut::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout().lock(),
        ))
    }

    /// Ends streamed text output: flushes and reports a write error (a
    /// closed pipe is not one).
    pub fn finish(
        &self,
        out: render::TextOut<std::io::BufWriter<std::io::StdoutLock<'static>>>,
    ) -> anyhow::Result<()> {
        stdout_result(out.finish())
    }

    /// Emits `value` as pretty JSON, streamed, with terminal controls
    /// escaped as `\uXXXX` ([`render::write_json`]).
    pub fn emit_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        let written = render::write_json(&mut out, value).map_err(|e| match e.io_error_kind() {
            Some(kind) => std::io::Error::from(kind),
            None => std::io::Error::other(e),
        });
        stdout_result(written.and_then(|_| out.flush()))
    }
}

/// A write to stdout: a closed pipe (`| head`) is success.
fn stdout_result(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

/// Writes `bytes` to `path`, naming the file on failure.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// One line for stderr: the error and its causes joined by `: `, with any
/// line breaks folded so the message stays on one line.
pub fn error_line(e: &anyhow::Error) -> String {
    let msg = format!("{e:#}");
    let folded: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // File names and JSON paths come from untrusted input.
    format!("error: {}", render::escape_text(&folded.join(" ")))
}

/// Parses a command line (`argv[0]` first): the command and its context.
/// A usage error is clap's (exit code 2, printed by [`clap::Error::exit`]).
pub fn parse<I, T>(argv: I) -> Result<(Command, Context), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
    let matches = Cli::command().try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let sub = matches.subcommand().map(|(_, m)| m);
    let mut explicit = Vec::new();
    for s in crate::config::all().filter(|s| !s.global.is_empty()) {
        let given = [sub, Some(&matches)].into_iter().flatten().find(|m| {
            m.try_get_raw(s.global).is_ok()
                && m.value_source(s.global) == Some(ValueSource::CommandLine)
        });
        if let Some(raw) = given
            .and_then(|m| m.get_raw(s.global))
            .and_then(|mut v| v.next())
        {
            explicit.push((s.global.to_string(), raw.to_os_string()));
        }
    }
    let mut ctx = Context::new(cli.global);
    ctx.explicit = explicit;
    Ok((cli.command, ctx))
}

/// Entry point of the binary: parse, run on a tokio runtime, map errors to
/// exit codes.
pub fn main() -> ExitCode {
    let (command, ctx) = match parse(std::env::args_os()) {
        Ok(v) => v,
        Err(e) => {
            // Help and --version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // `serve` sets up logging from its configuration.
    if !matches!(command, Command::Serve(_)) {
        logging::init_logging(&logging::LogSetup::command(command.default_log_level()));
    }
    // A bug must still end in one `error:` line and exit 1, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{at}: {}; please report this bug",
            render::escape_text(&msg.replace('\n', " "))
        );
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(command.run(&ctx))
    }));
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{}", error_line(&e));
            ExitCode::FAILURE
        }
        // The panic hook already printed the one line.
        Err(_) => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn error_line_is_one_line() {
        let e = anyhow::anyhow!("inner\nsecond line").context("outer");
        assert_eq!(error_line(&e), "error: outer: inner second line");
    }
}
