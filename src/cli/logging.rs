//! The one logging setup of every command: a `tracing` subscriber on stderr
//! (ANSI colours only on a terminal) with a filter and a line format.
//! `serve` takes both from its configuration (`log.level`, which already
//! holds `RUST_LOG` when that is set, and `log.format`); the other commands
//! take `RUST_LOG`, else their default level, as text without targets.

use tracing_subscriber::EnvFilter;

use crate::config::Config;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing's human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// What [`init_logging`] sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSetup {
    /// `EnvFilter` directives (`info`, `warn,asc_perf_exporter::refresh=debug`).
    pub filter: Option<String>,
    /// The directives used when `filter` is unset or does not parse.
    pub fallback: &'static str,
    pub format: LogFormat,
    /// Whether each line names its target (the module that logged).
    pub targets: bool,
}

impl LogSetup {
    /// A command other than `serve`: `RUST_LOG`, else `default_level`; text
    /// lines without targets.
    pub fn command(default_level: &'static str) -> Self {
        Self {
            filter: std::env::var(EnvFilter::DEFAULT_ENV).ok(),
            fallback: default_level,
            format: LogFormat::Text,
            targets: false,
        }
    }

    /// `serve`: `log.level` (validated; it holds `RUST_LOG` when set, else
    /// `info`), `log.format` (`json` or text), with targets.
    pub fn serve(config: &Config) -> Self {
        Self {
            filter: Some(config.log.level.clone()),
            fallback: "info",
            format: if config.log.format == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            },
            targets: true,
        }
    }

    /// The filter: `filter` when it parses, else `fallback`.
    fn env_filter(&self) -> EnvFilter {
        self.filter
            .as_deref()
            .and_then(|f| EnvFilter::builder().parse(f).ok())
            .unwrap_or_else(|| EnvFilter::new(self.fallback))
    }
}

/// Installs the global subscriber (once; later calls change nothing).
pub fn init_logging(setup: &LogSetup) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(setup.env_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(setup.targets);
    let _ = match setup.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_follows_log_level_and_log_format() {
        let mut config = Config::default();
        config.log.level = "warn,asc_perf_exporter::refresh=debug".into();
        config.log.format = "json".into();
        let s = LogSetup::serve(&config);
        assert_eq!(s.format, LogFormat::Json);
        assert!(s.targets);
        assert_eq!(
            s.env_filter().to_string(),
            "asc_perf_exporter::refresh=debug,warn"
        );
        config.log.format = "text".into();
        assert_eq!(LogSetup::serve(&config).format, LogFormat::Text);
    }

    #[test]
    fn a_filter_that_does_not_parse_falls_back() {
        let s = LogSetup {
            filter: Some("=[".into()),
            fallback: "warn",
            format: LogFormat::Text,
            targets: false,
        };
        assert_eq!(s.env_filter().to_string(), "warn");
        let unset = LogSetup { filter: None, ..s };
        assert_eq!(unset.env_filter().to_string(), "warn");
    }
}
