//! Prometheus text exposition of the node's state and request counters.

use std::collections::BTreeMap;
use std::fmt::Write;

use std::sync::Mutex;

use quorate_node::Node;
use quorate_node::error::NodeError;

/// Request counters by (endpoint, outcome code).
#[derive(Default)]
pub struct Counters {
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl Counters {
    /// Counts one request to `endpoint` that ended with `error` (None = success).
    pub fn record(&self, endpoint: &str, error: Option<&NodeError>) {
        let code = match error {
            None => "ok".to_string(),
            Some(e) => serde_json::to_value(e.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((endpoint.to_string(), code)).or_insert(0) += 1;
    }

    fn snapshot(&self) -> Vec<((String, String), u64)> {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// The front ends whose statements `/metrics` counts, always listed (0 when none runs).
const FRONT_ENDS: [&str; 3] = ["http", "mysql", "peer"];

pub(crate) async fn render(
    node: &Node,
    counters: &Counters,
    statements: &[crate::client::RequestView],
) -> String {
    let s = node.status().await;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "quorate_is_leader",
        "1 if this node is the leader",
        f64::from(u8::from(s.state == "leader")),
    );
    gauge(
        "quorate_writable",
        "1 if this node can serve linearizable writes now",
        f64::from(u8::from(s.writable)),
    );
    gauge("quorate_term", "current Raft term", s.term as f64);
    gauge(
        "quorate_commit_index",
        "last committed log index",
        s.commit_index.unwrap_or(0) as f64,
    );
    gauge(
        "quorate_applied_index",
        "last applied log index",
        s.applied_index.unwrap_or(0) as f64,
    );
    gauge(
        "quorate_last_log_index",
        "last log index",
        s.last_log_index.unwrap_or(0) as f64,
    );
    gauge(
        "quorate_speculative_in_flight",
        "leader transactions executed and not yet committed",
        s.speculative_in_flight as f64,
    );
    gauge(
        "quorate_log_bytes",
        "bytes of the Raft log on disk",
        s.log_bytes as f64,
    );
    gauge(
        "quorate_members",
        "members in the current configuration",
        s.members.len() as f64,
    );
    gauge(
        "quorate_uptime_seconds",
        "seconds since this node started",
        s.uptime_s as f64,
    );
    if let Some(st) = s.staleness_ms {
        gauge(
            "quorate_staleness_ms",
            "upper bound of how far behind the leader this node's data may be",
            st as f64,
        );
    }
    let _ = writeln!(
        out,
        "# HELP quorate_member_reachable 1 if this node can reach the member over at least one path"
    );
    let _ = writeln!(out, "# TYPE quorate_member_reachable gauge");
    for m in &s.members {
        let _ = writeln!(
            out,
            "quorate_member_reachable{{member=\"{}\",role=\"{}\"}} {}",
            m.id,
            m.role,
            u8::from(m.reachable)
        );
    }
    let _ = writeln!(
        out,
        "# HELP quorate_member_paths_up network paths up to the member"
    );
    let _ = writeln!(out, "# TYPE quorate_member_paths_up gauge");
    for m in s.members.iter().filter(|m| !m.paths.is_empty()) {
        let up = m.paths.iter().filter(|p| p.up).count();
        let _ = writeln!(
            out,
            "quorate_member_paths_up{{member=\"{}\",paths=\"{}\"}} {}",
            m.id,
            m.paths.len(),
            up
        );
    }
    let _ = writeln!(
        out,
        "# HELP quorate_member_lag entries the member is behind the leader (leader only)"
    );
    let _ = writeln!(out, "# TYPE quorate_member_lag gauge");
    for m in &s.members {
        if let Some(lag) = m.lag {
            let _ = writeln!(out, "quorate_member_lag{{member=\"{}\"}} {}", m.id, lag);
        }
    }
    // The statements in progress here, as GET /v1/requests lists them: an alert on the
    // longest one finds a statement that holds the leader's writer.
    let _ = writeln!(
        out,
        "# HELP quorate_statements_running client statements in progress on this node, by front end (peer: other nodes' clients' statements run here)"
    );
    let _ = writeln!(out, "# TYPE quorate_statements_running gauge");
    for f in FRONT_ENDS {
        let n = statements.iter().filter(|r| r.front_end == f).count();
        let _ = writeln!(out, "quorate_statements_running{{front_end=\"{f}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP quorate_longest_statement_seconds how long the longest client statement in progress on this node has run, by front end (0: none)"
    );
    let _ = writeln!(out, "# TYPE quorate_longest_statement_seconds gauge");
    for f in FRONT_ENDS {
        let ms = statements
            .iter()
            .filter(|r| r.front_end == f)
            .map(|r| r.running_ms)
            .max()
            .unwrap_or(0);
        let s = ms as f64 / 1000.0;
        let _ = writeln!(
            out,
            "quorate_longest_statement_seconds{{front_end=\"{f}\"}} {s}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP quorate_http_requests_total HTTP API requests by endpoint and outcome"
    );
    let _ = writeln!(out, "# TYPE quorate_http_requests_total counter");
    for ((endpoint, code), n) in counters.snapshot() {
        let _ = writeln!(
            out,
            "quorate_http_requests_total{{endpoint=\"{endpoint}\",code=\"{code}\"}} {n}"
        );
    }
    out
}
