//! The explorer in a real browser (issue 14): Debian's headless Chromium,
//! driven through chromedriver (WebDriver, the `fantoccini` crate), against
//! the exporter in demo mode on 127.0.0.1. Each page loads without console
//! errors, a call-stack tree expands on click, the flame graph renders,
//! and a screenshot of each page is written to
//! `target/explorer-screenshots/` for review.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/run`): with `CI` set a missing one
//! fails the test, otherwise it is skipped with a warning.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asc_perf_exporter::config::Config;
use asc_perf_exporter::service::{self, Demo, ServeOptions};
use axum::http::Method;
use common::require_tool as tool;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

mod common;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `POST /session/{id}/se/log {"type": "browser"}`: chromedriver's console
/// log of the page (with `goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type":"browser"}"#.to_string()))
    }
}

/// The console's errors since the last call.
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c
        .issue_cmd(BrowserLog)
        .await
        .expect("chromedriver returns the browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("explorer-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_loads_without_console_errors_and_the_tree_and_flame_graph_work() {
    let (Some(chromium), Some(chromedriver)) = (
        tool("chromium", "chromium"),
        tool("chromedriver", "chromium-driver"),
    ) else {
        return;
    };

    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    config.diagnostics.logs = true;
    config.refresh.jitter = 0.0;
    let mut exporter = service::start(ServeOptions {
        config,
        private_key_inline: None,
        demo: Some(Demo {
            seed: 7,
            apps: 3,
            listen: "127.0.0.1:0".parse().unwrap(),
            accounts: 1,
        }),
    })
    .await
    .expect("the exporter starts in demo mode");
    let snap = loop {
        exporter.snapshots.changed().await.unwrap();
        let s = exporter.snapshots.borrow_and_update().clone();
        if let Some(s) = s.filter(|s| !s.is_partial()) {
            break s;
        }
    };
    let base = format!("http://{}", exporter.addr);

    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1024"]
        },
        "goog:loggingPrefs": {"browser": "ALL"}
    }))
    .unwrap();
    let started = Instant::now();
    let c = loop {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session with chromium: {e}"),
        }
    };

    let (app, build, sig) = snap
        .apps
        .iter()
        .flat_map(|a| a.builds.iter().map(move |b| (a, b)))
        .find_map(|(a, b)| b.logs.first().map(|(id, _)| (a, b, id.clone())))
        .expect("the demo fetches logs");
    let dir = screenshots();
    let pages = [
        ("home", "/".to_string()),
        ("app", format!("/apps/{}", app.app.id)),
        ("diagnostics", "/diagnostics".to_string()),
        ("signature", format!("/diagnostics/{sig}")),
        ("flamegraph", format!("/diagnostics/{sig}/flamegraph.svg")),
    ];
    for (name, path) in &pages {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let ready: Value = c
            .execute("return document.readyState", vec![])
            .await
            .unwrap();
        assert_eq!(ready, "complete", "{path}");
        if *name != "flamegraph" {
            c.find(Locator::Css("main"))
                .await
                .unwrap_or_else(|_| panic!("{path}: a <main> landmark"));
            let title = c.title().await.unwrap();
            assert!(!title.is_empty(), "{path}: a title");
        }
        let errors = console_errors(&c).await;
        assert!(errors.is_empty(), "{path}: console errors: {errors:?}");
        std::fs::write(
            dir.join(format!("{name}.png")),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }

    // The app page links every metric's chart and the build's signatures.
    c.goto(&format!("{base}/apps/{}", app.app.id))
        .await
        .unwrap();
    let charts = c.find_all(Locator::Css("figure.chart svg")).await.unwrap();
    assert!(!charts.is_empty(), "the app page draws charts");

    // A collapsed frame of the tree opens on click.
    c.goto(&format!("{base}/diagnostics/{sig}")).await.unwrap();
    let closed = c
        .find(Locator::Css(".tree details:not([open]) > summary"))
        .await
        .expect("a collapsed frame (off the blame path)");
    let details = closed.find(Locator::XPath("..")).await.unwrap();
    assert_eq!(
        details.prop("open").await.unwrap().as_deref(),
        Some("false")
    );
    closed.click().await.unwrap();
    assert_eq!(
        details.prop("open").await.unwrap().as_deref(),
        Some("true"),
        "the frame expanded on click"
    );
    let blame = c.find_all(Locator::Css(".tree .blame")).await.unwrap();
    assert!(!blame.is_empty(), "blame frames are highlighted");
    assert!(c.source().await.unwrap().contains(&build.build.number));

    // The flame graph draws one box per frame and its own script runs.
    c.goto(&format!("{base}/diagnostics/{sig}/flamegraph.svg"))
        .await
        .unwrap();
    let boxes: Value = c
        .execute("return document.querySelectorAll('rect').length", vec![])
        .await
        .unwrap();
    assert!(boxes.as_u64().unwrap() > 3, "{boxes}");
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "flame graph: {errors:?}");

    c.close().await.unwrap();
    exporter.shutdown().await;
}
