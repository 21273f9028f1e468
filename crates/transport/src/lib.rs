//! Peer transport of quorate.
//!
//! A peer may be reachable over several network paths (two NICs, two switches). For every
//! path we keep one TCP connection, send a keepalive on it every `keepalive` and consider it
//! down after `path_timeout` of silence: a pulled cable is silence, not a reset, so we do not
//! wait for TCP to notice. A call goes over a healthy path; if that path goes down while the
//! call waits, an idempotent call is re-sent at once over another healthy path.
//!
//! Every connection starts with the mutual HMAC handshake of [`handshake`].
//!
//! The transport carries opaque request bodies tagged with a method number; `quorate-node`
//! defines the methods (Raft RPCs, forwarded writes and reads, snapshot chunks, ...).

mod arp;
mod frame;
mod handshake;
mod peer;
mod server;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

pub use handshake::PeerIdentity;

/// Fuzzing entry point: every decoder of bytes a peer sends before and after the
/// handshake (frames with their size bound, large messages joined from their pieces, and
/// the handshake messages). Must never panic.
pub fn fuzz_decode(data: &[u8]) {
    let mut rest = data;
    let mut pieces = frame::Assembler::new(1 << 16);
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > 1 << 20 || rest.len() < 4 + len {
            break;
        }
        if let Ok(f) = frame::decode(&rest[4..4 + len]) {
            handshake::fuzz_messages(&f.body);
            if pieces.push(f).is_err() {
                // The connection would end here; go on as a new one.
                pieces = frame::Assembler::new(1 << 16);
            }
        }
        rest = &rest[4 + len..];
    }
    handshake::fuzz_messages(data);
}
pub use peer::Peer;

/// Tunables of the transport. Defaults give fail-over between paths in well under a second.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Interval of keepalive pings on every path.
    pub keepalive: Duration,
    /// Silence after which a path is considered down.
    pub path_timeout: Duration,
    /// Time allowed to establish a TCP connection.
    pub connect_timeout: Duration,
    /// While a path is down, the interval of its ARP requests for the peer's address
    /// (Linux, CAP_NET_RAW; see `arp`). None: off.
    pub arp_probe: Option<Duration>,
    /// Time allowed for the handshake.
    pub handshake_timeout: Duration,
    /// Largest frame body accepted from a peer.
    pub max_frame_bytes: usize,
    /// Inbound connections silent for this long are closed.
    pub idle_timeout: Duration,
    /// Most inbound connections served at once (a flood cannot exhaust the node).
    pub max_inbound_connections: usize,
    /// Mutual TLS with the cluster CA on every peer connection (the HMAC handshake then
    /// runs inside it). None: authenticated by the handshake only, not encrypted.
    pub tls: Option<PeerTls>,
}

/// The rustls configurations of peer connections.
#[derive(Clone)]
pub struct PeerTls {
    pub server: Arc<tokio_rustls::rustls::ServerConfig>,
    pub client: Arc<tokio_rustls::rustls::ClientConfig>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

/// A byte stream to a peer: plain TCP or TLS over TCP.
pub(crate) trait Stream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {}
pub(crate) type BoxStream = Box<dyn Stream>;

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_millis(100),
            path_timeout: Duration::from_millis(400),
            connect_timeout: Duration::from_millis(300),
            arp_probe: Some(Duration::from_millis(100)),
            handshake_timeout: Duration::from_secs(2),
            max_frame_bytes: 128 << 20,
            idle_timeout: Duration::from_secs(10),
            max_inbound_connections: 512,
            tls: None,
        }
    }
}

/// Who this node is, as proven to peers. Cluster id and epoch can change at run time
/// (adopted at first contact; raised by a recovery).
pub struct Identity {
    pub node_id: u64,
    pub cluster_name: String,
    secret: Vec<u8>,
    cluster_id: RwLock<Option<String>>,
    epoch: AtomicU64,
    /// Why a peer refused this node as fenced (its epoch is older), if one did.
    fenced: RwLock<Option<String>>,
}

impl Identity {
    pub fn new(
        node_id: u64,
        cluster_name: String,
        secret: Vec<u8>,
        cluster_id: Option<String>,
        epoch: u64,
    ) -> Self {
        Self {
            node_id,
            cluster_name,
            secret,
            cluster_id: RwLock::new(cluster_id),
            epoch: AtomicU64::new(epoch),
            fenced: RwLock::new(None),
        }
    }
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id.read().clone()
    }
    pub fn set_cluster_id(&self, id: Option<String>) {
        *self.cluster_id.write() = id;
    }
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::SeqCst);
    }
    /// Set when a peer refused this node because a recovery fenced it off.
    pub fn fenced(&self) -> Option<String> {
        self.fenced.read().clone()
    }
    pub(crate) fn set_fenced(&self, why: String) {
        let mut f = self.fenced.write();
        if f.is_none() {
            *f = Some(why);
        }
    }
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

/// An error a remote handler returned: a stable code and a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RemoteError {
    pub code: String,
    pub message: String,
}

impl RemoteError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No path to the peer is up (or none came up before the deadline).
    #[error("node {node} unreachable: {reason}")]
    Unreachable { node: u64, reason: String },
    /// The call was sent but no answer came in time.
    #[error("node {node} did not answer within {timeout:?}")]
    Timeout { node: u64, timeout: Duration },
    /// The connection broke after a non-idempotent call was sent: it may have run.
    #[error(
        "connection to node {node} lost while the call was in flight; it may or may not have run"
    )]
    Interrupted { node: u64 },
    /// The peer answered with an error.
    #[error("node {node} answered: {error}")]
    Remote { node: u64, error: RemoteError },
    /// The handshake failed (malformed, timed out).
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The other side refused us, or we refused it (wrong secret, cluster, node id, epoch).
    #[error("refused: {0}")]
    Refused(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves requests from peers. `from` is the authenticated node id of the caller.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        from: u64,
        method: u16,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteError>>;
    /// Called once per accepted connection after the handshake (to adopt a cluster id).
    fn on_peer(&self, _peer: &PeerIdentity) {}
}

/// State of one path to a peer, for status screens.
#[derive(Debug, Clone, Serialize)]
pub struct PathStatus {
    pub addr: String,
    pub up: bool,
    /// When `up` last changed (or the path was created).
    pub since: SystemTime,
    /// Round trip of the last keepalive, when up.
    pub rtt_us: Option<u64>,
    /// Last reason the path went down or could not connect.
    pub last_error: Option<String>,
}

/// State of every path to one peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub node_id: u64,
    pub paths: Vec<PathStatus>,
}

impl PeerStatus {
    pub fn paths_up(&self) -> usize {
        self.paths.iter().filter(|p| p.up).count()
    }
}

/// The transport of one node: its identity, the server side and a client per peer.
pub struct Transport {
    identity: Arc<Identity>,
    config: TransportConfig,
    peers: RwLock<HashMap<u64, Arc<Peer>>>,
    /// Runtime that runs connection tasks, whichever runtime a call comes from (the node
    /// keeps peer traffic on its own runtime so client load cannot delay heartbeats).
    runtime: tokio::runtime::Handle,
    /// Bumped whenever a path to some peer comes up (so Raft can retry at once).
    path_up: tokio::sync::watch::Sender<u64>,
}

impl Transport {
    pub fn new(identity: Arc<Identity>, config: TransportConfig) -> Arc<Self> {
        Arc::new(Self {
            identity,
            config,
            peers: RwLock::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
            path_up: tokio::sync::watch::channel(0).0,
        })
    }

    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// The runtime the transport was created on, which runs its connection tasks. Work
    /// started from elsewhere that must outlive its caller (a connection served on a
    /// runtime of its own, which ends with it) can be spawned here.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// Binds every address in `addrs` and serves peers on all of them.
    pub async fn listen(
        self: &Arc<Self>,
        addrs: &[String],
        handler: Arc<dyn Handler>,
    ) -> Result<Vec<std::net::SocketAddr>, TransportError> {
        server::listen(self.clone(), addrs, handler).await
    }

    /// The client for `node`, created (or updated) with these path addresses.
    pub fn peer(&self, node: u64, addrs: &[String]) -> Arc<Peer> {
        if let Some(p) = self.peers.read().get(&node)
            && p.addrs() == addrs
        {
            return p.clone();
        }
        let mut peers = self.peers.write();
        if let Some(p) = peers.get(&node) {
            if p.addrs() == addrs {
                return p.clone();
            }
            p.shutdown();
        }
        let p = Peer::start(
            node,
            addrs.to_vec(),
            self.identity.clone(),
            self.config.clone(),
            &self.runtime,
            self.path_up.clone(),
        );
        peers.insert(node, p.clone());
        p
    }

    /// The client for `node` if one exists.
    pub fn existing_peer(&self, node: u64) -> Option<Arc<Peer>> {
        self.peers.read().get(&node).cloned()
    }

    /// Keeps clients only for `nodes` (members), closing the others.
    pub fn retain_peers(&self, nodes: &[u64]) {
        let mut peers = self.peers.write();
        peers.retain(|id, p| {
            let keep = nodes.contains(id);
            if !keep {
                p.shutdown();
            }
            keep
        });
    }

    /// Changes whenever a path to some peer comes up.
    pub fn path_up_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.path_up.subscribe()
    }

    /// Path health of every peer.
    pub fn status(&self) -> Vec<PeerStatus> {
        let mut out: Vec<PeerStatus> = self.peers.read().values().map(|p| p.status()).collect();
        out.sort_by_key(|s| s.node_id);
        out
    }
}
