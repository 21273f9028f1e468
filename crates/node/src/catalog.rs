//! quorate's replicated catalog: `_quorate_*` tables that every data node holds, written
//! through Raft like user data (so snapshots and new nodes get them too).
//!
//! The first leader creates the catalog and records the cluster id in it; other nodes adopt
//! the cluster id from there (it then guards their peer handshakes).

use quorate_store::{CommitOutcome, TxOptions, Value};

use crate::error::NodeError;
use crate::node::Node;
use crate::write::RaftProposer;

const CLUSTER_TABLE: &str = "_quorate_cluster";

impl Node {
    /// The cluster id recorded in the replicated catalog, if this node has applied it.
    pub(crate) fn replicated_cluster_id(&self) -> Option<String> {
        if self.store().is_witness() {
            return None;
        }
        let out = self
            .store()
            .query_internal(
                "SELECT v FROM _quorate_cluster WHERE k = 'cluster_id' AND EXISTS (SELECT 1 FROM sqlite_schema WHERE name = '_quorate_cluster')",
                &[],
            )
            .ok()?;
        match out.rows.first().and_then(|r| r.first()) {
            Some(Value::Text(id)) => Some(id.clone()),
            _ => None,
        }
    }

    fn catalog_exists(&self) -> bool {
        self.store()
            .query_internal(
                "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
                &[Value::Text(CLUSTER_TABLE.into())],
            )
            .ok()
            .and_then(|o| o.rows.first().and_then(|r| r.first()).cloned())
            == Some(Value::Integer(1))
    }

    /// On the leader: creates the catalog if missing and records the cluster id.
    pub(crate) async fn ensure_catalog(&self) -> Result<(), NodeError> {
        if self.store().is_witness() {
            return Ok(());
        }
        let leader = self.ensure_leader_ready().await?;
        let cluster_id = self.inner.persisted.lock().cluster_id.clone();
        if self.catalog_exists() && (cluster_id.is_none() || self.replicated_cluster_id().is_some())
        {
            return Ok(());
        }
        let mut tx = self.store().begin_write(TxOptions::default()).await?;
        tx.execute_internal(
            &format!(
                "CREATE TABLE IF NOT EXISTS {CLUSTER_TABLE} (k TEXT PRIMARY KEY, v TEXT NOT NULL)"
            ),
            &[],
        )
        .await?;
        if let Some(id) = cluster_id {
            tx.execute_internal(
                &format!("INSERT OR IGNORE INTO {CLUSTER_TABLE} (k, v) VALUES ('cluster_id', ?1)"),
                &[Value::Text(id)],
            )
            .await?;
        }
        let proposer = RaftProposer {
            raft: self.inner.raft.clone(),
            leader,
            lease_ms: self.lease().as_millis() as u64,
        };
        match tx.commit(&proposer).await? {
            CommitOutcome::Committed { log_id } => {
                tracing::info!(index = log_id.index, "catalog initialised")
            }
            CommitOutcome::ReadOnly { .. } => {}
        }
        Ok(())
    }
}
