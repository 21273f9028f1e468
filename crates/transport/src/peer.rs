//! The dialing side: one connection per path to a peer, kept alive and checked, and calls
//! that fail over between paths.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::BoxStream;
use crate::frame::{Assembler, Frame, Kind, read_frame, write_frames};
use crate::{
    Identity, PathStatus, PeerStatus, RemoteError, TransportConfig, TransportError, handshake,
};

/// Longest pause between reconnection attempts on a path that is down.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(200);
/// Pause after the peer refused our handshake (wrong secret, fenced, ...).
const REFUSED_BACKOFF: Duration = Duration::from_secs(2);

enum Reply {
    Ok(Vec<u8>),
    Err(RemoteError),
    /// The path carrying the call went down before an answer came.
    PathDown,
}

/// One live, authenticated connection over one path.
struct Conn {
    tx: mpsc::Sender<Frame>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Milliseconds since `Peer::origin` when a frame last arrived.
    last_rx_ms: AtomicU64,
    closed: AtomicBool,
}

impl Conn {
    fn fail_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for (_, tx) in self.pending.lock().drain() {
            let _ = tx.send(Reply::PathDown);
        }
    }
}

struct PathSlot {
    addr: String,
    conn: Mutex<Option<Arc<Conn>>>,
    status: Mutex<PathStatus>,
}

/// The client side of one peer.
pub struct Peer {
    node: u64,
    addrs: Vec<String>,
    paths: Vec<Arc<PathSlot>>,
    config: TransportConfig,
    origin: Instant,
    next_id: AtomicU64,
    path_up: Notify,
    shutdown: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    path_up_events: tokio::sync::watch::Sender<u64>,
}

impl Peer {
    pub(crate) fn start(
        node: u64,
        addrs: Vec<String>,
        identity: Arc<Identity>,
        config: TransportConfig,
        runtime: &tokio::runtime::Handle,
        path_up_events: tokio::sync::watch::Sender<u64>,
    ) -> Arc<Self> {
        let now = SystemTime::now();
        let paths = addrs
            .iter()
            .map(|a| {
                Arc::new(PathSlot {
                    addr: a.clone(),
                    conn: Mutex::new(None),
                    status: Mutex::new(PathStatus {
                        addr: a.clone(),
                        up: false,
                        since: now,
                        rtt_us: None,
                        last_error: None,
                    }),
                })
            })
            .collect();
        let peer = Arc::new(Self {
            node,
            addrs,
            paths,
            config,
            origin: Instant::now(),
            next_id: AtomicU64::new(1),
            path_up: Notify::new(),
            shutdown: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            path_up_events,
        });
        let mut tasks = Vec::new();
        for i in 0..peer.paths.len() {
            let p = peer.clone();
            let id = identity.clone();
            tasks.push(runtime.spawn(async move { p.run_path(i, id).await }));
        }
        *peer.tasks.lock() = tasks;
        peer
    }

    pub fn node_id(&self) -> u64 {
        self.node
    }

    pub(crate) fn addrs(&self) -> &[String] {
        &self.addrs
    }

    pub(crate) fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        for p in &self.paths {
            if let Some(c) = p.conn.lock().take() {
                c.fail_all();
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Path health, for status screens.
    pub fn status(&self) -> PeerStatus {
        PeerStatus {
            node_id: self.node,
            paths: self.paths.iter().map(|p| p.status.lock().clone()).collect(),
        }
    }

    fn set_status(&self, slot: &PathSlot, up: bool, error: Option<String>) {
        let mut st = slot.status.lock();
        if st.up != up {
            st.up = up;
            st.since = SystemTime::now();
            if up {
                tracing::info!(peer = self.node, path = %slot.addr, "path up");
            } else {
                tracing::warn!(peer = self.node, path = %slot.addr, reason = error.as_deref().unwrap_or(""), "path down");
            }
        }
        if !up {
            st.rtt_us = None;
        }
        if error.is_some() {
            st.last_error = error;
        }
    }

    /// A connection that is up and recently heard from, preferring the first configured path.
    fn healthy(&self) -> Option<Arc<Conn>> {
        let now = self.now_ms();
        let timeout = self.config.path_timeout.as_millis() as u64;
        self.paths.iter().find_map(|p| {
            let c = p.conn.lock().clone()?;
            let fresh = now.saturating_sub(c.last_rx_ms.load(Ordering::Relaxed)) <= timeout;
            (fresh && !c.closed.load(Ordering::SeqCst)).then_some(c)
        })
    }

    /// Calls `method` on the peer. `idempotent` calls are re-sent over another path when the
    /// path carrying them goes down; others report [`TransportError::Interrupted`].
    pub async fn call(
        &self,
        method: u16,
        body: Vec<u8>,
        timeout: Duration,
        idempotent: bool,
    ) -> Result<Vec<u8>, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Shared by every attempt: sending it again on another path copies nothing.
        let body = Bytes::from(body);
        loop {
            let conn = match self.healthy() {
                Some(c) => c,
                None if !self.first_connect_pending() => {
                    return Err(TransportError::Unreachable {
                        node: self.node,
                        reason: self.down_reason(),
                    });
                }
                None => {
                    // A path is connecting for the first time: give it a moment.
                    let wait = self
                        .config
                        .connect_timeout
                        .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
                    let up = tokio::time::timeout(wait, self.path_up.notified())
                        .await
                        .is_ok();
                    if up && let Some(c) = self.healthy() {
                        c
                    } else {
                        return Err(TransportError::Unreachable {
                            node: self.node,
                            reason: self.down_reason(),
                        });
                    }
                }
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            conn.pending.lock().insert(id, tx);
            if conn.closed.load(Ordering::SeqCst) {
                conn.pending.lock().remove(&id);
                continue;
            }
            let frame = Frame::new(Kind::Request, id, method, body.clone());
            if conn.tx.send(frame).await.is_err() {
                conn.pending.lock().remove(&id);
                if idempotent {
                    continue;
                }
                return Err(TransportError::Interrupted { node: self.node });
            }
            let reply = tokio::select! {
                r = rx => r.unwrap_or(Reply::PathDown),
                _ = tokio::time::sleep_until(deadline) => {
                    conn.pending.lock().remove(&id);
                    return Err(TransportError::Timeout { node: self.node, timeout });
                }
            };
            match reply {
                Reply::Ok(body) => return Ok(body),
                Reply::Err(error) => {
                    return Err(TransportError::Remote {
                        node: self.node,
                        error,
                    });
                }
                Reply::PathDown if idempotent => continue,
                Reply::PathDown => return Err(TransportError::Interrupted { node: self.node }),
            }
        }
    }

    /// True while some path has not yet tried to connect (just created).
    fn first_connect_pending(&self) -> bool {
        self.paths.iter().any(|p| {
            let st = p.status.lock();
            !st.up && st.last_error.is_none()
        })
    }

    fn down_reason(&self) -> String {
        let reasons: Vec<String> = self
            .paths
            .iter()
            .map(|p| {
                let st = p.status.lock();
                format!(
                    "{} {}",
                    p.addr,
                    st.last_error.clone().unwrap_or_else(|| "down".into())
                )
            })
            .collect();
        format!("no path up ({})", reasons.join("; "))
    }

    async fn run_path(self: Arc<Self>, index: usize, identity: Arc<Identity>) {
        let slot = self.paths[index].clone();
        let mut backoff = Duration::from_millis(50);
        let mut unreachable = false;
        while !self.shutdown.load(Ordering::SeqCst) {
            let attempt = self.connect(&slot, &identity);
            tokio::pin!(attempt);
            let probe = self.config.arp_probe.filter(|_| unreachable);
            let result = if let Some(every) = probe {
                // The kernel may have forgotten the peer's link-layer address: ask for it
                // while trying, so that a returning cable is usable at once (see `arp`).
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        r = &mut attempt => break r,
                        _ = tick.tick() => crate::arp::probe(&slot.addr),
                    }
                }
            } else {
                attempt.await
            };
            match result {
                Ok(stream) => {
                    backoff = Duration::from_millis(50);
                    unreachable = false;
                    self.run_connection(&slot, stream).await;
                }
                Err(e) => {
                    unreachable = !matches!(e, TransportError::Refused(_));
                    if let TransportError::Refused(why) = &e
                        && why.contains("is fenced")
                    {
                        identity.set_fenced(why.clone());
                    }
                    self.set_status(&slot, false, Some(e.to_string()));
                    // A refused handshake is not going to fix itself quickly.
                    if matches!(e, TransportError::Refused(_)) {
                        backoff = REFUSED_BACKOFF;
                    }
                }
            }
            if self.shutdown.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(backoff).await;
            // Retrying stays cheap (one SYN), and a reconnected cable must be noticed within
            // a fraction of a second: the cap is kept low on purpose.
            backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
        }
    }

    async fn connect(
        &self,
        slot: &PathSlot,
        identity: &Identity,
    ) -> Result<BoxStream, TransportError> {
        let tcp = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(&slot.addr))
            .await
            .map_err(|_| TransportError::Unreachable {
                node: self.node,
                reason: "connect timed out".into(),
            })??;
        tcp.set_nodelay(true)?;
        crate::frame::limit_unsent(&tcp);
        let mut stream: BoxStream = match &self.config.tls {
            None => Box::new(tcp),
            Some(tls) => {
                // The server must prove it is node `self.node` of this cluster's CA.
                let connector = tokio_rustls::TlsConnector::from(tls.client.clone());
                let connected = tokio::time::timeout(
                    self.config.handshake_timeout,
                    connector.connect(quorate_tls::server_name(self.node), tcp),
                )
                .await
                .map_err(|_| TransportError::Handshake("TLS handshake timed out".into()))?;
                Box::new(connected.map_err(|e| TransportError::Refused(format!("TLS: {e}")))?)
            }
        };
        handshake::client(
            &mut stream,
            identity,
            self.node,
            self.config.handshake_timeout,
        )
        .await?;
        Ok(stream)
    }

    async fn run_connection(&self, slot: &PathSlot, stream: BoxStream) {
        let (mut rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel::<Frame>(1024);
        let conn = Arc::new(Conn {
            tx: tx.clone(),
            pending: Mutex::new(HashMap::new()),
            last_rx_ms: AtomicU64::new(self.now_ms()),
            closed: AtomicBool::new(false),
        });
        let writer = tokio::spawn(write_frames(wr, rx));
        let reader_conn = conn.clone();
        let origin = self.origin;
        let max = self.config.max_frame_bytes;
        let rtt = Arc::new(AtomicU64::new(0));
        let reader_rtt = rtt.clone();
        let mut reader = tokio::spawn(async move {
            let mut pieces = Assembler::new(max);
            loop {
                let frame = match read_frame(&mut rd, max).await {
                    Ok(Some(f)) => f,
                    Ok(None) => return "closed by peer".to_string(),
                    Err(e) => return e.to_string(),
                };
                // Every frame, a piece of a large reply included, shows the path is alive.
                let now = origin.elapsed().as_micros() as u64;
                reader_conn.last_rx_ms.store(now / 1000, Ordering::Relaxed);
                let frame = match pieces.push(frame) {
                    Ok(Some(f)) => f,
                    Ok(None) => continue,
                    Err(e) => return e.to_string(),
                };
                match frame.kind {
                    Kind::Pong => reader_rtt.store(now.saturating_sub(frame.id), Ordering::Relaxed),
                    Kind::ResponseOk | Kind::ResponseErr => {
                        let Some(waiter) = reader_conn.pending.lock().remove(&frame.id) else {
                            continue;
                        };
                        let reply = if frame.kind == Kind::ResponseOk {
                            Reply::Ok(frame.body.into())
                        } else {
                            Reply::Err(rmp_serde::from_slice(&frame.body).unwrap_or_else(|_| {
                                RemoteError::new("protocol", "unreadable error from peer")
                            }))
                        };
                        let _ = waiter.send(reply);
                    }
                    other => return format!("unexpected frame {other:?} from peer"),
                }
            }
        });
        *slot.conn.lock() = Some(conn.clone());
        self.set_status(slot, true, None);
        self.path_up.notify_waiters();
        self.path_up_events.send_modify(|n| *n += 1);

        let mut tick = tokio::time::interval(self.config.keepalive);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let timeout_ms = self.config.path_timeout.as_millis() as u64;
        let keepalive_ms = self.config.keepalive.as_millis() as u64;
        let mut last_check_ms = self.now_ms();
        let reason = loop {
            tokio::select! {
                r = &mut reader => break r.unwrap_or_else(|e| e.to_string()),
                _ = tick.tick() => {
                    if self.shutdown.load(Ordering::SeqCst) {
                        break "shut down".to_string();
                    }
                    let now = self.now_ms();
                    // This check itself ran late: this process was not running its tasks
                    // (a busy machine, a large message on the same runtime), so the reader
                    // may not have taken the frames that did arrive. Silence measured
                    // across our own stall says nothing of the path: judge it next round.
                    let stalled = now.saturating_sub(last_check_ms) > keepalive_ms + timeout_ms / 2;
                    last_check_ms = now;
                    let silent = now.saturating_sub(conn.last_rx_ms.load(Ordering::Relaxed));
                    if silent > timeout_ms && !stalled {
                        break format!("no keepalive answer for {silent} ms");
                    }
                    let stamp = self.origin.elapsed().as_micros() as u64;
                    // Never block the keepalive on a full queue: a full queue is itself a sign.
                    let _ = tx.try_send(Frame::new(Kind::Ping, stamp, 0, Vec::new()));
                    let r = rtt.load(Ordering::Relaxed);
                    if r > 0 {
                        slot.status.lock().rtt_us = Some(r);
                    }
                }
            }
        };
        *slot.conn.lock() = None;
        conn.fail_all();
        reader.abort();
        writer.abort();
        self.set_status(slot, false, Some(reason));
    }
}
