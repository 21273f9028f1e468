//! The write path on a node: find the leader, forward or execute, commit through Raft.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use openraft::errors::ClientWriteError;
use openraft::impls::ProgressResponder;
use quorate_consensus::{Command, CommittedLeaderId, LogId, NodeId, NodeInfo, TypeConfig};
use quorate_store::{CommitOutcome, Frontier, ProposeError, Proposer, TxOptions, Value};
use quorate_transport::TransportError;

use crate::api::{ExecuteRequest, ExecuteResponse, SqlValue, StatementResult};
use crate::error::{ErrorCode, NodeError};
use crate::interrupt::Wait;
use crate::network::{decode, encode, method};
use crate::node::Node;

/// Extra time a request waits for a leader when a majority of voters is reachable (an
/// election is running and will finish).
const ELECTION_GRACE: Duration = Duration::from_millis(2000);

/// Most statements in one atomic batch.
const BATCH_STATEMENTS_MAX: usize = 10_000;
/// How many times an HTTP batch rolled back by a leader change runs again before the
/// client gets `aborted`.
const ABORTED_RETRIES: u64 = 5;

/// Proposes commands under the leadership the transaction started with: if leadership moved
/// meanwhile, the proposal is refused instead of appended under a new term.
pub(crate) struct RaftProposer {
    node: Node,
    leader: CommittedLeaderId,
}

impl Node {
    /// The proposer of a transaction started under `leader`.
    pub(crate) fn proposer(&self, leader: CommittedLeaderId) -> RaftProposer {
        RaftProposer {
            node: self.clone(),
            leader,
        }
    }
}

impl Proposer for RaftProposer {
    fn propose(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, Result<BoxFuture<'static, Result<LogId, ProposeError>>, ProposeError>> {
        Box::pin(async move {
            let (responder, rx) = ProgressResponder::<TypeConfig, _>::complete_only();
            self.node
                .inner
                .raft
                .write(cmd)
                .with_leader(self.leader)
                .responder(responder)
                .await
                .map_err(|e| ProposeError::NotAppended(format!("raft stopped: {e}")))?;
            let waiter: BoxFuture<'static, Result<LogId, ProposeError>> = Box::pin(async move {
                match rx.await {
                    Ok(Ok(resp)) if resp.data.skipped => Err(ProposeError::NotAppended(
                        "an earlier transaction it ran on top of was not committed; it was not applied".into(),
                    )),
                    Ok(Ok(resp)) => Ok(resp.log_id),
                    Ok(Err(ClientWriteError::ForwardToLeader(_))) | Ok(Err(ClientWriteError::PreconditionFailed(_))) => {
                        Err(ProposeError::NotAppended("leadership changed before the transaction was appended".into()))
                    }
                    Ok(Err(e)) => Err(ProposeError::Unknown(format!("leadership changed after the transaction was appended: {e}"))),
                    Err(_) => Err(ProposeError::Unknown("raft dropped the transaction".into())),
                }
            });
            Ok(waiter)
        })
    }

    /// Stalled: a majority of voters is unreachable over every path, and either this node
    /// stopped leading or no quorum acknowledged it for a lease.
    ///
    /// A node that stopped leading (a leadership transfer, an election) while a majority is
    /// reachable keeps waiting: openraft keeps the entry's responder, so the new leader
    /// committing the entry answers the waiter when it is applied here, and replacing it
    /// fails the waiter. Only `commit_timeout_ms` bounds that wait.
    fn stalled(&self) -> BoxFuture<'static, String> {
        let node = self.node.clone();
        let raft = node.inner.raft.clone();
        let lease_ms = node.lease().as_millis() as u64;
        Box::pin(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !raft.is_leader() {
                    if !node.majority_reachable() {
                        return "this node stopped leading and cannot reach a majority of voters"
                            .to_string();
                    }
                    continue;
                }
                let m = {
                    use openraft::async_runtime::WatchReceiver;
                    raft.metrics().borrow_watched().clone()
                };
                // Late acknowledgements alone are not lost contact: a follower busy with a
                // large entry answers late while its paths are up. Only when a majority is
                // also unreachable over every path can the leader give up on the commit
                // (otherwise `commit_timeout_ms` bounds the wait).
                if crate::node::quorum_ack_ms(&m)
                    .map(|ms| ms >= lease_ms)
                    .unwrap_or(false)
                    && !node.majority_reachable()
                {
                    return "the leader lost contact with a majority of voters".to_string();
                }
            }
        })
    }

    fn stepped_down(&self) -> BoxFuture<'static, String> {
        let raft = self.node.inner.raft.clone();
        Box::pin(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !raft.is_leader() {
                    return "this node stopped leading".to_string();
                }
            }
        })
    }
}

/// Where a request goes.
pub(crate) enum Target {
    Local,
    Remote(NodeId, NodeInfo),
}

impl Node {
    /// The error for "no leader with a majority", naming who is unreachable.
    pub(crate) fn no_quorum(&self) -> NodeError {
        NodeError::new(
            ErrorCode::NoQuorum,
            format!("no quorum: {}", self.describe_reachability()),
        )
    }

    /// Finds the leader, waiting at most until `deadline` (under a second by default).
    pub(crate) async fn leader_target(&self, deadline: Instant) -> Result<Target, NodeError> {
        let me = self.id();
        let mut rx = self.inner.raft.metrics();
        loop {
            {
                let m = rx.borrow_watched().clone();
                if m.membership_config
                    .membership()
                    .voter_ids()
                    .next()
                    .is_none()
                {
                    return Err(NodeError::new(
                        ErrorCode::NotInitialized,
                        "this node is not part of a formed cluster yet (run `quorate init`, or wait for --bootstrap-expect)",
                    ));
                }
                match m.current_leader {
                    // A leader handing over waits below for its successor.
                    Some(l) if l == me && m.state.is_leader() && !self.transfer_pending(&m) => {
                        return Ok(Target::Local);
                    }
                    Some(l) if l != me => {
                        if let Some(info) = m.membership_config.membership().get_node(&l) {
                            return Ok(Target::Remote(l, info.clone()));
                        }
                    }
                    _ => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                // No leader yet. If a majority of voters is reachable an election is under way
                // and will succeed: wait for it (bounded), instead of failing a write that a
                // second later would work. Without a reachable majority, fail now.
                if now < deadline + ELECTION_GRACE && self.majority_reachable() {
                    let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
                    continue;
                }
                return Err(self.no_quorum());
            }
            let _ = tokio::time::timeout(
                (deadline - now).min(Duration::from_millis(50)),
                rx.changed(),
            )
            .await;
        }
    }

    /// Calls the leader; retries (until `deadline`) while it is unreachable or has just
    /// stopped leading; never re-sends a call that may have run.
    pub(crate) async fn forward<T: serde::de::DeserializeOwned>(
        &self,
        m: u16,
        body: Vec<u8>,
        idempotent: bool,
        wait: Wait,
    ) -> Result<Option<T>, NodeError> {
        let deadline = Instant::now() + self.no_quorum_wait();
        // Past the deadline, keep trying only while an election can still succeed.
        let keep_trying = |node: &Node| {
            let now = Instant::now();
            now < deadline || (now < deadline + ELECTION_GRACE && node.majority_reachable())
        };
        loop {
            let (leader, info) = match self.leader_target(deadline).await? {
                Target::Local => return Ok(None),
                Target::Remote(l, i) => (l, i),
            };
            let peer = self.inner.transport.peer(leader, &info.peer_addrs);
            match self
                .call_waiting(&peer, m, body.clone(), idempotent, wait)
                .await
            {
                Ok(reply) => {
                    let r: Result<T, NodeError> = decode(&reply).map_err(|e| {
                        NodeError::internal(format!("leader n{leader} answered: {e}"))
                    })?;
                    match r {
                        Err(e)
                            if matches!(e.code, ErrorCode::NotLeader | ErrorCode::NoQuorum)
                                && keep_trying(self) =>
                        {
                            // That node stopped leading (or lost its quorum): a new leader
                            // may be elected right now.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        other => return other.map(Some),
                    }
                }
                Err(
                    TransportError::Unreachable { .. }
                    | TransportError::Refused(_)
                    | TransportError::Handshake(_),
                ) if keep_trying(self) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(
                    TransportError::Unreachable { .. }
                    | TransportError::Refused(_)
                    | TransportError::Handshake(_),
                ) => {
                    return Err(self.no_quorum());
                }
                Err(e @ (TransportError::Interrupted { .. } | TransportError::Timeout { .. }))
                    if !idempotent =>
                {
                    return Err(NodeError::new(
                        ErrorCode::OutcomeUnknown,
                        format!("forwarded to leader n{leader}: {e}"),
                    ));
                }
                Err(e) if keep_trying(self) => {
                    tracing::debug!(error = %e, "forward failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // The leader is reachable but did not answer in time: a slow statement, not
                // a lost quorum. It is interrupted there 1 s after a forwarded write's wait.
                Err(e @ TransportError::Timeout { .. }) => {
                    return Err(NodeError::new(
                        ErrorCode::OutcomeUnknown,
                        format!(
                            "forwarded to leader n{leader}: {e}; a statement still running \
                             there is interrupted"
                        ),
                    ));
                }
                Err(e) => {
                    return Err(NodeError::new(
                        ErrorCode::NoQuorum,
                        format!("leader n{leader}: {e}"),
                    ));
                }
            }
        }
    }

    /// How long a forwarded write may take at most (waiting for the writer, then commit).
    pub(crate) fn forward_write_timeout(&self) -> Duration {
        let t = &self.inner.config.timeouts;
        Duration::from_millis(t.lock_wait_timeout_ms + t.commit_timeout_ms + 2_000)
    }

    /// Executes statements as one atomic transaction, on the leader (forwarding if needed).
    /// Returns once the transaction is durable on a majority and applied.
    pub async fn execute(&self, req: ExecuteRequest) -> Result<ExecuteResponse, NodeError> {
        if req.statements.is_empty() {
            return Err(NodeError::bad_request("no statements to execute"));
        }
        if req.statements.len() > BATCH_STATEMENTS_MAX {
            return Err(NodeError::bad_request(format!(
                "more than {BATCH_STATEMENTS_MAX} statements in one batch"
            )));
        }
        let mut aborted = 0;
        loop {
            // The leader's answer counts as much as our own: a batch forwarded to a leader
            // that then lost its leadership comes back `aborted` too.
            let result = match self
                .forward::<ExecuteResponse>(
                    method::EXECUTE,
                    encode(&req),
                    false,
                    self.wait_for(req.statements.first().map_or(&[][..], |s| &s.context)),
                )
                .await
            {
                Ok(Some(r)) => Ok(r),
                Ok(None) => match self.execute_local(req.clone()).await {
                    Err(e) if e.code == ErrorCode::NotLeader => continue,
                    other => other,
                },
                Err(e) => Err(e),
            };
            match result {
                // Rolled back without effect (leadership moved before it could commit):
                // the request is the whole transaction, so it runs again, as reads do.
                // A leadership transfer takes a moment: retrying at once would meet the same
                // departing leader, so each attempt waits a little longer (at most 300 ms).
                Err(e) if e.code == ErrorCode::Aborted && aborted < ABORTED_RETRIES => {
                    aborted += 1;
                    tokio::time::sleep(Duration::from_millis(20 * aborted)).await;
                }
                other => return other,
            }
        }
    }

    /// Makes sure this node leads and has applied everything committed before its term
    /// (the blank entry of the term), so transactions see all committed data. Returns the
    /// leadership to propose under.
    pub(crate) async fn ensure_leader_ready(&self) -> Result<CommittedLeaderId, NodeError> {
        let leader = self
            .inner
            .raft
            .as_leader()
            .map_err(|_| NodeError::new(ErrorCode::NotLeader, "this node is not the leader"))?;
        let lid = *leader.leader_id();
        let committed = leader.to_committed_leader_id();
        let m = self.metrics();
        if self.transfer_pending(&m) {
            // Callers retry through `leader_target`, which waits for the successor.
            return Err(NodeError::new(
                ErrorCode::NotLeader,
                "this node is handing leadership to another node",
            ));
        }
        // A leader that lost its quorum refuses at once rather than run a transaction that
        // cannot commit. With a majority reachable, old acknowledgements more likely mean
        // that this node stalled (a paused process, a long pause of its machine) and may
        // have been replaced: one heartbeat round decides, and a deposed leader answers
        // `not_leader`, which callers follow to the new one, instead of "no quorum" with
        // every voter reachable.
        if crate::node::quorum_ack_ms(&m)
            .map(|ms| ms >= self.lease().as_millis() as u64)
            .unwrap_or(false)
        {
            if !self.majority_reachable() {
                return Err(self.no_quorum());
            }
            self.confirm_leadership().await?;
        }
        if self.inner.store.resync_needed() {
            // Our undone transactions may still be in the log: apply everything appended so
            // far before running new ones on top.
            let target = m.last_log_index.unwrap_or(0);
            let mut applied = self.inner.store.watch_applied();
            let wait = async {
                loop {
                    if applied
                        .borrow_and_update()
                        .as_ref()
                        .map(|l| l.index)
                        .unwrap_or(0)
                        >= target
                    {
                        return;
                    }
                    if applied.changed().await.is_err() {
                        return;
                    }
                }
            };
            if tokio::time::timeout(self.no_quorum_wait(), wait)
                .await
                .is_err()
            {
                return Err(self.no_quorum());
            }
            self.inner.store.clear_resync();
        }
        if self.inner.ready_leader.lock().as_ref() == Some(&lid) {
            return Ok(committed);
        }
        match tokio::time::timeout(
            self.no_quorum_wait(),
            self.inner.raft.ensure_linearizable(ReadPolicy::ReadIndex),
        )
        .await
        {
            Ok(Ok(_)) => {
                *self.inner.ready_leader.lock() = Some(lid);
                Ok(committed)
            }
            // Leadership moved meanwhile: the caller finds the new leader.
            Ok(Err(e)) if e.forward_to_leader().is_some() => Err(NodeError::new(
                ErrorCode::NotLeader,
                format!("not the leader: {e}"),
            )),
            Ok(Err(e)) => Err(NodeError::new(
                ErrorCode::NoQuorum,
                format!("no quorum: {e}; {}", self.describe_reachability()),
            )),
            Err(_) => Err(self.no_quorum()),
        }
    }

    /// Confirms that this node still leads (lease or heartbeat round) and that what a read
    /// saw is committed. After this, answering is linearizable.
    pub(crate) async fn confirm_read(&self, seen: Frontier) -> Result<(), NodeError> {
        // The lease checked here, as reads do, before asking the Raft task.
        if !self.lease_holds() {
            self.confirm_leadership().await?;
        }
        self.wait_committed(seen).await
    }

    pub(crate) async fn confirm_leadership(&self) -> Result<(), NodeError> {
        let raft = &self.inner.raft;
        let r = tokio::time::timeout(self.no_quorum_wait(), async {
            match raft.ensure_linearizable(ReadPolicy::LeaseRead).await {
                Ok(_) => Ok(()),
                // The lease ran out (e.g. an idle leader): one heartbeat round decides.
                Err(_) if raft.is_leader() => raft
                    .ensure_linearizable(ReadPolicy::ReadIndex)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            }
        })
        .await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.forward_to_leader().is_some() || !raft.is_leader() => Err(
                NodeError::new(ErrorCode::NotLeader, format!("not the leader: {e}")),
            ),
            Ok(Err(e)) => Err(NodeError::new(
                ErrorCode::NoQuorum,
                format!("no quorum: {e}; {}", self.describe_reachability()),
            )),
            Err(_) => Err(self.no_quorum()),
        }
    }

    pub(crate) async fn wait_committed(&self, seen: Frontier) -> Result<(), NodeError> {
        let t = Duration::from_millis(self.inner.config.timeouts.commit_timeout_ms);
        match tokio::time::timeout(t, self.inner.store.wait_visible_committed(seen)).await {
            Ok(r) => r.map_err(NodeError::from),
            Err(_) => Err(self.no_quorum()),
        }
    }

    /// Runs a batch as one transaction on this node, which must be the leader.
    pub(crate) async fn execute_local(
        &self,
        req: ExecuteRequest,
    ) -> Result<ExecuteResponse, NodeError> {
        let leader = self.ensure_leader_ready().await?;
        let client = req
            .statements
            .first()
            .and_then(|st| quorate_store::client::of(&st.context));
        let options = TxOptions {
            client,
            ..TxOptions::default()
        };
        let mut tx = self.inner.store.begin_write(options).await?;
        let mut results = Vec::with_capacity(req.statements.len());
        for (i, st) in req.statements.iter().enumerate() {
            let params: Vec<Value> = st.params.iter().cloned().map(Into::into).collect();
            match tx.execute_with(&st.sql, &params, &st.context).await {
                Ok(out) => results.push(StatementResult {
                    rows_affected: out.rows_affected,
                    last_insert_id: out.last_insert_rowid,
                    last_insert_id_set: out.last_insert_id_set,
                    changes: out.counts,
                    columns: out.columns.into_iter().map(|c| c.name).collect(),
                    rows: out
                        .rows
                        .into_iter()
                        .map(|r| r.into_iter().map(SqlValue::from).collect())
                        .collect(),
                }),
                Err(e) => {
                    tx.rollback();
                    let mut err = NodeError::from(e).at_statement(i);
                    if req.statements.len() > 1 {
                        err.message = format!(
                            "statement {} of {}: {}; nothing was applied",
                            i + 1,
                            req.statements.len(),
                            err.message
                        );
                    }
                    return Err(err);
                }
            }
        }
        let proposer = self.proposer(leader);
        let log_index = match tx.commit(&proposer).await? {
            CommitOutcome::Committed { log_id } => Some(log_id.index),
            CommitOutcome::ReadOnly { seen } => {
                self.confirm_read(seen).await?;
                None
            }
        };
        Ok(ExecuteResponse {
            results,
            log_index,
            executed_by: self.id(),
        })
    }
}
