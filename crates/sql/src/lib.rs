//! quorate-sql: the MySQL dialect on top of SQLite.
//!
//! This crate turns the MySQL that applications, drivers, `mysqldump` and sysbench send into
//! SQLite SQL ([`translate`]), answers catalog questions (SHOW / DESCRIBE, [`show`]), reports
//! MySQL column types for result sets ([`column_meta`]), provides the MySQL functions that
//! generated SQL relies on ([`register_functions`]) and maps SQLite errors to MySQL error
//! codes ([`mysql_error`]). It knows nothing about the cluster or the network.
//!
//! Naming: MySQL table `t` of database `d` is the SQLite table `"d.t"`, index `i` on it is
//! `"d.t.i"`; see [`names`]. What is translated how, and what is refused, is listed in
//! `docs/MYSQL-COMPAT.md`.

#![warn(missing_docs)]

mod admin;
mod cache;
pub mod catalog;
mod ddl;
mod dml;
mod error;
mod expr;
pub mod functions;
mod infoschema;
mod lex;
pub mod names;
mod redefine;
mod show;
mod temporal;
mod types;

pub use cache::{BoundStatement, CACHED_TEXT_MAX, SHAPES_MAX, ShapeCache};
pub use catalog::{CachedCatalog, Catalog, ColumnInfo, TableInfo, table_info};
pub use error::{MysqlError, SqlError, mysql_error, mysql_error_for};
pub use functions::{
    Installer, SessionState, SessionValues, register_functions, take_last_insert_id_set,
};
pub use lex::EXPRESSION_CHAIN_MAX;
pub use show::{INFORMATION_SCHEMA, Show, ShowResult, databases, like_match, show, variables};
pub use temporal::follow_schema_change;
pub use types::{
    CHARSET_BINARY, CHARSET_UTF8MB4, ColumnMeta, MysqlType, column_flags, column_meta,
};

/// The MySQL version quorate reports (`@@version`, `VERSION()`, the handshake).
pub const MYSQL_VERSION: &str = "8.0.36-quorate";
/// `MYSQL_VERSION` as the number `/*!NNNNN ... */` version comments compare against.
pub const MYSQL_VERSION_ID: u32 = 80036;

/// What the translator needs to know about the session.
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    /// The current database (`USE d`), if any. Unqualified table names resolve against it.
    pub current_db: Option<&'a str>,
    /// Schema facts for rewrites that depend on the table definition: an `AUTO_INCREMENT`
    /// column given `0` gets a generated value (MySQL semantics; SQLite would store 0), and
    /// `ON UPDATE CURRENT_TIMESTAMP` columns are set by every UPDATE that does not set them.
    /// Without a catalog these two rewrites are skipped. A translation made with a catalog
    /// depends on the schema: a cache of translations must be cleared by DDL.
    pub catalog: Option<&'a dyn Catalog>,
}

impl<'a> Context<'a> {
    /// A context with a current database and no catalog.
    pub fn with_db(db: Option<&'a str>) -> Self {
        Context {
            current_db: db,
            catalog: None,
        }
    }
}

/// What a [`Statement::Sql`] does, for routing (read path vs. write path) and grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// Reads only (SELECT, EXPLAIN).
    Read,
    /// Changes rows (INSERT, UPDATE, DELETE, REPLACE).
    Write,
    /// Changes the schema (CREATE / ALTER / DROP / TRUNCATE TABLE, CREATE / DROP INDEX, ...).
    Ddl,
}

/// The scope of a variable assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarScope {
    /// `SET x`, `SET SESSION x`, `SET @@x`, `SET @@session.x`, `SET LOCAL x`.
    Session,
    /// `SET GLOBAL x`, `SET @@global.x`.
    Global,
    /// `SET PERSIST x`, `SET PERSIST_ONLY x`.
    Persist,
    /// `SET @x` (user-defined variable).
    User,
}

/// The value side of one assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// A constant: a number, a string, or a bare word such as `ON` or `utf8mb4` (as text).
    Value(rusqlite::types::Value),
    /// `DEFAULT`: back to the global value.
    Default,
    /// An expression to evaluate: run `SELECT <sqlite>` on a connection with
    /// [`register_functions`] (it may read `@@vars` and `@vars`), then assign the result.
    Expr {
        /// The expression, translated to SQLite.
        sqlite: String,
    },
}

/// One assignment of a SET statement.
#[derive(Debug, Clone, PartialEq)]
pub struct SetVar {
    /// Where the variable lives.
    pub scope: VarScope,
    /// Variable name, lower-cased, without `@`, `@@` or a scope prefix.
    pub name: String,
    /// The new value.
    pub value: SetValue,
}

/// `'user'@'host'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName {
    /// User name.
    pub user: String,
    /// Host pattern; `%` when not given.
    pub host: String,
}

/// A user in CREATE USER / ALTER USER, with the password if one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// Who.
    pub name: UserName,
    /// The clear-text password of `IDENTIFIED BY 'password'`.
    pub password: Option<String>,
    /// The plugin of `IDENTIFIED WITH plugin BY ...`, as written.
    pub plugin: Option<String>,
}

/// Privileges of GRANT / REVOKE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privileges {
    /// `ALL [PRIVILEGES]`.
    All,
    /// A list of privilege names, upper-cased (`SELECT`, `INSERT`, ...).
    List(Vec<String>),
}

/// What GRANT / REVOKE applies to: `*.*`, `db.*` or `db.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTarget {
    /// `None` for `*.*`.
    pub db: Option<String>,
    /// `None` for `db.*`.
    pub table: Option<String>,
}

/// One translated MySQL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// Runs on SQLite as is. `sqlite` may hold several statements to run in order (CREATE
    /// TABLE then its CREATE INDEX statements). Placeholders of the original statement, in
    /// order, are `?1..?params` in `sqlite`; bind parameter `i` of the MySQL statement as
    /// SQLite parameter `i`.
    Sql {
        /// SQLite statements, run in order.
        sqlite: Vec<String>,
        /// Read, write or DDL.
        kind: StatementKind,
        /// Number of `?` placeholders in the original statement.
        params: usize,
        /// SQLite names of the tables touched (`d.t`), for grants.
        tables: Vec<String>,
    },
    /// `USE db`: the session's current database becomes `db` (the caller checks it exists).
    Use(String),
    /// `CREATE DATABASE`: the caller inserts into `_quorate_databases`.
    CreateDatabase {
        /// Database name.
        name: String,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
    },
    /// `DROP DATABASE`: the caller drops every table `"name.*"` (see
    /// [`drop_database_sql`]) and deletes the catalog row.
    DropDatabase {
        /// Database name.
        name: String,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
    /// `BEGIN`, `START TRANSACTION [READ ONLY | READ WRITE | WITH CONSISTENT SNAPSHOT]`.
    Begin {
        /// `READ ONLY` was given.
        read_only: bool,
    },
    /// `COMMIT [WORK]`.
    Commit,
    /// `ROLLBACK [WORK]`.
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `RELEASE SAVEPOINT name`.
    ReleaseSavepoint(String),
    /// `ROLLBACK [WORK] TO [SAVEPOINT] name`.
    RollbackToSavepoint(String),
    /// `SET ...` (also `SET NAMES`, `SET CHARACTER SET`, `SET TRANSACTION ...`), one entry
    /// per assignment. `SET NAMES x` expands to `character_set_client`,
    /// `character_set_connection` and `character_set_results`.
    Set(Vec<SetVar>),
    /// A SHOW / DESCRIBE statement; answer with [`show`] or, for the session-owned kinds
    /// (variables, status, processlist, warnings, grants), in the session layer.
    Show(Show),
    /// `CREATE USER [IF NOT EXISTS] ...`.
    CreateUser {
        /// Users to create.
        users: Vec<UserSpec>,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
    },
    /// `DROP USER [IF EXISTS] ...`.
    DropUser {
        /// Users to drop.
        users: Vec<UserName>,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
    /// `ALTER USER [IF EXISTS] u IDENTIFIED BY 'p'` and `SET PASSWORD [FOR u] = 'p'`
    /// (`users[0].name.user` is empty for `SET PASSWORD` without `FOR`: the current user).
    AlterUser {
        /// Users and their new passwords.
        users: Vec<UserSpec>,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
    /// `GRANT privileges ON target TO users [WITH GRANT OPTION]`.
    Grant {
        /// What is granted.
        privileges: Privileges,
        /// On what.
        on: GrantTarget,
        /// To whom.
        to: Vec<UserName>,
        /// `WITH GRANT OPTION` was given.
        with_grant_option: bool,
    },
    /// `REVOKE privileges ON target FROM users`.
    Revoke {
        /// What is revoked.
        privileges: Privileges,
        /// On what.
        on: GrantTarget,
        /// From whom.
        from: Vec<UserName>,
    },
    /// Accepted and ignored; `reason` says why that is right (for logs and docs).
    NoOp {
        /// Why nothing needs to happen.
        reason: &'static str,
    },
    /// `KILL [CONNECTION | QUERY] id`.
    Kill {
        /// Connection id.
        id: u64,
        /// `KILL QUERY`: end the running statement, keep the connection.
        query_only: bool,
    },
}

/// Splits a COM_QUERY text into statements (respecting quotes, comments and version
/// comments) and translates each. A `USE db` among them applies to the statements after it. System variables (`SELECT @@version`) become calls of
/// `mysql_sysvar('version')`, user variables calls of `mysql_uservar('x')`, both provided
/// by [`register_functions`]; unaliased expression columns are aliased with their MySQL
/// text, so `SELECT @@version` returns a column named `@@version`.
pub fn translate(sql: &str, ctx: &Context) -> Result<Vec<Statement>, SqlError> {
    translate_bytes(sql.as_bytes(), ctx)
}

/// [`translate`] for a COM_QUERY payload that may not be UTF-8 (binary data inside string
/// literals, as `mysqldump` writes BLOBs); such literals become SQLite blob literals.
pub fn translate_bytes(sql: &[u8], ctx: &Context) -> Result<Vec<Statement>, SqlError> {
    let chunks = lex::split(sql)?;
    if chunks.is_empty() {
        return Err(SqlError::EmptyQuery);
    }
    let mut out = Vec::with_capacity(chunks.len());
    // A USE inside a multi-statement text changes the database of the statements after it.
    let mut current: Option<String> = None;
    for c in &chunks {
        let local;
        let ctx_now = match &current {
            Some(db) => {
                local = Context {
                    current_db: Some(db.as_str()),
                    catalog: ctx.catalog,
                };
                &local
            }
            None => ctx,
        };
        let s = translate_one(&c.text, c.params, ctx_now)?;
        if let Statement::Use(db) = &s {
            current = Some(db.clone());
        }
        out.push(s);
    }
    Ok(out)
}

/// The statements of a COM_QUERY text, each normalised as [`translate_bytes`] reads it, for
/// a caller that translates each just before running it (an ALTER TABLE that edits a
/// table's definition is translated from the definition as it is then).
pub fn split_statements(sql: &[u8]) -> Result<Vec<String>, SqlError> {
    Ok(lex::split(sql)?.into_iter().map(|c| c.text).collect())
}

fn translate_one(text: &str, params: usize, ctx: &Context) -> Result<Statement, SqlError> {
    if let Some(s) = admin::translate(text, ctx)? {
        return Ok(s);
    }
    dml::translate(text, params, ctx)
}

/// SQLite statements that drop every table of database `db` (run them, then delete the row
/// of `_quorate_databases`). Reads the schema through `conn`.
pub fn drop_database_sql(conn: &rusqlite::Connection, db: &str) -> Result<Vec<String>, SqlError> {
    let prefix = format!("{db}.");
    let mut stmt = conn.prepare(
        "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') \
         AND substr(name, 1, ?2) = ?1 ORDER BY type = 'table', name",
    )?;
    let rows = stmt.query_map(rusqlite::params![prefix, prefix.len() as i64], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut views = Vec::new();
    let mut tables = Vec::new();
    for r in rows {
        let (name, kind) = r?;
        if kind == "view" {
            views.push(name);
        } else {
            tables.push(name);
        }
    }
    drop(stmt);
    // Which of them references which (see `ddl::children_first`).
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut fks = conn.prepare(
        "SELECT s.name, f.\"table\" FROM sqlite_schema AS s, pragma_foreign_key_list(s.name) AS f \
         WHERE s.type = 'table' AND substr(s.name, 1, ?2) = ?1",
    )?;
    let rows = fks.query_map(rusqlite::params![prefix, prefix.len() as i64], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    for r in rows {
        edges.push(r?);
    }
    let tables = ddl::children_first(tables, &edges);
    let mut v = Vec::with_capacity(views.len() + tables.len() + 1);
    for view in &views {
        v.push(format!("DROP VIEW IF EXISTS {}", names::quote(view)));
    }
    if !tables.is_empty() {
        // Another database's table referencing one of these keeps them all.
        v.push(ddl::referenced_guard("mysql_drop_refused", &tables));
    }
    for table in &tables {
        v.push(format!("DROP TABLE IF EXISTS {}", names::quote(table)));
    }
    Ok(v)
}

/// The SQLite statement (a PRAGMA) that assigning `value` to session variable `name` (as
/// in [`SetVar::name`], after evaluating a [`SetValue::Expr`]) implies, if any.
///
/// `foreign_key_checks = 0/1` maps to `PRAGMA foreign_keys = OFF/ON`. SQLite only honours
/// that pragma outside a transaction; inside one, use `PRAGMA defer_foreign_keys = ON`
/// instead (the caller knows which applies). `DEFAULT` (a NULL value here) means ON.
pub fn pragma_for(name: &str, value: &rusqlite::types::Value) -> Option<String> {
    use rusqlite::types::Value;
    if !name.eq_ignore_ascii_case("foreign_key_checks") {
        return None;
    }
    let on = match value {
        Value::Integer(i) => *i != 0,
        Value::Real(f) => *f != 0.0,
        Value::Text(t) => {
            !(t.eq_ignore_ascii_case("off") || t == "0" || t.eq_ignore_ascii_case("false"))
        }
        Value::Null => true,
        Value::Blob(_) => return None,
    };
    Some(format!(
        "PRAGMA foreign_keys = {}",
        if on { "ON" } else { "OFF" }
    ))
}
