//! Snapshots: a consistent, self-contained copy of the SQLite file at a known log id.
//!
//! Building: `VACUUM INTO` from a read connection copies one consistent snapshot of the
//! database; the copy then has its speculative transactions undone, so it is exactly the
//! state at the `last_applied` it records. Installing: the received file is verified
//! (checksum, SQLite integrity check, recorded log id) before it replaces the database.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use quorate_consensus::SnapshotMeta;
use rusqlite::config::DbConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::capture;
use crate::schema::{self, SPEC_TABLE};

/// A snapshot file on disk, with its size and SHA-256 (checked again by the receiver).
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Sidecar {
    meta: SnapshotMeta,
    size: u64,
    sha256: String,
}

pub(crate) struct SnapshotDir {
    dir: PathBuf,
}

impl SnapshotDir {
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        // Leftovers of an interrupted build or transfer.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with("tmp-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// A fresh temporary path inside the snapshot directory (same filesystem as the
    /// database, so renames are atomic).
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        self.dir
            .join(format!("tmp-{what}-{:016x}.db", rand::random::<u64>()))
    }

    fn name_for(meta: &SnapshotMeta) -> String {
        match &meta.last_log_id {
            Some(l) => format!(
                "snap-{:020}-{}-{}",
                l.index, l.leader_id.term, l.leader_id.node_id
            ),
            None => "snap-empty".to_string(),
        }
    }

    /// Moves a finished snapshot file into place with its sidecar, and removes older ones.
    pub(crate) fn keep(&self, meta: &SnapshotMeta, tmp: &Path) -> Result<SnapshotFile, StoreError> {
        let (size, sha256) = hash_file(tmp)?;
        let name = Self::name_for(meta);
        let path = self.dir.join(format!("{name}.db"));
        std::fs::rename(tmp, &path)?;
        let sidecar = Sidecar {
            meta: meta.clone(),
            size,
            sha256: sha256.clone(),
        };
        let json_tmp = self.dir.join(format!("tmp-{name}.json"));
        {
            let mut f = std::fs::File::create(&json_tmp)?;
            f.write_all(&serde_json::to_vec(&sidecar).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&json_tmp, self.dir.join(format!("{name}.json")))?;
        self.remove_all_but(&name)?;
        Ok(SnapshotFile { path, size, sha256 })
    }

    fn remove_all_but(&self, keep: &str) -> Result<(), StoreError> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("snap-") && !name.starts_with(&format!("{keep}.")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Removes a snapshot file and its sidecar.
    pub(crate) fn discard(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(path.with_extension("json"));
    }

    /// The newest snapshot kept here.
    pub(crate) fn current(&self) -> Result<Option<(SnapshotMeta, SnapshotFile)>, StoreError> {
        let mut best: Option<(SnapshotMeta, SnapshotFile)> = None;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.starts_with("snap-") && name.ends_with(".json")) {
                continue;
            }
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let Ok(sidecar) = serde_json::from_slice::<Sidecar>(&bytes) else {
                tracing::warn!(file = %name, "unreadable snapshot sidecar; ignoring it");
                continue;
            };
            let path = entry.path().with_extension("db");
            if !path.exists() {
                continue;
            }
            let newer = match &best {
                None => true,
                Some((m, _)) => sidecar.meta.last_log_id > m.last_log_id,
            };
            if newer {
                best = Some((
                    sidecar.meta,
                    SnapshotFile {
                        path,
                        size: sidecar.size,
                        sha256: sidecar.sha256,
                    },
                ));
            }
        }
        Ok(best)
    }
}

/// Size and SHA-256 (hex) of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String), StoreError> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Copies the live database at `db_path` into `tmp` (one consistent read snapshot) and
/// turns the copy into a snapshot: speculative transactions undone, journal mode DELETE.
/// Returns the applied state the copy is at.
pub(crate) fn build_copy(db_path: &Path, tmp: &Path) -> Result<schema::AppliedState, StoreError> {
    {
        let src = schema::open(
            db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        src.busy_timeout(std::time::Duration::from_secs(10))?;
        src.execute("VACUUM INTO ?1", [tmp.to_string_lossy()])?;
    }
    let copy = schema::open(
        tmp,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    copy.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    copy.pragma_update(None, "foreign_keys", false)?;
    copy.execute_batch("BEGIN IMMEDIATE")?;
    let spec: Vec<(i64, Vec<u8>)> = {
        let mut stmt = copy.prepare(&format!(
            "SELECT seq, inverse FROM {SPEC_TABLE} ORDER BY seq DESC"
        ))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    for (seq, inverse) in &spec {
        capture::apply_undo(&copy, inverse).map_err(|e| {
            StoreError::Corrupt(format!(
                "cannot undo speculative transaction {seq} in a snapshot: {e}"
            ))
        })?;
    }
    copy.execute(&format!("DELETE FROM {SPEC_TABLE}"), [])?;
    let applied = schema::read_applied(&copy)?;
    copy.execute_batch("COMMIT")?;
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    drop(copy);
    std::fs::File::open(tmp)?.sync_all()?;
    Ok(applied)
}

/// Checks a received snapshot before it replaces anything: SHA-256, SQLite's integrity
/// check, and that the log id recorded inside is the one the leader announced. Returns the
/// applied state recorded inside.
pub(crate) fn verify(
    file: &SnapshotFile,
    meta: &SnapshotMeta,
    witness: bool,
) -> Result<schema::AppliedState, StoreError> {
    let (size, sha256) = hash_file(&file.path)?;
    if size != file.size || sha256 != file.sha256 {
        return Err(StoreError::Corrupt(format!(
            "snapshot checksum mismatch: got {size} bytes sha256 {sha256}, expected {} bytes sha256 {}",
            file.size, file.sha256
        )));
    }
    let conn = schema::open(
        &file.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Corrupt(format!(
            "snapshot fails SQLite's integrity check: {check}"
        )));
    }
    let applied = schema::read_applied(&conn)?;
    if applied.last_applied != meta.last_log_id {
        return Err(StoreError::Corrupt(format!(
            "snapshot holds state at {:?} but was announced at {:?}",
            applied.last_applied, meta.last_log_id
        )));
    }
    let flag = schema::read_flag(&conn, "witness")?;
    if flag.as_deref() == Some("1") && !witness {
        // A witness has no data; installing its snapshot would wipe this node (a trap other
        // Raft databases fell into). A witness never leads, so this means a bug or an attack.
        return Err(StoreError::Corrupt(
            "refusing a witness's (data-less) snapshot on a data node".into(),
        ));
    }
    Ok(applied)
}
