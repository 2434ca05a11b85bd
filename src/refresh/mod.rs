//! The refresh side: fetch from App Store Connect on an interval, build a
//! complete [`Snapshot`], publish it atomically and persist it.

pub mod merge;
pub mod prune;
pub mod runner;
pub mod shard;
pub mod snapshot;
pub mod state;

pub use snapshot::{AppRef, AppSnapshot, BuildSnapshot, Snapshot};
