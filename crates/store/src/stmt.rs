//! Running one statement and collecting what it returned.

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};
use serde::Serialize;

use crate::StoreError;

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
    let mut stmt = conn.prepare_cached(sql)?;
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
    let mut out = StmtOutput {
        is_query: column_count > 0,
        ..Default::default()
    };
    if column_count == 0 {
        stmt.raw_execute()?;
    } else {
        out.columns = stmt
            .columns()
            .map(|c| ColumnInfo {
                name: c.name().to_string(),
                decl_type: c.decl_type().map(str::to_string),
            })
            .collect();
        let mut bytes = 0usize;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
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
