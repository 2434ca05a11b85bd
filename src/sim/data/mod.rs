//! The deterministic synthetic account.
//!
//! Everything here is a pure function of the seed, the [`Scenario`], the
//! number of versions each app has released through
//! [`SimControl::release_version`](super::SimControl::release_version) and the
//! removed apps. Every value is drawn from its own ChaCha8 stream seeded from
//! (seed, app, metric, version, ...) by the helpers of this module, so a
//! version's numbers never change when later versions ship, and the first N
//! apps are the same whatever `apps` is.
//!
//! * `catalog`: the static tables: metrics (identifiers, units, goal
//!   bands), categories, devices, percentiles, app names and the call-site
//!   symbols of the diagnostic signatures.
//! * `account`: apps, versions, builds and diagnostic signatures, generated
//!   eagerly (a few milliseconds for 50 apps) into an [`Account`].
//! * `metrics`: the perfPowerMetrics documents and their insights,
//!   generated per request.
//! * `logs`: the diagnostic logs (call stacks) of a signature, generated
//!   per request.
//!
//! ## Scenarios
//! * [`Scenario::Baseline`]: steady metrics (a ±2 % noise per point), every
//!   value below 95 % of its poor bound: no insight, nothing for an alert.
//! * [`Scenario::Regression`]: the baseline, and every app ships one more
//!   version whose `launchTime` is 45 %, `hangRate` 70 % and
//!   `scrollHitchRate` 30 % above the previous versions (high impact).
//! * [`Scenario::Mixed`], the standing stories of a lived-in account:
//!   * app 0, 3, 6…: `peakMemory` steps up 15 % and `launchTime` 12 % at the
//!     latest version (regressions that persist);
//!   * app 1, 4, 7…: `batteryUsage` and `scrollHitchRate` grow 5 % per version
//!     over the last four versions (trending-up insights, regressions against
//!     the average, and a battery p90 in the poor band);
//!   * app 2, 5, 8…: `logicalWrites` spikes 30 % in the latest version (high
//!     impact).
//!
//! The diagnostic signatures' trend insights follow the scenarios too
//! (steady or improving in the baseline, the regressed version's top hang
//! and launch call sites rising, the mixed account's stories): see
//! [`super::overview`], which also builds API 4.5's overview from the
//! account.

mod account;
mod catalog;
mod logs;
mod metrics;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[cfg(doc)]
use super::control::Scenario;

pub use account::{
    Account, BuildRef, SignatureRef, SimApp, SimBuild, SimSignature, SimVersion, generate_account,
};
pub(crate) use catalog::metric_display_name;
pub use catalog::{
    CATEGORIES, DEVICES, DIAGNOSTIC_TYPES, METRICS, MetricSpec, PERCENTILES, goal_for,
};
pub use logs::signature_logs;
pub use metrics::{
    HIGH_IMPACT_PERCENT, MetricsQuery, REGRESSION_REFERENCE_VERSIONS, REGRESSION_THRESHOLD_PERCENT,
    TREND_MIN_RISE_PERCENT, TREND_VERSIONS, app_metrics, build_metrics, compute_insights,
};

// ----- deterministic randomness ---------------------------------------------

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Mixes several integers into one seed.
pub(crate) fn mix(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x243F_6A88_85A3_08D3, |acc, p| splitmix(acc ^ splitmix(*p)))
}

/// FNV-1a of a string, for mixing ids into seeds.
pub(crate) fn str_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn rng(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(parts))
}

fn uuid(r: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = r.r#gen();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        ["8", "9", "a", "b"][(b[8] & 3) as usize],
        &h[17..20],
        &h[20..32]
    )
}

fn hex(r: &mut ChaCha8Rng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", r.r#gen::<u8>()))
        .collect()
}

fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// Shuffles `items` with a stream derived from `parts` (deterministic).
pub(crate) fn shuffle_seeded<T>(items: &mut [T], parts: &[u64]) {
    items.shuffle(&mut rng(parts));
}
