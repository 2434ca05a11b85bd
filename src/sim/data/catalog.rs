//! The synthetic account's static tables: which metrics exist (identifier,
//! unit, typical value, goal bands), the categories, devices and
//! percentiles of the documents, app names, and the call sites the
//! diagnostic signatures blame.
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

/// One synthetic metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    pub category: &'static str,
    pub identifier: &'static str,
    pub unit: &'static str,
    pub unit_display: &'static str,
    /// Typical p50 on all iPhones.
    pub(super) base: f64,
    /// p90 / p50.
    pub(super) p90: f64,
    pub(super) decimals: u32,
    /// (fair lower bound, poor lower bound); good starts at 0.
    pub goals: Option<(f64, f64)>,
    pub(super) breakdown: bool,
    pub(super) goal_detail: &'static str,
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

pub(super) const BATTERY_SUBSYSTEMS: &[(&str, f64)] = &[
    ("CPU", 34.0),
    ("Display", 30.0),
    ("Networking", 17.0),
    ("Location", 8.0),
    ("Audio", 5.0),
    ("Camera", 3.0),
    ("Bluetooth", 3.0),
];

pub(super) const APP_NAMES: &[&str] = &[
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
pub(super) type Template = (&'static str, &'static str, bool);

pub(super) fn templates(kind: &str) -> (&'static [Template], (usize, usize)) {
    match kind {
        "DISK_WRITES" => (DISK_SYMBOLS, (3, 5)),
        "HANGS" => (HANG_SYMBOLS, (4, 7)),
        _ => (LAUNCH_SYMBOLS, (2, 4)),
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

/// Population label used in summaries: `iPhone (All)`.
pub(super) fn population_label(device: &str) -> &str {
    DEVICES
        .iter()
        .find(|d| d.0 == device)
        .map(|d| d.2)
        .unwrap_or(device)
}

/// The display name of a metric identifier (`launchTime` -> `Launch Time`).
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
