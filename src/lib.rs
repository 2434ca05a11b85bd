//! asc-perf-exporter: App Store Connect Power & Performance data for
//! Prometheus, OpenTelemetry, Grafana and Alertmanager.
//!
//! Data flows one way: [`asc`] (auth, client, model) → refresh → export →
//! server. [`sim`] is a simulated App Store Connect; [`cli`] the command line.

pub mod asc;
pub mod cli;
pub mod sim;
