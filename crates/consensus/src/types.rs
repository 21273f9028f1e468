use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Response};

/// How a member takes part in the cluster. Voters and witnesses vote; only voters hold data
/// and can lead; learners hold data and do not vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Voter,
    Learner,
    Witness,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Voter => "voter",
            Role::Learner => "learner",
            Role::Witness => "witness",
        })
    }
}

/// What every member knows about another member. It travels inside the Raft membership, so
/// a node added later is reachable by everybody without editing config files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeInfo {
    /// Peer-transport addresses, one per network path (e.g. one per NIC / switch).
    pub peer_addrs: Vec<String>,
    /// HTTP API address clients and the CLI use.
    pub http_addr: String,
    /// MySQL protocol address.
    pub mysql_addr: String,
    /// The role this member was configured with.
    pub role: Role,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}] http={}",
            self.role,
            self.peer_addrs.join(","),
            self.http_addr
        )
    }
}

/// Node ids are small positive integers chosen by the operator (`node_id = 1`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft type configuration of quorate.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = NodeId,
        Node = NodeInfo,
);

pub type Raft<SM> = openraft::Raft<TypeConfig, SM>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type EntryPayload = openraft::EntryPayload<Command, NodeId, NodeInfo>;
pub type LeaderId = openraft::alias::LeaderIdOf<TypeConfig>;
pub type CommittedLeaderId = openraft::alias::CommittedLeaderIdOf<TypeConfig>;
pub type Membership = openraft::Membership<NodeId, NodeInfo>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;

/// Builds a log id from its parts (term, leader node, index).
pub fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
    LogId::new(
        CommittedLeaderId {
            term,
            node_id: node,
        },
        index,
    )
}
