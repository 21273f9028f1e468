//! The client side without a cluster: how outcomes of interactive transactions are
//! classified, what an interactive transfer does, which protocol each client speaks, and
//! that histories recorded before protocols were recorded still read.

use quorate_torture::client::{
    self, Interactive, Outcome, Protocol, Protocols, Stmt, StmtResult, mysql_certainly_failed,
};
use quorate_torture::history::{Event, Ret};
use quorate_torture::workload::{Sql, transfer_interactive};
use serde_json::{Value, json};

/// A fake interactive transaction over an in-memory bank: balances are read by a SELECT
/// and set by `UPDATE ... SET balance = ? WHERE id = ?`; statement `fail_at` (0-based)
/// fails; COMMIT answers `commit`.
struct FakeBank {
    balances: Vec<(u64, i64)>,
    executed: Vec<String>,
    fail_at: Option<usize>,
    commit: Outcome<()>,
    rolled_back: bool,
}

impl FakeBank {
    fn new(commit: Outcome<()>) -> FakeBank {
        FakeBank {
            balances: vec![(1, 10), (2, 10), (3, 10)],
            executed: Vec::new(),
            fail_at: None,
            commit,
            rolled_back: false,
        }
    }
}

impl Interactive for FakeBank {
    fn begin(&mut self, _read_only: bool) -> Result<(), String> {
        Ok(())
    }

    fn execute(&mut self, stmt: &Stmt) -> Result<StmtResult, String> {
        if self.fail_at == Some(self.executed.len()) {
            return Err("no answer within 10s".into());
        }
        self.executed.push(stmt.sql.clone());
        if stmt.sql.starts_with("SELECT") {
            return Ok(StmtResult {
                rows_affected: 0,
                rows: self
                    .balances
                    .iter()
                    .map(|(a, b)| vec![json!(a), json!(b)])
                    .collect(),
            });
        }
        let (Some(balance), Some(id)) = (
            stmt.params.first().and_then(Value::as_i64),
            stmt.params.get(1).and_then(Value::as_u64),
        ) else {
            return Err(format!("unexpected statement {stmt:?}"));
        };
        let mut n = 0;
        for b in &mut self.balances {
            if b.0 == id {
                b.1 = balance;
                n += 1;
            }
        }
        Ok(StmtResult {
            rows_affected: n,
            rows: vec![],
        })
    }

    fn commit(&mut self) -> Outcome<()> {
        self.commit.clone()
    }

    fn rollback(&mut self) {
        self.rolled_back = true;
    }
}

/// An interactive transfer reads every balance, writes the two balances it computed from
/// that read, and reads every balance again; the result is what the bank checker expects.
#[test]
fn interactive_transfer_writes_computed_balances_and_reads_them_back() {
    let mut bank = FakeBank::new(Outcome::Ok(()));
    let r = client::interactive(&mut bank, false, |tx| {
        transfer_interactive(tx, Sql(Protocol::Mysql), 1, 3, 4)
    });
    assert_eq!(
        r,
        Outcome::Ok(Ret::Transferred {
            moved: true,
            seen: vec![(1, 10), (2, 10), (3, 10)],
            rows: (1, 1),
            after: Some(vec![(1, 6), (2, 10), (3, 14)]),
        })
    );
    assert_eq!(
        bank.executed,
        [
            "SELECT id, balance FROM bank ORDER BY id",
            "UPDATE bank SET balance = ? WHERE id = ?",
            "UPDATE bank SET balance = ? WHERE id = ?",
            "SELECT id, balance FROM bank ORDER BY id",
        ]
    );

    // Not enough money: nothing is written, and it says so.
    let mut bank = FakeBank::new(Outcome::Ok(()));
    let r = client::interactive(&mut bank, false, |tx| {
        transfer_interactive(tx, Sql(Protocol::Mysql), 2, 1, 11)
    });
    let Outcome::Ok(Ret::Transferred { moved, rows, .. }) = r else {
        panic!("{r:?}")
    };
    assert_eq!((moved, rows), (false, (0, 0)));
    assert_eq!(bank.executed.len(), 2);
}

/// Before COMMIT was sent, any error — a timeout included — fails the transaction (it is
/// rolled back and cannot commit later); COMMIT's own outcome is passed on as it is:
/// certain failures fail, an unknown outcome stays unknown.
#[test]
fn interactive_outcomes_are_classified_by_whether_commit_was_sent() {
    let mut bank = FakeBank::new(Outcome::Ok(()));
    bank.fail_at = Some(1);
    let r = client::interactive(&mut bank, false, |tx| {
        transfer_interactive(tx, Sql(Protocol::Mysql), 1, 2, 1)
    });
    assert!(
        matches!(r, Outcome::Fail(ref e) if e.contains("before COMMIT")),
        "{r:?}"
    );
    assert!(bank.rolled_back);

    let mut bank = FakeBank::new(Outcome::Unknown("connection lost".into()));
    let r = client::interactive(&mut bank, false, |tx| {
        transfer_interactive(tx, Sql(Protocol::Mysql), 1, 2, 1)
    });
    assert!(
        matches!(r, Outcome::Unknown(ref e) if e.contains("COMMIT")),
        "{r:?}"
    );

    let mut bank = FakeBank::new(Outcome::Fail("1213: Deadlock".into()));
    let r = client::interactive(&mut bank, false, |tx| {
        transfer_interactive(tx, Sql(Protocol::Mysql), 1, 2, 1)
    });
    assert!(matches!(r, Outcome::Fail(_)), "{r:?}");
}

/// MySQL codes: rolled back (1213), not ready (1047), lock wait (1205) and statement
/// errors are certain failures; "outcome unknown" (1180) and the catch-all 1105 are not.
#[test]
fn mysql_error_codes_are_classified() {
    for code in [1213, 1047, 1205, 1062, 1064, 1146, 1235, 1792] {
        assert!(mysql_certainly_failed(code), "{code}");
    }
    for code in [1180, 1105, 2013, 0] {
        assert!(!mysql_certainly_failed(code), "{code}");
    }
}

/// Mixed: every node has clients of both protocols (with 2 or more per node), and the
/// counts differ by at most one.
#[test]
fn mixed_clients_alternate_per_node() {
    for clients in 2..=5 {
        let mut mysql = 0;
        for node in 1..=3 {
            let ps: Vec<Protocol> = (0..clients)
                .map(|k| Protocols::Mixed.for_client(node, k))
                .collect();
            assert!(ps.contains(&Protocol::Mysql) && ps.contains(&Protocol::Http));
            mysql += ps.iter().filter(|p| **p == Protocol::Mysql).count();
        }
        assert!((mysql as i64 - (3 * clients - mysql) as i64).abs() <= 1);
    }
    assert!(Protocols::Mixed.uses(Protocol::Http) && Protocols::Mixed.uses(Protocol::Mysql));
    assert!(!Protocols::Http.uses(Protocol::Mysql));
    assert!(!Protocols::Mysql.uses(Protocol::Http));
    assert_eq!(Protocols::parse("mysql"), Some(Protocols::Mysql));
    assert_eq!(Protocols::parse("tcp"), None);
}

/// Histories recorded before the protocol was recorded (all HTTP) still read; new events
/// carry it.
#[test]
fn history_events_carry_the_protocol() {
    let old =
        r#"{"index":0,"process":1,"kind":"invoke","time_us":5,"node":2,"op":{"f":"read","key":1}}"#;
    let e: Event = serde_json::from_str(old).unwrap();
    assert_eq!(e.protocol, None);
    let rec = quorate_torture::history::Recorder::new(std::time::Instant::now());
    let i = rec.invoke(
        1,
        2,
        Protocol::Mysql,
        quorate_torture::history::Op::Read { key: 1 },
    );
    rec.complete(
        i,
        quorate_torture::history::Kind::Ok,
        Some(Ret::Value { value: None }),
        None,
    );
    let ops = quorate_torture::history::operations(&rec.snapshot());
    assert_eq!(ops[0].protocol, Some(Protocol::Mysql));
    assert!(
        quorate_torture::history::describe(&ops[0]).contains(" mysql "),
        "{}",
        quorate_torture::history::describe(&ops[0])
    );
}
