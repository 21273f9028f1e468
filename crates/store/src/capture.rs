//! Changesets: a small, audited wrapper over SQLite's session extension for what we do with
//! a captured changeset (apply it, combine several, invert it).
//!
//! Changes are captured by [`crate::record`]. The session extension's own capture,
//! [`CaptureSession`], is kept for tests only: it is the reference the recorder is
//! compared against. It sets `SQLITE_SESSION_OBJCONFIG_ROWID` (which rusqlite's `Session`
//! cannot), without which changes to tables that have no PRIMARY KEY would be left out.

use rusqlite::Connection;
use rusqlite::ffi;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

#[cfg(test)]
use crate::schema::is_local_table;

/// Copies a buffer SQLite allocated for us (`n` bytes at `buf`, possibly null or empty)
/// into a `Vec` and frees it with `sqlite3_free`.
///
/// # Safety
/// `buf` must be null or a live allocation from SQLite of at least `n` bytes, not used
/// again afterwards.
unsafe fn take_sqlite_buffer(buf: *mut c_void, n: c_int) -> Vec<u8> {
    if buf.is_null() {
        return Vec::new();
    }
    let bytes = if n > 0 {
        // SAFETY: the caller guarantees `n` readable bytes at `buf`.
        unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), n as usize) }.to_vec()
    } else {
        Vec::new()
    };
    // SAFETY: allocated by SQLite, freed exactly once here.
    unsafe { ffi::sqlite3_free(buf) };
    bytes
}

/// Records every row change made on one connection until dropped (the session
/// extension; tests only).
#[cfg(test)]
///
/// Must be dropped before the connection it was created on is closed; [`crate::writer`]
/// guarantees that by owning both and declaring the session field first.
pub(crate) struct CaptureSession {
    raw: *mut ffi::sqlite3_session,
}

// SAFETY: a session is used by one test thread; SQLite objects may move between threads as
// long as they are not used concurrently (the bundled SQLite is built thread-safe).
#[cfg(test)]
unsafe impl Send for CaptureSession {}

fn failure(rc: c_int, what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(what.to_string()))
}

#[cfg(test)]
impl CaptureSession {
    /// Starts recording changes to every table of `main`, except quorate's node-local
    /// bookkeeping tables.
    pub(crate) fn start(conn: &Connection) -> rusqlite::Result<Self> {
        // SAFETY: `handle` is the live connection; the session does not outlive it (see type
        // docs). All pointers passed below are valid for the duration of each call.
        unsafe {
            let db = conn.handle();
            let mut raw = ptr::null_mut();
            let rc = ffi::sqlite3session_create(db, c"main".as_ptr(), &mut raw);
            if rc != ffi::SQLITE_OK {
                return Err(failure(rc, "sqlite3session_create"));
            }
            let session = CaptureSession { raw };
            let mut on: c_int = 1;
            let rc = ffi::sqlite3session_object_config(
                raw,
                ffi::SQLITE_SESSION_OBJCONFIG_ROWID,
                (&mut on as *mut c_int).cast::<c_void>(),
            );
            if rc != ffi::SQLITE_OK {
                return Err(failure(rc, "sqlite3session_object_config(ROWID)"));
            }
            ffi::sqlite3session_table_filter(raw, Some(replicated_table), ptr::null_mut());
            let rc = ffi::sqlite3session_attach(raw, ptr::null());
            if rc != ffi::SQLITE_OK {
                return Err(failure(rc, "sqlite3session_attach"));
            }
            Ok(session)
        }
    }

    /// The changeset of everything recorded so far (empty when nothing changed).
    pub(crate) fn changeset(&self) -> rusqlite::Result<Vec<u8>> {
        // SAFETY: `raw` is a live session; on success SQLite hands us a buffer of `n` bytes
        // that we copy and then free with sqlite3_free, as the API requires.
        unsafe {
            let mut n: c_int = 0;
            let mut buf: *mut c_void = ptr::null_mut();
            let rc = ffi::sqlite3session_changeset(self.raw, &mut n, &mut buf);
            if rc != ffi::SQLITE_OK {
                return Err(failure(rc, "sqlite3session_changeset"));
            }
            Ok(take_sqlite_buffer(buf, n))
        }
    }
}

#[cfg(test)]
impl Drop for CaptureSession {
    fn drop(&mut self) {
        // SAFETY: `raw` came from sqlite3session_create and is deleted exactly once.
        unsafe { ffi::sqlite3session_delete(self.raw) }
    }
}

/// Test helper: the session extension's changeset of running `sql` on `conn`.
#[cfg(test)]
pub(crate) fn capture_with_session(conn: &Connection, sql: &str) -> Vec<u8> {
    let s = CaptureSession::start(conn).unwrap();
    conn.execute_batch(sql).unwrap();
    s.changeset().unwrap()
}

/// Test helper: every row of each query in `queries` (each selecting one text column), in
/// order.
#[cfg(test)]
pub(crate) fn rows_as_text(conn: &Connection, queries: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        let mut stmt = conn.prepare(q).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        out.extend(rows.map(|r| r.unwrap()));
    }
    out
}

/// Session table filter: 1 = record changes to this table.
#[cfg(test)]
unsafe extern "C" fn replicated_table(_ctx: *mut c_void, table: *const c_char) -> c_int {
    if table.is_null() {
        return 1;
    }
    // SAFETY: SQLite passes a NUL-terminated table name valid for this call.
    let name = unsafe { CStr::from_ptr(table) }.to_bytes();
    c_int::from(!is_local_table(name))
}

/// Why applying a changeset failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A row on this replica did not match the changeset's before-image (or was missing /
    /// already present): the replica no longer holds the state the leader had.
    #[error("replica diverged: {0}")]
    Diverged(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

struct ApplyCtx {
    conflict: Option<String>,
}

unsafe extern "C" fn on_conflict(
    ctx: *mut c_void,
    kind: c_int,
    iter: *mut ffi::sqlite3_changeset_iter,
) -> c_int {
    // SAFETY: `ctx` is the &mut ApplyCtx passed to sqlite3changeset_apply below, alive for
    // the whole call; `iter` is valid during this callback.
    let ctx = unsafe { &mut *ctx.cast::<ApplyCtx>() };
    if ctx.conflict.is_none() {
        let mut table: *const c_char = ptr::null();
        let (mut ncol, mut op, mut indirect) = (0, 0, 0);
        let rc = unsafe {
            ffi::sqlite3changeset_op(iter, &mut table, &mut ncol, &mut op, &mut indirect)
        };
        let table = if rc == ffi::SQLITE_OK && !table.is_null() {
            unsafe { CStr::from_ptr(table) }
                .to_string_lossy()
                .to_string()
        } else {
            "?".to_string()
        };
        let what = match kind {
            ffi::SQLITE_CHANGESET_DATA => "row differs from the before-image",
            ffi::SQLITE_CHANGESET_NOTFOUND => "row to change is missing",
            ffi::SQLITE_CHANGESET_CONFLICT => "row to insert already exists",
            ffi::SQLITE_CHANGESET_CONSTRAINT => "constraint violated",
            ffi::SQLITE_CHANGESET_FOREIGN_KEY => "foreign key violated",
            _ => "unknown conflict",
        };
        ctx.conflict = Some(format!("table {table}: {what}"));
    }
    ffi::SQLITE_CHANGESET_ABORT
}

/// Applies `changeset` on `conn`. Any conflict aborts the whole changeset: between identical
/// replicas a conflict cannot happen, so one means divergence, which we refuse to hide.
pub(crate) fn apply_changeset(conn: &Connection, changeset: &[u8]) -> Result<(), ApplyError> {
    if changeset.is_empty() {
        return Ok(());
    }
    let len = c_int::try_from(changeset.len())
        .map_err(|_| ApplyError::Diverged("changeset over 2 GiB".into()))?;
    let mut ctx = ApplyCtx { conflict: None };
    // SAFETY: the connection handle is live; SQLite only reads the changeset buffer (the
    // API takes a non-const pointer for historical reasons); `ctx` outlives the call.
    let rc = unsafe {
        ffi::sqlite3changeset_apply(
            conn.handle(),
            len,
            changeset.as_ptr() as *mut c_void,
            None,
            Some(on_conflict),
            (&mut ctx as *mut ApplyCtx).cast::<c_void>(),
        )
    };
    if let Some(detail) = ctx.conflict {
        return Err(ApplyError::Diverged(detail));
    }
    if rc != ffi::SQLITE_OK {
        return Err(ApplyError::Sqlite(failure(rc, "sqlite3changeset_apply")));
    }
    Ok(())
}

/// Applies `inverse`, the undo of a speculative transaction, as [`apply_changeset`] does,
/// with each table's DELETEs first ([`crate::record::deletes_first`]: the undo of a key
/// re-spelt under its collation inserts the old spelling, which must wait for the DELETE
/// of the new one). Reordered here, where undos happen, rather than on every commit.
pub(crate) fn apply_undo(conn: &Connection, inverse: &[u8]) -> Result<(), ApplyError> {
    let reordered = crate::record::deletes_first(inverse);
    debug_assert!(
        reordered.is_some() || inverse.is_empty(),
        "an inverse changeset did not read back"
    );
    apply_changeset(conn, reordered.as_deref().unwrap_or(inverse))
}

/// Combines several changesets, in order, into one with the same effect: a row changed by
/// several of them appears once, with its first before-image and its last after-image.
///
/// Applying one combined changeset costs SQLite one set of prepared statements per table,
/// where applying each changeset on its own prepares them again every time (followers
/// spent a quarter of their CPU there). Fails (`SQLITE_SCHEMA`) when one table appears with
/// different shapes, which a schema change between the changesets would cause; callers
/// then apply them one by one.
pub(crate) fn combine_changesets(changesets: &[&[u8]]) -> rusqlite::Result<Vec<u8>> {
    // SAFETY: the group is created, fed buffers valid for their stated lengths (SQLite
    // copies what it keeps), asked for its output, which we copy and free with
    // sqlite3_free, and deleted exactly once on every path.
    unsafe {
        let mut group: *mut ffi::sqlite3_changegroup = ptr::null_mut();
        let rc = ffi::sqlite3changegroup_new(&mut group);
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc, "sqlite3changegroup_new"));
        }
        let result = (|| {
            for cs in changesets {
                if cs.is_empty() {
                    continue;
                }
                let len = c_int::try_from(cs.len())
                    .map_err(|_| failure(ffi::SQLITE_TOOBIG, "changeset over 2 GiB"))?;
                let rc = ffi::sqlite3changegroup_add(group, len, cs.as_ptr() as *mut c_void);
                if rc != ffi::SQLITE_OK {
                    return Err(failure(rc, "sqlite3changegroup_add"));
                }
            }
            let mut n: c_int = 0;
            let mut out: *mut c_void = ptr::null_mut();
            let rc = ffi::sqlite3changegroup_output(group, &mut n, &mut out);
            if rc != ffi::SQLITE_OK {
                return Err(failure(rc, "sqlite3changegroup_output"));
            }
            Ok(take_sqlite_buffer(out, n))
        })();
        ffi::sqlite3changegroup_delete(group);
        result
    }
}

/// The changeset that undoes `changeset`.
pub(crate) fn invert_changeset(changeset: &[u8]) -> rusqlite::Result<Vec<u8>> {
    if changeset.is_empty() {
        return Ok(Vec::new());
    }
    let len = c_int::try_from(changeset.len())
        .map_err(|_| failure(ffi::SQLITE_TOOBIG, "changeset over 2 GiB"))?;
    // SAFETY: input buffer valid for `len` bytes; on success SQLite allocates the output,
    // which we copy and free with sqlite3_free.
    unsafe {
        let mut n: c_int = 0;
        let mut out: *mut c_void = ptr::null_mut();
        let rc = ffi::sqlite3changeset_invert(
            len,
            changeset.as_ptr().cast::<c_void>(),
            &mut n,
            &mut out,
        );
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc, "sqlite3changeset_invert"));
        }
        Ok(take_sqlite_buffer(out, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, u TEXT UNIQUE);
             CREATE TABLE w (k TEXT NOT NULL PRIMARY KEY, n INTEGER);",
        )
        .unwrap();
        conn
    }

    fn capture(conn: &Connection, sql: &str) -> Vec<u8> {
        capture_with_session(conn, sql)
    }

    fn dump(conn: &Connection) -> Vec<String> {
        rows_as_text(
            conn,
            &[
                "SELECT id || ':' || ifnull(v, 'NULL') || ':' || ifnull(u, 'NULL') FROM t ORDER BY id",
                "SELECT k || '=' || n FROM w ORDER BY k",
            ],
        )
    }

    /// Property: a combined changeset has the effect of its parts applied in order, on
    /// several tables, when rows are inserted, updated several times and deleted across
    /// the parts; a row inserted and deleted within the group leaves nothing.
    #[test]
    fn combined_changesets_have_the_effect_of_their_parts_in_order() {
        let leader = db();
        let parts = [
            capture(
                &leader,
                "INSERT INTO t VALUES (1, 'a', 'x'), (2, 'b', 'y'); INSERT INTO w VALUES ('k', 1)",
            ),
            capture(
                &leader,
                "UPDATE t SET v = 'a2' WHERE id = 1; UPDATE w SET n = n + 1",
            ),
            capture(
                &leader,
                "UPDATE t SET v = 'a3', u = NULL WHERE id = 1; DELETE FROM t WHERE id = 2",
            ),
            capture(
                &leader,
                "INSERT INTO t VALUES (3, 'c', 'z'); UPDATE w SET n = n + 1",
            ),
            capture(&leader, "DELETE FROM t WHERE id = 3"),
        ];
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let combined = combine_changesets(&refs).unwrap();
        assert!(combined.len() < parts.iter().map(Vec::len).sum::<usize>());

        let follower = db();
        apply_changeset(&follower, &combined).unwrap();
        assert_eq!(dump(&follower), dump(&leader));
        assert_eq!(dump(&follower), vec!["1:a3:NULL", "k=3"]);
    }

    /// Property: combining keeps divergence detection: a row whose value on the replica
    /// differs from the first before-image in the group is refused.
    #[test]
    fn combined_changesets_still_detect_divergence() {
        let leader = db();
        leader
            .execute_batch("INSERT INTO t VALUES (1, 'a', 'x')")
            .unwrap();
        let follower = db();
        follower
            .execute_batch("INSERT INTO t VALUES (1, 'tampered', 'x')")
            .unwrap();
        let parts = [
            capture(&leader, "UPDATE t SET v = 'b' WHERE id = 1"),
            capture(&leader, "UPDATE t SET v = 'c' WHERE id = 1"),
        ];
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let combined = combine_changesets(&refs).unwrap();
        let err = apply_changeset(&follower, &combined).unwrap_err();
        assert!(matches!(err, ApplyError::Diverged(_)), "{err}");
        assert_eq!(dump(&follower), vec!["1:tampered:x"]);
    }

    /// Property: a table whose shape changed between two changesets cannot be combined
    /// (the caller then applies them one by one) instead of producing a wrong changeset.
    #[test]
    fn changesets_of_different_table_shapes_are_not_combined() {
        let leader = db();
        let before = capture(&leader, "INSERT INTO t VALUES (1, 'a', 'x')");
        leader
            .execute_batch("ALTER TABLE t ADD COLUMN extra INTEGER")
            .unwrap();
        let after = capture(&leader, "INSERT INTO t VALUES (2, 'b', 'y', 7)");
        assert!(combine_changesets(&[&before, &after]).is_err());
    }
}
