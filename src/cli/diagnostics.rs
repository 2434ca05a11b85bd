//! `diagnostics`: a build's diagnostic signatures, heaviest first, and the
//! logs of the top ones with their call-stack trees
//! (get-diagnostics-logs.py parity, plus all signatures, several logs,
//! blame marks, sample counts and `--save`).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::Context;
use super::render::{Table, dash, metadata, num, write_call_stack_trees};
use crate::asc::model::{DiagnosticLogs, DiagnosticLogsProductData, DiagnosticSignature};

/// Arguments of `diagnostics`.
#[derive(Debug, Args)]
pub struct DiagnosticsArgs {
    /// Build id (a UUID; see `builds APP_ID`).
    pub build_id: String,
    /// Only these diagnostic types: DISK_WRITES, HANGS, LAUNCHES (repeatable
    /// or comma-separated).
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    pub types: Vec<String>,
    /// How many of the heaviest signatures to fetch logs for (0 = none).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=200))]
    pub limit: u32,
    /// Logs fetched per signature.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub logs: u32,
    /// Write one diagnosticLogs document merging the fetched signatures'
    /// productData (read it back with `parse diagnostics --input FILE`).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// A signature's weight as a percentage. Apple's weights are fractions
/// (0.85 = 85 %); if any weight of the build is above 1 the server uses a
/// 0–100 scale and the values are shown as they are.
pub fn weight_percent(weight: f64, fractional: bool) -> f64 {
    if fractional { weight * 100.0 } else { weight }
}

/// Whether every weight is a fraction (≤ 1).
pub fn weights_are_fractions(sigs: &[DiagnosticSignature]) -> bool {
    sigs.iter().all(|s| s.weight() <= 1.0)
}

/// The logs of one signature, as `--output json` prints them.
#[derive(Debug, Serialize)]
pub struct SignatureLogs<'a> {
    pub signature_id: &'a str,
    pub diagnostic_type: &'a str,
    pub signature: &'a str,
    pub weight: f64,
    pub logs: DiagnosticLogs,
}

/// JSON output of `diagnostics`.
#[derive(Debug, Serialize)]
pub struct DiagnosticsOutput<'a> {
    pub build_id: &'a str,
    pub signatures: &'a [DiagnosticSignature],
    pub logs: Vec<SignatureLogs<'a>>,
}

/// The signatures table: rank, weight %, type, trend, signature.
pub fn signatures_table(sigs: &[DiagnosticSignature]) -> String {
    let fractional = weights_are_fractions(sigs);
    let mut t = Table::new(["#", "WEIGHT", "TYPE", "TREND", "SIGNATURE"]).right(&[0, 1]);
    for (i, s) in sigs.iter().enumerate() {
        let trend = s
            .attributes
            .insight
            .as_ref()
            .and_then(|i| i.direction.as_deref())
            .map(|d| match d {
                "UP" => "UP ▲".to_string(),
                "DOWN" => "DOWN ▼".to_string(),
                other => other.to_string(),
            });
        t.row([
            (i + 1).to_string(),
            format!("{}%", num(weight_percent(s.weight(), fractional))),
            dash(Some(s.diagnostic_type())),
            dash(trend.as_deref()),
            dash(Some(s.signature())),
        ]);
    }
    t.render()
}

/// One productData entry of a logs document: insights, then up to `limit`
/// logs with metadata and (optionally) call stacks.
pub fn render_product_data(
    pd: &DiagnosticLogsProductData,
    limit: usize,
    callstack: bool,
    indent: &str,
) -> String {
    let mut out = String::new();
    let _ = write_product_data(&mut out, pd, limit, callstack, indent);
    out
}

/// [`render_product_data`] into any writer (streamed output).
pub fn write_product_data<W: std::fmt::Write + ?Sized>(
    out: &mut W,
    pd: &DiagnosticLogsProductData,
    limit: usize,
    callstack: bool,
    indent: &str,
) -> std::fmt::Result {
    for ins in &pd.diagnostic_insights {
        writeln!(
            out,
            "{indent}insight: {}{}{}",
            dash(ins.insights_category.as_deref()),
            ins.insights_string
                .as_deref()
                .map(|s| format!(" - {s}"))
                .unwrap_or_default(),
            ins.insights_url
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
        )?;
    }
    let total = pd.diagnostic_logs.len();
    if total == 0 {
        writeln!(out, "{indent}(no logs)")?;
    }
    let shown = total.min(limit);
    let inner = format!("{indent}  ");
    for (n, log) in pd.diagnostic_logs.iter().take(limit).enumerate() {
        writeln!(out, "{indent}log {}/{total}", n + 1)?;
        out.write_str(&metadata(&log.diagnostic_meta_data, &inner))?;
        if callstack {
            write_call_stack_trees(out, &log.call_stack_tree, &inner)?;
        }
    }
    if shown < total {
        writeln!(out, "{indent}… {} more log(s) not shown", total - shown)?;
    }
    Ok(())
}

/// Merges the productData of several raw logs bodies into one document,
/// keeping every field exactly as the server sent it. The entries are
/// copied as raw JSON text (`RawValue`, skipped over iteratively), so call
/// stacks of any depth survive.
pub fn merge_logs_bodies(bodies: &[Vec<u8>]) -> anyhow::Result<Vec<u8>> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow, default)]
        version: Option<&'a RawValue>,
        #[serde(borrow, default, rename = "productData")]
        product_data: Option<Vec<&'a RawValue>>,
    }
    #[derive(Serialize)]
    struct Merged<'a> {
        version: &'a RawValue,
        #[serde(rename = "productData")]
        product_data: Vec<&'a RawValue>,
    }
    let default_version = serde_json::value::to_raw_value("1.0.0")?;
    let mut version = None;
    let mut product_data = Vec::new();
    for body in bodies {
        let b: Body = serde_json::from_slice(body)?;
        version = version.or(b.version);
        product_data.extend(b.product_data.unwrap_or_default());
    }
    let doc = Merged {
        version: version.unwrap_or(&default_version),
        product_data,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Fetches signatures and logs and prints them.
pub async fn run(args: DiagnosticsArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let types: Vec<String> = args
        .types
        .iter()
        .map(|t| t.trim().to_ascii_uppercase())
        .filter(|t| !t.is_empty())
        .collect();
    let sigs = client
        .diagnostic_signatures(&args.build_id, &types, None)
        .await?;
    let top = sigs.iter().take(args.limit as usize);
    let mut fetched = Vec::new();
    for s in top {
        let logs = client.diagnostic_logs(&s.id, Some(args.logs)).await?;
        fetched.push((s, logs));
    }
    if let Some(path) = &args.save {
        let bodies: Vec<Vec<u8>> = fetched.iter().map(|(_, f)| f.body.clone()).collect();
        super::write_file(path, &merge_logs_bodies(&bodies)?)?;
    }
    if ctx.json() {
        return ctx.emit_json(&DiagnosticsOutput {
            build_id: &args.build_id,
            signatures: &sigs,
            logs: fetched
                .into_iter()
                .map(|(s, f)| SignatureLogs {
                    signature_id: &s.id,
                    diagnostic_type: s.diagnostic_type(),
                    signature: s.signature(),
                    weight: s.weight(),
                    logs: f.value,
                })
                .collect(),
        });
    }
    let mut out = String::new();
    if sigs.is_empty() {
        let what = if types.is_empty() {
            String::new()
        } else {
            format!(" of type {}", types.join(", "))
        };
        let _ = writeln!(
            out,
            "No diagnostic signatures{what} for build {} (Apple needs a few days of usage to collect them).",
            args.build_id
        );
        return ctx.emit(&out);
    }
    let _ = writeln!(
        out,
        "Diagnostic signatures of build {} ({}):",
        args.build_id,
        sigs.len()
    );
    out.push_str(&signatures_table(&sigs));
    let fractional = weights_are_fractions(&sigs);
    for (rank, (s, logs)) in fetched.iter().enumerate() {
        out.push('\n');
        let _ = writeln!(
            out,
            "[{}] {}% {}  {}",
            rank + 1,
            num(weight_percent(s.weight(), fractional)),
            s.diagnostic_type(),
            s.signature()
        );
        let _ = writeln!(out, "    signature id: {}", s.id);
        if logs.value.product_data.is_empty() {
            let _ = writeln!(out, "    (no logs)");
        }
        for pd in &logs.value.product_data {
            out.push_str(&render_product_data(pd, usize::MAX, true, "    "));
        }
    }
    ctx.emit(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_logs_keep_deep_entries_verbatim() {
        let deep = format!(
            r#"{{"signatureId":"a","diagnosticLogs":[{{"x":{}1{}}}]}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let a = format!(r#"{{"version":"2.0","productData":[{deep}]}}"#).into_bytes();
        let b = br#"{"productData":[{"signatureId":"b","diagnosticLogs":[]}]}"#.to_vec();
        let merged = String::from_utf8(merge_logs_bodies(&[a, b]).unwrap()).unwrap();
        assert!(merged.contains(&deep), "entries are copied verbatim");
        assert!(merged.contains(r#""version": "2.0""#), "{merged:.200}");
        assert!(merged.contains(r#"{"signatureId":"b","diagnosticLogs":[]}"#));
        let none = merge_logs_bodies(&[]).unwrap();
        assert_eq!(
            String::from_utf8(none).unwrap(),
            "{\n  \"version\": \"1.0.0\",\n  \"productData\": []\n}\n"
        );
    }
}
