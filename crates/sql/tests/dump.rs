//! Import of a real `mariadb-dump` file (tests/fixtures/small_dump.sql, made from
//! tests/fixtures/small_dump.source.sql on MariaDB 10.11): every statement is translated and
//! run on SQLite, then row counts and contents are compared with the values inserted.

mod common;

use common::{Db, i, null, t};
use quorate_sql::{Context, translate_bytes};
use rusqlite::types::Value;

const DUMP: &[u8] = include_bytes!("fixtures/small_dump.sql");

fn load() -> Db {
    let mut db = Db::new();
    db.current = None;
    let mut sql_statements = 0;
    for piece in split_statements(DUMP) {
        let current = db.current.clone();
        let ctx = Context {
            current_db: current.as_deref(),
            catalog: Some(&db.conn),
        };
        let translated = match translate_bytes(&piece, &ctx) {
            Ok(v) => v,
            Err(quorate_sql::SqlError::EmptyQuery) => continue,
            Err(e) => panic!("{}: {e}", String::from_utf8_lossy(&piece)),
        };
        for s in translated {
            if matches!(s, quorate_sql::Statement::Sql { .. }) {
                sql_statements += 1;
            }
            if let Err(e) = db.exec(s.clone()) {
                panic!(
                    "{}\n=> {s:?}\n failed: {e}",
                    String::from_utf8_lossy(&piece)
                );
            }
        }
    }
    assert_eq!(
        sql_statements,
        4 * 3,
        "DROP + CREATE + INSERT for each of the 4 tables"
    );
    db
}

/// Splits the dump at the `;` that ends a line (how the mariadb client feeds a dump to the
/// server one statement at a time).
fn split_statements(dump: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for line in dump.split_inclusive(|b| *b == b'\n') {
        cur.extend_from_slice(line);
        let trimmed = line.trim_ascii_end();
        if trimmed.ends_with(b";") && !trimmed.starts_with(b"--") {
            out.push(std::mem::take(&mut cur));
        }
    }
    out.push(cur);
    out
}

/// The whole dump also translates as one multi-statement text (USE inside it applies to
/// the statements after it), to the same statements as line by line.
#[test]
fn dump_translates_as_one_text() {
    let whole = translate_bytes(DUMP, &Context::default()).unwrap();
    let mut pieces = Vec::new();
    let mut current: Option<String> = None;
    for piece in split_statements(DUMP) {
        match translate_bytes(&piece, &Context::with_db(current.as_deref())) {
            Ok(v) => {
                for s in v {
                    if let quorate_sql::Statement::Use(db) = &s {
                        current = Some(db.clone());
                    }
                    pieces.push(s);
                }
            }
            Err(quorate_sql::SqlError::EmptyQuery) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(whole, pieces);
    assert!(whole.len() > 40, "{}", whole.len());
}

/// The dump imports: the database, four tables with their keys, and every row.
#[test]
fn dump_imports_with_row_counts() {
    let mut db = load();
    assert_eq!(db.current.as_deref(), Some("shop"));
    assert_eq!(
        db.ok("SHOW DATABASES"),
        vec![vec![t("information_schema")], vec![t("d")], vec![t("shop")]]
    );
    assert_eq!(
        db.ok("SHOW TABLES"),
        vec![
            vec![t("customers")],
            vec![t("order_items")],
            vec![t("orders")],
            vec![t("products")]
        ]
    );
    for (table, n) in [
        ("customers", 3),
        ("products", 3),
        ("orders", 3),
        ("order_items", 4),
    ] {
        assert_eq!(
            db.ok(&format!("SELECT COUNT(*) FROM {table}")),
            vec![vec![i(n)]],
            "{table}"
        );
    }
    // Foreign keys hold after the load (the dump disables checks while loading).
    assert!(db.query("PRAGMA foreign_key_check").unwrap().is_empty());
    // Variables restored at the end of the dump.
    assert_eq!(
        db.ok("SELECT @@foreign_key_checks, @@time_zone"),
        vec![vec![i(1), t("+00:00")]]
    );
}

/// Text with quotes, backslashes, newlines, emoji and other non-ASCII characters, NULLs,
/// ENUMs and DATETIMEs arrive unchanged.
#[test]
fn dump_text_values() {
    let mut db = load();
    assert_eq!(
        db.ok("SELECT id, email, name, nickname, created_at, tier FROM customers ORDER BY id"),
        vec![
            vec![
                i(1),
                t("ana@example.com"),
                t("Ana Müller"),
                t("Ana"),
                t("2024-01-02 03:04:05"),
                t("pro")
            ],
            vec![
                i(2),
                t("bo@example.com"),
                t("Bō 李"),
                t("🐼 panda"),
                t("2024-02-03 04:05:06"),
                t("free")
            ],
            vec![
                i(3),
                t("cy@example.com"),
                t("Cy O'Brien"),
                t("it's \"quoted\" \\ back"),
                t("2024-03-04 05:06:07"),
                t("enterprise")
            ],
        ]
    );
    assert_eq!(
        db.ok("SELECT id, note, ordered_at FROM orders ORDER BY id"),
        vec![
            vec![i(1), t("first order"), t("2024-05-01 10:00:00")],
            vec![i(2), null(), t("2024-05-02 11:30:00")],
            vec![i(3), t("gift 🎁"), t("2024-05-03 12:45:59")],
        ]
    );
    assert_eq!(
        db.ok("SELECT title, description, attrs FROM products ORDER BY id"),
        vec![
            vec![
                t("Teapot 🫖"),
                t("Ceramic teapot, 1.2 l"),
                t("{\"color\": \"blue\", \"tags\": [\"kitchen\", \"tea\"]}")
            ],
            vec![t("Cup"), null(), null()],
            vec![t("Кружка"), t("Mug with ünïcödé"), t("{\"size\": 3}")],
        ]
    );
    // The ENUM is still enforced and the e-mail still unique (case-insensitively).
    assert!(
        db.err("INSERT INTO customers (email, name, tier) VALUES ('x@y', 'X', 'gold')")
            .contains("1265")
    );
    assert!(
        db.err("INSERT INTO customers (email, name) VALUES ('ANA@example.com', 'X')")
            .contains("1062")
    );
}

/// BLOB bytes (including NUL, 0xFF, quotes, backslash, CR/LF, ^Z) arrive byte for byte.
#[test]
fn dump_blob_and_numbers() {
    let mut db = load();
    assert_eq!(
        db.ok("SELECT image FROM products ORDER BY id"),
        vec![
            vec![Value::Blob(vec![
                0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D',
                b'R'
            ])],
            vec![Value::Blob(vec![
                0x00, 0xFF, 0x27, 0x22, 0x5C, 0x0A, 0x0D, 0x1A, 0x00
            ])],
            vec![null()],
        ]
    );
    assert_eq!(
        db.ok("SELECT price, weight_kg, in_stock FROM products ORDER BY id"),
        vec![
            vec![Value::Real(24.9), Value::Real(0.85), i(1)],
            vec![Value::Real(7.5), null(), i(0)],
            vec![Value::Real(12_345_678.99), Value::Real(0.3), i(1)],
        ]
    );
    assert_eq!(
        db.ok("SELECT order_id, product_id, qty, unit_price FROM order_items ORDER BY order_id, product_id"),
        vec![
            vec![i(1), i(1), i(1), Value::Real(24.9)],
            vec![i(1), i(2), i(1), Value::Real(7.5)],
            vec![i(2), i(2), i(1), Value::Real(7.5)],
            vec![i(3), i(3), i(1), Value::Real(12_345_678.99)],
        ]
    );
}

/// AUTO_INCREMENT continues after the loaded ids; keys and foreign keys are in place.
#[test]
fn dump_schema_survives() {
    let mut db = load();
    db.ok("INSERT INTO customers (email, name) VALUES ('new@example.com', 'New')");
    assert_eq!(db.ok("SELECT LAST_INSERT_ID()"), vec![vec![i(4)]]);
    let idx: Vec<Value> = db
        .ok("SHOW INDEX FROM orders")
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(
        idx,
        vec![t("PRIMARY"), t("idx_customer_date"), t("idx_customer_date")]
    );
    assert!(
        db.err("INSERT INTO orders (customer_id, ordered_at) VALUES (99, '2024-01-01')")
            .contains("1452")
    );
    // ON DELETE CASCADE came through.
    db.ok("DELETE FROM order_items WHERE order_id = 2");
    db.ok("DELETE FROM customers WHERE id = 2");
    assert_eq!(
        db.ok("SELECT COUNT(*) FROM orders WHERE customer_id = 2"),
        vec![vec![i(0)]]
    );
    let create = db.ok("SHOW CREATE TABLE customers");
    let Value::Text(ddl) = &create[0][1] else {
        panic!()
    };
    assert!(
        ddl.contains("`id` int unsigned NOT NULL AUTO_INCREMENT"),
        "{ddl}"
    );
    assert!(
        ddl.contains("`tier` enum('free','pro','enterprise') NOT NULL DEFAULT 'free'"),
        "{ddl}"
    );
    assert!(ddl.contains("ON UPDATE CURRENT_TIMESTAMP"), "{ddl}");
    assert!(ddl.contains("UNIQUE KEY `uq_email` (`email`)"), "{ddl}");
}

/// Lines that MySQL 8's mysqldump writes (and MariaDB's does not) are accepted too.
#[test]
fn mysql8_mysqldump_lines() {
    let mut db = Db::new();
    db.current = None;
    let dump = "
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;
SET @@SESSION.SQL_LOG_BIN= 0;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci */ /*!80016 DEFAULT ENCRYPTION='N' */;
USE `app`;
DROP TABLE IF EXISTS `t`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `t` (
  `id` int NOT NULL AUTO_INCREMENT,
  `qty` int NOT NULL,
  `name` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci DEFAULT NULL,
  `created` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`id`),
  KEY `name_idx` (`name`) USING BTREE,
  CONSTRAINT `qty_positive` CHECK ((`qty` > 0))
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
LOCK TABLES `t` WRITE;
/*!40000 ALTER TABLE `t` DISABLE KEYS */;
INSERT INTO `t` VALUES (1,5,'a','2024-01-01 00:00:00.123'),(2,7,NULL,'2024-01-02 00:00:00.000');
/*!40000 ALTER TABLE `t` ENABLE KEYS */;
UNLOCK TABLES;
SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
";
    for piece in split_statements(dump.as_bytes()) {
        let current = db.current.clone();
        let ctx = Context {
            current_db: current.as_deref(),
            catalog: Some(&db.conn),
        };
        match translate_bytes(&piece, &ctx) {
            Ok(v) => {
                for s in v {
                    db.exec(s)
                        .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&piece)));
                }
            }
            Err(quorate_sql::SqlError::EmptyQuery) => {}
            Err(e) => panic!("{}: {e}", String::from_utf8_lossy(&piece)),
        }
    }
    assert_eq!(
        db.ok("SELECT id, qty, name FROM t ORDER BY id"),
        vec![vec![i(1), i(5), t("a")], vec![i(2), i(7), null()]]
    );
    assert!(db.err("INSERT INTO t (qty) VALUES (0)").contains("3819"));
    db.ok("INSERT INTO t (qty) VALUES (1)");
    assert_eq!(db.ok("SELECT LAST_INSERT_ID()"), vec![vec![i(3)]]);
}
