//! The landing page at `/`, in the exporter-toolkit's style
//! (`web/landing_page.go`): a header bar with the name, the description, the
//! version, a list of links (the metrics path first), then the per-app
//! status table.

use crate::explorer::html::{age, esc, seg, when};
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
            let v = crate::explorer::views::app_summary(a, crate::clock::unix_now(), Some(3));
            let page = format!("/apps/{}", seg(&a.app.id));
            // Regressions, high impact first (three at most), and the top
            // call sites, each linked to the app's page.
            let mut insights: Vec<String> = v
                .regressions
                .iter()
                .take(3)
                .map(|r| {
                    format!(
                        "<a href=\"{page}#insights\">{} {}</a>{}",
                        esc(r.metric.as_deref().unwrap_or("?")),
                        esc(r.latest_version.as_deref().unwrap_or("")),
                        if r.high_impact {
                            " <span class=bad>high impact</span>"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            if v.regressions.len() > 3 {
                insights.push(format!(
                    "<a href=\"{page}#insights\">{} more</a>",
                    v.regressions.len() - 3
                ));
            }
            let sites: Vec<String> = v
                .top_call_sites
                .iter()
                .map(|c| {
                    format!(
                        "<a href=\"{page}#call-sites\">{} <code>{}</code></a>",
                        esc(c.diagnostic_type),
                        esc(c.location.as_deref().unwrap_or(&c.signature))
                    )
                })
                .collect();
            let or_dash = |v: Vec<String>| {
                if v.is_empty() {
                    "–".to_string()
                } else {
                    v.join("<br>")
                }
            };
            let data_age = v
                .data_age_seconds
                .map(|s| {
                    format!(
                        "<span title=\"{}\">{}</span>",
                        esc(&when(a.last_success_unix)),
                        age(s)
                    )
                })
                .unwrap_or_else(|| "no data".into());
            rows.push_str(&format!(
                "<tr><td><a href=\"{page}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{data_age}</td>{status}<td>{}</td><td>{}</td></tr>\n",
                esc(&a.app.name),
                esc(&a.app.id),
                esc(&a.app.bundle_id),
                esc(a.latest_version().as_deref().unwrap_or("-")),
                or_dash(insights),
                or_dash(sites),
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
      <table><tr><th>App</th><th>Id</th><th>Bundle id</th><th>Latest version</th><th>Data age</th><th>Latest attempt</th><th>Regressions</th><th>Top call sites</th></tr>
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
