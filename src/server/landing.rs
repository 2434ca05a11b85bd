//! The landing page at `/`, in the exporter-toolkit's style
//! (`web/landing_page.go`): a header bar with the name, the description, the
//! version, a list of links (the metrics path first), then the per-app
//! status table.

use crate::explorer::html::{esc, seg, when};
use crate::refresh::Snapshot;

/// One link of the landing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub address: String,
    pub text: String,
    pub description: String,
}

/// What the page shows.
#[derive(Debug, Clone)]
pub struct LandingConfig {
    pub name: String,
    pub description: String,
    pub version: String,
    pub links: Vec<Link>,
}

impl LandingConfig {
    /// This exporter's page with its metrics at `telemetry_path`.
    pub fn exporter(telemetry_path: &str) -> Self {
        let revision = option_env!("ASC_EXPORTER_REVISION").unwrap_or("unknown");
        let link = |address: &str, text: &str, description: &str| Link {
            address: address.to_string(),
            text: text.to_string(),
            description: description.to_string(),
        };
        Self {
            name: "asc-perf-exporter".into(),
            description: "App Store Connect Power & Performance metrics for Prometheus".into(),
            version: format!(
                "(version={}, revision={revision})",
                env!("CARGO_PKG_VERSION")
            ),
            links: vec![
                link(telemetry_path, "Metrics", "the Prometheus exposition"),
                link(
                    "/ready",
                    "Readiness",
                    "200 once data is served for the configured apps",
                ),
                link("/healthz", "Health", "200 while the process serves HTTP"),
                link(
                    "/diagnostics",
                    "Diagnostics",
                    "signatures by weight per build, call-stack trees and flame graphs",
                ),
                link(
                    "/api/v1/apps",
                    "JSON API",
                    "apps, insights, signatures and logs (docs/api.md)",
                ),
            ],
        }
    }
}

/// The toolkit's stylesheet (header in Prometheus orange) plus the table's.
const CSS: &str = "body{font-family:-apple-system,BlinkMacSystemFont,Segoe UI,Roboto,Helvetica Neue,Arial,Noto Sans,Liberation Sans,sans-serif;margin:0}\
header{background-color:#e6522c;color:#fff;font-size:1rem;padding:1rem}\
main{padding:1rem}\
td,th{padding:.2em .8em;text-align:left}.bad{color:#b00}.ok{color:#070}";

/// The page for `snapshot` (`None`: no data yet) and `ready` (the
/// readiness line).
pub fn render(c: &LandingConfig, snapshot: Option<&Snapshot>, ready: &str) -> String {
    let links: String = c
        .links
        .iter()
        .map(|l| {
            let desc = if l.description.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(&l.description))
            };
            format!(
                "          <li><a href=\"{}\">{}</a>{desc}</li>\n",
                esc(&l.address),
                esc(&l.text)
            )
        })
        .collect();
    let mut rows = String::new();
    if let Some(s) = snapshot {
        for a in &s.apps {
            let status = if a.last_attempt_failed {
                format!(
                    "<td class=bad>failed: {}</td>",
                    esc(a.last_error.as_deref().unwrap_or(""))
                )
            } else {
                "<td class=ok>ok</td>".to_string()
            };
            let (regressions, high) =
                a.metrics
                    .as_ref()
                    .and_then(|m| m.insights.as_ref())
                    .map_or((0, 0), |i| {
                        (
                            i.regressions.len(),
                            i.regressions
                                .iter()
                                .filter(|r| r.high_impact.unwrap_or(false))
                                .count(),
                        )
                    });
            let insights = match (regressions, high) {
                (0, _) => "–".to_string(),
                (n, 0) => n.to_string(),
                (n, h) => format!("{n} <span class=bad>({h} high impact)</span>"),
            };
            let top = crate::explorer::views::call_sites(a)
                .into_iter()
                .next()
                .map(|c| {
                    format!(
                        "{} <code>{}</code>",
                        esc(c.diagnostic_type),
                        esc(c.location.as_deref().unwrap_or(&c.signature))
                    )
                })
                .unwrap_or_else(|| "–".into());
            rows.push_str(&format!(
                "<tr><td><a href=\"/apps/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{status}<td>{insights}</td><td>{top}</td></tr>\n",
                seg(&a.app.id),
                esc(&a.app.name),
                esc(&a.app.id),
                esc(&a.app.bundle_id),
                esc(a.latest_version().as_deref().unwrap_or("-")),
                when(a.last_success_unix),
            ));
        }
    }
    let summary = match snapshot {
        None => "No data yet: waiting for the first refresh.".to_string(),
        Some(s) => format!(
            "Last refresh {} ({}, {:.1} s); last full success {}.",
            when(Some(s.refresh.last_attempt_unix)),
            if s.refresh.last_success {
                "succeeded"
            } else {
                "had failures"
            },
            s.refresh.duration_seconds,
            when(s.refresh.last_success_unix)
        ),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    <link rel="icon" href="data:,">
    <title>{name}</title>
    <style>{CSS}</style>
  </head>
  <body>
    <header>
      <h1>{name}</h1>
    </header>
    <main>
      <h2>{description}</h2>
      <div>Version: {version}</div>
      <div>
        <ul>
{links}        </ul>
      </div>
      <p>{summary}</p>
      <p>{ready}</p>
      <table><tr><th>App</th><th>Id</th><th>Bundle id</th><th>Latest version</th><th>Last success</th><th>Latest attempt</th><th>Regressions</th><th>Top call site</th></tr>
{rows}</table>
    </main>
  </body>
</html>
"#,
        name = esc(&c.name),
        description = esc(&c.description),
        version = esc(&c.version),
        summary = esc(&summary),
        ready = esc(ready),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_the_telemetry_path_and_escapes() {
        let c = LandingConfig::exporter("/custom/metrics");
        let page = render(&c, None, "no data yet: <waiting>");
        assert!(
            page.contains(r#"<a href="/custom/metrics">Metrics</a>"#),
            "{page}"
        );
        assert!(page.contains(env!("CARGO_PKG_VERSION")));
        assert!(page.contains("<h1>asc-perf-exporter</h1>"));
        assert!(page.contains("no data yet: &lt;waiting&gt;"));
    }
}
