//! Serde data model for the App Store Connect Power & Performance API.
//!
//! Decoding is lenient where the live API is inconsistent with its spec
//! (`../shared/asc/API-NOTES.md` §7): unknown fields are ignored, enum-like
//! values are kept as plain strings, string-or-array fields accept both, and
//! every optional field defaults. Serialization writes the shape the *live*
//! API returns (arrays for `referenceVersions` and `percentageBreakdown`), so
//! the simulator emits what Apple really sends.

mod apps;
pub mod callstack;
mod common;
mod diagnostics;
mod metrics;

pub use apps::*;
pub use common::*;
pub use diagnostics::*;
pub use metrics::*;
