//! The writer connection and leader transactions.
//!
//! SQLite has one writer at a time; quorate makes that explicit: the connection `W` sits
//! behind an async mutex. A [`WriteTx`] holds it from `begin` to `commit`/`rollback`; apply
//! on followers takes it per batch of entries. See docs/ARCHITECTURE.md for the whole path.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;
use quorate_consensus::{Command, LogId, Op};
use rusqlite::Connection;
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use tokio::sync::OwnedMutexGuard;

use crate::apply::{self, Applier};
use crate::capture;
use crate::checkpoint;
use crate::guard::{Classification, Guard};
use crate::point::{self, RowKey, Touched};
use crate::record::{Recorder, quote};
use crate::schema::{self, SPEC_TABLE};
use crate::spec::{Frontier, SpecKind, SpecState};
use crate::stmt::{self, StmtOutput};
use crate::{Inner, StoreError};

/// Statements whose classification we remember (the authorizer only runs on prepare).
const CLASSIFIED_STATEMENTS_MAX: usize = 4096;

pub(crate) struct Writer {
    // Field order matters: the connection, whose pre-update hook points into the recorder,
    // must be dropped before the recorder.
    conn: Connection,
    recorder: Recorder,
    hook: Option<Arc<dyn crate::ConnectionHook>>,
    guard: Guard,
    classified: HashMap<String, Classification>,
    /// The mode `set_apply_mode` last set (applying, foreign keys); `None` when unknown.
    mode: Option<(bool, bool)>,
    applier: Applier,
    /// Wakes the background checkpoint thread (installed again on every new connection).
    checkpoints: checkpoint::Wakeup,
}

/// Why one attempt at applying a batch failed.
enum BatchFailure {
    /// The fast applier left the changeset of this log index to SQLite's.
    Declined(u64, apply::NotApplied),
    Store(StoreError),
}

impl From<StoreError> for BatchFailure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Writer {
    pub(crate) fn open(
        path: &Path,
        hook: Option<Arc<dyn crate::ConnectionHook>>,
        checkpoints: checkpoint::Wakeup,
    ) -> Result<Self, StoreError> {
        let mut conn = schema::open_writer(path)?;
        checkpoint::install_hook(&mut conn, checkpoints.clone())?;
        let guard = Guard::default();
        guard.install(&mut conn)?;
        crate::handover::install(&mut conn)?;
        if let Some(h) = &hook {
            h.on_open(&conn)?;
        }
        let recorder = Recorder::default();
        recorder.install(&conn);
        Ok(Self {
            conn,
            recorder,
            hook,
            guard,
            classified: HashMap::new(),
            mode: None,
            applier: Applier::default(),
            checkpoints,
        })
    }

    /// The row read by `sql`, if it was a point DELETE on a table's rowid that deleted
    /// nothing (see [`crate::point`]); `None` for any other statement or outcome.
    fn empty_point_delete(&self, sql: &str, params: &[Value], out: &StmtOutput) -> Option<RowKey> {
        if out.rows_affected != 0 || out.is_query {
            return None;
        }
        let p = point::point_delete(sql)?;
        let rowid_column = self.recorder.rowid_alias(&p.table)?;
        if !p.column.eq_ignore_ascii_case(&rowid_column) {
            return None;
        }
        Some((p.table.to_ascii_lowercase(), p.rowid(params)?))
    }

    /// Runs `f` on the connection between the hook's before and after calls.
    fn run_statement(
        &self,
        context: &[u8],
        sql: &str,
        f: impl FnOnce(&Self) -> Result<StmtOutput, StoreError>,
    ) -> Result<StmtOutput, StoreError> {
        let Some(h) = &self.hook else {
            return f(self);
        };
        h.before_statement(&self.conn, context, sql);
        let mut out = f(self);
        let set = h.after_statement(&self.conn);
        if let Ok(out) = &mut out {
            out.last_insert_id_set = set;
        }
        out
    }

    /// The applied state recorded in SQLite.
    pub(crate) fn read_applied(&self) -> Result<schema::AppliedState, StoreError> {
        self.guard.internal(|| schema::read_applied(&self.conn))
    }

    /// Replaces the connection (after a snapshot replaced the file).
    pub(crate) fn reopen(&mut self, path: &Path) -> Result<(), StoreError> {
        self.recorder.stop();
        self.mode = None;
        self.applier.forget();
        self.classified.clear();
        let placeholder = Connection::open_in_memory()?;
        drop(std::mem::replace(&mut self.conn, placeholder));
        let mut conn = schema::open_writer(path)?;
        checkpoint::install_hook(&mut conn, self.checkpoints.clone())?;
        self.guard.install(&mut conn)?;
        crate::handover::install(&mut conn)?;
        if let Some(h) = &self.hook {
            h.on_open(&conn)?;
        }
        self.recorder.install(&conn);
        self.conn = conn;
        Ok(())
    }

    /// Closes the connection so the file can be replaced; `reopen` must follow.
    pub(crate) fn close_for_replace(&mut self) -> Result<(), StoreError> {
        self.recorder.stop();
        self.mode = None;
        self.classified.clear();
        let placeholder = Connection::open_in_memory()?;
        drop(std::mem::replace(&mut self.conn, placeholder));
        Ok(())
    }

    /// Starts recording the row changes of user statements (see [`Recorder`]).
    fn start_capture(&mut self) -> Result<(), StoreError> {
        self.guard.internal(|| self.recorder.start(&self.conn))?;
        Ok(())
    }

    /// Sets up a scratch connection as this one was (the hook's SQL functions).
    fn prepare(&self, conn: &Connection) -> rusqlite::Result<()> {
        match &self.hook {
            Some(h) => h.on_scratch(conn),
            None => Ok(()),
        }
    }

    fn internal(&self, sql: &str) -> Result<(), StoreError> {
        match sql {
            // Transaction control runs several times per transaction: from the statement
            // cache rather than prepared each time (which showed in profiles).
            "BEGIN IMMEDIATE" | "COMMIT" | "ROLLBACK" => self.guard.internal(|| {
                self.conn
                    .prepare_cached(sql)
                    .and_then(|mut s| s.raw_execute())
                    .map(|_| ())
            })?,
            _ => self.guard.internal(|| self.conn.execute_batch(sql))?,
        }
        Ok(())
    }

    /// Classifies `sql` (refusing what is not allowed) without running it.
    fn classify(&mut self, sql: &str) -> Result<Classification, StoreError> {
        if let Some(c) = self.classified.get(sql) {
            return Ok(c.clone());
        }
        self.guard.reset();
        let prepared = self.conn.prepare(sql).map(|_| ());
        let c = self.guard.take();
        if let Some(reason) = c.refusal() {
            return Err(StoreError::Refused(reason));
        }
        prepared?;
        if sql.len() <= crate::stmt::CACHED_SQL_MAX {
            if self.classified.len() >= CLASSIFIED_STATEMENTS_MAX {
                self.classified.clear();
            }
            self.classified.insert(sql.to_string(), c.clone());
        }
        Ok(c)
    }

    /// Switches the connection between executing user transactions (foreign keys enforced,
    /// triggers fire, CHECK constraints checked) and applying replicated effects (none of
    /// them: the effects of triggers and cascades are already in the changeset, and the rows
    /// passed the CHECKs where they were written). Must be called outside a transaction.
    ///
    /// Does nothing when the connection is already in that mode: both settings expire every
    /// prepared statement of the connection when they run, so switching at every transaction
    /// would re-prepare every statement of every transaction.
    fn set_apply_mode(&mut self, applying: bool, foreign_keys: bool) -> Result<(), StoreError> {
        let mode = (applying, !applying && foreign_keys);
        if self.mode == Some(mode) {
            return Ok(());
        }
        self.mode = None;
        self.conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, !applying)?;
        self.guard.internal(|| {
            self.conn.pragma_update(None, "foreign_keys", mode.1)?;
            self.conn
                .pragma_update(None, "ignore_check_constraints", applying)
        })?;
        self.mode = Some(mode);
        Ok(())
    }

    /// Undoes every speculative transaction recorded in `_quorate_spec` (newest first).
    /// Used at start: afterwards the database is exactly at its recorded last applied id.
    pub(crate) fn undo_all_speculation(&mut self) -> Result<usize, StoreError> {
        let seqs: Vec<u64> = self.guard.internal(|| -> rusqlite::Result<Vec<u64>> {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT seq FROM {SPEC_TABLE} ORDER BY seq"))?;
            stmt.query_map([], |r| r.get::<_, i64>(0))?
                .map(|r| r.map(|s| s as u64))
                .collect()
        })?;
        if seqs.is_empty() {
            return Ok(0);
        }
        self.undo_speculation(&seqs)?;
        Ok(seqs.len())
    }

    /// Applies the inverse changesets of `seqs` in reverse order and deletes their rows, in
    /// one SQLite transaction.
    pub(crate) fn undo_speculation(&mut self, seqs: &[u64]) -> Result<(), StoreError> {
        self.recorder.stop();
        self.set_apply_mode(true, false)?;
        let result = (|| {
            self.internal("BEGIN IMMEDIATE")?;
            for seq in seqs.iter().rev() {
                let inverse: Vec<u8> = self.guard.internal(|| {
                    self.conn.query_row(
                        &format!("SELECT inverse FROM {SPEC_TABLE} WHERE seq = ?1"),
                        [*seq as i64],
                        |r| r.get(0),
                    )
                })?;
                self.guard
                    .internal(|| capture::apply_undo(&self.conn, &inverse))
                    .map_err(|e| {
                        StoreError::Corrupt(format!(
                            "cannot undo speculative transaction {seq}: {e}"
                        ))
                    })?;
                self.guard.internal(|| {
                    self.conn.execute(
                        &format!("DELETE FROM {SPEC_TABLE} WHERE seq = ?1"),
                        [*seq as i64],
                    )
                })?;
            }
            self.internal("COMMIT")
        })();
        if result.is_err() {
            let _ = self.internal("ROLLBACK");
        }
        self.set_apply_mode(false, true)?;
        result
    }

    /// Refuses to open a data node's file as a witness or the reverse.
    pub(crate) fn check_witness_flag(&mut self, witness: bool) -> Result<(), StoreError> {
        let flag = self
            .guard
            .internal(|| schema::read_flag(&self.conn, "witness"))?;
        match flag.as_deref() {
            None => {
                self.guard.internal(|| {
                    schema::write_flag(&self.conn, "witness", if witness { "1" } else { "0" })
                })?;
                Ok(())
            }
            Some("1") if witness => Ok(()),
            Some("0") if !witness => Ok(()),
            Some(_) => Err(StoreError::Corrupt(format!(
                "this data directory belongs to a {} node, but the node is configured as a {}",
                if witness { "data" } else { "witness" },
                if witness { "witness" } else { "data node" }
            ))),
        }
    }

    /// Drops every user table (a witness that was sent a data snapshot keeps only its
    /// metadata) and marks the file as a witness's.
    pub(crate) fn drop_user_tables(&mut self) -> Result<(), StoreError> {
        let tables: Vec<String> = {
            let mut stmt = self.conn.prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        self.set_apply_mode(true, false)?;
        for t in tables {
            if schema::is_local_table(t.as_bytes()) {
                continue;
            }
            self.internal(&format!("DROP TABLE IF EXISTS {}", quote(&t)))?;
        }
        self.set_apply_mode(false, true)?;
        self.guard
            .internal(|| schema::write_flag(&self.conn, "witness", "1"))?;
        Ok(())
    }

    /// Writes the applied state and deletes speculative rows that are now committed, inside
    /// the transaction currently open on `W`.
    fn write_applied_in_tx(&self, spec: &mut SpecState) -> Result<(), StoreError> {
        if !spec.dirty {
            return Ok(());
        }
        self.guard
            .internal(|| schema::write_applied(&self.conn, &spec.applied))?;
        if spec.deletable_upto > 0 {
            self.guard.internal(|| {
                self.conn
                    .prepare_cached(&format!("DELETE FROM {SPEC_TABLE} WHERE seq <= ?1"))?
                    .execute([spec.deletable_upto as i64])
            })?;
        }
        spec.persisted();
        Ok(())
    }

    /// Persists the in-memory applied state in its own small transaction, if it is ahead.
    pub(crate) fn persist_applied(
        &mut self,
        spec: &parking_lot::Mutex<SpecState>,
    ) -> Result<bool, StoreError> {
        let mut s = spec.lock();
        if !s.dirty {
            return Ok(false);
        }
        self.internal("BEGIN IMMEDIATE")?;
        let result = self
            .write_applied_in_tx(&mut s)
            .and_then(|_| self.internal("COMMIT"));
        if result.is_err() {
            let _ = self.internal("ROLLBACK");
            s.dirty = true;
        }
        result.map(|_| true)
    }

    /// Applies committed entries that did not originate here (follower apply), all in one
    /// SQLite transaction with the applied state.
    ///
    /// First with [`apply::Applier`], whose statements are prepared once; if it declines a
    /// changeset (anything but a clean apply: a diverged row, an unusual table), the
    /// transaction is rolled back and the batch applied again with SQLite's applier, which
    /// then reports what is wrong.
    pub(crate) fn apply_entries(
        &mut self,
        entries: &[(LogId, Vec<Op>)],
        marks: &[(LogId, Option<quorate_consensus::StoredMembership>)],
        spec: &parking_lot::Mutex<SpecState>,
    ) -> Result<(), StoreError> {
        self.recorder.stop();
        self.set_apply_mode(true, false)?;
        let result = match self.apply_batch(entries, marks, spec, true) {
            Err(BatchFailure::Declined(index, why)) => {
                tracing::debug!(index, %why, "applying with SQLite's changeset applier");
                self.apply_batch(entries, marks, spec, false)
            }
            other => other,
        };
        // The connection stays in apply mode for the next batch: every other user of the
        // writer sets the mode it needs first (`WriteTx::begin`, undo).
        result.map_err(|e| match e {
            BatchFailure::Store(e) => e,
            BatchFailure::Declined(index, why) => StoreError::Diverged {
                index,
                detail: why.to_string(),
            },
        })
    }

    /// One attempt of [`Self::apply_entries`]: `fast` chooses the applier. Rolls back on
    /// any failure.
    fn apply_batch(
        &mut self,
        entries: &[(LogId, Vec<Op>)],
        marks: &[(LogId, Option<quorate_consensus::StoredMembership>)],
        spec: &parking_lot::Mutex<SpecState>,
        fast: bool,
    ) -> Result<(), BatchFailure> {
        self.internal("BEGIN IMMEDIATE")?;
        let result = self.apply_batch_in_tx(entries, marks, spec, fast);
        if result.is_err() {
            let _ = self.internal("ROLLBACK");
            // Shapes read after a schema statement of this batch describe a schema that
            // no longer exists (and whose version number the next one may reuse).
            self.applier.forget();
        }
        result
    }

    fn apply_batch_in_tx(
        &mut self,
        entries: &[(LogId, Vec<Op>)],
        marks: &[(LogId, Option<quorate_consensus::StoredMembership>)],
        spec: &parking_lot::Mutex<SpecState>,
        fast: bool,
    ) -> Result<(), BatchFailure> {
        if fast {
            self.guard
                .internal(|| self.applier.check_schema(&self.conn))
                .map_err(StoreError::from)?;
        }
        // Without the fast applier, consecutive changesets (up to the next schema
        // statement) are applied as one.
        let mut run: Vec<(LogId, &[u8])> = Vec::new();
        for (log_id, ops) in entries {
            for op in ops {
                match op {
                    Op::Changeset(cs) if fast => self
                        .guard
                        .internal(|| self.applier.apply(&self.conn, cs))
                        .map_err(|why| match why {
                            apply::NotApplied::Diverged(detail) => {
                                BatchFailure::Store(StoreError::Diverged {
                                    index: log_id.index,
                                    detail,
                                })
                            }
                            declined => BatchFailure::Declined(log_id.index, declined),
                        })?,
                    Op::Changeset(cs) => run.push((*log_id, cs)),
                    Op::Ddl(sql) => {
                        self.apply_changesets(&run)?;
                        run.clear();
                        let ran = match crate::redefine::parse(sql) {
                            Some(r) => r.and_then(|r| {
                                self.guard.internal(|| {
                                    crate::redefine::run(&self.conn, &r, false, &|c| {
                                        self.prepare(c)
                                    })
                                })
                            }),
                            None => self.internal(sql),
                        };
                        ran.map_err(|e| StoreError::Diverged {
                            index: log_id.index,
                            detail: format!(
                                "schema statement failed here but not on the leader: {e}"
                            ),
                        })?;
                        self.applier.forget();
                    }
                }
            }
        }
        self.apply_changesets(&run)?;
        let mut s = spec.lock();
        for (log_id, membership) in marks {
            s.mark_applied(log_id, membership.clone());
        }
        self.write_applied_in_tx(&mut s)?;
        drop(s);
        self.internal("COMMIT")?;
        Ok(())
    }

    /// Applies `changesets` in order, inside the open transaction: combined into one when
    /// there are several (one set of prepared statements per table instead of one per
    /// changeset). If the combined form cannot be built or does not apply cleanly (a
    /// diverged row, or UNIQUE values handed around between rows in a way SQLite's retry
    /// of constraint failures does not untangle in the combined order), it is undone and
    /// each changeset is applied on its own, which also names the entry that diverged.
    /// Combining checks each row against its first before-image in the batch: a row that
    /// the batch inserts and deletes again is not checked at all.
    fn apply_changesets(&self, changesets: &[(LogId, &[u8])]) -> Result<(), StoreError> {
        let one_by_one = || -> Result<(), StoreError> {
            for (log_id, cs) in changesets {
                self.apply_one(log_id, cs)?;
            }
            Ok(())
        };
        if changesets.len() < 2 {
            return one_by_one();
        }
        let parts: Vec<&[u8]> = changesets.iter().map(|(_, cs)| *cs).collect();
        let Ok(combined) = capture::combine_changesets(&parts) else {
            return one_by_one();
        };
        self.internal("SAVEPOINT \"_quorate_apply\"")?;
        let applied = self
            .guard
            .internal(|| capture::apply_changeset(&self.conn, &combined));
        if applied.is_ok() {
            return self.internal("RELEASE \"_quorate_apply\"");
        }
        self.internal("ROLLBACK TO \"_quorate_apply\"")?;
        self.internal("RELEASE \"_quorate_apply\"")?;
        one_by_one()
    }

    fn apply_one(&self, log_id: &LogId, cs: &[u8]) -> Result<(), StoreError> {
        self.guard
            .internal(|| capture::apply_changeset(&self.conn, cs))
            .map_err(|e| match e {
                capture::ApplyError::Diverged(detail) => StoreError::Diverged {
                    index: log_id.index,
                    detail,
                },
                capture::ApplyError::Sqlite(e) => StoreError::Diverged {
                    index: log_id.index,
                    detail: format!("changeset failed to apply: {e}"),
                },
            })
    }
}

/// Options of one write transaction.
#[derive(Debug, Clone)]
pub struct TxOptions {
    /// Enforce foreign keys (MySQL `FOREIGN_KEY_CHECKS`).
    pub foreign_keys: bool,
    /// The client whose statement starts the transaction (origin node, client id there),
    /// if any: interrupting it ([`crate::Store::interrupt_waiting`]) ends its wait for the
    /// writer.
    pub client: Option<(u64, u32)>,
}

impl Default for TxOptions {
    fn default() -> Self {
        Self {
            foreign_keys: true,
            client: None,
        }
    }
}

/// The clients whose statements wait for the writer, each with what ends its wait.
#[derive(Default)]
pub(crate) struct Waiting(parking_lot::Mutex<WaitingMap>);

#[derive(Default)]
struct WaitingMap {
    next_ticket: u64,
    by_client: HashMap<(u64, u32), (u64, Arc<tokio::sync::Notify>)>,
    /// The transaction holding the writer now, with its ticket.
    holder: Option<(u64, WriterHolder)>,
}

/// Who holds the writer: the transaction a client's statement began, and since when. A
/// statement that waits too long for the writer names it (error 1205), so that an operator
/// can find the client (often idle in its transaction) and end it.
#[derive(Debug, Clone, Copy)]
pub struct WriterHolder {
    /// Origin node and client id there, when a client's statement began the transaction.
    pub client: Option<(u64, u32)>,
    /// When it took the writer.
    pub since: std::time::Instant,
}

/// A client's place in [`Waiting`], left when dropped.
struct WaitTicket<'a> {
    waiting: &'a Waiting,
    client: (u64, u32),
    ticket: u64,
    interrupted: Arc<tokio::sync::Notify>,
}

impl Waiting {
    fn enter(&self, client: (u64, u32)) -> WaitTicket<'_> {
        let mut map = self.0.lock();
        map.next_ticket += 1;
        let ticket = map.next_ticket;
        let interrupted = Arc::new(tokio::sync::Notify::new());
        // A client waits with one statement at a time; a newer one takes the place.
        map.by_client.insert(client, (ticket, interrupted.clone()));
        WaitTicket {
            waiting: self,
            client,
            ticket,
            interrupted,
        }
    }

    /// Marks the writer as taken by `client`'s transaction; the ticket releases the mark.
    fn hold(&self, client: Option<(u64, u32)>) -> u64 {
        let mut map = self.0.lock();
        map.next_ticket += 1;
        let ticket = map.next_ticket;
        map.holder = Some((
            ticket,
            WriterHolder {
                client,
                since: std::time::Instant::now(),
            },
        ));
        ticket
    }

    /// Clears the mark `hold` returned `ticket` for, unless another holder's replaced it.
    fn release(&self, ticket: u64) {
        let mut map = self.0.lock();
        if map.holder.is_some_and(|(t, _)| t == ticket) {
            map.holder = None;
        }
    }

    /// The transaction holding the writer, if a transaction does.
    pub(crate) fn holder(&self) -> Option<WriterHolder> {
        self.0.lock().holder.map(|(_, h)| h)
    }

    /// The holder for an error message: empty if no transaction holds the writer (the
    /// replication of entries does, or it was just released).
    pub(crate) fn holder_text(&self) -> String {
        match self.holder() {
            Some(WriterHolder {
                client: Some((node, client)),
                since,
            }) => format!(
                ", held by the transaction of client {client} of node {node} for {:.1} s \
                 (SHOW PROCESSLIST or `quorate requests` on node {node} shows it; KILL {client} \
                 there ends it)",
                since.elapsed().as_secs_f64()
            ),
            Some(WriterHolder {
                client: None,
                since,
            }) => format!(
                ", held by an internal transaction for {:.1} s",
                since.elapsed().as_secs_f64()
            ),
            None => String::new(),
        }
    }

    pub(crate) fn interrupt(&self, origin: u64, client: u64) -> usize {
        let Ok(client) = u32::try_from(client) else {
            return 0;
        };
        match self.0.lock().by_client.get(&(origin, client)) {
            Some((_, interrupted)) => {
                // Stored if the waiter has not started listening yet.
                interrupted.notify_one();
                1
            }
            None => 0,
        }
    }
}

impl Drop for WaitTicket<'_> {
    fn drop(&mut self) {
        let mut map = self.waiting.0.lock();
        if map
            .by_client
            .get(&self.client)
            .is_some_and(|(t, _)| *t == self.ticket)
        {
            map.by_client.remove(&self.client);
        }
    }
}

/// Why a proposal did not make it into the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// Certainly not appended (this node is not, or no longer, the leader it was).
    #[error("not appended: {0}")]
    NotAppended(String),
    /// Appended, but it is not known whether it will commit.
    #[error("{0}")]
    Unknown(String),
}

/// Hands commands to Raft. Implemented by the node (it knows the Raft instance and the
/// leader term the transaction ran under).
pub trait Proposer: Send + Sync {
    /// Enqueues `cmd` for appending. The outer future resolves once it is enqueued (this is
    /// called while the writer is held, so log order equals execution order); the inner one
    /// when the entry was applied on this node (with its log id) or failed.
    fn propose(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, Result<BoxFuture<'static, Result<LogId, ProposeError>>, ProposeError>>;

    /// Resolves (with a reason) when waiting for a commit is pointless for now: the leader
    /// has lost its quorum, or stopped leading and cannot reach a majority to learn from
    /// whether the entry committed. A COMMIT waiting then reports "outcome unknown" at once
    /// instead of hanging until its timeout. The default never resolves.
    fn stalled(&self) -> BoxFuture<'static, String> {
        Box::pin(futures::future::pending())
    }

    /// Resolves (with a reason) once the node no longer leads. A transaction that holds the
    /// writer until its entry commits (DDL) must then give up: applying the new leader's
    /// entries, its own among them, needs the writer. The default never resolves.
    fn stepped_down(&self) -> BoxFuture<'static, String> {
        Box::pin(futures::future::pending())
    }
}

/// Waits for a proposed entry: its waiter, the commit timeout, or the proposer stalling.
async fn await_commit(
    waiter: BoxFuture<'static, Result<LogId, ProposeError>>,
    timeout: std::time::Duration,
    stalled: BoxFuture<'static, String>,
) -> Result<LogId, ProposeError> {
    tokio::select! {
        r = waiter => r,
        _ = tokio::time::sleep(timeout) => Err(ProposeError::Unknown(format!("not committed within {timeout:?} (no quorum?)"))),
        why = stalled => Err(ProposeError::Unknown(format!("{why}; the transaction may still commit if the quorum returns"))),
    }
}

/// How a COMMIT ended when it did not fail.
#[derive(Debug, Clone)]
pub enum CommitOutcome {
    /// The transaction changed nothing; nothing was replicated. It read data that may be
    /// speculative: wait for this frontier (and confirm leadership) before reporting success.
    ReadOnly { seen: Frontier },
    /// Committed at this log id (durable on a majority and applied here).
    Committed { log_id: LogId },
}

/// A write transaction on the leader. Holds the writer until it ends.
pub struct WriteTx {
    w: Option<OwnedMutexGuard<Writer>>,
    inner: Arc<Inner>,
    ops: Vec<Op>,
    ops_bytes: usize,
    /// Has DDL: keeps the SQLite transaction open until its entry commits.
    held: bool,
    epoch: u64,
    seen: Frontier,
    /// Savepoints by name, with the number of ops recorded when each was set.
    savepoints: Vec<(String, usize)>,
    /// Our previous transaction whose effects this one may see (see `Origin::depends_on`).
    depends_on: Option<u64>,
    /// While every statement so far was a point DELETE that deleted nothing: the rows they
    /// read. `None` once any other statement ran (see [`crate::point`]).
    point_reads: Option<Vec<RowKey>>,
    /// Releases the mark that names this transaction as the writer's holder.
    hold: u64,
}

impl WriteTx {
    pub(crate) async fn begin(inner: Arc<Inner>, options: TxOptions) -> Result<Self, StoreError> {
        let epoch = *inner.leader_epoch.borrow();
        let timeout = inner.config.lock_wait_timeout;
        let lock = tokio::time::timeout(timeout, inner.writer.clone().lock_owned());
        let mut w = match options.client {
            None => lock.await,
            Some(client) => {
                let ticket = inner.waiting.enter(client);
                tokio::select! {
                    w = lock => w,
                    _ = ticket.interrupted.notified() => {
                        return Err(StoreError::Interrupted(
                            "it was stopped while waiting for the writer; nothing of it ran"
                                .into(),
                        ));
                    }
                }
            }
        }
        .map_err(|_| StoreError::LockTimeout(timeout, inner.waiting.holder_text()))?;
        if *inner.leader_epoch.borrow() != epoch {
            return Err(StoreError::Aborted(
                "leadership changed while waiting for the writer".into(),
            ));
        }
        w.set_apply_mode(false, options.foreign_keys)?;
        w.internal("BEGIN IMMEDIATE")?;
        if let Err(e) = w.start_capture() {
            let _ = w.internal("ROLLBACK");
            return Err(e);
        }
        // Left over from a transaction that did not commit.
        w.recorder.take_touched();
        let seen = *inner.frontier.borrow();
        let depends_on = inner.spec.lock().chain_tip;
        // Marked once nothing can fail before the transaction exists (which releases it).
        let hold = inner.waiting.hold(options.client);
        Ok(Self {
            w: Some(w),
            inner,
            ops: Vec::new(),
            ops_bytes: 0,
            held: false,
            epoch,
            seen,
            savepoints: Vec::new(),
            depends_on,
            point_reads: Some(Vec::new()),
            hold,
        })
    }

    fn writer(&mut self) -> Result<&mut Writer, StoreError> {
        self.w
            .as_deref_mut()
            .ok_or_else(|| StoreError::Aborted("transaction already ended".into()))
    }

    fn check_epoch(&self) -> Result<(), StoreError> {
        if *self.inner.leader_epoch.borrow() != self.epoch {
            return Err(StoreError::Aborted(
                "leadership changed during the transaction".into(),
            ));
        }
        Ok(())
    }

    /// Resolves when this transaction has been aborted by a leadership change. Front ends
    /// select on it while waiting for their client, so an idle transaction does not hold
    /// the writer after the node stopped leading.
    pub fn aborted(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.leader_epoch.subscribe();
        let epoch = self.epoch;
        async move {
            loop {
                if *rx.borrow_and_update() != epoch {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }

    fn push_op(&mut self, op: Op) -> Result<(), StoreError> {
        self.ops_bytes += match &op {
            Op::Changeset(c) => c.len(),
            Op::Ddl(s) => s.len(),
        };
        if self.ops_bytes > self.inner.config.max_tx_bytes {
            return Err(StoreError::TooLarge(format!(
                "transaction larger than {} bytes; split it or raise max_tx_bytes",
                self.inner.config.max_tx_bytes
            )));
        }
        self.ops.push(op);
        Ok(())
    }

    /// Stops recording and moves the changes recorded so far into `ops` (callers start
    /// recording again when they need to).
    fn flush_capture(&mut self) -> Result<(), StoreError> {
        let w = self.writer()?;
        let cs = if w.recorder.recording() {
            w.guard.internal(|| w.recorder.changeset(&w.conn))?
        } else {
            Vec::new()
        };
        if !cs.is_empty() {
            // The log's cache keeps this buffer and counts its length: no spare capacity.
            let mut cs = cs;
            cs.shrink_to_fit();
            self.push_op(Op::Changeset(cs.into()))?;
        }
        Ok(())
    }

    /// Waits until no speculative transaction is in flight (before DDL, which cannot be
    /// undone by a changeset).
    ///
    /// This transaction holds the writer meanwhile, and undoing a speculative transaction
    /// that will not commit (a proposal refused, leadership lost) needs the writer. Such an
    /// undo first moves the leader epoch: this transaction then gives up at once, as its
    /// commit would, instead of holding the undo, and every write of the node behind it,
    /// until `commit_timeout` (a drill saw writes stall 5 s when a schema statement met a
    /// leadership transfer).
    async fn wait_drained(&mut self) -> Result<(), StoreError> {
        let target = *self.inner.frontier.borrow();
        let store = crate::Store {
            inner: self.inner.clone(),
        };
        let aborted = self.aborted();
        let waited = tokio::time::timeout(self.inner.config.commit_timeout, async {
            tokio::select! {
                r = store.wait_visible_committed(target) => r,
                () = aborted => Err(StoreError::Aborted(
                    "leadership changed, or an earlier transaction failed, while this schema \
                     statement waited for earlier transactions to commit"
                        .into(),
                )),
            }
        })
        .await;
        match waited {
            Ok(r) => r,
            Err(_) => Err(StoreError::Aborted(
                "earlier transactions did not commit in time".into(),
            )),
        }
    }

    /// Runs one statement inside the transaction.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<StmtOutput, StoreError> {
        self.execute_with(sql, params, &[]).await
    }

    /// [`WriteTx::execute`] with a context for the connection hook.
    pub async fn execute_with(
        &mut self,
        sql: &str,
        params: &[Value],
        context: &[u8],
    ) -> Result<StmtOutput, StoreError> {
        self.check_epoch()?;
        let max = self.inner.config.max_result_bytes;
        let read = self.point_reads.take();
        // A table redefinition (`redefine.rs`) is a schema statement SQLite does not know.
        let redefine = crate::redefine::parse(sql).transpose()?;
        let class = match &redefine {
            Some(_) => Classification::schema_statement(),
            None => self.writer()?.classify(sql)?,
        };
        if !class.ddl {
            let w = self.writer()?;
            w.recorder.take_counts();
            let mut out = w.run_statement(context, sql, |w| {
                stmt::run(&w.conn, sql, params, max, false)
            });
            if let Ok(o) = &mut out {
                o.counts = w.recorder.take_counts();
            }
            let out = self.end_if_interrupted(out);
            if out.as_ref().is_err_and(StoreError::is_interrupt) {
                return out;
            }
            let w = self.writer()?;
            if let (Some(mut rows), Ok(o)) = (read, &out) {
                // Still only point reads if this one is an empty point DELETE too.
                if let Some(row) = w.empty_point_delete(sql, params, o) {
                    rows.push(row);
                    self.point_reads = Some(rows);
                }
            }
            let w = self.writer()?;
            if w.conn.is_autocommit() {
                // A conflict clause (`OR ROLLBACK`, `ON CONFLICT ROLLBACK` in the table) made
                // SQLite roll back the whole transaction: nothing of it may run on.
                self.abandon();
                return Err(StoreError::Aborted(format!(
                    "the statement rolled back the whole transaction ({})",
                    out.err()
                        .map_or_else(|| "ROLLBACK conflict clause".to_string(), |e| e.to_string())
                )));
            }
            return out;
        }
        if !params.is_empty() {
            return Err(StoreError::Refused(
                "schema statements take no parameters".into(),
            ));
        }
        if !self.held {
            self.wait_drained().await?;
            self.held = true;
        }
        self.flush_capture()?;
        let result = {
            let w = self.writer()?;
            w.run_statement(context, sql, |w| {
                if let Some(r) = &redefine {
                    w.guard
                        .internal(|| crate::redefine::run(&w.conn, r, true, &|c| w.prepare(c)))
                        .map(|()| StmtOutput::default())
                } else if class.creates_table() {
                    create_table_checked(w, sql, max)
                } else {
                    stmt::run(&w.conn, sql, params, max, false)
                }
            })
        };
        let result = self.end_if_interrupted(result);
        if result.as_ref().is_err_and(StoreError::is_interrupt) {
            return result;
        }
        if redefine.is_some() && result.as_ref().is_err_and(StoreError::is_retryable) {
            // A redefinition out of date, or one that could not be undone: the transaction
            // ends, nothing of it stays.
            self.abandon();
            return result;
        }
        if result.is_ok() {
            let recorded = self
                .push_op(Op::Ddl(sql.to_string()))
                .and_then(|()| self.follow_schema_change(sql, max));
            if let Err(e) = recorded {
                // The statement ran but was not recorded, or what must follow it did not
                // run: none of the transaction may commit.
                self.abandon();
                return Err(StoreError::Aborted(format!(
                    "the schema statement ran but could not be completed ({e}); the \
                     transaction was rolled back"
                )));
            }
        }
        self.writer()?.start_capture()?;
        result
    }

    /// Runs and records the statements the connection hook gives after schema statement
    /// `sql` ([`crate::ConnectionHook::after_schema_change`]).
    fn follow_schema_change(&mut self, sql: &str, max: usize) -> Result<(), StoreError> {
        let follow = {
            let w = self.writer()?;
            match &w.hook {
                Some(h) => w.guard.internal(|| h.after_schema_change(&w.conn, sql))?,
                None => return Ok(()),
            }
        };
        for s in follow {
            let w = self.writer()?;
            w.guard
                .internal(|| stmt::run(&w.conn, &s, &[], max, false))?;
            self.push_op(Op::Ddl(s))?;
        }
        Ok(())
    }

    /// An interrupted statement (`KILL QUERY`, a time limit) ends the whole transaction:
    /// SQLite has already rolled it back if the statement wrote, and one that only read is
    /// rolled back too, so that an interrupt means the same in every case.
    fn end_if_interrupted(
        &mut self,
        out: Result<StmtOutput, StoreError>,
    ) -> Result<StmtOutput, StoreError> {
        match out {
            Err(e) if e.is_interrupt() => {
                self.abandon();
                Err(StoreError::Interrupted(
                    "the transaction was rolled back".into(),
                ))
            }
            other => other,
        }
    }

    /// Runs one of quorate's own statements (on its `_quorate_*` catalog tables), bypassing
    /// the checks user SQL gets. Its effects replicate like any other.
    pub async fn execute_internal(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<StmtOutput, StoreError> {
        self.check_epoch()?;
        self.point_reads = None;
        let max = self.inner.config.max_result_bytes;
        let is_ddl = {
            let first = sql
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            matches!(first.as_str(), "CREATE" | "DROP" | "ALTER")
        };
        if is_ddl {
            if !self.held {
                self.wait_drained().await?;
                self.held = true;
            }
            self.flush_capture()?;
        }
        let result = {
            let w = self.writer()?;
            w.guard
                .internal(|| stmt::run(&w.conn, sql, params, max, false))
        };
        if is_ddl {
            if result.is_ok() {
                self.push_op(Op::Ddl(sql.to_string()))?;
            }
            self.writer()?.start_capture()?;
        }
        result
    }

    /// `SAVEPOINT name`.
    pub fn savepoint(&mut self, name: &str) -> Result<(), StoreError> {
        self.check_epoch()?;
        let quoted = quote(name);
        self.writer()?.internal(&format!("SAVEPOINT {quoted}"))?;
        let n = self.ops.len();
        self.savepoints.push((name.to_string(), n));
        Ok(())
    }

    /// `RELEASE SAVEPOINT name`.
    pub fn release_savepoint(&mut self, name: &str) -> Result<(), StoreError> {
        let pos = self.savepoint_pos(name)?;
        let quoted = quote(name);
        self.writer()?.internal(&format!("RELEASE {quoted}"))?;
        self.savepoints.truncate(pos);
        Ok(())
    }

    /// `ROLLBACK TO SAVEPOINT name`.
    pub fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), StoreError> {
        self.check_epoch()?;
        let pos = self.savepoint_pos(name)?;
        let ops_then = self.savepoints[pos].1;
        if self.ops.len() != ops_then {
            return Err(StoreError::Refused(
                "cannot roll back to a savepoint set before a schema change".into(),
            ));
        }
        let quoted = quote(name);
        self.writer()?.internal(&format!("ROLLBACK TO {quoted}"))?;
        self.savepoints.truncate(pos + 1);
        Ok(())
    }

    fn savepoint_pos(&self, name: &str) -> Result<usize, StoreError> {
        self.savepoints
            .iter()
            .rposition(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| StoreError::Refused(format!("SAVEPOINT {name} does not exist")))
    }

    /// Rolls back; nothing of the transaction remains.
    pub fn rollback(mut self) {
        self.abandon();
    }

    fn abandon(&mut self) {
        self.inner.waiting.release(self.hold);
        if let Some(w) = self.w.take() {
            w.recorder.stop();
            if self.held {
                // It ran schema statements: the shapes read since describe a schema that the
                // rollback removes (and whose version number a later one may reuse).
                w.recorder.forget_shapes();
            }
            if w.conn.is_autocommit() {
                return; // SQLite already rolled it back (see `execute_with`).
            }
            if let Err(e) = w.internal("ROLLBACK") {
                tracing::warn!(error = %e, "rollback failed");
            }
        }
    }

    /// Commits: replicates the transaction's effects and returns once they are committed
    /// on a majority and applied here.
    pub async fn commit(mut self, proposer: &dyn Proposer) -> Result<CommitOutcome, StoreError> {
        if let Err(e) = self.check_epoch() {
            self.abandon();
            return Err(e);
        }
        if let Err(e) = self.flush_capture() {
            self.abandon();
            return Err(e);
        }
        if self.ops.is_empty() {
            // Only rows read: wait only for the transactions that touched them. The writer
            // is still held, as `newest_touching` requires (so no undo is under way either).
            let narrowed = match &self.point_reads {
                Some(rows) if !rows.is_empty() => {
                    let spec = self.inner.spec.lock();
                    spec.newest_touching(rows).map(|seq| Frontier {
                        visible_seq: seq,
                        ..*self.inner.frontier.borrow()
                    })
                }
                _ => None,
            };
            let seen = narrowed.unwrap_or(self.seen);
            self.abandon();
            return Ok(CommitOutcome::ReadOnly { seen });
        }
        if self.held {
            self.commit_held(proposer).await
        } else {
            self.commit_speculative(proposer).await
        }
    }

    async fn commit_speculative(
        mut self,
        proposer: &dyn Proposer,
    ) -> Result<CommitOutcome, StoreError> {
        let Some(Op::Changeset(cs)) = self.ops.first() else {
            self.abandon();
            return Err(StoreError::Corrupt(
                "speculative transaction without a changeset".into(),
            ));
        };
        let inverse = match capture::invert_changeset(cs) {
            Ok(i) => i,
            Err(e) => {
                self.abandon();
                return Err(e.into());
            }
        };
        let inner = self.inner.clone();
        let mut w = self.w.take().expect("writer held until commit");
        self.inner.waiting.release(self.hold);
        let seq;
        let local = {
            let mut spec = inner.spec.lock();
            seq = spec.register(SpecKind::Speculative, w.recorder.take_touched());
            let r = (|| {
                if spec.persist_due() {
                    w.write_applied_in_tx(&mut spec)?;
                }
                w.guard.internal(|| {
                    w.conn
                        .prepare_cached(&format!(
                            "INSERT INTO {SPEC_TABLE}(seq, inverse) VALUES (?1, ?2)"
                        ))?
                        .execute(rusqlite::params![seq as i64, inverse])
                })?;
                w.internal("COMMIT")
            })();
            if r.is_err() {
                let _ = w.internal("ROLLBACK");
                spec.remove_unclaimed(seq);
                spec.undo_done();
                spec.dirty = true;
            }
            r.map(|_| spec.origin(seq, self.depends_on))
        };
        let origin = local?;
        let cmd = Command::Tx {
            origin,
            ops: std::mem::take(&mut self.ops),
        };
        let waiter = match proposer.propose(cmd).await {
            Ok(waiter) => waiter,
            Err(e) => {
                // Not appended: take our effects out again right away, while we still hold
                // the writer (nothing else ran on top of them).
                let _window = crate::spec::UndoWindow::open();
                let taken = inner.spec.lock().remove_unclaimed(seq);
                if taken {
                    crate::run_blocking(|| w.undo_speculation(&[seq]))?;
                    inner.spec.lock().undo_done();
                }
                return Err(match e {
                    ProposeError::NotAppended(m) => StoreError::Aborted(m),
                    ProposeError::Unknown(m) => StoreError::OutcomeUnknown(m),
                });
            }
        };
        drop(w);
        match await_commit(waiter, inner.config.commit_timeout, proposer.stalled()).await {
            Ok(log_id) => Ok(CommitOutcome::Committed { log_id }),
            Err(ProposeError::NotAppended(m)) => {
                // Transactions after this one may have run on top of it: they must not
                // survive it. Undo every speculative transaction not known committed (those
                // already appended will be skipped everywhere by their `depends_on`).
                let store = crate::Store {
                    inner: inner.clone(),
                };
                if let Err(e) = store.abandon_speculation().await {
                    tracing::error!(error = %e, "could not undo speculative transactions");
                }
                Err(StoreError::Aborted(m))
            }
            Err(ProposeError::Unknown(m)) => {
                // Appended, but it cannot commit now (the leader lost its quorum, or its
                // leadership): it may still commit later. Until then our effects must not
                // be visible — a `stale` read would wait for them or, worse, serve them.
                // Undo every speculative transaction not known committed; if the entries
                // commit later they are applied from the log like anyone else's.
                let store = crate::Store {
                    inner: inner.clone(),
                };
                if let Err(e) = store.abandon_speculation().await {
                    tracing::error!(error = %e, "could not undo speculative transactions");
                }
                Err(StoreError::OutcomeUnknown(m))
            }
        }
    }

    async fn commit_held(mut self, proposer: &dyn Proposer) -> Result<CommitOutcome, StoreError> {
        let inner = self.inner.clone();
        let seq = {
            let mut spec = inner.spec.lock();
            let seq = spec.register(SpecKind::Held, Touched::default());
            (seq, spec.origin(seq, self.depends_on))
        };
        let (seq, origin) = seq;
        let cmd = Command::Tx {
            origin,
            ops: std::mem::take(&mut self.ops),
        };
        let proposed = proposer.propose(cmd).await;
        let result = match proposed {
            Err(e) => Err(e),
            Ok(waiter) => {
                let give_up = futures::future::select(proposer.stalled(), proposer.stepped_down());
                let give_up = Box::pin(async move { give_up.await.factor_first().0 });
                await_commit(waiter, inner.config.commit_timeout, give_up).await
            }
        };
        let w = self.w.take().expect("writer held until commit");
        self.inner.waiting.release(self.hold);
        let mut spec = inner.spec.lock();
        match spec.finish_held(seq) {
            Some(log_id) => {
                // Apply claimed it: it is committed. Make it durable locally with the
                // applied state; if that fails the node must not continue (its memory says
                // applied, its file does not), and a restart re-applies from the log.
                let r = w
                    .write_applied_in_tx(&mut spec)
                    .and_then(|_| w.internal("COMMIT"));
                if let Err(e) = r {
                    tracing::error!(error = %e, "cannot commit an applied entry locally; stopping");
                    std::process::abort();
                }
                Ok(CommitOutcome::Committed { log_id })
            }
            None => {
                drop(spec);
                w.recorder.stop();
                w.recorder.forget_shapes();
                let _ = w.internal("ROLLBACK");
                Err(match result {
                    Err(ProposeError::NotAppended(m)) => StoreError::Aborted(m),
                    Err(ProposeError::Unknown(m)) => StoreError::OutcomeUnknown(m),
                    Ok(log_id) => StoreError::OutcomeUnknown(format!(
                        "committed at {log_id} but not applied here in order"
                    )),
                })
            }
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// Runs a CREATE TABLE, and undoes it when a table it created has a PRIMARY KEY column that
/// may hold NULL. SQLite allows NULL there (outside WITHOUT ROWID tables and a PRIMARY KEY
/// that is the rowid; `INTEGER PRIMARY KEY DESC` is not: SQLite then gives the key an index
/// of its own, `origin = 'pk'`, which is how the check tells them apart), but change capture (ours, like SQLite's session extension) records no
/// change to a row whose key holds NULL: the row would
/// be acknowledged and then exist nowhere, not even on the leader once its transaction is
/// replaced by the committed changes.
fn create_table_checked(w: &Writer, sql: &str, max: usize) -> Result<StmtOutput, StoreError> {
    const NULLABLE_PK: &str = "SELECT tl.name, c.name FROM pragma_table_list tl \
        JOIN pragma_table_info(tl.name) c \
        WHERE tl.schema = 'main' AND tl.type = 'table' AND NOT tl.wr AND c.pk > 0 \
        AND NOT c.\"notnull\" \
        AND EXISTS (SELECT 1 FROM pragma_index_list(tl.name) il WHERE il.origin = 'pk') \
        AND tl.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
        AND tl.name NOT LIKE '\\_quorate\\_%' ESCAPE '\\'";
    let nullable = |w: &Writer| -> Result<Vec<(String, String)>, StoreError> {
        w.guard
            .internal(|| {
                let mut stmt = w.conn.prepare(NULLABLE_PK)?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .map_err(StoreError::from)
    };
    let before = nullable(w)?;
    w.internal("SAVEPOINT \"_quorate_create\"")?;
    let result = stmt::run(&w.conn, sql, &[], max, false);
    let created: Vec<(String, String)> = match &result {
        Ok(_) => nullable(w)?
            .into_iter()
            .filter(|x| !before.contains(x))
            .collect(),
        Err(_) => Vec::new(),
    };
    if let Some((table, column)) = created.first() {
        w.internal("ROLLBACK TO \"_quorate_create\"")?;
        w.internal("RELEASE \"_quorate_create\"")?;
        return Err(StoreError::Refused(format!(
            "PRIMARY KEY column {column} of {table} must be NOT NULL: SQLite would accept \
             NULL there, and a row with a NULL key cannot be replicated \
             (declare it `{column} ... NOT NULL PRIMARY KEY`, or use INTEGER PRIMARY KEY)"
        )));
    }
    w.internal("RELEASE \"_quorate_create\"")?;
    result
}
