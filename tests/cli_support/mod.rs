//! Helpers shared by the CLI integration tests (`tests/cli.rs`,
//! `tests/parse.rs`): run the real binary, find `../shared`, start the
//! simulator in-process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use asc_perf_exporter::asc::auth::{generate_key_pair, write_private_key};
use asc_perf_exporter::asc::client::parse_base_url;
use asc_perf_exporter::asc::{AscClient, AuthConfig, ClientConfig, KeySource, TokenProvider};
use asc_perf_exporter::sim::{self, SimConfig, SimHandle};

pub const BIN: &str = env!("CARGO_BIN_EXE_asc-perf-exporter");
pub const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";
pub const KEY_ID: &str = "TESTKEY123";

/// `$CARGO_MANIFEST_DIR/../shared`, else `/work/shared`.
pub fn shared_dir() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if local.join("asc/examples").is_dir() {
        return local;
    }
    PathBuf::from("/work/shared")
}

pub fn example(name: &str) -> PathBuf {
    shared_dir().join("asc/examples").join(name)
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The binary with every ASC_* variable and RUST_LOG removed.
pub fn bare() -> Command {
    let mut c = Command::new(BIN);
    for v in [
        "ASC_ISSUER_ID",
        "ASC_KEY_ID",
        "ASC_PRIVATE_KEY_PATH",
        "ASC_PRIVATE_KEY",
        "ASC_API_BASE_URL",
        "ASC_OUTPUT",
        "ASC_TIMEOUT",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts the one-line failure contract: exit 1, exactly one stderr line
/// starting `error:`, no panic. Returns that line.
pub fn one_error(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stderr: {err}\nstdout: {}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

/// A simulator on 127.0.0.1:0 with a fresh key pair, kept alive with its
/// runtime for the lifetime of this value.
pub struct Sim {
    pub rt: tokio::runtime::Runtime,
    pub handle: Option<SimHandle>,
    pub base_url: String,
    pub private_pem: String,
    pub public_pem: String,
    pub dir: tempfile::TempDir,
    pub key_path: PathBuf,
}

impl Sim {
    pub fn start() -> Sim {
        Self::start_with(|_| {})
    }

    /// A simulator whose configuration `tweak` adjusts (e.g. fixtures).
    pub fn start_with(tweak: impl FnOnce(&mut SimConfig)) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (private_pem, public_pem) = generate_key_pair();
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("AuthKey_TESTKEY123.p8");
        write_private_key(&key_path, &private_pem).unwrap();
        let mut config = SimConfig::new(public_pem.clone());
        config.key_id = Some(KEY_ID.to_string());
        config.issuer_id = Some(ISSUER.to_string());
        tweak(&mut config);
        let handle = rt
            .block_on(sim::start(config, "127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let base_url = handle.base_url();
        Sim {
            rt,
            handle: Some(handle),
            base_url,
            private_pem,
            public_pem,
            dir,
            key_path,
        }
    }

    /// The binary pointed at this simulator through the environment.
    pub fn cmd(&self) -> Command {
        let mut c = bare();
        c.env("ASC_API_BASE_URL", &self.base_url)
            .env("ASC_ISSUER_ID", ISSUER)
            .env("ASC_KEY_ID", KEY_ID)
            .env("ASC_PRIVATE_KEY_PATH", &self.key_path);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// A client with the same credentials, to fetch what the CLI was served.
    pub fn client(&self) -> AscClient {
        let auth = TokenProvider::new(AuthConfig::new(
            Some(ISSUER.to_string()),
            KEY_ID,
            KeySource::Inline(self.private_pem.clone()),
        ))
        .unwrap();
        let config = ClientConfig {
            base_url: parse_base_url(&self.base_url).unwrap(),
            ..ClientConfig::default()
        };
        AscClient::new(config, auth).unwrap()
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}
