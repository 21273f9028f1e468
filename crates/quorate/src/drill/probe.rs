//! The drill's clients: a writer that inserts one row every 100 ms through one node (the
//! same probe the Galera figures were measured with), and a reader that asks the same node
//! for a `stale` read every 100 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cluster::enter;

/// Interval between probe requests.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Attempt {
    /// Since the drill started.
    pub at: Duration,
    pub ok: bool,
    pub code: Option<String>,
    pub latency: Duration,
}

pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<Attempt>>>,
}

impl Probe {
    /// Starts a writer (`write = true`) or a stale reader against `addr`.
    pub fn start(netns_path: String, addr: String, origin: Instant, write: bool) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            if enter(&netns_path).is_err() {
                return out;
            }
            let agent = quorate_torture::cluster::agent(Duration::from_secs(5));
            let mut seq: i64 = 0;
            let mut next = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (path, body) = if write {
                    seq += 1;
                    (
                        "/v1/execute",
                        json!({"statements": [{"sql": "INSERT INTO drill (t_ms) VALUES (?)", "params": [origin.elapsed().as_millis() as i64]}]}),
                    )
                } else {
                    (
                        "/v1/query",
                        json!({"sql": "SELECT count(*) FROM drill", "consistency": "stale"}),
                    )
                };
                let r = agent.post(&format!("http://{addr}{path}")).send_json(body);
                let (ok, code) = match r {
                    Ok(_) => (true, None),
                    Err(ureq::Error::Status(_, resp)) => {
                        let v: Value = resp.into_json().unwrap_or(Value::Null);
                        (
                            false,
                            Some(
                                v["error"]["code"]
                                    .as_str()
                                    .unwrap_or("http_error")
                                    .to_string(),
                            ),
                        )
                    }
                    Err(e) => (false, Some(format!("transport: {}", e.kind()))),
                };
                out.push(Attempt {
                    at: started - origin,
                    ok,
                    code,
                    latency: started.elapsed(),
                });
                next += PROBE_INTERVAL;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            let _ = seq;
            out
        });
        Probe {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

/// Longest time between two successful attempts (from the first success on).
pub fn longest_gap(a: &[Attempt]) -> Duration {
    let mut last: Option<Duration> = None;
    let mut worst = Duration::ZERO;
    for x in a.iter().filter(|x| x.ok) {
        let done = x.at + x.latency;
        if let Some(l) = last {
            worst = worst.max(done.saturating_sub(l));
        }
        last = Some(done);
    }
    worst
}

/// Longest time between two successful attempts from `since` on, counting the gap from the
/// last success completed before `since` to the first one after it (the stall a fault at
/// `since` causes), and ignoring earlier gaps (the drill's own setup).
pub fn longest_gap_since(a: &[Attempt], since: Duration) -> Duration {
    let start = a
        .iter()
        .filter(|x| x.ok && x.at + x.latency <= since)
        .map(|x| x.at)
        .next_back()
        .unwrap_or(Duration::ZERO);
    let from: Vec<Attempt> = a.iter().filter(|x| x.at >= start).cloned().collect();
    longest_gap(&from)
}

/// Time from `since` until the first attempt that started after it and succeeded
/// (completion time).
pub fn time_to_success_after(a: &[Attempt], since: Duration) -> Option<Duration> {
    a.iter()
        .find(|x| x.ok && x.at >= since)
        .map(|x| (x.at + x.latency).saturating_sub(since))
}

/// Human-readable availability timeline: runs of successes and failures.
pub fn timeline(a: &[Attempt]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < a.len() {
        let ok = a[i].ok;
        let mut j = i;
        while j + 1 < a.len() && a[j + 1].ok == ok {
            j += 1;
        }
        let n = j - i + 1;
        let slowest = a[i..=j].iter().map(|x| x.latency).max().unwrap_or_default();
        let what = if ok {
            format!("{n} writes ok (slowest {} ms)", slowest.as_millis())
        } else {
            let mut codes: Vec<String> = a[i..=j].iter().filter_map(|x| x.code.clone()).collect();
            codes.sort();
            codes.dedup();
            format!(
                "{n} writes FAILED ({}), each failed within {} ms",
                codes.join(", "),
                slowest.as_millis()
            )
        };
        out.push(format!(
            "{:>7.1}s - {:>6.1}s  {what}",
            a[i].at.as_secs_f64(),
            (a[j].at + a[j].latency).as_secs_f64()
        ));
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at_ms: u64, ok: bool, latency_ms: u64) -> Attempt {
        Attempt {
            at: Duration::from_millis(at_ms),
            ok,
            code: (!ok).then(|| "no_quorum".to_string()),
            latency: Duration::from_millis(latency_ms),
        }
    }

    /// Property: the gap measured for a fault counts the stall across the fault (from the
    /// last success before it) and nothing from before it.
    #[test]
    fn gaps_before_the_fault_do_not_count_for_it() {
        let a = [
            attempt(0, true, 5),
            attempt(100, true, 5),
            // A 600 ms gap in the set-up, before the fault.
            attempt(700, true, 5),
            attempt(800, true, 5),
            // The fault at 850 ms: one write fails, the next one is slow.
            attempt(900, false, 300),
            attempt(1200, true, 50),
            attempt(1300, true, 5),
        ];
        assert_eq!(longest_gap(&a), Duration::from_millis(600));
        // From the success that completed at 805 ms to the one at 1,250 ms.
        assert_eq!(
            longest_gap_since(&a, Duration::from_millis(850)),
            Duration::from_millis(445)
        );
        // A fault before any success: everything counts.
        assert_eq!(longest_gap_since(&a, Duration::ZERO), longest_gap(&a));
    }
}
