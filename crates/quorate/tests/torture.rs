//! Robustness: the torture harness (crates/torture) run against real clusters, and the
//! regressions it found, each reduced to a deterministic test.
//!
//! The torture runs need root and iproute2 (network namespaces, loop-mounted disk); without
//! them they print why they skip and pass. The regression tests run anywhere.

mod common;

use std::time::Duration;

use common::{Cluster, Opts, Writer};
use serde_json::json;

/// Cluster: a follower that catches up by snapshot and then receives pipelined
/// transactions applies them like every other replica.
///
/// Regression (found by `quorate torture --seed 1 --nemesis kill,partition,pause`): a
/// snapshot install restored the applied index and membership but not the per-leader
/// dependency chains, so the follower skipped every following pipelined transaction as
/// "predecessor never committed" while the others applied them; the replicas diverged and
/// stopped ("replica diverged ... row to insert already exists"), and a node that then led
/// served reads from its incomplete state.
#[test]
fn follower_caught_up_by_snapshot_applies_pipelined_transactions() {
    let mut c = Cluster::start(Opts {
        logs_since_last: 100,
        keep_logs: 10,
        ..Default::default()
    });
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(
        l,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        json!([]),
    )
    .unwrap();
    let f = (1..=3).find(|i| *i != l).unwrap();
    let other = (1..=3).find(|i| *i != l && *i != f).unwrap();
    c.kill(f);
    // Enough writes for snapshots and log purging while the follower is down. A leader
    // keeps the log its replication to the dead follower still has in flight, so
    // leadership moves once: the new leader purges freely and must send a snapshot.
    for i in 0..150 {
        c.execute(l, "INSERT INTO t (v) VALUES (?)", json!([format!("s{i}")]))
            .unwrap();
    }
    c.post(l, "/v1/leader", &json!({ "to": other })).unwrap();
    let l = c.wait_writable(Duration::from_secs(10));
    for i in 150..450 {
        c.execute(l, "INSERT INTO t (v) VALUES (?)", json!([format!("s{i}")]))
            .unwrap();
    }
    c.spawn(f);
    // Several writers at once through the leader: transactions pipeline, each depending
    // on the previous one.
    let addr = vec![c.node(l).http.clone()];
    let writers: Vec<Writer> = (0..4)
        .map(|k| Writer::start(addr.clone(), "t", 1_000_000 * (k + 1), None))
        .collect();
    std::thread::sleep(Duration::from_secs(5));
    let logs: Vec<_> = writers.into_iter().map(|w| w.finish()).collect();
    assert!(logs.iter().map(|l| l.acked.len()).sum::<usize>() > 50);
    c.assert_identical(Duration::from_secs(30));
    let log = std::fs::read_to_string(&c.node(f).log).unwrap_or_default();
    assert!(
        !log.contains("predecessor never committed"),
        "the follower skipped transactions after its snapshot"
    );
}

/// Cluster: all three nodes killed with -9 again and again under pipelined writes through
/// every node: each time the cluster comes back by itself, every acknowledged row is
/// there, none that failed is, and the replicas stay identical.
///
/// Regression (found by `quorate torture --seed 7 --nemesis kill-all`): openraft restored a
/// restarted leader in its old term ("this node is now the leader term=1" right at start).
/// raft-log had lost the leader's unflushed log tail in the crash, although the followers
/// had received those entries; the restored leader then appended different entries at the
/// same log ids, in the same term, so followers kept the old ones and replicas diverged
/// ("replica diverged ... row differs from the before-image" at restart). Fixed by
/// `enable_leader_restore: false` (a restarted leader stands for election in a new term).
#[test]
fn whole_cluster_killed_repeatedly_under_pipelined_writes_stays_identical() {
    let mut c = Cluster::start(Opts::default());
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(
        l,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        json!([]),
    )
    .unwrap();
    let addrs: Vec<String> = (1..=3).map(|i| c.node(i).http.clone()).collect();
    let mut logs = Vec::new();
    for round in 0..8i64 {
        let writers: Vec<Writer> = (0..4i64)
            .map(|k| Writer::start(addrs.clone(), "t", 1_000_000 * (round * 10 + k + 1), None))
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        // The leader first, then the others, as in a power loss that is not quite at once.
        let leader = c.leader().unwrap_or(1);
        c.kill(leader);
        for i in 1..=3 {
            c.kill(i);
        }
        logs.extend(writers.into_iter().map(|w| w.finish()));
        for i in 1..=3 {
            c.spawn(i);
        }
        c.wait_writable(Duration::from_secs(30));
    }
    c.assert_identical(Duration::from_secs(30));
    let l = c.wait_writable(Duration::from_secs(10));
    for log in &logs {
        common::assert_no_acked_write_lost(&c, l, "t", log);
    }
}
