//! A long statement gives its tokio worker's other work to another thread.
//!
//! Statements run synchronously on the thread that asked for them. On a multi-threaded
//! tokio runtime (the client runtime: HTTP requests, statements peers sent) that thread is
//! a worker, and while the statement runs, the worker's queued tasks and, when it was the
//! one polling them, the runtime's sockets wait. When every worker runs a long statement,
//! nothing else on the runtime moves: no health check, no other client's request, no
//! statement a follower sent on (docs/VERIFICATION.md, finding 29).
//!
//! Handing every statement's worker over (`block_in_place`) would cost a thread wake-up
//! per statement, more than most statements take. So only a statement that has run for
//! [`HAND_OVER_AFTER`] does it, from SQLite's progress handler: its worker's queue and
//! driver go to another thread, and the statement finishes on this one.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long a statement runs before it hands its worker over.
pub(crate) const HAND_OVER_AFTER: Duration = Duration::from_millis(50);

/// SQLite virtual machine steps between two looks at the clock (well under a millisecond).
const STEPS_BETWEEN_LOOKS: i32 = 10_000;

/// How long a hand-over waits for the runtime to take the worker's work on another thread.
const TAKE_OVER_WAIT: Duration = Duration::from_millis(5);

thread_local! {
    /// When this thread's statement started, or last handed its worker over; `None` when
    /// it runs none, or runs on a thread that is no multi-threaded runtime's worker.
    static NEXT_LOOK_FROM: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Lets statements on `conn` hand their worker over once they have run long.
pub(crate) fn install(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.progress_handler(
        STEPS_BETWEEN_LOOKS,
        Some(|| {
            look();
            // Never stops the statement: interrupts have their own path.
            false
        }),
    )
}

/// Marks the statement running on this thread from now on until dropped.
pub(crate) struct Running(());

impl Running {
    pub(crate) fn start() -> Running {
        NEXT_LOOK_FROM.set(Some(Instant::now()));
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        NEXT_LOOK_FROM.set(None);
    }
}

/// Called by the progress handler: hands the worker over once the statement has run long,
/// and again every [`HAND_OVER_AFTER`] while it runs. One hand-over is enough when it works,
/// but whether it did cannot be told for sure (see [`hand_over`]); once it did, another
/// costs a task and a channel.
fn look() {
    let Some(since) = NEXT_LOOK_FROM.get() else {
        return;
    };
    if since.elapsed() < HAND_OVER_AFTER {
        return;
    }
    let next = hand_over().then(Instant::now);
    NEXT_LOOK_FROM.set(next);
}

/// Hands this worker's queued tasks and driver to another thread, if this thread is a
/// worker of a multi-threaded runtime (false if it is not).
fn hand_over() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let Ok(runtime) = Handle::try_current() else {
        return false;
    };
    if runtime.runtime_flavor() != RuntimeFlavor::MultiThread {
        // A current-thread runtime (a MySQL connection's own thread) has no one to give
        // its work to, and `block_in_place` would panic there.
        return false;
    }
    tokio::task::block_in_place(|| {
        // `block_in_place` starts another thread on this worker's work; if that thread has
        // not taken it by the time this closure returns, the work stays here. A task
        // spawned now runs only once some worker polls the runtime: when every other one
        // runs a statement too, that is the new thread. Wait for it, briefly. (When another
        // worker was idle it may run the task first, and the work may stay here: then the
        // runtime still moves, and the next look tries again.)
        let (ran, runs) = std::sync::mpsc::sync_channel(1);
        drop(runtime.spawn(async move {
            let _ = ran.try_send(());
        }));
        let _ = runs.recv_timeout(TAKE_OVER_WAIT);
    });
    true
}
