//! openraft's view of the store: apply committed entries, build and install snapshots.

use std::io;

use futures::{Stream, TryStreamExt};
use openraft::OptionalSend;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use quorate_consensus::{
    Command, EntryPayload, LogId, Op, Response, SnapshotMeta, StoredMembership, TypeConfig,
};

use crate::snapshot::{self, SnapshotFile};
use crate::spec::SpecState;
use crate::{Store, StoreError};

type SnapshotOf =
    Snapshot<quorate_consensus::CommittedLeaderId, u64, quorate_consensus::NodeInfo, SnapshotFile>;

fn io_err(e: StoreError) -> io::Error {
    match e {
        StoreError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// The state machine openraft drives. Cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
}

impl StateMachine {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Builds snapshots for openraft.
pub struct SnapshotBuilder {
    store: Store,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf, io::Error> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || build(&store))
            .await
            .map_err(io::Error::other)?
            .map_err(io_err)
    }
}

impl Store {
    /// The last log index the newest snapshot kept here covers.
    pub fn snapshot_index(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .inner
            .snapshots
            .current()?
            .and_then(|(meta, _)| meta.last_log_id.map(|l| l.index)))
    }

    /// Builds a snapshot of the applied state now (blocking), as openraft does after
    /// `logs_since_last` entries; returns the index it covers.
    pub fn build_snapshot_now(&self) -> Result<Option<u64>, StoreError> {
        Ok(build(self)?.meta.last_log_id.map(|l| l.index))
    }
}

fn build(store: &Store) -> Result<SnapshotOf, StoreError> {
    let inner = &store.inner;
    // Write the in-memory applied state first (when the writer is free), so the snapshot
    // covers as much as possible and the log can be purged further.
    let _ = store.persist_applied_if_idle();
    let tmp = inner.snapshots.temp_path("build");
    let result = (|| {
        let applied = inner
            .readers
            .with_conn(|_| snapshot::build_copy(&inner.db_path, &tmp))?;
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership,
        };
        let file = inner.snapshots.keep(&meta, &tmp)?;
        tracing::info!(last_log_id = ?meta.last_log_id.as_ref().map(|l| l.index), bytes = file.size, "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: file,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let a = self.store.applied();
        Ok((a.last_applied, a.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let inner = self.store.inner.clone();
        let witness = self.store.is_witness();
        // Entries not executed here are applied together in one SQLite transaction, under
        // the writer lock taken before any of them is marked applied, so the applied index
        // never covers an entry whose effects are not yet written.
        let mut batch = ForeignBatch::default();
        let mut responses = Vec::new();
        let mut last = None;
        let mut abandon = false;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id;
            let index = log_id.index;
            let mut membership = None;
            let mut foreign_ops = None;
            let mut skipped = false;
            let mut marked = false;
            match entry.payload {
                EntryPayload::Blank | EntryPayload::Normal(Command::Noop) => {}
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(log_id), m));
                }
                EntryPayload::Normal(Command::Tx { origin, ops }) => {
                    // An entry whose effects are not already here moves its chain position
                    // under the writer lock, with its effects: otherwise a write in between
                    // (`persist_applied_if_idle`) could persist the chain ahead of the
                    // applied index, and after a crash the replay would skip the entry
                    // here while every other replica applied it. Own entries (already in
                    // SQLite) and skipped ones (they move nothing) are settled under the
                    // spec lock alone. The writer is taken before the spec lock, as
                    // everywhere.
                    let settled = |spec: &SpecState| {
                        witness || spec.holds_unclaimed(&origin) || !spec.applied.chain_ok(&origin)
                    };
                    let mut spec = loop {
                        if batch.writer.is_none() && !settled(&inner.spec.lock()) {
                            batch.writer = Some(inner.writer.clone().lock_owned().await);
                        }
                        let spec = inner.spec.lock();
                        if batch.writer.is_some() || settled(&spec) {
                            break spec;
                        }
                        // Taken for undo in between: its effects are gone, take the writer.
                    };
                    if !witness && !spec.applied.chain_ok(&origin) {
                        // A transaction this one depended on never committed: skip it, on
                        // every replica alike. If it is ours, its effects (and those of our
                        // later ones) must be undone here.
                        skipped = true;
                        if spec.is_ours(&origin) {
                            abandon = true;
                        }
                        tracing::warn!(
                            index,
                            seq = origin.seq,
                            node = origin.node,
                            "skipped a transaction whose predecessor never committed"
                        );
                    } else {
                        spec.applied.chain_advance(&origin);
                        let own = spec.claim(&origin, &log_id);
                        if !own && !witness {
                            foreign_ops = Some(ops);
                        } else if batch.writer.is_none() {
                            // Claiming lets the next write delete the entry's `_quorate_spec`
                            // row; the applied index that covers it must move under the same
                            // lock, or that write could persist the deletion without it.
                            spec.mark_applied(&log_id, membership.take());
                            marked = true;
                        }
                    }
                }
            }
            if let Some(ops) = foreign_ops {
                if batch.writer.is_none() {
                    batch.writer = Some(inner.writer.clone().lock_owned().await);
                }
                batch.entries.push((log_id, ops));
            }
            if batch.writer.is_some() {
                batch.marks.push((log_id, membership));
            } else if !marked {
                inner.spec.lock().mark_applied(&log_id, membership);
            }
            last = Some(log_id);
            if let Some(r) = responder {
                responses.push((r, index, skipped));
            }
            // Bound the size of one SQLite transaction.
            if batch.entries.len() >= 256 {
                batch.flush(&self.store)?;
            }
        }
        // Entries applied without the writer (our own, blanks, memberships) moved the
        // applied state in memory only. It reaches SQLite with a later write (see
        // `SpecState::persist_due`) or the node's periodic `persist_applied_if_idle`; not
        // here, where a SQLite transaction of its own would delay every commit's answer.
        if batch.writer.is_some() {
            batch.flush(&self.store)?;
        }
        for (r, index, skipped) in responses {
            r.send(Response { index, skipped });
        }
        if let Some(l) = last {
            inner.applied.send_replace(Some(l));
        }
        if abandon {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.abandon_speculation().await {
                    tracing::error!(error = %e, "could not undo speculative transactions");
                }
            });
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            store: self.store.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        install(&self.store, meta, snapshot).await.map_err(|e| {
            tracing::error!(error = %e, "snapshot refused");
            io_err(e)
        })
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf>, io::Error> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || -> Result<Option<SnapshotOf>, io::Error> {
            let Some((meta, file)) = store.inner.snapshots.current().map_err(io_err)? else {
                return Ok(None);
            };
            // Never send a damaged snapshot: check it against the checksum taken when it was
            // built; if it differs, drop it (openraft then builds a fresh one).
            let (size, sha256) = snapshot::hash_file(&file.path).map_err(io_err)?;
            if size != file.size || sha256 != file.sha256 {
                tracing::error!(
                    path = %file.path.display(),
                    "snapshot on disk is corrupt (checksum mismatch); discarding it and building a new one"
                );
                store.inner.snapshots.discard(&file.path);
                // openraft asks for the current snapshot when it must send one: answering
                // "none" then would stop Raft. Build a fresh one instead.
                return build(&store).map(Some).map_err(io_err);
            }
            Ok(Some(Snapshot { meta, snapshot: file }))
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Batches up to this size are applied without leaving the runtime worker (see
/// `ForeignBatch::flush`).
const INLINE_APPLY_ENTRIES: usize = 16;
const INLINE_APPLY_BYTES: usize = 64 * 1024;

/// Committed entries to apply on the writer, and the applied marks that must wait for them.
#[derive(Default)]
struct ForeignBatch {
    writer: Option<tokio::sync::OwnedMutexGuard<crate::writer::Writer>>,
    entries: Vec<(LogId, Vec<Op>)>,
    marks: Vec<(LogId, Option<StoredMembership>)>,
}

impl ForeignBatch {
    fn flush(&mut self, store: &Store) -> Result<(), io::Error> {
        let Some(mut w) = self.writer.take() else {
            return Ok(());
        };
        // Effects of entries that were not executed here must land on committed state: if
        // this node still holds speculative transactions (it led and its entries are now
        // being applied from the log), those go first.
        {
            let _window = crate::spec::UndoWindow::open();
            let stale = store.inner.spec.lock().take_unclaimed();
            if !stale.is_empty() {
                store.inner.leader_epoch.send_modify(|e| *e += 1);
                store
                    .inner
                    .resync_needed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::warn!(
                    undone = stale.len(),
                    "undid speculative transactions before applying entries from the log"
                );
                crate::run_blocking(|| w.undo_speculation(&stale)).map_err(io_err)?;
                store.inner.spec.lock().undo_done();
            }
        }
        let entries = std::mem::take(&mut self.entries);
        let marks = std::mem::take(&mut self.marks);
        // A small batch takes well under a millisecond: run it right here. Handing the
        // worker over (`block_in_place`) costs thread wake-ups that, at thousands of small
        // batches a second, cost more than the apply itself. Large ones (catching up) must
        // not hold this worker from the heartbeats that share the runtime.
        let bytes: usize = entries
            .iter()
            .flat_map(|(_, ops)| ops.iter())
            .map(|op| match op {
                Op::Changeset(c) => c.len(),
                Op::Ddl(sql) => sql.len(),
            })
            .sum();
        let mut apply = || w.apply_entries(&entries, &marks, &store.inner.spec);
        let r = if entries.len() <= INLINE_APPLY_ENTRIES && bytes <= INLINE_APPLY_BYTES {
            apply()
        } else {
            crate::run_blocking(apply)
        };
        if let Err(e) = r {
            // Divergence or a storage failure: stop applying. openraft treats this as fatal
            // for the node, which then refuses service and says why in its status.
            tracing::error!(error = %e, "cannot apply committed entries; this replica stops");
            return Err(io_err(e));
        }
        Ok(())
    }
}

async fn install(store: &Store, meta: &SnapshotMeta, file: SnapshotFile) -> Result<(), StoreError> {
    let inner = store.inner.clone();
    let witness = store.is_witness();
    let verify_file = file.clone();
    let verify_meta = meta.clone();
    let installed =
        tokio::task::spawn_blocking(move || snapshot::verify(&verify_file, &verify_meta, witness))
            .await
            .map_err(|e| StoreError::Io(io::Error::other(e)))??;
    let mut w = inner.writer.clone().lock_owned().await;
    let db_path = inner.db_path.clone();
    let meta2 = meta.clone();
    let inner2 = inner.clone();
    crate::run_blocking(move || -> Result<(), StoreError> {
        // Keep the received file as our current snapshot, and copy it into place.
        let kept = inner2.snapshots.keep(&meta2, &file.path)?;
        let staged = inner2.snapshots.temp_path("install");
        std::fs::copy(&kept.path, &staged)?;
        std::fs::File::open(&staged)?.sync_all()?;
        w.close_for_replace()?;
        let replaced = inner2.readers.exclusive(|| -> Result<(), StoreError> {
            for suffix in ["-wal", "-shm"] {
                let p = db_path.with_file_name(format!(
                    "{}{suffix}",
                    db_path
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default()
                ));
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            std::fs::rename(&staged, &db_path)?;
            Ok(())
        });
        let reopened = w.reopen(&db_path);
        replaced?;
        reopened?;
        if witness {
            // A witness keeps only the metadata of what it was sent.
            w.drop_user_tables()?;
        }
        Ok(())
    })?;
    let mut spec = inner.spec.lock();
    spec.entries.clear();
    spec.applied.last_applied = meta.last_log_id;
    spec.applied.membership = meta.last_membership.clone();
    // The dependency chains decide which later entries apply (`chain_ok`); they must be the
    // snapshot's, as on the replica that built it, not what this node had before.
    spec.applied.chains = installed.chains;
    spec.dirty = false;
    spec.frontier.send_modify(|f| {
        f.undo_epoch += 1;
        f.visible_seq = f.committed_seq;
    });
    drop(spec);
    inner.applied.send_replace(meta.last_log_id);
    tracing::info!(last_log_id = ?meta.last_log_id.as_ref().map(|l| l.index), "snapshot installed");
    Ok(())
}
