//! Every statement sysbench 1.0.20's OLTP scripts send (oltp_common.lua, oltp_insert.lua,
//! bulk_insert.lua), as server-side prepared statements and as plain text, translated and
//! run on SQLite.

mod common;

use common::{Db, i, t};
use quorate_sql::{Context, Statement, StatementKind, translate};
use rusqlite::types::Value;

/// The prepared statements of oltp_common.lua (`stmt_defs`), with their parameter counts.
const PREPARED: [(&str, usize); 9] = [
    ("SELECT c FROM sbtest1 WHERE id=?", 1),
    ("SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?", 2),
    ("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?", 2),
    (
        "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
        2,
    ),
    (
        "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
        2,
    ),
    ("UPDATE sbtest1 SET k=k+1 WHERE id=?", 1),
    ("UPDATE sbtest1 SET c=? WHERE id=?", 2),
    ("DELETE FROM sbtest1 WHERE id=?", 1),
    ("INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)", 4),
];

const CREATE_AUTO_INC: &str = "CREATE TABLE sbtest1(
  id INTEGER NOT NULL AUTO_INCREMENT,
  k INTEGER DEFAULT '0' NOT NULL,
  c CHAR(120) DEFAULT '' NOT NULL,
  pad CHAR(60) DEFAULT '' NOT NULL,
  PRIMARY KEY (id)
) /*! ENGINE = innodb */ ";

fn c_value(n: i64) -> String {
    // sysbench's c: 10 groups of 11 digits separated by '-'.
    (0..10)
        .map(|g| format!("{:011}", (n * 7919 + g) % 100_000_000_000))
        .collect::<Vec<_>>()
        .join("-")
}

fn pad_value(n: i64) -> String {
    (0..5)
        .map(|g| format!("{:011}", (n * 104_729 + g) % 100_000_000_000))
        .collect::<Vec<_>>()
        .join("-")
}

/// `sysbench oltp_* prepare` with auto_inc on: create, bulk insert, secondary index.
fn prepare(db: &mut Db, rows: i64) {
    db.ok(CREATE_AUTO_INC);
    let mut q = String::from("INSERT INTO sbtest1(k, c, pad) VALUES");
    for n in 1..=rows {
        if n > 1 {
            q.push(',');
        }
        q.push_str(&format!(
            "({}, '{}', '{}')",
            (n * 31) % rows + 1,
            c_value(n),
            pad_value(n)
        ));
    }
    db.ok(&q);
    db.ok("CREATE INDEX k_1 ON sbtest1(k)");
}

fn prepared(db: &Db, sql: &str) -> (String, usize) {
    let ctx = Context {
        current_db: Some("d"),
        catalog: Some(&db.conn),
    };
    match translate(sql, &ctx).unwrap().remove(0) {
        Statement::Sql {
            mut sqlite, params, ..
        } => {
            assert_eq!(sqlite.len(), 1);
            (sqlite.remove(0), params)
        }
        other => panic!("{other:?}"),
    }
}

fn run_prepared(db: &Db, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
    let (q, n) = prepared(db, sql);
    assert_eq!(n, params.len(), "{sql}");
    let mut stmt = db.conn.prepare(&q).unwrap();
    let cols = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .unwrap();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        out.push((0..cols).map(|i| r.get::<_, Value>(i).unwrap()).collect());
    }
    out
}

/// prepare creates the table, loads rows with generated ids and builds the k index.
#[test]
fn sysbench_prepare() {
    let mut db = Db::new();
    prepare(&mut db, 100);
    assert_eq!(
        db.ok("SELECT COUNT(*), MIN(id), MAX(id) FROM sbtest1"),
        vec![vec![i(100), i(1), i(100)]]
    );
    let idx = db.ok("SHOW INDEX FROM sbtest1");
    assert_eq!(idx.len(), 2);
    assert_eq!(idx[1][2], t("k_1"));
    // auto_inc off and --secondary variants create too.
    db.ok("CREATE TABLE sbtest2(\n  id INTEGER NOT NULL,\n  k INTEGER DEFAULT '0' NOT NULL,\n  c CHAR(120) DEFAULT '' NOT NULL,\n  pad CHAR(60) DEFAULT '' NOT NULL,\n  PRIMARY KEY (id)\n) /*! ENGINE = innodb */ ");
    db.ok("INSERT INTO sbtest2(id, k, c, pad) VALUES(1, 5, 'c', 'p'),(2, 6, 'c', 'p')");
    db.ok("CREATE TABLE sbtest3(\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  k INTEGER DEFAULT '0' NOT NULL,\n  c CHAR(120) DEFAULT '' NOT NULL,\n  pad CHAR(60) DEFAULT '' NOT NULL,\n  KEY xid (id)\n) /*! ENGINE = innodb */ ");
    db.ok("DROP TABLE IF EXISTS sbtest2");
    db.ok("DROP TABLE IF EXISTS sbtest3");
}

/// One oltp_read_write transaction with server-side prepared statements (--db-ps-mode=auto).
#[test]
fn sysbench_prepared_statements() {
    let mut db = Db::new();
    prepare(&mut db, 200);
    for (sql, n) in PREPARED {
        assert_eq!(prepared(&db, sql).1, n, "{sql}");
    }
    db.ok("BEGIN");
    let p = |x: i64| Value::Integer(x);
    let r = run_prepared(&db, PREPARED[0].0, &[p(7)]);
    assert_eq!(r, vec![vec![t(&c_value(7))]]);
    assert_eq!(run_prepared(&db, PREPARED[1].0, &[p(10), p(19)]).len(), 10);
    let sum: i64 = (10..=19).map(|n| (n * 31) % 200 + 1).sum();
    assert_eq!(
        run_prepared(&db, PREPARED[2].0, &[p(10), p(19)]),
        vec![vec![i(sum)]]
    );
    let ordered = run_prepared(&db, PREPARED[3].0, &[p(1), p(100)]);
    let mut sorted = ordered.clone();
    sorted.sort_by(|a, b| format!("{:?}", a[0]).cmp(&format!("{:?}", b[0])));
    assert_eq!(ordered, sorted);
    assert_eq!(run_prepared(&db, PREPARED[4].0, &[p(1), p(100)]).len(), 100);
    run_prepared(&db, PREPARED[5].0, &[p(5)]);
    run_prepared(&db, PREPARED[6].0, &[Value::Text(c_value(999)), p(6)]);
    run_prepared(&db, PREPARED[7].0, &[p(8)]);
    run_prepared(
        &db,
        PREPARED[8].0,
        &[
            p(8),
            p(1),
            Value::Text(c_value(8)),
            Value::Text(pad_value(8)),
        ],
    );
    db.ok("COMMIT");
    assert_eq!(
        db.ok("SELECT k FROM sbtest1 WHERE id = 5"),
        vec![vec![i((5 * 31) + 2)]]
    );
    assert_eq!(
        db.ok("SELECT c FROM sbtest1 WHERE id = 6"),
        vec![vec![t(&c_value(999))]]
    );
    assert_eq!(
        db.ok("SELECT k FROM sbtest1 WHERE id = 8"),
        vec![vec![i(1)]]
    );
}

/// The same transaction as plain text (--db-ps-mode=disable), plus oltp_insert with
/// auto_inc (id 0 means "generate"), bulk_insert, prewarm and cleanup.
#[test]
fn sysbench_text_protocol() {
    let mut db = Db::new();
    prepare(&mut db, 200);
    db.ok("BEGIN");
    assert_eq!(
        db.ok("SELECT c FROM sbtest1 WHERE id=7"),
        vec![vec![t(&c_value(7))]]
    );
    assert_eq!(
        db.ok("SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 19")
            .len(),
        10
    );
    assert_eq!(
        db.ok("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 10 AND 10"),
        vec![vec![i(10 * 31 % 200 + 1)]]
    );
    assert_eq!(
        db.ok("SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c")
            .len(),
        100
    );
    assert_eq!(
        db.ok("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c")
            .len(),
        100
    );
    db.ok("UPDATE sbtest1 SET k=k+1 WHERE id=5");
    db.ok(&format!(
        "UPDATE sbtest1 SET c='{}' WHERE id=6",
        c_value(1234)
    ));
    db.ok("DELETE FROM sbtest1 WHERE id=8");
    db.ok(&format!(
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (8, 3, '{}', '{}')",
        c_value(8),
        pad_value(8)
    ));
    db.ok("COMMIT");
    assert_eq!(
        db.ok("SELECT k FROM sbtest1 WHERE id = 8"),
        vec![vec![i(3)]]
    );

    // oltp_insert.lua with auto_inc: id 0 asks for a generated id.
    for n in 0..3 {
        db.ok(&format!(
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES ({}, {}, '{}', '{}')",
            0,
            n,
            c_value(n),
            pad_value(n)
        ));
    }
    assert_eq!(
        db.ok("SELECT MAX(id), COUNT(*) FROM sbtest1"),
        vec![vec![i(203), i(203)]]
    );
    // oltp_insert.lua without auto_inc: a signed 32-bit id.
    db.ok("INSERT INTO sbtest1 (id, k, c, pad) VALUES (-2147483000, 1, 'c', 'p')");

    // prewarm
    db.ok("SET tmp_table_size=2*1024*1024*1024");
    db.ok("SET max_heap_table_size=2*1024*1024*1024");
    db.ok("ANALYZE TABLE sbtest1");
    assert_eq!(
        db.ok("SELECT AVG(id) FROM (SELECT * FROM sbtest1 FORCE KEY (PRIMARY) LIMIT 3) t"),
        vec![vec![Value::Real((-2_147_483_000.0 + 1.0 + 2.0) / 3.0)]]
    );
    let r = db.ok("SELECT COUNT(*) FROM (SELECT * FROM sbtest1 WHERE k LIKE '%0%' LIMIT 200) t");
    assert!(matches!(r[0][0], Value::Integer(n) if n > 0));

    // bulk_insert.lua
    db.ok("CREATE TABLE IF NOT EXISTS sbtest9 (\n          id INTEGER NOT NULL,\n          k INTEGER DEFAULT '0' NOT NULL,\n          PRIMARY KEY (id))");
    db.ok("INSERT INTO sbtest9 VALUES(1,1),(2,2),(3,3)");
    assert_eq!(db.ok("SELECT COUNT(*) FROM sbtest9"), vec![vec![i(3)]]);

    // cleanup
    db.ok("DROP TABLE IF EXISTS sbtest1");
    db.ok("DROP TABLE IF EXISTS sbtest9");
    assert!(db.ok("SHOW TABLES").is_empty());
}

/// The shape cache returns exactly what the translator returns for sysbench's text-mode
/// statements, and serves all but the first statement of each shape from its templates.
#[test]
fn sysbench_shape_cache_is_exact() {
    let ctx = Context::with_db(Some("sbtest"));
    let mut cache = quorate_sql::ShapeCache::default();
    let mut n = 0;
    for k in 1..=50i64 {
        let statements = [
            format!("SELECT c FROM sbtest1 WHERE id={k}"),
            format!("SELECT c FROM sbtest1 WHERE id BETWEEN {k} AND {}", k + 99),
            format!(
                "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN {k} AND {}",
                k + 99
            ),
            format!(
                "SELECT c FROM sbtest1 WHERE id BETWEEN {k} AND {} ORDER BY c",
                k + 99
            ),
            format!(
                "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN {k} AND {} ORDER BY c",
                k + 99
            ),
            format!("UPDATE sbtest1 SET k=k+1 WHERE id={k}"),
            format!("UPDATE sbtest1 SET c='{}' WHERE id={k}", c_value(k)),
            format!("DELETE FROM sbtest1 WHERE id={k}"),
            format!(
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES ({k}, {k}, '{}', '{}')",
                c_value(k),
                pad_value(k)
            ),
            format!(
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, {k}, '{}', '{}')",
                c_value(k),
                pad_value(k)
            ),
        ];
        for s in &statements {
            assert_eq!(cache.translate(s, &ctx), translate(s, &ctx), "{s}");
            n += 1;
        }
    }
    // The two INSERT forms differ only in a literal: 9 shapes.
    assert_eq!(cache.hits, n - 9, "each of the 9 shapes is translated once");
}

/// Reads are classified as reads, writes as writes, so the session routes them right.
#[test]
fn sysbench_statement_kinds() {
    let ctx = Context::with_db(Some("sbtest"));
    for (sql, _) in PREPARED {
        let Statement::Sql { kind, tables, .. } = translate(sql, &ctx).unwrap().remove(0) else {
            panic!()
        };
        let want = if sql.starts_with("SELECT") {
            StatementKind::Read
        } else {
            StatementKind::Write
        };
        assert_eq!(kind, want, "{sql}");
        assert_eq!(tables, vec!["sbtest.sbtest1".to_string()]);
    }
    assert_eq!(
        translate("BEGIN", &ctx).unwrap(),
        vec![Statement::Begin { read_only: false }]
    );
    assert_eq!(translate("COMMIT", &ctx).unwrap(), vec![Statement::Commit]);
}
