//! The README's examples run as written from a clone: every `console`
//! block of the "Command line" section is executed against the simulator it
//! starts (`simulate`, the first command), in a scratch directory that has
//! the repository's `examples/`, and each command's output must be what the
//! README shows. Volatile parts are normalised on both sides: tokens
//! (`eyJ…`), expiry times, the scratch directory and the simulator's port
//! (the README's 18080 is swapped for a free one). The quick start's demo
//! command is run too (`bash .ci/run` is what CI itself runs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_asc-perf-exporter");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// The text of a `## ` section, up to the next one.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("README has a '## {heading}' section"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// One `$ command` of a console block and the lines the README shows after it.
#[derive(Debug)]
struct Example {
    command: String,
    output: Vec<String>,
}

fn console_examples(section: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_console = !in_console && line.trim() == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        match line.strip_prefix("$ ") {
            Some(cmd) => out.push(Example {
                command: cmd.to_string(),
                output: Vec::new(),
            }),
            None => out
                .last_mut()
                .expect("a console block starts with a command")
                .output
                .push(line.to_string()),
        }
    }
    out
}

/// Whether `have` is `want`, where a `want` line that is only `…` stands
/// for any number of lines (the README elides long outputs so).
fn matches_elided(want: &str, have: &str) -> bool {
    let have: Vec<&str> = have.lines().collect();
    let parts: Vec<Vec<&str>> = want
        .split('\n')
        .collect::<Vec<_>>()
        .split(|l| l.trim() == "…")
        .map(<[&str]>::to_vec)
        .collect();
    if parts.len() == 1 {
        return parts[0] == have;
    }
    // The first part is a prefix, the last a suffix, the others in order.
    let (first, last) = (&parts[0], &parts[parts.len() - 1]);
    if !have.starts_with(first) || !have[first.len()..].ends_with(last) {
        return false;
    }
    let mut at = first.len();
    let end = have.len() - last.len();
    for part in &parts[1..parts.len() - 1] {
        match (at..=end.saturating_sub(part.len()))
            .find(|&i| i + part.len() <= end && have[i..i + part.len()] == part[..])
        {
            Some(i) => at = i + part.len(),
            None => return false,
        }
    }
    true
}

/// Replaces what differs between runs, in both the README and the output.
fn normalise(text: &str, port: u16, dir: &Path) -> String {
    let text = text
        .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:18080")
        .replace(&dir.display().to_string(), "/tmp/simrun");
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]*)*…?").unwrap();
    let expires = regex::Regex::new(r#""expires_at": \d+"#).unwrap();
    let utc = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00").unwrap();
    let request_id = regex::Regex::new(r"\[x-request-id [0-9A-F-]+\]").unwrap();
    let text = request_id.replace_all(&text, "[x-request-id <id>]");
    let text = jwt.replace_all(&text, "<token>");
    let text = expires.replace_all(&text, "\"expires_at\": <n>");
    let text = utc.replace_all(&text, "<time>");
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A clean environment: no ASC_* or RUST_LOG from the developer's shell,
/// and the binary on PATH as `asc-perf-exporter`.
fn shell(dir: &Path) -> Command {
    let mut c = Command::new("sh");
    for (k, _) in std::env::vars() {
        if k.starts_with("ASC_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path).current_dir(dir);
    c
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_command_line_example_runs_as_written() {
    let text = readme();
    let examples = console_examples(section(&text, "Command line"));
    assert!(examples.len() >= 15, "{examples:#?}");
    let first = &examples[0];
    assert!(
        first
            .command
            .starts_with("asc-perf-exporter simulate --listen 127.0.0.1:18080"),
        "the section starts the simulator the other examples use: {}",
        first.command
    );

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    std::os::unix::fs::symlink(repo().join("examples"), dir.join("examples")).unwrap();
    let port = free_port();
    let on_port = |cmd: &str| cmd.replace("127.0.0.1:18080", &format!("127.0.0.1:{port}"));

    // The simulator: its banner is the first example's output.
    let mut child = shell(&dir)
        .arg("-c")
        .arg(format!("exec {}", on_port(&first.command)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _sim = Killed(child);
    let mut banner = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with("Press Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let banner = banner.join("\n");
    assert_eq!(
        normalise(&banner, port, &dir),
        normalise(&first.output.join("\n"), port, &dir),
        "simulate"
    );
    // Its `export` lines are the environment of the other examples.
    let env: Vec<(String, String)> = banner
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(env.len(), 4, "{banner}");

    let mut failures = Vec::new();
    for ex in &examples[1..] {
        let mut cmd = shell(&dir);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let out = cmd
            .arg("-c")
            .arg(format!("{} 2>&1", on_port(&ex.command)))
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout).to_string();
        if !ex.command.starts_with("asc-perf-exporter ") {
            // Another tool (curl): it must work; the README shows no output.
            if !out.status.success() {
                failures.push(format!("$ {}\nfailed: {got}", ex.command));
            }
            continue;
        }
        let (want, have) = (
            normalise(&ex.output.join("\n"), port, &dir),
            normalise(&got, port, &dir),
        );
        if !matches_elided(&want, &have) {
            failures.push(format!(
                "$ {}\n--- README\n{want}\n--- output\n{have}",
                ex.command
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} README example(s) differ from what the command prints:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `GET path` on 127.0.0.1:port with HTTP/1.0 (the body ends at close).
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn the_quick_start_demo_command_serves_data() {
    let text = readme();
    let quick = section(&text, "Quick start");
    assert!(
        quick.contains("cargo run --release -- serve --demo"),
        "{quick}"
    );
    assert!(quick.contains("bash .ci/run"), "{quick}");
    // `cargo run --release --` is this binary; the listen address is moved
    // to a free loopback port through the environment (tests stay on
    // loopback), the command's arguments stay as written.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = shell(dir.path())
        .env("ASC_EXPORTER_LISTEN", format!("127.0.0.1:{port}"))
        .arg("-c")
        .arg("exec asc-perf-exporter serve --demo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _demo = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = get(port, "/metrics").unwrap_or_default();
        if body.contains("asc_launch_time_seconds{") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo serves Apple metrics within a minute"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn elision_matches_any_run_of_lines_in_order() {
    assert!(matches_elided("a\n…\nd", "a\nb\nc\nd"));
    assert!(matches_elided("a\n…", "a\nb"));
    assert!(matches_elided("a\n…\nc\n…", "a\nb\nc\nd"));
    assert!(!matches_elided("a\n…\nx\n…", "a\nb\nc\nd"));
    assert!(!matches_elided("a\n…\nd", "a\nb\nc"));
    assert!(!matches_elided("a\nb", "a\nb\nc"));
    assert!(matches_elided("a\nb", "a\nb"));
}
