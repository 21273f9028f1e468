//! quorate-mysql: the MySQL front end of a quorate node.
//!
//! It connects the wire protocol ([`quorate_mysql_wire`]) to the node
//! ([`quorate_node::Node`]) through the MySQL dialect translator ([`quorate_sql`]): one
//! [`quorate_mysql_wire::Backend`] per client connection (`session.rs`) holds a node
//! [`quorate_node::Session`], translates what the client sends, runs it with the right
//! statement kind, and answers in MySQL's terms (column types, error codes). Users, grants
//! and databases live in replicated catalog tables (`accounts.rs`); the store's connection
//! hook (`hook.rs`) gives every SQLite connection the MySQL functions and installs the
//! running session's values before each of its statements. `SHOW STATUS` reports the
//! cluster's state, with Galera's `wsrep_*` names as aliases (`status.rs`).
//!
//! ```no_run
//! # async fn run(config: quorate_node::config::NodeConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let node = quorate_node::Node::start_with_hook(config.clone(), Some(quorate_mysql::connection_hook())).await?;
//! let mysql = quorate_mysql::serve(node, &config.mysql_addr).await?;
//! println!("MySQL protocol on {}", mysql.local_addr());
//! # Ok(()) }
//! ```
//!
//! See `DESIGN.md` in this crate for why it is built this way, and `docs/MYSQL-COMPAT.md`
//! for the session-level behaviour clients see.

#![warn(missing_docs)]

mod accounts;
mod affinity;
mod errors;
mod hook;
mod login;
mod session;
mod statement_timer;
mod status;
mod values;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use login::{LoginAccess, LoginCheck, LoginChecker};
use quorate_mysql_wire::{AuthPlugin, Credential, PasswordCache, ServerConfig};
use quorate_node::{ClientSocket, Node};
use tokio::sync::Notify;

pub use hook::{SessionHook, connection_hook};

/// How often the catalog task retries while the cluster has no leader yet (the delay
/// doubles up to [`CATALOG_RETRY_MAX`]).
const CATALOG_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between two attempts to create the catalog: short, so that the accounts
/// exist moments after the cluster forms (an attempt before that fails at once).
const CATALOG_RETRY_MAX: Duration = Duration::from_secs(1);

/// Errors starting the MySQL front end.
#[derive(Debug)]
pub enum ServeError {
    /// The `[mysql]` section of the node's configuration is not usable.
    Config(String),
    /// The listener could not be bound.
    Bind(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Config(m) => write!(f, "MySQL front end: {m}"),
            ServeError::Bind(e) => write!(f, "cannot listen for MySQL clients: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// A connection as SHOW PROCESSLIST and KILL see it.
pub(crate) struct Registered {
    pub user: String,
    pub host: String,
    /// What it is doing; the connection updates this (its own lock) around every
    /// statement, so the registry's lock is taken only on connect and disconnect.
    pub activity: Arc<Mutex<Activity>>,
    pub kill: Arc<KillSwitch>,
    /// A copy of the client's socket, for [`watch_hang_ups`] (`None` if the process was
    /// out of file descriptors when the client connected).
    pub socket: Option<ClientSocket>,
}

/// What a connection is doing, for SHOW PROCESSLIST.
pub(crate) struct Activity {
    pub db: Option<String>,
    pub command: &'static str,
    pub since: Instant,
    /// The statement's text (bounded); shown while `command` is not "Sleep". Kept between
    /// statements so that its buffer is reused.
    pub info: Vec<u8>,
}

/// Set by KILL; the connection notices it while waiting for its client.
#[derive(Default)]
pub(crate) struct KillSwitch {
    pub killed: std::sync::atomic::AtomicBool,
    pub notify: Notify,
    /// The running statement was interrupted because it ran longer than
    /// `max_execution_time`; cleared when the next statement starts.
    pub timed_out: std::sync::atomic::AtomicBool,
    /// The client hung up while a statement ran ([`watch_hang_ups`]).
    pub hung_up: std::sync::atomic::AtomicBool,
    /// Counts the connection's statements, so that a time limit that fires just as its
    /// statement ends leaves the next one alone.
    pub statement: std::sync::atomic::AtomicU64,
}

/// State shared by every connection of one node.
pub(crate) struct Shared {
    pub node: Node,
    pub throttle: accounts::LoginThrottle,
    pub registry: Mutex<HashMap<u32, Registered>>,
    /// Bumped by every schema change made through this front end: translations and
    /// prepared statements made before it are made again.
    pub schema_gen: AtomicU64,
    /// Bumped by every user or grant change made through this front end: connections
    /// reload their privileges.
    pub grants_gen: AtomicU64,
    /// Whether a table (SQLite name) has an AUTO_INCREMENT column, for LAST_INSERT_ID().
    pub auto_increment: Mutex<HashMap<String, bool>>,
    /// When this node was first seen not serving writes (none while it serves).
    pub unwritable_since: Mutex<Option<Instant>>,
    pub started: Instant,
    pub questions: AtomicU64,
    pub connections: AtomicU64,
    pub aborted_connects: AtomicU64,
    pub max_connections: usize,
    pub max_allowed_packet: usize,
    pub port: u16,
    /// The configured first administrator (name, credential held in memory only): the
    /// only account while this replica holds no account catalog yet (a node rejoining with
    /// an empty data directory, until the catalog arrives).
    pub config_admin: Option<(String, Credential)>,
    /// The plugin new passwords are stored for (`[mysql] default_auth_plugin`).
    pub auth_plugin: AuthPlugin,
    /// Turned on by [`MysqlServer::drain`]: sessions close with 1053 once idle.
    pub draining: tokio::sync::watch::Sender<bool>,
}

/// caching_sha2_password's cache of checked passwords, shared by the MySQL port and the
/// HTTP API's basic authentication (a password checked by either is fast for both). Keyed
/// by salted hash, so one cache serves any number of nodes in a process.
pub(crate) fn password_cache() -> Arc<PasswordCache> {
    static CACHE: std::sync::OnceLock<Arc<PasswordCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Arc::default).clone()
}

/// `[runtime] mysql_follow_client_cpu`, when it is on and threads can be pinned.
fn follow_client_cpu(
    cfg: &quorate_node::config::NodeConfig,
) -> Option<quorate_mysql_wire::FollowClientCpu> {
    if !(cfg.runtime.mysql_thread_per_connection && cfg.runtime.mysql_follow_client_cpu) {
        return None;
    }
    match affinity::follow_client_cpu() {
        Ok(follow) => follow,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot read this process's CPU affinity; MySQL connections' threads stay \
                 where the scheduler puts them"
            );
            None
        }
    }
}

/// The plugin `cfg` stores new passwords for.
pub(crate) fn auth_plugin(cfg: &quorate_node::config::NodeConfig) -> AuthPlugin {
    // validate() accepted only the names AuthPlugin knows.
    AuthPlugin::parse(cfg.mysql_auth_plugin()).unwrap_or(AuthPlugin::Native)
}

/// The MySQL connections as the HTTP API's `GET /v1/requests` sees them, and stopped by
/// its cancel as by `KILL QUERY`.
impl quorate_node::FrontEnd for Shared {
    fn clients(&self) -> Vec<quorate_node::ClientView> {
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry
            .iter()
            .map(|(id, r)| {
                let a = r.activity.lock().unwrap_or_else(|p| p.into_inner());
                let stopping = if r.kill.hung_up.load(Ordering::SeqCst) {
                    Some("client hung up")
                } else if r.kill.killed.load(Ordering::SeqCst) {
                    Some("killed")
                } else {
                    None
                };
                quorate_node::ClientView {
                    id: u64::from(*id),
                    user: r.user.clone(),
                    host: r.host.clone(),
                    db: a.db.clone(),
                    command: a.command,
                    running: a.since.elapsed(),
                    statement: (a.command != "Sleep")
                        .then(|| String::from_utf8_lossy(&a.info).into_owned()),
                    stopping,
                    node: None,
                }
            })
            .collect()
    }

    fn stop(&self, id: u64) -> bool {
        let known = u32::try_from(id).is_ok_and(|id| {
            self.registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&id)
        });
        if known {
            let node = self.node.clone();
            quorate_node::timers().spawn(async move {
                let n = node.interrupt_client(id).await;
                tracing::debug!(connection = id, interrupted = n, "stopped over HTTP");
            });
        }
        known
    }
}

impl Shared {
    pub(crate) fn schema_changed(&self) {
        self.schema_gen.fetch_add(1, Ordering::SeqCst);
        self.auto_increment
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Binds the MySQL listener on `addr` and serves clients on the current tokio runtime
/// (spawned tasks); returns the running front end ([`MysqlServer`]). Also starts the task
/// that creates the catalog tables and the first administrator (from the node's `[mysql]`
/// configuration) once the cluster has a leader.
pub async fn serve(node: Node, addr: &str) -> Result<MysqlServer, ServeError> {
    let cfg = node.config().clone();
    let admin_password = cfg
        .admin_password()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(ServeError::Bind)?;
    let local = listener.local_addr().map_err(ServeError::Bind)?;
    // TLS with the node's certificate when `[tls]` is configured (and `mysql` not turned
    // off there); `mysql_require` refuses plaintext logins.
    let (tls, require_secure_transport) = match &cfg.tls {
        Some(t) if t.mysql => {
            let server = t
                .identity()
                .map_err(|e| ServeError::Config(e.to_string()))?
                .client_facing_server()
                .map_err(|e| ServeError::Config(format!("TLS on the MySQL port: {e}")))?;
            (Some(server), t.mysql_require)
        }
        _ => (None, false),
    };
    let wire = ServerConfig {
        server_version: quorate_sql::MYSQL_VERSION.to_string(),
        max_connections: cfg.mysql.max_connections.max(1),
        tls,
        require_secure_transport,
        default_auth_plugin: auth_plugin(&cfg),
        password_cache: password_cache(),
        thread_per_connection: cfg.runtime.mysql_thread_per_connection,
        follow_client_cpu: follow_client_cpu(&cfg),
        ..ServerConfig::default()
    };
    if wire.default_auth_plugin == AuthPlugin::Native {
        tracing::warn!(
            "new MySQL passwords are stored as unsalted mysql_native_password hashes \
             ([mysql] default_auth_plugin; salted caching_sha2_password is the default when \
             the MySQL port offers TLS, which its first login on each node needs)"
        );
    }
    let shared = Arc::new(Shared {
        node: node.clone(),
        throttle: Default::default(),
        registry: Default::default(),
        schema_gen: AtomicU64::new(0),
        grants_gen: AtomicU64::new(0),
        auto_increment: Default::default(),
        unwritable_since: Default::default(),
        started: Instant::now(),
        questions: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        aborted_connects: AtomicU64::new(0),
        max_connections: wire.max_connections,
        max_allowed_packet: wire.max_allowed_packet,
        port: local.port(),
        // Never stored: the challenge of mysql_native_password works on any transport.
        config_admin: admin_password
            .as_ref()
            .filter(|pw| !pw.is_empty())
            .map(|pw| {
                (
                    cfg.mysql.admin_user.clone(),
                    Credential::new(AuthPlugin::Native, pw),
                )
            }),
        auth_plugin: wire.default_auth_plugin,
        draining: tokio::sync::watch::Sender::new(false),
    });
    if !node.store().is_witness() {
        let admin = admin_password.map(|pw| {
            (
                cfg.mysql.admin_user.clone(),
                Credential::new(wire.default_auth_plugin, &pw),
            )
        });
        tokio::spawn(ensure_catalog(node.clone(), admin));
    }
    // On the timer runtime: statements may run synchronously on the runtime that
    // accepts MySQL clients.
    quorate_node::timers().spawn(watch_hang_ups(Arc::downgrade(&shared)));
    let weak: std::sync::Weak<Shared> = Arc::downgrade(&shared);
    let front_end: std::sync::Weak<dyn quorate_node::FrontEnd> = weak;
    node.add_front_end("mysql", front_end);
    let config = Arc::new(wire);
    let make = {
        let shared = shared.clone();
        move || session::Conn::new(shared.clone())
    };
    let accept = tokio::spawn(async move {
        if let Err(e) = quorate_mysql_wire::serve_listener(listener, config, make).await {
            tracing::error!(error = %e, "the MySQL listener failed; no new MySQL clients");
        }
    });
    Ok(MysqlServer {
        addr: local,
        shared,
        accept: accept.abort_handle(),
    })
}

/// The MySQL front end [`serve`] started.
pub struct MysqlServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::AbortHandle,
}

impl MysqlServer {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// For a clean shutdown: stops taking clients (the listening socket is closed), lets
    /// each session finish the statement it runs, and closes every session once it is
    /// idle with ERR 1053 "Server shutdown in progress" (an open transaction is rolled
    /// back, as when its client hangs up). Returns once no session is left, or at
    /// `within` with the number still running a statement (they end with the process:
    /// their clients see the connection lost).
    pub async fn drain(&self, within: Duration) -> usize {
        self.accept.abort();
        self.shared.draining.send_replace(true);
        let deadline = Instant::now() + within;
        loop {
            let open = self
                .shared
                .registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            if open == 0 || Instant::now() >= deadline {
                return open;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How often the connections running a statement are asked whether their client is still
/// there; a statement younger than this is not asked about.
const HANG_UP_SWEEP: Duration = Duration::from_millis(100);

/// Every [`HANG_UP_SWEEP`], interrupts the statement of each connection whose client closed
/// or reset its connection while the statement ran, and marks the connection killed (it
/// closes when the statement ends). A client gone is otherwise noticed only when the answer
/// is written, after the statement: one that gave up on a long statement (a driver's read
/// timeout, a killed process) left it holding the leader's single writer. Asked again at
/// every sweep while the statement lasts: an interrupt reaches only a statement that runs,
/// and this one may still be waiting for the writer or for the leader. Ends with the front
/// end's shared state.
async fn watch_hang_ups(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(HANG_UP_SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        // One poll(2) per connection busy for a sweep or longer, under the lock:
        // microseconds.
        let gone: Vec<(u32, bool)> = shared
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, r)| {
                let a = r.activity.lock().unwrap_or_else(|p| p.into_inner());
                a.command != "Sleep" && now.saturating_duration_since(a.since) >= HANG_UP_SWEEP
            })
            .filter(|(_, r)| r.socket.as_ref().is_some_and(ClientSocket::hung_up))
            .map(|(id, r)| {
                r.kill.killed.store(true, Ordering::SeqCst);
                (*id, !r.kill.hung_up.swap(true, Ordering::SeqCst))
            })
            .collect();
        for (id, first) in gone {
            if first {
                tracing::info!(
                    connection = id,
                    "MySQL client hung up while its statement ran; interrupting the \
                     statement and closing the connection"
                );
            }
            let node = shared.node.clone();
            tokio::spawn(async move {
                node.interrupt_client(u64::from(id)).await;
            });
        }
    }
}

/// Creates the catalog tables and, when there is no user yet, the first administrator.
/// Retries until this replica has them (the cluster may not have a leader yet).
async fn ensure_catalog(node: Node, admin: Option<(String, Credential)>) {
    let mut delay = CATALOG_RETRY_FIRST;
    let mut warned = false;
    loop {
        let (tables, users) = accounts::catalog_state(node.store());
        if tables && (users || admin.is_none()) {
            if admin.is_none() && !users {
                tracing::warn!(
                    "no MySQL user exists and no administrator is configured \
                     (mysql.admin_password or mysql.admin_password_file): nobody can log in \
                     over MySQL until one is configured and a node restarted"
                );
            }
            return;
        }
        let mut statements = accounts::schema_statements();
        if let Some((user, credential)) = &admin {
            statements.extend(accounts::admin_statements(user, credential));
        }
        match node.execute_internal(statements).await {
            Ok(_) => {
                // Committed; this replica has it once it applied the entry.
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline && !accounts::catalog_state(node.store()).0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                continue;
            }
            Err(e) => {
                if !warned {
                    tracing::info!(error = %e, "MySQL catalog not created yet; retrying");
                    warned = true;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(CATALOG_RETRY_MAX);
    }
}
