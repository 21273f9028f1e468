//! One MySQL client connection: the [`Backend`] the wire crate drives.
//!
//! A connection holds a node [`Session`] and the MySQL session state around it (current
//! database, autocommit, variables, prepared statements, privileges). Each client
//! statement is translated by `quorate_sql`, checked against the account's privileges and
//! run through the session with the right [`StatementKind`]:
//!
//! - reads outside a transaction use the session's read consistency (linearizable unless
//!   the client `SET quorate_read_consistency`); reads that touch no table (`SELECT 1`,
//!   `SELECT @@version`) run on this node's own read connection;
//! - writes outside a transaction are one-statement transactions (autocommit);
//! - `BEGIN` ... `COMMIT` (or autocommit=0) is one interactive transaction on the leader,
//!   wherever the client is connected;
//! - DDL commits the open transaction first and then runs as its own transaction, as
//!   MySQL's implicit commit does;
//! - SET, SHOW, USE, users and grants are handled here.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quorate_mysql_wire::{
    AuthPlugin, Backend, Column, ColumnType, ConnectInfo, Credential, ErrInfo, IdleEvent, OkInfo,
    PrepareInfo, QueryResult, ResultSet, SessionStatus, Value as WireValue,
};
use quorate_node::api::{Consistency, QueryRequest, SqlValue};
use quorate_node::{ClientSocket, Session, StatementKind};
use quorate_sql::{
    Catalog, Context, GrantTarget, Privileges as PrivList, SessionValues, SetValue, SetVar,
    ShapeCache, Show, SqlError, Statement, TableInfo, UserName, UserSpec, VarScope,
};
use quorate_store::Store;
use quorate_store::rusqlite::types::Value;

use crate::accounts::{self, Account, Privileges};
use crate::errors::{self, err, from_node, from_sql};
use crate::hook::{CtxValue, SessionContext, default_variables};
use crate::status;
use crate::values::{self, param, show_result, text, text_column};
use crate::{Activity, KillSwitch, Registered, Shared};

/// How long a client may keep a transaction open without sending anything before it is
/// rolled back, unless the node configures `timeouts.idle_in_transaction_ms`. SQLite has
/// one writer: an idle open transaction on the leader delays every other write.
const IDLE_IN_TRANSACTION_DEFAULT: Duration = Duration::from_secs(30);
/// Privileges are re-read at least this often (grants changed through another node reach
/// open connections within this time).
const PRIVILEGES_TTL: Duration = Duration::from_secs(2);
/// How long a write waits for this node to see a serving leader before answering "no
/// quorum" (the node's `timeouts.no_quorum_fail_ms`, at most this).
const WRITABLE_WAIT_MAX: Duration = Duration::from_secs(1);
/// How long a catalog read on a follower waits to catch up with the leader.
const CATCH_UP_WAIT: Duration = Duration::from_secs(1);
/// How long a login of the configured administrator waits for a replica without accounts
/// to get its catalog before it is let in on the configuration alone.
const CATALOG_WAIT: Duration = Duration::from_secs(3);
/// A timeout that never fires (for the idle-in-transaction branch when no transaction).
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Longest statement text kept for SHOW PROCESSLIST.
const PROCESSLIST_INFO_MAX: usize = 1024;

/// A prepared statement: its translation, redone if the schema changed since.
struct Prepared {
    sql: String,
    /// Whether `sql` holds a locking read clause ([`is_locking_read`]).
    locking: bool,
    db: Option<String>,
    statement: Arc<Statement>,
    schema_gen: u64,
}

/// A [`Catalog`] over the node's read connections (used only when a translation needs a
/// schema fact, which the shape cache then remembers).
struct StoreCatalog<'a> {
    store: &'a Store,
}

impl Catalog for StoreCatalog<'_> {
    fn table(&self, sqlite_name: &str) -> Option<TableInfo> {
        self.store
            .with_read_connection(|c| quorate_sql::table_info(c, sqlite_name).ok().flatten())
            .ok()
            .flatten()
    }

    fn schema_sql(&self, sqlite_name: &str) -> Option<Vec<String>> {
        self.store
            .with_read_connection(|c| c.schema_sql(sqlite_name))
            .ok()
            .flatten()
    }
}

/// One client connection.
pub(crate) struct Conn {
    shared: Arc<Shared>,
    id: u32,
    peer: Option<SocketAddr>,
    /// The account that matched the login (set by `auth_lookup`).
    account: Option<Account>,
    connected: bool,
    session: Session,
    db: Option<String>,
    autocommit: bool,
    /// A write or DDL ran in the open transaction.
    tx_wrote: bool,
    /// The open transaction checked that the cluster serves (at its first statement).
    tx_checked: bool,
    /// START TRANSACTION READ ONLY.
    tx_read_only: bool,
    /// The open transaction runs in read mode: `Some(None)` before its first read,
    /// `Some(Some(snapshot))` after.
    read_tx: Option<Option<quorate_store::ReadTx>>,
    /// The snapshot of a read-mode transaction whose first write is running.
    upgraded_from: Option<quorate_store::ReadTx>,
    /// The previous transaction wrote (the next one then starts on the writer).
    last_tx_wrote: bool,
    /// The statement running is a locking read (`SELECT ... FOR UPDATE` / `FOR SHARE` /
    /// `LOCK IN SHARE MODE`): it announces writes, so it moves a transaction in read mode
    /// onto the writer.
    locking_read: bool,
    /// Session variables that differ from the defaults (lower-case names).
    vars: BTreeMap<String, Value>,
    user_vars: BTreeMap<String, Value>,
    last_insert_id: i64,
    /// The client asked for `CLIENT_FOUND_ROWS` (see [`affected_rows`]).
    found_rows: bool,
    /// The encoded [`SessionContext`], rebuilt when the values change.
    context: Vec<u8>,
    context_stale: bool,
    cache: ShapeCache,
    cache_gen: u64,
    prepared: HashMap<u32, Prepared>,
    privileges: Privileges,
    privileges_gen: u64,
    privileges_at: Instant,
    /// An error for the next statement: the transaction was rolled back while the client
    /// was idle (leader change, idle too long).
    pending: Option<ErrInfo>,
    /// The last error, for SHOW WARNINGS / SHOW ERRORS.
    last_error: Option<ErrInfo>,
    kill: Arc<KillSwitch>,
    /// `max_execution_time`: SELECTs running longer are interrupted (error 3024).
    max_execution_time: Option<Duration>,
    /// Whether the front end is draining for a shutdown ([`crate::MysqlServer::drain`]).
    draining: tokio::sync::watch::Receiver<bool>,
    /// This connection's row of SHOW PROCESSLIST (shared with the registry).
    activity: Arc<Mutex<Activity>>,
    /// A copy of the client's socket, moved into the registry on connect, where
    /// [`crate::watch_hang_ups`] asks it whether the client left during a statement.
    socket: Option<ClientSocket>,
}

/// 1094: `KILL` of an id that is not (or no longer) in the process list.
fn unknown_thread(id: u64) -> QueryResult {
    QueryResult::Err(err(1094, b"HY000", format!("Unknown thread id: {id}")))
}

/// 1095: `KILL` of another account's client without `SUPER`.
fn not_owner(id: u64) -> QueryResult {
    QueryResult::Err(err(
        1095,
        b"HY000",
        format!("You are not owner of thread {id}"),
    ))
}

fn ok() -> QueryResult {
    QueryResult::Ok(OkInfo::default())
}

fn ok_rows(n: u64) -> QueryResult {
    QueryResult::Ok(OkInfo {
        affected_rows: n,
        ..OkInfo::default()
    })
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Integer(i) => Some(*i != 0),
        Value::Real(f) => Some(*f != 0.0),
        Value::Text(t) => match t.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "yes" => Some(true),
            "off" | "false" | "0" | "no" => Some(false),
            _ => None,
        },
        Value::Null | Value::Blob(_) => None,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn wrong_value(name: &str, v: &Value) -> ErrInfo {
    err(
        1231,
        b"42000",
        format!(
            "Variable '{name}' can't be set to the value of '{}'",
            value_text(v)
        ),
    )
}

/// A writing statement's affected rows as MySQL reports them, and the info text that goes
/// with them (`UPDATE`'s "Rows matched: ..."), from what SQLite's `sql` did row by row.
///
/// MySQL counts a row an UPDATE sets to the values it already had only when the client
/// asked for `CLIENT_FOUND_ROWS` (`found_rows`); a row an `INSERT ... ON DUPLICATE KEY
/// UPDATE` updates counts 2 (1 with `found_rows` when nothing changed, else 0), and a row
/// a REPLACE replaces counts for its delete and its insert. Rows changed by triggers or
/// foreign key actions are not counted. Without the row counts (a leader of an older
/// version), SQLite's count of the rows the statement changed or matched.
fn affected_rows(out: &quorate_store::StmtOutput, sql: &str, found_rows: bool) -> (u64, String) {
    let Some(c) = out.counts else {
        return (out.rows_affected, String::new());
    };
    let verb = first_word(sql);
    // The only UPDATE an INSERT makes is its ON DUPLICATE KEY UPDATE.
    let per_update = if verb == "INSERT" { 2 } else { 1 };
    let unchanged = if found_rows { c.unchanged } else { 0 };
    let affected = c.inserted + c.deleted + per_update * c.updated + unchanged;
    let info = if verb == "UPDATE" {
        format!(
            "Rows matched: {}  Changed: {}  Warnings: 0",
            c.updated + c.unchanged,
            c.updated
        )
    } else {
        String::new()
    };
    (affected, info)
}

/// Whether `stmt` was translated from a table's current definition: an ALTER TABLE that
/// edits it (quorate_sql's redefine.rs), which must not be run from an old translation.
fn reads_definition(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Sql { sqlite, .. }
        if sqlite.iter().any(|s| s.starts_with("ALTER TABLE ") && s.contains(" REDEFINE FROM '")))
}

/// The first word of an SQLite statement, upper-cased.
fn first_word(sql: &str) -> String {
    sql.trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// The privileges a translated statement needs on each table it touches.
fn needed(kind: quorate_sql::StatementKind, sqlite: &str) -> u32 {
    use quorate_sql::StatementKind as K;
    match kind {
        K::Read => accounts::SELECT,
        K::Write => {
            let upper = sqlite.trim_start();
            let head: String = upper
                .chars()
                .take(24)
                .collect::<String>()
                .to_ascii_uppercase();
            let mut need = match first_word(sqlite).as_str() {
                "INSERT" if head.starts_with("INSERT OR REPLACE") => {
                    accounts::INSERT | accounts::DELETE
                }
                "INSERT" => accounts::INSERT,
                "REPLACE" => accounts::INSERT | accounts::DELETE,
                "UPDATE" => accounts::UPDATE,
                "DELETE" => accounts::DELETE,
                _ => accounts::INSERT | accounts::UPDATE | accounts::DELETE,
            };
            if sqlite.contains("ON CONFLICT") && sqlite.contains("DO UPDATE") {
                need |= accounts::UPDATE;
            }
            need
        }
        K::Ddl => {
            let words: Vec<String> = sqlite
                .split_whitespace()
                .take(3)
                .map(|w| w.to_ascii_uppercase())
                .collect();
            let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
            match w(0) {
                "CREATE" if w(1) == "INDEX" || w(2) == "INDEX" => accounts::INDEX,
                "CREATE" if w(1) == "VIEW" => accounts::CREATE_VIEW,
                "CREATE" => accounts::CREATE,
                // TRUNCATE, as in MySQL.
                "DROP" | "DELETE" => accounts::DROP,
                _ => accounts::ALTER,
            }
        }
    }
}

impl Conn {
    pub(crate) fn new(shared: Arc<Shared>) -> Conn {
        let session = shared.node.session();
        let mut c = Conn {
            session,
            id: 0,
            peer: None,
            account: None,
            connected: false,
            db: None,
            autocommit: true,
            tx_wrote: false,
            tx_checked: false,
            tx_read_only: false,
            read_tx: None,
            upgraded_from: None,
            last_tx_wrote: true,
            locking_read: false,
            vars: BTreeMap::new(),
            user_vars: BTreeMap::new(),
            last_insert_id: 0,
            found_rows: false,
            context: Vec::new(),
            context_stale: true,
            cache: ShapeCache::default(),
            cache_gen: shared.schema_gen.load(Ordering::SeqCst),
            prepared: HashMap::new(),
            privileges: Privileges::default(),
            privileges_gen: 0,
            privileges_at: Instant::now(),
            pending: None,
            last_error: None,
            kill: Arc::new(KillSwitch::default()),
            draining: shared.draining.subscribe(),
            max_execution_time: None,
            activity: Arc::new(Mutex::new(Activity {
                db: None,
                command: "Sleep",
                since: Instant::now(),
                info: Vec::new(),
            })),
            socket: None,
            shared,
        };
        c.reset_variables();
        c
    }

    /// The variables every session of this node starts with besides the defaults.
    fn reset_variables(&mut self) {
        let cfg = self.shared.node.config();
        self.vars.clear();
        self.user_vars.clear();
        let node_vars = [
            ("hostname", Value::Text(format!("quorate-n{}", cfg.node_id))),
            ("server_id", Value::Integer(cfg.node_id as i64)),
            ("port", Value::Integer(i64::from(self.shared.port))),
            (
                "default_authentication_plugin",
                Value::Text(self.shared.auth_plugin.name().into()),
            ),
            (
                "max_connections",
                Value::Integer(self.shared.max_connections as i64),
            ),
            (
                "max_allowed_packet",
                Value::Integer(self.shared.max_allowed_packet as i64),
            ),
            (
                "quorate_read_consistency",
                Value::Text("linearizable".into()),
            ),
            (
                "quorate_max_staleness_ms",
                Value::Integer(self.session.options.max_staleness_ms as i64),
            ),
            ("wsrep_on", Value::Text("ON".into())),
            ("wsrep_node_name", Value::Text(format!("n{}", cfg.node_id))),
        ];
        for (k, v) in node_vars {
            self.vars.insert(k.to_string(), v);
        }
        self.session.options = quorate_node::SessionOptions::default();
        self.autocommit = true;
        self.max_execution_time = None;
        self.context_stale = true;
    }

    fn user(&self) -> &str {
        self.account.as_ref().map_or("", |a| a.user.as_str())
    }

    fn client_host(&self) -> String {
        self.peer
            .map_or_else(|| "localhost".to_string(), |p| p.ip().to_string())
    }

    /// The encoded context for the next statement.
    fn context(&mut self) -> &[u8] {
        // Reloads the privileges when grants changed, which marks the context stale.
        self.privileges();
        if self.context_stale {
            let ctx = SessionContext {
                visible_databases: self.privileges.visible_databases(),
                connection_id: self.id,
                user: format!("{}@{}", self.user(), self.client_host()),
                last_insert_id: self.last_insert_id,
                variables: self
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), CtxValue::from(v)))
                    .collect(),
                user_variables: self
                    .user_vars
                    .iter()
                    .map(|(k, v)| (k.clone(), CtxValue::from(v)))
                    .collect(),
            };
            self.context = ctx.encode(self.shared.node.id());
            self.context_stale = false;
        }
        &self.context
    }

    /// The session's variables, for SHOW VARIABLES.
    fn session_values(&self) -> SessionValues {
        let mut v = SessionValues {
            visible_databases: None,
            last_insert_id: self.last_insert_id,
            user: format!("{}@{}", self.user(), self.client_host()),
            connection_id: u64::from(self.id),
            variables: default_variables().clone(),
            user_variables: self
                .user_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        for (k, val) in &self.vars {
            v.variables.insert(k.clone(), val.clone());
        }
        v
    }

    fn privileges(&mut self) -> &Privileges {
        let gen_now = self.shared.grants_gen.load(Ordering::SeqCst);
        if gen_now != self.privileges_gen || self.privileges_at.elapsed() > PRIVILEGES_TTL {
            if let Some(a) = &self.account {
                let store = self.shared.node.store();
                self.privileges = Privileges::load(store, &a.user, &a.host);
                let is_config_admin = self
                    .shared
                    .config_admin
                    .as_ref()
                    .is_some_and(|(admin, _)| *admin == a.user);
                if is_config_admin && !accounts::catalog_state(store).1 {
                    // Logged in before the catalog arrived (see `auth_lookup`).
                    self.privileges.global = accounts::ALL;
                    self.privileges.global_grant = true;
                }
            }
            self.privileges_gen = gen_now;
            self.privileges_at = Instant::now();
            self.context_stale = true;
        }
        &self.privileges
    }

    /// Keeps what a statement gave `LAST_INSERT_ID(expr)` as the session's last insert id.
    fn keep_last_insert_id_set(&mut self, out: &quorate_store::StmtOutput) {
        if let Some(set) = out.last_insert_id_set {
            self.set_last_insert_id(set);
        }
    }

    fn set_last_insert_id(&mut self, id: i64) {
        if self.last_insert_id != id {
            self.last_insert_id = id;
            self.context_stale = true;
        }
    }

    fn registry_update(&self, command: &'static str, info: Option<&[u8]>) {
        let mut a = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        a.command = command;
        a.since = Instant::now();
        if let Some(i) = info {
            a.info.clear();
            a.info
                .extend_from_slice(&i[..i.len().min(PROCESSLIST_INFO_MAX)]);
        }
        if a.db != self.db {
            a.db.clone_from(&self.db);
        }
    }

    fn store(&self) -> &Store {
        self.shared.node.store()
    }

    // ----- translation -----

    fn check_schema_gen(&mut self) {
        let g = self.shared.schema_gen.load(Ordering::SeqCst);
        if g != self.cache_gen {
            self.cache.clear();
            self.cache_gen = g;
        }
    }

    fn translate(&mut self, sql: &[u8], cached: bool) -> Result<Vec<Statement>, SqlError> {
        self.check_schema_gen();
        let catalog = StoreCatalog {
            store: self.shared.node.store(),
        };
        let ctx = Context {
            current_db: self.db.as_deref(),
            catalog: Some(&catalog),
        };
        match std::str::from_utf8(sql) {
            Ok(text) if cached => self.cache.translate(text, &ctx),
            _ => quorate_sql::translate_bytes(sql, &ctx),
        }
    }

    /// A text statement of a cached shape, with its literals as parameters (see
    /// `ShapeCache::translate_bound`); `None` for anything else.
    fn translate_bound(&mut self, sql: &[u8]) -> Option<(Statement, Vec<Value>)> {
        let text = std::str::from_utf8(sql).ok()?;
        self.check_schema_gen();
        let catalog = StoreCatalog {
            store: self.shared.node.store(),
        };
        let ctx = Context {
            current_db: self.db.as_deref(),
            catalog: Some(&catalog),
        };
        let b = self.cache.translate_bound(text, &ctx)?;
        if b.params != 0 {
            // Placeholders in a text query have no values: let the ordinary path say so.
            return None;
        }
        let stmt = Statement::Sql {
            sqlite: vec![b.sqlite],
            kind: b.kind,
            params: b.literals.len(),
            tables: b.tables,
        };
        Some((stmt, b.literals))
    }

    // ----- running statements -----

    /// Runs one translated statement.
    async fn run(&mut self, stmt: &Statement, params: Vec<Value>) -> QueryResult {
        if let Some(e) = self.pending.take() {
            return match stmt {
                Statement::Rollback => ok(),
                _ => QueryResult::Err(e),
            };
        }
        // The time limit of an earlier statement is spent.
        self.kill.timed_out.store(false, Ordering::SeqCst);
        self.kill.statement.fetch_add(1, Ordering::SeqCst);
        let timer = match (self.max_execution_time, stmt) {
            // MySQL limits read-only SELECTs only.
            (
                Some(limit),
                Statement::Sql {
                    kind: quorate_sql::StatementKind::Read,
                    ..
                },
            ) => Some(crate::statement_timer::start(
                limit,
                self.shared.node.clone(),
                self.id,
                self.kill.clone(),
            )),
            _ => None,
        };
        let mut result = self.run_inner(stmt, params).await;
        drop(timer);
        if let QueryResult::Err(e) = &mut result {
            self.explain_interrupt(e);
            self.last_error = Some(e.clone());
        }
        result
    }

    /// An interrupted statement (1317) that its time limit stopped gets MySQL's 3024.
    fn explain_interrupt(&self, e: &mut ErrInfo) {
        if e.code != 1317 || !self.kill.timed_out.load(Ordering::SeqCst) {
            return;
        }
        let rest = e
            .message
            .strip_prefix("Query execution was interrupted")
            .unwrap_or("");
        *e = err(
            3024,
            b"HY000",
            format!(
                "Query execution was interrupted, maximum statement execution time exceeded{rest}"
            ),
        );
    }

    async fn run_inner(&mut self, stmt: &Statement, params: Vec<Value>) -> QueryResult {
        match stmt {
            Statement::Sql {
                sqlite,
                kind,
                tables,
                ..
            } => self.run_sql(sqlite, *kind, tables, params).await,
            Statement::Use(db) => match self.use_db(db).await {
                Ok(()) => ok(),
                Err(e) => QueryResult::Err(e),
            },
            Statement::CreateDatabase {
                name,
                if_not_exists,
            } => self.create_database(name, *if_not_exists).await,
            Statement::DropDatabase { name, if_exists } => {
                self.drop_database(name, *if_exists).await
            }
            Statement::Begin { read_only } => match self.begin_tx(*read_only).await {
                Ok(()) => ok(),
                Err(e) => QueryResult::Err(e),
            },
            Statement::Commit => self.commit().await,
            Statement::Rollback => {
                self.rollback().await;
                ok()
            }
            Statement::Savepoint(name) => {
                if !self.session.in_transaction() {
                    // Outside a transaction MySQL accepts it and there is nothing to mark;
                    // a transaction that has only read has nothing to roll back to.
                    return ok();
                }
                match self.session.savepoint(name).await {
                    Ok(()) => ok(),
                    Err(e) => QueryResult::Err(from_node(&e, None)),
                }
            }
            Statement::ReleaseSavepoint(name) | Statement::RollbackToSavepoint(name) => {
                if self.read_tx.is_some() {
                    return ok();
                }
                if !self.session.in_transaction() {
                    return QueryResult::Err(err(
                        1305,
                        b"42000",
                        format!("SAVEPOINT {name} does not exist"),
                    ));
                }
                let r = if matches!(stmt, Statement::ReleaseSavepoint(_)) {
                    self.session.release_savepoint(name).await
                } else {
                    self.session.rollback_to_savepoint(name).await
                };
                match r {
                    Ok(()) => ok(),
                    Err(e) => QueryResult::Err(from_node(&e, None)),
                }
            }
            Statement::Set(vars) => self.set(vars).await,
            Statement::Show(show) => self.show(show).await,
            Statement::CreateUser {
                users,
                if_not_exists,
            } => self.create_user(users, *if_not_exists).await,
            Statement::DropUser { users, if_exists } => self.drop_user(users, *if_exists).await,
            Statement::AlterUser { users, if_exists } => self.alter_user(users, *if_exists).await,
            Statement::Grant {
                privileges,
                on,
                to,
                with_grant_option,
            } => self.grant(privileges, on, to, *with_grant_option).await,
            Statement::Revoke {
                privileges,
                on,
                from,
            } => self.revoke(privileges, on, from).await,
            Statement::NoOp { .. } => ok(),
            Statement::Kill { id, query_only } => self.kill(*id, *query_only).await,
        }
    }

    /// Checks the account's privileges for a translated statement.
    fn authorize(
        &mut self,
        kind: quorate_sql::StatementKind,
        sqlite: &[String],
        tables: &[String],
    ) -> Result<(), ErrInfo> {
        if tables.is_empty() {
            return Ok(());
        }
        // A schema statement may begin with a check (`SELECT`, see quorate_sql's
        // `referenced_guard`): the statement that needs the privilege follows it.
        let first = sqlite
            .iter()
            .map(String::as_str)
            .find(|s| kind != quorate_sql::StatementKind::Ddl || first_word(s) != "SELECT")
            .unwrap_or("");
        let need = needed(kind, first);
        let privs = self.privileges();
        for t in tables {
            let (db, table) = quorate_sql::names::split_sqlite_name(t).unwrap_or(("", t));
            if !privs.allows(db, need) {
                let missing = (0..32)
                    .map(|b| 1u32 << b)
                    .find(|b| need & b != 0 && !privs.allows(db, *b))
                    .unwrap_or(need);
                let (user, host) = (self.user(), self.client_host());
                return Err(err(
                    1142,
                    b"42000",
                    format!(
                        "{} command denied to user '{user}'@'{host}' for table '{table}'",
                        accounts::name_of(missing)
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn run_sql(
        &mut self,
        sqlite: &[String],
        kind: quorate_sql::StatementKind,
        tables: &[String],
        params: Vec<Value>,
    ) -> QueryResult {
        use quorate_sql::StatementKind as K;
        if let Err(e) = self.authorize(kind, sqlite, tables) {
            return QueryResult::Err(e);
        }
        if kind == K::Ddl {
            return self.run_ddl(sqlite, params).await;
        }
        if !self.autocommit
            && !self.in_tx()
            && let Err(e) = self.begin_tx(false).await
        {
            return QueryResult::Err(e);
        }
        if self.read_tx.is_some() {
            if kind == K::Read && sqlite.len() == 1 && (!self.locking_read || self.tx_read_only) {
                return self.read_in_snapshot(&sqlite[0], params).await;
            }
            if self.tx_read_only && kind != K::Read {
                return QueryResult::Err(read_only_tx());
            }
            if let Err(e) = self.leave_read_mode().await {
                return QueryResult::Err(e);
            }
        }
        if kind == K::Write && self.tx_read_only && self.in_tx() {
            return QueryResult::Err(read_only_tx());
        }
        let in_tx = self.session.in_transaction();
        let node_kind = if kind == K::Read {
            StatementKind::Read
        } else {
            StatementKind::Write
        };
        // information_schema reads the schema (sqlite_schema, quorate's catalog tables):
        // at the session's consistency like any table, so that a follower's client sees the
        // table it just changed.
        if kind == K::Read
            && !in_tx
            && tables.is_empty()
            && sqlite.len() == 1
            && !sqlite[0].contains("sqlite_schema")
            && !sqlite[0].contains("_quorate_")
        {
            return self.local_read(&sqlite[0], params);
        }
        // Fail at once (within a second) without quorum, rather than at COMMIT: writes,
        // and the first statement of a transaction.
        if (kind == K::Write || (in_tx && !self.tx_checked))
            && let Err(e) = self.wait_writable().await
        {
            return QueryResult::Err(e);
        }
        if in_tx {
            self.tx_checked = true;
            self.tx_wrote |= kind == K::Write;
        }
        if sqlite.len() == 1 || in_tx {
            let mut params = params;
            let mut last = ok();
            for (i, s) in sqlite.iter().enumerate() {
                let p = if i + 1 == sqlite.len() {
                    std::mem::take(&mut params)
                } else {
                    params.clone()
                };
                last = self.run_one(s, p, node_kind, tables).await;
                if matches!(last, QueryResult::Err(_)) {
                    break;
                }
            }
            if let Some(snapshot) = self.upgraded_from.take()
                && let Err(e) = self.check_upgrade(snapshot).await
            {
                return QueryResult::Err(e);
            }
            return last;
        }
        // Several SQLite statements for one MySQL statement: one transaction.
        self.run_atomically(sqlite, params, node_kind, tables).await
    }

    /// Runs `sqlite` (several statements) as one transaction of their own.
    async fn run_atomically(
        &mut self,
        sqlite: &[String],
        params: Vec<Value>,
        kind: StatementKind,
        tables: &[String],
    ) -> QueryResult {
        if let Err(e) = self.session.begin().await {
            return QueryResult::Err(from_node(&e, None));
        }
        let mut last = ok();
        for s in sqlite {
            last = self.run_one(s, params.clone(), kind, tables).await;
            if matches!(last, QueryResult::Err(_)) {
                self.session.rollback().await;
                return last;
            }
        }
        match self.session.commit().await {
            Ok(_) => last,
            Err(e) => QueryResult::Err(from_node(&e, None)),
        }
    }

    /// Runs one SQLite statement through the node session.
    async fn run_one(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        kind: StatementKind,
        tables: &[String],
    ) -> QueryResult {
        self.context();
        let r = self
            .session
            .execute_with(sql, params, kind, &self.context)
            .await;
        match r {
            Ok(out) if out.is_query => {
                self.keep_last_insert_id_set(&out);
                values::result_set(out)
            }
            Ok(out) => {
                let mut id = 0;
                if kind == StatementKind::Write
                    && out.rows_affected > 0
                    && matches!(first_word(sql).as_str(), "INSERT" | "REPLACE")
                    && tables.first().is_some_and(|t| self.has_auto_increment(t))
                {
                    id = out.last_insert_rowid;
                    if id > 0 && first_word(sql) == "INSERT" && !sql.contains("ON CONFLICT") {
                        id -= out.rows_affected as i64 - 1;
                    }
                    // 0: no row was inserted (an ON DUPLICATE KEY UPDATE that updated); the
                    // session's LAST_INSERT_ID() stays what it was.
                    if id > 0 {
                        self.set_last_insert_id(id);
                    }
                }
                // `LAST_INSERT_ID(expr)` in the statement: MySQL reports expr as the
                // statement's insert id and keeps it for the session.
                if let Some(set) = out.last_insert_id_set {
                    id = set;
                    self.set_last_insert_id(set);
                }
                let (affected_rows, info) = affected_rows(&out, sql, self.found_rows);
                QueryResult::Ok(OkInfo {
                    affected_rows,
                    last_insert_id: id.max(0) as u64,
                    info,
                    ..OkInfo::default()
                })
            }
            Err(e) => {
                if e.ends_transaction() {
                    self.tx_wrote = false;
                    self.tx_checked = false;
                }
                let mut info = from_node(&e, Some(sql));
                if info.code == 1452
                    && first_word(sql) == "UPDATE"
                    && tables.first().is_some_and(|t| self.has_no_foreign_keys(t))
                {
                    // A table without foreign keys of its own fails one only as a parent:
                    // the UPDATE changed a key that rows of another table reference.
                    info = err(
                        1451,
                        b"23000",
                        "Cannot delete or update a parent row: a foreign key constraint fails",
                    );
                }
                QueryResult::Err(info)
            }
        }
    }

    /// True when the table `table` (SQLite name) declares no foreign key.
    fn has_no_foreign_keys(&self, table: &str) -> bool {
        self.store()
            .with_read_connection(|c| quorate_sql::table_info(c, table).ok().flatten())
            .ok()
            .flatten()
            .is_some_and(|t| t.foreign_keys.is_empty())
    }

    fn has_auto_increment(&self, table: &str) -> bool {
        if let Some(b) = self
            .shared
            .auto_increment
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
        {
            return *b;
        }
        let b = self
            .store()
            .with_read_connection(|c| quorate_sql::table_info(c, table).ok().flatten())
            .ok()
            .flatten()
            .is_some_and(|t| t.columns.iter().any(|c| c.auto_increment));
        self.shared
            .auto_increment
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), b);
        b
    }

    /// A read that touches no table: any node answers it from its own connection.
    fn local_read(&mut self, sql: &str, params: Vec<Value>) -> QueryResult {
        self.context();
        match self
            .shared
            .node
            .store()
            .query_with(sql, &params, &self.context)
        {
            Ok((out, _)) => {
                self.keep_last_insert_id_set(&out);
                values::result_set(out)
            }
            Err(e) => QueryResult::Err(from_node(&e.into(), Some(sql))),
        }
    }

    /// Waits (briefly) until this node sees a leader serving writes; else "no quorum".
    ///
    /// The wait rides over an election; it is counted from when the node was first seen
    /// not serving, so during a lasting outage every statement fails at once.
    async fn wait_writable(&mut self) -> Result<(), ErrInfo> {
        let node = self.shared.node.clone();
        let (ok, _) = node.writable();
        if ok {
            *self
                .shared
                .unwritable_since
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
            return Ok(());
        }
        let wait =
            Duration::from_millis(node.config().timeouts.no_quorum_fail_ms).min(WRITABLE_WAIT_MAX);
        let since = *self
            .shared
            .unwritable_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(Instant::now);
        let deadline = since + wait;
        loop {
            let (ok, reason) = node.writable();
            if ok {
                *self
                    .shared
                    .unwritable_since
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let reason = reason.unwrap_or_else(|| "no leader".into());
                let reason = if reason.starts_with("no quorum") {
                    reason
                } else {
                    format!("no quorum: {reason}")
                };
                return Err(err(
                    errors::ER_NOT_READY,
                    b"08S01",
                    format!("Node is not ready for application use: {reason}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs the statements of `sql` one by one, each translated just before it runs; stops
    /// at the first that fails.
    async fn query_each(&mut self, sql: &[u8]) -> Vec<QueryResult> {
        let texts = match quorate_sql::split_statements(sql) {
            Ok(t) => t,
            Err(e) => return vec![QueryResult::Err(from_sql(&e))],
        };
        let mut results = Vec::with_capacity(texts.len());
        for text in texts {
            if first_word(&text) == "ALTER" {
                self.catch_up().await;
            }
            let r = match self.translate(text.as_bytes(), false) {
                Ok(stmts) => {
                    let mut last = None;
                    for s in &stmts {
                        let r = self.run(s, Vec::new()).await;
                        let failed = matches!(r, QueryResult::Err(_));
                        last = Some(r);
                        if failed {
                            break;
                        }
                    }
                    last.unwrap_or_else(ok)
                }
                Err(e) => {
                    let e = from_sql(&e);
                    self.last_error = Some(e.clone());
                    QueryResult::Err(e)
                }
            };
            let failed = matches!(r, QueryResult::Err(_));
            results.push(r);
            if failed {
                break;
            }
        }
        results
    }

    async fn run_ddl(&mut self, sqlite: &[String], params: Vec<Value>) -> QueryResult {
        if let Err(e) = self.implicit_commit().await {
            return QueryResult::Err(e);
        }
        if let Err(e) = self.wait_writable().await {
            return QueryResult::Err(e);
        }
        let r = if sqlite.len() == 1 {
            self.run_one(&sqlite[0], params, StatementKind::Ddl, &[])
                .await
        } else {
            self.run_atomically(sqlite, params, StatementKind::Ddl, &[])
                .await
        };
        // A TRUNCATE (its check and its DELETEs) leaves the schema as it was: the sessions'
        // translations stay valid.
        if !sqlite
            .iter()
            .all(|s| matches!(first_word(s).as_str(), "SELECT" | "DELETE"))
        {
            self.shared.schema_changed();
        }
        match r {
            QueryResult::Ok(_) => ok(),
            other => other,
        }
    }

    /// MySQL commits the open transaction before DDL and similar statements.
    async fn implicit_commit(&mut self) -> Result<(), ErrInfo> {
        if self.in_tx()
            && let QueryResult::Err(e) = self.commit().await
        {
            return Err(e);
        }
        Ok(())
    }

    async fn commit(&mut self) -> QueryResult {
        self.tx_read_only = false;
        if let Some(ro) = self.read_tx.take() {
            // Its reads were answered from one committed snapshot, confirmed linearizable
            // when it was taken: nothing is left to do.
            if let Some(tx) = ro {
                tx.finish();
            }
            self.last_tx_wrote = false;
            return ok();
        }
        if !self.session.in_transaction() {
            return ok();
        }
        self.last_tx_wrote = self.tx_wrote;
        if self.tx_wrote
            && let Err(e) = self.wait_writable().await
        {
            // Not proposed yet: failing it now is definite (nothing was applied).
            self.session.rollback().await;
            self.tx_wrote = false;
            self.tx_checked = false;
            return QueryResult::Err(e);
        }
        self.tx_wrote = false;
        self.tx_checked = false;
        match self.session.commit().await {
            Ok(_) => ok(),
            Err(e) => QueryResult::Err(from_node(&e, None)),
        }
    }

    /// The client's transaction is open (in read mode, or in the node session).
    fn in_tx(&self) -> bool {
        self.read_tx.is_some() || self.session.in_transaction()
    }

    /// BEGIN / START TRANSACTION [READ ONLY], and the implicit start under autocommit=0.
    ///
    /// A transaction starts in read mode, on a snapshot of this node without taking the
    /// writer, when this node leads, the session reads linearizably, and the transaction
    /// is declared READ ONLY or the connection's previous transaction wrote nothing. Its
    /// first write leaves read mode (see `leave_read_mode`).
    async fn begin_tx(&mut self, read_only: bool) -> Result<(), ErrInfo> {
        self.implicit_commit().await?;
        self.tx_wrote = false;
        self.tx_checked = false;
        self.tx_read_only = read_only;
        let node = &self.shared.node;
        if (read_only || !self.last_tx_wrote)
            && self.session.options.read_consistency == Consistency::Linearizable
            && node.raft().is_leader()
        {
            self.read_tx = Some(None);
            return Ok(());
        }
        self.session.begin().await.map_err(|e| from_node(&e, None))
    }

    async fn rollback(&mut self) {
        if let Some(snapshot) = self.read_tx.take() {
            if let Some(tx) = snapshot {
                tx.finish();
            }
            self.last_tx_wrote = false;
        }
        if self.session.in_transaction() {
            self.last_tx_wrote = self.tx_wrote;
        }
        self.session.rollback().await;
        self.tx_wrote = false;
        self.tx_checked = false;
        self.tx_read_only = false;
    }

    /// A read of a transaction in read mode: on its snapshot, taken at its first read.
    async fn read_in_snapshot(&mut self, sql: &str, params: Vec<Value>) -> QueryResult {
        let node = self.shared.node.clone();
        if matches!(self.read_tx, Some(None)) {
            match node.confirm_linearizable_point().await {
                Ok(()) => {}
                Err(e) if e.code == quorate_node::error::ErrorCode::NotLeader => {
                    // Leadership moved before the first read: run on the leader instead.
                    self.read_tx = None;
                    if let Err(e) = self.session.begin().await {
                        return QueryResult::Err(from_node(&e, None));
                    }
                    return self.run_one(sql, params, StatementKind::Read, &[]).await;
                }
                Err(e) => return QueryResult::Err(from_node(&e, None)),
            }
            match node.store().begin_read() {
                Ok(tx) => self.read_tx = Some(Some(tx)),
                Err(e) => return QueryResult::Err(from_node(&e.into(), None)),
            }
        }
        self.context();
        let Some(Some(tx)) = self.read_tx.as_mut() else {
            return QueryResult::Err(err(1105, b"HY000", "read transaction missing"));
        };
        let (out, seen) = match tx.query_with(sql, &params, &self.context) {
            Ok(r) => r,
            Err(e) => return QueryResult::Err(from_node(&e.into(), Some(sql))),
        };
        // Never answer from the leader's speculative transactions before they commit.
        let wait = Duration::from_millis(node.config().timeouts.commit_timeout_ms);
        match tokio::time::timeout(wait, node.store().wait_visible_committed(seen)).await {
            Ok(Ok(())) => values::result_set(out),
            Ok(Err(e)) => {
                self.rollback().await;
                QueryResult::Err(from_node(&e.into(), Some(sql)))
            }
            Err(_) => QueryResult::Err(err(
                errors::ER_NOT_READY,
                b"08S01",
                "Node is not ready for application use: the transactions this read saw did not \
                 commit in time (no quorum?)",
            )),
        }
    }

    /// The first write of a transaction in read mode: the transaction continues on the
    /// writer. Its reads stay valid only if nothing committed since its snapshot; that is
    /// checked once the write holds the writer (`check_upgrade`).
    async fn leave_read_mode(&mut self) -> Result<(), ErrInfo> {
        let Some(snapshot) = self.read_tx.take() else {
            return Ok(());
        };
        self.session
            .begin()
            .await
            .map_err(|e| from_node(&e, None))?;
        self.upgraded_from = snapshot;
        Ok(())
    }

    /// After the first write of a transaction that began in read mode: keep it only if it
    /// runs on this node's writer and nothing committed since its read snapshot (then its
    /// reads and writes are one serializable transaction); else roll back with 1213.
    async fn check_upgrade(&mut self, snapshot: quorate_store::ReadTx) -> Result<(), ErrInfo> {
        self.last_tx_wrote = true;
        if !self.session.in_transaction() {
            // The write failed and ended the transaction (for example a leader change).
            snapshot.finish();
            return Ok(());
        }
        let unchanged =
            self.session.runs_locally() && snapshot.unchanged_since_start().unwrap_or(false);
        if unchanged {
            return Ok(());
        }
        self.rollback().await;
        Err(errors::deadlock(
            "the transaction began with reads on a snapshot and another transaction \
             committed before its first write; it was rolled back",
        ))
    }

    /// Lets this node catch up with the leader before a catalog read (so a follower's
    /// SHOW TABLES sees the table the same client just created through it). Best effort:
    /// without quorum the local state is answered.
    async fn catch_up(&mut self) {
        let node = self.shared.node.clone();
        if node.raft().is_leader() {
            return;
        }
        let req = QueryRequest {
            sql: "SELECT 1".into(),
            params: vec![],
            consistency: Consistency::Linearizable,
            max_staleness_ms: None,
            context: vec![],
        };
        let Ok(Ok(r)) = tokio::time::timeout(CATCH_UP_WAIT, node.query(req)).await else {
            return;
        };
        let mut applied = node.store().watch_applied();
        let _ = tokio::time::timeout(CATCH_UP_WAIT, async {
            loop {
                let idx = applied
                    .borrow_and_update()
                    .as_ref()
                    .map(|l| l.index)
                    .unwrap_or(0);
                if idx >= r.applied_index {
                    return;
                }
                if applied.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    // ----- databases -----

    fn database_exists(&self, db: &str) -> bool {
        self.store()
            .with_read_connection(|c| quorate_sql::databases(c).map(|v| v.iter().any(|d| d == db)))
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
    }

    fn no_db_access(&self, db: &str) -> ErrInfo {
        err(
            1044,
            b"42000",
            format!(
                "Access denied for user '{}'@'{}' to database '{db}'",
                self.user(),
                self.client_host()
            ),
        )
    }

    async fn use_db(&mut self, db: &str) -> Result<(), ErrInfo> {
        if db.eq_ignore_ascii_case(quorate_sql::INFORMATION_SCHEMA) {
            // Read-only, and every account may look at it (as in MySQL).
            self.db = Some(quorate_sql::INFORMATION_SCHEMA.to_string());
            return Ok(());
        }
        if !self.database_exists(db) {
            self.catch_up().await;
            if !self.database_exists(db) {
                return Err(err(1049, b"42000", format!("Unknown database '{db}'")));
            }
        }
        if !self.privileges().any_on(db) {
            return Err(self.no_db_access(db));
        }
        self.db = Some(db.to_string());
        self.check_schema_gen();
        Ok(())
    }

    async fn create_database(&mut self, name: &str, if_not_exists: bool) -> QueryResult {
        if !self.privileges().allows(name, accounts::CREATE) {
            return QueryResult::Err(self.no_db_access(name));
        }
        if let Err(e) = self.implicit_commit().await {
            return QueryResult::Err(e);
        }
        let verb = if if_not_exists {
            "INSERT OR IGNORE"
        } else {
            "INSERT"
        };
        let st = accounts::internal(
            format!("{verb} INTO {} (name) VALUES (?1)", accounts::DATABASES),
            vec![SqlValue::Text(name.into())],
        );
        match self.shared.node.execute_internal(vec![st]).await {
            Ok(n) => ok_rows(n.first().copied().unwrap_or(0)),
            Err(e)
                if e.code == quorate_node::error::ErrorCode::SqlError
                    && e.message.contains("UNIQUE") =>
            {
                QueryResult::Err(err(
                    1007,
                    b"HY000",
                    format!("Can't create database '{name}'; database exists"),
                ))
            }
            Err(e) => QueryResult::Err(from_node(&e, None)),
        }
    }

    async fn drop_database(&mut self, name: &str, if_exists: bool) -> QueryResult {
        if !self.privileges().allows(name, accounts::DROP) {
            return QueryResult::Err(self.no_db_access(name));
        }
        if let Err(e) = self.implicit_commit().await {
            return QueryResult::Err(e);
        }
        self.catch_up().await;
        if !self.database_exists(name) {
            if if_exists {
                return ok();
            }
            return QueryResult::Err(err(
                1008,
                b"HY000",
                format!("Can't drop database '{name}'; database doesn't exist"),
            ));
        }
        let drops = match self
            .store()
            .with_read_connection(|c| quorate_sql::drop_database_sql(c, name))
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return QueryResult::Err(from_sql(&e)),
            Err(e) => return QueryResult::Err(from_node(&e.into(), None)),
        };
        let tables = drops.iter().filter(|s| s.starts_with("DROP ")).count() as u64;
        let mut statements: Vec<_> = drops
            .into_iter()
            .map(|s| accounts::internal(s, vec![]))
            .collect();
        statements.push(accounts::internal(
            format!("DELETE FROM {} WHERE name = ?1", accounts::DATABASES),
            vec![SqlValue::Text(name.into())],
        ));
        let r = self.shared.node.execute_internal(statements).await;
        self.shared.schema_changed();
        match r {
            Ok(_) => {
                if self.db.as_deref() == Some(name) {
                    self.db = None;
                }
                ok_rows(tables)
            }
            Err(e) => QueryResult::Err(from_node(&e, None)),
        }
    }

    // ----- SET -----

    async fn eval(&mut self, sqlite_expr: &str) -> Result<Value, ErrInfo> {
        let sql = format!("SELECT {sqlite_expr}");
        let r = if sqlite_expr.to_ascii_uppercase().contains("SELECT") {
            // A subquery may read tables: the session's read path.
            self.context();
            self.session
                .execute_with(&sql, vec![], StatementKind::Read, &self.context)
                .await
                .map_err(|e| from_node(&e, Some(&sql)))
        } else {
            self.context();
            self.shared
                .node
                .store()
                .query_with(&sql, &[], &self.context)
                .map(|(out, _)| out)
                .map_err(|e| from_node(&e.into(), Some(&sql)))
        };
        let out = r?;
        self.keep_last_insert_id_set(&out);
        Ok(out
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Value::Null))
    }

    async fn set(&mut self, vars: &[SetVar]) -> QueryResult {
        for v in vars {
            let value = match &v.value {
                SetValue::Value(x) => Some(x.clone()),
                SetValue::Default => None,
                SetValue::Expr { sqlite } => match self.eval(sqlite).await {
                    Ok(x) => Some(x),
                    Err(e) => return QueryResult::Err(e),
                },
            };
            let r = if v.scope == VarScope::User {
                self.user_vars
                    .insert(v.name.clone(), value.unwrap_or(Value::Null));
                Ok(())
            } else {
                self.set_system(&v.name, value).await
            };
            self.context_stale = true;
            if let Err(e) = r {
                return QueryResult::Err(e);
            }
        }
        ok()
    }

    /// Assigns a session system variable (`None`: back to its default).
    async fn set_system(&mut self, name: &str, value: Option<Value>) -> Result<(), ErrInfo> {
        let opts = &mut self.session.options;
        match name {
            "autocommit" => {
                let on = match &value {
                    None => true,
                    Some(v) => truthy(v).ok_or_else(|| wrong_value(name, v))?,
                };
                if on && !self.autocommit {
                    // Turning autocommit on commits the open transaction.
                    self.implicit_commit().await?;
                }
                self.autocommit = on;
                self.vars.insert(name.into(), Value::Integer(i64::from(on)));
                return Ok(());
            }
            "foreign_key_checks" => {
                let on = match &value {
                    None => true,
                    Some(v) => truthy(v).ok_or_else(|| wrong_value(name, v))?,
                };
                opts.foreign_keys = on;
                self.vars.insert(name.into(), Value::Integer(i64::from(on)));
                return Ok(());
            }
            "quorate_read_consistency" => {
                let level = match &value {
                    None => Consistency::Linearizable,
                    Some(v) => match value_text(v).to_ascii_lowercase().as_str() {
                        "linearizable" => Consistency::Linearizable,
                        "bounded" => Consistency::Bounded,
                        "stale" => Consistency::Stale,
                        _ => return Err(wrong_value(name, v)),
                    },
                };
                opts.read_consistency = level;
                self.vars
                    .insert(name.into(), Value::Text(level.to_string()));
                return Ok(());
            }
            "max_execution_time" => {
                let ms = match &value {
                    None => 0,
                    Some(Value::Integer(i)) if *i >= 0 => *i as u64,
                    Some(v) => match value_text(v).parse::<u64>() {
                        Ok(ms) => ms,
                        Err(_) => return Err(wrong_value(name, v)),
                    },
                };
                self.max_execution_time = (ms > 0).then(|| Duration::from_millis(ms));
                self.vars.insert(name.into(), Value::Integer(ms as i64));
                return Ok(());
            }
            "quorate_max_staleness_ms" => {
                let ms = match &value {
                    None => quorate_node::SessionOptions::default().max_staleness_ms,
                    Some(Value::Integer(i)) if *i >= 0 => *i as u64,
                    Some(v) => match value_text(v).parse::<u64>() {
                        Ok(ms) => ms,
                        Err(_) => return Err(wrong_value(name, v)),
                    },
                };
                opts.max_staleness_ms = ms;
                self.vars.insert(name.into(), Value::Integer(ms as i64));
                return Ok(());
            }
            // Transactions are always serializable (one writer runs them one at a time);
            // other levels are accepted and the variable keeps saying the truth.
            "transaction_isolation" | "tx_isolation" => return Ok(()),
            _ => {}
        }
        match value {
            Some(v) => {
                self.vars.insert(name.to_string(), v);
            }
            None => {
                self.vars.remove(name);
            }
        }
        Ok(())
    }

    // ----- SHOW -----

    async fn show(&mut self, show: &Show) -> QueryResult {
        match show {
            Show::Variables { like, .. } => {
                let (columns, rows) =
                    quorate_sql::variables(&self.session_values(), like.as_deref());
                show_result(columns, rows)
            }
            Show::Status { like, .. } => status::show_status(&self.shared, like.as_deref()).await,
            Show::Processlist { full } => {
                let all = self.privileges().allows_global(accounts::PROCESS);
                let user = self.user().to_string();
                status::processlist(&self.shared, &user, all, *full)
            }
            Show::Warnings | Show::Errors => {
                let rows = self
                    .last_error
                    .iter()
                    .map(|e| {
                        vec![
                            text("Error"),
                            WireValue::Int(i64::from(e.code)),
                            text(e.message.clone()),
                        ]
                    })
                    .collect();
                QueryResult::Rows(ResultSet {
                    columns: vec![
                        text_column("Level"),
                        values::bigint_column("Code"),
                        text_column("Message"),
                    ],
                    rows,
                })
            }
            Show::WarningCount | Show::ErrorCount => {
                let n = if matches!(show, Show::ErrorCount) {
                    i64::from(self.last_error.is_some())
                } else {
                    0
                };
                QueryResult::Rows(ResultSet {
                    columns: vec![values::bigint_column("@@session.warning_count")],
                    rows: vec![vec![WireValue::Int(n)]],
                })
            }
            Show::Grants { user } => self.show_grants(user.as_ref()).await,
            other => self.show_catalog(other).await,
        }
    }

    async fn show_grants(&mut self, who: Option<&UserName>) -> QueryResult {
        let me = self.account.clone();
        let (user, host) = match who {
            Some(u) if !u.user.is_empty() => (u.user.clone(), u.host.clone()),
            _ => match &me {
                Some(a) => (a.user.clone(), a.host.clone()),
                None => return ok(),
            },
        };
        let is_me = me
            .as_ref()
            .is_some_and(|a| a.user == user && a.host == host);
        if !is_me && !self.privileges().allows_global(accounts::CREATE_USER) {
            return QueryResult::Err(self.need_privilege("CREATE USER"));
        }
        self.catch_up().await;
        if !accounts::account_exists(self.store(), &user, &host) {
            return QueryResult::Err(err(
                1141,
                b"42000",
                format!("There is no such grant defined for user '{user}' on host '{host}'"),
            ));
        }
        let rows = accounts::show_grants(self.store(), &user, &host)
            .into_iter()
            .map(|g| vec![text(g)])
            .collect();
        QueryResult::Rows(ResultSet {
            columns: vec![text_column(&format!("Grants for {user}@{host}"))],
            rows,
        })
    }

    fn need_privilege(&self, what: &str) -> ErrInfo {
        err(
            1227,
            b"42000",
            format!(
                "Access denied; you need (at least one of) the {what} privilege(s) for this operation"
            ),
        )
    }

    async fn show_catalog(&mut self, show: &Show) -> QueryResult {
        let db_of = match show {
            Show::Tables { db, .. }
            | Show::Columns { db, .. }
            | Show::Index { db, .. }
            | Show::CreateTable { db, .. }
            | Show::TableStatus { db, .. } => Some(db.clone()),
            Show::CreateDatabase { name, .. } => Some(name.clone()),
            _ => None,
        };
        if let Some(db) = &db_of
            && !self.privileges().any_on(db)
        {
            return QueryResult::Err(self.no_db_access(db));
        }
        self.catch_up().await;
        let ctx = Context::with_db(self.db.as_deref());
        let r = self
            .store()
            .with_read_connection(|c| quorate_sql::show(c, show, &ctx));
        match r {
            Ok(Ok((columns, mut rows))) => {
                if matches!(show, Show::Databases { .. }) {
                    let privs = self.privileges().clone();
                    rows.retain(|r| match r.first() {
                        Some(Value::Text(d)) => {
                            d == quorate_sql::INFORMATION_SCHEMA || privs.any_on(d)
                        }
                        _ => true,
                    });
                }
                show_result(columns, rows)
            }
            Ok(Err(e)) => QueryResult::Err(from_sql(&e)),
            Err(e) => QueryResult::Err(from_node(&e.into(), None)),
        }
    }

    // ----- users and grants -----

    /// `'user'@'host'` of a statement, with the current account for an empty name.
    fn resolve_user(&self, u: &UserName) -> (String, String) {
        if u.user.is_empty() {
            let a = self.account.as_ref();
            (
                a.map(|a| a.user.clone()).unwrap_or_default(),
                a.map(|a| a.host.clone()).unwrap_or_else(|| "%".into()),
            )
        } else {
            (u.user.clone(), u.host.clone())
        }
    }

    async fn change_accounts(
        &mut self,
        statements: Vec<quorate_node::InternalStatement>,
        failure: impl Fn() -> ErrInfo,
    ) -> QueryResult {
        if let Err(e) = self.implicit_commit().await {
            return QueryResult::Err(e);
        }
        let r = self.shared.node.execute_internal(statements).await;
        self.shared.grants_gen.fetch_add(1, Ordering::SeqCst);
        match r {
            Ok(_) => ok(),
            Err(e) if e.code == quorate_node::error::ErrorCode::SqlError => {
                QueryResult::Err(failure())
            }
            Err(e) => QueryResult::Err(from_node(&e, None)),
        }
    }

    async fn create_user(&mut self, users: &[UserSpec], if_not_exists: bool) -> QueryResult {
        if !self.privileges().allows_global(accounts::CREATE_USER) {
            return QueryResult::Err(self.need_privilege("CREATE USER"));
        }
        let verb = if if_not_exists {
            "INSERT OR IGNORE"
        } else {
            "INSERT"
        };
        let statements = users
            .iter()
            .map(|u| {
                let plugin = self.plugin_for(u, None)?;
                let hash = accounts::stored_value(&Credential::new(
                    plugin,
                    u.password.as_deref().unwrap_or_default(),
                ));
                Ok(accounts::internal(
                    format!(
                        "{verb} INTO {} (user, host, native_hash) VALUES (?1, ?2, ?3)",
                        accounts::USERS
                    ),
                    vec![
                        SqlValue::Text(u.name.user.clone()),
                        SqlValue::Text(u.name.host.clone()),
                        hash,
                    ],
                ))
            })
            .collect::<Result<Vec<_>, ErrInfo>>();
        let statements = match statements {
            Ok(s) => s,
            Err(e) => return QueryResult::Err(e),
        };
        let names = users
            .iter()
            .map(|u| format!("'{}'@'{}'", u.name.user, u.name.host))
            .collect::<Vec<_>>()
            .join(",");
        self.change_accounts(statements, || {
            err(
                1396,
                b"HY000",
                format!("Operation CREATE USER failed for {names}"),
            )
        })
        .await
    }

    /// Fails with 1396 unless every account exists (after catching up with the leader).
    async fn require_accounts(
        &mut self,
        users: &[(String, String)],
        op: &str,
    ) -> Result<(), ErrInfo> {
        self.catch_up().await;
        let missing: Vec<String> = users
            .iter()
            .filter(|(u, h)| !accounts::account_exists(self.store(), u, h))
            .map(|(u, h)| format!("'{u}'@'{h}'"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(err(
                1396,
                b"HY000",
                format!("Operation {op} failed for {}", missing.join(",")),
            ))
        }
    }

    async fn drop_user(&mut self, users: &[UserName], if_exists: bool) -> QueryResult {
        if !self.privileges().allows_global(accounts::CREATE_USER) {
            return QueryResult::Err(self.need_privilege("CREATE USER"));
        }
        let names: Vec<(String, String)> = users.iter().map(|u| self.resolve_user(u)).collect();
        if !if_exists && let Err(e) = self.require_accounts(&names, "DROP USER").await {
            return QueryResult::Err(e);
        }
        let mut statements = Vec::new();
        for (u, h) in &names {
            for table in [accounts::USERS, accounts::GRANTS] {
                statements.push(accounts::internal(
                    format!("DELETE FROM {table} WHERE user = ?1 AND host = ?2"),
                    vec![SqlValue::Text(u.clone()), SqlValue::Text(h.clone())],
                ));
            }
        }
        self.change_accounts(statements, || {
            err(1396, b"HY000", "Operation DROP USER failed")
        })
        .await
    }

    /// The plugin to store `u`'s password for: the one named by `IDENTIFIED WITH`, else
    /// `current` (ALTER USER keeps an account's plugin), else the configured default.
    fn plugin_for(&self, u: &UserSpec, current: Option<AuthPlugin>) -> Result<AuthPlugin, ErrInfo> {
        match &u.plugin {
            None => Ok(current.unwrap_or(self.shared.auth_plugin)),
            Some(name) => AuthPlugin::parse(name).ok_or_else(|| {
                err(
                    1524,
                    b"HY000",
                    format!(
                        "Plugin '{name}' is not loaded (quorate has mysql_native_password and \
                         caching_sha2_password)"
                    ),
                )
            }),
        }
    }

    async fn alter_user(&mut self, users: &[UserSpec], if_exists: bool) -> QueryResult {
        let me = self.account.clone();
        let mut names = Vec::new();
        let mut statements = Vec::new();
        for u in users {
            let (user, host) = self.resolve_user(&u.name);
            let is_me = me
                .as_ref()
                .is_some_and(|a| a.user == user && a.host == host);
            if !is_me && !self.privileges().allows_global(accounts::CREATE_USER) {
                return QueryResult::Err(self.need_privilege("CREATE USER"));
            }
            let Some(pw) = &u.password else { continue };
            // Without WITH, the account keeps the plugin it has (as in MySQL).
            let current = accounts::stored_plugin(self.shared.node.store(), &user, &host);
            let plugin = match self.plugin_for(u, current) {
                Ok(p) => p,
                Err(e) => return QueryResult::Err(e),
            };
            let hash = accounts::stored_value(&Credential::new(plugin, pw));
            statements.push(accounts::internal(
                format!(
                    "UPDATE {} SET native_hash = ?3 WHERE user = ?1 AND host = ?2",
                    accounts::USERS
                ),
                vec![
                    SqlValue::Text(user.clone()),
                    SqlValue::Text(host.clone()),
                    hash,
                ],
            ));
            names.push((user, host));
        }
        if !if_exists && let Err(e) = self.require_accounts(&names, "ALTER USER").await {
            return QueryResult::Err(e);
        }
        self.change_accounts(statements, || {
            err(1396, b"HY000", "Operation ALTER USER failed")
        })
        .await
    }

    /// The privilege bits and database (`*` for every one) of a GRANT / REVOKE.
    fn grant_scope(
        privileges: &PrivList,
        on: &GrantTarget,
    ) -> Result<(u32, bool, String), ErrInfo> {
        if on.table.is_some() {
            return Err(err(
                1235,
                b"42000",
                "This version of quorate doesn't yet support 'table-level privileges' \
                 (grant on db.* or *.*)",
            ));
        }
        let (bits, grant_option) = match privileges {
            PrivList::All => (accounts::ALL, false),
            PrivList::List(names) => {
                let bits = accounts::bits_of(names)
                    .map_err(|n| err(1064, b"42000", format!("Unknown privilege '{n}'")))?;
                let g = names.iter().any(|n| n.eq_ignore_ascii_case("GRANT OPTION"));
                (bits, g)
            }
        };
        Ok((
            bits,
            grant_option,
            on.db.clone().unwrap_or_else(|| "*".into()),
        ))
    }

    async fn grant(
        &mut self,
        privileges: &PrivList,
        on: &GrantTarget,
        to: &[UserName],
        with_grant_option: bool,
    ) -> QueryResult {
        let (bits, g, db) = match Self::grant_scope(privileges, on) {
            Ok(s) => s,
            Err(e) => return QueryResult::Err(e),
        };
        let target = (db != "*").then_some(db.as_str());
        if !self.privileges().may_grant(target) {
            return QueryResult::Err(match target {
                Some(d) => self.no_db_access(d),
                None => self.need_privilege("GRANT OPTION"),
            });
        }
        let names: Vec<(String, String)> = to.iter().map(|u| self.resolve_user(u)).collect();
        if let Err(e) = self.require_accounts(&names, "GRANT").await {
            return QueryResult::Err(err(
                1410,
                b"42000",
                format!(
                    "You are not allowed to create a user with GRANT ({})",
                    e.message
                ),
            ));
        }
        let grant_option = i64::from(g || with_grant_option);
        let statements = names
            .iter()
            .map(|(u, h)| {
                accounts::internal(
                    format!(
                        "INSERT INTO {} (user, host, db, privs, grant_option) VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (user, host, db) DO UPDATE SET privs = privs | excluded.privs, \
                         grant_option = max(grant_option, excluded.grant_option)",
                        accounts::GRANTS
                    ),
                    vec![
                        SqlValue::Text(u.clone()),
                        SqlValue::Text(h.clone()),
                        SqlValue::Text(db.clone()),
                        SqlValue::Integer(i64::from(bits)),
                        SqlValue::Integer(grant_option),
                    ],
                )
            })
            .collect();
        self.change_accounts(statements, || err(1105, b"HY000", "GRANT failed"))
            .await
    }

    async fn revoke(
        &mut self,
        privileges: &PrivList,
        on: &GrantTarget,
        from: &[UserName],
    ) -> QueryResult {
        let (bits, g, db) = match Self::grant_scope(privileges, on) {
            Ok(s) => s,
            Err(e) => return QueryResult::Err(e),
        };
        let target = (db != "*").then_some(db.as_str());
        if !self.privileges().may_grant(target) {
            return QueryResult::Err(match target {
                Some(d) => self.no_db_access(d),
                None => self.need_privilege("GRANT OPTION"),
            });
        }
        let names: Vec<(String, String)> = from.iter().map(|u| self.resolve_user(u)).collect();
        if let Err(e) = self.require_accounts(&names, "REVOKE").await {
            return QueryResult::Err(e);
        }
        let everything = matches!(privileges, PrivList::All) && db == "*";
        let mut statements = Vec::new();
        for (u, h) in &names {
            let who = vec![SqlValue::Text(u.clone()), SqlValue::Text(h.clone())];
            if everything {
                // REVOKE ALL [PRIVILEGES] [, GRANT OPTION] ON *.*: every level.
                statements.push(accounts::internal(
                    format!(
                        "DELETE FROM {} WHERE user = ?1 AND host = ?2",
                        accounts::GRANTS
                    ),
                    who,
                ));
                continue;
            }
            let mut p = who.clone();
            p.push(SqlValue::Text(db.clone()));
            p.push(SqlValue::Integer(i64::from(bits)));
            p.push(SqlValue::Integer(i64::from(g)));
            statements.push(accounts::internal(
                format!(
                    "UPDATE {} SET privs = privs & ~?4, grant_option = CASE WHEN ?5 THEN 0 ELSE grant_option END \
                     WHERE user = ?1 AND host = ?2 AND db = ?3",
                    accounts::GRANTS
                ),
                p,
            ));
            statements.push(accounts::internal(
                format!(
                    "DELETE FROM {} WHERE user = ?1 AND host = ?2 AND privs = 0 AND grant_option = 0",
                    accounts::GRANTS
                ),
                who,
            ));
        }
        self.change_accounts(statements, || err(1105, b"HY000", "REVOKE failed"))
            .await
    }

    // ----- KILL -----

    /// `KILL [CONNECTION | QUERY] id`: interrupts the statement connection `id` of this
    /// node is running (here, or on the leader it was sent to); without QUERY the
    /// connection is also closed, at once when idle or when that statement ends.
    async fn kill(&mut self, id: u64, query_only: bool) -> QueryResult {
        let may_kill_any = self.privileges().allows_global(accounts::SUPER);
        let switch = {
            let registry = self
                .shared
                .registry
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let Some(target) = u32::try_from(id).ok().and_then(|id| registry.get(&id)) else {
                drop(registry);
                if id > u64::from(u32::MAX) {
                    return self.kill_peer_client(id, query_only, may_kill_any);
                }
                return self.kill_http_request(id, may_kill_any);
            };
            if target.user != self.user() && !may_kill_any {
                return not_owner(id);
            }
            target.kill.clone()
        };
        if id == u64::from(self.id) {
            // This statement is the one running: nothing else to interrupt.
            if !query_only {
                switch.killed.store(true, Ordering::SeqCst);
            }
            return ok();
        }
        if !query_only {
            switch.killed.store(true, Ordering::SeqCst);
            switch.notify.notify_one();
        }
        let n = self.shared.node.interrupt_client(id).await;
        tracing::debug!(connection = id, interrupted = n, query_only, "KILL");
        ok()
    }

    /// `KILL [QUERY] id` of an HTTP request this node handles (SHOW PROCESSLIST lists them):
    /// its statements are interrupted, as by `POST /v1/requests/{id}/cancel`.
    fn kill_http_request(&self, id: u64, may_kill_any: bool) -> QueryResult {
        let Some(http) = self.shared.node.front_end("http") else {
            return unknown_thread(id);
        };
        let Some(request) = http.clients().into_iter().find(|r| r.id == id) else {
            return unknown_thread(id);
        };
        if request.user != self.user() && !may_kill_any {
            return not_owner(id);
        }
        if !http.stop(id) {
            // It ended meanwhile.
            return unknown_thread(id);
        }
        tracing::debug!(request = id, "KILL of an HTTP request");
        ok()
    }

    /// `KILL [QUERY] id` of another node's client's statement running here (SHOW
    /// PROCESSLIST lists them from id 2^32 on): interrupted here, and that node answers its
    /// client as after its own `KILL QUERY`. The connection itself is that node's to close.
    fn kill_peer_client(&self, id: u64, query_only: bool, may_kill_any: bool) -> QueryResult {
        let node = &self.shared.node;
        let Some(client) = node.peer_clients().into_iter().find(|c| c.id == id) else {
            return unknown_thread(id);
        };
        if client.user != self.user() && !may_kill_any {
            return not_owner(id);
        }
        if !query_only {
            let on = client.node.unwrap_or_default();
            return QueryResult::Err(err(
                1235,
                b"42000",
                format!(
                    "thread {id} is a client of node {on}: KILL QUERY {id} stops its statement \
                     here; its connection can be closed only on node {on}"
                ),
            ));
        }
        if !node.stop_peer_client(id) {
            // It ended meanwhile.
            return unknown_thread(id);
        }
        tracing::debug!(id, "KILL QUERY of another node's client's statement");
        ok()
    }

    // ----- prepared statements -----

    /// Result columns of a read, from preparing it on a read connection.
    fn describe(&self, sqlite: &str) -> Result<Vec<Column>, ErrInfo> {
        let r = self.store().with_read_connection(|c| {
            // Prepared afresh: a kept statement describes its tables as they were when it
            // was prepared, until a step prepares it again.
            c.prepare(sqlite).map(|st| {
                st.columns()
                    .map(|col| quorate_store::ColumnInfo {
                        name: col.name().to_string(),
                        decl_type: col.decl_type().map(str::to_string),
                    })
                    .collect::<Vec<_>>()
            })
        });
        match r {
            Ok(Ok(infos)) => Ok(values::columns(&infos, &[], &[])),
            Ok(Err(e)) => Err(errors::from_mysql(quorate_sql::mysql_error_for(&e, sqlite))),
            Err(e) => Err(from_node(&e.into(), Some(sqlite))),
        }
    }

    async fn prepare_statement(
        &mut self,
        sql: &str,
    ) -> Result<(Statement, usize, Vec<Column>), ErrInfo> {
        let mut stmts = self
            .translate(sql.as_bytes(), false)
            .map_err(|e| from_sql(&e))?;
        if stmts.len() != 1 {
            return Err(err(
                1064,
                b"42000",
                "You have an error in your SQL syntax: a prepared statement holds exactly one statement",
            ));
        }
        let stmt = stmts.remove(0);
        let (params, columns) = match &stmt {
            Statement::Sql {
                sqlite,
                kind,
                params,
                ..
            } if sqlite.len() == 1 && *kind != quorate_sql::StatementKind::Ddl => {
                let columns = match self.describe(&sqlite[0]) {
                    Ok(c) => c,
                    Err(e) if e.code == 1146 => {
                        // A follower may not have applied a table created a moment ago.
                        self.catch_up().await;
                        self.describe(&sqlite[0])?
                    }
                    Err(e) => return Err(e),
                };
                (*params, columns)
            }
            Statement::Sql { params, .. } => (*params, vec![]),
            _ => (0, vec![]),
        };
        Ok((stmt, params, columns))
    }
}

impl Backend for Conn {
    fn on_socket(&mut self, socket: std::net::TcpStream) {
        self.socket = Some(ClientSocket::from_std(socket));
    }

    fn on_accept(&mut self, connection_id: u32, peer: Option<SocketAddr>) {
        self.id = connection_id;
        self.session.client = Some(u64::from(connection_id));
        self.peer = peer;
        self.context_stale = true;
    }

    async fn auth_lookup(&mut self, user: &str) -> Result<Option<Credential>, ErrInfo> {
        let ip = self.peer.map(|p| p.ip());
        // A follower may not have applied a user created or changed a moment ago through
        // another node: catch up first (skipped without a serving leader, so that health
        // checks still log in at once during an outage).
        if self.shared.node.writable().0 {
            self.catch_up().await;
        }
        let store = self.shared.node.store();
        let mut account = accounts::find_account(store, user, ip);
        let is_config_admin = self
            .shared
            .config_admin
            .as_ref()
            .is_some_and(|(admin, _)| admin == user);
        if store.is_witness() && !is_config_admin {
            return Err(err(
                1047,
                b"08S01",
                "This node is a witness: it holds no data and no accounts (only the configured \
                 administrator can log in); connect to a data node",
            ));
        }
        if account.is_none() && !store.is_witness() && !accounts::catalog_state(store).1 {
            // A cluster that just formed creates its catalog within moments, and a node
            // catching up receives it: wait for it (bounded) rather than judge without it.
            let deadline = Instant::now() + CATALOG_WAIT;
            while Instant::now() < deadline && !accounts::catalog_state(store).1 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            account = accounts::find_account(store, user, ip);
        }
        if account.is_none() && !accounts::catalog_state(store).1 {
            // No account catalog here yet (this replica is still catching up): the
            // configured administrator may log in, as on the HTTP API; anyone else is told
            // the node is not ready (Galera's code for it), not that the password is wrong.
            match &self.shared.config_admin {
                Some((admin, credential)) if admin == user => {
                    account = Some(Account {
                        user: admin.clone(),
                        host: "%".into(),
                        credential: credential.clone(),
                    });
                }
                _ => {
                    return Err(err(
                        1047,
                        b"08S01",
                        "This node has not received the cluster's accounts yet (it is joining \
                         or catching up), so it cannot check this login; only the configured \
                         administrator can log in here until then. Try another node, or again \
                         shortly",
                    ));
                }
            }
        }
        let credential = account.as_ref().map(|a| a.credential.clone());
        self.account = account;
        Ok(credential)
    }

    /// An account with SUPER may take the session kept beyond `max_connections`, as in
    /// MySQL: an operator can log in to find and end the sessions holding the slots.
    fn administrator(&mut self) -> bool {
        // Loaded for the account that just logged in.
        self.privileges_gen = u64::MAX;
        self.privileges().allows_global(accounts::SUPER)
    }

    async fn on_connect(&mut self, info: &ConnectInfo) -> Result<(), ErrInfo> {
        let ip = self.peer.map(|p| p.ip());
        self.found_rows = info.found_rows;
        if info.reset {
            self.rollback().await;
            self.tx_wrote = false;
            self.tx_checked = false;
            self.prepared.clear();
            self.pending = None;
            self.last_insert_id = 0;
            self.reset_variables();
        } else {
            self.shared.throttle.succeeded(&info.user, ip);
            self.shared.connections.fetch_add(1, Ordering::Relaxed);
        }
        self.privileges_gen = u64::MAX;
        let registered_now = !self.connected;
        if !self.connected {
            self.connected = true;
            self.registry_update("Sleep", None);
            let entry = Registered {
                user: info.user.clone(),
                host: self
                    .peer
                    .map_or_else(|| "localhost".into(), |p| p.to_string()),
                activity: self.activity.clone(),
                kill: self.kill.clone(),
                socket: self.socket.take(),
            };
            self.shared
                .registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(self.id, entry);
        }
        // Registered first, then the check: a drain that started before the registration
        // is seen here, and one that started after it waits for this session (it reads
        // the registry after turning `draining` on).
        let refused = if *self.draining.borrow() {
            Some(shutting_down())
        } else if let Some(db) = &info.database {
            self.use_db(db).await.err()
        } else {
            None
        };
        if let Some(e) = refused {
            if registered_now {
                // `on_disconnect` is not called when `on_connect` fails.
                self.connected = false;
                self.shared
                    .registry
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&self.id);
            }
            return Err(e);
        }
        self.context_stale = true;
        Ok(())
    }

    async fn on_auth_failed(&mut self, user: &str) {
        self.shared.aborted_connects.fetch_add(1, Ordering::Relaxed);
        let delay = self.shared.throttle.failed(user, self.peer.map(|p| p.ip()));
        tracing::debug!(user, peer = ?self.peer, ?delay, "failed MySQL login");
        tokio::time::sleep(delay).await;
    }

    async fn query(&mut self, sql: &str, multi: bool) -> Vec<QueryResult> {
        self.query_bytes(sql.as_bytes(), multi).await
    }

    async fn query_bytes(&mut self, sql: &[u8], multi: bool) -> Vec<QueryResult> {
        self.shared.questions.fetch_add(1, Ordering::Relaxed);
        self.locking_read = self.read_tx.is_some() && is_locking_read(sql);
        self.registry_update("Query", Some(sql));
        // An ALTER TABLE may be translated from the table's current definition (see
        // quorate_sql's redefine.rs): a follower catches up first, the translation is not
        // kept (it holds that definition), and in a text of several statements each is
        // translated just before it runs, after the ones before it changed the schema.
        let mut alter = false;
        if sql.windows(5).any(|w| w.eq_ignore_ascii_case(b"alter"))
            && let Ok(texts) = quorate_sql::split_statements(sql)
        {
            let alters = texts.iter().filter(|t| first_word(t) == "ALTER").count();
            if texts.len() > 1 && multi && alters > 0 {
                let r = self.query_each(sql).await;
                self.registry_update("Sleep", None);
                return r;
            }
            alter = alters > 0;
        }
        // The common case, a statement of a shape seen before: its literals travel as
        // parameters, so SQLite's statement cache (keyed by text) serves it too.
        if !alter && let Some((stmt, params)) = self.translate_bound(sql) {
            let r = self.run(&stmt, params).await;
            self.registry_update("Sleep", None);
            return vec![r];
        }
        if alter {
            self.catch_up().await;
        }
        let results = match self.translate(sql, !alter) {
            Err(e) => {
                let e = from_sql(&e);
                self.last_error = Some(e.clone());
                vec![QueryResult::Err(e)]
            }
            Ok(stmts) if stmts.len() > 1 && !multi => vec![QueryResult::Err(err(
                1064,
                b"42000",
                "You have an error in your SQL syntax: several statements in one query, and \
                 the client did not enable multi-statements",
            ))],
            Ok(stmts) => {
                let mut results = Vec::with_capacity(stmts.len());
                for s in &stmts {
                    let r = self.run(s, Vec::new()).await;
                    let failed = matches!(r, QueryResult::Err(_));
                    results.push(r);
                    if failed {
                        break;
                    }
                }
                results
            }
        };
        self.registry_update("Sleep", None);
        results
    }

    async fn prepare(&mut self, stmt_id: u32, sql: &str) -> Result<PrepareInfo, ErrInfo> {
        let (statement, params, columns) = self.prepare_statement(sql).await?;
        self.prepared.insert(
            stmt_id,
            Prepared {
                sql: sql.to_string(),
                locking: is_locking_read(sql.as_bytes()),
                db: self.db.clone(),
                statement: Arc::new(statement),
                schema_gen: self.shared.schema_gen.load(Ordering::SeqCst),
            },
        );
        let mut p = Column::new("?", ColumnType::VarString);
        p.charset = Column::CHARSET_BINARY;
        Ok(PrepareInfo {
            params: vec![p; params],
            columns,
        })
    }

    async fn execute(&mut self, stmt_id: u32, params: Vec<WireValue>) -> QueryResult {
        self.shared.questions.fetch_add(1, Ordering::Relaxed);
        let gen_now = self.shared.schema_gen.load(Ordering::SeqCst);
        let Some(p) = self.prepared.get(&stmt_id) else {
            return QueryResult::Err(err(
                1243,
                b"HY000",
                format!(
                    "Unknown prepared statement handler ({stmt_id}) given to mysqld_stmt_execute"
                ),
            ));
        };
        // An ALTER TABLE translated from the table's definition (see quorate_sql's
        // redefine.rs) is translated again every time, after a follower caught up: the
        // definition may have changed through another node.
        let redefines = reads_definition(&p.statement);
        let statement = if p.schema_gen != gen_now || redefines {
            // Translations may depend on the schema: translate again, in the database the
            // statement was prepared in.
            let (sql, db) = (p.sql.clone(), p.db.clone());
            if redefines {
                self.catch_up().await;
            }
            let current = std::mem::replace(&mut self.db, db);
            let r = self.translate(sql.as_bytes(), false);
            self.db = current;
            match r {
                Ok(mut v) if v.len() == 1 => {
                    let s = Arc::new(v.remove(0));
                    if let Some(p) = self.prepared.get_mut(&stmt_id) {
                        p.statement = s.clone();
                        p.schema_gen = gen_now;
                    }
                    s
                }
                Ok(_) => return QueryResult::Err(err(1064, b"42000", "statement changed")),
                Err(e) => return QueryResult::Err(from_sql(&e)),
            }
        } else {
            p.statement.clone()
        };
        self.locking_read =
            self.read_tx.is_some() && self.prepared.get(&stmt_id).is_some_and(|p| p.locking);
        self.registry_update("Execute", Some(self.prepared[&stmt_id].sql.as_bytes()));
        let params = params.into_iter().map(param).collect();
        let r = self.run(&statement, params).await;
        self.registry_update("Sleep", None);
        r
    }

    async fn close(&mut self, stmt_id: u32) {
        self.prepared.remove(&stmt_id);
    }

    async fn init_db(&mut self, db: &str) -> Result<(), ErrInfo> {
        self.use_db(db).await
    }

    async fn field_list(&mut self, table: &str) -> Result<Vec<Column>, ErrInfo> {
        let Some(db) = self.db.clone() else {
            return Err(err(1046, b"3D000", "No database selected"));
        };
        if !self.privileges().any_on(&db) {
            return Err(self.no_db_access(&db));
        }
        let name = quorate_sql::names::table(&db, table);
        let info = self
            .store()
            .with_read_connection(|c| quorate_sql::table_info(c, &name).ok().flatten())
            .ok()
            .flatten()
            .ok_or_else(|| {
                err(
                    1146,
                    b"42S02",
                    format!("Table '{db}.{table}' doesn't exist"),
                )
            })?;
        Ok(info
            .columns
            .iter()
            .map(|c| {
                let meta = quorate_sql::column_meta(Some(&c.decl_type), &c.name, Some(table));
                values::wire_column(meta, &db)
            })
            .collect())
    }

    async fn idle_event(&mut self) -> IdleEvent {
        if self.kill.killed.load(Ordering::SeqCst) {
            return IdleEvent::Close(Some(err(1927, b"70100", "Connection was killed")));
        }
        if *self.draining.borrow() {
            return IdleEvent::Close(Some(shutting_down()));
        }
        let mut draining = self.draining.clone();
        let in_tx = self.in_tx();
        let aborted = self.session.aborted();
        let idle_limit = if in_tx {
            match self.shared.node.config().timeouts.idle_in_transaction_ms {
                0 => IDLE_IN_TRANSACTION_DEFAULT,
                ms => Duration::from_millis(ms),
            }
        } else {
            NEVER
        };
        let kill = self.kill.clone();
        tokio::select! {
            _ = aborted => {
                self.rollback().await;
                self.tx_wrote = false;
        self.tx_checked = false;
                self.pending = Some(errors::deadlock(
                    "the leader changed while the transaction was open; it was rolled back",
                ));
                IdleEvent::Continue
            }
            _ = kill.notify.notified() => {
                IdleEvent::Close(Some(err(1927, b"70100", "Connection was killed")))
            }
            () = async { drop(draining.wait_for(|d| *d).await) } => {
                IdleEvent::Close(Some(shutting_down()))
            }
            _ = tokio::time::sleep(idle_limit), if in_tx => {
                self.rollback().await;
                self.tx_wrote = false;
        self.tx_checked = false;
                self.pending = Some(errors::deadlock(&format!(
                    "the transaction was idle for more than {} ms and was rolled back \
                     (SQLite has one writer: an idle transaction delays every other write)",
                    idle_limit.as_millis()
                )));
                IdleEvent::Continue
            }
        }
    }

    fn status(&self) -> SessionStatus {
        SessionStatus {
            in_transaction: self.in_tx(),
            autocommit: self.autocommit,
        }
    }

    async fn on_disconnect(&mut self) {
        self.rollback().await;
        self.shared
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// What a session idle at a clean shutdown is closed with (MySQL's ER_SERVER_SHUTDOWN).
fn shutting_down() -> ErrInfo {
    err(1053, b"08S01", "Server shutdown in progress")
}

/// Whether a statement text holds a locking read clause (a cheap look at the bytes; a
/// false positive inside a string literal only costs taking the writer early).
fn is_locking_read(sql: &[u8]) -> bool {
    const CLAUSES: [&[u8]; 3] = [b"for update", b"for share", b"lock in share mode"];
    // Every clause starts with 'f' or 'l': compare only at those bytes.
    (0..sql.len())
        .filter(|&i| matches!(sql[i], b'f' | b'F' | b'l' | b'L'))
        .any(|i| {
            CLAUSES.iter().any(|c| {
                sql[i..]
                    .get(..c.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(c))
            })
        })
}

fn read_only_tx() -> ErrInfo {
    err(
        1792,
        b"25006",
        "Cannot execute statement in a READ ONLY transaction.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_sql::StatementKind as K;

    /// Locking reads are recognised in any letter case; plain reads are not.
    #[test]
    fn locking_reads() {
        assert!(is_locking_read(b"SELECT c FROM t WHERE id = 1 FOR UPDATE"));
        assert!(is_locking_read(b"select c from t for share"));
        assert!(is_locking_read(b"SELECT 1 LOCK IN SHARE MODE"));
        assert!(!is_locking_read(b"SELECT c FROM t WHERE id = 1"));
    }

    /// Each kind of statement needs the privilege MySQL asks for.
    #[test]
    fn privileges_needed_per_statement() {
        assert_eq!(needed(K::Read, "SELECT 1"), accounts::SELECT);
        assert_eq!(
            needed(K::Write, "INSERT INTO \"d.t\" VALUES (1)"),
            accounts::INSERT
        );
        assert_eq!(
            needed(K::Write, "INSERT OR REPLACE INTO \"d.t\" VALUES (1)"),
            accounts::INSERT | accounts::DELETE
        );
        assert_eq!(
            needed(
                K::Write,
                "INSERT INTO \"d.t\" VALUES (1) ON CONFLICT DO UPDATE SET a = 1"
            ),
            accounts::INSERT | accounts::UPDATE
        );
        assert_eq!(
            needed(K::Write, "UPDATE \"d.t\" SET a = 1"),
            accounts::UPDATE
        );
        assert_eq!(needed(K::Write, "DELETE FROM \"d.t\""), accounts::DELETE);
        assert_eq!(needed(K::Ddl, "CREATE TABLE \"d.t\" (a)"), accounts::CREATE);
        assert_eq!(
            needed(K::Ddl, "CREATE UNIQUE INDEX \"d.t.i\" ON \"d.t\" (a)"),
            accounts::INDEX
        );
        assert_eq!(needed(K::Ddl, "DROP TABLE \"d.t\""), accounts::DROP);
        assert_eq!(needed(K::Ddl, "DELETE FROM \"d.t\""), accounts::DROP);
        assert_eq!(needed(K::Ddl, "ALTER TABLE \"d.t\" ADD b"), accounts::ALTER);
    }

    /// The translator reports every table a statement reads, including subqueries, so
    /// grants cannot be bypassed by nesting.
    #[test]
    fn translation_names_every_table_touched() {
        let ctx = Context::with_db(Some("d"));
        let s = quorate_sql::translate(
            "SELECT (SELECT count(*) FROM secret) FROM t WHERE id IN (SELECT id FROM e.u)",
            &ctx,
        )
        .unwrap();
        let Statement::Sql { tables, .. } = &s[0] else {
            panic!("not SQL")
        };
        for t in ["d.secret", "d.t", "e.u"] {
            assert!(tables.iter().any(|x| x == t), "{t} missing from {tables:?}");
        }
        let s = quorate_sql::translate("INSERT INTO t SELECT * FROM secret", &ctx).unwrap();
        let Statement::Sql { tables, .. } = &s[0] else {
            panic!("not SQL")
        };
        assert_eq!(tables.len(), 2, "{tables:?}");
    }
}
