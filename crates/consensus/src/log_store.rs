//! The durable Raft log: openraft's `RaftLogStorage` on top of `raft-log`.
//!
//! raft-log appends records to chunk files and fsyncs them in a background worker. Every
//! `flush(true, callback)` queued while an fsync is in progress is completed by the next
//! fsync, so under load one `fdatasync` acknowledges many appends (group commit). openraft
//! is told an append is durable only from that callback.

use std::fmt::Debug;
use std::io::{self, Read, Write};
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::codeq::{Decode, Encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::command::{Command, Op};
use crate::types::{Entry, EntryPayload, LogId, NodeId, TypeConfig, Vote};

/// Largest entry payload we accept when decoding the log (a corrupt length must not make us
/// allocate without bound). Entries are limited far below this when they are proposed.
const PAYLOAD_BYTES_MAX: usize = 1 << 30;

/// Errors opening the log store.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// The log directory could not be opened or its records could not be replayed.
    #[error("cannot open the raft log in {dir}: {source}")]
    Open { dir: String, source: io::Error },
}

impl LogStoreError {
    /// True when the log's contents are damaged (a checksum mismatch, an undecodable
    /// record), as opposed to an environment problem (permissions, the directory locked by
    /// another process).
    pub fn is_corruption(&self) -> bool {
        match self {
            LogStoreError::Open { source, .. } => source.kind() == io::ErrorKind::InvalidData,
        }
    }
}

/// How long the log's flush thread waits for more writes before it writes and syncs a batch
/// (raft-log's default is 1 ms). Writes already queued join the batch whatever the wait, so
/// under load a batch still carries everything that arrived during the previous sync; the
/// wait only delays a write that arrives alone, on every node it reaches. Measured
/// (docs/BENCHMARKS.md, "Where one write's time goes"): a lone write about 1 ms faster,
/// sysbench with 8 threads 16% more writes/s (median of seven pairs), 64 HTTP clients
/// about 5% fewer.
const GROUP_WAIT: std::time::Duration = std::time::Duration::from_micros(50);

/// Largest file of the log (raft-log's default: 1 GiB). raft-log keeps every entry of the
/// file being written in memory (its entry cache may drop only entries of closed files), so
/// this bounds what the cache holds beyond [`ENTRY_CACHE_BYTES`]. With the default, each
/// node held every entry it had written since start, up to 1 GiB: one copy of every 20 MiB
/// transaction (docs/BENCHMARKS.md, "Large values through a follower").
const LOG_FILE_BYTES: usize = 64 << 20;

/// Bytes of closed files' entries the log keeps in memory for replication (raft-log's
/// default: 1 GiB); older ones are read back from the files when a follower needs them.
const ENTRY_CACHE_BYTES: usize = 64 << 20;

/// The durable Raft log of one node. Cheap to clone; clones share the same log.
#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<raft_log::RaftLog<RlTypes>>>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> Result<Self, LogStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| LogStoreError::Open {
            dir: dir.display().to_string(),
            source,
        })?;
        let mut config = raft_log::Config::new(dir.display().to_string());
        config.wal.flush_batch_wait = Some(GROUP_WAIT);
        config.wal.chunk_max_size = Some(LOG_FILE_BYTES);
        config.log_cache_capacity = Some(ENTRY_CACHE_BYTES);
        let config = Arc::new(config);
        let log =
            raft_log::RaftLog::<RlTypes>::open(config).map_err(|source| LogStoreError::Open {
                dir: dir.display().to_string(),
                source,
            })?;
        Ok(Self {
            log: Arc::new(Mutex::new(log)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, raft_log::RaftLog<RlTypes>> {
        // A poisoned lock means a panic happened while writing the log; continuing could
        // acknowledge entries that were never written, so we propagate the panic.
        self.log.lock().expect("raft log mutex poisoned")
    }

    /// The last log id in the log, if any (for status screens).
    pub fn last_log_id(&self) -> Option<LogId> {
        self.lock().log_state().last().map(|l| l.0)
    }

    /// The last log id purged from the log (everything up to it lives in snapshots only).
    pub fn purged_log_id(&self) -> Option<LogId> {
        self.lock().log_state().purged().map(|l| l.0)
    }

    /// True when nothing was ever written: no vote and no entry. Such a node has never been
    /// part of a cluster (or its data dir was wiped).
    pub fn is_pristine(&self) -> bool {
        let log = self.lock();
        let state = log.log_state();
        state.vote().is_none() && state.last().is_none() && state.purged().is_none()
    }

    /// Makes an empty log start after `last` (everything up to it is in the state machine):
    /// used when a node starts from a recovery file instead of its own log.
    ///
    /// The vote is raised to `last`'s term (voting for `node`): a leader of the new lineage
    /// must be elected in a later term than the last entry it holds, and a fresh vote would
    /// start elections at term 1.
    pub async fn start_after(&self, last: LogId, node: NodeId) -> io::Result<()> {
        {
            let mut log = self.lock();
            log.purge(RlLogId(last))?;
            let term = last.leader_id.term;
            let current = log.log_state().vote().map(|v| v.0);
            if current.is_none_or(|v| v.leader_id.term < term) {
                log.save_vote(RlVote(Vote::new(term, node)))?;
            }
        }
        self.flush_and_wait(true).await
    }

    /// Bytes the log occupies on disk.
    pub fn on_disk_bytes(&self) -> u64 {
        self.lock().on_disk_size()
    }

    /// Waits until every queued write is durable.
    async fn flush_and_wait(&self, sync: bool) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lock().flush(sync, Some(FlushCallback::Oneshot(tx)))?;
        rx.await
            .map_err(|_| io::Error::other("raft log flush worker stopped"))?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e + 1,
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        let log = self.lock();
        let mut entries = Vec::new();
        for item in log.read(start, end) {
            // Entries appended by this process come back decoded, and cloning one shares its
            // changesets instead of copying them; entries read from the files are decoded
            // here.
            let (log_id, payload) = item?;
            entries.push(Entry {
                log_id: log_id.0,
                payload: payload.into_entry_payload()?,
            });
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.lock().log_state().vote().map(|v| v.0))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let log = self.lock();
        let state = log.log_state();
        let last_purged_log_id = state.purged().map(|l| l.0);
        let last_log_id = state.last().map(|l| l.0).or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.lock().save_vote(RlVote(*vote))?;
        // A vote must be durable before it is acted upon (a node must never vote twice in
        // one term across a crash), so this waits for the fsync.
        self.flush_and_wait(true).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Best effort: a persisted commit index lets a restarted node apply what it knows is
        // committed before it hears from a leader. It rides along with the next fsync.
        if let Some(committed) = committed {
            let mut log = self.lock();
            log.commit(RlLogId(committed))?;
            log.flush(false, None)?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.lock().log_state().committed().map(|l| l.0))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut records = Vec::new();
        let mut bytes = 0;
        for entry in entries {
            let payload = RlPayload::Decoded(entry.payload);
            bytes += payload.approx_bytes();
            records.push((RlLogId(entry.log_id), payload));
        }
        let write = move || -> Result<(), io::Error> {
            let mut log = self.lock();
            // raft-log encodes each record into its write buffer and keeps the entry in its
            // cache (a clone, which shares the changesets).
            log.append(records)?;
            // Returns at once; the fsync worker calls back when the entries are on disk.
            log.flush(true, Some(FlushCallback::Raft(callback)))?;
            Ok(())
        };
        // Writing megabytes into the page cache can block for a long while when the disk is
        // busy (the kernel throttles writers of dirty pages). The runtime this runs on also
        // answers heartbeats and path keepalives, so a large append hands them over first.
        if bytes >= LARGE_APPEND_BYTES && on_multi_thread_runtime() {
            tokio::task::block_in_place(write)
        } else {
            write()
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        self.lock().truncate(from)?;
        self.flush_and_wait(true).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut log = self.lock();
        log.purge(RlLogId(log_id))?;
        log.flush(true, None)?;
        Ok(())
    }
}

/// Completion of a raft-log flush: either openraft's IO notification or a oneshot we wait on.
pub enum FlushCallback {
    Raft(IOFlushed<TypeConfig>),
    Oneshot(tokio::sync::oneshot::Sender<io::Result<()>>),
}

impl raft_log::Callback for FlushCallback {
    fn send(self, res: Result<(), io::Error>) {
        match self {
            FlushCallback::Raft(cb) => cb.io_completed(res),
            FlushCallback::Oneshot(tx) => {
                let _ = tx.send(res);
            }
        }
    }
}

/// raft-log's type parameters for quorate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RlTypes;

impl raft_log::Types for RlTypes {
    type LogId = RlLogId;
    type LogPayload = RlPayload;
    type Vote = RlVote;
    type UserData = RlUserData;
    type Callback = FlushCallback;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.0.index()
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        payload.approx_bytes() as u64
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RlLogId(LogId);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd)]
pub struct RlVote(Vote);

/// An entry's payload as raft-log holds it.
#[derive(Debug, Clone)]
pub enum RlPayload {
    /// Appended by this process: kept decoded, so that reading the entry back (for each
    /// follower, for the state machine) neither decodes nor copies it.
    Decoded(EntryPayload),
    /// Read from the log's files: kept as written and decoded when the entry is read. A
    /// record this build cannot decode then fails that read (a storage error), not the
    /// opening of the log, which would take it for damage (the checksum already passed).
    Encoded(Vec<u8>),
}

impl RlPayload {
    /// About the bytes the payload occupies (raft-log bounds its cache by this).
    fn approx_bytes(&self) -> usize {
        match self {
            RlPayload::Decoded(p) => payload_bytes(p),
            RlPayload::Encoded(b) => b.len(),
        }
    }

    fn into_entry_payload(self) -> io::Result<EntryPayload> {
        match self {
            RlPayload::Decoded(p) => Ok(p),
            RlPayload::Encoded(b) => decode_payload(&b),
        }
    }
}

/// About the bytes an entry's payload occupies in memory, and encoded (its changesets and
/// schema statements, plus a little for the rest). Cheap: nothing is encoded.
pub fn payload_bytes(payload: &EntryPayload) -> usize {
    const OVERHEAD: usize = 64;
    let op_bytes = |op: &Op| match op {
        Op::Changeset(c) => c.len(),
        Op::Ddl(sql) => sql.len(),
    };
    match payload {
        EntryPayload::Normal(Command::Tx { ops, .. }) => {
            OVERHEAD + ops.iter().map(|op| op_bytes(op) + OVERHEAD).sum::<usize>()
        }
        _ => OVERHEAD,
    }
}

/// Unused by quorate; raft-log requires the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RlUserData(Vec<u8>);

impl Encode for RlLogId {
    fn encode<W: Write>(&self, w: W) -> Result<usize, io::Error> {
        encode_serde(&self.0, w)
    }
}
impl Decode for RlLogId {
    fn decode<R: Read>(r: R) -> Result<Self, io::Error> {
        decode_serde(r).map(RlLogId)
    }
}
impl Encode for RlVote {
    fn encode<W: Write>(&self, w: W) -> Result<usize, io::Error> {
        encode_serde(&self.0, w)
    }
}
impl Decode for RlVote {
    fn decode<R: Read>(r: R) -> Result<Self, io::Error> {
        decode_serde(r).map(RlVote)
    }
}
impl Encode for RlPayload {
    /// The same bytes as [`encode_bytes`] of the encoded payload, written without an
    /// intermediate copy: the payload is measured first (a pass that copies nothing), then
    /// encoded straight into `w`.
    fn encode<W: Write>(&self, mut w: W) -> Result<usize, io::Error> {
        let payload = match self {
            RlPayload::Decoded(p) => p,
            RlPayload::Encoded(b) => return encode_bytes(b, w),
        };
        let mut measured = Counted {
            inner: io::sink(),
            bytes: 0,
        };
        rmp_serde::encode::write(&mut measured, payload).map_err(io::Error::other)?;
        let len = u32::try_from(measured.bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "log record over 4 GiB"))?;
        w.write_all(&len.to_be_bytes())?;
        let mut written = Counted { inner: w, bytes: 0 };
        rmp_serde::encode::write(&mut written, payload).map_err(io::Error::other)?;
        if written.bytes != measured.bytes {
            // Cannot happen (encoding is deterministic). If it did, the record in raft-log's
            // buffer would not read back; the error fails the append, which stops Raft on
            // this node, and the record's checksum or length would then be reported as
            // damage when the log is opened.
            return Err(io::Error::other(
                "a log record encoded to two different lengths",
            ));
        }
        Ok(4 + measured.bytes)
    }
}
impl Decode for RlPayload {
    fn decode<R: Read>(r: R) -> Result<Self, io::Error> {
        decode_bytes(r).map(RlPayload::Encoded)
    }
}
impl Encode for RlUserData {
    fn encode<W: Write>(&self, w: W) -> Result<usize, io::Error> {
        encode_bytes(&self.0, w)
    }
}
impl Decode for RlUserData {
    fn decode<R: Read>(r: R) -> Result<Self, io::Error> {
        decode_bytes(r).map(RlUserData)
    }
}

fn encode_bytes<W: Write>(bytes: &[u8], mut w: W) -> io::Result<usize> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "log record over 4 GiB"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)?;
    Ok(4 + bytes.len())
}

/// A writer that counts the bytes written through it.
struct Counted<W> {
    inner: W,
    bytes: usize,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn decode_bytes<R: Read>(mut r: R) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    // A torn record at the tail of the log must read as UnexpectedEof: raft-log truncates
    // such a record instead of refusing to open. read_exact reports exactly that.
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > PAYLOAD_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log record of {len} bytes"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn encode_serde<T: Serialize, W: Write>(value: &T, w: W) -> io::Result<usize> {
    let bytes = rmp_serde::to_vec(value).map_err(io::Error::other)?;
    encode_bytes(&bytes, w)
}

fn decode_serde<T: DeserializeOwned, R: Read>(r: R) -> io::Result<T> {
    let bytes = decode_bytes(r)?;
    rmp_serde::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Appends of this many payload bytes or more run off the runtime's worker (see `append`);
/// smaller ones take well under a millisecond and run in place.
const LARGE_APPEND_BYTES: usize = 1 << 20;

/// `block_in_place` is only allowed on a multi-thread runtime (tests use single-threaded
/// ones).
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false)
}

fn decode_payload(bytes: &[u8]) -> io::Result<EntryPayload> {
    rmp_serde::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Op, Origin};
    use crate::types::log_id;

    fn entry(term: u64, index: u64) -> Entry {
        let cmd = Command::Tx {
            origin: Origin {
                node: 1,
                incarnation: 7,
                seq: index,
                depends_on: None,
            },
            ops: vec![
                Op::Ddl(format!("CREATE TABLE t{index}(x)")),
                Op::Changeset(vec![1, 2, 3].into()),
            ],
        };
        Entry {
            log_id: log_id(term, 1, index),
            payload: EntryPayload::Normal(cmd),
        }
    }

    async fn append(store: &mut LogStore, entries: Vec<Entry>) {
        store.append(entries, IOFlushed::noop()).await.unwrap();
        store.flush_and_wait(true).await.unwrap();
    }

    /// A large append (written off the runtime's worker) is as durable and exact as a small
    /// one, and keeps its place among small ones around it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_append_is_durable_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut big = entry(2, 2);
        if let EntryPayload::Normal(Command::Tx { ops, .. }) = &mut big.payload {
            let changeset: Vec<u8> = (0..3 * LARGE_APPEND_BYTES).map(|i| i as u8).collect();
            ops.push(Op::Changeset(changeset.into()));
        }
        let written = vec![entry(2, 1), big, entry(2, 3)];
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            append(&mut store, written[..1].to_vec()).await;
            append(&mut store, written[1..2].to_vec()).await;
            append(&mut store, written[2..].to_vec()).await;
        }
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.try_get_log_entries(1..=3).await.unwrap(), written);
    }

    /// The log is written in files of about `LOG_FILE_BYTES`, not raft-log's 1 GiB: raft-log
    /// keeps every entry of the file being written in memory, so the file size bounds what
    /// a node holds. Entries of closed files read back unchanged after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_files_are_bounded_so_memory_is() {
        let dir = tempfile::tempdir().unwrap();
        let large = |index: u64| {
            let mut e = entry(2, index);
            if let EntryPayload::Normal(Command::Tx { ops, .. }) = &mut e.payload {
                ops.push(Op::Changeset(vec![index as u8; 8 << 20].into()));
            }
            e
        };
        let n = (2 * LOG_FILE_BYTES / (8 << 20)) as u64 + 2;
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            for i in 1..=n {
                append(&mut store, vec![large(i)]).await;
            }
        }
        let files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|f| {
                f.as_ref()
                    .map(|f| f.file_name().to_string_lossy().ends_with(".wal"))
                    .unwrap_or(false)
            })
            .count();
        assert!(files >= 3, "{n} entries of 8 MiB went into {files} file(s)");
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            store.try_get_log_entries(1..=2).await.unwrap(),
            vec![large(1), large(2)]
        );
    }

    /// Appended entries, the vote and the commit index survive closing and reopening the
    /// log, byte for byte; truncation and purge are durable too.
    #[tokio::test]
    async fn log_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            assert!(store.is_pristine());
            let vote = Vote::new_committed(3, 1);
            store.save_vote(&vote).await.unwrap();
            append(&mut store, (1..=10).map(|i| entry(3, i)).collect()).await;
            store.truncate_after(Some(log_id(3, 1, 8))).await.unwrap();
            store.purge(log_id(3, 1, 2)).await.unwrap();
            store.save_committed(Some(log_id(3, 1, 7))).await.unwrap();
            store.flush_and_wait(true).await.unwrap();
        }
        let mut store = LogStore::open(dir.path()).unwrap();
        assert!(!store.is_pristine());
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(3, 1, 8)));
        assert_eq!(state.last_purged_log_id, Some(log_id(3, 1, 2)));
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(3, 1, 7)));
        let vote = store.read_vote().await.unwrap().unwrap();
        assert_eq!(vote.leader_id().term, 3);
        let entries = store.try_get_log_entries(3..9).await.unwrap();
        assert_eq!(entries.len(), 6);
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e, &entry(3, i as u64 + 3));
        }
    }

    /// A log restarted after a recovery point keeps that point as purged and carries a vote
    /// in the point's term (never lowers a higher one), so the new lineage's first leader is
    /// elected above every entry the state machine already holds.
    #[tokio::test]
    async fn start_after_raises_the_vote_to_the_last_term() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = LogStore::open(dir.path()).unwrap();
            store.start_after(log_id(4, 2, 120), 1).await.unwrap();
        }
        let mut store = LogStore::open(dir.path()).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(4, 2, 120)));
        assert_eq!(state.last_log_id, Some(log_id(4, 2, 120)));
        let vote = store.read_vote().await.unwrap().unwrap();
        assert_eq!(vote.leader_id().term, 4);

        store.save_vote(&Vote::new(9, 3)).await.unwrap();
        store.start_after(log_id(4, 2, 130), 1).await.unwrap();
        let vote = store.read_vote().await.unwrap().unwrap();
        assert_eq!(vote.leader_id().term, 9);
    }

    /// A payload is written as it always was (a length, then the encoded payload in one
    /// piece), so logs written by earlier versions read back, and this version's records
    /// read back equal.
    #[test]
    fn payload_records_keep_their_format() {
        let mut e = entry(5, 9);
        if let EntryPayload::Normal(Command::Tx { ops, .. }) = &mut e.payload {
            ops.push(Op::Changeset(vec![0xA5; 70_000].into()));
        }
        let mut before = Vec::new();
        encode_bytes(&rmp_serde::to_vec(&e.payload).unwrap(), &mut before).unwrap();
        let mut now = Vec::new();
        let n = RlPayload::Decoded(e.payload.clone())
            .encode(&mut now)
            .unwrap();
        assert_eq!(n, now.len());
        assert_eq!(now, before);
        // The changeset is a MessagePack byte string (bin 32, 70,000 bytes), as it was when
        // it was a `serde_bytes` vector, not an array of numbers.
        let bin32 = [0xC6, 0x00, 0x01, 0x11, 0x70];
        assert!(now.windows(5).any(|w| w == bin32));
        let read = RlPayload::decode(&before[..]).unwrap();
        let mut again = Vec::new();
        read.clone().encode(&mut again).unwrap();
        assert_eq!(
            again, before,
            "a record read from a file is written back unchanged"
        );
        assert_eq!(read.into_entry_payload().unwrap(), e.payload);
    }

    /// A record whose checksum is right but whose payload this build cannot decode (a
    /// newer format, say) fails the read of that entry, not the opening of the log:
    /// opening would report damage, and a damaged log is moved aside.
    #[tokio::test]
    async fn an_undecodable_payload_fails_its_read_not_the_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            append(&mut store, vec![entry(1, 1)]).await;
            {
                let mut log = store.lock();
                // 0xC1 is never used by MessagePack.
                let bad = RlPayload::Encoded(vec![0xC1, 0xC1]);
                log.append(vec![(RlLogId(log_id(1, 1, 2)), bad)]).unwrap();
            }
            store.flush_and_wait(true).await.unwrap();
        }
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            store.try_get_log_entries(1..2).await.unwrap(),
            vec![entry(1, 1)]
        );
        let err = store.try_get_log_entries(1..3).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    /// A record cut short (a torn write at the tail) decodes as UnexpectedEof, which is
    /// what raft-log needs to treat it as an interrupted write rather than corruption.
    #[test]
    fn torn_record_is_unexpected_eof() {
        let mut payload = entry(1, 1).payload;
        if let EntryPayload::Normal(Command::Tx { ops, .. }) = &mut payload {
            ops.push(Op::Changeset(vec![9; 100].into()));
        }
        let mut buf = Vec::new();
        RlPayload::Decoded(payload).encode(&mut buf).unwrap();
        for cut in [1, 3, 4, 50, buf.len() - 1] {
            let err = RlPayload::decode(&buf[..cut]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            RlPayload::decode(&huge[..]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}

#[cfg(test)]
mod corruption {
    use super::*;
    use crate::command::{Command, Op, Origin};
    use crate::types::log_id;

    /// A flipped bit in a log segment is detected by its checksum and reported as
    /// corruption when the log is opened (never read back as a valid entry).
    #[tokio::test]
    async fn flipped_bit_is_reported_as_corruption() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            let entries: Vec<Entry> = (1..=20)
                .map(|i| Entry {
                    log_id: log_id(1, 1, i),
                    payload: EntryPayload::Normal(Command::Tx {
                        origin: Origin {
                            node: 1,
                            incarnation: 1,
                            seq: i,
                            depends_on: None,
                        },
                        ops: vec![Op::Ddl("x".repeat(100))],
                    }),
                })
                .collect();
            store.append(entries, IOFlushed::noop()).await.unwrap();
            store.flush_and_wait(true).await.unwrap();
        }
        let mut flipped = false;
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().map(|x| x == "wal").unwrap_or(false) {
                let mut b = std::fs::read(&p).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0x40;
                std::fs::write(&p, b).unwrap();
                flipped = true;
            }
        }
        assert!(flipped);
        let err = LogStore::open(dir.path())
            .err()
            .expect("a corrupt log must not open");
        assert!(err.is_corruption(), "{err}");
    }
}
