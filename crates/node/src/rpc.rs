//! Serving peer calls: Raft RPCs, snapshot chunks, forwarded client requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use openraft::errors::RaftError;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::storage::Snapshot;
use quorate_consensus::{NodeInfo, Role, TypeConfig};
use quorate_store::SnapshotFile;
use quorate_transport::{Handler, PeerIdentity, RemoteError};
use serde::{Deserialize, Serialize};

use crate::api::{ExecuteRequest, QueryRequest};
use crate::error::NodeError;
use crate::network::{SnapshotChunk, decode, encode, method};
use crate::node::{Node, NodeInner};

/// Largest snapshot we accept (a hostile peer cannot fill the disk beyond this).
const SNAPSHOT_BYTES_MAX: u64 = 1 << 40;
/// Snapshot transfers silent this long are dropped.
const SNAPSHOT_IDLE: Duration = Duration::from_secs(120);
/// AppendEntries messages of this many bytes or more are decoded off the control runtime.
const DECODE_ELSEWHERE_BYTES: usize = 1 << 20;

/// Answer to `NODE_INFO`: who a node is and whether it already belongs to a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfoReply {
    pub node_id: u64,
    pub info: NodeInfo,
    pub initialized: bool,
    pub cluster_id: Option<String>,
    pub epoch: u64,
    /// Current Raft term and committed index (a rejoining wiped node waits to reach it
    /// before it votes).
    #[serde(default)]
    pub term: u64,
    #[serde(default)]
    pub committed_index: u64,
}

/// A snapshot being received.
pub(crate) struct IncomingSnapshot {
    from: u64,
    file: std::fs::File,
    path: std::path::PathBuf,
    received: u64,
    last_seen: Instant,
}

pub(crate) struct RpcHandler {
    pub node: Arc<NodeInner>,
}

/// A statement a peer sent: decoded, run and its answer encoded wherever the caller runs
/// it (see [`Node::run_peer_statements_on`]).
async fn statement(node: Node, from: u64, m: u16, body: Vec<u8>) -> Result<Vec<u8>, RemoteError> {
    match m {
        method::EXECUTE => {
            let req: ExecuteRequest = decode(&body).map_err(remote)?;
            let r: Result<_, NodeError> = node.execute_local(req).await;
            Ok(encode(&r))
        }
        method::QUERY => {
            let req: QueryRequest = decode(&body).map_err(remote)?;
            let r: Result<_, NodeError> = node.query_local_linearizable(req).await;
            Ok(encode(&r))
        }
        method::EXECUTE_INTERNAL => {
            let req: Vec<crate::catalog::InternalStatement> = decode(&body).map_err(remote)?;
            let r: Result<_, NodeError> = node.execute_internal_local(&req).await;
            Ok(encode(&r))
        }
        method::SESSION => {
            let req: crate::session::SessionRequest = decode(&body).map_err(remote)?;
            let r = node.serve_remote_session(from, req).await;
            Ok(encode(&r))
        }
        other => Err(RemoteError::new(
            "bad_request",
            format!("method {other} is not a statement"),
        )),
    }
}

fn remote(e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new("bad_request", e.to_string())
}

impl Handler for RpcHandler {
    fn on_peer(&self, peer: &PeerIdentity) {
        Node {
            inner: self.node.clone(),
        }
        .adopt(peer.cluster_id.clone(), peer.epoch);
    }

    fn handle(
        &self,
        from: u64,
        m: u16,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteError>> {
        let node = Node {
            inner: self.node.clone(),
        };
        Box::pin(async move {
            let raft = &node.inner.raft;
            // A stopped (or fenced) node answers nothing from Raft; asking Raft anyway would
            // log an error per call.
            if node.inner.identity.fenced().is_some() {
                return Err(RemoteError::new(
                    "fenced",
                    "this node was fenced off by a recovery",
                ));
            }
            if node.metrics().running_state.is_err() {
                return Err(RemoteError::new(
                    "unavailable",
                    "raft is stopped on this node",
                ));
            }
            match m {
                method::APPEND => {
                    // Decoding copies every changeset out of the message; a large one is
                    // decoded off this runtime, which also answers heartbeats and keepalives.
                    let req: AppendEntriesRequest<TypeConfig> =
                        if body.len() >= DECODE_ELSEWHERE_BYTES {
                            tokio::task::spawn_blocking(move || decode(&body))
                                .await
                                .map_err(|e| RemoteError::new("internal", e.to_string()))?
                        } else {
                            decode(&body)
                        }
                        .map_err(remote)?;
                    let leader_commit = req.leader_commit.as_ref().map(|l| l.index).unwrap_or(0);
                    let r = raft.append_entries(req).await;
                    if r.as_ref().map(|resp| resp.is_success()).unwrap_or(false) {
                        let mut f = node.inner.freshness.lock();
                        f.last_contact = Some(Instant::now());
                        f.leader_commit = leader_commit;
                    }
                    Ok(encode(&r))
                }
                method::VOTE => {
                    node.check_may_vote()?;
                    let req: VoteRequest<TypeConfig> = decode(&body).map_err(remote)?;
                    Ok(encode(&raft.vote(req).await))
                }
                method::PRE_VOTE => {
                    node.check_may_vote()?;
                    let req: VoteRequest<TypeConfig> = decode(&body).map_err(remote)?;
                    Ok(encode(&raft.pre_vote(req).await))
                }
                method::TRANSFER_LEADER => {
                    let req: TransferLeaderRequest<TypeConfig> = decode(&body).map_err(remote)?;
                    if node.config().role == Role::Witness && req.to_node_id() == &node.id() {
                        // A witness holds no data and must never lead.
                        return Err(RemoteError::new(
                            "refused",
                            "a witness cannot become leader",
                        ));
                    }
                    let r = raft
                        .handle_transfer_leader(req)
                        .await
                        .map_err(RaftError::<TypeConfig>::Fatal);
                    Ok(encode(&r))
                }
                method::SNAPSHOT_CHUNK => {
                    let chunk: SnapshotChunk = decode(&body).map_err(remote)?;
                    node.receive_snapshot_chunk(from, chunk).await
                }
                method::EXECUTE | method::QUERY | method::EXECUTE_INTERNAL | method::SESSION => {
                    let work = statement(node.clone(), from, m, body);
                    match node.inner.statement_runtime.get() {
                        Some(rt) => rt.spawn(work).await.unwrap_or_else(|e| {
                            Err(RemoteError::new("internal", format!("statement task: {e}")))
                        }),
                        None => work.await,
                    }
                }
                method::INTERRUPT => node
                    .serve_interrupt(from, &body)
                    .map_err(|e| RemoteError::new("bad_request", e)),
                method::STILL_WAITING => node
                    .serve_still_waiting(from, &body)
                    .map_err(|e| RemoteError::new("bad_request", e)),
                method::MEMBERSHIP => {
                    let req: crate::members::MembershipOp = decode(&body).map_err(remote)?;
                    let r: Result<_, NodeError> = node.membership_local(req).await;
                    Ok(encode(&r))
                }
                method::RECOVERY_CHUNK => {
                    let req: crate::recover::ChunkRequest = decode(&body).map_err(remote)?;
                    Ok(encode(&node.recovery_chunk(req)))
                }
                method::MAINTENANCE => {
                    let req: crate::maintenance::MaintenanceOp = decode(&body).map_err(remote)?;
                    let r: Result<_, NodeError> = node.maintenance_local(req).await;
                    Ok(encode(&r))
                }
                method::NODE_INFO => {
                    let initialized = raft.is_initialized().await.unwrap_or(false);
                    let p = node.inner.persisted.lock().clone();
                    let m = node.metrics();
                    Ok(encode(&NodeInfoReply {
                        node_id: node.id(),
                        info: node.node_info(),
                        initialized,
                        cluster_id: p.cluster_id,
                        epoch: p.epoch,
                        term: m.current_term,
                        committed_index: m
                            .cluster_committed
                            .as_ref()
                            .or(m.local_committed.as_ref())
                            .map(|l| l.index)
                            .unwrap_or(0),
                    }))
                }
                method::STATUS => Ok(encode(&node.status().await)),
                other => Err(RemoteError::new(
                    "unknown_method",
                    format!("unknown method {other}"),
                )),
            }
        })
    }
}

impl Node {
    async fn receive_snapshot_chunk(
        &self,
        from: u64,
        chunk: SnapshotChunk,
    ) -> Result<Vec<u8>, RemoteError> {
        if chunk.size > SNAPSHOT_BYTES_MAX {
            return Err(RemoteError::new(
                "too_large",
                format!("snapshot of {} bytes refused", chunk.size),
            ));
        }
        let done = {
            let mut incoming = self.inner.incoming.lock();
            // Abandoned transfers go, with their partial files: idle ones, and any earlier
            // one from a sender that starts a new transfer (openraft cancels the old one
            // first). Partial copies piling up would fill a disk that has room for one.
            let starting = !incoming.contains_key(&chunk.transfer) && chunk.offset == 0;
            incoming.retain(|_, t| {
                let keep = t.last_seen.elapsed() < SNAPSHOT_IDLE && !(starting && t.from == from);
                if !keep {
                    let _ = std::fs::remove_file(&t.path);
                }
                keep
            });
            if let std::collections::hash_map::Entry::Vacant(e) = incoming.entry(chunk.transfer) {
                if chunk.offset != 0 {
                    return Err(RemoteError::new(
                        "out_of_order",
                        "snapshot transfer not started here; restart it",
                    ));
                }
                let path = self.inner.store.snapshot_temp_path("receive");
                let file = std::fs::File::create(&path)
                    .map_err(|e| RemoteError::new("io", e.to_string()))?;
                tracing::info!(from, bytes = chunk.size, "receiving snapshot");
                e.insert(IncomingSnapshot {
                    from,
                    file,
                    path,
                    received: 0,
                    last_seen: Instant::now(),
                });
            }
            let t = incoming.get_mut(&chunk.transfer).expect("just inserted");
            t.last_seen = Instant::now();
            let end = chunk.offset + chunk.data.len() as u64;
            if end <= t.received {
                // A re-sent chunk we already have (the sender failed over to another path).
            } else if chunk.offset == t.received {
                use std::io::Write;
                if end > chunk.size {
                    incoming.remove(&chunk.transfer);
                    return Err(RemoteError::new(
                        "bad_request",
                        "snapshot chunk past the announced size",
                    ));
                }
                if let Err(e) = t.file.write_all(&chunk.data) {
                    let path = t.path.clone();
                    incoming.remove(&chunk.transfer);
                    let _ = std::fs::remove_file(path);
                    return Err(RemoteError::new(
                        "io",
                        format!("cannot store snapshot: {e}"),
                    ));
                }
                t.received = end;
            } else {
                return Err(RemoteError::new(
                    "out_of_order",
                    "snapshot chunk out of order",
                ));
            }
            if chunk.last {
                let t = incoming.remove(&chunk.transfer).expect("present");
                if t.received != chunk.size {
                    let _ = std::fs::remove_file(&t.path);
                    return Err(RemoteError::new(
                        "bad_request",
                        "snapshot ended before its announced size",
                    ));
                }
                t.file
                    .sync_all()
                    .map_err(|e| RemoteError::new("io", e.to_string()))?;
                Some(t.path)
            } else {
                None
            }
        };
        let Some(path) = done else {
            return Ok(Vec::new());
        };
        let file = SnapshotFile {
            path: path.clone(),
            size: chunk.size,
            sha256: chunk.sha256,
        };
        let snapshot = Snapshot {
            meta: chunk.meta,
            snapshot: file,
        };
        let r = self
            .inner
            .raft
            .install_full_snapshot(chunk.vote, snapshot)
            .await;
        let _ = std::fs::remove_file(&path);
        let r: Result<_, String> = r.map_err(|e| e.to_string());
        Ok(encode(&r))
    }
}

/// See [`crate::fuzz_decode_peer_message`].
pub(crate) fn fuzz_decode(data: &[u8]) {
    use openraft::raft::{AppendEntriesResponse, SnapshotResponse, VoteResponse};
    let Some((kind, body)) = data.split_first() else {
        return;
    };
    match kind % 14 {
        0 => drop(decode::<AppendEntriesRequest<TypeConfig>>(body)),
        1 => drop(decode::<VoteRequest<TypeConfig>>(body)),
        2 => drop(decode::<TransferLeaderRequest<TypeConfig>>(body)),
        3 => drop(decode::<SnapshotChunk>(body)),
        4 => drop(decode::<ExecuteRequest>(body)),
        5 => drop(decode::<QueryRequest>(body)),
        6 => drop(decode::<crate::session::SessionRequest>(body)),
        7 => drop(decode::<crate::members::MembershipOp>(body)),
        8 => drop(decode::<crate::maintenance::MaintenanceOp>(body)),
        9 => drop(decode::<crate::recover::ChunkRequest>(body)),
        10 => drop(decode::<
            Result<AppendEntriesResponse<TypeConfig>, RaftError<TypeConfig>>,
        >(body)),
        11 => drop(decode::<
            Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>>,
        >(body)),
        12 => drop(decode::<Result<SnapshotResponse<TypeConfig>, String>>(body)),
        _ => drop(decode::<NodeInfoReply>(body)),
    }
}
