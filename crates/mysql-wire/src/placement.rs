//! Keeping a connection's thread on the CPU where its client's packets arrive.
//!
//! A client on the same machine sends a query from the CPU its thread runs on, and the
//! kernel processes the packet there (`SO_INCOMING_CPU` reports it). When the thread that
//! answers runs on another CPU, every query and every reply is a wake-up across CPUs, which
//! on a virtual machine costs more than a point query (docs/BENCHMARKS.md, "Where a read's
//! CPU goes"). The scheduler does not always pair the two threads by itself. With
//! [`ServerConfig::follow_client_cpu`](crate::ServerConfig::follow_client_cpu) the thread
//! of a reading connection from this machine moves to the CPU its client's packets have
//! been arriving on.
//!
//! Three limits keep it from doing harm:
//! - **Reading connections only.** A command that wrote frees the thread, which follows
//!   again after [`READS_BEFORE_FOLLOWING`] commands without one.
//! - **Clients on this machine only** (a loopback peer, or one connecting from the
//!   address it connected to). For a client elsewhere the CPU is the one that took the
//!   network card's interrupt, which may be the same CPU for every connection.
//! - **No CPU gets more than one thread above an even share** of the pinned threads. A
//!   thread whose client's CPU is full is left free, where the scheduler puts it, so many
//!   connections from one client thread (a proxy) cannot pile onto one CPU.

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Restricts the calling thread to one CPU (`Some(cpu)`), or gives it back every CPU the
/// process may use (`None`). Supplied by the caller, since this crate has no unsafe code
/// and a thread's affinity is set with a system call.
pub type PinThread = Arc<dyn Fn(Option<usize>) -> std::io::Result<()> + Send + Sync>;

/// How connections' threads follow their clients' CPUs (see the module documentation),
/// shared by all connections of a server.
#[derive(Clone)]
pub struct FollowClientCpu {
    pin: PinThread,
    /// Threads pinned to each CPU, indexed by CPU number; `None` for a CPU the process
    /// may not use.
    pinned: Arc<[Option<AtomicUsize>]>,
    /// CPUs the process may use.
    cpus: usize,
}

impl FollowClientCpu {
    /// Follows clients' CPUs among `cpus` (the CPU numbers the process may run on),
    /// pinning threads with `pin`. `None` if `cpus` has fewer than two CPUs: there is
    /// nothing to choose.
    pub fn new(cpus: &[usize], pin: PinThread) -> Option<FollowClientCpu> {
        let slots = cpus.iter().max()? + 1;
        let pinned: Arc<[Option<AtomicUsize>]> = (0..slots)
            .map(|cpu| cpus.contains(&cpu).then(|| AtomicUsize::new(0)))
            .collect();
        let cpus = pinned.iter().flatten().count();
        (cpus >= 2).then_some(FollowClientCpu { pin, pinned, cpus })
    }

    fn load(&self, cpu: usize) -> Option<&AtomicUsize> {
        self.pinned.get(cpu)?.as_ref()
    }

    fn total(&self) -> usize {
        self.pinned
            .iter()
            .flatten()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }
}

impl fmt::Debug for FollowClientCpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowClientCpu")
            .field("cpus", &self.cpus)
            .field("pinned", &self.total())
            .finish()
    }
}

/// Whether a thread may move to a CPU that has `on_cpu` threads pinned, when `others`
/// threads are pinned in all (not counting this one) over `cpus` CPUs: after the move
/// that CPU holds at most one thread more than an even share.
fn has_room(on_cpu: usize, others: usize, cpus: usize) -> bool {
    on_cpu < (others + 1).div_ceil(cpus) + 1
}

/// Whether a peer is on this machine: a loopback address, or the address it connected
/// to (a client using the machine's own address).
pub(crate) fn is_local_peer(peer: SocketAddr, local: SocketAddr) -> bool {
    let peer = peer.ip().to_canonical();
    peer.is_loopback() || peer == local.ip().to_canonical()
}

/// Commands a connection must have read without writing before its thread follows its
/// client. A thread that waits for commits is better left free: while it sleeps, the Raft
/// log and the replicas' work need the CPUs, and when it wakes the scheduler can put it on
/// whichever is idle (pinned, interactive write transactions ran 13-17% slower).
const READS_BEFORE_FOLLOWING: u32 = 64;

/// Consecutive commands whose packets must arrive on a new CPU before the thread moves
/// there, so that it does not chase a client thread that ran elsewhere for a moment.
const COMMANDS_ON_NEW_CPU: u32 = 4;

/// One connection's side of [`FollowClientCpu`]: a duplicate of the socket it serves and
/// the CPU its thread is pinned to.
pub(crate) struct ClientCpu {
    socket: TcpStream,
    follow: FollowClientCpu,
    pinned: Option<usize>,
    /// Commands since the last one that wrote (saturating).
    reads: u32,
    /// The CPU the client's packets arrived on lately, if not `pinned`, and for how many
    /// commands in a row.
    seen: Option<(usize, u32)>,
}

impl ClientCpu {
    pub(crate) fn new(socket: TcpStream, follow: &FollowClientCpu) -> Self {
        ClientCpu {
            socket,
            follow: follow.clone(),
            pinned: None,
            reads: 0,
            seen: None,
        }
    }

    /// Called after each command is read. Once the connection has only read for a while,
    /// moves the calling thread to the CPU the client's packets have been arriving on, if
    /// that is not where it is pinned already and that CPU has room; frees it if its
    /// client moved to a CPU without room. A failure to read the CPU or to move leaves the
    /// thread where it is.
    pub(crate) fn follow(&mut self) {
        self.reads = self.reads.saturating_add(1);
        if self.reads < READS_BEFORE_FOLLOWING {
            return;
        }
        let Ok(cpu) = socket2::SockRef::from(&self.socket).cpu_affinity() else {
            return;
        };
        if self.pinned == Some(cpu) {
            self.seen = None;
            return;
        }
        let times = match self.seen {
            Some((seen, times)) if seen == cpu => times + 1,
            _ => 1,
        };
        self.seen = Some((cpu, times));
        if times < COMMANDS_ON_NEW_CPU {
            return;
        }
        let Some(target) = self.follow.load(cpu) else {
            return; // a CPU the process may not use
        };
        let others = self
            .follow
            .total()
            .saturating_sub(usize::from(self.pinned.is_some()));
        if has_room(target.load(Ordering::Relaxed), others, self.follow.cpus) {
            self.move_to(Some(cpu));
        } else if self.pinned.is_some() {
            self.move_to(None);
        }
    }

    /// Called when a command wrote (its OK counted affected rows): the thread is freed,
    /// and follows again after [`READS_BEFORE_FOLLOWING`] commands without a write.
    pub(crate) fn wrote(&mut self) {
        self.reads = 0;
        self.seen = None;
        if self.pinned.is_some() {
            self.move_to(None);
        }
    }

    fn move_to(&mut self, cpu: Option<usize>) {
        if let Err(e) = (self.follow.pin)(cpu) {
            tracing::debug!(?cpu, error = %e, "cannot move a connection's thread");
            return;
        }
        self.release();
        if let Some(load) = cpu.and_then(|c| self.follow.load(c)) {
            load.fetch_add(1, Ordering::Relaxed);
        }
        self.pinned = cpu;
        self.seen = None;
    }

    /// Takes this thread off its CPU's count.
    fn release(&mut self) {
        if let Some(load) = self.pinned.take().and_then(|c| self.follow.load(c)) {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for ClientCpu {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An even spread is allowed, and so is one thread above it, never two.
    #[test]
    fn a_cpu_takes_at_most_one_thread_above_an_even_share() {
        // Nothing pinned yet: the first thread may go anywhere.
        assert!(has_room(0, 0, 2));
        // Eight clients' threads split 4 / 4 over two CPUs: the last one joins its CPU.
        assert!(has_room(3, 7, 2));
        // 5 / 3 is one above the even share of 4: allowed; 6 / 2 is not.
        assert!(has_room(4, 7, 2));
        assert!(!has_room(5, 7, 2));
        // Every connection from one client thread, so all want one CPU: a third may join
        // two there (3 is one above the share of 2 out of 3), a fourth may not join three.
        assert!(has_room(2, 2, 2));
        assert!(!has_room(3, 3, 2));
        // Four CPUs, a single pinned thread: a second may join it.
        assert!(has_room(1, 1, 4));
        assert!(!has_room(2, 2, 4));
    }

    /// Loopback peers and peers using the machine's own address are local, others not.
    #[test]
    fn local_peers_are_loopback_or_the_address_they_reached() {
        let local: SocketAddr = "10.0.0.5:3307".parse().unwrap();
        assert!(is_local_peer("127.0.0.1:5000".parse().unwrap(), local));
        assert!(is_local_peer("127.3.2.1:5000".parse().unwrap(), local));
        assert!(is_local_peer("[::1]:5000".parse().unwrap(), local));
        assert!(is_local_peer(
            "[::ffff:127.0.0.1]:5000".parse().unwrap(),
            local
        ));
        assert!(is_local_peer("10.0.0.5:41000".parse().unwrap(), local));
        let local6: SocketAddr = "[::ffff:10.0.0.5]:3307".parse().unwrap();
        assert!(is_local_peer("10.0.0.5:41000".parse().unwrap(), local6));
        assert!(!is_local_peer("10.0.0.6:41000".parse().unwrap(), local));
        assert!(!is_local_peer(
            "[2001:db8::1]:41000".parse().unwrap(),
            local
        ));
    }

    /// `new` keeps the CPUs it is given and refuses a choice of one.
    #[test]
    fn following_needs_two_cpus() {
        let pin: PinThread = Arc::new(|_| Ok(()));
        assert!(FollowClientCpu::new(&[], pin.clone()).is_none());
        assert!(FollowClientCpu::new(&[3], pin.clone()).is_none());
        let f = FollowClientCpu::new(&[1, 3], pin).unwrap();
        assert_eq!(f.cpus, 2);
        assert!(f.load(0).is_none());
        assert!(f.load(1).is_some());
        assert!(f.load(2).is_none());
        assert!(f.load(3).is_some());
        assert!(f.load(4).is_none());
    }
}
