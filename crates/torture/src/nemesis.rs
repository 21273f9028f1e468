//! The nemesis: faults injected one at a time, each held for a while and then healed.
//!
//! The schedule (which fault, which node, for how long, how long until the next) comes
//! from the seed alone, so a seed replays it. What depends on the run is resolved when the
//! step starts and printed: "the leader" is whoever leads at that moment. The first faults
//! of a schedule are every enabled kind once, in a seeded order, so a short run covers
//! them all; after that kinds are drawn at random.
//!
//! Only faults quorate promises to survive are injected (a failure is then a bug): at most
//! one data directory is lost at a time, and only when every other node is up and caught up
//! (otherwise the step is skipped and says why).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 of one node, restarted after the hold.
    Kill,
    /// kill -9 of the leader.
    KillLeader,
    /// kill -9 of a majority (the leader first) in quick succession.
    KillMajority,
    /// kill -9 of every node within a few hundred ms (power loss).
    KillAll,
    /// SIGSTOP of one node (a grey node: sockets open, nothing answers), then SIGCONT.
    Pause,
    /// SIGSTOP of the leader.
    PauseLeader,
    /// A minority cut off from the majority.
    Partition,
    /// The leader cut off from everyone else.
    PartitionLeader,
    /// Two sides that cannot hear each other, and one node that hears both.
    Bridge,
    /// One network path of one node pulled (with two paths: no effect expected), or both.
    PullPath,
    /// kill -9, data directory deleted, restart: the node comes back empty.
    Wipe,
    /// The small disk under one node's data directory filled up.
    DiskFull,
}

impl Fault {
    pub const ALL: [Fault; 12] = [
        Fault::Kill,
        Fault::KillLeader,
        Fault::KillMajority,
        Fault::KillAll,
        Fault::Pause,
        Fault::PauseLeader,
        Fault::Partition,
        Fault::PartitionLeader,
        Fault::Bridge,
        Fault::PullPath,
        Fault::Wipe,
        Fault::DiskFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::KillMajority => "kill-majority",
            Fault::KillAll => "kill-all",
            Fault::Pause => "pause",
            Fault::PauseLeader => "pause-leader",
            Fault::Partition => "partition",
            Fault::PartitionLeader => "partition-leader",
            Fault::Bridge => "bridge",
            Fault::PullPath => "pull-path",
            Fault::Wipe => "wipe",
            Fault::DiskFull => "disk-full",
        }
    }

    /// Parses a comma-separated list; `all` is every kind.
    pub fn parse_list(s: &str) -> Result<Vec<Fault>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(Fault::ALL);
            } else if part == "none" {
            } else {
                match Fault::ALL.into_iter().find(|f| f.name() == part) {
                    Some(f) => out.push(f),
                    None => {
                        return Err(format!(
                            "unknown nemesis `{part}`; one of all, none, {}",
                            Fault::ALL.map(|f| f.name()).join(", ")
                        ));
                    }
                }
            }
        }
        out.dedup();
        Ok(out)
    }
}

/// One step of the schedule.
#[derive(Debug, Clone)]
pub struct Step {
    pub fault: Fault,
    /// Seeded choices: a node (1-based), a second node, a path (1-based).
    pub node: usize,
    pub other: usize,
    pub path: usize,
    /// Pull both paths instead of one (PullPath).
    pub both_paths: bool,
    /// How long the fault lasts.
    pub hold: Duration,
    /// Quiet time after healing, before the next step.
    pub gap: Duration,
    /// Time between the kills of KillMajority / KillAll.
    pub kill_spacing: Duration,
}

/// Bounds of the timing of steps.
#[derive(Debug, Clone)]
pub struct Timing {
    pub hold_ms: (u64, u64),
    pub gap_ms: (u64, u64),
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            hold_ms: (1500, 5000),
            gap_ms: (1000, 3000),
        }
    }
}

/// The schedule of a seed: an endless sequence of steps.
pub struct Schedule {
    rng: StdRng,
    first: Vec<Fault>,
    kinds: Vec<Fault>,
    nodes: usize,
    paths: usize,
    timing: Timing,
}

impl Schedule {
    pub fn new(seed: u64, kinds: &[Fault], nodes: usize, paths: usize, timing: Timing) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x6e65_6d65_7369_7321);
        let mut first = kinds.to_vec();
        first.shuffle(&mut rng);
        first.reverse(); // popped from the end
        Schedule {
            rng,
            first,
            kinds: kinds.to_vec(),
            nodes,
            paths,
            timing,
        }
    }
}

impl Iterator for Schedule {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.kinds.is_empty() {
            return None;
        }
        let fault = match self.first.pop() {
            Some(f) => f,
            None => self.kinds[self.rng.gen_range(0..self.kinds.len())],
        };
        let node = self.rng.gen_range(1..=self.nodes);
        let mut other = self.rng.gen_range(1..self.nodes);
        if other >= node {
            other += 1;
        }
        Some(Step {
            fault,
            node,
            other,
            path: self.rng.gen_range(1..=self.paths.max(1)),
            both_paths: self.rng.gen_bool(0.3),
            hold: Duration::from_millis(
                self.rng
                    .gen_range(self.timing.hold_ms.0..=self.timing.hold_ms.1),
            ),
            gap: Duration::from_millis(
                self.rng
                    .gen_range(self.timing.gap_ms.0..=self.timing.gap_ms.1),
            ),
            kill_spacing: Duration::from_millis(self.rng.gen_range(20..=400)),
        })
    }
}

/// The groups of a partition that cuts `minority` off from the rest of `nodes`.
pub fn split(nodes: usize, minority: &[usize]) -> Vec<Vec<usize>> {
    let rest: Vec<usize> = (1..=nodes).filter(|n| !minority.contains(n)).collect();
    vec![minority.to_vec(), rest]
}

/// A bridge partition: `bridge` hears everyone; the others split in two halves that do
/// not hear each other.
pub fn bridge(nodes: usize, bridge: usize) -> Vec<Vec<usize>> {
    let others: Vec<usize> = (1..=nodes).filter(|n| *n != bridge).collect();
    let half = others.len() / 2;
    vec![others[..half].to_vec(), others[half..].to_vec()]
}

/// A minority of `nodes` that contains `node` (its size is (nodes - 1) / 2).
pub fn minority_with(nodes: usize, node: usize) -> Vec<usize> {
    let size = (nodes - 1) / 2;
    (0..size).map(|k| (node - 1 + k) % nodes + 1).collect()
}
