//! Read connections: WAL readers that never block the writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rusqlite::Connection;
use rusqlite::types::Value;
use tokio::sync::watch;

use crate::guard::Guard;
use crate::schema;
use crate::spec::Frontier;
use crate::stmt::{self, StmtOutput};
use crate::{Inner, StoreError};

pub(crate) struct ReadPool {
    path: PathBuf,
    hook: Option<std::sync::Arc<dyn crate::ConnectionHook>>,
    keep: usize,
    idle: Mutex<Vec<(Connection, Guard)>>,
    /// Held shared by every reader, exclusively while the database file is replaced.
    gate: RwLock<()>,
    /// Bumped each time the file is replaced; read transactions of an older generation fail.
    generation: std::sync::atomic::AtomicU64,
    /// The background checkpoint thread's connection (see `checkpoint`), opened when first
    /// needed and closed with the idle readers while the file is replaced.
    checkpointer: Mutex<Option<Connection>>,
    /// The tables' rowid columns (`point::rowid_columns`) as of a schema version (see
    /// `rowid_absent`).
    rowid_columns: Mutex<(i64, Arc<HashMap<String, String>>)>,
}

impl ReadPool {
    pub(crate) fn new(
        path: &Path,
        keep: usize,
        hook: Option<std::sync::Arc<dyn crate::ConnectionHook>>,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            hook,
            keep: keep.max(1),
            idle: Mutex::new(Vec::new()),
            gate: RwLock::new(()),
            generation: Default::default(),
            checkpointer: Mutex::new(None),
            rowid_columns: Mutex::new((-1, Arc::default())),
        }
    }

    /// In one snapshot: `Some(true)` if `column` is the rowid column of `table` (its
    /// `INTEGER PRIMARY KEY`) and the table has no row `rowid`, `Some(false)` if it has one,
    /// `None` if `column` is not the table's rowid or there is no such table. Quorate's own
    /// tables must be kept out by the caller (this runs under internal rules).
    pub(crate) fn rowid_absent(
        &self,
        table: &str,
        column: &str,
        rowid: i64,
    ) -> Result<Option<bool>, StoreError> {
        self.with_conn(|conn| {
            conn.prepare_cached("BEGIN")?.raw_execute()?;
            let r = (|| {
                let version: i64 = conn
                    .prepare_cached("PRAGMA main.schema_version")?
                    .query_row([], |r| r.get(0))?;
                let cached = {
                    let cache = self.rowid_columns.lock();
                    (cache.0 == version).then(|| cache.1.clone())
                };
                let columns = match cached {
                    Some(c) => c,
                    None => {
                        let c = Arc::new(crate::point::rowid_columns(conn)?);
                        *self.rowid_columns.lock() = (version, c.clone());
                        c
                    }
                };
                match crate::point::by_table(&columns, table) {
                    Some(c) if c.eq_ignore_ascii_case(column) => {
                        let sql = format!(
                            "SELECT 1 FROM main.{} WHERE {} = ?1",
                            crate::record::quote(table),
                            crate::record::quote(c)
                        );
                        Ok(Some(!conn.prepare_cached(&sql)?.exists([rowid])?))
                    }
                    _ => Ok(None),
                }
            })();
            conn.prepare_cached("COMMIT")?.raw_execute()?;
            r
        })
    }

    fn take(&self) -> Result<(Connection, Guard), StoreError> {
        if let Some(c) = self.idle.lock().pop() {
            return Ok(c);
        }
        let mut conn = schema::open_reader(&self.path)?;
        // Readers get the same rules as the writer: quorate's own tables stay hidden.
        let guard = Guard::default();
        guard.install(&mut conn)?;
        crate::handover::install(&mut conn)?;
        if let Some(h) = &self.hook {
            h.on_open(&conn)?;
        }
        Ok((conn, guard))
    }

    fn give_back(&self, conn: (Connection, Guard)) {
        let mut idle = self.idle.lock();
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }

    /// Runs `f` with a read connection under user rules.
    fn with_user_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _gate = self.gate.read();
        let pooled = self.take()?;
        pooled.1.reset();
        let out = refine(f(&pooled.0), &pooled.1);
        // A connection left inside a transaction (after an error) is not reused.
        if pooled.0.is_autocommit() {
            self.give_back(pooled);
        }
        out
    }

    /// Runs `f` with a read connection that may read quorate's own tables.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _gate = self.gate.read();
        let pooled = self.take()?;
        let out = pooled.1.internal(|| f(&pooled.0));
        if pooled.0.is_autocommit() {
            self.give_back(pooled);
        }
        out
    }

    /// Runs one read-only statement; returns its output and the speculation frontier as it
    /// was after the statement ran (an upper bound of what the statement could see).
    ///
    /// If speculative transactions were undone while the statement ran, it may have read
    /// their effects while the frontier, sampled afterwards, no longer counts them: the
    /// statement runs again (see [`Frontier::undo_epoch`]).
    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[Value],
        max_bytes: usize,
        frontier: &watch::Receiver<Frontier>,
        context: &[u8],
    ) -> Result<(StmtOutput, Frontier), StoreError> {
        self.with_user_conn(|conn| {
            for _ in 0..UNDO_RETRIES {
                let before = frontier.borrow().undo_epoch;
                if let Some(h) = &self.hook {
                    h.before_statement(conn, context, sql);
                }
                let out = stmt::run(conn, sql, params, max_bytes, true);
                // Also after a failure: the hook forgets the statement (see `interrupt`).
                let set = self.hook.as_ref().and_then(|h| h.after_statement(conn));
                let mut out = out?;
                out.last_insert_id_set = set;
                let after = *frontier.borrow();
                if after.undo_epoch == before {
                    return Ok((out, after));
                }
            }
            Err(undone_meanwhile())
        })
    }

    /// Closes every idle connection and blocks new readers while `f` runs (the file is
    /// being replaced).
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce() -> T) -> T {
        let _gate = self.gate.write();
        self.idle.lock().clear();
        self.checkpointer.lock().take();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f()
    }
}

impl ReadPool {
    /// Copies the WAL into the database file (see `checkpoint`). Returns the frames in the
    /// WAL and how many of them are copied.
    pub(crate) fn checkpoint(
        &self,
        mode: crate::checkpoint::Mode,
    ) -> Result<(i64, i64), StoreError> {
        let _gate = self.gate.read();
        let mut slot = self.checkpointer.lock();
        let conn = match &mut *slot {
            Some(c) => c,
            None => slot.insert(schema::open_checkpointer(&self.path)?),
        };
        let frames = conn.query_row(mode.pragma(), [], |r| Ok((r.get(1)?, r.get(2)?)))?;
        Ok(frames)
    }
}

/// A read-only transaction: every statement sees the same snapshot.
pub struct ReadTx {
    inner: Arc<Inner>,
    conn: Option<(Connection, Guard)>,
    /// Frontier after the snapshot was established (the first statement).
    seen: Option<Frontier>,
    generation: u64,
    /// `PRAGMA data_version` when the snapshot was established (see `unchanged_since_start`).
    data_version: Option<i64>,
    /// `Frontier::undo_epoch` just before the snapshot was established.
    snapshot_epoch: u64,
}

impl ReadTx {
    pub(crate) fn begin(inner: Arc<Inner>) -> Result<Self, StoreError> {
        let (conn, generation) = {
            let _gate = inner.readers.gate.read();
            (
                inner.readers.take()?,
                inner
                    .readers
                    .generation
                    .load(std::sync::atomic::Ordering::SeqCst),
            )
        };
        // Transaction control is ours, not user SQL: the guard lets it through.
        conn.1.internal(|| conn.0.execute_batch("BEGIN"))?;
        Ok(Self {
            inner,
            conn: Some(conn),
            seen: None,
            generation,
            data_version: None,
            snapshot_epoch: 0,
        })
    }

    /// Runs a read-only statement in this transaction's snapshot. Returns the frontier the
    /// caller must wait for (the same for every statement of the transaction).
    pub fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(StmtOutput, Frontier), StoreError> {
        self.query_with(sql, params, &[])
    }

    /// [`ReadTx::query`] with a context for the connection hook.
    pub fn query_with(
        &mut self,
        sql: &str,
        params: &[Value],
        context: &[u8],
    ) -> Result<(StmtOutput, Frontier), StoreError> {
        let (conn, guard) = self
            .conn
            .as_ref()
            .ok_or_else(|| StoreError::Aborted("read transaction ended".into()))?;
        let _gate = self.inner.readers.gate.read();
        if self
            .inner
            .readers
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
            != self.generation
        {
            return Err(StoreError::Aborted(
                "the database was replaced by a snapshot during this transaction".into(),
            ));
        }
        // The first statement that succeeds fixes the frontier the caller waits for. If
        // speculative transactions were undone since the snapshot began, the snapshot may
        // hold their effects while the frontier sampled now no longer counts them: nothing
        // was answered from it yet, so start a new snapshot and run the statement again.
        for _ in 0..UNDO_RETRIES {
            if self.data_version.is_none() {
                self.snapshot_epoch = self.inner.frontier.borrow().undo_epoch;
                // Reading it starts the snapshot, so it is the version the snapshot sees.
                let v: i64 =
                    guard.internal(|| conn.query_row("PRAGMA data_version", [], |r| r.get(0)))?;
                self.data_version = Some(v);
            }
            guard.reset();
            if let Some(h) = &self.inner.readers.hook {
                h.before_statement(conn, context, sql);
            }
            let out = stmt::run(conn, sql, params, self.inner.config.max_result_bytes, true);
            // Also after a failure: the hook forgets the statement (see `interrupt`).
            let set = (self.inner.readers.hook.as_ref()).and_then(|h| h.after_statement(conn));
            let mut out = refine(out, guard)?;
            out.last_insert_id_set = set;
            if let Some(seen) = self.seen {
                return Ok((out, seen));
            }
            let after = *self.inner.frontier.borrow();
            if after.undo_epoch == self.snapshot_epoch {
                self.seen = Some(after);
                return Ok((out, after));
            }
            guard.internal(|| conn.execute_batch("COMMIT; BEGIN"))?;
            self.data_version = None;
        }
        Err(undone_meanwhile())
    }

    /// Ends the transaction and tells whether no other connection committed anything since
    /// its snapshot was established (true as well if no statement ran): then everything it
    /// read is still what the database holds. A front end that starts a transaction with
    /// reads on a snapshot and wants to continue it as a write transaction calls this once
    /// it holds the writer (no commit can happen meanwhile): if true, the reads and the
    /// writes form one serializable transaction.
    pub fn unchanged_since_start(mut self) -> Result<bool, StoreError> {
        let Some(before) = self.data_version else {
            self.end();
            return Ok(true);
        };
        let (conn, guard) = self
            .conn
            .as_ref()
            .ok_or_else(|| StoreError::Aborted("read transaction ended".into()))?;
        guard.internal(|| conn.execute_batch("COMMIT"))?;
        let now: i64 =
            guard.internal(|| conn.query_row("PRAGMA data_version", [], |r| r.get(0)))?;
        let current = self
            .inner
            .readers
            .generation
            .load(std::sync::atomic::Ordering::SeqCst);
        if let Some(c) = self.conn.take()
            && c.0.is_autocommit()
            && current == self.generation
        {
            self.inner.readers.give_back(c);
        }
        Ok(before == now && current == self.generation)
    }

    /// Ends the transaction.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(conn) = self.conn.take() {
            let current = self
                .inner
                .readers
                .generation
                .load(std::sync::atomic::Ordering::SeqCst);
            if conn.1.internal(|| conn.0.execute_batch("COMMIT")).is_ok()
                && conn.0.is_autocommit()
                && current == self.generation
            {
                self.inner.readers.give_back(conn);
            }
        }
    }
}

impl Drop for ReadTx {
    fn drop(&mut self) {
        self.end();
    }
}

/// Turns SQLite's bare "not authorized" into the reason the guard recorded.
/// How often a read runs again because speculative transactions were undone while it
/// ran, before it gives up (each undo follows a leadership change or a refused proposal).
const UNDO_RETRIES: usize = 3;

fn undone_meanwhile() -> StoreError {
    StoreError::Aborted(
        "speculative transactions were undone during every attempt of this read; retry".into(),
    )
}

fn refine<T>(result: Result<T, StoreError>, guard: &Guard) -> Result<T, StoreError> {
    match result {
        Err(StoreError::Sql(e)) => match guard.take().refusal() {
            Some(reason) => Err(StoreError::Refused(reason)),
            None => Err(StoreError::Sql(e)),
        },
        other => other,
    }
}
