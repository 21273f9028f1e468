//! A miniature session for tests: translates MySQL text and runs the result on an in-memory
//! SQLite database, the way the session layer will.

#![allow(dead_code)]

use quorate_sql::{
    Context, SessionState, SetValue, SqlError, Statement, StatementKind, VarScope, names,
    register_functions, translate_bytes,
};
use rusqlite::Connection;
use rusqlite::types::Value;

/// An in-memory database with the functions registered and one database `d`.
pub struct Db {
    pub conn: Connection,
    pub state: SessionState,
    pub current: Option<String>,
}

/// Rows of a result.
pub type Rows = Vec<Vec<Value>>;

impl Db {
    pub fn new() -> Db {
        let conn = Connection::open_in_memory().unwrap();
        let state = SessionState::new();
        register_functions(&conn, state.clone()).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; CREATE TABLE \"_quorate_databases\"(name TEXT PRIMARY KEY);
             INSERT INTO \"_quorate_databases\" VALUES ('d');",
        )
        .unwrap();
        Db {
            conn,
            state,
            current: Some("d".into()),
        }
    }

    /// Translates `sql` and runs every statement; returns the rows of the last one.
    pub fn run(&mut self, sql: &str) -> Result<Rows, String> {
        self.run_bytes(sql.as_bytes())
    }

    pub fn run_bytes(&mut self, sql: &[u8]) -> Result<Rows, String> {
        let current = self.current.clone();
        let ctx = Context {
            current_db: current.as_deref(),
            catalog: Some(&self.conn),
        };
        let stmts =
            translate_bytes(sql, &ctx).map_err(|e: SqlError| e.mysql_error().to_string())?;
        let mut rows = Vec::new();
        for s in stmts {
            rows = self.exec(s)?;
        }
        Ok(rows)
    }

    /// Runs one translated statement.
    pub fn exec(&mut self, s: Statement) -> Result<Rows, String> {
        match s {
            Statement::Sql { sqlite, kind, .. } => {
                let mut rows = Vec::new();
                for q in sqlite {
                    rows = self
                        .query(&q)
                        .map_err(|e| quorate_sql::mysql_error_for(&e, &q).to_string())?;
                    // As the store does after every schema statement.
                    if kind == StatementKind::Ddl {
                        for f in quorate_sql::follow_schema_change(&self.conn, &q).unwrap() {
                            self.conn.execute_batch(&f).unwrap();
                        }
                    }
                    if kind == StatementKind::Write {
                        let id = self.conn.last_insert_rowid();
                        if q.starts_with("INSERT") || q.starts_with("REPLACE") {
                            self.state.set_last_insert_id(id);
                        }
                    }
                }
                Ok(rows)
            }
            Statement::Use(db) => {
                self.current = Some(db);
                Ok(vec![])
            }
            Statement::CreateDatabase {
                name,
                if_not_exists,
            } => {
                let verb = if if_not_exists {
                    "INSERT OR IGNORE"
                } else {
                    "INSERT"
                };
                self.conn
                    .execute(
                        &format!("{verb} INTO \"_quorate_databases\" VALUES (?1)"),
                        [name],
                    )
                    .map_err(|e| quorate_sql::mysql_error(&e).to_string())?;
                Ok(vec![])
            }
            Statement::DropDatabase { name, .. } => {
                for q in quorate_sql::drop_database_sql(&self.conn, &name).unwrap() {
                    self.conn.execute_batch(&q).unwrap();
                }
                self.conn
                    .execute("DELETE FROM \"_quorate_databases\" WHERE name = ?1", [name])
                    .unwrap();
                Ok(vec![])
            }
            Statement::Set(vars) => {
                for v in vars {
                    let value = match &v.value {
                        SetValue::Value(x) => x.clone(),
                        SetValue::Default => Value::Null,
                        SetValue::Expr { sqlite } => self
                            .conn
                            .query_row(&format!("SELECT {sqlite}"), [], |r| r.get(0))
                            .map_err(|e| quorate_sql::mysql_error(&e).to_string())?,
                    };
                    if v.scope != VarScope::User
                        && let Some(p) = quorate_sql::pragma_for(&v.name, &value)
                    {
                        self.conn.execute_batch(&p).unwrap();
                    }
                    if v.scope == VarScope::User {
                        self.state.set_user_variable(&v.name, value);
                    } else {
                        self.state.set_variable(&v.name, value);
                    }
                }
                Ok(vec![])
            }
            Statement::Show(show) => {
                let current = self.current.clone();
                let ctx = Context::with_db(current.as_deref());
                quorate_sql::show(&self.conn, &show, &ctx)
                    .map(|(_, rows)| rows)
                    .map_err(|e| e.mysql_error().to_string())
            }
            Statement::Begin { .. } => self.query("BEGIN").map_err(|e| e.to_string()),
            Statement::Commit => self.query("COMMIT").map_err(|e| e.to_string()),
            Statement::Rollback => self.query("ROLLBACK").map_err(|e| e.to_string()),
            Statement::Savepoint(n) => self
                .query(&format!("SAVEPOINT {}", names::quote(&n)))
                .map_err(|e| e.to_string()),
            Statement::ReleaseSavepoint(n) => self
                .query(&format!("RELEASE {}", names::quote(&n)))
                .map_err(|e| e.to_string()),
            Statement::RollbackToSavepoint(n) => self
                .query(&format!("ROLLBACK TO {}", names::quote(&n)))
                .map_err(|e| e.to_string()),
            _ => Ok(vec![]),
        }
    }

    /// Runs one SQLite statement and collects its rows.
    pub fn query(&self, q: &str) -> rusqlite::Result<Rows> {
        let mut stmt = self.conn.prepare(q)?;
        let n = stmt.column_count();
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(
                (0..n)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(out)
    }

    /// Runs `sql` and returns its rows, panicking with the error if it fails.
    pub fn ok(&mut self, sql: &str) -> Rows {
        match self.run(sql) {
            Ok(r) => r,
            Err(e) => panic!("{sql}\n  failed: {e}"),
        }
    }

    /// Runs `sql`, expecting it to fail; returns the error text.
    pub fn err(&mut self, sql: &str) -> String {
        match self.run(sql) {
            Ok(r) => panic!("{sql}\n  unexpectedly succeeded: {r:?}"),
            Err(e) => e,
        }
    }
}

/// Shorthands for expected values.
pub fn i(v: i64) -> Value {
    Value::Integer(v)
}
pub fn t(v: &str) -> Value {
    Value::Text(v.to_string())
}
pub fn null() -> Value {
    Value::Null
}

/// The SQLite text of a single translated statement.
pub fn sqlite_of(sql: &str, db: Option<&str>) -> Vec<String> {
    let ctx = Context::with_db(db);
    match quorate_sql::translate(sql, &ctx)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .remove(0)
    {
        Statement::Sql { sqlite, .. } => sqlite,
        other => panic!("{sql}: not SQL: {other:?}"),
    }
}
