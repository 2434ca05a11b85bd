//! The API contract of App Store Connect's Power and Performance endpoints
//! (API-NOTES §0-§1, §11), shared by the client ([`super::client`],
//! [`super::endpoints`]) and the simulator ([`crate::sim`]): the base URL,
//! the media types, the route templates, the page-size limit, a build as
//! the exporter sees it ([`BuildInfo`], joined from `builds` and their
//! `preReleaseVersion`), and the one version order ([`natural_cmp`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::model::{Build, Included};

/// Apple's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.appstoreconnect.apple.com";
/// Vendor media type of perfPowerMetrics (API-NOTES §0).
pub const XCODE_METRICS_JSON: &str = "application/vnd.apple.xcode-metrics+json";
/// Vendor media type of the performance overview (API 4.5, API-NOTES §11).
pub const XCODE_OVERVIEW_JSON: &str = "application/vnd.apple.xcode-overview+json";
/// Vendor media type of diagnostic logs.
pub const DIAGNOSTIC_LOGS_JSON: &str = "application/vnd.apple.diagnostic-logs+json";
/// The JSON:API media type of every other route.
pub const JSON: &str = "application/json";

/// Route templates: the `endpoint` label of request metrics, never a raw URL.
pub mod routes {
    pub const APPS: &str = "/v1/apps";
    pub const APP: &str = "/v1/apps/{id}";
    pub const APP_BUILDS: &str = "/v1/apps/{id}/builds";
    pub const BUILDS: &str = "/v1/builds";
    pub const BUILD: &str = "/v1/builds/{id}";
    pub const APP_METRICS: &str = "/v1/apps/{id}/perfPowerMetrics";
    pub const APP_OVERVIEW: &str = "/v1/apps/{id}/performanceOverviews";
    pub const BUILD_METRICS: &str = "/v1/builds/{id}/perfPowerMetrics";
    pub const BUILD_SIGNATURES: &str = "/v1/builds/{id}/diagnosticSignatures";
    pub const SIGNATURE_LOGS: &str = "/v1/diagnosticSignatures/{id}/logs";
}

/// The largest `limit` the JSON:API endpoints accept (API-NOTES §1.3-1.6).
pub const MAX_PAGE: usize = 200;

/// A build with its marketing version resolved through `preReleaseVersion`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildInfo {
    pub id: String,
    /// Build number (CFBundleVersion).
    pub number: String,
    /// Marketing version, e.g. `2.0` (what metrics points carry).
    pub version: Option<String>,
    pub platform: Option<String>,
    pub uploaded_date: Option<String>,
    pub processing_state: Option<String>,
    pub expired: Option<bool>,
}

/// Attaches marketing versions from `included` preReleaseVersions.
pub fn join_builds(builds: Vec<Build>, included: &[Included]) -> Vec<BuildInfo> {
    let versions: BTreeMap<&str, (&Option<String>, &Option<String>)> = included
        .iter()
        .filter_map(|i| match i {
            Included::PreReleaseVersion(p) => Some((
                p.id.as_str(),
                (&p.attributes.version, &p.attributes.platform),
            )),
            Included::Other(_) => None,
        })
        .collect();
    builds
        .into_iter()
        .map(|b| {
            let (version, platform) = b
                .pre_release_version_id()
                .and_then(|id| versions.get(id))
                .map(|(v, p)| ((*v).clone(), (*p).clone()))
                .unwrap_or((None, None));
            BuildInfo {
                number: b.number().to_string(),
                version,
                platform,
                uploaded_date: b.attributes.uploaded_date.clone(),
                processing_state: b.attributes.processing_state.clone(),
                expired: b.attributes.expired,
                id: b.id,
            }
        })
        .collect()
}

/// The order of version-like strings (marketing versions, build numbers):
/// split at every non-alphanumeric character, runs compared as numbers
/// (`1.10` > `1.9`, `203` > `181`) and, when equal as numbers or not
/// numbers, as text; a version that is a prefix of another sorts first
/// (`1.0` < `1.0.1`). A total order. It allocates nothing: sorts call it
/// for every comparison.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let not_alnum = |c: char| !c.is_ascii_alphanumeric();
    let number = |p: &str| p.parse::<u64>().unwrap_or(u64::MAX);
    let (mut ai, mut bi) = (a.split(not_alnum), b.split(not_alnum));
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = number(x).cmp(&number(y)).then_with(|| x.cmp(y));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// The [`natural_cmp`] order as a key, for sorting many strings at once:
/// each run with its number (or `u64::MAX`), compared as a vector. Made
/// once per string, it spares a sort the parsing in every comparison.
pub fn natural_key(s: &str) -> Vec<(u64, &str)> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .map(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order it replaced: every run as (number or `u64::MAX`, text),
    /// compared as vectors.
    fn by_vectors(a: &str, b: &str) -> Ordering {
        let parts = |s: &str| -> Vec<(u64, String)> {
            s.split(|c: char| !c.is_ascii_alphanumeric())
                .map(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.to_string()))
                .collect()
        };
        parts(a).cmp(&parts(b))
    }

    #[test]
    fn natural_order_of_versions() {
        assert!(natural_cmp("1.10", "1.9").is_gt());
        assert!(natural_cmp("2.0", "10.0").is_lt());
        assert!(natural_cmp("203", "181").is_gt());
        assert!(natural_cmp("1.0", "1.0.1").is_lt());
        assert!(natural_cmp("1.0", "1.0").is_eq());
        assert!(natural_cmp("01", "1").is_lt(), "equal numbers: by text");
        assert!(natural_cmp("1.0b", "1.0a").is_gt());
        assert!(natural_cmp("2.0", "2.0-beta").is_lt());
        let mut v = vec!["1.10", "1.9", "10.0", "1.9.1", "2.0", "1.0"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["1.0", "1.9", "1.9.1", "1.10", "2.0", "10.0"]);
    }

    #[test]
    fn same_order_as_the_vector_comparison_it_replaced() {
        let cases = [
            "",
            ".",
            "1",
            "01",
            "1.0",
            "1.0.0",
            "1..0",
            "1.0a",
            "1.0b",
            "1a",
            "a",
            "b",
            "2.0",
            "2.0-beta",
            "10",
            "18446744073709551615",
            "18446744073709551616",
            "1.9",
            "1.10",
            "v1",
            "3.2 (45)",
            "-1",
        ];
        for a in cases {
            for b in cases {
                assert_eq!(natural_cmp(a, b), by_vectors(a, b), "{a:?} {b:?}");
                assert_eq!(
                    natural_key(a).cmp(&natural_key(b)),
                    natural_cmp(a, b),
                    "{a:?} {b:?}"
                );
            }
        }
    }
}
