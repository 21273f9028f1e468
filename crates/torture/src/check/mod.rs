//! The checkers: each reads the history and says valid, invalid (with the smallest window
//! of history that shows the anomaly) or unknown (it could not decide in its budget).
//!
//! - [`linear`]: registers, linearizability with stateright's `LinearizabilityTester`;
//! - [`bank`]: the total never changes and no read sees a partial transfer;
//! - [`set`]: every acknowledged add is present, none twice, none that failed.

pub mod bank;
pub mod linear;
pub mod set;

use std::time::Duration;

use serde::Serialize;

use crate::history::{Event, Operation, describe, operations};

/// What a checker found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub checker: String,
    /// One sentence: what is wrong.
    pub summary: String,
    /// The operations that show it, one line each (see [`describe`]).
    pub window: Vec<String>,
}

/// One checker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub checker: String,
    /// Operations it looked at.
    pub checked: usize,
    pub anomalies: Vec<Anomaly>,
    /// What it could not decide (e.g. a key whose search ran out of budget).
    pub unknown: Vec<String>,
    /// Other facts worth printing (ok / fail / info counts...).
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn new(checker: &str) -> Verdict {
        Verdict {
            checker: checker.into(),
            checked: 0,
            anomalies: Vec::new(),
            unknown: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn valid(&self) -> bool {
        self.anomalies.is_empty()
    }

    pub(crate) fn anomaly(&mut self, summary: String, window: Vec<String>) {
        self.anomalies.push(Anomaly {
            checker: self.checker.clone(),
            summary,
            window,
        });
    }
}

/// Limits of the checkers.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Accounts in the bank and the starting balance of each.
    pub accounts: u64,
    pub initial_balance: i64,
    /// Time the linearizability search may spend on one key before giving up (unknown).
    pub key_budget: Duration,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            accounts: crate::workload::ACCOUNTS,
            initial_balance: crate::workload::INITIAL_BALANCE,
            key_budget: Duration::from_secs(20),
        }
    }
}

/// Runs every checker whose workload appears in the history.
pub fn check_all(history: &[Event], cfg: &CheckConfig) -> Vec<Verdict> {
    let ops = operations(history);
    let mut out = Vec::new();
    use crate::history::Op;
    if ops.iter().any(|o| {
        matches!(
            o.op,
            Op::Read { .. } | Op::Write { .. } | Op::Cas { .. } | Op::Delete { .. }
        )
    }) {
        out.push(linear::check(&ops, cfg.key_budget));
    }
    if ops
        .iter()
        .any(|o| matches!(o.op, Op::Transfer { .. } | Op::BankRead { .. }))
    {
        out.push(bank::check(&ops, cfg.accounts, cfg.initial_balance));
    }
    if ops
        .iter()
        .any(|o| matches!(o.op, Op::Add { .. } | Op::SetRead { .. }))
    {
        out.push(set::check(&ops));
    }
    out
}

/// Lines for a window of operations, at most `max` (the last ones), with a note when cut.
pub(crate) fn window(ops: &[&Operation], max: usize) -> Vec<String> {
    let mut out = Vec::new();
    if ops.len() > max {
        out.push(format!(
            "... {} earlier operations omitted (see history.jsonl)",
            ops.len() - max
        ));
    }
    let skip = ops.len().saturating_sub(max);
    out.extend(ops.iter().skip(skip).map(|o| describe(o)));
    out
}

/// Counts of outcomes, for the notes.
pub(crate) fn outcome_counts<'a>(ops: impl Iterator<Item = &'a Operation>) -> String {
    use crate::history::Kind;
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    for o in ops {
        match o.outcome {
            Kind::Ok => ok += 1,
            Kind::Fail => fail += 1,
            _ => info += 1,
        }
    }
    format!("{ok} ok, {fail} failed, {info} unknown")
}
