//! The workloads: what each client does, and how each call is recorded.
//!
//! - registers: reads, blind writes, compare-and-set and deletes on a few keys at a time;
//!   every written value is unique, so a read names the write it saw. The key is the
//!   table's rowid, so a delete that finds nothing takes the leader's read path for it.
//!   Keys rotate: each gets about `OPS_PER_KEY` operations, then clients move on to fresh
//!   keys (Jepsen's `independent` generator), which keeps the linearizability search per
//!   key small.
//!   Over MySQL, half of the compare-and-sets are interactive transactions (read the
//!   register, update it if it held the expected value, commit), so the linearizability
//!   checker also judges interactive transactions and their fail / unknown outcomes.
//! - bank: transfers between `ACCOUNTS` accounts in one transaction that first reads every
//!   balance, then debits (only if the money is there) and credits, then reads every
//!   balance again; reads of all balances, linearizable or stale (on the client's own node).
//!   Over MySQL the transfer is an interactive transaction: the client decides from what it
//!   read and writes the new balances it computed (`SET balance = ?`), so a transaction
//!   that is not serializable loses or creates money; linearizable reads of all balances
//!   are a transaction of their own (half of them declared READ ONLY). Over HTTP the
//!   transfer is one atomic batch: the condition is evaluated in SQL (`balance >= ?`,
//!   `changes() = 1`), not by the client.
//! - set: adds of unique values (over MySQL, half of them in an explicit transaction);
//!   reads of the recent part of the set during the run, and reads of the whole set at the
//!   end.
//!
//! The tables are created through MySQL, in database [`DATABASE`]; the HTTP API speaks
//! SQLite to the same file, where they are named `"torture.bank"` and so on
//! (docs/MYSQL-COMPAT.md, "Databases and names"). [`Sql`] gives each statement in both
//! dialects.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::client::{
    Consistency, Interactive, Outcome, Protocol, SqlClient, Stmt, StmtResult, interactive,
};
use crate::history::{Kind, Op, Recorder, Ret};

/// Accounts in the bank.
pub const ACCOUNTS: u64 = 5;
/// Starting balance of every account.
pub const INITIAL_BALANCE: i64 = 100;
/// Register keys in use at the same time.
pub const KEYS_AT_ONCE: u64 = 3;
/// Operations per register key before clients move on (bounds the checker's search).
pub const OPS_PER_KEY: u64 = 60;
/// A set read during the run covers the most recent this-many values.
pub const SET_READ_WINDOW: i64 = 2000;
/// Largest amount one transfer moves.
pub const TRANSFER_MAX: i64 = 20;

/// A workload that can be switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Registers,
    Bank,
    Set,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Registers, Workload::Bank, Workload::Set];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Registers => "registers",
            Workload::Bank => "bank",
            Workload::Set => "set",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }
}

/// The MySQL database that holds the workloads' tables.
pub const DATABASE: &str = "torture";

/// The schema every workload needs, as MySQL statements (created once, through MySQL,
/// before traffic starts). Idempotent, so that creating it can be retried.
pub fn schema() -> Vec<Stmt> {
    let mut s = vec![
        Stmt::new(&format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"), vec![]),
        Stmt::new(
            &format!(
                "CREATE TABLE IF NOT EXISTS {DATABASE}.registers (k INTEGER NOT NULL PRIMARY KEY, v BIGINT NOT NULL)"
            ),
            vec![],
        ),
        Stmt::new(
            &format!(
                "CREATE TABLE IF NOT EXISTS {DATABASE}.bank (id BIGINT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL)"
            ),
            vec![],
        ),
        // No key: a value applied twice shows up twice.
        Stmt::new(
            &format!("CREATE TABLE IF NOT EXISTS {DATABASE}.set_items (v BIGINT NOT NULL)"),
            vec![],
        ),
    ];
    for a in 1..=ACCOUNTS {
        s.push(Stmt::new(
            &format!("INSERT IGNORE INTO {DATABASE}.bank (id, balance) VALUES (?, ?)"),
            vec![json!(a), json!(INITIAL_BALANCE)],
        ));
    }
    s
}

/// The workloads' statements in the dialect of one protocol.
#[derive(Debug, Clone, Copy)]
pub struct Sql(pub Protocol);

impl Sql {
    /// A table's name: `bank` over MySQL (the connection's database is [`DATABASE`]),
    /// `"torture.bank"` in the SQLite the HTTP API speaks.
    pub fn table(self, name: &str) -> String {
        match self.0 {
            Protocol::Mysql => name.to_string(),
            Protocol::Http => format!("\"{DATABASE}.{name}\""),
        }
    }

    pub fn register_read(self) -> String {
        format!("SELECT v FROM {} WHERE k = ?", self.table("registers"))
    }

    /// Insert or overwrite register `?1` with `?2`.
    pub fn register_write(self) -> String {
        let t = self.table("registers");
        match self.0 {
            Protocol::Mysql => format!(
                "INSERT INTO {t} (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)"
            ),
            Protocol::Http => format!(
                "INSERT INTO {t} (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
            ),
        }
    }

    /// Set register `?2` to `?1` if it holds `?3`.
    pub fn register_cas(self) -> String {
        format!(
            "UPDATE {} SET v = ? WHERE k = ? AND v = ?",
            self.table("registers")
        )
    }

    /// Delete register `?1`. `k` is the table's rowid (INTEGER PRIMARY KEY): when the row
    /// does not exist, the leader answers from a read connection (`Store::empty_point_delete`),
    /// a path the checker then judges like a read.
    pub fn register_delete(self) -> String {
        format!("DELETE FROM {} WHERE k = ?", self.table("registers"))
    }

    /// Set register `?2` to `?1`.
    pub fn register_set(self) -> String {
        format!("UPDATE {} SET v = ? WHERE k = ?", self.table("registers"))
    }

    pub fn balances(self) -> String {
        format!("SELECT id, balance FROM {} ORDER BY id", self.table("bank"))
    }

    /// Set account `?2`'s balance to `?1`.
    pub fn set_balance(self) -> String {
        format!("UPDATE {} SET balance = ? WHERE id = ?", self.table("bank"))
    }

    pub fn set_add(self) -> String {
        format!("INSERT INTO {} (v) VALUES (?)", self.table("set_items"))
    }

    pub fn set_read(self) -> String {
        format!("SELECT v FROM {} WHERE v >= ?", self.table("set_items"))
    }
}

/// State shared by every client of a run.
pub struct Shared {
    pub recorder: Arc<Recorder>,
    pub workloads: Vec<Workload>,
    pub stop: AtomicBool,
    /// Pause between two operations of one client (a random part is added).
    pub op_delay: Duration,
    next_value: AtomicI64,
    next_process: AtomicU64,
    register_ops: AtomicU64,
}

impl Shared {
    pub fn new(recorder: Arc<Recorder>, workloads: Vec<Workload>, op_delay: Duration) -> Shared {
        Shared {
            recorder,
            workloads,
            stop: AtomicBool::new(false),
            op_delay,
            next_value: AtomicI64::new(1),
            next_process: AtomicU64::new(0),
            register_ops: AtomicU64::new(0),
        }
    }

    /// A fresh, unique value (register writes and set adds).
    fn value(&self) -> i64 {
        self.next_value.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh process id.
    pub fn process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }
}

/// One client: a thread that issues operations until told to stop.
pub struct Worker {
    shared: Arc<Shared>,
    client: Box<dyn SqlClient>,
    rng: StdRng,
    process: u64,
    /// Last value this client saw in each register (the `from` of its next cas).
    seen: HashMap<u64, i64>,
}

/// The outcome of one operation, to be recorded.
type Done = (Kind, Option<Ret>, Option<String>);

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
}

impl Worker {
    pub fn new(shared: Arc<Shared>, client: Box<dyn SqlClient>, seed: u64) -> Worker {
        let process = shared.process();
        Worker {
            shared,
            client,
            rng: StdRng::seed_from_u64(seed),
            process,
            seen: HashMap::new(),
        }
    }

    /// Runs until `shared.stop`.
    pub fn run(mut self) {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let w = self.shared.workloads[self.rng.gen_range(0..self.shared.workloads.len())];
            match w {
                Workload::Registers => self.register_op(),
                Workload::Bank => self.bank_op(),
                Workload::Set => self.set_op(),
            }
            let base = self.shared.op_delay.as_millis() as u64;
            if base > 0 {
                let jitter = self.rng.gen_range(0..=base);
                std::thread::sleep(Duration::from_millis(base / 2 + jitter));
            }
        }
    }

    /// Records `op`, runs `f`, records the outcome; a new process after an unknown one.
    fn perform(&mut self, op: Op, f: impl FnOnce(&mut Self) -> Done) {
        let rec = self.shared.recorder.clone();
        let inv = rec.invoke(self.process, self.client.node(), self.client.protocol(), op);
        let (kind, ret, err) = f(self);
        rec.complete(inv, kind, ret, err);
        if kind == Kind::Info {
            self.process = self.shared.process();
        }
    }

    fn sql(&self) -> Sql {
        Sql(self.client.protocol())
    }

    fn register_op(&mut self) {
        let n = self.shared.register_ops.fetch_add(1, Ordering::Relaxed);
        let generation = n / (KEYS_AT_ONCE * OPS_PER_KEY);
        let key = generation * KEYS_AT_ONCE + self.rng.gen_range(0..KEYS_AT_ONCE) + 1;
        let roll: u32 = self.rng.gen_range(0..100);
        if roll < 40 {
            self.perform(Op::Read { key }, |w| {
                match w.client.query(
                    &w.sql().register_read(),
                    &[json!(key)],
                    Consistency::Linearizable,
                ) {
                    Outcome::Ok(rows) => {
                        let value = rows.first().and_then(|r| r.first()).and_then(int);
                        if let Some(v) = value {
                            w.seen.insert(key, v);
                        }
                        (Kind::Ok, Some(Ret::Value { value }), None)
                    }
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            });
        } else if roll < 50 {
            self.perform(Op::Delete { key }, |w| {
                let r = w
                    .client
                    .transaction(&[Stmt::new(&w.sql().register_delete(), vec![json!(key)])]);
                match r {
                    Outcome::Ok(res) => {
                        w.seen.remove(&key);
                        let existed = res.first().map(|r| r.rows_affected).unwrap_or(0) == 1;
                        (Kind::Ok, Some(Ret::Deleted { existed }), None)
                    }
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            });
        } else if roll < 75 || !self.seen.contains_key(&key) {
            let value = self.shared.value();
            self.perform(Op::Write { key, value }, |w| {
                let r = w.client.transaction(&[Stmt::new(
                    &w.sql().register_write(),
                    vec![json!(key), json!(value)],
                )]);
                match r {
                    Outcome::Ok(_) => {
                        w.seen.insert(key, value);
                        (Kind::Ok, Some(Ret::Done), None)
                    }
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            });
        } else {
            let from = self.seen[&key];
            let to = self.shared.value();
            let in_transaction = self.rng.gen_bool(0.5);
            self.perform(Op::Cas { key, from, to }, |w| {
                let sql = w.sql();
                let r = match w.client.interactive() {
                    Some(tx) if in_transaction => interactive(tx, false, |tx| {
                        let rows =
                            tx.execute(&Stmt::new(&sql.register_read(), vec![json!(key)]))?;
                        let current = rows.rows.first().and_then(|r| r.first()).and_then(int);
                        if current != Some(from) {
                            return Ok(0);
                        }
                        let set = tx.execute(&Stmt::new(
                            &sql.register_set(),
                            vec![json!(to), json!(key)],
                        ))?;
                        Ok(set.rows_affected)
                    }),
                    _ => match w.client.transaction(&[Stmt::new(
                        &sql.register_cas(),
                        vec![json!(to), json!(key), json!(from)],
                    )]) {
                        Outcome::Ok(res) => {
                            Outcome::Ok(res.first().map(|r| r.rows_affected).unwrap_or(0))
                        }
                        Outcome::Fail(e) => Outcome::Fail(e),
                        Outcome::Unknown(e) => Outcome::Unknown(e),
                    },
                };
                match r {
                    Outcome::Ok(rows_affected) => {
                        let swapped = rows_affected == 1;
                        if swapped {
                            w.seen.insert(key, to);
                        } else {
                            w.seen.remove(&key);
                        }
                        (Kind::Ok, Some(Ret::Swapped { swapped }), None)
                    }
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            });
        }
    }

    fn bank_op(&mut self) {
        let roll: u32 = self.rng.gen_range(0..100);
        if roll < 50 {
            let from = self.rng.gen_range(1..=ACCOUNTS);
            let mut to = self.rng.gen_range(1..ACCOUNTS);
            if to >= from {
                to += 1;
            }
            let amount = self.rng.gen_range(1..=TRANSFER_MAX);
            self.perform(Op::Transfer { from, to, amount }, |w| {
                let sql = w.sql();
                let r = match w.client.interactive() {
                    Some(tx) => interactive(tx, false, |tx| {
                        transfer_interactive(tx, sql, from, to, amount)
                    }),
                    None => transfer_batch(w.client.as_mut(), from, to, amount),
                };
                match r {
                    Outcome::Ok(ret) => (Kind::Ok, Some(ret), None),
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            });
        } else {
            let consistency = if roll < 80 {
                Consistency::Linearizable
            } else {
                Consistency::Stale
            };
            self.bank_read(consistency);
        }
    }

    /// Reads every balance. Over MySQL a linearizable read is a transaction of its own
    /// (declared READ ONLY or not, at random); a stale one is an autocommit read.
    pub fn bank_read(&mut self, consistency: Consistency) {
        let read_only = self.rng.gen_bool(0.5);
        self.perform(
            Op::BankRead {
                consistency: consistency.as_str().into(),
            },
            |w| {
                let sql = w.sql().balances();
                let r = match w.client.interactive() {
                    Some(tx) if consistency == Consistency::Linearizable => {
                        interactive(tx, read_only, |tx| {
                            Ok(tx.execute(&Stmt::new(&sql, vec![]))?.rows)
                        })
                    }
                    _ => w.client.query(&sql, &[], consistency),
                };
                match r {
                    Outcome::Ok(rows) => (
                        Kind::Ok,
                        Some(Ret::Balances {
                            balances: balances(&rows),
                        }),
                        None,
                    ),
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            },
        );
    }

    fn set_op(&mut self) {
        if self.rng.gen_range(0..100) < 10 {
            let newest = self.shared.next_value.load(Ordering::Relaxed);
            self.set_read((newest - SET_READ_WINDOW).max(1));
        } else {
            let value = self.shared.value();
            let in_transaction = self.rng.gen_bool(0.5);
            self.perform(Op::Add { value }, |w| {
                let add = Stmt::new(&w.sql().set_add(), vec![json!(value)]);
                let r = match w.client.interactive() {
                    Some(tx) if in_transaction => {
                        interactive(tx, false, |tx| tx.execute(&add).map(|_| ()))
                    }
                    _ => match w.client.transaction(std::slice::from_ref(&add)) {
                        Outcome::Ok(_) => Outcome::Ok(()),
                        Outcome::Fail(e) => Outcome::Fail(e),
                        Outcome::Unknown(e) => Outcome::Unknown(e),
                    },
                };
                match r {
                    Outcome::Ok(()) => (Kind::Ok, Some(Ret::Done), None),
                    Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                    Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
                }
            });
        }
    }

    /// Reads the set's elements `>= from` (0: the whole set), linearizably.
    pub fn set_read(&mut self, from: i64) {
        self.perform(Op::SetRead { from }, |w| {
            match w.client.query(
                &w.sql().set_read(),
                &[json!(from)],
                Consistency::Linearizable,
            ) {
                Outcome::Ok(rows) => (
                    Kind::Ok,
                    Some(Ret::Elements {
                        elements: rows
                            .iter()
                            .filter_map(|r| r.first().and_then(int))
                            .collect(),
                    }),
                    None,
                ),
                Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
            }
        });
    }
}

/// A transfer as one atomic batch (HTTP): the conditions are evaluated in SQL.
fn transfer_batch(client: &mut dyn SqlClient, from: u64, to: u64, amount: i64) -> Outcome<Ret> {
    let sql = Sql(client.protocol());
    let bank = sql.table("bank");
    let r = client.transaction(&[
        Stmt::new(&sql.balances(), vec![]),
        Stmt::new(
            &format!("UPDATE {bank} SET balance = balance - ? WHERE id = ? AND balance >= ?"),
            vec![json!(amount), json!(from), json!(amount)],
        ),
        Stmt::new(
            &format!("UPDATE {bank} SET balance = balance + ? WHERE id = ? AND changes() = 1"),
            vec![json!(amount), json!(to)],
        ),
        Stmt::new(&sql.balances(), vec![]),
    ]);
    match r {
        Outcome::Ok(res) => transferred(&res),
        Outcome::Fail(e) => Outcome::Fail(e),
        Outcome::Unknown(e) => Outcome::Unknown(e),
    }
}

/// What a batch transfer returned: (first read, debit, credit, last read).
fn transferred(res: &[StmtResult]) -> Outcome<Ret> {
    let [first, debit, credit, last] = res else {
        // It committed (the batch is atomic and was answered), but its answer is garbled.
        return Outcome::Unknown(format!("{} results for 4 statements", res.len()));
    };
    let rows = (debit.rows_affected, credit.rows_affected);
    Outcome::Ok(Ret::Transferred {
        moved: rows == (1, 1),
        seen: balances(&first.rows),
        rows,
        after: Some(balances(&last.rows)),
    })
}

/// A transfer as an interactive transaction (MySQL): read every balance, decide, write the
/// two new balances computed from that read, read every balance again.
pub fn transfer_interactive(
    tx: &mut dyn Interactive,
    sql: Sql,
    from: u64,
    to: u64,
    amount: i64,
) -> Result<Ret, String> {
    let seen = balances(&tx.execute(&Stmt::new(&sql.balances(), vec![]))?.rows);
    let balance = |a: u64| seen.iter().find(|b| b.0 == a).map(|b| b.1);
    let mut rows = (0, 0);
    if let (Some(f), Some(t)) = (balance(from), balance(to))
        && f >= amount
    {
        rows.0 = tx
            .execute(&Stmt::new(
                &sql.set_balance(),
                vec![json!(f - amount), json!(from)],
            ))?
            .rows_affected;
        rows.1 = tx
            .execute(&Stmt::new(
                &sql.set_balance(),
                vec![json!(t + amount), json!(to)],
            ))?
            .rows_affected;
    }
    let after = balances(&tx.execute(&Stmt::new(&sql.balances(), vec![]))?.rows);
    Ok(Ret::Transferred {
        moved: rows == (1, 1),
        seen,
        rows,
        after: Some(after),
    })
}

fn balances(rows: &[Vec<Value>]) -> Vec<(u64, i64)> {
    rows.iter()
        .filter_map(|r| Some((r.first()?.as_u64()?, r.get(1)?.as_i64()?)))
        .collect()
}
