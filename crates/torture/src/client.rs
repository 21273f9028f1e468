//! How the workloads talk to the cluster: a small SQL client interface with one outcome
//! per call — ok, certainly failed, or unknown.
//!
//! [`HttpClient`] implements it over the HTTP API (`POST /v1/execute` atomic batches,
//! `POST /v1/query` reads). A MySQL client (interactive transactions: BEGIN, statements
//! one by one, COMMIT) fits the same trait: [`SqlClient::transaction`] takes the whole
//! transaction, so a MySQL implementation can run it interactively and the workloads and
//! checkers stay the same.
//!
//! Classification follows docs/API.md: `aborted`, `no_quorum`, `lock_timeout`, `not_leader`
//! and the request errors mean "certainly not applied"; `outcome_unknown`, `internal`,
//! anything unexpected, a timeout or a connection lost after the request was sent mean
//! "unknown". Only a connection that could not even be opened is a certain failure at the
//! transport level.

use std::time::Duration;

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

/// A client of one node.
pub trait SqlClient: Send {
    /// The node this client talks to.
    fn node(&self) -> usize;
    /// Runs the statements as one atomic transaction.
    fn transaction(&mut self, stmts: &[Stmt]) -> Outcome<Vec<StmtResult>>;
    /// Runs one read.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        consistency: Consistency,
    ) -> Outcome<Vec<Vec<Value>>>;
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

/// A client over the HTTP API. Blocking: one request at a time, as a process should.
pub struct HttpClient {
    node: usize,
    base: String,
    agent: ureq::Agent,
}

impl HttpClient {
    /// A client of node `node` at `addr` (host:port); requests give up after `timeout`.
    pub fn new(node: usize, addr: &str, timeout: Duration) -> HttpClient {
        HttpClient {
            node,
            base: format!("http://{addr}"),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(2))
                .timeout(timeout)
                .build(),
        }
    }

    fn post(&self, path: &str, body: Value) -> Outcome<Value> {
        match self
            .agent
            .post(&format!("{}{path}", self.base))
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
