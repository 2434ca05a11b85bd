//! The `serve` flags, made from the declaration: one clap argument per
//! setting that has a flag and is not a global option (credentials and
//! `--timeout` are global options of every command, see `crate::cli`).
//!
//! Values are kept as raw text and read by the setting's type in the
//! [`super::Loader`], the same way as the file's and the environment's, so
//! a flag's format cannot differ from theirs. Booleans may be given bare
//! (`--diagnostics.logs` = `--diagnostics.logs=true`).

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, parser::ValueSource};

use super::{Kind, Loader, Setting, load};

/// The settings given as `serve` flags: `(setting, every value given)`.
#[derive(Debug, Clone, Default)]
pub struct SettingArgs {
    pub given: Vec<(&'static Setting, Vec<OsString>)>,
}

impl SettingArgs {
    /// Adds every given flag to `loader` (the flags layer).
    pub fn apply(&self, mut loader: Loader) -> Result<Loader, super::ConfigError> {
        for (s, values) in &self.given {
            loader = loader.flag_values(s.flag, values)?;
        }
        Ok(loader)
    }
}

/// The settings that are `serve` flags (not global options).
fn serve_flags() -> impl Iterator<Item = &'static Setting> {
    load::all().filter(|s| !s.flag.is_empty() && s.global.is_empty())
}

/// The `--help` text of a setting: its doc, then its key and variables.
pub fn help(s: &Setting) -> String {
    let mut h = s.doc_line();
    let mut tail = vec![format!("key: {}", s.key)];
    if !s.env.is_empty() {
        tail.push(format!("env: {}", s.env.join(", ")));
    }
    if s.is_list() {
        tail.push("repeatable, or comma-separated".into());
    }
    h.push_str(&format!(" [{}]", tail.join("; ")));
    h
}

fn arg(s: &'static Setting) -> Arg {
    let mut a = Arg::new(s.key)
        .long(s.flag)
        .value_name(s.kind.value_name())
        .value_parser(clap::value_parser!(OsString))
        .help(help(s))
        .help_heading(heading(s))
        .aliases(s.aliases.iter().copied());
    if s.key != s.flag {
        // flag = key: `--refresh.app_timeout` works as well.
        a = a.alias(s.key);
    }
    match s.kind {
        Kind::List => a.action(ArgAction::Append).num_args(1),
        Kind::Bool => a
            .action(ArgAction::Set)
            .num_args(0..=1)
            .default_missing_value("true"),
        _ => a.action(ArgAction::Set).num_args(1),
    }
}

fn heading(s: &Setting) -> &'static str {
    match s.key.split_once('.') {
        Some(("log", _)) => "Logging",
        Some(("asc", _)) => "App Store Connect",
        Some(("refresh", _)) => "Refresh",
        Some(("diagnostics", _)) => "Diagnostics",
        Some(("prometheus", _)) => "Prometheus",
        Some(("otlp", _)) => "OpenTelemetry (OTLP)",
        Some(("web", _)) => "Web server",
        _ => "Exporter",
    }
}

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for s in serve_flags() {
            if m.value_source(s.key) != Some(ValueSource::CommandLine) {
                continue;
            }
            if let Some(values) = m.get_many::<OsString>(s.key) {
                given.push((s, values.cloned().collect()));
            }
        }
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SettingArgs {
    fn augment_args(cmd: Command) -> Command {
        serve_flags().fold(cmd, |c, s| c.arg(arg(s)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
