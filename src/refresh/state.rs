//! Persistence of the last good snapshot in the state directory.
//!
//! Written atomically (temp file, fsync, rename) so a crash never leaves a
//! half-written file; a corrupt or unreadable file is reported and ignored.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::snapshot::{SNAPSHOT_FORMAT, Snapshot};

const FILE_NAME: &str = "snapshot.json";

#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
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
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
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

    /// Writes the snapshot atomically.
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        self.write_atomic(FILE_NAME, snapshot)
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
            let mut f = std::fs::File::create(&tmp)?;
            serde_json::to_writer(&mut f, value)?;
            f.flush()?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| StateError::Write {
            path: path.clone(),
            reason: e.to_string(),
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
            apps: vec![AppSnapshot {
                app: AppRef {
                    id: "1".into(),
                    name: "A".into(),
                    bundle_id: "com.a".into(),
                },
                last_success_unix: Some(12.5),
                ..Default::default()
            }],
            ..Default::default()
        };
        store.save(&snap).unwrap();
        assert_eq!(store.load(), Some(snap));
        std::fs::write(store.path(), b"{\"format\": 1, \"apps\": [tru").unwrap();
        assert_eq!(store.load(), None);
        std::fs::write(store.path(), b"{\"format\": 999}").unwrap();
        assert_eq!(store.load(), None);
    }
}
