//! Every kind of simulator response validates against its schema in Apple's
//! OpenAPI spec (`../shared/asc/openapi-4.4.1.json`; the performance
//! overview against 4.5.1's, `openapi-4.5.1-overview.json`), patched only
//! for the live-API deviations documented in API-NOTES §7. Each patch is asserted to
//! apply, the unpatched spec must reject the live shape, and deliberately
//! broken bodies must be rejected, so the test cannot silently validate
//! nothing.

mod common;

use asc_perf_exporter::sim::Scenario;
use common::*;
use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

fn spec() -> Value {
    let path = shared("asc/openapi-4.4.1.json");
    serde_json::from_slice(&std::fs::read(&path).expect("spec readable")).expect("spec is JSON")
}

/// OpenAPI 3.0 `nullable: true` -> JSON Schema type union. Returns how many
/// were converted.
fn convert_nullable(v: &mut Value) -> usize {
    let mut n = 0;
    match v {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type").cloned()
            {
                map.insert("type".into(), json!([t, "null"]));
                n += 1;
            }
            for child in map.values_mut() {
                n += convert_nullable(child);
            }
        }
        Value::Array(items) => {
            for child in items {
                n += convert_nullable(child);
            }
        }
        _ => {}
    }
    n
}

/// Removes keywords whose value is `null` (the saved spec has
/// `AppEvent.attributes.deepLink.format: null`, which no JSON Schema draft
/// accepts). This only touches schemas our responses never use.
fn drop_null_keywords(v: &mut Value) -> usize {
    let mut n = 0;
    match v {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|_, x| !x.is_null());
            n += before - map.len();
            for child in map.values_mut() {
                n += drop_null_keywords(child);
            }
        }
        Value::Array(items) => {
            for child in items {
                n += drop_null_keywords(child);
            }
        }
        _ => {}
    }
    n
}

/// The spec's components, ready for a Draft 4 validator (OpenAPI 3.0 schemas
/// are a Draft 4 dialect), before the §7 patches.
fn clean_components() -> Value {
    let mut components = spec()["components"].clone();
    assert_eq!(
        components.pointer("/schemas/AppEvent/properties/attributes/properties/deepLink/format"),
        Some(&Value::Null)
    );
    assert_eq!(drop_null_keywords(&mut components), 1);
    convert_nullable(&mut components);
    components
}

/// Applies the three §7 patches to a copy of `components`, asserting that
/// each one finds the spec's original (wrong) type.
fn patched(components: &Value) -> Value {
    let mut c = components.clone();
    // §7.1 MetricsInsight.referenceVersions: string -> [string].
    let rv = c
        .pointer_mut("/schemas/MetricsInsight/properties/referenceVersions")
        .expect("MetricsInsight.referenceVersions exists");
    assert_eq!(rv["type"], "string", "spec changed: referenceVersions");
    *rv = json!({"type": "array", "items": {"type": "string"}});

    let metric = "/schemas/xcodeMetrics/properties/productData/items/properties/metricCategories/items/properties/metrics/items/properties";
    // §7.2 points[].percentageBreakdown: object -> [object].
    let pb = c
        .pointer_mut(&format!(
            "{metric}/datasets/items/properties/points/items/properties/percentageBreakdown"
        ))
        .expect("percentageBreakdown exists");
    assert_eq!(pb["type"], "object", "spec changed: percentageBreakdown");
    let item = pb.clone();
    *pb = json!({"type": "array", "items": item});

    // §7.3 goalKeys bounds: integer -> number.
    for bound in ["lowerBound", "upperBound"] {
        let b = c
            .pointer_mut(&format!("{metric}/goalKeys/items/properties/{bound}"))
            .expect("goalKeys bound exists");
        assert_eq!(b["type"], "integer", "spec changed: {bound}");
        b["type"] = json!("number");
    }
    c
}

fn validator(components: &Value, schema: &str) -> Validator {
    assert!(
        components["schemas"].get(schema).is_some(),
        "no schema {schema} in the spec"
    );
    let root = json!({
        "$ref": format!("#/components/schemas/{schema}"),
        "components": components,
    });
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}

/// Mutates a valid body into an invalid one.
type Breaker = Box<dyn Fn(&mut Value)>;

fn errors(v: &Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn every_response_kind_matches_its_schema() {
    let strict = clean_components();
    let components = patched(&strict);

    let env = start(|c| {
        c.hour_limit = 40;
        c.minute_limit = 0;
    })
    .await;
    let (app, build) = env.first_app_and_build().await;
    let sigs = env
        .ok(&format!("/v1/builds/{build}/diagnosticSignatures?limit=2"))
        .await;
    let sig = sigs["data"][0]["id"].as_str().unwrap().to_string();

    let cases: Vec<(&str, String, u16)> = vec![
        ("AppsResponse", "/v1/apps?limit=2".into(), 200),
        (
            "AppsResponse",
            "/v1/apps?fields[apps]=name,bundleId".into(),
            200,
        ),
        ("AppResponse", format!("/v1/apps/{app}"), 200),
        (
            "BuildsWithoutIncludesResponse",
            format!("/v1/apps/{app}/builds?limit=5"),
            200,
        ),
        (
            "BuildsResponse",
            format!(
                "/v1/builds?filter[app]={app}&sort=-uploadedDate&include=preReleaseVersion&limit=5"
            ),
            200,
        ),
        (
            "BuildsResponse",
            format!("/v1/builds?filter[app]={app}&include=preReleaseVersion,app&limit=3"),
            200,
        ),
        (
            "BuildResponse",
            format!("/v1/builds/{build}?include=preReleaseVersion"),
            200,
        ),
        (
            "xcodeMetrics",
            format!("/v1/apps/{app}/perfPowerMetrics"),
            200,
        ),
        (
            "xcodeMetrics",
            format!("/v1/builds/{build}/perfPowerMetrics"),
            200,
        ),
        (
            "DiagnosticSignaturesResponse",
            format!("/v1/builds/{build}/diagnosticSignatures?limit=2"),
            200,
        ),
        (
            "diagnosticLogs",
            format!("/v1/diagnosticSignatures/{sig}/logs?limit=3"),
            200,
        ),
        ("ErrorResponse", "/v1/apps/0".into(), 404),
        ("ErrorResponse", "/v1/apps?limit=999".into(), 400),
    ];
    let mut validated = 0;
    let mut bodies = Vec::new();
    for (schema, path, status) in &cases {
        let r = env.get(path).await;
        assert_eq!(r.status, *status, "{path}");
        let body = r.json();
        let v = validator(&components, schema);
        let errs = errors(&v, &body);
        assert!(
            errs.is_empty(),
            "{path} vs {schema}: {:#?}",
            &errs[..errs.len().min(10)]
        );
        validated += 1;
        bodies.push((schema.to_string(), body));
    }
    // 401 (no token) and 429 (budget spent).
    let r = env.get_with("/v1/apps", None).await;
    assert_eq!(r.status, 401);
    let err_v = validator(&components, "ErrorResponse");
    assert!(errors(&err_v, &r.json()).is_empty());
    validated += 1;
    let mut last = None;
    for _ in 0..60 {
        let r = env.get("/v1/apps").await;
        if r.status == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("budget of 40 runs out");
    assert!(errors(&err_v, &r.json()).is_empty());
    validated += 1;
    assert_eq!(validated, cases.len() + 2);

    // The live shape really needs the patches: the unpatched spec rejects
    // the app metrics (array referenceVersions / percentageBreakdown, float
    // goal bounds).
    let (_, metrics_body) = bodies.iter().find(|(s, _)| s == "xcodeMetrics").unwrap();
    let unpatched = validator(&strict, "xcodeMetrics");
    let errs = errors(&unpatched, metrics_body);
    assert!(!errs.is_empty(), "unpatched spec accepted the live shape");
    assert!(
        errs.iter().any(|e| e.contains("percentageBreakdown")),
        "{errs:#?}"
    );

    // Broken bodies are rejected: the validators do check something.
    let broken: Vec<(&str, Breaker)> = vec![
        (
            "AppsResponse",
            Box::new(|v: &mut Value| v["data"][0]["type"] = json!("builds")),
        ),
        (
            "AppsResponse",
            Box::new(|v: &mut Value| {
                v.as_object_mut().unwrap().remove("links");
            }),
        ),
        (
            "BuildsResponse",
            Box::new(|v: &mut Value| v["data"][0]["attributes"]["processingState"] = json!("DONE")),
        ),
        (
            "BuildsResponse",
            Box::new(|v: &mut Value| v["included"][0]["attributes"]["version"] = json!(3)),
        ),
        (
            "xcodeMetrics",
            Box::new(|v: &mut Value| {
                v["productData"][0]["metricCategories"][0]["identifier"] = json!("NETWORK")
            }),
        ),
        (
            "xcodeMetrics",
            Box::new(|v: &mut Value| {
                v["insights"]["regressions"] = json!([{"referenceVersions": "1.0"}])
            }),
        ),
        (
            "DiagnosticSignaturesResponse",
            Box::new(|v: &mut Value| v["data"][0]["attributes"]["weight"] = json!("0.5")),
        ),
        (
            "diagnosticLogs",
            Box::new(|v: &mut Value| {
                v["productData"][0]["diagnosticLogs"][0]["callStackTree"][0]["callStacks"][0]["callStackRootFrames"]
                    [0]["sampleCount"] = json!("many")
            }),
        ),
        (
            "ErrorResponse",
            Box::new(|v: &mut Value| {
                v["errors"][0].as_object_mut().unwrap().remove("code");
            }),
        ),
    ];
    for (schema, breaker) in broken {
        let (_, body) = bodies
            .iter()
            .find(|(s, b)| {
                s == schema && b.get("included").is_some() == (schema == "BuildsResponse")
            })
            .or_else(|| bodies.iter().find(|(s, _)| s == schema))
            .unwrap();
        let mut body = body.clone();
        breaker(&mut body);
        let v = validator(&components, schema);
        assert!(!v.is_valid(&body), "{schema}: broken body accepted");
    }
}

#[test]
fn apple_examples_validate_against_the_patched_spec() {
    let components = patched(&clean_components());
    for (schema, file) in [
        (
            "xcodeMetrics",
            "apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json",
        ),
        (
            "xcodeMetrics",
            "real_perfPowerMetrics_app_empty_sbecker11.json",
        ),
        (
            "DiagnosticSignaturesResponse",
            "apple_doc_example_diagnosticSignatures_build_disk_writes.json",
        ),
        ("ErrorResponse", "real_error_404_path_error_sbecker11.json"),
    ] {
        let body: Value = serde_json::from_slice(
            &std::fs::read(shared(&format!("asc/examples/{file}"))).unwrap(),
        )
        .unwrap();
        let errs = errors(&validator(&components, schema), &body);
        assert!(errs.is_empty(), "{file}: {errs:#?}");
    }
}

/// The components of API 4.5.1's overview schemas (`xcodeOverview`,
/// `PerformanceSignature`, `MetricsInsight`, `ErrorResponse`, ...), copied
/// verbatim from Apple's spec into `../shared/asc/openapi-4.5.1-overview.json`.
fn overview_components() -> Value {
    let path = shared("asc/openapi-4.5.1-overview.json");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("4.5.1 excerpt readable")).unwrap();
    assert_eq!(spec["openapi_version"], "4.5.1");
    let mut components = spec["components"].clone();
    convert_nullable(&mut components);
    components
}

/// The §7 patches that apply to the overview (API-NOTES §11): the live
/// API's array `referenceVersions` and `percentageBreakdown`.
fn patched_overview(components: &Value) -> Value {
    let mut c = components.clone();
    let rv = c
        .pointer_mut("/schemas/MetricsInsight/properties/referenceVersions")
        .expect("MetricsInsight.referenceVersions exists");
    assert_eq!(rv["type"], "string", "spec changed: referenceVersions");
    *rv = json!({"type": "array", "items": {"type": "string"}});
    let pb = c
        .pointer_mut("/schemas/xcodeOverview/properties/categories/items/properties/sections/items/properties/datasets/items/properties/points/items/properties/percentageBreakdown")
        .expect("percentageBreakdown exists");
    assert_eq!(pb["type"], "object", "spec changed: percentageBreakdown");
    let item = pb.clone();
    *pb = json!({"type": "array", "items": item});
    c
}

#[tokio::test]
async fn every_app_s_overview_matches_the_4_5_1_schema() {
    let strict = overview_components();
    let components = patched_overview(&strict);
    let overview = validator(&components, "xcodeOverview");
    let errors_v = validator(&components, "ErrorResponse");
    let env = start(|c| c.apps = 5).await;
    let apps = env.handle.control.app_ids();
    assert_eq!(apps.len(), 5);
    let mut validated = 0;
    let mut mixed_body = None;
    for scenario in [Scenario::Baseline, Scenario::Mixed, Scenario::Regression] {
        env.handle.control.set_scenario(scenario);
        for app in &apps {
            for query in ["", "?filter[deviceType]=all_iphones,all_ipads"] {
                let path = format!("/v1/apps/{app}/performanceOverviews{query}");
                let r = env.get(&path).await;
                assert_eq!(r.status, 200, "{path}");
                assert_eq!(r.content_type, "application/vnd.apple.xcode-overview+json");
                let body = r.json();
                assert!(
                    body["categories"].as_array().is_some_and(|c| !c.is_empty())
                        && body["signatures"]["topHangPoint"]
                            .as_array()
                            .is_some_and(|s| !s.is_empty()),
                    "{path}: the overview has data"
                );
                let errs = errors(&overview, &body);
                assert!(
                    errs.is_empty(),
                    "{scenario:?} {path}: {:#?}",
                    &errs[..errs.len().min(10)]
                );
                validated += 1;
                if scenario == Scenario::Mixed && mixed_body.is_none() && query.is_empty() {
                    mixed_body = Some(body);
                }
            }
        }
    }
    assert_eq!(validated, 3 * apps.len() * 2);
    // The route's errors are 4.5.1 ErrorResponses (`detail` now required).
    for (path, status) in [
        ("/v1/apps/999/performanceOverviews".to_string(), 404),
        (
            format!("/v1/apps/{}/performanceOverviews?limit=5", apps[0]),
            400,
        ),
    ] {
        let r = env.get(&path).await;
        assert_eq!(r.status, status, "{path}");
        let errs = errors(&errors_v, &r.json());
        assert!(errs.is_empty(), "{path}: {errs:#?}");
    }

    // The live shape needs the patches; Apple's own shape does not.
    let body = mixed_body.unwrap();
    let unpatched = validator(&strict, "xcodeOverview");
    let errs = errors(&unpatched, &body);
    assert!(
        errs.iter().any(|e| e.contains("percentageBreakdown"))
            && errs.iter().any(|e| e.contains("referenceVersions")),
        "{errs:#?}"
    );
    let example: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "asc/examples/constructed_performanceOverviews_example.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let errs = errors(&unpatched, &example);
    assert!(errs.is_empty(), "the constructed example: {errs:#?}");

    // Broken bodies are rejected: the validator checks something.
    let broken: Vec<Breaker> = vec![
        Box::new(|v: &mut Value| {
            v["signatures"]["topHangPoint"][0]["trendInfo"] = json!("SIDEWAYS")
        }),
        Box::new(|v: &mut Value| v["signatures"]["topHangPoint"][0]["lineNumber"] = json!("88")),
        Box::new(|v: &mut Value| v["signatures"]["topLaunchPoint"][0]["count"] = json!(1.5)),
        Box::new(|v: &mut Value| v["categories"][0]["sections"][0]["sortOrder"] = json!("1")),
        Box::new(|v: &mut Value| v["categories"][0]["identifier"] = json!(7)),
        Box::new(|v: &mut Value| {
            v["insights"]["regressions"][0]["metricCategory"] = json!("NETWORK")
        }),
        Box::new(|v: &mut Value| v["appMetadata"]["appId"] = json!(1)),
    ];
    for (n, breaker) in broken.into_iter().enumerate() {
        let mut b = body.clone();
        breaker(&mut b);
        assert!(!overview.is_valid(&b), "broken body {n} accepted");
    }
}
