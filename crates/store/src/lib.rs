//! The SQLite state machine of quorate.
//!
//! [`Store`] owns one SQLite database file per node:
//! - the single writer connection (`W`), used by leader transactions ([`WriteTx`]) and by
//!   apply on followers;
//! - a pool of read connections (WAL readers) for queries;
//! - the speculation bookkeeping that lets the leader pipeline transactions (see `spec`);
//! - snapshots (a consistent copy of the file) for catching up lagging or new nodes.
//!
//! `StateMachine` adapts it to openraft. docs/ARCHITECTURE.md explains the write path.

mod apply;
mod capture;
mod checkpoint;
mod checksum;
mod guard;
mod handover;
mod point;
mod read;
mod record;
mod redefine;
mod schema;
mod sm;
mod snapshot;
mod spec;
mod stmt;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quorate_consensus::{LogId, StoredMembership};
use tokio::sync::watch;

/// Runs blocking work (SQLite) from async code. On a multi-threaded runtime the worker
/// hands its other tasks over first (`block_in_place`). On a current-thread runtime, which
/// serves a MySQL connection on a thread of its own, it runs in place: `block_in_place`
/// panics there, and that thread has nothing else to run. Every blocking call the store
/// makes from async code goes through here, since its async functions are reached from
/// both kinds of runtime.
pub(crate) fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

pub use checksum::{Checksum, TableChecksum};
pub use read::ReadTx;
pub use record::RowCounts;
pub use rusqlite;
pub use rusqlite::types::Value;
pub use schema::{AppliedState, INTERNAL_PREFIX};
pub use sm::{SnapshotBuilder, StateMachine};
pub use snapshot::{SnapshotFile, hash_file};
pub use spec::Frontier;
pub use stmt::{CACHED_SQL_MAX, ColumnInfo, StmtOutput};
pub use writer::{CommitOutcome, ProposeError, Proposer, TxOptions, WriteTx};

/// Who a statement runs for, at the start of its context bytes: the node the client is
/// connected to and the client's id there (a MySQL connection id, or an HTTP request's).
/// A hook reads it to find the statements [`ConnectionHook::interrupt`] names; what follows
/// it is the front end's own.
pub mod client {
    /// Bytes of the header: origin node id (u64), then client id (u32), little-endian.
    pub const HEADER: usize = 12;

    /// The header of a statement of client `client` of node `origin`.
    pub fn header(origin: u64, client: u32) -> [u8; HEADER] {
        let mut h = [0; HEADER];
        h[..8].copy_from_slice(&origin.to_le_bytes());
        h[8..].copy_from_slice(&client.to_le_bytes());
        h
    }

    /// The client a context names: (origin node id, client id); `None` for a context
    /// without a header.
    pub fn of(context: &[u8]) -> Option<(u64, u32)> {
        let origin = u64::from_le_bytes(context.get(..8)?.try_into().ok()?);
        let client = u32::from_le_bytes(context.get(8..HEADER)?.try_into().ok()?);
        Some((origin, client))
    }
}

/// Lets a front end prepare every connection the store opens (register SQL functions) and
/// pass per-statement context to them (the MySQL session's variables, last insert id...).
pub trait ConnectionHook: Send + Sync + 'static {
    /// Called once for every connection the store opens (the writer and each reader).
    fn on_open(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()>;
    /// Called for a short-lived in-memory connection the store reads a table definition in
    /// (what its CHECK constraints and defaults need: SQL functions); it runs no statement
    /// of a client.
    fn on_scratch(&self, _conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        Ok(())
    }
    /// Called on the connection, on the calling thread, right before statement `sql` runs
    /// (as SQLite runs it), with the opaque context the caller passed (empty when none).
    fn before_statement(&self, conn: &rusqlite::Connection, context: &[u8], sql: &str);
    /// Called on the same connection and thread right after the statement ran, whether it
    /// succeeded or not: the value the statement gave the session's last insert id with
    /// `LAST_INSERT_ID(expr)`, if it did. The store passes it on in
    /// [`StmtOutput::last_insert_id_set`] so that the session can keep it for its next
    /// statements.
    fn after_statement(&self, _conn: &rusqlite::Connection) -> Option<i64> {
        None
    }
    /// Called on the writer connection right after schema statement `sql` (SQLite text)
    /// succeeded in a transaction: the statements that bring the front end's own schema
    /// objects in line with the schema as it now is (the MySQL layer's date triggers,
    /// `quorate_sql::follow_schema_change`). The store runs them on the same connection, in
    /// the same transaction, and replicates them with the statement.
    fn after_schema_change(
        &self,
        _conn: &rusqlite::Connection,
        _sql: &str,
    ) -> rusqlite::Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Interrupts the statements running between `before_statement` and `after_statement`
    /// for client connection `connection` of node `origin` (the hook reads who a statement
    /// runs for from its context). Returns how many it interrupted. Called from any thread.
    fn interrupt(&self, _origin: u64, _connection: u64) -> usize {
        0
    }
    /// Interrupts the statements run here for other nodes' clients (an origin other than
    /// `local`) that have been running for longer than `age`, except those of the clients
    /// for which `waited_for(origin, client)` is true. Returns how many.
    fn interrupt_foreign_older_than(
        &self,
        _local: u64,
        _age: Duration,
        _waited_for: &dyn Fn(u64, u64) -> bool,
    ) -> usize {
        0
    }
    /// The clients' statements running on this node now (between `before_statement` and
    /// `after_statement`), whichever node's clients they are.
    fn running(&self) -> Vec<RunningStatement> {
        Vec::new()
    }
}

/// Most bytes of a statement's text that [`RunningStatement::sql`] keeps.
pub const RUNNING_SQL_MAX: usize = 1024;

/// A client's statement running on this node, as [`ConnectionHook::running`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningStatement {
    /// The node the client is connected to.
    pub origin: u64,
    /// The client's id there.
    pub client: u32,
    /// How long the statement has been running.
    pub running: Duration,
    /// The account it runs for, as its context names it (`user@host`), if it does.
    pub user: Option<String>,
    /// The statement as SQLite runs it, cut at [`RUNNING_SQL_MAX`] bytes.
    pub sql: String,
}

/// A shared [`ConnectionHook`] (Debug so configs can be printed).
#[derive(Clone)]
pub struct Hook(pub Arc<dyn ConnectionHook>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// Tunables of the store. Every one shapes behaviour an operator may need to change.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Read connections kept open for queries.
    pub read_connections: usize,
    /// How long a transaction waits for the writer before failing (MySQL error 1205).
    pub lock_wait_timeout: Duration,
    /// How long COMMIT waits for the entry to be committed before reporting "outcome unknown".
    pub commit_timeout: Duration,
    /// Largest result a single statement may return, in bytes.
    pub max_result_bytes: usize,
    /// Largest replicated transaction (changesets + DDL), in bytes.
    pub max_tx_bytes: usize,
    /// A witness stores no data: it applies nothing and snapshots only metadata.
    pub witness: bool,
    /// Connection preparation by the front end (SQL functions, statement context).
    pub hook: Option<Hook>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            read_connections: 4,
            lock_wait_timeout: Duration::from_secs(10),
            commit_timeout: Duration::from_secs(5),
            max_result_bytes: 256 << 20,
            max_tx_bytes: 64 << 20,
            witness: false,
            hook: None,
        }
    }
}

/// Everything that can go wrong in the store, for callers to map onto their protocols.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An error from SQLite while running a user statement (syntax, constraint, no such
    /// table, ...). The original error is kept so front ends can map it to their codes.
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    /// The statement is valid SQLite but quorate refuses it; the text says why.
    #[error("not supported: {0}")]
    Refused(String),
    /// The transaction was rolled back and nothing of it was applied; retrying is safe.
    #[error("transaction aborted and rolled back: {0}; retry it")]
    Aborted(String),
    /// The statement was interrupted (`KILL QUERY`, a time limit); the text says what
    /// became of its transaction. Not retryable: whoever interrupted it meant it to stop.
    #[error("statement interrupted; {0}")]
    Interrupted(String),
    /// COMMIT was sent to the cluster but its fate is not known (leader change, timeout).
    /// It may or may not be applied; check before retrying.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// Waiting for the writer took longer than `lock_wait_timeout`.
    /// The second field names the writer's holder (see [`WriterHolder`]), if known.
    #[error("waited {0:?} for the writer{1}")]
    LockTimeout(Duration, String),
    /// A statement's result exceeded `max_result_bytes`, or a transaction `max_tx_bytes`.
    #[error("{0}")]
    TooLarge(String),
    /// This replica's data no longer matches the log: it stops applying rather than serve
    /// wrong data. Wipe its data directory to resynchronise it from the others.
    #[error("replica diverged at log index {index}: {detail}")]
    Diverged { index: u64, detail: String },
    /// The files on disk are not what they should be.
    #[error("storage corrupt: {0}")]
    Corrupt(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The operation needs the data this node does not keep (a witness).
    #[error("this node is a witness and holds no data")]
    Witness,
}

impl StoreError {
    /// True if retrying the whole transaction is safe and may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Aborted(_) | StoreError::LockTimeout(..))
    }

    /// True if SQLite stopped the statement because it was interrupted.
    pub fn is_interrupt(&self) -> bool {
        match self {
            StoreError::Interrupted(_) => true,
            StoreError::Sql(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::OperationInterrupted
            }
            _ => false,
        }
    }
}

/// One node's SQLite state machine. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub db_path: PathBuf,
    pub config: StoreConfig,
    pub writer: Arc<tokio::sync::Mutex<writer::Writer>>,
    pub readers: Arc<read::ReadPool>,
    pub spec: parking_lot::Mutex<spec::SpecState>,
    pub frontier: watch::Receiver<Frontier>,
    /// Bumped whenever this node's leadership changes; open transactions of an older epoch
    /// are aborted.
    pub leader_epoch: watch::Sender<u64>,
    /// Last applied log id, for waiters (bounded reads, status).
    pub applied: watch::Sender<Option<LogId>>,
    pub snapshots: snapshot::SnapshotDir,
    /// Set when speculative transactions were undone while the node may still lead: entries
    /// of ours may still be in the log (appended, fate unknown), so new transactions must
    /// wait until everything appended so far is applied.
    pub resync_needed: std::sync::atomic::AtomicBool,
    /// Clients' statements waiting for the writer, so that interrupting one ends its wait.
    pub waiting: writer::Waiting,
}

/// An autocommit statement that may be a point DELETE by rowid (see [`point`]), parsed
/// once: what [`Store::empty_point_delete`] checks.
pub struct PointDeleteProbe {
    delete: point::PointDelete,
    rowid: i64,
}

impl PointDeleteProbe {
    /// `sql` with `params`, if it has the shape (a cheap check; the table and column are
    /// checked against the schema later) and is not about quorate's or SQLite's own tables.
    pub fn new(sql: &str, params: &[Value]) -> Option<Self> {
        let delete = point::point_delete(sql)?;
        let rowid = delete.rowid(params)?;
        let table = delete.table.to_ascii_lowercase();
        if table.starts_with(INTERNAL_PREFIX) || table.starts_with("sqlite_") {
            return None;
        }
        Some(Self { delete, rowid })
    }
}

impl Store {
    /// Opens the store in `dir` (creating it). Undoes speculative transactions a previous run
    /// left behind, so the database is exactly at its recorded last applied log id.
    pub fn open(dir: &Path, node_id: u64, config: StoreConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db_path = dir.join("db.sqlite");
        let snapshots = snapshot::SnapshotDir::open(&dir.join("snapshots"))?;
        let hook = config.hook.clone().map(|h| h.0);
        let readers = Arc::new(read::ReadPool::new(
            &db_path,
            config.read_connections,
            hook.clone(),
        ));
        let checkpoints = checkpoint::start(readers.clone())?;
        let mut writer = writer::Writer::open(&db_path, hook, checkpoints)?;
        let undone = writer.undo_all_speculation()?;
        if undone > 0 {
            tracing::info!(
                undone,
                "undid speculative transactions left by the previous run"
            );
        }
        writer.check_witness_flag(config.witness)?;
        let applied = writer.read_applied()?;
        let incarnation: u64 = rand::random();
        let spec = spec::SpecState::new(node_id, incarnation, applied.clone());
        let frontier = spec.frontier.subscribe();
        let (leader_epoch, _) = watch::channel(0);
        let (applied_tx, _) = watch::channel(applied.last_applied);
        Ok(Self {
            inner: Arc::new(Inner {
                db_path,
                config,
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                readers,
                spec: parking_lot::Mutex::new(spec),
                frontier,
                leader_epoch,
                applied: applied_tx,
                snapshots,
                resync_needed: Default::default(),
                waiting: Default::default(),
            }),
        })
    }

    /// The openraft state machine over this store.
    pub fn state_machine(&self) -> StateMachine {
        StateMachine::new(self.clone())
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    pub fn is_witness(&self) -> bool {
        self.inner.config.witness
    }

    /// What this node has applied (in memory; may be ahead of the copy in SQLite).
    pub fn applied(&self) -> AppliedState {
        self.inner.spec.lock().applied.clone()
    }

    /// Watches the last applied log id.
    pub fn watch_applied(&self) -> watch::Receiver<Option<LogId>> {
        self.inner.applied.subscribe()
    }

    /// The membership as of the last applied entry.
    pub fn membership(&self) -> StoredMembership {
        self.inner.spec.lock().applied.membership.clone()
    }

    /// Number of the leader's own transactions executed locally and not yet applied.
    pub fn speculative_in_flight(&self) -> usize {
        self.inner.spec.lock().entries.len()
    }

    /// Aborts open transactions and undoes every speculative transaction that is not yet
    /// known committed. Call whenever this node's leadership changes (lost, or a new term).
    pub async fn on_leadership_change(&self) -> Result<usize, StoreError> {
        self.inner.leader_epoch.send_modify(|e| *e += 1);
        let mut w = self.inner.writer.clone().lock_owned().await;
        let _window = spec::UndoWindow::open();
        let seqs = self.inner.spec.lock().take_unclaimed();
        if seqs.is_empty() {
            return Ok(0);
        }
        let n = seqs.len();
        self.inner
            .resync_needed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        run_blocking(|| w.undo_speculation(&seqs))?;
        self.inner.spec.lock().undo_done();
        tracing::info!(
            undone = n,
            "undid speculative transactions not known committed"
        );
        Ok(n)
    }

    /// True if transactions were undone since the last [`Store::clear_resync`]: before new
    /// transactions run, everything already in the log must be applied (see `resync_needed`).
    pub fn resync_needed(&self) -> bool {
        self.inner
            .resync_needed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn clear_resync(&self) {
        self.inner
            .resync_needed
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Same as [`Store::on_leadership_change`]: used when one of this leader's transactions
    /// was refused or skipped, so those executed on top of it must go too.
    pub async fn abandon_speculation(&self) -> Result<usize, StoreError> {
        self.on_leadership_change().await
    }

    /// Waits until every speculative transaction visible at `frontier.visible_seq` is
    /// committed. Fails if they were undone instead (leadership lost).
    pub async fn wait_visible_committed(&self, seen: Frontier) -> Result<(), StoreError> {
        let mut rx = self.inner.frontier.clone();
        loop {
            {
                let f = *rx.borrow_and_update();
                if f.committed_seq >= seen.visible_seq {
                    return Ok(());
                }
                if f.undo_epoch != seen.undo_epoch {
                    return Err(StoreError::Aborted(
                        "leadership changed before the data this read saw was committed".into(),
                    ));
                }
            }
            if rx.changed().await.is_err() {
                return Err(StoreError::Aborted("store closed".into()));
            }
        }
    }

    /// For an autocommit statement on the leader: when `probe` names a row that does not
    /// exist, what to wait for ([`Store::wait_visible_committed`]) before answering that the
    /// DELETE deleted nothing. Found on a read connection: the writer is not taken. `None`:
    /// the column is not the table's rowid, or the row exists, or speculative transactions
    /// were undone meanwhile; run the statement as a write. Errors are left for the write to
    /// report.
    pub fn empty_point_delete(&self, probe: &PointDeleteProbe) -> Option<Frontier> {
        if self.is_witness() {
            return None;
        }
        let (p, rowid) = (&probe.delete, probe.rowid);
        let before = self.inner.frontier.borrow().undo_epoch;
        if self
            .inner
            .readers
            .rowid_absent(&p.table, &p.column, rowid)
            .ok()??
        {
            let spec = self.inner.spec.lock();
            let now = *self.inner.frontier.borrow();
            // An undo since the read: the row's absence may have been its effect.
            if now.undo_epoch == before {
                let row = (p.table.to_ascii_lowercase(), rowid);
                return Some(Frontier {
                    visible_seq: spec.newest_touching(&[row])?,
                    ..now
                });
            }
        }
        None
    }

    /// The current speculation frontier.
    pub fn frontier(&self) -> Frontier {
        *self.inner.frontier.borrow()
    }

    /// Runs a read-only statement on a read connection. The caller must then wait for
    /// [`Store::wait_visible_committed`] with the returned frontier before answering
    /// (nothing is ever answered from uncommitted data).
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<(StmtOutput, Frontier), StoreError> {
        self.query_with(sql, params, &[])
    }

    /// [`Store::query`] with a context for the connection hook.
    pub fn query_with(
        &self,
        sql: &str,
        params: &[Value],
        context: &[u8],
    ) -> Result<(StmtOutput, Frontier), StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        self.inner.readers.query(
            sql,
            params,
            self.inner.config.max_result_bytes,
            &self.inner.frontier,
            context,
        )
    }

    /// Reads quorate's own catalog tables (no user-SQL checks). Does not wait for the
    /// speculation frontier: use only for metadata where that is acceptable.
    pub fn query_internal(&self, sql: &str, params: &[Value]) -> Result<StmtOutput, StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        let max = self.inner.config.max_result_bytes;
        self.inner
            .readers
            .with_conn(|conn| stmt::run(conn, sql, params, max, true))
    }

    /// Runs `f` on a read connection that may read quorate's own tables (a front end's
    /// catalog answers: SHOW / DESCRIBE, prepared-statement metadata, its users and
    /// databases). `f` must only read. Like [`Store::query_internal`] it does not wait for
    /// the speculation frontier, so on the leader it may see transactions not yet committed:
    /// use it only for metadata where that is acceptable.
    pub fn with_read_connection<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> T,
    ) -> Result<T, StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        self.inner.readers.with_conn(|conn| Ok(f(conn)))
    }

    /// Starts a read-only transaction on one snapshot (a read connection inside BEGIN).
    pub fn begin_read(&self) -> Result<ReadTx, StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        ReadTx::begin(self.inner.clone())
    }

    /// Starts a write transaction (leader only; the caller checks leadership). Waits for the
    /// writer up to `lock_wait_timeout`, or until [`Store::interrupt_waiting`] names the
    /// client of `options`.
    pub async fn begin_write(&self, options: TxOptions) -> Result<WriteTx, StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        WriteTx::begin(self.inner.clone(), options).await
    }

    /// Ends the wait for the writer of client `client` of node `origin`'s statement, if it
    /// waits ([`TxOptions::client`]): its transaction never starts, and it fails as
    /// interrupted. Returns how many waits it ended (0 or 1).
    pub fn interrupt_waiting(&self, origin: u64, client: u64) -> usize {
        self.inner.waiting.interrupt(origin, client)
    }

    /// A checksum of every replicated table's schema and rows, with the applied log id it
    /// was computed at.
    ///
    /// The rows and the applied index are taken at one instant: the writer is held while
    /// the read transaction takes its snapshot and the applied state is read, so no batch is
    /// between marking its entries applied and committing them (which the applied index
    /// alone would not show: two replicas at the same index then seemed to differ). The
    /// writer is released before the rows are read; waiting for it is bounded by
    /// `lock_wait_timeout`, like a write.
    pub async fn checksum(&self) -> Result<Checksum, StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        let wait = self.inner.config.lock_wait_timeout;
        let writer = tokio::time::timeout(wait, self.inner.writer.clone().lock_owned())
            .await
            .map_err(|_| StoreError::LockTimeout(wait, self.inner.waiting.holder_text()))?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            store.inner.readers.with_conn(|conn| {
                checksum::compute(conn, || {
                    // Both under one lock: the leader marks its own entries applied (and
                    // no longer speculative) without the writer.
                    let state = {
                        let spec = store.inner.spec.lock();
                        let applied = spec.applied.last_applied.map(|l| l.index).unwrap_or(0);
                        (applied, spec.entries.len())
                    };
                    drop(writer);
                    state
                })
            })
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }

    /// Writes the in-memory applied state to SQLite if it is ahead, when the writer is free.
    pub fn persist_applied_if_idle(&self) -> Result<bool, StoreError> {
        let Ok(mut w) = self.inner.writer.try_lock() else {
            return Ok(false);
        };
        w.persist_applied(&self.inner.spec)
    }

    /// Builds the file an unsafe recovery starts from: a consistent copy of this node's
    /// committed data whose recorded membership is replaced by `membership` (the
    /// survivors). Returns the log id it is at and the file (in the snapshot directory).
    pub fn build_recovery_file(
        &self,
        membership: quorate_consensus::Membership,
    ) -> Result<(LogId, SnapshotFile), StoreError> {
        if self.is_witness() {
            return Err(StoreError::Witness);
        }
        let _ = self.persist_applied_if_idle();
        let tmp = self.inner.snapshots.temp_path("recovery");
        let applied = self
            .inner
            .readers
            .with_conn(|_| snapshot::build_copy(&self.inner.db_path, &tmp))?;
        let last = applied.last_applied.ok_or_else(|| {
            StoreError::Corrupt("nothing applied yet: nothing to recover from".into())
        })?;
        {
            let conn = schema::open(
                &tmp,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            let state = AppliedState {
                last_applied: Some(last),
                membership: StoredMembership::new(Some(last), membership),
                chains: applied.chains,
            };
            schema::write_applied(&conn, &state)?;
        }
        let (size, sha256) = snapshot::hash_file(&tmp)?;
        let path = self.inner.db_path.with_file_name("recovery-source.db");
        std::fs::rename(&tmp, &path)?;
        Ok((last, SnapshotFile { path, size, sha256 }))
    }

    /// A fresh temporary file path next to the snapshots (to receive one into).
    pub fn snapshot_temp_path(&self, what: &str) -> PathBuf {
        self.inner.snapshots.temp_path(what)
    }

    /// Path of the SQLite file (for operators and tests).
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }
}

/// Replaces the database in `dir` (a store directory, closed) with `file`, removing the WAL
/// and snapshots that belonged to the old database. Used by unsafe recovery at start-up.
pub fn replace_database(dir: &Path, file: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join("db.sqlite");
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(dir.join(format!("db.sqlite{suffix}"))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    let snaps = dir.join("snapshots");
    if snaps.exists() {
        std::fs::remove_dir_all(&snaps)?;
    }
    std::fs::copy(file, &db)?;
    std::fs::File::open(&db)?.sync_all()?;
    Ok(())
}
