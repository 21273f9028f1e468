//! Changing a table's definition where SQLite's own ALTER TABLE cannot: adding or dropping
//! a FOREIGN KEY or CHECK, a column's type, NOT NULL, default or collation (what MySQL's
//! `ALTER TABLE ... ADD FOREIGN KEY`, `DROP FOREIGN KEY`, `MODIFY`, `CHANGE` and
//! `ALTER COLUMN ... SET DEFAULT` do).
//!
//! The statement, which the MySQL translation writes and SQLite itself would reject:
//!
//! ```text
//! ALTER TABLE "d.t" REDEFINE FROM '<the table's CREATE TABLE now>' TO '<the new one>'
//! ```
//!
//! It replaces the table's CREATE TABLE text in `sqlite_schema` (SQLite's documented way to
//! make a change "that does not affect the on-disk content in any way"), so it is allowed
//! only when the rows on disk mean the same under both texts ([`compatible`]): the same
//! columns in the same order with the same keys, the same kind of table (rowid or not,
//! STRICT or not, AUTOINCREMENT or not), the same collations in the primary key, and no
//! generated column. A column whose type affinity changes must hold no value, since its
//! values would have to be converted. Indexes whose collations change are rebuilt.
//!
//! On the leader the existing rows are then checked against the new text (NOT NULL and
//! CHECK by `PRAGMA quick_check`, foreign keys by `PRAGMA foreign_key_check` when they are
//! enforced), and the statement fails if one does not fit. The statement is replicated as
//! text, like other schema statements; replicas make the same change and rebuild the same
//! indexes, without the checks (the rows are the leader's).
//!
//! The whole change is one savepoint: if any step fails, nothing of it stays.

use rusqlite::{Connection, OptionalExtension, ffi};

use crate::StoreError;

/// The word after the table name that marks the statement.
const KEYWORD: &str = "REDEFINE";

/// A parsed `ALTER TABLE ... REDEFINE` statement.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Redefine {
    /// The table's SQLite name.
    pub table: String,
    /// Its CREATE TABLE text that the change was computed from.
    pub from: String,
    /// Its new CREATE TABLE text.
    pub to: String,
}

/// Reads `sql` as an `ALTER TABLE ... REDEFINE` statement: `None` if it is not one (any other
/// statement), an error if it is one but malformed.
pub(crate) fn parse(sql: &str) -> Option<Result<Redefine, StoreError>> {
    let mut p = Parser { s: sql, i: 0 };
    if !(p.word("ALTER") && p.word("TABLE")) {
        return None;
    }
    let table = p.quoted(b'"')?;
    if !p.word(KEYWORD) {
        return None;
    }
    let malformed = || {
        Some(Err(StoreError::Refused(format!(
            "malformed ALTER TABLE ... {KEYWORD} statement"
        ))))
    };
    let Some(from) = p.word("FROM").then(|| p.quoted(b'\'')).flatten() else {
        return malformed();
    };
    let Some(to) = p.word("TO").then(|| p.quoted(b'\'')).flatten() else {
        return malformed();
    };
    p.skip_space();
    if p.i != sql.len() {
        return malformed();
    }
    Some(Ok(Redefine { table, from, to }))
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        let b = self.s.as_bytes();
        while self.i < b.len() && b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    /// Consumes keyword `kw` (any case) followed by a space or the end.
    fn word(&mut self, kw: &str) -> bool {
        self.skip_space();
        let rest = &self.s.as_bytes()[self.i..];
        let ok = rest.len() >= kw.len()
            && rest[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
            && rest
                .get(kw.len())
                .is_none_or(|c| c.is_ascii_whitespace() || *c == b'"' || *c == b'\'');
        if ok {
            self.i += kw.len();
        }
        ok
    }

    /// Consumes a text quoted with `q`, a doubled `q` standing for one.
    fn quoted(&mut self, q: u8) -> Option<String> {
        self.skip_space();
        let b = self.s.as_bytes();
        if b.get(self.i) != Some(&q) {
            return None;
        }
        let mut out = Vec::new();
        let mut j = self.i + 1;
        loop {
            match b.get(j) {
                None => return None,
                Some(&c) if c == q && b.get(j + 1) == Some(&q) => {
                    out.push(q);
                    j += 2;
                }
                Some(&c) if c == q => break,
                Some(&c) => {
                    out.push(c);
                    j += 1;
                }
            }
        }
        self.i = j + 1;
        String::from_utf8(out).ok()
    }
}

/// A table as far as its rows on disk are concerned.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    /// The CREATE TABLE text as SQLite stores it.
    stored_sql: String,
    /// Per column: name, declared type, position in the primary key, hidden (generated).
    columns: Vec<(String, String, i64, i64)>,
    without_rowid: bool,
    strict: bool,
    autoincrement: bool,
    /// Collations of the primary key's index, in key order (none for a rowid key).
    pk_collations: Vec<String>,
}

impl Shape {
    /// The shape of the table `table` that CREATE TABLE statement `sql` makes, read from a
    /// scratch in-memory database. Fails if `sql` is not one CREATE TABLE of that table.
    fn of(table: &str, sql: &str) -> Result<Shape, StoreError> {
        let conn = Connection::open_in_memory()?;
        quorate_collate::register(&conn)?;
        let refused = |why: String| StoreError::Refused(format!("the new definition {why}"));
        conn.prepare(sql)
            .and_then(|mut s| s.raw_execute())
            .map_err(|e| refused(format!("is not valid: {e}")))?;
        let tables: Vec<(String, String)> = conn
            .prepare(
                "SELECT name, sql FROM sqlite_schema WHERE type = 'table' \
                 AND name <> 'sqlite_sequence'",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let [(name, stored_sql)] = &tables[..] else {
            return Err(refused("does not create exactly one table".into()));
        };
        if name != table {
            return Err(refused(format!("names table {name}, not {table}")));
        }
        let columns = conn
            .prepare("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid")?
            .query_map([table], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let (without_rowid, strict): (bool, bool) = conn.query_row(
            "SELECT wr, strict FROM pragma_table_list(?1) WHERE schema = 'main'",
            [table],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let autoincrement = conn
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        let pk_index: Option<String> = conn
            .query_row(
                "SELECT name FROM pragma_index_list(?1) WHERE origin = 'pk'",
                [table],
                |r| r.get(0),
            )
            .optional()?;
        let pk_collations = match pk_index {
            Some(i) => key_collations(&conn, &i)?,
            None => Vec::new(),
        };
        Ok(Shape {
            stored_sql: stored_sql.clone(),
            columns,
            without_rowid,
            strict,
            autoincrement,
            pk_collations,
        })
    }

    /// The column that is the table's rowid (a lone `INTEGER PRIMARY KEY`), if any.
    fn rowid_alias(&self) -> Option<&str> {
        let mut pk = self.columns.iter().filter(|c| c.2 > 0);
        match (pk.next(), pk.next()) {
            (Some(c), None) if !self.without_rowid && c.1.eq_ignore_ascii_case("INTEGER") => {
                Some(&c.0)
            }
            _ => None,
        }
    }
}

/// The collations of index `index`'s key columns, in order.
fn key_collations(conn: &Connection, index: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT coll FROM pragma_index_xinfo(?1) WHERE key ORDER BY seqno")?
        .query_map([index], |r| r.get::<_, Option<String>>(0))?
        .map(|c| c.map(Option::unwrap_or_default))
        .collect()
}

/// SQLite's type affinity of a declared type (the rules of "Determination Of Column
/// Affinity"): what a value stored in the column becomes.
fn affinity(decl: &str) -> &'static str {
    let d = decl.to_ascii_uppercase();
    if d.contains("INT") {
        "INTEGER"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "TEXT"
    } else if d.contains("BLOB") || d.is_empty() {
        "BLOB"
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// Whether rows written under `old` read the same under `new`; `Err` names the difference.
/// `Ok` lists the columns whose affinity changes, which must hold no value.
fn compatible(old: &Shape, new: &Shape) -> Result<Vec<String>, String> {
    if old.columns.len() != new.columns.len() {
        return Err("it changes the number of columns".into());
    }
    if old.without_rowid != new.without_rowid {
        return Err("it changes WITHOUT ROWID".into());
    }
    if old.strict != new.strict {
        return Err("it changes STRICT".into());
    }
    if old.autoincrement != new.autoincrement {
        return Err("it adds or removes AUTO_INCREMENT".into());
    }
    if old.rowid_alias() != new.rowid_alias() {
        return Err("it changes the type of the AUTO_INCREMENT / INTEGER primary key".into());
    }
    if old.pk_collations != new.pk_collations {
        return Err("it changes the collation of a primary key column".into());
    }
    let mut converted = Vec::new();
    for (o, n) in old.columns.iter().zip(&new.columns) {
        if o.0 != n.0 {
            return Err(format!(
                "it changes the columns' names or order ({} / {})",
                o.0, n.0
            ));
        }
        if o.2 != n.2 {
            return Err(format!("it changes the primary key (column {})", o.0));
        }
        if o.3 != 0 || n.3 != 0 {
            return Err(format!("the table has a generated column ({})", o.0));
        }
        if affinity(&o.1) != affinity(&n.1) {
            if o.2 > 0 {
                return Err(format!(
                    "it changes the storage of primary key column {}",
                    o.0
                ));
            }
            converted.push(o.0.clone());
        }
    }
    Ok(converted)
}

/// Makes the change `r` on `conn`, inside its open transaction. `check`: verify the
/// existing rows against the new definition (the leader); replicas pass `false`.
pub(crate) fn run(conn: &Connection, r: &Redefine, check: bool) -> Result<(), StoreError> {
    let current: Option<String> = conn
        .query_row(
            "SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
            [&r.table],
            |row| row.get(0),
        )
        .optional()?;
    let Some(current) = current else {
        return Err(StoreError::Sql(no_such_table(&r.table)));
    };
    let old = Shape::of(&r.table, &r.from)?;
    if current != old.stored_sql && current != r.from {
        return Err(StoreError::Aborted(format!(
            "table {} was changed by another statement meanwhile",
            r.table
        )));
    }
    let new = Shape::of(&r.table, &r.to)?;
    let converted = compatible(&old, &new).map_err(|why| {
        StoreError::Refused(format!(
            "this change to table {} ({why}); create a new table and copy the rows with \
             INSERT ... SELECT",
            r.table
        ))
    })?;
    conn.execute_batch("SAVEPOINT quorate_redefine")?;
    let done = edit(conn, r, &new.stored_sql, &converted, check);
    let ended = match &done {
        Ok(()) => conn.execute_batch("RELEASE quorate_redefine"),
        Err(_) => conn.execute_batch(
            "ROLLBACK TO quorate_redefine; RELEASE quorate_redefine; \
             PRAGMA writable_schema = RESET",
        ),
    };
    done?;
    ended?;
    Ok(())
}

fn edit(
    conn: &Connection,
    r: &Redefine,
    new_sql: &str,
    converted: &[String],
    check: bool,
) -> Result<(), StoreError> {
    let q = crate::record::quote(&r.table);
    for c in converted {
        let holds: bool = conn.query_row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM main.{q} WHERE {} IS NOT NULL)",
                crate::record::quote(c)
            ),
            [],
            |row| row.get(0),
        )?;
        if holds {
            return Err(StoreError::Refused(format!(
                "changing how column {c} of table {} stores its values: it holds values, \
                 which would have to be converted; create a new table and copy the rows \
                 with INSERT ... SELECT",
                r.table
            )));
        }
    }
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_list(?1)")?
        .query_map([&r.table], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut before = Vec::with_capacity(indexes.len());
    for i in &indexes {
        before.push(key_collations(conn, i)?);
    }
    let version: i64 = conn.query_row("PRAGMA main.schema_version", [], |row| row.get(0))?;
    conn.execute_batch("PRAGMA writable_schema = ON")?;
    let changed = conn.execute(
        "UPDATE main.sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = ?2",
        [new_sql, &r.table],
    );
    // Every connection (this one, the readers) reads the schema again when it sees the
    // version move; RESET makes this one read it at once.
    let bumped = conn.execute_batch(&format!("PRAGMA main.schema_version = {}", version + 1));
    conn.execute_batch("PRAGMA writable_schema = RESET")?;
    if changed? != 1 {
        return Err(StoreError::Corrupt(format!(
            "table {} is not in sqlite_schema once",
            r.table
        )));
    }
    bumped?;
    for (i, old) in indexes.iter().zip(before) {
        if key_collations(conn, i)? != old {
            conn.execute_batch(&format!("REINDEX main.{}", crate::record::quote(i)))?;
        }
    }
    if check {
        let problems: Vec<String> = conn
            .prepare(&format!("PRAGMA main.quick_check({q})"))?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if let Some(p) = problems.iter().find(|p| *p != "ok") {
            return Err(StoreError::Sql(constraint(p)));
        }
        let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0))?;
        if enforced {
            let violated = conn
                .prepare(&format!("PRAGMA main.foreign_key_check({q})"))?
                .query([])?
                .next()?
                .is_some();
            if violated {
                return Err(StoreError::Sql(sqlite_error(
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
                    "FOREIGN KEY constraint failed".into(),
                )));
            }
        }
    }
    Ok(())
}

/// The constraint error for one line of `quick_check`'s report: `NULL value in t.c` is a
/// NOT NULL failure, `CHECK constraint failed in t` a CHECK failure; anything else
/// (damage) is reported as it is.
fn constraint(problem: &str) -> rusqlite::Error {
    if let Some(col) = problem.strip_prefix("NULL value in ") {
        sqlite_error(
            ffi::SQLITE_CONSTRAINT_NOTNULL,
            format!("NOT NULL constraint failed: {col}"),
        )
    } else if problem.starts_with("CHECK constraint failed") {
        sqlite_error(
            ffi::SQLITE_CONSTRAINT_CHECK,
            "CHECK constraint failed".into(),
        )
    } else {
        sqlite_error(ffi::SQLITE_CORRUPT, format!("quick_check: {problem}"))
    }
}

fn sqlite_error(extended: i32, message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(extended), Some(message))
}

fn no_such_table(table: &str) -> rusqlite::Error {
    sqlite_error(ffi::SQLITE_ERROR, format!("no such table: {table}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redefine(table: &str, from: &str, to: &str) -> String {
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        format!(
            "ALTER TABLE \"{}\" REDEFINE FROM {} TO {}",
            table.replace('"', "\"\""),
            lit(from),
            lit(to)
        )
    }

    /// The statement reads back exactly what was written into it, quotes included; other
    /// statements are not taken for it, and a damaged one is refused.
    #[test]
    fn parses_what_it_should_only() {
        let from = "CREATE TABLE \"d.t\" (a TEXT DEFAULT 'x''y')";
        let to = "CREATE TABLE \"d.t\" (a TEXT DEFAULT 'z')";
        let sql = redefine("d.t", from, to);
        assert_eq!(
            parse(&sql).unwrap().unwrap(),
            Redefine {
                table: "d.t".into(),
                from: from.into(),
                to: to.into()
            }
        );
        assert!(parse("ALTER TABLE \"d.t\" ADD COLUMN b").is_none());
        assert!(parse("SELECT 1").is_none());
        assert!(parse(&format!("{sql} x")).unwrap().is_err());
        assert!(
            parse("ALTER TABLE \"d.t\" REDEFINE FROM 'a'")
                .unwrap()
                .is_err()
        );
    }

    fn db(sql: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        quorate_collate::register(&conn).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.execute_batch(sql).unwrap();
        conn
    }

    fn table_sql(conn: &Connection, t: &str) -> String {
        conn.query_row("SELECT sql FROM sqlite_schema WHERE name = ?1", [t], |r| {
            r.get(0)
        })
        .unwrap()
    }

    fn apply(conn: &Connection, t: &str, to: &str) -> Result<(), StoreError> {
        let sql = redefine(t, &table_sql(conn, t), to);
        conn.execute_batch("BEGIN").unwrap();
        let r = run(conn, &parse(&sql).unwrap().unwrap(), true);
        conn.execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })
            .unwrap();
        r
    }

    /// A FOREIGN KEY added to a table with rows is enforced from then on, also by a second
    /// connection that had read the old schema; rows that break it make the change fail and
    /// leave the table as it was.
    #[test]
    fn added_foreign_key_is_enforced_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        quorate_collate::register(&conn).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INT); INSERT INTO p VALUES (1); \
             INSERT INTO c VALUES (1, 1), (2, 2);",
        )
        .unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        other.execute_batch("INSERT INTO c VALUES (3, 3)").unwrap();
        let with_fk = "CREATE TABLE c (id INTEGER PRIMARY KEY, p INT, CONSTRAINT f FOREIGN KEY (p) REFERENCES p (id))";
        let before = table_sql(&conn, "c");
        match apply(&conn, "c", with_fk) {
            Err(StoreError::Sql(e)) => assert!(e.to_string().contains("FOREIGN KEY"), "{e}"),
            other => panic!("expected a foreign key failure, got {other:?}"),
        }
        assert_eq!(table_sql(&conn, "c"), before);
        conn.execute_batch("DELETE FROM c WHERE p > 1").unwrap();
        apply(&conn, "c", with_fk).unwrap();
        assert_eq!(table_sql(&conn, "c"), with_fk);
        assert!(conn.execute_batch("INSERT INTO c VALUES (4, 4)").is_err());
        assert!(other.execute_batch("INSERT INTO c VALUES (5, 5)").is_err());
        other.execute_batch("INSERT INTO c VALUES (6, 1)").unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    /// NOT NULL and CHECK in the new text are checked against the existing rows.
    #[test]
    fn existing_rows_must_fit() {
        let conn = db("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); \
                       INSERT INTO t VALUES (1, NULL), (2, 'long text');");
        let e = apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL)",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("NOT NULL constraint failed: t.a"),
            "{e}"
        );
        conn.execute_batch("UPDATE t SET a = 'x' WHERE id = 1")
            .unwrap();
        let e = apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL CHECK (length(a) < 5))",
        )
        .unwrap_err();
        assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
        apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL)",
        )
        .unwrap();
        assert!(
            conn.execute_batch("INSERT INTO t VALUES (3, NULL)")
                .is_err()
        );
    }

    /// Changes that would change what the rows on disk mean are refused before anything is
    /// written: the primary key, the rowid key's type, column order, WITHOUT ROWID,
    /// another table's name; and an affinity change while the column holds values.
    #[test]
    fn refuses_what_the_rows_would_not_survive() {
        let conn = db("CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b TEXT); \
                       INSERT INTO t VALUES (1, 5, NULL);");
        for to in [
            "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, b TEXT)",
            "CREATE TABLE t (id INTEGER, a INT PRIMARY KEY, b TEXT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, b TEXT, a INT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b TEXT) WITHOUT ROWID",
            "CREATE TABLE u (id INTEGER PRIMARY KEY, a INT, b TEXT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a INT, b TEXT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b TEXT AS (a))",
            "CREATE INDEX i ON t (a)",
        ] {
            let before = table_sql(&conn, "t");
            let e = apply(&conn, "t", to).unwrap_err();
            assert!(matches!(e, StoreError::Refused(_)), "{to}: {e:?}");
            assert_eq!(table_sql(&conn, "t"), before, "{to}");
        }
        // b holds only NULLs: its affinity may change.
        apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a BIGINT, b INT)",
        )
        .unwrap();
    }

    /// An index on a column whose collation changes is rebuilt, so that lookups through it
    /// find the rows and a UNIQUE index refuses what the new collation calls duplicates.
    #[test]
    fn indexes_follow_a_changed_collation() {
        let conn = db(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT COLLATE BINARY); \
                       CREATE INDEX i ON t (a); \
                       INSERT INTO t VALUES (1, 'b'), (2, 'B'), (3, 'a'), (4, 'C');",
        );
        apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT COLLATE NOCASE)",
        )
        .unwrap();
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM t INDEXED BY i WHERE a = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 2);
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let conn = db(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT COLLATE BINARY); \
                       CREATE UNIQUE INDEX i ON t (a); \
                       INSERT INTO t VALUES (1, 'b'), (2, 'B');",
        );
        let e = apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT COLLATE NOCASE)",
        )
        .unwrap_err();
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    /// A change computed from a text that is no longer the table's is refused as retryable.
    #[test]
    fn stale_text_is_retryable() {
        let conn = db("CREATE TABLE t (id INTEGER PRIMARY KEY, a INT)");
        let sql = redefine(
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b INT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT NOT NULL, b INT)",
        );
        let e = run(&conn, &parse(&sql).unwrap().unwrap(), true).unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
    }
}
