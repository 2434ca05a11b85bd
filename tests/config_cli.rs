//! The typed configuration through the real binary: `serve --print-config`
//! with the file, the environment and flags, the four configuration
//! findings of issue 11 (each reproduced), `--help` and usage errors. The
//! table-driven test of every setting is `tests/config.rs`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use asc_perf_exporter::config::docs;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_asc-perf-exporter");

fn lookup(v: &Value, key: &str) -> Value {
    docs::lookup(v, key)
        .cloned()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn bare() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear();
    c.stdin(Stdio::null());
    c
}

fn print_config(c: &mut Command) -> Value {
    let out = c.arg("--print-config").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_norway::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// The one error line of a failed start.
fn start_error(out: Output) -> String {
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn print_config_layers_file_env_and_flags_in_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "refresh:\n  interval: 2h\n  apps: [file.app]\n  concurrency: 2\nlog:\n  level: warn\nweb:\n  listen_addresses: [\"127.0.0.1:1\"]\n",
    );
    let v = print_config(
        bare()
            .args(["serve", "--config"])
            .arg(&path)
            .env("ASC_EXPORTER_REFRESH_INTERVAL", "90")
            .env("ASC_EXPORTER_APPS", "env.app")
            .env("ASC_EXPORTER_LISTEN", "127.0.0.1:2")
            .args([
                "--refresh.interval",
                "5m",
                "--app",
                "a",
                "--refresh.apps",
                "b",
            ])
            .args([
                "--web.listen-address",
                ":3",
                "--web.listen-address",
                "[::1]:3",
            ])
            .args(["--log.level", "debug", "--asc.key-id", "KEY"]),
    );
    assert_eq!(lookup(&v, "refresh.interval"), json!("5m"));
    assert_eq!(lookup(&v, "refresh.apps"), json!(["a", "b"]));
    assert_eq!(lookup(&v, "refresh.concurrency"), json!(2));
    assert_eq!(lookup(&v, "log.level"), json!("debug"));
    assert_eq!(lookup(&v, "web.listen_addresses"), json!([":3", "[::1]:3"]));
    assert_eq!(lookup(&v, "listen"), json!(":3"));
    assert_eq!(lookup(&v, "asc.key_id"), json!("KEY"));
    // The environment over the file.
    let v = print_config(
        bare()
            .args(["serve", "--config.file"])
            .arg(&path)
            .env("ASC_EXPORTER_REFRESH_INTERVAL", "90")
            .env("ASC_EXPORTER_LISTEN", "127.0.0.1:2"),
    );
    assert_eq!(lookup(&v, "refresh.interval"), json!("1m 30s"));
    assert_eq!(lookup(&v, "web.listen_addresses"), json!(["127.0.0.1:2"]));
    assert_eq!(lookup(&v, "refresh.apps"), json!(["file.app"]));
}

/// Issue 11, finding 1: a config file lost the demo defaults.
#[test]
fn a_config_file_keeps_the_demo_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "log:\n  level: debug\n");
    let v = print_config(bare().args(["serve", "--demo", "--config"]).arg(&path));
    assert_eq!(lookup(&v, "refresh.interval"), json!("30s"));
    assert_eq!(lookup(&v, "refresh.jitter"), json!(0.0));
    assert_eq!(lookup(&v, "log.level"), json!("debug"));
    // A source that sets the key wins over the demo default.
    let path = write(dir.path(), "refresh:\n  interval: 10m\n");
    let v = print_config(bare().args(["serve", "--demo", "--config"]).arg(&path));
    assert_eq!(lookup(&v, "refresh.interval"), json!("10m"));
    assert_eq!(lookup(&v, "refresh.jitter"), json!(0.0));
    let v = print_config(
        bare()
            .args(["serve", "--demo"])
            .env("ASC_EXPORTER_REFRESH_INTERVAL", "5m"),
    );
    assert_eq!(lookup(&v, "refresh.interval"), json!("5m"));
    // Without --demo, the ordinary defaults.
    let v = print_config(bare().args(["serve", "--config"]).arg(&path));
    assert_eq!(lookup(&v, "refresh.jitter"), json!(0.1));
}

/// Issue 11, finding 2: ASC_TIMEOUT was shown but ignored by `serve`, and
/// the two timeout names took different formats.
#[test]
fn every_timeout_name_works_in_one_format() {
    for (var, value) in [
        ("ASC_TIMEOUT", "9"),
        ("ASC_TIMEOUT", "9s"),
        ("ASC_EXPORTER_TIMEOUT", "9"),
        ("ASC_EXPORTER_TIMEOUT", "9s"),
    ] {
        let v = print_config(bare().arg("serve").env(var, value));
        assert_eq!(lookup(&v, "asc.timeout"), json!("9s"), "{var}={value}");
    }
    for flag in ["--timeout", "--asc.timeout"] {
        for value in ["9", "9s"] {
            let v = print_config(bare().args(["serve", flag, value]));
            assert_eq!(lookup(&v, "asc.timeout"), json!("9s"), "{flag} {value}");
        }
    }
    // A global option before the command counts as well.
    let v = print_config(bare().args(["--timeout", "6", "serve"]));
    assert_eq!(lookup(&v, "asc.timeout"), json!("6s"));
    // The flag wins over both variables.
    let v = print_config(
        bare()
            .args(["serve", "--timeout", "7"])
            .env("ASC_TIMEOUT", "8")
            .env("ASC_EXPORTER_TIMEOUT", "8"),
    );
    assert_eq!(lookup(&v, "asc.timeout"), json!("7s"));
    let e = start_error(
        bare()
            .args(["serve", "--print-config"])
            .env("ASC_TIMEOUT", "8")
            .env("ASC_EXPORTER_TIMEOUT", "9")
            .output()
            .unwrap(),
    );
    assert!(e.contains("asc.timeout") && e.contains("only one"), "{e}");
    // Other commands read the same format.
    let out = bare().args(["apps", "--timeout", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("30s"));
}

/// Issue 11, finding 3: bad values that were accepted or ignored.
#[test]
fn bad_values_stop_the_start_with_one_line() {
    use std::os::unix::ffi::OsStrExt;
    let cases: Vec<(Command, &[&str])> = vec![
        (
            {
                let mut c = bare();
                c.args(["serve", "--demo", "--log-level", "verbose"]);
                c
            },
            &[
                "'log.level'",
                "flag --log.level",
                "'verbose'",
                "error, warn, info",
            ],
        ),
        (
            {
                let mut c = bare();
                c.args(["serve", "--demo", "--log.level", "verbose"]);
                c
            },
            &["'log.level'", "'verbose'"],
        ),
        (
            {
                let mut c = bare();
                c.args(["serve", "--demo"])
                    .env("ASC_EXPORTER_LISTEN", std::ffi::OsStr::from_bytes(b"\xff"));
                c
            },
            &["'web.listen_addresses'", "ASC_EXPORTER_LISTEN", "UTF-8"],
        ),
        (
            {
                let mut c = bare();
                c.args(["serve", "--demo", "--app", ""]);
                c
            },
            &[
                "'refresh.apps'",
                "flag --refresh.apps",
                "empty",
                "unset for all",
            ],
        ),
        (
            {
                let mut c = bare();
                c.args(["serve", "--demo", "--device", ""]);
                c
            },
            &["'refresh.devices'", "empty"],
        ),
    ];
    for (mut c, wants) in cases {
        let e = start_error(c.output().unwrap());
        for w in wants {
            assert!(e.contains(w), "{w}: {e}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "refresh:\n  interval: 1h\n  interval: 2h\n");
    let e = start_error(
        bare()
            .args(["serve", "--demo", "--config"])
            .arg(&path)
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("'refresh.interval'") && e.contains("twice") && e.contains("line 3"),
        "{e}"
    );
}

/// An unknown flag is clap's usage error (exit 2), not a panic.
#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = bare()
        .args(["serve", "--refresh.intervall", "1h"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--refresh.intervall") && !err.contains("panic"),
        "{err}"
    );
}

/// Issue 11, finding 4: validation warnings were emitted before logging
/// was set up. Now they are logged (here as JSON) once it is.
#[test]
fn validation_warnings_reach_the_log() {
    let mut child = bare()
        .args(["serve", "--demo", "--web.listen-address", "127.0.0.1:0"])
        .args(["--demo-listen", "127.0.0.1:0", "--log.format", "json"])
        .args(["--diagnostics.types", "HANGS,CRASHES"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut warning = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["level"] == "WARN"
            && v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("CRASHES"))
        {
            warning = Some(v);
        }
        if line.contains("serving http://") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warning.is_some(), "no WARN log line names the unknown type");
    // With --print-config (no logging) they go to stderr.
    let out = bare()
        .args(["serve", "--diagnostics.types", "CRASHES", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("warning: unknown diagnostic type 'CRASHES'"),
        "{err}"
    );
}

#[test]
fn help_shows_the_toolkit_flags_and_hides_the_old_names() {
    let out = bare().args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--web.listen-address",
        "--web.config.file",
        "--web.telemetry-path",
        "--web.max-requests",
        "--web.disable-exporter-metrics",
        "--log.level",
        "--log.format",
        "--refresh.interval",
        "--diagnostics.logs",
        "--asc.timeout",
        "--asc.key-id",
        "ASC_EXPORTER_REFRESH_INTERVAL",
    ] {
        assert!(help.contains(flag), "{flag} missing from serve --help");
    }
    for hidden in [
        "--refresh-interval",
        "--log-level",
        "--listen ",
        "--signatures-per-build",
    ] {
        assert!(!help.contains(hidden), "{hidden} shown in serve --help");
    }
    // The old names still work.
    let v = print_config(bare().args([
        "serve",
        "--listen",
        "127.0.0.1:5",
        "--signatures-per-build",
        "4",
    ]));
    assert_eq!(lookup(&v, "web.listen_addresses"), json!(["127.0.0.1:5"]));
    assert_eq!(lookup(&v, "diagnostics.top"), json!(4));
}
