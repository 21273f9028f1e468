//! Test harness: a cluster of real `quorate start` processes on loopback.
//!
//! Every node gets free ports and its own data dir under a temporary directory; processes
//! are killed when the cluster is dropped. Helpers talk to the nodes over the HTTP API.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_quorate");

/// A loopback port that was free a moment ago and that this test process has not handed
/// out before. The port is released before the node binds it, so the kernel may offer the
/// same number again to the next `bind(0)`: without the record, two nodes of one cluster
/// were once given the same port (CI: "Address already in use" for n2's HTTP, which was
/// n1's MySQL port).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// The administrator every test node is configured with (`[mysql]`): the HTTP API and
/// MySQL both need credentials.
pub const ADMIN_USER: &str = "root";
pub const ADMIN_PASSWORD: &str = "test-admin-pw";

/// The Authorization header value for `user` / `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// An HTTP agent that logs in as `user` / `password`.
pub fn agent_as(user: &str, password: &str, timeout: Duration) -> ureq::Agent {
    agent_with(user, password, timeout, None)
}

/// An HTTP agent that logs in as `user` / `password` and, for HTTPS, trusts `tls`.
pub fn agent_with(
    user: &str,
    password: &str,
    timeout: Duration,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
) -> ureq::Agent {
    let header = basic_auth(user, password);
    let mut b = ureq::AgentBuilder::new()
        .timeout(timeout)
        .middleware(AuthHeader(header));
    if let Some(t) = tls {
        b = b.tls_config(t.clone());
    }
    b.build()
}

/// An HTTP agent that logs in as the administrator.
/// POSTs `body` as JSON to `url`: the answer's status and text, whatever the status (an
/// error status is an answer too). Panics only when no answer came.
pub fn post_json(agent: &ureq::Agent, url: &str, body: Value) -> (u16, String) {
    match agent.post(url).send_json(body) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{url}: {e}"),
    }
}

pub fn agent(timeout: Duration) -> ureq::Agent {
    agent_as(ADMIN_USER, ADMIN_PASSWORD, timeout)
}

#[derive(Clone, Debug)]
pub struct Opts {
    pub nodes: u64,
    pub logs_since_last: u64,
    pub keep_logs: u64,
    /// Extra TOML appended to every node's config.
    pub extra: String,
    /// Extra TOML lines inside every node's `[tls]` section.
    pub tls_extra: String,
    /// The nodes serve HTTPS (`[tls] http = true`); the harness trusts the test CA.
    pub https: bool,
    /// `[mysql] default_auth_plugin`, `None` to leave it unset (then the nodes, whose MySQL
    /// port offers TLS, store caching_sha2_password hashes). Most tests use
    /// mysql_native_password: their clients (sysbench, PyMySQL, the Rust driver) connect in
    /// plaintext to nodes that restart, and caching_sha2's first login per node needs TLS.
    pub auth_plugin: Option<&'static str>,
    /// Extra TOML lines inside every node's `[mysql]` section.
    pub mysql_extra: String,
    /// The last node is a witness (a vote without data); the others form the cluster.
    pub witness: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            nodes: 3,
            logs_since_last: 20_000,
            keep_logs: 2_000,
            extra: String::new(),
            tls_extra: String::new(),
            https: false,
            auth_plugin: Some("mysql_native_password"),
            mysql_extra: String::new(),
            witness: false,
        }
    }
}

pub struct TestNode {
    pub id: u64,
    pub http: String,
    pub mysql: String,
    pub peer: String,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub child: Option<Child>,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<TestNode>,
    pub agent: ureq::Agent,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The client TLS configuration trusting the test CA (HTTPS clusters).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Cluster {
    /// Starts `opts.nodes` nodes with --bootstrap-expect and waits until one serves writes.
    pub fn start(opts: Opts) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // Mutual TLS between peers, as in production and in `quorate demo`.
        let certs = quorate_tls::CertDir::new(&dir.path().join("certs"));
        certs.init_ca("test").unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "test-secret-0123456789abcdef").unwrap();
        let ports: Vec<(u16, u16, u16)> = (0..opts.nodes)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut nodes = Vec::new();
        for (i, (http, mysql, peer)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let peers: String = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, p)| {
                    format!(
                        "[[peers]]\nid = {}\naddrs = [\"127.0.0.1:{}\"]\n",
                        j + 1,
                        p.2
                    )
                })
                .collect();
            let data_dir = dir.path().join(format!("n{id}"));
            certs
                .issue_node(id, &["127.0.0.1".into(), "localhost".into()])
                .unwrap();
            let tls = format!(
                "[tls]\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\nhttp = {}\n{}\n",
                certs.ca_cert().display().to_string(),
                certs.node_cert(id).display().to_string(),
                certs.node_key(id).display().to_string(),
                opts.https,
                opts.tls_extra,
            );
            let witness = opts.witness && id == opts.nodes;
            let config = format!(
                "node_id = {id}\nrole = \"{}\"\ndata_dir = {:?}\npeer_addrs = [\"127.0.0.1:{peer}\"]\nhttp_addr = \"127.0.0.1:{http}\"\nmysql_addr = \"127.0.0.1:{mysql}\"\n\
                 cluster_secret_file = {:?}\n{}\n{}\n[snapshot]\nlogs_since_last = {}\nkeep_logs = {}\n\n\
                 [mysql]\nadmin_user = \"{ADMIN_USER}\"\nadmin_password = \"{ADMIN_PASSWORD}\"\n{}\n{tls}\n{peers}",
                if witness { "witness" } else { "voter" },
                data_dir.display().to_string(),
                secret.display().to_string(),
                // A witness joins the cluster that the voters form.
                if witness {
                    String::new()
                } else {
                    format!("bootstrap_expect = {}", opts.nodes)
                },
                opts.extra,
                opts.logs_since_last,
                opts.keep_logs,
                opts.auth_plugin
                    .map(|p| format!("default_auth_plugin = \"{p}\"\n"))
                    .unwrap_or_default()
                    + &opts.mysql_extra,
            );
            let config_path = dir.path().join(format!("n{id}.toml"));
            std::fs::write(&config_path, config).unwrap();
            nodes.push(TestNode {
                id,
                http: format!("127.0.0.1:{http}"),
                mysql: format!("127.0.0.1:{mysql}"),
                peer: format!("127.0.0.1:{peer}"),
                config: config_path,
                data_dir,
                log: dir.path().join(format!("n{id}.log")),
                child: None,
            });
        }
        let tls = opts
            .https
            .then(|| quorate_tls::client_trusting(&certs.ca_cert()).unwrap());
        let agent = agent_with(
            ADMIN_USER,
            ADMIN_PASSWORD,
            Duration::from_secs(15),
            tls.as_ref(),
        );
        let scheme = if opts.https { "https" } else { "http" };
        let mut c = Cluster {
            dir,
            nodes,
            agent,
            scheme,
            tls,
        };
        for id in 1..=opts.nodes {
            c.spawn(id);
        }
        c.wait_writable(Duration::from_secs(30));
        c
    }

    /// The URL of `path` on node `id`'s HTTP API.
    pub fn url(&self, id: u64, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.node(id).http)
    }

    pub fn node(&self, id: u64) -> &TestNode {
        &self.nodes[(id - 1) as usize]
    }

    /// Starts (or restarts) node `id`.
    pub fn spawn(&mut self, id: u64) {
        let n = &mut self.nodes[(id - 1) as usize];
        assert!(n.child.is_none(), "n{id} already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["start", "--config"])
            .arg(&n.config)
            .env("QUORATE_LOG", "info,openraft=warn,raft_log=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn quorate");
        n.child = Some(child);
    }

    /// kill -9.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.nodes[(id - 1) as usize].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP / SIGCONT (a frozen, "grey" node).
    pub fn pause(&self, id: u64, paused: bool) {
        if let Some(c) = &self.node(id).child {
            let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
    }

    /// Removes a (stopped) node's data directory.
    pub fn wipe(&self, id: u64) {
        let d = &self.node(id).data_dir;
        assert!(self.node(id).child.is_none(), "stop n{id} before wiping it");
        let _ = std::fs::remove_dir_all(d);
    }

    pub fn status(&self, id: u64) -> Option<Value> {
        let a = agent_with(
            ADMIN_USER,
            ADMIN_PASSWORD,
            Duration::from_millis(800),
            self.tls.as_ref(),
        );
        a.get(&self.url(id, "/v1/status"))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    /// The node every running node agrees is leader, if any.
    pub fn leader(&self) -> Option<u64> {
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            if n.child.is_none() {
                continue;
            }
            if let Some(s) = self.status(n.id)
                && s["state"] == "leader"
                && s["writable"] == true
            {
                seen.insert(n.id);
            }
        }
        if seen.len() == 1 {
            seen.into_iter().next()
        } else {
            None
        }
    }

    pub fn wait_writable(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.leader() {
                return l;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.dump_logs();
        panic!("no writable leader within {timeout:?}");
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }

    pub fn execute(&self, id: u64, sql: &str, params: Value) -> Result<Value, Value> {
        self.post(
            id,
            "/v1/execute",
            &json!({"statements": [{"sql": sql, "params": params}]}),
        )
    }

    pub fn query(&self, id: u64, sql: &str, consistency: &str) -> Result<Value, Value> {
        self.post(
            id,
            "/v1/query",
            &json!({"sql": sql, "consistency": consistency, "max_staleness_ms": 5000}),
        )
    }

    pub fn post(&self, id: u64, path: &str, body: &Value) -> Result<Value, Value> {
        match self.agent.post(&self.url(id, path)).send_json(body.clone()) {
            Ok(r) => Ok(r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(code, r)) => {
                let mut v: Value = r.into_json().unwrap_or(Value::Null);
                v["http_status"] = json!(code);
                Err(v)
            }
            Err(e) => Err(json!({"transport": e.to_string()})),
        }
    }

    /// Integer from a one-row, one-column answer.
    pub fn scalar(&self, id: u64, sql: &str) -> i64 {
        let r = self
            .query(id, sql, "linearizable")
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        r["rows"][0][0].as_i64().unwrap()
    }

    /// Waits until every running data node has applied the same index with nothing in
    /// flight, then returns their checksums.
    pub fn converged_checksums(&self, timeout: Duration) -> Vec<(u64, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut sums = Vec::new();
            for id in self.running() {
                let r = self.agent.get(&self.url(id, "/v1/checksum")).call();
                if let Ok(r) = r {
                    let v: Value = r.into_json().unwrap();
                    sums.push((
                        id,
                        v["applied_index"].as_u64().unwrap(),
                        v["speculative_in_flight"].as_u64().unwrap(),
                        v["sha256"].as_str().unwrap().to_string(),
                    ));
                }
            }
            let same = sums.len() == self.running().len()
                && sums.windows(2).all(|w| w[0].1 == w[1].1)
                && sums.iter().all(|s| s.2 == 0);
            if same {
                return sums.into_iter().map(|s| (s.0, s.3)).collect();
            }
            if Instant::now() > deadline {
                self.dump_logs();
                panic!(
                    "replicas did not converge: {:?}",
                    sums.iter().map(|s| (s.0, s.1, s.2)).collect::<Vec<_>>()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn assert_identical(&self, timeout: Duration) {
        let sums = self.converged_checksums(timeout);
        let first = &sums[0].1;
        assert!(
            sums.iter().all(|(_, s)| s == first),
            "replicas differ: {sums:?}"
        );
    }

    pub fn dump_logs(&self) {
        for n in &self.nodes {
            if let Ok(text) = std::fs::read_to_string(&n.log) {
                let lines: Vec<&str> = text.lines().collect();
                for (i, l) in lines.iter().enumerate() {
                    if l.contains("panicked") && !l.contains("RaftError") {
                        eprintln!("----- n{} panic -----", n.id);
                        for m in &lines[i..(i + 8).min(lines.len())] {
                            eprintln!("{m}");
                        }
                        break;
                    }
                }
                let tail: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        !l.contains("HeartbeatWorker") && !l.contains("failed to send RaftMsg")
                    })
                    .rev()
                    .take(40)
                    .collect();
                eprintln!("----- n{} log (last 40 lines) -----", n.id);
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGCONT);
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::thread::panicking() {
            self.dump_logs();
        }
        // QUORATE_TEST_LOGS=DIR keeps every node's log of every cluster, for diagnosis.
        if let Some(keep) = std::env::var_os("QUORATE_TEST_LOGS") {
            let keep = std::path::PathBuf::from(keep);
            let tag = self.dir.path().file_name().unwrap_or_default().to_owned();
            for n in &self.nodes {
                let _ = std::fs::create_dir_all(keep.join(&tag));
                let _ = std::fs::copy(&n.log, keep.join(&tag).join(format!("n{}.log", n.id)));
            }
        }
    }
}

/// A client that inserts rows with unique ids as fast as it can (or at a pace), through the
/// nodes in turn, and remembers which inserts were acknowledged and which failed definitely.
pub struct Writer {
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<WriterLog>>,
}

#[derive(Default, Debug)]
pub struct WriterLog {
    pub acked: Vec<i64>,
    pub failed: Vec<i64>,
    pub unknown: Vec<i64>,
    /// (time since start, ok) per attempt.
    pub timeline: Vec<(Duration, bool)>,
}

impl Writer {
    /// Starts writing to table `table` (id INTEGER PRIMARY KEY) via the http addresses.
    pub fn start(addrs: Vec<String>, table: &str, first_id: i64, pace: Option<Duration>) -> Writer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let table = table.to_string();
        let handle = std::thread::spawn(move || {
            let agent = agent(Duration::from_secs(10));
            let mut log = WriterLog::default();
            let start = Instant::now();
            let mut id = first_id;
            let mut target = 0usize;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let addr = &addrs[target % addrs.len()];
                let body = json!({"statements": [{"sql": format!("INSERT INTO {table} (id, v) VALUES (?, ?)"), "params": [id, format!("v{id}")]}]});
                let r = agent
                    .post(&format!("http://{addr}/v1/execute"))
                    .send_json(body);
                let ok = match r {
                    Ok(_) => {
                        log.acked.push(id);
                        true
                    }
                    Err(ureq::Error::Status(_, resp)) => {
                        let v: Value = resp.into_json().unwrap_or(Value::Null);
                        let code = v["error"]["code"].as_str().unwrap_or("").to_string();
                        if code == "outcome_unknown" {
                            log.unknown.push(id)
                        } else {
                            log.failed.push(id)
                        }
                        target += 1;
                        false
                    }
                    Err(_) => {
                        // The node may have died mid-request: the write may or may not exist.
                        log.unknown.push(id);
                        target += 1;
                        false
                    }
                };
                log.timeline.push((start.elapsed(), ok));
                id += 1;
                if let Some(p) = pace {
                    std::thread::sleep(p);
                }
            }
            log
        });
        Writer {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> WriterLog {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl WriterLog {
    /// Longest stretch without a successful write after the first success.
    pub fn longest_gap(&self) -> Duration {
        let mut last_ok: Option<Duration> = None;
        let mut worst = Duration::ZERO;
        for (t, ok) in &self.timeline {
            if *ok {
                if let Some(l) = last_ok {
                    worst = worst.max(*t - l);
                }
                last_ok = Some(*t);
            }
        }
        worst
    }
}

/// Ids present in `table`, read linearizably from node `id`.
pub fn ids_in(c: &Cluster, id: u64, table: &str) -> BTreeSet<i64> {
    let r = c
        .query(id, &format!("SELECT id FROM {table}"), "linearizable")
        .expect("read ids");
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_i64().unwrap())
        .collect()
}

/// Every acknowledged id is present; no definitely-failed id is.
pub fn assert_no_acked_write_lost(c: &Cluster, node: u64, table: &str, log: &WriterLog) {
    let present = ids_in(c, node, table);
    let lost: Vec<i64> = log
        .acked
        .iter()
        .filter(|id| !present.contains(id))
        .copied()
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost (of {}): {:?}",
        lost.len(),
        log.acked.len(),
        &lost[..lost.len().min(20)]
    );
    let phantom: Vec<i64> = log
        .failed
        .iter()
        .filter(|id| present.contains(id))
        .copied()
        .collect();
    assert!(
        phantom.is_empty(),
        "writes reported failed are present: {phantom:?}"
    );
}

/// Adds an `Authorization` header to every request of an agent.
struct AuthHeader(String);

impl ureq::Middleware for AuthHeader {
    fn handle(
        &self,
        request: ureq::Request,
        next: ureq::MiddlewareNext,
    ) -> Result<ureq::Response, ureq::Error> {
        next.handle(request.set("Authorization", &self.0))
    }
}
