//! How the workloads talk to the cluster: a small SQL client interface with one outcome
//! per call — ok, certainly failed, or unknown.
//!
//! Two implementations: [`HttpClient`] over the HTTP API (`POST /v1/execute` atomic
//! batches, `POST /v1/query` reads) and [`crate::mysql::MysqlClient`] over the MySQL
//! protocol, which also offers interactive transactions ([`Interactive`]: START
//! TRANSACTION, statements one at a time, COMMIT) through [`SqlClient::interactive`].
//!
//! Classification over HTTP follows docs/API.md: `aborted`, `no_quorum`, `lock_timeout`,
//! `not_leader` and the request errors mean "certainly not applied"; `outcome_unknown`,
//! `internal`, anything unexpected, a timeout or a connection lost after the request was
//! sent mean "unknown". Only a connection that could not even be opened is a certain
//! failure at the transport level. Over MySQL see [`mysql_certainly_failed`] and
//! crates/torture/src/mysql.rs.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The result of one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Ok(T),
    /// Certainly did not take effect.
    Fail(String),
    /// May or may not have taken effect.
    Unknown(String),
}

/// One statement with its parameters.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Stmt {
    pub fn new(sql: &str, params: Vec<Value>) -> Stmt {
        Stmt {
            sql: sql.to_string(),
            params,
        }
    }
}

/// What one statement of a transaction returned.
#[derive(Debug, Clone, Default)]
pub struct StmtResult {
    pub rows_affected: u64,
    pub rows: Vec<Vec<Value>>,
}

/// Read consistency levels (docs/ARCHITECTURE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Linearizable,
    Stale,
}

impl Consistency {
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Stale => "stale",
        }
    }
}

/// The protocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Mysql,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Mysql => "mysql",
        }
    }
}

/// Which protocols the clients of a run speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    Http,
    Mysql,
    /// Half of each node's clients (alternating) speak MySQL, the others HTTP.
    Mixed,
}

impl Protocols {
    pub fn name(self) -> &'static str {
        match self {
            Protocols::Http => "http",
            Protocols::Mysql => "mysql",
            Protocols::Mixed => "mixed",
        }
    }

    pub fn parse(s: &str) -> Option<Protocols> {
        [Protocols::Http, Protocols::Mysql, Protocols::Mixed]
            .into_iter()
            .find(|p| p.name() == s)
    }

    /// The protocol of client `k` (0-based) of node `node` (1-based). Mixed alternates
    /// along clients and nodes, so every node has clients of both kinds (with two or more
    /// clients per node) and the two kinds are as even as the count allows.
    pub fn for_client(self, node: usize, k: usize) -> Protocol {
        match self {
            Protocols::Http => Protocol::Http,
            Protocols::Mysql => Protocol::Mysql,
            Protocols::Mixed if (node + k) % 2 == 1 => Protocol::Mysql,
            Protocols::Mixed => Protocol::Http,
        }
    }

    /// Whether any client speaks `p`.
    pub fn uses(self, p: Protocol) -> bool {
        self == Protocols::Mixed || self.for_client(1, 0) == p
    }
}

/// A client of one node.
pub trait SqlClient: Send {
    /// The node this client talks to.
    fn node(&self) -> usize;
    fn protocol(&self) -> Protocol;
    /// Runs the statements as one atomic transaction.
    fn transaction(&mut self, stmts: &[Stmt]) -> Outcome<Vec<StmtResult>>;
    /// Runs one read.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        consistency: Consistency,
    ) -> Outcome<Vec<Vec<Value>>>;
    /// Interactive transactions, where the protocol has them (MySQL); `None` over HTTP,
    /// whose transactions are atomic batches.
    fn interactive(&mut self) -> Option<&mut dyn Interactive> {
        None
    }
}

/// An interactive transaction: opened, then statements one at a time (each sees the
/// writes of the ones before), then committed. One transaction at a time per client.
pub trait Interactive {
    /// Opens a transaction; `Err`: none is open.
    fn begin(&mut self, read_only: bool) -> Result<(), String>;
    /// Runs one statement inside the open transaction. `Err` ends the transaction: the
    /// caller rolls back, and nothing of it can be applied because COMMIT is never sent.
    fn execute(&mut self, stmt: &Stmt) -> Result<StmtResult, String>;
    /// Commits the open transaction: ok, certainly not committed, or unknown.
    fn commit(&mut self) -> Outcome<()>;
    /// Abandons the open transaction (nothing of it is applied). Never fails: a client
    /// that cannot send ROLLBACK closes its connection, which rolls back as well.
    fn rollback(&mut self);
}

/// Runs `body` in an interactive transaction and commits it.
///
/// An error before COMMIT was sent (in `begin` or in `body`) is `Fail`: the transaction
/// was rolled back (or its connection closed, which rolls it back) and cannot commit
/// later, whatever the error was — a timeout included. The outcome of COMMIT itself is
/// whatever [`Interactive::commit`] says.
pub fn interactive<T>(
    tx: &mut dyn Interactive,
    read_only: bool,
    body: impl FnOnce(&mut dyn Interactive) -> Result<T, String>,
) -> Outcome<T> {
    if let Err(e) = tx.begin(read_only) {
        tx.rollback();
        return Outcome::Fail(format!("START TRANSACTION: {e}"));
    }
    let value = match body(tx) {
        Ok(v) => v,
        Err(e) => {
            tx.rollback();
            return Outcome::Fail(format!("before COMMIT: {e}"));
        }
    };
    match tx.commit() {
        Outcome::Ok(()) => Outcome::Ok(value),
        Outcome::Fail(e) => Outcome::Fail(format!("COMMIT: {e}")),
        Outcome::Unknown(e) => Outcome::Unknown(format!("COMMIT: {e}")),
    }
}

/// Error codes that mean the request certainly had no effect (docs/API.md).
pub fn certainly_failed(code: &str) -> bool {
    matches!(
        code,
        "aborted"
            | "no_quorum"
            | "lock_timeout"
            | "not_leader"
            | "sql_error"
            | "refused"
            | "bad_request"
            | "too_large"
            | "not_initialized"
            | "witness"
            | "too_stale"
    )
}

/// MySQL error codes (docs/MYSQL-COMPAT.md, crates/mysql/src/errors.rs) that mean the
/// statement — or, for COMMIT, the transaction — certainly had no effect:
///
/// - 1213 the transaction was rolled back (leader change, idle too long, snapshot
///   conflict): retry it;
/// - 1047 the node cannot serve now (no quorum, no leader, not initialised, witness,
///   diverged): refused before anything was proposed;
/// - 1205 waited too long for the writer;
/// - errors of the statement itself: refused (1235, 1792 write in a READ ONLY
///   transaction), syntax or names (1064, 1146, 1054, 1046, 1049), constraints (1062),
///   privileges (1142, 1044), connection limits (1040).
///
/// Everything else is unknown: 1180 says so outright, and 1105 covers internal errors as
/// well as certain ones (too large, too stale) that cannot be told apart by code.
pub fn mysql_certainly_failed(code: u16) -> bool {
    matches!(
        code,
        1213 | 1047
            | 1205
            | 1235
            | 1792
            | 1064
            | 1146
            | 1054
            | 1046
            | 1049
            | 1062
            | 1142
            | 1044
            | 1040
    )
}

/// The value of an `Authorization` header for HTTP basic authentication.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A client over the HTTP API. Blocking: one request at a time, as a process should.
pub struct HttpClient {
    node: usize,
    base: String,
    agent: ureq::Agent,
    /// `Authorization` header sent with every request (the MySQL account's credentials).
    auth: String,
}

/// How long a client waits for a connection to open (nothing has been sent until then).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl HttpClient {
    /// A client of node `node` at `addr` (host:port) that authenticates as `user`;
    /// requests give up after `timeout`.
    pub fn new(
        node: usize,
        addr: &str,
        timeout: Duration,
        user: &str,
        password: &str,
    ) -> HttpClient {
        HttpClient {
            node,
            base: format!("http://{addr}"),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(CONNECT_TIMEOUT)
                .timeout(timeout)
                .build(),
            auth: basic_auth(user, password),
        }
    }

    fn post(&self, path: &str, body: Value) -> Outcome<Value> {
        match self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &self.auth)
            .send_json(body)
        {
            Ok(r) => match r.into_json::<Value>() {
                Ok(v) => Outcome::Ok(v),
                Err(e) => Outcome::Unknown(format!("unreadable answer: {e}")),
            },
            Err(ureq::Error::Status(status, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                let code = v["error"]["code"].as_str().unwrap_or("");
                let msg = format!(
                    "{status} {code}: {}",
                    v["error"]["message"].as_str().unwrap_or("")
                );
                if certainly_failed(code) {
                    Outcome::Fail(msg)
                } else {
                    Outcome::Unknown(msg)
                }
            }
            Err(ureq::Error::Transport(t)) => {
                let msg = format!("transport: {t}");
                match t.kind() {
                    ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => Outcome::Fail(msg),
                    _ => Outcome::Unknown(msg),
                }
            }
        }
    }
}

fn rows_of(v: &Value) -> Vec<Vec<Value>> {
    v.as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

impl SqlClient for HttpClient {
    fn node(&self) -> usize {
        self.node
    }

    fn protocol(&self) -> Protocol {
        Protocol::Http
    }

    fn transaction(&mut self, stmts: &[Stmt]) -> Outcome<Vec<StmtResult>> {
        let body = json!({"statements": stmts
            .iter()
            .map(|s| json!({"sql": s.sql, "params": s.params}))
            .collect::<Vec<_>>()});
        match self.post("/v1/execute", body) {
            Outcome::Ok(v) => {
                let Some(results) = v["results"].as_array() else {
                    return Outcome::Unknown(format!("answer without results: {v}"));
                };
                Outcome::Ok(
                    results
                        .iter()
                        .map(|r| StmtResult {
                            rows_affected: r["rows_affected"].as_u64().unwrap_or(0),
                            rows: rows_of(&r["rows"]),
                        })
                        .collect(),
                )
            }
            Outcome::Fail(e) => Outcome::Fail(e),
            Outcome::Unknown(e) => Outcome::Unknown(e),
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        consistency: Consistency,
    ) -> Outcome<Vec<Vec<Value>>> {
        let body = json!({"sql": sql, "params": params, "consistency": consistency.as_str()});
        match self.post("/v1/query", body) {
            Outcome::Ok(v) => Outcome::Ok(rows_of(&v["rows"])),
            Outcome::Fail(e) => Outcome::Fail(e),
            Outcome::Unknown(e) => Outcome::Unknown(e),
        }
    }
}
