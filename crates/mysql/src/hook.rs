//! The store's connection hook: MySQL functions on every SQLite connection, and the
//! running MySQL session's values installed right before each of its statements.
//!
//! On the leader one writer connection runs the statements of every session (local ones
//! and those forwarded by followers), and the read connections serve every session too. So
//! the values that `LAST_INSERT_ID()`, `USER()`, `CONNECTION_ID()`, `@@var` and `@var` read
//! cannot live in one place: each statement carries them as compact context bytes
//! ([`SessionContext`], MessagePack), which travel with the statement to whichever node
//! runs it, and [`SessionHook::before_statement`] installs them into that connection's
//! [`SessionState`]. The bytes are decoded only when a function first reads a session
//! value (most statements read none), and not again while that connection keeps running
//! statements of the same session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quorate_sql::{SessionState, SessionValues};
use quorate_store::client::{self, HEADER as CLIENT_HEADER};
use quorate_store::rusqlite::types::Value;
use quorate_store::rusqlite::{Connection, InterruptHandle};
use quorate_store::{RUNNING_SQL_MAX, RunningStatement};
use serde::{Deserialize, Serialize};

/// Connections remembered at once. A read pool may open and close connections over time;
/// when the map is full it is cleared, and a connection found missing is set up again at
/// its next statement (see `before_statement`).
const CONNECTIONS_MAX: usize = 1024;

/// A value of a session or user variable, as it travels in the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum CtxValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl From<&Value> for CtxValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => CtxValue::Null,
            Value::Integer(i) => CtxValue::Int(*i),
            Value::Real(f) => CtxValue::Real(*f),
            Value::Text(t) => CtxValue::Text(t.clone()),
            Value::Blob(b) => CtxValue::Blob(b.clone()),
        }
    }
}

impl From<CtxValue> for Value {
    fn from(v: CtxValue) -> Self {
        match v {
            CtxValue::Null => Value::Null,
            CtxValue::Int(i) => Value::Integer(i),
            CtxValue::Real(f) => Value::Real(f),
            CtxValue::Text(t) => Value::Text(t),
            CtxValue::Blob(b) => Value::Blob(b),
        }
    }
}

/// What a statement needs to know about its MySQL session (the context bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionContext {
    /// `CONNECTION_ID()`.
    pub connection_id: u32,
    /// `USER()`: `user@host`.
    pub user: String,
    /// `LAST_INSERT_ID()`.
    pub last_insert_id: i64,
    /// Session variables that differ from the defaults, lower-case names.
    pub variables: Vec<(String, CtxValue)>,
    /// User variables (`@x`), lower-case names.
    pub user_variables: Vec<(String, CtxValue)>,
    /// Databases information_schema shows (`None`: all).
    #[serde(default)]
    pub visible_databases: Option<Vec<String>>,
}

impl SessionContext {
    /// The context bytes of a statement of client connection `connection_id` of node
    /// `origin`: that client (origin node id, then connection id, little-endian), then the
    /// MessagePack of the values.
    pub(crate) fn encode(&self, origin: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&client::header(origin, self.connection_id));
        // Encoding a plain struct into a Vec cannot fail.
        rmp_serde::encode::write(&mut bytes, self).unwrap_or_default();
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<SessionContext> {
        rmp_serde::from_slice(bytes.get(CLIENT_HEADER..)?).ok()
    }
}

/// The default session variables.
pub(crate) fn default_variables() -> &'static HashMap<String, Value> {
    &SessionValues::defaults().variables
}

/// Installs context bytes into a connection's session values (which hold the defaults when
/// this runs); [`SessionState::lock`] calls it when a function first reads them.
fn install(context: &[u8], v: &mut SessionValues) {
    // Only a client header (an HTTP request's statement) or nothing: no MySQL session.
    let ctx = if context.len() <= CLIENT_HEADER {
        SessionContext::default()
    } else {
        SessionContext::decode(context).unwrap_or_else(|| {
            tracing::warn!("undecodable MySQL session context; using defaults");
            SessionContext::default()
        })
    };
    v.connection_id = u64::from(ctx.connection_id);
    if !ctx.user.is_empty() {
        v.user = ctx.user;
    }
    v.last_insert_id = ctx.last_insert_id;
    for (name, value) in ctx.variables {
        v.variables.insert(name, value.into());
    }
    for name in ["last_insert_id", "identity"] {
        v.variables
            .insert(name.to_string(), Value::Integer(ctx.last_insert_id));
    }
    for (name, value) in ctx.user_variables {
        v.user_variables.insert(name, value.into());
    }
    v.visible_databases = ctx.visible_databases;
}

/// Hashes the connection keys (addresses) as they are: they are already distinct numbers,
/// and SipHash on every statement showed in profiles.
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        // Allocations are aligned: drop the low bits that are always zero.
        self.0 >> 4
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

/// One SQLite connection as the hook knows it.
struct Known {
    state: SessionState,
    interrupt: InterruptHandle,
    /// The client whose statement runs on it now (between `before_statement` and
    /// `after_statement`), and that statement.
    slot: Mutex<Slot>,
}

/// What a connection runs now.
#[derive(Default)]
struct Slot {
    running: Option<Running>,
    /// The running statement's text, cut at [`RUNNING_SQL_MAX`] bytes; its buffer is kept
    /// from one statement to the next.
    sql: String,
}

/// A client's statement running on a connection.
#[derive(Clone, Copy)]
struct Running {
    origin: u64,
    connection: u32,
    since: Instant,
}

impl Known {
    fn running(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Interrupts the statement running on this connection if `pick` chooses it.
    fn interrupt_if(&self, pick: impl Fn(&Running) -> bool) -> bool {
        // Held while interrupting: see `SessionHook::interrupt`.
        let running = self.running();
        if running.running.as_ref().is_some_and(pick) {
            self.interrupt.interrupt();
            return true;
        }
        false
    }
}

type ConnMap = HashMap<usize, Arc<Known>, std::hash::BuildHasherDefault<AddressHasher>>;

thread_local! {
    /// The connection whose statement this thread runs (set by `before_statement`, taken by
    /// `after_statement`), so that ending a statement takes no lock shared by every
    /// connection.
    static CURRENT: std::cell::RefCell<Option<Arc<Known>>> = const { std::cell::RefCell::new(None) };
}

/// The [`quorate_store::ConnectionHook`] of the MySQL front end.
#[derive(Default)]
pub struct SessionHook {
    connections: Mutex<ConnMap>,
}

/// The identity of a connection: the address of its `sqlite3` handle, stable for the
/// connection's life (the `Connection` value itself moves in and out of pools).
fn key(conn: &Connection) -> usize {
    // SAFETY: `handle` only returns the pointer; it is used as a number and never
    // dereferenced.
    unsafe { conn.handle() as usize }
}

impl SessionHook {
    /// A hook ready to pass to `Node::start_with_hook` (see [`crate::connection_hook`]).
    pub fn new() -> SessionHook {
        SessionHook::default()
    }

    fn interrupt_where(&self, pick: impl Fn(&Running) -> bool) -> usize {
        let known: Vec<Arc<Known>> = self.connections().values().cloned().collect();
        known.iter().filter(|k| k.interrupt_if(&pick)).count()
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, ConnMap> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, conn: &Connection) -> quorate_store::rusqlite::Result<Arc<Known>> {
        let state = SessionState::with_installer(Arc::new(install));
        quorate_sql::register_functions(conn, state.clone())?;
        let known = Arc::new(Known {
            state,
            interrupt: conn.get_interrupt_handle(),
            slot: Mutex::new(Slot::default()),
        });
        let mut map = self.connections();
        if map.len() >= CONNECTIONS_MAX {
            // Only idle connections: a running statement must stay reachable by KILL.
            map.retain(|_, k| k.running().running.is_some());
        }
        map.insert(key(conn), known.clone());
        Ok(known)
    }
}

impl quorate_store::ConnectionHook for SessionHook {
    fn on_open(&self, conn: &Connection) -> quorate_store::rusqlite::Result<()> {
        self.register(conn).map(drop)
    }

    fn on_scratch(&self, conn: &Connection) -> quorate_store::rusqlite::Result<()> {
        // The functions only: a scratch connection runs no client's statement.
        quorate_sql::register_functions(conn, SessionState::with_installer(Arc::new(install)))
    }

    fn after_schema_change(
        &self,
        conn: &Connection,
        sql: &str,
    ) -> quorate_store::rusqlite::Result<Vec<String>> {
        quorate_sql::follow_schema_change(conn, sql)
    }

    fn before_statement(&self, conn: &Connection, context: &[u8], sql: &str) {
        // Forget what an earlier statement on this thread set (one that failed before the
        // store asked, say).
        quorate_sql::take_last_insert_id_set();
        let found = self.connections().get(&key(conn)).cloned();
        let known = match found {
            Some(k) => k,
            // Forgotten when the map was cleared: set the connection up again.
            None => match self.register(conn) {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register MySQL functions on a connection");
                    return;
                }
            },
        };
        known.state.install_later(context);
        {
            let mut slot = known.running();
            slot.running = client::of(context).map(|(origin, connection)| Running {
                origin,
                connection,
                since: Instant::now(),
            });
            slot.sql.clear();
            if slot.running.is_some() {
                slot.sql.push_str(cut(sql, RUNNING_SQL_MAX));
            }
        }
        CURRENT.with(|c| *c.borrow_mut() = Some(known));
    }

    fn after_statement(&self, _conn: &Connection) -> Option<i64> {
        if let Some(known) = CURRENT.with(|c| c.borrow_mut().take()) {
            known.running().running = None;
        }
        quorate_sql::take_last_insert_id_set()
    }

    /// Interrupts the statement client connection `connection` of node `origin` runs on
    /// this node, if any. Each connection's `running` lock is held while interrupting, and
    /// `after_statement` takes it before the connection can run anyone else's statement, so
    /// an interrupt never reaches another client's statement. One that arrives after the
    /// statement finished (before `after_statement`) leaves nothing behind: SQLite clears
    /// the flag when the connection's next statement starts.
    fn interrupt(&self, origin: u64, connection: u64) -> usize {
        self.interrupt_where(|r| r.origin == origin && u64::from(r.connection) == connection)
    }

    fn interrupt_foreign_older_than(
        &self,
        local: u64,
        age: Duration,
        waited_for: &dyn Fn(u64, u64) -> bool,
    ) -> usize {
        self.interrupt_where(|r| {
            r.origin != local
                && r.since.elapsed() > age
                && !waited_for(r.origin, u64::from(r.connection))
        })
    }

    fn running(&self) -> Vec<RunningStatement> {
        let known: Vec<Arc<Known>> = self.connections().values().cloned().collect();
        known
            .iter()
            .filter_map(|k| {
                // Held while reading the context, so that both belong to one statement:
                // the next statement names its context only after `after_statement`.
                let slot = k.running();
                let r = slot.running?;
                let user = k.state.with_named_context(|c| {
                    (c.len() > CLIENT_HEADER)
                        .then(|| SessionContext::decode(c))
                        .flatten()
                        .map(|ctx| ctx.user)
                        .filter(|u| !u.is_empty())
                });
                Some(RunningStatement {
                    origin: r.origin,
                    client: r.connection,
                    running: r.since.elapsed(),
                    user,
                    sql: slot.sql.clone(),
                })
            })
            .collect()
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The hook as the store takes it.
pub fn connection_hook() -> quorate_store::Hook {
    quorate_store::Hook(Arc::new(SessionHook::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_store::ConnectionHook;

    fn scalar(conn: &Connection, sql: &str) -> Value {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Each statement sees the values of the session it runs for, on a connection shared
    /// by several sessions; a session's variable overrides (and the databases its
    /// information_schema may show) do not leak into the next one.
    #[test]
    fn context_switches_between_sessions_on_one_connection() {
        let hook = SessionHook::new();
        let conn = Connection::open_in_memory().unwrap();
        hook.on_open(&conn).unwrap();
        let a = SessionContext {
            connection_id: 7,
            user: "alice@10.0.0.1".into(),
            last_insert_id: 42,
            variables: vec![("sql_mode".into(), CtxValue::Text("ANSI".into()))],
            user_variables: vec![("x".into(), CtxValue::Int(5))],
            visible_databases: Some(vec!["shop".into()]),
        };
        hook.before_statement(&conn, &a.encode(1), "SELECT 1");
        assert_eq!(
            scalar(&conn, "SELECT quorate_visible_db('shop')"),
            Value::Integer(1)
        );
        assert_eq!(
            scalar(&conn, "SELECT quorate_visible_db('secret')"),
            Value::Integer(0)
        );
        assert_eq!(scalar(&conn, "SELECT last_insert_id()"), Value::Integer(42));
        assert_eq!(scalar(&conn, "SELECT connection_id()"), Value::Integer(7));
        assert_eq!(
            scalar(&conn, "SELECT mysql_sysvar('sql_mode')"),
            Value::Text("ANSI".into())
        );
        assert_eq!(
            scalar(&conn, "SELECT mysql_uservar('x')"),
            Value::Integer(5)
        );
        let b = SessionContext {
            connection_id: 8,
            user: "bob@%".into(),
            ..Default::default()
        };
        hook.before_statement(&conn, &b.encode(1), "SELECT 1");
        assert_eq!(scalar(&conn, "SELECT last_insert_id()"), Value::Integer(0));
        assert_eq!(scalar(&conn, "SELECT connection_id()"), Value::Integer(8));
        assert_eq!(scalar(&conn, "SELECT mysql_uservar('x')"), Value::Null);
        assert_eq!(
            scalar(&conn, "SELECT quorate_visible_db('secret')"),
            Value::Integer(1)
        );
        assert_eq!(
            scalar(&conn, "SELECT mysql_sysvar('sql_mode')"),
            default_variables()["sql_mode"]
        );
    }

    const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                           SELECT count(*) FROM c";

    /// Runs [`ENDLESS`] on `conn` for the client `ctx` names, as the store does (between
    /// the hook's calls), telling `started` once it is about to start.
    fn run_endless(
        hook: &SessionHook,
        conn: &Connection,
        ctx: &[u8],
        started: &std::sync::mpsc::Sender<()>,
    ) -> quorate_store::rusqlite::Result<i64> {
        hook.before_statement(conn, ctx, ENDLESS);
        started.send(()).unwrap();
        let r = conn.query_row(ENDLESS, [], |r| r.get::<_, i64>(0));
        hook.after_statement(conn);
        r
    }

    /// The hook lists the clients' statements running on its connections, each with its
    /// client, its account (when its context names one: a MySQL session's, not an HTTP
    /// request's) and its text, and forgets each once it has ended.
    #[test]
    fn running_statements_are_listed_with_their_client_account_and_text() {
        let hook = Arc::new(SessionHook::new());
        let mysql = SessionContext {
            connection_id: 7,
            user: "alice@10.0.0.1".into(),
            ..Default::default()
        }
        .encode(2);
        let http = client::header(3, 1 << 31).to_vec();
        assert!(hook.running().is_empty(), "nothing runs yet");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let runners: Vec<_> = [mysql, http]
            .into_iter()
            .map(|ctx| {
                let hook = hook.clone();
                let started = started_tx.clone();
                let conn = Connection::open_in_memory().unwrap();
                hook.on_open(&conn).unwrap();
                std::thread::spawn(move || run_endless(&hook, &conn, &ctx, &started))
            })
            .collect();
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        // Both statements under way in SQLite: an interrupt that comes before a statement
        // starts is lost.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut running = hook.running();
        running.sort_by_key(|r| r.origin);
        let seen: Vec<_> = running
            .iter()
            .map(|r| (r.origin, r.client, r.user.as_deref(), r.sql.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (2, 7, Some("alice@10.0.0.1"), ENDLESS),
                (3, 1 << 31, None, ENDLESS)
            ]
        );
        assert_eq!(hook.interrupt(2, 7) + hook.interrupt(3, 1 << 31), 2);
        // Again until both end, in case one had not started in SQLite yet.
        while !runners.iter().all(|r| r.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            hook.interrupt(2, 7);
            hook.interrupt(3, 1 << 31);
        }
        for r in runners {
            assert!(r.join().unwrap().is_err(), "interrupted");
        }
        assert!(hook.running().is_empty(), "both ended");
    }

    /// A statement's text is kept up to a bound, cut on a character boundary.
    #[test]
    fn a_long_statement_is_cut_on_a_character_boundary() {
        let long = "é".repeat(RUNNING_SQL_MAX);
        assert_eq!(cut(&long, RUNNING_SQL_MAX).len(), RUNNING_SQL_MAX);
        assert_eq!(cut(&long, RUNNING_SQL_MAX - 1).len(), RUNNING_SQL_MAX - 2);
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
        assert_eq!(cut("abc", 10), "abc");
    }

    /// An interrupt reaches the statement of the client it names, and only while that
    /// statement runs: not another client's (same connection id on another node, or
    /// another connection of the same node, or a statement of this node's own client or
    /// one younger than asked, or one whose node says it still waits for it), and not once
    /// the statement has ended.
    #[test]
    fn interrupt_reaches_only_the_named_clients_running_statement() {
        let hook = Arc::new(SessionHook::new());
        let conn = Connection::open_in_memory().unwrap();
        hook.on_open(&conn).unwrap();
        let ctx = SessionContext {
            connection_id: 7,
            ..Default::default()
        }
        .encode(1);
        assert_eq!(client::of(&ctx), Some((1, 7)));

        // Idle: nothing to interrupt.
        assert_eq!(hook.interrupt(1, 7), 0);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let runner = {
            let hook = hook.clone();
            std::thread::spawn(move || {
                let r = run_endless(&hook, &conn, &ctx, &started_tx);
                (conn, r)
            })
        };
        started_rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(hook.interrupt(2, 7), 0, "same connection id, other node");
        assert_eq!(hook.interrupt(1, 8), 0, "other connection of the same node");
        let hour = std::time::Duration::from_secs(3600);
        let nobody_waits = |_: u64, _: u64| false;
        assert_eq!(
            hook.interrupt_foreign_older_than(1, Duration::ZERO, &nobody_waits),
            0,
            "a local client"
        );
        assert_eq!(
            hook.interrupt_foreign_older_than(2, hour, &nobody_waits),
            0,
            "not old enough"
        );
        assert_eq!(
            hook.interrupt_foreign_older_than(2, Duration::ZERO, &|origin, client| {
                (origin, client) == (1, 7)
            }),
            0,
            "its node still waits for it"
        );
        assert_eq!(hook.interrupt(1, 7), 1);
        let (conn, r) = runner.join().unwrap();
        let e = r.unwrap_err();
        assert_eq!(
            e.sqlite_error_code(),
            Some(quorate_store::rusqlite::ErrorCode::OperationInterrupted)
        );
        // Ended: a late interrupt finds nothing, and the connection runs on normally.
        assert_eq!(hook.interrupt(1, 7), 0);
        assert_eq!(scalar(&conn, "SELECT 41 + 1"), Value::Integer(42));
    }
}
