//! App Store Connect: the API contract ([`api`]), auth, HTTP client, data
//! model.

pub mod api;
pub mod auth;
pub mod client;
pub mod endpoints;
pub mod error;
pub mod model;
pub mod ratelimit;
pub mod stats;

pub use api::BuildInfo;
pub use auth::{AuthConfig, AuthError, KeySource, TokenProvider};
pub use client::{AscClient, ClientConfig, Fetched, MetricsFilter};
pub use error::AscError;
