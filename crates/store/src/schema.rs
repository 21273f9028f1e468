//! quorate's own tables inside the SQLite file, and connection setup.
//!
//! Two kinds of internal tables:
//! - node-local bookkeeping (`_quorate_meta`, `_quorate_spec`): never replicated, never
//!   captured in a changeset, differ legitimately between nodes;
//! - replicated catalog tables (users, databases, audit log, ...): created by later
//!   layers with the `_quorate_` prefix, replicated like user data, hidden from user SQL.

use std::path::Path;
use std::time::Duration;

use quorate_consensus::{LogId, StoredMembership};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::StoreError;

/// Prefix of every quorate-owned table. User SQL may not touch these.
pub const INTERNAL_PREFIX: &str = "_quorate_";

pub(crate) const META_TABLE: &str = "_quorate_meta";
pub(crate) const SPEC_TABLE: &str = "_quorate_spec";

/// Version of the on-disk layout, stored in `_quorate_meta`; bumped on incompatible changes.
pub(crate) const FORMAT_VERSION: i64 = 1;

/// Tables whose changes are never captured or replicated.
pub(crate) fn is_local_table(name: &[u8]) -> bool {
    name == META_TABLE.as_bytes() || name == SPEC_TABLE.as_bytes()
}

/// SQLite page size of new database files, in bytes. Every commit writes each page it
/// changed whole to the WAL (and checkpoints write it again to the file): an OLTP write
/// changes a few rows of a few pages, so smaller pages mean fewer bytes for the disk that
/// the Raft log's fsyncs share. Measured against SQLite's default of 4096 (release build,
/// fresh `quorate demo`, sysbench 8 threads, 10 s): the leader wrote 7.1 KB instead of
/// 16.8 KB per `oltp_update_index` transaction and 9.2 KB instead of 21.7 KB per
/// `oltp_insert`, with 5-14% more write throughput and the same read throughput
/// (docs/BENCHMARKS.md).
pub(crate) const PAGE_SIZE: i64 = 1024;

/// Opens `path` with `flags`, with what any connection to a replica needs: the date and
/// time collations (`quorate_collate`), without which SQLite can neither search nor build
/// nor check the index of a table with a date column.
pub(crate) fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    quorate_collate::register(&conn)?;
    Ok(conn)
}

/// Opens the writer connection and creates the bookkeeping tables if needed.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The page size: only a new, empty file takes it (and only before it is in WAL mode);
    // a file keeps the page size it was made with, and a snapshot carries the leader's.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // WAL: readers never block the writer. synchronous=NORMAL: durability comes from the
    // Raft log (fsynced on a majority before any acknowledgement); after a power loss SQLite
    // is consistent but may lack its last transactions, which are re-applied from the log.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(256);
    // Besides this connection only the checkpoint thread takes the write lock, for the
    // short copy of a `RESTART` checkpoint; a busy error here would stop apply.
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {META_TABLE} (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS {SPEC_TABLE} (seq INTEGER PRIMARY KEY, inverse BLOB NOT NULL);"
    ))?;
    let version: Option<i64> = conn
        .query_row(
            &format!("SELECT v FROM {META_TABLE} WHERE k = 'format'"),
            [],
            |r| r.get(0),
        )
        .optional()?;
    match version {
        None => {
            conn.execute(
                &format!("INSERT INTO {META_TABLE}(k, v) VALUES ('format', ?1)"),
                [FORMAT_VERSION],
            )?;
        }
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(StoreError::Corrupt(format!(
                "database format {other} is not supported by this build (expects {FORMAT_VERSION})"
            )));
        }
    }
    Ok(conn)
}

/// Opens a read-only connection (a WAL reader).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.set_prepared_statement_cache_capacity(256);
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Opens the connection that copies the WAL into the database file in the background
/// (see `checkpoint`). It syncs as the writer does: the WAL before pages are copied, the
/// database file after.
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(crate::checkpoint::WAIT)?;
    // Closing it (a snapshot install) must not copy a WAL that is about to be discarded.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    Ok(conn)
}

/// What this node has applied, as recorded in SQLite with the data it covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    /// Per leader process (node, incarnation): the last of its transactions applied, to
    /// check each next one's `depends_on` (see `Origin`). Identical on every replica.
    pub chains: Vec<(u64, u64, u64)>,
}

/// Origins remembered in [`AppliedState::chains`] (older ones are forgotten; a leader
/// process that old has long been replaced).
const CHAINS_MAX: usize = 32;

impl AppliedState {
    /// Whether an entry from `origin` may apply: its predecessor was the last one applied.
    pub(crate) fn chain_ok(&self, origin: &quorate_consensus::Origin) -> bool {
        match origin.depends_on {
            None => true,
            Some(d) => self
                .chains
                .iter()
                .any(|(n, i, s)| *n == origin.node && *i == origin.incarnation && *s == d),
        }
    }

    /// Records that the entry from `origin` was applied.
    pub(crate) fn chain_advance(&mut self, origin: &quorate_consensus::Origin) {
        self.chains
            .retain(|(n, i, _)| !(*n == origin.node && *i == origin.incarnation));
        self.chains
            .push((origin.node, origin.incarnation, origin.seq));
        if self.chains.len() > CHAINS_MAX {
            self.chains.remove(0);
        }
    }
}

pub(crate) fn read_applied(conn: &Connection) -> Result<AppliedState, StoreError> {
    let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(conn
            .query_row(
                &format!("SELECT v FROM {META_TABLE} WHERE k = ?1"),
                [key],
                |r| r.get(0),
            )
            .optional()?)
    };
    let last_applied = match get("last_applied")? {
        Some(bytes) => Some(decode(&bytes, "last_applied")?),
        None => None,
    };
    let membership = match get("membership")? {
        Some(bytes) => decode(&bytes, "membership")?,
        None => StoredMembership::default(),
    };
    let chains = match get("chains")? {
        Some(bytes) => decode(&bytes, "chains")?,
        None => Vec::new(),
    };
    Ok(AppliedState {
        last_applied,
        membership,
        chains,
    })
}

/// Writes the applied state; must run inside the transaction that holds the data it covers.
pub(crate) fn write_applied(conn: &Connection, state: &AppliedState) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO {META_TABLE}(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v"
    ))?;
    if let Some(last) = &state.last_applied {
        stmt.execute(params!["last_applied", encode(last)?])?;
    }
    stmt.execute(params!["membership", encode(&state.membership)?])?;
    stmt.execute(params!["chains", encode(&state.chains)?])?;
    Ok(())
}

pub(crate) fn read_flag(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT CAST(v AS TEXT) FROM {META_TABLE} WHERE k = ?1"),
            [key],
            |r| r.get(0),
        )
        .optional()?)
}

pub(crate) fn write_flag(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO {META_TABLE}(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v"
        ),
        params![key, value],
    )?;
    Ok(())
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(value).map_err(|e| StoreError::Corrupt(format!("cannot encode meta: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("unreadable {what} in {META_TABLE}: {e}")))
}

#[cfg(test)]
mod tests {
    fn page_size(conn: &rusqlite::Connection) -> i64 {
        conn.query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    }

    /// A new database file is made with `PAGE_SIZE` pages; a file made earlier with other
    /// pages (an older node, or a snapshot from one) keeps them and opens as before.
    #[test]
    fn new_files_get_small_pages_and_older_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let new = super::open_writer(&dir.path().join("new.db")).unwrap();
        assert_eq!(page_size(&new), super::PAGE_SIZE);

        let older = dir.path().join("older.db");
        rusqlite::Connection::open(&older)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        let reopened = super::open_writer(&older).unwrap();
        assert_eq!(page_size(&reopened), 4096);
    }
}
