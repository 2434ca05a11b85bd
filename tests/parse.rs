//! `parse metrics` / `parse diagnostics` on saved files, and the model on
//! every example in `../shared/asc/examples`.

mod cli_support;

use asc_perf_exporter::asc::model::{
    App, Build, DiagnosticSignature, Document, ErrorResponse, SingleDocument, XcodeMetrics,
};
use cli_support::*;
use serde_json::Value;

/// An example through the exporter's one decoder.
fn decode<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let bytes = std::fs::read(example(name)).unwrap();
    asc_perf_exporter::asc::model::decode::json(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const LAUNCH: &str = "apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json";
const EMPTY: &str = "real_perfPowerMetrics_app_empty_sbecker11.json";

fn parse(args: &[&str]) -> std::process::Output {
    bare().arg("parse").args(args).output().unwrap()
}

#[test]
fn every_example_decodes_with_the_model() {
    let mut seen = 0;
    for entry in std::fs::read_dir(shared_dir().join("asc/examples")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        seen += 1;
        if name.contains("performanceOverviews") {
            // API 4.5's overview (API-NOTES §11) has `insights` but no
            // `productData`: not a document the metrics decoder takes.
            let bytes = std::fs::read(example(&name)).unwrap();
            let e =
                asc_perf_exporter::asc::model::decode::json::<XcodeMetrics>(&bytes).unwrap_err();
            assert_eq!(e.path, ".", "{e}");
            assert!(e.message.contains("missing field `productData`"), "{e}");
        } else if name.contains("perfPowerMetrics") {
            let _: XcodeMetrics = decode(&name);
        } else if name.contains("diagnosticSignatures") {
            let d: Document<DiagnosticSignature> = decode(&name);
            assert!(!d.data.is_empty());
        } else if name.contains("list_apps") {
            let d: Document<App> = decode(&name);
            assert!(!d.data.is_empty());
        } else if name.contains("get_app") {
            let d: SingleDocument<App> = decode(&name);
            assert!(!d.data.id.is_empty());
        } else if name.contains("builds") {
            let d: Document<Build> = decode(&name);
            assert!(!d.data.is_empty());
        } else if name.contains("error") {
            let e: ErrorResponse = decode(&name);
            assert_eq!(e.errors[0].code, "PATH_ERROR");
        } else {
            panic!("no decoder chosen for example {name}");
        }
    }
    assert!(seen >= 7, "only {seen} examples found");
    let m: XcodeMetrics = decode(LAUNCH);
    assert_eq!(
        m.insights.unwrap().regressions[0].reference_versions.len(),
        4
    );
}

/// The rows of the dataset section whose header contains `header`.
fn section<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.contains(header))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

fn row_has(rows: &[&str], version: &str, value: &str) -> bool {
    rows.iter()
        .any(|r| r.split_whitespace().next() == Some(version) && r.contains(value))
}

#[test]
fn parse_metrics_launch_time_prints_every_point() {
    let f = example(LAUNCH);
    let text = ok(&parse(&[
        "metrics",
        "--input",
        f.to_str().unwrap(),
        "--metric",
        "LAUNCHTIME",
    ]));
    let p50 = section(&text, "launchTime (ms), All iPhones, p50");
    let p90 = section(&text, "launchTime (ms), All iPhones, p90");
    for (v, x) in [
        ("1.0", "768.7 ms"),
        ("1.1", "750 ms"),
        ("1.2", "992.3 ms"),
        ("1.3", "1118.9 ms"),
        ("2.0", "997.8 ms"),
    ] {
        assert!(row_has(&p50, v, x), "p50 {v} {x}:\n{text}");
    }
    for (v, x) in [
        ("1.0", "1532.1 ms"),
        ("1.1", "1390.2 ms"),
        ("1.2", "2030.8 ms"),
        ("1.3", "2158.4 ms"),
        ("2.0", "2014.3 ms"),
    ] {
        assert!(row_has(&p90, v, x), "p90 {v} {x}:\n{text}");
    }

    // JSON: the decoded datasets.
    let out = parse(&[
        "metrics",
        "-i",
        f.to_str().unwrap(),
        "--metric",
        "launchTime",
        "-o",
        "json",
    ]);
    let json: Value = serde_json::from_str(&ok(&out)).unwrap();
    let m = &json["metrics"][0];
    assert_eq!(m["category"], "LAUNCH");
    assert_eq!(m["metric"]["identifier"], "launchTime");
    assert_eq!(
        m["metric"]["datasets"][0]["points"][0]["value"].as_f64(),
        Some(768.7)
    );
    assert_eq!(
        m["metric"]["datasets"][1]["points"][4]["value"].as_f64(),
        Some(2014.3)
    );
}

#[test]
fn parse_metrics_auto_insights_prints_deltas_and_latest_values() {
    let f = example(LAUNCH);
    let text = ok(&parse(&[
        "metrics",
        "--input",
        f.to_str().unwrap(),
        "--auto-insights",
    ]));
    assert!(text.contains("Trending up: none"), "{text}");
    assert!(text.contains("Regressions (1):"), "{text}");
    let p50 = text
        .lines()
        .find(|l| l.contains("launchTime") && l.contains("p50"))
        .unwrap();
    assert!(
        p50.contains("all_iphones") && p50.contains("997.8 ms") && p50.contains("+10%"),
        "{p50}"
    );
    let p90 = text
        .lines()
        .find(|l| l.contains("launchTime") && l.contains("p90"))
        .unwrap();
    assert!(p90.contains("2014.3 ms") && p90.contains("+13%"), "{p90}");

    let out = parse(&[
        "metrics",
        "-i",
        f.to_str().unwrap(),
        "--auto-insights",
        "-o",
        "json",
    ]);
    let json: Value = serde_json::from_str(&ok(&out)).unwrap();
    let pops = &json["insights"][0]["insight"]["populations"];
    assert_eq!(pops[0]["deltaPercentage"].as_f64(), Some(10.0));
    assert_eq!(pops[1]["latestVersionValue"].as_f64(), Some(2014.3));
}

#[test]
fn parse_metrics_filters_device_platform_and_percentile() {
    let f = example(LAUNCH);
    let f = f.to_str().unwrap();
    // all_ipads: nothing left, said clearly, still success.
    let text = ok(&parse(&["metrics", "-i", f, "--device", "all_ipads"]));
    assert!(
        text.contains("no datasets match --device all_ipads"),
        "{text}"
    );
    assert!(
        text.contains("all_iphones"),
        "names what is available: {text}"
    );
    // Platform is case-insensitive: IOS == iOS.
    let text = ok(&parse(&["metrics", "-i", f, "--platform", "IOS"]));
    assert!(text.contains("launchTime"), "{text}");
    let text = ok(&parse(&["metrics", "-i", f, "--platform", "macOS"]));
    assert!(
        text.contains("no datasets match --platform macOS"),
        "{text}"
    );
    // Marketing name and percentile.
    let text = ok(&parse(&[
        "metrics",
        "-i",
        f,
        "--metric",
        "launchTime",
        "--device",
        "all iphones",
        "--percentile",
        "p90",
    ]));
    assert!(
        text.contains("2014.3 ms") && !text.contains("768.7"),
        "{text}"
    );
    // Overview without --metric lists every dataset with its latest value.
    let text = ok(&parse(&["metrics", "-i", f]));
    assert!(
        text.contains("LAUNCH")
            && text.contains("2.0 = 997.8 ms")
            && text.contains("2.0 = 2014.3 ms"),
        "{text}"
    );
}

#[test]
fn parse_metrics_on_empty_data_says_not_measured() {
    let f = example(EMPTY);
    let text = ok(&parse(&["metrics", "--input", f.to_str().unwrap()]));
    assert!(text.contains("no data (not measured yet)"), "{text}");
    let text = ok(&parse(&[
        "metrics",
        "--input",
        f.to_str().unwrap(),
        "--metric",
        "launchTime",
    ]));
    assert!(text.contains("no data (not measured yet)"), "{text}");
    let json: Value = serde_json::from_str(&ok(&parse(&[
        "metrics",
        "-i",
        f.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["has_data"], false);
}

#[test]
fn parse_bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(
        &bad,
        "{\n  \"productData\": [\n    {\"platform\": \"iOS\",,}\n  ]\n}\n",
    )
    .unwrap();
    let line = one_error(&parse(&["metrics", "--input", bad.to_str().unwrap()]));
    assert!(
        line.contains("broken.json") && line.contains("line 3"),
        "{line}"
    );

    let wrong_type = dir.path().join("typed.json");
    std::fs::write(&wrong_type, r#"{"productData":[{"metricCategories":[{"metrics":[{"datasets":[{"points":[{"value":"fast"}]}]}]}]}]}"#).unwrap();
    let line = one_error(&parse(&[
        "metrics",
        "--input",
        wrong_type.to_str().unwrap(),
    ]));
    assert!(
        line.contains("typed.json") && line.contains("points[0].value"),
        "{line}"
    );

    // Valid JSON, wrong document.
    let apps = example("real_list_apps_v1_apps_sbecker11.json");
    let line = one_error(&parse(&["metrics", "--input", apps.to_str().unwrap()]));
    assert!(
        line.contains("real_list_apps_v1_apps_sbecker11.json") && line.contains("apps"),
        "{line}"
    );
    let line = one_error(&parse(&[
        "diagnostics",
        "--input",
        example(LAUNCH).to_str().unwrap(),
    ]));
    assert!(line.contains("parse metrics"), "{line}");
    let err = example("real_error_404_path_error_sbecker11.json");
    let line = one_error(&parse(&["metrics", "--input", err.to_str().unwrap()]));
    assert!(
        line.contains("error response") && line.contains("PATH_ERROR"),
        "{line}"
    );

    // Missing file and unknown metric.
    let line = one_error(&parse(&["metrics", "--input", "/nonexistent/x.json"]));
    assert!(line.contains("/nonexistent/x.json"), "{line}");
    let line = one_error(&parse(&[
        "metrics",
        "-i",
        example(LAUNCH).to_str().unwrap(),
        "--metric",
        "hangRate",
    ]));
    assert!(
        line.contains("hangRate") && line.contains("launchTime"),
        "{line}"
    );
}

#[test]
fn parse_diagnostics_prints_metadata_and_call_stacks() {
    // Apple's documented metadata values (API-NOTES §4).
    let doc = serde_json::json!({
        "version": "1.0.0",
        "productData": [{
            "signatureId": "35fd8da9ea3dd8d2",
            "diagnosticInsights": [{"insightsCategory": "SQLiteSpill", "insightsString": "Use indices"}],
            "diagnosticLogs": [{
                "diagnosticMetaData": {
                    "bundleId": "com.example.app", "event": "disk writes",
                    "osVersion": "iPhone OS 14.6 (18F72)", "appVersion": "6.10.1",
                    "writesCaused": "1073.76 MB", "deviceType": "iPhone13_3",
                    "platformArchitecture": "arm64",
                    "eventDetail": "Total of 1073.76 MB of disk writes", "buildVersion": "1234"
                },
                "callStackTree": [{"callStackPerThread": true, "callStacks": [{"callStackRootFrames": [{
                    "sampleCount": 20, "rawFrame": "libsystem_kernel.dylib: pwrite + 8",
                    "subFrames": [{"sampleCount": 20, "isBlameFrame": true, "insightsCategory": "SQLiteSpill",
                                   "binaryName": "ExampleApp", "symbolName": "-[DatabaseConnection executeSQL:]",
                                   "offsetIntoSymbol": "23"}]
                }]}]}]
            }, {"diagnosticMetaData": {"appVersion": "6.10.2"}}]
        }]
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("logs.json");
    std::fs::write(&f, serde_json::to_vec(&doc).unwrap()).unwrap();
    let f = f.to_str().unwrap();
    let text = ok(&parse(&["diagnostics", "--input", f]));
    for want in [
        "signatureId: 35fd8da9ea3dd8d2",
        "com.example.app",
        "6.10.1",
        "disk writes",
        "1073.76 MB",
        "iPhone13_3",
        "SQLiteSpill",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(
        !text.contains("pwrite"),
        "no call stack without --callstack"
    );
    let text = ok(&parse(&[
        "diagnostics",
        "--input",
        f,
        "--callstack",
        "--limit",
        "1",
    ]));
    assert!(text.contains("pwrite"));
    let blame = text.lines().find(|l| l.contains('▶')).unwrap();
    assert!(
        blame.contains("-[DatabaseConnection executeSQL:]")
            && blame.contains("(20)")
            && blame.contains("[blame, SQLiteSpill]"),
        "{blame}"
    );
    assert!(
        !text.contains("6.10.2") && text.contains("1 more log"),
        "{text}"
    );

    let json: Value =
        serde_json::from_str(&ok(&parse(&["diagnostics", "-i", f, "-o", "json"]))).unwrap();
    assert_eq!(
        json["productData"][0]["diagnosticLogs"][0]["diagnosticMetaData"]["writesCaused"],
        "1073.76 MB"
    );
}

/// Documents that drifted from the shape we know, with the JSON path each
/// must be rejected at.
fn drifted_metrics() -> Vec<(&'static str, Value, &'static str)> {
    use serde_json::json;
    let launch = |metric: Value| {
        json!({"productData": [{"platform": "iOS", "metricCategories": [
            {"identifier": "LAUNCH", "metrics": [metric]}
        ]}]})
    };
    vec![
        (
            "productData missing",
            json!({"insights": {"regressions": [], "trendingUp": []}, "version": "1.0.0"}),
            ".",
        ),
        (
            "productData null",
            json!({"productData": null}),
            "productData",
        ),
        (
            "productData a string",
            json!({"productData": "[]"}),
            "productData",
        ),
        (
            "metricCategories null",
            json!({"productData": [{"platform": "iOS", "metricCategories": null}]}),
            "productData[0].metricCategories",
        ),
        (
            "metrics renamed metricsV2",
            json!({"productData": [{"platform": "iOS", "metricCategories": [
                {"identifier": "LAUNCH", "metrics": []},
                {"identifier": "HANG", "metricsV2": []}
            ]}]}),
            "productData[0].metricCategories[1]",
        ),
        (
            "datasets renamed dataSets",
            launch(json!({"identifier": "launchTime", "dataSets": []})),
            "productData[0].metricCategories[0].metrics[0]",
        ),
        (
            "points renamed dataPoints",
            launch(
                json!({"identifier": "launchTime", "datasets": [{"filterCriteria": {}, "dataPoints": []}]}),
            ),
            "productData[0].metricCategories[0].metrics[0].datasets[0]",
        ),
        (
            "value retyped",
            launch(
                json!({"identifier": "launchTime", "datasets": [{"points": [{"version": "1.0", "value": "12"}]}]}),
            ),
            "productData[0].metricCategories[0].metrics[0].datasets[0].points[0].value",
        ),
    ]
}

fn drifted_logs() -> Vec<(&'static str, Value, &'static str)> {
    use serde_json::json;
    vec![
        ("productData missing", json!({"version": "1.0.0"}), "."),
        (
            "diagnosticLogs missing",
            json!({"productData": [{"signatureId": "abc"}]}),
            "productData[0]",
        ),
        (
            "diagnosticLogs null",
            json!({"productData": [{"signatureId": "abc", "diagnosticLogs": null}]}),
            "productData[0].diagnosticLogs",
        ),
    ]
}

#[test]
fn parse_and_the_exporter_client_share_one_verdict() {
    use asc_perf_exporter::asc::MetricsFilter;
    use asc_perf_exporter::asc::model::{DiagnosticLogs, decode};
    use asc_perf_exporter::sim::Fixture;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: String, doc: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        path
    };
    let metrics: Vec<_> = drifted_metrics()
        .into_iter()
        .enumerate()
        .map(|(i, (what, doc, path))| (what, write(format!("m{i}.json"), &doc), path, 9100 + i))
        .collect();
    let logs: Vec<_> = drifted_logs()
        .into_iter()
        .enumerate()
        .map(|(i, (what, doc, path))| {
            (
                what,
                write(format!("l{i}.json"), &doc),
                path,
                format!("sig{i}"),
            )
        })
        .collect();
    let sim = Sim::start_with(|c| {
        for (_, file, _, id) in &metrics {
            let spec = format!("app-metrics:{id}={}", file.display());
            c.fixtures.push(Fixture::parse_spec(&spec, None).unwrap());
        }
        for (_, file, _, id) in &logs {
            let spec = format!("logs:{id}={}", file.display());
            c.fixtures.push(Fixture::parse_spec(&spec, None).unwrap());
        }
    });
    let client = sim.client();
    for (what, file, path, id) in &metrics {
        let want = format!("at JSON path `{path}`:");
        let bytes = std::fs::read(file).unwrap();
        let e = decode::json::<XcodeMetrics>(&bytes).unwrap_err();
        assert_eq!(&e.path, path, "{what}: {e}");
        let line = one_error(&parse(&["metrics", "-i", file.to_str().unwrap()]));
        assert!(line.contains(&want), "{what}: parse says {line}");
        let e = sim
            .block_on(client.app_metrics(&id.to_string(), &MetricsFilter::default()))
            .expect_err(what);
        assert!(e.to_string().contains(&want), "{what}: the client says {e}");
    }
    for (what, file, path, id) in &logs {
        let want = format!("at JSON path `{path}`:");
        let bytes = std::fs::read(file).unwrap();
        let e = decode::json::<DiagnosticLogs>(&bytes).unwrap_err();
        assert_eq!(&e.path, path, "{what}: {e}");
        let line = one_error(&parse(&["diagnostics", "-i", file.to_str().unwrap()]));
        assert!(line.contains(&want), "{what}: parse says {line}");
        let e = sim
            .block_on(client.diagnostic_logs(id, None))
            .expect_err(what);
        assert!(e.to_string().contains(&want), "{what}: the client says {e}");
    }

    // A missing top-level key names what the file has instead.
    let line = one_error(&parse(&["metrics", "-i", metrics[0].1.to_str().unwrap()]));
    assert!(
        line.contains("missing field `productData`")
            && line.contains("top-level keys: insights, version"),
        "{line}"
    );
}

#[test]
fn empty_product_data_and_unknown_fields_are_accepted_by_both() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("extra.json");
    std::fs::write(
        &f,
        r#"{"productData": [{"platform": "iOS", "metricCategories": [], "newThing": 1}],
            "insights": {"regressions": [{"metric": "m", "brandNew": [1, 2]}]}, "extra": {"a": [[]]}}"#,
    )
    .unwrap();
    let bytes = std::fs::read(&f).unwrap();
    let m: XcodeMetrics = asc_perf_exporter::asc::model::decode::json(&bytes).unwrap();
    assert!(!m.has_data());
    let text = ok(&parse(&["metrics", "-i", f.to_str().unwrap()]));
    assert!(text.contains("no data (not measured yet)"), "{text}");
    // Build-level documents have no insights.
    let f = dir.path().join("build.json");
    std::fs::write(&f, r#"{"productData": [], "version": "1.0.0"}"#).unwrap();
    ok(&parse(&["metrics", "-i", f.to_str().unwrap()]));
    // An empty metrics document is also an empty logs document; both
    // decoders accept it, so parse does too.
    let text = ok(&parse(&[
        "diagnostics",
        "-i",
        example(EMPTY).to_str().unwrap(),
    ]));
    assert!(text.contains("no diagnostic logs"), "{text}");
}

/// The README's `parse` examples read `examples/`: every file there has its
/// provenance in `examples/README.md`, the copies of Apple's and the
/// captured documents are verbatim, and each one parses as the README says.
#[test]
fn the_shipped_examples_have_provenance_and_match_the_reference_copies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let provenance = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "README.md" {
            continue;
        }
        assert!(
            provenance.contains(&format!("`{name}`")),
            "{name} has no provenance line"
        );
        if name.starts_with("apple_doc_example_") || name.starts_with("real_") {
            let reference = example(&name);
            assert_eq!(
                std::fs::read(dir.join(&name)).unwrap(),
                std::fs::read(&reference).unwrap(),
                "{name} is a verbatim copy of {}",
                reference.display()
            );
        }
    }
    let run = |args: &[&str]| {
        bare()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .unwrap()
    };
    ok(&run(&[
        "parse",
        "metrics",
        "--input",
        "examples/apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json",
    ]));
    ok(&run(&[
        "parse",
        "diagnostics",
        "--input",
        "examples/simulated_diagnosticLogs_disk_writes.json",
        "--callstack",
    ]));
    for drifted in [
        "examples/constructed_perfPowerMetrics_retyped_value.json",
        "examples/constructed_perfPowerMetrics_renamed_metrics.json",
    ] {
        let line = one_error(&run(&["parse", "metrics", "--input", drifted]));
        assert!(line.contains("at JSON path"), "{line}");
    }
}

const OVERVIEW: &str = "constructed_performanceOverviews_example.json";

#[test]
fn parse_overview_prints_the_constructed_example() {
    let f = example(OVERVIEW);
    let o: asc_perf_exporter::asc::model::XcodeOverview = decode(OVERVIEW);
    assert!(o.has_data());
    let text = ok(&parse(&["overview", "--input", f.to_str().unwrap()]));
    assert!(
        text.lines().next().unwrap().ends_with(
            "constructed_performanceOverviews_example.json (com.example.weatherly, iOS), latest version 3.2"
        ),
        "{text}"
    );
    let launch = section(&text, "LAUNCH (Launch Time)");
    assert!(launch[0].starts_with("#  SECTION"), "{text}");
    // Sections in sortOrder, the latest point, the recommended goal and
    // how far the latest value is from it.
    let cells = |row: &str| {
        row.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cells(launch[1]),
        [
            "1",
            "launchTime",
            "0.92",
            "All iPhones",
            "p50",
            "3.2 = 1240.5 ms",
            "1000 ms",
            "+24%"
        ]
    );
    assert_eq!(
        cells(launch[2]),
        [
            "2",
            "resumeTime",
            "0.41",
            "All iPhones",
            "p50",
            "3.2 = 205.3 ms",
            "-",
            "-"
        ]
    );
    assert!(text.contains(
        "recommended launchTime: 1000 ms - Aim for a typical launch time under 1 second."
    ));
    let hang = section(&text, "HANG (Hangs)");
    assert!(
        hang[1].contains("hangRate") && hang[1].contains("3.2 = 3.9 s/hr"),
        "{text}"
    );
    // The insight (its string referenceVersions as Apple's spec has it).
    assert!(text.contains("Insights (1):\nREGRESSION  launchTime (LAUNCH), latest version 3.2 vs 3.0, 3.1  [HIGH IMPACT]\n"), "{text}");
    assert!(
        text.contains("  all_iphones  p50         1240.5 ms      1051.3 ms   +18%"),
        "{text}"
    );
    // The call site as file:line with count, weight, trend and history.
    let sites = section(&text, "Top call sites (1):");
    assert_eq!(
        cells(sites[1]),
        [
            "HANGS",
            "ForecastCache.m:88",
            "148",
            "37%",
            "UP ▲",
            "3.0 21%, 3.1 29%",
            "Weatherly: -[ForecastCache reloadSynchronously] + 212"
        ]
    );

    // JSON: the decoded model values.
    let v: Value = serde_json::from_str(&ok(&parse(&[
        "overview",
        "-i",
        f.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(v["file"], f.to_str().unwrap());
    assert_eq!(v["has_data"], true);
    assert_eq!(v["app_metadata"]["bundleId"], "com.example.weatherly");
    assert_eq!(
        v["categories"][0]["sections"][1]["identifier"],
        "resumeTime"
    );
    assert_eq!(v["insights"][0]["kind"], "regression");
    let site = &v["top_call_sites"][0];
    assert_eq!(site["diagnostic_type"], "HANGS");
    assert_eq!(site["location"], "ForecastCache.m:88");
    assert_eq!(site["weight_ratio"], 0.37);
    assert_eq!(
        site["call_site"]["signatureId"],
        o.signatures.top_hang_point[0].id()
    );

    // --device filters datasets and insight populations, not call sites.
    let text = ok(&parse(&[
        "overview",
        "-i",
        f.to_str().unwrap(),
        "--device",
        "All iPads",
    ]));
    assert!(
        text.contains("No datasets for --device All iPads; available: all_iphones \"All iPhones\""),
        "{text}"
    );
    assert!(
        text.contains("Insights: none for --device All iPads (1 for other devices)")
            && text.contains("ForecastCache.m:88"),
        "{text}"
    );
}

#[test]
fn parse_overview_of_an_empty_document_says_not_measured() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("empty-overview.json");
    std::fs::write(
        &f,
        r#"{"version": "1.0.0", "categories": [], "insights": {"regressions": [], "trendingUp": []},
            "signatures": {"topHangPoint": [], "topLaunchPoint": [], "topDiskWritePoint": []}, "newKey": 1}"#,
    )
    .unwrap();
    let text = ok(&parse(&["overview", "-i", f.to_str().unwrap()]));
    assert!(
        text.contains("empty-overview.json (not measured yet)"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&ok(&parse(&[
        "overview",
        "-i",
        f.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(v["has_data"], false);
    assert_eq!(v["top_call_sites"].as_array().unwrap().len(), 0);
}

#[test]
fn parse_overview_and_the_exporter_client_share_one_verdict() {
    use asc_perf_exporter::asc::client::OverviewFilter;
    use asc_perf_exporter::asc::model::{XcodeOverview, decode};
    use asc_perf_exporter::sim::Fixture;
    use serde_json::json;

    let signatures = json!({"topHangPoint": [], "topLaunchPoint": [], "topDiskWritePoint": []});
    let cases = [
        (
            "categories missing",
            json!({"signatures": signatures, "insights": {}}),
            ".",
        ),
        (
            "sections renamed",
            json!({"categories": [{"sections": []}, {"sectionsV2": []}], "signatures": signatures}),
            "categories[1]",
        ),
        (
            "a call-site list missing",
            json!({"categories": [], "signatures": {"topHangPoint": [], "topLaunchPoint": []}}),
            "signatures",
        ),
        (
            "count retyped",
            json!({"categories": [], "signatures": {"topHangPoint": [{"count": "148"}], "topLaunchPoint": [], "topDiskWritePoint": []}}),
            "signatures.topHangPoint[0].count",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, doc, _))| {
            let path = dir.path().join(format!("o{i}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
            path
        })
        .collect();
    let sim = Sim::start_with(|c| {
        for (i, f) in files.iter().enumerate() {
            let spec = format!("app-overview:{}={}", 9400 + i, f.display());
            c.fixtures.push(Fixture::parse_spec(&spec, None).unwrap());
        }
    });
    let client = sim.client();
    for (i, ((what, _, path), file)) in cases.iter().zip(&files).enumerate() {
        let want = format!("at JSON path `{path}`:");
        let e = decode::json::<XcodeOverview>(&std::fs::read(file).unwrap()).unwrap_err();
        assert_eq!(&e.path, path, "{what}: {e}");
        let line = one_error(&parse(&["overview", "-i", file.to_str().unwrap()]));
        assert!(
            line.contains(&want)
                && line.contains("not a valid xcodeOverview (performanceOverviews) document"),
            "{what}: parse says {line}"
        );
        let e = sim
            .block_on(client.app_overview(&(9400 + i).to_string(), &OverviewFilter::default()))
            .expect_err(what);
        assert!(e.to_string().contains(&want), "{what}: the client says {e}");
    }
    let line = one_error(&parse(&["overview", "-i", files[0].to_str().unwrap()]));
    assert!(
        line.contains("top-level keys: insights, signatures"),
        "{line}"
    );

    // The wrong kind of document is named, with the command that reads it.
    let f = example(OVERVIEW);
    for (cmd, file, want) in [
        (
            "overview",
            example(LAUNCH),
            "is an xcodeMetrics (perfPowerMetrics) document, not xcodeOverview; use `parse metrics`",
        ),
        (
            "overview",
            example("simulated_diagnosticLogs_disk_writes.json"),
            "use `parse diagnostics`",
        ),
        (
            "overview",
            example("real_list_apps_v1_apps_sbecker11.json"),
            "is a JSON:API document of apps",
        ),
        (
            "metrics",
            f.clone(),
            "is an xcodeOverview (performanceOverviews) document, not xcodeMetrics; use `parse overview`",
        ),
        (
            "diagnostics",
            f.clone(),
            "not diagnosticLogs; use `parse overview`",
        ),
    ] {
        let file = if file.exists() {
            file
        } else {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(file.file_name().unwrap())
        };
        let line = one_error(&parse(&[cmd, "-i", file.to_str().unwrap()]));
        assert!(
            line.contains(want),
            "parse {cmd} {}: {line}",
            file.display()
        );
    }
    let empty = dir.path().join("nothing.json");
    std::fs::write(&empty, "{}").unwrap();
    let line = one_error(&parse(&["overview", "-i", empty.to_str().unwrap()]));
    assert!(
        line.contains("missing field `categories`") && line.contains("(top-level keys: none)"),
        "{line}"
    );
}
