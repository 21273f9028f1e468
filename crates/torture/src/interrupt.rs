//! Cleaning up after an interrupted drill or torture run.
//!
//! A run makes things outside its own process: network namespaces, veth pairs and bridges,
//! node processes inside those namespaces, a mounted small disk, a run directory. Their
//! owners' `Drop` removes them when the run ends, but Ctrl-C (SIGINT), SIGTERM or SIGHUP
//! would end the process without running any `Drop`. [`install`] blocks those signals in
//! the calling thread, and so in every thread it starts afterwards, and waits for them on a
//! thread of its own. That thread removes what is registered here and exits with status
//! 128 + the signal's number.
//!
//! What a run chose to keep (`--keep`) is not registered, so an interrupt keeps it too.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// A drill network, by the names of what it made.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    pub prefix: String,
    pub cables: Vec<String>,
    pub namespaces: Vec<String>,
    pub bridges: Vec<String>,
}

struct Registry {
    networks: Vec<Network>,
    /// Mount points, with the image file behind each (none for a tmpfs).
    mounts: Vec<(PathBuf, Option<PathBuf>)>,
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    networks: Vec::new(),
    mounts: Vec::new(),
    dirs: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn register_network(n: Network) {
    registry().networks.push(n);
}

pub(crate) fn unregister_network(prefix: &str) {
    registry().networks.retain(|n| n.prefix != prefix);
}

pub(crate) fn register_mount(mount: &Path, image: Option<&Path>) {
    registry()
        .mounts
        .push((mount.to_path_buf(), image.map(Path::to_path_buf)));
}

pub(crate) fn unregister_mount(mount: &Path) {
    registry().mounts.retain(|(m, _)| m != mount);
}

/// Registers a run directory to delete on an interrupt.
pub fn register_dir(dir: &Path) {
    registry().dirs.push(dir.to_path_buf());
}

/// The run ended normally: its directory is deleted or kept by the run itself.
pub fn unregister_dir(dir: &Path) {
    registry().dirs.retain(|d| d != dir);
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and starts the thread that
/// cleans up when one arrives. Call it first thing, before any other thread is started:
/// a thread started earlier keeps the signals unblocked and would die with them. Only the
/// first call does anything.
pub fn install() -> anyhow::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            // SAFETY: a zeroed sigset_t is a valid argument for sigemptyset, which
            // initialises it; sigaddset and pthread_sigmask only read or write the set we
            // own and this thread's mask.
            let set = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                    libc::sigaddset(&mut set, sig);
                }
                let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                if rc != 0 {
                    return Err(format!(
                        "blocking signals: {}",
                        std::io::Error::from_raw_os_error(rc)
                    ));
                }
                set
            };
            std::thread::Builder::new()
                .name("interrupt".into())
                .spawn(move || {
                    let mut sig: libc::c_int = 0;
                    // SAFETY: `set` is an initialised signal set and `sig` a valid place
                    // for the number; the signals are blocked in every thread, so sigwait
                    // is how they are delivered.
                    while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
                    clean_up(sig);
                    std::process::exit(128 + sig);
                })
                .map(|_| ())
                .map_err(|e| format!("starting the interrupt thread: {e}"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Removes everything registered: the processes inside the networks' namespaces, the
/// networks, the mounts, then the directories (which may hold the mounts).
fn clean_up(sig: libc::c_int) {
    let r = registry();
    let names: Vec<&str> = r.networks.iter().map(|n| n.prefix.as_str()).collect();
    eprintln!(
        "interrupted (signal {sig}): removing drill network(s) [{}] with their processes, {} mount(s), {} directory(ies)",
        names.join(", "),
        r.mounts.len(),
        r.dirs.len()
    );
    for n in &r.networks {
        crate::netns::kill_processes_in(&n.namespaces);
    }
    for n in &r.networks {
        crate::netns::remove_network(n);
    }
    for (mount, image) in &r.mounts {
        crate::disk::unmount(mount, image.as_deref());
    }
    for d in &r.dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}
