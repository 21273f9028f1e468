//! Guarded maintenance: take one node out for work without betting the cluster on it.
//!
//! `plan` checks every other member (reachable, all its network paths up, caught up, disk),
//! computes the fault tolerance the cluster keeps during the maintenance and refuses when
//! one more failure would lose quorum (unless the operator accepts the risk, which is
//! recorded). `begin` records the maintenance; each `ack` performs the next step (move
//! leadership away, make the node a learner so the remaining voters - a witness included -
//! keep a quorum if one more member fails) and verifies nothing broke; once the node is
//! safe to stop, the state says so. `end` waits for the returned node to catch up and
//! restores its vote. Every step, who acknowledged it and what was verified goes to the
//! replicated audit log.
//!
//! The state lives in replicated catalog tables, so a procedure survives leader changes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use openraft::ChangeMembers;
use quorate_consensus::{NodeId, Role};
use quorate_store::{CommitOutcome, TxOptions, Value};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, NodeError};
use crate::interrupt::Wait;
use crate::network::{decode, encode, method};
use crate::node::{Node, unix_ms};
use crate::status::Status;

/// Largest lag (entries) a member may have and still count as caught up.
const CAUGHT_UP_LAG_MAX: u64 = 1_000;
/// Least free disk a member must have.
const DISK_FREE_MIN_BYTES: u64 = 1 << 30;

const STATE_TABLE: &str = "_quorate_maintenance";
const AUDIT_TABLE: &str = "_quorate_audit";

/// A maintenance request (forwarded to the leader).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MaintenanceOp {
    Plan {
        node: NodeId,
    },
    Begin {
        node: NodeId,
        operator: String,
        accept_risk: bool,
        outside_window_ok: bool,
    },
    Ack {
        node: NodeId,
        operator: String,
    },
    Abort {
        node: NodeId,
        operator: String,
    },
    End {
        node: NodeId,
        operator: String,
    },
    List,
    Log {
        limit: u32,
    },
    /// Records an operator action (e.g. a recovery) in the audit log.
    Record {
        operator: String,
        action: String,
        detail: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub node: NodeId,
    pub checks: Vec<Check>,
    pub voters_now: Vec<NodeId>,
    pub voters_during: Vec<NodeId>,
    /// Members that may fail without losing quorum, now and during the maintenance.
    pub fault_tolerance_now: usize,
    pub fault_tolerance_during: usize,
    /// A learner promoted to voter for the duration, to keep the fault tolerance.
    pub promote_spare: Option<NodeId>,
    pub steps: Vec<String>,
    /// All checks passed and the fault tolerance is kept.
    pub safe: bool,
    pub refusal: Option<String>,
    /// Set when now is outside every configured maintenance window.
    pub outside_window: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Checks passed; nothing changed yet.
    Preflight,
    /// Leadership is on another node.
    LeadershipMoved,
    /// The node is a learner (and a spare voter was added if planned): safe to stop.
    Ready,
    Ended,
    Aborted,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MaintenanceState {
    pub node: NodeId,
    pub step: Step,
    pub operator: String,
    pub started_ms: u64,
    pub updated_ms: u64,
    pub was_voter: bool,
    pub promoted_spare: Option<NodeId>,
    pub accepted_risk: bool,
    pub ready_for_shutdown: bool,
    /// What the next `ack` (or `end`) will do.
    pub next: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub at_ms: u64,
    pub operator: String,
    pub action: String,
    pub node: Option<NodeId>,
    pub detail: String,
}

/// What a maintenance call answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MaintenanceReply {
    Plan(Plan),
    State(MaintenanceState),
    List(Vec<MaintenanceState>),
    Log(Vec<AuditEntry>),
}

fn fault_tolerance(voters: usize) -> usize {
    voters.saturating_sub(1) / 2
}

/// Parses "Sat 02:00-06:00" or "* 02:00-06:00" (UTC) into (weekday 0=Mon.., start_min, end_min).
pub fn parse_window(w: &str) -> Result<(Option<u32>, u32, u32), String> {
    let (day, span) = w
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("`{w}`: expected `DAY HH:MM-HH:MM`"))?;
    let day = match day.to_ascii_lowercase().as_str() {
        "*" | "daily" => None,
        "mon" => Some(0),
        "tue" => Some(1),
        "wed" => Some(2),
        "thu" => Some(3),
        "fri" => Some(4),
        "sat" => Some(5),
        "sun" => Some(6),
        other => return Err(format!("`{w}`: unknown day `{other}` (Mon..Sun or *)")),
    };
    let (a, b) = span
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("`{w}`: expected HH:MM-HH:MM"))?;
    let minutes = |t: &str| -> Result<u32, String> {
        let (h, m) = t
            .split_once(':')
            .ok_or_else(|| format!("`{w}`: bad time `{t}`"))?;
        let h: u32 = h.parse().map_err(|_| format!("`{w}`: bad hour in `{t}`"))?;
        let m: u32 = m
            .parse()
            .map_err(|_| format!("`{w}`: bad minute in `{t}`"))?;
        if h > 24 || m > 59 {
            return Err(format!("`{w}`: bad time `{t}`"));
        }
        Ok(h * 60 + m)
    };
    Ok((day, minutes(a)?, minutes(b)?))
}

fn in_window(windows: &[String], now: SystemTime) -> Option<bool> {
    if windows.is_empty() {
        return None;
    }
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    let weekday = ((days + 3) % 7) as u32;
    let minute = ((secs % 86_400) / 60) as u32;
    Some(
        windows
            .iter()
            .filter_map(|w| parse_window(w).ok())
            .any(|(day, a, b)| {
                day.map(|d| d == weekday).unwrap_or(true) && minute >= a && minute < b
            }),
    )
}

impl Node {
    /// A maintenance request, run on the leader (forwarded when asked on a follower).
    pub async fn maintenance(&self, op: MaintenanceOp) -> Result<MaintenanceReply, NodeError> {
        loop {
            match self
                .forward::<MaintenanceReply>(
                    method::MAINTENANCE,
                    encode(&op),
                    false,
                    Wait::AtMost(Duration::from_secs(90)),
                )
                .await?
            {
                Some(r) => return Ok(r),
                None => match self.maintenance_local(op.clone()).await {
                    Err(e) if e.code == ErrorCode::NotLeader => continue,
                    other => return other,
                },
            }
        }
    }

    pub(crate) async fn maintenance_local(
        &self,
        op: MaintenanceOp,
    ) -> Result<MaintenanceReply, NodeError> {
        if !self.inner.raft.is_leader() {
            return Err(NodeError::new(
                ErrorCode::NotLeader,
                "this node is not the leader",
            ));
        }
        self.ensure_maintenance_tables().await?;
        match op {
            MaintenanceOp::Plan { node } => {
                Ok(MaintenanceReply::Plan(self.plan_maintenance(node).await?))
            }
            MaintenanceOp::List => Ok(MaintenanceReply::List(self.maintenance_states()?)),
            MaintenanceOp::Log { limit } => Ok(MaintenanceReply::Log(self.audit_log(limit)?)),
            MaintenanceOp::Record {
                operator,
                action,
                detail,
            } => {
                self.audit(&operator, &action, None, &detail).await?;
                Ok(MaintenanceReply::Log(self.audit_log(1)?))
            }
            MaintenanceOp::Begin {
                node,
                operator,
                accept_risk,
                outside_window_ok,
            } => {
                if let Some(s) = self.maintenance_state(node)?
                    && !matches!(s.step, Step::Ended | Step::Aborted)
                {
                    return Err(NodeError::new(
                        ErrorCode::Refused,
                        format!(
                            "n{node} is already in maintenance (step {:?}); ack, end or abort it",
                            s.step
                        ),
                    ));
                }
                let plan = self.plan_maintenance(node).await?;
                if let Some(w) = &plan.outside_window
                    && !outside_window_ok
                {
                    return Err(NodeError::new(
                        ErrorCode::Refused,
                        format!("{w}; confirm to proceed outside the maintenance windows"),
                    ));
                }
                if !plan.safe && !accept_risk {
                    return Err(NodeError::new(
                        ErrorCode::Refused,
                        plan.refusal
                            .clone()
                            .unwrap_or_else(|| "preflight checks failed".into()),
                    ));
                }
                let was_voter = self
                    .metrics()
                    .membership_config
                    .membership()
                    .voter_ids()
                    .any(|v| v == node);
                let now = unix_ms(SystemTime::now());
                let state = MaintenanceState {
                    node,
                    step: Step::Preflight,
                    operator: operator.clone(),
                    started_ms: now,
                    updated_ms: now,
                    was_voter,
                    promoted_spare: plan.promote_spare,
                    accepted_risk: !plan.safe,
                    ready_for_shutdown: false,
                    next: plan
                        .steps
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "nothing".into()),
                };
                let detail = format!(
                    "preflight: {}; fault tolerance now {} during {}{}{}",
                    plan.checks
                        .iter()
                        .map(|c| format!("{} {}", c.name, if c.ok { "ok" } else { "FAILED" }))
                        .collect::<Vec<_>>()
                        .join(", "),
                    plan.fault_tolerance_now,
                    plan.fault_tolerance_during,
                    if plan.safe {
                        String::new()
                    } else {
                        "; RISK ACCEPTED by the operator".into()
                    },
                    plan.outside_window
                        .as_ref()
                        .map(|w| format!("; {w}, confirmed"))
                        .unwrap_or_default(),
                );
                self.save_maintenance(&state, &operator, "begin", &detail)
                    .await?;
                Ok(MaintenanceReply::State(state))
            }
            MaintenanceOp::Ack { node, operator } => {
                let mut state = self
                    .maintenance_state(node)?
                    .ok_or_else(|| no_maintenance(node))?;
                let (action, detail) = match state.step {
                    Step::Preflight => {
                        let leader = self.metrics().current_leader;
                        state.step = Step::LeadershipMoved;
                        state.next = if state.was_voter {
                            format!("make n{node} a learner")
                        } else {
                            "mark ready".into()
                        };
                        state.updated_ms = unix_ms(SystemTime::now());
                        if leader == Some(node) {
                            // Record the step first: once leadership moves, this node can no
                            // longer write the log; the new leader continues from the record.
                            self.save_maintenance(
                                &state,
                                &operator,
                                "ack: leadership",
                                &format!("moving leadership away from n{node}"),
                            )
                            .await?;
                            let new = self.transfer_leadership_local(None).await?;
                            tracing::info!(node, new_leader = new, "maintenance: leadership moved");
                            return Ok(MaintenanceReply::State(state));
                        }
                        (
                            "ack: leadership",
                            format!(
                                "n{node} does not lead (leader n{}); nothing to move",
                                leader.unwrap_or(0)
                            ),
                        )
                    }
                    Step::LeadershipMoved => {
                        if self.metrics().current_leader == Some(node) {
                            // Still (or again) leading: move it now.
                            let new = self.transfer_leadership_local(None).await?;
                            return Err(NodeError::new(
                                ErrorCode::Aborted,
                                format!("leadership has just moved to n{new}; ack again"),
                            ));
                        }
                        let mut did = Vec::new();
                        if let Some(spare) = state.promoted_spare {
                            self.inner
                                .raft
                                .change_membership(
                                    ChangeMembers::AddVoterIds(BTreeSet::from([spare])),
                                    false,
                                )
                                .await
                                .map_err(|e| {
                                    NodeError::new(
                                        ErrorCode::Aborted,
                                        format!("promoting n{spare}: {e}"),
                                    )
                                })?;
                            did.push(format!("n{spare} promoted to voter"));
                        }
                        if state.was_voter {
                            self.inner
                                .raft
                                .change_membership(
                                    ChangeMembers::RemoveVoters(BTreeSet::from([node])),
                                    true,
                                )
                                .await
                                .map_err(|e| {
                                    NodeError::new(
                                        ErrorCode::Aborted,
                                        format!("making n{node} a learner: {e}"),
                                    )
                                })?;
                            did.push(format!("n{node} is now a learner"));
                        }
                        let voters: Vec<NodeId> = self
                            .metrics()
                            .membership_config
                            .membership()
                            .voter_ids()
                            .collect();
                        let (writable, reason) = self.writable();
                        if !writable {
                            return Err(NodeError::new(
                                ErrorCode::Aborted,
                                format!(
                                    "verification failed after the membership change: {}",
                                    reason.unwrap_or_default()
                                ),
                            ));
                        }
                        state.step = Step::Ready;
                        state.ready_for_shutdown = true;
                        state.next = format!(
                            "stop n{node}, do the work, start it, then run `quorate maintenance end {node}`"
                        );
                        (
                            "ack: membership",
                            format!(
                                "{}; voters now {voters:?}, fault tolerance {}; verified: cluster serving writes",
                                did.join("; "),
                                fault_tolerance(voters.len())
                            ),
                        )
                    }
                    Step::Ready => (
                        "ack: ready",
                        format!("n{node} is safe to stop; nothing more to do until `end`"),
                    ),
                    Step::Ended | Step::Aborted => return Err(no_maintenance(node)),
                };
                state.updated_ms = unix_ms(SystemTime::now());
                self.save_maintenance(&state, &operator, action, &detail)
                    .await?;
                Ok(MaintenanceReply::State(state))
            }
            MaintenanceOp::End { node, operator } => {
                let mut state = self
                    .maintenance_state(node)?
                    .ok_or_else(|| no_maintenance(node))?;
                if matches!(state.step, Step::Ended | Step::Aborted) {
                    return Err(no_maintenance(node));
                }
                let waited = self.wait_caught_up(node, Duration::from_secs(60)).await?;
                let detail = self.restore_membership(&state).await?;
                state.step = Step::Ended;
                state.ready_for_shutdown = false;
                state.next = "nothing".into();
                state.updated_ms = unix_ms(SystemTime::now());
                self.save_maintenance(
                    &state,
                    &operator,
                    "end",
                    &format!("n{node} caught up in {} ms; {detail}", waited.as_millis()),
                )
                .await?;
                Ok(MaintenanceReply::State(state))
            }
            MaintenanceOp::Abort { node, operator } => {
                let mut state = self
                    .maintenance_state(node)?
                    .ok_or_else(|| no_maintenance(node))?;
                if matches!(state.step, Step::Ended | Step::Aborted) {
                    return Err(no_maintenance(node));
                }
                let detail = self.restore_membership(&state).await?;
                state.step = Step::Aborted;
                state.ready_for_shutdown = false;
                state.next = "nothing".into();
                state.updated_ms = unix_ms(SystemTime::now());
                self.save_maintenance(&state, &operator, "abort", &detail)
                    .await?;
                Ok(MaintenanceReply::State(state))
            }
        }
    }

    /// Waits until `node` has acknowledged all but the last few entries of this leader's
    /// log (few enough to follow within an election timeout); refuses after `timeout`.
    pub(crate) async fn wait_caught_up(
        &self,
        node: NodeId,
        timeout: Duration,
    ) -> Result<Duration, NodeError> {
        let started = Instant::now();
        loop {
            let m = self.metrics();
            let last = m.last_log_index.unwrap_or(0);
            let matched = crate::members::matched_index(&m, node);
            if last.saturating_sub(matched) <= 10 {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(NodeError::new(
                    ErrorCode::Refused,
                    format!(
                        "n{node} has not caught up ({matched} of {last}); is it running and reachable?"
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn restore_membership(&self, state: &MaintenanceState) -> Result<String, NodeError> {
        let node = state.node;
        let membership = self.metrics().membership_config.membership().clone();
        let mut did = Vec::new();
        if state.was_voter && !membership.voter_ids().any(|v| v == node) {
            self.inner
                .raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node])), false)
                .await
                .map_err(|e| {
                    NodeError::new(ErrorCode::Aborted, format!("restoring n{node}'s vote: {e}"))
                })?;
            did.push(format!("n{node} votes again"));
        }
        if let Some(spare) = state.promoted_spare
            && self
                .metrics()
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == spare)
        {
            self.inner
                .raft
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([spare])), true)
                .await
                .map_err(|e| {
                    NodeError::new(
                        ErrorCode::Aborted,
                        format!("returning n{spare} to learner: {e}"),
                    )
                })?;
            did.push(format!("n{spare} is a learner again"));
        }
        let voters: Vec<NodeId> = self
            .metrics()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        Ok(format!(
            "{}; voters {voters:?}, fault tolerance {}",
            if did.is_empty() {
                "membership unchanged".into()
            } else {
                did.join("; ")
            },
            fault_tolerance(voters.len())
        ))
    }

    /// Runs the preflight checks and computes the plan for taking `node` out.
    pub(crate) async fn plan_maintenance(&self, node: NodeId) -> Result<Plan, NodeError> {
        let m = self.metrics();
        let membership = m.membership_config.membership().clone();
        if membership.get_node(&node).is_none() {
            return Err(NodeError::new(
                ErrorCode::UnknownNode,
                format!("n{node} is not a member"),
            ));
        }
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let commit = m.last_log_index.unwrap_or(0);
        let mut checks = Vec::new();
        for (id, info) in membership.nodes() {
            if *id == node {
                continue;
            }
            let st: Result<Status, String> = if *id == self.id() {
                Ok(self.status().await)
            } else {
                let peer = self.inner.transport.peer(*id, &info.peer_addrs);
                match peer
                    .call(method::STATUS, Vec::new(), Duration::from_secs(2), true)
                    .await
                {
                    Ok(body) => decode::<Status>(&body),
                    Err(e) => Err(e.to_string()),
                }
            };
            match st {
                Err(e) => checks.push(Check {
                    name: format!("n{id} reachable"),
                    ok: false,
                    detail: e,
                }),
                Ok(s) => {
                    checks.push(Check {
                        name: format!("n{id} reachable"),
                        ok: true,
                        detail: format!("{} in term {}", s.state, s.term),
                    });
                    let down: Vec<String> = s
                        .members
                        .iter()
                        .filter(|p| p.id != node)
                        .flat_map(|p| {
                            p.paths
                                .iter()
                                .filter(|x| !x.up)
                                .map(move |x| format!("n{}->n{} {}", id, p.id, x.addr))
                        })
                        .collect();
                    checks.push(Check {
                        name: format!("n{id} all paths up"),
                        ok: down.is_empty(),
                        detail: if down.is_empty() {
                            "every configured path to the other members is up".into()
                        } else {
                            format!("down: {}", down.join(", "))
                        },
                    });
                    if info.role != Role::Witness {
                        let applied = s.applied_index.unwrap_or(0);
                        checks.push(Check {
                            name: format!("n{id} caught up"),
                            ok: commit.saturating_sub(applied) <= CAUGHT_UP_LAG_MAX,
                            detail: format!("applied {applied} of {commit}"),
                        });
                    }
                    let free = s.disk_free_bytes.unwrap_or(u64::MAX);
                    checks.push(Check {
                        name: format!("n{id} disk"),
                        ok: free >= DISK_FREE_MIN_BYTES,
                        detail: format!("{} MiB free", free / (1 << 20)),
                    });
                }
            }
        }
        let mut during: Vec<NodeId> = voters.iter().copied().filter(|v| *v != node).collect();
        let mut promote_spare = None;
        if fault_tolerance(during.len()) == 0 {
            // A learner that holds data and is caught up can stand in as a voter.
            let m2 = self.metrics();
            let spare = membership
                .learner_ids()
                .filter(|l| {
                    *l != node
                        && membership
                            .get_node(l)
                            .map(|n| n.role != Role::Witness)
                            .unwrap_or(false)
                })
                .find(|l| {
                    let matched = m2
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(l))
                        .and_then(|x| x.as_ref())
                        .map(|x| x.index)
                        .unwrap_or(0);
                    commit.saturating_sub(matched) <= CAUGHT_UP_LAG_MAX
                });
            if let Some(s) = spare {
                during.push(s);
                promote_spare = Some(s);
            }
        }
        let ft_during = fault_tolerance(during.len());
        let mut steps = Vec::new();
        if m.current_leader == Some(node) {
            steps.push(format!("move leadership away from n{node}"));
        } else {
            steps.push(format!("check leadership is not on n{node}"));
        }
        if let Some(s) = promote_spare {
            steps.push(format!("promote learner n{s} to voter"));
        }
        if voters.contains(&node) {
            steps.push(format!(
                "make n{node} a learner (voters during maintenance: {during:?})"
            ));
        }
        steps.push(format!(
            "n{node} may then be stopped; `end` brings it back and restores its vote"
        ));
        let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
        let refusal = if !failed.is_empty() {
            Some(format!(
                "preflight failed: {}",
                failed
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.detail))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        } else if ft_during == 0 {
            Some(format!(
                "during the maintenance the voters would be {during:?}: one more failure would lose quorum, and there is no witness or spare learner to keep it. Add a witness or a learner, or accept the risk explicitly"
            ))
        } else {
            None
        };
        let outside_window =
            match in_window(&self.inner.config.maintenance.windows, SystemTime::now()) {
                Some(false) => Some(format!(
                    "now is outside every maintenance window ({})",
                    self.inner.config.maintenance.windows.join(", ")
                )),
                _ => None,
            };
        Ok(Plan {
            node,
            safe: refusal.is_none(),
            checks,
            voters_now: voters.clone(),
            voters_during: during,
            fault_tolerance_now: fault_tolerance(voters.len()),
            fault_tolerance_during: ft_during,
            promote_spare,
            steps,
            refusal,
            outside_window,
        })
    }

    async fn ensure_maintenance_tables(&self) -> Result<(), NodeError> {
        let exists = self
            .store()
            .query_internal(
                "SELECT count(*) FROM sqlite_schema WHERE name IN (?1, ?2)",
                &[
                    Value::Text(STATE_TABLE.into()),
                    Value::Text(AUDIT_TABLE.into()),
                ],
            )
            .map(|o| o.rows.first().and_then(|r| r.first()).cloned() == Some(Value::Integer(2)))
            .unwrap_or(false);
        if exists {
            return Ok(());
        }
        self.internal_write(vec![
            (format!("CREATE TABLE IF NOT EXISTS {STATE_TABLE} (node INTEGER PRIMARY KEY, state TEXT NOT NULL)"), vec![]),
            (
                format!(
                    "CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, operator TEXT NOT NULL, action TEXT NOT NULL, node INTEGER, detail TEXT NOT NULL)"
                ),
                vec![],
            ),
        ])
        .await
    }

    /// Runs quorate's own statements as one replicated transaction (this node must lead).
    pub(crate) async fn internal_write(
        &self,
        statements: Vec<(String, Vec<Value>)>,
    ) -> Result<(), NodeError> {
        let leader = self.ensure_leader_ready().await?;
        let mut tx = self.store().begin_write(TxOptions::default()).await?;
        for (sql, params) in &statements {
            tx.execute_internal(sql, params).await?;
        }
        let proposer = self.proposer(leader);
        match tx.commit(&proposer).await? {
            CommitOutcome::Committed { .. } | CommitOutcome::ReadOnly { .. } => Ok(()),
        }
    }

    /// Appends to the replicated audit log (this node must lead).
    pub(crate) async fn audit(
        &self,
        operator: &str,
        action: &str,
        node: Option<NodeId>,
        detail: &str,
    ) -> Result<(), NodeError> {
        self.ensure_maintenance_tables().await?;
        self.internal_write(vec![(
            format!("INSERT INTO {AUDIT_TABLE} (at_ms, operator, action, node, detail) VALUES (?1, ?2, ?3, ?4, ?5)"),
            vec![
                Value::Integer(unix_ms(SystemTime::now()) as i64),
                Value::Text(operator.into()),
                Value::Text(action.into()),
                node.map(|n| Value::Integer(n as i64)).unwrap_or(Value::Null),
                Value::Text(detail.into()),
            ],
        )])
        .await
    }

    async fn save_maintenance(
        &self,
        state: &MaintenanceState,
        operator: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), NodeError> {
        let json = serde_json::to_string(state).map_err(|e| NodeError::internal(e.to_string()))?;
        self.internal_write(vec![
            (
                format!("INSERT INTO {STATE_TABLE} (node, state) VALUES (?1, ?2) ON CONFLICT(node) DO UPDATE SET state = excluded.state"),
                vec![Value::Integer(state.node as i64), Value::Text(json)],
            ),
            (
                format!("INSERT INTO {AUDIT_TABLE} (at_ms, operator, action, node, detail) VALUES (?1, ?2, ?3, ?4, ?5)"),
                vec![
                    Value::Integer(unix_ms(SystemTime::now()) as i64),
                    Value::Text(operator.into()),
                    Value::Text(format!("maintenance {action}")),
                    Value::Integer(state.node as i64),
                    Value::Text(detail.into()),
                ],
            ),
        ])
        .await?;
        tracing::info!(node = state.node, step = ?state.step, %operator, %action, %detail, "maintenance");
        Ok(())
    }

    fn maintenance_states(&self) -> Result<Vec<MaintenanceState>, NodeError> {
        let out = self.store().query_internal(
            &format!("SELECT state FROM {STATE_TABLE} ORDER BY node"),
            &[],
        )?;
        Ok(out
            .rows
            .iter()
            .filter_map(|r| match r.first() {
                Some(Value::Text(t)) => serde_json::from_str(t).ok(),
                _ => None,
            })
            .collect())
    }

    fn maintenance_state(&self, node: NodeId) -> Result<Option<MaintenanceState>, NodeError> {
        Ok(self
            .maintenance_states()?
            .into_iter()
            .find(|s| s.node == node))
    }

    fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, NodeError> {
        let out = self.store().query_internal(
            &format!("SELECT at_ms, operator, action, node, detail FROM {AUDIT_TABLE} ORDER BY id DESC LIMIT ?1"),
            &[Value::Integer(i64::from(limit.max(1)))],
        )?;
        let mut entries: Vec<AuditEntry> = out
            .rows
            .into_iter()
            .map(|r| {
                let text = |v: &Value| match v {
                    Value::Text(t) => t.clone(),
                    _ => String::new(),
                };
                let int = |v: &Value| match v {
                    Value::Integer(i) => Some(*i as u64),
                    _ => None,
                };
                AuditEntry {
                    at_ms: int(&r[0]).unwrap_or(0),
                    operator: text(&r[1]),
                    action: text(&r[2]),
                    node: int(&r[3]),
                    detail: text(&r[4]),
                }
            })
            .collect();
        entries.reverse();
        Ok(entries)
    }
}

fn no_maintenance(node: NodeId) -> NodeError {
    NodeError::new(ErrorCode::Refused, format!("n{node} is not in maintenance"))
}
