//! Corrupt files on disk (issue: let no one in): detected by checksums, reported clearly,
//! repaired from peers, never served.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, Opts};
use serde_json::json;

fn files_with_ext(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_with_ext(&p, ext));
            } else if p.extension().map(|x| x == ext).unwrap_or(false) {
                out.push(p);
            }
        }
    }
    out
}

fn log_of(c: &Cluster, id: u64) -> String {
    std::fs::read_to_string(&c.node(id).log).unwrap_or_default()
}

/// Creates the table the tests fill; returns the leader.
fn create_table(c: &Cluster) -> u64 {
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(
        l,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)",
        json!([]),
    )
    .unwrap();
    l
}

/// Cuts the last segment of `node`'s Raft log (stopped) to `new_len(its length)` bytes, as
/// a torn or lost unflushed write leaves it.
fn cut_last_log_segment(c: &Cluster, node: u64, new_len: impl Fn(u64) -> u64) {
    let mut segs = files_with_ext(&c.node(node).data_dir.join("raft"), "wal");
    segs.sort();
    let last = segs.last().expect("a log segment");
    let len = std::fs::metadata(last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(new_len(len)).unwrap();
}

fn fill(c: &Cluster, from: i64, n: i64) {
    let l = c.wait_writable(Duration::from_secs(10));
    for i in from..from + n {
        c.execute(l, "INSERT INTO t VALUES (?, randomblob(200))", json!([i]))
            .unwrap();
    }
}

/// Corruption: a flipped bit in a follower's Raft log is detected by the segment checksum
/// when it restarts; the damaged files are set aside (not served, not deleted) and the node
/// is caught up from its peers until the replicas are identical again.
#[test]
fn flipped_bit_in_a_log_segment_is_detected_and_repaired_from_peers() {
    let mut c = Cluster::start(Opts::default());
    let l = create_table(&c);
    fill(&c, 0, 200);
    c.assert_identical(Duration::from_secs(20));
    let victim = (1..=3).find(|i| *i != l).unwrap();
    c.kill(victim);
    let segs = files_with_ext(&c.node(victim).data_dir.join("raft"), "wal");
    assert!(!segs.is_empty());
    for seg in &segs {
        let mut b = std::fs::read(seg).unwrap();
        if b.len() > 64 {
            let mid = b.len() / 2;
            b[mid] ^= 0x10;
            std::fs::write(seg, b).unwrap();
        }
    }
    fill(&c, 1000, 50);
    c.spawn(victim);
    c.assert_identical(Duration::from_secs(30));
    let log = log_of(&c, victim);
    assert!(log.contains("corrupt"), "the corruption was reported");
    let aside = std::fs::read_dir(&c.node(victim).data_dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("corrupt-"));
    assert!(aside, "the damaged files were kept for inspection");
    assert_eq!(c.scalar(l, "SELECT count(*) FROM t"), 250);
}

/// Corruption: a log segment cut short (a torn write at power loss) is truncated to its
/// last whole record on restart; the node catches up the rest from the leader.
#[test]
fn truncated_log_segment_is_recovered() {
    let mut c = Cluster::start(Opts::default());
    let l = create_table(&c);
    fill(&c, 0, 200);
    c.assert_identical(Duration::from_secs(20));
    let victim = (1..=3).find(|i| *i != l).unwrap();
    c.kill(victim);
    cut_last_log_segment(&c, victim, |len| len - 37);
    c.spawn(victim);
    fill(&c, 1000, 20);
    c.assert_identical(Duration::from_secs(30));
}

/// Corruption: a flipped bit in the leader's snapshot file on disk is caught by its
/// checksum before it is sent; the leader builds a fresh one and the lagging follower that
/// needed it still converges.
#[test]
fn flipped_bit_in_a_snapshot_is_never_sent() {
    let mut c = Cluster::start(Opts {
        logs_since_last: 100,
        keep_logs: 10,
        ..Opts::default()
    });
    let l = create_table(&c);
    let victim = (1..=3).find(|i| *i != l).unwrap();
    c.kill(victim);
    fill(&c, 0, 400);
    // Wait until the leader's log no longer holds what the victim misses (so it needs the
    // snapshot), then damage the snapshot.
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.status(l).unwrap()["purged_index"].as_u64().unwrap_or(0) < 100 {
        assert!(Instant::now() < deadline, "the leader never purged its log");
        std::thread::sleep(Duration::from_millis(100));
    }
    let snaps_dir = c.node(l).data_dir.join("db").join("snapshots");
    let deadline = Instant::now() + Duration::from_secs(20);
    let snap = loop {
        if let Some(p) = files_with_ext(&snaps_dir, "db").into_iter().find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap-")
        }) {
            break p;
        }
        assert!(Instant::now() < deadline, "no snapshot was built");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut b = std::fs::read(&snap).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&snap, b).unwrap();
    c.spawn(victim);
    c.assert_identical(Duration::from_secs(60));
    let log = log_of(&c, l);
    assert!(
        log.contains("snapshot on disk is corrupt"),
        "the damaged snapshot was detected"
    );
    assert_eq!(c.scalar(victim, "SELECT count(*) FROM t"), 400);
}

/// A follower whose Raft log lost its unflushed tail (a crash, a full disk) while its
/// state machine had already applied those entries (openraft applies a committed entry
/// once it is submitted to the local log, not once it is durable there) restarts and
/// catches up. Before the fix, openraft purged the log up to the applied index at start,
/// found the newest snapshot older than that, and panicked at every start: the node
/// answered but never caught up again (`quorate torture --seed 2`, disk-full, in CI).
#[test]
fn log_tail_lost_behind_the_applied_state_restarts_and_catches_up() {
    let mut c = Cluster::start(Opts {
        logs_since_last: 100,
        keep_logs: 10,
        ..Opts::default()
    });
    let l = create_table(&c);
    fill(&c, 0, 260);
    c.assert_identical(Duration::from_secs(20));
    let victim = (1..=3).find(|i| *i != l).unwrap();
    let before = c.status(victim).unwrap();
    let applied = before["applied_index"].as_u64().unwrap();
    let snapshot = before["snapshot_index"].as_u64().unwrap_or(0);
    assert!(
        snapshot < applied,
        "the follower's newest snapshot ({snapshot}) is older than what it applied ({applied})"
    );
    c.kill(victim);
    // Lose the tail of the log: the last segment is cut in the middle of a record, as an
    // unflushed write is.
    cut_last_log_segment(&c, victim, |len| len * 2 / 3);
    c.spawn(victim);
    fill(&c, 1000, 20);
    c.assert_identical(Duration::from_secs(30));
    let log = log_of(&c, victim);
    assert!(
        log.contains("building a snapshot of the applied state"),
        "the lost tail left the log behind the applied state, and it was covered"
    );
    assert!(!log.contains("panicked"), "no panic at start");
    assert_eq!(c.scalar(victim, "SELECT count(*) FROM t"), 280);
}
