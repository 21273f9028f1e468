//! Applying changesets with statements prepared once.
//!
//! `sqlite3changeset_apply` reads each table's columns (`PRAGMA table_xinfo`) and compiles
//! its SELECT, INSERT, UPDATE and DELETE statements again on every call: on a follower that
//! was a fifth of all CPU, more than the writes themselves. [`Applier`] walks the changeset
//! itself and runs the same statements from the connection's statement cache, with each
//! table's shape remembered until the schema changes.
//!
//! It is a fast path only. It applies a change exactly when SQLite's applier would apply it
//! without calling a conflict handler, and otherwise returns [`NotApplied::Declined`] (a
//! before-image that does not match, a constraint that still fails after retrying, a value
//! missing from the changeset, `sqlite_stat1`). The caller then rolls the transaction back
//! and applies the same changesets with SQLite's applier, which decides and reports
//! divergence as before. Because a changeset names each row at most once, a changeset whose
//! every change succeeded leaves the same rows whatever the order, so the two paths cannot
//! end in different states. (Two keys equal by their collation, a key re-spelt, come as a
//! DELETE of one and an INSERT of the other: the INSERT fails until the DELETE has run, on
//! either path.) The before-image checks (`col IS ?`) follow the columns' collations too,
//! so a replica holding another spelling of a NOCASE text or of a date is not caught here;
//! the replicas' checksums catch it. A table that is missing here or shaped differently from the
//! changeset is [`NotApplied::Diverged`]: SQLite's applier would skip it without a word.
//! Its statements are `INSERT OR ABORT` / `UPDATE OR ABORT`, so that a table's own conflict
//! clause cannot roll back the caller's transaction.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int};
use std::fmt::Write as _;
use std::ptr;
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, ffi};

use crate::record::quote;

/// Why the fast path did not apply a changeset. Either way the transaction must be rolled
/// back: part of the changeset may have been applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotApplied {
    /// Left to SQLite's applier, which applies it or names the conflict.
    #[error("changeset left to SQLite's applier: {0}")]
    Declined(String),
    /// A table here is missing or has another shape than the changeset's. SQLite's applier
    /// would skip such a table without a word; it means this replica's schema diverged.
    #[error("{0}")]
    Diverged(String),
}

/// The column name SQLite's session extension uses for the rowid of a table without a
/// PRIMARY KEY (recorded because capture sets `SQLITE_SESSION_OBJCONFIG_ROWID`).
const ROWID_COLUMN: &str = "_rowid_";

/// A table as the session extension sees it: its non-hidden columns in order (preceded by
/// `_rowid_` when it has no PRIMARY KEY) and which of them form the key.
struct Shape {
    insert_sql: String,
    delete_sql: String,
    /// Quoted `main."table"`.
    qualified: String,
    quoted_columns: Vec<String>,
    /// Per column: its position in the PRIMARY KEY (1, 2, ...) or 0, as in the changeset.
    pk: Vec<u8>,
}

impl Shape {
    fn read(conn: &Connection, table: &str) -> rusqlite::Result<Option<Self>> {
        let mut stmt = conn.prepare_cached(
            "SELECT name, pk, hidden FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
        )?;
        let mut names = Vec::new();
        let mut pk = Vec::new();
        let mut rows = stmt.query([table])?;
        while let Some(row) = rows.next()? {
            if row.get::<_, i64>(2)? != 0 {
                continue;
            }
            names.push(row.get::<_, String>(0)?);
            pk.push(u8::try_from(row.get::<_, i64>(1)?).unwrap_or(u8::MAX));
        }
        if names.is_empty() {
            return Ok(None);
        }
        if pk.iter().all(|&p| p == 0) {
            names.insert(0, ROWID_COLUMN.to_string());
            pk.insert(0, 1);
        }
        let qualified = format!("main.{}", quote(table));
        let quoted_columns: Vec<String> = names.iter().map(|n| quote(n)).collect();
        // OR ABORT: a table's own conflict clause (ON CONFLICT ROLLBACK, REPLACE, IGNORE)
        // must not change what applying does; a failure only ends the statement.
        let mut insert_sql = format!(
            "INSERT OR ABORT INTO {qualified}({}) VALUES (",
            quoted_columns.join(", ")
        );
        for i in 1..=names.len() {
            let sep = if i == 1 { "" } else { ", " };
            let _ = write!(insert_sql, "{sep}?{i}");
        }
        insert_sql.push(')');
        let mut delete_sql = format!("DELETE FROM {qualified} WHERE ");
        for (i, col) in quoted_columns.iter().enumerate() {
            let sep = if i == 0 { "" } else { " AND " };
            let cmp = if pk[i] != 0 { "=" } else { "IS" };
            let _ = write!(delete_sql, "{sep}{col} {cmp} ?{}", i + 1);
        }
        Ok(Some(Self {
            insert_sql,
            delete_sql,
            qualified,
            quoted_columns,
            pk,
        }))
    }

    /// `UPDATE` setting the non-key columns that have a new value (`changed`), where the
    /// key and the old values of those columns match. Parameters: `?(2i+1)` new and
    /// `?(2i+2)` old value of column `i`, as SQLite's applier numbers them.
    fn update_sql(&self, changed: &[bool]) -> String {
        let mut sql = format!("UPDATE OR ABORT {} SET ", self.qualified);
        let mut first = true;
        for (i, col) in self.quoted_columns.iter().enumerate() {
            if changed[i] {
                let sep = if first { "" } else { ", " };
                let _ = write!(sql, "{sep}{col} = ?{}", 2 * i + 1);
                first = false;
            }
        }
        sql.push_str(" WHERE ");
        let mut first = true;
        for (i, col) in self.quoted_columns.iter().enumerate() {
            if self.pk[i] != 0 || changed[i] {
                let sep = if first { "" } else { " AND " };
                let cmp = if self.pk[i] != 0 { "=" } else { "IS" };
                let _ = write!(sql, "{sep}{col} {cmp} ?{}", 2 * i + 2);
                first = false;
            }
        }
        sql
    }
}

/// One change, copied out of the changeset so it can be retried later.
struct Change {
    op: c_int,
    old: Vec<Option<Value>>,
    new: Vec<Option<Value>>,
}

/// Applies changesets with cached statements; see the module docs.
#[derive(Default)]
pub(crate) struct Applier {
    shapes: HashMap<String, Arc<Shape>>,
    schema_version: Option<i64>,
}

impl Applier {
    /// Forgets every table's shape (the connection was replaced).
    pub(crate) fn forget(&mut self) {
        self.shapes.clear();
        self.schema_version = None;
    }

    /// Forgets the shapes if the schema changed since they were read. One cached
    /// statement; call before each batch of changesets.
    pub(crate) fn check_schema(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let version: i64 = conn
            .prepare_cached("PRAGMA main.schema_version")?
            .query_row([], |r| r.get(0))?;
        if self.schema_version != Some(version) {
            self.shapes.clear();
            self.schema_version = Some(version);
        }
        Ok(())
    }

    fn shape(&mut self, conn: &Connection, table: &str) -> Result<Arc<Shape>, NotApplied> {
        if let Some(s) = self.shapes.get(table) {
            return Ok(s.clone());
        }
        if table.eq_ignore_ascii_case("sqlite_stat1") {
            return Err(NotApplied::Declined(
                "sqlite_stat1 is left to SQLite".into(),
            ));
        }
        let shape = Shape::read(conn, table)
            .map_err(|e| NotApplied::Declined(format!("table {table}: {e}")))?
            .ok_or_else(|| {
                NotApplied::Diverged(format!(
                    "table {table} of the changeset does not exist here"
                ))
            })?;
        let shape = Arc::new(shape);
        self.shapes.insert(table.to_string(), shape.clone());
        Ok(shape)
    }

    /// Applies `changeset` on `conn` inside the caller's transaction, or returns
    /// [`NotApplied`] (after which the caller must roll back: part of it may be applied).
    pub(crate) fn apply(&mut self, conn: &Connection, changeset: &[u8]) -> Result<(), NotApplied> {
        if changeset.is_empty() {
            return Ok(());
        }
        let mut iter = Iter::start(changeset)?;
        let mut current: Option<(String, Arc<Shape>)> = None;
        let mut deferred: Vec<Change> = Vec::new();
        while iter.next()? {
            let (table, ncol, op) = iter.op()?;
            if current.as_ref().map(|(t, _)| t.as_str()) != Some(table) {
                if let Some((name, shape)) = &current {
                    retry(conn, name, shape, &mut deferred)?;
                }
                let shape = self.shape(conn, table)?;
                let pk = iter.pk()?;
                if pk != shape.pk.as_slice() || ncol != shape.pk.len() {
                    return Err(NotApplied::Diverged(format!(
                        "table {table}: the changeset's columns or key differ from the table's here"
                    )));
                }
                current = Some((table.to_string(), shape));
            }
            let (_, shape) = current.as_ref().expect("set above");
            let change = iter.change(op, ncol)?;
            if !run(conn, shape, &change)? {
                deferred.push(change);
            }
        }
        if let Some((name, shape)) = &current {
            retry(conn, name, shape, &mut deferred)?;
        }
        Ok(())
    }
}

/// Retries the changes that failed a constraint, as long as each round applies at least
/// one of them (a later change of the same table may have freed a UNIQUE value).
fn retry(
    conn: &Connection,
    table: &str,
    shape: &Shape,
    deferred: &mut Vec<Change>,
) -> Result<(), NotApplied> {
    while !deferred.is_empty() {
        let before = deferred.len();
        let mut still = Vec::new();
        for change in deferred.drain(..) {
            if !run(conn, shape, &change)? {
                still.push(change);
            }
        }
        *deferred = still;
        if deferred.len() == before {
            return Err(NotApplied::Declined(format!(
                "table {table}: {before} change(s) still violate a constraint"
            )));
        }
    }
    Ok(())
}

/// Runs one change. `Ok(false)`: it violated a constraint (retry later); `Err`: anything
/// SQLite's applier would have reported as a conflict or error.
fn run(conn: &Connection, shape: &Shape, change: &Change) -> Result<bool, NotApplied> {
    let bind = |stmt: &mut rusqlite::CachedStatement<'_>, idx: usize, v: &Value| {
        stmt.raw_bind_parameter(idx, ToSqlOutput::Borrowed(ValueRef::from(v)))
    };
    // A record without a value where one is needed is a corrupt changeset to SQLite.
    let undefined = || NotApplied::Declined("a needed value is missing from the changeset".into());
    let result = match change.op {
        ffi::SQLITE_INSERT | ffi::SQLITE_DELETE => {
            let (sql, values) = if change.op == ffi::SQLITE_INSERT {
                (&shape.insert_sql, &change.new)
            } else {
                (&shape.delete_sql, &change.old)
            };
            if values.iter().any(Option::is_none) {
                return Err(undefined());
            }
            (|| {
                let mut stmt = conn.prepare_cached(sql)?;
                for (i, v) in values.iter().flatten().enumerate() {
                    bind(&mut stmt, i + 1, v)?;
                }
                stmt.raw_execute()
            })()
        }
        _ => {
            // As SQLite's applier: key columns are matched, never set.
            let changed: Vec<bool> = (change.new.iter().zip(&shape.pk))
                .map(|(new, &pk)| new.is_some() && pk == 0)
                .collect();
            if !changed.contains(&true) {
                return Err(NotApplied::Declined("an UPDATE that sets no column".into()));
            }
            let columns = change.new.iter().zip(&change.old).zip(&shape.pk);
            if columns
                .clone()
                .zip(&changed)
                .any(|(((_, old), &pk), &ch)| (pk != 0 || ch) && old.is_none())
            {
                return Err(undefined());
            }
            (|| {
                let mut stmt = conn.prepare_cached(&shape.update_sql(&changed))?;
                for (i, (((new, old), &pk), &ch)) in columns.zip(&changed).enumerate() {
                    if let (true, Some(v)) = (ch, new) {
                        bind(&mut stmt, 2 * i + 1, v)?;
                    }
                    if let (true, Some(v)) = (pk != 0 || ch, old) {
                        bind(&mut stmt, 2 * i + 2, v)?;
                    }
                }
                stmt.raw_execute()
            })()
        }
    };
    match result {
        Ok(0) => Err(NotApplied::Declined(
            "a row to change is missing or differs from the before-image".into(),
        )),
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == ErrorCode::ConstraintViolation && change.op != ffi::SQLITE_DELETE =>
        {
            Ok(false)
        }
        Err(e) => Err(NotApplied::Declined(e.to_string())),
    }
}

/// A changeset iterator (`sqlite3changeset_start`), finalized on drop.
struct Iter<'a> {
    raw: *mut ffi::sqlite3_changeset_iter,
    _changeset: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Iter<'a> {
    fn start(changeset: &'a [u8]) -> Result<Self, NotApplied> {
        let len = c_int::try_from(changeset.len())
            .map_err(|_| NotApplied::Declined("changeset over 2 GiB".into()))?;
        let mut raw = ptr::null_mut();
        // SAFETY: SQLite only reads the buffer (the API takes a non-const pointer), which the
        // returned iterator borrows for 'a; the iterator is finalized exactly once on drop.
        let rc =
            unsafe { ffi::sqlite3changeset_start(&mut raw, len, changeset.as_ptr() as *mut _) };
        if rc != ffi::SQLITE_OK {
            return Err(NotApplied::Declined(format!(
                "sqlite3changeset_start: code {rc}"
            )));
        }
        Ok(Self {
            raw,
            _changeset: std::marker::PhantomData,
        })
    }

    /// Moves to the next change; false at the end. Takes `&mut self` so that nothing read
    /// from the previous change (table name, key flags) can still be borrowed.
    fn next(&mut self) -> Result<bool, NotApplied> {
        // SAFETY: `raw` is a live iterator.
        match unsafe { ffi::sqlite3changeset_next(self.raw) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(NotApplied::Declined(format!(
                "malformed changeset: code {rc}"
            ))),
        }
    }

    /// The current change's table, column count and operation.
    fn op(&self) -> Result<(&str, usize, c_int), NotApplied> {
        let mut table: *const c_char = ptr::null();
        let (mut ncol, mut op, mut indirect) = (0, 0, 0);
        // SAFETY: `raw` points at a change (next returned a row); the table name stays valid
        // until the iterator moves on, which needs `&mut self`, so the returned borrow ends
        // first.
        let rc = unsafe {
            ffi::sqlite3changeset_op(self.raw, &mut table, &mut ncol, &mut op, &mut indirect)
        };
        if rc != ffi::SQLITE_OK || table.is_null() || ncol < 0 {
            return Err(NotApplied::Declined(format!(
                "sqlite3changeset_op: code {rc}"
            )));
        }
        // SAFETY: NUL-terminated, valid while the iterator stays on this table.
        let table = unsafe { CStr::from_ptr(table) }
            .to_str()
            .map_err(|_| NotApplied::Declined("table name is not UTF-8".into()))?;
        Ok((table, ncol as usize, op))
    }

    /// Each column's position in the current table's key (0: not in it).
    fn pk(&self) -> Result<Vec<u8>, NotApplied> {
        let mut flags: *mut u8 = ptr::null_mut();
        let mut ncol: c_int = 0;
        // SAFETY: `raw` points at a change; SQLite returns an array of `ncol` flags that
        // stays valid while the iterator is on this table.
        let rc = unsafe { ffi::sqlite3changeset_pk(self.raw, &mut flags, &mut ncol) };
        if rc != ffi::SQLITE_OK || flags.is_null() || ncol < 0 {
            return Err(NotApplied::Declined(format!(
                "sqlite3changeset_pk: code {rc}"
            )));
        }
        // SAFETY: see above; copied out at once.
        let flags = unsafe { std::slice::from_raw_parts(flags, ncol as usize) };
        Ok(flags.to_vec())
    }

    /// The current change's old and new values (`None` where the changeset has none).
    fn change(&self, op: c_int, ncol: usize) -> Result<Change, NotApplied> {
        let mut old = Vec::with_capacity(ncol);
        let mut new = Vec::with_capacity(ncol);
        for i in 0..ncol {
            let i = i as c_int;
            if op != ffi::SQLITE_INSERT {
                old.push(self.value(i, ffi::sqlite3changeset_old)?);
            }
            if op != ffi::SQLITE_DELETE {
                new.push(self.value(i, ffi::sqlite3changeset_new)?);
            }
        }
        if op == ffi::SQLITE_INSERT {
            old = vec![None; ncol];
        }
        if op == ffi::SQLITE_DELETE {
            new = vec![None; ncol];
        }
        Ok(Change { op, old, new })
    }

    fn value(
        &self,
        col: c_int,
        get: unsafe extern "C" fn(
            *mut ffi::sqlite3_changeset_iter,
            c_int,
            *mut *mut ffi::sqlite3_value,
        ) -> c_int,
    ) -> Result<Option<Value>, NotApplied> {
        let mut v: *mut ffi::sqlite3_value = ptr::null_mut();
        // SAFETY: `raw` points at a change of at least `col + 1` columns with the kind of
        // record `get` reads (old for UPDATE/DELETE, new for UPDATE/INSERT).
        let rc = unsafe { get(self.raw, col, &mut v) };
        if rc != ffi::SQLITE_OK {
            return Err(NotApplied::Declined(format!(
                "reading a changeset value: code {rc}"
            )));
        }
        if v.is_null() {
            return Ok(None);
        }
        // SAFETY: `v` is a protected value owned by the iterator, valid until it moves on;
        // text and blob bytes are copied out before that.
        let value = unsafe {
            match ffi::sqlite3_value_type(v) {
                ffi::SQLITE_INTEGER => Value::Integer(ffi::sqlite3_value_int64(v)),
                ffi::SQLITE_FLOAT => Value::Real(ffi::sqlite3_value_double(v)),
                ffi::SQLITE_TEXT => {
                    let p = ffi::sqlite3_value_text(v);
                    let n = ffi::sqlite3_value_bytes(v);
                    if p.is_null() && n > 0 {
                        return Err(NotApplied::Declined("out of memory".into()));
                    }
                    let bytes = if p.is_null() || n <= 0 {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(p, n as usize)
                    };
                    match std::str::from_utf8(bytes) {
                        Ok(s) => Value::Text(s.to_string()),
                        Err(_) => {
                            return Err(NotApplied::Declined("text value is not UTF-8".into()));
                        }
                    }
                }
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_value_blob(v);
                    let n = ffi::sqlite3_value_bytes(v);
                    if p.is_null() && n > 0 {
                        return Err(NotApplied::Declined("out of memory".into()));
                    }
                    if p.is_null() || n <= 0 {
                        Value::Blob(Vec::new())
                    } else {
                        Value::Blob(std::slice::from_raw_parts(p.cast::<u8>(), n as usize).to_vec())
                    }
                }
                _ => Value::Null,
            }
        };
        Ok(Some(value))
    }
}

impl Drop for Iter<'_> {
    fn drop(&mut self) {
        // SAFETY: created by sqlite3changeset_start, finalized exactly once.
        unsafe { ffi::sqlite3changeset_finalize(self.raw) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{apply_changeset, capture_with_session as capture, rows_as_text};

    const SCHEMA: &str = "
        CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, u TEXT UNIQUE, r REAL, b BLOB,
            g TEXT AS (v || '!') STORED);
        CREATE TABLE \"odd \"\"name\" (\"k 1\" TEXT NOT NULL, k2 INTEGER NOT NULL, \"v\"\"\" TEXT,
            PRIMARY KEY (\"k 1\", k2)) WITHOUT ROWID;
        CREATE TABLE nokey (a TEXT, b INTEGER);";

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    fn dump(conn: &Connection) -> Vec<String> {
        rows_as_text(
            conn,
            &[
                "SELECT quote(id)||quote(v)||quote(u)||quote(r)||quote(b)||quote(g) FROM t ORDER BY id",
                "SELECT quote(\"k 1\")||quote(k2)||quote(\"v\"\"\") FROM \"odd \"\"name\" ORDER BY 1",
                "SELECT quote(rowid)||quote(a)||quote(b) FROM nokey ORDER BY rowid",
            ],
        )
    }

    /// The leader's steps, each captured as one changeset.
    const STEPS: &[&str] = &[
        "INSERT INTO t VALUES (1, 'a', 'x', 1.5, x'00ff'), (2, NULL, 'y', NULL, x''), (3, 'c', 'w', -0.25, NULL);
         INSERT INTO \"odd \"\"name\" VALUES ('p q', 1, 'it''s'), ('p q', 2, NULL);
         INSERT INTO nokey VALUES ('n1', 1), (NULL, NULL), ('n1', 1);",
        "UPDATE t SET v = 'a2', r = NULL WHERE id = 1; UPDATE t SET b = x'0102' WHERE id = 3;
         UPDATE \"odd \"\"name\" SET \"v\"\"\" = 'ünï' WHERE k2 = 2;
         UPDATE nokey SET b = 7 WHERE rowid = 2; DELETE FROM nokey WHERE rowid = 1;",
        // UNIQUE values handed along a chain of rows: 3 gives up 'w', which 2 takes, whose
        // 'y' 1 takes. In the changeset's order (by key) 1 and 2 hit the constraint first.
        "UPDATE t SET u = 'v' WHERE id = 3; UPDATE t SET u = 'w' WHERE id = 2;
         UPDATE t SET u = 'y' WHERE id = 1;",
        "DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (4, 'd', 'x', 2.0, x'ab');
         DELETE FROM \"odd \"\"name\" WHERE k2 = 1; INSERT INTO nokey VALUES ('n4', 4);",
    ];

    /// Property: applying the leader's changesets with the fast applier leaves exactly the
    /// rows SQLite's applier leaves (and the leader has): inserts, updates and deletes, on a
    /// rowid table, a WITHOUT ROWID table with a composite key and awkward names, and a
    /// table without a PRIMARY KEY, a generated column; NULLs, reals, empty and non-empty blobs, unicode, UNIQUE
    /// values moved between rows.
    #[test]
    fn fast_apply_leaves_what_sqlites_applier_leaves() {
        let leader = db();
        let changesets: Vec<Vec<u8>> = STEPS.iter().map(|s| capture(&leader, s)).collect();
        let fast = db();
        let slow = db();
        let mut applier = Applier::default();
        applier.check_schema(&fast).unwrap();
        for cs in &changesets {
            applier.apply(&fast, cs).unwrap();
            apply_changeset(&slow, cs).unwrap();
            assert_eq!(dump(&fast), dump(&slow));
        }
        assert_eq!(dump(&fast), dump(&leader));
    }

    /// Property: the fast applier declines, rather than applies, every change SQLite's
    /// applier would report as a conflict: a row that differs from the before-image, a row
    /// to delete or update that is missing, a row to insert that already exists.
    #[test]
    fn fast_apply_declines_every_conflict() {
        let leader = db();
        leader
            .execute_batch("INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b')")
            .unwrap();
        let update = capture(&leader, "UPDATE t SET v = 'a2' WHERE id = 1");
        let delete = capture(&leader, "DELETE FROM t WHERE id = 2");
        let insert = capture(&leader, "INSERT INTO t (id, v) VALUES (3, 'c')");
        let cases = [
            ("UPDATE t SET v = 'tampered' WHERE id = 1", &update),
            ("DELETE FROM t WHERE id = 1", &update),
            ("UPDATE t SET v = 'tampered' WHERE id = 2", &delete),
            ("DELETE FROM t WHERE id = 2", &delete),
            ("INSERT INTO t (id, v) VALUES (3, 'c')", &insert),
        ];
        for (tamper, cs) in cases {
            let replica = db();
            replica
                .execute_batch("INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b')")
                .unwrap();
            replica.execute_batch(tamper).unwrap();
            let mut applier = Applier::default();
            let err = applier.apply(&replica, cs);
            assert!(err.is_err(), "applied over `{tamper}`");
            assert!(
                apply_changeset(&replica, cs).is_err(),
                "SQLite applied over `{tamper}`"
            );
        }
    }

    /// Property: a UNIQUE value swapped between two rows (no order of single-row updates
    /// applies it) is declined, not half applied and reported as success.
    #[test]
    fn fast_apply_declines_a_unique_swap() {
        let leader = db();
        leader
            .execute_batch("INSERT INTO t (id, u) VALUES (1, 'x'), (2, 'y')")
            .unwrap();
        let swap = capture(
            &leader,
            "UPDATE t SET u = 'tmp' WHERE id = 1; UPDATE t SET u = 'x' WHERE id = 2;
             UPDATE t SET u = 'y' WHERE id = 1;",
        );
        let replica = db();
        replica
            .execute_batch("INSERT INTO t (id, u) VALUES (1, 'x'), (2, 'y')")
            .unwrap();
        assert!(Applier::default().apply(&replica, &swap).is_err());
    }

    /// Property: a table's own conflict clause does not change what applying does. With
    /// `UNIQUE ON CONFLICT ROLLBACK`, a change applied before the one that frees its value
    /// would otherwise roll back the caller's whole transaction and let the rest run (and
    /// commit) outside it.
    #[test]
    fn conflict_clauses_of_the_table_do_not_apply() {
        let schema = "CREATE TABLE c (id INTEGER PRIMARY KEY, u TEXT UNIQUE ON CONFLICT ROLLBACK);
                      INSERT INTO c VALUES (1, 'x'), (2, 'y');";
        let leader = Connection::open_in_memory().unwrap();
        leader.execute_batch(schema).unwrap();
        // Row 1 comes first in the changeset and needs the value row 2 gives up.
        let cs = capture(
            &leader,
            "UPDATE c SET u = 'z' WHERE id = 2; UPDATE c SET u = 'y' WHERE id = 1;",
        );
        let follower = Connection::open_in_memory().unwrap();
        follower.execute_batch(schema).unwrap();
        follower.execute_batch("BEGIN").unwrap();
        Applier::default().apply(&follower, &cs).unwrap();
        assert!(!follower.is_autocommit(), "the transaction was rolled back");
        follower.execute_batch("COMMIT").unwrap();
        let rows: Vec<String> = follower
            .prepare("SELECT id || u FROM c ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, vec!["1y", "2z"]);
    }

    /// Property: a table that is missing here, or whose key differs from the changeset's,
    /// is reported as divergence (SQLite's applier would skip it without a word).
    #[test]
    fn a_table_of_another_shape_is_divergence() {
        let leader = db();
        let cs = capture(&leader, "INSERT INTO t (id, v) VALUES (1, 'a')");
        for schema in [
            "CREATE TABLE other (x)",
            "CREATE TABLE t (id INTEGER, v TEXT, u TEXT, r REAL, b BLOB, g TEXT,
                PRIMARY KEY (v, id))",
        ] {
            let replica = Connection::open_in_memory().unwrap();
            replica.execute_batch(schema).unwrap();
            let err = Applier::default().apply(&replica, &cs).unwrap_err();
            assert!(matches!(err, NotApplied::Diverged(_)), "{schema}: {err}");
        }
    }

    /// Property: after a schema change the applier reads the table's columns again instead
    /// of using the shape it remembered (which would decline or misplace values).
    #[test]
    fn fast_apply_follows_schema_changes() {
        let leader = db();
        let follower = db();
        let mut applier = Applier::default();
        applier.check_schema(&follower).unwrap();
        let before = capture(&leader, "INSERT INTO t (id, v) VALUES (1, 'a')");
        applier.apply(&follower, &before).unwrap();
        for conn in [&leader, &follower] {
            conn.execute_batch("ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 5")
                .unwrap();
        }
        let after = capture(&leader, "INSERT INTO t (id, v, extra) VALUES (2, 'b', 9)");
        applier.check_schema(&follower).unwrap();
        applier.apply(&follower, &after).unwrap();
        let extra: Vec<i64> = follower
            .prepare("SELECT extra FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(extra, vec![5, 9]);
    }
}
