//! A throw-away network for drills and torture runs: one network namespace per node (and
//! one for the clients), one bridge per "switch", one veth pair ("cable") per node per
//! switch.
//!
//! Two kinds of network fault:
//! - a pulled cable (`ip link set ... down` on the host end of a veth): the node loses that
//!   path to everyone, clients included;
//! - a partition: packets *from* one node are silently dropped on arrival at another, by a
//!   policy-routing rule in the receiver's namespace (`ip rule add from ADDR blackhole`).
//!   Rules are directional, so any graph of who hears whom can be built (a "bridge" node
//!   that hears both halves that cannot hear each other, or one-way loss). Only iproute2
//!   is needed: no iptables / nft. The namespace's `lookup local` rule is moved behind
//!   the drop rules at build time, otherwise local delivery would bypass them. Client
//!   traffic (from the client namespace) is never dropped by a partition.
//!
//! Everything gets a unique prefix and is deleted on drop. Traffic stays inside the
//! namespaces this creates: the bridges carry no address in the host namespace.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, bail};

/// Index of the client namespace (the drill's writer and readers live there).
pub const CLIENT: usize = 100;

/// Priority of partition drop rules (before `lookup local`, which moves to `LOCAL_PREF`).
const DROP_PREF: &str = "10";
const LOCAL_PREF: &str = "100";

pub struct Net {
    pub prefix: String,
    pub nodes: usize,
    pub paths: usize,
    keep: bool,
    /// Directed pairs (from, to) whose packets are dropped on arrival at `to`.
    dropped: Mutex<BTreeSet<(usize, usize)>>,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Why drills cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("drills need root (network namespaces); run as root".into());
    }
    if Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Some("drills need `ip` from iproute2".into());
    }
    None
}

impl Net {
    /// Creates the network for `nodes` nodes with `paths` switches.
    pub fn create(nodes: usize, paths: usize, keep: bool) -> anyhow::Result<Net> {
        if let Some(why) = unavailable() {
            bail!("{why}");
        }
        let tag: u16 = rand::random();
        let prefix = format!("{NAME_PREFIX}{tag:04x}");
        let net = Net {
            prefix,
            nodes,
            paths,
            keep,
            dropped: Mutex::new(BTreeSet::new()),
        };
        if !keep {
            // Registered before it is built, so an interrupt while building removes the part
            // that exists.
            crate::interrupt::register_network(net.names());
        }
        net.build()
            .with_context(|| format!("building drill network {}", net.prefix))?;
        Ok(net)
    }

    /// Everything this network makes, by name.
    pub(crate) fn names(&self) -> crate::interrupt::Network {
        let members: Vec<usize> = (1..=self.nodes).chain(std::iter::once(CLIENT)).collect();
        crate::interrupt::Network {
            prefix: self.prefix.clone(),
            cables: members
                .iter()
                .flat_map(|&i| (1..=self.paths).map(move |k| (i, k)))
                .map(|(i, k)| self.cable_name(i, k))
                .collect(),
            namespaces: members.iter().map(|&i| self.ns(i)).collect(),
            bridges: (1..=self.paths).map(|k| self.bridge(k)).collect(),
        }
    }

    fn ns(&self, i: usize) -> String {
        if i == CLIENT {
            format!("{}c", self.prefix)
        } else {
            format!("{}n{i}", self.prefix)
        }
    }

    /// Path of namespace `i` (for `setns`).
    pub fn ns_path(&self, i: usize) -> String {
        format!("/var/run/netns/{}", self.ns(i))
    }

    fn bridge(&self, k: usize) -> String {
        format!("{}s{k}", self.prefix)
    }

    /// Host-side end of node `i`'s cable to switch `k`.
    fn cable_name(&self, i: usize, k: usize) -> String {
        let who = if i == CLIENT {
            "c".to_string()
        } else {
            i.to_string()
        };
        format!("{}h{who}{k}", self.prefix)
    }

    /// Address of node `i` on switch `k`.
    pub fn addr(&self, i: usize, k: usize) -> String {
        format!("10.{}.0.{}", 100 + k, i)
    }

    fn build(&self) -> anyhow::Result<()> {
        for k in 1..=self.paths {
            ip(&["link", "add", &self.bridge(k), "type", "bridge"])?;
            ip(&["link", "set", &self.bridge(k), "up"])?;
        }
        let members: Vec<usize> = (1..=self.nodes).chain(std::iter::once(CLIENT)).collect();
        for i in members {
            let ns = self.ns(i);
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            if i != CLIENT {
                // Partition rules must be consulted before local delivery.
                ip(&[
                    "-n", &ns, "rule", "add", "from", "all", "lookup", "local", "pref", LOCAL_PREF,
                ])?;
                ip(&["-n", &ns, "rule", "del", "pref", "0"])?;
            }
            for k in 1..=self.paths {
                let host = self.cable_name(i, k);
                let inside = format!("e{k}");
                ip(&[
                    "link", "add", &host, "type", "veth", "peer", "name", &inside, "netns", &ns,
                ])?;
                ip(&["link", "set", &host, "master", &self.bridge(k)])?;
                ip(&["link", "set", &host, "up"])?;
                ip(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", self.addr(i, k)),
                    "dev",
                    &inside,
                ])?;
                ip(&["-n", &ns, "link", "set", &inside, "up"])?;
            }
        }
        Ok(())
    }

    /// Plugs (`up`) or pulls (`down`) node `i`'s cable to switch `k`.
    pub fn cable(&self, i: usize, k: usize, up: bool) -> anyhow::Result<()> {
        ip(&[
            "link",
            "set",
            &self.cable_name(i, k),
            if up { "up" } else { "down" },
        ])
    }

    /// Drops every packet from node `from` arriving at node `to` (on every path). One
    /// direction only: call it twice for a symmetric cut. TCP needs both directions, so a
    /// one-way drop still breaks connections both ways, but each side sees silence rather
    /// than a refusal.
    pub fn drop_from(&self, from: usize, to: usize) -> anyhow::Result<()> {
        let mut dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        if !dropped.insert((from, to)) {
            return Ok(());
        }
        for k in 1..=self.paths {
            ip(&[
                "-n",
                &self.ns(to),
                "rule",
                "add",
                "from",
                &self.addr(from, k),
                "blackhole",
                "pref",
                DROP_PREF,
            ])?;
        }
        Ok(())
    }

    /// Cuts the network into groups: nodes hear only members of their own group. Nodes in
    /// no group keep hearing everyone (and everyone hears them): that is how a "bridge"
    /// node is made.
    pub fn partition(&self, groups: &[Vec<usize>]) -> anyhow::Result<()> {
        for (a, ga) in groups.iter().enumerate() {
            for (b, gb) in groups.iter().enumerate() {
                if a == b {
                    continue;
                }
                for &x in ga {
                    for &y in gb {
                        self.drop_from(x, y)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes every partition rule.
    pub fn heal(&self) -> anyhow::Result<()> {
        let mut dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        let mut first_err = None;
        for (from, to) in std::mem::take(&mut *dropped) {
            for k in 1..=self.paths {
                if let Err(e) = ip(&[
                    "-n",
                    &self.ns(to),
                    "rule",
                    "del",
                    "from",
                    &self.addr(from, k),
                    "blackhole",
                    "pref",
                    DROP_PREF,
                ]) {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The directed pairs currently dropped.
    pub fn dropped(&self) -> Vec<(usize, usize)> {
        let dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        dropped.iter().copied().collect()
    }

    /// A command that runs `program` inside node `i`'s namespace.
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(i)]).arg(program);
        c
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "keeping drill network {} (delete with: ip netns del {}n1 ... ; ip link del {}s1)",
                self.prefix, self.prefix, self.prefix
            );
            return;
        }
        remove_network(&self.names());
        crate::interrupt::unregister_network(&self.prefix);
    }
}

/// Deletes a network by name. The cables go first: a namespace outlives `ip netns del`
/// while anything still holds it (a thread that entered it, a socket opened in it, a
/// process that has not been reaped yet), and its cables would stay in the host namespace
/// with it. Deleting the host end of a veth deletes both ends at once.
pub(crate) fn remove_network(n: &crate::interrupt::Network) {
    for c in &n.cables {
        let _ = ip(&["link", "del", c]);
    }
    for ns in &n.namespaces {
        let _ = ip(&["netns", "del", ns]);
    }
    for b in &n.bridges {
        let _ = ip(&["link", "del", b]);
    }
}

/// The first letters of every name a drill network makes (namespaces, bridges, cables).
pub const NAME_PREFIX: &str = "qd";

/// The output of `ip ARGS`, empty if it cannot run.
fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Names of the links in this (the host) namespace that start with `prefix`.
pub fn links_named(prefix: &str) -> Vec<String> {
    ip_output(&["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Names of the network namespaces that start with `prefix`.
pub fn namespaces_named(prefix: &str) -> Vec<String> {
    ip_output(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// The processes inside namespace `ns`.
pub fn pids_in(ns: &str) -> Vec<u32> {
    ip_output(&["netns", "pids", ns])
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kills (SIGKILL) every process inside these namespaces, except this one.
pub(crate) fn kill_processes_in(namespaces: &[String]) {
    let me = std::process::id();
    for ns in namespaces {
        for pid in pids_in(ns).into_iter().filter(|&p| p != me) {
            // SAFETY: kill(2) has no memory effects; the pid is a process inside a
            // namespace this run made.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropping the network leaves nothing of it in the host namespace (no cable, no
    /// bridge, no namespace name), even while a thread is still inside one of its
    /// namespaces: such a thread keeps that namespace alive past `ip netns del`.
    /// Root only (network namespaces); skipped with a message elsewhere.
    #[test]
    fn dropping_the_network_removes_its_links_even_while_a_namespace_is_held() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        // As in a drill: an interrupt (Ctrl-C on `cargo test`) while the network exists
        // removes it before the test process exits.
        crate::interrupt::install().expect("catching interrupts");
        let net = Net::create(2, 2, false).expect("building a network");
        let prefix = net.prefix.clone();
        assert_eq!(
            links_named(&prefix).len(),
            2 + 3 * 2,
            "bridges and host-side cables"
        );
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (leave_tx, leave_rx) = std::sync::mpsc::channel::<()>();
        let path = net.ns_path(CLIENT);
        let holder = std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("opening the client namespace");
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a namespace fd changes only this thread's network namespace.
            let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            entered_tx.send(rc).unwrap();
            let _ = leave_rx.recv();
        });
        assert_eq!(
            entered_rx.recv().unwrap(),
            0,
            "setns into the client namespace"
        );
        drop(net);
        let left = links_named(&prefix);
        let names = namespaces_named(&prefix);
        leave_tx.send(()).unwrap();
        holder.join().unwrap();
        assert!(left.is_empty(), "links left behind: {left:?}");
        assert!(names.is_empty(), "namespaces left behind: {names:?}");
    }
}
