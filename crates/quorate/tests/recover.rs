//! Unsafe recovery when a majority is permanently gone (issue: survive the outage).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Cluster, Opts};
use serde_json::json;

/// Recovery: with two of three members gone for good, `quorate recover --survivors 1`
/// rebuilds a serving cluster from node 1 with every committed row, records it in the audit
/// log, and a lost member that comes back is fenced off (refused, stops serving) instead of
/// forking history. Leadership changes before the loss, so the survivor's last entry is from
/// a later term than the first: the new lineage must start above it.
#[test]
fn recover_from_survivor_and_fence_the_lost() {
    let mut c = Cluster::start(Opts::default());
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(
        l,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        json!([]),
    )
    .unwrap();
    for i in 0..50 {
        c.execute(l, "INSERT INTO t VALUES (?, 'x')", json!([i]))
            .unwrap();
    }
    let term_before = c.status(l).unwrap()["term"].as_u64().unwrap();
    let to = if l == 1 { 2 } else { 1 };
    c.post(l, "/v1/leader", &json!({ "to": to })).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.leader() != Some(to) {
        assert!(Instant::now() < deadline, "leadership did not move to {to}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let l = c.wait_writable(Duration::from_secs(10));
    for i in 50..100 {
        c.execute(l, "INSERT INTO t VALUES (?, 'x')", json!([i]))
            .unwrap();
    }
    let term_lost = c.status(l).unwrap()["term"].as_u64().unwrap();
    assert!(term_lost > term_before, "{term_lost} > {term_before}");
    // Let node 1 apply everything, then lose nodes 2 and 3 for good.
    c.assert_identical(Duration::from_secs(20));
    c.kill(2);
    c.kill(3);
    std::thread::sleep(Duration::from_secs(1));
    // Refused while a lost member is still reachable is covered by the command itself; here
    // both are down. Without --survivors covering a quorum, nothing serves:
    assert!(
        c.execute(1, "INSERT INTO t VALUES (1000, 'no quorum')", json!([]))
            .is_err()
    );
    let out = Command::new(BIN)
        .args([
            "recover",
            "--addr",
            &c.node(1).http,
            "--survivors",
            "1",
            "--yes",
        ])
        .env("QUORATE_PASSWORD", common::ADMIN_PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("MAY BE LOST"), "{stdout}");
    // Node 1 alone is now the cluster, with every row.
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.status(1).map(|s| s["writable"] != true).unwrap_or(true) {
        assert!(
            Instant::now() < deadline,
            "node 1 did not serve after recovery"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.scalar(1, "SELECT count(*) FROM t"), 100);
    c.execute(
        1,
        "INSERT INTO t VALUES (2000, 'after recovery')",
        json!([]),
    )
    .unwrap();
    let s = c.status(1).unwrap();
    assert_eq!(s["epoch"], 1);
    assert!(s["term"].as_u64().unwrap() > term_lost, "{s}");
    assert_eq!(s["members"].as_array().unwrap().len(), 1);
    let log = c
        .agent
        .get(&format!("http://{}/v1/maintenance/log", c.node(1).http))
        .call()
        .unwrap()
        .into_json::<serde_json::Value>()
        .unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "recover"),
        "{log}"
    );
    // A lost member comes back: fenced, never serving.
    c.spawn(3);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = c.status(3)
            && s["reason"]
                .as_str()
                .map(|r| r.contains("fenced"))
                .unwrap_or(false)
        {
            assert_eq!(s["writable"], false);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "n3 did not learn it was fenced: {:?}",
            c.status(3)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        c.execute(3, "INSERT INTO t VALUES (3000, 'fork?')", json!([]))
            .is_err()
    );
    assert_eq!(c.scalar(1, "SELECT count(*) FROM t"), 101);
}
