//! Pinning a connection's thread to one CPU, for `[runtime] mysql_follow_client_cpu`.

use std::sync::Arc;

use quorate_mysql_wire::{FollowClientCpu, PinThread};

/// A [`FollowClientCpu`] that pins threads with `sched_setaffinity` to the CPUs the
/// process may run on when this is called (a container's cpuset may leave some out).
/// `Ok(None)` when there is only one.
pub(crate) fn follow_client_cpu() -> std::io::Result<Option<FollowClientCpu>> {
    let allowed = current_affinity()?;
    let cpus: Vec<usize> = (0..CPU_SLOTS)
        // SAFETY: CPU_ISSET reads one bit of the set, below its size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &allowed) })
        .collect();
    let pin: PinThread = Arc::new(move |cpu: Option<usize>| match cpu {
        Some(cpu) => {
            if cpu >= CPU_SLOTS {
                return Err(std::io::Error::other(format!("no CPU {cpu}")));
            }
            // SAFETY: cpu_set_t is plain bits, valid when zeroed; CPU_SET writes one bit,
            // below the set's size (checked above).
            let one = unsafe {
                let mut one: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut one);
                one
            };
            set_affinity(&one)
        }
        None => set_affinity(&allowed),
    });
    Ok(FollowClientCpu::new(&cpus, pin))
}

/// CPU numbers a `cpu_set_t` can hold.
const CPU_SLOTS: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

fn current_affinity() -> std::io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain bits, valid when zeroed; sched_getaffinity writes at most
    // `size_of::<cpu_set_t>()` bytes into the set, which lives on this frame for the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(set)
    }
}

/// Restricts the calling thread to `set`.
fn set_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: sched_setaffinity(0, ..) only reads the set, for the calling thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
