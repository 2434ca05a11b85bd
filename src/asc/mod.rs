//! App Store Connect: auth, HTTP client, data model.

pub mod auth;
pub mod client;
pub mod endpoints;
pub mod error;
pub mod model;
pub mod ratelimit;
pub mod stats;

pub use auth::{AuthConfig, AuthError, KeySource, TokenProvider};
pub use client::{AscClient, BuildInfo, ClientConfig, Fetched, MetricsFilter};
pub use error::AscError;
