//! Persistence of the last good snapshot in the state directory.
//!
//! Written atomically (temp file, fsync, rename, directory fsync) so a crash
//! never leaves a half-written file; a failed write removes its temp file
//! (a full disk stays no fuller) and is counted in [`StateStats`]; a corrupt
//! or unreadable file is reported and ignored.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::snapshot::{SNAPSHOT_FORMAT, Snapshot};

const FILE_NAME: &str = "snapshot.json";

#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    /// The snapshot's file: `snapshot.json`, or `snapshot-<account>.json`
    /// for a named account ([`StateStore::for_account`]).
    file: String,
    stats: Arc<StateStats>,
}

/// Outcomes of the snapshot writes, for the exporter's own metrics. Writes
/// happen after a snapshot is published, so every change bumps a generation
/// on a `watch` channel (the Prometheus output re-encodes on it).
#[derive(Debug)]
pub struct StateStats {
    failures: AtomicU64,
    last_success_unix: Mutex<Option<f64>>,
    generation: watch::Sender<u64>,
}

/// A plain copy of [`StateStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StateStatsSnapshot {
    pub write_failures: u64,
    pub last_write_success_unix: Option<f64>,
}

impl Default for StateStats {
    fn default() -> Self {
        Self {
            failures: AtomicU64::new(0),
            last_success_unix: Mutex::new(None),
            generation: watch::Sender::new(0),
        }
    }
}

impl StateStats {
    fn record(&self, ok: bool) {
        if ok {
            *self
                .last_success_unix
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(crate::clock::unix_now());
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn snapshot(&self) -> StateStatsSnapshot {
        StateStatsSnapshot {
            write_failures: self.failures.load(Ordering::Relaxed),
            last_write_success_unix: *self
                .last_success_unix
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Changes whenever a write finishes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "cannot create state directory {dir}: {reason}; check state_dir / --state-dir and its permissions"
    )]
    CreateDir { dir: PathBuf, reason: String },
    #[error("cannot write state file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl StateStore {
    /// Uses `dir`, creating it if needed.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|e| StateError::CreateDir {
            dir: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file: FILE_NAME.to_string(),
            stats: Arc::new(StateStats::default()),
        })
    }

    /// The store of one account's snapshot, in the same directory and
    /// counted in the same stats: `snapshot.json` for the `default`
    /// account (as before accounts existed), `snapshot-<name>.json` for
    /// the others (config validation keeps names to `[A-Za-z0-9_.-]`).
    pub fn for_account(&self, name: &str) -> Self {
        Self {
            dir: self.dir.clone(),
            file: if name == super::snapshot::DEFAULT_ACCOUNT {
                FILE_NAME.to_string()
            } else {
                format!("snapshot-{name}.json")
            },
            stats: self.stats.clone(),
        }
    }

    /// Outcomes of [`Self::save`].
    pub fn stats(&self) -> &Arc<StateStats> {
        &self.stats
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.file)
    }

    /// The persisted snapshot, if there is a usable one. Problems are logged
    /// and yield `None`: a bad state file never stops the exporter.
    pub fn load(&self) -> Option<Snapshot> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read state file; starting without saved data");
                return None;
            }
        };
        // The model's decoder: deep call stacks load on a small stack.
        match crate::asc::model::decode::json::<Snapshot>(&bytes) {
            Ok(s) if s.format == SNAPSHOT_FORMAT => Some(s),
            Ok(s) => {
                tracing::warn!(path = %path.display(), format = s.format, expected = SNAPSHOT_FORMAT, "state file has another format; ignoring it");
                None
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "state file is corrupt; ignoring it (it will be replaced after the next refresh)");
                None
            }
        }
    }

    /// Writes the snapshot atomically; the outcome is counted in [`Self::stats`].
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        let r = self.write_atomic(&self.file, snapshot);
        self.stats.record(r.is_ok());
        r
    }

    /// Reads a small auxiliary JSON file of the state directory (an
    /// output's own state, e.g. the OTLP output's sent log keys). Missing,
    /// unreadable or corrupt: `None`, with a warning for the last two.
    pub fn load_aux<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let path = self.dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read state file; ignoring it");
                return None;
            }
        };
        match crate::asc::model::decode::json(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "state file is corrupt; ignoring it");
                None
            }
        }
    }

    /// Writes an auxiliary JSON file atomically (see [`Self::load_aux`]).
    pub fn save_aux<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        self.write_atomic(name, value)
    }

    fn write_atomic<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let f = std::fs::File::create(&tmp)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            serde_json::to_writer(&mut w, value)?;
            w.flush()?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &path)?;
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            // A partial temp file must not keep a full disk full; the
            // previous good file stays in place.
            let _ = std::fs::remove_file(&tmp);
            StateError::Write {
                path: path.clone(),
                reason: format!(
                    "{e}; the previous state file (if any) is kept; check the free space and permissions of state_dir"
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::snapshot::{AppRef, AppSnapshot};

    #[test]
    fn round_trip_and_corruption_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("nested")).unwrap();
        assert!(store.load().is_none());
        let snap = Snapshot {
            format: SNAPSHOT_FORMAT,
            apps: vec![std::sync::Arc::new(AppSnapshot {
                app: AppRef {
                    id: "1".into(),
                    name: "A".into(),
                    bundle_id: "com.a".into(),
                    account: "default".into(),
                },
                last_success_unix: Some(12.5),
                ..Default::default()
            })],
            ..Default::default()
        };
        store.save(&snap).unwrap();
        assert_eq!(store.load(), Some(snap));
        std::fs::write(store.path(), b"{\"format\": 1, \"apps\": [tru").unwrap();
        assert_eq!(store.load(), None);
        std::fs::write(store.path(), b"{\"format\": 999}").unwrap();
        assert_eq!(store.load(), None);
    }

    #[test]
    fn a_failed_write_is_counted_leaves_no_temp_file_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let snap = Snapshot {
            format: SNAPSHOT_FORMAT,
            ..Default::default()
        };
        let mut changes = store.stats().subscribe();
        store.save(&snap).unwrap();
        let ok = store.stats().snapshot();
        assert_eq!(ok.write_failures, 0);
        assert!(ok.last_write_success_unix.is_some());
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();

        // The rename target is a non-empty directory: the write fails after
        // the temp file was written in full.
        std::fs::remove_file(store.path()).unwrap();
        std::fs::create_dir(store.path()).unwrap();
        std::fs::write(store.path().join("x"), b"x").unwrap();
        let e = store.save(&snap).unwrap_err().to_string();
        assert!(
            e.contains("snapshot.json") && e.contains("state_dir"),
            "{e}"
        );
        let failed = store.stats().snapshot();
        assert_eq!(failed.write_failures, 1);
        assert_eq!(failed.last_write_success_unix, ok.last_write_success_unix);
        assert!(changes.has_changed().unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["snapshot.json"], "no temp file left behind");
    }
}
