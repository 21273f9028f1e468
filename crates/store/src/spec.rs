//! Bookkeeping of the leader's own transactions between "executed here" and "applied".
//!
//! A transaction the leader executed is in one of two states until its log entry is
//! applied:
//! - `Speculative`: committed in the local SQLite already (so the next transaction can run
//!   on top of it), with its inverse changeset stored in `_quorate_spec`;
//! - `Held`: still an open SQLite transaction on the writer connection (transactions with
//!   DDL, which a changeset cannot undo).
//!
//! Apply and undo both decide under this one lock, so an entry is either claimed by apply
//! (it committed; its effects stay) or taken by undo (its effects are removed and, should the
//! entry still commit later, apply runs its changeset like any other entry). Never both.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use quorate_consensus::{LogId, Origin, StoredMembership};
use tokio::sync::watch;

use crate::point::{RowKey, Touched};
use crate::schema::AppliedState;

/// A speculative commit writes the applied state (and deletes the `_quorate_spec` rows it
/// covers) once this many commits have gone by without it...
const PERSIST_EVERY_COMMITS: u32 = 32;
/// ...or once it is this old. In between, the applied state lives in memory only: writing
/// it on every commit cost each commit the meta row's page and a delete in `_quorate_spec`
/// (measured: 6-12% of the bytes the leader writes per transaction, 5-11% of its CPU).
const PERSIST_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecKind {
    Speculative,
    Held,
}

#[derive(Debug)]
pub(crate) struct SpecEntry {
    pub seq: u64,
    pub kind: SpecKind,
    /// Set by apply when the entry committed.
    pub applied_at: Option<LogId>,
    /// The rows it changed (speculative entries; see [`SpecState::newest_touching`]).
    pub touched: Touched,
}

/// What readers on the leader wait for: every speculative transaction their snapshot may
/// contain must be committed before they answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Highest sequence number whose effects may be visible in SQLite.
    pub visible_seq: u64,
    /// Highest sequence number known committed (apply claimed it).
    pub committed_seq: u64,
    /// Bumped when speculative entries are taken for undo and again once the undo is
    /// committed in SQLite. A reader whose statement overlapped either bump may have read
    /// data that is being (or was) undone: it must read again instead of answering, and one
    /// that still waits fails. Until the undo is committed `visible_seq` keeps covering the
    /// taken entries, so no reader can mistake their effects for committed data.
    pub undo_epoch: u64,
}

pub(crate) struct SpecState {
    pub node_id: u64,
    pub incarnation: u64,
    pub next_seq: u64,
    pub entries: VecDeque<SpecEntry>,
    /// Applied state in memory: may run ahead of what SQLite holds in `_quorate_meta`
    /// (the leader's own entries are marked applied here and persisted with the next write).
    pub applied: AppliedState,
    /// `applied` differs from what `_quorate_meta` holds.
    pub dirty: bool,
    /// Speculative commits since `applied` was last written, and when that was (see
    /// [`SpecState::persist_due`]).
    pub commits_since_persist: u32,
    pub persisted_at: Instant,
    /// Highest spec sequence number whose row can be deleted from `_quorate_spec`.
    pub deletable_upto: u64,
    pub frontier: watch::Sender<Frontier>,
    /// Our last speculative transaction not undone (the one a new transaction may depend
    /// on); None after an undo, so the next transaction starts a new chain.
    pub chain_tip: Option<u64>,
    /// Entries were taken for undo and their effects may still be in SQLite (until
    /// [`SpecState::undo_done`]): they are no longer in `entries`, so `newest_touching`
    /// cannot see them.
    pub undoing: bool,
}

impl SpecState {
    pub(crate) fn new(node_id: u64, incarnation: u64, applied: AppliedState) -> Self {
        let (frontier, _) = watch::channel(Frontier::default());
        Self {
            node_id,
            incarnation,
            next_seq: 1,
            entries: VecDeque::new(),
            applied,
            dirty: false,
            commits_since_persist: 0,
            persisted_at: Instant::now(),
            deletable_upto: 0,
            frontier,
            chain_tip: None,
            undoing: false,
        }
    }

    pub(crate) fn origin(&self, seq: u64, depends_on: Option<u64>) -> Origin {
        Origin {
            node: self.node_id,
            incarnation: self.incarnation,
            seq,
            depends_on,
        }
    }

    /// Registers a new entry of ours, which changed `touched`; returns its sequence number.
    pub(crate) fn register(&mut self, kind: SpecKind, touched: Touched) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(SpecEntry {
            seq,
            kind,
            applied_at: None,
            touched,
        });
        if kind == SpecKind::Speculative {
            self.frontier.send_modify(|f| f.visible_seq = seq);
        }
        self.chain_tip = Some(seq);
        seq
    }

    /// The newest speculative entry not yet committed that may have changed one of `rows`,
    /// or 0 when none did: what a statement that read only `rows` must wait for before it
    /// answers. No entry whose effects the statement saw may have been undone between the
    /// statement and this call: call it with the writer held, or check that the undo epoch
    /// did not move since before the statement. (Entries committed meanwhile are committed
    /// data; entries registered meanwhile only make the answer more cautious.)
    ///
    /// `None` while an undo is under way: entries taken for undo are no longer listed but
    /// their effects may still be in what the statement read.
    pub(crate) fn newest_touching(&self, rows: &[RowKey]) -> Option<u64> {
        if self.undoing {
            return None;
        }
        Some(
            self.entries
                .iter()
                .rev()
                .filter(|e| e.kind == SpecKind::Speculative && e.applied_at.is_none())
                .find(|e| rows.iter().any(|(t, r)| e.touched.contains(t, *r)))
                .map_or(0, |e| e.seq),
        )
    }

    /// True if `origin` is one of our entries still waiting to be claimed by apply (its
    /// effects are already in SQLite, speculative or held).
    pub(crate) fn holds_unclaimed(&self, origin: &Origin) -> bool {
        self.is_ours(origin)
            && self
                .entries
                .iter()
                .any(|e| e.seq == origin.seq && e.applied_at.is_none())
    }

    /// Called by apply for a committed entry: true if it is one of ours whose effects are
    /// already local (then apply must not run its changeset).
    pub(crate) fn claim(&mut self, origin: &Origin, log_id: &LogId) -> bool {
        if origin.node != self.node_id || origin.incarnation != self.incarnation {
            return false;
        }
        let Some(pos) = self.entries.iter().position(|e| e.seq == origin.seq) else {
            return false;
        };
        let entry = &mut self.entries[pos];
        entry.applied_at = Some(*log_id);
        if entry.kind == SpecKind::Speculative {
            // Entries commit in log order, which is the order we registered them, so every
            // speculative entry before this one is committed too.
            let seq = entry.seq;
            while let Some(front) = self.entries.front() {
                if front.kind == SpecKind::Speculative && front.seq <= seq {
                    self.entries.pop_front();
                } else {
                    break;
                }
            }
            self.deletable_upto = self.deletable_upto.max(seq);
            self.frontier
                .send_modify(|f| f.committed_seq = f.committed_seq.max(seq));
        }
        true
    }

    /// Whether the speculative commit about to happen should write the applied state too.
    ///
    /// Leaving it out is safe: a commit that does not write it deletes no `_quorate_spec`
    /// row either, so what SQLite holds stays "the state at the recorded applied index plus
    /// the effects of the spec rows", which is all a restart needs (it undoes every spec
    /// row and replays the log from that index). Only the amount to undo and replay grows,
    /// by at most [`PERSIST_EVERY_COMMITS`] commits or [`PERSIST_EVERY`]; the node's
    /// periodic persist covers an idle writer.
    pub(crate) fn persist_due(&mut self) -> bool {
        self.commits_since_persist += 1;
        self.dirty
            && (self.commits_since_persist >= PERSIST_EVERY_COMMITS
                || self.persisted_at.elapsed() >= PERSIST_EVERY)
    }

    /// Called once the applied state is written (in a transaction that then commits).
    pub(crate) fn persisted(&mut self) {
        self.dirty = false;
        self.commits_since_persist = 0;
        self.persisted_at = Instant::now();
    }

    /// Records that `log_id` was applied (any entry), with the membership it carries.
    pub(crate) fn mark_applied(&mut self, log_id: &LogId, membership: Option<StoredMembership>) {
        self.applied.last_applied = Some(*log_id);
        if let Some(m) = membership {
            self.applied.membership = m;
        }
        self.dirty = true;
    }

    /// Removes a held entry after its transaction finished. Returns where it was applied,
    /// if apply claimed it first.
    pub(crate) fn finish_held(&mut self, seq: u64) -> Option<LogId> {
        let pos = self.entries.iter().position(|e| e.seq == seq)?;
        let applied = self.entries.remove(pos).and_then(|e| e.applied_at);
        if applied.is_none() {
            self.chain_tip = None;
        }
        applied
    }

    /// True if `origin` is one of this process's entries.
    pub(crate) fn is_ours(&self, origin: &Origin) -> bool {
        origin.node == self.node_id && origin.incarnation == self.incarnation
    }

    /// Takes every speculative entry not yet claimed by apply, newest last, for undo. The
    /// caller must undo them in SQLite and then call [`SpecState::undo_done`].
    pub(crate) fn take_unclaimed(&mut self) -> Vec<u64> {
        let mut taken = Vec::new();
        self.entries.retain(|e| {
            if e.kind == SpecKind::Speculative && e.applied_at.is_none() {
                taken.push(e.seq);
                false
            } else {
                true
            }
        });
        if !taken.is_empty() {
            // Their effects are still in SQLite: readers that see them keep waiting (and
            // now fail), but `visible_seq` stays until the undo is committed.
            self.frontier.send_modify(|f| f.undo_epoch += 1);
            self.chain_tip = None;
            self.undoing = true;
        }
        taken
    }

    /// Called once the effects of entries taken by [`SpecState::take_unclaimed`] or
    /// [`SpecState::remove_unclaimed`] are gone from SQLite (undone and committed, or never
    /// committed): only now may readers treat what they see as the remaining entries.
    pub(crate) fn undo_done(&mut self) {
        let newest = self
            .entries
            .iter()
            .filter(|e| e.kind == SpecKind::Speculative)
            .map(|e| e.seq)
            .max()
            .unwrap_or(0);
        self.undoing = false;
        self.frontier.send_modify(|f| {
            f.undo_epoch += 1;
            f.visible_seq = f.committed_seq.max(newest);
        });
    }

    /// Removes one of our entries that never made it into the log (or whose local commit
    /// failed). Readers that may have seen it fail rather than risk answering from it; the
    /// caller removes its effects from SQLite, then calls [`SpecState::undo_done`].
    /// Returns false if apply already claimed it.
    pub(crate) fn remove_unclaimed(&mut self, seq: u64) -> bool {
        let Some(pos) = self.entries.iter().position(|e| e.seq == seq) else {
            return false;
        };
        if self.entries[pos].applied_at.is_some() {
            return false;
        }
        self.entries.remove(pos);
        self.chain_tip = None;
        self.undoing = true;
        self.frontier.send_modify(|f| f.undo_epoch += 1);
        true
    }
}

/// Open from taking entries for undo ([`SpecState::take_unclaimed`],
/// [`SpecState::remove_unclaimed`]) until their effects are gone from SQLite
/// ([`SpecState::undo_done`]). In between, SQLite holds effects the store no longer lists:
/// a node that panicked there and ran on would answer from them and apply later entries on
/// top of them (VERIFICATION.md, finding 22). Dropped during a panic, the window stops the
/// process instead; a restart undoes every transaction recorded in `_quorate_spec` and
/// replays the log, which is how a crash at that point recovers too.
pub(crate) struct UndoWindow(());

impl UndoWindow {
    pub(crate) fn open() -> Self {
        UndoWindow(())
    }
}

impl Drop for UndoWindow {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                "panic while undoing speculative transactions: stopping; a restart undoes them"
            );
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside an undo window ends the process (SIGABRT) instead of unwinding to a
    /// caller that might run on. Checked in a child process: the test binary runs this test
    /// again with `QUORATE_TEST_UNDO_PANIC` set, and that run panics inside a window.
    #[test]
    fn a_panic_inside_an_undo_window_stops_the_process() {
        use std::os::unix::process::ExitStatusExt;
        const CHILD: &str = "QUORATE_TEST_UNDO_PANIC";
        const NAME: &str = "spec::tests::a_panic_inside_an_undo_window_stops_the_process";
        if std::env::var_os(CHILD).is_some() {
            let _window = UndoWindow::open();
            panic!("a panic half way through an undo");
        }
        // Outside a panic the window closes quietly.
        drop(UndoWindow::open());
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(6),
            "the child must abort (SIGABRT), not fail or pass: {:?}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("a panic half way through an undo"),
            "{stderr}"
        );
    }

    /// Under a steady stream of commits the applied state is written with one commit in
    /// `PERSIST_EVERY_COMMITS` (so `_quorate_spec` keeps at most that many committed rows),
    /// and with the next commit once it is `PERSIST_EVERY` old however few commits came;
    /// never when it has not moved.
    #[test]
    fn the_applied_state_is_written_every_so_many_commits_or_so_long() {
        let mut spec = SpecState::new(1, 1, AppliedState::default());
        let mut written = Vec::new();
        for n in 1..=3 * PERSIST_EVERY_COMMITS {
            spec.mark_applied(&quorate_consensus::log_id(1, 1, n as u64), None);
            if spec.persist_due() {
                spec.persisted();
                written.push(n);
            }
        }
        let every = PERSIST_EVERY_COMMITS;
        assert_eq!(written, [every, 2 * every, 3 * every]);

        assert!(!spec.persist_due(), "nothing moved: nothing to write");
        spec.mark_applied(&quorate_consensus::log_id(1, 1, 1000), None);
        spec.persisted_at = Instant::now() - PERSIST_EVERY;
        assert!(
            spec.persist_due(),
            "old enough: written with the next commit"
        );
    }

    /// Between taking entries for undo and the undo being committed in SQLite, their effects
    /// are still readable: the frontier must keep counting them as visible and uncommitted,
    /// so that a reader sampling it then waits (and fails) instead of answering. Both steps
    /// change the undo epoch, so a reader whose statement overlapped either reads again.
    #[test]
    fn undone_entries_stay_visible_until_the_undo_is_done() {
        let mut spec = SpecState::new(1, 1, AppliedState::default());
        let rx = spec.frontier.subscribe();
        let seq = spec.register(SpecKind::Speculative, Touched::default());
        let before = *rx.borrow();
        assert_eq!(spec.take_unclaimed(), vec![seq]);
        let during = *rx.borrow();
        assert!(
            during.visible_seq > during.committed_seq,
            "taken but not yet undone: {during:?}"
        );
        assert_ne!(during.undo_epoch, before.undo_epoch);
        spec.undo_done();
        let after = *rx.borrow();
        assert_eq!(after.visible_seq, after.committed_seq, "{after:?}");
        assert_ne!(after.undo_epoch, during.undo_epoch);

        // The same for one entry removed because it never reached the log.
        let seq = spec.register(SpecKind::Speculative, Touched::default());
        assert!(spec.remove_unclaimed(seq));
        let during = *rx.borrow();
        assert!(during.visible_seq > during.committed_seq, "{during:?}");
        spec.undo_done();
        let done = *rx.borrow();
        assert_eq!(done.visible_seq, done.committed_seq, "{done:?}");
        assert_ne!(done.undo_epoch, during.undo_epoch);
    }

    /// A point read waits for the newest uncommitted entry that touched its row, and for
    /// nothing when none did; while entries taken for undo may still have effects in SQLite
    /// (no longer listed, so not comparable), it gets no answer at all.
    #[test]
    fn point_reads_wait_for_entries_touching_their_row_and_not_during_an_undo() {
        let mut spec = SpecState::new(1, 1, AppliedState::default());
        let touching = |rowid| {
            let mut t = Touched::default();
            t.add("t", &[rowid]);
            t
        };
        let one = spec.register(SpecKind::Speculative, touching(1));
        let two = spec.register(SpecKind::Speculative, touching(2));
        let row = |r: i64| vec![("t".to_string(), r)];
        assert_eq!(spec.newest_touching(&row(1)), Some(one));
        assert_eq!(spec.newest_touching(&row(2)), Some(two));
        assert_eq!(spec.newest_touching(&row(3)), Some(0));

        assert_eq!(spec.take_unclaimed(), vec![one, two]);
        for r in 1..=3 {
            assert_eq!(
                spec.newest_touching(&row(r)),
                None,
                "row {r} during the undo"
            );
        }
        spec.undo_done();
        assert_eq!(
            spec.newest_touching(&row(1)),
            Some(0),
            "undone: nothing to wait for"
        );

        let three = spec.register(SpecKind::Speculative, touching(1));
        assert!(spec.remove_unclaimed(three));
        assert_eq!(
            spec.newest_touching(&row(1)),
            None,
            "one entry being undone"
        );
        spec.undo_done();
        assert_eq!(spec.newest_touching(&row(1)), Some(0));
    }
}
