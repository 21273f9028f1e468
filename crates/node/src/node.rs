//! A running node: Raft, the store, the transport, and the tasks that tie them together.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::async_runtime::WatchReceiver;
use openraft::{Config as RaftConfig, SnapshotPolicy};
use parking_lot::Mutex;
use quorate_consensus::{LeaderId, LogStore, NodeId, NodeInfo, Raft, RaftMetrics, Role};
use quorate_store::{StateMachine, Store, StoreConfig};
use quorate_transport::{Identity, Transport, TransportConfig};

use crate::config::NodeConfig;
use crate::network::NetworkFactory;
use crate::persist::{PersistFile, Persisted};
use crate::rpc::{IncomingSnapshot, RpcHandler};

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    DataDir(String),
    #[error("cannot open the state machine: {0}")]
    Store(#[from] quorate_store::StoreError),
    #[error("cannot open the raft log: {0}")]
    Log(#[from] quorate_consensus::LogStoreError),
    #[error("cannot start raft: {0}")]
    Raft(String),
    #[error("cannot listen: {0}")]
    Listen(#[from] quorate_transport::TransportError),
}

/// Whether a node with an empty log may vote.
///
/// Raft assumes a voter never forgets its log or its vote. A node whose data dir was wiped
/// has forgotten both: voting at once could elect a leader that lacks committed entries, or
/// vote twice in one term. So a node that starts with an empty log first asks its peers; if
/// a cluster already exists it refuses to vote until its log reaches the commit index the
/// peers reported (it is then a normal, up-to-date replica again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VoteGuard {
    /// Started empty; peers not asked yet.
    Pending,
    /// Rejoining an existing cluster: vote once the log reaches this index.
    UntilIndex(u64),
    Open,
}

/// Why the node's storage could not be opened.
pub(crate) struct OpenFailure {
    pub corrupt: bool,
    pub message: String,
}

/// Opens the state machine and the Raft log, telling damaged files apart from other
/// problems (permissions, a directory locked by another process).
fn open_storage(
    data_dir: &std::path::Path,
    node_id: NodeId,
    cfg: &StoreConfig,
) -> Result<(Store, LogStore), OpenFailure> {
    let store = Store::open(&data_dir.join("db"), node_id, cfg.clone()).map_err(|e| {
        let corrupt = match &e {
            quorate_store::StoreError::Corrupt(_) => true,
            quorate_store::StoreError::Sql(quorate_store::rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(
                    f.code,
                    quorate_store::rusqlite::ErrorCode::DatabaseCorrupt
                        | quorate_store::rusqlite::ErrorCode::NotADatabase
                )
            }
            _ => false,
        };
        OpenFailure {
            corrupt,
            message: format!("cannot open the state machine: {e}"),
        }
    })?;
    let log = LogStore::open(&data_dir.join("raft")).map_err(|e| OpenFailure {
        corrupt: e.is_corruption(),
        message: e.to_string(),
    })?;
    Ok((store, log))
}

/// Makes the newest snapshot cover every index the log may be purged to at start.
///
/// openraft applies a committed entry as soon as it is *submitted* to the local log, not
/// once it is durable there. A crash or a full disk can therefore leave the log ending
/// before the state machine's applied index. At start openraft fills that hole by purging
/// the log up to the applied index, and then requires a snapshot at least that recent: with
/// an older one it panics at start, and again at every later start (the purge is already
/// on disk), leaving a process that answers but never catches up (found by
/// `quorate torture`, seed 2, disk-full; see docs/VERIFICATION.md). A snapshot of the
/// applied state built here keeps both true. The data is sound: only committed entries
/// are ever applied.
fn cover_log_hole_with_snapshot(store: &Store, log: &LogStore) -> Result<(), String> {
    let applied = store.applied().last_applied.map(|l| l.index);
    let purged = log.purged_log_id().map(|l| l.index);
    let end = log.last_log_id().map(|l| l.index).max(purged);
    // What openraft will have purged after its start-up repair.
    let purge_upto = if end < applied { applied } else { purged };
    let snapshot = store
        .snapshot_index()
        .map_err(|e| format!("cannot read the snapshots: {e}"))?;
    if purge_upto.is_none() || snapshot >= purge_upto {
        return Ok(());
    }
    tracing::warn!(
        log_end = ?end,
        log_purged = ?purged,
        applied = ?applied,
        snapshot = ?snapshot,
        "the raft log ends before the applied state or was purged past the newest snapshot (a crash or a full disk lost its unflushed tail); building a snapshot of the applied state"
    );
    let built = store
        .build_snapshot_now()
        .map_err(|e| format!("cannot build a snapshot to cover the log: {e}"))?;
    if built < purge_upto {
        return Err(format!(
            "the raft log was purged to index {} but the state machine has applied only {:?}: this node's files are inconsistent; wipe its data directory to resync it from its peers",
            purge_upto.unwrap_or(0),
            built
        ));
    }
    Ok(())
}

/// What a follower knows about how fresh its data is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Freshness {
    /// Last time the leader's replication reached us.
    pub last_contact: Option<Instant>,
    /// The leader's commit index at that moment.
    pub leader_commit: u64,
}

/// A running quorate node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

pub(crate) struct NodeInner {
    pub config: NodeConfig,
    pub raft: Raft<StateMachine>,
    pub store: Store,
    pub log: LogStore,
    pub transport: Arc<Transport>,
    pub identity: Arc<Identity>,
    pub persisted: Mutex<Persisted>,
    pub persist_file: PersistFile,
    /// The leadership (term) for which this node, as leader, has applied everything
    /// committed before it: writes may start.
    pub ready_leader: Mutex<Option<LeaderId>>,
    /// The term in which this node, as leader, started handing leadership to another node
    /// (see [`Node::transfer_pending`]).
    pub transfer_term: Mutex<Option<u64>>,
    /// Held by the one leadership transfer this node runs at a time.
    pub transfer_running: tokio::sync::Mutex<()>,
    pub freshness: Mutex<Freshness>,
    pub incoming: Mutex<HashMap<u64, IncomingSnapshot>>,
    pub started: Instant,
    pub started_at: SystemTime,
    /// Open transactions forwarded from other nodes' MySQL sessions (leader side).
    pub sessions: crate::session::RemoteSessions,
    /// Other nodes' clients whose statements run here and that their node still waits for.
    pub waiters: crate::interrupt::Waiters,
    /// The front ends serving clients (their process lists show each other's clients).
    pub front_ends: crate::clients::FrontEnds,
    /// Whether this node may vote (a node that lost its data must not, until caught up).
    pub vote_guard: Mutex<VoteGuard>,
    /// The recovery file this node prepared as the source of an unsafe recovery.
    pub recovery_source: Mutex<Option<std::path::PathBuf>>,
    /// Set to true when the process should restart (a staged recovery).
    pub restart: tokio::sync::watch::Sender<bool>,
    /// Set when Raft stopped on a fatal error (e.g. the log could not be written: disk
    /// full): the process should exit so that its supervisor restarts it.
    pub fatal: tokio::sync::watch::Sender<Option<String>>,
    /// Set by [`Node::shutdown`]: the Raft task ending is then expected.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Set when this node's cluster epoch is older than its peers' (fenced by a recovery).
    pub fenced_logged: std::sync::atomic::AtomicBool,
    /// Set when creating the catalog failed and should be tried again.
    pub catalog_retry: std::sync::atomic::AtomicBool,
    /// Where statements that peers send run (the client runtime, see
    /// [`Node::run_peer_statements_on`]); unset, they run on the runtime that serves peers.
    pub statement_runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

impl Node {
    /// Starts a node from its configuration: opens its data, joins the peer network and
    /// starts Raft. Returns once it is listening for peers.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        Self::start_with_hook(config, None).await
    }

    /// [`Node::start`] with a connection hook for the store (the MySQL front end's SQL
    /// functions and per-statement session context).
    pub async fn start_with_hook(
        config: NodeConfig,
        hook: Option<quorate_store::Hook>,
    ) -> Result<Node, StartError> {
        config.validate()?;
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            StartError::DataDir(format!(
                "cannot create data_dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let persist_file = PersistFile::new(&data_dir);
        let mut persisted = persist_file
            .load_or_create(config.node_id)
            .map_err(StartError::DataDir)?;
        // A staged unsafe recovery (see recover.rs) replaces the database and the log before
        // anything opens them, and raises the epoch.
        let staged = crate::recover::staged(&data_dir).map_err(StartError::DataDir)?;
        if let Some(r) = &staged {
            tracing::warn!(
                epoch = r.epoch,
                index = r.last_applied.index,
                "applying a staged recovery: starting a new lineage"
            );
            quorate_store::replace_database(
                &data_dir.join("db"),
                &crate::recover::staged_db(&data_dir),
            )?;
            match std::fs::remove_dir_all(data_dir.join("raft")) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StartError::DataDir(format!(
                        "cannot reset the raft log: {e}"
                    )));
                }
            }
            persisted.epoch = persisted.epoch.max(r.epoch);
            persist_file.save(&persisted).map_err(StartError::DataDir)?;
        }
        let secret = config.secret()?;
        let identity = Arc::new(Identity::new(
            config.node_id,
            config.cluster_name.clone(),
            secret,
            persisted.cluster_id.clone(),
            persisted.epoch,
        ));
        let t = &config.timeouts;
        let transport = Transport::new(
            identity.clone(),
            TransportConfig {
                keepalive: Duration::from_millis(t.path_keepalive_ms),
                path_timeout: Duration::from_millis(t.path_timeout_ms),
                arp_probe: (t.arp_probe_ms > 0).then(|| Duration::from_millis(t.arp_probe_ms)),
                max_frame_bytes: config.limits.max_tx_bytes.max(8 << 20) * 2,
                tls: match &config.tls {
                    None => None,
                    Some(t) => {
                        let id = t.identity()?;
                        Some(quorate_transport::PeerTls {
                            server: id
                                .peer_server()
                                .map_err(|e| StartError::DataDir(e.to_string()))?,
                            client: id
                                .peer_client()
                                .map_err(|e| StartError::DataDir(e.to_string()))?,
                        })
                    }
                },
                ..TransportConfig::default()
            },
        );
        let witness = config.role == Role::Witness;
        let store_config = StoreConfig {
            read_connections: config.limits.read_connections,
            lock_wait_timeout: Duration::from_millis(t.lock_wait_timeout_ms),
            commit_timeout: Duration::from_millis(t.commit_timeout_ms),
            max_result_bytes: config.limits.max_result_bytes,
            max_tx_bytes: config.limits.max_tx_bytes,
            witness,
            hook,
        };
        let (store, log) = match open_storage(&data_dir, config.node_id, &store_config) {
            Ok(x) => x,
            Err(why) if why.corrupt => {
                // Damaged files are never served. Keep them for inspection and start empty:
                // the node then rejoins like a wiped one and is caught up from its peers
                // (it does not vote until caught up, and never forms a cluster on its own).
                let aside = data_dir.join(format!("corrupt-{}", unix_ms(SystemTime::now()) / 1000));
                std::fs::create_dir_all(&aside).map_err(|e| StartError::DataDir(e.to_string()))?;
                for d in ["db", "raft"] {
                    let _ = std::fs::rename(data_dir.join(d), aside.join(d));
                }
                persisted.resync = true;
                persist_file.save(&persisted).map_err(StartError::DataDir)?;
                tracing::error!(
                    error = %why.message,
                    moved_to = %aside.display(),
                    "this node's files are corrupt: they were moved aside; the node resyncs from its peers"
                );
                open_storage(&data_dir, config.node_id, &store_config)
                    .map_err(|e| StartError::DataDir(e.message))?
            }
            Err(why) => return Err(StartError::DataDir(why.message)),
        };
        if let Some(r) = &staged {
            log.start_after(r.last_applied, config.node_id)
                .await
                .map_err(|e| StartError::DataDir(format!("cannot reset the raft log: {e}")))?;
            crate::recover::clear_staged(&data_dir);
        }
        cover_log_hole_with_snapshot(&store, &log).map_err(StartError::DataDir)?;
        let pristine = log.is_pristine();
        let raft_config = RaftConfig {
            cluster_name: config.cluster_name.clone(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_timeout_min_ms,
            election_timeout_max: t.election_timeout_max_ms,
            enable_pre_vote: Some(true),
            // A witness never starts an election (it holds no data and must never lead).
            enable_elect: !witness,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot.logs_since_last),
            max_in_snapshot_log_to_keep: config.snapshot.keep_logs,
            replication_lag_threshold: config.snapshot.logs_since_last + config.snapshot.keep_logs,
            install_snapshot_timeout: 60_000,
            max_payload_entries: 256,
            // A node whose data was wiped comes back with an empty log; the leader must resync
            // it instead of stopping (safety while it is empty: see VoteGuard).
            allow_log_reversion: Some(true),
            // A restarted leader must win a new election (a higher term), as in standard
            // Raft. Restored in its old term, it may append new entries at log ids it had
            // already sent to followers before a crash lost them from its own unflushed log
            // tail; followers then hold different entries under the same log id (see
            // docs/VERIFICATION.md, found by `quorate torture --nemesis kill-all`).
            enable_leader_restore: Some(false),
            purge_batch_size: 256,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let network = NetworkFactory {
            transport: transport.clone(),
            chunk_bytes: (config.snapshot.chunk_kib as usize) * 1024,
            send_bytes_per_s: config.snapshot.send_mib_per_s * 1024 * 1024,
        };
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log.clone(),
            store.state_machine(),
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let inner = Arc::new(NodeInner {
            config: config.clone(),
            raft,
            store,
            log,
            transport: transport.clone(),
            identity,
            persisted: Mutex::new(persisted),
            persist_file,
            ready_leader: Mutex::new(None),
            transfer_term: Mutex::new(None),
            transfer_running: tokio::sync::Mutex::new(()),
            freshness: Mutex::new(Freshness::default()),
            incoming: Mutex::new(HashMap::new()),
            started: Instant::now(),
            started_at: SystemTime::now(),
            sessions: crate::session::RemoteSessions::default(),
            waiters: Default::default(),
            front_ends: Default::default(),
            catalog_retry: Default::default(),
            statement_runtime: Default::default(),
            recovery_source: Mutex::new(None),
            restart: tokio::sync::watch::channel(false).0,
            fatal: tokio::sync::watch::channel(None).0,
            stopping: Default::default(),
            fenced_logged: Default::default(),
            vote_guard: Mutex::new(if pristine {
                VoteGuard::Pending
            } else {
                VoteGuard::Open
            }),
        });
        let handler = Arc::new(RpcHandler {
            node: inner.clone(),
        });
        let bound = transport.listen(&config.peer_addrs, handler).await?;
        tracing::info!(
            node = config.node_id,
            role = %config.role,
            peer = ?bound,
            peer_security = if config.tls.is_some() { "mutual TLS (cluster CA) + HMAC handshake" } else { "HMAC handshake only (not encrypted)" },
            "node started"
        );
        let node = Node { inner };
        tokio::spawn(watch_runtime_stalls());
        tokio::spawn(node.clone().watch_leadership());
        let resync = node.inner.persisted.lock().resync;
        if config.bootstrap_expect.is_some() && !resync {
            tokio::spawn(node.clone().bootstrap_when_expected());
        }
        if pristine {
            tokio::spawn(node.clone().resolve_vote_guard());
        }
        // When a path comes back (a cable plugged in again), replicate at once instead of
        // waiting out the replication backoff the failures built up.
        let mut ups = node.inner.transport.path_up_events();
        let raft = node.inner.raft.clone();
        tokio::spawn(async move {
            while ups.changed().await.is_ok() {
                if raft.is_leader()
                    && raft
                        .trigger()
                        .reset_backoff(Vec::<NodeId>::new())
                        .await
                        .is_err()
                {
                    return;
                }
            }
        });
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.inner.config.node_id
    }

    /// Runs the statements peers send (forwarded writes, remote sessions, linearizable
    /// reads) on `handle` instead of the runtime that serves peers and runs Raft. A large
    /// statement then cannot hold up heartbeats and path keepalives: a 20 MiB insert run
    /// there kept a debug-build leader from answering keepalives for 3 s, and its peers
    /// declared it unreachable. Set once, at start; later calls are ignored.
    pub fn run_peer_statements_on(&self, handle: tokio::runtime::Handle) {
        let _ = self.inner.statement_runtime.set(handle);
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn raft(&self) -> &Raft<StateMachine> {
        &self.inner.raft
    }

    /// This node's own member description.
    pub fn node_info(&self) -> NodeInfo {
        let c = &self.inner.config;
        NodeInfo {
            peer_addrs: c.peer_addrs.clone(),
            http_addr: c.http_addr.clone(),
            mysql_addr: c.mysql_addr.clone(),
            role: c.role,
        }
    }

    pub(crate) fn metrics(&self) -> RaftMetrics {
        self.inner.raft.metrics().borrow_watched().clone()
    }

    /// True while a leadership transfer this node started is pending. openraft's leader
    /// then stops proposing and heartbeating but still reports itself leader until another
    /// node wins, which may already have happened: writes and reads wait for the successor
    /// instead of failing or trusting the lease (VERIFICATION finding 21).
    pub(crate) fn transfer_pending(&self, m: &RaftMetrics) -> bool {
        m.state.is_leader() && *self.inner.transfer_term.lock() == Some(m.current_term)
    }

    /// Leader lease length: the leader may serve without asking a majority for this long
    /// after the last quorum acknowledgement.
    pub(crate) fn lease(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeouts.election_timeout_max_ms)
    }

    pub(crate) fn no_quorum_wait(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeouts.no_quorum_fail_ms)
    }

    /// Stops Raft (used at shutdown and in tests).
    pub async fn shutdown(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.inner.raft.shutdown().await;
        let _ = self.inner.store.persist_applied_if_idle();
    }

    /// Adopts a cluster id / epoch learned from an authenticated peer, durably.
    pub(crate) fn adopt(&self, cluster_id: Option<String>, epoch: u64) {
        let mut p = self.inner.persisted.lock();
        let mut changed = false;
        if p.cluster_id.is_none() && cluster_id.is_some() {
            p.cluster_id = cluster_id.clone();
            self.inner.identity.set_cluster_id(cluster_id);
            changed = true;
        }
        if epoch > p.epoch {
            p.epoch = epoch;
            self.inner.identity.set_epoch(epoch);
            changed = true;
        }
        if changed {
            if let Err(e) = self.inner.persist_file.save(&p) {
                tracing::error!(error = %e, "cannot persist the cluster identity");
            } else {
                tracing::info!(cluster_id = ?p.cluster_id, epoch = p.epoch, "joined cluster");
            }
        }
    }

    /// Watches Raft metrics: on every change of leadership undoes this node's speculative
    /// transactions; logs state changes once (not on every tick); keeps the applied index
    /// persisted when idle.
    async fn watch_leadership(self) {
        let me = self.id();
        let mut rx = self.inner.raft.metrics();
        let mut last_key: Option<(Option<NodeId>, u64)> = None;
        let mut was_leader = false;
        let mut quorum_ok = true;
        let mut catalog_ready = false;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            // Housekeeping (the peer list, idle remote sessions, the applied index) runs on
            // the tick only: under load the metrics change at every commit.
            let mut housekeeping = false;
            tokio::select! {
                r = rx.changed() => if r.is_err() {
                    // The Raft task ended without reporting an error: it panicked (the
                    // panic is in the log above). Staying up would leave a node that
                    // answers but never catches up; the process exits and is restarted.
                    if !self.inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                        let why = "the raft task ended unexpectedly (panicked; see the log)";
                        tracing::error!("{why}");
                        self.inner.fatal.send_replace(Some(why.into()));
                    }
                    return;
                },
                _ = tick.tick() => housekeeping = true,
            }
            let m = rx.borrow_watched().clone();
            if let Err(e) = &m.running_state {
                // Stopping on purpose (a shutdown, a restart) ends Raft too: not an error.
                if self
                    .inner
                    .stopping
                    .load(std::sync::atomic::Ordering::SeqCst)
                {
                    tracing::info!(reason = %e, "raft stopped");
                } else {
                    tracing::error!(error = %e, "raft stopped");
                }
                self.inner.fatal.send_replace(Some(e.to_string()));
                return;
            }
            if let Some(why) = self.inner.identity.fenced() {
                if !self
                    .inner
                    .fenced_logged
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    tracing::error!(reason = %why, "this node was fenced off by a recovery of the cluster: it stops serving (wipe its data dir to rejoin as a new member)");
                    let _ = self.inner.raft.shutdown().await;
                }
                return;
            }
            let is_leader = m.state.is_leader();
            let key = (m.current_leader, m.current_term);
            if last_key != Some(key) {
                match m.current_leader {
                    Some(l) if l == me => {
                        tracing::info!(term = m.current_term, "this node is now the leader")
                    }
                    Some(l) => tracing::info!(leader = l, term = m.current_term, "leader changed"),
                    None => tracing::info!(term = m.current_term, "no leader"),
                }
                if was_leader {
                    *self.inner.ready_leader.lock() = None;
                    self.inner.sessions.abort_all();
                    match self.inner.store.on_leadership_change().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(
                            undone = n,
                            "undid speculative transactions after losing leadership"
                        ),
                        Err(e) => {
                            tracing::error!(error = %e, "could not undo speculative transactions")
                        }
                    }
                }
                last_key = Some(key);
                was_leader = is_leader;
                catalog_ready = false;
                quorum_ok = true;
            }
            if is_leader {
                // No acknowledgement yet right after an election is not a loss.
                let ok = quorum_ack_ms(&m)
                    .map(|ms| ms < self.lease().as_millis() as u64)
                    .unwrap_or(true);
                if ok != quorum_ok {
                    if ok {
                        tracing::info!("quorum regained");
                    } else {
                        tracing::warn!(detail = %self.describe_reachability(), "quorum lost: writes are refused");
                    }
                    quorum_ok = ok;
                }
            }
            if is_leader && !catalog_ready {
                let node = self.clone();
                catalog_ready = true;
                tokio::spawn(async move {
                    if let Err(e) = node.ensure_catalog().await {
                        tracing::warn!(error = %e, "could not initialise the catalog yet; will retry");
                        node.inner
                            .catalog_retry
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
            if self
                .inner
                .catalog_retry
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                catalog_ready = false;
            }
            if self.inner.persisted.lock().cluster_id.is_none()
                && let Some(id) = self.replicated_cluster_id()
            {
                let epoch = self.inner.persisted.lock().epoch;
                self.adopt(Some(id), epoch);
            }
            if !housekeeping {
                continue;
            }
            // Keep clients only for current members, and one for each of them: a client
            // is otherwise made when first needed, and until then `status` would have no
            // paths to show and call a healthy member unreachable (a follower restarted
            // with a log never needs one for the other followers).
            let membership = m.membership_config.membership();
            let members: Vec<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
            if !members.is_empty() {
                self.inner.transport.retain_peers(&members);
            }
            for (id, info) in membership.nodes() {
                // Only where none exists: one made with other addresses (the config's, an
                // operator's) is kept, not rebuilt every tick.
                if *id != self.id()
                    && !info.peer_addrs.is_empty()
                    && self.inner.transport.existing_peer(*id).is_none()
                {
                    self.inner.transport.peer(*id, &info.peer_addrs);
                }
            }
            let idle = Duration::from_millis(self.inner.config.timeouts.idle_in_transaction_ms);
            let expired = self.inner.sessions.expire(idle);
            if expired > 0 {
                tracing::warn!(expired, "rolled back remote transactions idle for too long");
            }
            self.interrupt_abandoned_peer_statements();
            let _ = self.inner.store.persist_applied_if_idle();
        }
    }

    /// Refuses a vote request while this node may not vote (see [`VoteGuard`]).
    pub(crate) fn check_may_vote(&self) -> Result<(), quorate_transport::RemoteError> {
        let mut g = self.inner.vote_guard.lock();
        match *g {
            VoteGuard::Open => Ok(()),
            VoteGuard::UntilIndex(i) => {
                let last = self.inner.log.last_log_id().map(|l| l.index).unwrap_or(0);
                if last >= i {
                    tracing::info!(index = last, "caught up after rejoining; voting again");
                    *g = VoteGuard::Open;
                    let mut p = self.inner.persisted.lock();
                    if p.resync {
                        p.resync = false;
                        if let Err(e) = self.inner.persist_file.save(&p) {
                            tracing::warn!(error = %e, "cannot record that the resync finished");
                        }
                    }
                    Ok(())
                } else {
                    Err(quorate_transport::RemoteError::new(
                        "refused",
                        format!(
                            "n{} lost its data and is catching up (log {last} of {i}); it does not vote yet",
                            self.id()
                        ),
                    ))
                }
            }
            VoteGuard::Pending => Err(quorate_transport::RemoteError::new(
                "refused",
                format!(
                    "n{} started with an empty log and has not yet asked its peers whether a cluster exists",
                    self.id()
                ),
            )),
        }
    }

    /// Asks the configured peers whether a cluster already exists, to settle [`VoteGuard`].
    async fn resolve_vote_guard(self) {
        loop {
            let mut formed = false;
            let mut answered = 0usize;
            let mut required = 0u64;
            for p in &self.inner.config.peers {
                let peer = self.inner.transport.peer(p.id, &p.addrs);
                if let Ok(body) = peer
                    .call(
                        crate::network::method::NODE_INFO,
                        Vec::new(),
                        Duration::from_millis(800),
                        true,
                    )
                    .await
                    && let Ok(r) = crate::network::decode::<crate::rpc::NodeInfoReply>(&body)
                {
                    answered += 1;
                    if r.initialized {
                        formed = true;
                        required = required.max(r.committed_index);
                    }
                }
            }
            let settled = {
                let mut g = self.inner.vote_guard.lock();
                if *g != VoteGuard::Pending {
                    true
                } else if formed {
                    tracing::warn!(
                        required,
                        "this node started with an empty log but the cluster exists: it rejoins and will not vote until caught up"
                    );
                    *g = VoteGuard::UntilIndex(required);
                    true
                } else if (answered == self.inner.config.peers.len()
                    || !self.inner.log.is_pristine())
                    && !self.inner.persisted.lock().resync
                {
                    *g = VoteGuard::Open;
                    true
                } else {
                    false
                }
            };
            if settled {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// True if this node can reach a majority of the voters (itself included) over at least
    /// one path each.
    pub(crate) fn majority_reachable(&self) -> bool {
        let me = self.id();
        let m = self.metrics();
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        if voters.is_empty() {
            return false;
        }
        let status: HashMap<NodeId, quorate_transport::PeerStatus> = self
            .inner
            .transport
            .status()
            .into_iter()
            .map(|s| (s.node_id, s))
            .collect();
        let reachable = voters
            .iter()
            .filter(|v| **v == me || status.get(v).map(|s| s.paths_up() > 0).unwrap_or(false))
            .count();
        reachable * 2 > voters.len()
    }

    /// One sentence on which voters are reachable, over which paths, since when.
    pub fn describe_reachability(&self) -> String {
        let me = self.id();
        let m = self.metrics();
        let membership = m.membership_config.membership().clone();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let status: HashMap<NodeId, quorate_transport::PeerStatus> = self
            .inner
            .transport
            .status()
            .into_iter()
            .map(|s| (s.node_id, s))
            .collect();
        let mut reachable = 0;
        let mut parts = Vec::new();
        for v in &voters {
            if *v == me {
                reachable += 1;
                continue;
            }
            match status.get(v) {
                Some(s) if s.paths_up() == s.paths.len() && !s.paths.is_empty() => reachable += 1,
                Some(s) if s.paths_up() > 0 => {
                    reachable += 1;
                    let since = s.paths.iter().filter(|p| !p.up).map(|p| p.since).min();
                    parts.push(format!(
                        "n{v} reachable over {} of {} paths{}",
                        s.paths_up(),
                        s.paths.len(),
                        since
                            .map(|t| format!(" since {}", clock(t)))
                            .unwrap_or_default()
                    ));
                }
                Some(s) => {
                    let since = s.paths.iter().map(|p| p.since).max();
                    let why = s
                        .paths
                        .iter()
                        .find_map(|p| p.last_error.clone())
                        .unwrap_or_default();
                    let over = match s.paths.len() {
                        1 => "its only path".to_string(),
                        2 => "both paths".to_string(),
                        n => format!("all {n} paths"),
                    };
                    parts.push(format!(
                        "n{v} unreachable over {over}{}{}",
                        since
                            .map(|t| format!(" since {}", clock(t)))
                            .unwrap_or_default(),
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(" ({why})")
                        }
                    ));
                }
                None => parts.push(format!("n{v} not contacted yet")),
            }
        }
        let mut out = format!("{reachable} of {} voters reachable", voters.len());
        if !parts.is_empty() {
            out.push_str("; ");
            out.push_str(&parts.join("; "));
        }
        out
    }
}

/// Milliseconds since a majority last acknowledged this leader.
pub(crate) fn quorum_ack_ms(m: &RaftMetrics) -> Option<u64> {
    use openraft::Instant as _;
    // A sole voter is its own quorum: nobody else acknowledges it, and nobody needs to.
    let mut voters = m.membership_config.membership().voter_ids();
    if voters.next() == Some(m.id) && voters.next().is_none() {
        return Some(0);
    }
    m.last_quorum_acked
        .as_ref()
        .map(|t| (**t).elapsed().as_millis() as u64)
}

/// Wall-clock time of day, UTC, for messages ("12:36:02").
pub(crate) fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, (day % 3600) / 60, day % 60)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A task of the runtime that runs Raft and the peer transport wakes this much later than
/// asked before it is reported.
const STALL_REPORTED: Duration = Duration::from_millis(100);

/// Reports, as a warning, every time the runtime this runs on (Raft's and the peer
/// transport's) could not run a ready task for longer than [`STALL_REPORTED`]: something
/// held its worker threads. Heartbeats and path keepalives wait just as long then, so a
/// stall near `path_timeout_ms` explains a path declared down with its peer alive.
async fn watch_runtime_stalls() {
    const TICK: Duration = Duration::from_millis(20);
    loop {
        let asked = Instant::now() + TICK;
        tokio::time::sleep_until(asked.into()).await;
        let late = asked.elapsed();
        if late > STALL_REPORTED {
            tracing::warn!(
                stalled_ms = late.as_millis() as u64,
                "the control runtime (Raft, peer keepalives) ran no task for this long"
            );
        }
    }
}
