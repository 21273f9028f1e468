//! quorate's replicated catalog: `_quorate_*` tables that every data node holds, written
//! through Raft like user data (so snapshots and new nodes get them too).
//!
//! The first leader creates the catalog and records the cluster id in it; other nodes adopt
//! the cluster id from there (it then guards their peer handshakes).

use quorate_store::{CommitOutcome, TxOptions, Value};
use serde::{Deserialize, Serialize};

use crate::api::SqlValue;
use crate::error::{ErrorCode, NodeError};
use crate::interrupt::Wait;
use crate::network::{encode, method};
use crate::node::Node;

/// One statement of a front end on quorate's own `_quorate_*` catalog tables (the MySQL
/// front end's users, grants and databases), for [`Node::execute_internal`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalStatement {
    pub sql: String,
    #[serde(default)]
    pub params: Vec<SqlValue>,
}

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
        let proposer = self.proposer(leader);
        match tx.commit(&proposer).await? {
            CommitOutcome::Committed { log_id } => {
                tracing::info!(index = log_id.index, "catalog initialised")
            }
            CommitOutcome::ReadOnly { .. } => {}
        }
        Ok(())
    }
}

impl Node {
    /// Runs a front end's statements on quorate's catalog tables (`_quorate_*`) as one
    /// replicated transaction on the leader, forwarding to it from a follower; returns each
    /// statement's rows affected once the transaction is durable on a majority and applied
    /// on the node that ran it.
    ///
    /// The statements bypass the checks user SQL gets (they may read and write internal
    /// tables; `CREATE` / `DROP` / `ALTER` replicate as schema changes): pass only fixed
    /// statements of the front end's own, never client SQL.
    pub async fn execute_internal(
        &self,
        statements: Vec<InternalStatement>,
    ) -> Result<Vec<u64>, NodeError> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        loop {
            match self
                .forward::<Vec<u64>>(
                    method::EXECUTE_INTERNAL,
                    encode(&statements),
                    false,
                    Wait::AtMost(self.forward_write_timeout()),
                )
                .await?
            {
                Some(r) => return Ok(r),
                None => match self.execute_internal_local(&statements).await {
                    Err(e) if e.code == ErrorCode::NotLeader => continue,
                    other => return other,
                },
            }
        }
    }

    /// [`Node::execute_internal`] on this node, which must be the leader.
    pub(crate) async fn execute_internal_local(
        &self,
        statements: &[InternalStatement],
    ) -> Result<Vec<u64>, NodeError> {
        if self.store().is_witness() {
            return Err(NodeError::new(
                ErrorCode::Witness,
                "this node is a witness and holds no data",
            ));
        }
        let leader = self.ensure_leader_ready().await?;
        let mut tx = self.store().begin_write(TxOptions::default()).await?;
        let mut affected = Vec::with_capacity(statements.len());
        for st in statements {
            let params: Vec<Value> = st.params.iter().cloned().map(Into::into).collect();
            match tx.execute_internal(&st.sql, &params).await {
                Ok(out) => affected.push(out.rows_affected),
                Err(e) => {
                    tx.rollback();
                    return Err(e.into());
                }
            }
        }
        let proposer = self.proposer(leader);
        match tx.commit(&proposer).await? {
            CommitOutcome::Committed { .. } => {}
            CommitOutcome::ReadOnly { seen } => self.confirm_read(seen).await?,
        }
        Ok(affected)
    }
}
