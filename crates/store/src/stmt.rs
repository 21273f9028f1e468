//! Running one statement and collecting what it returned.

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};
use serde::Serialize;

use crate::StoreError;

/// Longest statement text kept in a connection's prepared-statement cache (and in the
/// writer's classification cache). A longer statement is prepared each time it runs: large
/// statements (a dump's multi-row INSERT, a large value written as text) rarely repeat,
/// and each cached one would keep its text and its compiled program, literals included,
/// for as long as the cache holds it.
pub const CACHED_SQL_MAX: usize = 16 * 1024;

/// A result column: its name and the type it was declared with (if it comes straight from a
/// table column), which front ends use to report MySQL column types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub decl_type: Option<String>,
}

/// What one statement produced.
#[derive(Debug, Clone, Default)]
pub struct StmtOutput {
    /// True if the statement returns rows (SELECT, PRAGMA, ... RETURNING).
    pub is_query: bool,
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<Value>>,
    /// Rows inserted, updated or deleted (0 for read-only statements).
    pub rows_affected: u64,
    /// `last_insert_rowid()` after the statement.
    pub last_insert_rowid: i64,
    /// The value the statement gave `LAST_INSERT_ID(expr)`, if it called it (see
    /// [`crate::ConnectionHook::after_statement`]).
    pub last_insert_id_set: Option<i64>,
    /// What the statement did to rows, row by row, when the writer recorded it (a
    /// statement of a write transaction); `None` otherwise.
    pub counts: Option<crate::RowCounts>,
}

fn value_bytes(v: &ValueRef<'_>) -> usize {
    match v {
        ValueRef::Null => 1,
        ValueRef::Integer(_) | ValueRef::Real(_) => 8,
        ValueRef::Text(t) => t.len(),
        ValueRef::Blob(b) => b.len(),
    }
}

/// Runs `sql` with `params` on `conn`. With `read_only`, a statement that would write is
/// refused before it runs.
pub(crate) fn run(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    max_result_bytes: usize,
    read_only: bool,
) -> Result<StmtOutput, StoreError> {
    // A long one hands its worker's other work over (see `handover`).
    let _running = crate::handover::Running::start();
    let mut cached;
    let mut uncached;
    let stmt: &mut rusqlite::Statement<'_> = if sql.len() <= CACHED_SQL_MAX {
        cached = conn.prepare_cached(sql)?;
        &mut cached
    } else {
        uncached = conn.prepare(sql)?;
        &mut uncached
    };
    if read_only && !stmt.readonly() {
        return Err(StoreError::Refused(
            "this statement writes; send it as a write (execute), not as a query".into(),
        ));
    }
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(StoreError::Refused(format!(
            "the statement has {expected} parameter(s) but {} value(s) were given",
            params.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, p)?;
    }
    let column_count = stmt.column_count();
    let writes = !stmt.readonly();
    let total_before = conn.total_changes();
    if writes {
        // SQLite's last inserted rowid outlives the statement that set it (and quorate's own
        // inserts set it too): cleared, it tells whether this statement inserted a row.
        // SAFETY: `conn` is a live connection used only by this thread; the call only sets
        // an integer in it.
        unsafe { rusqlite::ffi::sqlite3_set_last_insert_rowid(conn.handle(), 0) };
    }
    let mut out = StmtOutput {
        is_query: column_count > 0,
        ..Default::default()
    };
    if column_count == 0 {
        stmt.raw_execute()?;
    } else {
        // The columns are read after the first step: a kept statement whose tables changed
        // since it was prepared is prepared again by that step, and before it would still
        // describe (and count) the old columns.
        let mut bytes = 0usize;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            let column_count = row.as_ref().column_count();
            let mut values = Vec::with_capacity(column_count);
            for i in 0..column_count {
                let v = row.get_ref(i)?;
                bytes += value_bytes(&v);
                values.push(to_owned(v));
            }
            if bytes > max_result_bytes {
                return Err(StoreError::TooLarge(format!(
                    "result larger than {max_result_bytes} bytes; add a LIMIT or raise max_result_bytes"
                )));
            }
            out.rows.push(values);
        }
        drop(rows);
        out.columns = stmt
            .columns()
            .map(|c| ColumnInfo {
                name: c.name().to_string(),
                decl_type: c.decl_type().map(str::to_string),
            })
            .collect();
    }
    if writes {
        // changes() keeps the count of the last INSERT/UPDATE/DELETE: a statement that
        // changed no row (DDL, ...) must not report it again.
        out.rows_affected = if conn.total_changes() == total_before {
            0
        } else {
            conn.changes()
        };
        out.last_insert_rowid = conn.last_insert_rowid();
    }
    Ok(out)
}

fn to_owned(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        // Valid UTF-8 almost always: check it with the fast validator, and fall back to the
        // lossy conversion (much slower per byte) only when it is not.
        ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prepared statements the connection holds (cached ones stay alive between runs).
    fn live_statements(conn: &Connection) -> usize {
        let mut n = 0;
        // SAFETY: the handle is the live connection of this thread; `sqlite3_next_stmt` only
        // walks its list of statements, which nothing changes while we walk it.
        unsafe {
            let db = conn.handle();
            let mut s = rusqlite::ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
            while !s.is_null() {
                n += 1;
                s = rusqlite::ffi::sqlite3_next_stmt(db, s);
            }
        }
        n
    }

    /// A kept statement run again after its table changed describes the table as it is now:
    /// its column names, count and declared types match the values (they once came from
    /// the statement as first prepared, so `SELECT *` labelled new values with old names).
    #[test]
    fn a_kept_statement_describes_the_table_as_it_is_now() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, balance INT, owner TEXT);
             INSERT INTO a VALUES (1, 100, 'ann');",
        )
        .unwrap();
        let sql = "SELECT * FROM a WHERE id = 1";
        let names = |o: &StmtOutput| o.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let first = run(&conn, sql, &[], 1 << 20, false).unwrap();
        assert_eq!(names(&first), ["id", "balance", "owner"]);
        conn.execute_batch(
            "ALTER TABLE a DROP COLUMN balance; ALTER TABLE a ADD COLUMN credit_limit REAL DEFAULT 5000",
        )
        .unwrap();
        let after = run(&conn, sql, &[], 1 << 20, false).unwrap();
        assert_eq!(names(&after), ["id", "owner", "credit_limit"]);
        assert_eq!(after.columns[2].decl_type.as_deref(), Some("REAL"));
        assert_eq!(
            after.rows,
            vec![vec![
                Value::Integer(1),
                Value::Text("ann".into()),
                Value::Real(5000.0)
            ]]
        );
        // Narrower than before, and with no row: still described as it is now.
        conn.execute_batch("ALTER TABLE a DROP COLUMN credit_limit")
            .unwrap();
        let none = run(&conn, "SELECT * FROM a WHERE id = 2", &[], 1 << 20, false).unwrap();
        let _ = run(&conn, "SELECT * FROM a WHERE id = 2", &[], 1 << 20, false).unwrap();
        conn.execute_batch("ALTER TABLE a ADD COLUMN z INT")
            .unwrap();
        let again = run(&conn, "SELECT * FROM a WHERE id = 2", &[], 1 << 20, false).unwrap();
        assert_eq!(names(&none), ["id", "owner"]);
        assert_eq!(names(&again), ["id", "owner", "z"]);
        let narrow = run(&conn, sql, &[], 1 << 20, false).unwrap();
        assert_eq!(names(&narrow), ["id", "owner", "z"]);
        assert_eq!(narrow.rows[0].len(), 3);
    }

    /// A statement longer than `CACHED_SQL_MAX` runs, but is not kept prepared afterwards
    /// (it would keep its text and its literals for as long as the cache holds it); an
    /// ordinary statement is kept and reused.
    #[test]
    fn long_statements_are_not_kept_prepared() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE b (v)").unwrap();
        run(&conn, "INSERT INTO b VALUES (1)", &[], 1 << 20, false).unwrap();
        assert_eq!(live_statements(&conn), 1);
        for i in 0..3 {
            let big = format!("INSERT INTO b VALUES ('{i}{}')", "x".repeat(CACHED_SQL_MAX));
            let out = run(&conn, &big, &[], 1 << 20, false).unwrap();
            assert_eq!(out.rows_affected, 1);
        }
        assert_eq!(live_statements(&conn), 1);
        run(&conn, "INSERT INTO b VALUES (1)", &[], 1 << 20, false).unwrap();
        assert_eq!(live_statements(&conn), 1);
        let count: i64 = conn
            .query_row("SELECT count(*) FROM b", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 5);
    }
}
