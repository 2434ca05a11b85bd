//! asc-perf-exporter: App Store Connect Power & Performance data for
//! Prometheus, OpenTelemetry, Grafana and Alertmanager.
//!
//! Data flows one way: [`asc`] (auth, client, model) → [`refresh`] (loop,
//! snapshot, state) → export (Prometheus) → server. [`sim`] is a simulated
//! App Store Connect; cli the command line; [`config`] the exporter's settings.

pub mod asc;
pub mod config;
pub mod refresh;
pub mod sim;
