//! SHOW STATUS (the cluster's state as `quorate_*` variables, with Galera's `wsrep_*`
//! names as aliases for the health checks people already run) and SHOW PROCESSLIST.
//!
//! Both are answered by the node the client is connected to, from its own view, and work
//! without quorum: that is when a health check needs them most.

use std::sync::atomic::Ordering;

use quorate_mysql_wire::{QueryResult, ResultSet, Value as WireValue};
use quorate_node::Status;
use quorate_sql::like_match;

use crate::Shared;
use crate::values::{bigint_column, text, text_column};

/// Whether this node serves and has applied what it knows committed, within this many ms
/// of the leader (else wsrep_local_state says "Joined", not "Synced").
const SYNCED_STALENESS_MS_MAX: u64 = 1000;

/// The `(name, value)` rows of SHOW STATUS, in order.
pub(crate) fn status_variables(shared: &Shared, s: &Status) -> Vec<(String, String)> {
    let on_off = |b: bool| if b { "ON" } else { "OFF" }.to_string();
    let voters: Vec<_> = s.members.iter().filter(|m| m.role == "voter").collect();
    let reachable_voters = voters.iter().filter(|m| m.reachable).count();
    let unreachable: Vec<String> = s
        .members
        .iter()
        .filter(|m| !m.reachable)
        .map(|m| format!("n{}", m.id))
        .collect();
    let commit = s.commit_index.unwrap_or(0);
    let applied = s.applied_index.unwrap_or(0);
    let apply_lag = commit.saturating_sub(applied);
    let replication_lag = s.members.iter().filter_map(|m| m.lag).max().unwrap_or(0);
    let synced = s.writable
        && s.staleness_ms
            .is_some_and(|ms| ms <= SYNCED_STALENESS_MS_MAX);
    let (state, comment) = match (s.writable, synced) {
        (true, true) => (4, "Synced"),
        (true, false) => (3, "Joined"),
        (false, _) => (0, "Initialized"),
    };
    let mut ids: Vec<u64> = s.members.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    let local_index = ids.iter().position(|id| *id == s.node_id).unwrap_or(0);
    let connected =
        s.members.len() <= 1 || s.members.iter().any(|m| m.id != s.node_id && m.reachable);
    let threads = shared
        .registry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .len();
    let cluster_status = if s.writable { "Primary" } else { "non-Primary" };
    let mut v: Vec<(&str, String)> = vec![
        (
            "Aborted_connects",
            shared.aborted_connects.load(Ordering::Relaxed).to_string(),
        ),
        (
            "Connections",
            shared.connections.load(Ordering::Relaxed).to_string(),
        ),
        ("Max_connections", shared.max_connections.to_string()),
        (
            "Questions",
            shared.questions.load(Ordering::Relaxed).to_string(),
        ),
        ("Threads_connected", threads.to_string()),
        ("Threads_running", "1".to_string()),
        ("Uptime", shared.started.elapsed().as_secs().to_string()),
        ("quorate_applied_index", applied.to_string()),
        ("quorate_apply_lag", apply_lag.to_string()),
        (
            "quorate_cluster_id",
            s.cluster_id.clone().unwrap_or_default(),
        ),
        (
            "quorate_cluster_status",
            if s.writable { "serving" } else { "no quorum" }.to_string(),
        ),
        ("quorate_commit_index", commit.to_string()),
        (
            "quorate_last_log_index",
            s.last_log_index.unwrap_or(0).to_string(),
        ),
        (
            "quorate_leader",
            s.leader.map(|l| format!("n{l}")).unwrap_or_default(),
        ),
        ("quorate_members", s.members.len().to_string()),
        ("quorate_node_id", s.node_id.to_string()),
        ("quorate_reason", s.reason.clone().unwrap_or_default()),
        ("quorate_replication_lag", replication_lag.to_string()),
        ("quorate_role", s.role.to_string()),
        ("quorate_serving", on_off(s.writable)),
        (
            "quorate_speculative_in_flight",
            s.speculative_in_flight.to_string(),
        ),
        (
            "quorate_staleness_ms",
            s.staleness_ms.map(|m| m.to_string()).unwrap_or_default(),
        ),
        ("quorate_state", s.state.clone()),
        ("quorate_term", s.term.to_string()),
        ("quorate_unreachable", unreachable.join(",")),
        ("quorate_uptime_s", s.uptime_s.to_string()),
        ("quorate_voters", voters.len().to_string()),
        ("quorate_voters_reachable", reachable_voters.to_string()),
        ("quorate_warnings", s.warnings.join("; ")),
        ("wsrep_cluster_size", reachable_voters.to_string()),
        (
            "wsrep_cluster_state_uuid",
            s.cluster_id.clone().unwrap_or_default(),
        ),
        ("wsrep_cluster_status", cluster_status.to_string()),
        ("wsrep_connected", on_off(connected)),
        ("wsrep_desync_count", "0".to_string()),
        (
            "wsrep_evs_state",
            if s.writable { "OPERATIONAL" } else { "GATHER" }.to_string(),
        ),
        ("wsrep_flow_control_paused", "0.000000".to_string()),
        (
            "wsrep_incoming_addresses",
            s.members
                .iter()
                .map(|m| m.mysql_addr.clone())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("wsrep_last_committed", applied.to_string()),
        ("wsrep_local_index", local_index.to_string()),
        ("wsrep_local_recv_queue", apply_lag.to_string()),
        ("wsrep_local_state", state.to_string()),
        ("wsrep_local_state_comment", comment.to_string()),
        (
            "wsrep_local_state_uuid",
            s.cluster_id.clone().unwrap_or_default(),
        ),
        ("wsrep_node_name", format!("n{}", s.node_id)),
        ("wsrep_provider_name", "quorate".to_string()),
        ("wsrep_provider_version", s.version.clone()),
        ("wsrep_ready", on_off(s.writable)),
    ];
    v.sort_by_key(|a| a.0.to_ascii_lowercase());
    v.into_iter().map(|(k, val)| (k.to_string(), val)).collect()
}

/// SHOW [GLOBAL | SESSION] STATUS [LIKE pattern].
pub(crate) async fn show_status(shared: &Shared, like: Option<&str>) -> QueryResult {
    let s = shared.node.status().await;
    let rows = status_variables(shared, &s)
        .into_iter()
        .filter(|(k, _)| like.is_none_or(|p| like_match(p, k)))
        .map(|(k, v)| vec![text(k), text(v)])
        .collect();
    QueryResult::Rows(ResultSet {
        columns: vec![text_column("Variable_name"), text_column("Value")],
        rows,
    })
}

/// A statement as SHOW PROCESSLIST's `Info` shows it: whole with FULL, else its first 100
/// characters.
fn info_column(statement: &str, full: bool) -> String {
    if full {
        statement.to_string()
    } else {
        statement.chars().take(100).collect()
    }
}

/// SHOW [FULL] PROCESSLIST: every connection to this node, every HTTP request it handles
/// and every statement other nodes' clients run on it (`all`), or the caller's own.
pub(crate) fn processlist(shared: &Shared, user: &str, all: bool, full: bool) -> QueryResult {
    let registry = shared.registry.lock().unwrap_or_else(|p| p.into_inner());
    let mut ids: Vec<&u32> = registry.keys().collect();
    ids.sort_unstable();
    let mut rows = Vec::new();
    for id in ids {
        let r = &registry[id];
        if !all && r.user != user {
            continue;
        }
        let a = r.activity.lock().unwrap_or_else(|p| p.into_inner());
        let info =
            (a.command != "Sleep").then(|| info_column(&String::from_utf8_lossy(&a.info), full));
        rows.push(vec![
            WireValue::Int(i64::from(*id)),
            text(r.user.clone()),
            text(r.host.clone()),
            a.db.clone().map_or(WireValue::Null, text),
            text(a.command),
            WireValue::Int(a.since.elapsed().as_secs() as i64),
            text(""),
            info.map_or(WireValue::Null, text),
        ]);
    }
    drop(registry);
    // The HTTP API's SQL requests in progress on this node: Command `Query`, State the path.
    let http = shared.node.front_end("http");
    let mut requests = http.map(|h| h.clients()).unwrap_or_default();
    requests.sort_unstable_by_key(|r| r.id);
    for r in requests.into_iter().filter(|r| all || r.user == user) {
        let info = r.statement.map(|i| info_column(&i, full));
        rows.push(vec![
            WireValue::Int(r.id as i64),
            text(r.user),
            text(r.host),
            WireValue::Null,
            text("Query"),
            WireValue::Int(r.running.as_secs() as i64),
            text(format!("HTTP {}", r.command)),
            info.map_or(WireValue::Null, text),
        ]);
    }
    // Other nodes' clients' statements running here (on the leader: their writes).
    let mut peers = shared.node.peer_clients();
    peers.sort_unstable_by_key(|r| r.id);
    for r in peers.into_iter().filter(|r| all || r.user == user) {
        let info = r.statement.map(|i| info_column(&i, full));
        let state = match r.node {
            Some(n) => format!("forwarded by node {n}"),
            None => String::new(),
        };
        rows.push(vec![
            WireValue::Int(r.id as i64),
            text(r.user),
            text(r.host),
            WireValue::Null,
            text(r.command),
            WireValue::Int(r.running.as_secs() as i64),
            text(state),
            info.map_or(WireValue::Null, text),
        ]);
    }
    QueryResult::Rows(ResultSet {
        columns: vec![
            bigint_column("Id"),
            text_column("User"),
            text_column("Host"),
            text_column("db"),
            text_column("Command"),
            bigint_column("Time"),
            text_column("State"),
            text_column("Info"),
        ],
        rows,
    })
}
