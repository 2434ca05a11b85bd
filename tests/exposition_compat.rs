//! The hand-written writers against what the exposition was and against
//! the `prometheus` crate's `TextEncoder`:
//!
//! - on the Apple examples (and a larger account made of them), the text
//!   format and OpenMetrics are sample for sample what the old encoder wrote
//!   (`tests/fixtures/golden/`, written by the `prometheus`-crate path before
//!   it was replaced), apart from the renames listed in [`RENAMES`] (the
//!   README's changelog lists them too) and issue 15's `account` label
//!   ([`with_account`]); every family no rename touches is byte for byte
//!   the same once the label is in;
//! - on a simulated account fetched over HTTP, the text writer's output is
//!   byte for byte what `TextEncoder` writes for the same families;
//! - `promtool check metrics` accepts the large exposition.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use ::prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use asc_perf_exporter::export::{Exposition, Families, Kind, encode, families};

mod common;
use common::examples::{large, meta, snapshot};

/// `(old family name, new family name)`: the names issue 12 changed.
const RENAMES: &[(&str, &str)] = &[("asc_api_rate_limit_limit", "asc_api_rate_limit_budget")];

/// `(family, how an old sample line reads now)`: the families whose labels
/// issue 12 changed (their samples are compared after the change, their
/// HELP is not).
const RELABELLED: &[(&str, Relabel)] = &[("asc_data_available", build_scope)];

/// The families issue 15 added (absent from the golden files).
const ADDED: &[&str] = &["asc_exporter_refresh_progress_ratio"];

/// How an old sample line reads once issue 15's `account` label is in:
/// after `bundle_id` on every per-app series, first on the per-account
/// refresh and API families (`asc_api_*`, `asc_exporter_*` but the build
/// info); `default` is the single-key account.
fn with_account(line: &str) -> String {
    if line.starts_with('#') {
        return line.to_string();
    }
    if let Some(at) = line.find("bundle_id=\"") {
        let value = at + "bundle_id=\"".len();
        let mut end = value;
        let bytes = line.as_bytes();
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        return format!("{},account=\"default\"{}", &line[..=end], &line[end + 1..]);
    }
    let name = family_of(line);
    let per_account = (name.starts_with("asc_api_") || name.starts_with("asc_exporter_"))
        && !name.starts_with("asc_exporter_build_info");
    if !per_account {
        return line.to_string();
    }
    let rest = &line[name.len()..];
    match rest.strip_prefix('{') {
        Some(labels) => format!("{name}{{account=\"default\",{labels}"),
        None => format!("{name}{{account=\"default\"}}{rest}"),
    }
}

#[test]
fn with_account_places_the_label() {
    assert_eq!(
        with_account(r#"asc_x{app_id="1",app="A",bundle_id="b\"c",device="d"} 1"#),
        r#"asc_x{app_id="1",app="A",bundle_id="b\"c",account="default",device="d"} 1"#
    );
    assert_eq!(
        with_account("asc_api_retries_total 0"),
        r#"asc_api_retries_total{account="default"} 0"#
    );
    assert_eq!(
        with_account(r#"asc_api_requests_total{endpoint="/v1/apps",status="200"} 3"#),
        r#"asc_api_requests_total{account="default",endpoint="/v1/apps",status="200"} 3"#
    );
    let info = r#"asc_exporter_build_info{version="1",revision="r"} 1"#;
    assert_eq!(with_account(info), info);
}

/// How an old sample line of a relabelled family reads now.
type Relabel = fn(&str) -> String;

/// `asc_data_available`: a build number was the `scope`; now the scope is
/// `build` and the number is in the `build` label (the last label, as on
/// every build-level series). `scope="app"` stays.
fn build_scope(line: &str) -> String {
    match line.split_once(",scope=\"") {
        Some((head, rest)) if !rest.starts_with("app\"") => {
            let (number, tail) = rest.split_once('"').expect("a quoted scope");
            format!("{head},scope=\"build\",build=\"{number}\"{tail}")
        }
        _ => line.to_string(),
    }
}

#[test]
fn build_scope_moves_the_build_number() {
    assert_eq!(
        build_scope(r#"asc_data_available{app_id="1",scope="181"} 0"#),
        r#"asc_data_available{app_id="1",scope="build",build="181"} 0"#
    );
    let app = r#"asc_data_available{app_id="1",scope="app"} 1"#;
    assert_eq!(build_scope(app), app);
}

fn golden(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("a gzip golden file");
        out
    } else {
        raw
    }
}

/// The family a line belongs to: the name of a sample line or the name a
/// `# HELP`/`# TYPE`/`# UNIT` line is about.
fn family_of(line: &str) -> &str {
    let rest = line
        .strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))
        .or_else(|| line.strip_prefix("# UNIT "))
        .unwrap_or(line);
    let end = rest.find(['{', ' ']).unwrap_or(rest.len());
    &rest[..end]
}

/// Lines grouped by family, in order.
fn by_family(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        out.entry(family_of(line).to_string())
            .or_default()
            .push(line.to_string());
    }
    out
}

fn renamed(old: &str) -> Option<&'static str> {
    RENAMES.iter().find(|(o, _)| *o == old).map(|(_, n)| *n)
}

/// The new exposition is the old one, sample for sample, up to the
/// renames; unrenamed families are line for line the same.
fn assert_same_up_to_renames(old: &str, new: &str, what: &str) {
    let old: Vec<String> = old.lines().map(with_account).collect();
    let old = by_family(&old.join("\n"));
    let new = by_family(new);
    let mut expected_names: Vec<String> = old
        .keys()
        .map(|k| {
            // An OpenMetrics family name without `_total`/`_info` is renamed
            // as its sample name is.
            RENAMES
                .iter()
                .find(|(o, _)| o.strip_suffix("_total").or(o.strip_suffix("_info")) == Some(k))
                .map(|(o, n)| {
                    let suffix = &o[k.len()..];
                    n.strip_suffix(suffix).unwrap_or(n).to_string()
                })
                .or_else(|| renamed(k).map(str::to_string))
                .unwrap_or_else(|| k.clone())
        })
        .collect();
    expected_names.extend(ADDED.iter().map(|s| s.to_string()));
    expected_names.sort();
    let mut got_names: Vec<String> = new.keys().cloned().collect();
    got_names.sort();
    assert_eq!(got_names, expected_names, "{what}: the families");
    for (name, lines) in &old {
        let relabel = RELABELLED.iter().find(|(f, _)| f == name).map(|(_, f)| *f);
        match renamed(name) {
            None if relabel.is_none()
                && RENAMES.iter().all(|(o, _)| !o.starts_with(name.as_str())) =>
            {
                assert_eq!(
                    new.get(name),
                    Some(lines),
                    "{what}: family {name} is not byte for byte what it was"
                );
            }
            _ => {
                let to = renamed(name).unwrap_or(name);
                let samples = |ls: &[String], n: &str, change: Relabel| {
                    let mut v: Vec<String> = ls
                        .iter()
                        .filter(|l| !l.starts_with('#'))
                        .map(|l| change(l).replacen(n, "", 1))
                        .collect();
                    v.sort();
                    v
                };
                let same = |l: &str| l.to_string();
                let new_lines = new.get(to).map(Vec::as_slice).unwrap_or(&[]);
                assert_eq!(
                    samples(new_lines, to, same),
                    samples(lines, name, relabel.unwrap_or(same)),
                    "{what}: family {name} renamed to {to} lost or changed samples"
                );
            }
        }
    }
}

#[test]
fn apple_examples_are_what_they_were() {
    let e = encode(&snapshot(), &meta());
    let old = String::from_utf8(golden("apple-examples.prom")).unwrap();
    let text = e.text_bytes();
    let new = std::str::from_utf8(&text).unwrap();
    assert_same_up_to_renames(&old, new, "text format");
    if RENAMES.is_empty() && RELABELLED.is_empty() {
        assert_eq!(new, old, "byte for byte");
    }
    let old = String::from_utf8(golden("apple-examples.om")).unwrap();
    let new = String::from_utf8(e.openmetrics_bytes()).unwrap();
    assert_same_up_to_renames(&old, &new, "OpenMetrics");
    assert!(new.ends_with("# EOF\n"));
    if RENAMES.is_empty() && RELABELLED.is_empty() {
        assert_eq!(new, old, "byte for byte");
    }
}

#[test]
fn a_large_account_is_what_it_was() {
    let e = encode(&large(10), &meta());
    assert!(e.series > 500, "{} series", e.series);
    let old = String::from_utf8(golden("large.prom.gz")).unwrap();
    let text = e.text_bytes();
    let new = std::str::from_utf8(&text).unwrap();
    assert_same_up_to_renames(&old, new, "large account");
}

/// The model as the `prometheus` crate's protos, as the old path built them.
fn to_protos(set: &Families) -> Vec<MetricFamily> {
    set.families
        .iter()
        .map(|f| {
            let mut mf = MetricFamily::default();
            mf.set_name(f.name.clone());
            mf.set_help(f.help.clone());
            mf.set_field_type(if f.kind == Kind::Counter {
                MetricType::COUNTER
            } else {
                MetricType::GAUGE
            });
            let metrics = f
                .series
                .iter()
                .map(|s| {
                    let mut m = Metric::from_label(
                        set.labels(f, s)
                            .map(|(n, v)| {
                                let mut lp = LabelPair::default();
                                lp.set_name(n.to_string());
                                lp.set_value(v.to_string());
                                lp
                            })
                            .collect(),
                    );
                    if f.kind == Kind::Counter {
                        let mut c = Counter::default();
                        c.set_value(s.value);
                        m.set_counter(c);
                    } else {
                        let mut g = Gauge::default();
                        g.set_value(s.value);
                        m.set_gauge(g);
                    }
                    m
                })
                .collect();
            mf.set_metric(metrics);
            mf
        })
        .collect()
}

fn text_encoder(set: &Families) -> String {
    let mut out = String::new();
    ::prometheus::TextEncoder::new()
        .encode_utf8(&to_protos(set), &mut out)
        .expect("encodes");
    out
}

#[test]
fn the_text_writer_is_the_text_encoder_on_the_examples() {
    for snap in [snapshot(), large(3)] {
        let set = families(&snap, &meta());
        let e = Exposition::encode(&set);
        assert_eq!(
            String::from_utf8(e.text_bytes()).unwrap(),
            text_encoder(&set)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_writer_is_the_text_encoder_on_a_simulated_account() {
    let snap = common::exporter::simulated_snapshot(6, 3).await;
    let set = families(&snap, &meta());
    assert!(set.series() > 5_000, "{} series", set.series());
    let e = Exposition::encode(&set);
    let want = text_encoder(&set);
    let text = e.text_bytes();
    let got = std::str::from_utf8(&text).unwrap();
    if got != want {
        let at = got
            .bytes()
            .zip(want.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "differs at byte {at}: writer {:?} encoder {:?}",
            &got[at.saturating_sub(80)..(at + 80).min(got.len())],
            &want[at.saturating_sub(80)..(at + 80).min(want.len())]
        );
    }
}

#[test]
fn promtool_accepts_the_large_exposition() {
    let e = encode(&large(5), &meta());
    common::prom::assert_promtool_accepts(&e.text_bytes());
}
