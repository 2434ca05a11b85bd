//! A faithful, in-process simulation of the App Store Connect *Power and
//! Performance* API (`../shared/asc/API-NOTES.md`).
//!
//! Apple's API cannot be reached from development machines or CI, so the
//! exporter is developed and tested against this simulator. It serves the
//! same routes, media types, JSON:API envelopes, paging (`links.next` with an
//! opaque `cursor=`), errors (`ErrorResponse` with Apple's codes), ES256 JWT
//! checks and `X-Rate-Limit` budget as the live API, and writes bodies with
//! the crate's own serde model ([`crate::asc::model`]) so client and
//! simulator agree on the live-API shape (API-NOTES §7).
//!
//! * [`data`]: the synthetic account, a pure function of
//!   (`seed`, [`Scenario`], released versions, removed apps);
//!   [`overview`]: API 4.5's performance overview built from it.
//! * [`server`]: the axum HTTP server and the API pipeline (count, JWT,
//!   budget, faults, answer); `routes`: the routes' handlers; `jsonapi`:
//!   the parsed query, paging and links the handlers share; `response`:
//!   `ErrorResponse` errors and the common headers.
//! * `admin`: the `/_sim` admin API (documented in `docs/simulator.md`).
//! * [`auth`]: JWT verification.
//! * [`fixtures`]: saved responses served for chosen ids.
//! * [`control`]: scenarios, fault injection, request counting, rate limits.
//! * [`faults`]: what an injected fault is (every kind, its JSON form);
//!   [`inject`]: how each kind goes on the wire (`docs/simulator.md`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use asc_perf_exporter::sim::{self, SimConfig, Scenario};
//! let (_private, public) = asc_perf_exporter::asc::auth::generate_key_pair();
//! let handle = sim::start(SimConfig::new(public), "127.0.0.1:0".parse().unwrap()).await?;
//! handle.control.set_scenario(Scenario::Regression);
//! println!("{}", handle.base_url());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
pub mod auth;
pub mod control;
pub mod data;
pub mod faults;
pub mod fixtures;
pub mod inject;
mod jsonapi;
pub mod overview;
mod response;
mod routes;
pub mod server;

use std::net::SocketAddr;

pub use control::{Scenario, SimControl};
pub use data::{Account, generate_account};
pub use faults::{Drift, Fault, FaultKind, Framing, NanLiteral, RetryAfter};
pub use fixtures::{Fixture, FixtureBody, FixtureRoute};
pub use server::{SimHandle, start};

/// Simulator configuration. [`SimConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct SimConfig {
    /// Seed of the synthetic account (default 42).
    pub seed: u64,
    /// Number of synthetic apps (default 3; at least 1).
    pub apps: usize,
    /// Marketing versions per app that the metrics cover (default 8, the
    /// "up to eight most recent versions" of WWDC20).
    pub versions: usize,
    /// SPKI PEM public key that verifies client JWTs (ES256).
    pub public_key_pem: String,
    /// When set, the JWT header `kid` must match.
    pub key_id: Option<String>,
    /// When set, `claims.iss` must match; when `None`, a token needs either an
    /// `iss` or `sub == "user"` (individual keys).
    pub issuer_id: Option<String>,
    /// Hourly request budget reported in `X-Rate-Limit` (default 3600).
    pub hour_limit: u64,
    /// Per-minute budget (default 150; 0 = no minute window).
    pub minute_limit: u64,
    /// Page size when a request has no `limit` (Apple: 50).
    pub page_size: usize,
    /// Saved responses that override the synthetic ones.
    pub fixtures: Vec<Fixture>,
}

impl SimConfig {
    /// Defaults: seed 42, 3 apps, 8 versions, 3600/h, 150/min, pages of 50.
    pub fn new(public_key_pem: String) -> Self {
        Self {
            seed: 42,
            apps: 3,
            versions: 8,
            public_key_pem,
            key_id: None,
            issuer_id: None,
            hour_limit: 3600,
            minute_limit: 150,
            page_size: 50,
            fixtures: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("apps", &self.apps)
            .field("versions", &self.versions)
            .field("key_id", &self.key_id)
            .field("issuer_id", &self.issuer_id)
            .field("hour_limit", &self.hour_limit)
            .field("minute_limit", &self.minute_limit)
            .field("page_size", &self.page_size)
            .field("fixtures", &self.fixtures.len())
            .finish_non_exhaustive()
    }
}

/// The address a simulator listens on by default.
pub fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
