use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Who produced a transaction's effects. The leader that executed the transaction
/// recognises its own entries at apply time by this triple, because their effects are
/// already in its SQLite database (see docs/ARCHITECTURE.md, "the write path").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub node: u64,
    /// Random per process start, so that sequence numbers of two runs never collide.
    pub incarnation: u64,
    pub seq: u64,
    /// The leader's previous transaction whose uncommitted effects this one may have seen.
    /// Every replica applies this entry only if that one was applied just before it (from
    /// the same origin); otherwise the entry is skipped everywhere. This keeps pipelined
    /// transactions consistent when an earlier one never made it into the log.
    #[serde(default)]
    pub depends_on: Option<u64>,
}

/// One step of a transaction's effects, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A SQLite session changeset: row images of every change, with before-images so that a
    /// replica whose rows differ is detected instead of silently diverging. Shared, not
    /// copied, when the entry is cloned (the log's cache, each follower's replication, the
    /// state machine): a 20 MiB changeset exists once in memory until it goes on the wire.
    /// Encoded exactly as a byte string (the log and the peer protocol are unchanged).
    Changeset(Bytes),
    /// A schema statement, replayed as text (DDL has no changeset).
    Ddl(String),
}

/// What is written to the Raft log as application data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The effects of one committed transaction.
    Tx { origin: Origin, ops: Vec<Op> },
    /// Does nothing; used as a barrier.
    Noop,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Tx { origin, ops } => {
                write!(f, "tx(n{}#{} ops={})", origin.node, origin.seq, ops.len())
            }
            Command::Noop => f.write_str("noop"),
        }
    }
}

/// What applying an entry answers to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Response {
    /// Log index the entry was applied at.
    pub index: u64,
    /// The entry was committed but skipped (a transaction it depended on never committed):
    /// it has no effect anywhere.
    #[serde(default)]
    pub skipped: bool,
}
