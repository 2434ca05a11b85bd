//! The outputs: pure mappings from a [`Snapshot`](crate::refresh::Snapshot)
//! to what scrapers and collectors receive.
//!
//! The pipeline inside: [`mapping`] turns a snapshot into the neutral family
//! model ([`model`]), once per snapshot, following the naming and unit rules
//! of the metric contract (`CONTRACT.md`, `docs/metrics.md`) in [`units`]
//! and [`names`]. Every output reads that model and nothing else:
//! [`exposition`] writes it in the text format 0.0.4 ([`text`]) and in
//! OpenMetrics 1.0.0 ([`openmetrics`]), each with a gzip copy ([`gzip`]: a
//! member a scrape can continue) and builds a scrape's body with the
//! exporter's live metrics ([`live`]: a `prometheus` registry encoded per
//! scrape); [`otlp`] pushes the same families as OTel metrics, and
//! diagnostic logs as OTLP log records. [`stats`] holds the OTLP output's
//! self-metrics.

pub mod exposition;
pub mod gzip;
pub mod live;
pub mod mapping;
pub mod model;
pub mod names;
pub mod openmetrics;
pub mod otlp;
pub mod stats;
pub mod text;
pub mod units;

pub use self::exposition::{Exposition, Format, TEXT_CONTENT_TYPE};
pub use self::mapping::{BuildMeta, families, families_sized};
pub use self::model::{Families, Family, Kind, Sizes};
pub use self::stats::{ExportStats, ExportStatsSnapshot, Signal};
pub use self::units::{UnitMapping, metric_family_name, snake_case, unit_mapping};

/// A snapshot and its families, mapped once and published to the outputs
/// that need both (OTLP: the families as metrics, the snapshot's logs).
#[derive(Debug, Clone)]
pub struct Mapped {
    pub snapshot: std::sync::Arc<crate::refresh::Snapshot>,
    pub families: std::sync::Arc<Families>,
}

/// Maps a snapshot and writes it in both formats (what the service does
/// once per snapshot, in one call: for tools, tests and benchmarks).
pub fn encode(snapshot: &crate::refresh::Snapshot, meta: &BuildMeta) -> Exposition {
    Exposition::encode(&families(snapshot, meta))
}
