//! `quorate demo`: a 3-node cluster on loopback, as child processes of this one.
//!
//! Writes each node's config, starts the nodes with `--bootstrap-expect`, waits until the
//! cluster serves writes, prints the endpoints, writes `DIR/cluster.json` for scripts and
//! tests, and stops the nodes cleanly on Ctrl-C.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;

use crate::client;

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the cluster's data here (default: a fresh temporary directory, removed on exit).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// First HTTP port (then MySQL = base - 4794, peer = base - 1000); 0 = any free ports.
    #[arg(long, default_value_t = 8101)]
    base_port: u16,
}

/// What `DIR/cluster.json` holds.
#[derive(Serialize)]
pub struct ClusterFile {
    pub data_dir: String,
    pub secret_file: String,
    pub admin_user: String,
    pub admin_password: String,
    pub nodes: Vec<NodeEntry>,
}

#[derive(Serialize)]
pub struct NodeEntry {
    pub id: u64,
    pub pid: u32,
    pub http_addr: String,
    pub mysql_addr: String,
    pub peer_addrs: Vec<String>,
    pub data_dir: String,
    pub config: String,
    pub log: String,
}

fn port_free(p: u16) -> bool {
    TcpListener::bind(("127.0.0.1", p)).is_ok()
}

fn any_free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

struct Ports {
    http: u16,
    mysql: u16,
    peer: u16,
}

fn choose_ports(n: u64, base: u16) -> anyhow::Result<Vec<Ports>> {
    if base >= 6000 {
        let fixed: Vec<Ports> = (0..n as u16)
            .map(|i| Ports {
                http: base + i,
                mysql: base - 4794 + i,
                peer: base - 1000 + i,
            })
            .collect();
        if fixed
            .iter()
            .all(|p| port_free(p.http) && port_free(p.mysql) && port_free(p.peer))
        {
            return Ok(fixed);
        }
        eprintln!("some of the default ports are taken; using free ports instead");
    }
    (0..n)
        .map(|_| {
            Ok(Ports {
                http: any_free_port()?,
                mysql: any_free_port()?,
                peer: any_free_port()?,
            })
        })
        .collect()
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.nodes == 0 || args.nodes > 9 {
        bail!("--nodes must be between 1 and 9");
    }
    let (dir, temporary) = match &args.data {
        Some(d) => {
            fs::create_dir_all(d)?;
            (d.canonicalize()?, false)
        }
        None => {
            // A new directory, never one an earlier demo left behind.
            let d = tempfile::Builder::new()
                .prefix("quorate-demo-")
                .tempdir()?
                .keep();
            (d, true)
        }
    };
    let secret_file = dir.join("cluster.secret");
    if !secret_file.exists() {
        let secret: [u8; 24] = rand::random();
        write_private(&secret_file, &hex::encode(secret))?;
    }
    // The administrator's password (HTTP and MySQL): random per demo directory, kept in
    // `admin.password` (and `cluster.json`) so that a restarted demo keeps it.
    let password_file = dir.join("admin.password");
    if !password_file.exists() {
        let pw: [u8; 9] = rand::random();
        write_private(&password_file, &hex::encode(pw))?;
    }
    let admin_password = fs::read_to_string(&password_file)?.trim().to_string();
    // The secure setup is the demo's setup: a cluster CA and a certificate per node.
    let certs = quorate_tls::CertDir::new(&dir.join("certs"));
    if !certs.ca_cert().exists() {
        certs.init_ca("quorate-demo")?;
    }
    let ports = choose_ports(args.nodes, args.base_port)?;
    let mut children: Vec<(u64, Child)> = Vec::new();
    let mut entries = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let id = i as u64 + 1;
        let peers: Vec<String> = ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, q)| {
                format!(
                    "[[peers]]\nid = {}\naddrs = [\"127.0.0.1:{}\"]\n",
                    j + 1,
                    q.peer
                )
            })
            .collect();
        let node_dir = dir.join(format!("n{id}"));
        if !certs.node_cert(id).exists() {
            certs.issue_node(id, &["localhost".into(), "127.0.0.1".into()])?;
        }
        let tls = format!(
            "[tls]\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n",
            certs.ca_cert().display().to_string(),
            certs.node_cert(id).display().to_string(),
            certs.node_key(id).display().to_string()
        );
        let config = format!(
            "node_id = {id}\ndata_dir = {:?}\npeer_addrs = [\"127.0.0.1:{}\"]\nhttp_addr = \"127.0.0.1:{}\"\nmysql_addr = \"127.0.0.1:{}\"\n\
             cluster_secret_file = {:?}\nbootstrap_expect = {}\n\n[mysql]\nadmin_user = \"root\"\nadmin_password = {:?}\n\n{tls}\n{}",
            node_dir.display().to_string(),
            p.peer,
            p.http,
            p.mysql,
            secret_file.display().to_string(),
            args.nodes,
            admin_password,
            peers.join("\n")
        );
        let config_path = dir.join(format!("n{id}.toml"));
        fs::write(&config_path, config)?;
        let log_path = dir.join(format!("n{id}.log"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new(crate::self_exe()?)
            .arg("start")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a node")?;
        entries.push(NodeEntry {
            id,
            pid: child.id(),
            http_addr: format!("127.0.0.1:{}", p.http),
            mysql_addr: format!("127.0.0.1:{}", p.mysql),
            peer_addrs: vec![format!("127.0.0.1:{}", p.peer)],
            data_dir: node_dir.display().to_string(),
            config: config_path.display().to_string(),
            log: log_path.display().to_string(),
        });
        children.push((id, child));
    }
    let cluster = ClusterFile {
        data_dir: dir.display().to_string(),
        secret_file: secret_file.display().to_string(),
        admin_user: "root".into(),
        admin_password: admin_password.clone(),
        nodes: entries,
    };
    fs::write(
        dir.join("cluster.json"),
        serde_json::to_vec_pretty(&cluster)?,
    )?;
    let ready = wait_until_serving(&cluster, &mut children, Duration::from_secs(60));
    match &ready {
        Ok(leader) => print_banner(&cluster, *leader, &dir),
        Err(e) => eprintln!(
            "the cluster did not become ready: {e:#}\nlogs are in {}",
            dir.display()
        ),
    }
    if ready.is_ok() {
        wait_for_ctrl_c(&mut children);
    }
    println!("stopping the nodes...");
    stop_all(&mut children);
    if temporary && ready.is_ok() {
        let _ = fs::remove_dir_all(&dir);
    }
    ready.map(|_| ())
}

fn wait_until_serving(
    cluster: &ClusterFile,
    children: &mut [(u64, Child)],
    timeout: Duration,
) -> anyhow::Result<u64> {
    let agent = client::agent_as(
        &cluster.admin_user,
        &cluster.admin_password,
        Duration::from_millis(500),
    );
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for (id, child) in children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("node n{id} exited ({status}); see its log");
            }
        }
        for n in &cluster.nodes {
            if let Ok(s) = client::get(&agent, &n.http_addr, "/v1/status")
                && s["writable"].as_bool() == Some(true)
                && s["members"].as_array().map(|m| m.len()) == Some(cluster.nodes.len())
            {
                return Ok(s["leader"].as_u64().unwrap_or(0));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no leader serving writes after {timeout:?}")
}

fn print_banner(cluster: &ClusterFile, leader: u64, dir: &Path) {
    println!(
        "quorate demo: {} nodes on loopback, leader n{leader}",
        cluster.nodes.len()
    );
    println!();
    for n in &cluster.nodes {
        println!(
            "  n{}  http http://{}   mysql {}   pid {}   log {}",
            n.id, n.http_addr, n.mysql_addr, n.pid, n.log
        );
    }
    let first = &cluster.nodes[0];
    let (mhost, mport) = first
        .mysql_addr
        .split_once(':')
        .unwrap_or(("127.0.0.1", "3307"));
    let (user, pw) = (&cluster.admin_user, &cluster.admin_password);
    println!();
    println!("Administrator (HTTP API and MySQL): user {user}, password {pw}");
    println!();
    println!("Try:");
    println!("  export QUORATE_USER={user} QUORATE_PASSWORD={pw}");
    println!("  quorate status --addr {}", first.http_addr);
    println!(
        "  quorate sql --addr {} \"CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT)\"",
        first.http_addr
    );
    println!(
        "  curl -s -u {user}:{pw} http://{}/v1/execute -d '{{\"statements\":[{{\"sql\":\"INSERT INTO kv VALUES (?, ?)\",\"params\":[\"a\",\"1\"]}}]}}'",
        first.http_addr
    );
    println!(
        "  curl -s -u {user}:{pw} http://{}/v1/query -d '{{\"sql\":\"SELECT * FROM kv\"}}'",
        cluster
            .nodes
            .last()
            .map(|n| n.http_addr.as_str())
            .unwrap_or("")
    );
    println!(
        "  mysql --ssl -h {mhost} -P {mport} -u {} -p{}   (the first login on each node needs TLS)",
        cluster.admin_user, cluster.admin_password
    );
    println!(
        "  open http://{}/ for the status page (log in as {user})",
        first.http_addr
    );
    println!();
    println!(
        "Cluster description: {}",
        dir.join("cluster.json").display()
    );
    println!("Press Ctrl-C to stop the cluster.");
}

fn wait_for_ctrl_c(children: &mut [(u64, Child)]) {
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    std::thread::spawn(move || {
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        let _ = tx.send(());
    });
    let mut reported = std::collections::HashSet::new();
    loop {
        if rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            return;
        }
        for (id, child) in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait()
                && reported.insert(*id)
            {
                eprintln!(
                    "node n{id} exited ({status}); the others keep serving if they are a majority"
                );
            }
        }
    }
}

fn stop_all(children: &mut [(u64, Child)]) {
    for (_, child) in children.iter() {
        // SAFETY: kill(2) on a pid we spawned; a stale pid at worst gets ESRCH.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (id, child) in children.iter_mut() {
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    eprintln!("n{id} did not stop in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
}

/// Writes a file only its owner can read (a password, a secret).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}
