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
