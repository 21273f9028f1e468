//! openraft's network over the quorate peer transport, and the method numbers of every
//! peer call.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::OptionalSend;
use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::storage::Snapshot;
use quorate_consensus::{NodeId, NodeInfo, SnapshotMeta, TypeConfig, Vote, payload_bytes};
use quorate_store::SnapshotFile;
use quorate_transport::{Peer, Transport, TransportError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

/// Method numbers of peer calls. Part of the wire protocol: never reuse a number.
pub(crate) mod method {
    pub const APPEND: u16 = 1;
    pub const VOTE: u16 = 2;
    pub const PRE_VOTE: u16 = 3;
    pub const TRANSFER_LEADER: u16 = 4;
    pub const SNAPSHOT_CHUNK: u16 = 5;
    pub const EXECUTE: u16 = 20;
    pub const QUERY: u16 = 21;
    pub const SESSION: u16 = 22;
    pub const EXECUTE_INTERNAL: u16 = 23;
    pub const INTERRUPT: u16 = 24;
    pub const STILL_WAITING: u16 = 25;
    pub const NODE_INFO: u16 = 30;
    pub const STATUS: u16 = 31;
    pub const MEMBERSHIP: u16 = 32;
    pub const MAINTENANCE: u16 = 33;
    pub const RECOVERY_CHUNK: u16 = 34;
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(v).expect("our messages always encode")
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(b).map_err(|e| format!("malformed message: {e}"))
}

type C = TypeConfig;

/// One chunk of a snapshot transfer.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotChunk {
    pub transfer: u64,
    pub vote: Vote,
    pub meta: SnapshotMeta,
    pub size: u64,
    pub sha256: String,
    pub offset: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub last: bool,
}

/// Creates a network client per peer.
pub struct NetworkFactory {
    pub(crate) transport: Arc<Transport>,
    pub(crate) chunk_bytes: usize,
    pub(crate) send_bytes_per_s: u64,
}

impl RaftNetworkFactory<C> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Self::Network {
        PeerNetwork {
            peer: self.transport.peer(target, &node.peer_addrs),
            max_frame: self.transport.config().max_frame_bytes,
            chunk_bytes: self.chunk_bytes,
            send_bytes_per_s: self.send_bytes_per_s,
        }
    }
}

pub struct PeerNetwork {
    peer: Arc<Peer>,
    max_frame: usize,
    chunk_bytes: usize,
    send_bytes_per_s: u64,
}

fn rpc_err(e: TransportError) -> RPCError<C> {
    match e {
        TransportError::Unreachable { .. }
        | TransportError::Refused(_)
        | TransportError::Handshake(_) => RPCError::Unreachable(Unreachable::new(&e)),
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

/// The slowest rate at which a large AppendEntries message is still expected to arrive and
/// be appended. openraft gives every AppendEntries call the heartbeat interval as its budget
/// (75 ms by default), which a large entry cannot meet: 20 MiB takes longer than that to
/// cross a 1 Gbit/s link, or to encode and append in a debug build on a busy machine. Timed
/// out, it was sent again, in full, and again, and the write never committed. A message
/// gets the budget plus its size at this rate (20 MiB: 5 s more).
const SLOWEST_APPEND_BYTES_PER_S: f64 = 4.0 * 1024.0 * 1024.0;

/// The time budget of an AppendEntries message of `bytes` bytes.
fn append_timeout(budget: Duration, bytes: usize) -> Duration {
    budget + Duration::from_secs_f64(bytes as f64 / SLOWEST_APPEND_BYTES_PER_S)
}

impl PeerNetwork {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: u16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<C>> {
        self.call_encoded(method, encode(req), timeout).await
    }

    async fn call_encoded<Resp: DeserializeOwned>(
        &self,
        method: u16,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Resp, RPCError<C>> {
        let body = self
            .peer
            .call(method, request, timeout, true)
            .await
            .map_err(rpc_err)?;
        let r: Result<Resp, RaftError<C>> =
            decode(&body).map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        r.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }
}

/// AppendEntries requests carrying this many payload bytes or more are encoded off the
/// control runtime; smaller ones take well under a millisecond.
const ENCODE_ELSEWHERE_BYTES: usize = 1 << 20;

/// Encodes an AppendEntries request. A batch too large for one frame (`budget` bytes) is
/// cut to a prefix that fits; openraft is then told how far it got (PartialSuccess) and
/// sends the rest next. Returns the last entry sent, whether the batch was cut, and the
/// request.
fn encode_append(
    mut rpc: AppendEntriesRequest<C>,
    budget: usize,
) -> (Option<quorate_consensus::LogId>, bool, Vec<u8>) {
    let mut truncated = false;
    let request = loop {
        let request = encode(&rpc);
        if rpc.entries.len() <= 1 || request.len() <= budget {
            break request;
        }
        let keep = rpc.entries.len() / 2;
        rpc.entries.truncate(keep);
        truncated = true;
    };
    (rpc.entries.last().map(|e| e.log_id), truncated, request)
}

impl RaftNetworkV2<C> for PeerNetwork {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let budget = self.max_frame.saturating_sub(64 * 1024);
        let bytes: usize = rpc.entries.iter().map(|e| payload_bytes(&e.payload)).sum();
        // Encoding copies every changeset into the request. This task runs on the runtime
        // that also sends heartbeats and answers path keepalives, so a large request is
        // encoded on a blocking thread instead (VERIFICATION finding 19).
        let (last, truncated, request) = if bytes >= ENCODE_ELSEWHERE_BYTES {
            tokio::task::spawn_blocking(move || encode_append(rpc, budget))
                .await
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?
        } else {
            encode_append(rpc, budget)
        };
        let timeout = append_timeout(option.soft_ttl(), request.len());
        let resp: AppendEntriesResponse<C> =
            self.call_encoded(method::APPEND, request, timeout).await?;
        Ok(match (truncated, resp) {
            (true, AppendEntriesResponse::Success) => AppendEntriesResponse::PartialSuccess(last),
            (_, r) => r,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.call(method::VOTE, &rpc, option.soft_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.call(method::PRE_VOTE, &rpc, option.soft_ttl()).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<C>, RPCError<C>> {
        self.call(method::TRANSFER_LEADER, &req, option.soft_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot<quorate_consensus::CommittedLeaderId, NodeId, NodeInfo, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        tokio::pin!(cancel);
        let peer = self.peer.node_id();
        let send = self.send_snapshot(vote, snapshot);
        let r = tokio::select! {
            closed = &mut cancel => Err(StreamingError::Closed(closed)),
            r = send => r,
        };
        match &r {
            Ok(_) => {}
            Err(StreamingError::Closed(why)) => {
                tracing::info!(peer, reason = %why, "snapshot transfer cancelled")
            }
            Err(e) => {
                tracing::warn!(peer, error = %e, "snapshot transfer failed (Raft retries it)")
            }
        }
        r
    }
}

impl PeerNetwork {
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: Snapshot<quorate_consensus::CommittedLeaderId, NodeId, NodeInfo, SnapshotFile>,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let file = &snapshot.snapshot;
        let mut f = tokio::fs::File::open(&file.path)
            .await
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let transfer: u64 = rand::random();
        let started = Instant::now();
        let mut offset = 0u64;
        let mut buf = vec![0u8; self.chunk_bytes];
        tracing::info!(
            peer = self.peer.node_id(),
            bytes = file.size,
            "sending snapshot"
        );
        loop {
            let mut n = 0;
            while n < buf.len() {
                let r = f
                    .read(&mut buf[n..])
                    .await
                    .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
                if r == 0 {
                    break;
                }
                n += r;
            }
            let last = offset + n as u64 >= file.size;
            let chunk = SnapshotChunk {
                transfer,
                vote,
                meta: snapshot.meta.clone(),
                size: file.size,
                sha256: file.sha256.clone(),
                offset,
                data: buf[..n].to_vec(),
                last,
            };
            let body = self
                .peer
                .call(
                    method::SNAPSHOT_CHUNK,
                    encode(&chunk),
                    Duration::from_secs(60),
                    true,
                )
                .await
                .map_err(|e| match e {
                    TransportError::Unreachable { .. } => {
                        StreamingError::Unreachable(Unreachable::new(&e))
                    }
                    other => StreamingError::Network(NetworkError::new(&other)),
                })?;
            offset += n as u64;
            if last {
                let r: Result<SnapshotResponse<C>, String> = decode(&body).and_then(|r| r);
                let resp = r.map_err(|e| StreamingError::Network(NetworkError::from_string(e)))?;
                tracing::info!(
                    peer = self.peer.node_id(),
                    bytes = file.size,
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot sent"
                );
                return Ok(resp);
            }
            // Throttle: never faster than the configured rate, so clients are not starved.
            let due = Duration::from_secs_f64(offset as f64 / self.send_bytes_per_s as f64);
            let elapsed = started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
    }
}
