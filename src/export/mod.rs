//! The outputs: pure mappings from a [`Snapshot`](crate::refresh::Snapshot)
//! to what scrapers and collectors receive.
//!
//! [`prometheus`] encodes the text exposition (once per refresh) and holds the
//! naming and unit rules of the metric contract (`CONTRACT.md`,
//! `docs/metrics.md`), which the OTLP output shares.

pub mod prometheus;

pub use self::prometheus::{
    BuildMeta, CONTENT_TYPE, Exposition, UnitMapping, encode, families, metric_family_name,
    snake_case, unit_mapping,
};
