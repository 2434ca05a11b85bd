//! Unit tests of the loader and the declaration (the table-driven test of
//! every setting through every source is `tests/config.rs`).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::*;

/// The error `build` gives for these environment variables.
fn env_error(pairs: &[(&str, &str)]) -> String {
    Loader::new()
        .env(env(pairs))
        .and_then(Loader::build)
        .unwrap_err()
        .to_string()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn file_error(text: &str) -> String {
    let (_dir, path) = file(text);
    Loader::new()
        .file(&path)
        .and_then(Loader::build)
        .unwrap_err()
        .to_string()
}

#[test]
fn flags_win_over_env_over_file() {
    let (_dir, path) = file(
        "listen: 127.0.0.1:1000\nrefresh:\n  interval: 2h\n  concurrency: 2\n  apps: [com.a]\nasc:\n  key_id: FILEKEY\n",
    );
    let c = Loader::new()
        .flag("--refresh.interval", "5m")
        .unwrap()
        .env(env(&[
            ("ASC_EXPORTER_REFRESH_INTERVAL", "30m"),
            ("ASC_KEY_ID", "ENVKEY"),
            ("ASC_EXPORTER_APPS", "1, 2"),
        ]))
        .unwrap()
        // Layers apply in precedence order whatever the call order.
        .file(&path)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.listen, "127.0.0.1:1000");
    assert_eq!(c.web.listen_addresses, ["127.0.0.1:1000"]);
    assert_eq!(c.refresh.interval, Duration::from_secs(300));
    assert_eq!(c.refresh.concurrency, 2);
    assert_eq!(c.refresh.apps, ["1", "2"]);
    assert_eq!(c.asc.key_id.as_deref(), Some("ENVKEY"));
    assert_eq!(
        c.refresh.builds_per_app,
        RefreshConfig::default().builds_per_app
    );
}

#[test]
fn a_file_keeps_the_demo_defaults_of_keys_it_does_not_set() {
    let (_dir, path) = file("log:\n  level: debug\n");
    let c = Loader::new().demo().file(&path).unwrap().build().unwrap();
    assert_eq!(c.refresh.interval, Duration::from_secs(30));
    assert_eq!(c.refresh.jitter, 0.0);
    assert_eq!(c.log.level, "debug");
    let (_dir, path) = file("refresh:\n  interval: 2m\n");
    let c = Loader::new().demo().file(&path).unwrap().build().unwrap();
    assert_eq!(c.refresh.interval, Duration::from_secs(120));
    assert_eq!(c.refresh.jitter, 0.0);
    // An empty value leaves the key unset.
    let (_dir, path) = file("refresh:\n  interval:\nweb:\n");
    let c = Loader::new().demo().file(&path).unwrap().build().unwrap();
    assert_eq!(c.refresh.interval, Duration::from_secs(30));
}

#[test]
fn one_duration_format_and_every_timeout_name() {
    for (var, value) in [
        ("ASC_EXPORTER_TIMEOUT", "9s"),
        ("ASC_EXPORTER_TIMEOUT", "9"),
        ("ASC_TIMEOUT", "9"),
        ("ASC_TIMEOUT", "9s"),
    ] {
        let c = Loader::new()
            .env(env(&[(var, value)]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.asc.timeout, Duration::from_secs(9), "{var}={value}");
    }
    for flag in ["--asc.timeout", "--timeout", "asc.timeout"] {
        for value in ["9", "9s"] {
            let c = Loader::new().flag(flag, value).unwrap().build().unwrap();
            assert_eq!(c.asc.timeout, Duration::from_secs(9), "{flag} {value}");
        }
    }
    let e = env_error(&[("ASC_EXPORTER_TIMEOUT", "9s"), ("ASC_TIMEOUT", "10s")]);
    assert!(
        e.contains("asc.timeout") && e.contains("ASC_EXPORTER_TIMEOUT") && e.contains("only one"),
        "{e}"
    );
    // The same value under both names is fine.
    Loader::new()
        .env(env(&[
            ("ASC_EXPORTER_TIMEOUT", "9s"),
            ("ASC_TIMEOUT", " 9s"),
        ]))
        .unwrap()
        .build()
        .unwrap();
    let e = env_error(&[("ASC_TIMEOUT", "2h")]);
    assert!(e.contains("asc.timeout") && e.contains("at most 1h"), "{e}");
}

#[test]
fn invalid_utf8_in_a_variable_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStringExt;
    let lookup = |k: &str| (k == "ASC_EXPORTER_LISTEN").then(|| OsString::from_vec(vec![0xff]));
    let e = Loader::new().env(lookup).unwrap_err().to_string();
    assert!(
        e.contains("web.listen_addresses")
            && e.contains("ASC_EXPORTER_LISTEN")
            && e.contains("UTF-8"),
        "{e}"
    );
    let lookup = |k: &str| (k == "RUST_LOG").then(|| OsString::from_vec(vec![b'a', 0xff]));
    let e = Loader::new().env(lookup).unwrap_err().to_string();
    assert!(e.contains("log.level") && e.contains("RUST_LOG"), "{e}");
    let e = Loader::new()
        .flag("--state-dir", OsString::from_vec(vec![0xfe]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("state_dir") && e.contains("--state-dir"), "{e}");
}

#[test]
fn duplicate_and_unknown_keys_are_refused() {
    let e = file_error("refresh:\n  interval: 1h\n  concurrency: 2\n  interval: 2h\n");
    assert!(
        e.contains("'refresh.interval'") && e.contains("c.yaml") && e.contains("twice"),
        "{e}"
    );
    assert!(e.contains("line 4"), "the line of the repeat: {e}");
    let e = file_error("log:\n  level: info\nlog:\n  format: json\n");
    assert!(e.contains("'log'") && e.contains("twice"), "{e}");

    let e = file_error("refresh:\n  intervall: 1h\n");
    assert!(
        e.contains("'refresh.intervall'")
            && e.contains("did you mean refresh.interval?")
            && e.contains("c.yaml"),
        "{e}"
    );
    let e = file_error("nope: 1\n");
    assert!(
        e.contains("'nope'") && e.contains("top-level keys are"),
        "{e}"
    );
    let e = file_error("web:\n  idle: 5s\n");
    assert!(
        e.contains("web.idle") && e.contains("web.idle_timeout"),
        "{e}"
    );
    let e = file_error("refresh: 5\n");
    assert!(e.contains("'refresh'") && e.contains("mapping"), "{e}");
    // Map-valued settings take any key.
    let (_dir, path) = file("otlp:\n  headers:\n    x-api-key: k\n");
    let c = Loader::new().file(&path).unwrap().build().unwrap();
    assert_eq!(c.otlp.headers["x-api-key"], "k");
    let (_dir, path) = file("refresh: [1, 2\n");
    let e = Loader::new().file(&path).unwrap_err().to_string();
    assert!(e.contains("not valid YAML"), "{e}");
    let (_dir, path) = file("- 1\n");
    let e = Loader::new().file(&path).unwrap_err().to_string();
    assert!(e.contains("top level must be a mapping"), "{e}");
}

#[test]
fn log_levels_are_levels_or_filters() {
    let e = Loader::new()
        .flag("--log.level", "verbose")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("log.level") && e.contains("flag --log.level") && e.contains("'verbose'"),
        "{e}"
    );
    let e = Loader::new()
        .flag("--log-level", "verbose")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("flag --log.level"),
        "an old name reports the new: {e}"
    );
    let c = Loader::new()
        .flag("--log.level", "warn,asc_perf_exporter::refresh=debug")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.log.level, "warn,asc_perf_exporter::refresh=debug");
    // RUST_LOG wins over every source, and is checked the same way.
    let c = Loader::new()
        .flag("--log.level", "warn")
        .unwrap()
        .env(env(&[("RUST_LOG", "debug")]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.log.level, "debug");
    let e = env_error(&[("RUST_LOG", "chatty")]);
    assert!(e.contains("log.level") && e.contains("RUST_LOG"), "{e}");
}

#[test]
fn empty_ids_are_refused_everywhere() {
    for (flag, key) in [
        ("--app", "refresh.apps"),
        ("--refresh.apps", "refresh.apps"),
        ("--device", "refresh.devices"),
        ("--diagnostics.types", "diagnostics.types"),
        ("--web.listen-address", "web.listen_addresses"),
    ] {
        let e = Loader::new()
            .flag(flag, "")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains(key) && e.contains("empty"), "{flag}: {e}");
        let e = Loader::new()
            .flag_values(flag, &["a", ""])
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains(key) && e.contains("empty"), "{flag}: {e}");
    }
    let e = env_error(&[("ASC_EXPORTER_APPS", "a,,b")]);
    assert!(
        e.contains("ASC_EXPORTER_APPS") && e.contains("empty"),
        "{e}"
    );
    let e = file_error("refresh:\n  devices: ['']\n");
    assert!(e.contains("refresh.devices") && e.contains("empty"), "{e}");
    // An empty variable is unset (compose files leave them so).
    let c = Loader::new()
        .env(env(&[("ASC_EXPORTER_APPS", " ")]))
        .unwrap()
        .build()
        .unwrap();
    assert!(c.refresh.apps.is_empty());
}

#[test]
fn unknown_flags_are_errors_not_panics() {
    let e = Loader::new().flag("--nope", "1").unwrap_err().to_string();
    assert!(e.contains("--nope"), "{e}");
    // A setting without a flag has none.
    assert!(Loader::new().flag("otlp.headers", "a=b").is_err());
}

#[test]
fn listen_addresses_in_the_toolkit_syntax() {
    let c = Loader::new()
        .flag_values("--web.listen-address", &[":0", "[::1]:0", "localhost:0"])
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.web.listen_addresses, [":0", "[::1]:0", "localhost:0"]);
    assert_eq!(c.listen, ":0");
    let addrs = c.listen_addrs();
    assert_eq!(addrs.len(), 3);
    assert!(addrs[0].ip().is_unspecified() && addrs[1].is_ipv6() && addrs[2].ip().is_loopback());
    // --listen and ASC_EXPORTER_LISTEN are older names of web.listen_addresses.
    let c = Loader::new()
        .flag("--listen", "127.0.0.1:1")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.listen_addr(), "127.0.0.1:1".parse().unwrap());
    let c = Loader::new()
        .env(env(&[("ASC_EXPORTER_LISTEN", "127.0.0.1:2")]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.listen_addrs(), ["127.0.0.1:2".parse().unwrap()]);
    let (_dir, path) = file("listen: 127.0.0.1:3\n");
    let loaded = Loader::new()
        .file(&path)
        .unwrap()
        .flag("--web.listen-address", "127.0.0.1:4")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(
        loaded.config.listen_addrs(),
        ["127.0.0.1:4".parse().unwrap()]
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("listen (127.0.0.1:3) is ignored")),
        "{:?}",
        loaded.warnings
    );
    let e = file_error("listen: nowhere\n");
    assert!(e.contains("'listen'") && e.contains(":9472"), "{e}");
    let e = Loader::new()
        .flag_values("--web.listen-address", &["127.0.0.1:9", "127.0.0.1:9"])
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn warnings_are_returned_not_logged() {
    let loaded = Loader::new()
        .flag("--diagnostics.types", "HANGS,CRASHES")
        .unwrap()
        .flag("--prometheus.enabled", "false")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("CRASHES"));
    assert!(loaded.warnings[1].contains("both outputs are off"));
}

#[test]
fn otlp_and_prometheus_keys() {
    let c = Loader::new().build().unwrap();
    assert!(c.prometheus.enabled && !c.otlp.enabled && c.otlp.logs);
    assert_eq!(c.otlp.interval, Duration::from_secs(60));
    let c = Loader::new()
        .env(env(&[
            ("ASC_EXPORTER_OTLP", "true"),
            ("ASC_EXPORTER_PROMETHEUS", "off"),
            ("ASC_EXPORTER_OTLP_HEADERS", "x-api-key=a%3Db, other = c "),
            ("ASC_EXPORTER_OTLP_TIMEOUT", "3s"),
            (
                "ASC_EXPORTER_OTLP_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod",
            ),
        ]))
        .unwrap()
        .flag("--otlp.protocol", "http/protobuf")
        .unwrap()
        .flag("--otlp-endpoint", "http://127.0.0.1:4318")
        .unwrap()
        .flag("--otlp.interval", "15s")
        .unwrap()
        .flag("--otlp.compression", "gzip")
        .unwrap()
        .build()
        .unwrap();
    assert!(c.otlp.enabled && !c.prometheus.enabled);
    assert_eq!(c.otlp.headers["x-api-key"], "a=b");
    assert!(!format!("{c:?}").contains("a=b"), "Debug redacts headers");
    assert!(
        !c.to_yaml().contains("a=b"),
        "--print-config redacts headers"
    );
    assert_eq!(c.otlp.headers["other"], "c");
    assert_eq!(c.otlp.timeout, Some(Duration::from_secs(3)));
    assert_eq!(c.otlp.interval, Duration::from_secs(15));
    assert_eq!(c.otlp.protocol.as_deref(), Some("http/protobuf"));
    assert_eq!(c.otlp.compression.as_deref(), Some("gzip"));
    assert_eq!(c.otlp.resource_attributes["deployment.environment"], "prod");

    let e = Loader::new()
        .flag("--otlp.protocol", "http/json")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("otlp.protocol") && e.contains("grpc"), "{e}");
    let e = env_error(&[("ASC_EXPORTER_OTLP_HEADERS", "secret-without-equals")]);
    assert!(e.contains("otlp.headers") && !e.contains("secret"), "{e}");
    let e = Loader::new()
        .flag("--otlp.endpoint", "collector:4317")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("otlp.endpoint"), "{e}");
}

#[test]
fn web_settings_with_clear_errors() {
    let c = Loader::new().build().unwrap();
    assert_eq!(
        c.web,
        WebConfig {
            listen_addresses: vec!["0.0.0.0:9472".into()],
            ..WebConfig::default()
        }
    );
    assert_eq!(c.web.header_read_timeout, Duration::from_secs(10));
    let c = Loader::new()
        .env(env(&[
            ("ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT", "2s"),
            ("ASC_EXPORTER_WEB_IDLE_TIMEOUT", "1m 30s"),
            ("ASC_EXPORTER_WEB_MAX_CONNECTIONS", "64"),
            ("ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT", "500ms"),
        ]))
        .unwrap()
        .flag("--web.telemetry-path", "/m")
        .unwrap()
        .flag("--web.max-requests", "0")
        .unwrap()
        .flag("--web.disable-exporter-metrics", "true")
        .unwrap()
        .flag("--web.config.file", "/etc/web.yml")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        c.web,
        WebConfig {
            listen_addresses: vec!["0.0.0.0:9472".into()],
            config_file: Some("/etc/web.yml".into()),
            telemetry_path: "/m".into(),
            max_requests: 0,
            disable_exporter_metrics: true,
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(90),
            max_connections: 64,
            shutdown_timeout: Duration::from_millis(500),
        }
    );

    let e = env_error(&[("ASC_EXPORTER_WEB_IDLE_TIMEOUT", "0s")]);
    assert!(
        e.contains("web.idle_timeout")
            && e.contains("ASC_EXPORTER_WEB_IDLE_TIMEOUT")
            && e.contains("more than 0s"),
        "{e}"
    );
    let e = env_error(&[("ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT", "100years")]);
    assert!(
        e.contains("web.header_read_timeout") && e.contains("at most 24h"),
        "{e}"
    );
    let e = env_error(&[("ASC_EXPORTER_WEB_MAX_CONNECTIONS", "0")]);
    assert!(
        e.contains("web.max_connections") && e.contains("between 1 and"),
        "{e}"
    );
    let e = env_error(&[("ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT", "soon")]);
    assert!(
        e.contains("web.shutdown_timeout") && e.contains("such as 30s"),
        "{e}"
    );
    for bad in ["metrics", "/", "/ready"] {
        let e = env_error(&[("ASC_EXPORTER_WEB_TELEMETRY_PATH", bad)]);
        assert!(
            e.contains("web.telemetry_path") && e.contains("/metrics"),
            "{e}"
        );
    }
    let e = file_error("web:\n  header_read_timeout: 0s\n");
    assert!(
        e.contains("web.header_read_timeout") && e.contains("c.yaml"),
        "{e}"
    );
}

#[test]
fn errors_name_the_key_the_source_and_the_fix() {
    let e = Loader::new()
        .flag("--refresh-interval", "soon")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'refresh.interval'")
            && e.contains("flag --refresh.interval")
            && e.contains("such as 30s"),
        "{e}"
    );
    let e = env_error(&[("ASC_EXPORTER_CONCURRENCY", "many")]);
    assert!(
        e.contains("refresh.concurrency")
            && e.contains("ASC_EXPORTER_CONCURRENCY")
            && e.contains("whole number"),
        "{e}"
    );
    let e = file_error("refresh:\n  concurrency: many\n");
    assert!(
        e.contains("refresh.concurrency") && e.contains("c.yaml"),
        "{e}"
    );
    let e = Loader::new()
        .flag("--asc.base-url", "ftp://x")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("asc.base_url") && e.contains("http"), "{e}");
    let e = Loader::new()
        .flag("--diagnostics.logs", "maybe")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("diagnostics.logs") && e.contains("true or false"),
        "{e}"
    );
}

#[test]
fn retries_and_deadlines_are_bounded() {
    let e = Loader::new()
        .flag("--max-retries", "1000000")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("asc.max_retries")
            && e.contains("more than 10")
            && e.contains("--asc.max-retries"),
        "{e}"
    );
    let c = Loader::new()
        .flag("--asc.max-retries", "10")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.asc.max_retries, 10);
    let c = Loader::new()
        .env(env(&[
            ("ASC_EXPORTER_REFRESH_TIMEOUT", "20m"),
            ("ASC_EXPORTER_APP_TIMEOUT", "90s"),
            ("ASC_EXPORTER_MAX_RESPONSE_BYTES", "1048576"),
        ]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.refresh.timeout, Duration::from_secs(1200));
    assert_eq!(c.refresh.app_timeout, Duration::from_secs(90));
    assert_eq!(c.asc.max_response_bytes, 1 << 20);
    let e = env_error(&[
        ("ASC_EXPORTER_REFRESH_TIMEOUT", "1m"),
        ("ASC_EXPORTER_APP_TIMEOUT", "2m"),
    ]);
    assert!(
        e.contains("refresh.app_timeout") && e.contains("refresh.timeout"),
        "{e}"
    );
    let e = env_error(&[("ASC_EXPORTER_MAX_RESPONSE_BYTES", "10")]);
    assert!(e.contains("asc.max_response_bytes"), "{e}");
}

#[test]
fn print_config_reads_back_as_the_same_configuration() {
    let c = Loader::new()
        .demo()
        .flag_values("--app", &["com.a", "2"])
        .unwrap()
        .flag("--otlp.timeout", "2.5")
        .unwrap()
        .flag("--state-dir", "/var/lib/x")
        .unwrap()
        .build()
        .unwrap();
    let (_dir, path) = file(&c.to_yaml());
    let again = Loader::new().file(&path).unwrap().load().unwrap();
    assert_eq!(again.config, c);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}

#[test]
fn the_example_config_file_is_valid_and_shows_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Loader::new().file(&path).unwrap().build().unwrap();
    assert_eq!(c.refresh, RefreshConfig::default());
    assert_eq!(c.diagnostics, DiagnosticsConfig::default());
    assert_eq!(c.asc.key_id.as_deref(), Some("2X9R4HXF34"));
    for s in all() {
        let leaf = s.key.rsplit('.').next().unwrap();
        assert!(
            text.lines().any(|l| l
                .trim_start()
                .trim_start_matches("# ")
                .starts_with(&format!("{leaf}:"))),
            "config.example.yaml does not show {}",
            s.key
        );
    }
}

// ---------------------------------------------------------------------------
// The declaration itself.

#[test]
fn every_field_is_declared_once_and_every_declared_key_is_a_field() {
    fn leaves(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if setting(&key).is_some() {
                    out.insert(key);
                } else {
                    leaves(v, &key, out);
                }
            }
        }
    }
    let mut fields = BTreeSet::new();
    leaves(
        &serde_json::to_value(Config::default()).unwrap(),
        "",
        &mut fields,
    );
    let declared: BTreeSet<String> = all().map(|s| s.key.to_string()).collect();
    assert_eq!(fields, declared);
    assert_eq!(declared.len(), all().count(), "a key declared twice");
}

#[test]
fn flags_are_the_key_and_every_name_is_unique() {
    let mut names = BTreeSet::new();
    let mut vars = BTreeSet::new();
    for s in all() {
        if !s.flag.is_empty() {
            let expected = match s.key {
                // The exporter-toolkit's own names.
                "web.listen_addresses" => "web.listen-address".to_string(),
                "web.config_file" => "web.config.file".to_string(),
                k => k.replace('_', "-"),
            };
            assert_eq!(s.flag, expected, "flag of {}", s.key);
            for n in std::iter::once(&s.flag).chain(s.aliases) {
                assert!(names.insert(*n), "flag name --{n} used twice");
            }
        } else {
            assert!(s.aliases.is_empty(), "{} has aliases but no flag", s.key);
        }
        for v in s.env {
            assert!(vars.insert(*v), "variable {v} used twice");
        }
        assert!(!s.doc_line().is_empty(), "{} has no doc", s.key);
        assert_eq!(
            setting_for_flag(s.key).map(|x| x.key) == Some(s.key),
            !s.flag.is_empty()
        );
    }
    for (key, _) in DEMO_DEFAULTS {
        assert!(setting(key).is_some(), "{key}");
    }
}

#[test]
fn the_settings_iterator_round_trips_through_the_loader() {
    for (key, var, flag) in settings() {
        assert!(setting(key).is_some());
        if !flag.is_empty() {
            assert_eq!(setting_for_flag(flag).unwrap().key, key);
        }
        // `listen` is the older spelling; `accounts` (a list of mappings)
        // is read from the file only.
        if key != "listen" && key != "accounts" {
            assert!(!var.is_empty(), "{key} has no variable");
        }
    }
}
