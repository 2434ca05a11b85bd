//! The deterministic synthetic account.
//!
//! Everything here is a pure function of the seed, the [`Scenario`], the
//! number of versions each app has released through
//! [`SimControl::release_version`](super::SimControl::release_version) and the
//! removed apps. Every value is drawn from its own ChaCha8 stream seeded from
//! (seed, app, metric, version, ...), so a version's numbers never change when
//! later versions ship, and the first N apps are the same whatever `apps` is.
//!
//! Apps, versions, builds and diagnostic signatures are generated eagerly
//! (a few milliseconds for 50 apps); metric documents and logs are generated
//! per request.
//!
//! ## Metrics (identifier, unit identifier / display name, goal bands)
//! | category | identifier | unit | good / fair / poor |
//! |---|---|---|---|
//! | LAUNCH | `launchTime` | `milliseconds` / `ms` | none |
//! | HANG | `hangRate` | `secondsPerHour` / `s/hr` | <2 / 2–5 / ≥5 |
//! | MEMORY | `peakMemory` | `megabytes` / `MB` | <400 / 400–700 / ≥700 |
//! | MEMORY | `memoryAtSuspension` | `megabytes` / `MB` | <150 / 150–300 / ≥300 |
//! | DISK | `logicalWrites` | `megabytes` / `MB` (per day) | <100 / 100–500 / ≥500 |
//! | BATTERY | `batteryUsage` | `percentPerDay` / `%/day` | <5 / 5–10 / ≥10 |
//! | BATTERY | `onScreenBatteryUsage` | `percentPerHour` / `%/hr` | <8 / 8–15 / ≥15 |
//! | TERMINATION | `terminations` | `terminationsPerDay` / `per day` | none |
//! | ANIMATION | `scrollHitchRate` | `scrollHitchRate` / `%` | <5 / 5–10 / ≥10 (Apple's example) |
//! | STORAGE | `documentsAndData` | `megabytes` / `MB` | <500 / 500–1000 / ≥1000 |
//!
//! A band is `[lowerBound, upperBound)`; `poor` has no upper bound. Battery
//! points carry a `percentageBreakdown` array that sums to 100.
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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SimConfig;
use super::control::Scenario;
use crate::asc::model::{
    CallStack, CallStackNode, CallStackTree, Dataset, DiagnosticInsight,
    DiagnosticInsightReferenceVersion, DiagnosticLog, DiagnosticLogInsight, DiagnosticLogs,
    DiagnosticLogsProductData, DiagnosticMetaData, FilterCriteria, GoalKey, InsightPopulation,
    Insights, Metric, MetricCategory, MetricsInsight, PercentageBreakdown, Point, ProductData,
    RecommendedMetricGoal, Unit, XcodeMetrics,
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

// ----- static tables ----------------------------------------------------------

/// One synthetic metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    pub category: &'static str,
    pub identifier: &'static str,
    pub unit: &'static str,
    pub unit_display: &'static str,
    /// Typical p50 on all iPhones.
    base: f64,
    /// p90 / p50.
    p90: f64,
    decimals: u32,
    /// (fair lower bound, poor lower bound); good starts at 0.
    pub goals: Option<(f64, f64)>,
    breakdown: bool,
    goal_detail: &'static str,
}

/// The metrics every app reports, in category order.
pub const METRICS: &[MetricSpec] = &[
    MetricSpec {
        category: "LAUNCH",
        identifier: "launchTime",
        unit: "milliseconds",
        unit_display: "ms",
        base: 650.0,
        p90: 2.2,
        decimals: 1,
        goals: None,
        breakdown: false,
        goal_detail: "",
    },
    MetricSpec {
        category: "HANG",
        identifier: "hangRate",
        unit: "secondsPerHour",
        unit_display: "s/hr",
        base: 1.1,
        p90: 3.4,
        decimals: 2,
        goals: Some((2.0, 5.0)),
        breakdown: false,
        goal_detail: "Keep the hang rate below 2 seconds per hour of foreground use.",
    },
    MetricSpec {
        category: "MEMORY",
        identifier: "peakMemory",
        unit: "megabytes",
        unit_display: "MB",
        base: 280.0,
        p90: 1.7,
        decimals: 1,
        goals: Some((400.0, 700.0)),
        breakdown: false,
        goal_detail: "Keep peak memory below 400 MB to avoid memory-limit terminations.",
    },
    MetricSpec {
        category: "MEMORY",
        identifier: "memoryAtSuspension",
        unit: "megabytes",
        unit_display: "MB",
        base: 90.0,
        p90: 1.9,
        decimals: 1,
        goals: Some((150.0, 300.0)),
        breakdown: false,
        goal_detail: "Keep memory at suspension below 150 MB so the app is not evicted in the background.",
    },
    MetricSpec {
        category: "DISK",
        identifier: "logicalWrites",
        unit: "megabytes",
        unit_display: "MB",
        base: 40.0,
        p90: 4.0,
        decimals: 1,
        goals: Some((100.0, 500.0)),
        breakdown: false,
        goal_detail: "Keep logical writes below 100 MB per day.",
    },
    MetricSpec {
        category: "BATTERY",
        identifier: "batteryUsage",
        unit: "percentPerDay",
        unit_display: "%/day",
        base: 3.2,
        p90: 2.3,
        decimals: 2,
        goals: Some((5.0, 10.0)),
        breakdown: true,
        goal_detail: "Keep battery usage below 5% per day.",
    },
    MetricSpec {
        category: "BATTERY",
        identifier: "onScreenBatteryUsage",
        unit: "percentPerHour",
        unit_display: "%/hr",
        base: 5.5,
        p90: 1.8,
        decimals: 2,
        goals: Some((8.0, 15.0)),
        breakdown: true,
        goal_detail: "Keep on-screen battery usage below 8% per hour.",
    },
    MetricSpec {
        category: "TERMINATION",
        identifier: "terminations",
        unit: "terminationsPerDay",
        unit_display: "per day",
        base: 0.6,
        p90: 3.0,
        decimals: 2,
        goals: None,
        breakdown: false,
        goal_detail: "",
    },
    MetricSpec {
        category: "ANIMATION",
        identifier: "scrollHitchRate",
        unit: "scrollHitchRate",
        unit_display: "%",
        base: 2.8,
        p90: 2.4,
        decimals: 2,
        goals: Some((5.0, 10.0)),
        breakdown: false,
        goal_detail: "Keep the scroll hitch rate below 5%.",
    },
    MetricSpec {
        category: "STORAGE",
        identifier: "documentsAndData",
        unit: "megabytes",
        unit_display: "MB",
        base: 150.0,
        p90: 3.0,
        decimals: 1,
        goals: Some((500.0, 1000.0)),
        breakdown: false,
        goal_detail: "Keep documents and data below 500 MB.",
    },
];

/// The eight MetricCategory values, in the order of the response.
pub const CATEGORIES: &[&str] = &[
    "LAUNCH",
    "HANG",
    "MEMORY",
    "DISK",
    "BATTERY",
    "TERMINATION",
    "ANIMATION",
    "STORAGE",
];

/// (device id, marketing name, population label in summaries, factor).
pub const DEVICES: &[(&str, &str, &str, f64)] = &[
    ("all_iphones", "All iPhones", "iPhone (All)", 1.0),
    ("all_ipads", "All iPads", "iPad (All)", 1.1),
    ("iPhone15,2", "iPhone 14 Pro", "iPhone 14 Pro", 0.93),
    ("iPhone16,1", "iPhone 15 Pro", "iPhone 15 Pro", 0.86),
    (
        "iPad13,1",
        "iPad Air (4th generation)",
        "iPad Air (4th generation)",
        1.04,
    ),
];

pub const PERCENTILES: &[&str] = &["percentile.fifty", "percentile.ninety"];

const BATTERY_SUBSYSTEMS: &[(&str, f64)] = &[
    ("CPU", 34.0),
    ("Display", 30.0),
    ("Networking", 17.0),
    ("Location", 8.0),
    ("Audio", 5.0),
    ("Camera", 3.0),
    ("Bluetooth", 3.0),
];

const APP_NAMES: &[&str] = &[
    "Trailhead Hiking",
    "Pocket Ledger",
    "Harbor Weather",
    "Lumen Notes",
    "Beacon Transit",
    "Sprout Recipes",
    "Quill Journal",
    "Orbit Fitness",
    "Canvas Sketch",
    "Tidal Podcasts",
    "Meridian Maps",
    "Ember Reader",
];

/// Diagnostic signature templates: (symbol, file, touches SQLite).
const DISK_SYMBOLS: &[(&str, &str, bool)] = &[
    (
        "-[DatabaseConnection executeSQL:]",
        "DatabaseConnection.m",
        true,
    ),
    (
        "-[DatabaseConnection executeSQL:enumerateRowsWithBlock:]",
        "DatabaseConnection.m",
        true,
    ),
    ("-[ImageCache storeData:forKey:]", "ImageCache.m", false),
    ("-[TemporaryFile appendData:]", "TemporaryFile.m", false),
    ("-[AnalyticsStore flushEvents]", "AnalyticsStore.m", true),
    (
        "-[DownloadManager writeChunk:toURL:]",
        "DownloadManager.m",
        false,
    ),
    ("CoreDataStack.saveContext()", "CoreDataStack.swift", true),
];
const HANG_SYMBOLS: &[(&str, &str, bool)] = &[
    (
        "-[FeedViewController tableView:cellForRowAtIndexPath:]",
        "FeedViewController.m",
        false,
    ),
    ("-[JSONParser parseData:error:]", "JSONParser.m", false),
    ("-[ImageDecoder decodeImageAtURL:]", "ImageDecoder.m", false),
    (
        "closure #1 in SyncEngine.mergeChanges(_:)",
        "SyncEngine.swift",
        false,
    ),
    (
        "-[KeychainStore readItemWithQuery:]",
        "KeychainStore.m",
        false,
    ),
    (
        "-[LayoutEngine calculateLayoutForSize:]",
        "LayoutEngine.m",
        false,
    ),
    (
        "-[AttributedStringRenderer renderHTML:]",
        "AttributedStringRenderer.m",
        false,
    ),
    (
        "SettingsViewModel.loadPreferences()",
        "SettingsViewModel.swift",
        false,
    ),
];
const LAUNCH_SYMBOLS: &[(&str, &str, bool)] = &[
    (
        "-[AppDelegate application:didFinishLaunchingWithOptions:]",
        "AppDelegate.m",
        false,
    ),
    (
        "-[DependencyContainer registerServices]",
        "DependencyContainer.m",
        false,
    ),
    (
        "static FontRegistry.registerAllFonts()",
        "FontRegistry.swift",
        false,
    ),
    ("-[RemoteConfig fetchBlocking]", "RemoteConfig.m", false),
    (
        "-[MigrationManager migrateIfNeeded]",
        "MigrationManager.m",
        true,
    ),
];

/// The three diagnostic types.
pub const DIAGNOSTIC_TYPES: &[&str] = &["DISK_WRITES", "HANGS", "LAUNCHES"];

/// (symbol, source file, touches SQLite).
type Template = (&'static str, &'static str, bool);

fn templates(kind: &str) -> (&'static [Template], (usize, usize)) {
    match kind {
        "DISK_WRITES" => (DISK_SYMBOLS, (3, 5)),
        "HANGS" => (HANG_SYMBOLS, (4, 7)),
        _ => (LAUNCH_SYMBOLS, (2, 4)),
    }
}

// ----- the account ------------------------------------------------------------

/// The whole synthetic account at one state.
#[derive(Debug, Clone)]
pub struct Account {
    pub seed: u64,
    pub scenario: Scenario,
    pub apps: Vec<SimApp>,
    /// Build id -> (app index into `apps`, version index, build index).
    builds: HashMap<String, (usize, usize, usize)>,
    /// Signature id -> (app, version, build, signature) indices.
    signatures: HashMap<String, (usize, usize, usize, usize)>,
}

#[derive(Debug, Clone)]
pub struct SimApp {
    /// Position in the unfiltered account (stable seed input).
    pub index: usize,
    pub id: String,
    pub name: String,
    pub bundle_id: String,
    pub sku: String,
    /// The executable name that appears in call stacks and signatures.
    pub executable: String,
    /// All versions, oldest first.
    pub versions: Vec<SimVersion>,
    /// How many of the newest versions the metrics cover.
    pub window: usize,
    /// Ordinal of the latest version of the baseline (the story anchor).
    pub(crate) anchor: usize,
    /// Whether the standing stories apply ([`Scenario::Mixed`]).
    stories: bool,
    pub(crate) regression_ordinal: Option<usize>,
    factors: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct SimVersion {
    pub ordinal: usize,
    /// Marketing version, e.g. `3.2`.
    pub version: String,
    /// Id of the `preReleaseVersions` resource.
    pub prerelease_id: String,
    pub builds: Vec<SimBuild>,
}

#[derive(Debug, Clone)]
pub struct SimBuild {
    pub id: String,
    /// CFBundleVersion.
    pub number: u64,
    pub uploaded: DateTime<FixedOffset>,
    pub expiration: DateTime<FixedOffset>,
    pub expired: bool,
    pub processing_state: &'static str,
    pub min_os_version: &'static str,
    pub signatures: Vec<SimSignature>,
}

#[derive(Debug, Clone)]
pub struct SimSignature {
    pub id: String,
    pub diagnostic_type: &'static str,
    pub symbol: &'static str,
    /// The blame frame's source file.
    pub file: &'static str,
    sqlite: bool,
    pub offset: u32,
    pub weight: f64,
    pub insight: Option<DiagnosticInsight>,
    pub log_count: usize,
}

impl SimSignature {
    /// `"MyApp: -[DatabaseConnection executeSQL:] + 23"`.
    pub fn signature(&self, executable: &str) -> String {
        format!("{executable}: {} + {}", self.symbol, self.offset)
    }
}

/// A reference to one build inside an [`Account`].
#[derive(Debug, Clone, Copy)]
pub struct BuildRef<'a> {
    pub app: &'a SimApp,
    pub version: &'a SimVersion,
    pub build: &'a SimBuild,
}

/// A reference to one signature inside an [`Account`].
#[derive(Debug, Clone, Copy)]
pub struct SignatureRef<'a> {
    pub app: &'a SimApp,
    pub version: &'a SimVersion,
    pub build: &'a SimBuild,
    pub signature: &'a SimSignature,
}

/// The account of `config` in the baseline scenario with nothing released.
pub fn generate_account(config: &SimConfig) -> Account {
    Account::generate(
        config,
        Scenario::Baseline,
        &BTreeMap::new(),
        &BTreeSet::new(),
    )
}

fn anchor_date() -> DateTime<FixedOffset> {
    // A fixed date keeps bodies identical between runs (no wall clock).
    FixedOffset::west_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2025, 3, 4, 10, 12, 31).single())
        .unwrap_or_else(|| DateTime::<FixedOffset>::from(chrono::DateTime::UNIX_EPOCH))
}

impl Account {
    /// Generates the account for one state: `released` counts the versions
    /// each app id shipped since start, `removed` lists removed app ids.
    pub fn generate(
        config: &SimConfig,
        scenario: Scenario,
        released: &BTreeMap<String, usize>,
        removed: &BTreeSet<String>,
    ) -> Account {
        let seed = config.seed;
        let window = config.versions.max(2);
        let mut apps = Vec::new();
        let mut used_ids = BTreeSet::new();
        for index in 0..config.apps.max(1) {
            let mut r = rng(&[seed, 1, index as u64]);
            let mut numeric: u64 = r.gen_range(1_400_000_000..1_700_000_000);
            while !used_ids.insert(numeric) {
                numeric += 1;
            }
            let id = numeric.to_string();
            if removed.contains(&id) {
                continue;
            }
            let base = APP_NAMES[index % APP_NAMES.len()];
            let name = if index < APP_NAMES.len() {
                base.to_string()
            } else {
                format!("{base} {}", index / APP_NAMES.len() + 1)
            };
            let executable: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
            let bundle_id = format!("com.example.{}", executable.to_lowercase());
            let extra = released.get(&id).copied().unwrap_or(0);
            let regression = scenario == Scenario::Regression;
            let count = window + extra + usize::from(regression);
            let major: u32 = r.gen_range(1..=5);
            let minor: u32 = r.gen_range(0..=4);
            let first_build: u64 = r.gen_range(90..400);
            let factors = METRICS.iter().map(|_| r.gen_range(0.75..1.3)).collect();
            let versions = (0..count)
                .map(|k| generate_version(seed, index, window, k, major, minor, first_build))
                .collect();
            let mut app = SimApp {
                index,
                id,
                sku: format!("SKU-{}", executable.to_uppercase()),
                name,
                bundle_id,
                executable,
                versions,
                window,
                anchor: window - 1,
                stories: scenario == Scenario::Mixed,
                regression_ordinal: regression.then_some(count - 1),
                factors,
            };
            // The call sites' trends follow the scenario (the overview's
            // top call sites and the signatures' insights agree).
            super::overview::shape_call_site_trends(&mut app, scenario);
            apps.push(app);
        }
        let mut account = Account {
            seed,
            scenario,
            apps,
            builds: HashMap::new(),
            signatures: HashMap::new(),
        };
        for (a, app) in account.apps.iter().enumerate() {
            for (v, version) in app.versions.iter().enumerate() {
                for (b, build) in version.builds.iter().enumerate() {
                    account.builds.insert(build.id.clone(), (a, v, b));
                    for (s, sig) in build.signatures.iter().enumerate() {
                        account.signatures.insert(sig.id.clone(), (a, v, b, s));
                    }
                }
            }
        }
        account
    }

    pub fn app(&self, id: &str) -> Option<&SimApp> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn build(&self, id: &str) -> Option<BuildRef<'_>> {
        let &(a, v, b) = self.builds.get(id)?;
        let app = self.apps.get(a)?;
        let version = app.versions.get(v)?;
        Some(BuildRef {
            app,
            version,
            build: version.builds.get(b)?,
        })
    }

    pub fn signature(&self, id: &str) -> Option<SignatureRef<'_>> {
        let &(a, v, b, s) = self.signatures.get(id)?;
        let app = self.apps.get(a)?;
        let version = app.versions.get(v)?;
        let build = version.builds.get(b)?;
        Some(SignatureRef {
            app,
            version,
            build,
            signature: build.signatures.get(s)?,
        })
    }

    /// Every build of every app, oldest first per app.
    pub fn all_builds(&self) -> impl Iterator<Item = BuildRef<'_>> {
        self.apps.iter().flat_map(|app| {
            app.versions.iter().flat_map(move |version| {
                version.builds.iter().map(move |build| BuildRef {
                    app,
                    version,
                    build,
                })
            })
        })
    }
}

fn version_string(major: u32, minor: u32, k: usize) -> String {
    let total = minor as usize + k;
    format!("{}.{}", major as usize + total / 10, total % 10)
}

#[allow(clippy::too_many_arguments)]
fn generate_version(
    seed: u64,
    app: usize,
    window: usize,
    k: usize,
    major: u32,
    minor: u32,
    first_build: u64,
) -> SimVersion {
    let mut r = rng(&[seed, 2, app as u64, k as u64]);
    let anchor = anchor_date();
    // Versions ship about every three weeks; the baseline's latest one
    // (ordinal window-1) ships on the anchor date.
    let offset_days = (k as i64 - (window as i64 - 1)) * 21;
    let release = anchor + Duration::days(offset_days) + Duration::minutes(r.gen_range(-600..600));
    let n_builds: usize = r.gen_range(1..=3);
    let reference_now = anchor + Duration::days(2);
    let mut builds = Vec::with_capacity(n_builds);
    for j in 0..n_builds {
        let back = (n_builds - 1 - j) as i64;
        let uploaded = release
            - Duration::days(back * r.gen_range(1..=3))
            - Duration::minutes(r.gen_range(0..180) * i64::from(back > 0));
        let last = j + 1 == n_builds;
        let processing_state = if last {
            "VALID"
        } else {
            match r.gen_range(0..20) {
                0 => "INVALID",
                1 => "FAILED",
                _ => "VALID",
            }
        };
        let expiration = uploaded + Duration::days(90);
        let id = uuid(&mut r);
        let number = first_build + (k as u64) * 5 + j as u64;
        let signatures = if processing_state == "VALID" {
            generate_signatures(seed, app, k, j, major, minor)
        } else {
            Vec::new()
        };
        builds.push(SimBuild {
            id,
            number,
            uploaded,
            expiration,
            expired: expiration < reference_now,
            processing_state,
            min_os_version: if k < 3 { "15.0" } else { "16.0" },
            signatures,
        });
    }
    SimVersion {
        ordinal: k,
        version: version_string(major, minor, k),
        prerelease_id: uuid(&mut r),
        builds,
    }
}

fn generate_signatures(
    seed: u64,
    app: usize,
    k: usize,
    j: usize,
    major: u32,
    minor: u32,
) -> Vec<SimSignature> {
    let mut out = Vec::new();
    for (t, kind) in DIAGNOSTIC_TYPES.iter().enumerate() {
        let mut tr = rng(&[seed, 3, app as u64, k as u64, j as u64, t as u64]);
        let (list, (lo, hi)) = templates(kind);
        let n = tr.gen_range(lo..=hi).min(list.len());
        let mut picks: Vec<_> = list.iter().collect();
        picks.shuffle(&mut tr);
        picks.truncate(n);
        let raw: Vec<f64> = (0..n).map(|_| tr.gen_range(0.2f64..1.0).powi(3)).collect();
        let sum: f64 = raw.iter().sum();
        let total = tr.gen_range(0.85..0.99);
        let mut weights: Vec<f64> = raw
            .iter()
            .map(|w| ((w / sum * total) * 10_000.0).floor() / 10_000.0)
            .map(|w| w.max(0.0001))
            .collect();
        weights.sort_by(|a, b| b.total_cmp(a));
        for (i, (&(symbol, file, sqlite), weight)) in picks.into_iter().zip(weights).enumerate() {
            let id = hex(&mut tr, 33);
            let insight = (k > 0 && tr.gen_bool(0.35)).then(|| {
                let refs: Vec<DiagnosticInsightReferenceVersion> = (k.saturating_sub(3)..k)
                    .map(|o| DiagnosticInsightReferenceVersion {
                        version: Some(version_string(major, minor, o)),
                        value: Some(round(weight * tr.gen_range(0.5..1.5), 4)),
                    })
                    .collect();
                let mean = refs.iter().filter_map(|r| r.value).sum::<f64>() / refs.len() as f64;
                DiagnosticInsight {
                    insight_type: Some("TREND".into()),
                    direction: Some(if weight > mean { "UP" } else { "DOWN" }.into()),
                    reference_versions: refs,
                }
            });
            out.push(SimSignature {
                id,
                diagnostic_type: kind,
                symbol,
                file,
                sqlite,
                offset: tr.gen_range(4..480),
                weight,
                insight,
                log_count: tr.gen_range(3..=6) + usize::from(i == 0),
            });
        }
    }
    out
}

// ----- metrics ------------------------------------------------------------------

/// Filters of a perfPowerMetrics request (already validated).
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    /// Categories to keep (empty = all).
    pub categories: Vec<String>,
    /// Device ids to keep (empty = all).
    pub devices: Vec<String>,
}

impl MetricsQuery {
    fn keeps_category(&self, c: &str) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|x| x == c)
    }
    fn keeps_device(&self, d: &str) -> bool {
        self.devices.is_empty() || self.devices.iter().any(|x| x == d)
    }
}

/// The goal band a value falls in: `[lower, upper)`.
pub fn goal_for(goals: (f64, f64), value: f64) -> &'static str {
    if value < goals.0 {
        "good"
    } else if value < goals.1 {
        "fair"
    } else {
        "poor"
    }
}

impl SimApp {
    /// The story multiplier of `metric` at version ordinal `k`.
    fn story(&self, metric: &str, k: usize) -> f64 {
        let mut f = 1.0;
        match (self.index % 3, metric) {
            _ if !self.stories => {}
            (0, "peakMemory") if k >= self.anchor => f *= 1.15,
            (0, "launchTime") if k >= self.anchor => f *= 1.12,
            (1, "batteryUsage" | "scrollHitchRate") if k + 3 > self.anchor => {
                f *= 1.05f64.powi((k + 3 - self.anchor) as i32)
            }
            (2, "logicalWrites") if k == self.anchor => f *= 1.3,
            _ => {}
        }
        if self.regression_ordinal == Some(k) {
            match metric {
                "launchTime" => f *= 1.45,
                "hangRate" => f *= 1.7,
                "scrollHitchRate" => f *= 1.3,
                _ => {}
            }
        }
        f
    }

    /// Values of metric `m` at version ordinal `k` for every (device,
    /// percentile), in `DEVICES` x `PERCENTILES` order: (value, error margin,
    /// breakdown).
    fn values(&self, seed: u64, m: usize, k: usize) -> Vec<(f64, f64, Vec<PercentageBreakdown>)> {
        let spec = &METRICS[m];
        let mut r = rng(&[seed, 4, self.index as u64, m as u64, k as u64]);
        let base = spec.base * self.factors.get(m).copied().unwrap_or(1.0);
        let story = self.story(spec.identifier, k);
        // A healthy app stays out of the poor band whatever its factors:
        // only a story or a regression takes a metric there.
        let ceiling = spec.goals.map_or(f64::INFINITY, |(_, poor)| poor * 0.95);
        let mut out = Vec::with_capacity(DEVICES.len() * PERCENTILES.len());
        for &(_, _, _, device_factor) in DEVICES {
            for p in 0..PERCENTILES.len() {
                let pct = if p == 0 { 1.0 } else { spec.p90 };
                let noise = r.gen_range(0.98..1.02);
                let healthy = (base * device_factor * pct * noise).min(ceiling);
                let value = round(healthy * story, spec.decimals);
                let margin = round(value * r.gen_range(0.02..0.08), spec.decimals);
                let breakdown = if spec.breakdown {
                    breakdown(&mut r, spec.identifier == "onScreenBatteryUsage")
                } else {
                    Vec::new()
                };
                out.push((value, margin, breakdown));
            }
        }
        out
    }

    /// The versions the metrics cover, oldest first.
    pub fn metric_versions(&self) -> &[SimVersion] {
        let start = self.versions.len().saturating_sub(self.window);
        &self.versions[start..]
    }

    /// The newest marketing version.
    pub fn latest_version(&self) -> Option<&SimVersion> {
        self.versions.last()
    }
}

fn breakdown(r: &mut ChaCha8Rng, on_screen: bool) -> Vec<PercentageBreakdown> {
    let raw: Vec<f64> = BATTERY_SUBSYSTEMS
        .iter()
        .map(|&(label, w)| {
            let w = if on_screen && label == "Display" {
                w * 1.6
            } else {
                w
            };
            w * r.gen_range(0.7..1.3)
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    let mut shares: Vec<f64> = raw.iter().map(|w| round(w / sum * 100.0, 1)).collect();
    let rest: f64 = shares[1..].iter().sum();
    shares[0] = round(100.0 - rest, 1);
    BATTERY_SUBSYSTEMS
        .iter()
        .zip(shares)
        .map(|(&(label, _), value)| PercentageBreakdown {
            value: Some(value),
            sub_system_label: Some(label.to_string()),
        })
        .collect()
}

fn metric_shell(spec: &MetricSpec) -> Metric {
    Metric {
        identifier: Some(spec.identifier.to_string()),
        goal_keys: spec
            .goals
            .map(|(fair, poor)| {
                vec![
                    GoalKey {
                        goal_key: Some("good".into()),
                        lower_bound: Some(0.0),
                        upper_bound: Some(fair),
                    },
                    GoalKey {
                        goal_key: Some("fair".into()),
                        lower_bound: Some(fair),
                        upper_bound: Some(poor),
                    },
                    GoalKey {
                        goal_key: Some("poor".into()),
                        lower_bound: Some(poor),
                        upper_bound: None,
                    },
                ]
            })
            .unwrap_or_default(),
        unit: Some(Unit {
            identifier: Some(spec.unit.to_string()),
            display_name: Some(spec.unit_display.to_string()),
        }),
        datasets: Vec::new(),
    }
}

/// Builds an `xcodeMetrics` document from per-version values.
/// `versions` lists (version string, ordinal, value multiplier).
fn metrics_document(
    app: &SimApp,
    seed: u64,
    versions: &[(String, usize, f64)],
    query: &MetricsQuery,
) -> XcodeMetrics {
    let mut categories: Vec<MetricCategory> = Vec::new();
    for &category in CATEGORIES {
        if !query.keeps_category(category) {
            continue;
        }
        let mut metrics = Vec::new();
        for (m, spec) in METRICS.iter().enumerate() {
            if spec.category != category {
                continue;
            }
            let per_version: Vec<_> = versions
                .iter()
                .map(|(v, k, mult)| (v, *mult, app.values(seed, m, *k)))
                .collect();
            let mut metric = metric_shell(spec);
            for (d, &(device, marketing, _, _)) in DEVICES.iter().enumerate() {
                if !query.keeps_device(device) {
                    continue;
                }
                let model = !device.starts_with("all_");
                for (p, percentile) in PERCENTILES.iter().enumerate() {
                    let slot = d * PERCENTILES.len() + p;
                    let points = per_version
                        .iter()
                        .filter_map(|(version, mult, values)| {
                            let (value, margin, breakdown) = values.get(slot)?;
                            let value = round(value * mult, spec.decimals);
                            Some(Point {
                                version: Some((*version).clone()),
                                value: Some(value),
                                error_margin: (!model).then_some(*margin),
                                percentage_breakdown: breakdown.clone(),
                                goal: spec.goals.map(|g| goal_for(g, value).to_string()),
                            })
                        })
                        .collect();
                    metric.datasets.push(Dataset {
                        filter_criteria: FilterCriteria {
                            percentile: Some(percentile.to_string()),
                            device: Some(device.to_string()),
                            device_marketing_name: Some(marketing.to_string()),
                        },
                        points,
                        recommended_metric_goal: spec.goals.map(|(fair, _)| {
                            RecommendedMetricGoal {
                                value: Some(fair),
                                detail: Some(spec.goal_detail.to_string()),
                            }
                        }),
                    });
                }
            }
            if !metric.datasets.is_empty() {
                metrics.push(metric);
            }
        }
        if !metrics.is_empty() {
            categories.push(MetricCategory {
                identifier: Some(category.to_string()),
                metrics,
            });
        }
    }
    XcodeMetrics {
        version: Some("1.0.0".into()),
        insights: None,
        product_data: if categories.is_empty() {
            Vec::new()
        } else {
            vec![ProductData {
                platform: Some("iOS".into()),
                metric_categories: categories,
            }]
        },
    }
}

/// `GET /v1/apps/{id}/perfPowerMetrics`: the last `window` versions, with insights.
pub fn app_metrics(account: &Account, app: &SimApp, query: &MetricsQuery) -> XcodeMetrics {
    let versions: Vec<_> = app
        .metric_versions()
        .iter()
        .map(|v| (v.version.clone(), v.ordinal, 1.0))
        .collect();
    let mut doc = metrics_document(app, account.seed, &versions, query);
    doc.insights = Some(compute_insights(&doc));
    doc
}

/// `GET /v1/builds/{id}/perfPowerMetrics`: one point per dataset (the
/// build's version), no insights (WWDC20). Builds that did not process
/// have no data yet (empty `productData`).
pub fn build_metrics(account: &Account, b: BuildRef<'_>, query: &MetricsQuery) -> XcodeMetrics {
    if b.build.processing_state != "VALID" {
        return XcodeMetrics {
            version: Some("1.0.0".into()),
            insights: None,
            product_data: Vec::new(),
        };
    }
    // Earlier builds of a version differ slightly from the shipped (last) one.
    let last = b
        .version
        .builds
        .last()
        .map(|l| l.id == b.build.id)
        .unwrap_or(true);
    let mult = if last {
        1.0
    } else {
        rng(&[account.seed, 5, str_hash(&b.build.id)]).gen_range(0.97..1.03)
    };
    let versions = [(b.version.version.clone(), b.version.ordinal, mult)];
    metrics_document(b.app, account.seed, &versions, query)
}

/// Population label used in summaries: `iPhone (All)`.
fn population_label(device: &str) -> &str {
    DEVICES
        .iter()
        .find(|d| d.0 == device)
        .map(|d| d.2)
        .unwrap_or(device)
}

fn percentile_words(p: &str) -> &str {
    match p {
        "percentile.ninety" => "Top (90th percentile)",
        _ => "Typical (50th percentile)",
    }
}

/// Relative increase that makes a regression.
pub const REGRESSION_THRESHOLD_PERCENT: f64 = 5.0;
/// A regression at least this large is `highImpact`.
pub const HIGH_IMPACT_PERCENT: f64 = 20.0;
/// How many previous versions a regression is compared against.
pub const REGRESSION_REFERENCE_VERSIONS: usize = 4;
/// A trend needs this many strictly increasing versions...
pub const TREND_VERSIONS: usize = 4;
/// ...and this rise from the first to the last of them.
pub const TREND_MIN_RISE_PERCENT: f64 = 6.0;

/// Regressions and upward trends, computed from the document's own points.
///
/// * regression: the latest version's value exceeds the mean of the previous
///   (up to 4) versions by more than 5 %;
/// * trending up: the last 4 versions strictly increase and the latest is at
///   least 6 % above the first of them; the reference is the 3 versions before
///   the latest.
pub fn compute_insights(doc: &XcodeMetrics) -> Insights {
    let mut insights = Insights::default();
    for (_, category, metric) in doc.metrics() {
        let spec_unit = metric.unit_display().to_string();
        let mut reg = Vec::new();
        let mut trend = Vec::new();
        let mut reg_refs = Vec::new();
        let mut trend_refs = Vec::new();
        let mut latest_version = None;
        for ds in &metric.datasets {
            let pts: Vec<(&str, f64)> = ds
                .points
                .iter()
                .filter_map(|p| Some((p.version.as_deref()?, p.value?)))
                .collect();
            let Some(&(latest_v, latest)) = pts.last() else {
                continue;
            };
            if pts.len() < 2 {
                continue;
            }
            latest_version = Some(latest_v.to_string());
            let n = pts.len();
            let refs = &pts[n.saturating_sub(1 + REGRESSION_REFERENCE_VERSIONS)..n - 1];
            let avg = refs.iter().map(|p| p.1).sum::<f64>() / refs.len() as f64;
            let delta = (latest - avg) / avg * 100.0;
            if avg > 0.0 && delta > REGRESSION_THRESHOLD_PERCENT {
                reg_refs = refs.iter().map(|p| p.0.to_string()).collect();
                reg.push(population(ds, latest, avg, delta));
            }
            if n >= TREND_VERSIONS {
                let last = &pts[n - TREND_VERSIONS..];
                let rising = last.windows(2).all(|w| w[1].1 > w[0].1);
                let rise = (latest - last[0].1) / last[0].1 * 100.0;
                if rising && rise >= TREND_MIN_RISE_PERCENT {
                    let refs = &last[..TREND_VERSIONS - 1];
                    let avg = refs.iter().map(|p| p.1).sum::<f64>() / refs.len() as f64;
                    trend_refs = refs.iter().map(|p| p.0.to_string()).collect();
                    trend.push(population(ds, latest, avg, (latest - avg) / avg * 100.0));
                }
            }
        }
        let name = metric_display_name(metric.id());
        for (pops, refs, list, verb) in [
            (reg, reg_refs, &mut insights.regressions, "regressed"),
            (trend, trend_refs, &mut insights.trending_up, "trended up"),
        ] {
            if pops.is_empty() {
                continue;
            }
            let max_latest = pops
                .iter()
                .filter_map(|p| p.latest_version_value)
                .fold(f64::MIN, f64::max);
            let deltas: Vec<f64> = pops.iter().filter_map(|p| p.delta_percentage).collect();
            let (lo, hi) = deltas
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), d| (l.min(*d), h.max(*d)));
            let latest = latest_version.clone().unwrap_or_default();
            let first_ref = refs.first().cloned().unwrap_or_default();
            let mut percentiles: Vec<&str> = pops
                .iter()
                .filter_map(|p| p.percentile.as_deref())
                .map(percentile_words)
                .collect();
            percentiles.sort();
            percentiles.dedup();
            let summary = format!(
                "{} {name} {verb} between app versions {first_ref} to {latest}. The maximum value for the latest app version is at {max_latest:.2} {spec_unit} and increased between {lo:.0}% to {hi:.0}% compared to the average for previous {} app versions.",
                percentiles.join(" and "),
                refs.len()
            );
            list.push(MetricsInsight {
                metric_category: category.identifier.clone(),
                latest_version: Some(latest),
                metric: metric.identifier.clone(),
                summary_string: Some(summary),
                max_latest_version_value: Some(max_latest),
                sub_system_label: None,
                high_impact: Some(hi >= HIGH_IMPACT_PERCENT),
                reference_versions: refs,
                populations: pops,
            });
        }
    }
    insights
}

fn population(ds: &Dataset, latest: f64, avg: f64, delta: f64) -> InsightPopulation {
    let device = ds.filter_criteria.device().to_string();
    let delta = round(delta, 1);
    InsightPopulation {
        delta_percentage: Some(delta),
        percentile: ds.filter_criteria.percentile.clone(),
        summary_string: Some(format!(
            "Increased {delta:.0}% across {}",
            population_label(&device)
        )),
        reference_average_value: Some(round(avg, 2)),
        latest_version_value: Some(latest),
        device: Some(device),
    }
}

pub(crate) fn metric_display_name(id: &str) -> String {
    match id {
        "launchTime" => "Launch Time".into(),
        "hangRate" => "Hang Rate".into(),
        "peakMemory" => "Peak Memory".into(),
        "memoryAtSuspension" => "Memory at Suspension".into(),
        "logicalWrites" => "Logical Writes".into(),
        "batteryUsage" => "Battery Usage".into(),
        "onScreenBatteryUsage" => "On-Screen Battery Usage".into(),
        "terminations" => "Terminations".into(),
        "scrollHitchRate" => "Scroll Hitch Rate".into(),
        "documentsAndData" => "Documents and Data".into(),
        other => other.to_string(),
    }
}

// ----- logs -----------------------------------------------------------------------

const IPHONE_MODELS: &[&str] = &[
    "iPhone15_2",
    "iPhone16_1",
    "iPhone14_5",
    "iPhone15_3",
    "iPhone16_2",
];
const OS_VERSIONS: &[&str] = &[
    "iPhone OS 17.4 (21E219)",
    "iPhone OS 17.5.1 (21F90)",
    "iPhone OS 17.6.1 (21G93)",
    "iPhone OS 18.0 (22A3354)",
];

struct Frame {
    binary: String,
    symbol: String,
    blame: bool,
    file: Option<String>,
    insights_category: Option<&'static str>,
}

fn sys(binary: &str, symbol: &str) -> Frame {
    Frame {
        binary: binary.into(),
        symbol: symbol.into(),
        blame: false,
        file: None,
        insights_category: None,
    }
}

/// `GET /v1/diagnosticSignatures/{id}/logs`: up to `limit` logs.
pub fn signature_logs(
    account: &Account,
    s: SignatureRef<'_>,
    limit: Option<usize>,
) -> DiagnosticLogs {
    let sig = s.signature;
    let mut r = rng(&[account.seed, 6, str_hash(&sig.id)]);
    let count = limit.map_or(sig.log_count, |l| l.min(sig.log_count));
    let (event, insight) = match sig.diagnostic_type {
        "DISK_WRITES" => (
            "disk writes",
            Some(if sig.sqlite {
                DiagnosticLogInsight {
                    insights_url: Some("doc://com.apple.documentation/documentation/xcode/reducing-disk-writes#Use-Appropriate-Indices".into()),
                    insights_category: Some("SQLiteSpill".into()),
                    insights_string: Some("SQLite spilled temporary data to disk; add an index for the query to avoid sorting in temporary files.".into()),
                }
            } else {
                DiagnosticLogInsight {
                    insights_url: Some("doc://com.apple.documentation/documentation/xcode/reducing-disk-writes#Batch-Writes".into()),
                    insights_category: Some("UnbufferedWrites".into()),
                    insights_string: Some("Many small writes; buffer data in memory and write it in larger batches.".into()),
                }
            }),
        ),
        "HANGS" => ("hang", None),
        _ => ("launch", None),
    };
    let mut logs = Vec::with_capacity(count);
    for _ in 0..count {
        let device = IPHONE_MODELS[r.gen_range(0..IPHONE_MODELS.len())];
        let os = OS_VERSIONS[r.gen_range(0..OS_VERSIONS.len())];
        let (writes, detail) = match sig.diagnostic_type {
            "DISK_WRITES" => {
                let mb = r.gen_range(1000.0..4200.0);
                (
                    Some(format!("{mb:.2} MB")),
                    format!("Total of {mb:.2} MB of disk writes"),
                )
            }
            "HANGS" => (
                None,
                format!("Hang duration of {:.2} s", r.gen_range(0.3..6.0)),
            ),
            _ => (
                None,
                format!("Launch duration of {:.2} s", r.gen_range(1.5..9.0)),
            ),
        };
        let frames = stack(s.app, sig);
        let samples: i64 = r.gen_range(10..400);
        let root = nodes(&mut r, &frames, samples, sig.offset);
        logs.push(DiagnosticLog {
            call_stack_tree: vec![CallStackTree {
                call_stack_per_thread: Some(true),
                call_stacks: vec![CallStack {
                    call_stack_root_frames: vec![root],
                }],
            }],
            diagnostic_meta_data: DiagnosticMetaData {
                bundle_id: Some(s.app.bundle_id.clone()),
                event: Some(event.into()),
                os_version: Some(os.into()),
                app_version: Some(s.version.version.clone()),
                writes_caused: writes,
                device_type: Some(device.into()),
                platform_architecture: Some("arm64".into()),
                event_detail: Some(detail),
                build_version: Some(s.build.number.to_string()),
            },
        });
    }
    DiagnosticLogs {
        product_data: vec![DiagnosticLogsProductData {
            signature_id: Some(sig.id.clone()),
            diagnostic_insights: insight.into_iter().collect(),
            diagnostic_logs: logs,
        }],
        version: Some("1.0.0".into()),
    }
}

/// Root-to-leaf frames of one signature's call stack.
fn stack(app: &SimApp, sig: &SimSignature) -> Vec<Frame> {
    let blame = Frame {
        binary: app.executable.clone(),
        symbol: sig.symbol.to_string(),
        blame: true,
        file: Some(sig.file.to_string()),
        insights_category: None,
    };
    match sig.diagnostic_type {
        "DISK_WRITES" => {
            let mut v = vec![
                sys("libsystem_pthread.dylib", "start_wqthread"),
                sys("libsystem_pthread.dylib", "_pthread_wqthread"),
                sys("libdispatch.dylib", "_dispatch_worker_thread2"),
                sys("libdispatch.dylib", "_dispatch_client_callout"),
                blame,
            ];
            if sig.sqlite {
                let mut step = sys("libsqlite3.dylib", "sqlite3_step");
                step.insights_category = Some("SQLiteSpill");
                v.push(step);
                v.push(sys("libsqlite3.dylib", "sqlite3VdbeExec"));
                v.push(sys("libsystem_kernel.dylib", "pwrite"));
            } else {
                v.push(sys("Foundation", "-[NSFileHandle writeData:]"));
                v.push(sys("libsystem_kernel.dylib", "write"));
            }
            v
        }
        "HANGS" => vec![
            sys("dyld", "start"),
            Frame {
                binary: app.executable.clone(),
                symbol: "main".into(),
                blame: false,
                file: Some("main.m".into()),
                insights_category: None,
            },
            sys("UIKitCore", "UIApplicationMain"),
            sys("GraphicsServices", "GSEventRunModal"),
            sys("CoreFoundation", "__CFRunLoopRun"),
            sys(
                "CoreFoundation",
                "__CFRUNLOOP_IS_SERVICING_THE_MAIN_DISPATCH_QUEUE__",
            ),
            blame,
            sys(
                "Foundation",
                "-[NSData(NSData) initWithContentsOfURL:options:error:]",
            ),
            sys("libsystem_kernel.dylib", "__psynch_mutexwait"),
        ],
        _ => vec![
            sys("dyld", "start"),
            Frame {
                binary: app.executable.clone(),
                symbol: "main".into(),
                blame: false,
                file: Some("main.m".into()),
                insights_category: None,
            },
            sys("UIKitCore", "UIApplicationMain"),
            sys(
                "UIKitCore",
                "-[UIApplication _runWithMainScene:transitionContext:completion:]",
            ),
            blame,
            sys("libobjc.A.dylib", "objc_msgSend"),
            sys("libsystem_kernel.dylib", "mach_msg2_trap"),
        ],
    }
}

/// Builds the nested node chain (root first); the leaf has `subFrames: []`.
fn nodes(r: &mut ChaCha8Rng, frames: &[Frame], samples: i64, blame_offset: u32) -> CallStackNode {
    let mut child: Option<CallStackNode> = None;
    for f in frames.iter().rev() {
        let offset: u32 = if f.blame {
            blame_offset
        } else {
            r.gen_range(8..2400)
        };
        let address: u64 = if f.binary.ends_with(".dylib") || !f.blame && f.file.is_none() {
            0x1_8000_0000 + r.gen_range(0..0x2000_0000u64)
        } else {
            0x1_0000_0000 + r.gen_range(0..0x40_0000u64)
        };
        let address = format!("0x{address:x}");
        let mut uuid_rng = rng(&[str_hash(&f.binary)]);
        let node = CallStackNode {
            sample_count: Some(samples),
            is_blame_frame: Some(f.blame),
            symbol_name: Some(f.symbol.clone()),
            insights_category: f.insights_category.map(str::to_string),
            offset_into_symbol: Some(offset.to_string()),
            binary_name: Some(f.binary.clone()),
            file_name: f.file.clone(),
            binary_uuid: Some(uuid(&mut uuid_rng).to_uppercase()),
            line_number: f.file.as_ref().map(|_| r.gen_range(20..900u32).to_string()),
            raw_frame: Some(format!("{}  {address}  {} + {offset}", f.binary, f.symbol)),
            address: Some(address),
            offset_into_binary_text_segment: Some(String::new()),
            sub_frames: child.take().into_iter().collect(),
        };
        child = Some(node);
    }
    child.unwrap_or_default()
}

/// Shuffles `items` with a stream derived from `parts` (deterministic).
pub(crate) fn shuffle_seeded<T>(items: &mut [T], parts: &[u64]) {
    items.shuffle(&mut rng(parts));
}
