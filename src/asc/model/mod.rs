//! Serde data model for the App Store Connect Power & Performance API.
//!
//! Decoding is lenient where the live API is inconsistent with its spec
//! (`../shared/asc/API-NOTES.md` §7): unknown fields are ignored, enum-like
//! values are kept as plain strings, string-or-array fields accept both, and
//! every optional field defaults. Serialization writes the shape the *live*
//! API returns (arrays for `referenceVersions` and `percentageBreakdown`), so
//! the simulator emits what Apple really sends.
//!
//! Lenient is not blind: the keys that carry the data (`productData`,
//! `metricCategories`, `metrics`, `datasets`, `points`; `diagnosticLogs`)
//! must be present and be arrays, so a renamed or missing key is a decode
//! error at its JSON path, while a present, empty `productData` stays
//! Apple's "not measured yet". The same rule holds for API 4.5's overview
//! (`categories`, `sections`, `datasets`, `points`, `signatures` and its
//! three lists; see [`XcodeOverview`]). Decode with [`decode::json`], which
//! also lifts serde_json's depth limit safely (deep call stacks).

mod apps;
pub mod callstack;
mod common;
pub mod decode;
mod diagnostics;
mod metrics;
mod overview;

pub use apps::*;
pub use common::*;
pub use diagnostics::*;
pub use metrics::*;
pub use overview::*;
