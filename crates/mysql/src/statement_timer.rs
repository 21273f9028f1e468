//! `max_execution_time`: interrupts a SELECT that runs longer than the session allows.
//!
//! A statement may run synchronously on its connection's own thread (a read on a read
//! connection), so its limit cannot be kept by that thread's runtime: the node's statement
//! timer runtime ([`quorate_node::timers`]) keeps it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use quorate_node::Node;
use tokio::task::JoinHandle;

use crate::KillSwitch;

/// The limit of one running statement; dropping it lifts the limit.
pub(crate) struct Timer(JoinHandle<()>);

impl Drop for Timer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Interrupts the statement client connection `connection` runs (wherever it runs) once
/// `limit` has passed, unless the returned timer is dropped first. `kill.timed_out` tells the
/// session why its statement failed.
pub(crate) fn start(limit: Duration, node: Node, connection: u32, kill: Arc<KillSwitch>) -> Timer {
    let statement = kill.statement.load(Ordering::SeqCst);
    Timer(quorate_node::timers().spawn(async move {
        tokio::time::sleep(limit).await;
        if kill.statement.load(Ordering::SeqCst) != statement {
            return;
        }
        kill.timed_out.store(true, Ordering::SeqCst);
        let n = node.interrupt_client(u64::from(connection)).await;
        tracing::debug!(connection, interrupted = n, "max_execution_time reached");
    }))
}
