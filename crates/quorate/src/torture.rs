//! `quorate torture`: the robustness harness (crates/torture) against a real cluster in
//! network namespaces. Exit status 0 only if every checker said valid.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use quorate_torture::client::Protocols;
use quorate_torture::nemesis::Fault;
use quorate_torture::workload::Workload;

#[derive(Args, Clone)]
pub struct TortureArgs {
    /// How long to inject faults under traffic: `90s`, `5m`, `1h`, `2m30s`.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Faults: `all`, `none`, or a list of kill, kill-leader, kill-majority, kill-all, pause,
    /// pause-leader, partition, partition-leader, bridge, pull-path, wipe, disk-full.
    #[arg(long, default_value = "all")]
    pub nemesis: String,
    /// Seed of the fault schedule (printed; the same seed replays the same schedule).
    /// Default: a random one.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Nodes in the cluster (3 or 5).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Network paths per node.
    #[arg(long, default_value_t = 2)]
    pub paths: usize,
    #[arg(long, default_value_t = 3)]
    pub clients_per_node: usize,
    /// What the clients speak: `http`, `mysql`, or `mixed` (half of each node's clients
    /// MySQL, half HTTP).
    #[arg(long, default_value = "mixed")]
    pub protocol: String,
    /// The account clients use (MySQL login, HTTP basic authentication); the test
    /// cluster's first administrator is created with it.
    #[arg(long, default_value = quorate_torture::cluster::ADMIN_USER)]
    pub admin_user: String,
    #[arg(long, default_value = quorate_torture::cluster::ADMIN_PASSWORD)]
    pub admin_password: String,
    /// Workloads: registers, bank, set (comma-separated).
    #[arg(long, default_value = "registers,bank,set")]
    pub workload: String,
    /// Mean pause between two operations of one client, in ms.
    #[arg(long, default_value_t = 20)]
    pub op_delay_ms: u64,
    /// A request without an answer after this long is recorded as unknown, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub client_timeout_ms: u64,
    /// Keep the namespaces, logs, data and history even when the run passes.
    #[arg(long)]
    pub keep: bool,
    /// Where to put the run directory (default: the temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print the report as JSON (last line).
    #[arg(long)]
    pub json: bool,
    /// Check a recorded history.jsonl instead of running a cluster.
    #[arg(long)]
    pub check: Option<PathBuf>,
}

/// `90`, `90s`, `5m`, `1h`, `2m30s`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut num = String::new();
    for ch in s.trim().chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| format!("bad duration `{s}`"))?;
        num.clear();
        total += match ch {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            _ => return Err(format!("bad duration `{s}` (use s, m or h)")),
        };
    }
    if !num.is_empty() {
        total += num
            .parse::<u64>()
            .map_err(|_| format!("bad duration `{s}`"))?;
    }
    Ok(Duration::from_secs(total))
}

pub fn run(args: TortureArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.check {
        let history = quorate_torture::history::read_jsonl(path)?;
        let verdicts = quorate_torture::check::check_all(&history, &Default::default());
        let report = quorate_torture::Report {
            seed: 0,
            passed: verdicts.iter().all(|v| v.valid()),
            duration_s: 0.0,
            operations: quorate_torture::history::operations(&history).len(),
            verdicts,
            problems: vec![],
            notes: vec![],
            faults: vec![],
            faults_covered: vec![],
            replicas: vec![],
            dir: path.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
            kept: true,
        };
        quorate_torture::print_report(&report);
        if !report.passed {
            bail!("the history has anomalies");
        }
        return Ok(());
    }
    if let Some(why) = quorate_torture::unavailable() {
        bail!("{why}");
    }
    // An interrupt (Ctrl-C, SIGTERM, SIGHUP) removes the run's namespaces and files.
    quorate_torture::interrupt::install()?;
    let workloads = args
        .workload
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| Workload::parse(w).with_context(|| format!("unknown workload `{w}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let nemesis = Fault::parse_list(&args.nemesis).map_err(anyhow::Error::msg)?;
    let protocols = Protocols::parse(&args.protocol).with_context(|| {
        format!(
            "unknown protocol `{}` (http, mysql or mixed)",
            args.protocol
        )
    })?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let opts = quorate_torture::Options {
        duration: args.duration,
        nodes: args.nodes,
        paths: args.paths,
        clients_per_node: args.clients_per_node,
        protocols,
        user: args.admin_user.clone(),
        password: args.admin_password.clone(),
        workloads,
        nemesis,
        seed,
        keep: args.keep,
        exe: Some(crate::self_exe()?),
        dir: args.dir.clone(),
        op_delay: Duration::from_millis(args.op_delay_ms),
        client_timeout: Duration::from_millis(args.client_timeout_ms),
        ..Default::default()
    };
    let report = quorate_torture::run(opts)?;
    quorate_torture::print_report(&report);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if !report.passed {
        bail!(
            "torture run with seed {} found problems (see above; kept in {})",
            report.seed,
            report.dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2m30s").unwrap(), Duration::from_secs(150));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("5x").is_err());
    }
}
