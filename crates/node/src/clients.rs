//! A node's clients across its front ends, so that each front end's process list shows the
//! others' clients too (MySQL's `SHOW PROCESSLIST`, the HTTP API's `GET /v1/requests`), and
//! each can stop them (`KILL QUERY`, `POST /v1/requests/{id}/cancel`). Client ids never
//! collide: MySQL connections stay below 2^31, HTTP requests above.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::node::Node;

/// A client as a process list shows it, whichever front end serves it.
#[derive(Debug, Clone)]
pub struct ClientView {
    pub id: u64,
    /// The account it logged in as.
    pub user: String,
    /// The client's address.
    pub host: String,
    /// Its current database (MySQL).
    pub db: Option<String>,
    /// What it does: MySQL's command (`Sleep`, `Query`, `Execute`...), or the HTTP path.
    pub command: &'static str,
    /// How long it has been doing it.
    pub running: Duration,
    /// The statement it runs (bounded), if it runs one.
    pub statement: Option<String>,
    /// Why its statement is being stopped, once it is.
    pub stopping: Option<&'static str>,
    /// The node it is connected to, when that is another node (its statement was sent
    /// here, see [`Node::peer_clients`]).
    pub node: Option<u64>,
}

/// A front end's clients, as the node's other front ends see them.
pub trait FrontEnd: Send + Sync + 'static {
    /// Every client of this front end.
    fn clients(&self) -> Vec<ClientView>;
    /// Interrupts the statement client `id` runs, wherever it runs, and goes on doing so
    /// as the front end does for its own (KILL QUERY, an HTTP cancel). False if `id` is
    /// not a client of this front end.
    fn stop(&self, id: u64) -> bool;
}

/// The front ends of a node, by name (`mysql`, `http`).
#[derive(Default)]
pub(crate) struct FrontEnds(Mutex<HashMap<&'static str, Weak<dyn FrontEnd>>>);

impl Node {
    /// Makes front end `name`'s clients visible to the node's other front ends (for as long
    /// as it lives).
    pub fn add_front_end(&self, name: &'static str, front_end: Weak<dyn FrontEnd>) {
        self.inner.front_ends.0.lock().insert(name, front_end);
    }

    /// Front end `name`, if it runs.
    pub fn front_end(&self, name: &str) -> Option<Arc<dyn FrontEnd>> {
        self.inner.front_ends.0.lock().get(name)?.upgrade()
    }
}

/// The process-list id of client `client` of node `origin` whose statement runs here:
/// `origin × 2^32 + client`, above every id of this node's own clients (all below 2^32).
/// `None` for nodes with ids of 2^31 or more, whose clients' ids would not fit MySQL's
/// signed process ids.
pub(crate) fn peer_client_id(origin: u64, client: u32) -> Option<u64> {
    (origin > 0 && origin < 1 << 31).then(|| (origin << 32) | u64::from(client))
}

impl Node {
    /// The statements other nodes' clients run on this node now (the leader runs every
    /// node's writes), as process lists show them: id from [`peer_client_id`], the account
    /// and address their context names (a MySQL session's; an HTTP request's names none),
    /// command `Query`, the statement as SQLite runs it.
    pub fn peer_clients(&self) -> Vec<ClientView> {
        let Some(hook) = &self.store().config().hook else {
            return Vec::new();
        };
        let me = self.id();
        hook.0
            .running()
            .into_iter()
            .filter(|r| r.origin != me)
            .filter_map(|r| {
                let id = peer_client_id(r.origin, r.client)?;
                let (user, host) = match r.user.as_deref().and_then(|u| u.rsplit_once('@')) {
                    Some((user, host)) => (user.to_string(), host.to_string()),
                    None => (r.user.unwrap_or_default(), String::new()),
                };
                Some(ClientView {
                    id,
                    user,
                    host,
                    db: None,
                    command: "Query",
                    running: r.running,
                    statement: Some(r.sql),
                    stopping: None,
                    node: Some(r.origin),
                })
            })
            .collect()
    }

    /// Interrupts the statement that [`Node::peer_clients`] lists as `id`, here. The
    /// client's own node answers it with the interruption, as after its own `KILL QUERY`;
    /// the client stays connected there. False if no such statement runs here.
    pub fn stop_peer_client(&self, id: u64) -> bool {
        let (origin, client) = (id >> 32, id & u64::from(u32::MAX));
        if peer_client_id(origin, client as u32) != Some(id) || origin == self.id() {
            return false;
        }
        self.interrupt_local(origin, client) > 0
    }
}
