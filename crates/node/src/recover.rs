//! Unsafe recovery, made explicit: rebuild a working cluster from the survivors when a
//! majority of members is permanently gone.
//!
//! Raft cannot change membership without a quorum, so recovery starts a new lineage: the
//! most up-to-date survivor builds a copy of its committed data whose membership names only
//! the survivors; every survivor stages that copy, then restarts from it with a higher
//! cluster epoch. Members of the old epoch are refused by every peer handshake, and a node
//! that learns it was fenced stops serving. Entries the lost members may have committed and
//! no survivor applied are lost; `quorate recover` shows that before asking to proceed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use quorate_consensus::{LogId, Membership, NodeId, Role};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, NodeError};
use crate::network::{decode, encode, method};
use crate::node::Node;

/// Largest chunk of the recovery file sent per call.
const CHUNK_BYTES_MAX: u32 = 4 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoverPrepareRequest {
    pub survivors: Vec<NodeId>,
    pub epoch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoverPrepared {
    pub source: NodeId,
    pub last_applied: LogId,
    pub size: u64,
    pub sha256: String,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoverInstallRequest {
    pub source: NodeId,
    pub epoch: u64,
    pub size: u64,
    pub sha256: String,
    pub last_applied: LogId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChunkRequest {
    pub offset: u64,
    pub len: u32,
}

/// `DATA/recovery.json`: a staged recovery, applied at the next start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Staged {
    pub epoch: u64,
    pub last_applied: LogId,
}

fn staged_json(data_dir: &Path) -> PathBuf {
    data_dir.join("recovery.json")
}

pub(crate) fn staged_db(data_dir: &Path) -> PathBuf {
    data_dir.join("recovery.db")
}

/// Reads a staged recovery, if any.
pub(crate) fn staged(data_dir: &Path) -> Result<Option<Staged>, String> {
    match std::fs::read(staged_json(data_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("unreadable recovery.json: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read recovery.json: {e}")),
    }
}

/// Removes the staged recovery once applied.
pub(crate) fn clear_staged(data_dir: &Path) {
    let _ = std::fs::remove_file(staged_json(data_dir));
    let _ = std::fs::remove_file(staged_db(data_dir));
}

impl Node {
    /// On the most up-to-date survivor: builds the file the new lineage starts from.
    pub async fn recover_prepare(
        &self,
        req: RecoverPrepareRequest,
    ) -> Result<RecoverPrepared, NodeError> {
        let survivors: BTreeSet<NodeId> = req.survivors.iter().copied().collect();
        if !survivors.contains(&self.id()) {
            return Err(NodeError::bad_request(format!(
                "n{} is not among the survivors {survivors:?}",
                self.id()
            )));
        }
        if req.epoch <= self.inner.persisted.lock().epoch {
            return Err(NodeError::bad_request(
                "the new epoch must be higher than the current one",
            ));
        }
        let m = self.metrics();
        let membership = m.membership_config.membership().clone();
        let old_voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut nodes = BTreeMap::new();
        let mut voters = BTreeSet::new();
        for id in &survivors {
            let info = membership.get_node(id).ok_or_else(|| {
                NodeError::new(ErrorCode::UnknownNode, format!("n{id} is not a member"))
            })?;
            nodes.insert(*id, info.clone());
            if old_voters.contains(id) {
                voters.insert(*id);
            }
        }
        if !voters.iter().any(|v| {
            nodes
                .get(v)
                .map(|n| n.role != Role::Witness)
                .unwrap_or(false)
        }) {
            return Err(NodeError::bad_request(
                "the survivors include no voter that holds data",
            ));
        }
        let learners: Vec<NodeId> = survivors
            .iter()
            .copied()
            .filter(|s| !voters.contains(s))
            .collect();
        let new = Membership::new(vec![voters.clone()], nodes)
            .map_err(|e| NodeError::internal(e.to_string()))?;
        let store = self.store().clone();
        let (last, file) = tokio::task::spawn_blocking(move || store.build_recovery_file(new))
            .await
            .map_err(|e| NodeError::internal(e.to_string()))??;
        *self.inner.recovery_source.lock() = Some(file.path.clone());
        tracing::warn!(survivors = ?survivors, index = last.index, "recovery: prepared the new lineage's starting state");
        Ok(RecoverPrepared {
            source: self.id(),
            last_applied: last,
            size: file.size,
            sha256: file.sha256,
            voters: voters.into_iter().collect(),
            learners,
        })
    }

    /// Serves a chunk of the prepared recovery file to another survivor.
    pub(crate) fn recovery_chunk(&self, req: ChunkRequest) -> Result<Vec<u8>, NodeError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self
            .inner
            .recovery_source
            .lock()
            .clone()
            .ok_or_else(|| NodeError::bad_request("no recovery prepared on this node"))?;
        let mut f = std::fs::File::open(&path).map_err(|e| NodeError::internal(e.to_string()))?;
        f.seek(SeekFrom::Start(req.offset))
            .map_err(|e| NodeError::internal(e.to_string()))?;
        let mut buf = vec![0u8; req.len.min(CHUNK_BYTES_MAX) as usize];
        let mut n = 0;
        while n < buf.len() {
            let r = f
                .read(&mut buf[n..])
                .map_err(|e| NodeError::internal(e.to_string()))?;
            if r == 0 {
                break;
            }
            n += r;
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// On every survivor: fetches the recovery file from the source, stages it, and asks for
    /// a restart (the new lineage starts then).
    pub async fn recover_install(&self, req: RecoverInstallRequest) -> Result<(), NodeError> {
        let data_dir = self.inner.config.data_dir.clone();
        let target = staged_db(&data_dir);
        if req.source == self.id() {
            let src = self
                .inner
                .recovery_source
                .lock()
                .clone()
                .ok_or_else(|| NodeError::bad_request("no recovery prepared on this node"))?;
            std::fs::copy(&src, &target).map_err(|e| NodeError::internal(e.to_string()))?;
        } else {
            let info = self
                .metrics()
                .membership_config
                .membership()
                .get_node(&req.source)
                .cloned()
                .ok_or_else(|| {
                    NodeError::new(
                        ErrorCode::UnknownNode,
                        format!("n{} is not a member", req.source),
                    )
                })?;
            let peer = self.inner.transport.peer(req.source, &info.peer_addrs);
            let tmp = data_dir.join("recovery.db.tmp");
            let mut out =
                std::fs::File::create(&tmp).map_err(|e| NodeError::internal(e.to_string()))?;
            let mut offset = 0u64;
            while offset < req.size {
                let body = encode(&ChunkRequest {
                    offset,
                    len: CHUNK_BYTES_MAX,
                });
                let reply = peer
                    .call(method::RECOVERY_CHUNK, body, Duration::from_secs(60), true)
                    .await
                    .map_err(|e| {
                        NodeError::new(
                            ErrorCode::UnknownNode,
                            format!("fetching the recovery file from n{}: {e}", req.source),
                        )
                    })?;
                let chunk: Result<Vec<u8>, NodeError> =
                    decode(&reply).map_err(NodeError::internal)?;
                let chunk = chunk?;
                if chunk.is_empty() {
                    break;
                }
                use std::io::Write;
                out.write_all(&chunk)
                    .map_err(|e| NodeError::internal(e.to_string()))?;
                offset += chunk.len() as u64;
            }
            out.sync_all()
                .map_err(|e| NodeError::internal(e.to_string()))?;
            std::fs::rename(&tmp, &target).map_err(|e| NodeError::internal(e.to_string()))?;
        }
        let (size, sha) = quorate_store::hash_file(&target).map_err(NodeError::from)?;
        if size != req.size || sha != req.sha256 {
            let _ = std::fs::remove_file(&target);
            return Err(NodeError::internal(
                "the recovery file arrived corrupted (size or SHA-256 differs); nothing was changed",
            ));
        }
        let staged = Staged {
            epoch: req.epoch,
            last_applied: req.last_applied,
        };
        let json =
            serde_json::to_vec_pretty(&staged).map_err(|e| NodeError::internal(e.to_string()))?;
        let tmp = data_dir.join("recovery.json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .map_err(|e| NodeError::internal(e.to_string()))?;
        std::fs::rename(&tmp, staged_json(&data_dir))
            .map_err(|e| NodeError::internal(e.to_string()))?;
        tracing::warn!(
            epoch = req.epoch,
            index = req.last_applied.index,
            "recovery staged; restarting into the new lineage"
        );
        let _ = self.inner.restart.send(true);
        Ok(())
    }

    /// Becomes true when this node wants its process restarted (to apply a staged recovery).
    pub fn restart_requested(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.restart.subscribe()
    }

    /// Becomes `Some(reason)` when Raft stopped on a fatal error (a log write failed, e.g.
    /// disk full): this node can no longer take part until its process restarts.
    pub fn fatal_error(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.inner.fatal.subscribe()
    }
}
