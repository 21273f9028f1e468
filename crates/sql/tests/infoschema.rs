//! information_schema, computed from SQLite's schema: the answers tools get when they
//! introspect (mariadb-dump, ORMs), checked against the tables created here.

mod common;

use common::{Db, i, null, t};

fn shop() -> Db {
    let mut db = Db::new();
    db.run(
        "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL, \
         price DECIMAL(10,2) DEFAULT '0.00', note TEXT, sku CHAR(8), \
         updated DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, \
         UNIQUE KEY uk_sku (sku), KEY idx_name (name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    )
    .unwrap();
    db.run(
        "CREATE TABLE orders (oid BIGINT NOT NULL, item INT NOT NULL, qty INT, \
         PRIMARY KEY (oid, item), CONSTRAINT fk_item FOREIGN KEY (item) REFERENCES items (id), \
         FOREIGN KEY (oid) REFERENCES items (id))",
    )
    .unwrap();
    db.run("CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10")
        .unwrap();
    db
}

/// TABLES lists every user table and view of a database with its type, and no internal
/// table of quorate's.
#[test]
fn tables_lists_user_tables_and_views() {
    let mut db = shop();
    let rows = db
        .run(
            "SELECT table_name, table_type, engine FROM information_schema.TABLES \
             WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![t("cheap"), t("VIEW"), null()],
            vec![t("items"), t("BASE TABLE"), t("InnoDB")],
            vec![t("orders"), t("BASE TABLE"), t("InnoDB")],
        ]
    );
    // The query mariadb-dump sends for each table.
    let rows = db
        .run(
            "SELECT engine, table_type FROM INFORMATION_SCHEMA.TABLES \
             WHERE table_schema = DATABASE() AND table_name = 'items'",
        )
        .unwrap();
    assert_eq!(rows, vec![vec![t("InnoDB"), t("BASE TABLE")]]);
    let all = db
        .run("SELECT count(*) FROM information_schema.tables t WHERE t.table_name LIKE '%quorate%'")
        .unwrap();
    assert_eq!(all, vec![vec![i(0)]]);
}

/// COLUMNS gives MySQL's types, nullability, keys, defaults and extras, as SHOW COLUMNS
/// does.
#[test]
fn columns_describe_each_column_in_mysql_terms() {
    let mut db = shop();
    let rows = db
        .run(
            "SELECT column_name, ordinal_position, column_type, data_type, is_nullable, \
             column_key, column_default, extra, character_maximum_length, numeric_precision, \
             numeric_scale \
             FROM information_schema.columns WHERE table_schema = 'd' AND table_name = 'items' \
             ORDER BY ordinal_position",
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![
                t("id"),
                i(1),
                t("int"),
                t("int"),
                t("NO"),
                t("PRI"),
                null(),
                t("auto_increment"),
                null(),
                i(10),
                i(0)
            ],
            vec![
                t("name"),
                i(2),
                t("varchar(50)"),
                t("varchar"),
                t("NO"),
                t("MUL"),
                null(),
                t(""),
                i(50),
                null(),
                null()
            ],
            vec![
                t("price"),
                i(3),
                t("decimal(10,2)"),
                t("decimal"),
                t("YES"),
                t(""),
                t("0.00"),
                t(""),
                null(),
                i(10),
                i(2)
            ],
            vec![
                t("note"),
                i(4),
                t("text"),
                t("text"),
                t("YES"),
                t(""),
                null(),
                t(""),
                i(65_535),
                null(),
                null()
            ],
            vec![
                t("sku"),
                i(5),
                t("char(8)"),
                t("char"),
                t("YES"),
                t("UNI"),
                null(),
                t(""),
                i(8),
                null(),
                null()
            ],
            vec![
                t("updated"),
                i(6),
                t("datetime"),
                t("datetime"),
                t("YES"),
                t(""),
                t("CURRENT_TIMESTAMP"),
                t("DEFAULT_GENERATED on update CURRENT_TIMESTAMP"),
                null(),
                null(),
                null()
            ],
        ]
    );
}

/// STATISTICS and KEY_COLUMN_USAGE list primary keys (also of rowid tables), unique and
/// plain indexes with their columns in order, and foreign keys with what they reference.
#[test]
fn indexes_and_keys() {
    let mut db = shop();
    let rows = db
        .run(
            "SELECT table_name, index_name, non_unique, seq_in_index, column_name \
             FROM information_schema.STATISTICS WHERE table_schema = 'd' \
             ORDER BY table_name, index_name, seq_in_index",
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![t("items"), t("PRIMARY"), i(0), i(1), t("id")],
            vec![t("items"), t("idx_name"), i(1), i(1), t("name")],
            vec![t("items"), t("uk_sku"), i(0), i(1), t("sku")],
            vec![t("orders"), t("PRIMARY"), i(0), i(1), t("oid")],
            vec![t("orders"), t("PRIMARY"), i(0), i(2), t("item")],
            // MySQL's index for the foreign key, whose column does not begin the PRIMARY
            // KEY.
            vec![t("orders"), t("fk_item"), i(1), i(1), t("item")],
        ]
    );
    let fk = db
        .run(
            "SELECT constraint_name, column_name, referenced_table_schema, \
             referenced_table_name, referenced_column_name \
             FROM information_schema.key_column_usage \
             WHERE table_name = 'orders' AND referenced_table_name IS NOT NULL \
             ORDER BY constraint_name",
        )
        .unwrap();
    assert_eq!(
        fk,
        vec![
            vec![t("fk_item"), t("item"), t("d"), t("items"), t("id")],
            vec![t("orders_ibfk_2"), t("oid"), t("d"), t("items"), t("id")],
        ]
    );
    // SHOW CREATE TABLE names each foreign key as declared (it once swapped them).
    let info = quorate_sql::table_info(&db.conn, "d.orders")
        .unwrap()
        .unwrap();
    let fks: Vec<(&str, &[String])> = info
        .foreign_keys
        .iter()
        .map(|f| (f.name.as_str(), f.columns.as_slice()))
        .collect();
    assert_eq!(
        fks,
        vec![
            ("fk_item", &["item".to_string()][..]),
            ("orders_ibfk_2", &["oid".to_string()][..])
        ]
    );
}

/// SCHEMATA lists every database, those without tables too; the tables MySQL has and
/// quorate does not fill (FILES, ROUTINES, TRIGGERS, ...) answer empty; the rest are
/// refused by name, and information_schema cannot be written.
#[test]
fn schemata_empty_tables_and_refusals() {
    let mut db = shop();
    db.run("CREATE DATABASE empty_one").unwrap();
    let rows = db
        .run("SELECT schema_name FROM information_schema.schemata ORDER BY schema_name")
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![t("d")],
            vec![t("empty_one")],
            vec![t("information_schema")]
        ]
    );
    for table in ["FILES", "ROUTINES", "TRIGGERS", "EVENTS", "PARTITIONS"] {
        let rows = db
            .run(&format!("SELECT * FROM information_schema.{table}"))
            .unwrap();
        assert!(rows.is_empty(), "{table}");
    }
    let e = db
        .run("SELECT * FROM information_schema.INNODB_TRX")
        .unwrap_err();
    assert!(e.contains("information_schema.INNODB_TRX"), "{e}");
    let e = db.run("DELETE FROM information_schema.tables").unwrap_err();
    assert!(e.contains("information_schema"), "{e}");
}
