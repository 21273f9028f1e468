//! MySQL's default strict mode: a value that does not fit its column is refused with
//! MySQL's error instead of being stored as given (`types::fit_checks`). Every case was
//! checked against MariaDB 10.11 with its default `sql_mode`.

mod common;

use common::{Db, i, null, t};
use rusqlite::types::Value;

fn db() -> Db {
    let mut db = Db::new();
    db.run(
        "CREATE TABLE s (id INT PRIMARY KEY, v VARCHAR(5), c CHAR(5), ti TINYINT, \
         iu INT UNSIGNED, n INT, bu BIGINT UNSIGNED, dc DECIMAL(5,2), tt TINYTEXT, \
         b TINYINT(1), f FLOAT, j JSON, vb VARBINARY(4))",
    )
    .unwrap();
    db
}

/// Values that do not fit are refused with MySQL's code, naming the column; the statement
/// stores nothing.
#[test]
fn values_that_do_not_fit_are_refused_with_mysqls_code() {
    let mut db = db();
    let cases = [
        ("v", "'abcdefgh'", 1406),
        ("v", "123456", 1406),
        ("c", "'abcdefg'", 1406),
        ("tt", "REPEAT('y', 256)", 1406),
        ("vb", "X'0102030405'", 1406),
        ("ti", "300", 1264),
        ("ti", "-129", 1264),
        ("iu", "-1", 1264),
        ("n", "2147483648", 1264),
        ("bu", "-1", 1264),
        ("dc", "12345.678", 1264),
        ("dc", "999.995", 1264),
        ("b", "200", 1264),
        ("f", "1e40", 1264),
        ("ti", "'abc'", 1366),
        ("n", "''", 1366),
        ("dc", "'abc'", 1366),
        ("f", "'abc'", 1366),
        ("j", "'not json'", 3140),
    ];
    for (k, (col, value, code)) in cases.iter().enumerate() {
        let sql = format!("INSERT INTO s (id, {col}) VALUES ({k}, {value})");
        let e = db.run(&sql).unwrap_err();
        assert!(e.starts_with(&format!("ERROR {code} ")), "{sql}: {e}");
        assert!(e.contains(&format!("'{col}'")), "{sql}: {e}");
    }
    assert_eq!(db.run("SELECT COUNT(*) FROM s").unwrap(), vec![vec![i(0)]]);
}

/// What MySQL accepts is still accepted: values at the limits, numeric text in number
/// columns, trailing spaces beyond a CHAR / VARCHAR length (MySQL cuts them), characters
/// (not bytes) counted for VARCHAR, valid JSON, NULL everywhere.
#[test]
fn values_that_fit_are_stored() {
    let mut db = db();
    db.run(
        "INSERT INTO s VALUES (1, 'ééééé', 'abc    ', 127, 4294967295, -2147483648, \
         18446744073709551615, 999.994, REPEAT('y', 255), -128, 3.4e38, '{\"a\": [1]}', \
         X'01020304')",
    )
    .unwrap();
    db.run("INSERT INTO s (id, ti, n, dc) VALUES (2, '12', ' 12 ', '1.5')")
        .unwrap();
    db.run("INSERT INTO s (id) VALUES (3)").unwrap();
    db.run("UPDATE s SET v = 'abc     ' WHERE id = 3").unwrap();
    assert_eq!(
        db.run("SELECT ti, n, dc, v FROM s WHERE id > 1 ORDER BY id")
            .unwrap(),
        vec![
            vec![i(12), i(12), Value::Real(1.5), null()],
            vec![null(), null(), null(), t("abc     ")],
        ]
    );
}

/// UPDATE and ALTER TABLE ADD COLUMN are held to the same rules; an added column's DEFAULT
/// that does not fit is refused with 1067, as MySQL refuses it.
#[test]
fn updates_and_added_columns_are_checked_too() {
    let mut db = db();
    db.run("INSERT INTO s (id, v) VALUES (1, 'ab')").unwrap();
    let e = db.run("UPDATE s SET v = CONCAT(v, 'cdef')").unwrap_err();
    assert!(e.starts_with("ERROR 1406 "), "{e}");
    db.run("ALTER TABLE s ADD COLUMN w VARCHAR(2)").unwrap();
    // A DEFAULT that the existing rows would carry into the new column must fit it.
    let e = db
        .run("ALTER TABLE s ADD COLUMN x VARCHAR(2) DEFAULT 'abc'")
        .unwrap_err();
    assert!(e.starts_with("ERROR 1067 "), "{e}");
    let e = db.run("UPDATE s SET w = 'xyz'").unwrap_err();
    assert!(e.starts_with("ERROR 1406 "), "{e}");
    assert_eq!(
        db.run("SELECT v, w FROM s").unwrap(),
        vec![vec![t("ab"), null()]]
    );
}

/// A user's own CHECK on a column keeps its own error (3819) next to quorate's named
/// constraints (SQLite would give an unnamed constraint the name of the CONSTRAINT before
/// it), and SHOW CREATE TABLE shows the user's CHECKs and none of quorate's.
#[test]
fn the_users_checks_keep_their_error_and_quorates_are_not_shown() {
    let mut db = Db::new();
    db.run(
        "CREATE TABLE u (id INT PRIMARY KEY, n INT CHECK (n > 0), \
         e ENUM('a','b') CHECK (e <> 'b'), d DECIMAL(4,1) UNSIGNED CHECK (d <> 5))",
    )
    .unwrap();
    for bad in [
        "INSERT INTO u (id, n) VALUES (1, 0)",
        "INSERT INTO u (id, e) VALUES (2, 'b')",
        "INSERT INTO u (id, d) VALUES (3, 5)",
    ] {
        let e = db.run(bad).unwrap_err();
        assert!(e.starts_with("ERROR 3819 "), "{bad}: {e}");
    }
    let e = db.run("INSERT INTO u (id, e) VALUES (4, 'c')").unwrap_err();
    assert!(e.starts_with("ERROR 1265 "), "{e}");
    let e = db.run("INSERT INTO u (id, d) VALUES (5, -1)").unwrap_err();
    assert!(e.starts_with("ERROR 1264 "), "{e}");
    let shown = format!("{:?}", db.run("SHOW CREATE TABLE u").unwrap());
    assert!(shown.contains("CHECK (n > 0)"), "{shown}");
    assert!(shown.contains("CHECK (e <> 'b')"), "{shown}");
    assert!(!shown.contains("mysql_"), "{shown}");
}
