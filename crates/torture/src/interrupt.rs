//! Cleaning up after an interrupted drill or torture run.
//!
//! A run makes things outside its own process: network namespaces, veth pairs and bridges,
//! node processes inside those namespaces, a mounted small disk, a run directory. Their
//! owners' `Drop` removes them when the run ends, but Ctrl-C (SIGINT), SIGTERM or SIGHUP
//! would end the process without running any `Drop`. [`install`] catches those signals and
//! hands them to a thread of its own, which removes what is registered here and exits with
//! status 128 + the signal's number.
//!
//! What a run chose to keep (`--keep`) is not registered, so an interrupt keeps it too.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
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

/// The write end of the pipe the signal handler writes the signal's number to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; it reads one byte from our stack.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP and starts the thread that cleans up when one
/// arrives. The handler only writes the signal's number to a pipe; the thread does the
/// work. (Blocking the signals and waiting for them with `sigwait` would be simpler, but a
/// blocked signal mask is inherited by the node processes the run starts, which then could
/// not be stopped with SIGTERM; a caught signal goes back to its default action in them.)
/// Only the first call does anything.
pub fn install() -> anyhow::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: pipe2 writes two descriptors into the array we pass.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(format!("pipe: {}", std::io::Error::last_os_error()));
            }
            let [read_end, write_end] = fds;
            SIGNAL_PIPE.store(write_end, Ordering::Relaxed);
            std::thread::Builder::new()
                .name("interrupt".into())
                .spawn(move || {
                    let mut byte = 0u8;
                    loop {
                        // SAFETY: read(2) into one byte we own, from our own pipe.
                        let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
                        if n == 1 {
                            break;
                        }
                        if n == 0 {
                            return;
                        }
                    }
                    let sig = libc::c_int::from(byte);
                    clean_up(sig);
                    std::process::exit(128 + sig);
                })
                .map_err(|e| format!("starting the interrupt thread: {e}"))?;
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                // SAFETY: a zeroed sigaction with a handler, SA_RESTART and an empty mask
                // is a valid argument; the handler only calls async-signal-safe write(2).
                let rc = unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                    action.sa_flags = libc::SA_RESTART;
                    libc::sigemptyset(&mut action.sa_mask);
                    libc::sigaction(sig, &action, std::ptr::null_mut())
                };
                if rc != 0 {
                    return Err(format!(
                        "catching signal {sig}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            Ok(())
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
