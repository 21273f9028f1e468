//! A throw-away network for drills: one network namespace per node (and one for the
//! client), one bridge per "switch", one veth pair ("cable") per node per switch.
//!
//! Everything gets a unique prefix and is deleted on drop. Traffic stays inside the
//! namespaces this creates: the bridges carry no address in the host namespace.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Index of the client namespace (the drill's writer and readers live there).
pub const CLIENT: usize = 100;

pub struct Net {
    pub prefix: String,
    pub nodes: usize,
    pub paths: usize,
    keep: bool,
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
        let prefix = format!("qd{tag:04x}");
        let net = Net {
            prefix,
            nodes,
            paths,
            keep,
        };
        net.build()
            .with_context(|| format!("building drill network {}", net.prefix))?;
        Ok(net)
    }

    fn ns(&self, i: usize) -> String {
        if i == CLIENT {
            format!("{}c", self.prefix)
        } else {
            format!("{}n{i}", self.prefix)
        }
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
        for i in (1..=self.nodes).chain(std::iter::once(CLIENT)) {
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
        for k in 1..=self.paths {
            let _ = ip(&["link", "del", &self.bridge(k)]);
        }
    }
}
