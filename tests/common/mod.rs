//! Helpers shared by the simulator tests: start a simulator with a fresh
//! key pair, mint tokens, make authenticated requests over real HTTP.
#![allow(dead_code)]

pub mod examples;
pub mod exporter;
pub mod prom;

use std::path::PathBuf;
use std::time::Duration;

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::asc::{AscClient, AuthConfig, ClientConfig, KeySource, TokenProvider};
use asc_perf_exporter::sim::{self, SimConfig, SimHandle};
use serde_json::Value;

pub const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";
pub const KID: &str = "SIMKEY1234";

pub struct Env {
    pub handle: SimHandle,
    pub private_pem: String,
    pub http: reqwest::Client,
    pub provider: TokenProvider,
}

/// The path of `name` on `PATH`. Missing: with `CI` set the test fails
/// (CI installs every tool, `.ci/run`); otherwise `None` with a loud
/// warning, and the caller skips its check.
pub fn require_tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg =
            format!("`{name}` not found on PATH; install Debian's `{package}` (.ci/run does)");
        if std::env::var_os("CI").is_some() {
            panic!("CI is set: {msg}");
        }
        eprintln!("\n!!!!!!!!!! WARNING: check SKIPPED: {msg} !!!!!!!!!!\n");
    }
    found
}

/// `../shared/asc/...` relative to the crate, falling back to `/work/shared`.
pub fn shared(rel: &str) -> PathBuf {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    if local.exists() {
        local
    } else {
        PathBuf::from("/work/shared").join(rel)
    }
}

pub async fn start(tweak: impl FnOnce(&mut SimConfig)) -> Env {
    let (private_pem, public_pem) = generate_key_pair();
    let mut config = SimConfig::new(public_pem);
    config.key_id = Some(KID.into());
    config.issuer_id = Some(ISSUER.into());
    tweak(&mut config);
    let handle = sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    let provider = TokenProvider::new(AuthConfig::new(
        Some(ISSUER.into()),
        KID,
        KeySource::Inline(private_pem.clone()),
    ))
    .unwrap();
    Env {
        handle,
        private_pem,
        http: reqwest::Client::new(),
        provider,
    }
}

pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// The single error of an ErrorResponse.
    pub fn error(&self) -> Value {
        assert_eq!(self.content_type, "application/json");
        let v = self.json();
        let errors = v["errors"].as_array().expect("errors array");
        assert_eq!(errors.len(), 1, "{v}");
        assert_eq!(errors[0]["status"], self.status.to_string());
        errors[0].clone()
    }
}

impl Env {
    pub fn base(&self) -> String {
        self.handle.base_url()
    }

    pub fn token(&self) -> String {
        self.provider.mint().unwrap()
    }

    /// GET `path_and_query` (or an absolute URL) with a valid token.
    pub async fn get(&self, path: &str) -> Resp {
        let token = self.token();
        self.get_with(path, Some(&token)).await
    }

    pub async fn get_with(&self, path: &str, token: Option<&str>) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base(), path)
        };
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.expect("body").to_vec();
        Resp {
            status,
            content_type,
            headers,
            bytes,
        }
    }

    /// GET expecting 200 JSON.
    pub async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.bytes)
        );
        r.json()
    }

    /// Follows `links.next` from `path`, returning every `data` item.
    pub async fn all_pages(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            assert!(pages < 500, "paging does not end");
            let doc = self.ok(&url).await;
            items.extend(doc["data"].as_array().expect("data").iter().cloned());
            if let Some(n) = doc["links"]["next"].as_str() {
                assert!(
                    n.starts_with(&self.base()),
                    "next link {n} leaves the origin {}",
                    self.base()
                );
                assert!(n.contains("cursor="), "{n}");
                next = Some(n.to_string());
            }
        }
        (items, pages)
    }

    pub fn client(&self) -> AscClient {
        let config = ClientConfig {
            base_url: self.base().parse().unwrap(),
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            ..Default::default()
        };
        let provider = TokenProvider::new(AuthConfig::new(
            Some(ISSUER.into()),
            KID,
            KeySource::Inline(self.private_pem.clone()),
        ))
        .unwrap();
        AscClient::new(config, provider).unwrap()
    }

    /// The id of the first app and of one VALID build of it.
    pub async fn first_app_and_build(&self) -> (String, String) {
        let apps = self.ok("/v1/apps").await;
        let app = apps["data"][0]["id"].as_str().unwrap().to_string();
        let builds = self
            .ok(&format!(
                "/v1/builds?filter[app]={app}&filter[processingState]=VALID&sort=-uploadedDate&limit=1"
            ))
            .await;
        let build = builds["data"][0]["id"].as_str().unwrap().to_string();
        (app, build)
    }
}

/// Every `identifier` of `productData[].metricCategories[]`.
pub fn categories(doc: &Value) -> Vec<String> {
    doc["productData"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["metricCategories"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["identifier"].as_str().map(str::to_string))
        .collect()
}

/// Every metric object with its category.
pub fn metrics(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for p in doc["productData"].as_array().into_iter().flatten() {
        for c in p["metricCategories"].as_array().into_iter().flatten() {
            for m in c["metrics"].as_array().into_iter().flatten() {
                out.push((
                    c["identifier"].as_str().unwrap_or("").to_string(),
                    m.clone(),
                ));
            }
        }
    }
    out
}
