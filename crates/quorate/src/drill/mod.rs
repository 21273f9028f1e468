//! `quorate drill SCENARIO`: the failure drills of the brief (D1-D7), run against a real
//! cluster in network namespaces, measured with the same probe as Galera's figures (one
//! INSERT every 100 ms through node 1), printed as a timeline and a few figures.

mod probe;

use quorate_torture::{cluster, netns};

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use cluster::DrillCluster;
use probe::{Attempt, Probe};

#[derive(Args, Clone)]
pub struct DrillArgs {
    /// d1, d1b, d2, d3, d4, d5, d5-follower, d6, d6-follower, d7, or `all`.
    pub scenario: String,
    /// Add a witness (a vote without data) to the cluster (D1 with a witness).
    #[arg(long)]
    pub witness: bool,
    /// Print the figures as JSON (one object per scenario).
    #[arg(long)]
    pub json: bool,
    /// How long cables stay pulled in D1 / D1b, in seconds.
    #[arg(long, default_value_t = 30)]
    pub outage_s: u64,
    /// Size of the database D7 transfers to the wiped node, in MB.
    #[arg(long, default_value_t = 100)]
    pub d7_mb: u64,
    /// Keep the namespaces and data afterwards, for inspection.
    #[arg(long)]
    pub keep: bool,
}

/// What a drill measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub witness: bool,
    pub paths: usize,
    pub writes: usize,
    pub failed_writes: usize,
    pub failure_codes: Vec<String>,
    /// The slowest failed write: how long a client waited to learn it failed.
    pub slowest_failure_ms: Option<u64>,
    pub longest_write_gap_ms: u64,
    /// The longest gap between successful writes from the end of the fault on (D1: the
    /// cable's return; D2, D3: the restart; D5, D6: the kill or the pull), counted from the
    /// last write that succeeded before that moment.
    pub longest_gap_after_fault_ms: Option<u64>,
    /// From the end of the fault (or the crash) to the first successful write.
    pub time_to_resume_ms: Option<u64>,
    pub stale_reads_served: usize,
    pub stale_reads_failed: usize,
    pub elections: u64,
    /// Scenario-specific figures (catch-up time, transfer rate, ...).
    pub extra: serde_json::Map<String, Value>,
    pub goal: String,
    pub met: bool,
    pub galera: String,
    pub timeline: Vec<String>,
}

pub const SCENARIOS: &[&str] = &[
    "d1",
    "d1b",
    "d2",
    "d3",
    "d4",
    "d5",
    "d5-follower",
    "d6",
    "d6-follower",
    "d7",
];

pub fn run(args: DrillArgs) -> anyhow::Result<()> {
    if let Some(why) = netns::unavailable() {
        bail!("{why}");
    }
    // An interrupt (Ctrl-C, SIGTERM, SIGHUP) removes the drill's namespaces and files.
    quorate_torture::interrupt::install()?;
    let list: Vec<String> = if args.scenario == "all" {
        SCENARIOS.iter().map(|s| s.to_string()).collect()
    } else {
        vec![args.scenario.to_lowercase()]
    };
    let mut all_met = true;
    for s in list {
        let report = run_one(&s, &args)?;
        all_met &= report.met;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_report(&report);
        }
    }
    if !all_met {
        bail!("at least one drill missed its goal");
    }
    Ok(())
}

fn print_report(r: &Report) {
    println!("== {}: {}", r.scenario.to_uppercase(), r.description);
    println!(
        "   cluster: 3 data nodes{}, {} path(s) per node",
        if r.witness { " + 1 witness" } else { "" },
        r.paths
    );
    for line in &r.timeline {
        println!("   {line}");
    }
    println!(
        "   writes {} | failed {} {} | slowest failure {} | longest gap {} ms ({} after the fault) | resume {} | stale reads served {} | elections {}",
        r.writes,
        r.failed_writes,
        if r.failure_codes.is_empty() {
            String::new()
        } else {
            format!("({})", r.failure_codes.join(","))
        },
        r.slowest_failure_ms
            .map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "-".into()),
        r.longest_write_gap_ms,
        r.longest_gap_after_fault_ms
            .map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "-".into()),
        r.time_to_resume_ms
            .map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "-".into()),
        r.stale_reads_served,
        r.elections
    );
    for (k, v) in &r.extra {
        println!("   {k}: {v}");
    }
    println!(
        "   goal: {} -> {}",
        r.goal,
        if r.met { "MET" } else { "MISSED" }
    );
    println!("   Galera on this machine: {}", r.galera);
    println!();
}

struct Run {
    c: DrillCluster,
    origin: Instant,
    writer: Option<Probe>,
    reader: Option<Probe>,
    term0: u64,
}

impl Run {
    fn start(
        data_nodes: usize,
        witness: bool,
        paths: usize,
        args: &DrillArgs,
        reader: bool,
    ) -> anyhow::Result<Run> {
        let c = DrillCluster::start(data_nodes, witness, paths, args.keep)?;
        let l = c.wait_writable(Duration::from_secs(20))?;
        let r = c.execute(
            l,
            "CREATE TABLE drill (id INTEGER PRIMARY KEY, t_ms INTEGER)",
            json!([]),
        );
        if r.get("error").is_some() {
            bail!("creating the drill table: {r}");
        }
        let origin = Instant::now();
        let ns = format!("/var/run/netns/{}c", c.net.prefix);
        let writer = Some(Probe::start(
            ns.clone(),
            c.node(1).http.clone(),
            origin,
            true,
        ));
        let reader = reader.then(|| Probe::start(ns, c.node(1).http.clone(), origin, false));
        let term0 = c.term();
        Ok(Run {
            c,
            origin,
            writer,
            reader,
            term0,
        })
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        mut self,
        scenario: &str,
        description: &str,
        witness: bool,
        paths: usize,
        resume_since: Option<Duration>,
        extra: serde_json::Map<String, Value>,
        goal: &str,
        galera: &str,
        met: impl FnOnce(&[Attempt], &[Attempt], &Report) -> bool,
    ) -> Report {
        let term1 = self.c.term();
        let writes = self.writer.take().map(|p| p.finish()).unwrap_or_default();
        let reads = self.reader.take().map(|p| p.finish()).unwrap_or_default();
        let failed: Vec<&Attempt> = writes.iter().filter(|a| !a.ok).collect();
        let mut codes: Vec<String> = failed.iter().filter_map(|a| a.code.clone()).collect();
        codes.sort();
        codes.dedup();
        let mut report = Report {
            scenario: scenario.into(),
            description: description.into(),
            witness,
            paths,
            writes: writes.len(),
            failed_writes: failed.len(),
            failure_codes: codes,
            slowest_failure_ms: failed.iter().map(|a| a.latency.as_millis() as u64).max(),
            longest_write_gap_ms: probe::longest_gap(&writes).as_millis() as u64,
            longest_gap_after_fault_ms: resume_since
                .map(|s| probe::longest_gap_since(&writes, s).as_millis() as u64),
            time_to_resume_ms: resume_since
                .and_then(|s| probe::time_to_success_after(&writes, s))
                .map(|d| d.as_millis() as u64),
            stale_reads_served: reads.iter().filter(|a| a.ok).count(),
            stale_reads_failed: reads.iter().filter(|a| !a.ok).count(),
            elections: term1.saturating_sub(self.term0),
            extra,
            goal: goal.into(),
            met: false,
            galera: galera.into(),
            timeline: probe::timeline(&writes),
        };
        if let Some(since) = resume_since {
            // The attempts right after the fault ended, for diagnosing slow resumption.
            let around: Vec<Value> = writes
                .iter()
                .filter(|a| {
                    a.at + Duration::from_millis(500) >= since
                        && a.at <= since + Duration::from_secs(3)
                })
                .map(|a| {
                    json!([
                        a.at.as_millis() as u64,
                        a.ok,
                        a.code,
                        a.latency.as_millis() as u64
                    ])
                })
                .collect();
            report
                .extra
                .insert("attempts_after_fault".into(), json!(around));
        }
        // Every failure other than the expected no_quorum, and every failed stale read:
        // [at ms, code, latency ms], for diagnosing a missed goal.
        let odd = |list: &[probe::Attempt]| -> Vec<Value> {
            list.iter()
                .filter(|a| !a.ok && a.code.as_deref() != Some("no_quorum"))
                .map(|a| {
                    json!([
                        a.at.as_millis() as u64,
                        a.code,
                        a.latency.as_millis() as u64
                    ])
                })
                .collect()
        };
        let (odd_writes, odd_reads) = (odd(&writes), odd(&reads));
        if !odd_writes.is_empty() {
            report
                .extra
                .insert("other_write_failures".into(), json!(odd_writes));
        }
        if !odd_reads.is_empty() {
            report
                .extra
                .insert("failed_stale_reads".into(), json!(odd_reads));
        }
        let unknown = writes
            .iter()
            .filter(|a| a.code.as_deref() == Some("outcome_unknown"))
            .count();
        if unknown > 0 {
            report
                .extra
                .insert("outcome_unknown_writes".into(), json!(unknown));
        }
        report.met = met(&writes, &reads, &report);
        report
    }
}

fn sleep(d: Duration) {
    std::thread::sleep(d);
}

fn run_one(scenario: &str, args: &DrillArgs) -> anyhow::Result<Report> {
    let outage = Duration::from_secs(args.outage_s);
    match scenario {
        "d1" if args.witness => d1_witness(args, outage),
        "d1" => {
            let mut r = Run::start(3, false, 1, args, true)?;
            sleep(Duration::from_secs(3));
            r.c.stop(3);
            sleep(Duration::from_secs(2));
            let pulled = r.now();
            r.c.net.cable(2, 1, false)?;
            sleep(outage);
            r.c.net.cable(2, 1, true)?;
            let back = r.now();
            // Wall-clock time of the return, to line up with the nodes' logs (`--keep`).
            let back_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            sleep(Duration::from_secs(5));
            let mut extra = serde_json::Map::new();
            extra.insert("cable_back_unix_s".into(), json!(back_unix));
            extra.insert("cable_pulled_at_s".into(), json!(pulled.as_secs_f64()));
            extra.insert("cable_back_at_s".into(), json!(back.as_secs_f64()));
            Ok(r.finish(
                "d1",
                "seed outage: node 3 stopped for maintenance, then node 2's only cable pulled",
                false,
                1,
                Some(back),
                extra,
                "each failed write fails within 1 s with no_quorum; stale reads keep working on node 1; writes resume within 1 s of the cable's return",
                "no writes for the whole outage; resumed ~3 s after the cable was back",
                |w, reads, rep| {
                    let fails_fast = w.iter().filter(|a| !a.ok).all(|a| a.latency < Duration::from_secs(1));
                    // Writes already in flight when the cable went (within the leader's
                    // lease) honestly report outcome_unknown; every later one no_quorum.
                    let in_flight_window = pulled + Duration::from_secs(1);
                    let codes_ok = w
                        .iter()
                        .filter(|a| !a.ok)
                        .all(|a| a.code.as_deref() == Some("no_quorum") || (a.code.as_deref() == Some("outcome_unknown") && a.at < in_flight_window));
                    let stale_during = reads.iter().any(|a| a.ok && a.at > pulled + Duration::from_secs(2) && a.at < back);
                    fails_fast && codes_ok && stale_during && rep.time_to_resume_ms.map(|m| m <= 1000).unwrap_or(false)
                },
            ))
        }
        "d1b" => {
            let mut r = Run::start(3, false, 2, args, false)?;
            sleep(Duration::from_secs(3));
            r.c.stop(3);
            sleep(Duration::from_secs(2));
            r.c.net.cable(2, 1, false)?;
            sleep(outage);
            r.c.net.cable(2, 1, true)?;
            sleep(Duration::from_secs(3));
            Ok(r.finish(
                "d1b",
                "seed outage with two paths per node: node 3 stopped, one of node 2's two cables pulled",
                false,
                2,
                None,
                serde_json::Map::new(),
                "zero failed writes, no election",
                "(Galera has no second path: as D1)",
                |_, _, rep| rep.failed_writes == 0 && rep.elections == 0,
            ))
        }
        "d2" | "d3" => {
            let mut r = Run::start(3, false, 1, args, false)?;
            sleep(Duration::from_secs(3));
            for i in 1..=3 {
                r.c.kill(i);
            }
            sleep(Duration::from_secs(1));
            let restarted = r.now();
            let back: Vec<usize> = if scenario == "d2" {
                vec![1, 2, 3]
            } else {
                vec![1, 2]
            };
            for i in &back {
                r.c.spawn(*i)?;
            }
            sleep(Duration::from_secs(6));
            let (desc, goal, galera) = if scenario == "d2" {
                (
                    "power loss of all three nodes (kill -9), all three restart",
                    "serving within 2 s of the processes starting",
                    "writes again after 4.2 s",
                )
            } else {
                (
                    "power loss of all three nodes (kill -9), only nodes 1 and 2 restart",
                    "serving within 2 s, no human step",
                    "never: stays down until a human bootstraps by hand",
                )
            };
            Ok(r.finish(
                scenario,
                desc,
                false,
                1,
                Some(restarted),
                serde_json::Map::new(),
                goal,
                galera,
                |_, _, rep| rep.time_to_resume_ms.map(|m| m <= 2000).unwrap_or(false),
            ))
        }
        "d4" => {
            let mut r = Run::start(3, false, 1, args, false)?;
            sleep(Duration::from_secs(2));
            r.c.stop(3);
            let l = r.c.wait_writable(Duration::from_secs(5))?;
            for i in 0..300 {
                let v =
                    r.c.execute(l, "INSERT INTO drill (t_ms) VALUES (?)", json!([-i]));
                if v.get("error").is_some() {
                    bail!("write during maintenance failed: {v}");
                }
            }
            let target = r.c.status(l)["commit_index"].as_u64().unwrap_or(0);
            let started = Instant::now();
            r.c.spawn(3)?;
            let mut caught_up = None;
            while started.elapsed() < Duration::from_secs(30) {
                let s = r.c.status(3);
                if s["applied_index"].as_u64().unwrap_or(0) >= target {
                    caught_up = Some(started.elapsed());
                    break;
                }
                sleep(Duration::from_millis(20));
            }
            sleep(Duration::from_secs(2));
            let mut extra = serde_json::Map::new();
            extra.insert("missed_writes".into(), json!(300));
            extra.insert(
                "caught_up_ms_after_process_start".into(),
                json!(caught_up.map(|d| d.as_millis() as u64)),
            );
            Ok(r.finish(
                "d4",
                "node 3 back from maintenance with 300 writes missed",
                false,
                1,
                None,
                extra,
                "caught up within 1 s (of the process starting)",
                "synced after 2.6 s (incremental state transfer)",
                move |_, _, rep| {
                    caught_up
                        .map(|d| d <= Duration::from_secs(1))
                        .unwrap_or(false)
                        && rep.failed_writes == 0
                },
            ))
        }
        "d5" | "d5-follower" | "d6" | "d6-follower" => {
            let leader_case = !scenario.ends_with("follower");
            let crash = scenario.starts_with("d5");
            let mut r = Run::start(3, false, 1, args, false)?;
            // The writer goes through node 1; make node 2 the leader so the fault hits a
            // node the writer does not talk to directly.
            r.c.make_leader(2)?;
            sleep(Duration::from_secs(3));
            // The transfer was an election of its own: count only those the fault causes.
            r.term0 = r.c.term();
            let victim = if leader_case { 2 } else { 3 };
            let at = r.now();
            if crash {
                r.c.kill(victim);
            } else {
                r.c.net.cable(victim, 1, false)?;
            }
            sleep(Duration::from_secs(6));
            if !crash {
                r.c.net.cable(victim, 1, true)?;
                sleep(Duration::from_secs(2));
            }
            let (desc, goal, galera, limit) = match (crash, leader_case) {
                (true, true) => (
                    "kill -9 of the leader",
                    "writes resume within 1 s (no gap over 1 s from the fault on)",
                    "writes stall 6.5 s (kill -9 of one node)",
                    1000,
                ),
                (true, false) => (
                    "kill -9 of a follower",
                    "no stall (no gap over 300 ms from the fault on)",
                    "writes stall 6.5 s (kill -9 of one node)",
                    300,
                ),
                (false, true) => (
                    "the leader's only cable pulled",
                    "writes resume within 1.5 s (no gap over 1.5 s from the fault on)",
                    "writes stall 6.5 s (one node's cable pulled)",
                    1500,
                ),
                (false, false) => (
                    "a follower's only cable pulled",
                    "no stall (no gap over 300 ms from the fault on)",
                    "writes stall 6.5 s (one node's cable pulled)",
                    300,
                ),
            };
            Ok(r.finish(
                scenario,
                desc,
                false,
                1,
                Some(at),
                serde_json::Map::new(),
                goal,
                galera,
                move |w, _, rep| {
                    // The one write in flight to the leader at the moment of the fault may end
                    // as outcome_unknown (it may or may not have committed); nothing else fails.
                    let window = at + Duration::from_secs(1);
                    let failures_ok = w
                        .iter()
                        .filter(|a| !a.ok)
                        .all(|a| a.code.as_deref() == Some("outcome_unknown") && a.at < window);
                    // Gaps before the fault (moving leadership to node 2 in the set-up) are
                    // not the fault's: CI once failed d6-follower on a 308 ms gap there.
                    let gap = probe::longest_gap_since(w, at).as_millis() as u64;
                    gap <= limit && failures_ok && (leader_case || rep.failed_writes == 0)
                },
            ))
        }
        "d7" => d7(args),
        other => bail!(
            "unknown scenario `{other}`; one of {} or all",
            SCENARIOS.join(", ")
        ),
    }
}

fn d1_witness(args: &DrillArgs, outage: Duration) -> anyhow::Result<Report> {
    let mut r = Run::start(3, true, 1, args, true)?;
    sleep(Duration::from_secs(3));
    // Guarded maintenance of node 3: preflight, leadership away, membership adjusted.
    let l = r.c.leader().context("no leader")?;
    let begin = r.c.http.post(
        &r.c.node(l).http,
        "/v1/maintenance/3/begin",
        json!({"operator": "drill", "yes": true}),
    );
    if begin.get("error").is_some() {
        bail!("maintenance begin: {begin}");
    }
    for _ in 0..10 {
        let l = r.c.leader().context("no leader")?;
        let st = r.c.http.post(
            &r.c.node(l).http,
            "/v1/maintenance/3/ack",
            json!({"operator": "drill"}),
        );
        if st.get("error").is_some() {
            bail!("maintenance ack: {st}");
        }
        if st["ready_for_shutdown"] == true {
            break;
        }
    }
    r.c.stop(3);
    sleep(Duration::from_secs(2));
    let pulled = r.now();
    r.c.net.cable(2, 1, false)?;
    sleep(outage);
    r.c.net.cable(2, 1, true)?;
    sleep(Duration::from_secs(3));
    let mut extra = serde_json::Map::new();
    extra.insert("cable_pulled_at_s".into(), json!(pulled.as_secs_f64()));
    Ok(r.finish(
        "d1",
        "seed outage with a witness: node 3 in guarded maintenance, then node 2's only cable pulled",
        true,
        1,
        None,
        extra,
        "zero failed writes",
        "no writes for the whole outage (Galera has no witness that keeps quorum here)",
        |_, _, rep| rep.failed_writes == 0,
    ))
}

fn d7(args: &DrillArgs) -> anyhow::Result<Report> {
    let mut r = Run::start(3, false, 1, args, false)?;
    let l = r.c.wait_writable(Duration::from_secs(5))?;
    let c = &r.c;
    c.execute(
        l,
        "CREATE TABLE bulk (id INTEGER PRIMARY KEY, payload BLOB)",
        json!([]),
    );
    // Fill ~d7_mb MB in 1 MB transactions (1,000 rows of 1 KB each).
    for i in 0..args.d7_mb {
        let v = c.execute(
            l,
            "INSERT INTO bulk (payload) SELECT randomblob(1000) FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000) SELECT x FROM n)",
            json!([]),
        );
        if v.get("error").is_some() {
            bail!("filling the database (batch {i}): {v}");
        }
    }
    let victim = (1..=3).find(|i| *i != l && *i != 1).unwrap_or(3);
    r.c.kill(victim);
    let _ = std::fs::remove_dir_all(&r.c.node(victim).data_dir);
    sleep(Duration::from_secs(1));
    let target = r.c.status(l)["commit_index"].as_u64().unwrap_or(0);
    let started = Instant::now();
    r.c.spawn(victim)?;
    let mut caught_up = None;
    while started.elapsed() < Duration::from_secs(300) {
        let s = r.c.status(victim);
        if s["applied_index"].as_u64().unwrap_or(0) >= target {
            caught_up = Some(started.elapsed());
            break;
        }
        sleep(Duration::from_millis(100));
    }
    sleep(Duration::from_secs(2));
    let db_bytes = dir_size(&r.c.node(victim).data_dir.join("db"));
    let mut extra = serde_json::Map::new();
    extra.insert("database_mb".into(), json!(args.d7_mb));
    extra.insert(
        "rejoin_ms".into(),
        json!(caught_up.map(|d| d.as_millis() as u64)),
    );
    if let Some(d) = caught_up {
        extra.insert(
            "transfer_mb_per_s".into(),
            json!((db_bytes as f64 / 1e6) / d.as_secs_f64()),
        );
    }
    Ok(r.finish(
        "d7",
        "a wiped node rejoins (its data dir deleted while it was down)",
        false,
        1,
        None,
        extra,
        "automatic; the database transferred while client writes are still served (no failed write)",
        "full state transfer; in 2 of 3 tries it aborted ('IST started with wrong seqno') and needed a manual wipe and restart",
        move |_, _, rep| caught_up.is_some() && rep.failed_writes == 0,
    ))
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            total += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}
