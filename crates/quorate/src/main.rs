//! `quorate`: the one binary. `start` runs a node; the other commands operate a cluster
//! through its HTTP API (`demo` runs a local 3-node cluster).

mod bench;
mod client;
mod demo;
mod drill;
mod ops;
mod start;
mod torture;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A highly available SQL database cluster: Raft + SQLite, spoken to over MySQL and HTTP.
#[derive(Parser)]
#[command(name = "quorate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Account the commands log in with on the HTTP API (the same accounts as MySQL).
    #[arg(long, global = true, env = "QUORATE_USER", default_value = "root")]
    user: String,
    /// Its password. Prefer the environment variable: a command line is visible to every
    /// user of the machine.
    #[arg(long, global = true, env = "QUORATE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Speak HTTPS and trust this CA certificate (for nodes with `[tls] http = true`).
    #[arg(long, global = true, env = "QUORATE_CA")]
    ca: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node from its config file (flags override the file).
    Start(start::StartArgs),
    /// Run a local 3-node cluster on loopback until Ctrl-C (the README's first command).
    Demo(demo::DemoArgs),
    /// Form the cluster (once; safe to repeat).
    Init {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
        /// Members to form the cluster with (default: the node and its configured peers).
        #[arg(long, value_delimiter = ',')]
        members: Option<Vec<u64>>,
    },
    /// One screen: members, roles, leader, term, indexes, lag, reachability.
    Status {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
        /// Print the raw JSON of every member.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 if the node can serve linearizable writes now, else print why and exit 1.
    Health {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
    },
    /// Run one SQL statement (reads go to /v1/query, everything else to /v1/execute).
    Sql(ops::SqlArgs),
    /// List, add, promote or remove members.
    Members {
        /// Any node's HTTP address (before or after the action).
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR, global = true)]
        addr: String,
        #[command(subcommand)]
        action: ops::MembersAction,
    },
    /// Guarded maintenance of one node: plan, begin, ack (each next step), end, abort; status; log.
    Maintenance {
        /// Any node's HTTP address (before or after the action).
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR, global = true)]
        addr: String,
        #[command(subcommand)]
        action: ops::MaintenanceAction,
    },
    /// Rebuild a working cluster from the survivors when a majority is permanently gone
    /// (unsafe: shows what may be lost and asks before doing anything).
    Recover {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
        /// The surviving members to keep (ids).
        #[arg(long, value_delimiter = ',', required = true)]
        survivors: Vec<u64>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Move leadership to another voter (default: the most up-to-date data voter).
    Leader {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
        /// The voter to lead.
        #[arg(long)]
        to: Option<u64>,
    },
    /// The statements in progress on this node: its HTTP requests, its MySQL connections,
    /// and the statements other nodes' clients run here (admin); `--cancel ID` stops one.
    Requests {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
        /// Interrupt the statements of request or MySQL connection ID (wherever they run).
        #[arg(long, value_name = "ID")]
        cancel: Option<u64>,
    },
    /// Compare the data checksums of every replica (waits until they are at the same index).
    Checksum {
        #[arg(long, env = "QUORATE_ADDR", default_value = client::DEFAULT_ADDR)]
        addr: String,
        /// How long to wait for the replicas to reach the same applied index.
        #[arg(long, default_value_t = 30)]
        wait_s: u64,
    },
    /// Measure durable single-row inserts (writes/s, p50/p99) at several client counts.
    Bench(bench::BenchArgs),
    /// Create the cluster CA and node certificates (mutual TLS between peers).
    Certs {
        #[command(subcommand)]
        action: CertsAction,
    },
    /// Run a failure drill (D1-D7) in network namespaces (Linux, root).
    Drill(drill::DrillArgs),
    /// Robustness run: traffic, injected faults, recorded history, checkers (Linux, root).
    Torture(torture::TortureArgs),
}

#[derive(Subcommand)]
enum CertsAction {
    /// Create a cluster CA in DIR (ca.pem, ca-key.pem).
    Init {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "quorate")]
        cluster_name: String,
    },
    /// Issue node NODE's certificate (node-NODE.pem, node-NODE-key.pem) from the CA in DIR.
    Issue {
        node: u64,
        #[arg(long)]
        dir: PathBuf,
        /// Extra host names / IP addresses clients use to reach this node (MySQL/HTTP TLS).
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

fn certs(action: CertsAction) -> anyhow::Result<()> {
    match action {
        CertsAction::Init { dir, cluster_name } => {
            let d = quorate_tls::CertDir::new(&dir);
            d.init_ca(&cluster_name)?;
            println!(
                "cluster CA created: {} (keep {} secret and off the nodes)",
                d.ca_cert().display(),
                d.ca_key().display()
            );
        }
        CertsAction::Issue { node, dir, names } => {
            let d = quorate_tls::CertDir::new(&dir);
            d.issue_node(node, &names)?;
            println!(
                "n{node}: {} and {}",
                d.node_cert(node).display(),
                d.node_key(node).display()
            );
        }
    }
    Ok(())
}

/// mimalloc for Rust's allocations (SQLite keeps the C library's): a result set is built
/// from many small owned values, and glibc's malloc was about 15% of the leader's CPU in
/// sysbench `oltp_read_only` (docs/BENCHMARKS.md, "mimalloc").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    client::configure(client::Credentials {
        user: cli.user,
        password: cli.password,
        ca: cli.ca,
    });
    let result = match cli.command {
        Command::Start(args) => start::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Init { addr, members } => ops::init(&addr, members),
        Command::Status { addr, json } => ops::status(&addr, json),
        Command::Health { addr } => ops::health(&addr),
        Command::Sql(args) => ops::sql(args),
        Command::Members { addr, action } => ops::members(&addr, action),
        Command::Checksum { addr, wait_s } => ops::checksum(&addr, wait_s),
        Command::Maintenance { addr, action } => ops::maintenance(&addr, action),
        Command::Leader { addr, to } => ops::leader(&addr, to),
        Command::Requests { addr, cancel } => ops::requests(&addr, cancel),
        Command::Recover {
            addr,
            survivors,
            yes,
        } => ops::recover(&addr, survivors, yes),
        Command::Bench(args) => bench::run(args),
        Command::Drill(args) => drill::run(args),
        Command::Torture(args) => torture::run(args),
        Command::Certs { action } => certs(action),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Where `quorate demo` and tests find the binary itself.
pub(crate) fn self_exe() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?)
}
