//! The read path: the three consistency levels.

use std::time::{Duration, Instant};

use quorate_store::Value;

use crate::api::{ColumnDesc, Consistency, QueryRequest, QueryResponse, SqlValue};
use crate::error::{ErrorCode, NodeError};
use crate::network::{encode, method};
use crate::node::Node;

impl Node {
    /// Runs a read-only statement at the requested consistency.
    pub async fn query(&self, req: QueryRequest) -> Result<QueryResponse, NodeError> {
        match req.consistency {
            Consistency::Linearizable => loop {
                // A client's read runs as long through a follower as on the leader.
                let wait = self.wait_for(&req.context);
                match self
                    .forward::<QueryResponse>(method::QUERY, encode(&req), true, wait)
                    .await?
                {
                    Some(r) => return Ok(r),
                    None => match self.query_local_linearizable(req.clone()).await {
                        Err(e) if e.code == ErrorCode::NotLeader => continue,
                        other => return other,
                    },
                }
            },
            Consistency::Bounded => {
                let max = req
                    .max_staleness_ms
                    .ok_or_else(|| NodeError::bad_request("`bounded` needs `max_staleness_ms`"))?;
                let staleness = self.staleness_ms().await;
                match staleness {
                    Some(s) if s <= max => self.query_local(req, staleness).await,
                    Some(s) => Err(NodeError::new(
                        ErrorCode::TooStale,
                        format!(
                            "this node's data may be {s} ms behind the leader, more than the {max} ms allowed; read from the leader or allow more staleness"
                        ),
                    )),
                    None => Err(NodeError::new(
                        ErrorCode::TooStale,
                        format!(
                            "this node has no recent contact with a leader ({})",
                            self.describe_reachability()
                        ),
                    )),
                }
            }
            Consistency::Stale => {
                let staleness = self.staleness_ms().await;
                self.query_local(req, staleness).await
            }
        }
    }

    /// True if this node leads, has applied everything committed before its term, and a
    /// majority acknowledged it recently enough that no other leader can exist (a lease
    /// shorter than the minimum election timeout). Reads can then be served locally without
    /// asking Raft.
    pub(crate) fn lease_holds(&self) -> bool {
        use openraft::async_runtime::WatchReceiver;
        let rx = self.inner.raft.metrics();
        let m = rx.borrow_watched();
        // During a transfer the successor may already lead: the lease proves nothing.
        if !m.state.is_leader() || self.transfer_pending(&m) {
            return false;
        }
        let lease_ms = self.inner.config.timeouts.election_timeout_min_ms;
        let fresh = crate::node::quorum_ack_ms(&m)
            .map(|ms| ms < lease_ms)
            .unwrap_or(false);
        fresh && self.inner.ready_leader.lock().as_ref() == Some(m.vote.leader_id())
    }

    /// Returns once this node is the leader and has applied everything acknowledged before
    /// the call: a read snapshot taken on this node afterwards is linearizable once the
    /// speculative transactions it sees are committed (`Store::wait_visible_committed`).
    /// The first step of every linearizable read served here, and of read-only transactions
    /// that front ends run on a snapshot of the leader (the MySQL front end). Fails with `not_leader` on a follower, `no_quorum` within
    /// `no_quorum_fail_ms` without a majority.
    pub async fn confirm_linearizable_point(&self) -> Result<(), NodeError> {
        if self.lease_holds() {
            return Ok(());
        }
        if !self.inner.raft.is_leader() {
            return Err(NodeError::new(
                ErrorCode::NotLeader,
                "this node is not the leader",
            ));
        }
        self.ensure_leader_ready().await?;
        self.confirm_leadership().await
    }

    /// An autocommit point DELETE (by rowid) of a row that does not exist, answered on this
    /// node as leader like a linearizable read, without taking the writer: `None` when it
    /// must run as a write (another statement, or the row exists). See
    /// `Store::empty_point_delete`.
    pub(crate) async fn empty_point_delete_local(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<quorate_store::StmtOutput>, NodeError> {
        let Some(probe) = quorate_store::PointDeleteProbe::new(sql, params) else {
            return Ok(None);
        };
        self.confirm_linearizable_point().await?;
        let Some(seen) = self.inner.store.empty_point_delete(&probe) else {
            return Ok(None);
        };
        self.wait_committed(seen).await?;
        Ok(Some(quorate_store::StmtOutput::default()))
    }

    /// A linearizable read on this node as leader, returning the store's output directly
    /// (the MySQL front end's path).
    pub(crate) async fn read_local_linearizable(
        &self,
        sql: &str,
        params: &[Value],
        context: &[u8],
    ) -> Result<quorate_store::StmtOutput, NodeError> {
        self.confirm_linearizable_point().await?;
        self.query_committed(sql, params, context).await
    }

    /// Runs a read-only statement here and answers only once every speculative transaction
    /// it saw is committed. If they were undone meanwhile (the leader lost its quorum), it
    /// reads again: the data is then the committed state, at least as new as when the read
    /// began.
    async fn query_committed(
        &self,
        sql: &str,
        params: &[Value],
        context: &[u8],
    ) -> Result<quorate_store::StmtOutput, NodeError> {
        let mut attempts = 0;
        loop {
            let (out, seen) = self.inner.store.query_with(sql, params, context)?;
            if seen.visible_seq <= seen.committed_seq {
                return Ok(out);
            }
            match self.wait_committed(seen).await {
                Ok(()) => return Ok(out),
                Err(e) if e.code == ErrorCode::Aborted && attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// A linearizable read on this node, which must be the leader.
    pub(crate) async fn query_local_linearizable(
        &self,
        req: QueryRequest,
    ) -> Result<QueryResponse, NodeError> {
        self.confirm_linearizable_point().await?;
        self.query_local(req, None).await
    }

    async fn query_local(
        &self,
        req: QueryRequest,
        staleness_ms: Option<u64>,
    ) -> Result<QueryResponse, NodeError> {
        let params: Vec<Value> = req.params.iter().cloned().map(Into::into).collect();
        let out = self
            .query_committed(&req.sql, &params, &req.context)
            .await?;
        let applied_index = self
            .inner
            .store
            .applied()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0);
        Ok(QueryResponse {
            columns: out
                .columns
                .into_iter()
                .map(|c| ColumnDesc {
                    name: c.name,
                    decl_type: c.decl_type,
                })
                .collect(),
            rows: out
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(SqlValue::from).collect())
                .collect(),
            last_insert_id_set: out.last_insert_id_set,
            consistency: req.consistency,
            served_by: self.id(),
            applied_index,
            staleness_ms: match req.consistency {
                Consistency::Linearizable => None,
                _ => staleness_ms,
            },
        })
    }

    /// An upper bound of how far this node's data may be behind the leader, in ms; None if
    /// unknown (no contact with a leader since start).
    pub async fn staleness_ms(&self) -> Option<u64> {
        let m = self.metrics();
        if m.state.is_leader()
            && !self.transfer_pending(&m)
            && crate::node::quorum_ack_ms(&m)
                .map(|ms| ms < self.lease().as_millis() as u64)
                .unwrap_or(false)
        {
            return Some(0);
        }
        let f = *self.inner.freshness.lock();
        let contact = f.last_contact?;
        // Our data is as fresh as the leader's commit index at the last contact once we
        // have applied up to it (which normally takes a moment at most).
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut applied = self.inner.store.watch_applied();
        loop {
            let idx = applied
                .borrow_and_update()
                .as_ref()
                .map(|l| l.index)
                .unwrap_or(0);
            if idx >= f.leader_commit {
                return Some(contact.elapsed().as_millis() as u64);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let _ = tokio::time::timeout(deadline - now, applied.changed()).await;
        }
    }
}
