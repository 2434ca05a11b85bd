//! The outputs: pure mappings from a [`Snapshot`](crate::refresh::Snapshot)
//! to what scrapers and collectors receive.
//!
//! [`prometheus`] maps a snapshot to metric families, following the naming
//! and unit rules of the metric contract (`CONTRACT.md`, `docs/metrics.md`)
//! in [`units`], which the OTLP output shares: [`otlp`] pushes the same
//! families (via [`families_with_units`]) as OTel metrics, and diagnostic
//! logs as OTLP log records. [`exposition`] encodes the families once per
//! refresh in the text format 0.0.4 and in OpenMetrics 1.0.0
//! ([`openmetrics`]), each with a gzip copy ([`gzip`]: a member a scrape can
//! continue), and builds a scrape's body with the process metrics read at
//! scrape time ([`process`]). [`stats`] holds the OTLP output's self-metrics.

pub mod exposition;
pub mod gzip;
pub mod openmetrics;
pub mod otlp;
pub mod process;
pub mod prometheus;
pub mod stats;
pub mod units;

pub use self::exposition::{Encodable, Exposition, Format, TEXT_CONTENT_TYPE};
pub use self::prometheus::{
    BuildMeta, CONTENT_TYPE, LiveStats, UnitMapping, encode, encode_with_stats, families,
    families_with_units, metric_family_name, snake_case, unit_mapping,
};
pub use self::stats::{ExportStats, ExportStatsSnapshot, Signal};
