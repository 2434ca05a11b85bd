//! Call stacks of any real depth (issue 10, "What was seen" 2): deep
//! `subFrames` chains decode intact through the client, `parse` and the
//! state file, render as text and as the OTLP log body, and a chain past
//! `MAX_CALL_STACK_DEPTH` is truncated with a marker instead of failing.
//! Everything that touches a tree runs on a 2 MiB thread (the stack of a
//! tokio worker or `spawn_blocking` thread) in this debug build.

mod cli_support;

use asc_perf_exporter::asc::api::BuildInfo;
use asc_perf_exporter::asc::model::callstack::call_stack_trees;
use asc_perf_exporter::asc::model::decode::{self, MAX_CALL_STACK_DEPTH, TRUNCATED_FRAME};
use asc_perf_exporter::asc::model::{CallStackNode, DiagnosticLogs, DiagnosticSignature};
use asc_perf_exporter::export::otlp::log_records;
use asc_perf_exporter::refresh::snapshot::SNAPSHOT_FORMAT;
use asc_perf_exporter::refresh::state::StateStore;
use asc_perf_exporter::refresh::{AppRef, AppSnapshot, BuildSnapshot, Snapshot};
use cli_support::*;

/// Runs `f` on a thread with a 2 MiB stack, as tokio's threads have.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow or panic on a 2 MiB stack")
}

/// A diagnosticLogs document with one log whose only call stack is a chain
/// of `depth` frames `frame_0` (root) … `frame_{depth-1}` (the blame leaf).
/// Written as text: building it as a `serde_json::Value` would recurse.
fn deep_logs_json(depth: usize) -> String {
    let mut s = String::from(
        r#"{"version":"1.0.0","productData":[{"signatureId":"deep","diagnosticLogs":[{"diagnosticMetaData":{"appVersion":"1.0","bundleId":"com.example.deep","event":"hang"},"callStackTree":[{"callStackPerThread":true,"callStacks":[{"callStackRootFrames":["#,
    );
    for i in 0..depth {
        let blame = i + 1 == depth;
        s.push_str(&format!(
            r#"{{"sampleCount":5,"binaryName":"Deep","symbolName":"frame_{i}","offsetIntoSymbol":"4","isBlameFrame":{blame},"subFrames":["#
        ));
    }
    s.push_str(&"]}".repeat(depth));
    s.push_str("]}]}]}]}]}");
    s
}

fn root(logs: &DiagnosticLogs) -> &CallStackNode {
    &logs.product_data[0].diagnostic_logs[0].call_stack_tree[0].call_stacks[0]
        .call_stack_root_frames[0]
}

/// The frames from the root down the first sub-frame of each.
fn chain(root: &CallStackNode) -> Vec<&CallStackNode> {
    let mut out = vec![root];
    while let Some(next) = out.last().unwrap().sub_frames.first() {
        out.push(next);
    }
    out
}

fn snapshot(logs: DiagnosticLogs) -> Snapshot {
    let mut signature = DiagnosticSignature {
        kind: "diagnosticSignatures".into(),
        id: "deep".into(),
        ..Default::default()
    };
    signature.attributes.diagnostic_type = Some("HANGS".into());
    signature.attributes.signature = Some("Deep: frame_0".into());
    Snapshot {
        format: SNAPSHOT_FORMAT,
        apps: vec![std::sync::Arc::new(AppSnapshot {
            app: AppRef {
                id: "1".into(),
                name: "Deep".into(),
                bundle_id: "com.example.deep".into(),
                account: "default".into(),
            },
            builds: vec![BuildSnapshot {
                build: BuildInfo {
                    id: "b1".into(),
                    number: "7".into(),
                    version: Some("1.0".into()),
                    ..Default::default()
                },
                signatures: vec![signature],
                logs: vec![("deep".into(), logs)],
                ..Default::default()
            }],
            ..Default::default()
        })],
        ..Default::default()
    }
}

#[test]
fn serde_json_alone_rejects_stacks_of_about_58_frames() {
    // The bug this file guards against: serde_json's default limit.
    assert!(serde_json::from_str::<DiagnosticLogs>(&deep_logs_json(50)).is_ok());
    let e = serde_json::from_str::<DiagnosticLogs>(&deep_logs_json(60)).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
}

#[test]
fn two_thousand_frames_decode_clone_serialize_render_and_drop_on_a_small_stack() {
    on_small_stack(|| {
        let json = deep_logs_json(2000);
        let logs: DiagnosticLogs = decode::json(json.as_bytes()).expect("decodes");
        let frames = chain(root(&logs));
        assert_eq!(frames.len(), 2000);
        assert_eq!(root(&logs).depth(), 2000);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(
                f.symbol_name.as_deref(),
                Some(format!("frame_{i}").as_str())
            );
        }
        assert!(frames[1999].is_blame() && frames[1999].sub_frames.is_empty());

        let copy = logs.clone();
        assert_eq!(copy, logs);
        let bytes = serde_json::to_vec(&copy).unwrap();
        let back: DiagnosticLogs = decode::json(&bytes).unwrap();
        assert_eq!(back, logs, "serialize + decode round trip");
        assert!(format!("{back:?}").contains("frame_1999"));

        let text = call_stack_trees(&logs.product_data[0].diagnostic_logs[0].call_stack_tree, "");
        assert_eq!(text.lines().count(), 2001);
        assert!(
            text.contains("▶ (5) Deep: frame_1999 + 4  [blame]"),
            "{text:.300}"
        );
        drop((logs, copy, back));
    });
}

#[test]
fn ten_thousand_frames_are_truncated_with_a_marker_not_an_error() {
    on_small_stack(|| {
        let logs: DiagnosticLogs = decode::json(deep_logs_json(10_000).as_bytes()).unwrap();
        let frames = chain(root(&logs));
        assert_eq!(frames.len(), MAX_CALL_STACK_DEPTH + 1);
        let last_kept = frames[MAX_CALL_STACK_DEPTH - 1];
        assert_eq!(
            last_kept.symbol_name.as_deref(),
            Some(format!("frame_{}", MAX_CALL_STACK_DEPTH - 1).as_str())
        );
        let marker = frames[MAX_CALL_STACK_DEPTH];
        assert!(marker.is_truncation_marker());
        assert_eq!(marker.raw_frame.as_deref(), Some(TRUNCATED_FRAME));
        // Truncating again changes nothing: the state file round-trips.
        let back: DiagnosticLogs = decode::json(&serde_json::to_vec(&logs).unwrap()).unwrap();
        assert_eq!(back, logs);
        // Exactly at the bound nothing is cut.
        let at: DiagnosticLogs =
            decode::json(deep_logs_json(MAX_CALL_STACK_DEPTH).as_bytes()).unwrap();
        assert_eq!(root(&at).depth(), MAX_CALL_STACK_DEPTH);
        assert!(!chain(root(&at)).iter().any(|f| f.is_truncation_marker()));
    });
}

/// The explorer's signature page, flame graph and Markdown render a stack
/// as deep as the decoder keeps, on a 2 MiB stack (iteratively).
#[test]
fn the_explorer_renders_the_deepest_kept_stack_on_a_small_stack() {
    on_small_stack(|| {
        let logs: DiagnosticLogs =
            decode::json(deep_logs_json(MAX_CALL_STACK_DEPTH).as_bytes()).unwrap();
        let snap = snapshot(logs);
        let (a, b, sig) =
            asc_perf_exporter::explorer::views::find_signature(&snap, "deep").unwrap();
        let page = asc_perf_exporter::explorer::pages::signature_page(a, b, sig);
        assert_eq!(
            page.matches("<details").count(),
            MAX_CALL_STACK_DEPTH,
            "one per frame with sub-frames, plus the call stack"
        );
        assert!(page.contains(&format!("frame_{}", MAX_CALL_STACK_DEPTH - 1)));
        let svg = asc_perf_exporter::explorer::svg::flamegraph(
            "deep",
            &asc_perf_exporter::explorer::views::logs_of(b, "deep"),
        )
        .unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(
            svg.contains("deeper frames"),
            "paths past the drawn depth are one box"
        );
        let md = asc_perf_exporter::explorer::markdown::signature_markdown(a, b, sig);
        assert!(md.contains(&format!("frame_{}", MAX_CALL_STACK_DEPTH - 1)));
    });
}

/// A client pointed at a server on 127.0.0.1 that answers every logs
/// request with `body(signature id)` under the live API's content type.
/// (A minimal server of its own: the simulator's fixture check parses
/// fixtures with serde_json's default depth limit.)
fn deep_logs_server(rt: &tokio::runtime::Runtime) -> String {
    use axum::extract::Path;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/v1/diagnosticSignatures/{id}/logs",
        get(|Path(id): Path<String>| async move {
            let depth = if id == "deeper" { 10_000 } else { 2000 };
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    asc_perf_exporter::asc::api::DIAGNOSTIC_LOGS_JSON,
                )],
                deep_logs_json(depth),
            )
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[test]
fn the_client_decodes_deep_logs_from_the_api() {
    use asc_perf_exporter::asc::auth::generate_key_pair;
    use asc_perf_exporter::asc::client::parse_base_url;
    use asc_perf_exporter::asc::{AscClient, AuthConfig, ClientConfig, KeySource, TokenProvider};
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let base = deep_logs_server(&server_rt);
    let (private, _) = generate_key_pair();
    let auth = TokenProvider::new(AuthConfig::new(
        Some(ISSUER.to_string()),
        KEY_ID,
        KeySource::Inline(private),
    ))
    .unwrap();
    let config = ClientConfig {
        base_url: parse_base_url(&base).unwrap(),
        ..ClientConfig::default()
    };
    let client = AscClient::new(config, auth).unwrap();
    let (depth, truncated) = on_small_stack(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = client
                .diagnostic_logs("deep", None)
                .await
                .expect("2000 frames");
            let b = client
                .diagnostic_logs("deeper", None)
                .await
                .expect("10000 frames");
            let truncated = chain(root(&b.value)).last().unwrap().is_truncation_marker();
            (root(&a.value).depth(), truncated)
        })
    });
    assert_eq!(depth, 2000);
    assert!(truncated);
}

#[test]
fn the_state_file_saves_and_loads_deep_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    on_small_stack(move || {
        let store = StateStore::open(&path).unwrap();
        for depth in [2000, 10_000] {
            let logs: DiagnosticLogs = decode::json(deep_logs_json(depth).as_bytes()).unwrap();
            let snap = snapshot(logs);
            store.save(&snap).unwrap();
            let loaded = store.load().expect("the saved state loads");
            assert_eq!(loaded, snap, "depth {depth}");
        }
    });
}

#[test]
fn the_otlp_log_body_renders_deep_stacks() {
    on_small_stack(|| {
        for (depth, last) in [
            (2000, "frame_1999".to_string()),
            (10_000, TRUNCATED_FRAME.to_string()),
        ] {
            let logs: DiagnosticLogs = decode::json(deep_logs_json(depth).as_bytes()).unwrap();
            let records = log_records(&snapshot(logs));
            assert_eq!(records.len(), 1);
            let body = &records[0].body;
            assert!(body.contains(&last), "depth {depth}");
            assert!(
                body.len() < 200 * (depth.min(MAX_CALL_STACK_DEPTH) + 10),
                "linear size"
            );
        }
    });
}

#[test]
fn parse_diagnostics_reads_deep_files() {
    let dir = tempfile::tempdir().unwrap();
    for (depth, last) in [
        (2000, "frame_1999".to_string()),
        (10_000, TRUNCATED_FRAME.to_string()),
    ] {
        let f = dir.path().join(format!("deep{depth}.json"));
        std::fs::write(&f, deep_logs_json(depth)).unwrap();
        let f = f.to_str().unwrap();
        let text = ok(&bare()
            .args(["parse", "diagnostics", "-i", f])
            .output()
            .unwrap());
        assert!(text.contains("signatureId: deep") && text.contains("com.example.deep"));
        let text = ok(&bare()
            .args(["parse", "diagnostics", "-i", f, "--callstack"])
            .output()
            .unwrap());
        assert!(text.contains(&last), "depth {depth}: {:.400}", text);
        assert!(text.contains("frame_0"));
        let json = ok(&bare()
            .args(["parse", "diagnostics", "-i", f, "--callstack", "-o", "json"])
            .output()
            .unwrap());
        let logs: DiagnosticLogs = decode::json(json.as_bytes()).unwrap();
        assert_eq!(
            root(&logs).depth(),
            depth.min(MAX_CALL_STACK_DEPTH + 1),
            "the JSON output keeps every frame"
        );
    }
}
