//! Property tests (issue 10, "What to build" 9): the decoders never panic
//! and give a value or an error with a JSON path, and they accept exactly
//! the documents whose data-carrying keys are intact; the `X-Rate-Limit`
//! parser, unit conversion and version ordering hold their laws on
//! generated input. Case counts are modest so the file runs in seconds.

use asc_perf_exporter::asc::api::natural_cmp;
use asc_perf_exporter::asc::model::decode::{self, DecodeErrorKind};
use asc_perf_exporter::asc::model::{App, DiagnosticLogs, Document, XcodeMetrics};
use asc_perf_exporter::asc::ratelimit::{RateLimit, Window};
use asc_perf_exporter::export::unit_mapping;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Generated documents: every field is kept, dropped, nulled or retyped, and
// the generator knows whether the result must decode.

/// What happens to one field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Keep,
    Missing,
    Null,
    Retype,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        12 => Just(Fate::Keep),
        1 => Just(Fate::Missing),
        1 => Just(Fate::Null),
        1 => Just(Fate::Retype),
    ]
}

/// How a field reacts to `null` and to being missing.
#[derive(Clone, Copy, PartialEq)]
enum Rule {
    /// A data-carrying array: present and an array, or an error.
    Required,
    /// `Option<_>` or a `null`-tolerant list: missing and `null` are fine.
    Optional,
    /// A struct with `#[serde(default)]`: missing is fine, `null` is not.
    DefaultStruct,
}

/// A JSON object under construction plus whether it must still decode.
#[derive(Debug, Clone)]
struct Doc {
    value: Map<String, Value>,
    valid: bool,
}

impl Doc {
    fn new() -> Self {
        Doc {
            value: Map::new(),
            valid: true,
        }
    }

    /// Sets `key` to `value` according to `fate`; `wrong` is a value of
    /// another JSON type than the field takes.
    fn field(
        mut self,
        key: &str,
        fate: Fate,
        rule: Rule,
        value: (Value, bool),
        wrong: Value,
    ) -> Self {
        let ok = match fate {
            Fate::Keep => {
                self.value.insert(key.into(), value.0);
                value.1
            }
            Fate::Missing => rule != Rule::Required,
            Fate::Null => {
                self.value.insert(key.into(), Value::Null);
                rule == Rule::Optional
            }
            Fate::Retype => {
                self.value.insert(key.into(), wrong);
                false
            }
        };
        self.valid &= ok;
        self
    }

    /// An unknown field: always accepted.
    fn extra(mut self, extra: Option<Value>) -> Self {
        if let Some(v) = extra {
            self.value.insert("zzUnknownField".into(), v);
        }
        self
    }

    fn done(self) -> (Value, bool) {
        (Value::Object(self.value), self.valid)
    }
}

fn list(items: Vec<(Value, bool)>) -> (Value, bool) {
    let valid = items.iter().all(|(_, ok)| *ok);
    (
        Value::Array(items.into_iter().map(|(v, _)| v).collect()),
        valid,
    )
}

fn text(s: &str) -> (Value, bool) {
    (Value::String(s.to_string()), true)
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z\u{1b}\u{202e}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn extra() -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(0.2, any_json())
}

fn point() -> impl Strategy<Value = (Value, bool)> {
    (fate(), fate(), fate(), fate(), any::<f64>(), extra()).prop_map(|(v, val, br, goal, x, e)| {
        let x = if x.is_finite() { json!(x) } else { json!(1.5) };
        Doc::new()
            .field("version", v, Rule::Optional, text("1.0"), json!(1))
            .field("value", val, Rule::Optional, (x, true), json!("12"))
            .field(
                "percentageBreakdown",
                br,
                Rule::Optional,
                (json!([{"value": 60, "subSystemLabel": "CPU"}]), true),
                json!("CPU"),
            )
            .field("goal", goal, Rule::Optional, text("good"), json!([]))
            .extra(e)
            .done()
    })
}

fn dataset() -> impl Strategy<Value = (Value, bool)> {
    (
        fate(),
        fate(),
        prop::collection::vec(point(), 0..3),
        extra(),
    )
        .prop_map(|(fc, pts, points, e)| {
            Doc::new()
                .field(
                    "filterCriteria",
                    fc,
                    Rule::DefaultStruct,
                    (
                        json!({"device": "all_iphones", "percentile": "percentile.fifty"}),
                        true,
                    ),
                    json!("all_iphones"),
                )
                .field("points", pts, Rule::Required, list(points), json!({}))
                .extra(e)
                .done()
        })
}

fn metric() -> impl Strategy<Value = (Value, bool)> {
    (
        fate(),
        fate(),
        fate(),
        prop::collection::vec(dataset(), 0..3),
        extra(),
    )
        .prop_map(|(id, unit, ds, datasets, e)| {
            Doc::new()
                .field(
                    "identifier",
                    id,
                    Rule::Optional,
                    text("launchTime"),
                    json!(7),
                )
                .field(
                    "unit",
                    unit,
                    Rule::Optional,
                    (json!({"identifier": "ms", "displayName": "ms"}), true),
                    json!(3),
                )
                .field("datasets", ds, Rule::Required, list(datasets), json!("[]"))
                .extra(e)
                .done()
        })
}

fn category() -> impl Strategy<Value = (Value, bool)> {
    (fate(), fate(), prop::collection::vec(metric(), 0..3)).prop_map(|(id, ms, metrics)| {
        Doc::new()
            .field(
                "identifier",
                id,
                Rule::Optional,
                text("LAUNCH"),
                json!(true),
            )
            .field("metrics", ms, Rule::Required, list(metrics), json!(0))
            .done()
    })
}

fn insight() -> impl Strategy<Value = (Value, bool)> {
    (fate(), fate(), fate()).prop_map(|(summary, refs, pops)| {
        Doc::new()
            .field(
                "summaryString",
                summary,
                Rule::Optional,
                text("up"),
                json!(1),
            )
            .field(
                "referenceVersions",
                refs,
                Rule::Optional,
                text("1.0"),
                json!(2),
            )
            .field(
                "populations",
                pops,
                Rule::Optional,
                (
                    json!([{"device": "all_iphones", "deltaPercentage": 10}]),
                    true,
                ),
                json!("x"),
            )
            .done()
    })
}

/// An xcodeMetrics document and whether it must decode.
fn metrics_doc() -> impl Strategy<Value = (Value, bool)> {
    let product = (fate(), fate(), prop::collection::vec(category(), 0..3)).prop_map(
        |(platform, mc, categories)| {
            Doc::new()
                .field("platform", platform, Rule::Optional, text("iOS"), json!([]))
                .field(
                    "metricCategories",
                    mc,
                    Rule::Required,
                    list(categories),
                    json!({}),
                )
                .done()
        },
    );
    (
        fate(),
        fate(),
        fate(),
        prop::collection::vec(product, 0..3),
        prop::collection::vec(insight(), 0..2),
        extra(),
    )
        .prop_map(|(pd, ins, reg, products, insights, e)| {
            let insights = Doc::new()
                .field("regressions", reg, Rule::Optional, list(insights), json!(5))
                .done();
            Doc::new()
                .field(
                    "productData",
                    pd,
                    Rule::Required,
                    list(products),
                    json!("none"),
                )
                // (Not an array: serde's derived structs also read arrays
                // positionally, a leniency this test does not pin down.)
                .field("insights", ins, Rule::Optional, insights, json!("none"))
                .extra(e)
                .done()
        })
}

fn frame() -> impl Strategy<Value = (Value, bool)> {
    let leaf = (fate(), fate()).prop_map(|(samples, raw)| {
        Doc::new()
            .field(
                "sampleCount",
                samples,
                Rule::Optional,
                (json!(3), true),
                json!("3"),
            )
            .field(
                "rawFrame",
                raw,
                Rule::Optional,
                text("App: main + 4"),
                json!(4),
            )
            .done()
    });
    leaf.prop_recursive(4, 16, 2, |inner| {
        (fate(), prop::collection::vec(inner, 0..3)).prop_map(|(sf, subs)| {
            Doc::new()
                .field(
                    "symbolName",
                    Fate::Keep,
                    Rule::Optional,
                    text("f"),
                    json!(0),
                )
                .field("subFrames", sf, Rule::Optional, list(subs), json!(9))
                .done()
        })
    })
}

/// A diagnosticLogs document and whether it must decode.
fn logs_doc() -> impl Strategy<Value = (Value, bool)> {
    let log =
        (fate(), fate(), prop::collection::vec(frame(), 0..3)).prop_map(|(tree, meta, frames)| {
            let stacks = list(vec![
                Doc::new()
                    .field(
                        "callStackRootFrames",
                        Fate::Keep,
                        Rule::Optional,
                        list(frames),
                        json!(1),
                    )
                    .done(),
            ]);
            let tree_value = list(vec![
                Doc::new()
                    .field("callStacks", Fate::Keep, Rule::Optional, stacks, json!(1))
                    .done(),
            ]);
            Doc::new()
                .field(
                    "callStackTree",
                    tree,
                    Rule::Optional,
                    tree_value,
                    json!("tree"),
                )
                .field(
                    "diagnosticMetaData",
                    meta,
                    Rule::DefaultStruct,
                    (json!({"appVersion": "1.0", "event": "hang"}), true),
                    json!(5),
                )
                .done()
        });
    let product = (fate(), fate(), prop::collection::vec(log, 0..3), extra()).prop_map(
        |(sig, dl, logs, e)| {
            Doc::new()
                .field("signatureId", sig, Rule::Optional, text("abc"), json!(12))
                .field("diagnosticLogs", dl, Rule::Required, list(logs), json!({}))
                .extra(e)
                .done()
        },
    );
    (fate(), prop::collection::vec(product, 0..3)).prop_map(|(pd, products)| {
        Doc::new()
            .field("productData", pd, Rule::Required, list(products), json!(1))
            .done()
    })
}

/// The decoder's verdict agrees with the generator's, and an error says where.
fn check_verdict<T: serde::de::DeserializeOwned>(
    doc: &Value,
    valid: bool,
) -> Result<(), TestCaseError> {
    let bytes = serde_json::to_vec(doc).unwrap();
    match decode::json::<T>(&bytes) {
        Ok(_) => prop_assert!(valid, "accepted a drifted document: {doc}"),
        Err(e) => {
            prop_assert!(!valid, "rejected a good document: {e}\n{doc}");
            prop_assert_eq!(e.kind, DecodeErrorKind::Data);
            prop_assert!(!e.path.is_empty());
            prop_assert!(e.to_string().starts_with("at JSON path `"), "{}", e);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn metrics_documents_decode_exactly_when_their_data_keys_are_intact((doc, valid) in metrics_doc()) {
        check_verdict::<XcodeMetrics>(&doc, valid)?;
    }

    #[test]
    fn logs_documents_decode_exactly_when_their_data_keys_are_intact((doc, valid) in logs_doc()) {
        check_verdict::<DiagnosticLogs>(&doc, valid)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for e in [
            decode::json::<XcodeMetrics>(&bytes).err(),
            decode::json::<DiagnosticLogs>(&bytes).err(),
            decode::json::<Document<App>>(&bytes).err(),
        ].into_iter().flatten() {
            prop_assert!(!e.path.is_empty() && !e.message.is_empty());
        }
    }

    #[test]
    fn json_like_bytes_never_panic(s in r#"[\[\]{}":,0-9a-zA-Z \-.\\]{0,120}"#, doc in any_json()) {
        let _ = decode::json::<XcodeMetrics>(s.as_bytes());
        let _ = decode::json::<DiagnosticLogs>(s.as_bytes());
        let bytes = serde_json::to_vec(&doc).unwrap();
        let _ = decode::json::<XcodeMetrics>(&bytes);
        let _ = decode::json::<Document<App>>(&bytes);
    }
}

// ---------------------------------------------------------------------------
// X-Rate-Limit, unit conversion, version order.

fn window() -> impl Strategy<Value = Window> {
    (any::<Option<u64>>(), any::<Option<u64>>())
        .prop_map(|(limit, remaining)| Window { limit, remaining })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn rate_limit_parse_never_panics_and_its_header_round_trips(
        s in r"[a-z:;,\- 0-9]{0,60}",
        junk in ".{0,40}",
    ) {
        for input in [s.as_str(), junk.as_str()] {
            if let Some(rl) = RateLimit::parse([input]) {
                prop_assert_eq!(RateLimit::parse([rl.to_header().as_str()]), Some(rl));
            }
        }
    }

    #[test]
    fn every_rate_limit_survives_its_header(hour in window(), minute in window()) {
        let rl = RateLimit { hour, minute };
        let back = RateLimit::parse([rl.to_header().as_str()]);
        if rl == RateLimit::default() {
            prop_assert_eq!(back, None);
        } else {
            prop_assert_eq!(back, Some(rl));
        }
    }

    #[test]
    fn unit_conversion_never_panics_and_keeps_finite_values_finite(
        unit in prop_oneof![
            Just("ms".to_string()), Just("%".to_string()), Just("MB".to_string()),
            Just("KiB".to_string()), Just("min".to_string()), Just("ns".to_string()),
            Just("".to_string()), "[a-zA-Zµ% ]{0,10}",
        ],
        display in "[a-zA-Z% ]{0,6}",
        value in any::<f64>(),
    ) {
        let m = unit_mapping(&unit, &display);
        let v = m.convert(value);
        if value.is_finite() && m.factor.is_finite() && (value * m.factor).is_finite() {
            prop_assert!(v.is_finite(), "{value} {unit} -> {v}");
            let plain = value * m.factor;
            prop_assert!((v - plain).abs() <= plain.abs() * 1e-12, "{v} vs {plain}");
        }
        if value.is_nan() {
            prop_assert!(v.is_nan());
        }
    }

    #[test]
    fn natural_version_order_is_a_total_order(
        a in r"[0-9a-c.\-]{0,8}",
        b in r"[0-9a-c.\-]{0,8}",
        c in r"[0-9a-c.\-]{0,8}",
    ) {
        use std::cmp::Ordering::*;
        prop_assert_eq!(natural_cmp(&a, &a), Equal);
        prop_assert_eq!(natural_cmp(&a, &b), natural_cmp(&b, &a).reverse());
        if natural_cmp(&a, &b) != Greater && natural_cmp(&b, &c) != Greater {
            prop_assert_ne!(natural_cmp(&a, &c), Greater, "{} <= {} <= {}", a, b, c);
        }
    }
}

// ---------------------------------------------------------------------------
// The configuration loader: whatever the file, the environment and the flags
// hold, `build` gives a configuration or one error naming the key, its
// source and what is expected; never a panic.

use asc_perf_exporter::config::{self as cfg, Loader};

/// Values a person or a script might put in a setting: plausible ones of
/// every kind, and garbage.
fn setting_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e400".to_string()),
        Just("NaN".to_string()),
        Just("true".to_string()),
        Just("off".to_string()),
        Just("30s".to_string()),
        Just("0s".to_string()),
        Just("1h 30m".to_string()),
        Just("999999999999h".to_string()),
        Just("127.0.0.1:0".to_string()),
        Just("http://127.0.0.1:1".to_string()),
        Just("a=b,c".to_string()),
        Just("all_*,iPhone15?2".to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
        (0.0f64..2.0).prop_map(|f| f.to_string()),
        "\\PC{0,40}",
    ]
}

fn config_error_is_one_clear_line(e: &cfg::ConfigError) {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(
        msg.starts_with("invalid configuration key '")
            || msg.starts_with("config file ")
            || msg.starts_with("cannot read config file "),
        "{msg}"
    );
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_loader_never_panics_on_any_environment_or_flags(
        picks in proptest::collection::vec((0usize..64, setting_value(), any::<bool>()), 0..8)
    ) {
        let settings: Vec<_> = cfg::settings().collect();
        let mut env = std::collections::HashMap::new();
        let mut flags = Vec::new();
        for (i, value, as_flag) in picks {
            let (_, var, flag) = settings[i % settings.len()];
            if as_flag && !flag.is_empty() {
                flags.push((flag, value));
            } else {
                env.insert(var.to_string(), value);
            }
        }
        let loaded = Loader::new().env(|k| env.get(k).cloned());
        let built = loaded.and_then(|mut l| {
            for (flag, value) in &flags {
                l = l.flag(flag, value)?;
            }
            l.build()
        });
        if let Err(e) = built {
            config_error_is_one_clear_line(&e);
        }
    }

    #[test]
    fn the_loader_never_panics_on_any_config_file(
        text in prop_oneof![
            "\\PC{0,200}",
            // YAML shaped like a config: known sections, keys and values.
            proptest::collection::vec(
                (prop::sample::select(vec!["refresh", "asc", "web", "otlp", "diagnostics", "log", "nope"]),
                 prop::sample::select(vec!["interval", "timeout", "app_timeout", "max_retries", "concurrency",
                     "apps", "level", "header_read_timeout", "max_connections", "headers", "enabled", "x"]),
                 setting_value()),
                0..6,
            ).prop_map(|entries| entries
                .into_iter()
                .map(|(section, key, value)| format!("{section}:\n  {key}: {value:?}\n"))
                .collect::<String>()),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, &text).unwrap();
        match Loader::new().file(&path).and_then(Loader::build) {
            Ok(c) => prop_assert!(c.asc.max_retries <= cfg::MAX_RETRIES),
            Err(e) => config_error_is_one_clear_line(&e),
        }
    }
}
