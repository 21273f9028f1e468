//! A drill cluster: quorate nodes running inside the drill network's namespaces, and an
//! HTTP client that lives in the client namespace. Used by `quorate drill` and by the
//! torture runs (which add pauses, wipes, a node on a small disk and crash detection).

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::netns::Net;

/// An HTTP agent that logs in as `user` / `password` (HTTP basic authentication).
pub fn agent_as(user: &str, password: &str, timeout: Duration) -> ureq::Agent {
    let header = crate::client::basic_auth(user, password);
    ureq::AgentBuilder::new()
        .timeout(timeout)
        .middleware(AuthHeader(header))
        .build()
}

/// An HTTP agent that logs in as the administrator.
pub fn agent(timeout: Duration) -> ureq::Agent {
    agent_as(ADMIN_USER, ADMIN_PASSWORD, timeout)
}

type Job = Box<dyn FnOnce(&ureq::Agent) -> Value + Send>;

/// Runs HTTP requests from a thread inside the client namespace.
pub struct Http {
    tx: mpsc::Sender<(Job, mpsc::Sender<Value>)>,
}

impl Http {
    /// Starts the thread; its requests log in as `user` / `password`.
    pub fn start(net: &Net, user: &str, password: &str) -> anyhow::Result<Http> {
        let (user, password) = (user.to_string(), password.to_string());
        let (tx, rx) = mpsc::channel::<(Job, mpsc::Sender<Value>)>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let path = format!("/var/run/netns/{}c", net.prefix);
        std::thread::spawn(move || {
            let entered = enter(&path);
            let _ = ready_tx.send(entered.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            if entered.is_err() {
                return;
            }
            let agent = agent_as(&user, &password, Duration::from_secs(5));
            while let Ok((job, reply)) = rx.recv() {
                let _ = reply.send(job(&agent));
            }
        });
        ready_rx.recv()?.map_err(anyhow::Error::msg)?;
        Ok(Http { tx })
    }

    pub fn run(&self, job: impl FnOnce(&ureq::Agent) -> Value + Send + 'static) -> Value {
        let (tx, rx) = mpsc::channel();
        if self.tx.send((Box::new(job), tx)).is_err() {
            return Value::Null;
        }
        rx.recv().unwrap_or(Value::Null)
    }

    pub fn get(&self, addr: &str, path: &str) -> Value {
        let url = format!("http://{addr}{path}");
        self.run(move |a| {
            a.get(&url)
                .timeout(Duration::from_millis(800))
                .call()
                .ok()
                .and_then(|r| r.into_json().ok())
                .unwrap_or(Value::Null)
        })
    }

    pub fn post(&self, addr: &str, path: &str, body: Value) -> Value {
        let url = format!("http://{addr}{path}");
        self.run(move |a| match a.post(&url).send_json(body) {
            Ok(r) => r.into_json().unwrap_or(Value::Null),
            Err(ureq::Error::Status(_, r)) => r.into_json().unwrap_or(Value::Null),
            Err(e) => json!({"error": {"code": "transport", "message": e.to_string()}}),
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &str) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    // SAFETY: setns on a namespace fd changes only this thread's network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

pub struct DrillNode {
    pub id: usize,
    /// Paused with SIGSTOP (resumed with SIGCONT).
    pub paused: bool,
    pub http: String,
    /// host:port of the node's MySQL listener.
    pub mysql: String,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub child: Option<Child>,
}

pub struct DrillCluster {
    pub net: Net,
    pub http: Http,
    pub nodes: Vec<DrillNode>,
    pub dir: PathBuf,
    exe: PathBuf,
    log_filter: Option<String>,
    temporary: bool,
}

/// What cluster to build.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub data_nodes: usize,
    pub witness: bool,
    pub paths: usize,
    /// Keep the namespaces and the directory afterwards.
    pub keep: bool,
    /// The `quorate` binary (default: this executable).
    pub exe: Option<PathBuf>,
    /// Directory for configs, logs and data (default: a fresh one under the temp dir).
    pub dir: Option<PathBuf>,
    /// Data directories placed elsewhere (node id -> dir), e.g. on a small filesystem.
    pub data_dirs: Vec<(usize, PathBuf)>,
    /// TOML tables appended to every node's config (e.g. `[snapshot]`).
    pub extra_config: String,
    /// `QUORATE_LOG` for the nodes (default: the node's own default).
    pub log_filter: Option<String>,
    /// The first administrator account (`[mysql] admin_user` / `admin_password`): what
    /// MySQL clients log in as (and, once the HTTP API authenticates, HTTP clients too).
    pub admin_user: String,
    pub admin_password: String,
}

/// The administrator account drill and torture clusters are configured with.
pub const ADMIN_USER: &str = "root";
pub const ADMIN_PASSWORD: &str = "quorate";

impl ClusterSpec {
    pub fn new(data_nodes: usize, witness: bool, paths: usize, keep: bool) -> ClusterSpec {
        ClusterSpec {
            data_nodes,
            witness,
            paths,
            keep,
            exe: None,
            dir: None,
            data_dirs: Vec::new(),
            extra_config: String::new(),
            log_filter: None,
            admin_user: ADMIN_USER.into(),
            admin_password: ADMIN_PASSWORD.into(),
        }
    }
}

impl DrillCluster {
    /// Starts `data_nodes` data nodes (and a witness if asked) in a fresh drill network.
    pub fn start(
        data_nodes: usize,
        witness: bool,
        paths: usize,
        keep: bool,
    ) -> anyhow::Result<DrillCluster> {
        Self::start_spec(ClusterSpec::new(data_nodes, witness, paths, keep))
    }

    /// Builds the network, writes the configs, starts every node and waits for a leader.
    pub fn start_spec(spec: ClusterSpec) -> anyhow::Result<DrillCluster> {
        let c = Self::create(spec)?;
        c.wait_writable(Duration::from_secs(30))?;
        Ok(c)
    }

    /// Builds the network, writes the configs and starts every node (without waiting).
    pub fn create(spec: ClusterSpec) -> anyhow::Result<DrillCluster> {
        let ClusterSpec {
            data_nodes,
            witness,
            paths,
            keep,
            ..
        } = spec;
        let total = data_nodes + usize::from(witness);
        let net = Net::create(total, paths, keep)?;
        let dir = match spec.dir.clone() {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                d
            }
            // A new directory, never one an earlier run left behind.
            None => tempfile::Builder::new()
                .prefix(&format!("quorate-drill-{}-", net.prefix))
                .tempdir()?
                .keep(),
        };
        let secret = dir.join("secret");
        std::fs::write(&secret, hex::encode(rand::random::<[u8; 16]>()))?;
        let mut nodes = Vec::new();
        for i in 1..=total {
            let is_witness = witness && i == total;
            let peers: String = (1..=total)
                .filter(|j| *j != i)
                .map(|j| {
                    let addrs: Vec<String> = (1..=paths)
                        .map(|k| format!("\"{}:7000\"", net.addr(j, k)))
                        .collect();
                    format!("[[peers]]\nid = {j}\naddrs = [{}]\n", addrs.join(", "))
                })
                .collect();
            let own: Vec<String> = (1..=paths)
                .map(|k| format!("\"{}:7000\"", net.addr(i, k)))
                .collect();
            let data_dir = spec
                .data_dirs
                .iter()
                .find(|(n, _)| *n == i)
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| dir.join(format!("n{i}")));
            let cfg = format!(
                "node_id = {i}\nrole = \"{}\"\ndata_dir = {:?}\npeer_addrs = [{}]\nhttp_addr = \"{}:8000\"\nmysql_addr = \"{}:3306\"\n\
                 cluster_secret_file = {:?}\n{}\n[mysql]\nadmin_user = {:?}\nadmin_password = {:?}\n\n{}\n{peers}",
                if is_witness { "witness" } else { "voter" },
                data_dir.display().to_string(),
                own.join(", "),
                net.addr(i, 1),
                net.addr(i, 1),
                secret.display().to_string(),
                if is_witness {
                    String::new()
                } else {
                    format!("bootstrap_expect = {total}")
                },
                spec.admin_user,
                spec.admin_password,
                spec.extra_config,
            );
            let config = dir.join(format!("n{i}.toml"));
            std::fs::write(&config, cfg)?;
            nodes.push(DrillNode {
                id: i,
                paused: false,
                http: format!("{}:8000", net.addr(i, 1)),
                mysql: format!("{}:3306", net.addr(i, 1)),
                config,
                data_dir,
                log: dir.join(format!("n{i}.log")),
                child: None,
            });
        }
        let http = Http::start(&net, &spec.admin_user, &spec.admin_password)?;
        let exe = match spec.exe {
            Some(e) => e,
            None => std::env::current_exe()?,
        };
        let mut c = DrillCluster {
            net,
            http,
            nodes,
            dir,
            exe,
            log_filter: spec.log_filter,
            temporary: !keep,
        };
        if c.temporary {
            crate::interrupt::register_dir(&c.dir);
        }
        for i in 1..=total {
            c.spawn(i)?;
        }
        Ok(c)
    }

    /// Keeps the directory (configs, logs, data) when the cluster is dropped.
    pub fn keep_dir(&mut self) {
        self.temporary = false;
        crate::interrupt::unregister_dir(&self.dir);
    }

    pub fn node(&self, i: usize) -> &DrillNode {
        &self.nodes[i - 1]
    }

    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let exe = self.exe.clone();
        let n = &self.nodes[i - 1];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)?;
        let mut cmd = self.net.command(i, &exe);
        cmd.args(["start", "--config"]).arg(&n.config);
        if let Some(f) = &self.log_filter {
            cmd.env("QUORATE_LOG", f);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a node in its namespace")?;
        self.nodes[i - 1].child = Some(child);
        self.nodes[i - 1].paused = false;
        Ok(())
    }

    /// kill -9 (a crash or power loss of that node).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i - 1].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes[i - 1].paused = false;
    }

    /// SIGSTOP (`paused = true`) or SIGCONT: a frozen, "grey" node whose sockets stay open.
    pub fn pause(&mut self, i: usize, paused: bool) {
        let n = &mut self.nodes[i - 1];
        if let Some(c) = &n.child {
            let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
            n.paused = paused;
        }
    }

    /// Deletes a stopped node's data directory (it comes back empty).
    pub fn wipe(&mut self, i: usize) -> anyhow::Result<()> {
        let n = &self.nodes[i - 1];
        if n.child.is_some() {
            bail!("n{i} is running; kill it before wiping its data");
        }
        match std::fs::remove_dir_all(&n.data_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("wiping {}", n.data_dir.display())),
        }
    }

    /// Nodes whose process exited by itself since the last call (id, exit status); they
    /// count as stopped afterwards.
    pub fn reap_exited(&mut self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            let exited = match n.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(format!("wait failed: {e}")),
                _ => None,
            };
            if let Some(status) = exited {
                n.child = None;
                n.paused = false;
                out.push((n.id, status));
            }
        }
        out
    }

    /// Ids of the nodes whose process runs (paused or not).
    pub fn running(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// A clean stop (SIGTERM), as for planned maintenance.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i - 1].child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn status(&self, i: usize) -> Value {
        self.http.get(&self.node(i).http, "/v1/status")
    }

    /// The leader all running nodes agree on, if any, that can serve writes.
    pub fn leader(&self) -> Option<usize> {
        for n in &self.nodes {
            if n.child.is_none() || n.paused {
                continue;
            }
            let s = self.status(n.id);
            if s["state"] == "leader" && s["writable"] == true {
                return Some(n.id);
            }
        }
        None
    }

    pub fn wait_writable(&self, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.leader() {
                return Ok(l);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "no writable leader within {timeout:?}; logs in {}",
            self.dir.display()
        )
    }

    /// Highest term any running node reports.
    pub fn term(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some() && !n.paused)
            .map(|n| self.status(n.id)["term"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    pub fn execute(&self, i: usize, sql: &str, params: Value) -> Value {
        self.http.post(
            &self.node(i).http,
            "/v1/execute",
            json!({"statements": [{"sql": sql, "params": params}]}),
        )
    }

    /// Makes node `to` the leader.
    pub fn make_leader(&self, to: usize) -> anyhow::Result<()> {
        // A transfer can be lost (the target timed out, or another election won on a
        // loaded machine): ask again every 2 s until the deadline.
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = None;
        while Instant::now() < deadline {
            match self.leader() {
                Some(l) if l == to => return Ok(()),
                Some(l) => {
                    let r = self
                        .http
                        .post(&self.node(l).http, "/v1/leader", json!({"to": to}));
                    if r.get("error").is_some() {
                        last = Some(r.to_string());
                    }
                }
                None => last = Some("no leader".into()),
            }
            let retry = Instant::now() + Duration::from_secs(2);
            while Instant::now() < retry.min(deadline) {
                if self.leader() == Some(to) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        bail!(
            "n{to} did not become leader{}",
            last.map(|e| format!(" (last answer: {e})"))
                .unwrap_or_default()
        )
    }
}

impl Drop for DrillCluster {
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
        if self.temporary {
            crate::interrupt::unregister_dir(&self.dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
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
