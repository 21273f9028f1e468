//! Interactive sessions: what a MySQL connection uses for BEGIN ... COMMIT and autocommit.
//!
//! A session whose node leads runs its transaction locally, holding the writer. A session on
//! a follower runs the same transaction on the leader through `SESSION` calls; the leader
//! keeps it in [`RemoteSessions`]. Either way the client sees the same behaviour: reads see
//! the transaction's own writes, COMMIT returns once durable on a majority, and a leader
//! change rolls the transaction back with a retryable error (never half applied).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use quorate_consensus::{CommittedLeaderId, NodeId, NodeInfo};
use quorate_store::{ColumnInfo, CommitOutcome, StmtOutput, TxOptions, Value, WriteTx};
use quorate_transport::TransportError;
use serde::{Deserialize, Serialize};

use crate::api::{Consistency, QueryRequest, SqlValue};
use crate::error::{ErrorCode, NodeError};
use crate::interrupt::Wait;
use crate::network::{decode, encode, method};
use crate::node::Node;

/// What kind of statement a session runs (decided by the caller's parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatementKind {
    /// Reads only.
    Read,
    /// Changes rows.
    Write,
    /// Changes the schema.
    Ddl,
}

/// A statement's result as it travels between nodes.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SessionOutput {
    pub is_query: bool,
    pub columns: Vec<(String, Option<String>)>,
    pub rows: Vec<Vec<SqlValue>>,
    pub rows_affected: u64,
    pub last_insert_rowid: i64,
    /// The value the statement gave `LAST_INSERT_ID(expr)`, if it called it: the MySQL
    /// session keeps it for its next statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_insert_id_set: Option<i64>,
    /// What the statement did to rows, row by row (see [`StmtOutput::counts`]); absent
    /// from older leaders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<quorate_store::RowCounts>,
}

impl From<StmtOutput> for SessionOutput {
    fn from(o: StmtOutput) -> Self {
        SessionOutput {
            is_query: o.is_query,
            columns: o
                .columns
                .into_iter()
                .map(|c| (c.name, c.decl_type))
                .collect(),
            rows: o
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(SqlValue::from).collect())
                .collect(),
            rows_affected: o.rows_affected,
            last_insert_rowid: o.last_insert_rowid,
            last_insert_id_set: o.last_insert_id_set,
            counts: o.counts,
        }
    }
}

impl From<SessionOutput> for StmtOutput {
    fn from(o: SessionOutput) -> Self {
        StmtOutput {
            is_query: o.is_query,
            columns: o
                .columns
                .into_iter()
                .map(|(name, decl_type)| ColumnInfo { name, decl_type })
                .collect(),
            rows: o
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(Value::from).collect())
                .collect(),
            rows_affected: o.rows_affected,
            last_insert_rowid: o.last_insert_rowid,
            last_insert_id_set: o.last_insert_id_set,
            counts: o.counts,
        }
    }
}

/// A step of a transaction run on the leader for another node's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionRequest {
    Begin {
        session: u64,
        foreign_keys: bool,
        /// The sender's client whose statement begins the transaction (see
        /// [`TxOptions::client`]); absent from older senders.
        #[serde(default)]
        client: Option<u64>,
    },
    Exec {
        session: u64,
        sql: String,
        params: Vec<SqlValue>,
        #[serde(default, with = "serde_bytes")]
        context: Vec<u8>,
    },
    Savepoint {
        session: u64,
        name: String,
    },
    Release {
        session: u64,
        name: String,
    },
    RollbackTo {
        session: u64,
        name: String,
    },
    Commit {
        session: u64,
    },
    Rollback {
        session: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionReply {
    Done,
    Output(SessionOutput),
    Committed { log_index: Option<u64> },
}

struct RemoteTx {
    tx: WriteTx,
    leader: CommittedLeaderId,
    last_used: Instant,
}

/// Open transactions run for other nodes' sessions (on the leader), by (node, session).
#[derive(Default)]
pub struct RemoteSessions {
    open: Mutex<HashMap<(NodeId, u64), RemoteTx>>,
    /// Raised (under `open`'s lock) by every [`RemoteSessions::abort_all`]: a transaction
    /// begun or run before it must not be put back after it.
    generation: AtomicU64,
}

impl RemoteSessions {
    /// Rolls back every open remote transaction (leadership moved).
    pub(crate) fn abort_all(&self) {
        let mut open = self.open.lock();
        open.clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps `t` open for its session, unless every remote transaction was rolled back
    /// since `generation` was read (then `t` is dropped, which rolls it back, and false is
    /// returned). Without this check, a transaction that began, or ran a statement, while
    /// leadership moved came back after `abort_all` and held the writer that undoing
    /// this node's speculative transactions waits for: a replica stopped applying in a
    /// torture run.
    fn put_back(&self, key: (NodeId, u64), t: RemoteTx, generation: u64) -> bool {
        let mut open = self.open.lock();
        if self.generation() != generation {
            return false;
        }
        open.insert(key, t);
        true
    }

    /// Rolls back remote transactions idle longer than `idle` (their client or node went
    /// away; they must not hold the writer forever).
    pub(crate) fn expire(&self, idle: Duration) -> usize {
        let mut open = self.open.lock();
        let before = open.len();
        open.retain(|_, t| t.last_used.elapsed() < idle);
        before - open.len()
    }
}

/// Where a session's open transaction runs.
enum TxState {
    /// No transaction (autocommit statements run one by one).
    Idle,
    /// BEGIN was sent; nothing held until the first statement.
    Begun,
    Local {
        tx: WriteTx,
        leader: CommittedLeaderId,
    },
    Remote {
        leader: NodeId,
        info: NodeInfo,
    },
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Per-session settings.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub foreign_keys: bool,
    /// Consistency of autocommit reads (MySQL: `SET quorate_read_consistency = ...`).
    pub read_consistency: Consistency,
    pub max_staleness_ms: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            foreign_keys: true,
            read_consistency: Consistency::Linearizable,
            max_staleness_ms: 1000,
        }
    }
}

/// One client session.
pub struct Session {
    node: Node,
    id: u64,
    state: TxState,
    pub options: SessionOptions,
    /// The front end's client connection this session serves (the one its statements'
    /// context names): a statement sent to the leader that outlives the wait for it is
    /// interrupted there (see `Node::interrupt_client`), so that it does not hold the writer
    /// after its client was told it failed.
    pub client: Option<u64>,
}

impl Session {
    /// This session's client as the store names it: (this node, client id).
    fn client_here(&self) -> Option<(u64, u32)> {
        let client = u32::try_from(self.client?).ok()?;
        Some((self.node.id(), client))
    }
}

impl Node {
    /// Opens a session for an interactive client.
    pub fn session(&self) -> Session {
        Session {
            node: self.clone(),
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            state: TxState::Idle,
            options: SessionOptions::default(),
            client: None,
        }
    }
}

fn aborted(message: impl Into<String>) -> NodeError {
    NodeError::new(ErrorCode::Aborted, message)
}

impl Session {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// An explicit transaction is open.
    pub fn in_transaction(&self) -> bool {
        !matches!(self.state, TxState::Idle)
    }

    /// The open transaction runs on this node and holds its writer (this node leads);
    /// false before its first statement, on a follower, and outside a transaction.
    pub fn runs_locally(&self) -> bool {
        matches!(self.state, TxState::Local { .. })
    }

    /// Resolves when this session's local transaction was aborted by a leadership change
    /// (never resolves otherwise); front ends wait on it while their client is idle.
    pub fn aborted(&self) -> futures::future::BoxFuture<'static, ()> {
        match &self.state {
            TxState::Local { tx, .. } => Box::pin(tx.aborted()),
            _ => Box::pin(futures::future::pending()),
        }
    }

    /// BEGIN / START TRANSACTION. Holds nothing until the first statement.
    pub async fn begin(&mut self) -> Result<(), NodeError> {
        if self.in_transaction() {
            // MySQL commits the open transaction when a new one begins.
            self.commit().await?;
        }
        self.state = TxState::Begun;
        Ok(())
    }

    async fn open(&mut self) -> Result<(), NodeError> {
        let deadline = Instant::now() + self.node.no_quorum_wait();
        loop {
            match self.node.leader_target(deadline).await? {
                crate::write::Target::Local => match self.node.ensure_leader_ready().await {
                    Ok(leader) => {
                        let tx = self
                            .node
                            .store()
                            .begin_write(TxOptions {
                                foreign_keys: self.options.foreign_keys,
                                client: self.client_here(),
                            })
                            .await?;
                        self.state = TxState::Local { tx, leader };
                        return Ok(());
                    }
                    Err(e) if e.code == ErrorCode::NotLeader => continue,
                    Err(e) => return Err(e),
                },
                crate::write::Target::Remote(leader, info) => {
                    self.call(
                        leader,
                        &info,
                        SessionRequest::Begin {
                            session: self.id,
                            foreign_keys: self.options.foreign_keys,
                            client: self.client,
                        },
                    )
                    .await?;
                    self.state = TxState::Remote { leader, info };
                    return Ok(());
                }
            }
        }
    }

    async fn call(
        &mut self,
        leader: NodeId,
        info: &NodeInfo,
        req: SessionRequest,
    ) -> Result<SessionReply, NodeError> {
        let peer = self.node.inner.transport.peer(leader, &info.peer_addrs);
        let commit = matches!(req, SessionRequest::Commit { .. });
        // A client's transaction runs as long through a follower as on the leader.
        let wait = match self.client {
            Some(client) => Wait::ForClient(client),
            None => Wait::AtMost(self.node.forward_write_timeout()),
        };
        let reply = self
            .node
            .call_waiting(&peer, method::SESSION, encode(&req), false, wait)
            .await;
        if matches!(
            reply,
            Err(TransportError::Timeout { .. } | TransportError::Interrupted { .. })
        ) {
            // The answer is lost, the statement may still run there.
            stop_abandoned_statement(self.node.clone(), self.client).await;
        }
        match reply {
            Ok(body) => {
                let r: Result<SessionReply, NodeError> =
                    decode(&body).map_err(NodeError::internal)?;
                r
            }
            Err(e) if commit => Err(NodeError::new(
                ErrorCode::OutcomeUnknown,
                format!("COMMIT sent to leader n{leader}: {e}"),
            )),
            Err(e) => Err(aborted(format!(
                "lost the leader n{leader} during the transaction ({e}); it was rolled back"
            ))),
        }
    }

    /// Runs one statement: inside the open transaction, or on its own (autocommit).
    pub async fn execute(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        kind: StatementKind,
    ) -> Result<StmtOutput, NodeError> {
        self.execute_with(sql, params, kind, &[]).await
    }

    /// [`Session::execute`] with an opaque context for the store's connection hook (it
    /// reaches the connection that runs the statement, on whichever node that is).
    pub async fn execute_with(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        kind: StatementKind,
        context: &[u8],
    ) -> Result<StmtOutput, NodeError> {
        if matches!(self.state, TxState::Begun) {
            self.open().await?;
        }
        match &mut self.state {
            TxState::Idle => match kind {
                StatementKind::Read => self.autocommit_read(sql, params, context).await,
                StatementKind::Write | StatementKind::Ddl => {
                    Box::pin(self.autocommit_write(sql, params, context)).await
                }
            },
            TxState::Begun => unreachable!("opened above"),
            TxState::Local { tx, .. } => match tx.execute_with(sql, &params, context).await {
                Ok(out) => Ok(out),
                Err(e) => {
                    let e = NodeError::from(e);
                    if e.ends_transaction() {
                        self.state = TxState::Idle;
                    }
                    Err(e)
                }
            },
            TxState::Remote { leader, info } => {
                let (leader, info) = (*leader, info.clone());
                let req = SessionRequest::Exec {
                    session: self.id,
                    sql: sql.to_string(),
                    params: params.into_iter().map(SqlValue::from).collect(),
                    context: context.to_vec(),
                };
                match self.call(leader, &info, req).await {
                    Ok(SessionReply::Output(o)) => Ok(o.into()),
                    Ok(_) => Err(NodeError::internal("unexpected answer from the leader")),
                    Err(e) => {
                        if e.ends_transaction() {
                            self.state = TxState::Idle;
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    async fn autocommit_read(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        context: &[u8],
    ) -> Result<StmtOutput, NodeError> {
        let consistency = self.options.read_consistency;
        if consistency == Consistency::Linearizable && self.node.inner.raft.is_leader() {
            match self
                .node
                .read_local_linearizable(sql, &params, context)
                .await
            {
                Err(e) if e.code == ErrorCode::NotLeader => {}
                other => return other,
            }
        }
        let req = QueryRequest {
            sql: sql.to_string(),
            params: params.into_iter().map(SqlValue::from).collect(),
            consistency,
            max_staleness_ms: Some(self.options.max_staleness_ms),
            context: context.to_vec(),
        };
        let r = self.node.query(req).await?;
        Ok(StmtOutput {
            is_query: true,
            columns: r
                .columns
                .into_iter()
                .map(|c| ColumnInfo {
                    name: c.name,
                    decl_type: c.decl_type,
                })
                .collect(),
            rows: r
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Value::from).collect())
                .collect(),
            rows_affected: 0,
            last_insert_rowid: 0,
            last_insert_id_set: r.last_insert_id_set,
            counts: None,
        })
    }

    async fn autocommit_write(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        context: &[u8],
    ) -> Result<StmtOutput, NodeError> {
        if self.options.foreign_keys && !self.node.inner.raft.is_leader() {
            // One round trip to the leader instead of begin / exec / commit.
            let req = crate::api::ExecuteRequest {
                statements: vec![crate::api::Statement {
                    sql: sql.to_string(),
                    params: params.into_iter().map(SqlValue::from).collect(),
                    context: context.to_vec(),
                }],
            };
            let r = match self.node.execute(req).await {
                Ok(r) => r,
                Err(e) => {
                    // The leader's answer was lost (the path to it went down, or the wait
                    // ran out): the statement may still run there.
                    if e.code == ErrorCode::OutcomeUnknown {
                        stop_abandoned_statement(self.node.clone(), self.client).await;
                    }
                    return Err(e);
                }
            };
            let res = r.results.into_iter().next().unwrap_or_default();
            return Ok(StmtOutput {
                is_query: !res.columns.is_empty(),
                columns: res
                    .columns
                    .into_iter()
                    .map(|name| ColumnInfo {
                        name,
                        decl_type: None,
                    })
                    .collect(),
                rows: res
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(Value::from).collect())
                    .collect(),
                rows_affected: res.rows_affected,
                last_insert_rowid: res.last_insert_id,
                last_insert_id_set: res.last_insert_id_set,
                counts: res.changes,
            });
        }
        if self.node.inner.raft.is_leader() {
            match self.node.empty_point_delete_local(sql, &params).await {
                Ok(Some(out)) => return Ok(out),
                Ok(None) => {}
                // Leadership moved: the write path finds the new leader.
                Err(e) if e.code == ErrorCode::NotLeader => {}
                Err(e) => return Err(e),
            }
        }
        let mut s = Session {
            node: self.node.clone(),
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            state: TxState::Begun,
            options: self.options.clone(),
            client: self.client,
        };
        // `execute` on a begun session never comes back here; boxing breaks the type-level
        // recursion of the two async functions.
        let out = Box::pin(s.execute_with(sql, params, StatementKind::Write, context)).await?;
        s.commit().await?;
        Ok(out)
    }

    /// COMMIT: returns once the transaction is durable on a majority and applied.
    pub async fn commit(&mut self) -> Result<Option<u64>, NodeError> {
        match std::mem::replace(&mut self.state, TxState::Idle) {
            TxState::Idle | TxState::Begun => Ok(None),
            TxState::Local { tx, leader } => {
                let proposer = self.node.proposer(leader);
                match tx.commit(&proposer).await? {
                    CommitOutcome::Committed { log_id } => Ok(Some(log_id.index)),
                    CommitOutcome::ReadOnly { seen } => {
                        self.node.confirm_read(seen).await?;
                        Ok(None)
                    }
                }
            }
            TxState::Remote { leader, info } => match self
                .call(leader, &info, SessionRequest::Commit { session: self.id })
                .await?
            {
                SessionReply::Committed { log_index } => Ok(log_index),
                _ => Err(NodeError::internal("unexpected answer from the leader")),
            },
        }
    }

    /// ROLLBACK.
    pub async fn rollback(&mut self) {
        match std::mem::replace(&mut self.state, TxState::Idle) {
            TxState::Idle | TxState::Begun => {}
            TxState::Local { tx, .. } => tx.rollback(),
            TxState::Remote { leader, info } => {
                let _ = self
                    .call(leader, &info, SessionRequest::Rollback { session: self.id })
                    .await;
            }
        }
    }

    async fn savepoint_op(
        &mut self,
        make: impl Fn(u64, String) -> SessionRequest,
        name: &str,
        op: u8,
    ) -> Result<(), NodeError> {
        if matches!(self.state, TxState::Idle) {
            return Err(NodeError::new(
                ErrorCode::Refused,
                "SAVEPOINT needs an open transaction",
            ));
        }
        if matches!(self.state, TxState::Begun) {
            self.open().await?;
        }
        match &mut self.state {
            TxState::Local { tx, .. } => {
                let r = match op {
                    0 => tx.savepoint(name),
                    1 => tx.release_savepoint(name),
                    _ => tx.rollback_to_savepoint(name),
                };
                r.map_err(NodeError::from)
            }
            TxState::Remote { leader, info } => {
                let (leader, info) = (*leader, info.clone());
                self.call(leader, &info, make(self.id, name.to_string()))
                    .await
                    .map(|_| ())
            }
            _ => Ok(()),
        }
    }

    pub async fn savepoint(&mut self, name: &str) -> Result<(), NodeError> {
        self.savepoint_op(
            |session, name| SessionRequest::Savepoint { session, name },
            name,
            0,
        )
        .await
    }

    pub async fn release_savepoint(&mut self, name: &str) -> Result<(), NodeError> {
        self.savepoint_op(
            |session, name| SessionRequest::Release { session, name },
            name,
            1,
        )
        .await
    }

    pub async fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), NodeError> {
        self.savepoint_op(
            |session, name| SessionRequest::RollbackTo { session, name },
            name,
            2,
        )
        .await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let TxState::Remote { leader, info } = std::mem::replace(&mut self.state, TxState::Idle)
        {
            // Tell the leader to roll back; best effort (it also expires idle ones). On the
            // transport's runtime: a MySQL connection may run on a runtime of its own, which
            // ends with the connection and would drop this task unrun, leaving the leader's
            // writer held until the session expires.
            let node = self.node.clone();
            let id = self.id;
            node.inner.transport.runtime().clone().spawn(async move {
                let peer = node.inner.transport.peer(leader, &info.peer_addrs);
                let _ = peer
                    .call(
                        method::SESSION,
                        encode(&SessionRequest::Rollback { session: id }),
                        Duration::from_secs(2),
                        true,
                    )
                    .await;
            });
        }
    }
}

/// A remote transaction rolled back because leadership moved while it was in use.
fn moved() -> NodeError {
    aborted("leadership moved while the transaction ran on the leader; it was rolled back")
}

impl Node {
    /// Serves a step of another node's session (this node must lead).
    pub(crate) async fn serve_remote_session(
        &self,
        from: NodeId,
        req: SessionRequest,
    ) -> Result<SessionReply, NodeError> {
        let sessions = &self.inner.sessions;
        match req {
            SessionRequest::Begin {
                session,
                foreign_keys,
                client,
            } => {
                let generation = sessions.generation();
                let leader = self.ensure_leader_ready().await?;
                let client = client
                    .and_then(|c| u32::try_from(c).ok())
                    .map(|c| (from, c));
                let options = TxOptions {
                    foreign_keys,
                    client,
                };
                let tx = self.store().begin_write(options).await?;
                let t = RemoteTx {
                    tx,
                    leader,
                    last_used: Instant::now(),
                };
                if !sessions.put_back((from, session), t, generation) {
                    return Err(moved());
                }
                Ok(SessionReply::Done)
            }
            SessionRequest::Exec {
                session,
                sql,
                params,
                context,
            } => {
                let generation = sessions.generation();
                let mut t = self.take_remote(from, session)?;
                let params: Vec<Value> = params.into_iter().map(Value::from).collect();
                let r = t.tx.execute_with(&sql, &params, &context).await;
                match r {
                    Ok(out) => {
                        t.last_used = Instant::now();
                        if !sessions.put_back((from, session), t, generation) {
                            return Err(moved());
                        }
                        Ok(SessionReply::Output(out.into()))
                    }
                    Err(e) => {
                        let e = NodeError::from(e);
                        if !e.ends_transaction() {
                            t.last_used = Instant::now();
                            if !sessions.put_back((from, session), t, generation) {
                                return Err(moved());
                            }
                        }
                        Err(e)
                    }
                }
            }
            SessionRequest::Savepoint { session, name } => {
                self.remote_savepoint(from, session, |tx| tx.savepoint(&name))
            }
            SessionRequest::Release { session, name } => {
                self.remote_savepoint(from, session, |tx| tx.release_savepoint(&name))
            }
            SessionRequest::RollbackTo { session, name } => {
                self.remote_savepoint(from, session, |tx| tx.rollback_to_savepoint(&name))
            }
            SessionRequest::Commit { session } => {
                let t = self.take_remote(from, session)?;
                let proposer = self.proposer(t.leader);
                match t.tx.commit(&proposer).await? {
                    CommitOutcome::Committed { log_id } => Ok(SessionReply::Committed {
                        log_index: Some(log_id.index),
                    }),
                    CommitOutcome::ReadOnly { seen } => {
                        self.confirm_read(seen).await?;
                        Ok(SessionReply::Committed { log_index: None })
                    }
                }
            }
            SessionRequest::Rollback { session } => {
                sessions.open.lock().remove(&(from, session));
                Ok(SessionReply::Done)
            }
        }
    }

    fn remote_savepoint(
        &self,
        from: NodeId,
        session: u64,
        op: impl FnOnce(&mut WriteTx) -> Result<(), quorate_store::StoreError>,
    ) -> Result<SessionReply, NodeError> {
        let sessions = &self.inner.sessions;
        let generation = sessions.generation();
        let mut t = self.take_remote(from, session)?;
        let r = op(&mut t.tx).map_err(NodeError::from);
        t.last_used = Instant::now();
        if !sessions.put_back((from, session), t, generation) {
            return Err(moved());
        }
        r.map(|_| SessionReply::Done)
    }

    fn take_remote(&self, from: NodeId, session: u64) -> Result<RemoteTx, NodeError> {
        self.inner.sessions.open.lock().remove(&(from, session)).ok_or_else(|| {
            aborted("the transaction is gone on the leader (leader changed or it sat idle too long); it was rolled back")
        })
    }
}

/// The leader's answer is lost: interrupts whatever still runs there for the session's
/// client (a statement holding the writer would otherwise keep every write
/// waiting after the client was told it failed). Takes no `&Session`: a session holding a
/// local transaction cannot be shared across an await.
async fn stop_abandoned_statement(node: Node, client: Option<u64>) {
    if let Some(client) = client {
        let n = node.interrupt_client(client).await;
        if n > 0 {
            tracing::warn!(
                client,
                "interrupted a statement still running on the leader after its client stopped \
                 waiting for it"
            );
        }
    }
}
