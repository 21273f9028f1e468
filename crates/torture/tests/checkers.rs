//! The checkers can say no: hand-made histories with one anomaly each are rejected, and
//! their valid counterparts are accepted.

use std::time::Duration;

use quorate_torture::check::{self, CheckConfig};
use quorate_torture::client::Protocol;
use quorate_torture::history::{Event, Kind, Op, Recorder, Ret};

/// Builds histories event by event, in the order given.
struct H {
    rec: Recorder,
}

impl H {
    fn new() -> H {
        H {
            rec: Recorder::new(std::time::Instant::now()),
        }
    }
    fn invoke(&self, p: u64, op: Op) -> usize {
        self.rec.invoke(p, 1, Protocol::Http, op)
    }
    fn ok(&self, i: usize, ret: Ret) {
        self.rec.complete(i, Kind::Ok, Some(ret), None);
    }
    fn fail(&self, i: usize) {
        self.rec
            .complete(i, Kind::Fail, None, Some("409 aborted".into()));
    }
    fn info(&self, i: usize) {
        self.rec
            .complete(i, Kind::Info, None, Some("timeout".into()));
    }
    /// An operation that completes before the next one starts.
    fn done(&self, p: u64, op: Op, ret: Ret) {
        let i = self.invoke(p, op);
        self.ok(i, ret);
    }
    fn events(&self) -> Vec<Event> {
        self.rec.snapshot()
    }
}

fn cfg() -> CheckConfig {
    CheckConfig {
        accounts: 2,
        initial_balance: 10,
        key_budget: Duration::from_secs(10),
    }
}

fn verdict(h: &H, name: &str) -> check::Verdict {
    check::check_all(&h.events(), &cfg())
        .into_iter()
        .find(|v| v.checker.contains(name))
        .unwrap_or_else(|| panic!("no {name} verdict"))
}

fn read(key: u64) -> Op {
    Op::Read { key }
}
fn val(v: Option<i64>) -> Ret {
    Ret::Value { value: v }
}

/// Registers: a read that returns a value overwritten before it began (a stale read) is
/// not linearizable; the window ends with that read.
#[test]
fn registers_stale_read_is_rejected() {
    let h = H::new();
    h.done(1, Op::Write { key: 1, value: 10 }, Ret::Done);
    h.done(2, Op::Write { key: 1, value: 20 }, Ret::Done);
    h.done(3, read(1), val(Some(10)));
    let v = verdict(&h, "linearizable");
    assert!(!v.valid(), "{v:?}");
    let a = &v.anomalies[0];
    assert!(
        a.window.last().unwrap().contains("read k=1 -> Some(10)"),
        "{a:?}"
    );
}

/// Registers: the same history with the read concurrent with the second write is fine.
#[test]
fn registers_concurrent_read_of_old_value_is_accepted() {
    let h = H::new();
    h.done(1, Op::Write { key: 1, value: 10 }, Ret::Done);
    let w = h.invoke(2, Op::Write { key: 1, value: 20 });
    h.done(3, read(1), val(Some(10)));
    h.ok(w, Ret::Done);
    h.done(3, read(1), val(Some(20)));
    assert!(verdict(&h, "linearizable").valid());
}

/// Registers: an acknowledged write that a later read does not see (a lost write).
#[test]
fn registers_lost_write_is_rejected() {
    let h = H::new();
    h.done(1, Op::Write { key: 2, value: 5 }, Ret::Done);
    h.done(1, read(2), val(Some(5)));
    h.done(2, Op::Write { key: 2, value: 6 }, Ret::Done);
    h.done(3, read(2), val(Some(5)));
    assert!(!verdict(&h, "linearizable").valid());
}

/// Registers: a write that failed "certainly" must not be seen; an unknown one may be.
#[test]
fn registers_failed_write_seen_is_rejected_unknown_is_accepted() {
    let h = H::new();
    let w = h.invoke(1, Op::Write { key: 3, value: 7 });
    h.fail(w);
    h.done(2, read(3), val(Some(7)));
    assert!(!verdict(&h, "linearizable").valid());

    let h = H::new();
    let w = h.invoke(1, Op::Write { key: 3, value: 7 });
    h.info(w);
    h.done(2, read(3), val(Some(7)));
    h.done(2, read(3), val(Some(7)));
    assert!(verdict(&h, "linearizable").valid());
}

/// Registers: compare-and-set that claims to swap from a value the register did not hold.
#[test]
fn registers_impossible_cas_is_rejected() {
    let h = H::new();
    h.done(1, Op::Write { key: 4, value: 1 }, Ret::Done);
    h.done(
        2,
        Op::Cas {
            key: 4,
            from: 2,
            to: 3,
        },
        Ret::Swapped { swapped: true },
    );
    assert!(!verdict(&h, "linearizable").valid());
}

/// Registers: a delete that finds nothing after an acknowledged write (the stale "no such
/// row" a DELETE answered from uncommitted or outdated state would give) is rejected; so is
/// a read that still sees a deleted value. The same deletes and reads in a possible order are
/// accepted, and a deleted register reads as never written.
#[test]
fn registers_deletes_are_checked_like_reads_and_writes() {
    let del = |key| Op::Delete { key };
    let existed = |e| Ret::Deleted { existed: e };

    let h = H::new();
    h.done(1, Op::Write { key: 5, value: 1 }, Ret::Done);
    h.done(2, del(5), existed(false));
    let v = verdict(&h, "linearizable");
    assert!(!v.valid(), "{v:?}");
    assert!(
        v.anomalies[0]
            .window
            .last()
            .unwrap()
            .contains("delete k=5 -> existed=false"),
        "{v:?}"
    );

    let h = H::new();
    h.done(1, Op::Write { key: 6, value: 1 }, Ret::Done);
    h.done(2, del(6), existed(true));
    h.done(3, read(6), val(Some(1)));
    assert!(!verdict(&h, "linearizable").valid());

    let h = H::new();
    h.done(1, del(7), existed(false));
    h.done(1, Op::Write { key: 7, value: 1 }, Ret::Done);
    let w = h.invoke(2, Op::Write { key: 7, value: 2 });
    h.done(3, del(7), existed(true));
    h.ok(w, Ret::Done);
    h.done(3, read(7), val(Some(2)));
    h.done(1, del(7), existed(true));
    h.done(2, read(7), val(None));
    h.done(2, del(7), existed(false));
    assert!(verdict(&h, "linearizable").valid());
}

/// Bank: a read that sees a debit without its credit (a partial transfer).
#[test]
fn bank_partial_transfer_read_is_rejected() {
    let h = H::new();
    h.done(
        1,
        Op::BankRead {
            consistency: "linearizable".into(),
        },
        Ret::Balances {
            balances: vec![(1, 10), (2, 10)],
        },
    );
    h.done(
        2,
        Op::BankRead {
            consistency: "stale".into(),
        },
        Ret::Balances {
            balances: vec![(1, 5), (2, 10)],
        },
    );
    let v = verdict(&h, "bank");
    assert_eq!(v.anomalies.len(), 1, "{v:?}");
    assert!(v.anomalies[0].summary.contains("total 15"));
}

/// Bank: a transfer whose two updates changed a different number of rows.
#[test]
fn bank_half_applied_transfer_is_rejected() {
    let h = H::new();
    h.done(
        1,
        Op::Transfer {
            from: 1,
            to: 2,
            amount: 3,
        },
        Ret::Transferred {
            moved: false,
            seen: vec![(1, 10), (2, 10)],
            rows: (1, 0),
            after: None,
        },
    );
    assert!(!verdict(&h, "bank").valid());
}

fn transfer(from: u64, to: u64, amount: i64) -> Op {
    Op::Transfer { from, to, amount }
}

/// Bank: a transfer's read after its own updates must show exactly its first read with
/// its own transfer applied; one that misses its own write (or sees another's) is
/// rejected, the correct one accepted.
#[test]
fn bank_transfer_must_read_its_own_writes() {
    let ok = |after: Vec<(u64, i64)>| Ret::Transferred {
        moved: true,
        seen: vec![(1, 10), (2, 10)],
        rows: (1, 1),
        after: Some(after),
    };
    let h = H::new();
    h.done(1, transfer(1, 2, 3), ok(vec![(1, 7), (2, 13)]));
    assert!(verdict(&h, "bank").valid());

    let h = H::new();
    h.done(1, transfer(1, 2, 3), ok(vec![(1, 10), (2, 10)]));
    let v = verdict(&h, "bank");
    assert_eq!(v.anomalies.len(), 1, "{v:?}");
    assert!(
        v.anomalies[0].summary.contains("after its own updates"),
        "{v:?}"
    );

    // The total is right, but the transaction saw someone else's transfer in between.
    let h = H::new();
    h.done(1, transfer(1, 2, 3), ok(vec![(1, 5), (2, 15)]));
    assert!(!verdict(&h, "bank").valid());
}

/// Bank: a lost update between two interactive transfers that each wrote the balances
/// they computed from the same first read (not serializable) shows up as money created or
/// destroyed in the next read of all balances.
#[test]
fn bank_lost_update_changes_the_total_and_is_rejected() {
    let h = H::new();
    let cfg = CheckConfig {
        accounts: 3,
        initial_balance: 10,
        key_budget: Duration::from_secs(10),
    };
    let t1 = h.invoke(1, transfer(1, 2, 3));
    let t2 = h.invoke(2, transfer(2, 3, 2));
    let seen = vec![(1, 10), (2, 10), (3, 10)];
    h.ok(
        t1,
        Ret::Transferred {
            moved: true,
            seen: seen.clone(),
            rows: (1, 1),
            after: Some(vec![(1, 7), (2, 13), (3, 10)]),
        },
    );
    h.ok(
        t2,
        Ret::Transferred {
            moved: true,
            seen,
            rows: (1, 1),
            after: Some(vec![(1, 10), (2, 8), (3, 12)]),
        },
    );
    h.done(
        3,
        Op::BankRead {
            consistency: "linearizable".into(),
        },
        Ret::Balances {
            balances: vec![(1, 7), (2, 8), (3, 12)],
        },
    );
    let v = check::check_all(&h.events(), &cfg)
        .into_iter()
        .find(|v| v.checker == "bank")
        .unwrap();
    assert_eq!(v.anomalies.len(), 1, "{v:?}");
    assert!(v.anomalies[0].summary.contains("total 27"), "{v:?}");
}

fn add(h: &H, p: u64, value: i64) -> usize {
    h.invoke(p, Op::Add { value })
}

/// Set: an acknowledged add missing from the final read (a lost write).
#[test]
fn set_lost_acknowledged_add_is_rejected() {
    let h = H::new();
    let a = add(&h, 1, 1);
    h.ok(a, Ret::Done);
    let b = add(&h, 1, 2);
    h.ok(b, Ret::Done);
    h.done(
        9,
        Op::SetRead { from: 0 },
        Ret::Elements { elements: vec![1] },
    );
    let v = verdict(&h, "set");
    assert!(!v.valid());
    assert!(
        v.anomalies[0]
            .summary
            .contains("missing from the final read")
    );
}

/// Set: a value twice, a failed add present, and a read during the run that misses an
/// add acknowledged before it began.
#[test]
fn set_duplicates_phantoms_and_stale_reads_are_rejected() {
    let h = H::new();
    let a = add(&h, 1, 1);
    h.ok(a, Ret::Done);
    h.done(
        9,
        Op::SetRead { from: 1 },
        Ret::Elements { elements: vec![] },
    );
    let b = add(&h, 1, 2);
    h.fail(b);
    h.done(
        9,
        Op::SetRead { from: 0 },
        Ret::Elements {
            elements: vec![1, 1, 2],
        },
    );
    let v = verdict(&h, "set");
    let all: Vec<&str> = v.anomalies.iter().map(|a| a.summary.as_str()).collect();
    assert!(all.iter().any(|s| s.contains("more than once")), "{all:?}");
    assert!(
        all.iter().any(|s| s.contains("reported as failed")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|s| s.contains("acknowledged before")),
        "{all:?}"
    );
}

/// Set: unknown adds may or may not appear; a valid history passes.
#[test]
fn set_valid_history_is_accepted() {
    let h = H::new();
    let a = add(&h, 1, 1);
    h.ok(a, Ret::Done);
    let b = add(&h, 2, 2);
    h.info(b);
    let c = add(&h, 3, 3);
    h.fail(c);
    h.done(
        9,
        Op::SetRead { from: 0 },
        Ret::Elements {
            elements: vec![1, 2],
        },
    );
    assert!(verdict(&h, "set").valid());
}

/// A history written to JSON lines reads back identically (replaying a kept history).
#[test]
fn history_round_trips_through_jsonl() {
    let h = H::new();
    h.done(1, Op::Write { key: 1, value: 10 }, Ret::Done);
    h.rec.nemesis("kill -9 n1");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("history.jsonl");
    quorate_torture::history::write_jsonl(&h.events(), &p).unwrap();
    let back = quorate_torture::history::read_jsonl(&p).unwrap();
    assert_eq!(back, h.events());
}
