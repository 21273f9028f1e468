//! Translation: each MySQL construct in scope, checked by its SQLite text and, where it has
//! an effect, by running it on SQLite.

mod common;

use common::{Db, i, null, sqlite_of, t};
use quorate_sql::{
    Context, GrantTarget, Privileges, SetValue, SqlError, Statement, StatementKind, UserName,
    VarScope, translate,
};
use rusqlite::types::Value;

fn one(sql: &str, db: Option<&str>) -> Statement {
    let mut v = translate(sql, &Context::with_db(db)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(v.len(), 1, "{sql}");
    v.remove(0)
}

fn refused(sql: &str) -> String {
    match translate(sql, &Context::with_db(Some("d"))) {
        Err(SqlError::Unsupported { construct }) => construct,
        other => panic!("{sql}: expected Unsupported, got {other:?}"),
    }
}

/// Table references become `"d.t" AS "t"` everywhere; `d.t.col` becomes `t.col`; an
/// explicit alias is kept.
#[test]
fn table_names_are_mangled_with_alias() {
    assert_eq!(
        sqlite_of(
            "SELECT t.a, x.b FROM t JOIN e.u AS x ON t.id = x.id WHERE d.t.c = 1",
            Some("d")
        ),
        vec![
            "SELECT t.a, x.b FROM \"d.t\" AS \"t\" JOIN \"e.u\" AS x ON t.id = x.id WHERE t.c = 1"
        ]
    );
    assert_eq!(
        sqlite_of("SELECT * FROM `my db`.`odd\"name`", None),
        vec!["SELECT * FROM \"my db.odd\"\"name\" AS \"odd\"\"name\""]
    );
    // CTE names are not tables.
    assert_eq!(
        sqlite_of("WITH x AS (SELECT 1 AS a) SELECT a FROM x", None),
        vec!["WITH x AS (SELECT 1 AS a) SELECT a FROM x"]
    );
}

/// An unqualified table without a current database is error 1046.
#[test]
fn no_database_selected() {
    let e = translate("SELECT * FROM t", &Context::default()).unwrap_err();
    assert_eq!(e, SqlError::NoDatabaseSelected);
    assert_eq!(e.mysql_error().code, 1046);
    // Qualified names need no current database.
    assert!(translate("SELECT * FROM d.t", &Context::default()).is_ok());
}

/// Internal tables and SQLite schema tables cannot be reached from user SQL.
#[test]
fn internal_tables_are_unreachable() {
    for sql in [
        "SELECT * FROM _quorate_databases",
        "SELECT * FROM d._quorate_meta",
        "DELETE FROM sqlite_master",
        "SELECT * FROM _quorate_x.t",
        "INSERT INTO sqlite_sequence VALUES ('x', 1)",
    ] {
        let e = translate(sql, &Context::with_db(Some("d"))).unwrap_err();
        assert!(matches!(e, SqlError::SystemTable { .. }), "{sql}: {e:?}");
        assert_eq!(e.mysql_error().code, 3554);
    }
    // information_schema is answered (tests/infoschema.rs); the other system schemas are
    // refused by name.
    for sql in [
        "SELECT * FROM performance_schema.threads",
        "SELECT * FROM mysql.user",
        "SELECT * FROM information_schema.innodb_trx",
    ] {
        assert!(
            matches!(
                translate(sql, &Context::default()),
                Err(SqlError::Unsupported { .. })
            ),
            "{sql}"
        );
    }
}

/// Column names that MySQL accepts unquoted but SQLite reserves still work.
#[test]
fn sqlite_only_keywords_as_names() {
    let mut db = Db::new();
    db.ok("CREATE TABLE k (transaction INT, escape INT, nothing INT)");
    db.ok("INSERT INTO k (transaction, escape, nothing) VALUES (1, 2, 3)");
    db.ok("UPDATE k SET transaction = transaction + 1 WHERE escape = 2");
    assert_eq!(
        db.ok("SELECT transaction, k.escape FROM k ORDER BY nothing"),
        vec![vec![i(2), i(2)]]
    );
}

/// Statement kinds, placeholder counts and touched tables are reported.
#[test]
fn kinds_params_tables() {
    match one("SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?", Some("d")) {
        Statement::Sql {
            sqlite,
            kind,
            params,
            tables,
        } => {
            assert_eq!(
                sqlite,
                vec!["SELECT c FROM \"d.sbtest1\" AS \"sbtest1\" WHERE id BETWEEN ?1 AND ?2"]
            );
            assert_eq!((kind, params), (StatementKind::Read, 2));
            assert_eq!(tables, vec!["d.sbtest1".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        one("UPDATE t SET a = ?", Some("d")),
        Statement::Sql {
            kind: StatementKind::Write,
            params: 1,
            ..
        }
    ));
    assert!(matches!(
        one("CREATE INDEX k ON t (a)", Some("d")),
        Statement::Sql {
            kind: StatementKind::Ddl,
            ..
        }
    ));
}

/// LIMIT a,b and LIMIT b OFFSET a keep MySQL's meaning on SQLite.
#[test]
fn limit_forms() {
    let mut db = Db::new();
    db.ok("CREATE TABLE n (x INT)");
    db.ok("INSERT INTO n VALUES (1),(2),(3),(4),(5)");
    assert_eq!(
        db.ok("SELECT x FROM n ORDER BY x LIMIT 1, 2"),
        vec![vec![i(2)], vec![i(3)]]
    );
    assert_eq!(
        db.ok("SELECT x FROM n ORDER BY x LIMIT 2 OFFSET 3"),
        vec![vec![i(4)], vec![i(5)]]
    );
}

/// CREATE TABLE: AUTO_INCREMENT becomes the rowid key, types keep their MySQL names, inline
/// KEY / UNIQUE KEY become CREATE INDEX statements, table options are ignored, columns get
/// the named CHECKs of MySQL's strict mode.
#[test]
fn create_table_translation() {
    let sql = sqlite_of(
        "CREATE TABLE `users` (
          `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
          `email` varchar(255) NOT NULL,
          `name` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,
          `kind` enum('a','b') NOT NULL DEFAULT 'a',
          `score` decimal(10,2) DEFAULT '0.00',
          `created` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
          `updated` timestamp NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP,
          PRIMARY KEY (`id`),
          UNIQUE KEY `email` (`email`),
          KEY `name_kind` (`name`,`kind`)
        ) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        Some("d"),
    );
    assert_eq!(sql.len(), 3);
    assert_eq!(
        sql[0],
        "CREATE TABLE \"d.users\" (\n  \
         \"id\" INTEGER NOT NULL CONSTRAINT \"mysql_type bigint unsigned\" PRIMARY KEY AUTOINCREMENT,\n  \
         \"email\" VARCHAR(255) NOT NULL COLLATE NOCASE CONSTRAINT \"mysql_length email\" \
         CHECK (length(\"email\") <= 255 OR length(rtrim(\"email\", ' ')) <= 255),\n  \
         \"name\" VARCHAR(100) DEFAULT NULL COLLATE BINARY CONSTRAINT \"mysql_length name\" \
         CHECK (length(\"name\") <= 100 OR length(rtrim(\"name\", ' ')) <= 100),\n  \
         \"kind\" ENUM TEXT NOT NULL DEFAULT 'a' COLLATE NOCASE CONSTRAINT \"mysql_type enum('a','b')\" NULL \
         CONSTRAINT \"mysql_enum kind\" CHECK (\"kind\" IN ('a','b')),\n  \
         \"score\" DECIMAL(10,2) DEFAULT '0.00' \
         CONSTRAINT \"mysql_number decimal score\" CHECK (typeof(\"score\") <> 'text') \
         CONSTRAINT \"mysql_range score\" CHECK (\"score\" > -99999999.995 AND \"score\" < 99999999.995),\n  \
         \"created\" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COLLATE MYSQL_DATETIME,\n  \
         \"updated\" TIMESTAMP DEFAULT NULL COLLATE MYSQL_DATETIME CONSTRAINT \"mysql_on_update\" NULL\n)"
    );
    assert_eq!(
        sql[1],
        "CREATE UNIQUE INDEX \"d.users.email\" ON \"d.users\" (\"email\")"
    );
    assert_eq!(
        sql[2],
        "CREATE INDEX \"d.users.name_kind\" ON \"d.users\" (\"name\", \"kind\")"
    );
}

/// The sysbench table (with and without AUTO_INCREMENT, with --secondary) creates and works.
#[test]
fn create_table_sysbench_variants() {
    let mut db = Db::new();
    db.ok("CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */");
    db.ok("CREATE TABLE sbtest2(id INTEGER NOT NULL, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */");
    db.ok("CREATE TABLE sbtest3(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, KEY xid (id)) /*! ENGINE = innodb */");
    db.ok("INSERT INTO sbtest3 (k, c, pad) VALUES (1, 'a', 'b'), (2, 'c', 'd')");
    assert_eq!(
        db.ok("SELECT id, k FROM sbtest3 ORDER BY id"),
        vec![vec![i(1), i(1)], vec![i(2), i(2)]]
    );
    // Both sbtest1.id and sbtest2.id are rowid aliases.
    assert_eq!(
        db.query("SELECT count(*) FROM pragma_index_list('d.sbtest2')")
            .unwrap(),
        vec![vec![i(0)]]
    );
}

/// AUTO_INCREMENT keys: NULL and 0 generate a value (MySQL semantics), LAST_INSERT_ID()
/// sees it, explicit values are kept.
#[test]
fn auto_increment_semantics() {
    let mut db = Db::new();
    db.ok("CREATE TABLE a (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))");
    db.ok("INSERT INTO a (id, v) VALUES (0, 'x')");
    db.ok("INSERT INTO a (id, v) VALUES (0, 'y')");
    db.ok("INSERT INTO a (v) VALUES ('z')");
    db.ok("INSERT INTO a VALUES (NULL, 'w')");
    db.ok("INSERT INTO a VALUES (10, 'ten')");
    db.ok("INSERT INTO a VALUES (0, 'eleven')");
    assert_eq!(db.ok("SELECT LAST_INSERT_ID()"), vec![vec![i(11)]]);
    let rows = db.ok("SELECT id, v FROM a ORDER BY id");
    let ids: Vec<Value> = rows.into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, vec![i(1), i(2), i(3), i(4), i(10), i(11)]);
    // A placeholder given 0 generates too.
    let ctx = Context {
        current_db: Some("d"),
        catalog: Some(&db.conn),
    };
    let s = translate("INSERT INTO a (id, v) VALUES (?, ?)", &ctx).unwrap();
    let Statement::Sql { sqlite, .. } = &s[0] else {
        panic!()
    };
    assert_eq!(
        sqlite[0],
        "INSERT INTO \"d.a\" AS \"a\" (\"id\", \"v\") VALUES (nullif(?1, 0), ?2)"
    );
}

/// Refused CREATE TABLE forms name the construct.
#[test]
fn create_table_refusals() {
    assert!(refused("CREATE TABLE t (a INT, FULLTEXT KEY f (a))").contains("FULLTEXT"));
    assert!(refused("CREATE TABLE t (g POINT)").contains("spatial"));
    assert!(refused("CREATE TEMPORARY TABLE t (a INT)").contains("TEMPORARY"));
    assert!(refused("CREATE TABLE t AS SELECT 1").contains("SELECT"));
    assert!(
        refused("CREATE TABLE t (a INT AUTO_INCREMENT, b INT, PRIMARY KEY (b, a))")
            .contains("AUTO_INCREMENT")
    );
    assert!(
        refused("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1")
            .contains("TRIGGER")
    );
    assert!(refused("CREATE PROCEDURE p() BEGIN END").contains("PROCEDURE"));
}

/// Column types get the right affinity and report their MySQL names in DESCRIBE.
#[test]
fn types_and_describe() {
    let mut db = Db::new();
    db.ok("CREATE TABLE ty (
          id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
          ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT, b BOOL,
          vc VARCHAR(20), ch CHAR(3), tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
          dt DATETIME, ts TIMESTAMP, d DATE, tm TIME, y YEAR,
          de DECIMAL(8,3), f FLOAT, db DOUBLE,
          bl BLOB, lb LONGBLOB, vb VARBINARY(16), bn BINARY(4),
          e ENUM('x','y'), s SET('p','q'), j JSON
        )");
    let rows = db.ok("DESCRIBE ty");
    let types: Vec<String> = rows
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (Value::Text(n), Value::Text(ty)) => format!("{n}:{ty}"),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        types,
        [
            "id:int",
            "ti:tinyint",
            "si:smallint unsigned",
            "mi:mediumint",
            "bi:bigint",
            "b:tinyint(1)",
            "vc:varchar(20)",
            "ch:char(3)",
            "tx:text",
            "mt:mediumtext",
            "lt:longtext",
            "dt:datetime",
            "ts:timestamp",
            "d:date",
            "tm:time",
            "y:year",
            "de:decimal(8,3)",
            "f:float",
            "db:double",
            "bl:blob",
            "lb:longblob",
            "vb:varbinary(16)",
            "bn:binary(4)",
            "e:enum('x','y')",
            "s:set('p','q')",
            "j:json"
        ]
    );
    assert_eq!(rows[0][3], t("PRI"));
    assert_eq!(rows[0][5], t("auto_increment"));
    // Affinity: numbers stay numbers, text stays text, binary is not converted.
    db.ok("INSERT INTO ty (bi, vc, de, vb, j) VALUES ('12', 34, '1.50', '56', '78')");
    assert_eq!(
        db.ok("SELECT typeof(bi), typeof(vc), typeof(de), typeof(vb), typeof(j) FROM ty"),
        vec![vec![
            t("integer"),
            t("text"),
            t("real"),
            t("text"),
            t("text")
        ]]
    );
}

/// ENUM values are checked (1265 "Data truncated"), text comparison is case-insensitive
/// by default and binary with a _bin collation.
#[test]
fn enum_and_collation() {
    let mut db = Db::new();
    db.ok("CREATE TABLE c (e ENUM('small','large'), ci VARCHAR(10), cs VARCHAR(10) COLLATE utf8mb4_bin, UNIQUE KEY (ci))");
    db.ok("INSERT INTO c VALUES ('small', 'Bob', 'Bob')");
    let e = db.err("INSERT INTO c VALUES ('huge', 'x', 'x')");
    assert!(e.contains("1265"), "{e}");
    assert_eq!(
        db.ok("SELECT count(*) FROM c WHERE ci = 'BOB'"),
        vec![vec![i(1)]]
    );
    assert_eq!(
        db.ok("SELECT count(*) FROM c WHERE cs = 'BOB'"),
        vec![vec![i(0)]]
    );
    let e = db.err("INSERT INTO c VALUES ('large', 'bob', 'x')");
    assert!(
        e.contains("1062"),
        "unique keys are case-insensitive too: {e}"
    );
}

/// INSERT ... ON DUPLICATE KEY UPDATE becomes an upsert; VALUES(col) and row aliases read
/// the rejected row.
#[test]
fn on_duplicate_key_update() {
    let mut db = Db::new();
    db.ok("CREATE TABLE u (id INT PRIMARY KEY, n INT, s VARCHAR(10), UNIQUE KEY (s))");
    db.ok("INSERT INTO u VALUES (1, 1, 'a')");
    db.ok("INSERT INTO u VALUES (1, 5, 'b') ON DUPLICATE KEY UPDATE n = n + VALUES(n)");
    assert_eq!(
        db.ok("SELECT id, n, s FROM u"),
        vec![vec![i(1), i(6), t("a")]]
    );
    // Conflict on a secondary unique key.
    db.ok("INSERT INTO u VALUES (2, 7, 'a') ON DUPLICATE KEY UPDATE n = 100");
    assert_eq!(db.ok("SELECT id, n FROM u"), vec![vec![i(1), i(100)]]);
    db.ok("INSERT INTO u VALUES (1, 9, 'z') AS new ON DUPLICATE KEY UPDATE n = new.n");
    assert_eq!(db.ok("SELECT n FROM u"), vec![vec![i(9)]]);
    // INSERT ... SELECT ... ON DUPLICATE KEY UPDATE.
    db.ok("INSERT INTO u (id, n, s) SELECT id, 0, 'q' FROM u ON DUPLICATE KEY UPDATE n = 42");
    assert_eq!(db.ok("SELECT n FROM u"), vec![vec![i(42)]]);
}

/// MySQL's modifiers after UPDATE and DELETE: `UPDATE IGNORE` skips the rows whose change
/// would break a unique key and changes the others; LOW_PRIORITY and QUICK are hints;
/// `DELETE IGNORE` is refused, naming it. (sqlparser read the modifier as the table name:
/// "Table 'd.IGNORE' doesn't exist".)
#[test]
fn update_and_delete_modifiers() {
    let mut db = Db::new();
    db.ok("CREATE TABLE u (id INT PRIMARY KEY, name VARCHAR(5) UNIQUE)");
    db.ok("INSERT INTO u VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    assert!(
        db.err("UPDATE u SET name = 'a' WHERE id = 2")
            .contains("1062")
    );
    db.ok("UPDATE IGNORE u SET name = 'a' WHERE id IN (2, 3)");
    db.ok("UPDATE LOW_PRIORITY IGNORE u SET name = 'z' WHERE id = 1");
    db.ok("update low_priority u SET name = 'y' WHERE id = 2");
    assert_eq!(
        db.ok("SELECT id, name FROM u ORDER BY id"),
        vec![vec![i(1), t("z")], vec![i(2), t("y")], vec![i(3), t("c")]],
        "the row that would collide is skipped, the others change"
    );
    db.ok("DELETE LOW_PRIORITY QUICK FROM u WHERE id = 3");
    let e = db.err("DELETE IGNORE FROM u WHERE id = 1");
    assert!(e.contains("1235") && e.contains("DELETE IGNORE"), "{e}");
    assert_eq!(db.ok("SELECT count(*) FROM u"), vec![vec![i(2)]]);
}

/// REPLACE replaces the conflicting row; INSERT IGNORE skips it.
#[test]
fn replace_and_insert_ignore() {
    let mut db = Db::new();
    db.ok("CREATE TABLE r (id INT PRIMARY KEY, v VARCHAR(5))");
    db.ok("INSERT INTO r VALUES (1, 'a')");
    db.ok("REPLACE INTO r VALUES (1, 'b')");
    db.ok("INSERT IGNORE INTO r VALUES (1, 'c'), (2, 'd')");
    assert_eq!(
        db.ok("SELECT id, v FROM r ORDER BY id"),
        vec![vec![i(1), t("b")], vec![i(2), t("d")]]
    );
    db.ok("INSERT INTO r SET id = 3, v = 'e'");
    assert_eq!(db.ok("SELECT v FROM r WHERE id = 3"), vec![vec![t("e")]]);
    db.ok("INSERT INTO r (id, v) VALUES (4, DEFAULT)");
    assert_eq!(db.ok("SELECT v FROM r WHERE id = 4"), vec![vec![null()]]);
    // Without a column list the schema names the columns.
    db.ok("CREATE TABLE r2 (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v VARCHAR(5) DEFAULT 'z')");
    db.ok("INSERT INTO r2 VALUES (DEFAULT, 'a'), (DEFAULT, DEFAULT)");
    db.ok("INSERT INTO r2 VALUES (5, DEFAULT)");
    assert_eq!(
        db.ok("SELECT id, v FROM r2 ORDER BY id"),
        vec![vec![i(1), t("a")], vec![i(2), t("z")], vec![i(5), t("z")]]
    );
    // Without a schema catalog, DEFAULT in only some rows is refused by name.
    let ctx = Context::with_db(Some("d"));
    let e = translate(
        "INSERT INTO r2 (id, v) VALUES (DEFAULT, 'a'), (3, DEFAULT)",
        &ctx,
    );
    assert!(matches!(e, Err(SqlError::Unsupported { .. })), "{e:?}");
}

/// UPDATE / DELETE with ORDER BY and LIMIT touch exactly the rows MySQL would.
#[test]
fn update_delete_with_limit() {
    let mut db = Db::new();
    db.ok("CREATE TABLE l (id INT PRIMARY KEY, v INT)");
    db.ok("INSERT INTO l VALUES (1,0),(2,0),(3,0),(4,0)");
    db.ok("UPDATE l SET l.v = 1 WHERE id > 1 ORDER BY id DESC LIMIT 2");
    assert_eq!(
        db.ok("SELECT id FROM l WHERE v = 1 ORDER BY id"),
        vec![vec![i(3)], vec![i(4)]]
    );
    db.ok("DELETE FROM l ORDER BY id LIMIT 1");
    assert_eq!(
        db.ok("SELECT count(*), min(id) FROM l"),
        vec![vec![i(3), i(2)]]
    );
    db.ok("DELETE FROM d.l WHERE d.l.id = 2");
    assert_eq!(db.ok("SELECT count(*) FROM l"), vec![vec![i(2)]]);
}

/// ON UPDATE CURRENT_TIMESTAMP columns are set by UPDATEs that do not set them.
#[test]
fn on_update_current_timestamp() {
    let mut db = Db::new();
    db.ok("CREATE TABLE o (id INT PRIMARY KEY, v INT, ts TIMESTAMP NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP)");
    db.ok("INSERT INTO o (id, v) VALUES (1, 1)");
    assert_eq!(db.ok("SELECT ts FROM o"), vec![vec![null()]]);
    db.ok("UPDATE o SET v = 2");
    let rows = db.ok("SELECT ts FROM o");
    assert!(
        matches!(&rows[0][0], Value::Text(s) if s.len() == 19),
        "{rows:?}"
    );
    db.ok("UPDATE o SET ts = '2000-01-01 00:00:00'");
    assert_eq!(
        db.ok("SELECT ts FROM o"),
        vec![vec![t("2000-01-01 00:00:00")]]
    );
    let rows = db.ok("SHOW COLUMNS FROM o LIKE 'ts'");
    assert_eq!(rows[0][5], t("on update CURRENT_TIMESTAMP"));
}

/// System and user variables, DATABASE(), VERSION() and friends.
#[test]
fn variables_and_session_functions() {
    let mut db = Db::new();
    let rows = db
        .ok("SELECT @@version, @@version_comment, @@autocommit, @@session.autocommit, DATABASE()");
    assert_eq!(rows[0][0], t(quorate_sql::MYSQL_VERSION));
    assert_eq!(rows[0][2], i(1));
    assert_eq!(rows[0][4], t("d"));
    db.ok("SET @x = 5, @y := @x * 2");
    assert_eq!(
        db.ok("SELECT @x, @y, @unset"),
        vec![vec![i(5), i(10), null()]]
    );
    db.ok("SET autocommit = OFF");
    assert_eq!(db.ok("SELECT @@autocommit"), vec![vec![i(0)]]);
    let e = db.err("SELECT @@no_such_variable");
    assert!(e.contains("1193"), "{e}");
    // Result column names are the MySQL text of the expression.
    let ctx = Context::with_db(Some("d"));
    let Statement::Sql { sqlite, .. } = translate("SELECT @@version, COUNT(*), NOW( ), 1+1", &ctx)
        .unwrap()
        .remove(0)
    else {
        panic!()
    };
    assert_eq!(
        sqlite[0],
        "SELECT mysql_sysvar('version') AS \"@@version\", COUNT(*) AS \"COUNT(*)\", now() AS \"NOW( )\", 1 + 1 AS \"1+1\""
    );
    let mut stmt = db.conn.prepare(&sqlite[0]).unwrap();
    assert_eq!(
        stmt.column_names().collect::<Vec<_>>(),
        vec!["@@version", "COUNT(*)", "NOW( )", "1+1"]
    );
    let _ = stmt.query([]).unwrap();
    let Statement::Sql { sqlite, .. } = translate(
        "SELECT COUNT(DISTINCT a), JSON_EXTRACT(j, '$.a'), NOW() - INTERVAL 1 DAY, d.t.* FROM d.t",
        &ctx,
    )
    .unwrap()
    .remove(0) else {
        panic!()
    };
    assert!(
        sqlite[0].contains("AS \"COUNT(DISTINCT a)\""),
        "{}",
        sqlite[0]
    );
    assert!(
        sqlite[0].contains("AS \"JSON_EXTRACT(j, '$.a')\""),
        "{}",
        sqlite[0]
    );
    assert!(
        sqlite[0].contains("AS \"NOW() - INTERVAL 1 DAY\""),
        "{}",
        sqlite[0]
    );
    assert!(sqlite[0].contains(", t.* FROM"), "{}", sqlite[0]);
}

/// MySQL functions and operators that SQLite spells differently.
#[test]
fn functions_and_operators() {
    let mut db = Db::new();
    let q = |db: &mut Db, e: &str| db.ok(&format!("SELECT {e}")).remove(0).remove(0);
    assert_eq!(q(&mut db, "IF(1 > 0, 'y', 'n')"), t("y"));
    assert_eq!(q(&mut db, "IFNULL(NULL, 3)"), i(3));
    assert_eq!(q(&mut db, "CONCAT('a', 'b', 1)"), t("ab1"));
    assert_eq!(q(&mut db, "CONCAT('a', NULL)"), null());
    assert_eq!(q(&mut db, "LENGTH('é')"), i(2));
    assert_eq!(q(&mut db, "CHAR_LENGTH('é')"), i(1));
    assert_eq!(q(&mut db, "UCASE('a')"), t("A"));
    assert_eq!(q(&mut db, "SUBSTRING('hello', 2, 3)"), t("ell"));
    assert_eq!(q(&mut db, "SUBSTRING('hello' FROM 2 FOR 2)"), t("el"));
    assert_eq!(q(&mut db, "TRIM(LEADING 'x' FROM 'xxa')"), t("a"));
    assert_eq!(q(&mut db, "POSITION('l' IN 'hello')"), i(3));
    assert_eq!(q(&mut db, "7 DIV 2"), i(3));
    // `/` divides exactly, integers too; by zero it is NULL.
    assert_eq!(q(&mut db, "7 / 2"), Value::Real(3.5));
    assert_eq!(
        q(
            &mut db,
            "(SELECT COUNT(*) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)) / 2"
        ),
        Value::Real(1.5)
    );
    assert_eq!(q(&mut db, "1 / 0"), null());
    assert_eq!(q(&mut db, "8 DIV 2 / 8"), Value::Real(0.5));
    // Math functions (SQLite's, built with SQLITE_ENABLE_MATH_FUNCTIONS), with MySQL's LOG.
    assert_eq!(q(&mut db, "FLOOR(7 / 2)"), Value::Real(3.0));
    assert_eq!(q(&mut db, "CEIL(2.1)"), Value::Real(3.0));
    assert_eq!(q(&mut db, "CEILING(-2.5)"), Value::Real(-2.0));
    assert_eq!(q(&mut db, "SQRT(16)"), Value::Real(4.0));
    assert_eq!(q(&mut db, "POW(2, 10)"), Value::Real(1024.0));
    assert_eq!(q(&mut db, "POWER(3, 2)"), Value::Real(9.0));
    assert_eq!(q(&mut db, "LN(1)"), Value::Real(0.0));
    assert_eq!(q(&mut db, "ROUND(LOG(EXP(2)), 6)"), Value::Real(2.0));
    assert_eq!(q(&mut db, "LOG(2, 8)"), Value::Real(3.0));
    assert_eq!(q(&mut db, "LOG10(1000)"), Value::Real(3.0));
    assert_eq!(q(&mut db, "PI()"), Value::Real(std::f64::consts::PI));
    assert_eq!(q(&mut db, "MOD(7, 3)"), i(1));
    assert_eq!(q(&mut db, "NULL <=> NULL"), i(1));
    assert_eq!(q(&mut db, "1 || 0"), i(1));
    assert_eq!(q(&mut db, "GREATEST(1, 5, 3)"), i(5));
    assert_eq!(q(&mut db, "CAST('12abc' AS SIGNED)"), i(12));
    assert_eq!(q(&mut db, "CAST(5 AS CHAR)"), t("5"));
    assert_eq!(q(&mut db, "CONVERT('x' USING utf8mb4)"), t("x"));
    assert_eq!(
        q(&mut db, "DATE_ADD('2024-01-31', INTERVAL 1 DAY)"),
        t("2024-02-01")
    );
    assert_eq!(
        q(&mut db, "DATE_SUB('2024-01-01 10:00:00', INTERVAL 2 HOUR)"),
        t("2024-01-01 08:00:00")
    );
    assert_eq!(
        q(&mut db, "'2024-01-01' + INTERVAL 1 WEEK"),
        t("2024-01-08")
    );
    assert_eq!(q(&mut db, "YEAR('2024-05-06')"), i(2024));
    assert_eq!(q(&mut db, "EXTRACT(MONTH FROM '2024-05-06')"), i(5));
    assert_eq!(q(&mut db, "DATEDIFF('2024-03-01', '2024-02-01')"), i(29));
    // String, hashing and date functions MySQL has and SQLite lacks.
    for (e, want) in [
        (
            "SUBSTRING_INDEX('www.example.com', '.', 2)",
            t("www.example"),
        ),
        (
            "SUBSTRING_INDEX('www.example.com', '.', -2)",
            t("example.com"),
        ),
        ("SUBSTRING_INDEX('a,b', ';', 1)", t("a,b")),
        ("STRCMP('abc', 'ABD')", i(-1)),
        ("STRCMP('B', 'a')", i(1)),
        ("STRCMP('Abc', 'aBC')", i(0)),
        // The MySQL text '"a\\"b\\u00e9"' is the JSON string "a\"b\u00e9".
        ("JSON_UNQUOTE('\"a\\\\\"b\\\\u00e9\"')", t("a\"bé")),
        // A `"` after a backslash in an unaliased column's text (its name) is quoted right.
        ("'a\\\"b'", t("a\"b")),
        (
            "JSON_UNQUOTE(JSON_EXTRACT('{\"k\": \"v\"}', '$.k'))",
            t("v"),
        ),
        ("JSON_UNQUOTE('[1]')", t("[1]")),
        ("MD5('abc')", t("900150983cd24fb0d6963f7d28e17f72")),
        ("SHA1('abc')", t("a9993e364706816aba3e25717850c26c9cd0d89d")),
        (
            "SHA2('abc', 256)",
            t("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ),
        ("SHA2('abc', 7)", null()),
        ("TO_BASE64('abc')", t("YWJj")),
        ("CAST(FROM_BASE64('YWJj') AS CHAR)", t("abc")),
        ("DAYNAME('2024-03-04')", t("Monday")),
        ("WEEKDAY('2024-03-10 12:00:00')", i(6)),
        ("MONTHNAME('2024-12-01')", t("December")),
        ("QUARTER('2024-08-15')", i(3)),
        ("LAST_DAY('2024-02-10')", t("2024-02-29")),
        ("LAST_DAY('2023-12-31 10:00:00')", t("2023-12-31")),
        ("LAST_DAY('not a date')", null()),
        ("TIME_TO_SEC('01:02:03')", i(3723)),
        ("TIME_TO_SEC('-00:01:00')", i(-60)),
        ("SEC_TO_TIME(3723)", t("01:02:03")),
        ("SEC_TO_TIME(-90061)", t("-25:01:01")),
    ] {
        assert_eq!(q(&mut db, e), want, "{e}");
    }
    // TIMESTAMPDIFF: whole units, truncated toward zero; calendar months.
    for (e, want) in [
        ("TIMESTAMPDIFF(DAY, '2024-01-01', '2024-03-01')", 60),
        ("TIMESTAMPDIFF(DAY, '2024-03-01', '2024-01-01')", -60),
        (
            "TIMESTAMPDIFF(SECOND, '2024-01-01 00:00:00', '2024-01-01 00:01:01')",
            61,
        ),
        (
            "TIMESTAMPDIFF(MINUTE, '2024-01-01 00:00:00', '2024-01-01 00:01:59')",
            1,
        ),
        (
            "TIMESTAMPDIFF(HOUR, '2024-01-01 10:00:00', '2024-01-01 08:30:00')",
            -1,
        ),
        ("TIMESTAMPDIFF(WEEK, '2024-01-01', '2024-01-15')", 2),
        ("TIMESTAMPDIFF(MONTH, '2024-01-31', '2024-02-29')", 0),
        ("TIMESTAMPDIFF(MONTH, '2024-01-15', '2024-03-15')", 2),
        ("TIMESTAMPDIFF(MONTH, '2024-03-15', '2024-01-16')", -1),
        ("TIMESTAMPDIFF(QUARTER, '2024-01-01', '2024-12-31')", 3),
        ("TIMESTAMPDIFF(YEAR, '2000-02-29', '2024-02-28')", 23),
        ("TIMESTAMPDIFF(YEAR, '2000-02-29', '2024-02-29')", 24),
        (
            "TIMESTAMPDIFF(SECOND, '2024-01-01 00:00:00.9', '2024-01-01 00:00:01.1')",
            0,
        ),
        (
            "TIMESTAMPDIFF(MICROSECOND, '2024-01-01 00:00:00.000001', '2024-01-01 00:00:01')",
            999_999,
        ),
        (
            "TIMESTAMPDIFF(DAY, '2024-01-01', NOW()) - TIMESTAMPDIFF(DAY, '2024-01-01', NOW())",
            0,
        ),
    ] {
        assert_eq!(q(&mut db, e), i(want), "{e}");
    }
    assert_eq!(
        q(&mut db, "TIMESTAMPADD(DAY, 1, '2024-02-28')"),
        t("2024-02-29")
    );
    assert_eq!(
        q(&mut db, "TIMESTAMPADD(MINUTE, -90, '2024-01-01 01:00:00')"),
        t("2023-12-31 23:30:00")
    );
    assert_eq!(
        q(&mut db, "TIMESTAMPADD(QUARTER, 1, '2024-01-15')"),
        t("2024-04-15")
    );
    assert!(
        db.err("SELECT TIMESTAMPDIFF(FORTNIGHT, '2024-01-01', '2024-01-02')")
            .contains("1235")
    );
    assert_eq!(q(&mut db, "TIMESTAMPDIFF(DAY, NULL, '2024-01-02')"), null());
    assert_eq!(
        q(
            &mut db,
            "DATE_FORMAT('2024-05-06 07:08:09', '%d.%m.%Y %H:%i')"
        ),
        t("06.05.2024 07:08")
    );
    assert_eq!(q(&mut db, "\"double quoted\""), t("double quoted"));
    assert_eq!(q(&mut db, "_utf8mb4'intro'"), t("intro"));
    assert_eq!(q(&mut db, "'a_b' LIKE 'a\\_b'"), i(1));
    assert_eq!(q(&mut db, "'axb' LIKE 'a\\_b'"), i(0));
    assert_eq!(q(&mut db, "'ABC' LIKE 'abc'"), i(1));
    assert_eq!(q(&mut db, "LEFT('hello', 2)"), t("he"));
    assert_eq!(q(&mut db, "'x' COLLATE utf8mb4_bin = 'X'"), i(0));
    db.ok("CREATE TABLE g (k INT, v VARCHAR(5))");
    db.ok("INSERT INTO g VALUES (1, 'a'), (1, 'b'), (2, 'c')");
    assert_eq!(
        db.ok(
            "SELECT k, GROUP_CONCAT(v ORDER BY v DESC SEPARATOR '|') FROM g GROUP BY k ORDER BY k"
        ),
        vec![vec![i(1), t("b|a")], vec![i(2), t("c")]]
    );
    assert_eq!(db.ok("SELECT 1 FROM DUAL"), vec![vec![i(1)]]);
    assert_eq!(
        db.ok("SELECT v FROM g FORCE INDEX (PRIMARY) WHERE k = 2 FOR UPDATE"),
        vec![vec![t("c")]]
    );
    assert!(refused("SELECT MATCH (v) AGAINST ('x') FROM g").contains("MATCH"));
    assert!(refused("SELECT 'a' REGEXP 'b'").contains("REGEXP"));
}

/// NOW(), CURRENT_TIMESTAMP, UUID(), RAND() produce values of the MySQL form.
#[test]
fn non_deterministic_functions() {
    let mut db = Db::new();
    let r = db.ok("SELECT NOW(), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP(), UUID(), RAND(), UNIX_TIMESTAMP(), CURDATE()");
    let Value::Text(now) = &r[0][0] else { panic!() };
    assert_eq!(now.len(), 19);
    assert_eq!(r[0][1], r[0][0]);
    let Value::Text(u) = &r[0][3] else { panic!() };
    assert_eq!(u.len(), 36);
    assert!(matches!(r[0][4], Value::Real(x) if (0.0..1.0).contains(&x)));
    assert!(matches!(r[0][5], Value::Integer(x) if x > 1_700_000_000));
    assert_eq!(r[0][6], t(&now[..10]));
}

/// Placeholders keep their numbering through rewrites that move expressions.
#[test]
fn placeholders_survive_rewrites() {
    let mut db = Db::new();
    db.ok("CREATE TABLE p (id INT PRIMARY KEY, v INT)");
    let ctx = Context {
        current_db: Some("d"),
        catalog: None,
    };
    let Statement::Sql { sqlite, params, .. } =
        translate("UPDATE p SET v = ? WHERE id > ? ORDER BY id LIMIT ?", &ctx)
            .unwrap()
            .remove(0)
    else {
        panic!()
    };
    assert_eq!(params, 3);
    db.conn
        .execute("INSERT INTO \"d.p\" VALUES (1, 0), (2, 0), (3, 0)", [])
        .unwrap();
    let n = db
        .conn
        .execute(&sqlite[0], rusqlite::params![9, 1, 1])
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(db.ok("SELECT id FROM p WHERE v = 9"), vec![vec![i(2)]]);
}

/// Multi-statement text, version comments and comments are split and run in order.
#[test]
fn multi_statement_and_comments() {
    let mut db = Db::new();
    db.ok("/*!40101 SET NAMES utf8mb4 */; CREATE TABLE m (a INT); -- comment; here\nINSERT INTO m VALUES (1); # more\nINSERT INTO m VALUES (2) /* ; */;");
    assert_eq!(db.ok("SELECT count(*) FROM m"), vec![vec![i(2)]]);
    assert_eq!(
        translate("  -- nothing\n", &Context::default()).unwrap_err(),
        SqlError::EmptyQuery
    );
}

/// USE, CREATE / DROP DATABASE, SHOW DATABASES / TABLES.
#[test]
fn databases_and_use() {
    let mut db = Db::new();
    assert_eq!(one("USE `shop`", None), Statement::Use("shop".into()));
    assert_eq!(
        one(
            "CREATE DATABASE IF NOT EXISTS shop DEFAULT CHARACTER SET utf8mb4",
            None
        ),
        Statement::CreateDatabase {
            name: "shop".into(),
            if_not_exists: true
        }
    );
    assert_eq!(
        one("DROP SCHEMA IF EXISTS shop", None),
        Statement::DropDatabase {
            name: "shop".into(),
            if_exists: true
        }
    );
    assert!(translate("CREATE DATABASE `a.b`", &Context::default()).is_err());
    assert!(translate("CREATE DATABASE _quorate_x", &Context::default()).is_err());
    db.ok("CREATE DATABASE shop");
    db.ok("USE shop");
    db.ok("CREATE TABLE items (id INT PRIMARY KEY)");
    db.ok("CREATE TABLE orders (id INT PRIMARY KEY)");
    db.ok("CREATE VIEW v AS SELECT id FROM items");
    assert_eq!(
        db.ok("SHOW DATABASES"),
        vec![vec![t("information_schema")], vec![t("d")], vec![t("shop")]]
    );
    assert_eq!(
        db.ok("SHOW TABLES"),
        vec![vec![t("items")], vec![t("orders")], vec![t("v")]]
    );
    assert_eq!(db.ok("SHOW TABLES LIKE 'o%'"), vec![vec![t("orders")]]);
    assert_eq!(
        db.ok("SHOW FULL TABLES FROM shop LIKE 'v'"),
        vec![vec![t("v"), t("VIEW")]]
    );
    assert_eq!(db.ok("SHOW TABLES FROM d"), Vec::<Vec<Value>>::new());
    let e = db.err("SHOW TABLES FROM nope");
    assert!(e.contains("1049"), "{e}");
    db.ok("DROP DATABASE shop");
    assert_eq!(
        db.ok("SHOW DATABASES"),
        vec![vec![t("information_schema")], vec![t("d")]]
    );
}

/// SHOW INDEX, SHOW CREATE TABLE and SHOW TABLE STATUS describe the table in MySQL terms.
#[test]
fn show_index_create_status() {
    let mut db = Db::new();
    db.ok("CREATE TABLE p (id INT PRIMARY KEY)");
    db.ok(
        "CREATE TABLE c (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, p INT, name VARCHAR(20) NOT NULL DEFAULT 'x',
         PRIMARY KEY (id), UNIQUE KEY uq (name), KEY kp (p, name),
         CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES p (id) ON DELETE CASCADE)",
    );
    db.ok("INSERT INTO p VALUES (1)");
    db.ok("INSERT INTO c (p, name) VALUES (1, 'a'), (1, 'b')");
    let idx = db.ok("SHOW INDEX FROM c");
    let summary: Vec<(Value, Value, Value, Value)> = idx
        .iter()
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone(), r[4].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (i(0), t("PRIMARY"), i(1), t("id")),
            (i(1), t("kp"), i(1), t("p")),
            (i(1), t("kp"), i(2), t("name")),
            (i(0), t("uq"), i(1), t("name")),
        ]
    );
    let create = db.ok("SHOW CREATE TABLE c");
    let Value::Text(ddl) = &create[0][1] else {
        panic!()
    };
    assert_eq!(
        ddl,
        "CREATE TABLE `c` (\n  `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n  `p` int DEFAULT NULL,\n  \
         `name` varchar(20) NOT NULL DEFAULT 'x',\n  PRIMARY KEY (`id`),\n  KEY `kp` (`p`,`name`),\n  \
         UNIQUE KEY `uq` (`name`),\n  CONSTRAINT `fk_p` FOREIGN KEY (`p`) REFERENCES `p` (`id`) ON DELETE CASCADE\n) \
         ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"
    );
    // The DDL SHOW CREATE TABLE prints is accepted again.
    db.ok("CREATE DATABASE copy");
    db.ok("USE copy");
    db.ok("CREATE TABLE p (id INT PRIMARY KEY)");
    db.ok(ddl);
    db.ok("USE d");
    let status = db.ok("SHOW TABLE STATUS LIKE 'c'");
    assert_eq!(status[0][0], t("c"));
    assert_eq!(status[0][4], i(2));
    assert_eq!(status[0][10], i(3));
    let cols = db.ok("SHOW FULL COLUMNS FROM c");
    assert_eq!(cols[2][0], t("name"));
    assert_eq!(cols[2][2], t("utf8mb4_0900_ai_ci"));
    assert_eq!(cols[2][4], t("UNI"));
    assert_eq!(cols[1][4], t("MUL"));
    assert_eq!(cols[2][5], t("x"));
    let e = db.err("SHOW CREATE TABLE nope");
    assert!(e.contains("1146") && e.contains("d.nope"), "{e}");
}

/// SHOW CREATE TABLE prints every CHECK constraint, the column-level ones too, with its
/// operators, in a form CREATE TABLE accepts again (a dump keeps the constraints).
#[test]
fn show_create_table_keeps_check_constraints() {
    let mut db = Db::new();
    db.ok(
        r"CREATE TABLE d (id INT PRIMARY KEY, n INT CHECK (n > 0), m INT, r DOUBLE, s VARCHAR(5),
         CONSTRAINT chk_m CHECK (m <= 10 AND m <> 3), CHECK (r >= -1.5 OR s != 'a,b'),
         CHECK (r IS NULL OR r = 0 OR r > 1.5e-3), CHECK (CHAR_LENGTH(s) <= 4),
         CHECK (s NOT LIKE 'x\\%'))",
    );
    let create = db.ok("SHOW CREATE TABLE d");
    let Value::Text(ddl) = &create[0][1] else {
        panic!()
    };
    for want in [
        "CHECK (n > 0)",
        "CONSTRAINT `chk_m` CHECK (m <= 10 AND m <> 3)",
        "CHECK (r >= -1.5 OR s <> 'a,b')",
        "CHECK (r IS NULL OR r = 0 OR r > 1.5e-3)",
        "CHECK (CHAR_LENGTH(s) <= 4)",
        r"'x\\%'",
    ] {
        assert!(ddl.contains(want), "{want} missing from {ddl}");
    }
    db.ok("CREATE DATABASE copy");
    db.ok("USE copy");
    db.ok(ddl);
    // The copy enforces them: the same rows pass and fail as in the original. Four
    // characters of two bytes each pass CHAR_LENGTH (LENGTH would count 8).
    for copy in ["d", "copy"] {
        db.ok(&format!("USE {copy}"));
        db.ok("INSERT INTO d (id, n, m, r, s) VALUES (1, 1, 10, 0, 'éééé')");
        // `x\%` matches only the text `x%`: the backslash escapes the wildcard.
        db.ok("INSERT INTO d (id, r, s) VALUES (8, 0.002, 'xy%')");
        for bad in [
            "INSERT INTO d (id, n) VALUES (2, 0)",
            "INSERT INTO d (id, m) VALUES (3, 3)",
            "INSERT INTO d (id, r, s) VALUES (4, -2, 'a,b')",
            "INSERT INTO d (id, s) VALUES (6, 'ééééé')",
            "INSERT INTO d (id, r) VALUES (7, 0.001)",
            "INSERT INTO d (id, s) VALUES (9, 'x%')",
        ] {
            assert!(db.err(bad).contains("3819"), "{copy}: {bad} was accepted");
        }
    }
}

/// The SHOW variants that the session layer answers are parsed with their arguments.
#[test]
fn show_statements_parse() {
    let cases = [
        (
            "SHOW VARIABLES LIKE 'char%'",
            quorate_sql::Show::Variables {
                global: false,
                like: Some("char%".into()),
            },
        ),
        (
            "SHOW GLOBAL STATUS LIKE 'quorate%'",
            quorate_sql::Show::Status {
                global: true,
                like: Some("quorate%".into()),
            },
        ),
        (
            "SHOW FULL PROCESSLIST",
            quorate_sql::Show::Processlist { full: true },
        ),
        ("SHOW WARNINGS", quorate_sql::Show::Warnings),
        ("SHOW ENGINES", quorate_sql::Show::Engines),
        ("SHOW GRANTS", quorate_sql::Show::Grants { user: None }),
        (
            "SHOW GRANTS FOR 'app'@'%'",
            quorate_sql::Show::Grants {
                user: Some(UserName {
                    user: "app".into(),
                    host: "%".into(),
                }),
            },
        ),
        (
            "SHOW CREATE DATABASE d",
            quorate_sql::Show::CreateDatabase {
                name: "d".into(),
                if_not_exists: false,
            },
        ),
        (
            "SHOW KEYS FROM t IN d",
            quorate_sql::Show::Index {
                db: "d".into(),
                table: "t".into(),
            },
        ),
        (
            "SHOW FIELDS FROM d.t",
            quorate_sql::Show::Columns {
                db: "d".into(),
                table: "t".into(),
                full: false,
                like: None,
            },
        ),
        (
            "DESC t",
            quorate_sql::Show::Columns {
                db: "d".into(),
                table: "t".into(),
                full: false,
                like: None,
            },
        ),
        (
            "EXPLAIN t c",
            quorate_sql::Show::Columns {
                db: "d".into(),
                table: "t".into(),
                full: false,
                like: Some("c".into()),
            },
        ),
        (
            "SHOW TABLE STATUS",
            quorate_sql::Show::TableStatus {
                db: "d".into(),
                like: None,
            },
        ),
        (
            "SHOW COLLATION LIKE 'utf8mb4%'",
            quorate_sql::Show::Collation {
                like: Some("utf8mb4%".into()),
            },
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(one(sql, Some("d")), Statement::Show(want), "{sql}");
    }
    assert!(refused("SHOW VARIABLES WHERE Variable_name = 'x'").contains("WHERE"));
    assert!(refused("SHOW MASTER STATUS").contains("MASTER"));
    // EXPLAIN of a query is a read.
    assert!(matches!(
        one("EXPLAIN SELECT * FROM t", Some("d")),
        Statement::Sql {
            kind: StatementKind::Read,
            ..
        }
    ));
}

/// SET in all its forms.
#[test]
fn set_statements() {
    let s = |sql: &str| match one(sql, None) {
        Statement::Set(v) => v,
        other => panic!("{other:?}"),
    };
    let v = s("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci");
    assert_eq!(v.len(), 4);
    assert_eq!(v[3].name, "collation_connection");
    let v = s(
        "SET SESSION sql_mode = 'ANSI', @@GLOBAL.max_connections = 10, time_zone = '+00:00', FOREIGN_KEY_CHECKS=0",
    );
    assert_eq!(
        (v[0].scope, v[0].name.as_str()),
        (VarScope::Session, "sql_mode")
    );
    assert_eq!(v[0].value, SetValue::Value(t("ANSI")));
    assert_eq!(
        (v[1].scope, v[1].name.as_str()),
        (VarScope::Global, "max_connections")
    );
    assert_eq!(v[3].value, SetValue::Value(i(0)));
    assert_eq!(
        quorate_sql::pragma_for(&v[3].name, &i(0)).as_deref(),
        Some("PRAGMA foreign_keys = OFF")
    );
    let v = s("SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0");
    assert_eq!(v[0].scope, VarScope::User);
    assert_eq!(
        v[0].value,
        SetValue::Expr {
            sqlite: "mysql_sysvar('foreign_key_checks')".into()
        }
    );
    let v = s("SET character_set_client = utf8mb4");
    assert_eq!(v[0].value, SetValue::Value(t("utf8mb4")));
    let v = s("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    assert_eq!(v[0].value, SetValue::Value(t("READ-COMMITTED")));
    let v = s("SET unique_checks = DEFAULT, tmp_table_size=2*1024*1024*1024");
    assert_eq!(v[0].value, SetValue::Default);
    assert_eq!(
        v[1].value,
        SetValue::Expr {
            sqlite: "2 * 1024 * 1024 * 1024".into()
        }
    );
    let v = s("SET CHARACTER SET utf8");
    assert_eq!(v.len(), 2);
}

/// Transactions and savepoints.
#[test]
fn transactions() {
    assert_eq!(one("BEGIN", None), Statement::Begin { read_only: false });
    assert_eq!(
        one("START TRANSACTION READ ONLY", None),
        Statement::Begin { read_only: true }
    );
    assert_eq!(
        one(
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE",
            None
        ),
        Statement::Begin { read_only: false }
    );
    assert_eq!(one("COMMIT WORK", None), Statement::Commit);
    assert_eq!(one("ROLLBACK", None), Statement::Rollback);
    assert_eq!(one("SAVEPOINT s1", None), Statement::Savepoint("s1".into()));
    assert_eq!(
        one("RELEASE SAVEPOINT s1", None),
        Statement::ReleaseSavepoint("s1".into())
    );
    assert_eq!(
        one("ROLLBACK TO SAVEPOINT s1", None),
        Statement::RollbackToSavepoint("s1".into())
    );
    assert_eq!(
        one("ROLLBACK WORK TO s1", None),
        Statement::RollbackToSavepoint("s1".into())
    );
    let mut db = Db::new();
    db.ok("CREATE TABLE x (a INT)");
    db.ok("BEGIN; INSERT INTO x VALUES (1); SAVEPOINT s; INSERT INTO x VALUES (2); ROLLBACK TO SAVEPOINT s; COMMIT");
    assert_eq!(db.ok("SELECT a FROM x"), vec![vec![i(1)]]);
}

/// Users, grants, KILL and the accepted no-ops.
#[test]
fn users_grants_and_noops() {
    let u = |user: &str, host: &str| UserName {
        user: user.into(),
        host: host.into(),
    };
    match one(
        "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 's3cret', bob IDENTIFIED WITH mysql_native_password BY 'x'",
        None,
    ) {
        Statement::CreateUser {
            users,
            if_not_exists,
        } => {
            assert!(if_not_exists);
            assert_eq!(users[0].name, u("app", "%"));
            assert_eq!(users[0].password.as_deref(), Some("s3cret"));
            assert_eq!(users[0].plugin, None);
            assert_eq!(users[1].name, u("bob", "%"));
            assert_eq!(users[1].plugin.as_deref(), Some("mysql_native_password"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        one("DROP USER IF EXISTS app@localhost", None),
        Statement::DropUser {
            users: vec![u("app", "localhost")],
            if_exists: true
        }
    );
    assert!(matches!(
        one("ALTER USER 'app'@'%' IDENTIFIED BY 'n'", None),
        Statement::AlterUser { .. }
    ));
    assert!(matches!(
        one("SET PASSWORD FOR 'app'@'%' = 'n'", None),
        Statement::AlterUser { .. }
    ));
    assert_eq!(
        one(
            "GRANT ALL PRIVILEGES ON shop.* TO 'app'@'%' WITH GRANT OPTION",
            None
        ),
        Statement::Grant {
            privileges: Privileges::All,
            on: GrantTarget {
                db: Some("shop".into()),
                table: None
            },
            to: vec![u("app", "%")],
            with_grant_option: true
        }
    );
    assert_eq!(
        one("REVOKE SELECT, INSERT ON *.* FROM ro", None),
        Statement::Revoke {
            privileges: Privileges::List(vec!["SELECT".into(), "INSERT".into()]),
            on: GrantTarget {
                db: None,
                table: None
            },
            from: vec![u("ro", "%")]
        }
    );
    assert_eq!(
        one("KILL 42", None),
        Statement::Kill {
            id: 42,
            query_only: false
        }
    );
    assert_eq!(
        one("KILL QUERY 7", None),
        Statement::Kill {
            id: 7,
            query_only: true
        }
    );
    for sql in [
        "LOCK TABLES `t` WRITE",
        "UNLOCK TABLES",
        "FLUSH PRIVILEGES",
        "ANALYZE TABLE sbtest1",
        "ALTER TABLE `t` DISABLE KEYS",
        "/*!40000 ALTER TABLE `t` ENABLE KEYS */",
        // Table options, as migrations and upgrade scripts send them.
        "ALTER TABLE t ENGINE=InnoDB",
        "ALTER TABLE d.t ENGINE = InnoDB ROW_FORMAT=DYNAMIC",
        "ALTER TABLE `t` DEFAULT CHARSET=utf8mb4, COMMENT='orders', COLLATE utf8mb4_unicode_ci",
        "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        "ALTER TABLE t CONVERT TO CHARSET utf8mb4",
    ] {
        assert!(
            matches!(one(sql, Some("d")), Statement::NoOp { .. }),
            "{sql}"
        );
    }
    // A binary collation would change how the columns compare: refused, naming it.
    let e = translate(
        "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        &Context::with_db(Some("d")),
    )
    .unwrap_err();
    assert_eq!(e.mysql_error().code, 1235, "{e}");
    // The table must exist (with a catalog), as for any ALTER TABLE.
    let mut db = Db::new();
    assert!(
        db.err("ALTER TABLE nosuch ENGINE=InnoDB")
            .contains("ERROR 1146")
    );
    db.ok("CREATE TABLE there (id INT PRIMARY KEY)");
    db.ok("ALTER TABLE there ENGINE=InnoDB");
    assert!(
        db.err("ALTER TABLE there COLLATE utf8mb4_0900_as_cs")
            .contains("ERROR 1235")
    );
    // Options mixed with a real change are not swallowed.
    assert!(
        translate(
            "ALTER TABLE t ADD COLUMN x INT",
            &Context::with_db(Some("d"))
        )
        .is_ok()
    );
}

/// DROP TABLE, TRUNCATE, ALTER TABLE (what SQLite can do), RENAME, CREATE TABLE LIKE, and
/// refusals of what it cannot.
#[test]
fn ddl_changes() {
    let mut db = Db::new();
    db.ok("CREATE TABLE a (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10), KEY kv (v))");
    db.ok("CREATE TABLE b (x INT)");
    db.ok("INSERT INTO a (v) VALUES ('1'), ('2')");
    db.ok("ALTER TABLE a ADD COLUMN w INT NOT NULL DEFAULT 7, ADD INDEX kw (w)");
    assert_eq!(db.ok("SELECT w FROM a WHERE id = 1"), vec![vec![i(7)]]);
    db.ok("ALTER TABLE a RENAME COLUMN w TO w2");
    db.ok("ALTER TABLE a DROP INDEX kw");
    db.ok("ALTER TABLE a DROP COLUMN w2");
    db.ok("ALTER TABLE a ADD UNIQUE KEY uv (v)");
    db.ok("CREATE TABLE a2 LIKE a");
    db.ok("INSERT INTO a2 (v) VALUES ('x')");
    assert_eq!(
        db.ok("SHOW INDEX FROM a2")
            .iter()
            .map(|r| r[2].clone())
            .collect::<Vec<_>>(),
        vec![t("PRIMARY"), t("kv"), t("uv")]
    );
    db.ok("RENAME TABLE a TO a3");
    db.ok("CREATE TABLE a (id INT, v INT, KEY kv (v))");
    assert_eq!(db.ok("SELECT count(*) FROM a3"), vec![vec![i(2)]]);
    db.ok("TRUNCATE TABLE a3");
    assert_eq!(db.ok("SELECT count(*) FROM a3"), vec![vec![i(0)]]);
    db.ok("DROP TABLE IF EXISTS a, b, nope");
    assert_eq!(db.ok("SHOW TABLES"), vec![vec![t("a2")], vec![t("a3")]]);
    db.ok("DROP INDEX uv ON a2");
    // These edit the table's definition (quorate_sql's redefine.rs), which takes the
    // table's current text from a schema catalog.
    assert!(refused("ALTER TABLE a2 MODIFY COLUMN v INT").contains("catalog"));
    assert!(refused("ALTER TABLE a2 ADD FOREIGN KEY (v) REFERENCES a3 (id)").contains("catalog"));
    assert!(refused("ALTER TABLE a2 MODIFY COLUMN v INT FIRST").contains("FIRST"));
    assert!(refused("ALTER TABLE a2 DROP PRIMARY KEY").contains("PRIMARY"));
}

/// Multi-table UPDATE / DELETE and other unsupported statements are refused by name.
#[test]
fn refusals_name_the_construct() {
    assert!(refused("UPDATE a JOIN b ON a.id = b.id SET a.x = 1").contains("multi-table UPDATE"));
    assert!(refused("DELETE a FROM a JOIN b ON a.id = b.id").contains("multi-table DELETE"));
    assert!(refused("LOAD DATA INFILE 'x' INTO TABLE t").contains("LOAD DATA"));
    assert!(refused("SELECT * INTO OUTFILE '/tmp/x' FROM t").contains("INTO"));
    assert!(refused("CALL p()").contains("CALL"));
    let e = SqlError::Unsupported {
        construct: "X".into(),
    }
    .mysql_error();
    assert_eq!((e.code, &e.sqlstate), (1235, b"42000"));
}

/// Syntax errors are 1064.
#[test]
fn syntax_errors() {
    let e = translate("SELEC 1", &Context::default()).unwrap_err();
    assert_eq!(e.mysql_error().code, 1064);
    let e = translate("SELECT 'unterminated", &Context::default()).unwrap_err();
    assert_eq!(e.mysql_error().code, 1064);
}

/// SQLite errors map to MySQL codes with user-visible (unmangled) names.
#[test]
fn error_mapping() {
    let mut db = Db::new();
    db.ok("CREATE TABLE e (id INT PRIMARY KEY, n INT NOT NULL, u VARCHAR(5), UNIQUE KEY uu (u))");
    db.ok("CREATE TABLE f (id INT PRIMARY KEY, e_id INT, FOREIGN KEY (e_id) REFERENCES e (id))");
    db.ok("INSERT INTO e VALUES (1, 1, 'a')");
    let cases = [
        ("INSERT INTO e VALUES (1, 1, 'b')", "1062", "23000"),
        ("INSERT INTO e VALUES (2, 1, 'a')", "1062", "23000"),
        ("INSERT INTO e VALUES (3, NULL, 'c')", "1048", "23000"),
        ("SELECT * FROM nope", "1146", "42S02"),
        ("SELECT nope FROM e", "1054", "42S22"),
        ("INSERT INTO f VALUES (1, 99)", "1452", "23000"),
        (
            "INSERT INTO f VALUES (1, 1); DELETE FROM e WHERE id = 1",
            "1451",
            "23000",
        ),
        ("CREATE TABLE e (x INT)", "1050", "42S01"),
        ("SELECT no_such_fn(1)", "1305", "42000"),
        ("INSERT INTO e VALUES (4, 1)", "1136", "21S01"),
        ("INSERT INTO e (id, n) VALUES (4)", "1136", "21S01"),
        ("INSERT INTO e SELECT 4, 1", "1136", "21S01"),
        ("INSERT INTO e (id, nope) VALUES (4, 1)", "1054", "42S22"),
        ("SELECT id FROM e, f", "1052", "23000"),
        ("DROP TABLE nope", "1051", "42S02"),
        // A NOT NULL column left out (MySQL's strict mode), or given NULL.
        ("INSERT INTO e (id, u) VALUES (5, 'e')", "1364", "HY000"),
        (
            "INSERT INTO e (id, n, u) VALUES (5, NULL, 'e')",
            "1048",
            "23000",
        ),
        ("INSERT INTO e (`id`, `u`) SELECT 5, 'e'", "1364", "HY000"),
        ("UPDATE e SET n = NULL", "1048", "23000"),
        ("INSERT INTO e VALUES ()", "1364", "HY000"),
        (
            "INSERT INTO e (id, n) VALUES (1, 2) ON DUPLICATE KEY UPDATE n = NULL",
            "1048",
            "23000",
        ),
        // A parent whose rows are referenced (f references e's row 1, inserted above).
        ("DROP TABLE e", "3730", "HY000"),
    ];
    for (sql, code, state) in cases {
        let e = db.err(sql);
        assert!(e.contains(&format!("ERROR {code} ({state})")), "{sql}: {e}");
        assert!(!e.contains("\"d."), "mangled name leaked: {e}");
    }
    assert!(
        db.err("SELECT * FROM nope")
            .contains("Table 'd.nope' doesn't exist")
    );
    assert!(
        db.err("INSERT INTO e VALUES (3, NULL, 'c')")
            .contains("Column 'n' cannot be null")
    );
    assert!(db.err("DROP TABLE nope").contains("Unknown table 'd.nope'"));
    assert!(
        db.err("INSERT INTO e (id) VALUES (6)")
            .contains("Field 'n' doesn't have a default value")
    );
    assert!(
        db.err("INSERT INTO e (id, nope) VALUES (4, 1)")
            .contains("Unknown column 'nope'")
    );
    // Busy / locked map to retryable lock errors.
    let busy = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("database is locked".into()),
    );
    assert_eq!(quorate_sql::mysql_error(&busy).code, 1205);
    let snap = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY_SNAPSHOT),
        None,
    );
    assert_eq!(quorate_sql::mysql_error(&snap).code, 1213);
}

/// Binary string literals (as mysqldump writes BLOBs) round-trip byte for byte.
#[test]
fn binary_literals() {
    let mut db = Db::new();
    db.ok("CREATE TABLE bl (id INT PRIMARY KEY, b BLOB, t TEXT)");
    let mut sql = b"INSERT INTO bl VALUES (1, '".to_vec();
    sql.extend_from_slice(b"\x00\xff\xfe\\0\\'\\\\\\n");
    sql.extend_from_slice(b"', 'nul\\0inside')");
    db.run_bytes(&sql).unwrap();
    let r = db.ok("SELECT b, t FROM bl");
    assert_eq!(
        r[0][0],
        Value::Blob(vec![0, 0xff, 0xfe, 0, b'\'', b'\\', b'\n'])
    );
    assert_eq!(r[0][1], t("nul\0inside"));
    db.ok("INSERT INTO bl VALUES (2, 0x00FF, X'41')");
    assert_eq!(
        db.ok("SELECT hex(b) FROM bl WHERE id = 2"),
        vec![vec![t("00FF")]]
    );
}

/// Views, generated columns and ADD COLUMN ... UNIQUE work through the same rewriter.
#[test]
fn views_generated_columns_unique_add() {
    let mut db = Db::new();
    db.ok("CREATE TABLE g (a INT, b INT AS (a * 2) STORED, c INT GENERATED ALWAYS AS (a + 1) VIRTUAL)");
    db.ok("INSERT INTO g (a) VALUES (3)");
    assert_eq!(db.ok("SELECT a, b, c FROM g"), vec![vec![i(3), i(6), i(4)]]);
    db.ok("CREATE VIEW v AS SELECT a, b FROM g WHERE a > 1");
    db.ok("CREATE OR REPLACE VIEW v AS SELECT a FROM g");
    assert_eq!(db.ok("SELECT * FROM v"), vec![vec![i(3)]]);
    let create = db.ok("SHOW CREATE TABLE v");
    assert_eq!(
        create[0][1],
        t("CREATE VIEW `v` AS SELECT a FROM `d`.`g` AS `g`")
    );
    db.ok("DROP VIEW v");
    db.ok("ALTER TABLE g ADD COLUMN u VARCHAR(10) UNIQUE");
    db.ok("UPDATE g SET u = 'x'");
    assert!(
        db.err("INSERT INTO g (a, u) VALUES (1, 'X')")
            .contains("1062")
    );
}

/// Primary key columns are NOT NULL, as in MySQL, whether or not the DDL says so: a NULL
/// key is refused (SQLite would store it, and its change capture would not replicate the
/// row), in single-column and composite keys.
#[test]
fn primary_key_columns_are_not_null() {
    let mut db = Db::new();
    db.ok("CREATE TABLE p (k VARCHAR(10) PRIMARY KEY, v INT)");
    db.ok("CREATE TABLE q (a INT, b VARCHAR(5), v INT, PRIMARY KEY (a, b))");
    for sql in [
        "INSERT INTO p (k, v) VALUES (NULL, 1)",
        "INSERT INTO p (v) VALUES (2)",
        "INSERT INTO q (a, b, v) VALUES (1, NULL, 1)",
    ] {
        let e = db.run(sql).unwrap_err();
        assert!(e.contains("1048") || e.contains("1364"), "{sql}: {e}");
    }
    db.ok("INSERT INTO p (k, v) VALUES ('a', 1)");
    assert_eq!(db.run("SELECT count(*) FROM p").unwrap(), vec![vec![i(1)]]);
}

/// HEX() follows MySQL: a number is written as the 64-bit integer it rounds to (SQLite's
/// hex() would encode its decimal text), strings and BLOBs byte by byte, NULL stays NULL.
#[test]
fn hex_of_numbers_strings_and_null() {
    let mut db = Db::new();
    assert_eq!(
        db.run("SELECT HEX(255), hex(-1), HEX(2.5), HEX('abc'), HEX(x'00ff'), HEX(NULL)")
            .unwrap(),
        vec![vec![
            t("FF"),
            t("FFFFFFFFFFFFFFFF"),
            t("3"),
            t("616263"),
            t("00FF"),
            null()
        ]]
    );
}

/// A FOREIGN KEY naming its table without a database references the table in the
/// database of the table being defined (as in MySQL), whatever the current database is;
/// table-level and column-level keys alike.
#[test]
fn foreign_keys_resolve_in_the_defining_tables_database() {
    let mut db = Db::new();
    db.ok("CREATE DATABASE b");
    db.ok("CREATE TABLE b.p (id INT PRIMARY KEY)");
    db.ok("CREATE TABLE d.p (id INT PRIMARY KEY)");
    // The current database is `d`.
    db.ok("CREATE TABLE b.c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id))");
    db.ok("CREATE TABLE b.c2 (id INT PRIMARY KEY, pid INT REFERENCES p (id))");
    for child in ["b.c", "b.c2"] {
        let parent: String = db
            .conn
            .query_row(
                "SELECT \"table\" FROM pragma_foreign_key_list(?1)",
                [child],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(parent, "b.p", "{child}");
    }
    // Qualified names are kept.
    db.ok("CREATE TABLE b.c3 (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES d.p (id))");
    let parent: String = db
        .conn
        .query_row(
            "SELECT \"table\" FROM pragma_foreign_key_list('b.c3')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(parent, "d.p");
}
