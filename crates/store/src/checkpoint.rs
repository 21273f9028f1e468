//! WAL checkpoints off the writer's path.
//!
//! SQLite's default (`wal_autocheckpoint`) checkpoints inside the COMMIT that takes the WAL
//! past 1,000 pages: the committing connection copies every page into the database file and
//! syncs both files. Here that connection is the single writer, so every transaction waits
//! meanwhile (12-17 ms per checkpoint under sysbench's `oltp_update_index`, about twice a
//! second; see docs/BENCHMARKS.md).
//!
//! Instead, the writer's WAL hook only wakes a background thread, which copies pages with
//! `PASSIVE` checkpoints on a connection of its own: they never block the writer. SQLite
//! starts the WAL over from its beginning only when a write transaction begins with every
//! frame copied, which seldom happens while the thread copies concurrently with commits.
//! So once the WAL holds [`RESTART_PAGES`], the thread copies again until a pass finds
//! little new (fewer than [`WAKE_PAGES`] written during it), then runs a `RESTART`
//! checkpoint: it takes SQLite's write lock between two transactions, copies those few
//! frames, and the next transaction starts the WAL over. The writer waits for that short
//! copy only, and for readers on an older snapshot at most [`WAIT`]: after that the thread
//! gives up and tries again later.
//!
//! Should the thread fail or fall far behind, the writer checkpoints itself once the WAL
//! holds [`WRITER_PAGES`] (SQLite's own behaviour, with a larger WAL). As with SQLite's own
//! checkpoints, a read transaction that stays open keeps the frames written after it began
//! in the WAL until it ends.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::StoreError;
use crate::read::ReadPool;

/// WAL growth, in pages, after which the background thread is woken.
const WAKE_PAGES: i32 = 1000;
/// WAL size, in pages, from which the thread starts the WAL over (32 MiB of 4 KiB pages).
const RESTART_PAGES: i64 = 8192;
/// WAL size, in pages, from which the writer checkpoints itself (128 MiB).
const WRITER_PAGES: i32 = 32768;
/// At most this many further `PASSIVE` passes before a `RESTART`.
const RESTART_PASSES: usize = 4;
/// How long the thread's `RESTART` waits for the write lock or for readers.
pub(crate) const WAIT: Duration = Duration::from_millis(10);

/// Wakes the checkpoint thread. The thread ends when every `Wakeup` is dropped.
#[derive(Clone)]
pub(crate) struct Wakeup(SyncSender<()>);

/// Starts the checkpoint thread for the database `pool` reads.
pub(crate) fn start(pool: Arc<ReadPool>) -> Result<Wakeup, StoreError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("quorate-checkpoint".into())
        .spawn(move || run(&pool, &rx))?;
    Ok(Wakeup(tx))
}

fn run(pool: &ReadPool, wakeups: &Receiver<()>) {
    while wakeups.recv().is_ok() {
        match copy(pool) {
            Ok((log, copied)) => tracing::trace!(log, copied, "WAL checkpoint"),
            // The writer's own checkpoints keep the WAL bounded meanwhile.
            Err(e) => tracing::warn!(error = %e, "background WAL checkpoint failed"),
        }
    }
}

/// Copies the WAL; once it is large, has the next write start it over. `RESTART` holds
/// SQLite's write lock while it copies what the `PASSIVE` passes left, so it runs only
/// after a pass during which little was written (and everything before was copied).
fn copy(pool: &ReadPool) -> Result<(i64, i64), StoreError> {
    let (mut log, mut copied) = pool.checkpoint(Mode::Passive)?;
    if log < RESTART_PAGES {
        return Ok((log, copied));
    }
    for _ in 0..RESTART_PASSES {
        let before = log;
        (log, copied) = pool.checkpoint(Mode::Passive)?;
        if copied == log && log - before < i64::from(WAKE_PAGES) {
            return pool.checkpoint(Mode::Restart);
        }
    }
    // Writes keep coming faster than a pass: the next wake-up tries again, and past
    // WRITER_PAGES the writer checkpoints itself.
    Ok((log, copied))
}

/// The checkpoints the thread runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Copy what can be copied without waiting for anyone.
    Passive,
    /// Wait (at most [`WAIT`]) for the writer and for older readers, copy everything, and
    /// leave the WAL to be started over by the next write.
    Restart,
}

impl Mode {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            Self::Restart => "PRAGMA wal_checkpoint(RESTART)",
        }
    }
}

/// Replaces SQLite's automatic checkpoints on the writer connection `conn` (see the module
/// documentation).
pub(crate) fn install_hook(conn: &mut Connection, wakeup: Wakeup) -> Result<(), StoreError> {
    let mut woken_at = 0;
    let mut tail_at = 0;
    conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
        if pages < woken_at || pages < tail_at {
            // The WAL started over.
            woken_at = 0;
            tail_at = 0;
        }
        if pages >= woken_at + WAKE_PAGES {
            // Full means a wake-up is already pending.
            let _ = wakeup.0.try_send(());
            woken_at = pages;
        }
        // Not again on every commit when a reader keeps the tail from being copied.
        if pages >= WRITER_PAGES && pages >= tail_at + WAKE_PAGES {
            // PASSIVE, as SQLite's automatic checkpoints.
            match wal.checkpoint() {
                Ok(()) => tail_at = pages,
                // The thread is copying: try again after the next commit.
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
                // An error here would fail a COMMIT that has already happened: log it only.
                Err(e) => {
                    tail_at = pages;
                    tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
                }
            }
        }
        Ok(())
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    struct Db {
        dir: tempfile::TempDir,
        writer: Connection,
    }

    impl Db {
        fn open(wakeup: impl FnOnce(Arc<ReadPool>) -> Wakeup) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.sqlite");
            let mut writer = crate::schema::open_writer(&path).unwrap();
            let pool = Arc::new(ReadPool::new(&path, 1, None));
            install_hook(&mut writer, wakeup(pool)).unwrap();
            writer
                .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
                .unwrap();
            Self { dir, writer }
        }

        /// Inserts rows `from..to` (each commit writes three pages: the row's, its parent
        /// and the file header's), and returns the largest size the WAL
        /// file had meanwhile.
        fn insert(&self, from: i32, to: i32) -> u64 {
            let mut largest = 0;
            for i in from..to {
                // Three quarters of a page: one row per page, none overflowing.
                self.writer
                    .execute(
                        "INSERT INTO t VALUES (?1, zeroblob(?2))",
                        [i64::from(i), PAGE * 3 / 4],
                    )
                    .unwrap();
                largest = largest.max(self.len("db.sqlite-wal"));
            }
            largest
        }

        fn len(&self, name: &str) -> u64 {
            std::fs::metadata(self.dir.path().join(name)).unwrap().len()
        }

        /// The WAL header's checkpoint sequence number, which SQLite increments each time
        /// the WAL starts over.
        fn wal_restarts(&self) -> u32 {
            use std::io::Read;
            let mut header = [0u8; 16];
            std::fs::File::open(self.dir.path().join("db.sqlite-wal"))
                .and_then(|mut f| f.read_exact(&mut header))
                .unwrap();
            u32::from_be_bytes(header[12..16].try_into().unwrap())
        }

        fn rows(&self) -> i64 {
            self.writer
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        }
    }

    const PAGE: i64 = crate::schema::PAGE_SIZE;
    const FRAME: u64 = PAGE as u64 + 24;

    /// Below [`WRITER_PAGES`] the writer's commits only wake the thread, copying nothing
    /// themselves; past it the writer copies the WAL and the WAL starts over, so it stays
    /// bounded even with no thread copying.
    #[test]
    fn the_writer_only_wakes_the_thread_until_the_wal_is_large() {
        let (tx, rx) = mpsc::sync_channel(1);
        let db = Db::open(|_| Wakeup(tx));
        let db_before = db.len("db.sqlite");
        let largest = db.insert(0, WAKE_PAGES);
        assert!(largest > 2 * WAKE_PAGES as u64 * FRAME, "{largest}");
        assert_eq!(db.len("db.sqlite"), db_before, "the writer copied pages");
        assert!(rx.try_recv().is_ok(), "the thread was not woken");
        let rows = WRITER_PAGES / 2;
        let largest = db.insert(WAKE_PAGES, rows);
        assert!(
            db.len("db.sqlite") > db_before + (WRITER_PAGES / 4) as u64 * PAGE as u64,
            "the writer did not copy the WAL"
        );
        assert!(
            largest < (WRITER_PAGES + 2 * WAKE_PAGES) as u64 * FRAME,
            "the WAL grew to {largest} bytes"
        );
        assert_eq!(db.rows(), i64::from(rows));
    }

    /// The thread copies the WAL into the database file while the writer only commits, and
    /// the WAL starts over while writes go on, long before the writer would checkpoint
    /// itself.
    #[test]
    fn the_thread_copies_the_wal_and_starts_it_over() {
        let db = Db::open(|pool| start(pool).unwrap());
        let db_before = db.len("db.sqlite");
        db.insert(0, WAKE_PAGES);
        let deadline = Instant::now() + Duration::from_secs(20);
        // A thousand rows fill about a thousand pages.
        while db.len("db.sqlite") < db_before + WAKE_PAGES as u64 / 2 * PAGE as u64 {
            assert!(Instant::now() < deadline, "the thread copied nothing");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Past RESTART_PAGES, well below WRITER_PAGES.
        let mut rows = RESTART_PAGES as i32 / 2;
        let largest = db.insert(WAKE_PAGES, rows);
        assert!(largest > RESTART_PAGES as u64 * FRAME / 2, "{largest}");
        assert!(largest < WRITER_PAGES as u64 * FRAME, "{largest}");
        // Writes go on; the WAL starts over from its beginning.
        let first = db.wal_restarts();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            db.insert(rows, rows + 1);
            rows += 1;
            if db.wal_restarts() != first {
                break;
            }
            assert!(Instant::now() < deadline, "the WAL never started over");
        }
        assert_eq!(db.rows(), i64::from(rows));
    }
}
