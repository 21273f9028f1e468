//! Who gets in: clients still logging in and logged-in sessions are counted apart.
//!
//! A client takes one of `max_connections` session slots only once it has logged in. Until
//! then it is one of at most `max_connections` clients logging in; when one more arrives,
//! one of those is closed: the one logging in longest among those of the address with the
//! most clients logging in. Sockets that connect and say nothing from a few addresses
//! therefore only push out each other, and from anywhere else an honest login (which takes
//! milliseconds) goes through; a flood from as many addresses as there are slots can still
//! push out a client whose login takes longer than the flood needs to renew them. (Before,
//! every accepted socket held a session slot until its handshake timed out, so 512 silent
//! sockets, renewed every 10 s, kept every client out.)
//!
//! One session more than `max_connections` is kept for an administrator (an account the
//! backend calls one, see [`Backend::administrator`](crate::Backend::administrator)), as
//! MySQL keeps one for SUPER: an operator can always log in to see who holds the slots and
//! end them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Sessions kept for administrators beyond `max_connections`.
pub(crate) const ADMINISTRATOR_SESSIONS: usize = 1;

/// The limits of one listener.
pub(crate) struct Admission {
    sessions: Arc<Semaphore>,
    administrators: Arc<Semaphore>,
    /// Clients logging in, oldest first, each with its address and the signal that closes
    /// it.
    logging_in: Mutex<VecDeque<Arriving>>,
    logging_in_max: usize,
    next: AtomicU64,
}

/// One client logging in: its number, its address, and the signal that closes it.
type Arriving = (u64, Option<IpAddr>, Arc<Notify>);

/// What a client logging in holds; dropping it leaves the queue.
pub(crate) struct LoggingIn {
    admission: Arc<Admission>,
    id: u64,
    pushed_out: Arc<Notify>,
}

/// A logged-in client's slot, released when dropped.
pub(crate) struct Session {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    pub(crate) fn new(max_connections: usize) -> Arc<Admission> {
        let max = max_connections.max(1);
        Arc::new(Admission {
            sessions: Arc::new(Semaphore::new(max)),
            administrators: Arc::new(Semaphore::new(ADMINISTRATOR_SESSIONS)),
            logging_in: Mutex::new(VecDeque::new()),
            logging_in_max: max,
            next: AtomicU64::new(0),
        })
    }

    /// A client from `ip` arrives. Returns its place among the clients logging in, and
    /// whether another one was pushed out to make room (see the module's documentation).
    pub(crate) fn arrive(self: &Arc<Self>, ip: Option<IpAddr>) -> (LoggingIn, bool) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let pushed_out = Arc::new(Notify::new());
        let mut queue = self.logging_in.lock().unwrap_or_else(|p| p.into_inner());
        let mut evicted = false;
        while queue.len() >= self.logging_in_max {
            // The address with the most clients logging in (the newcomer counts), and of
            // those the oldest (the queue is in arrival order).
            let mut counts: HashMap<Option<IpAddr>, usize> = HashMap::new();
            *counts.entry(ip).or_default() += 1;
            for (_, a, _) in queue.iter() {
                *counts.entry(*a).or_default() += 1;
            }
            // Among equally busy addresses, the one whose client has waited longest.
            let most = counts.values().copied().max().unwrap_or(0);
            let at = queue
                .iter()
                .position(|(_, a, _)| counts.get(a) == Some(&most))
                .unwrap_or(0);
            if let Some((_, _, victim)) = queue.remove(at) {
                // Stored as a permit if its connection is not waiting on it yet.
                victim.notify_one();
                evicted = true;
            }
        }
        queue.push_back((id, ip, pushed_out.clone()));
        drop(queue);
        (
            LoggingIn {
                admission: self.clone(),
                id,
                pushed_out,
            },
            evicted,
        )
    }

    /// A session slot for a client that logged in, `None` when all are taken (the kept
    /// administrator slot too, or the client is no administrator).
    pub(crate) fn session(&self, administrator: bool) -> Option<Session> {
        if let Ok(p) = self.sessions.clone().try_acquire_owned() {
            return Some(Session { _permit: p });
        }
        if administrator && let Ok(p) = self.administrators.clone().try_acquire_owned() {
            return Some(Session { _permit: p });
        }
        None
    }
}

impl LoggingIn {
    /// Resolves when a newer client pushed this one out of the clients logging in.
    pub(crate) async fn pushed_out(&self) {
        self.pushed_out.notified().await;
    }
}

impl Drop for LoggingIn {
    fn drop(&mut self) {
        let mut queue = self
            .admission
            .logging_in
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(at) = queue.iter().position(|(id, _, _)| *id == self.id) {
            queue.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Property: the number of clients logging in never passes the limit; the newcomer
    /// pushes out the client logging in longest, and only that one; a client that finished
    /// logging in (dropped its place) is never pushed out.
    #[tokio::test]
    async fn the_oldest_client_logging_in_makes_room() {
        let a = Admission::new(2);
        let (first, evicted) = a.arrive(None);
        assert!(!evicted);
        let (second, evicted) = a.arrive(None);
        assert!(!evicted);
        let (third, evicted) = a.arrive(None);
        assert!(evicted, "a third client logging in pushes one out");
        let signalled = |c: &LoggingIn| {
            let c = c.pushed_out.clone();
            async move {
                tokio::time::timeout(Duration::from_millis(50), c.notified())
                    .await
                    .is_ok()
            }
        };
        assert!(signalled(&first).await, "the oldest one goes");
        assert!(!signalled(&second).await);
        assert_eq!(a.logging_in.lock().unwrap().len(), 2);
        // `second` logs in: it leaves the queue, and the next newcomer pushes out `third`.
        drop(second);
        let (_fourth, evicted) = a.arrive(None);
        assert!(!evicted, "room was left by the client that logged in");
        let (_fifth, evicted) = a.arrive(None);
        assert!(evicted);
        assert!(signalled(&third).await);
        drop(first);
        assert_eq!(a.logging_in.lock().unwrap().len(), 2);
    }

    /// Property: when room must be made, a client of the address with the most clients
    /// logging in goes (its oldest), not an older client from another address; when the
    /// newcomer's own address has the most, the newcomer pushes out its own oldest.
    #[tokio::test]
    async fn the_busiest_address_makes_room() {
        let ip = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        let a = Admission::new(3);
        let (honest, _) = a.arrive(ip(1));
        let (flood1, _) = a.arrive(ip(2));
        let (flood2, _) = a.arrive(ip(2));
        let gone = |c: &LoggingIn| {
            let c = c.pushed_out.clone();
            async move {
                tokio::time::timeout(Duration::from_millis(50), c.notified())
                    .await
                    .is_ok()
            }
        };
        let (flood3, evicted) = a.arrive(ip(2));
        assert!(evicted);
        assert!(gone(&flood1).await, "the flooding address's oldest goes");
        assert!(!gone(&honest).await, "the older honest client stays");
        let (_honest2, evicted) = a.arrive(ip(3));
        assert!(evicted);
        assert!(gone(&flood2).await);
        assert!(!gone(&honest).await);
        assert!(!gone(&flood3).await);
        // Every address now has one client logging in: the one waiting longest goes.
        let (_other, evicted) = a.arrive(ip(4));
        assert!(evicted);
        assert!(gone(&honest).await, "among equals, the oldest");
        assert!(!gone(&flood3).await);
    }

    /// Property: sessions are limited to `max_connections`, plus one kept for an
    /// administrator, and a slot comes back when its session ends.
    #[test]
    fn sessions_keep_one_slot_for_an_administrator() {
        let a = Admission::new(1);
        let user = a.session(false).expect("the first session");
        assert!(a.session(false).is_none(), "the limit is reached");
        let admin = a.session(true).expect("kept for an administrator");
        assert!(a.session(true).is_none(), "only one is kept");
        drop(user);
        assert!(a.session(false).is_some(), "the slot came back");
        drop(admin);
        assert!(a.session(true).is_some());
    }
}
