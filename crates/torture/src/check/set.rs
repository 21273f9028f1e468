//! The append-only set: nothing acknowledged is lost, nothing is applied twice, nothing
//! that certainly failed is applied.
//!
//! - The final read (the last successful read of the whole set, taken after the cluster
//!   healed and converged) must hold every acknowledged add, no add that failed, no value
//!   never added, and no value twice.
//! - Every successful read during the run must hold every add that was acknowledged before
//!   the read began (within the range the read covers): a linearizable read that misses one
//!   is a lost or stale read, even if the value reappears later. No read may hold a value
//!   twice or a value never added.

use std::collections::{BTreeMap, HashMap};

use super::{Verdict, outcome_counts, window};
use crate::history::{Kind, Op, Operation, Ret};

/// Checks the set operations of `ops`.
pub fn check(ops: &[Operation]) -> Verdict {
    let mut v = Verdict::new("append-only set");
    let adds: BTreeMap<i64, &Operation> = ops
        .iter()
        .filter_map(|o| match o.op {
            Op::Add { value } => Some((value, o)),
            _ => None,
        })
        .collect();
    let reads: Vec<(&Operation, i64, &Vec<i64>)> = ops
        .iter()
        .filter_map(|o| match (&o.op, &o.ret, o.outcome) {
            (Op::SetRead { from }, Some(Ret::Elements { elements }), Kind::Ok) => {
                Some((o, *from, elements))
            }
            _ => None,
        })
        .collect();
    v.checked = adds.len() + reads.len();
    v.notes.push(format!(
        "{} adds ({}), {} reads",
        adds.len(),
        outcome_counts(adds.values().copied()),
        reads.len()
    ));
    let Some(&(final_read, _, final_elems)) = reads.iter().rev().find(|r| r.1 == 0) else {
        v.anomaly(
            "no successful final read of the whole set".into(),
            Vec::new(),
        );
        return v;
    };
    // Duplicates and values never added, in every read.
    for (r, _, elems) in &reads {
        let mut count: HashMap<i64, usize> = HashMap::new();
        for e in elems.iter() {
            *count.entry(*e).or_default() += 1;
        }
        let mut twice: Vec<i64> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(e, _)| *e)
            .collect();
        twice.sort_unstable();
        if !twice.is_empty() {
            let mut w: Vec<&Operation> =
                twice.iter().filter_map(|e| adds.get(e).copied()).collect();
            w.truncate(10);
            w.push(r);
            v.anomaly(
                format!(
                    "{} value(s) present more than once: {:?}",
                    twice.len(),
                    &twice[..twice.len().min(10)]
                ),
                window(&w, 12),
            );
        }
        let mut never: Vec<i64> = count
            .keys()
            .filter(|e| !adds.contains_key(e))
            .copied()
            .collect();
        never.sort_unstable();
        if !never.is_empty() {
            v.anomaly(
                format!(
                    "{} value(s) present that no client added: {:?}",
                    never.len(),
                    &never[..never.len().min(10)]
                ),
                window(&[r], 1),
            );
        }
    }
    // The final read against every add.
    let present: std::collections::HashSet<i64> = final_elems.iter().copied().collect();
    let lost: Vec<&Operation> = adds
        .values()
        .filter(|o| o.outcome == Kind::Ok && !present.contains(&add_value(o)))
        .copied()
        .collect();
    if !lost.is_empty() {
        let mut w: Vec<&Operation> = lost.iter().take(10).copied().collect();
        w.push(final_read);
        v.anomaly(
            format!(
                "{} acknowledged add(s) missing from the final read: {:?}",
                lost.len(),
                lost.iter()
                    .take(10)
                    .map(|o| add_value(o))
                    .collect::<Vec<_>>()
            ),
            window(&w, 12),
        );
    }
    let phantom: Vec<&Operation> = adds
        .values()
        .filter(|o| o.outcome == Kind::Fail && present.contains(&add_value(o)))
        .copied()
        .collect();
    if !phantom.is_empty() {
        let mut w: Vec<&Operation> = phantom.iter().take(10).copied().collect();
        w.push(final_read);
        v.anomaly(
            format!(
                "{} add(s) reported as failed are present: {:?}",
                phantom.len(),
                phantom
                    .iter()
                    .take(10)
                    .map(|o| add_value(o))
                    .collect::<Vec<_>>()
            ),
            window(&w, 12),
        );
    }
    let unknown_present = adds
        .values()
        .filter(|o| o.outcome == Kind::Info && present.contains(&add_value(o)))
        .count();
    v.notes.push(format!(
        "final read: {} elements; {} of the unknown adds took effect",
        final_elems.len(),
        unknown_present
    ));
    // Reads during the run: everything acknowledged before the read began.
    let mut stale_reported = 0;
    for (r, from, elems) in &reads {
        let have: std::collections::HashSet<i64> = elems.iter().copied().collect();
        let missing: Vec<&Operation> = adds
            .range(*from..)
            .map(|(_, o)| *o)
            .filter(|o| {
                o.outcome == Kind::Ok
                    && o.complete_index.is_some_and(|c| c < r.invoke_index)
                    && !have.contains(&add_value(o))
            })
            .collect();
        if !missing.is_empty() && stale_reported < 5 {
            stale_reported += 1;
            let mut w: Vec<&Operation> = missing.iter().take(10).copied().collect();
            w.push(r);
            v.anomaly(
                format!(
                    "a read missed {} add(s) acknowledged before it began: {:?}",
                    missing.len(),
                    missing
                        .iter()
                        .take(10)
                        .map(|o| add_value(o))
                        .collect::<Vec<_>>()
                ),
                window(&w, 12),
            );
        }
    }
    v
}

fn add_value(o: &Operation) -> i64 {
    match o.op {
        Op::Add { value } => value,
        _ => i64::MIN,
    }
}
