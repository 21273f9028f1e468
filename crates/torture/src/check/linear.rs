//! Linearizability of the registers, decided by stateright's `LinearizabilityTester`.
//!
//! The model is a compare-and-set register ([`CasRegister`], a stateright
//! `SequentialSpec`: read, write, cas, delete; a deleted register reads as never
//! written, and a delete returns whether it existed). Linearizability is compositional (a history is
//! linearizable iff each object's sub-history is), so every key is checked on its own; the
//! workload gives each key a bounded number of operations (as Jepsen's `independent`
//! generator does) because the search is exponential in the worst case.
//!
//! How the history is fed to the tester:
//! - events go in history order (real time as the clients saw it);
//! - an `ok` operation is an invocation followed by its return;
//! - an `info` (unknown) write or cas is an invocation that never returns: the tester may
//!   place it anywhere after its invocation, or leave it out. Its process continues as a
//!   new process, so no later invocation is blocked behind it;
//! - a `fail` operation certainly did not happen: it is left out. If it did happen after
//!   all, a read that sees its value makes the history non-linearizable: the checker
//!   also tests the API's claim that the error meant "not applied";
//! - reads that did not return a value (fail or info) constrain nothing and are left out.
//!
//! When a key is not linearizable, the smallest failing prefix of its sub-history is found
//! (binary search: a prefix of a linearizable history is linearizable), and its last
//! operations are reported: the last one is the operation that cannot be placed.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use super::{Verdict, outcome_counts, window};
use crate::history::{Kind, Op, Operation, Ret};

/// A register holding an integer (None until first written) with compare-and-set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CasRegister(pub Option<i64>);

/// Operations on a [`CasRegister`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegOp {
    Read,
    Write(i64),
    Cas(i64, i64),
    Delete,
}

/// Returns of a [`CasRegister`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegRet {
    ReadOk(Option<i64>),
    WriteOk,
    CasOk(bool),
    /// Whether the register existed.
    DeleteOk(bool),
}

impl SequentialSpec for CasRegister {
    type Op = RegOp;
    type Ret = RegRet;

    fn invoke(&mut self, op: &RegOp) -> RegRet {
        match op {
            RegOp::Read => RegRet::ReadOk(self.0),
            RegOp::Write(v) => {
                self.0 = Some(*v);
                RegRet::WriteOk
            }
            RegOp::Cas(from, to) => {
                if self.0 == Some(*from) {
                    self.0 = Some(*to);
                    RegRet::CasOk(true)
                } else {
                    RegRet::CasOk(false)
                }
            }
            RegOp::Delete => RegRet::DeleteOk(self.0.take().is_some()),
        }
    }
}

/// Thread id for the tester: processes with an unknown operation on this key sort last,
/// so the depth-first search tries completed operations before pending ones.
type Thread = (u8, u64);

/// One tester event: invoke or return, in history order.
#[derive(Clone, Debug)]
enum Step {
    Invoke(Thread, RegOp),
    Return(Thread, RegRet),
}

fn key_of(op: &Op) -> Option<u64> {
    match op {
        Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } | Op::Delete { key } => {
            Some(*key)
        }
        _ => None,
    }
}

/// The tester's view of one key's operations, and the operation each step belongs to.
fn steps(ops: &[&Operation]) -> Vec<(usize, Step, usize)> {
    let mut pending: BTreeMap<u64, bool> = BTreeMap::new();
    for o in ops {
        if o.outcome == Kind::Info && !matches!(o.op, Op::Read { .. }) {
            pending.insert(o.process, true);
        }
    }
    let mut out = Vec::new();
    for (n, o) in ops.iter().enumerate() {
        let thread: Thread = (u8::from(pending.contains_key(&o.process)), o.process);
        let (op, ret) = match (&o.op, &o.ret) {
            (Op::Read { .. }, Some(Ret::Value { value })) if o.outcome == Kind::Ok => {
                (RegOp::Read, Some(RegRet::ReadOk(*value)))
            }
            (Op::Read { .. }, _) => continue,
            (Op::Write { value, .. }, _) => (RegOp::Write(*value), Some(RegRet::WriteOk)),
            (Op::Cas { from, to, .. }, Some(Ret::Swapped { swapped })) => {
                (RegOp::Cas(*from, *to), Some(RegRet::CasOk(*swapped)))
            }
            (Op::Cas { from, to, .. }, _) => (RegOp::Cas(*from, *to), None),
            (Op::Delete { .. }, Some(Ret::Deleted { existed })) => {
                (RegOp::Delete, Some(RegRet::DeleteOk(*existed)))
            }
            (Op::Delete { .. }, _) => (RegOp::Delete, None),
            _ => continue,
        };
        match o.outcome {
            Kind::Fail => continue,
            Kind::Ok => {
                let Some(ret) = ret else { continue };
                out.push((o.invoke_index, Step::Invoke(thread, op), n));
                if let Some(c) = o.complete_index {
                    out.push((c, Step::Return(thread, ret), n));
                }
            }
            _ => out.push((o.invoke_index, Step::Invoke(thread, op), n)),
        }
    }
    out.sort_by_key(|s| s.0);
    out
}

/// Is the history made of the first `n` steps linearizable? None: undecided in `budget`.
fn linearizable(steps: Vec<Step>, budget: Duration) -> Option<Result<bool, String>> {
    let (tx, rx) = mpsc::channel();
    // The search cannot be interrupted: on timeout its thread is left to finish (or to
    // die with the process); the verdict is "unknown".
    std::thread::spawn(move || {
        let mut t: LinearizabilityTester<Thread, CasRegister> =
            LinearizabilityTester::new(CasRegister(None));
        for s in steps {
            let r = match s {
                Step::Invoke(th, op) => t.on_invoke(th, op).map(|_| ()),
                Step::Return(th, ret) => t.on_return(th, ret).map(|_| ()),
            };
            if let Err(e) = r {
                let _ = tx.send(Err(e));
                return;
            }
        }
        let _ = tx.send(Ok(t.serialized_history().is_some()));
    });
    rx.recv_timeout(budget).ok()
}

/// Checks every key; `budget` bounds the search per key (and per prefix while shrinking).
pub fn check(all: &[Operation], budget: Duration) -> Verdict {
    let mut v = Verdict::new("linearizable registers");
    let mut by_key: BTreeMap<u64, Vec<&Operation>> = BTreeMap::new();
    for o in all {
        if let Some(k) = key_of(&o.op) {
            by_key.entry(k).or_default().push(o);
        }
    }
    v.checked = by_key.values().map(|o| o.len()).sum();
    v.notes.push(format!(
        "{} keys; {}",
        by_key.len(),
        outcome_counts(by_key.values().flatten().copied())
    ));
    let started = Instant::now();
    for (key, ops) in &by_key {
        let st = steps(ops);
        let plain: Vec<Step> = st.iter().map(|s| s.1.clone()).collect();
        match linearizable(plain, budget) {
            None => v.unknown.push(format!(
                "key {key}: the search did not finish within {budget:?} ({} operations)",
                ops.len()
            )),
            Some(Err(e)) => v.anomaly(
                format!("key {key}: malformed history for the tester: {e}"),
                window(ops, 20),
            ),
            Some(Ok(true)) => {}
            Some(Ok(false)) => {
                // Smallest failing prefix (in steps).
                let (mut lo, mut hi) = (0usize, st.len());
                while lo + 1 < hi {
                    let mid = (lo + hi) / 2;
                    let prefix: Vec<Step> = st[..mid].iter().map(|s| s.1.clone()).collect();
                    match linearizable(prefix, budget) {
                        Some(Ok(false)) => hi = mid,
                        _ => lo = mid,
                    }
                }
                // Operations touched by the failing prefix; the last step's operation is the
                // one that cannot be placed.
                let last_op = st[hi - 1].2;
                let mut involved: Vec<usize> = st[..hi].iter().map(|s| s.2).collect();
                involved.sort_unstable();
                involved.dedup();
                let shown: Vec<&Operation> = involved.iter().map(|&i| ops[i]).collect();
                let mut lines = window(&shown, 16);
                lines.push(format!(
                    "cannot be linearized: {}",
                    crate::history::describe(ops[last_op])
                ));
                v.anomaly(
                    format!(
                        "key {key} is not linearizable: the first {} of its {} operations already are not",
                        involved.len(),
                        ops.len()
                    ),
                    lines,
                );
            }
        }
    }
    v.notes.push(format!(
        "search took {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    v
}
