//! The snapshot the Prometheus output tests are built on: Apple's example
//! documents (a launch-time app document, a real empty one, a disk-writes
//! signatures document) and a build-level document made by hand, for three
//! apps (one with data, one empty, one with a name that needs escaping);
//! and a larger account made of copies of it.

use std::path::PathBuf;

use asc_perf_exporter::asc::BuildInfo;
use asc_perf_exporter::asc::model::{DiagnosticSignature, Document, XcodeMetrics};
use asc_perf_exporter::export::BuildMeta;
use asc_perf_exporter::refresh::snapshot::{ApiSnapshot, RateLimitSnapshot, RefreshStatus};
use asc_perf_exporter::refresh::{AppRef, AppSnapshot, BuildSnapshot, Snapshot};

pub const APP: &str = "1583111882";
pub const EMPTY_APP: &str = "1000000002";
pub const ODD_APP: &str = "1000000003";

/// Reads a file of `shared/asc/examples`, beside the worktree or at /work.
pub fn example(name: &str) -> String {
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/asc/examples"),
        PathBuf::from("/work/shared/asc/examples"),
    ];
    for dir in &candidates {
        if let Ok(s) = std::fs::read_to_string(dir.join(name)) {
            return s;
        }
    }
    panic!("example {name} not found in {candidates:?}");
}

/// A build-level document made by hand: scrollHitchRate with goal bands,
/// goals, error margins, a percentageBreakdown array and a recommended
/// goal, plus a metric in a unit we do not convert.
const BUILD_METRICS: &str = r#"{
  "version": "1.0.0",
  "productData": [{
    "platform": "iOS",
    "metricCategories": [
      {
        "identifier": "ANIMATION",
        "metrics": [{
          "identifier": "scrollHitchRate",
          "goalKeys": [
            {"goalKey": "poor", "lowerBound": 10},
            {"goalKey": "fair", "lowerBound": 5, "upperBound": 10},
            {"goalKey": "good", "lowerBound": 0, "upperBound": 5}
          ],
          "unit": {"identifier": "scrollHitchRate", "displayName": "%"},
          "datasets": [{
            "filterCriteria": {"device": "all_iphones", "deviceMarketingName": "All iPhones", "percentile": "percentile.fifty"},
            "points": [{
              "version": "2.0",
              "value": 6.5,
              "errorMargin": 0.5,
              "goal": "fair",
              "percentageBreakdown": [
                {"value": 60, "subSystemLabel": "UIKit"},
                {"value": 40, "subSystemLabel": "App"}
              ]
            }],
            "recommendedMetricGoal": {"value": 5, "detail": "Keep hitches under 5 %"}
          }]
        }]
      },
      {
        "identifier": "HANG",
        "metrics": [{
          "identifier": "hangRate",
          "unit": {"identifier": "secondsPerHour", "displayName": "s/hr"},
          "datasets": [{
            "filterCriteria": {"device": "all_iphones", "deviceMarketingName": "All iPhones", "percentile": "percentile.ninety"},
            "points": [{"version": "2.0", "value": 1.25}]
          }]
        }]
      }
    ]
  }]
}"#;

pub fn snapshot() -> Snapshot {
    let app_metrics: XcodeMetrics = serde_json::from_str(&example(
        "apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json",
    ))
    .expect("Apple example decodes");
    let empty: XcodeMetrics =
        serde_json::from_str(&example("real_perfPowerMetrics_app_empty_sbecker11.json"))
            .expect("empty example decodes");
    assert!(!empty.has_data());
    let signatures: Document<DiagnosticSignature> = serde_json::from_str(&example(
        "apple_doc_example_diagnosticSignatures_build_disk_writes.json",
    ))
    .expect("signatures decode");
    let build_metrics: XcodeMetrics = serde_json::from_str(BUILD_METRICS).expect("decodes");

    Snapshot {
        format: 1,
        apps: [
            AppSnapshot {
                app: AppRef {
                    id: APP.into(),
                    name: "Example App".into(),
                    bundle_id: "com.example.app".into(),
                    account: "default".into(),
                },
                metrics: Some(app_metrics),
                overview: None,
                builds: vec![
                    BuildSnapshot {
                        build: BuildInfo {
                            id: "1a254ec1-8e3d-48e7-bbd6-6b9a30072b29".into(),
                            number: "203".into(),
                            version: Some("2.0".into()),
                            platform: Some("IOS".into()),
                            uploaded_date: Some("2021-10-10T21:53:55-07:00".into()),
                            processing_state: Some("VALID".into()),
                            expired: Some(false),
                        },
                        metrics: Some(build_metrics),
                        signatures: signatures.data,
                        logs: vec![],
                    },
                    BuildSnapshot {
                        build: BuildInfo {
                            id: "b181".into(),
                            number: "181".into(),
                            version: Some("1.3".into()),
                            ..Default::default()
                        },
                        metrics: None,
                        ..Default::default()
                    },
                ],
                last_success_unix: Some(1_700_000_000.0),
                last_attempt_failed: false,
                last_error: None,
            },
            AppSnapshot {
                app: AppRef {
                    id: EMPTY_APP.into(),
                    name: "Empty App".into(),
                    bundle_id: "com.example.empty".into(),
                    account: "default".into(),
                },
                metrics: Some(empty),
                overview: None,
                builds: vec![],
                last_success_unix: Some(1_699_999_000.5),
                last_attempt_failed: true,
                last_error: Some("HTTP 500".into()),
            },
            AppSnapshot {
                app: AppRef {
                    id: ODD_APP.into(),
                    name: "Odd \"quoted\" back\\slash\nnewline".into(),
                    bundle_id: "com.example.odd".into(),
                    account: "default".into(),
                },
                metrics: None,
                ..Default::default()
            },
        ]
        .into_iter()
        .map(Into::into)
        .collect(),
        refresh: RefreshStatus {
            last_attempt_unix: 1_700_000_100.0,
            last_success: true,
            last_success_unix: Some(1_700_000_100.0),
            duration_seconds: 12.5,
            interval_seconds: 3600.0,
            next_attempt_unix: None,
            progress: None,
            error: None,
            unseen_apps: Vec::new(),
        },
        api: ApiSnapshot {
            requests: vec![
                ("/v1/apps/{id}/perfPowerMetrics".into(), "200".into(), 5),
                ("/v1/apps".into(), "429".into(), 1),
            ],
            retries: 2,
            rate_limit: Some(RateLimitSnapshot {
                hour_limit: Some(3600),
                hour_remaining: Some(3545),
                minute_limit: None,
                minute_remaining: None,
            }),
            ..Default::default()
        },
        accounts: Vec::new(),
    }
}

pub fn meta() -> BuildMeta {
    BuildMeta {
        version: "0.1.0".into(),
        revision: "deadbeef".into(),
    }
}

/// `apps` copies of the example app (ids from 2000000), each with five times
/// its builds (numbers from 100): a large account from real documents.
pub fn large(apps: usize) -> Snapshot {
    let base = snapshot();
    let template = (*base.apps[0]).clone();
    let mut snap = base.clone();
    snap.apps.clear();
    for i in 0..apps {
        let mut a = template.clone();
        a.app.id = format!("{}", 2_000_000 + i);
        for _ in 0..4 {
            a.builds.extend(template.builds.iter().cloned());
        }
        for (j, b) in a.builds.iter_mut().enumerate() {
            b.build.number = format!("{}", 100 + j);
        }
        snap.apps.push(a.into());
    }
    snap
}
