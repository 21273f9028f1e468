//! A client over the MySQL protocol: mysql_async (the binary protocol, prepared
//! statements) on a small current-thread tokio runtime owned by the client, so that the
//! harness stays thread-based and every call blocks, as a process's would.
//!
//! How a call ends:
//!
//! - the connection could not be opened: `Fail` (nothing was sent);
//! - the server answered with an error: `Fail` when its code means "certainly not applied"
//!   ([`mysql_certainly_failed`]: 1213, 1047, ...), else `Unknown` (1180 says so; 1105 may
//!   be an internal error). The connection stays open;
//! - no answer within the client timeout, or the connection was lost, after an autocommit
//!   write or a COMMIT was sent: `Unknown`. The connection is closed and the next call opens
//!   a new one (the workload continues as a new process, as after any `Unknown`);
//! - inside an interactive transaction, before COMMIT: any error, a timeout included, ends
//!   the transaction without it committing — the client rolls back, or closes the
//!   connection, which rolls back — so the transaction is `Fail` ([`interactive`]).
//!
//! A new connection is never opened in the middle of a transaction: a statement or a
//! COMMIT sent on a fresh connection would run outside the transaction it belongs to.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row};
use serde_json::{Value, json};

use crate::client::{
    CONNECT_TIMEOUT, Consistency, Interactive, Outcome, Protocol, SqlClient, Stmt, StmtResult,
    interactive, mysql_certainly_failed,
};

/// Where and as whom a [`MysqlClient`] connects.
#[derive(Debug, Clone)]
pub struct MysqlTarget {
    /// host:port of the node's MySQL listener.
    pub addr: String,
    pub user: String,
    pub password: String,
    /// The database of the connection (`None`: none selected).
    pub database: Option<String>,
}

/// How a call failed.
#[derive(Debug)]
enum CallError {
    /// No connection could be opened: nothing was sent.
    Connect(String),
    /// The server answered with an error; the connection is usable.
    Server { code: u16, message: String },
    /// Timeout or connection lost after the request was sent; the connection is closed.
    Lost(String),
}

impl CallError {
    fn describe(&self) -> String {
        match self {
            CallError::Connect(e) => format!("connect: {e}"),
            CallError::Server { code, message } => format!("{code}: {message}"),
            CallError::Lost(e) => e.clone(),
        }
    }

    /// The outcome of a call that may have written (an autocommit write or a COMMIT).
    fn write_outcome<T>(self) -> Outcome<T> {
        let certain = match &self {
            CallError::Connect(_) => true,
            CallError::Server { code, .. } => mysql_certainly_failed(*code),
            CallError::Lost(_) => false,
        };
        if certain {
            Outcome::Fail(self.describe())
        } else {
            Outcome::Unknown(self.describe())
        }
    }

    /// The outcome of a read: it changed nothing either way, but an answer that never came
    /// is still reported as unknown, as over HTTP.
    fn read_outcome<T>(self) -> Outcome<T> {
        match self {
            CallError::Lost(e) => Outcome::Unknown(e),
            other => Outcome::Fail(other.describe()),
        }
    }
}

/// A MySQL client of one node. Blocking; one call at a time.
pub struct MysqlClient {
    node: usize,
    opts: Opts,
    addr: String,
    timeout: Duration,
    rt: tokio::runtime::Runtime,
    conn: Option<Conn>,
    /// The session's `quorate_read_consistency` (what the open connection was set to).
    consistency: Consistency,
}

fn to_mysql(v: &Value) -> mysql_async::Value {
    match v {
        Value::Null => mysql_async::Value::NULL,
        Value::Bool(b) => mysql_async::Value::Int(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => mysql_async::Value::Int(i),
            (None, Some(u)) => mysql_async::Value::UInt(u),
            _ => mysql_async::Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => mysql_async::Value::Bytes(s.clone().into_bytes()),
        other => mysql_async::Value::Bytes(other.to_string().into_bytes()),
    }
}

fn from_mysql(v: mysql_async::Value) -> Value {
    match v {
        mysql_async::Value::NULL => Value::Null,
        mysql_async::Value::Int(i) => json!(i),
        mysql_async::Value::UInt(u) => json!(u),
        mysql_async::Value::Float(f) => json!(f),
        mysql_async::Value::Double(f) => json!(f),
        mysql_async::Value::Bytes(b) => {
            let s = String::from_utf8_lossy(&b).into_owned();
            match s.parse::<i64>() {
                Ok(i) => json!(i),
                Err(_) => Value::String(s),
            }
        }
        other => Value::String(format!("{other:?}")),
    }
}

fn params_of(params: &[Value]) -> Params {
    if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params.iter().map(to_mysql).collect())
    }
}

/// Runs one statement: rows (none for a write) and rows affected.
async fn run(conn: &mut Conn, sql: &str, params: Params) -> mysql_async::Result<StmtResult> {
    let rows: Vec<Row> = conn.exec(sql, params).await?;
    Ok(StmtResult {
        rows_affected: conn.affected_rows(),
        rows: rows
            .into_iter()
            // `unwrap` converts a row into its values; it panics only for a cell taken out
            // before, and none is.
            .map(|r| r.unwrap().into_iter().map(from_mysql).collect())
            .collect(),
    })
}

impl MysqlClient {
    /// A client of node `node`; each call gives up after `timeout`. Connects lazily.
    pub fn new(node: usize, target: &MysqlTarget, timeout: Duration) -> std::io::Result<Self> {
        let (host, port) = target
            .addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("bad MySQL address `{}`", target.addr),
                )
            })?;
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .prefer_socket(false)
            .user(Some(target.user.clone()))
            .pass(Some(target.password.clone()))
            .db_name(target.database.clone())
            .into();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(MysqlClient {
            node,
            opts,
            addr: target.addr.clone(),
            timeout,
            rt,
            conn: None,
            consistency: Consistency::Linearizable,
        })
    }

    /// Closes the connection (inside the runtime, which owns its socket).
    fn disconnect(&mut self) {
        let _guard = self.rt.enter();
        self.conn = None;
    }

    /// Runs `f` on the connection within the timeout. Opens a connection first if there is
    /// none and `may_connect`; else a missing connection is `Lost`.
    fn call<T>(
        &mut self,
        may_connect: bool,
        f: impl AsyncFnOnce(&mut Conn) -> mysql_async::Result<T>,
    ) -> Result<T, CallError> {
        if self.conn.is_none() {
            if !may_connect {
                return Err(CallError::Lost(
                    "the connection of the open transaction was closed".into(),
                ));
            }
            let opts = self.opts.clone();
            let opened = self
                .rt
                .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts)).await })
                .map_err(|_| {
                    CallError::Connect(format!(
                        "{} did not answer within {CONNECT_TIMEOUT:?}",
                        self.addr
                    ))
                })?
                .map_err(|e| CallError::Connect(format!("{}: {e}", self.addr)))?;
            self.conn = Some(opened);
            self.consistency = Consistency::Linearizable;
        }
        let timeout = self.timeout;
        let Some(conn) = self.conn.as_mut() else {
            return Err(CallError::Lost("no connection".into()));
        };
        // The timer is created inside the runtime (it needs its time driver).
        match self
            .rt
            .block_on(async { tokio::time::timeout(timeout, f(conn)).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(mysql_async::Error::Server(e))) => Err(CallError::Server {
                code: e.code,
                message: e.message,
            }),
            Ok(Err(e)) => {
                self.disconnect();
                Err(CallError::Lost(format!("connection lost: {e}")))
            }
            Err(_) => {
                self.disconnect();
                Err(CallError::Lost(format!("no answer within {timeout:?}")))
            }
        }
    }

    /// Runs one statement outside any transaction.
    fn run(&mut self, sql: &str, params: &[Value]) -> Result<StmtResult, CallError> {
        let params = params_of(params);
        self.call(true, async |c| run(c, sql, params).await)
    }

    /// Sets the session's read consistency for autocommit reads, if it differs.
    fn use_consistency(&mut self, consistency: Consistency) -> Result<(), CallError> {
        if self.conn.is_some() && self.consistency == consistency {
            return Ok(());
        }
        let sql = format!(
            "SET SESSION quorate_read_consistency = '{}'",
            consistency.as_str()
        );
        self.call(true, async |c| c.query_drop(sql).await)?;
        self.consistency = consistency;
        Ok(())
    }

    /// Runs setup statements (the schema), each on its own, retrying the whole list for
    /// up to `within` while the cluster settles. The statements must be idempotent.
    pub fn setup(&mut self, stmts: &[Stmt], within: Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let mut failed = None;
            for s in stmts {
                if let Err(e) = self.run(&s.sql, &s.params) {
                    failed = Some(format!("{}: {}", s.sql, e.describe()));
                    break;
                }
            }
            let Some(e) = failed else { return Ok(()) };
            if std::time::Instant::now() >= deadline {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl SqlClient for MysqlClient {
    fn node(&self) -> usize {
        self.node
    }

    fn protocol(&self) -> Protocol {
        Protocol::Mysql
    }

    /// One statement: an autocommit write. Several: an interactive transaction.
    fn transaction(&mut self, stmts: &[Stmt]) -> Outcome<Vec<StmtResult>> {
        if let [one] = stmts {
            return match self.run(&one.sql, &one.params) {
                Ok(r) => Outcome::Ok(vec![r]),
                Err(e) => e.write_outcome(),
            };
        }
        interactive(self, false, |tx| {
            stmts.iter().map(|s| tx.execute(s)).collect()
        })
    }

    /// An autocommit read at `consistency` (the session variable
    /// `quorate_read_consistency`).
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        consistency: Consistency,
    ) -> Outcome<Vec<Vec<Value>>> {
        if let Err(e) = self.use_consistency(consistency) {
            return e.read_outcome();
        }
        match self.run(sql, params) {
            Ok(r) => Outcome::Ok(r.rows),
            Err(e) => e.read_outcome(),
        }
    }

    fn interactive(&mut self) -> Option<&mut dyn Interactive> {
        Some(self)
    }
}

impl Interactive for MysqlClient {
    fn begin(&mut self, read_only: bool) -> Result<(), String> {
        // Transactions on the leader read in "read mode" only when the session reads
        // linearizably (docs/MYSQL-COMPAT.md, Transactions).
        self.use_consistency(Consistency::Linearizable)
            .map_err(|e| e.describe())?;
        let sql = if read_only {
            "START TRANSACTION READ ONLY"
        } else {
            "START TRANSACTION"
        };
        self.call(true, async |c| c.query_drop(sql).await)
            .map_err(|e| e.describe())
    }

    fn execute(&mut self, stmt: &Stmt) -> Result<StmtResult, String> {
        let params = params_of(&stmt.params);
        let sql = stmt.sql.as_str();
        self.call(false, async |c| run(c, sql, params).await)
            .map_err(|e| e.describe())
    }

    fn commit(&mut self) -> Outcome<()> {
        if self.conn.is_none() {
            return Outcome::Fail(
                "the connection was closed before COMMIT was sent; the transaction was rolled \
                 back with it"
                    .into(),
            );
        }
        match self.call(false, async |c| c.query_drop("COMMIT").await) {
            Ok(()) => Outcome::Ok(()),
            Err(e) => e.write_outcome(),
        }
    }

    fn rollback(&mut self) {
        if self.conn.is_some()
            && self
                .call(false, async |c| c.query_drop("ROLLBACK").await)
                .is_err()
        {
            self.disconnect();
        }
    }
}
