//! The bank: money moves between accounts, none is created or destroyed.
//!
//! Every successful read of all balances (linearizable or stale, on any node) must show
//! every account, summing to the initial total: a read that sees one side of a transfer
//! without the other is a partial (non-atomic) transaction. The same holds for the balances
//! each transfer read inside its own transaction, and a transfer's two updates must have
//! changed the same number of rows (both or neither).
//!
//! A transfer also reads every balance again after its updates, in the same transaction:
//! that read must show exactly what it read first with its own transfer applied (when it
//! moved money) — its own writes, and nobody else's, since transactions are serializable.
//! Over MySQL the transfer writes the new balances it computed from its first read
//! (`SET balance = ?`), so a transaction that was not isolated (a lost update) also
//! changes the total, which every later read shows.

use super::{Verdict, outcome_counts, window};
use crate::history::{Kind, Op, Operation, Ret};

/// Checks the bank operations of `ops`.
pub fn check(ops: &[Operation], accounts: u64, initial: i64) -> Verdict {
    let mut v = Verdict::new("bank");
    let total = accounts as i64 * initial;
    let bank: Vec<&Operation> = ops
        .iter()
        .filter(|o| matches!(o.op, Op::Transfer { .. } | Op::BankRead { .. }))
        .collect();
    v.checked = bank.len();
    v.notes.push(format!(
        "{} transfers ({}), {} reads ({})",
        bank.iter()
            .filter(|o| matches!(o.op, Op::Transfer { .. }))
            .count(),
        outcome_counts(
            bank.iter()
                .filter(|o| matches!(o.op, Op::Transfer { .. }))
                .copied()
        ),
        bank.iter()
            .filter(|o| matches!(o.op, Op::BankRead { .. }))
            .count(),
        outcome_counts(
            bank.iter()
                .filter(|o| matches!(o.op, Op::BankRead { .. }))
                .copied()
        ),
    ));
    let wrong = |b: &[(u64, i64)]| -> Option<String> {
        let ids: Vec<u64> = b.iter().map(|x| x.0).collect();
        let want: Vec<u64> = (1..=accounts).collect();
        if ids != want {
            return Some(format!("accounts {ids:?}, expected {want:?}"));
        }
        let sum: i64 = b.iter().map(|x| x.1).sum();
        (sum != total).then(|| format!("total {sum}, expected {total}"))
    };
    for o in &bank {
        if o.outcome != Kind::Ok {
            continue;
        }
        match (&o.op, &o.ret) {
            (Op::BankRead { consistency }, Some(Ret::Balances { balances })) => {
                if let Some(why) = wrong(balances) {
                    v.anomaly(
                        format!("a {consistency} read saw {why}"),
                        concurrent_window(&bank, o),
                    );
                }
            }
            (
                Op::Transfer { from, to, amount },
                Some(Ret::Transferred {
                    moved,
                    seen,
                    rows,
                    after,
                }),
            ) => {
                if let Some(why) = wrong(seen) {
                    v.anomaly(
                        format!("a transfer's own read saw {why}"),
                        concurrent_window(&bank, o),
                    );
                }
                if rows.0 != rows.1 || *moved != (rows.0 == 1) {
                    v.anomaly(
                        format!(
                            "a transfer applied half: its debit changed {} row(s), its credit {}",
                            rows.0, rows.1
                        ),
                        window(&[o], 1),
                    );
                }
                if let Some(after) = after {
                    let expected = applied(seen, *from, *to, if *moved { *amount } else { 0 });
                    if *after != expected {
                        v.anomaly(
                            format!(
                                "a transfer's read after its own updates saw {}, expected {} (its first read with {} moved)",
                                fmt(after),
                                fmt(&expected),
                                if *moved { *amount } else { 0 }
                            ),
                            concurrent_window(&bank, o),
                        );
                    }
                }
            }
            _ => v.anomaly(
                "an ok bank operation without its result".into(),
                window(&[o], 1),
            ),
        }
    }
    v
}

/// `balances` with `amount` moved from account `from` to `to`.
fn applied(balances: &[(u64, i64)], from: u64, to: u64, amount: i64) -> Vec<(u64, i64)> {
    balances
        .iter()
        .map(|&(a, b)| match a {
            a if a == from => (a, b - amount),
            a if a == to => (a, b + amount),
            _ => (a, b),
        })
        .collect()
}

fn fmt(b: &[(u64, i64)]) -> String {
    b.iter()
        .map(|(a, v)| format!("a{a}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The offending operation and the transfers that overlapped it in time (the candidates
/// for the half-seen one), at most 12.
fn concurrent_window<'a>(bank: &[&'a Operation], bad: &'a Operation) -> Vec<String> {
    let end = bad.complete_index.unwrap_or(usize::MAX);
    let mut shown: Vec<&Operation> = bank
        .iter()
        .filter(|o| {
            matches!(o.op, Op::Transfer { .. })
                && o.outcome != Kind::Fail
                && o.invoke_index < end
                && o.complete_index.unwrap_or(usize::MAX) > bad.invoke_index
                && o.invoke_index != bad.invoke_index
        })
        .copied()
        .collect();
    shown.truncate(11);
    shown.push(bad);
    shown.sort_by_key(|o| o.invoke_index);
    window(&shown, 12)
}
