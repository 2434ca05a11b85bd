//! Apps, versions, builds and diagnostic signatures of the synthetic
//! account, generated eagerly for one state (scenario, released versions,
//! removed apps), with the lookups the routes need (build and signature by
//! id).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use rand::Rng;
use rand::seq::SliceRandom;

use super::catalog::{APP_NAMES, DIAGNOSTIC_TYPES, METRICS, templates};
use super::{hex, rng, round, uuid};
use crate::asc::model::{DiagnosticInsight, DiagnosticInsightReferenceVersion};
use crate::sim::SimConfig;
use crate::sim::control::Scenario;

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
    pub(super) stories: bool,
    pub(crate) regression_ordinal: Option<usize>,
    pub(super) factors: Vec<f64>,
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
    pub(super) sqlite: bool,
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
            crate::sim::overview::shape_call_site_trends(&mut app, scenario);
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

impl SimApp {
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
