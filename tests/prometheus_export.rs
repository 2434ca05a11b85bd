//! The Prometheus output end to end: a snapshot built from Apple's example
//! documents is encoded, parsed back with a real Prometheus text parser and
//! checked against the metric contract; `promtool check metrics` lints it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use asc_perf_exporter::export::{Exposition, Sizes, encode, families, families_sized};
use prometheus_parse::{Sample, Scrape, Value};

mod common;
use common::examples::{APP, EMPTY_APP, ODD_APP, meta, snapshot};

fn text(e: &Exposition) -> String {
    String::from_utf8(e.text_bytes()).expect("UTF-8 exposition")
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

fn value(s: &Sample) -> f64 {
    match s.value {
        Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

/// Samples of `name` whose labels include all of `want`.
fn find<'a>(scrape: &'a Scrape, name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && want.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The one sample of `name` matching `want`.
fn one(scrape: &Scrape, name: &str, want: &[(&str, &str)]) -> f64 {
    let found = find(scrape, name, want);
    assert_eq!(found.len(), 1, "{name} {want:?}: {found:#?}");
    value(found[0])
}

fn labels(s: &Sample) -> BTreeMap<&str, &str> {
    s.labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A sample read by [`strict_samples`].
#[derive(Debug)]
struct StrictSample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of text-format sample lines (label values unescaped,
/// any character allowed inside quotes); panics on a malformed line.
fn strict_samples(text: &str) -> Vec<StrictSample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let bad = || -> ! { panic!("malformed sample line: {line:?}") };
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| bad());
        let name = &line[..name_end];
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end = loop {
                // label name
                let (start, _) = *chars.peek().unwrap_or_else(|| bad());
                let mut key_end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c == '=' {
                        key_end = i;
                        break;
                    }
                    chars.next();
                }
                let key = r[start..key_end].to_string();
                chars.next(); // '='
                if chars.next().map(|(_, c)| c) != Some('"') {
                    bad();
                }
                let mut value = String::new();
                loop {
                    match chars.next().map(|(_, c)| c) {
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            _ => bad(),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => bad(),
                    }
                }
                assert!(
                    labels.insert(key, value).is_none(),
                    "duplicate label: {line}"
                );
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => break i,
                    _ => bad(),
                }
            };
            rest = &r[end + 1..];
        }
        let value = rest.trim().parse::<f64>().unwrap_or_else(|_| bad());
        out.push(StrictSample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn launch_time_fixed_points_and_labels() {
    let e = encode(&snapshot(), &meta());
    let s = parse(&text(&e));
    let app = ("app_id", APP);

    let v = one(
        &s,
        "asc_launch_time_seconds",
        &[
            app,
            ("version", "1.0"),
            ("percentile", "p50"),
            ("device", "all_iphones"),
        ],
    );
    assert_eq!(v, 0.7687);
    let v = one(
        &s,
        "asc_launch_time_seconds",
        &[
            app,
            ("version", "2.0"),
            ("percentile", "p90"),
            ("device", "all_iphones"),
        ],
    );
    assert_eq!(v, 2.0143);
    assert!(text(&e).contains(
        "asc_launch_time_seconds{app_id=\"1583111882\",app=\"Example App\",bundle_id=\"com.example.app\",account=\"default\",platform=\"iOS\",category=\"LAUNCH\",version=\"1.0\",device=\"all_iphones\",device_name=\"All iPhones\",percentile=\"p50\"} 0.7687\n"
    ));

    let l = labels(
        find(
            &s,
            "asc_launch_time_seconds",
            &[app, ("version", "1.0"), ("percentile", "p50")],
        )[0],
    );
    let want: BTreeMap<&str, &str> = [
        ("app_id", APP),
        ("app", "Example App"),
        ("bundle_id", "com.example.app"),
        ("account", "default"),
        ("platform", "iOS"),
        ("category", "LAUNCH"),
        ("version", "1.0"),
        ("device", "all_iphones"),
        ("device_name", "All iPhones"),
        ("percentile", "p50"),
    ]
    .into();
    assert_eq!(l, want);
    assert_eq!(
        find(&s, "asc_launch_time_seconds", &[app]).len(),
        10,
        "5 versions x 2 percentiles"
    );
    // Versions sort naturally within a family.
    let versions: Vec<_> = find(&s, "asc_launch_time_seconds", &[app, ("percentile", "p50")])
        .iter()
        .map(|x| x.labels.get("version").unwrap_or_default().to_string())
        .collect();
    assert_eq!(versions, ["1.0", "1.1", "1.2", "1.3", "2.0"]);
}

#[test]
fn scroll_hitch_rate_goals_margins_breakdown() {
    let e = encode(&snapshot(), &meta());
    let s = parse(&text(&e));
    let b = [("app_id", APP), ("build", "203")];

    let v = one(&s, "asc_scroll_hitch_rate_ratio", &b);
    assert_eq!(v, 0.065);
    let hitch = find(&s, "asc_scroll_hitch_rate_ratio", &b);
    let l = labels(hitch[0]);
    assert_eq!(
        (
            l["category"],
            l["version"],
            l["percentile"],
            l["platform"],
            l["device_name"]
        ),
        ("ANIMATION", "2.0", "p50", "iOS", "All iPhones")
    );
    assert_eq!(
        one(&s, "asc_scroll_hitch_rate_error_margin_ratio", &b),
        0.005
    );

    assert_eq!(
        one(
            &s,
            "asc_scroll_hitch_rate_goal_lower_bound_ratio",
            &[b[0], b[1], ("goal", "poor")]
        ),
        0.1
    );
    assert!(
        find(
            &s,
            "asc_scroll_hitch_rate_goal_upper_bound_ratio",
            &[("goal", "poor")]
        )
        .is_empty(),
        "open-ended band"
    );
    assert_eq!(
        one(
            &s,
            "asc_scroll_hitch_rate_goal_lower_bound_ratio",
            &[("goal", "fair")]
        ),
        0.05
    );
    assert_eq!(
        one(
            &s,
            "asc_scroll_hitch_rate_goal_upper_bound_ratio",
            &[("goal", "fair")]
        ),
        0.1
    );
    assert_eq!(
        one(
            &s,
            "asc_scroll_hitch_rate_goal_lower_bound_ratio",
            &[("goal", "good")]
        ),
        0.0
    );
    assert_eq!(
        one(
            &s,
            "asc_scroll_hitch_rate_goal_upper_bound_ratio",
            &[("goal", "good")]
        ),
        0.05
    );

    assert_eq!(
        one(
            &s,
            "asc_scroll_hitch_rate_recommended_goal_ratio",
            &[b[0], b[1], ("device", "all_iphones"), ("percentile", "p50")]
        ),
        0.05
    );

    let g = find(
        &s,
        "asc_metric_goal_info",
        &[b[0], b[1], ("metric", "scrollHitchRate")],
    );
    assert_eq!(g.len(), 1);
    assert_eq!(value(g[0]), 1.0);
    assert_eq!(
        (labels(g[0])["goal"], labels(g[0])["version"]),
        ("fair", "2.0")
    );

    assert_eq!(
        one(
            &s,
            "asc_metric_breakdown_ratio",
            &[("metric", "scrollHitchRate"), ("subsystem", "UIKit")]
        ),
        0.6
    );
    assert_eq!(
        one(
            &s,
            "asc_metric_breakdown_ratio",
            &[("metric", "scrollHitchRate"), ("subsystem", "App")]
        ),
        0.4
    );

    // A unit we do not convert is kept, in snake_case.
    assert_eq!(one(&s, "asc_hang_rate_seconds_per_hour", &b), 1.25);
}

#[test]
fn insights() {
    let e = encode(&snapshot(), &meta());
    let s = parse(&text(&e));
    let app = ("app_id", APP);
    let d50 = one(
        &s,
        "asc_insight_regression_delta_ratio",
        &[app, ("percentile", "p50"), ("metric", "launchTime")],
    );
    let d90 = one(
        &s,
        "asc_insight_regression_delta_ratio",
        &[app, ("percentile", "p90"), ("metric", "launchTime")],
    );
    assert_eq!((d50, d90), (0.1, 0.13));
    let l = labels(
        find(
            &s,
            "asc_insight_regression_delta_ratio",
            &[app, ("percentile", "p50")],
        )[0],
    );
    let want: BTreeMap<&str, &str> = [
        ("app_id", APP),
        ("app", "Example App"),
        ("bundle_id", "com.example.app"),
        ("account", "default"),
        ("category", "LAUNCH"),
        ("metric", "launchTime"),
        ("device", "all_iphones"),
        ("percentile", "p50"),
        ("latest_version", "2.0"),
        ("high_impact", "false"),
    ]
    .into();
    assert_eq!(l, want);
    assert!(find(&s, "asc_insight_trending_up_delta_ratio", &[]).is_empty());

    let p50 = [app, ("percentile", "p50")];
    assert_eq!(
        one(
            &s,
            "asc_insight_regression_latest_launch_time_seconds",
            &p50
        ),
        0.9978
    );
    assert_eq!(
        one(
            &s,
            "asc_insight_regression_reference_launch_time_seconds",
            &p50
        ),
        0.90748
    );
    let p90 = [app, ("percentile", "p90")];
    assert_eq!(
        one(
            &s,
            "asc_insight_regression_latest_launch_time_seconds",
            &p90
        ),
        2.0143
    );
    assert!(close(
        one(
            &s,
            "asc_insight_regression_reference_launch_time_seconds",
            &p90
        ),
        1.77788
    ));
    let l2 = labels(
        find(
            &s,
            "asc_insight_regression_latest_launch_time_seconds",
            &p50,
        )[0],
    );
    assert_eq!(l2, l, "value families join the delta family on all labels");
}

#[test]
fn versions_signatures_availability_and_status() {
    let e = encode(&snapshot(), &meta());
    let s = parse(&text(&e));

    let v = find(&s, "asc_app_latest_version_info", &[("app_id", APP)]);
    assert_eq!(v.len(), 1);
    assert_eq!(value(v[0]), 1.0);
    let l = labels(v[0]);
    assert_eq!(
        (l["version"], l["platform"], l["app"], l["bundle_id"]),
        ("2.0", "iOS", "Example App", "com.example.app")
    );
    assert!(find(&s, "asc_app_latest_version_info", &[("app_id", EMPTY_APP)]).is_empty());

    // Versions ranked from the newest: 2.0 is 0, 1.3 the previous one, 1.0 the oldest of five.
    for (version, rank) in [
        ("2.0", 0.0),
        ("1.3", 1.0),
        ("1.2", 2.0),
        ("1.1", 3.0),
        ("1.0", 4.0),
    ] {
        assert_eq!(
            one(
                &s,
                "asc_app_version_rank",
                &[("app_id", APP), ("version", version), ("platform", "iOS")]
            ),
            rank,
            "{version}"
        );
    }
    assert_eq!(
        find(&s, "asc_app_version_rank", &[("app_id", APP)]).len(),
        5
    );
    assert!(find(&s, "asc_app_version_rank", &[("app_id", EMPTY_APP)]).is_empty());

    let sig = |id: &str| {
        one(
            &s,
            "asc_diagnostic_signature_weight_ratio",
            &[("app_id", APP), ("build", "203"), ("signature_id", id)],
        )
    };
    assert_eq!(
        sig("35fd8da9ea3dd8d2a64cb3d458fa59b2b41e66115f7ca5fa34df25a9419c5216dd"),
        0.85
    );
    assert_eq!(
        sig("351c486f96912d7520ef0ceea8efe19aca98f41e3b111a77e64f6923d6eba0e2c7"),
        0.07
    );
    let l = labels(
        find(
            &s,
            "asc_diagnostic_signature_weight_ratio",
            &[(
                "signature_id",
                "35fd8da9ea3dd8d2a64cb3d458fa59b2b41e66115f7ca5fa34df25a9419c5216dd",
            )],
        )[0],
    );
    assert_eq!(
        (
            l["version"],
            l["diagnostic_type"],
            l["signature"],
            l["bundle_id"]
        ),
        (
            "2.0",
            "DISK_WRITES",
            "ExampleApp: -[DatabaseConnection executeSQL:enumerateRowsWithBlock:] + 23",
            "com.example.app"
        )
    );

    assert_eq!(
        one(
            &s,
            "asc_data_available",
            &[("app_id", APP), ("scope", "app")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &s,
            "asc_data_available",
            &[("app_id", APP), ("scope", "build"), ("build", "203")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &s,
            "asc_data_available",
            &[("app_id", APP), ("scope", "build"), ("build", "181")]
        ),
        0.0
    );
    assert_eq!(
        one(
            &s,
            "asc_data_available",
            &[("app_id", EMPTY_APP), ("scope", "app")]
        ),
        0.0
    );
    assert!(
        find(&s, "asc_data_available", &[("app_id", ODD_APP)]).is_empty(),
        "never fetched: unknown"
    );
    // Not measured is never zero: no value series at all for the empty app
    // or the 404 build.
    let status: BTreeSet<&str> = [
        "asc_data_available",
        "asc_app_refresh_failed",
        "asc_app_last_refresh_success_timestamp_seconds",
    ]
    .into();
    let leaked: Vec<_> = s
        .samples
        .iter()
        .filter(|x| {
            x.labels.get("app_id") == Some(EMPTY_APP) && !status.contains(x.metric.as_str())
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:#?}");
    let leaked: Vec<_> = s
        .samples
        .iter()
        .filter(|x| {
            x.labels.get("build") == Some("181")
                && x.metric != "asc_build_uploaded_timestamp_seconds"
                && x.metric != "asc_data_available"
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:#?}");

    assert_eq!(one(&s, "asc_app_refresh_failed", &[("app_id", APP)]), 0.0);
    assert_eq!(
        one(&s, "asc_app_refresh_failed", &[("app_id", EMPTY_APP)]),
        1.0
    );
    assert_eq!(
        one(
            &s,
            "asc_app_last_refresh_success_timestamp_seconds",
            &[("app_id", EMPTY_APP)]
        ),
        1_699_999_000.5
    );
    assert!(
        find(
            &s,
            "asc_app_last_refresh_success_timestamp_seconds",
            &[("app_id", ODD_APP)]
        )
        .is_empty()
    );

    let uploaded = chrono::DateTime::parse_from_rfc3339("2021-10-11T04:53:55Z")
        .map(|d| d.timestamp())
        .unwrap_or_default();
    assert_eq!(
        one(
            &s,
            "asc_build_uploaded_timestamp_seconds",
            &[
                ("app_id", APP),
                ("build", "203"),
                ("version", "2.0"),
                ("processing_state", "VALID")
            ]
        ),
        uploaded as f64
    );
    assert!(
        find(
            &s,
            "asc_build_uploaded_timestamp_seconds",
            &[("build", "181")]
        )
        .is_empty(),
        "no uploadedDate"
    );
}

#[test]
fn exporter_families() {
    let e = encode(&snapshot(), &meta());
    let s = parse(&text(&e));
    assert_eq!(
        one(
            &s,
            "asc_exporter_build_info",
            &[("version", "0.1.0"), ("revision", "deadbeef")]
        ),
        1.0
    );
    assert_eq!(one(&s, "asc_exporter_last_refresh_success", &[]), 1.0);
    assert_eq!(
        one(
            &s,
            "asc_exporter_last_refresh_success_timestamp_seconds",
            &[]
        ),
        1_700_000_100.0
    );
    assert_eq!(one(&s, "asc_exporter_refresh_duration_seconds", &[]), 12.5);
    assert_eq!(
        one(&s, "asc_exporter_refresh_interval_seconds", &[]),
        3600.0
    );
    assert_eq!(
        one(&s, "asc_exporter_last_refresh_timestamp_seconds", &[]),
        1_700_000_100.0
    );
    // prometheus-parse cannot read a `}` inside a label value (its sample
    // regex stops at the first `}`): the route templates are checked with the
    // strict parser below.
    let strict = strict_samples(&text(&e));
    let r: Vec<_> = strict
        .iter()
        .filter(|x| {
            x.name == "asc_api_requests_total"
                && x.labels.get("endpoint").map(String::as_str)
                    == Some("/v1/apps/{id}/perfPowerMetrics")
                && x.labels.get("status").map(String::as_str) == Some("200")
        })
        .collect();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].value, 5.0);
    assert_eq!(
        one(
            &s,
            "asc_api_requests_total",
            &[("endpoint", "/v1/apps"), ("status", "429")]
        ),
        1.0
    );
    assert_eq!(
        find(&s, "asc_api_retries_total", &[])[0].value,
        Value::Counter(2.0)
    );
    assert_eq!(
        one(&s, "asc_api_rate_limit_remaining", &[("window", "hour")]),
        3545.0
    );
    assert_eq!(
        one(&s, "asc_api_rate_limit_budget", &[("window", "hour")]),
        3600.0
    );
    assert!(find(&s, "asc_api_rate_limit_remaining", &[("window", "minute")]).is_empty());
    assert!(find(&s, "asc_api_rate_limit_budget", &[("window", "minute")]).is_empty());
}

/// Reserving each family at the sizes of an earlier mapping (what the
/// service does from its second mapping on) changes nothing in the output,
/// whether the sizes are the snapshot's own, none, or another snapshot's.
#[test]
fn a_mapping_sized_by_another_writes_the_same() {
    let snap = snapshot();
    let meta = meta();
    let want = text(&encode(&snap, &meta));
    let own = families(&snap, &meta).sizes();
    let other = families(&Default::default(), &meta).sizes();
    for sizes in [own, other, Sizes::default()] {
        let set = families_sized(&snap, &meta, &sizes);
        assert_eq!(text(&Exposition::encode(&set)), want);
    }
}

#[test]
fn format_help_types_counts_gzip_and_determinism() {
    let snap = snapshot();
    let e = encode(&snap, &meta());
    let t = &text(&e);
    let s = parse(t);

    let mut types: BTreeMap<&str, &str> = BTreeMap::new();
    let mut helps: BTreeSet<&str> = BTreeSet::new();
    let mut samples = 0;
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(
                types.insert(name, kind).is_none(),
                "family {name} appears twice"
            );
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(!help.trim().is_empty(), "{name} has an empty HELP");
            helps.insert(name);
        } else if !line.starts_with('#') && !line.is_empty() {
            samples += 1;
        }
    }
    assert_eq!(
        types.keys().copied().collect::<BTreeSet<_>>(),
        helps,
        "HELP on every family"
    );
    for (name, kind) in &types {
        assert!(["gauge", "counter"].contains(kind), "{name}: {kind}");
        assert_eq!(
            *kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
        assert!(name.starts_with("asc_"), "{name}");
    }
    for sample in &s.samples {
        assert!(
            s.docs.contains_key(&sample.metric),
            "no HELP for {}",
            sample.metric
        );
    }
    assert_eq!(e.families, types.len());
    assert_eq!(e.series, samples);
    let strict = strict_samples(t);
    assert_eq!(strict.len(), samples, "every sample line parses strictly");
    let with_brace = strict
        .iter()
        .filter(|x| x.labels.values().any(|v| v.contains('}')))
        .count();
    assert_eq!(
        s.samples.len(),
        samples - with_brace,
        "prometheus-parse reads every line without a closing brace in a label value"
    );
    // Both parsers agree where both read a sample.
    for p in &s.samples {
        let l: BTreeMap<String, String> = p
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let twin = strict.iter().find(|x| x.name == p.metric && x.labels == l);
        assert!(
            twin.is_some_and(|x| x.value == value(p)) || l.values().any(|v| v.contains('\\')),
            "{p:?}"
        );
    }
    // The encoder's escaping round-trips.
    let odd = strict
        .iter()
        .find(|x| x.labels.get("app_id").map(String::as_str) == Some(ODD_APP))
        .map(|x| x.labels["app"].clone());
    assert_eq!(odd.as_deref(), Some("Odd \"quoted\" back\\slash\nnewline"));
    assert_eq!(families(&snap, &meta()).families.len(), e.families);

    // The label values that need it are escaped by the encoder.
    assert!(
        t.contains("app=\"Odd \\\"quoted\\\" back\\\\slash\\nnewline\""),
        "{t}"
    );

    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&e.gzip[..])
        .read_to_string(&mut unzipped)
        .expect("gzip decodes");
    assert_eq!(&unzipped, t);

    let again = encode(&snap, &meta());
    assert_eq!(again.text_bytes(), e.text_bytes(), "deterministic");
}

/// `promtool check metrics` must accept the exposition with no lint output.
#[test]
fn promtool_check_metrics() {
    let e = encode(&snapshot(), &meta());
    common::prom::assert_promtool_accepts(&e.text_bytes());
}

/// Prints the exposition (for docs/metrics.md):
/// `cargo test --test prometheus_export dump -- --ignored --nocapture`.
#[test]
#[ignore]
fn dump() {
    print!("{}", text(&encode(&snapshot(), &meta())));
}
