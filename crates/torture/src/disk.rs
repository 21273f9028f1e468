//! A small filesystem for one node's data directory, so the nemesis can fill it.
//!
//! A loop-mounted ext4 image (`mkfs.ext4 -m 0`: no blocks reserved for root, who runs the
//! nodes), falling back to a size-limited tmpfs when loop devices are not available.
//! `fill` takes every free block with one preallocated file (then tops up with small writes
//! until ENOSPC); `free` deletes it. Drop unmounts and deletes the image, always.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

pub struct SmallDisk {
    pub mount: PathBuf,
    image: Option<PathBuf>,
    filler: PathBuf,
    /// "ext4 on a loop device" or "tmpfs".
    pub kind: &'static str,
}

fn run(cmd: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        bail!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn free_bytes(p: &Path) -> anyhow::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
    // SAFETY: statvfs writes into the zeroed struct we pass; the path is NUL-terminated.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        bail!(
            "statvfs {}: {}",
            p.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}

impl SmallDisk {
    /// Creates and mounts a `size_mb` filesystem at `dir/mnt`.
    pub fn create(dir: &Path, size_mb: u64) -> anyhow::Result<SmallDisk> {
        let mount = dir.join("mnt");
        std::fs::create_dir_all(&mount)?;
        let image = dir.join("disk.img");
        let loop_fs = (|| -> anyhow::Result<()> {
            run(
                "fallocate",
                &["-l", &format!("{size_mb}M"), &image.display().to_string()],
            )?;
            run(
                "mkfs.ext4",
                &["-q", "-F", "-m", "0", &image.display().to_string()],
            )?;
            run(
                "mount",
                &[
                    "-o",
                    "loop",
                    &image.display().to_string(),
                    &mount.display().to_string(),
                ],
            )
        })();
        let (image, kind) = match loop_fs {
            Ok(()) => (Some(image), "ext4 on a loop device"),
            Err(e) => {
                let _ = std::fs::remove_file(&image);
                eprintln!("note: no loop-mounted ext4 ({e:#}); using a tmpfs for the small disk");
                run(
                    "mount",
                    &[
                        "-t",
                        "tmpfs",
                        "-o",
                        &format!("size={size_mb}m"),
                        "tmpfs",
                        &mount.display().to_string(),
                    ],
                )?;
                (None, "tmpfs")
            }
        };
        crate::interrupt::register_mount(&mount, image.as_deref());
        Ok(SmallDisk {
            filler: mount.join("filler"),
            mount,
            image,
            kind,
        })
    }

    /// Takes every free byte; returns how many it took.
    pub fn fill(&self) -> anyhow::Result<u64> {
        let free = free_bytes(&self.mount)?;
        let mut taken = 0;
        if free > 0 {
            run(
                "fallocate",
                &["-l", &free.to_string(), &self.filler.display().to_string()],
            )
            .or_else(|_| {
                // Metadata may need a block: leave a little and top up below.
                run(
                    "fallocate",
                    &[
                        "-l",
                        &free.saturating_sub(1 << 20).to_string(),
                        &self.filler.display().to_string(),
                    ],
                )
            })?;
            taken = std::fs::metadata(&self.filler)
                .map(|m| m.len())
                .unwrap_or(0);
        }
        let mut top_up = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.mount.join("filler2"))?;
        let block = [0u8; 4096];
        for _ in 0..100_000 {
            match top_up.write_all(&block) {
                Ok(()) => taken += block.len() as u64,
                Err(_) => break,
            }
        }
        let _ = top_up.sync_all();
        Ok(taken)
    }

    /// Gives the space back.
    pub fn free(&self) {
        let _ = std::fs::remove_file(&self.filler);
        let _ = std::fs::remove_file(self.mount.join("filler2"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        self.free();
        unmount(&self.mount, self.image.as_deref());
        crate::interrupt::unregister_mount(&self.mount);
    }
}

/// Unmounts a small disk (lazily if it is busy) and deletes its image.
pub(crate) fn unmount(mount: &Path, image: Option<&Path>) {
    let m = mount.display().to_string();
    if run("umount", &[&m]).is_err() {
        let _ = run("umount", &["-l", &m]);
    }
    if let Some(i) = image {
        let _ = std::fs::remove_file(i);
    }
}
