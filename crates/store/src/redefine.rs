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
//! only when the rows on disk mean the same under both texts ([`compatible`], both texts
//! read in scratch in-memory databases): the same columns in the same order (names may
//! change case), the same PRIMARY KEY, the same indexes of the table's own PRIMARY KEY and
//! UNIQUE clauses (columns, order, collations), the same kind of table (rowid or not, STRICT
//! or not, AUTOINCREMENT or not, the same rowid key), and no generated column. A column
//! whose values would need converting (another type affinity, or another NUMERIC type:
//! dates, times, decimals) must hold no value. quorate's own tables cannot be redefined.
//!
//! What else the change does, in one savepoint (if any step fails, nothing of it stays):
//! - a changed default first has every row written out whole (`UPDATE t SET c = c`, with
//!   triggers off): a row stored before a column was added has no value for it on disk,
//!   and SQLite reads the column's default from the text, which is about to change;
//! - the text is written, the schema version bumped (every connection reads the schema
//!   again), and this connection's schema reloaded;
//! - a column's collation changed: every index of the table is rebuilt (`REINDEX`);
//! - on the leader only, the rows are checked against the new text: NOT NULL and CHECK by
//!   `PRAGMA quick_check`, the table's foreign keys by `PRAGMA foreign_key_check` when they
//!   are enforced (and, when a collation changed, the keys of the tables that reference
//!   it). The statement fails if one does not fit.
//!
//! The statement is replicated as text, like other schema statements; replicas run it
//! with the same steps except the checks (the rows are the leader's), so they end with the
//! same text and the same rows.

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
    /// Per column: name, declared type, position in the primary key, hidden (generated),
    /// default (as text).
    columns: Vec<Column>,
    /// Per column, its collation.
    collations: Vec<String>,
    without_rowid: bool,
    strict: bool,
    autoincrement: bool,
    /// The indexes the table's own PRIMARY KEY and UNIQUE clauses make (SQLite finds each
    /// on disk by its place among them): name, and per key column its number, order and
    /// collation.
    autoindexes: Vec<(String, Vec<KeyColumn>)>,
}

#[derive(Debug, PartialEq, Eq)]
struct Column {
    name: String,
    decl: String,
    pk: i64,
    hidden: i64,
    default: Option<String>,
}

impl Shape {
    /// The shape of the table `table` that CREATE TABLE statement `sql` makes, read from a
    /// scratch in-memory database prepared by `prepare` (the SQL functions its CHECKs may
    /// use). Fails if `sql` is not one CREATE TABLE of that table.
    fn of(
        table: &str,
        sql: &str,
        which: &str,
        prepare: &dyn Fn(&Connection) -> rusqlite::Result<()>,
    ) -> Result<Shape, StoreError> {
        let conn = Connection::open_in_memory()?;
        quorate_collate::register(&conn)?;
        prepare(&conn)?;
        let refused = |why: String| StoreError::Refused(format!("the {which} definition {why}"));
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
        let columns: Vec<Column> = conn
            .prepare(
                "SELECT name, type, pk, hidden, dflt_value FROM pragma_table_xinfo(?1) \
                 ORDER BY cid",
            )?
            .query_map([table], |r| {
                Ok(Column {
                    name: r.get(0)?,
                    decl: r.get(1)?,
                    pk: r.get(2)?,
                    hidden: r.get(3)?,
                    default: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        // A column's collation, from an index on it alone (dropped again).
        let q = crate::record::quote(table);
        let mut collations = Vec::with_capacity(columns.len());
        for c in columns.iter().filter(|c| c.hidden == 0) {
            conn.execute_batch(&format!(
                "CREATE INDEX quorate_probe ON {q} ({})",
                crate::record::quote(&c.name)
            ))?;
            collations.push(key_columns("quorate_probe", &conn)?.remove(0).2);
            conn.execute_batch("DROP INDEX quorate_probe")?;
        }
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
        let names: Vec<String> = conn
            .prepare(
                "SELECT name FROM pragma_index_list(?1) WHERE origin IN ('pk', 'u') \
                 ORDER BY name",
            )?
            .query_map([table], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut autoindexes = Vec::with_capacity(names.len());
        for n in names {
            let key = key_columns(&n, &conn)?;
            autoindexes.push((n, key));
        }
        Ok(Shape {
            stored_sql: stored_sql.clone(),
            columns,
            collations,
            without_rowid,
            strict,
            autoincrement,
            autoindexes,
        })
    }

    /// The column that is the table's rowid (a lone `INTEGER PRIMARY KEY`), if any.
    fn rowid_alias(&self) -> Option<&str> {
        let mut pk = self.columns.iter().filter(|c| c.pk > 0);
        match (pk.next(), pk.next()) {
            (Some(c), None) if !self.without_rowid && c.decl.eq_ignore_ascii_case("INTEGER") => {
                Some(&c.name)
            }
            _ => None,
        }
    }
}

/// A key column of an index: its number in the table, whether descending, its collation.
type KeyColumn = (i64, bool, String);

/// Index `index`'s key columns, in order.
fn key_columns(index: &str, conn: &Connection) -> rusqlite::Result<Vec<KeyColumn>> {
    conn.prepare("SELECT cid, desc, coll FROM pragma_index_xinfo(?1) WHERE key ORDER BY seqno")?
        .query_map([index], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            ))
        })?
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

/// What the change needs besides the new text, when rows written under the old one read
/// the same under it ([`compatible`]).
#[derive(Debug, Default, PartialEq, Eq)]
struct Needs {
    /// Columns whose values would need converting: they must hold none.
    empty: Vec<String>,
    /// A column whose default changes: rows stored before a column was added (which SQLite
    /// completes with the column's default when it reads them) are written out whole first.
    materialize: Option<String>,
    /// A column's collation changes: every index of the table is rebuilt.
    reindex: bool,
}

/// Whether rows written under `old` read the same under `new`; `Err` names the difference.
fn compatible(old: &Shape, new: &Shape) -> Result<Needs, String> {
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
    if old.autoindexes != new.autoindexes {
        return Err("it changes the PRIMARY KEY or a UNIQUE clause of the table".into());
    }
    let mut needs = Needs::default();
    for (o, n) in old.columns.iter().zip(&new.columns) {
        // Column names compare as SQLite compares them: a change of case is a rename in
        // place.
        if !o.name.eq_ignore_ascii_case(&n.name) {
            return Err(format!(
                "it changes the columns' names or order ({} / {})",
                o.name, n.name
            ));
        }
        if o.pk != n.pk {
            return Err(format!("it changes the primary key (column {})", o.name));
        }
        if o.hidden != 0 || n.hidden != 0 {
            return Err(format!("the table has a generated column ({})", o.name));
        }
        // Text, integer, real and blob values need no converting between types of their
        // kind (a narrower one's CHECKs are verified); NUMERIC holds dates, times and
        // decimals, whose stored forms differ by type.
        let (oa, na) = (affinity(&o.decl), affinity(&n.decl));
        let squeezed = |d: &str| {
            d.split_whitespace()
                .collect::<String>()
                .to_ascii_uppercase()
        };
        if oa != na || (oa == "NUMERIC" && squeezed(&o.decl) != squeezed(&n.decl)) {
            if o.pk > 0 {
                return Err(format!(
                    "it changes the storage of primary key column {}",
                    o.name
                ));
            }
            needs.empty.push(o.name.clone());
        }
        if o.default != n.default && needs.materialize.is_none() {
            needs.materialize = Some(o.name.clone());
        }
    }
    needs.reindex = old.collations != new.collations;
    Ok(needs)
}

/// Makes the change `r` on `conn`, inside its open transaction. `check`: verify the
/// existing rows against the new definition (the leader); replicas pass `false`.
/// `prepare` sets up a scratch connection as the store's connections are (SQL functions).
pub(crate) fn run(
    conn: &Connection,
    r: &Redefine,
    check: bool,
    prepare: &dyn Fn(&Connection) -> rusqlite::Result<()>,
) -> Result<(), StoreError> {
    if r.table.starts_with(crate::schema::INTERNAL_PREFIX)
        || r.table.to_ascii_lowercase().starts_with("sqlite_")
    {
        return Err(StoreError::Refused(format!(
            "{} is internal and cannot be redefined",
            r.table
        )));
    }
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
    let old = Shape::of(&r.table, &r.from, "current", prepare)?;
    if current != old.stored_sql && current != r.from {
        return Err(StoreError::Aborted(format!(
            "table {} was changed by another statement meanwhile; send the ALTER TABLE again",
            r.table
        )));
    }
    let new = Shape::of(&r.table, &r.to, "new", prepare)?;
    let needs = compatible(&old, &new).map_err(|why| {
        StoreError::Refused(format!(
            "this change to table {} ({why}); create a new table and copy the rows with \
             INSERT ... SELECT",
            r.table
        ))
    })?;
    conn.execute_batch("SAVEPOINT quorate_redefine")?;
    let done = edit(conn, r, &new.stored_sql, &needs, check);
    if done.is_ok() {
        conn.execute_batch("RELEASE quorate_redefine")?;
        return Ok(());
    }
    // Undo what the change did; SQLite may already have rolled back the whole transaction
    // (an I/O error, an interrupt), which then has ended. Either way this connection reads
    // the schema again.
    let ended = conn.is_autocommit();
    let undone = if ended {
        Ok(())
    } else {
        conn.execute_batch("ROLLBACK TO quorate_redefine; RELEASE quorate_redefine")
    };
    let reset = conn.execute_batch("PRAGMA writable_schema = RESET");
    if let Err(e) = undone.and(reset) {
        return Err(StoreError::Aborted(format!(
            "a failed change to table {} could not be undone ({e})",
            r.table
        )));
    }
    if ended {
        let why = done.err().map_or_else(String::new, |e| e.to_string());
        return Err(StoreError::Aborted(format!(
            "the change to table {} ended the transaction ({why})",
            r.table
        )));
    }
    done
}

fn edit(
    conn: &Connection,
    r: &Redefine,
    new_sql: &str,
    needs: &Needs,
    check: bool,
) -> Result<(), StoreError> {
    let q = crate::record::quote(&r.table);
    for c in &needs.empty {
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
                "changing the type of column {c} of table {}: it holds values, which would \
                 have to be converted; create a new table and copy the rows with \
                 INSERT ... SELECT",
                r.table
            )));
        }
    }
    if let Some(c) = &needs.materialize {
        // Every row written out whole under the old text, with triggers off (the leader's
        // would fire: ON UPDATE CURRENT_TIMESTAMP), as on every replica.
        use rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER as TRIGGERS;
        let triggers = conn.db_config(TRIGGERS)?;
        conn.set_db_config(TRIGGERS, false)?;
        let c = crate::record::quote(c);
        let written = conn.execute_batch(&format!("UPDATE main.{q} SET {c} = {c}"));
        conn.set_db_config(TRIGGERS, triggers)?;
        written?;
    }
    let version: i64 = conn.query_row("PRAGMA main.schema_version", [], |row| row.get(0))?;
    conn.execute_batch("PRAGMA writable_schema = ON")?;
    let changed = conn.execute(
        "UPDATE main.sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = ?2",
        [new_sql, &r.table],
    );
    // Every connection (this one, the readers) reads the schema again when it sees the
    // version move; RESET makes this one read it at once.
    let bumped = match changed {
        Ok(1) => conn
            .execute_batch(&format!("PRAGMA main.schema_version = {}", version + 1))
            .map_err(StoreError::from),
        Ok(_) => Err(StoreError::Corrupt(format!(
            "table {} is not in sqlite_schema once",
            r.table
        ))),
        Err(e) => Err(e.into()),
    };
    conn.execute_batch("PRAGMA writable_schema = RESET")?;
    bumped?;
    if needs.reindex {
        conn.execute_batch(&format!("REINDEX main.{q}"))?;
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
            // The table's own keys, and, when a collation changed, the keys of the tables
            // that reference it (their rows may match nothing now).
            let mut tables = vec![r.table.clone()];
            if needs.reindex {
                let mut stmt = conn.prepare(
                    "SELECT DISTINCT s.name FROM main.sqlite_schema AS s, \
                     pragma_foreign_key_list(s.name) AS f WHERE s.type = 'table' \
                     AND f.\"table\" = ?1 COLLATE NOCASE AND s.name <> ?1",
                )?;
                let children = stmt.query_map([&r.table], |row| row.get::<_, String>(0))?;
                for c in children {
                    tables.push(c?);
                }
            }
            let mut violated = false;
            for t in &tables {
                violated |= conn
                    .prepare(&format!(
                        "PRAGMA main.foreign_key_check({})",
                        crate::record::quote(t)
                    ))?
                    .query([])?
                    .next()?
                    .is_some();
            }
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
        let r = run(conn, &parse(&sql).unwrap().unwrap(), true, &|_| Ok(()));
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
                       CREATE TABLE w (k TEXT PRIMARY KEY, d DATETIME, u INT UNIQUE) WITHOUT ROWID; \
                       INSERT INTO t VALUES (1, 5, NULL); INSERT INTO w VALUES ('a', '2024-01-01 10:00:00', 1);");
        for to in [
            "CREATE TABLE w (k TEXT COLLATE NOCASE PRIMARY KEY, d DATETIME, u INT UNIQUE) WITHOUT ROWID",
            "CREATE TABLE w (k TEXT, d DATETIME, u INT UNIQUE, PRIMARY KEY (k DESC)) WITHOUT ROWID",
            "CREATE TABLE w (k TEXT PRIMARY KEY, d DATE, u INT UNIQUE) WITHOUT ROWID",
            "CREATE TABLE w (k TEXT PRIMARY KEY, d DATETIME, u INT) WITHOUT ROWID",
        ] {
            let before = table_sql(&conn, "w");
            let e = apply(&conn, "w", to).unwrap_err();
            assert!(matches!(e, StoreError::Refused(_)), "{to}: {e:?}");
            assert_eq!(table_sql(&conn, "w"), before, "{to}");
        }
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
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT UNIQUE, b TEXT)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a DECIMAL(10,2), b TEXT)",
            "CREATE INDEX i ON t (a)",
            "CREATE TABLE \"_quorate_meta\" (id INTEGER PRIMARY KEY, a INT, b TEXT)",
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

    /// Rows stored before a column was added have no value for it on disk (SQLite reads
    /// the column's default): a changed default must not change them. With an ON UPDATE
    /// trigger on the table, which must not fire.
    #[test]
    fn changed_default_keeps_the_values_rows_have() {
        let conn = db("CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, ts TEXT); \
                       CREATE TRIGGER touch AFTER UPDATE ON t BEGIN \
                       UPDATE t SET ts = 'touched' WHERE id = NEW.id; END; \
                       INSERT INTO t VALUES (1, 1, 'old'), (2, 2, 'old'); \
                       ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 5;");
        apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, ts TEXT, c INT NOT NULL)",
        )
        .unwrap();
        let rows: Vec<(i64, i64, String)> = conn
            .prepare("SELECT id, c, ts FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [(1, 5, "old".into()), (2, 5, "old".into())]);
        assert!(
            conn.execute_batch("INSERT INTO t (id, a) VALUES (3, 3)")
                .is_err()
        );
        apply(
            &conn,
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, ts TEXT, c INT NOT NULL DEFAULT 9)",
        )
        .unwrap();
        let c: i64 = conn
            .query_row("SELECT c FROM t WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(c, 5);
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

    /// A referenced column whose collation changes must leave every referencing row with a
    /// match: rows of another table are checked too.
    #[test]
    fn referencing_rows_must_still_match() {
        let conn = db(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, k TEXT COLLATE NOCASE); \
                       CREATE UNIQUE INDEX pk ON p (k); \
                       CREATE TABLE c (id INTEGER PRIMARY KEY, k TEXT REFERENCES p (k)); \
                       INSERT INTO p VALUES (1, 'a'); INSERT INTO c VALUES (1, 'A');",
        );
        let e = apply(
            &conn,
            "p",
            "CREATE TABLE p (id INTEGER PRIMARY KEY, k TEXT COLLATE BINARY)",
        )
        .unwrap_err();
        assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
        conn.execute_batch("UPDATE c SET k = 'a'").unwrap();
        apply(
            &conn,
            "p",
            "CREATE TABLE p (id INTEGER PRIMARY KEY, k TEXT COLLATE BINARY)",
        )
        .unwrap();
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
        let e = run(&conn, &parse(&sql).unwrap().unwrap(), true, &|_| Ok(())).unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
    }
}
