//! Interrupting a client's running statement (MySQL `KILL QUERY`, `max_execution_time`).
//!
//! A client's statement runs on its own node (reads, and writes while that node leads) or
//! on the leader it was forwarded to. So an interrupt goes to the store's connection hook
//! here and, by `INTERRUPT` calls, to every other member: each interrupts only what runs
//! there for that client. A peer may interrupt only its own clients' statements: the
//! origin is the caller's authenticated node id, never a value in the request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use parking_lot::Mutex;
use quorate_transport::{Peer, TransportError};

use crate::network::{decode, encode, method};
use crate::node::Node;

/// How long an interrupt waits for each peer's answer.
const PEER_WAIT: Duration = Duration::from_secs(1);

/// How often a node waiting for its client's statement on another node tells that node
/// it still waits (`STILL_WAITING`).
const STILL_WAITING_EVERY: Duration = Duration::from_secs(1);

/// How long a node waits for a client's statement it sent on, while the node running it
/// stays reachable: a day, as long as any limit a client can ask for. A statement runs
/// as long through a follower as on the leader; what bounds it is the client's own limit
/// (`KILL`, `max_execution_time`, an HTTP request's limits, hanging up).
pub(crate) const FORWARD_WAIT_MAX: Duration = Duration::from_secs(24 * 3600);

/// Most (node, client) pairs remembered as still waited for; a peer naming more is not
/// believed beyond that (older entries are dropped first).
const WAITERS_MAX: usize = 65_536;

/// How long a node waits for the answer to statements it sent to another node.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// At most this long (statements of no client: the node's own).
    AtMost(Duration),
    /// While the other node stays reachable: the statements of one of this node's clients,
    /// by its id.
    ForClient(u64),
}

/// Other nodes' clients whose statements run here, and when their node last said it still
/// waits for them (leader side).
#[derive(Default)]
pub(crate) struct Waiters(Mutex<HashMap<(u64, u64), Instant>>);

/// The runtime that keeps statements' time limits: one small runtime on a thread of its
/// own, started on first use. A limit cannot be kept by the runtime that runs the
/// statement: a statement runs synchronously on its worker, and a task that worker spawned
/// waits in its slot, which no other worker takes over, until the statement ends.
pub fn timers() -> &'static tokio::runtime::Handle {
    static TIMERS: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    TIMERS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("statement-timers".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .expect("the statement timer thread starts");
        handle
    })
}

impl Node {
    /// Interrupts the statement that client connection `connection` of this node is
    /// running, wherever it runs. Returns how many statements were interrupted (0 when it
    /// had just finished, or a peer could not be reached in time).
    pub async fn interrupt_client(&self, connection: u64) -> usize {
        let mut n = self.interrupt_local(self.id(), connection);
        let me = self.id();
        let peers: Vec<_> = {
            let m = self.metrics();
            m.membership_config
                .membership()
                .nodes()
                .filter(|(id, _)| **id != me)
                .map(|(id, info)| (*id, info.clone()))
                .collect()
        };
        let body = encode(&connection);
        let calls = peers.iter().map(|(id, info)| {
            let peer = self.inner.transport.peer(*id, &info.peer_addrs);
            let body = body.clone();
            async move { peer.call(method::INTERRUPT, body, PEER_WAIT, true).await }
        });
        for reply in join_all(calls).await {
            match reply.map(|body| decode::<usize>(&body)) {
                Ok(Ok(k)) => n += k,
                Ok(Err(e)) => tracing::debug!(error = %e, "undecodable answer to an interrupt"),
                Err(e) => tracing::debug!(error = %e, "a peer did not take an interrupt"),
            }
        }
        n
    }

    /// Interrupts what runs on this node for client `connection` of node `origin`, and
    /// ends its wait for the writer if it waits for it.
    pub(crate) fn interrupt_local(&self, origin: u64, connection: u64) -> usize {
        let waits = self.store().interrupt_waiting(origin, connection);
        let runs = match &self.store().config().hook {
            Some(h) => h.0.interrupt(origin, connection),
            None => 0,
        };
        waits + runs
    }

    /// Interrupts statements run here for other nodes' clients once their node has surely
    /// stopped waiting for them: when it has not said it still waits (`STILL_WAITING`, every
    /// second while it waits) for as long as a forwarded write may take
    /// (`forward_write_timeout`, the same setting on every node) plus one second. A node
    /// that stops waiting interrupts them itself; this covers one that died or was cut off
    /// meanwhile, whose statement would otherwise hold the writer for ever. Run by the
    /// housekeeping tick.
    pub(crate) fn interrupt_abandoned_peer_statements(&self) {
        let Some(hook) = &self.store().config().hook else {
            return;
        };
        let age = self.forward_write_timeout() + PEER_WAIT;
        let waited_for: std::collections::HashSet<(u64, u64)> = {
            let mut waiters = self.inner.waiters.0.lock();
            waiters.retain(|_, said| said.elapsed() <= age);
            waiters.keys().copied().collect()
        };
        let n = hook
            .0
            .interrupt_foreign_older_than(self.id(), age, &|origin, client| {
                waited_for.contains(&(origin, client))
            });
        if n > 0 {
            tracing::warn!(
                statements = n,
                "interrupted statements of other nodes' clients that outlived their wait"
            );
        }
    }

    /// Serves a peer's `STILL_WAITING` call: the body is the id of one of its clients whose
    /// statement it sent here and still waits for.
    pub(crate) fn serve_still_waiting(&self, from: u64, body: &[u8]) -> Result<Vec<u8>, String> {
        let client: u64 = decode(body).map_err(|e| e.to_string())?;
        let mut waiters = self.inner.waiters.0.lock();
        if waiters.len() >= WAITERS_MAX && !waiters.contains_key(&(from, client)) {
            let age = self.forward_write_timeout() + PEER_WAIT;
            waiters.retain(|_, said| said.elapsed() <= age);
            if waiters.len() >= WAITERS_MAX {
                return Err(format!(
                    "more than {WAITERS_MAX} clients said to be waiting"
                ));
            }
        }
        waiters.insert((from, client), Instant::now());
        Ok(encode(&()))
    }

    /// How long to wait for the leader's answer to statements run with `context`: while
    /// it stays reachable when they are a client's of this node (their context names it),
    /// else at most `forward_write_timeout`.
    pub(crate) fn wait_for(&self, context: &[u8]) -> Wait {
        match quorate_store::client::of(context) {
            Some((origin, client)) if origin == self.id() => Wait::ForClient(u64::from(client)),
            _ => Wait::AtMost(self.forward_write_timeout()),
        }
    }

    /// Calls `peer` and waits for its answer as `wait` says. For a client's statement the
    /// wait lasts while `peer` stays reachable (up to [`FORWARD_WAIT_MAX`]; a path that goes
    /// down ends it), and `peer` is told every second that this node still waits, so that
    /// it does not take the statement for abandoned.
    pub(crate) async fn call_waiting(
        &self,
        peer: &Arc<Peer>,
        m: u16,
        body: Vec<u8>,
        idempotent: bool,
        wait: Wait,
    ) -> Result<Vec<u8>, TransportError> {
        let client = match wait {
            Wait::AtMost(timeout) => return peer.call(m, body, timeout, idempotent).await,
            Wait::ForClient(client) => client,
        };
        let call = peer.call(m, body, FORWARD_WAIT_MAX, idempotent);
        tokio::pin!(call);
        let start = tokio::time::Instant::now() + STILL_WAITING_EVERY;
        let mut every = tokio::time::interval_at(start, STILL_WAITING_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                reply = &mut call => return reply,
                _ = every.tick() => {
                    // On its own task: a slow answer must not delay the call's.
                    let peer = peer.clone();
                    let body = encode(&client);
                    tokio::spawn(async move {
                        let said = peer.call(method::STILL_WAITING, body, PEER_WAIT, true).await;
                        if let Err(e) = said {
                            tracing::debug!(error = %e, client, "could not say a client still waits");
                        }
                    });
                }
            }
        }
    }

    /// Serves a peer's `INTERRUPT` call: the body is the connection id of one of its
    /// clients.
    pub(crate) fn serve_interrupt(&self, from: u64, body: &[u8]) -> Result<Vec<u8>, String> {
        let connection: u64 = decode(body).map_err(|e| e.to_string())?;
        Ok(encode(&self.interrupt_local(from, connection)))
    }
}
