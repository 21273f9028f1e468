//! quorate's robustness harness ("torture"): a real cluster in network namespaces, clients
//! generating traffic through every node, a nemesis injecting faults from a seeded
//! schedule, every operation recorded, and checkers that can say no.
//!
//! A run: build the network and the cluster (one node's data directory on a small
//! filesystem), create the schema (through MySQL), start `clients_per_node` clients per
//! node (speaking HTTP, MySQL or, by default, half of each), inject
//! faults until the duration is over, stop the clients, heal everything, wait until every
//! replica has applied the same index with nothing speculative in flight, compare the
//! replicas' checksums, read the final state, then run the checkers over the history.
//! docs/VERIFICATION.md explains what is checked and what was found.

pub mod check;
pub mod client;
pub mod cluster;
pub mod disk;
pub mod history;
pub mod interrupt;
pub mod mysql;
pub mod nemesis;
pub mod netns;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use check::{CheckConfig, Verdict};
use client::{HttpClient, Protocol, Protocols, SqlClient};
use cluster::{ClusterSpec, DrillCluster};
use history::Recorder;
use mysql::{MysqlClient, MysqlTarget};
use nemesis::{Fault, Schedule, Step, Timing};
use workload::{Shared, Worker, Workload};

/// How long a node whose disk was full may take to catch up once it has space again.
const DISK_RECOVERY: Duration = Duration::from_secs(15);

/// How long creating the schema may take (retried while the new cluster settles).
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(30);

/// How much longer than asked a run may inject faults to cover every enabled kind once.
const COVERAGE_GRACE: Duration = Duration::from_secs(90);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    /// 3 or 5.
    pub nodes: usize,
    /// Network paths per node (2 lets `pull-path` pull one and leave the other).
    pub paths: usize,
    pub clients_per_node: usize,
    /// The protocols the clients speak.
    pub protocols: Protocols,
    /// The account clients use: MySQL logs in with it, HTTP sends it as basic
    /// authentication. The cluster's first administrator is configured with it.
    pub user: String,
    pub password: String,
    pub workloads: Vec<Workload>,
    pub nemesis: Vec<Fault>,
    pub seed: u64,
    /// Keep the directory (logs, data, history) even when the run passes.
    pub keep: bool,
    /// The `quorate` binary (default: this executable).
    pub exe: Option<PathBuf>,
    /// Parent of the run directory (default: the temp dir).
    pub dir: Option<PathBuf>,
    /// Mean pause between two operations of one client.
    pub op_delay: Duration,
    /// A client request without an answer after this long is unknown (`info`).
    pub client_timeout: Duration,
    pub timing: Timing,
    /// Size of the small filesystem of the disk-full node.
    pub disk_mb: u64,
    /// How long the cluster may take to converge after healing.
    pub converge_timeout: Duration,
    pub check: CheckConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(120),
            nodes: 3,
            paths: 2,
            clients_per_node: 3,
            protocols: Protocols::Mixed,
            user: cluster::ADMIN_USER.into(),
            password: cluster::ADMIN_PASSWORD.into(),
            workloads: Workload::ALL.to_vec(),
            nemesis: Fault::ALL.to_vec(),
            seed: 1,
            keep: false,
            exe: None,
            dir: None,
            op_delay: Duration::from_millis(20),
            client_timeout: Duration::from_secs(10),
            timing: Timing::default(),
            disk_mb: 256,
            converge_timeout: Duration::from_secs(120),
            check: CheckConfig::default(),
        }
    }
}

/// What a run found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub seed: u64,
    pub passed: bool,
    pub duration_s: f64,
    pub operations: usize,
    pub verdicts: Vec<Verdict>,
    /// Problems outside the checkers: replicas that differ or never converged, nodes that
    /// exited by themselves.
    pub problems: Vec<String>,
    /// Nodes that exited by themselves where that is allowed (a full disk).
    pub notes: Vec<String>,
    /// What the nemesis did, in order.
    pub faults: Vec<String>,
    /// Fault kinds that ran at least once.
    pub faults_covered: Vec<String>,
    /// (node, applied index, checksum) after convergence.
    pub replicas: Vec<(usize, u64, String)>,
    pub dir: PathBuf,
    pub kept: bool,
}

/// Why this machine cannot run the harness, if it cannot.
pub fn unavailable() -> Option<String> {
    netns::unavailable()
}

/// Where a client connects and how.
#[derive(Clone)]
struct ClientSpec {
    node: usize,
    protocol: Protocol,
    http: String,
    mysql: String,
    user: String,
    password: String,
    timeout: Duration,
}

impl ClientSpec {
    fn new(c: &DrillCluster, opts: &Options, node: usize, protocol: Protocol) -> ClientSpec {
        ClientSpec {
            node,
            protocol,
            http: c.node(node).http.clone(),
            mysql: c.node(node).mysql.clone(),
            user: opts.user.clone(),
            password: opts.password.clone(),
            timeout: opts.client_timeout,
        }
    }

    /// The client (MySQL clients connect to the workloads' database).
    fn connect(&self) -> anyhow::Result<Box<dyn SqlClient>> {
        Ok(match self.protocol {
            Protocol::Http => Box::new(HttpClient::new(
                self.node,
                &self.http,
                self.timeout,
                &self.user,
                &self.password,
            )),
            Protocol::Mysql => Box::new(
                MysqlClient::new(
                    self.node,
                    &self.mysql_target(Some(workload::DATABASE.into())),
                    self.timeout,
                )
                .context("a MySQL client")?,
            ),
        })
    }

    fn mysql_target(&self, database: Option<String>) -> MysqlTarget {
        MysqlTarget {
            addr: self.mysql.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            database,
        }
    }
}

/// Runs `f` on a thread inside the client network namespace.
fn in_client_ns<T: Send + 'static>(
    ns_path: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<anyhow::Result<T>> {
    std::thread::spawn(move || {
        cluster::enter(&ns_path)?;
        Ok(f())
    })
}

struct Run {
    opts: Options,
    start: Instant,
    recorder: Arc<Recorder>,
    faults: Vec<String>,
    covered: Vec<Fault>,
    problems: Vec<String>,
    notes: Vec<String>,
    disk_node: Option<usize>,
    /// The node whose disk was filled, until it is next started: it may exit by itself
    /// at its next log write, which can come after the space is freed.
    met_full_disk: Option<usize>,
}

impl Run {
    fn log(&mut self, what: String) {
        let line = format!("{:>8.1}s  {what}", self.start.elapsed().as_secs_f64());
        println!("nemesis {line}");
        self.recorder.nemesis(what);
        self.faults.push(line);
    }

    /// Restarts every node that is not running; notes the ones that exited by themselves.
    fn reap(&mut self, c: &mut DrillCluster, allowed: Option<usize>) {
        for (id, status) in c.reap_exited() {
            let msg = format!(
                "n{id} exited by itself ({status}) at {:.1} s; see {}",
                self.start.elapsed().as_secs_f64(),
                c.node(id).log.display()
            );
            if Some(id) == allowed || Some(id) == self.met_full_disk {
                self.notes.push(format!("{msg} (its disk was full)"));
            } else {
                self.problems.push(msg.clone());
            }
            self.log(msg);
        }
    }

    fn restart_all(&mut self, c: &mut DrillCluster, allowed: Option<usize>) {
        self.reap(c, allowed);
        for id in 1..=self.opts.nodes {
            if c.node(id).child.is_none() {
                match c.spawn(id) {
                    Ok(()) => {
                        if self.met_full_disk == Some(id) {
                            self.met_full_disk = None;
                        }
                        self.log(format!("n{id} restarted"))
                    }
                    Err(e) => self.problems.push(format!("restarting n{id}: {e:#}")),
                }
            }
        }
    }

    fn leader_or(&self, c: &DrillCluster, fallback: usize) -> (usize, &'static str) {
        match c.leader() {
            Some(l) => (l, "leader"),
            None => (fallback, "no leader; instead"),
        }
    }

    /// Waits until every node (or just `only`) runs and has applied the leader's commit
    /// index.
    fn caught_up(&self, c: &DrillCluster, timeout: Duration, only: Option<usize>) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = c.leader() {
                let commit = c.status(l)["commit_index"].as_u64().unwrap_or(u64::MAX);
                let all = (1..=self.opts.nodes)
                    .filter(|i| only.is_none_or(|o| o == *i))
                    .all(|i| {
                        c.node(i).child.is_some()
                            && !c.node(i).paused
                            && c.status(i)["applied_index"].as_u64().unwrap_or(0) >= commit
                    });
                if all {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Injects `step`, holds it, heals it.
    fn step(
        &mut self,
        c: &mut DrillCluster,
        disk: Option<&disk::SmallDisk>,
        step: &Step,
    ) -> anyhow::Result<()> {
        let n = self.opts.nodes;
        let name = step.fault.name();
        let hold_until = |s: &Step| Instant::now() + s.hold;
        match step.fault {
            Fault::Kill | Fault::KillLeader => {
                let (victim, who) = if step.fault == Fault::KillLeader {
                    self.leader_or(c, step.node)
                } else {
                    (step.node, "node")
                };
                self.log(format!("{name}: kill -9 {who} n{victim}"));
                c.kill(victim);
                self.hold(c, hold_until(step), None);
                self.restart_all(c, None);
            }
            Fault::KillMajority | Fault::KillAll => {
                let (first, _) = self.leader_or(c, step.node);
                let mut victims = vec![first];
                let want = if step.fault == Fault::KillAll {
                    n
                } else {
                    n / 2 + 1
                };
                let mut k = step.other;
                while victims.len() < want {
                    if !victims.contains(&k) {
                        victims.push(k);
                    }
                    k = k % n + 1;
                }
                self.log(format!(
                    "{name}: kill -9 {} ({} ms apart; n{first} led)",
                    victims
                        .iter()
                        .map(|v| format!("n{v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    step.kill_spacing.as_millis()
                ));
                for (i, v) in victims.iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(step.kill_spacing);
                    }
                    c.kill(*v);
                }
                self.hold(c, hold_until(step), None);
                self.restart_all(c, None);
            }
            Fault::Pause | Fault::PauseLeader => {
                let (victim, who) = if step.fault == Fault::PauseLeader {
                    self.leader_or(c, step.node)
                } else {
                    (step.node, "node")
                };
                self.log(format!("{name}: SIGSTOP {who} n{victim}"));
                c.pause(victim, true);
                self.hold(c, hold_until(step), None);
                c.pause(victim, false);
                self.log(format!("{name}: SIGCONT n{victim}"));
            }
            Fault::Partition | Fault::PartitionLeader | Fault::Bridge => {
                let groups = match step.fault {
                    Fault::Partition => nemesis::split(n, &nemesis::minority_with(n, step.node)),
                    Fault::PartitionLeader => {
                        let (l, _) = self.leader_or(c, step.node);
                        nemesis::split(n, &[l])
                    }
                    _ => nemesis::bridge(n, step.node),
                };
                let what = match step.fault {
                    Fault::Bridge => format!("bridge n{} between", step.node),
                    _ => "groups".into(),
                };
                self.log(format!("{name}: {what} {groups:?}"));
                c.net.partition(&groups)?;
                self.hold(c, hold_until(step), None);
                c.net.heal()?;
                self.log(format!("{name}: healed"));
            }
            Fault::PullPath => {
                let paths: Vec<usize> = if step.both_paths || self.opts.paths == 1 {
                    (1..=self.opts.paths).collect()
                } else {
                    vec![step.path]
                };
                self.log(format!(
                    "{name}: pull n{}'s cable(s) to switch(es) {paths:?} of {}",
                    step.node, self.opts.paths
                ));
                for p in &paths {
                    c.net.cable(step.node, *p, false)?;
                }
                self.hold(c, hold_until(step), None);
                for p in &paths {
                    c.net.cable(step.node, *p, true)?;
                }
                self.log(format!("{name}: cables plugged back"));
            }
            Fault::Wipe => {
                if !self.caught_up(c, Duration::from_secs(20), None) {
                    self.log(format!(
                        "{name}: skipped: not every node is up and caught up, wiping one could lose the only copy"
                    ));
                    return Ok(());
                }
                self.log(format!("{name}: kill -9 n{}, delete its data", step.node));
                c.kill(step.node);
                c.wipe(step.node)?;
                self.hold(c, hold_until(step), None);
                self.restart_all(c, None);
            }
            Fault::DiskFull => {
                let (Some(d), Some(node)) = (disk, self.disk_node) else {
                    self.log(format!("{name}: skipped: no small disk"));
                    return Ok(());
                };
                let taken = d.fill()?;
                self.met_full_disk = Some(node);
                self.log(format!(
                    "{name}: n{node}'s disk ({}) full ({} MB taken)",
                    d.kind,
                    taken >> 20
                ));
                self.hold(c, hold_until(step), Some(node));
                d.free();
                self.log(format!("{name}: space freed"));
                self.restart_all(c, Some(node));
                // A node is expected to serve again once it has space: by itself, or by
                // exiting so that its supervisor restarts it. One that stays up but stuck
                // is noted (and restarted, as an operator would, so the run goes on).
                if !self.caught_up(c, DISK_RECOVERY, Some(node)) {
                    let msg = format!(
                        "n{node} did not catch up within {DISK_RECOVERY:?} after its disk had space again, and did not exit; restarted it (see its log for the storage error)"
                    );
                    self.notes.push(msg.clone());
                    self.log(format!("{name}: {msg}"));
                    c.kill(node);
                    self.restart_all(c, Some(node));
                } else {
                    // Caught up: it wrote to its log again, so a later exit is not this one.
                    self.met_full_disk = None;
                }
            }
        }
        if !self.covered.contains(&step.fault) {
            self.covered.push(step.fault);
        }
        Ok(())
    }

    /// Sleeps until `until`, noticing nodes that exit by themselves meanwhile.
    fn hold(&mut self, c: &mut DrillCluster, until: Instant, allowed: Option<usize>) {
        while Instant::now() < until {
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
            self.reap(c, allowed);
        }
    }
}

/// Runs the harness. `Err` means the harness itself could not run (no root, no `ip`...);
/// a run that found problems returns a report with `passed == false`.
pub fn run(opts: Options) -> anyhow::Result<Report> {
    if let Some(why) = unavailable() {
        bail!("{why}");
    }
    if opts.nodes < 3 {
        bail!("at least 3 nodes");
    }
    if opts.workloads.is_empty() {
        bail!("no workload");
    }
    let parent = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    // A new directory every run, never one left by an earlier run (a reused process id
    // once put a run's nodes on an old run's data).
    let dir = tempfile::Builder::new()
        .prefix(&format!("quorate-torture-{}-", opts.seed))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?
        .keep();
    if !opts.keep {
        interrupt::register_dir(&dir);
    }
    println!(
        "torture: seed {} | {} nodes, {} path(s) each | {} clients per node over {} | workloads {} | nemesis {} | {} s | dir {}",
        opts.seed,
        opts.nodes,
        opts.paths,
        opts.clients_per_node,
        opts.protocols.name(),
        opts.workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(","),
        if opts.nemesis.is_empty() {
            "none".to_string()
        } else {
            opts.nemesis
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(",")
        },
        opts.duration.as_secs(),
        dir.display()
    );
    // The small disk outlives the cluster (declared first, dropped last).
    let disk_node = 1 + (opts.seed % opts.nodes as u64) as usize;
    let disk = if opts.nemesis.contains(&Fault::DiskFull) {
        Some(disk::SmallDisk::create(&dir.join("disk"), opts.disk_mb)?)
    } else {
        None
    };
    let mut spec = ClusterSpec::new(opts.nodes, false, opts.paths, opts.keep);
    spec.exe = opts.exe.clone();
    spec.dir = Some(dir.clone());
    if let Some(d) = &disk {
        spec.data_dirs
            .push((disk_node, d.mount.join(format!("n{disk_node}"))));
    }
    // Small snapshot thresholds, so snapshots, log purging and catch-up by snapshot happen
    // within a short run.
    spec.extra_config = "[snapshot]\nlogs_since_last = 1000\nkeep_logs = 200\n".into();
    spec.log_filter = Some("info,openraft=warn".into());
    spec.admin_user = opts.user.clone();
    spec.admin_password = opts.password.clone();
    let mut c = DrillCluster::create(spec)?;
    let mut run = Run {
        opts: opts.clone(),
        start: Instant::now(),
        recorder: Arc::new(Recorder::new(Instant::now())),
        faults: Vec::new(),
        covered: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        disk_node: disk.as_ref().map(|_| disk_node),
        met_full_disk: None,
    };
    let result = drive(&mut run, &mut c, disk.as_ref());
    let passed = match &result {
        Ok(r) => r.passed,
        Err(_) => false,
    };
    if !passed || opts.keep {
        c.keep_dir();
    }
    drop(c);
    drop(disk);
    if passed && !opts.keep {
        // The cluster removed what it could while the small disk was still mounted inside
        // the directory; the rest goes now that it is not.
        let _ = std::fs::remove_dir_all(&dir);
    }
    interrupt::unregister_dir(&dir);
    let mut report = result?;
    report.kept = !passed || opts.keep;
    Ok(report)
}

fn drive(
    run: &mut Run,
    c: &mut DrillCluster,
    disk: Option<&disk::SmallDisk>,
) -> anyhow::Result<Report> {
    let opts = run.opts.clone();
    let leader = c.wait_writable(Duration::from_secs(60))?;
    let ns = c.net.ns_path(netns::CLIENT);
    // The schema, through MySQL (its database is what MySQL clients see; the HTTP API sees
    // the same tables under their SQLite names).
    let admin = ClientSpec::new(c, &opts, leader, Protocol::Mysql);
    in_client_ns(ns.clone(), move || -> anyhow::Result<()> {
        let mut m = MysqlClient::new(leader, &admin.mysql_target(None), admin.timeout)?;
        m.setup(&workload::schema(), SCHEMA_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("creating the schema through MySQL on n{leader}: {e}"))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the schema thread panicked"))?
    .and_then(|created| created)?;
    // Every node must have applied the schema and the accounts before the workload starts:
    // a stale read is served from its node's own state, and the bank checker requires
    // every read to show all accounts.
    wait_applied_everywhere(c, opts.nodes, SCHEMA_TIMEOUT)?;
    run.start = Instant::now();
    run.recorder = Arc::new(Recorder::new(run.start));
    let shared = Arc::new(Shared::new(
        run.recorder.clone(),
        opts.workloads.clone(),
        opts.op_delay,
    ));
    let mut workers = Vec::new();
    for node in 1..=opts.nodes {
        for k in 0..opts.clients_per_node {
            let shared = shared.clone();
            let spec = ClientSpec::new(c, &opts, node, opts.protocols.for_client(node, k));
            let seed = opts
                .seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add((node * 100 + k) as u64);
            workers.push(in_client_ns(ns.clone(), move || -> anyhow::Result<()> {
                Worker::new(shared, spec.connect()?, seed).run();
                Ok(())
            }));
        }
    }
    // The nemesis, on this thread.
    let deadline = run.start + opts.duration;
    let mut schedule = Schedule::new(
        opts.seed,
        &opts.nemesis,
        opts.nodes,
        opts.paths,
        opts.timing.clone(),
    );
    let mut nemesis_error = None;
    // Let traffic run a moment before the first fault.
    run.hold(
        c,
        (Instant::now() + Duration::from_secs(2)).min(deadline),
        None,
    );
    // Past the duration, faults go on (at most COVERAGE_GRACE longer) until every enabled
    // kind ran once, so a short run covers them all.
    let covered_all = |run: &Run| opts.nemesis.iter().all(|f| run.covered.contains(f));
    loop {
        let now = Instant::now();
        let in_grace = !covered_all(run) && now < deadline + COVERAGE_GRACE;
        if now >= deadline && !in_grace {
            break;
        }
        let Some(step) = schedule.next() else {
            run.hold(c, deadline, None);
            break;
        };
        if now + step.hold > deadline && !in_grace {
            run.hold(c, deadline, None);
            break;
        }
        if let Err(e) = run.step(c, disk, &step) {
            nemesis_error = Some(format!("nemesis step {}: {e:#}", step.fault.name()));
            break;
        }
        let gap_end = if in_grace {
            Instant::now() + step.gap
        } else {
            (Instant::now() + step.gap).min(deadline)
        };
        run.hold(c, gap_end, None);
    }
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // Heal everything.
    run.log("end of faults: healing everything".into());
    let _ = c.net.heal();
    for i in 1..=opts.nodes {
        for p in 1..=opts.paths {
            let _ = c.net.cable(i, p, true);
        }
        if c.node(i).paused {
            c.pause(i, false);
        }
    }
    if let Some(d) = disk {
        d.free();
    }
    run.restart_all(c, run.disk_node);
    for w in workers {
        match w.join() {
            Ok(Ok(Ok(()))) => {}
            Ok(Err(e)) | Ok(Ok(Err(e))) => run
                .problems
                .push(format!("a client could not start: {e:#}")),
            Err(_) => run.problems.push("a client thread panicked".into()),
        }
    }
    if let Some(e) = nemesis_error {
        run.problems.push(e);
    }
    let traffic_s = run.start.elapsed().as_secs_f64();
    // Convergence and replica checksums.
    let replicas = converge(run, c)?;
    // Final reads, recorded in the history like any other operation, through every
    // protocol in use.
    let leader = c.wait_writable(Duration::from_secs(30)).unwrap_or(1);
    for protocol in [Protocol::Http, Protocol::Mysql] {
        if !opts.protocols.uses(protocol) {
            continue;
        }
        let final_shared = shared.clone();
        let spec = ClientSpec::new(c, &opts, leader, protocol);
        let workloads = opts.workloads.clone();
        let finals = in_client_ns(ns.clone(), move || -> anyhow::Result<()> {
            let mut w = Worker::new(final_shared, spec.connect()?, 0);
            for _ in 0..3 {
                if workloads.contains(&Workload::Set) {
                    w.set_read(0);
                }
                if workloads.contains(&Workload::Bank) {
                    w.bank_read(client::Consistency::Linearizable);
                }
            }
            Ok(())
        });
        match finals.join() {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) | Ok(Err(e)) => run.problems.push(format!(
                "the final reads over {} could not run: {e:#}",
                protocol.name()
            )),
            Err(_) => run
                .problems
                .push(format!("the final reads over {} panicked", protocol.name())),
        }
    }
    let history = run.recorder.snapshot();
    let hist_path = c.dir.join("history.jsonl");
    history::write_jsonl(&history, &hist_path)?;
    println!(
        "torture: {} events recorded in {:.0} s; checking (history in {})",
        history.len(),
        traffic_s,
        hist_path.display()
    );
    let verdicts = check::check_all(&history, &opts.check);
    let missing: Vec<&str> = opts
        .nemesis
        .iter()
        .filter(|f| !run.covered.contains(f))
        .map(|f| f.name())
        .collect();
    if !missing.is_empty() {
        run.notes.push(format!(
            "fault kinds that did not run (the duration was too short or they were skipped): {}",
            missing.join(", ")
        ));
    }
    let passed = run.problems.is_empty() && verdicts.iter().all(|v| v.valid());
    Ok(Report {
        seed: opts.seed,
        passed,
        duration_s: traffic_s,
        operations: history::operations(&history).len(),
        verdicts,
        problems: run.problems.clone(),
        notes: run.notes.clone(),
        faults: run.faults.clone(),
        faults_covered: run.covered.iter().map(|f| f.name().to_string()).collect(),
        replicas,
        dir: c.dir.clone(),
        kept: false,
    })
}

/// Waits until every replica has applied the same index with nothing speculative in flight,
/// then compares their checksums (a difference is a problem).
/// Waits until every node has applied the same log index with nothing speculative in
/// flight (before any fault, so every node is up).
fn wait_applied_everywhere(c: &DrillCluster, nodes: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let applied: Vec<Option<(u64, u64)>> = (1..=nodes)
            .map(|i| {
                let v = c.http.get(&c.node(i).http, "/v1/checksum");
                Some((
                    v["applied_index"].as_u64()?,
                    v["speculative_in_flight"].as_u64()?,
                ))
            })
            .collect();
        let first = applied[0];
        if first.is_some_and(|(_, spec)| spec == 0) && applied.iter().all(|a| *a == first) {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the schema was not applied on every node within {within:?}: {applied:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn converge(run: &mut Run, c: &mut DrillCluster) -> anyhow::Result<Vec<(usize, u64, String)>> {
    let opts = run.opts.clone();
    if c.wait_writable(Duration::from_secs(60)).is_err() {
        run.problems.push(format!(
            "no writable leader within 60 s after healing; logs in {}",
            c.dir.display()
        ));
    }
    let deadline = Instant::now() + opts.converge_timeout;
    loop {
        let mut sums = Vec::new();
        for i in 1..=opts.nodes {
            let v = c.http.get(&c.node(i).http, "/v1/checksum");
            if let (Some(idx), Some(spec), Some(sha)) = (
                v["applied_index"].as_u64(),
                v["speculative_in_flight"].as_u64(),
                v["sha256"].as_str(),
            ) {
                sums.push((i, idx, spec, sha.to_string()));
            }
        }
        let same_index = sums.len() == opts.nodes
            && sums.windows(2).all(|w| w[0].1 == w[1].1)
            && sums.iter().all(|s| s.2 == 0);
        if same_index {
            if !sums.windows(2).all(|w| w[0].3 == w[1].3) {
                run.problems.push(format!(
                    "replicas differ at applied index {}: {}",
                    sums[0].1,
                    sums.iter()
                        .map(|s| format!("n{}={}", s.0, &s.3[..16.min(s.3.len())]))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            return Ok(sums.into_iter().map(|s| (s.0, s.1, s.3)).collect());
        }
        if Instant::now() > deadline {
            run.problems.push(format!(
                "replicas did not converge within {:?}: {}",
                opts.converge_timeout,
                sums.iter()
                    .map(|s| format!("n{} applied {} speculative {}", s.0, s.1, s.2))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok(sums.into_iter().map(|s| (s.0, s.1, s.3)).collect());
        }
        run.reap(c, None);
        for i in 1..=opts.nodes {
            if c.node(i).child.is_none() {
                let _ = c.spawn(i);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Prints a report for a human: verdicts, problems, and on failure the seed, the windows
/// of history and where the logs are.
pub fn print_report(r: &Report) {
    println!();
    println!(
        "== torture seed {}: {}",
        r.seed,
        if r.passed { "PASSED" } else { "FAILED" }
    );
    println!(
        "   {} operations in {:.0} s; faults covered: {}",
        r.operations,
        r.duration_s,
        r.faults_covered.join(", ")
    );
    for (n, idx, sha) in &r.replicas {
        println!(
            "   replica n{n}: applied {idx}, checksum {}",
            &sha[..16.min(sha.len())]
        );
    }
    for v in &r.verdicts {
        println!(
            "   {:<24} {} ({} operations; {})",
            v.checker,
            if v.valid() { "valid" } else { "INVALID" },
            v.checked,
            v.notes.join("; ")
        );
        for u in &v.unknown {
            println!("      undecided: {u}");
        }
        for a in &v.anomalies {
            println!("      ANOMALY: {}", a.summary);
            for l in &a.window {
                println!("         {l}");
            }
        }
    }
    for p in &r.problems {
        println!("   PROBLEM: {p}");
    }
    for n in &r.notes {
        println!("   note: {n}");
    }
    if !r.passed {
        println!(
            "   replay the fault schedule with --seed {}; logs, configs and history.jsonl kept in {}",
            r.seed,
            r.dir.display()
        );
    } else if r.kept {
        println!("   kept in {}", r.dir.display());
    }
}
