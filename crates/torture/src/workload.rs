//! The workloads: what each client does, and how each call is recorded.
//!
//! - registers: reads, blind writes and compare-and-set on a few keys at a time; every
//!   written value is unique, so a read names the write it saw. Keys rotate: each gets
//!   about `OPS_PER_KEY` operations, then clients move on to fresh keys (Jepsen's
//!   `independent` generator), which keeps the linearizability search per key small.
//! - bank: transfers between `ACCOUNTS` accounts in one transaction that first reads every
//!   balance, then debits (only if the money is there) and credits (only if the debit
//!   happened); reads of all balances, linearizable or stale (on the client's own node).
//!   Over HTTP the transaction is one atomic batch, not an interactive transaction: the
//!   condition is evaluated in SQL (`balance >= ?`, `changes() = 1`), not by the client.
//! - set: adds of unique values; reads of the recent part of the set during the run, and
//!   one read of the whole set at the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::client::{Consistency, Outcome, SqlClient, Stmt};
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

/// The schema every workload needs (created once, before traffic starts).
pub fn schema() -> Vec<Stmt> {
    let mut s = vec![
        Stmt::new(
            "CREATE TABLE registers (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)",
            vec![],
        ),
        Stmt::new(
            "CREATE TABLE bank (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)",
            vec![],
        ),
        // No key: a value applied twice shows up twice.
        Stmt::new("CREATE TABLE set_items (v INTEGER NOT NULL)", vec![]),
    ];
    for a in 1..=ACCOUNTS {
        s.push(Stmt::new(
            "INSERT INTO bank (id, balance) VALUES (?, ?)",
            vec![json!(a), json!(INITIAL_BALANCE)],
        ));
    }
    s
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
        let inv = rec.invoke(self.process, self.client.node(), op);
        let (kind, ret, err) = f(self);
        rec.complete(inv, kind, ret, err);
        if kind == Kind::Info {
            self.process = self.shared.process();
        }
    }

    fn register_op(&mut self) {
        let n = self.shared.register_ops.fetch_add(1, Ordering::Relaxed);
        let generation = n / (KEYS_AT_ONCE * OPS_PER_KEY);
        let key = generation * KEYS_AT_ONCE + self.rng.gen_range(0..KEYS_AT_ONCE) + 1;
        let roll: u32 = self.rng.gen_range(0..100);
        if roll < 40 {
            self.perform(Op::Read { key }, |w| {
                match w.client.query(
                    "SELECT v FROM registers WHERE k = ?",
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
        } else if roll < 70 || !self.seen.contains_key(&key) {
            let value = self.shared.value();
            self.perform(Op::Write { key, value }, |w| {
                let r = w.client.transaction(&[Stmt::new(
                    "INSERT INTO registers (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
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
            self.perform(Op::Cas { key, from, to }, |w| {
                let r = w.client.transaction(&[Stmt::new(
                    "UPDATE registers SET v = ? WHERE k = ? AND v = ?",
                    vec![json!(to), json!(key), json!(from)],
                )]);
                match r {
                    Outcome::Ok(res) => {
                        let swapped = res.first().map(|r| r.rows_affected) == Some(1);
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
                let r = w.client.transaction(&[
                    Stmt::new("SELECT id, balance FROM bank ORDER BY id", vec![]),
                    Stmt::new(
                        "UPDATE bank SET balance = balance - ? WHERE id = ? AND balance >= ?",
                        vec![json!(amount), json!(from), json!(amount)],
                    ),
                    Stmt::new(
                        "UPDATE bank SET balance = balance + ? WHERE id = ? AND changes() = 1",
                        vec![json!(amount), json!(to)],
                    ),
                ]);
                match r {
                    Outcome::Ok(res) if res.len() == 3 => {
                        let seen = balances(&res[0].rows);
                        let rows = (res[1].rows_affected, res[2].rows_affected);
                        let moved = rows.0 == 1 && rows.1 == 1;
                        (Kind::Ok, Some(Ret::Transferred { moved, seen, rows }), None)
                    }
                    Outcome::Ok(res) => (
                        Kind::Info,
                        None,
                        Some(format!("{} results for 3 statements", res.len())),
                    ),
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

    /// Reads every balance.
    pub fn bank_read(&mut self, consistency: Consistency) {
        self.perform(
            Op::BankRead {
                consistency: consistency.as_str().into(),
            },
            |w| match w
                .client
                .query("SELECT id, balance FROM bank ORDER BY id", &[], consistency)
            {
                Outcome::Ok(rows) => (
                    Kind::Ok,
                    Some(Ret::Balances {
                        balances: balances(&rows),
                    }),
                    None,
                ),
                Outcome::Fail(e) => (Kind::Fail, None, Some(e)),
                Outcome::Unknown(e) => (Kind::Info, None, Some(e)),
            },
        );
    }

    fn set_op(&mut self) {
        if self.rng.gen_range(0..100) < 10 {
            let newest = self.shared.next_value.load(Ordering::Relaxed);
            self.set_read((newest - SET_READ_WINDOW).max(1));
        } else {
            let value = self.shared.value();
            self.perform(Op::Add { value }, |w| {
                match w.client.transaction(&[Stmt::new(
                    "INSERT INTO set_items (v) VALUES (?)",
                    vec![json!(value)],
                )]) {
                    Outcome::Ok(_) => (Kind::Ok, Some(Ret::Done), None),
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
                "SELECT v FROM set_items WHERE v >= ?",
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

fn balances(rows: &[Vec<Value>]) -> Vec<(u64, i64)> {
    rows.iter()
        .filter_map(|r| Some((r.first()?.as_u64()?, r.get(1)?.as_i64()?)))
        .collect()
}
