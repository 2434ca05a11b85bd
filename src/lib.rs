//! asc-perf-exporter: App Store Connect Power & Performance data for
//! Prometheus, OpenTelemetry, Grafana and Alertmanager.
//!
//! Data flows one way: [`asc`] (auth, client, model) → [`refresh`] (loop,
//! snapshot, state) → [`export`] (Prometheus) → [`server`]. [`sim`] is a
//! simulated App Store Connect; [`cli`] the command line; [`service`] wires the exporter together;
//! [`config`] holds its settings; [`clock`] reads the wall clock as Unix time.

pub mod asc;
pub mod cli;
pub mod clock;
pub mod config;
pub mod explorer;
pub mod export;
pub mod heap;
pub mod refresh;
pub mod server;
pub mod service;
pub mod sim;
