//! What a table looks like in MySQL terms, read back from SQLite's schema.
//!
//! SQLite's pragmas give columns, declared types, defaults, keys and indexes. What they do
//! not give (the exact MySQL type of AUTO_INCREMENT / ENUM / BINARY / JSON columns, ON
//! UPDATE CURRENT_TIMESTAMP, collations) is read from the named marker constraints that
//! [`crate::translate`] writes into the CREATE TABLE text (see `types.rs`).

use rusqlite::{Connection, OptionalExtension};

use crate::ddl::{ON_UPDATE_MARKER, TYPE_MARKER_PREFIX};
use crate::{SqlError, names};

/// Schema facts the translator asks for (see [`crate::Context::catalog`]). Implemented for
/// `rusqlite::Connection`; a session layer may wrap it in a cache cleared by DDL.
pub trait Catalog {
    /// The table with SQLite name `sqlite_name` (`d.t`), or `None` if there is none.
    fn table(&self, sqlite_name: &str) -> Option<TableInfo>;
    /// The stored SQL of the table followed by that of its indexes, or `None`.
    fn schema_sql(&self, sqlite_name: &str) -> Option<Vec<String>>;
}

impl Catalog for Connection {
    fn table(&self, sqlite_name: &str) -> Option<TableInfo> {
        table_info(self, sqlite_name).ok().flatten()
    }

    fn schema_sql(&self, sqlite_name: &str) -> Option<Vec<String>> {
        let mut stmt = self
            .prepare_cached(
                "SELECT sql FROM sqlite_schema WHERE tbl_name = ?1 AND sql IS NOT NULL \
                 AND type IN ('table', 'index') ORDER BY type = 'table' DESC, name",
            )
            .ok()?;
        let v: Vec<String> = stmt
            .query_map([sqlite_name], |r| r.get(0))
            .ok()?
            .collect::<Result<_, _>>()
            .ok()?;
        (!v.is_empty()).then_some(v)
    }
}

/// A [`Catalog`] over a connection that keeps what it read until the schema changes: every
/// lookup first reads `PRAGMA schema_version` (cheap) and forgets everything when it moved.
/// Not shareable between threads; make one per connection.
pub struct CachedCatalog<'c> {
    conn: &'c Connection,
    state: std::cell::RefCell<CacheState>,
}

#[derive(Default)]
struct CacheState {
    schema_version: i64,
    tables: std::collections::HashMap<String, Option<TableInfo>>,
}

impl<'c> CachedCatalog<'c> {
    /// A cache over `conn`.
    pub fn new(conn: &'c Connection) -> Self {
        CachedCatalog {
            conn,
            state: Default::default(),
        }
    }

    fn check_version(&self) {
        let v: i64 = self
            .conn
            .query_row("PRAGMA schema_version", [], |r| r.get(0))
            .unwrap_or(-1);
        let mut st = self.state.borrow_mut();
        if st.schema_version != v {
            st.tables.clear();
            st.schema_version = v;
        }
    }
}

impl Catalog for CachedCatalog<'_> {
    fn table(&self, sqlite_name: &str) -> Option<TableInfo> {
        self.check_version();
        if let Some(t) = self.state.borrow().tables.get(sqlite_name) {
            return t.clone();
        }
        let t = table_info(self.conn, sqlite_name).ok().flatten();
        self.state
            .borrow_mut()
            .tables
            .insert(sqlite_name.to_string(), t.clone());
        t
    }

    fn schema_sql(&self, sqlite_name: &str) -> Option<Vec<String>> {
        self.conn.schema_sql(sqlite_name)
    }
}

/// One column, in MySQL terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// SQLite declared type.
    pub decl_type: String,
    /// MySQL type as MySQL 8 prints it (`int unsigned`, `varchar(20)`, `enum('a','b')`).
    pub mysql_type: String,
    /// NOT NULL.
    pub not_null: bool,
    /// Default value as SQL text (`'x'`, `0`, `CURRENT_TIMESTAMP`), if any.
    pub default: Option<String>,
    /// Position in the primary key (1-based), 0 when not part of it.
    pub pk: u32,
    /// AUTO_INCREMENT.
    pub auto_increment: bool,
    /// ON UPDATE CURRENT_TIMESTAMP.
    pub on_update: bool,
    /// `Some("NOCASE")` / `Some("BINARY")` for character columns.
    pub collation: Option<String>,
}

/// One index, in MySQL terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// MySQL index name (`PRIMARY` for the primary key).
    pub name: String,
    /// UNIQUE (or PRIMARY).
    pub unique: bool,
    /// Columns in order, with whether each is descending.
    pub columns: Vec<(String, bool)>,
}

/// One foreign key, in MySQL terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyInfo {
    /// Constraint name (generated when the DDL had none).
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced (database, table).
    pub target: (String, String),
    /// Referenced columns.
    pub target_columns: Vec<String>,
    /// ON DELETE action.
    pub on_delete: String,
    /// ON UPDATE action.
    pub on_update: String,
}

/// A table, in MySQL terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// MySQL database.
    pub db: String,
    /// MySQL table name.
    pub table: String,
    /// True for a view.
    pub is_view: bool,
    /// Columns in order.
    pub columns: Vec<ColumnInfo>,
    /// Indexes: PRIMARY first, then by name.
    pub indexes: Vec<IndexInfo>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKeyInfo>,
    /// CHECK constraints other than quorate's own (ENUM values, strict mode), as SQL text.
    pub checks: Vec<String>,
}

/// Reads table `sqlite_name` (`d.t`) from the schema; `Ok(None)` if it does not exist.
pub fn table_info(conn: &Connection, sqlite_name: &str) -> Result<Option<TableInfo>, SqlError> {
    let row: Option<(String, Option<String>, String)> = conn
        .query_row(
            // Table names are case-insensitive, as in SQLite; the table is described by the
            // name it was created with.
            "SELECT type, sql, name FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE \
             AND type IN ('table', 'view')",
            [sqlite_name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((kind, sql, stored)) = row else {
        return Ok(None);
    };
    let sqlite_name = stored.as_str();
    let (db, table) = names::split_sqlite_name(sqlite_name)
        .map(|(d, t)| (d.to_string(), t.to_string()))
        .unwrap_or_else(|| (String::new(), sqlite_name.to_string()));
    let sql = sql.unwrap_or_default();
    let scanned = scan_create_table(&sql);

    let mut columns = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?1) \
             WHERE hidden IN (0, 2, 3) ORDER BY cid",
        )?;
        let rows = stmt.query_map([sqlite_name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })?;
        for r in rows {
            let (name, decl, not_null, default, pk) = r?;
            columns.push(column_info(&scanned, name, decl, not_null, default, pk));
        }
    }

    let mut indexes = Vec::new();
    let mut pk_cols: Vec<(u32, String)> = columns
        .iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name.clone()))
        .collect();
    pk_cols.sort();
    if !pk_cols.is_empty() {
        indexes.push(IndexInfo {
            name: "PRIMARY".into(),
            unique: true,
            columns: pk_cols.into_iter().map(|(_, n)| (n, false)).collect(),
        });
    }
    if kind == "table" {
        let mut stmt = conn.prepare_cached(
            "SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name",
        )?;
        let list: Vec<(String, bool, String)> = stmt
            .query_map([sqlite_name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (iname, unique, origin) in list {
            if origin == "pk" {
                continue;
            }
            let mut s2 = conn.prepare_cached(
                "SELECT name, \"desc\" FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
            )?;
            let cols: Vec<(String, bool)> = s2
                .query_map([&iname], |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        r.get(1)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            indexes.push(IndexInfo {
                name: names::unmangle_index(&iname),
                unique,
                columns: cols,
            });
        }
    }

    let mut foreign_keys: Vec<ForeignKeyInfo> = Vec::new();
    if kind == "table" {
        let mut stmt = conn.prepare_cached(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let rows = stmt.query_map([sqlite_name], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut last_id = -1;
        for r in rows {
            let (id, target, from, to, on_update, on_delete) = r?;
            if id != last_id {
                last_id = id;
                let (tdb, tt) = names::split_sqlite_name(&target)
                    .map(|(d, t)| (d.to_string(), t.to_string()))
                    .unwrap_or((db.clone(), target.clone()));
                foreign_keys.push(ForeignKeyInfo {
                    // Named below, once in the order of declaration.
                    name: String::new(),
                    columns: vec![],
                    target: (tdb, tt),
                    target_columns: vec![],
                    on_delete,
                    on_update,
                });
            }
            if let Some(fk) = foreign_keys.last_mut() {
                fk.columns.push(from);
                fk.target_columns.push(to.unwrap_or_default());
            }
        }
        // pragma_foreign_key_list lists the last constraint first.
        foreign_keys.reverse();
        for (i, fk) in foreign_keys.iter_mut().enumerate() {
            fk.name = fk_name(&sql, &table, i);
        }
    }

    let checks = named_checks(&sql, &table)
        .into_iter()
        .map(|(name, clause)| format!("CONSTRAINT `{}` CHECK {clause}", name.replace('`', "``")))
        .collect();
    Ok(Some(TableInfo {
        db,
        table,
        is_view: kind == "view",
        columns,
        indexes,
        foreign_keys,
        checks,
    }))
}

/// One column in MySQL terms: what SQLite's `pragma_table_xinfo` says of it (name,
/// declared type, NOT NULL, default, position in the primary key) completed with what
/// [`scan_create_table`] found in the table's CREATE TABLE text.
pub(crate) fn column_info(
    scanned: &[ScannedColumn],
    name: String,
    decl: String,
    not_null: bool,
    default: Option<String>,
    pk: u32,
) -> ColumnInfo {
    let s = scanned.iter().find(|c| c.name.eq_ignore_ascii_case(&name));
    let mysql_type = s
        .and_then(|c| c.mysql_type.clone())
        .unwrap_or_else(|| mysql_type_from_decl(&decl));
    let auto_increment = s.is_some_and(|c| c.autoincrement);
    ColumnInfo {
        name,
        mysql_type,
        not_null: not_null || pk > 0 && auto_increment,
        default,
        pk,
        auto_increment,
        on_update: s.is_some_and(|c| c.on_update),
        collation: s.and_then(|c| c.collation.clone()),
        decl_type: decl,
    }
}

/// The MySQL type name for an SQLite declared type without a marker.
fn mysql_type_from_decl(decl: &str) -> String {
    let upper = decl.to_ascii_uppercase();
    let (head, paren) = match upper.find('(') {
        Some(i) => (upper[..i].trim().to_string(), upper[i..].to_string()),
        None => (upper.trim().to_string(), String::new()),
    };
    let unsigned = head.contains("UNSIGNED");
    let base = head.replace("UNSIGNED", "").trim().to_string();
    let base = match base.as_str() {
        "INTEGER" => "INT".to_string(),
        "" => "BLOB".to_string(),
        b => b.to_string(),
    };
    let mut s = format!("{base}{paren}").to_ascii_lowercase();
    if unsigned {
        s.push_str(" unsigned");
    }
    s
}

/// What [`scan_create_table`] finds for one column.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ScannedColumn {
    name: String,
    mysql_type: Option<String>,
    on_update: bool,
    autoincrement: bool,
    collation: Option<String>,
}

/// Simple tokens of SQLite DDL text.
#[derive(Debug, Clone, PartialEq)]
enum T {
    Word(String),
    Quoted(String),
    Str(String),
    Open,
    Close,
    Comma,
    /// Any other character (an operator, `.`, `;`).
    Other(char),
}

fn sqlite_tokens(sql: &str) -> Vec<T> {
    let b = sql.as_bytes();
    let mut v = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let mut j = i + 1;
                let mut s = Vec::new();
                while j < b.len() {
                    if b[j] == close {
                        if close != b']' && b.get(j + 1) == Some(&close) {
                            s.push(close);
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    s.push(b[j]);
                    j += 1;
                }
                let text = String::from_utf8_lossy(&s).into_owned();
                v.push(if c == b'\'' {
                    T::Str(text)
                } else {
                    T::Quoted(text)
                });
                i = j + 1;
            }
            b'(' => {
                v.push(T::Open);
                i += 1;
            }
            b')' => {
                v.push(T::Close);
                i += 1;
            }
            b',' => {
                v.push(T::Comma);
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            c if c.is_ascii_whitespace() => i += 1,
            // A number: digits, a fraction, an exponent with its sign (`1.5e-3`).
            c if c.is_ascii_digit() => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    let mut j = i + 1;
                    if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                        j += 1;
                    }
                    if j < b.len() && b[j].is_ascii_digit() {
                        i = j;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                // Digits running into letters (`1abc`): one word, as before.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                v.push(T::Word(sql[s..i].to_string()));
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                v.push(T::Word(sql[s..i].to_string()));
            }
            c => {
                v.push(T::Other(char::from(c)));
                i += 1;
            }
        }
    }
    v
}

/// The items of the outermost parenthesised list of a CREATE TABLE.
fn table_items(sql: &str) -> Vec<Vec<T>> {
    let toks = sqlite_tokens(sql);
    let mut items = Vec::new();
    let mut depth = 0;
    let mut cur = Vec::new();
    for t in toks {
        match t {
            T::Open => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            T::Close => {
                depth -= 1;
                if depth == 0 {
                    items.push(std::mem::take(&mut cur));
                    break;
                }
            }
            T::Comma if depth == 1 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if depth >= 1 {
            cur.push(t);
        }
    }
    items
}

fn is_kw(t: &T, kw: &str) -> bool {
    matches!(t, T::Word(w) if w.eq_ignore_ascii_case(kw))
}

fn is_table_constraint(item: &[T]) -> bool {
    ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
        .iter()
        .any(|k| item.first().is_some_and(|t| is_kw(t, k)))
}

pub(crate) fn scan_create_table(sql: &str) -> Vec<ScannedColumn> {
    let mut out = Vec::new();
    for item in table_items(sql) {
        if item.is_empty() || is_table_constraint(&item) {
            continue;
        }
        let name = match &item[0] {
            T::Word(w) | T::Quoted(w) => w.clone(),
            _ => continue,
        };
        let mut c = ScannedColumn {
            name,
            ..Default::default()
        };
        for (i, t) in item.iter().enumerate() {
            if is_kw(t, "CONSTRAINT") {
                if let Some(T::Quoted(n)) = item.get(i + 1) {
                    if let Some(ty) = n.strip_prefix(TYPE_MARKER_PREFIX) {
                        c.mysql_type = Some(ty.to_string());
                    } else if n == ON_UPDATE_MARKER {
                        c.on_update = true;
                    }
                }
            } else if is_kw(t, "AUTOINCREMENT") {
                c.autoincrement = true;
            } else if is_kw(t, "COLLATE")
                && let Some(T::Word(w)) = item.get(i + 1)
                // A date or time column's collation is how it compares, not a character
                // collation: SHOW and information_schema give none.
                && !quorate_collate::is_temporal(w)
            {
                c.collation = Some(w.to_ascii_uppercase());
            }
        }
        out.push(c);
    }
    out
}

/// Name of the `n`-th FOREIGN KEY (0-based, in order of declaration) of table `table`
/// created by `sql`: its declared name, or the one MySQL would generate.
pub(crate) fn fk_name(sql: &str, table: &str, n: usize) -> String {
    scanned_fk_name(sql, n).unwrap_or_else(|| format!("{table}_ibfk_{}", n + 1))
}

/// Name of the `n`-th table-level FOREIGN KEY (in order of definition), if it was named.
fn scanned_fk_name(sql: &str, n: usize) -> Option<String> {
    table_items(sql)
        .into_iter()
        .filter(|item| item.iter().any(|t| is_kw(t, "FOREIGN")) && is_table_constraint(item))
        .nth(n)
        .and_then(|item| match (item.first(), item.get(1)) {
            (Some(t), Some(T::Quoted(n) | T::Word(n))) if is_kw(t, "CONSTRAINT") => Some(n.clone()),
            _ => None,
        })
}

/// The last table text and name [`named_checks`] read, and its answer.
type LastChecks = (String, String, Vec<(String, String)>);

/// The table's CHECK constraints other than quorate's own, as MySQL names them, in order:
/// (name, clause in parentheses). An unnamed one is `<table>_chk_<n>` as MySQL 8 names
/// them, `n` counting the unnamed ones from 1 and skipping numbers a declared name uses.
pub(crate) fn named_checks(sql: &str, table: &str) -> Vec<(String, String)> {
    // information_schema asks for each check of a table in turn: keep the last answer.
    thread_local! {
        static LAST: std::cell::RefCell<Option<LastChecks>> =
            const { std::cell::RefCell::new(None) };
    }
    if let Some(v) = LAST.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(s, t, _)| s == sql && t == table)
            .map(|(_, _, v)| v.clone())
    }) {
        return v;
    }
    let v = name_checks(sql, table);
    LAST.with(|l| *l.borrow_mut() = Some((sql.to_string(), table.to_string(), v.clone())));
    v
}

fn name_checks(sql: &str, table: &str) -> Vec<(String, String)> {
    let checks: Vec<(Option<String>, String)> = scan_table_checks(sql)
        .into_iter()
        .map(|c| {
            if let Some(rest) = c.strip_prefix("CONSTRAINT `") {
                // The name ends at a backquote that is not doubled.
                let b = rest.as_bytes();
                let mut i = 0;
                let mut name = String::new();
                while i < b.len() {
                    if b[i] == b'`' {
                        if b.get(i + 1) == Some(&b'`') {
                            name.push('`');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    let ch = rest[i..].chars().next().unwrap_or('?');
                    name.push(ch);
                    i += ch.len_utf8();
                }
                let clause = rest[(i + 1).min(rest.len())..].trim_start();
                let clause = clause.strip_prefix("CHECK").unwrap_or(clause).trim_start();
                (Some(name), clause.to_string())
            } else {
                let clause = c.strip_prefix("CHECK").unwrap_or(&c).trim_start();
                (None, clause.to_string())
            }
        })
        .collect();
    // An unnamed one takes the next number no declared name uses.
    let declared: Vec<String> = checks
        .iter()
        .filter_map(|(n, _)| n.as_ref().map(|n| n.to_ascii_lowercase()))
        .collect();
    let mut n = 0;
    checks
        .into_iter()
        .map(|(name, clause)| {
            let name = name.unwrap_or_else(|| {
                loop {
                    n += 1;
                    let candidate = format!("{table}_chk_{n}");
                    if !declared.contains(&candidate.to_ascii_lowercase()) {
                        break candidate;
                    }
                }
            });
            (name, clause)
        })
        .collect()
}

/// The number after `<table>_chk_` of the highest name of that form among the table's
/// checks (0 if none): MySQL names the next unnamed check with one more.
pub(crate) fn highest_check_number(sql: &str, table: &str) -> u64 {
    let prefix = format!("{}_chk_", table.to_ascii_lowercase());
    named_checks(sql, table)
        .iter()
        .filter_map(|(n, _)| n.to_ascii_lowercase().strip_prefix(&prefix)?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The table's CHECK constraints other than quorate's own (ENUM values, strict mode:
/// [`crate::ddl::internal_check`]), rebuilt as text: the table-level
/// ones (`[CONSTRAINT name] CHECK (...)`) and those written on a column, which are shown as
/// table-level ones (as MySQL 8 shows them).
fn scan_table_checks(sql: &str) -> Vec<String> {
    let mut v = Vec::new();
    for item in table_items(sql) {
        if is_table_constraint(&item) {
            if item.iter().any(|t| is_kw(t, "CHECK")) {
                v.push(render_tokens(&item));
            }
            continue;
        }
        // A column: its CHECK clauses, each with its CONSTRAINT name if it has one.
        let mut i = 0;
        while i < item.len() {
            if !is_kw(&item[i], "CHECK") {
                i += 1;
                continue;
            }
            let named = i >= 2 && is_kw(&item[i - 2], "CONSTRAINT");
            let start = if named { i - 2 } else { i };
            let mut end = i + 1;
            let mut depth = 0;
            while end < item.len() {
                match item[end] {
                    T::Open => depth += 1,
                    T::Close => depth -= 1,
                    _ => {}
                }
                end += 1;
                if depth == 0 {
                    break;
                }
            }
            let internal =
                named && matches!(&item[i - 1], T::Quoted(n) if crate::ddl::internal_check(n));
            if !internal {
                v.push(render_tokens(&item[start..end]));
            }
            i = end;
        }
    }
    v
}

/// Tokens back to SQL text, with identifiers in backquotes.
fn render_tokens(tokens: &[T]) -> String {
    const PAIRS: [&str; 9] = ["<=", ">=", "<>", "!=", "==", "||", "<<", ">>", "->"];
    // Words after which `(` opens a list or a group, not a function's arguments: MySQL
    // (without IGNORE_SPACE) refuses a space between a built-in function and its `(`.
    const NOT_FUNCTIONS: [&str; 16] = [
        "CHECK",
        "IN",
        "AND",
        "OR",
        "NOT",
        "EXISTS",
        "BETWEEN",
        "IS",
        "WHEN",
        "THEN",
        "ELSE",
        "LIKE",
        "KEY",
        "AS",
        "ON",
        "CONSTRAINT",
    ];
    let mut s = String::new();
    // The previous token: an operator character, and whether it was a sign (`-` after an
    // operator or an opening parenthesis), which joins the number that follows.
    let mut prev_op: Option<char> = None;
    let mut sign = false;
    for (i, t) in tokens.iter().enumerate() {
        let spaced = !s.is_empty() && !s.ends_with('(') && !s.ends_with('.') && !sign;
        let (mut op, mut is_sign) = (None, false);
        match t {
            T::Word(w) => {
                if spaced {
                    s.push(' ');
                }
                // The translation's SQLite spellings of MySQL functions, back (a CHECK
                // with CHAR_LENGTH must not load again as LENGTH, which counts bytes).
                let called = matches!(tokens.get(i + 1), Some(T::Open));
                s.push_str(match w.to_ascii_lowercase().as_str() {
                    "length" if called => "CHAR_LENGTH",
                    "octet_length" if called => "LENGTH",
                    "iif" if called => "IF",
                    _ => w,
                });
            }
            T::Quoted(q) => {
                if spaced {
                    s.push(' ');
                }
                s.push_str(&format!("`{}`", q.replace('`', "``")));
            }
            T::Str(x) => {
                if spaced {
                    s.push(' ');
                }
                // MySQL reads a backslash in a string as an escape.
                s.push_str(&names::literal(&x.replace('\\', "\\\\")));
            }
            T::Open => {
                let call = matches!(tokens.get(i.wrapping_sub(1)), Some(T::Word(w))
                    if !NOT_FUNCTIONS.iter().any(|k| w.eq_ignore_ascii_case(k)));
                if !call && !s.is_empty() && !s.ends_with('(') {
                    s.push(' ');
                }
                s.push('(');
            }
            T::Close => s.push(')'),
            T::Comma => s.push(','),
            // `.` joins its neighbours (1.5, t.c).
            T::Other('.') => s.push('.'),
            T::Other(c) => {
                let pair = prev_op.is_some_and(|p| PAIRS.contains(&format!("{p}{c}").as_str()));
                if spaced && !pair {
                    s.push(' ');
                }
                s.push(*c);
                op = Some(*c);
                is_sign = matches!(c, '-' | '+')
                    && !pair
                    && (i == 0 || prev_op.is_some() || matches!(tokens[i - 1], T::Open));
            }
        }
        prev_op = op;
        sign = is_sign;
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marker constraints written by CREATE TABLE translation are found again.
    #[test]
    fn markers_are_scanned() {
        let sql = "CREATE TABLE \"d.t\" (\n  \"id\" INTEGER NOT NULL CONSTRAINT \"mysql_type bigint unsigned\" PRIMARY KEY AUTOINCREMENT,\n  \"ts\" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP CONSTRAINT \"mysql_on_update\" NULL,\n  \"n\" VARCHAR(10) DEFAULT 'a,b' COLLATE NOCASE,\n  CONSTRAINT \"fk1\" FOREIGN KEY (\"n\") REFERENCES \"d.p\" (\"x\")\n)";
        let c = scan_create_table(sql);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].mysql_type.as_deref(), Some("bigint unsigned"));
        assert!(c[0].autoincrement);
        assert!(c[1].on_update);
        assert_eq!(c[2].collation.as_deref(), Some("NOCASE"));
        assert_eq!(scanned_fk_name(sql, 0).as_deref(), Some("fk1"));
    }

    /// The cached catalog sees a schema change on its next lookup.
    #[test]
    fn cached_catalog_follows_schema_changes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE \"d.t\" (a INT)").unwrap();
        let cat = CachedCatalog::new(&conn);
        assert_eq!(cat.table("d.t").unwrap().columns.len(), 1);
        conn.execute_batch("ALTER TABLE \"d.t\" ADD COLUMN b INT")
            .unwrap();
        assert_eq!(cat.table("d.t").unwrap().columns.len(), 2);
        assert!(cat.table("d.nope").is_none());
    }

    /// Declared types without markers print as MySQL 8 prints them.
    #[test]
    fn types_from_declared_types() {
        assert_eq!(mysql_type_from_decl("INTEGER"), "int");
        assert_eq!(mysql_type_from_decl("INT UNSIGNED"), "int unsigned");
        assert_eq!(mysql_type_from_decl("VARCHAR(20)"), "varchar(20)");
        assert_eq!(mysql_type_from_decl("DECIMAL(10,2)"), "decimal(10,2)");
    }
}
