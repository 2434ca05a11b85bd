//! Sets `ASC_EXPORTER_REVISION` (the `revision` label of
//! `asc_exporter_build_info`) at build time: the variable itself when the
//! build passes one (the Dockerfile's build argument), else the git commit
//! the tree is built from, else nothing (the exporter says "unknown").

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ASC_EXPORTER_REVISION");
    let given = std::env::var("ASC_EXPORTER_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty() && r != "unknown");
    if let Some(r) = given {
        println!("cargo:rustc-env=ASC_EXPORTER_REVISION={r}");
        return;
    }
    // Rebuild when HEAD moves: HEAD itself (a checkout), the refs (a
    // commit on the current branch) and packed refs.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for f in ["HEAD", "refs", "packed-refs"] {
            let p = dir.join(f);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    if let Some(rev) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=ASC_EXPORTER_REVISION={rev}");
    }
}
