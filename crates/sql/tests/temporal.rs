//! Date and time columns store values as MySQL does, through every statement that writes
//! them and across the DDL that reshapes their table (`temporal.rs`, `ddl.rs`).

mod common;

use common::{Db, i, null, t};

fn db_with_dates() -> Db {
    let mut db = Db::new();
    db.run(
        "CREATE TABLE e (id INT PRIMARY KEY, d DATE, dt DATETIME, dt3 DATETIME(3), \
         tm TIME, y YEAR, v VARCHAR(20))",
    )
    .unwrap();
    db
}

/// What applications send most: NOW() into a DATE column, a date into a DATETIME column,
/// unpadded and numeric dates. Each is stored in MySQL's form, so the comparisons that
/// MySQL answers find the row.
#[test]
fn inserted_dates_are_stored_as_mysql_stores_them() {
    let mut db = db_with_dates();
    db.run("INSERT INTO e (id, d, dt) VALUES (1, NOW(), CURDATE())")
        .unwrap();
    // (NOW() and CURDATE() of one statement fall on the same day but at midnight.)
    assert_eq!(
        db.run("SELECT id FROM e WHERE d = CURDATE() OR d = SUBSTR(dt, 1, 10)")
            .unwrap(),
        vec![vec![i(1)]]
    );
    assert_eq!(
        db.run("SELECT LENGTH(d), LENGTH(dt), SUBSTR(dt, 12) FROM e")
            .unwrap(),
        vec![vec![i(10), i(19), t("00:00:00")]]
    );
    db.run(
        "INSERT INTO e (id, d, dt, dt3, tm, y) VALUES \
         (2, '2024-3-6', '2024-03-05', '2024-03-05 10:11:12.98765', '10:11', 24), \
         (3, 20240307, 20240306101112, '2024-03-05T10:11:12', 101112, '2024')",
    )
    .unwrap();
    assert_eq!(
        db.run("SELECT d, dt, dt3, tm, y FROM e WHERE id > 1 ORDER BY id")
            .unwrap(),
        vec![
            vec![
                t("2024-03-06"),
                t("2024-03-05 00:00:00"),
                t("2024-03-05 10:11:12.987"),
                t("10:11:00"),
                i(2024)
            ],
            vec![
                t("2024-03-07"),
                t("2024-03-06 10:11:12"),
                t("2024-03-05 10:11:12.000"),
                t("10:11:12"),
                i(2024)
            ],
        ]
    );
    assert_eq!(
        db.run("SELECT id FROM e WHERE d = '2024-03-06'").unwrap(),
        vec![vec![i(2)]]
    );
    assert_eq!(
        db.run(
            "SELECT id FROM e WHERE dt >= '2024-03-05 00:00:00' \
             AND dt < '2024-03-06 00:00:00'"
        )
        .unwrap(),
        vec![vec![i(2)]]
    );
    assert_eq!(
        db.run("SELECT MAX(d) FROM e WHERE id > 1").unwrap(),
        vec![vec![t("2024-03-07")]]
    );
}

/// UPDATE, INSERT ... SELECT, REPLACE and ON DUPLICATE KEY UPDATE store their values the
/// same way; NULL stays NULL; a row that does not name a date column is left alone.
#[test]
fn every_writing_statement_stores_dates_the_same_way() {
    let mut db = db_with_dates();
    db.run("INSERT INTO e (id, d, dt) VALUES (1, '2024-03-05', '2024-03-05 10:00:00')")
        .unwrap();
    db.run("UPDATE e SET dt = dt + INTERVAL 1 HOUR, d = '2024/4/1' WHERE id = 1")
        .unwrap();
    assert_eq!(
        db.run("SELECT d, dt FROM e").unwrap(),
        vec![vec![t("2024-04-01"), t("2024-03-05 11:00:00")]]
    );
    db.run("INSERT INTO e (id, d) SELECT id + 10, '2024-5-6 07:08:09' FROM e")
        .unwrap();
    db.run("REPLACE INTO e (id, dt) VALUES (12, '2024-6-7')")
        .unwrap();
    db.run("INSERT INTO e (id, d) VALUES (1, NULL) ON DUPLICATE KEY UPDATE d = '2025-1-2 03:04'")
        .unwrap();
    db.run("UPDATE e SET v = 'x' WHERE id = 11").unwrap();
    assert_eq!(
        db.run("SELECT id, d, dt, v FROM e ORDER BY id").unwrap(),
        vec![
            vec![i(1), t("2025-01-02"), t("2024-03-05 11:00:00"), null()],
            vec![i(11), t("2024-05-06"), null(), t("x")],
            vec![i(12), null(), t("2024-06-07 00:00:00"), null()],
        ]
    );
}

/// A value that is no date is refused with MySQL's error, and the statement changes
/// nothing (MySQL's default strict mode).
#[test]
fn a_value_that_is_no_date_is_refused_and_nothing_changes() {
    let mut db = db_with_dates();
    db.run("INSERT INTO e (id, d) VALUES (1, '2024-03-05')")
        .unwrap();
    let cases = [
        (
            "INSERT INTO e (id, d) VALUES (2, '2024-02-30')",
            "ERROR 1292 (22007): Incorrect date value: '2024-02-30' for column `d`.`e`.`d`",
        ),
        (
            "INSERT INTO e (id, dt) VALUES (2, 'not a date')",
            "ERROR 1292 (22007): Incorrect datetime value: 'not a date' for column `d`.`e`.`dt`",
        ),
        (
            "INSERT INTO e (id, tm) VALUES (2, '10:61')",
            "ERROR 1292 (22007): Incorrect time value: '10:61' for column `d`.`e`.`tm`",
        ),
        (
            "INSERT INTO e (id, y) VALUES (2, 1900)",
            "ERROR 1264 (22003): Out of range value for column `d`.`e`.`y`",
        ),
        (
            "UPDATE e SET d = '' WHERE id = 1",
            "ERROR 1292 (22007): Incorrect date value: '' for column `d`.`e`.`d`",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(db.run(sql).unwrap_err(), want, "{sql}");
    }
    // A multi-row INSERT with one bad row inserts none of them.
    assert!(
        db.run("INSERT INTO e (id, d) VALUES (5, '2024-01-01'), (6, '2024-13-01')")
            .is_err()
    );
    assert_eq!(
        db.run("SELECT id, d FROM e").unwrap(),
        vec![vec![i(1), t("2024-03-05")]]
    );
}

/// ALTER TABLE keeps the triggers in step with the columns: a date column added later is
/// stored as MySQL does, a dropped or renamed one does not break the table, and a renamed
/// table keeps storing dates and gives its old name back.
#[test]
fn alter_and_rename_keep_dates_stored() {
    let mut db = Db::new();
    db.run("CREATE TABLE a (id INT PRIMARY KEY, v INT)")
        .unwrap();
    db.run("ALTER TABLE a ADD COLUMN d DATE, ADD COLUMN dt DATETIME")
        .unwrap();
    db.run("INSERT INTO a VALUES (1, 1, NOW(), '2024-1-2')")
        .unwrap();
    assert_eq!(
        db.run("SELECT LENGTH(d), dt FROM a").unwrap(),
        vec![vec![i(10), t("2024-01-02 00:00:00")]]
    );
    db.run("ALTER TABLE a DROP COLUMN d").unwrap();
    db.run("ALTER TABLE a RENAME COLUMN dt TO created").unwrap();
    db.run("INSERT INTO a VALUES (2, 2, '2024-1-3')").unwrap();
    db.run("ALTER TABLE a DROP COLUMN created").unwrap();
    db.run("INSERT INTO a VALUES (3, 3)").unwrap();

    db.run("CREATE TABLE b (id INT PRIMARY KEY, d DATE)")
        .unwrap();
    db.run("CREATE TABLE c (id INT PRIMARY KEY, t TIME)")
        .unwrap();
    db.run("RENAME TABLE b TO tmp, c TO b, tmp TO c").unwrap();
    db.run("INSERT INTO b VALUES (1, '1:2')").unwrap();
    db.run("INSERT INTO c VALUES (1, '2024-2-3 04:05')")
        .unwrap();
    assert_eq!(
        db.run("SELECT t FROM b").unwrap(),
        vec![vec![t("01:02:00")]]
    );
    assert_eq!(
        db.run("SELECT d FROM c").unwrap(),
        vec![vec![t("2024-02-03")]]
    );
    db.run("ALTER TABLE c RENAME TO c2").unwrap();
    db.run("CREATE TABLE c (id INT PRIMARY KEY, d DATETIME)")
        .unwrap();
    db.run("INSERT INTO c VALUES (1, '2024-2-3')").unwrap();
    db.run("INSERT INTO c2 VALUES (2, '2024-2-4 05:06')")
        .unwrap();
    assert_eq!(
        db.run("SELECT d FROM c UNION ALL SELECT d FROM c2 ORDER BY 1 COLLATE BINARY")
            .unwrap(),
        vec![
            vec![t("2024-02-03")],
            vec![t("2024-02-03 00:00:00")],
            vec![t("2024-02-04")]
        ]
    );
}

/// CREATE TABLE IF NOT EXISTS of a table that exists with other columns leaves it as it
/// is (its triggers come from the table, not from the statement), and one ALTER that adds a
/// date column and drops another works.
#[test]
fn if_not_exists_and_mixed_alters_leave_working_tables() {
    let mut db = Db::new();
    db.run("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .unwrap();
    db.run("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, created DATETIME)")
        .unwrap();
    db.run("INSERT INTO t (id, v) VALUES (1, 1)").unwrap();
    db.run("ALTER TABLE t ADD COLUMN b DATE").unwrap();
    db.run("ALTER TABLE t ADD COLUMN a DATE, DROP COLUMN b")
        .unwrap();
    db.run("CREATE TABLE u (id INT PRIMARY KEY)").unwrap();
    db.run("RENAME TABLE u TO u2").unwrap();
    db.run("INSERT INTO t (id, a) VALUES (2, '2024-1-2')")
        .unwrap();
    assert_eq!(
        db.run("SELECT id, a FROM t ORDER BY id").unwrap(),
        vec![vec![i(1), null()], vec![i(2), t("2024-01-02")]]
    );
}

/// CREATE TABLE ... LIKE copies the storing of dates; SHOW CREATE TABLE shows none of the
/// triggers; a generated date column is left to its expression.
#[test]
fn like_copies_and_show_create_table_hides_the_triggers() {
    let mut db = Db::new();
    db.run(
        "CREATE TABLE g (id INT PRIMARY KEY, dt DATETIME, \
         d DATE GENERATED ALWAYS AS (dt) VIRTUAL)",
    )
    .unwrap();
    db.run("CREATE TABLE h LIKE g").unwrap();
    db.run("INSERT INTO h (id, dt) VALUES (1, '2024-3-4')")
        .unwrap();
    // The trigger does not set the generated column (SQLite would refuse the INSERT).
    assert_eq!(
        db.run("SELECT dt FROM h").unwrap(),
        vec![vec![t("2024-03-04 00:00:00")]]
    );
    let shown = db.run("SHOW CREATE TABLE h").unwrap();
    let text = format!("{shown:?}");
    assert!(!text.contains("mysql_store"), "{text}");
    assert!(!text.to_ascii_uppercase().contains("TRIGGER"), "{text}");
}
