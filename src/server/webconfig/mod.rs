//! `--web.config.file`: the Prometheus exporter-toolkit's web configuration
//! (TLS, client certificates, basic auth, response headers, rate limit) in
//! exactly the toolkit's file format, so a file written for node_exporter
//! works here (see `docs/web-config.md`).
//!
//! - [`format`]: the file's syntax and the checks that need no other file;
//! - [`tls`]: `tls_server_config` on rustls (what rustls cannot honour is an
//!   error, never ignored);
//! - [`auth`]: `basic_auth_users` (bcrypt, with the toolkit's cache);
//! - [`source`]: the file while the server runs (re-read per request and
//!   per connection, last good configuration kept) and the middleware that
//!   guards every route.

pub mod auth;
pub mod format;
pub mod source;
pub mod tls;

pub use format::WebConfigFile;
pub use source::{WebConfigError, WebConfigSource, guard};

/// Checks a web configuration file (and the certificate, key and CA it
/// names) as the server would at start, without serving.
pub fn validate(path: &std::path::Path) -> Result<(), WebConfigError> {
    WebConfigSource::load(path).map(|_| ())
}
