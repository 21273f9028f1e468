//! The recorded history: every operation as an invocation and, later, its completion
//! (`ok`, `fail` or `info`), in the one total order in which the harness saw them.
//!
//! The order is real time as the clients observed it: an event is appended under a lock
//! right after the client saw it happen (before the request for an invocation, after the
//! answer for a completion), so if operation A completed before B was invoked, A's
//! completion precedes B's invocation in the history. Checkers rely on nothing else.
//!
//! `info` means "unknown": a timeout, a dropped connection or `outcome_unknown` (MySQL
//! 1180) after a write or COMMIT was sent. The operation may or may not have taken effect,
//! now or later; a client whose operation ended `info` continues as a new process (as in
//! Jepsen), because the old one may still be "running" that operation as far as the
//! checkers are concerned.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::client::Protocol;

/// What happened to an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoke,
    /// Completed and took effect (reads: returned this value).
    Ok,
    /// Certainly did not take effect.
    Fail,
    /// Unknown: it may or may not have taken effect.
    Info,
}

/// An operation (the invocation's arguments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Op {
    /// Linearizable read of register `key`.
    Read { key: u64 },
    /// Blind write of `value` to register `key`.
    Write { key: u64, value: i64 },
    /// Compare-and-set register `key` from `from` to `to`.
    Cas { key: u64, from: i64, to: i64 },
    /// Delete register `key` (an autocommit `DELETE ... WHERE k = ?`).
    Delete { key: u64 },
    /// Move `amount` from account `from` to `to` (if `from` has enough), in one transaction
    /// that first reads every balance.
    Transfer { from: u64, to: u64, amount: i64 },
    /// Read every balance at the given consistency level.
    BankRead { consistency: String },
    /// Add `value` to the append-only set.
    Add { value: i64 },
    /// Read the set's elements `>= from` (all of them when `from` is 0).
    SetRead { from: i64 },
    /// A fault injected or healed (recorded for context; checkers ignore it).
    Nemesis { what: String },
}

/// What a completed operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum Ret {
    /// A register read: the value, or None if the key was never written.
    Value { value: Option<i64> },
    /// A blind write or an add.
    Done,
    /// A compare-and-set: whether it swapped.
    Swapped { swapped: bool },
    /// A register delete: whether the register existed (one row deleted).
    Deleted { existed: bool },
    /// A transfer: whether money moved, what the transaction read first, how many rows
    /// each of its two updates changed (they must be equal), and what it read last, after
    /// its updates (absent in histories recorded before it was read).
    Transferred {
        moved: bool,
        seen: Vec<(u64, i64)>,
        rows: (u64, u64),
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Vec<(u64, i64)>>,
    },
    /// Balances (account, balance) from a bank read.
    Balances { balances: Vec<(u64, i64)> },
    /// Elements returned by a set read (duplicates kept).
    Elements { elements: Vec<i64> },
}

/// One event of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history (0-based, dense).
    pub index: usize,
    /// The logical process (a client; a new one after each `info`).
    pub process: u64,
    pub kind: Kind,
    /// Microseconds since the run started.
    pub time_us: u64,
    /// The node the client talks to.
    pub node: usize,
    /// The protocol the client speaks (none for the nemesis; absent in histories recorded
    /// before there was a choice, which were all HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<Ret>,
    /// For `fail` / `info`: the error the client saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For completions: the index of the invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke: Option<usize>,
}

/// Process id used for nemesis events.
pub const NEMESIS: u64 = u64::MAX;

/// Appends events in real-time order. Shared by every client thread.
pub struct Recorder {
    start: Instant,
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            events: Mutex::new(Vec::new()),
        }
    }

    fn push(&self, mut e: Event) -> usize {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        e.index = events.len();
        e.time_us = self.start.elapsed().as_micros() as u64;
        events.push(e);
        events.len() - 1
    }

    /// Records an invocation; returns its index (to pass to [`Recorder::complete`]).
    pub fn invoke(&self, process: u64, node: usize, protocol: Protocol, op: Op) -> usize {
        self.push(Event {
            index: 0,
            process,
            kind: Kind::Invoke,
            time_us: 0,
            node,
            protocol: Some(protocol),
            op,
            ret: None,
            error: None,
            invoke: None,
        })
    }

    /// Records the completion of invocation `invoke`.
    pub fn complete(&self, invoke: usize, kind: Kind, ret: Option<Ret>, error: Option<String>) {
        let (process, node, protocol, op) = {
            let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
            let i = &events[invoke];
            (i.process, i.node, i.protocol, i.op.clone())
        };
        self.push(Event {
            index: 0,
            process,
            kind,
            time_us: 0,
            node,
            protocol,
            op,
            ret,
            error,
            invoke: Some(invoke),
        });
    }

    /// Records a nemesis action (an `info` event of the nemesis process).
    pub fn nemesis(&self, what: impl Into<String>) {
        self.push(Event {
            index: 0,
            process: NEMESIS,
            kind: Kind::Info,
            time_us: 0,
            node: 0,
            protocol: None,
            op: Op::Nemesis { what: what.into() },
            ret: None,
            error: None,
            invoke: None,
        });
    }

    /// A copy of the history so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One operation with its outcome: an invocation paired with its completion.
#[derive(Debug, Clone)]
pub struct Operation {
    pub process: u64,
    pub node: usize,
    pub protocol: Option<Protocol>,
    pub op: Op,
    /// `Ok`, `Fail` or `Info` (an invocation without completion counts as `Info`).
    pub outcome: Kind,
    pub ret: Option<Ret>,
    pub error: Option<String>,
    pub invoke_index: usize,
    pub complete_index: Option<usize>,
    pub invoke_ms: f64,
    pub complete_ms: Option<f64>,
}

/// Pairs every invocation with its completion (nemesis events are left out).
pub fn operations(history: &[Event]) -> Vec<Operation> {
    let mut ops: Vec<Operation> = Vec::new();
    let mut slot = vec![usize::MAX; history.len()];
    for e in history {
        match e.kind {
            Kind::Invoke => {
                slot[e.index] = ops.len();
                ops.push(Operation {
                    process: e.process,
                    node: e.node,
                    protocol: e.protocol,
                    op: e.op.clone(),
                    outcome: Kind::Info,
                    ret: None,
                    error: None,
                    invoke_index: e.index,
                    complete_index: None,
                    invoke_ms: e.time_us as f64 / 1000.0,
                    complete_ms: None,
                });
            }
            _ => {
                let Some(i) = e.invoke else { continue };
                let Some(&s) = slot.get(i) else { continue };
                if s == usize::MAX {
                    continue;
                }
                let o = &mut ops[s];
                o.outcome = e.kind;
                o.ret = e.ret.clone();
                o.error = e.error.clone();
                o.complete_index = Some(e.index);
                o.complete_ms = Some(e.time_us as f64 / 1000.0);
            }
        }
    }
    ops
}

/// Writes the history as JSON lines.
pub fn write_jsonl(history: &[Event], path: &Path) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in history {
        serde_json::to_writer(&mut f, e)?;
        f.write_all(b"\n")?;
    }
    f.flush()
}

/// Reads a history written by [`write_jsonl`].
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?,
        );
    }
    Ok(out)
}

/// One line for a human: `  12.345s p7 n2 mysql ok    cas k=3 5->9 -> swapped`.
pub fn describe(o: &Operation) -> String {
    let op = match &o.op {
        Op::Read { key } => format!("read k={key}"),
        Op::Write { key, value } => format!("write k={key} v={value}"),
        Op::Cas { key, from, to } => format!("cas k={key} {from}->{to}"),
        Op::Delete { key } => format!("delete k={key}"),
        Op::Transfer { from, to, amount } => format!("transfer {amount} from a{from} to a{to}"),
        Op::BankRead { consistency } => format!("bank read ({consistency})"),
        Op::Add { value } => format!("add {value}"),
        Op::SetRead { from } => format!("set read (elements >= {from})"),
        Op::Nemesis { what } => format!("nemesis {what}"),
    };
    let ret = match &o.ret {
        None => String::new(),
        Some(Ret::Value { value }) => format!(" -> {value:?}"),
        Some(Ret::Done) => String::new(),
        Some(Ret::Swapped { swapped }) => format!(" -> swapped={swapped}"),
        Some(Ret::Deleted { existed }) => format!(" -> existed={existed}"),
        Some(Ret::Transferred {
            moved,
            seen,
            rows,
            after,
        }) => format!(
            " -> moved={moved} rows={rows:?} read first: {} (sum {}){}",
            fmt_balances(seen),
            seen.iter().map(|b| b.1).sum::<i64>(),
            after
                .as_ref()
                .map(|a| format!(
                    ", last: {} (sum {})",
                    fmt_balances(a),
                    a.iter().map(|b| b.1).sum::<i64>()
                ))
                .unwrap_or_default()
        ),
        Some(Ret::Balances { balances }) => format!(
            " -> {} (sum {})",
            fmt_balances(balances),
            balances.iter().map(|b| b.1).sum::<i64>()
        ),
        Some(Ret::Elements { elements }) => format!(" -> {} elements", elements.len()),
    };
    let end = match o.complete_ms {
        Some(t) => format!("{:>9.3}s", t / 1000.0),
        None => "      -   ".to_string(),
    };
    let outcome = match o.outcome {
        Kind::Ok => "ok",
        Kind::Fail => "fail",
        Kind::Info => "info",
        Kind::Invoke => "?",
    };
    let err = o
        .error
        .as_deref()
        .map(|e| format!(" [{}]", e.chars().take(120).collect::<String>()))
        .unwrap_or_default();
    format!(
        "{:>9.3}s..{end} p{:<4} n{} {:<5} {outcome:<4} {op}{ret}{err}",
        o.invoke_ms / 1000.0,
        o.process,
        o.node,
        o.protocol.map(Protocol::name).unwrap_or("-")
    )
}

fn fmt_balances(b: &[(u64, i64)]) -> String {
    b.iter()
        .map(|(a, v)| format!("a{a}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
