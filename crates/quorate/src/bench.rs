//! `quorate bench`: durable single-row inserts against a running cluster, at several client
//! counts. Every insert is its own transaction, acknowledged only once durable on a
//! majority. This is a benchmark, not a test: it reports numbers and asserts nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::json;

use crate::client::{self, DEFAULT_ADDR};

#[derive(Args)]
pub struct BenchArgs {
    /// HTTP addresses of the nodes; clients are spread over them (followers forward).
    #[arg(long, env = "QUORATE_ADDR", value_delimiter = ',', default_value = DEFAULT_ADDR)]
    addr: Vec<String>,
    /// Client counts to measure, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    clients: Vec<usize>,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print one JSON line per run.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    if a.addr.is_empty() || a.clients.is_empty() {
        bail!("need at least one --addr and one --clients value");
    }
    let agent = client::agent(Duration::from_secs(30));
    client::post(
        &agent,
        &a.addr[0],
        "/v1/execute",
        &json!({"statements": [{"sql": "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, client INTEGER, payload TEXT)"}]}),
    )?;
    if !a.json {
        println!(
            "durable single-row inserts, {} s per run, against {}",
            a.seconds,
            a.addr.join(",")
        );
        println!(
            "{:>8} {:>12} {:>10} {:>10} {:>10} {:>8}",
            "clients", "writes/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
    }
    for &clients in &a.clients {
        let r = run_once(&a.addr, clients, Duration::from_secs(a.seconds));
        if a.json {
            println!(
                "{}",
                json!({"clients": clients, "writes_per_s": r.rate, "p50_ms": r.p50, "p99_ms": r.p99, "max_ms": r.max, "errors": r.errors, "seconds": a.seconds})
            );
        } else {
            println!(
                "{:>8} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>8}",
                clients, r.rate, r.p50, r.p99, r.max, r.errors
            );
        }
    }
    Ok(())
}

struct Result {
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: u64,
}

fn run_once(addrs: &[String], clients: usize, duration: Duration) -> Result {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let addr = addrs[c % addrs.len()].clone();
        let stop = stop.clone();
        let errors = errors.clone();
        handles.push(std::thread::spawn(move || {
            let agent = client::agent(Duration::from_secs(30));
            let url = client::url(&addr, "/v1/execute");
            let mut lat = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"statements": [{"sql": "INSERT INTO bench (client, payload) VALUES (?, ?)", "params": [c, format!("row {i} of client {c}")]}]});
                let t = Instant::now();
                match agent.post(&url).send_json(body) {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            lat
        }));
    }
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i].as_secs_f64() * 1000.0
    };
    Result {
        rate: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        max: all.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
        errors: errors.load(Ordering::Relaxed),
    }
}
