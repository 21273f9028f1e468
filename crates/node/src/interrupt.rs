//! Interrupting a client's running statement (MySQL `KILL QUERY`, `max_execution_time`).
//!
//! A client's statement runs on its own node (reads, and writes while that node leads) or
//! on the leader it was forwarded to. So an interrupt goes to the store's connection hook
//! here and, by `INTERRUPT` calls, to every other member: each interrupts only what runs
//! there for that client. A peer may interrupt only its own clients' statements: the
//! origin is the caller's authenticated node id, never a value in the request.

use std::time::Duration;

use futures::future::join_all;

use crate::network::{decode, encode, method};
use crate::node::Node;

/// How long an interrupt waits for each peer's answer.
const PEER_WAIT: Duration = Duration::from_secs(1);

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

    /// Interrupts what runs on this node for client `connection` of node `origin`.
    pub(crate) fn interrupt_local(&self, origin: u64, connection: u64) -> usize {
        match &self.store().config().hook {
            Some(h) => h.0.interrupt(origin, connection),
            None => 0,
        }
    }

    /// Interrupts statements run here for other nodes' clients once their node has surely
    /// stopped waiting for them: one second after its wait for a forwarded write
    /// (`forward_write_timeout`, the same setting on every node) ran out. A node that stops
    /// waiting interrupts them itself; this covers one that died meanwhile, whose
    /// statement would otherwise hold the writer for ever. Run by the housekeeping tick.
    pub(crate) fn interrupt_abandoned_peer_statements(&self) {
        let Some(hook) = &self.store().config().hook else {
            return;
        };
        let age = self.forward_write_timeout() + PEER_WAIT;
        let n = hook.0.interrupt_foreign_older_than(self.id(), age);
        if n > 0 {
            tracing::warn!(
                statements = n,
                "interrupted statements of other nodes' clients that outlived their wait"
            );
        }
    }

    /// Serves a peer's `INTERRUPT` call: the body is the connection id of one of its
    /// clients.
    pub(crate) fn serve_interrupt(&self, from: u64, body: &[u8]) -> Result<Vec<u8>, String> {
        let connection: u64 = decode(body).map_err(|e| e.to_string())?;
        Ok(encode(&self.interrupt_local(from, connection)))
    }
}
