//! The outputs: pure mappings from a [`Snapshot`](crate::refresh::Snapshot)
//! to what scrapers and collectors receive.
//!
//! [`prometheus`] encodes the text exposition (once per refresh) and holds the
//! naming and unit rules of the metric contract (`CONTRACT.md`,
//! `docs/metrics.md`), which the OTLP output shares: [`otlp`] pushes the same
//! families (via [`families_with_units`]) as OTel metrics, and diagnostic
//! logs as OTLP log records. [`stats`] holds the OTLP output's self-metrics.

pub mod otlp;
pub mod prometheus;
pub mod stats;

pub use self::prometheus::{
    BuildMeta, CONTENT_TYPE, Exposition, LiveStats, UnitMapping, encode, encode_with_stats,
    families, families_with_units, metric_family_name, snake_case, unit_mapping,
};
pub use self::stats::{ExportStats, ExportStatsSnapshot, Signal};
