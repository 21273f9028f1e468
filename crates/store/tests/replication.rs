//! Store: replication of effects between two stores, without Raft.
//!
//! A fake proposer stands in for the Raft log: it numbers commands, applies them to the
//! leader's state machine (where they are "own" entries) and to a follower's (where they are
//! applied from their changesets), then answers the committer. Each test states the
//! property it checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use openraft::storage::RaftStateMachine;
use parking_lot::Mutex;
use quorate_consensus::{Command, Entry, EntryPayload, LogId, log_id};
use quorate_store::{
    CommitOutcome, PointDeleteProbe, ProposeError, Proposer, RowCounts, StateMachine, Store,
    StoreConfig, StoreError, TxOptions, Value,
};

struct Cluster {
    _dir: tempfile::TempDir,
    leader: Store,
    follower: Store,
}

fn open(dir: &std::path::Path, name: &str, id: u64) -> Store {
    Store::open(&dir.join(name), id, StoreConfig::default()).unwrap()
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let leader = open(dir.path(), "n1", 1);
        let follower = open(dir.path(), "n2", 2);
        Self {
            _dir: dir,
            leader,
            follower,
        }
    }
}

/// Stands in for Raft: appends to an in-memory log and applies to both state machines.
struct FakeLog {
    next: AtomicU64,
    leader: Mutex<StateMachine>,
    follower: Mutex<StateMachine>,
    /// When set, proposals are refused as if leadership had been lost.
    refuse: std::sync::atomic::AtomicBool,
    /// When set, proposals are accepted but never committed (no quorum).
    stall: std::sync::atomic::AtomicBool,
    /// When set, proposals are appended and their committers wait until `released` turns
    /// true; the test commits and applies the entries itself meanwhile (a new leader
    /// committing what the old one appended).
    hold: std::sync::atomic::AtomicBool,
    released: tokio::sync::watch::Sender<bool>,
    /// When set, the next proposal is refused after a delay (as openraft does when the
    /// leader's lease expired), without being appended.
    reject_next_after: Mutex<Option<std::time::Duration>>,
    log: Mutex<Vec<Entry>>,
}

impl FakeLog {
    fn new(c: &Cluster) -> Arc<Self> {
        Arc::new(Self {
            next: AtomicU64::new(1),
            leader: Mutex::new(c.leader.state_machine()),
            follower: Mutex::new(c.follower.state_machine()),
            refuse: Default::default(),
            stall: Default::default(),
            hold: Default::default(),
            released: tokio::sync::watch::Sender::new(false),
            reject_next_after: Mutex::new(None),
            log: Mutex::new(Vec::new()),
        })
    }

    async fn apply_to(sm: &mut StateMachine, entry: Entry) {
        apply_batch(sm, vec![entry]).await.unwrap();
    }
}

/// Applies `entries` to `sm` in one call, as openraft hands a committed range over.
async fn apply_batch(sm: &mut StateMachine, entries: Vec<Entry>) -> std::io::Result<()> {
    sm.apply(futures::stream::iter(
        entries
            .into_iter()
            .map(|e| Ok((e, None)))
            .collect::<Vec<_>>(),
    ))
    .await
}

struct FakeProposer(Arc<FakeLog>);

impl Proposer for FakeProposer {
    fn propose(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, Result<BoxFuture<'static, Result<LogId, ProposeError>>, ProposeError>> {
        let log = self.0.clone();
        Box::pin(async move {
            if log.refuse.load(Ordering::SeqCst) {
                return Err(ProposeError::NotAppended("not the leader".into()));
            }
            if let Some(delay) = log.reject_next_after.lock().take() {
                let late: BoxFuture<'static, Result<LogId, ProposeError>> = Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    Err(ProposeError::NotAppended("lease expired".into()))
                });
                return Ok(late);
            }
            let index = log.next.fetch_add(1, Ordering::SeqCst);
            let entry = Entry {
                log_id: log_id(1, 1, index),
                payload: EntryPayload::Normal(cmd),
            };
            log.log.lock().push(entry.clone());
            if log.stall.load(Ordering::SeqCst) {
                let never: BoxFuture<'static, Result<LogId, ProposeError>> =
                    Box::pin(futures::future::pending());
                return Ok(never);
            }
            if log.hold.load(Ordering::SeqCst) {
                let mut released = log.released.subscribe();
                let later: BoxFuture<'static, Result<LogId, ProposeError>> = Box::pin(async move {
                    let _ = released.wait_for(|r| *r).await;
                    Ok(entry.log_id)
                });
                return Ok(later);
            }
            let waiter: BoxFuture<'static, Result<LogId, ProposeError>> = Box::pin(async move {
                let id = entry.log_id;
                let mut leader = log.leader.lock().clone();
                FakeLog::apply_to(&mut leader, entry.clone()).await;
                let mut follower = log.follower.lock().clone();
                FakeLog::apply_to(&mut follower, entry).await;
                Ok(id)
            });
            Ok(waiter)
        })
    }
}

async fn write(
    store: &Store,
    proposer: &FakeProposer,
    stmts: &[(&str, Vec<Value>)],
) -> Result<CommitOutcome, StoreError> {
    let mut tx = store.begin_write(TxOptions::default()).await?;
    for (sql, params) in stmts {
        tx.execute(sql, params).await?;
    }
    tx.commit(proposer).await
}

/// Creates `t (id INTEGER PRIMARY KEY, v TEXT)` holding the committed row `(1, v)`.
async fn table_with_one_row(store: &Store, proposer: &FakeProposer, v: &str) {
    let create = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)";
    write(store, proposer, &[(create, vec![])]).await.unwrap();
    let insert = "INSERT INTO t VALUES (1, ?1)";
    write(store, proposer, &[(insert, vec![Value::Text(v.into())])])
        .await
        .unwrap();
}

fn rows(store: &Store, sql: &str) -> Vec<Vec<Value>> {
    store.query(sql, &[]).unwrap().0.rows
}

async fn assert_same(c: &Cluster) {
    let a = c.leader.checksum().await.unwrap();
    let b = c.follower.checksum().await.unwrap();
    assert_eq!(
        a.sha256, b.sha256,
        "leader {:?}\nfollower {:?}",
        a.tables, b.tables
    );
}

/// A transaction's effects, captured on the leader and applied on a follower, leave both
/// with identical data: rows of tables with and without a primary key, AUTOINCREMENT
/// counters, rows written by triggers and foreign-key cascades, and values of
/// non-deterministic functions (evaluated once, on the leader).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_replicate_exactly() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    write(&c.leader, &p, &[
        ("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT, r REAL, ts TEXT DEFAULT CURRENT_TIMESTAMP)", vec![]),
        ("CREATE TABLE nopk (a, b)", vec![]),
        ("CREATE TABLE log (msg TEXT)", vec![]),
        ("CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('inserted ' || new.id); END", vec![]),
        ("CREATE TABLE parent (id INTEGER PRIMARY KEY)", vec![]),
        ("CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) ON DELETE CASCADE)", vec![]),
    ])
    .await
    .unwrap();
    for i in 0..20 {
        write(
            &c.leader,
            &p,
            &[
                (
                    "INSERT INTO t (v, r) VALUES (?1, random())",
                    vec![Value::Text(format!("row {i}"))],
                ),
                (
                    "INSERT INTO nopk VALUES (?1, randomblob(8))",
                    vec![Value::Integer(i)],
                ),
                ("INSERT INTO parent VALUES (?1)", vec![Value::Integer(i)]),
                ("INSERT INTO child VALUES (?1, ?1)", vec![Value::Integer(i)]),
            ],
        )
        .await
        .unwrap();
    }
    write(
        &c.leader,
        &p,
        &[
            ("DELETE FROM t WHERE id > 15", vec![]),
            ("UPDATE nopk SET a = a * 10 WHERE a % 2 = 0", vec![]),
            ("DELETE FROM parent WHERE id < 5", vec![]),
        ],
    )
    .await
    .unwrap();
    // AUTOINCREMENT never reuses ids, on either node.
    write(
        &c.leader,
        &p,
        &[("INSERT INTO t (v) VALUES ('after delete')", vec![])],
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c.leader, "SELECT max(id) FROM t"),
        vec![vec![Value::Integer(21)]]
    );
    assert_eq!(
        rows(&c.follower, "SELECT max(id) FROM t"),
        vec![vec![Value::Integer(21)]]
    );
    // Trigger rows exist once per insert on both (not fired again by apply).
    assert_eq!(
        rows(&c.follower, "SELECT count(*) FROM log"),
        vec![vec![Value::Integer(21)]]
    );
    // The cascade removed children on both.
    assert_eq!(
        rows(&c.follower, "SELECT count(*) FROM child"),
        vec![vec![Value::Integer(15)]]
    );
    assert_same(&c).await;
}

/// A primary key whose new value equals the old one by the column's collation but not in
/// bytes (a NOCASE name changing case, a date spelt otherwise; rowid and WITHOUT ROWID
/// tables) replicates as the change it is: the follower applies it and ends identical,
/// holding the new spelling. Reading the row back by its old key finds it under the new
/// one; taking that for the old row made every follower refuse the changeset. Undone on
/// the leader before it commits, such a change leaves the committed spelling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_equal_by_collation_change_like_any_key() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[
            (
                "CREATE TABLE u (name TEXT COLLATE NOCASE NOT NULL PRIMARY KEY, v INT)",
                vec![],
            ),
            (
                "CREATE TABLE d (s INT, day TEXT COLLATE MYSQL_DATETIME, n INT, \
                 PRIMARY KEY (s, day)) WITHOUT ROWID",
                vec![],
            ),
            ("INSERT INTO u VALUES ('bob', 1), ('amy', 2)", vec![]),
            ("INSERT INTO d VALUES (1, '2024-03-05', 1)", vec![]),
        ],
    )
    .await
    .unwrap();
    write(
        &c.leader,
        &p,
        &[
            ("UPDATE u SET name = 'BOB' WHERE name = 'bob'", vec![]),
            ("UPDATE d SET day = '2024-3-5 00:00', n = 2", vec![]),
        ],
    )
    .await
    .unwrap();
    // Inserted, then re-spelt in the same transaction.
    write(
        &c.leader,
        &p,
        &[
            ("INSERT INTO u VALUES ('cy', 3)", vec![]),
            ("UPDATE u SET name = 'Cy' WHERE name = 'cy'", vec![]),
        ],
    )
    .await
    .unwrap();
    // Undone before it commits (a leadership change), the same kind of change leaves the
    // leader as committed: the inverse deletes 'DAN' before it inserts 'dan' again.
    write(
        &c.leader,
        &p,
        &[("INSERT INTO u VALUES ('dan', 4)", vec![])],
    )
    .await
    .unwrap();
    log.stall.store(true, Ordering::SeqCst);
    let leader = c.leader.clone();
    let stalled = FakeProposer(log.clone());
    let pending = tokio::spawn(async move {
        write(
            &leader,
            &stalled,
            &[
                ("UPDATE u SET name = 'DAN' WHERE name = 'dan'", vec![]),
                ("UPDATE d SET day = '2024-03-05 00:00:00.000'", vec![]),
            ],
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(c.leader.speculative_in_flight(), 1);
    assert_eq!(c.leader.on_leadership_change().await.unwrap(), 1);
    pending.abort();
    assert_eq!(
        rows(&c.leader, "SELECT name FROM u WHERE v = 4"),
        vec![vec![Value::Text("dan".into())]]
    );
    log.stall.store(false, Ordering::SeqCst);
    write(
        &c.leader,
        &p,
        &[("DELETE FROM u WHERE name = 'dan'", vec![])],
    )
    .await
    .unwrap();
    for node in [&c.leader, &c.follower] {
        assert_eq!(
            rows(node, "SELECT name, v FROM u ORDER BY v"),
            vec![
                vec![Value::Text("BOB".into()), Value::Integer(1)],
                vec![Value::Text("amy".into()), Value::Integer(2)],
                vec![Value::Text("Cy".into()), Value::Integer(3)],
            ]
        );
        assert_eq!(
            rows(node, "SELECT day, n FROM d"),
            vec![vec![
                Value::Text("2024-3-5 00:00".into()),
                Value::Integer(2)
            ]]
        );
    }
    assert_same(&c).await;
}

/// A transaction that changed nothing is not replicated and reports ReadOnly; a rolled
/// back transaction leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_rolled_back_transactions_replicate_nothing() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[("CREATE TABLE t (id INTEGER PRIMARY KEY)", vec![])],
    )
    .await
    .unwrap();
    let before = log.log.lock().len();
    let out = write(&c.leader, &p, &[("DELETE FROM t WHERE id = 42", vec![])])
        .await
        .unwrap();
    assert!(matches!(out, CommitOutcome::ReadOnly { .. }));
    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    tx.rollback();
    assert_eq!(log.log.lock().len(), before);
    assert_eq!(
        rows(&c.leader, "SELECT count(*) FROM t"),
        vec![vec![Value::Integer(0)]]
    );
    assert_same(&c).await;
}

/// When leadership changes, speculative transactions not yet committed are undone and the
/// leader's data is again exactly what was committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_change_undoes_uncommitted_speculation() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    table_with_one_row(&c.leader, &p, "committed").await;
    log.stall.store(true, Ordering::SeqCst);
    // Two transactions run speculatively on the leader; neither commits.
    let leader = c.leader.clone();
    let log2 = log.clone();
    let pending = tokio::spawn(async move {
        let p = FakeProposer(log2);

        write(
            &leader,
            &p,
            &[("INSERT INTO t VALUES (2, 'speculative')", vec![])],
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let leader = c.leader.clone();
    let log3 = log.clone();
    let pending2 = tokio::spawn(async move {
        let p = FakeProposer(log3);
        write(
            &leader,
            &p,
            &[("UPDATE t SET v = 'changed' WHERE id = 1", vec![])],
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(c.leader.speculative_in_flight(), 2);
    // A reader on the leader can see speculative rows in SQLite but must not answer from them.
    let (out, seen) = c.leader.query("SELECT count(*) FROM t", &[]).unwrap();
    assert_eq!(out.rows, vec![vec![Value::Integer(2)]]);
    let store = c.leader.clone();
    let reader = tokio::spawn(async move { store.wait_visible_committed(seen).await });
    let undone = c.leader.on_leadership_change().await.unwrap();
    assert_eq!(undone, 2);
    assert!(
        reader.await.unwrap().is_err(),
        "a read of undone data must fail"
    );
    assert_eq!(
        rows(&c.leader, "SELECT id, v FROM t ORDER BY id"),
        vec![vec![Value::Integer(1), Value::Text("committed".into())]]
    );
    pending.abort();
    pending2.abort();
    assert_same(&c).await;
}

/// Lets a test stop a read statement in the middle: `pause()` (registered on every
/// connection) blocks once armed, after the statement's snapshot began, until released.
#[derive(Default)]
struct Pause {
    armed: std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
}

impl Pause {
    /// Arms `pause()` for one call; returns (entered, release).
    fn arm(&self) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        *self.armed.lock().unwrap() = Some((entered_tx, release_rx));
        (entered_rx, release_tx)
    }
}

struct PauseHook(Arc<Pause>);

impl quorate_store::ConnectionHook for PauseHook {
    fn on_open(
        &self,
        conn: &quorate_store::rusqlite::Connection,
    ) -> quorate_store::rusqlite::Result<()> {
        let pause = self.0.clone();
        conn.create_scalar_function(
            "pause",
            0,
            quorate_store::rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            move |_| {
                let armed = pause.armed.lock().unwrap().take();
                if let Some((entered, release)) = armed {
                    entered.send(()).unwrap();
                    release.recv().unwrap();
                }
                Ok(0)
            },
        )
    }

    fn before_statement(&self, _: &quorate_store::rusqlite::Connection, _: &[u8], _: &str) {}
}

/// A read on the leader whose statement saw a speculative transaction that was undone
/// while the statement ran (the leader lost its quorum) never answers with the undone
/// data: the frontier sampled after the statement no longer counts the undone entry, so
/// the read must notice the undo and read again. Checked for single statements and for the
/// first statement of a read transaction. (A torture run caught a leader answering a
/// linearizable read with a write that never committed this way.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_overlapping_an_undo_never_answer_from_undone_data() {
    let pause = Arc::new(Pause::default());
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        hook: Some(quorate_store::Hook(Arc::new(PauseHook(pause.clone())))),
        ..StoreConfig::default()
    };
    let c = Cluster {
        leader: Store::open(&dir.path().join("n1"), 1, config).unwrap(),
        follower: open(dir.path(), "n2", 2),
        _dir: dir,
    };
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    table_with_one_row(&c.leader, &p, "committed").await;
    log.stall.store(true, Ordering::SeqCst);
    for in_read_tx in [false, true] {
        let (leader, log2) = (c.leader.clone(), log.clone());
        let pending = tokio::spawn(async move {
            let sql = "UPDATE t SET v = 'speculative' WHERE id = 1";
            write(&leader, &FakeProposer(log2), &[(sql, vec![])]).await
        });
        while c.leader.speculative_in_flight() < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let (entered, release) = pause.arm();
        let store = c.leader.clone();
        let reader = tokio::task::spawn_blocking(move || {
            let sql = "SELECT v, pause() FROM t WHERE id = 1";
            if in_read_tx {
                store.begin_read()?.query(sql, &[])
            } else {
                store.query(sql, &[])
            }
        });
        tokio::task::block_in_place(|| entered.recv().unwrap());
        // The statement has read the speculative row; now the leader undoes it.
        assert_eq!(c.leader.on_leadership_change().await.unwrap(), 1);
        release.send(()).unwrap();
        let (out, seen) = reader.await.unwrap().unwrap();
        c.leader.wait_visible_committed(seen).await.unwrap();
        assert_eq!(
            out.rows[0][0],
            Value::Text("committed".into()),
            "read tx: {in_read_tx}; a read answered with a transaction that was undone"
        );
        pending.abort();
    }
    assert_same(&c).await;
}

/// A leader that stepped down while its transactions were in the log, uncommitted, undoes
/// them; when the new leader commits those entries, the old leader applies them from their
/// changesets like anyone else's, and the commits that were waiting report them committed.
/// The node relies on this when it keeps waiting for an entry's outcome after a step-down
/// instead of answering "outcome unknown" (`RaftProposer::stalled` in crates/node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_committed_after_a_step_down_are_applied_and_reported_committed() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    table_with_one_row(&c.leader, &p, "one").await;
    let committed_before = log.log.lock().len();
    let pending = held_writes(
        &c,
        &log,
        &[
            "INSERT INTO t VALUES (2, 'two')",
            "UPDATE t SET v = 'one, changed' WHERE id = 1",
        ],
    )
    .await;
    // The step-down: both are undone locally.
    assert_eq!(c.leader.on_leadership_change().await.unwrap(), 2);
    assert_eq!(
        rows(&c.leader, "SELECT id, v FROM t ORDER BY id"),
        vec![vec![Value::Integer(1), Value::Text("one".into())]]
    );
    // The new leader commits both entries; every replica applies them in one batch.
    commit_held(&log, committed_before, 2).await;
    for p in pending {
        let outcome = p.await.unwrap().unwrap();
        assert!(
            matches!(outcome, CommitOutcome::Committed { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        rows(&c.leader, "SELECT id, v FROM t ORDER BY id"),
        vec![
            vec![Value::Integer(1), Value::Text("one, changed".into())],
            vec![Value::Integer(2), Value::Text("two".into())],
        ]
    );
    assert_same(&c).await;
}

/// Runs each statement as its own transaction on the leader while the log holds commits
/// (`FakeLog::hold`); returns once every one is speculative on the leader, with the tasks
/// that wait for their commits.
async fn held_writes(
    c: &Cluster,
    log: &Arc<FakeLog>,
    stmts: &[&'static str],
) -> Vec<tokio::task::JoinHandle<Result<CommitOutcome, StoreError>>> {
    log.hold.store(true, Ordering::SeqCst);
    let mut pending = Vec::new();
    for &sql in stmts {
        let (leader, log) = (c.leader.clone(), log.clone());
        pending.push(tokio::spawn(async move {
            write(&leader, &FakeProposer(log), &[(sql, vec![])]).await
        }));
        while c.leader.speculative_in_flight() < pending.len() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    pending
}

/// Commits the `n` held entries recorded from log position `from` on: every replica applies
/// them in one batch, then their committers are released.
async fn commit_held(log: &Arc<FakeLog>, from: usize, n: usize) {
    let held: Vec<Entry> = log.log.lock()[from..].to_vec();
    assert_eq!(held.len(), n);
    let mut leader_sm = log.leader.lock().clone();
    apply_batch(&mut leader_sm, held.clone()).await.unwrap();
    let mut follower_sm = log.follower.lock().clone();
    apply_batch(&mut follower_sm, held).await.unwrap();
    log.released.send_replace(true);
}

/// Restarting a store undoes every speculative transaction the previous run left in
/// SQLite, committed or not, back to the applied index it recorded; replaying the committed
/// log from that index (as openraft does at start) brings back exactly the committed ones.
/// The applied index is written with some commits only (`SpecState::persist_due`), so a
/// committed transaction may well be among those undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_undoes_speculation_and_the_log_brings_back_what_committed() {
    let dir = tempfile::tempdir().unwrap();
    let committed: Vec<Entry> = {
        let c = Cluster {
            leader: open(dir.path(), "n1", 1),
            follower: open(dir.path(), "n2", 2),
            _dir: tempfile::tempdir().unwrap(),
        };
        let log = FakeLog::new(&c);
        let p = FakeProposer(log.clone());
        write(
            &c.leader,
            &p,
            &[("CREATE TABLE t (id INTEGER PRIMARY KEY)", vec![])],
        )
        .await
        .unwrap();
        write(&c.leader, &p, &[("INSERT INTO t VALUES (1)", vec![])])
            .await
            .unwrap();
        let committed = log.log.lock().clone();
        log.stall.store(true, Ordering::SeqCst);
        let leader = c.leader.clone();
        let log2 = log.clone();
        let h = tokio::spawn(async move {
            write(
                &leader,
                &FakeProposer(log2),
                &[("INSERT INTO t VALUES (2)", vec![])],
            )
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(
            rows(&c.leader, "SELECT count(*) FROM t"),
            vec![vec![Value::Integer(2)]]
        );
        h.abort();
        committed
    };
    let leader = open(dir.path(), "n1", 1);
    let mut sm = leader.state_machine();
    let (applied, _) = sm.applied_state().await.unwrap();
    let after = applied.map(|l| l.index).unwrap_or(0);
    let replay: Vec<Entry> = committed
        .into_iter()
        .filter(|e| e.log_id.index > after)
        .collect();
    apply_batch(&mut sm, replay).await.unwrap();
    assert_eq!(
        rows(&leader, "SELECT id FROM t"),
        vec![vec![Value::Integer(1)]]
    );
}

/// Refused statements name the reason and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_statements_are_refused() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    write(&c.leader, &p, &[("CREATE TABLE t (x)", vec![])])
        .await
        .unwrap();
    for sql in [
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "CREATE TEMP TABLE tt (x)",
        "CREATE TABLE c AS SELECT * FROM t",
        "PRAGMA foreign_keys = OFF",
        "SELECT * FROM _quorate_meta",
        "INSERT INTO _quorate_spec VALUES (1, x'00')",
        "BEGIN",
        "CREATE VIRTUAL TABLE v USING fts5(x)",
        "ANALYZE",
    ] {
        let err = write(&c.leader, &p, &[(sql, vec![])]).await.unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{sql}: {err}");
    }
    let err = c
        .leader
        .query("SELECT * FROM _quorate_meta", &[])
        .unwrap_err();
    assert!(matches!(err, StoreError::Refused(_)), "{err}");
    let err = c.leader.query("INSERT INTO t VALUES (1)", &[]).unwrap_err();
    assert!(matches!(err, StoreError::Refused(_)), "{err}");
    assert_same(&c).await;
}

/// ALTER TABLE ADD COLUMN with a CHECK constraint (every column the MySQL layer adds has
/// strict mode's) works, replicates, and is refused when the existing rows would break it
/// (SQLite checks them with `pragma_quick_check`, which the guard must let through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_columns_with_checks_are_checked_against_existing_rows() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    write(
        &c.leader,
        &p,
        &[
            ("CREATE TABLE t (id INTEGER PRIMARY KEY, x)", vec![]),
            ("INSERT INTO t VALUES (1, 1)", vec![]),
        ],
    )
    .await
    .unwrap();
    write(
        &c.leader,
        &p,
        &[(
            "ALTER TABLE t ADD COLUMN v TEXT DEFAULT 'e' CHECK (length(v) <= 3)",
            vec![],
        )],
    )
    .await
    .unwrap();
    let err = write(
        &c.leader,
        &p,
        &[(
            "ALTER TABLE t ADD COLUMN w TEXT DEFAULT 'long' CHECK (length(w) <= 3)",
            vec![],
        )],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
    let err = write(
        &c.leader,
        &p,
        &[("INSERT INTO t VALUES (2, 2, 'abcd')", vec![])],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
    assert_same(&c).await;
}

/// A table whose PRIMARY KEY may hold NULL is refused when created, and nothing of it
/// remains: SQLite would accept a row with a NULL key, but the change capture records no
/// change to such a row, so it would be acknowledged and then lost. Keys that cannot be
/// NULL (declared NOT NULL, INTEGER PRIMARY KEY, WITHOUT ROWID tables) are accepted, and
/// their rows replicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nullable_primary_keys_are_refused() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    for sql in [
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)",
        "CREATE TABLE two (a INT NOT NULL, b TEXT, PRIMARY KEY (a, b))",
        // Not the rowid despite INTEGER (a quirk SQLite keeps): it may hold NULL.
        "CREATE TABLE d (id INTEGER PRIMARY KEY DESC, v TEXT)",
    ] {
        let err = write(&c.leader, &p, &[(sql, vec![])]).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Refused(m) if m.contains("must be NOT NULL")),
            "{sql}: {err}"
        );
    }
    let left = rows(
        &c.leader,
        "SELECT count(*) FROM sqlite_schema WHERE name IN ('kv', 'two', 'd')",
    );
    assert_eq!(left, vec![vec![Value::Integer(0)]]);
    for (sql, insert) in [
        (
            "CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT)",
            "INSERT INTO kv VALUES ('a', 'x')",
        ),
        (
            "CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO r VALUES (NULL, 'x')",
        ),
        (
            "CREATE TABLE w (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
            "INSERT INTO w VALUES ('a', 'x')",
        ),
        (
            "CREATE TABLE e (id INTEGER, v TEXT, PRIMARY KEY (id DESC))",
            "INSERT INTO e VALUES (NULL, 'x')",
        ),
    ] {
        write(&c.leader, &p, &[(sql, vec![]), (insert, vec![])])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for t in ["kv", "r", "w", "e"] {
        let n = rows(&c.follower, &format!("SELECT count(*) FROM {t}"));
        assert_eq!(n, vec![vec![Value::Integer(1)]], "{t} on the follower");
    }
    assert_same(&c).await;
}

/// A follower whose data differs from the leader's refuses to apply instead of diverging
/// silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn divergence_is_detected() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[("CREATE TABLE t (id INTEGER PRIMARY KEY, v)", vec![])],
    )
    .await
    .unwrap();
    write(&c.leader, &p, &[("INSERT INTO t VALUES (1, 'a')", vec![])])
        .await
        .unwrap();
    // Tamper with the follower's file behind quorate's back.
    {
        let conn = rusqlite::Connection::open(c.follower.db_path()).unwrap();
        conn.execute("UPDATE t SET v = 'tampered'", []).unwrap();
    }
    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    tx.execute("UPDATE t SET v = 'b' WHERE id = 1", &[])
        .await
        .unwrap();
    drop(tx);
    let entry = {
        let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
        tx.execute("UPDATE t SET v = 'b' WHERE id = 1", &[])
            .await
            .unwrap();
        // Capture the command by committing through a proposer that only records it.
        log.stall.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(100), tx.commit(&p)).await;
        log.log.lock().last().cloned().unwrap()
    };
    let mut sm = c.follower.state_machine();
    let err = apply_batch(&mut sm, vec![entry]).await.unwrap_err();
    assert!(err.to_string().contains("diverged"), "{err}");
}

/// A snapshot built on the leader (with speculative transactions in flight) and installed
/// on an empty node holds exactly the committed data. The table has an index in the date
/// collation, which SQLite needs to copy, undo into, check and query it: every connection
/// the store opens has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_holds_committed_state_only() {
    use openraft::storage::RaftSnapshotBuilder;
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[
            (
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, d DATE COLLATE MYSQL_DATETIME)",
                vec![],
            ),
            ("CREATE INDEX t_d ON t (d)", vec![]),
        ],
    )
    .await
    .unwrap();
    for i in 0..50 {
        write(
            &c.leader,
            &p,
            &[(
                "INSERT INTO t VALUES (?1, randomblob(1000), printf('2024-03-%02d', ?1 % 28 + 1))",
                vec![Value::Integer(i)],
            )],
        )
        .await
        .unwrap();
    }
    log.stall.store(true, Ordering::SeqCst);
    let leader = c.leader.clone();
    let log2 = log.clone();
    let h = tokio::spawn(async move {
        write(&leader, &FakeProposer(log2), &[("DELETE FROM t", vec![])]).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut sm = c.leader.state_machine();
    let mut builder = sm.get_snapshot_builder().await;
    let snap = builder.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id.as_ref().map(|l| l.index), Some(51));

    let dir = tempfile::tempdir().unwrap();
    let fresh = open(dir.path(), "n3", 3);
    let mut fresh_sm = fresh.state_machine();
    // Hand over a copy, as the transport would.
    let copy = dir.path().join("received.db");
    std::fs::copy(&snap.snapshot.path, &copy).unwrap();
    let received = quorate_store::SnapshotFile {
        path: copy,
        ..snap.snapshot.clone()
    };
    fresh_sm
        .install_snapshot(&snap.meta, received)
        .await
        .unwrap();
    assert_eq!(
        rows(&fresh, "SELECT count(*) FROM t"),
        vec![vec![Value::Integer(50)]]
    );
    assert_eq!(
        rows(&fresh, "SELECT id FROM t WHERE d = '2024-3-5' ORDER BY id"),
        vec![vec![Value::Integer(4)], vec![Value::Integer(32)]]
    );
    assert_eq!(
        fresh.checksum().await.unwrap().sha256,
        c.follower.checksum().await.unwrap().sha256
    );
    h.abort();

    // A corrupted transfer is refused.
    let copy = dir.path().join("received2.db");
    let mut bytes = std::fs::read(&snap.snapshot.path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&copy, bytes).unwrap();
    let bad = quorate_store::SnapshotFile {
        path: copy,
        ..snap.snapshot.clone()
    };
    let err = fresh_sm
        .install_snapshot(&snap.meta, bad)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(
        rows(&fresh, "SELECT count(*) FROM t"),
        vec![vec![Value::Integer(50)]]
    );
}

/// A transaction that ran on top of an earlier one which was then refused (never appended)
/// is skipped on every replica, and the leader undoes both: the replicas stay identical and
/// hold only what was committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependent_of_a_refused_transaction_is_skipped_everywhere() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[("CREATE TABLE t (id INTEGER PRIMARY KEY)", vec![])],
    )
    .await
    .unwrap();
    write(&c.leader, &p, &[("INSERT INTO t VALUES (1)", vec![])])
        .await
        .unwrap();
    *log.reject_next_after.lock() = Some(std::time::Duration::from_millis(300));
    let leader = c.leader.clone();
    let log2 = log.clone();
    let a = tokio::spawn(async move {
        write(
            &leader,
            &FakeProposer(log2),
            &[("INSERT INTO t VALUES (2)", vec![])],
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // B sees A's uncommitted row and builds on it.
    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    let seen = tx.execute("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(seen.rows, vec![vec![Value::Integer(2)]]);
    tx.execute("INSERT INTO t SELECT max(id) + 1 FROM t", &[])
        .await
        .unwrap();
    let _ = tx.commit(&p).await;
    let err = a.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Aborted(_)), "{err}");
    // Give the leader's undo a moment (it runs after the refusal).
    for _ in 0..50 {
        if c.leader.speculative_in_flight() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        rows(&c.leader, "SELECT id FROM t"),
        vec![vec![Value::Integer(1)]]
    );
    assert_eq!(
        rows(&c.follower, "SELECT id FROM t"),
        vec![vec![Value::Integer(1)]]
    );
    assert_same(&c).await;
    // The leader carries on with a new chain.
    write(&c.leader, &p, &[("INSERT INTO t VALUES (10)", vec![])])
        .await
        .unwrap();
    assert_eq!(
        rows(&c.follower, "SELECT count(*) FROM t"),
        vec![vec![Value::Integer(2)]]
    );
    assert_same(&c).await;
}

/// A schema statement that waits for an earlier speculative transaction to commit gives up
/// as soon as that transaction is refused, instead of holding the writer that undoing it
/// needs. Before, both waited for each other until the commit timeout, and every write of
/// the node with them (a drill saw a 5 s stall when a leadership transfer refused a write
/// while a CREATE TABLE waited).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_statement_gives_way_to_the_undo_of_a_refused_transaction() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    table_with_one_row(&c.leader, &p, "one").await;
    *log.reject_next_after.lock() = Some(std::time::Duration::from_millis(300));
    let leader = c.leader.clone();
    let log2 = log.clone();
    let a = tokio::spawn(async move {
        write(
            &leader,
            &FakeProposer(log2),
            &[("INSERT INTO t VALUES (2, 'two')", vec![])],
        )
        .await
    });
    // A is proposed and waits; B takes the writer and its schema statement waits for A.
    for _ in 0..500 {
        if c.leader.speculative_in_flight() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(c.leader.speculative_in_flight(), 1, "A was not proposed");
    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    let err = tx
        .execute("CREATE TABLE u (x INTEGER)", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Aborted(m) if m.contains("while this schema statement waited")),
        "the schema statement must give up because A failed, not time out: {err}"
    );
    drop(tx);
    let err = a.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Aborted(_)), "{err}");
    // Nothing of A or B is left, and the statement runs once asked again.
    write(&c.leader, &p, &[("CREATE TABLE u (x INTEGER)", vec![])])
        .await
        .unwrap();
    assert_eq!(
        rows(&c.leader, "SELECT id FROM t"),
        vec![vec![Value::Integer(1)]]
    );
    assert_eq!(
        rows(&c.follower, "SELECT count(*) FROM u"),
        vec![vec![Value::Integer(0)]]
    );
    assert_same(&c).await;
}

/// Each statement of a write transaction reports what it did to rows itself: inserted,
/// updated (given another value), unchanged (matched, every value as it was) and deleted;
/// the rows a trigger or a foreign key cascade changes are not the statement's. An upsert
/// that updates counts as an UPDATE, a REPLACE that replaces as a delete and an insert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_report_their_own_row_changes() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    for ddl in [
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b TEXT COLLATE NOCASE)",
        "CREATE TABLE audit (n INTEGER PRIMARY KEY, id INT)",
        "CREATE TRIGGER t_audit AFTER UPDATE ON t BEGIN INSERT INTO audit (id) VALUES (NEW.id); END",
        "CREATE TABLE ch (id INTEGER PRIMARY KEY, tid INT REFERENCES t (id) ON DELETE CASCADE)",
        // Generated columns, one of them before the ordinary ones (a VIRTUAL column cannot
        // be read in the pre-update hook).
        "CREATE TABLE g (id INTEGER PRIMARY KEY, v INT AS (a * 2) VIRTUAL, a INT, \
         s INT AS (a + 1) STORED)",
        "CREATE TABLE n (a INT)",
    ] {
        tx.execute(ddl, &[]).await.unwrap();
    }
    let counts = |inserted, updated, unchanged, deleted| {
        Some(RowCounts {
            inserted,
            updated,
            unchanged,
            deleted,
        })
    };
    for (sql, want) in [
        (
            "INSERT INTO t VALUES (1, 1, 'x'), (2, 2, 'y'), (3, 3, 'z')",
            counts(3, 0, 0, 0),
        ),
        ("INSERT INTO ch VALUES (1, 1), (2, 1)", counts(2, 0, 0, 0)),
        ("UPDATE t SET a = 2", counts(0, 2, 1, 0)),
        ("UPDATE t SET a = '2' WHERE id = 1", counts(0, 0, 1, 0)),
        ("UPDATE t SET b = 'X' WHERE id = 1", counts(0, 1, 0, 0)),
        ("UPDATE t SET a = 9 WHERE id = 99", counts(0, 0, 0, 0)),
        (
            "INSERT INTO t VALUES (1, 2, 'X'), (2, 5, 'y'), (4, 4, 'w') \
             ON CONFLICT DO UPDATE SET a = excluded.a",
            counts(1, 1, 1, 0),
        ),
        (
            "REPLACE INTO t VALUES (4, 4, 'r'), (5, 5, 'r')",
            counts(1 + 1, 0, 0, 1),
        ),
        ("DELETE FROM t WHERE id = 1", counts(0, 0, 0, 1)),
        ("INSERT INTO g (id, a) VALUES (1, 1)", counts(1, 0, 0, 0)),
        ("UPDATE g SET a = 1", counts(0, 0, 1, 0)),
        ("UPDATE g SET a = 2", counts(0, 1, 0, 0)),
        // Without a PRIMARY KEY the rowid is part of the row.
        ("INSERT INTO n VALUES (1)", counts(1, 0, 0, 0)),
        ("UPDATE n SET a = 1", counts(0, 0, 1, 0)),
        ("UPDATE n SET rowid = rowid + 100", counts(0, 1, 0, 0)),
    ] {
        let out = tx.execute(sql, &[]).await.unwrap();
        assert_eq!(out.counts, want, "{sql}");
    }
    // The trigger and the cascade did run, uncounted.
    let children = tx.execute("SELECT COUNT(*) FROM ch", &[]).await.unwrap();
    assert_eq!(children.rows[0][0], Value::Integer(0));
    let audited = tx.execute("SELECT COUNT(*) FROM audit", &[]).await.unwrap();
    assert!(matches!(audited.rows[0][0], Value::Integer(n) if n > 3));
    tx.commit(&p).await.unwrap();
}

/// Rows affected are the statement's own: DDL after an INSERT reports 0, not the INSERT's
/// count (SQLite's changes() keeps the last DML statement's count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_reports_no_rows_affected() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[])
        .await
        .unwrap();
    let ins = tx
        .execute("INSERT INTO t VALUES (1), (2), (3)", &[])
        .await
        .unwrap();
    assert_eq!(ins.rows_affected, 3);
    let ddl = tx
        .execute("CREATE INDEX t_id ON t (id)", &[])
        .await
        .unwrap();
    assert_eq!(ddl.rows_affected, 0);
    let none = tx
        .execute("UPDATE t SET id = id WHERE id > 10", &[])
        .await
        .unwrap();
    assert_eq!(none.rows_affected, 0);
    tx.commit(&p).await.unwrap();
}

/// Runs each statement list as its own transaction on the leader with the log stalled, so
/// that every one is proposed (and recorded) but none is applied anywhere; returns the
/// recorded entries, in log order.
async fn record_uncommitted(
    c: &Cluster,
    log: &Arc<FakeLog>,
    txs: &[&[&str]],
) -> Vec<quorate_consensus::Entry> {
    let p = FakeProposer(log.clone());
    log.stall.store(true, Ordering::SeqCst);
    let first = log.log.lock().len();
    for stmts in txs {
        let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
        for sql in *stmts {
            tx.execute(sql, &[]).await.unwrap();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_millis(20), tx.commit(&p)).await;
    }
    log.stall.store(false, Ordering::SeqCst);
    log.log.lock()[first..].to_vec()
}

/// Entries applied on a follower in one batch (their changesets are combined into one)
/// leave it exactly where applying them one at a time would: rows changed by several
/// entries, and a UNIQUE value handed from one row to another across entries (combined,
/// row 1 goes from a to b while row 2 still holds b: SQLite defers the change that hits
/// the constraint and retries it after the table's other changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_entries_applies_like_its_entries_in_order() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[
            (
                "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, n INT)",
                vec![],
            ),
            (
                "CREATE TABLE k (name TEXT NOT NULL PRIMARY KEY, n INT)",
                vec![],
            ),
            ("INSERT INTO u VALUES (1, 'a', 0), (2, 'b', 0)", vec![]),
            ("INSERT INTO k VALUES ('x', 0)", vec![]),
        ],
    )
    .await
    .unwrap();
    assert_same(&c).await;

    let batches: [&[&[&str]]; 2] = [
        // Same rows, several entries: combined.
        &[
            &[
                "UPDATE u SET n = n + 1 WHERE id = 1",
                "UPDATE k SET n = n + 1",
            ],
            &[
                "UPDATE u SET n = n + 1 WHERE id = 1",
                "INSERT INTO k VALUES ('y', 5)",
            ],
            &["DELETE FROM k WHERE name = 'y'", "UPDATE k SET n = n + 1"],
        ],
        // Emails swapped through a temporary value, one step per entry.
        &[
            &["UPDATE u SET email = 'tmp' WHERE id = 1"],
            &["UPDATE u SET email = 'a' WHERE id = 2"],
            &["UPDATE u SET email = 'b' WHERE id = 1"],
        ],
    ];
    for txs in batches {
        let entries = record_uncommitted(&c, &log, txs).await;
        assert_eq!(entries.len(), txs.len());
        apply_batch(&mut c.follower.state_machine(), entries.clone())
            .await
            .unwrap();
        // The leader's own state holds them speculatively: identical data.
        assert_same(&c).await;
        apply_batch(&mut c.leader.state_machine(), entries)
            .await
            .unwrap();
    }
    assert_eq!(
        rows(&c.follower, "SELECT id, email, n FROM u ORDER BY id"),
        vec![
            vec![
                Value::Integer(1),
                Value::Text("b".into()),
                Value::Integer(2)
            ],
            vec![
                Value::Integer(2),
                Value::Text("a".into()),
                Value::Integer(0)
            ],
        ]
    );
    assert_eq!(
        rows(&c.follower, "SELECT name, n FROM k"),
        vec![vec![Value::Text("x".into()), Value::Integer(2)]]
    );
    assert_same(&c).await;
}

/// A batch in which one entry's before-image does not match the follower is refused, and
/// the error names that entry's index, as when entries are applied one at a time (the
/// combined changeset fails, is undone, and the entries are applied one by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn divergence_in_a_batch_names_the_entry() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[
            ("CREATE TABLE t (id INTEGER PRIMARY KEY, v)", vec![]),
            ("INSERT INTO t VALUES (1, 'a'), (2, 'a')", vec![]),
        ],
    )
    .await
    .unwrap();
    {
        let conn = rusqlite::Connection::open(c.follower.db_path()).unwrap();
        conn.execute("UPDATE t SET v = 'tampered' WHERE id = 2", [])
            .unwrap();
    }
    let entries = record_uncommitted(
        &c,
        &log,
        &[
            &["UPDATE t SET v = 'b' WHERE id = 1"],
            &["UPDATE t SET v = 'b' WHERE id = 2"],
            &["UPDATE t SET v = 'c' WHERE id = 1"],
        ],
    )
    .await;
    let bad = entries[1].log_id.index;
    let err = apply_batch(&mut c.follower.state_machine(), entries)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("diverged"), "{msg}");
    assert!(
        msg.contains(&bad.to_string()),
        "index {bad} not named: {msg}"
    );
    // Nothing of the batch was applied.
    assert_eq!(
        rows(&c.follower, "SELECT v FROM t ORDER BY id"),
        vec![
            vec![Value::Text("a".into())],
            vec![Value::Text("tampered".into())]
        ]
    );
}

/// A statement whose conflict clause (`ON CONFLICT ROLLBACK` in the table) makes SQLite roll
/// back the whole transaction ends it with a retryable error: no later statement of it runs
/// outside a transaction, nothing of it is committed anywhere, and the next transaction
/// works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_rolls_back_the_transaction_ends_it() {
    let c = Cluster::new();
    let p = FakeProposer(FakeLog::new(&c));
    let create = "CREATE TABLE u (id INTEGER PRIMARY KEY, k TEXT UNIQUE ON CONFLICT ROLLBACK)";
    write(&c.leader, &p, &[(create, vec![])]).await.unwrap();
    write(&c.leader, &p, &[("INSERT INTO u VALUES (1, 'a')", vec![])])
        .await
        .unwrap();

    let mut tx = c.leader.begin_write(TxOptions::default()).await.unwrap();
    tx.execute("INSERT INTO u VALUES (2, 'b')", &[])
        .await
        .unwrap();
    let err = tx
        .execute("INSERT INTO u VALUES (3, 'a')", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Aborted(_)), "{err}");
    assert!(err.is_retryable(), "{err}");
    let err = tx
        .execute("INSERT INTO u VALUES (4, 'd')", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Aborted(_)), "{err}");
    drop(tx);

    write(&c.leader, &p, &[("INSERT INTO u VALUES (5, 'e')", vec![])])
        .await
        .unwrap();
    for store in [&c.leader, &c.follower] {
        assert_eq!(
            rows(store, "SELECT id FROM u ORDER BY id"),
            vec![vec![Value::Integer(1)], vec![Value::Integer(5)]]
        );
    }
    assert_same(&c).await;
}

/// With a thread per MySQL connection, a commit runs on a current-thread runtime of its
/// own. A commit refused there, after its entry was appended or before, must undo the
/// speculative transactions in place: `block_in_place` panics on such a runtime, and a
/// panic half way through the undo (entries taken, effects still in SQLite) left a replica
/// diverged (torture seed 1, stop 24). Both undos leave nothing behind, the replicas agree,
/// and the leader writes on.
#[tokio::test(flavor = "current_thread")]
async fn refused_commits_undo_on_a_current_thread_runtime() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    write(
        &c.leader,
        &p,
        &[("CREATE TABLE t (id INTEGER PRIMARY KEY)", vec![])],
    )
    .await
    .unwrap();

    // The insert fails as aborted and leaves nothing behind on the leader.
    async fn refused_and_undone(c: &Cluster, p: &FakeProposer, sql: &str) {
        let err = write(&c.leader, p, &[(sql, vec![])]).await.unwrap_err();
        assert!(matches!(err, StoreError::Aborted(_)), "{err}");
        assert_eq!(c.leader.speculative_in_flight(), 0);
        assert!(rows(&c.leader, "SELECT id FROM t").is_empty());
    }

    // Refused after it was appended: every speculative transaction is undone.
    *log.reject_next_after.lock() = Some(std::time::Duration::from_millis(10));
    refused_and_undone(&c, &p, "INSERT INTO t VALUES (1)").await;

    // Refused before it was appended: its own effects are taken out.
    log.refuse.store(true, Ordering::SeqCst);
    refused_and_undone(&c, &p, "INSERT INTO t VALUES (2)").await;

    log.refuse.store(false, Ordering::SeqCst);
    write(&c.leader, &p, &[("INSERT INTO t VALUES (3)", vec![])])
        .await
        .unwrap();
    assert_eq!(
        rows(&c.follower, "SELECT id FROM t"),
        vec![vec![Value::Integer(3)]]
    );
    assert_same(&c).await;
}

/// An autocommit `DELETE ... WHERE <rowid column> = <integer>` that deleted nothing read one
/// thing, the absence of that row: it waits only for the speculative transactions that
/// touched that row (by its old or new rowid), not for every one before it. Every other
/// statement that changed nothing (another shape, a value SQLite would convert, a key that
/// is not the rowid, more than one statement) still waits for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_point_delete_waits_only_for_writes_to_its_row() {
    let c = Cluster::new();
    let log = FakeLog::new(&c);
    let p = FakeProposer(log.clone());
    table_with_one_row(&c.leader, &p, "one").await;
    for sql in [
        "INSERT INTO t VALUES (4, 'four')",
        "CREATE TABLE t2 (id INTEGER PRIMARY KEY, v TEXT)",
        "CREATE TABLE u (id INT NOT NULL PRIMARY KEY, v TEXT)",
        "CREATE TABLE d (id INTEGER NOT NULL PRIMARY KEY DESC, v TEXT)",
        "CREATE TABLE w (id INTEGER NOT NULL PRIMARY KEY, v TEXT) WITHOUT ROWID",
    ] {
        write(&c.leader, &p, &[(sql, vec![])]).await.unwrap();
    }
    let committed_before = log.log.lock().len();
    let pending = held_writes(
        &c,
        &log,
        &[
            "DELETE FROM t WHERE id = 1",
            "UPDATE t SET id = 5 WHERE id = 4",
        ],
    )
    .await;
    let committed = c.leader.frontier().committed_seq;
    let seen = |outcome: CommitOutcome| match outcome {
        CommitOutcome::ReadOnly { seen } => seen,
        other => panic!("changed nothing, yet {other:?}"),
    };
    let int = Value::Integer;
    // Rows the pending transactions touched: wait for them.
    let mut waiting = Vec::new();
    for (sql, params) in [
        ("DELETE FROM t WHERE id = 1", vec![]),
        ("DELETE FROM t WHERE id = ?1", vec![int(1)]),
        ("delete from T where ID = 4;", vec![]),
    ] {
        let s = seen(write(&c.leader, &p, &[(sql, params)]).await.unwrap());
        assert!(s.visible_seq > committed, "{sql} must wait: {s:?}");
        waiting.push(s);
    }
    // Rows nobody touched, of rowid tables: nothing to wait for.
    for (sql, params) in [
        ("DELETE FROM t WHERE id = 2", vec![]),
        ("DELETE FROM \"t\" WHERE \"ID\" = ?", vec![int(3)]),
        ("DELETE FROM \"t\" AS \"x\" WHERE id = ?1", vec![int(6)]),
        ("DELETE FROM t2 WHERE id = 1", vec![]),
    ] {
        let s = seen(write(&c.leader, &p, &[(sql, params)]).await.unwrap());
        assert!(s.visible_seq <= committed, "{sql} need not wait: {s:?}");
    }
    // The same answers without the writer (`Store::empty_point_delete`, on a read
    // connection), which also tells a row that exists (run the DELETE as a write) from one
    // that does not.
    let probe = |sql: &str, params: Vec<Value>| {
        PointDeleteProbe::new(sql, &params).and_then(|p| c.leader.empty_point_delete(&p))
    };
    for (sql, params) in [
        ("DELETE FROM t WHERE id = 1", vec![]),
        ("DELETE FROM t AS \"t\" WHERE id = ?1", vec![int(4)]),
    ] {
        let s = probe(sql, params).expect("no such row");
        assert!(s.visible_seq > committed, "{sql} must wait: {s:?}");
        waiting.push(s);
    }
    for (sql, params) in [
        ("DELETE FROM t WHERE id = 2", vec![]),
        ("DELETE FROM t2 WHERE id = ?1", vec![int(1)]),
    ] {
        let s = probe(sql, params).expect("no such row");
        assert!(s.visible_seq <= committed, "{sql} need not wait: {s:?}");
    }
    for (sql, params) in [
        ("DELETE FROM t WHERE id = 5", vec![]),
        ("DELETE FROM t WHERE id = ?1", vec![Value::Text("2".into())]),
        ("DELETE FROM t WHERE id = ?1", vec![int(2), int(3)]),
        ("DELETE FROM t WHERE v = 'none'", vec![]),
        ("DELETE FROM u WHERE id = 1", vec![]),
        ("DELETE FROM d WHERE id = 1", vec![]),
        ("DELETE FROM w WHERE id = 1", vec![]),
        ("DELETE FROM nosuch WHERE id = 1", vec![]),
        ("DELETE FROM _quorate_meta WHERE id = 1", vec![]),
    ] {
        assert_eq!(probe(sql, params), None, "{sql}: run it as a write");
    }
    // Everything else that changed nothing waits for every transaction before it.
    for stmts in [
        vec![("DELETE FROM t WHERE id = ?1", vec![Value::Text("2".into())])],
        vec![("DELETE FROM t WHERE v = 'none'", vec![])],
        vec![("DELETE FROM t WHERE id = 2 OR id = 3", vec![])],
        vec![("DELETE FROM u WHERE id = 1", vec![])],
        vec![("DELETE FROM d WHERE id = 1", vec![])],
        vec![("DELETE FROM w WHERE id = 1", vec![])],
        vec![
            ("DELETE FROM t WHERE id = 2", vec![]),
            ("SELECT count(*) FROM t", vec![]),
        ],
    ] {
        let s = seen(write(&c.leader, &p, &stmts).await.unwrap());
        assert!(s.visible_seq > committed, "{stmts:?} must wait: {s:?}");
        waiting.push(s);
    }
    // The pending transactions commit: what waited may answer.
    commit_held(&log, committed_before, 2).await;
    for p in pending {
        let outcome = p.await.unwrap().unwrap();
        assert!(
            matches!(outcome, CommitOutcome::Committed { .. }),
            "{outcome:?}"
        );
    }
    for s in waiting {
        c.leader.wait_visible_committed(s).await.unwrap();
    }
    assert_same(&c).await;
}
