//! Saved responses served for chosen ids.
//!
//! A fixture replaces the synthetic response of one route for one id with a
//! saved body, byte for byte, under the route's content type. A fixture on
//! an app-level route (`app`, `app-metrics`, `app-builds`, `app-overview`)
//! for an id that is not a synthetic app adds that app to `/v1/apps` and
//! `/v1/apps/{id}` as "Fixture app ID" (`fixture.ID`), with no builds unless
//! an `app-builds` fixture is given.

use std::path::{Path, PathBuf};

/// The route a fixture answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FixtureRoute {
    /// `GET /v1/apps/{id}/perfPowerMetrics` (`app-metrics:`)
    AppMetrics,
    /// `GET /v1/builds/{id}/perfPowerMetrics` (`build-metrics:`)
    BuildMetrics,
    /// `GET /v1/builds/{id}/diagnosticSignatures` (`signatures:`)
    BuildSignatures,
    /// `GET /v1/diagnosticSignatures/{id}/logs` (`logs:`)
    SignatureLogs,
    /// `GET /v1/apps/{id}` (`app:`)
    App,
    /// `GET /v1/apps/{id}/builds` (`app-builds:`)
    AppBuilds,
    /// `GET /v1/apps/{id}/performanceOverviews` (`app-overview:`)
    AppOverview,
}

impl FixtureRoute {
    /// The spec prefix (`app-metrics`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            FixtureRoute::AppMetrics => "app-metrics",
            FixtureRoute::BuildMetrics => "build-metrics",
            FixtureRoute::BuildSignatures => "signatures",
            FixtureRoute::SignatureLogs => "logs",
            FixtureRoute::App => "app",
            FixtureRoute::AppBuilds => "app-builds",
            FixtureRoute::AppOverview => "app-overview",
        }
    }

    pub fn parse(s: &str) -> Option<FixtureRoute> {
        [
            FixtureRoute::AppMetrics,
            FixtureRoute::BuildMetrics,
            FixtureRoute::BuildSignatures,
            FixtureRoute::SignatureLogs,
            FixtureRoute::App,
            FixtureRoute::AppBuilds,
            FixtureRoute::AppOverview,
        ]
        .into_iter()
        .find(|r| r.name() == s.trim())
    }

    /// Whether the id is an app id.
    pub fn is_app_level(&self) -> bool {
        matches!(
            self,
            FixtureRoute::AppMetrics
                | FixtureRoute::App
                | FixtureRoute::AppBuilds
                | FixtureRoute::AppOverview
        )
    }

    /// Content type the live API uses on this route.
    pub fn content_type(&self) -> &'static str {
        match self {
            FixtureRoute::AppMetrics | FixtureRoute::BuildMetrics => {
                crate::asc::api::XCODE_METRICS_JSON
            }
            FixtureRoute::SignatureLogs => crate::asc::api::DIAGNOSTIC_LOGS_JSON,
            FixtureRoute::AppOverview => crate::asc::api::XCODE_OVERVIEW_JSON,
            _ => crate::asc::api::JSON,
        }
    }
}

/// A fixture's body.
#[derive(Debug, Clone, PartialEq)]
pub enum FixtureBody {
    /// Serialized compactly when served.
    Json(serde_json::Value),
    /// Served exactly as given (already checked to be JSON).
    Raw(Vec<u8>),
}

impl FixtureBody {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            FixtureBody::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            FixtureBody::Raw(b) => b.clone(),
        }
    }
    pub fn json(&self) -> Option<serde_json::Value> {
        match self {
            FixtureBody::Json(v) => Some(v.clone()),
            FixtureBody::Raw(b) => serde_json::from_slice(b).ok(),
        }
    }
}

/// One saved response.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub route: FixtureRoute,
    pub id: String,
    pub body: FixtureBody,
}

impl Fixture {
    /// A fixture from a JSON value.
    pub fn new(route: FixtureRoute, id: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            route,
            id: id.into(),
            body: FixtureBody::Json(body),
        }
    }

    /// Parses `ROUTE:ID=PATH` (`app-metrics:1234=saved.json`); a relative
    /// path is resolved against `base_dir`. The file is read now and must be
    /// JSON; it is then served byte for byte.
    pub fn parse_spec(spec: &str, base_dir: Option<&Path>) -> Result<Fixture, String> {
        let usage = "expected ROUTE:ID=PATH with ROUTE one of app-metrics, build-metrics, signatures, logs, app, app-builds, app-overview (e.g. app-metrics:1234=metrics.json)";
        let (route, rest) = spec
            .split_once(':')
            .ok_or_else(|| format!("fixture '{spec}': {usage}"))?;
        let route = FixtureRoute::parse(route)
            .ok_or_else(|| format!("fixture '{spec}': unknown route '{route}'; {usage}"))?;
        let (id, path) = rest
            .split_once('=')
            .ok_or_else(|| format!("fixture '{spec}': {usage}"))?;
        let id = id.trim();
        if id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace) {
            return Err(format!("fixture '{spec}': invalid id '{id}'"));
        }
        let path = PathBuf::from(path.trim());
        let path = match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("fixture '{spec}': cannot read {}: {e}", path.display()))?;
        // Checked, not built: `IgnoredAny` walks the document iteratively, so
        // a saved log with a deep call stack is a valid fixture too.
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .map_err(|e| format!("fixture '{spec}': {} is not JSON: {e}", path.display()))?;
        Ok(Fixture {
            route,
            id: id.to_string(),
            body: FixtureBody::Raw(bytes),
        })
    }
}

/// Finds the fixture for (route, id).
pub fn find<'a>(fixtures: &'a [Fixture], route: FixtureRoute, id: &str) -> Option<&'a Fixture> {
    fixtures.iter().find(|f| f.route == route && f.id == id)
}

/// App ids named by app-level fixtures, in order of first appearance.
pub fn fixture_app_ids(fixtures: &[Fixture]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for f in fixtures.iter().filter(|f| f.route.is_app_level()) {
        if !ids.contains(&f.id) {
            ids.push(f.id.clone());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_log_with_a_deep_call_stack_is_a_valid_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let frames = crate::sim::inject::deep_frames(10_000);
        let doc = format!(
            r#"{{"version": "1.0.0", "productData": [{{"signatureId": "s1", "diagnosticLogs": [{{"callStackTree": [{{"callStacks": [{{"callStackRootFrames": {frames}}}]}}]}}]}}]}}"#
        );
        std::fs::write(dir.path().join("deep.json"), doc).unwrap();
        let f = Fixture::parse_spec("logs:s1=deep.json", Some(dir.path())).unwrap();
        assert_eq!(f.id, "s1");
        std::fs::write(dir.path().join("bad.json"), "{\"a\": [").unwrap();
        let e = Fixture::parse_spec("logs:s1=bad.json", Some(dir.path())).unwrap_err();
        assert!(e.contains("is not JSON"), "{e}");
    }
}
