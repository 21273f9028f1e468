//! One screen of status: members, roles, leader, term, indexes, lag, reachability, and
//! whether this node can serve writes now (with the reason when not).

use std::collections::HashMap;

use openraft::ServerState;
use quorate_consensus::{NodeId, Role};
use serde::{Deserialize, Serialize};

use crate::node::{Node, unix_ms};

/// One network path to a member, as this node sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathView {
    pub addr: String,
    pub up: bool,
    /// When `up` last changed (ms since the Unix epoch).
    pub since_ms: u64,
    pub rtt_us: Option<u64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberStatus {
    pub id: NodeId,
    /// voter, learner or witness.
    pub role: String,
    pub peer_addrs: Vec<String>,
    pub http_addr: String,
    pub mysql_addr: String,
    /// Paths from this node to the member (empty for this node itself).
    pub paths: Vec<PathView>,
    /// This node can talk to the member over at least one path (always true for itself).
    pub reachable: bool,
    /// Leader's view: last log index known replicated on the member.
    pub matched_index: Option<u64>,
    /// Leader's view: entries the member is behind the leader's last log index.
    pub lag: Option<u64>,
    /// Leader's view: ms since the member last acknowledged the leader.
    pub last_ack_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub node_id: NodeId,
    pub version: String,
    pub role: Role,
    /// leader, follower, candidate, learner or shutdown.
    pub state: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub cluster_id: Option<String>,
    pub epoch: u64,
    pub initialized: bool,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// The leader's own transactions executed and not yet committed.
    pub speculative_in_flight: usize,
    /// This node can serve linearizable writes right now.
    pub writable: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// Redundancy problems (a member reachable over fewer paths than configured).
    pub warnings: Vec<String>,
    /// How far behind the leader this node's data may be, in ms.
    pub staleness_ms: Option<u64>,
    pub members: Vec<MemberStatus>,
    pub uptime_s: u64,
    pub started_at_ms: u64,
    pub log_bytes: u64,
    /// Free space on the data directory's filesystem.
    #[serde(default)]
    pub disk_free_bytes: Option<u64>,
}

fn state_name(s: &ServerState) -> &'static str {
    match s {
        ServerState::Learner => "learner",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Leader => "leader",
        ServerState::Shutdown => "shutdown",
    }
}

impl Node {
    /// Whether this node can serve linearizable writes now, and if not why.
    pub fn writable(&self) -> (bool, Option<String>) {
        if let Some(why) = self.inner.identity.fenced() {
            return (false, Some(format!("fenced: {why}")));
        }
        let m = self.metrics();
        if let Err(e) = &m.running_state {
            return (false, Some(format!("raft stopped: {e}")));
        }
        if m.membership_config
            .membership()
            .voter_ids()
            .next()
            .is_none()
        {
            return (false, Some("not initialized: no cluster formed yet".into()));
        }
        let lease_ms = self.lease().as_millis() as u64;
        match m.current_leader {
            Some(l) if l == self.id() && m.state.is_leader() => {
                if self.transfer_pending(&m) {
                    return (false, Some("handing leadership to another node".into()));
                }
                match crate::node::quorum_ack_ms(&m) {
                    Some(ms) if ms < lease_ms => (true, None),
                    _ => (
                        false,
                        Some(format!("no quorum: {}", self.describe_reachability())),
                    ),
                }
            }
            Some(l) => {
                let contact = self.inner.freshness.lock().last_contact;
                match contact {
                    Some(t) if (t.elapsed().as_millis() as u64) < lease_ms => (true, None),
                    _ => (
                        false,
                        Some(format!(
                            "leader n{l} not heard from recently; {}",
                            self.describe_reachability()
                        )),
                    ),
                }
            }
            None => (
                false,
                Some(format!("no leader: {}", self.describe_reachability())),
            ),
        }
    }

    /// The status of this node and of the members as it sees them.
    pub async fn status(&self) -> Status {
        let m = self.metrics();
        let me = self.id();
        let membership = m.membership_config.membership().clone();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let transport: HashMap<NodeId, quorate_transport::PeerStatus> = self
            .inner
            .transport
            .status()
            .into_iter()
            .map(|s| (s.node_id, s))
            .collect();
        let last_log = m.last_log_index.unwrap_or(0);
        let mut members = Vec::new();
        let mut warnings = Vec::new();
        for (id, info) in membership.nodes() {
            let role = if info.role == Role::Witness {
                "witness"
            } else if voters.contains(id) {
                "voter"
            } else {
                "learner"
            };
            let paths: Vec<PathView> = if *id == me {
                Vec::new()
            } else {
                transport
                    .get(id)
                    .map(|s| {
                        s.paths
                            .iter()
                            .map(|p| PathView {
                                addr: p.addr.clone(),
                                up: p.up,
                                since_ms: unix_ms(p.since),
                                rtt_us: p.rtt_us,
                                last_error: p.last_error.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let up = paths.iter().filter(|p| p.up).count();
            if *id != me && up > 0 && up < paths.len() {
                let since = paths
                    .iter()
                    .filter(|p| !p.up)
                    .map(|p| p.since_ms)
                    .min()
                    .unwrap_or(0);
                warnings.push(format!(
                    "redundancy lost: n{id} reachable over {up} of {} paths since {}",
                    paths.len(),
                    crate::node::clock(
                        std::time::UNIX_EPOCH + std::time::Duration::from_millis(since)
                    )
                ));
            }
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(id))
                .and_then(|l| l.as_ref())
                .map(|l| l.index);
            let last_ack_ms = m
                .heartbeat
                .as_ref()
                .and_then(|h| h.get(id))
                .and_then(|t| t.as_ref())
                .map(|t| {
                    use openraft::Instant as _;
                    (**t).elapsed().as_millis() as u64
                });
            members.push(MemberStatus {
                id: *id,
                role: role.to_string(),
                peer_addrs: info.peer_addrs.clone(),
                http_addr: info.http_addr.clone(),
                mysql_addr: info.mysql_addr.clone(),
                reachable: *id == me || up > 0,
                paths,
                matched_index: if *id == me && m.state.is_leader() {
                    m.last_log_index
                } else {
                    matched
                },
                lag: matched.map(|x| last_log.saturating_sub(x)),
                last_ack_ms,
            });
        }
        let (writable, reason) = self.writable();
        let p = self.inner.persisted.lock().clone();
        Status {
            node_id: me,
            version: env!("CARGO_PKG_VERSION").to_string(),
            role: self.inner.config.role,
            state: state_name(&m.state).to_string(),
            term: m.current_term,
            leader: m.current_leader,
            cluster_id: p.cluster_id,
            epoch: p.epoch,
            initialized: !voters.is_empty(),
            last_log_index: m.last_log_index,
            commit_index: m
                .cluster_committed
                .as_ref()
                .or(m.local_committed.as_ref())
                .map(|l| l.index),
            applied_index: m.last_applied.as_ref().map(|l| l.index),
            snapshot_index: m.snapshot.as_ref().map(|l| l.index),
            purged_index: m.purged.as_ref().map(|l| l.index),
            speculative_in_flight: self.inner.store.speculative_in_flight(),
            writable,
            reason,
            warnings,
            staleness_ms: self.staleness_ms().await,
            members,
            uptime_s: self.inner.started.elapsed().as_secs(),
            started_at_ms: unix_ms(self.inner.started_at),
            log_bytes: self.inner.log.on_disk_bytes(),
            disk_free_bytes: disk_free(&self.inner.config.data_dir),
        }
    }
}

/// Free bytes on the filesystem holding `path`.
fn disk_free(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
