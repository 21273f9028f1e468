//! Errors of this crate and their MySQL form, and the mapping of SQLite errors to MySQL
//! error codes.

use crate::names;

/// A MySQL error as sent in an ERR packet: code, SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlError {
    /// MySQL error number, e.g. 1062.
    pub code: u16,
    /// Five-character SQLSTATE, e.g. `*b"23000"`.
    pub sqlstate: [u8; 5],
    /// Human readable message, with table names as the user wrote them (never `"d.t"`).
    pub message: String,
}

impl MysqlError {
    /// Builds an error from its parts.
    pub fn new(code: u16, sqlstate: &[u8; 5], message: impl Into<String>) -> Self {
        MysqlError {
            code,
            sqlstate: *sqlstate,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for MysqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ERROR {} ({}): {}",
            self.code,
            String::from_utf8_lossy(&self.sqlstate),
            self.message
        )
    }
}

/// Why a statement could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// A MySQL construct this translator does not support; `construct` names it.
    #[error("not supported by quorate: {construct}")]
    Unsupported {
        /// The construct, as the user would recognise it (e.g. "FULLTEXT index").
        construct: String,
    },
    /// The statement is not valid MySQL (or not a form we can parse).
    #[error("syntax error: {message}")]
    Syntax {
        /// What the parser reported.
        message: String,
    },
    /// An unqualified table name was used with no current database.
    #[error("No database selected")]
    NoDatabaseSelected,
    /// The statement names an internal table (`_quorate_*`) or an SQLite schema table.
    #[error("access to system table '{name}' is rejected")]
    SystemTable {
        /// The table as written.
        name: String,
    },
    /// A database, table, column or index name MySQL would not accept, or that cannot be
    /// mapped (names may not contain '.', and are at most 64 characters).
    #[error("incorrect {what} name '{name}'")]
    BadName {
        /// "database", "table", "column" or "index".
        what: &'static str,
        /// The name as written.
        name: String,
    },
    /// An expression chain longer than [`crate::EXPRESSION_CHAIN_MAX`] operators.
    #[error("statement too complex: an expression chain of {operators} operators (at most {max})")]
    TooComplex {
        /// Operators counted.
        operators: usize,
        /// The limit.
        max: usize,
    },
    /// The COM_QUERY text held no statement.
    #[error("Query was empty")]
    EmptyQuery,
    /// `show` was asked for a SHOW that the session layer answers itself.
    #[error("SHOW {0} is answered by the session layer, not by the catalog")]
    NotCatalog(&'static str),
    /// `show` was asked about a table that does not exist.
    #[error("Table '{db}.{table}' doesn't exist")]
    NoSuchTable {
        /// Database name.
        db: String,
        /// Table name.
        table: String,
    },
    /// `show` was asked about a database that does not exist.
    #[error("Unknown database '{0}'")]
    UnknownDatabase(String),
    /// A catalog query failed in SQLite.
    #[error("catalog query failed: {0}")]
    Sqlite(String),
    /// ALTER TABLE names a column the table does not have (column, table).
    #[error("Unknown column '{0}' in '{1}'")]
    UnknownColumn(String, String),
    /// ALTER TABLE drops a foreign key or key the table does not have.
    #[error("Can't DROP '{0}'; check that column/key exists")]
    CantDrop(String),
    /// ALTER TABLE adds a foreign key under a name the table already uses.
    #[error("Duplicate foreign key constraint name '{0}'")]
    DuplicateForeignKey(String),
    /// ALTER TABLE adds a CHECK under a name the table already uses.
    #[error("Duplicate check constraint name '{0}'.")]
    DuplicateCheck(String),
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> Self {
        SqlError::Sqlite(names::unmangle_message(&e.to_string()))
    }
}

impl SqlError {
    /// The MySQL error a client should receive for this error.
    pub fn mysql_error(&self) -> MysqlError {
        match self {
            SqlError::Unsupported { construct } => MysqlError::new(
                1235,
                b"42000",
                format!("This version of quorate doesn't yet support '{construct}'"),
            ),
            SqlError::Syntax { message } => MysqlError::new(
                1064,
                b"42000",
                format!("You have an error in your SQL syntax: {message}"),
            ),
            SqlError::NoDatabaseSelected => MysqlError::new(1046, b"3D000", "No database selected"),
            SqlError::SystemTable { name } => MysqlError::new(
                3554,
                b"HY000",
                format!("Access to system table '{name}' is rejected."),
            ),
            SqlError::BadName {
                what: "database",
                name,
            } => MysqlError::new(1102, b"42000", format!("Incorrect database name '{name}'")),
            SqlError::BadName {
                what: "column",
                name,
            } => MysqlError::new(1166, b"42000", format!("Incorrect column name '{name}'")),
            SqlError::BadName {
                what: "index",
                name,
            } => MysqlError::new(1280, b"42000", format!("Incorrect index name '{name}'")),
            SqlError::BadName { name, .. } => {
                MysqlError::new(1103, b"42000", format!("Incorrect table name '{name}'"))
            }
            SqlError::EmptyQuery => MysqlError::new(1065, b"42000", "Query was empty"),
            SqlError::TooComplex { .. } => MysqlError::new(1436, b"HY000", self.to_string()),
            SqlError::NotCatalog(_) => MysqlError::new(1105, b"HY000", self.to_string()),
            SqlError::NoSuchTable { .. } => MysqlError::new(1146, b"42S02", self.to_string()),
            SqlError::UnknownDatabase(_) => MysqlError::new(1049, b"42000", self.to_string()),
            SqlError::Sqlite(m) => MysqlError::new(1105, b"HY000", m.clone()),
            SqlError::UnknownColumn(..) => MysqlError::new(1054, b"42S22", self.to_string()),
            SqlError::CantDrop(_) => MysqlError::new(1091, b"42000", self.to_string()),
            SqlError::DuplicateForeignKey(_) => MysqlError::new(1826, b"HY000", self.to_string()),
            SqlError::DuplicateCheck(_) => MysqlError::new(3822, b"HY000", self.to_string()),
        }
    }
}

/// The MySQL error for an error SQLite returned while running translated SQL.
///
/// Table names in the message are un-mangled (`d.t`, never `"d.t"`). SQLite does not report
/// the duplicate value of a unique violation, so 1062 names the key and its columns:
/// `Duplicate entry for key 't.PRIMARY' (id)`.
pub fn mysql_error(err: &rusqlite::Error) -> MysqlError {
    use rusqlite::ffi;
    let (code, extended, msg) = match err {
        rusqlite::Error::SqliteFailure(e, m) => (
            e.code,
            e.extended_code,
            m.clone().unwrap_or_else(|| e.to_string()),
        ),
        // Errors found while preparing carry the message apart from the SQL text.
        rusqlite::Error::SqlInputError { error, msg, .. } => {
            (error.code, error.extended_code, msg.clone())
        }
        rusqlite::Error::InvalidParameterCount(got, want) => {
            return MysqlError::new(
                1210,
                b"HY000",
                format!("Incorrect arguments to mysqld_stmt_execute: {got} given, {want} expected"),
            );
        }
        rusqlite::Error::UserFunctionError(e) => {
            return message_error(&e.to_string()).unwrap_or_else(|| {
                MysqlError::new(1105, b"HY000", names::unmangle_message(&e.to_string()))
            });
        }
        other => {
            let m = other.to_string();
            return message_error(&m)
                .unwrap_or_else(|| MysqlError::new(1105, b"HY000", names::unmangle_message(&m)));
        }
    };
    match code {
        ffi::ErrorCode::DatabaseBusy if extended == ffi::SQLITE_BUSY_SNAPSHOT => MysqlError::new(
            1213,
            b"40001",
            "Deadlock found when trying to get lock; try restarting transaction",
        ),
        ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => MysqlError::new(
            1205,
            b"HY000",
            "Lock wait timeout exceeded; try restarting transaction",
        ),
        ffi::ErrorCode::OperationInterrupted => {
            MysqlError::new(1317, b"70100", "Query execution was interrupted")
        }
        ffi::ErrorCode::ReadOnly => MysqlError::new(
            1792,
            b"25006",
            "Cannot execute statement in a READ ONLY transaction.",
        ),
        ffi::ErrorCode::TooBig => MysqlError::new(1406, b"22001", "Data too long"),
        ffi::ErrorCode::ConstraintViolation => constraint_error(extended, &msg),
        ffi::ErrorCode::TypeMismatch => MysqlError::new(
            1366,
            b"HY000",
            format!("Incorrect integer value: {}", names::unmangle_message(&msg)),
        ),
        _ => message_error(&msg)
            .unwrap_or_else(|| MysqlError::new(1105, b"HY000", names::unmangle_message(&msg))),
    }
}

/// [`mysql_error`] for an error of the SQLite statement `sqlite`: a foreign key failure of a
/// DELETE is 1451 ("Cannot delete or update a parent row") and one of a DROP TABLE 3730
/// ("Cannot drop table ... referenced by a foreign key constraint") rather than 1452, and a
/// NOT NULL column an INSERT leaves out is 1364 ("doesn't have a default value") rather
/// than 1048.
pub fn mysql_error_for(err: &rusqlite::Error, sqlite: &str) -> MysqlError {
    let e = mysql_error(err);
    let head = sqlite.trim_start();
    // A table redefinition (MODIFY, ADD FOREIGN KEY / CHECK) that existing rows break.
    if sqlite.contains(" REDEFINE FROM '") && head.starts_with("ALTER TABLE ") {
        if e.code == 1048 {
            return MysqlError::new(1138, b"22004", "Invalid use of NULL value");
        }
        if let rusqlite::Error::SqliteFailure(f, _) = err
            && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_CHECK
        {
            return MysqlError::new(
                3819,
                b"HY000",
                "Check constraint is violated by an existing row of the table",
            );
        }
    }
    let starts = |w: &str| {
        head.get(..w.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(w))
    };
    if e.code == 1048
        && let Some((table, col)) = not_null_column(err)
        && let Some((target, cols)) = insert_columns(sqlite)
        && table.eq_ignore_ascii_case(&target)
        && !cols.iter().any(|c| c.eq_ignore_ascii_case(&col))
        // An upsert's UPDATE may set the column to NULL itself.
        && !sqlite.contains(" ON CONFLICT ")
    {
        return MysqlError::new(
            1364,
            b"HY000",
            format!("Field '{col}' doesn't have a default value"),
        );
    }
    if e.code == 1452 && starts("DROP TABLE") {
        // Its implicit DELETE found rows of another table referencing it.
        return MysqlError::new(
            3730,
            b"HY000",
            format!(
                "{} '{}' referenced by a foreign key constraint",
                crate::functions::DROP_REFUSED,
                dropped_table(head)
            ),
        );
    }
    if e.code == 1452 && starts("DELETE") {
        return MysqlError::new(
            1451,
            b"23000",
            "Cannot delete or update a parent row: a foreign key constraint fails",
        );
    }
    // ALTER TABLE ADD COLUMN whose DEFAULT breaks the column's CHECKs in the existing rows
    // (SQLite checks them with pragma_quick_check and raises this bare message).
    if e.message == "CHECK constraint failed"
        && sqlite
            .trim_start()
            .get(..11)
            .is_some_and(|h| h.eq_ignore_ascii_case("ALTER TABLE"))
    {
        return MysqlError::new(
            1067,
            b"42000",
            "Invalid default value: the existing rows would break the new column's constraints",
        );
    }
    // DROP TABLE / VIEW of a table that does not exist: MySQL's 1051, not 1146.
    let head = sqlite.trim_start().get(..10).unwrap_or("");
    if e.code == 1146
        && (head.eq_ignore_ascii_case("DROP TABLE") || head.eq_ignore_ascii_case("DROP VIEW "))
        && let Some(t) = e
            .message
            .strip_prefix("Table '")
            .and_then(|r| r.strip_suffix("' doesn't exist"))
    {
        return MysqlError::new(1051, b"42S02", format!("Unknown table '{t}'"));
    }
    e
}

/// The MySQL name of the table a `DROP TABLE [IF EXISTS] "d.t"` drops.
fn dropped_table(sqlite: &str) -> String {
    let Ok(toks) = crate::lex::tokens(sqlite) else {
        return String::new();
    };
    let name = toks
        .iter()
        .map(|t| &t.tok)
        .skip(2)
        .find(|t| !t.is("IF") && !t.is("EXISTS"));
    match name {
        Some(crate::lex::Tok::Str(n) | crate::lex::Tok::Word(n)) => {
            names::split_sqlite_name(n).map_or_else(|| n.clone(), |(_, t)| t.to_string())
        }
        _ => String::new(),
    }
}

/// The (SQLite table, column) a NOT NULL failure names.
fn not_null_column(err: &rusqlite::Error) -> Option<(String, String)> {
    let msg = match err {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m,
        _ => return None,
    };
    let rest = msg.strip_prefix("NOT NULL constraint failed:")?.trim();
    let (table, col) = rest.rsplit_once('.')?;
    Some((table.to_string(), col.to_string()))
}

/// The target table of an `INSERT` or `REPLACE` in `sqlite` and the columns it gives: those
/// of its column list, none for `DEFAULT VALUES`. `None` when it has no column list (it
/// then gives every column), is no such statement or cannot be read.
fn insert_columns(sqlite: &str) -> Option<(String, Vec<String>)> {
    use crate::lex::Tok;
    let head = sqlite.trim_start().get(..7)?;
    if !(head.eq_ignore_ascii_case("INSERT ") || head.eq_ignore_ascii_case("REPLACE")) {
        return None;
    }
    let toks = crate::lex::tokens(sqlite).ok()?;
    let mut it = toks.iter().map(|t| &t.tok);
    it.by_ref().find(|t| t.is("INTO"))?;
    let target = match it.next()? {
        Tok::Str(t) | Tok::Quoted(t) | Tok::Word(t) => t.clone(),
        _ => return None,
    };
    let mut next = it.next()?;
    if next.is("AS") {
        it.next()?; // its alias
        next = it.next()?;
    }
    if next.is("DEFAULT") {
        return Some((target, Vec::new()));
    }
    if !next.is_punct("(") {
        return None;
    }
    let mut cols = Vec::new();
    loop {
        match it.next()? {
            Tok::Str(c) | Tok::Quoted(c) | Tok::Word(c) => cols.push(c.clone()),
            _ => return None,
        }
        match it.next()? {
            t if t.is_punct(")") => return Some((target, cols)),
            t if t.is_punct(",") => {}
            _ => return None,
        }
    }
}

fn constraint_error(extended: std::os::raw::c_int, msg: &str) -> MysqlError {
    use rusqlite::ffi;
    let rest = |prefix: &str| msg.strip_prefix(prefix).map(str::trim).unwrap_or("");
    match extended {
        ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
            let cols = rest("UNIQUE constraint failed:");
            let cols: Vec<(String, String)> = cols
                .split(", ")
                .filter_map(|c| c.rsplit_once('.'))
                .map(|(t, c)| (t.to_string(), c.to_string()))
                .collect();
            let table = cols
                .first()
                .map(|(t, _)| {
                    names::split_sqlite_name(t)
                        .map(|(_, t)| t)
                        .unwrap_or(t)
                        .to_string()
                })
                .unwrap_or_default();
            let list: Vec<&str> = cols.iter().map(|(_, c)| c.as_str()).collect();
            let key = if extended == ffi::SQLITE_CONSTRAINT_PRIMARYKEY {
                "PRIMARY"
            } else {
                ""
            };
            let key = if key.is_empty() {
                format!("{table}.{}", list.join("_"))
            } else {
                format!("{table}.{key}")
            };
            MysqlError::new(
                1062,
                b"23000",
                format!("Duplicate entry for key '{key}' ({})", list.join(", ")),
            )
        }
        ffi::SQLITE_CONSTRAINT_ROWID => MysqlError::new(
            1062,
            b"23000",
            "Duplicate entry for key 'PRIMARY'".to_string(),
        ),
        ffi::SQLITE_CONSTRAINT_NOTNULL => {
            let col = rest("NOT NULL constraint failed:");
            let col = col.rsplit_once('.').map(|(_, c)| c).unwrap_or(col);
            MysqlError::new(1048, b"23000", format!("Column '{col}' cannot be null"))
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => MysqlError::new(
            1452,
            b"23000",
            "Cannot add or update a child row: a foreign key constraint fails",
        ),
        ffi::SQLITE_CONSTRAINT_CHECK => {
            let name = rest("CHECK constraint failed:");
            use crate::ddl::{
                ENUM_CHECK_PREFIX, JSON_CHECK_PREFIX, LENGTH_CHECK_PREFIX, NUMBER_CHECK_PREFIX,
                RANGE_CHECK_PREFIX,
            };
            if let Some(col) = name.strip_prefix(ENUM_CHECK_PREFIX) {
                MysqlError::new(
                    1265,
                    b"01000",
                    format!("Data truncated for column '{col}' at row 1"),
                )
            } else if let Some(col) = name.strip_prefix(LENGTH_CHECK_PREFIX) {
                MysqlError::new(1406, b"22001", format!("Data too long for column '{col}'"))
            } else if let Some(col) = name.strip_prefix(RANGE_CHECK_PREFIX) {
                MysqlError::new(
                    1264,
                    b"22003",
                    format!("Out of range value for column '{col}'"),
                )
            } else if let Some(rest) = name.strip_prefix(NUMBER_CHECK_PREFIX) {
                let (kind, col) = rest.split_once(' ').unwrap_or(("integer", rest));
                MysqlError::new(
                    1366,
                    b"HY000",
                    format!("Incorrect {kind} value for column '{col}'"),
                )
            } else if let Some(col) = name.strip_prefix(JSON_CHECK_PREFIX) {
                MysqlError::new(
                    3140,
                    b"22032",
                    format!("Invalid JSON text in value for column '{col}'"),
                )
            } else {
                MysqlError::new(
                    3819,
                    b"HY000",
                    format!(
                        "Check constraint '{}' is violated.",
                        names::unmangle_message(name)
                    ),
                )
            }
        }
        // A function's error (SQLITE_CONSTRAINT_FUNCTION), such as a date a column refuses.
        _ => message_error(msg)
            .unwrap_or_else(|| MysqlError::new(1105, b"HY000", names::unmangle_message(msg))),
    }
}

/// Errors recognised by their message text (SQLite reports most of them as SQLITE_ERROR).
fn message_error(msg: &str) -> Option<MysqlError> {
    let m = msg.trim();
    // The date and time columns' own errors (`temporal.rs`), already in MySQL's words.
    for (prefix, code, state) in [
        ("Incorrect date value:", 1292, b"22007"),
        ("Incorrect datetime value:", 1292, b"22007"),
        ("Incorrect time value:", 1292, b"22007"),
        ("Incorrect integer value:", 1366, b"HY000"),
        ("Out of range value for column", 1264, b"22003"),
    ] {
        if m.starts_with(prefix) {
            return Some(MysqlError::new(code, state, m.to_string()));
        }
    }
    if m.starts_with(crate::functions::DROP_REFUSED) {
        return Some(MysqlError::new(3730, b"HY000", m.to_string()));
    }
    if m.starts_with(crate::functions::TRUNCATE_REFUSED) {
        return Some(MysqlError::new(1701, b"42000", m.to_string()));
    }
    // "table d.t has 2 columns but 1 values were supplied", "1 values for 2 columns".
    if m.ends_with(" values were supplied")
        || (m.ends_with(" columns") && m.contains(" values for "))
    {
        return Some(MysqlError::new(
            1136,
            b"21S01",
            "Column count doesn't match value count at row 1",
        ));
    }
    if let Some(rest) = m.strip_prefix("table ")
        && let Some((_, c)) = rest.split_once(" has no column named ")
    {
        return Some(MysqlError::new(
            1054,
            b"42S22",
            format!("Unknown column '{}' in 'field list'", c.trim()),
        ));
    }
    if let Some(c) = m.strip_prefix("ambiguous column name:") {
        return Some(MysqlError::new(
            1052,
            b"23000",
            format!(
                "Column '{}' in field list is ambiguous",
                names::unmangle_message(c.trim())
            ),
        ));
    }
    if let Some(t) = m.strip_prefix("no such table:") {
        let t = names::unmangle_table(t.trim());
        return Some(MysqlError::new(
            1146,
            b"42S02",
            format!("Table '{t}' doesn't exist"),
        ));
    }
    if let Some(c) = m.strip_prefix("no such column:") {
        let c = names::unmangle_message(c.trim());
        return Some(MysqlError::new(
            1054,
            b"42S22",
            format!("Unknown column '{c}' in 'field list'"),
        ));
    }
    if m.contains("syntax error") || m.starts_with("incomplete input") {
        return Some(MysqlError::new(
            1064,
            b"42000",
            format!(
                "You have an error in your SQL syntax: {}",
                names::unmangle_message(m)
            ),
        ));
    }
    if let Some(rest) = m.strip_prefix("table ")
        && let Some(t) = rest.strip_suffix(" already exists")
    {
        let t = names::unmangle_table(t.trim_matches('"'));
        return Some(MysqlError::new(
            1050,
            b"42S01",
            format!("Table '{t}' already exists"),
        ));
    }
    if let Some(rest) = m.strip_prefix("index ")
        && let Some(i) = rest.strip_suffix(" already exists")
    {
        let i = names::unmangle_index(i.trim_matches('"'));
        return Some(MysqlError::new(
            1061,
            b"42000",
            format!("Duplicate key name '{i}'"),
        ));
    }
    if let Some(i) = m.strip_prefix("no such index:") {
        let i = names::unmangle_index(i.trim());
        return Some(MysqlError::new(
            1091,
            b"42000",
            format!("Can't DROP '{i}'; check that column/key exists"),
        ));
    }
    if let Some(c) = m.strip_prefix("duplicate column name:") {
        return Some(MysqlError::new(
            1060,
            b"42S21",
            format!("Duplicate column name '{}'", c.trim()),
        ));
    }
    if let Some(f) = m.strip_prefix("no such function:") {
        return Some(MysqlError::new(
            1305,
            b"42000",
            format!("FUNCTION {} does not exist", f.trim()),
        ));
    }
    if let Some(f) = m.strip_prefix("wrong number of arguments to function ") {
        let f = f.trim_end_matches("()").trim();
        return Some(MysqlError::new(
            1582,
            b"42000",
            format!("Incorrect parameter count in the call to native function '{f}'"),
        ));
    }
    if m.starts_with("Unknown system variable") {
        return Some(MysqlError::new(1193, b"HY000", m.to_string()));
    }
    if m.starts_with("cannot start a transaction within a transaction") {
        return Some(MysqlError::new(
            1399,
            b"XAE07",
            "a transaction is already active".to_string(),
        ));
    }
    if let Some(s) = m.strip_prefix("no such savepoint:") {
        return Some(MysqlError::new(
            1305,
            b"42000",
            format!("SAVEPOINT {} does not exist", s.trim()),
        ));
    }
    None
}
