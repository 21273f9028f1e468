//! A SQL request over HTTP as a client of the node, so that its statements can be stopped.
//!
//! Each `/v1/execute` and `/v1/query` request gets a client id of its own, and its statements
//! carry it in their context (`quorate_store::client`), as a MySQL connection's do. The
//! node's interrupt (`Node::interrupt_client`) then reaches them wherever they run, here or
//! on the leader a follower sent them to. A request's statements are interrupted:
//! - when they run longer than the request's `?timeout_ms=N` (a timer of its own);
//! - past the node's `http.request_timeout_ms`, or when the HTTP client has closed or reset
//!   its connection: one sweep every [`SWEEP`] looks at every request in progress, so that
//!   a request costs no timer and no task of its own. hyper reads nothing from a connection
//!   while its request is handled, so the sweep asks a copy of the socket
//!   (`quorate_node::ClientSocket`).
//!
//! A statement interrupted by any of them ends its transaction: nothing of the request is
//! applied, and the answer says so. A transaction already committing is not interrupted:
//! its answer comes when the commit ends (bounded by `commit_timeout_ms`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use quorate_node::error::{ErrorCode, NodeError};
use quorate_node::{ClientSocket, Node};
use tokio::time::Instant;

/// How often the requests in progress are looked at (their deadline, their client).
pub(crate) const SWEEP: Duration = Duration::from_millis(100);

/// HTTP request ids have the top bit set. MySQL connection ids never do (they stay at or
/// below `quorate_mysql_wire::CONNECTION_ID_MAX`), so the two never name the same client.
const HTTP_CLIENT_BIT: u32 = 1 << 31;

/// The longest `timeout_ms` a request may ask for (one day).
const TIMEOUT_MS_MAX: u64 = 86_400_000;

/// The id of the `n`th HTTP request (counting wraps around).
fn client_id(n: u32) -> u32 {
    HTTP_CLIENT_BIT | (n & !HTTP_CLIENT_BIT)
}

/// This node's SQL requests in progress, and the ids of new ones.
pub(crate) struct Clients {
    node: Node,
    next: AtomicU32,
    inflight: Mutex<HashMap<u32, Inflight>>,
}

/// What a request in progress shows in `GET /v1/requests` and `SHOW PROCESSLIST`.
#[derive(Debug, Clone)]
pub(crate) struct About {
    /// `/v1/execute` or `/v1/query`.
    pub path: &'static str,
    /// The account it was granted to.
    pub user: String,
    /// The client's address.
    pub client: Option<std::net::SocketAddr>,
    /// Its first statement, cut at [`SQL_SHOWN_MAX`] bytes.
    pub sql: String,
    /// How many statements it has.
    pub statements: usize,
}

/// Longest part of a request's first statement that `GET /v1/requests` shows.
const SQL_SHOWN_MAX: usize = 200;

impl About {
    pub(crate) fn new(
        path: &'static str,
        user: Option<String>,
        client: Option<std::net::SocketAddr>,
        statements: &[&str],
    ) -> About {
        About {
            path,
            user: user.unwrap_or_default(),
            client,
            sql: shown(statements.first().copied().unwrap_or("")).to_string(),
            statements: statements.len(),
        }
    }
}

/// The part of a statement `GET /v1/requests` shows: at most [`SQL_SHOWN_MAX`] bytes.
fn shown(sql: &str) -> &str {
    let mut end = sql.len().min(SQL_SHOWN_MAX);
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    &sql[..end]
}

/// A client's statement in progress, as `GET /v1/requests` shows it: this node's HTTP
/// requests, its MySQL connections that run a statement, and the statements other nodes'
/// clients run here.
#[derive(Debug, serde::Serialize)]
pub(crate) struct RequestView {
    pub id: u64,
    /// `http` or `mysql`; `peer` for another node's client.
    pub front_end: &'static str,
    /// The node whose client it is, when another (`peer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
    /// `/v1/execute` or `/v1/query` (HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'static str>,
    pub user: String,
    /// The client's address.
    pub client: Option<String>,
    /// The MySQL connection's database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// The (first) statement, cut at [`SQL_SHOWN_MAX`] bytes.
    pub sql: String,
    /// How many statements the HTTP request has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements: Option<usize>,
    pub running_ms: u64,
    /// Why its statements are being interrupted, once they are.
    pub stopping: Option<&'static str>,
}

/// A request in progress, as the sweep sees it.
struct Inflight {
    about: About,
    started: Instant,
    /// Cancelled by `POST /v1/requests/{id}/cancel`.
    cancelled: bool,
    /// When its own `timeout_ms` runs out.
    asked: Option<Instant>,
    /// When the node's `request_timeout_ms` runs out.
    deadline: Option<Instant>,
    socket: Option<ClientSocket>,
    stopped: Arc<Stopped>,
}

impl Inflight {
    /// Why its statements must stop now, if they must.
    fn must_stop(&self, now: Instant) -> Option<u8> {
        if self.cancelled {
            Some(STOPPED_CANCELLED)
        } else if self.asked.is_some_and(|t| now >= t) {
            Some(STOPPED_TIMEOUT_MS)
        } else if self.deadline.is_some_and(|t| now >= t) {
            Some(STOPPED_DEADLINE)
        } else if self.socket.as_ref().is_some_and(ClientSocket::hung_up) {
            Some(STOPPED_HUNG_UP)
        } else {
            None
        }
    }
}

/// Why a request's statements were interrupted (`NOT_STOPPED` while they were not).
#[derive(Default)]
struct Stopped(AtomicU8);

const NOT_STOPPED: u8 = 0;
const STOPPED_TIMEOUT_MS: u8 = 1;
const STOPPED_DEADLINE: u8 = 2;
const STOPPED_HUNG_UP: u8 = 3;
const STOPPED_CANCELLED: u8 = 4;

/// The reason as `GET /v1/requests` names it.
fn stopping_name(why: u8) -> Option<&'static str> {
    match why {
        STOPPED_TIMEOUT_MS => Some("timeout_ms"),
        STOPPED_DEADLINE => Some("request_timeout_ms"),
        STOPPED_HUNG_UP => Some("client hung up"),
        STOPPED_CANCELLED => Some("cancelled"),
        _ => None,
    }
}

impl Stopped {
    /// Records `why` unless another reason was recorded first (the answer names the first).
    fn stop(&self, why: u8) {
        let _ = self
            .0
            .compare_exchange(NOT_STOPPED, why, Ordering::SeqCst, Ordering::SeqCst);
    }
}

impl Clients {
    /// The registry of `node`'s HTTP requests, and its sweep (which ends with the registry).
    pub(crate) fn start(node: Node) -> Arc<Clients> {
        let clients = Arc::new(Clients {
            node,
            next: AtomicU32::new(0),
            inflight: Mutex::default(),
        });
        let weak = Arc::downgrade(&clients);
        let front_end: Weak<dyn quorate_node::FrontEnd> = weak.clone();
        clients.node.add_front_end("http", front_end);
        // On the timer runtime: statements run synchronously on the threads of the runtime
        // that serves HTTP, and may keep all of them busy.
        quorate_node::timers().spawn(sweep(weak));
        clients
    }

    fn next_id(&self) -> u32 {
        client_id(self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Inflight>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The statements in progress, longest-running first: this node's HTTP requests and
    /// the MySQL connections running one.
    pub(crate) fn list(&self) -> Vec<RequestView> {
        let now = Instant::now();
        let mut list: Vec<RequestView> = self
            .inflight()
            .iter()
            .map(|(id, r)| RequestView {
                id: u64::from(*id),
                front_end: "http",
                node: None,
                path: Some(r.about.path),
                user: r.about.user.clone(),
                client: r.about.client.map(|a| a.to_string()),
                db: None,
                sql: r.about.sql.clone(),
                statements: Some(r.about.statements),
                running_ms: now.saturating_duration_since(r.started).as_millis() as u64,
                stopping: stopping_name(r.stopped.0.load(Ordering::SeqCst)),
            })
            .collect();
        let view = |front_end: &'static str, c: quorate_node::ClientView| {
            Some(RequestView {
                sql: shown(c.statement.as_deref()?).to_string(),
                id: c.id,
                front_end,
                node: c.node,
                path: None,
                user: c.user,
                client: (!c.host.is_empty()).then_some(c.host),
                db: c.db,
                statements: None,
                running_ms: c.running.as_millis() as u64,
                stopping: c.stopping,
            })
        };
        if let Some(mysql) = self.node.front_end("mysql") {
            list.extend(mysql.clients().into_iter().filter_map(|c| view("mysql", c)));
        }
        let peers = self.node.peer_clients();
        list.extend(peers.into_iter().filter_map(|c| view("peer", c)));
        list.sort_by_key(|r| std::cmp::Reverse(r.running_ms));
        list
    }

    /// Cancels the statements of client `id`: an HTTP request's are interrupted now and,
    /// while it lasts, at every sweep; a MySQL connection's as by `KILL QUERY`; another
    /// node's client's statement running here is interrupted here.
    pub(crate) fn cancel(&self, id: u64) -> Result<(), NodeError> {
        if let Ok(request) = u32::try_from(id)
            && self.cancel_request(request)
        {
            return Ok(());
        }
        if self.node.front_end("mysql").is_some_and(|m| m.stop(id)) {
            return Ok(());
        }
        if self.node.stop_peer_client(id) {
            return Ok(());
        }
        Err(NodeError::bad_request(format!(
            "no request {id} in progress on this node (GET /v1/requests lists them)"
        )))
    }

    /// Cancels HTTP request `id`; false if it is not in progress.
    fn cancel_request(&self, id: u32) -> bool {
        match self.inflight().get_mut(&id) {
            Some(r) => {
                r.cancelled = true;
                r.stopped.stop(STOPPED_CANCELLED);
            }
            None => return false,
        }
        self.interrupt(id, "cancelled");
        true
    }

    /// Interrupts client `id`'s statements, wherever they run, from the timer runtime.
    fn interrupt(&self, id: u32, why: &'static str) {
        let node = self.node.clone();
        quorate_node::timers().spawn(async move {
            let n = node.interrupt_client(u64::from(id)).await;
            tracing::debug!(
                client = id,
                interrupted = n,
                why,
                "HTTP request interrupted"
            );
        });
    }
}

/// The HTTP requests as MySQL's `SHOW PROCESSLIST` sees them, and stopped by its `KILL` as
/// by a cancel.
impl quorate_node::FrontEnd for Clients {
    fn clients(&self) -> Vec<quorate_node::ClientView> {
        let now = Instant::now();
        self.inflight()
            .iter()
            .map(|(id, r)| quorate_node::ClientView {
                id: u64::from(*id),
                user: r.about.user.clone(),
                host: r.about.client.map(|a| a.to_string()).unwrap_or_default(),
                db: None,
                command: r.about.path,
                running: now.saturating_duration_since(r.started),
                statement: Some(r.about.sql.clone()),
                stopping: stopping_name(r.stopped.0.load(Ordering::SeqCst)),
                node: None,
            })
            .collect()
    }

    fn stop(&self, id: u64) -> bool {
        u32::try_from(id).is_ok_and(|id| self.cancel_request(id))
    }
}

/// Every [`SWEEP`], interrupts the statements of the requests past a time limit or whose
/// client hung up. Again at every sweep until the request ends: an interrupt reaches only a
/// statement that runs, and a request may still be waiting (for the writer, or for the
/// leader it was sent to) when its limit passes.
async fn sweep(clients: Weak<Clients>) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(clients) = clients.upgrade() else {
            return;
        };
        let now = Instant::now();
        // A peek per request with a client socket, under the lock: microseconds.
        let due: Vec<u32> = clients
            .inflight()
            .iter()
            .filter_map(|(id, r)| {
                let why = r.must_stop(now)?;
                r.stopped.stop(why);
                Some(*id)
            })
            .collect();
        for id in due {
            clients.interrupt(id, "a limit passed or the client hung up");
        }
    }
}

/// Whether `path` is a SQL endpoint (its requests are clients, see the module).
pub(crate) fn is_sql(path: &str) -> bool {
    matches!(path, "/v1/execute" | "/v1/query")
}

/// When a request's statements are interrupted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    /// The request's own `timeout_ms`.
    asked: Option<Duration>,
    /// The node's deadline for the request (`http.request_timeout_ms`).
    deadline: Option<Instant>,
}

impl Limit {
    /// The limits of a request with query string `params` that must be answered by
    /// `deadline`.
    pub(crate) fn of(params: Option<&str>, deadline: Option<Instant>) -> Result<Limit, NodeError> {
        Ok(Limit {
            asked: timeout_of(params)?,
            deadline,
        })
    }
}

/// The `timeout_ms` of a request's query string (`None` when it has none). Any other
/// parameter is refused, so that a misspelt one does not silently go unused.
pub(crate) fn timeout_of(query: Option<&str>) -> Result<Option<Duration>, NodeError> {
    let mut timeout = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "timeout_ms" {
            return Err(NodeError::bad_request(format!(
                "unknown query parameter `{name}` (only `timeout_ms`)"
            )));
        }
        let ms: u64 = value
            .parse()
            .ok()
            .filter(|ms| (1..=TIMEOUT_MS_MAX).contains(ms))
            .ok_or_else(|| {
                NodeError::bad_request(format!(
                    "timeout_ms must be a whole number of milliseconds from 1 to \
                     {TIMEOUT_MS_MAX}, not `{value}`"
                ))
            })?;
        timeout = Some(Duration::from_millis(ms));
    }
    Ok(timeout)
}

/// Refuses statements that carry a context of their own: it is the MySQL front end's
/// channel to the leader, and over HTTP the node sets it.
pub(crate) fn refuse_context<'a>(
    mut contexts: impl Iterator<Item = &'a [u8]>,
) -> Result<(), NodeError> {
    if contexts.any(|c| !c.is_empty()) {
        return Err(NodeError::bad_request(
            "`context` is set by the node, not by HTTP clients",
        ));
    }
    Ok(())
}

/// Runs `work` as a new client of this node: `work` gets the context its statements must
/// carry. Interrupts them at the request's limits, when the client behind `socket` hangs
/// up, or if this future is dropped before `work` ends. Whatever stopped them, `work` ends
/// as it ends (nothing is cut off), so its answer says what became of the request.
pub(crate) async fn run<T, F>(
    clients: &Arc<Clients>,
    about: About,
    limit: Limit,
    socket: Option<ClientSocket>,
    work: impl FnOnce(Vec<u8>) -> F,
) -> Result<T, NodeError>
where
    F: Future<Output = Result<T, NodeError>>,
{
    let id = clients.next_id();
    let stopped = Arc::new(Stopped::default());
    clients.inflight().insert(
        id,
        Inflight {
            about,
            started: Instant::now(),
            cancelled: false,
            asked: limit.asked.map(|t| Instant::now() + t),
            deadline: limit.deadline,
            socket,
            stopped: stopped.clone(),
        },
    );
    let mut registered = Registered {
        clients: clients.clone(),
        id,
        finished: false,
    };
    // Its own timer for a limit the request asked for (the sweep's steps would be coarse);
    // the sweep interrupts again if the statement was not running yet.
    let timer = limit.asked.map(|after| {
        let clients = clients.clone();
        let stopped = stopped.clone();
        Task(quorate_node::timers().spawn(async move {
            tokio::time::sleep(after).await;
            stopped.stop(STOPPED_TIMEOUT_MS);
            clients.interrupt(id, "timeout_ms");
        }))
    });
    let context = quorate_store::client::header(clients.node.id(), id).to_vec();
    let result = work(context).await;
    registered.finished = true;
    drop((timer, registered));
    match result {
        Err(e) if e.code == ErrorCode::Interrupted => {
            let what = match stopped.0.load(Ordering::SeqCst) {
                STOPPED_TIMEOUT_MS => format!(
                    "the request ran longer than its timeout_ms ({})",
                    limit.asked.unwrap_or_default().as_millis()
                ),
                STOPPED_DEADLINE => {
                    "the request ran longer than the node's http.request_timeout_ms".to_string()
                }
                STOPPED_HUNG_UP => "the HTTP client hung up".to_string(),
                STOPPED_CANCELLED => format!(
                    "the request was cancelled by an administrator (POST \
                     /v1/requests/{id}/cancel, or MySQL KILL {id})"
                ),
                // None of this request's limits: stopped on the leader, by an
                // administrator there, or because it took the statement for abandoned (it
                // stopped hearing that this node waits for it).
                _ => "the statement was stopped on the leader: by an administrator there \
                      (MySQL KILL QUERY, or a cancel over HTTP), or because the leader no \
                      longer heard that this node waited for it"
                    .to_string(),
            };
            Err(NodeError::new(
                ErrorCode::Interrupted,
                format!(
                    "{what}; its statement was interrupted and nothing of the request was \
                     applied ({})",
                    e.message
                ),
            ))
        }
        other => other,
    }
}

/// A request's entry in the registry: removed when dropped, and if its work did not finish
/// (hyper dropped the request: its connection failed, or the server stops), its statements
/// are interrupted.
struct Registered {
    clients: Arc<Clients>,
    id: u32,
    finished: bool,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.clients.inflight().remove(&self.id);
        if !self.finished {
            self.clients.interrupt(self.id, "the request was dropped");
        }
    }
}

/// A request's own time limit; dropping it lifts the limit.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `timeout_ms` is read from the query string; anything else there, or a value that is
    /// not a sensible number of milliseconds, is a clear error.
    #[test]
    fn timeout_ms_is_the_only_parameter() {
        assert_eq!(timeout_of(None).unwrap(), None);
        assert_eq!(timeout_of(Some("")).unwrap(), None);
        assert_eq!(
            timeout_of(Some("timeout_ms=250")).unwrap(),
            Some(Duration::from_millis(250))
        );
        for bad in [
            "timeout=5",
            "timeout_ms=",
            "timeout_ms=0",
            "timeout_ms=-1",
            "timeout_ms=1.5",
            "timeout_ms=86400001",
            "timeout_ms=5&x=1",
        ] {
            let e = timeout_of(Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad}");
        }
    }

    /// HTTP request ids never name a MySQL connection, even after the counter wraps.
    #[test]
    fn request_ids_never_meet_mysql_ids() {
        let mysql_max = quorate_mysql_wire::CONNECTION_ID_MAX;
        for n in [0, 1, mysql_max, mysql_max + 1, u32::MAX] {
            assert!(client_id(n) > mysql_max, "{n}");
        }
        assert_ne!(client_id(0), client_id(1));
    }
}
