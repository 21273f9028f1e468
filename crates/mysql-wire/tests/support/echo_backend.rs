//! A trivial in-memory backend for protocol tests with real clients.
//!
//! It understands a handful of statement shapes, not SQL:
//! - `SELECT @@a, @@b, ...`         one row with server variables (max_allowed_packet, ...)
//! - `SELECT * FROM t`              the fixed table `t` below (every column type)
//! - `SELECT BLOB <n>`              one row, one LONGBLOB column of `n` bytes (i % 251)
//! - `SELECT ERROR`                 ERR 1146 "Table 'test.nope' doesn't exist"
//! - `SELECT SECURE` / `SELECT RESETS` / `SELECT DATABASE()`   connection facts
//! - `SELECT <anything else>`       one row, one column: the statement text
//! - prepared `SELECT ?, ?, ...`    one row echoing the parameters, typed by value kind
//! - prepared `SELECT * FROM t`     the table, in the binary protocol
//! - BEGIN / COMMIT / ROLLBACK      transaction status flag
//! - anything else                  OK, 1 row affected, last insert id 42
//!
//! With multi-statements on, `;` separates statements (no quoting rules).
#![allow(dead_code)]

use quorate_mysql_wire::{
    Backend, Column, ColumnType, ConnectInfo, Credential, ErrInfo, OkInfo, PrepareInfo,
    QueryResult, ResultSet, SessionStatus, Value, native_password_hash,
};

/// Password of users `root` and `admin` (the only one the backend calls an administrator);
/// user `nopw` has an empty password.
pub const ROOT_PASSWORD: &str = "s3cret-pw";
/// Password of user `sha2`, stored for caching_sha2_password.
pub const SHA2_PASSWORD: &str = "sha2-pw";

/// The credential of user `sha2` (one salted hash for the whole test binary).
pub fn sha2_credential() -> Credential {
    static C: std::sync::OnceLock<Credential> = std::sync::OnceLock::new();
    C.get_or_init(|| Credential::new(quorate_mysql_wire::AuthPlugin::CachingSha2, SHA2_PASSWORD))
        .clone()
}

/// `@@max_allowed_packet` as reported to clients (and configured in the test server).
pub const MAX_ALLOWED_PACKET: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub struct EchoBackend {
    in_transaction: bool,
    /// SQL text of prepared statements, by id.
    statements: std::collections::HashMap<u32, String>,
    pub database: Option<String>,
    /// Whether the connection runs over TLS (as told by `on_connect`).
    pub secure: bool,
    /// Times `on_connect` ran with `reset == true`.
    pub resets: u32,
    /// What `on_accept` was told (`SELECT ACCEPTED` returns the connection id).
    pub accepted: Option<u32>,
    /// When set, `idle_event` waits for it and then closes the connection with ERR 1927.
    pub close_on: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// The user `auth_lookup` was asked for.
    pub user: Option<String>,
}

fn col(name: &str, t: ColumnType, extra_flags: u16) -> Column {
    let mut c = Column::new(name, t);
    c.schema = "test".into();
    c.table = "t".into();
    c.flags |= extra_flags;
    c
}

/// The columns of table `t`: one of each type a client decodes differently.
pub fn table_columns() -> Vec<Column> {
    let mut data = col("data", ColumnType::Blob, Column::BINARY);
    data.charset = Column::CHARSET_BINARY;
    let mut dt = col("dt", ColumnType::DateTime, 0);
    dt.decimals = 6;
    let mut tm = col("tm", ColumnType::Time, 0);
    tm.decimals = 0;
    let mut dec = col("dec", ColumnType::NewDecimal, 0);
    dec.decimals = 2;
    vec![
        col(
            "id",
            ColumnType::LongLong,
            Column::NOT_NULL | Column::PRI_KEY | Column::AUTO_INCREMENT,
        ),
        col("tiny", ColumnType::Tiny, 0),
        col("small", ColumnType::Short, 0),
        col("medium", ColumnType::Int24, 0),
        col("num", ColumnType::Long, 0),
        col("ubig", ColumnType::LongLong, Column::UNSIGNED),
        col("flt", ColumnType::Float, 0),
        col("dbl", ColumnType::Double, 0),
        dec,
        col("name", ColumnType::VarString, 0),
        data,
        col("d", ColumnType::Date, 0),
        dt,
        col("ts", ColumnType::Timestamp, 0),
        tm,
        col("yr", ColumnType::Year, 0),
    ]
}

/// The rows of table `t`.
pub fn table_rows() -> Vec<Vec<Value>> {
    vec![
        vec![
            Value::Int(1),
            Value::Int(-128),
            Value::Int(-32768),
            Value::Int(-8388608),
            Value::Int(-2147483648),
            Value::UInt(u64::MAX),
            Value::Double(1.5),
            Value::Double(-2.25e-10),
            Value::Bytes(b"-12345.67".to_vec()),
            Value::Bytes("héllo wörld ✓ 😀".as_bytes().to_vec()),
            Value::Bytes(vec![0, 1, 2, 0xFF, 0xFE, b'\'', b'\\']),
            Value::Date {
                year: 2024,
                month: 2,
                day: 29,
            },
            Value::DateTime {
                year: 1999,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 58,
                micros: 123456,
            },
            Value::DateTime {
                year: 2038,
                month: 1,
                day: 19,
                hour: 3,
                minute: 14,
                second: 7,
                micros: 0,
            },
            Value::Time {
                negative: true,
                days: 34,
                hours: 22,
                minutes: 59,
                seconds: 59,
                micros: 0,
            },
            Value::Int(2155),
        ],
        vec![
            Value::Int(2),
            Value::Int(127),
            Value::Int(32767),
            Value::Int(8388607),
            Value::Int(2147483647),
            Value::UInt(0),
            Value::Double(0.0),
            Value::Double(1e300),
            Value::Bytes(b"0.00".to_vec()),
            Value::Bytes(b"".to_vec()),
            Value::Bytes(b"".to_vec()),
            Value::Date {
                year: 1,
                month: 1,
                day: 1,
            },
            Value::DateTime {
                year: 2000,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                micros: 0,
            },
            Value::DateTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 1,
                micros: 0,
            },
            Value::Time {
                negative: false,
                days: 0,
                hours: 1,
                minutes: 2,
                seconds: 3,
                micros: 0,
            },
            Value::Int(1901),
        ],
        vec![
            Value::Int(3),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    ]
}

fn one_row(name: &str, column_type: ColumnType, value: Value) -> QueryResult {
    QueryResult::Rows(ResultSet {
        columns: vec![Column::new(name, column_type)],
        rows: vec![vec![value]],
    })
}

fn variable(name: &str) -> (Column, Value) {
    match name {
        "max_allowed_packet" => (
            Column::new("@@max_allowed_packet", ColumnType::LongLong),
            Value::Int(MAX_ALLOWED_PACKET as i64),
        ),
        "wait_timeout" => (
            Column::new("@@wait_timeout", ColumnType::LongLong),
            Value::Int(28800),
        ),
        "version_comment" => (
            Column::new("@@version_comment", ColumnType::VarString),
            Value::from("quorate echo backend"),
        ),
        other => (
            Column::new(format!("@@{other}"), ColumnType::VarString),
            Value::Null,
        ),
    }
}

/// Column type and flags a client would expect for an echoed parameter.
fn echo_column(i: usize, v: &Value) -> Column {
    let name = format!("p{i}");
    match v {
        Value::Null => Column::new(name, ColumnType::Null),
        Value::Int(_) => Column::new(name, ColumnType::LongLong),
        Value::UInt(_) => {
            let mut c = Column::new(name, ColumnType::LongLong);
            c.flags |= Column::UNSIGNED;
            c
        }
        Value::Double(_) => Column::new(name, ColumnType::Double),
        Value::Bytes(_) => {
            let mut c = Column::new(name, ColumnType::LongBlob);
            c.charset = Column::CHARSET_BINARY;
            c.flags |= Column::BINARY;
            c
        }
        Value::Date { .. } => Column::new(name, ColumnType::Date),
        Value::DateTime { .. } => Column::new(name, ColumnType::DateTime),
        Value::Time { .. } => Column::new(name, ColumnType::Time),
    }
}

impl EchoBackend {
    fn statement(&mut self, stmt: &str) -> QueryResult {
        let s = stmt.trim();
        let upper = s.to_ascii_uppercase();
        if upper == "BEGIN" || upper == "START TRANSACTION" {
            self.in_transaction = true;
            return QueryResult::Ok(OkInfo::default());
        }
        if upper == "COMMIT" || upper == "ROLLBACK" {
            self.in_transaction = false;
            return QueryResult::Ok(OkInfo::default());
        }
        if !upper.starts_with("SELECT") {
            return QueryResult::Ok(OkInfo {
                affected_rows: 1,
                last_insert_id: 42,
                warnings: 0,
                info: String::new(),
            });
        }
        let rest = s[6..].trim();
        if rest.starts_with("@@") {
            let (columns, row) = rest
                .split(',')
                .map(|v| {
                    let v = v.trim().trim_start_matches("@@");
                    let v = v.split_whitespace().next().unwrap_or("");
                    variable(v.strip_prefix("session.").unwrap_or(v))
                })
                .unzip();
            return QueryResult::Rows(ResultSet {
                columns,
                rows: vec![row],
            });
        }
        if upper.contains("FROM T") {
            return QueryResult::Rows(ResultSet {
                columns: table_columns(),
                rows: table_rows(),
            });
        }
        if let Some(n) = upper.strip_prefix("SELECT BLOB ") {
            let n: usize = n.trim().parse().unwrap_or(0);
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let mut c = Column::new("blob", ColumnType::LongBlob);
            c.charset = Column::CHARSET_BINARY;
            c.flags |= Column::BINARY;
            return QueryResult::Rows(ResultSet {
                columns: vec![c],
                rows: vec![vec![Value::Bytes(data)]],
            });
        }
        if upper == "SELECT SECURE" {
            return one_row(
                "secure",
                ColumnType::LongLong,
                Value::Int(i64::from(self.secure)),
            );
        }
        if upper == "SELECT RESETS" {
            return one_row(
                "resets",
                ColumnType::LongLong,
                Value::Int(i64::from(self.resets)),
            );
        }
        if upper == "SELECT DATABASE()" {
            return one_row(
                "DATABASE()",
                ColumnType::VarString,
                Value::from(self.database.clone()),
            );
        }
        if upper == "SELECT ACCEPTED" {
            return one_row(
                "accepted",
                ColumnType::LongLong,
                Value::from(self.accepted.map(i64::from)),
            );
        }
        if upper == "SELECT ERROR" {
            return QueryResult::Err(ErrInfo::new(
                1146,
                b"42S02",
                "Table 'test.nope' doesn't exist",
            ));
        }
        one_row("echo", ColumnType::VarString, Value::from(s))
    }
}

impl Backend for EchoBackend {
    fn on_accept(&mut self, connection_id: u32, _peer: Option<std::net::SocketAddr>) {
        self.accepted = Some(connection_id);
    }

    async fn idle_event(&mut self) -> quorate_mysql_wire::IdleEvent {
        match &self.close_on {
            Some(n) => {
                n.notified().await;
                quorate_mysql_wire::IdleEvent::Close(Some(ErrInfo::new(
                    1927,
                    b"70100",
                    "Connection was killed",
                )))
            }
            None => std::future::pending().await,
        }
    }

    async fn auth_lookup(&mut self, user: &str) -> Result<Option<Credential>, ErrInfo> {
        self.user = Some(user.to_string());
        Ok(match user {
            "root" | "admin" => Some(Credential::Native(native_password_hash(ROOT_PASSWORD))),
            "nopw" => Some(Credential::Empty),
            "sha2" => Some(sha2_credential()),
            "notyet" => return Err(ErrInfo::new(1047, b"08S01", "not ready")),
            _ => None,
        })
    }

    fn administrator(&mut self) -> bool {
        self.user.as_deref() == Some("admin")
    }

    async fn on_connect(&mut self, info: &ConnectInfo) -> Result<(), ErrInfo> {
        if info.database.as_deref() == Some("nosuchdb") {
            return Err(ErrInfo::new(1049, b"42000", "Unknown database 'nosuchdb'"));
        }
        self.database = info.database.clone();
        self.secure = info.secure;
        self.resets += u32::from(info.reset);
        self.in_transaction = false;
        Ok(())
    }

    async fn on_auth_failed(&mut self, _user: &str) {}

    async fn query(&mut self, sql: &str, multi: bool) -> Vec<QueryResult> {
        let statements: Vec<&str> = sql.split(';').filter(|s| !s.trim().is_empty()).collect();
        if statements.len() > 1 && !multi {
            return vec![QueryResult::Err(ErrInfo::new(
                1064,
                b"42000",
                "You have an error in your SQL syntax: multi-statements are disabled",
            ))];
        }
        let mut results = Vec::new();
        for s in statements {
            let r = self.statement(s);
            let stop = matches!(r, QueryResult::Err(_));
            results.push(r);
            if stop {
                break;
            }
        }
        results
    }

    async fn prepare(&mut self, stmt_id: u32, sql: &str) -> Result<PrepareInfo, ErrInfo> {
        if sql.trim().eq_ignore_ascii_case("SELECT ERROR") {
            return Err(ErrInfo::new(
                1064,
                b"42000",
                "You have an error in your SQL syntax near 'ERROR'",
            ));
        }
        let params = sql
            .matches('?')
            .enumerate()
            .map(|(i, _)| Column::new(format!("?{i}"), ColumnType::VarString))
            .collect();
        let upper = sql.to_ascii_uppercase();
        let columns = if upper.contains("FROM T") {
            table_columns()
        } else if upper.trim_start().starts_with("SELECT") {
            (0..sql.matches('?').count())
                .map(|i| Column::new(format!("p{i}"), ColumnType::VarString))
                .collect()
        } else {
            Vec::new()
        };
        self.statements.insert(stmt_id, sql.to_string());
        Ok(PrepareInfo { params, columns })
    }

    async fn execute(&mut self, stmt_id: u32, params: Vec<Value>) -> QueryResult {
        let Some(sql) = self.statements.get(&stmt_id) else {
            return QueryResult::Err(ErrInfo::new(1243, b"HY000", "unknown statement"));
        };
        let upper = sql.to_ascii_uppercase();
        if upper.contains("FROM T") {
            return QueryResult::Rows(ResultSet {
                columns: table_columns(),
                rows: table_rows(),
            });
        }
        if upper.trim_start().starts_with("SELECT") {
            let columns = params
                .iter()
                .enumerate()
                .map(|(i, v)| echo_column(i, v))
                .collect();
            return QueryResult::Rows(ResultSet {
                columns,
                rows: vec![params],
            });
        }
        QueryResult::Ok(OkInfo {
            affected_rows: params.len() as u64,
            last_insert_id: 42,
            warnings: 0,
            info: String::new(),
        })
    }

    async fn close(&mut self, stmt_id: u32) {
        self.statements.remove(&stmt_id);
    }

    async fn init_db(&mut self, db: &str) -> Result<(), ErrInfo> {
        if db == "nosuchdb" {
            return Err(ErrInfo::new(1049, b"42000", "Unknown database 'nosuchdb'"));
        }
        self.database = Some(db.to_string());
        Ok(())
    }

    async fn field_list(&mut self, table: &str) -> Result<Vec<Column>, ErrInfo> {
        if table == "t" {
            Ok(table_columns())
        } else {
            Err(ErrInfo::new(
                1146,
                b"42S02",
                format!("Table 'test.{table}' doesn't exist"),
            ))
        }
    }

    fn status(&self) -> SessionStatus {
        SessionStatus {
            in_transaction: self.in_transaction,
            autocommit: true,
        }
    }

    async fn on_disconnect(&mut self) {
        self.in_transaction = false;
    }
}
