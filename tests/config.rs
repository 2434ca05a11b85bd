//! The typed configuration: a table-driven test generated from the
//! declaration (every setting through the file, every variable and every
//! flag name, alone and layered, checked in the resolved value and in
//! `--print-config`'s YAML), and the generated docs.
//!
//! The cases call the real resolver in-process: `cli::parse` on a real
//! argv, `serve::resolve` with a given environment. `tests/config_cli.rs`
//! runs the binary for the findings of issue 11 and a few layerings.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use asc_perf_exporter::cli::{self, serve};
use asc_perf_exporter::config::{self, Kind, Loaded, Setting, docs};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// In-process resolution

/// One run of `serve`'s resolver: argv after `serve`, an environment, and
/// an optional config file's text.
#[derive(Default, Clone)]
struct Run {
    args: Vec<OsString>,
    env: HashMap<String, OsString>,
    file: Option<String>,
}

impl Run {
    fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }
    fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.insert(k.to_string(), v.into());
        self
    }
    fn file(mut self, text: impl Into<String>) -> Self {
        self.file = Some(text.into());
        self
    }

    fn resolve(&self) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut argv: Vec<OsString> = vec!["asc-perf-exporter".into(), "serve".into()];
        if let Some(text) = &self.file {
            let path = dir.path().join("config.yaml");
            std::fs::write(&path, text).unwrap();
            argv.push("--config".into());
            argv.push(path.into());
        }
        argv.extend(self.args.iter().cloned());
        let (command, ctx) = cli::parse(argv).map_err(|e| e.to_string())?;
        let cli::Command::Serve(args) = command else {
            panic!("not serve")
        };
        serve::resolve(&args, &ctx, |k| self.env.get(k).cloned()).map_err(|e| e.to_string())
    }

    fn ok(&self) -> Loaded {
        self.resolve()
            .unwrap_or_else(|e| panic!("{:?} {:?}: {e}", self.args, self.env))
    }

    fn err(&self) -> String {
        match self.resolve() {
            Ok(_) => panic!(
                "{:?} {:?} {:?} was accepted",
                self.args, self.env, self.file
            ),
            Err(e) => e,
        }
    }
}

fn lookup(v: &Value, key: &str) -> Value {
    docs::lookup(v, key)
        .cloned()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The value of `key` in the resolved configuration and in its
/// `--print-config` YAML (read back).
fn resolved(loaded: &Loaded, key: &str) -> (Value, Value) {
    let tree = serde_json::to_value(&loaded.config).unwrap();
    let printed: Value = serde_norway::from_str(&loaded.config.to_yaml()).unwrap();
    (lookup(&tree, key), lookup(&printed, key))
}

/// A file setting `key` to the YAML text `value`.
fn yaml(key: &str, value: &str) -> String {
    match key.split_once('.') {
        Some((section, leaf)) => format!("{section}:\n  {leaf}: {value}\n"),
        None => format!("{key}: {value}\n"),
    }
}

// ---------------------------------------------------------------------------
// Samples: three values per setting, made from its kind

/// A value as written in the file, as written in a variable or flag, and
/// as resolved (JSON, as `--print-config` shows it).
#[derive(Debug, Clone)]
struct Sample {
    yaml: String,
    text: String,
    want: Value,
}

fn sample(yaml: &str, text: &str, want: Value) -> Sample {
    Sample {
        yaml: yaml.into(),
        text: text.into(),
        want,
    }
}

fn texts(a: [&str; 3]) -> [Sample; 3] {
    a.map(|t| sample(&format!("{t:?}"), t, json!(t)))
}

/// Three valid values: the first differs from the default, each from the
/// next (for two-valued settings the third is the first again).
fn samples(s: &Setting, default: &Value) -> [Sample; 3] {
    match s.key {
        "listen" | "web.listen_addresses" if s.kind == Kind::Text => {
            texts(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"])
        }
        "web.listen_addresses" => [
            sample("[\"127.0.0.1:1\"]", "127.0.0.1:1", json!(["127.0.0.1:1"])),
            sample(
                "[\":2\", \"[::1]:2\"]",
                ":2,[::1]:2",
                json!([":2", "[::1]:2"]),
            ),
            sample("[localhost:3]", "localhost:3", json!(["localhost:3"])),
        ],
        "log.level" => texts(["debug", "warn", "info,asc_perf_exporter=trace"]),
        "log.format" => texts(["json", "text", "json"]),
        "asc.base_url" => texts([
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "https://example.com",
        ]),
        "otlp.protocol" => texts(["grpc", "http/protobuf", "grpc"]),
        "otlp.compression" => texts(["gzip", "none", "gzip"]),
        "otlp.endpoint" => texts([
            "http://127.0.0.1:4317",
            "http://127.0.0.1:4318",
            "https://collector",
        ]),
        "web.telemetry_path" => texts(["/m1", "/m2", "/m3"]),
        "shard" => texts(["1/2", "2/3", "3/3"]),
        // At least refresh.app_timeout (10m).
        "refresh.timeout" => [
            sample("20m", "20m", json!("20m")),
            sample("1500", "1500", json!("25m")),
            sample("\"40m\"", "2400", json!("40m")),
        ],
        "asc.max_response_bytes" => [
            sample("2048", "2048", json!(2048)),
            sample("4096", "4096", json!(4096)),
            sample("8192", "8192", json!(8192)),
        ],
        "diagnostics.types" => [
            sample("[HANGS]", "HANGS", json!(["HANGS"])),
            sample(
                "[DISK_WRITES, LAUNCHES]",
                "DISK_WRITES,LAUNCHES",
                json!(["DISK_WRITES", "LAUNCHES"]),
            ),
            sample("[LAUNCHES]", "LAUNCHES", json!(["LAUNCHES"])),
        ],
        _ => match s.kind {
            Kind::Text => texts(["A1", "B2", "C3"]),
            Kind::Path => texts(["/tmp/p1", "/tmp/p2", "/tmp/p3"]),
            // Bare numbers are seconds in every source.
            Kind::Duration => [
                sample("2m", "2m", json!("2m")),
                sample("90", "90", json!("1m 30s")),
                sample("\"4m\"", "240", json!("4m")),
            ],
            Kind::Int => [
                sample("2", "2", json!(2)),
                sample("7", "7", json!(7)),
                sample("\"9\"", "9", json!(9)),
            ],
            Kind::Float => [
                sample("0.25", "0.25", json!(0.25)),
                sample("0.5", "0.5", json!(0.5)),
                sample("\"0.75\"", "0.75", json!(0.75)),
            ],
            Kind::Bool => {
                let d = default.as_bool().unwrap();
                let (a, b) = if d { ("false", "yes") } else { ("true", "off") };
                [
                    sample(a, a, json!(!d)),
                    sample(&format!("{b:?}"), b, json!(d)),
                    sample(a, if d { "0" } else { "1" }, json!(!d)),
                ]
            }
            Kind::List => [
                sample("[a]", "a", json!(["a"])),
                sample("[b, c]", "b, c", json!(["b", "c"])),
                sample("[d]", "d", json!(["d"])),
            ],
            // `accounts`, the only table: the file only.
            Kind::Table => {
                let one = |name: &str| {
                    sample(
                        &format!(
                            "[{{name: {name}, key_id: K{name}, private_key_path: /k/{name}.p8}}]"
                        ),
                        "",
                        json!([{"name": name, "key_id": format!("K{name}"), "private_key_path": format!("/k/{name}.p8")}]),
                    )
                };
                [one("a"), one("b"), one("c")]
            }
            Kind::Map => [
                sample("{a: \"1\"}", "a=1", json!({"a": "1"})),
                sample(
                    "{b: \"2\", c: \"3\"}",
                    "b=2,c=3",
                    json!({"b": "2", "c": "3"}),
                ),
                sample("{d: \"4\"}", "d=%34", json!({"d": "4"})),
            ],
        },
    }
}

/// Header values are printed redacted.
fn printed_want(s: &Setting, want: &Value) -> Value {
    match (s.key, want) {
        ("otlp.headers", Value::Object(m)) => {
            Value::Object(m.keys().map(|k| (k.clone(), json!("<redacted>"))).collect())
        }
        _ => want.clone(),
    }
}

/// Every name of a setting's flag: the documented one, older aliases, the
/// key itself.
fn flag_names(s: &Setting) -> Vec<String> {
    let mut names = vec![s.flag.to_string(), s.key.to_string()];
    names.extend(s.aliases.iter().map(|a| a.to_string()));
    names.dedup();
    names.into_iter().map(|n| format!("--{n}")).collect()
}

fn with_flag(run: Run, flag: &str, s: &Setting, sample: &Sample) -> Run {
    if s.kind == Kind::List {
        // Repeated flags add up.
        sample
            .text
            .split(',')
            .fold(run, |r, part| r.arg(flag).arg(part.trim()))
    } else {
        run.arg(format!("{flag}={}", sample.text))
    }
}

fn check(run: &Run, s: &Setting, want: &Sample, what: &str) {
    let loaded = run.ok();
    let (value, printed) = resolved(&loaded, s.key);
    assert_eq!(value, want.want, "{}: {what}", s.key);
    assert_eq!(
        printed,
        printed_want(s, &want.want),
        "{} printed: {what}",
        s.key
    );
}

#[test]
fn every_setting_through_every_source_and_name() {
    let defaults = serde_json::to_value(config::Config::default()).unwrap();
    let mut checked = 0;
    for s in config::all() {
        let [v0, v1, v2] = samples(s, &lookup(&defaults, s.key));
        assert_ne!(
            v0.want,
            lookup(&defaults, s.key),
            "{}: a sample equal to the default tests nothing",
            s.key
        );
        let flag = s.flag_name();
        let file = |v: &Sample| Run::default().file(yaml(s.key, &v.yaml));

        // Each source alone, under every name, with each sample.
        for v in [&v0, &v1, &v2] {
            check(&file(v), s, v, "file");
            for var in s.env {
                check(&Run::default().env(var, v.text.as_str()), s, v, var);
            }
            if flag.is_some() {
                for name in flag_names(s) {
                    check(&with_flag(Run::default(), &name, s, v), s, v, &name);
                }
            }
        }
        // Precedence: file < environment < flag.
        if let Some(var) = s.env.first() {
            check(
                &file(&v0).env(var, v1.text.as_str()),
                s,
                &v1,
                "env over file",
            );
        }
        if let Some(flag) = &flag {
            check(
                &with_flag(file(&v0), flag, s, &v1),
                s,
                &v1,
                "flag over file",
            );
            if let Some(var) = s.env.first() {
                let run = with_flag(Run::default().env(var, v0.text.as_str()), flag, s, &v1);
                check(&run, s, &v1, "flag over env");
                let run = with_flag(file(&v0).env(var, v1.text.as_str()), flag, s, &v2);
                check(&run, s, &v2, "flag over env over file");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, config::all().count());
    assert!(checked >= 40, "{checked} settings");
}

#[test]
fn a_bad_value_names_the_key_and_its_source_whatever_the_source() {
    for s in config::all().filter(|s| {
        matches!(
            s.kind,
            Kind::Int | Kind::Duration | Kind::Bool | Kind::Float
        )
    }) {
        let file = Run::default().file(yaml(s.key, "nonsense")).err();
        assert!(
            file.contains(&format!("'{}'", s.key)) && file.contains("config.yaml"),
            "{file}"
        );
        for var in s.env {
            let e = Run::default().env(var, "nonsense").err();
            assert!(
                e.contains(&format!("'{}'", s.key)) && e.contains(var),
                "{e}"
            );
        }
        if let Some(flag) = s.flag_name() {
            let e = Run::default().arg(format!("{flag}=nonsense")).err();
            if s.global.is_empty() {
                assert!(
                    e.contains(&format!("'{}'", s.key)) && e.contains(&format!("flag {flag}")),
                    "{e}"
                );
            } else {
                // A global option (`--timeout`) is checked by clap for every
                // command: a usage error naming the option and the format.
                assert!(
                    e.contains(&format!("'--{}", s.aliases[0])) && e.contains("30s"),
                    "{e}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// docs/configuration.md

#[test]
fn docs_are_generated_from_the_declaration() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let fresh = docs::regenerate(&text).unwrap_or_else(|| {
        panic!(
            "docs/configuration.md has no generated section: add the lines\n{}\n{}",
            docs::BEGIN,
            docs::END
        )
    });
    if fresh == text {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    panic!(
        "docs/configuration.md is stale; regenerate it with: UPDATE_DOCS=1 cargo test --test config docs"
    );
}
