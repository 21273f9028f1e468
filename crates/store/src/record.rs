//! Change capture of our own: a pre-update hook that records the first before-image of every
//! row a transaction changes, and a changeset written at the end in SQLite's session format
//! from those images and each changed row's current values.
//!
//! It records what SQLite's session extension records, the way it does (the tests compare
//! the two on the same transactions), with one exception below, and without what the
//! session extension repeats for every transaction: every new session reads the columns
//! of each table it sees (`PRAGMA table_xinfo`) and compiles a SELECT per table to read
//! the changed rows, a sixth of a leader's CPU under sysbench writes. Here the tables'
//! shapes are read once per schema version and the SELECTs come from the statement cache.
//!
//! The rules, as in the session extension:
//! - a row is known by its PRIMARY KEY (by its rowid in a table without one); a change to a
//!   row whose key has a NULL is not recorded;
//! - the first change of a row keeps its before-image (none for an INSERT); an UPDATE that
//!   changes the key is a DELETE of the old key and an INSERT of the new;
//! - at the end each recorded row is read again by its key: a row that did not exist and
//!   does now is an INSERT of its current values, one that existed and does not is a
//!   DELETE of its before-image, one that existed and still does is an UPDATE of the
//!   columns whose value (type and value) differs, omitted when none does. Changes undone
//!   by a rolled-back statement or savepoint therefore leave nothing, as they should;
//! - a change is "indirect" when every change of the row came from a trigger or cascade.
//!
//! The exception: the key's `=` compares by the key columns' collation (NOCASE text, the
//! date collations), so a row whose key changed only in spelling (`'bob'` to `'BOB'`) is
//! found under both keys. The session extension then records it both updated and
//! inserted, which no replica can apply; here a row read back counts only if its key's
//! bytes are the recorded key's, so the change is a DELETE of one spelling and an INSERT
//! of the other.
//!
//! Unlike the session extension it refuses (fails the transaction) where it cannot be sure:
//! a table created or altered while recording, and `sqlite_stat1` (node-local statistics,
//! which the session extension records under a special key that followers then skip).
//! Schema statements run with recording stopped, so neither happens to user SQL.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::fmt::Write as _;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ffi};

use crate::point::Touched;
use crate::schema::is_local_table;

const TYPE_UNDEFINED: u8 = 0;
const TYPE_INTEGER: u8 = ffi::SQLITE_INTEGER as u8;
const TYPE_FLOAT: u8 = ffi::SQLITE_FLOAT as u8;
const TYPE_TEXT: u8 = ffi::SQLITE_TEXT as u8;
const TYPE_BLOB: u8 = ffi::SQLITE_BLOB as u8;
const TYPE_NULL: u8 = ffi::SQLITE_NULL as u8;

/// What statements did to rows themselves (not through triggers or foreign key actions),
/// as MySQL counts its affected rows: an UPDATE of a row is `updated` when it gives a
/// column another value and `unchanged` when it sets every column to the value it had.
/// A REPLACE that replaces a row deletes it and inserts the new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

/// A table as the changeset sees it.
struct Shape {
    /// For each changeset column, its index in the pre-update hook's row; `None` for the
    /// rowid of a table without a PRIMARY KEY (then always the first column).
    cols: Vec<Option<c_int>>,
    /// Per changeset column: its position in the PRIMARY KEY (1, 2, ...) or 0.
    pk: Vec<u8>,
    /// Columns of the hook's row (hidden ones included).
    total: c_int,
    /// Reads the changeset columns of one row by key.
    select_sql: String,
    /// The column that is the table's rowid (its `INTEGER PRIMARY KEY`), lower-cased.
    rowid_alias: Option<String>,
}

impl Shape {
    fn key_columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.pk
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != 0)
            .map(|(i, _)| i)
    }
}

/// One row's first change in the transaction.
struct Row {
    /// The before-image (one encoded record); `None` when the first change inserted it.
    old: Option<Vec<u8>>,
    indirect: bool,
}

struct TableChanges {
    name: String,
    shape: Arc<Shape>,
    /// Key (its encoded values) -> index into `rows`.
    by_key: HashMap<Vec<u8>, usize>,
    rows: Vec<(Vec<u8>, Row)>,
    /// Every rowid the hook reported for the table (old and new; repeats allowed).
    rowids: Vec<i64>,
}

#[derive(Default)]
struct State {
    recording: bool,
    /// Why this transaction's changes cannot be trusted (reported by `changeset`).
    failed: Option<String>,
    shapes: HashMap<String, Arc<Shape>>,
    schema_version: Option<i64>,
    tables: Vec<TableChanges>,
    table_index: HashMap<String, usize>,
    /// Rows touched by the changesets taken since the last `take_touched` or `stop`.
    touched: Touched,
    /// What the statements since the last `take_counts` did to rows themselves.
    counts: RowCounts,
}

/// Records row changes on one connection between [`Recorder::start`] and
/// [`Recorder::changeset`] / [`Recorder::stop`].
///
/// The hook installed on a connection points into this recorder: the connection must not
/// run statements after the recorder is dropped ([`crate::writer::Writer`] owns both and
/// drops the connection first).
pub(crate) struct Recorder {
    state: Box<Mutex<State>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            state: Box::new(Mutex::new(State::default())),
        }
    }
}

impl Recorder {
    /// Installs the pre-update hook on `conn` (after every open of the writer connection).
    pub(crate) fn install(&self, conn: &Connection) {
        let ctx: *const Mutex<State> = &*self.state;
        // SAFETY: the handle is live; `ctx` points into the boxed state, whose address is
        // stable and which outlives every statement run on `conn` (see the type docs).
        unsafe {
            ffi::sqlite3_preupdate_hook(conn.handle(), Some(on_preupdate), ctx as *mut c_void);
        }
        let mut s = self.state.lock();
        s.shapes.clear();
        s.schema_version = None;
    }

    /// Starts recording a new set of changes (forgetting any not taken). Re-reads the
    /// tables' shapes if the schema changed since they were read.
    pub(crate) fn start(&self, conn: &Connection) -> rusqlite::Result<()> {
        let version: i64 = conn
            .prepare_cached("PRAGMA main.schema_version")?
            .query_row([], |r| r.get(0))?;
        let mut s = self.state.lock();
        if s.schema_version != Some(version) {
            s.shapes = read_shapes(conn)?;
            s.schema_version = Some(version);
        }
        s.tables.clear();
        s.table_index.clear();
        s.failed = None;
        s.recording = true;
        Ok(())
    }

    /// Forgets the tables' shapes: the next `start` reads them again. For a rolled-back
    /// transaction that changed the schema, whose version number a later schema may reuse.
    pub(crate) fn forget_shapes(&self) {
        let mut s = self.state.lock();
        s.shapes.clear();
        s.schema_version = None;
    }

    /// Stops recording and forgets what was recorded.
    pub(crate) fn stop(&self) {
        let mut s = self.state.lock();
        s.recording = false;
        s.tables.clear();
        s.table_index.clear();
        s.failed = None;
        s.touched = Touched::default();
    }

    /// The rows touched by the changesets taken since the last call (or `stop`).
    pub(crate) fn take_touched(&self) -> Touched {
        std::mem::take(&mut self.state.lock().touched)
    }

    /// The lower-cased name of `table`'s rowid column (its `INTEGER PRIMARY KEY`), as of the
    /// schema the last `start` read; `None` for a table without one or unknown.
    pub(crate) fn rowid_alias(&self, table: &str) -> Option<String> {
        let s = self.state.lock();
        crate::point::by_table(&s.shapes, table)?
            .rowid_alias
            .clone()
    }

    /// What the statements run since the last call did to rows, `None` when not recording:
    /// for a statement's own counts, call it before and after the statement.
    pub(crate) fn take_counts(&self) -> Option<RowCounts> {
        let mut s = self.state.lock();
        let counts = std::mem::take(&mut s.counts);
        s.recording.then_some(counts)
    }

    /// Whether changes are being recorded.
    pub(crate) fn recording(&self) -> bool {
        self.state.lock().recording
    }

    /// Stops recording and returns the changeset of what was recorded (empty when nothing
    /// changed).
    ///
    /// A failure is sticky: the recorder stays "recording" and every later call fails the
    /// same way until `start` or `stop`, so a transaction whose changes could not be
    /// captured can never commit as if it had none.
    pub(crate) fn changeset(&self, conn: &Connection) -> rusqlite::Result<Vec<u8>> {
        let (tables, failed) = {
            let mut s = self.state.lock();
            s.recording = false;
            s.table_index.clear();
            (std::mem::take(&mut s.tables), s.failed.take())
        };
        let result = match failed {
            Some(why) => Err(failure(&why)),
            None => generate(conn, &tables),
        };
        let mut s = self.state.lock();
        for t in &tables {
            s.touched.add(&t.name, &t.rowids);
        }
        if let Err(e) = &result {
            s.recording = true;
            s.failed = Some(match e {
                rusqlite::Error::SqliteFailure(_, Some(m)) => {
                    m.strip_prefix("change capture: ").unwrap_or(m).to_string()
                }
                other => other.to_string(),
            });
        }
        result
    }
}

/// Writes the changeset of the recorded `tables` (see the module docs).
fn generate(conn: &Connection, tables: &[TableChanges]) -> rusqlite::Result<Vec<u8>> {
    // Changes are written straight into the changeset (a large inserted value is copied
    // once); a table's header is written first and taken back if none of its rows changed.
    let mut out = Vec::new();
    for t in tables {
        let table_start = out.len();
        out.push(b'T');
        put_varint(&mut out, t.shape.pk.len() as u64);
        out.extend_from_slice(&t.shape.pk);
        out.extend_from_slice(t.name.as_bytes());
        out.push(0);
        let header_end = out.len();
        let mut stmt = conn.prepare_cached(&t.shape.select_sql)?;
        let mut found_key = Vec::new();
        for (key, row) in &t.rows {
            let mut at = 0;
            for (param, _) in (1..).zip(t.shape.key_columns()) {
                let (v, n) = decode(&key[at..]).ok_or_else(|| failure("bad key"))?;
                stmt.raw_bind_parameter(param, to_sql(v))?;
                at += n;
            }
            let mut rows = stmt.raw_query();
            // The key's `=` compares by the columns' collations (NOCASE text, dates), so
            // the row found may hold the key spelt otherwise: `'BOB'` for `'bob'` after
            // `UPDATE u SET name = 'BOB'`. Then the row recorded under this key is gone
            // (read as present, it would be both updated and inserted, and every replica
            // would refuse the changeset).
            let current = match rows.next()? {
                Some(cur) => {
                    found_key.clear();
                    for i in t.shape.key_columns() {
                        encode(&mut found_key, cur.get_ref(i)?);
                    }
                    (found_key == *key).then_some(cur)
                }
                None => None,
            };
            match (&row.old, current) {
                (None, None) => {}
                (None, Some(cur)) => {
                    out.push(ffi::SQLITE_INSERT as u8);
                    out.push(u8::from(row.indirect));
                    for i in 0..t.shape.cols.len() {
                        encode(&mut out, cur.get_ref(i)?);
                    }
                }
                (Some(old), None) => {
                    out.push(ffi::SQLITE_DELETE as u8);
                    out.push(u8::from(row.indirect));
                    out.extend_from_slice(old);
                }
                (Some(old), Some(cur)) => {
                    update(&mut out, &t.shape, row, old, cur)?;
                }
            }
        }
        if out.len() == header_end {
            out.truncate(table_start);
        }
    }
    Ok(out)
}

/// Appends the UPDATE of `row` (whose before-image is `old`) to `change`, or nothing when
/// no column differs.
fn update(
    change: &mut Vec<u8>,
    shape: &Shape,
    row: &Row,
    old: &[u8],
    cur: &rusqlite::Row<'_>,
) -> rusqlite::Result<()> {
    let start = change.len();
    change.push(ffi::SQLITE_UPDATE as u8);
    change.push(u8::from(row.indirect));
    let mut new = Vec::new();
    let mut any = false;
    let mut at = 0;
    for i in 0..shape.cols.len() {
        let (before, n) = decode(&old[at..]).ok_or_else(|| failure("bad before-image"))?;
        let field = &old[at..at + n];
        at += n;
        let now = cur.get_ref(i)?;
        let changed = !same(before, now);
        any |= changed;
        if changed || shape.pk[i] != 0 {
            change.extend_from_slice(field);
        } else {
            change.push(TYPE_UNDEFINED);
        }
        if changed {
            encode(&mut new, now);
        } else {
            new.push(TYPE_UNDEFINED);
        }
    }
    if any {
        change.extend_from_slice(&new);
    } else {
        change.truncate(start);
    }
    Ok(())
}

/// The session extension's notion of an unchanged value: same type, same value.
fn same(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::Null, ValueRef::Null) => true,
        (ValueRef::Integer(x), ValueRef::Integer(y)) => x == y,
        (ValueRef::Real(x), ValueRef::Real(y)) => x == y,
        (ValueRef::Text(x), ValueRef::Text(y)) => x == y,
        (ValueRef::Blob(x), ValueRef::Blob(y)) => x == y,
        _ => false,
    }
}

fn failure(why: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_INTERNAL),
        Some(format!("change capture: {why}")),
    )
}

fn to_sql(v: ValueRef<'_>) -> rusqlite::types::ToSqlOutput<'_> {
    rusqlite::types::ToSqlOutput::Borrowed(v)
}

/// `ident` as a quoted SQL identifier (`"..."`, inner quotes doubled): the store's one
/// way to put a table, column or savepoint name into SQL it builds.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Reads every table's shape.
fn read_shapes(conn: &Connection) -> rusqlite::Result<HashMap<String, Arc<Shape>>> {
    struct Col {
        cid: c_int,
        name: String,
        pk: i64,
        hidden: bool,
    }
    let mut by_table: Vec<(String, Vec<Col>)> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT m.name, p.cid, p.name, p.pk, p.hidden \
             FROM main.sqlite_schema AS m, pragma_table_xinfo(m.name, 'main') AS p \
             WHERE m.type = 'table' AND m.name <> 'sqlite_stat1' \
               AND m.sql NOT LIKE 'CREATE VIRTUAL%' \
             ORDER BY m.name, p.cid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let table: String = r.get(0)?;
            let col = Col {
                cid: r.get(1)?,
                name: r.get(2)?,
                pk: r.get(3)?,
                hidden: r.get::<_, i64>(4)? != 0,
            };
            match by_table.last_mut() {
                Some((t, cols)) if *t == table => cols.push(col),
                _ => by_table.push((table, vec![col])),
            }
        }
    }
    let mut rowid_columns = crate::point::rowid_columns(conn)?;
    let mut shapes = HashMap::new();
    for (table, cols) in by_table {
        let total = cols.len() as c_int;
        let visible: Vec<&Col> = cols.iter().filter(|c| !c.hidden).collect();
        if visible.is_empty() {
            continue;
        }
        let qualified = format!("main.{}", quote(&table));
        let rowid = cols.iter().all(|c| c.pk == 0);
        let rowid_alias = rowid_columns.remove(&table);
        let mut shape = Shape {
            cols: Vec::new(),
            pk: Vec::new(),
            total,
            select_sql: String::new(),
            rowid_alias,
        };
        let mut names = Vec::new();
        if rowid {
            shape.cols.push(None);
            shape.pk.push(1);
            names.push("_rowid_".to_string());
        }
        for c in &visible {
            shape.cols.push(Some(c.cid));
            shape.pk.push(u8::try_from(c.pk).unwrap_or(u8::MAX));
            names.push(c.name.clone());
        }
        let list: Vec<String> = names.iter().map(|n| quote(n)).collect();
        let mut sql = format!("SELECT {} FROM {qualified} WHERE ", list.join(", "));
        for (n, i) in shape.key_columns().enumerate() {
            let sep = if n == 0 { "" } else { " AND " };
            let _ = write!(sql, "{sep}{} = ?{}", list[i], n + 1);
        }
        shape.select_sql = sql;
        shapes.insert(table, Arc::new(shape));
    }
    Ok(shapes)
}

/// The pre-update hook: records one change (see the module docs for the rules).
unsafe extern "C" fn on_preupdate(
    ctx: *mut c_void,
    db: *mut ffi::sqlite3,
    op: c_int,
    z_db: *const c_char,
    z_name: *const c_char,
    key1: i64,
    key2: i64,
) {
    // SAFETY: `ctx` is the recorder's boxed state (see `Recorder::install`), alive while
    // the connection runs statements; SQLite passes NUL-terminated names valid for the call.
    let state = unsafe { &*(ctx as *const Mutex<State>) };
    let mut s = state.lock();
    if !s.recording || s.failed.is_some() {
        return;
    }
    let (schema, table) = unsafe { (CStr::from_ptr(z_db), CStr::from_ptr(z_name)) };
    if schema.to_bytes() != b"main" || is_local_table(table.to_bytes()) {
        return;
    }
    let Ok(table) = table.to_str() else {
        s.failed = Some("a table name is not UTF-8".into());
        return;
    };
    let Some(shape) = s.shapes.get(table).cloned() else {
        s.failed = Some(if table.eq_ignore_ascii_case("sqlite_stat1") {
            "sqlite_stat1 holds node-local statistics and is not replicated".to_string()
        } else {
            format!("table {table} was created or altered while changes were recorded")
        });
        return;
    };
    let hook = Hook { db };
    if hook.count() != shape.total {
        s.failed = Some(format!(
            "table {table} changed shape during the transaction"
        ));
        return;
    }
    if hook.depth() == 0 {
        // The statement's own change, not a trigger's or a foreign key action's.
        match op {
            ffi::SQLITE_INSERT => s.counts.inserted += 1,
            ffi::SQLITE_DELETE => s.counts.deleted += 1,
            // A table without a PRIMARY KEY: its rowid is part of the row.
            _ if key1 != key2 && shape.cols.iter().any(Option::is_none) => s.counts.updated += 1,
            _ => match hook.row_changes(&shape) {
                Ok(true) => s.counts.updated += 1,
                Ok(false) => s.counts.unchanged += 1,
                Err(why) => {
                    s.failed = Some(why);
                    return;
                }
            },
        }
    }
    let result = s.record(table, &shape, &hook, op, key1).and_then(|()| {
        if op == ffi::SQLITE_UPDATE {
            s.record(table, &shape, &hook, ffi::SQLITE_INSERT, key2)
        } else {
            Ok(())
        }
    });
    if let Err(why) = result {
        s.failed = Some(why);
    }
}

/// Reads the row a pre-update hook call is about.
struct Hook {
    db: *mut ffi::sqlite3,
}

impl Hook {
    fn count(&self) -> c_int {
        // SAFETY: called only inside the pre-update callback for `db`.
        unsafe { ffi::sqlite3_preupdate_count(self.db) }
    }

    fn depth(&self) -> c_int {
        // SAFETY: as above.
        unsafe { ffi::sqlite3_preupdate_depth(self.db) }
    }

    /// Whether the UPDATE the hook is about gives any of the row's columns another value
    /// (its type or its bytes: `'bob'` to `'BOB'` is a change whatever the collation).
    /// Only the table's ordinary columns (those of `shape`) are compared: generated ones
    /// follow from them, and a VIRTUAL one cannot be read in the hook at all.
    fn row_changes(&self, shape: &Shape) -> Result<bool, String> {
        for cid in shape.cols.iter().flatten().copied() {
            let mut old: *mut ffi::sqlite3_value = std::ptr::null_mut();
            let mut new: *mut ffi::sqlite3_value = std::ptr::null_mut();
            // SAFETY: inside the callback of an UPDATE, whose old and new rows may both be
            // read; `cid` is below the hook's column count (checked against the shape).
            let (a, b) = unsafe {
                (
                    ffi::sqlite3_preupdate_old(self.db, cid, &mut old),
                    ffi::sqlite3_preupdate_new(self.db, cid, &mut new),
                )
            };
            if a != ffi::SQLITE_OK || b != ffi::SQLITE_OK || old.is_null() || new.is_null() {
                return Err(format!("reading a changed row failed (codes {a}, {b})"));
            }
            // SAFETY: both values are valid for this callback and only compared here.
            let (old, new) = unsafe { (value_ref(old), value_ref(new)) };
            let (Some(old), Some(new)) = (old, new) else {
                return Err("out of memory reading a changed row".into());
            };
            if !same(old, new) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Appends column `cid` of the old (`new == false`) or new row to `buf`. Returns false
    /// if it is NULL.
    fn encode(&self, buf: &mut Vec<u8>, cid: c_int, new: bool) -> Result<bool, String> {
        let mut v: *mut ffi::sqlite3_value = std::ptr::null_mut();
        // SAFETY: inside the callback; `cid` is below the hook's column count (checked
        // against the shape); old values are read for UPDATE/DELETE and new values for
        // UPDATE/INSERT only.
        let rc = unsafe {
            if new {
                ffi::sqlite3_preupdate_new(self.db, cid, &mut v)
            } else {
                ffi::sqlite3_preupdate_old(self.db, cid, &mut v)
            }
        };
        if rc != ffi::SQLITE_OK || v.is_null() {
            return Err(format!("reading a changed row failed (code {rc})"));
        }
        // SAFETY: `v` is valid for this callback; bytes are copied out at once.
        let value = unsafe { value_ref(v) }.ok_or("out of memory reading a changed row")?;
        encode(buf, value);
        Ok(!matches!(value, ValueRef::Null))
    }
}

impl State {
    /// Records one change of `op` to the row the hook is about; `rowid` is its rowid (the
    /// new one for an INSERT).
    fn record(
        &mut self,
        table: &str,
        shape: &Arc<Shape>,
        hook: &Hook,
        op: c_int,
        rowid: i64,
    ) -> Result<(), String> {
        let new = op == ffi::SQLITE_INSERT;
        let mut key = Vec::new();
        for i in shape.key_columns() {
            match shape.cols[i] {
                None => encode(&mut key, ValueRef::Integer(rowid)),
                Some(cid) => {
                    if !hook.encode(&mut key, cid, new)? {
                        // A key with a NULL: the session extension does not record it.
                        return Ok(());
                    }
                }
            }
        }
        let indirect = hook.depth() > 0;
        let t = match self.table_index.get(table) {
            Some(&t) => t,
            None => {
                self.tables.push(TableChanges {
                    name: table.to_string(),
                    shape: shape.clone(),
                    by_key: HashMap::new(),
                    rows: Vec::new(),
                    rowids: Vec::new(),
                });
                self.table_index
                    .insert(table.to_string(), self.tables.len() - 1);
                self.tables.len() - 1
            }
        };
        let t = &mut self.tables[t];
        t.rowids.push(rowid);
        if let Some(&r) = t.by_key.get(&key) {
            let row = &mut t.rows[r].1;
            row.indirect &= indirect;
            return Ok(());
        }
        let old = if new {
            None
        } else {
            let mut record = Vec::new();
            for col in &shape.cols {
                match *col {
                    None => encode(&mut record, ValueRef::Integer(rowid)),
                    Some(cid) => {
                        hook.encode(&mut record, cid, false)?;
                    }
                }
            }
            Some(record)
        };
        t.by_key.insert(key.clone(), t.rows.len());
        t.rows.push((key, Row { old, indirect }));
        Ok(())
    }
}

/// The value `v` holds; `None` when SQLite ran out of memory converting it.
///
/// # Safety
/// `v` must be a valid `sqlite3_value` for the lifetime `'a`.
unsafe fn value_ref<'a>(v: *mut ffi::sqlite3_value) -> Option<ValueRef<'a>> {
    // SAFETY: per the function's contract. Text is read before its length, as SQLite
    // requires; a null pointer with a non-zero length means the conversion failed.
    unsafe {
        Some(match ffi::sqlite3_value_type(v) {
            ffi::SQLITE_INTEGER => ValueRef::Integer(ffi::sqlite3_value_int64(v)),
            ffi::SQLITE_FLOAT => ValueRef::Real(ffi::sqlite3_value_double(v)),
            ffi::SQLITE_TEXT => {
                let p = ffi::sqlite3_value_text(v);
                let n = ffi::sqlite3_value_bytes(v);
                match (p.is_null(), n > 0) {
                    (true, true) => return None,
                    (false, true) => ValueRef::Text(std::slice::from_raw_parts(p, n as usize)),
                    _ => ValueRef::Text(&[]),
                }
            }
            ffi::SQLITE_BLOB => {
                let p = ffi::sqlite3_value_blob(v);
                let n = ffi::sqlite3_value_bytes(v);
                match (p.is_null(), n > 0) {
                    (true, true) => return None,
                    (false, true) => {
                        ValueRef::Blob(std::slice::from_raw_parts(p.cast::<u8>(), n as usize))
                    }
                    _ => ValueRef::Blob(&[]),
                }
            }
            _ => ValueRef::Null,
        })
    }
}

/// Appends one value in the changeset record format.
fn encode(buf: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => buf.push(TYPE_NULL),
        ValueRef::Integer(i) => {
            buf.push(TYPE_INTEGER);
            buf.extend_from_slice(&i.to_be_bytes());
        }
        ValueRef::Real(f) => {
            buf.push(TYPE_FLOAT);
            buf.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        ValueRef::Text(t) => {
            buf.push(TYPE_TEXT);
            put_varint(buf, t.len() as u64);
            buf.extend_from_slice(t);
        }
        ValueRef::Blob(b) => {
            buf.push(TYPE_BLOB);
            put_varint(buf, b.len() as u64);
            buf.extend_from_slice(b);
        }
    }
}

/// Reads one value written by [`encode`]: the value and the bytes it took.
fn decode(buf: &[u8]) -> Option<(ValueRef<'_>, usize)> {
    let (&t, rest) = buf.split_first()?;
    match t {
        TYPE_NULL => Some((ValueRef::Null, 1)),
        TYPE_INTEGER | TYPE_FLOAT => {
            let bytes: [u8; 8] = rest.get(..8)?.try_into().ok()?;
            let v = if t == TYPE_INTEGER {
                ValueRef::Integer(i64::from_be_bytes(bytes))
            } else {
                ValueRef::Real(f64::from_bits(u64::from_be_bytes(bytes)))
            };
            Some((v, 9))
        }
        TYPE_TEXT | TYPE_BLOB => {
            let (len, n) = get_varint(rest)?;
            let len = usize::try_from(len).ok()?;
            let data = rest.get(n..n.checked_add(len)?)?;
            let v = if t == TYPE_TEXT {
                ValueRef::Text(data)
            } else {
                ValueRef::Blob(data)
            };
            Some((v, 1 + n + len))
        }
        _ => None,
    }
}

/// `changeset` with each table's DELETEs moved before its other changes (which keep their
/// order); `None` when it cannot be read.
///
/// Deleting first only frees key values. It matters for the inverse of a key changing
/// only in spelling (`UPDATE u SET name = 'BOB' WHERE name = 'bob'` on a NOCASE key is
/// captured as DELETE 'bob', INSERT 'BOB'): inverted in order, the INSERT of 'bob' comes
/// first, finds 'BOB' equal by the key's collation, and SQLite's applier takes it for a
/// conflict, so the undo would fail. [`crate::capture::apply_undo`] applies inverses so.
pub(crate) fn deletes_first(changeset: &[u8]) -> Option<Vec<u8>> {
    let cs = changeset;
    let mut out = Vec::with_capacity(cs.len());
    let mut others = Vec::new();
    let mut at = 0;
    while at < cs.len() {
        if cs[at] != b'T' {
            return None;
        }
        let (ncol, n) = get_varint(cs.get(at + 1..)?)?;
        let name_at = (at + 1 + n).checked_add(usize::try_from(ncol).ok()?)?;
        let header_end = name_at + cs.get(name_at..)?.iter().position(|&b| b == 0)? + 1;
        out.extend_from_slice(&cs[at..header_end]);
        at = header_end;
        others.clear();
        while at < cs.len() && cs[at] != b'T' {
            let records = match c_int::from(cs[at]) {
                ffi::SQLITE_DELETE | ffi::SQLITE_INSERT => 1,
                ffi::SQLITE_UPDATE => 2,
                _ => return None,
            };
            let mut end = at + 2;
            for _ in 0..records * ncol {
                let rest = cs.get(end..)?;
                end += match rest.first()? {
                    &TYPE_UNDEFINED => 1,
                    _ => decode(rest)?.1,
                };
            }
            let change = cs.get(at..end)?;
            if c_int::from(cs[at]) == ffi::SQLITE_DELETE {
                out.extend_from_slice(change);
            } else {
                others.push(at..end);
            }
            at = end;
        }
        for r in &others {
            out.extend_from_slice(&cs[r.clone()]);
        }
    }
    Some(out)
}

/// SQLite's varint for values below 2^56 (every length here): big-endian groups of seven
/// bits, the high bit set on all but the last byte.
fn put_varint(buf: &mut Vec<u8>, v: u64) {
    debug_assert!(v < 1 << 56);
    let mut groups = [0u8; 8];
    let mut n = 0;
    let mut v = v;
    loop {
        groups[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        buf.push(groups[i] | if i == 0 { 0 } else { 0x80 });
    }
}

fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(8) {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureSession;

    const SCHEMA: &str = "
        PRAGMA foreign_keys = ON;
        CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, u TEXT UNIQUE, r REAL, b BLOB,
            g TEXT AS (v || '!') VIRTUAL, s INTEGER AS (id * 2) STORED);
        CREATE TABLE k (name TEXT NOT NULL PRIMARY KEY, n INTEGER);
        CREATE TABLE w (a TEXT NOT NULL, b INTEGER NOT NULL, c TEXT, PRIMARY KEY (b, a))
            WITHOUT ROWID;
        CREATE TABLE nokey (x TEXT, y INTEGER);
        CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
        CREATE TABLE parent (id INTEGER PRIMARY KEY, v TEXT);
        CREATE TABLE child (id INTEGER PRIMARY KEY,
            p INTEGER REFERENCES parent(id) ON DELETE CASCADE);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
        CREATE TRIGGER on_parent AFTER UPDATE ON parent BEGIN
            INSERT INTO audit (what) VALUES ('parent ' || new.id);
            UPDATE child SET p = p WHERE p = new.id;
        END;
        INSERT INTO t (id, v, u, r, b) VALUES (1, 'a', 'x', 1.0, x'00'), (2, 'b', 'y', 2.5, NULL);
        INSERT INTO k VALUES ('one', 1), ('two', 2);
        INSERT INTO w VALUES ('p', 1, 'c1'), ('q', 2, NULL);
        INSERT INTO nokey VALUES ('n1', 1), ('n2', 2);
        INSERT INTO seq (v) VALUES ('s1');
        INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');
        INSERT INTO child VALUES (10, 1), (11, 1), (12, 2);
        ALTER TABLE k ADD COLUMN added TEXT DEFAULT 'dflt';";

    /// Transactions, each run from the schema's starting state. Statements that fail are
    /// part of the test (their partial effects are rolled back by SQLite).
    const TRANSACTIONS: &[&[&str]] = &[
        &[
            "INSERT INTO t (id, v, u, r, b) VALUES (3, NULL, 'z', -0.5, x''), (4, 'ünï', NULL, 3, zeroblob(3))",
            "INSERT INTO k VALUES ('it''s', NULL)",
            "INSERT INTO w VALUES ('r', 3, 'c3')",
            "INSERT INTO nokey VALUES (NULL, NULL)",
            "INSERT INTO seq (v) VALUES ('s2'), ('s3')",
        ],
        &[
            "UPDATE t SET v = 'a2' WHERE id = 1",
            "UPDATE t SET r = 1 WHERE id = 1",
            "UPDATE t SET v = v, u = u WHERE id = 2",
            "UPDATE k SET n = n + 10",
            "UPDATE w SET c = 'c2' WHERE b = 2",
            "UPDATE nokey SET y = 20 WHERE x = 'n2'",
        ],
        &[
            "UPDATE t SET id = 7 WHERE id = 1",
            "UPDATE k SET name = 'uno' WHERE name = 'one'",
            "UPDATE w SET b = 9 WHERE a = 'p'",
            "UPDATE nokey SET rowid = 9 WHERE x = 'n1'",
        ],
        &[
            "DELETE FROM t WHERE id = 2",
            "INSERT INTO t (id, v) VALUES (5, 'gone')",
            "DELETE FROM t WHERE id = 5",
            "DELETE FROM k WHERE name = 'one'",
            "INSERT INTO k VALUES ('one', 1)",
            "DELETE FROM k WHERE name = 'two'",
            "INSERT INTO k VALUES ('two', 22)",
            "DELETE FROM nokey",
        ],
        &[
            "INSERT INTO t (id, v, u) VALUES (20, 'ok', 'fresh'), (21, 'dup', 'x')",
            "UPDATE t SET v = 'kept' WHERE id = 2",
            "SAVEPOINT s1",
            "UPDATE t SET v = 'undone' WHERE id = 1",
            "INSERT INTO k VALUES ('three', 3)",
            "DELETE FROM w",
            "ROLLBACK TO s1",
            "RELEASE s1",
        ],
        &[
            "DELETE FROM parent WHERE id = 1",
            "UPDATE parent SET v = 'p2b' WHERE id = 2",
            "UPDATE child SET p = 2 WHERE id = 12",
        ],
        &["INSERT INTO seq (v) VALUES ('s4')", "DELETE FROM seq"],
    ];

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    /// A database of `SCHEMA` with a recorder installed and recording.
    fn recording() -> (Connection, Recorder) {
        let conn = db();
        let recorder = Recorder::default();
        recorder.install(&conn);
        recorder.start(&conn).unwrap();
        (conn, recorder)
    }

    fn run(conn: &Connection, statements: &[&str]) {
        conn.execute_batch("BEGIN").unwrap();
        for sql in statements {
            let _ = conn.execute_batch(sql);
        }
    }

    /// Every change of a changeset as text, sorted: table, key flags, operation, indirect
    /// flag, old and new values.
    fn describe(changeset: &[u8]) -> Vec<String> {
        let mut out: Vec<String> = changes_in_order(changeset)
            .into_iter()
            .map(|(_, _, line)| line)
            .collect();
        out.sort();
        out
    }

    /// (table, operation) of every change, in the changeset's order.
    fn ops_in_order(changeset: &[u8]) -> Vec<(String, c_int)> {
        changes_in_order(changeset)
            .into_iter()
            .map(|(table, op, _)| (table, op))
            .collect()
    }

    /// Every change of a changeset in its order: table, operation, and the change as text
    /// (table, key flags, operation, indirect flag, old and new values).
    fn changes_in_order(changeset: &[u8]) -> Vec<(String, c_int, String)> {
        let mut out = Vec::new();
        // SAFETY: test code over a buffer that outlives the iterator, finalized at the end.
        unsafe {
            let mut it = std::ptr::null_mut();
            let rc = ffi::sqlite3changeset_start(
                &mut it,
                changeset.len() as c_int,
                changeset.as_ptr() as *mut c_void,
            );
            assert_eq!(rc, ffi::SQLITE_OK);
            while ffi::sqlite3changeset_next(it) == ffi::SQLITE_ROW {
                let mut table: *const c_char = std::ptr::null();
                let (mut ncol, mut op, mut indirect) = (0, 0, 0);
                ffi::sqlite3changeset_op(it, &mut table, &mut ncol, &mut op, &mut indirect);
                let mut pk: *mut u8 = std::ptr::null_mut();
                let mut n = 0;
                ffi::sqlite3changeset_pk(it, &mut pk, &mut n);
                let pk = std::slice::from_raw_parts(pk, n as usize).to_vec();
                let name = CStr::from_ptr(table).to_str().unwrap().to_string();
                let mut line = format!("{name} pk={pk:?} op={op} indirect={indirect}");
                for (label, get) in [
                    (
                        "old",
                        ffi::sqlite3changeset_old as unsafe extern "C" fn(_, _, _) -> _,
                    ),
                    ("new", ffi::sqlite3changeset_new),
                ] {
                    if (label == "old" && op == ffi::SQLITE_INSERT)
                        || (label == "new" && op == ffi::SQLITE_DELETE)
                    {
                        continue;
                    }
                    line.push_str(&format!(" {label}:"));
                    for i in 0..ncol {
                        let mut v = std::ptr::null_mut();
                        get(it, i, &mut v);
                        if v.is_null() {
                            line.push_str(" -");
                        } else {
                            line.push_str(&format!(" {:?}", value_ref(v).unwrap()));
                        }
                    }
                }
                out.push((name, op, line));
            }
            assert_eq!(ffi::sqlite3changeset_finalize(it), ffi::SQLITE_OK);
        }
        out
    }

    /// Property: a table whose recorded rows all end unchanged (updated to the values they
    /// had) leaves nothing in the changeset, not even its table header, as with the session
    /// extension; a changed table next to it is recorded alone.
    #[test]
    fn tables_without_changes_are_left_out() {
        let (conn, recorder) = recording();
        run(&conn, &["UPDATE t SET v = v"]);
        assert_eq!(recorder.changeset(&conn).unwrap(), Vec::<u8>::new());
        conn.execute_batch("ROLLBACK").unwrap();

        recorder.start(&conn).unwrap();
        run(
            &conn,
            &[
                "UPDATE t SET v = v",
                "INSERT INTO k (name, n) VALUES ('nine', 9)",
            ],
        );
        let mine = recorder.changeset(&conn).unwrap();
        let changes = describe(&mine);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].starts_with("k "), "{changes:?}");
        conn.execute_batch("ROLLBACK").unwrap();
    }

    /// Property: for each transaction, the recorder's changeset holds exactly the changes
    /// (tables, key flags, operations, indirect flags, old and new values) of the session
    /// extension's changeset for the same transaction on an identical database: inserts,
    /// updates, deletes, key changes, rows inserted and deleted again, rows deleted and
    /// inserted again, updates that change nothing, a statement that fails half way, a
    /// savepoint rolled back, rowid, WITHOUT ROWID, keyless, AUTOINCREMENT and generated
    /// columns, rows older than a column added with a default, changes made by a trigger
    /// and by a cascade.
    #[test]
    fn records_what_the_session_extension_records() {
        for statements in TRANSACTIONS {
            let (ours, recorder) = recording();
            run(&ours, statements);
            let mine = recorder.changeset(&ours).unwrap();

            let theirs = db();
            let session = CaptureSession::start(&theirs).unwrap();
            run(&theirs, statements);
            let reference = session.changeset().unwrap();

            assert!(!reference.is_empty(), "{statements:?} changed nothing");
            assert_eq!(describe(&mine), describe(&reference), "{statements:?}");
        }
    }

    /// Property: `deletes_first` keeps every change of a changeset (and its inverse) and
    /// only moves each table's DELETEs before the table's other changes, which keep their
    /// order; tables keep theirs.
    #[test]
    fn deletes_first_only_reorders() {
        for statements in TRANSACTIONS {
            let (conn, recorder) = recording();
            run(&conn, statements);
            let forward = recorder.changeset(&conn).unwrap();
            let inverse = crate::capture::invert_changeset(&forward).unwrap();
            for cs in [&forward, &inverse] {
                let moved = deletes_first(cs).expect("a changeset we wrote reads back");
                assert_eq!(describe(&moved), describe(cs), "{statements:?}");
                let (before, after) = (ops_in_order(cs), ops_in_order(&moved));
                let tables = |ops: &[(String, c_int)]| {
                    let mut t: Vec<String> = ops.iter().map(|(t, _)| t.clone()).collect();
                    t.dedup();
                    t
                };
                assert_eq!(tables(&before), tables(&after), "{statements:?}");
                for table in tables(&before) {
                    let of = |ops: &[(String, c_int)], deletes: bool| -> Vec<c_int> {
                        ops.iter()
                            .filter(|(t, op)| *t == table && (*op == ffi::SQLITE_DELETE) == deletes)
                            .map(|(_, op)| *op)
                            .collect()
                    };
                    let ops: Vec<c_int> = after
                        .iter()
                        .filter(|(t, _)| *t == table)
                        .map(|(_, op)| *op)
                        .collect();
                    let deletes = of(&before, true).len();
                    assert!(
                        ops[..deletes].iter().all(|op| *op == ffi::SQLITE_DELETE),
                        "{statements:?}: {table}: {ops:?}"
                    );
                    assert_eq!(of(&after, false), of(&before, false), "{statements:?}");
                }
            }
        }
        assert_eq!(deletes_first(b"T\x02"), None);
        assert_eq!(deletes_first(b"X"), None);
    }

    /// Property: nothing is recorded outside start..changeset, and a transaction whose
    /// changes cancel out gives an empty changeset.
    #[test]
    fn records_only_while_started() {
        let conn = db();
        let recorder = Recorder::default();
        recorder.install(&conn);
        conn.execute_batch("UPDATE t SET v = 'before'").unwrap();
        recorder.start(&conn).unwrap();
        conn.execute_batch("INSERT INTO t (id) VALUES (9); DELETE FROM t WHERE id = 9")
            .unwrap();
        assert!(recorder.changeset(&conn).unwrap().is_empty());
        conn.execute_batch("UPDATE t SET v = 'after'").unwrap();
        recorder.start(&conn).unwrap();
        recorder.stop();
        conn.execute_batch("UPDATE t SET v = 'stopped'").unwrap();
        recorder.start(&conn).unwrap();
        assert!(recorder.changeset(&conn).unwrap().is_empty());
    }

    /// Property: a table created while recording, and sqlite_stat1, fail the changeset
    /// with a reason instead of being left out of it, and the failure stays until the
    /// recorder is stopped.
    #[test]
    fn refuses_what_it_cannot_record() {
        let (conn, recorder) = recording();
        conn.execute_batch(
            "CREATE TABLE late (id INTEGER PRIMARY KEY); INSERT INTO late VALUES (1)",
        )
        .unwrap();
        let err = recorder.changeset(&conn).unwrap_err().to_string();
        assert!(err.contains("late"), "{err}");
        // Sticky: asking again cannot yield an empty changeset for those changes.
        assert!(recorder.recording());
        let again = recorder.changeset(&conn).unwrap_err().to_string();
        assert!(again.contains("late"), "{again}");
        recorder.stop();
        assert!(!recorder.recording());

        recorder.start(&conn).unwrap();
        conn.execute_batch("ANALYZE").unwrap();
        let err = recorder.changeset(&conn).unwrap_err().to_string();
        assert!(err.contains("sqlite_stat1"), "{err}");
    }

    /// Property: the varint and value encodings read back what was written, at the
    /// boundaries of each varint length.
    #[test]
    fn encodings_round_trip() {
        for n in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            (1 << 21) - 1,
            1 << 21,
            (1 << 35) + 3,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, n);
            assert_eq!(get_varint(&buf), Some((n, buf.len())), "{n}");
        }
        let blob = vec![7u8; 300];
        for v in [
            ValueRef::Null,
            ValueRef::Integer(i64::MIN),
            ValueRef::Real(-0.25),
            ValueRef::Text("ünï".as_bytes()),
            ValueRef::Blob(&blob),
        ] {
            let mut buf = Vec::new();
            encode(&mut buf, v);
            assert_eq!(decode(&buf), Some((v, buf.len())));
        }
    }
}
