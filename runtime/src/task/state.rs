//! The task state word: lifecycle flags and the reference count in one `AtomicUsize`.
//!
//! The protocol is written up in the parent module (`task/mod.rs`); this file holds the bits and
//! every transition, each a single compare-and-swap loop (or one RMW) on the word, so that any two
//! concurrent transitions are totally ordered. The loom model `loom_state` in this module checks
//! wake vs run vs complete vs abort.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

/// The task is in a run queue, or its runner will put it back in one after the current poll.
/// While set, further wakes are no-ops (they coalesce). A queue entry exists only while
/// `NOTIFIED` is set, `RUNNING` is clear and `COMPLETE` is clear.
pub(crate) const NOTIFIED: usize = 1 << 0;
/// A thread owns the future: it is polling or cancelling it. Exclusive access to the stage.
pub(crate) const RUNNING: usize = 1 << 1;
/// The future is gone; the stage holds the output (or a `JoinError`) until the join handle takes
/// it. Never cleared. Excludes `RUNNING`.
pub(crate) const COMPLETE: usize = 1 << 2;
/// Cancellation was requested (abort or shutdown). The next runner drops the future instead of
/// polling it. Never cleared.
pub(crate) const CANCELLED: usize = 1 << 3;
/// A `JoinHandle` exists and wants the output. Cleared when the handle is dropped; once clear,
/// whoever completes the task drops the output.
pub(crate) const JOIN_INTEREST: usize = 1 << 4;
/// The join waker slot holds a waker and belongs to the task side. While clear, the slot belongs
/// to the `JoinHandle`, which may write it; it hands the slot over by setting this bit, and can
/// take it back only while `COMPLETE` is clear.
pub(crate) const JOIN_WAKER: usize = 1 << 5;

const FLAG_BITS: u32 = 6;
/// One reference. Holders: the owned-task list, the `JoinHandle`, each `Waker`, each queue entry
/// (including the one a runner holds while it runs the task).
pub(crate) const REF_ONE: usize = 1 << FLAG_BITS;
const REF_MASK: usize = !(REF_ONE - 1);

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn has(self, bits: usize) -> bool {
        self.0 & bits == bits
    }
    pub(crate) fn ref_count(self) -> usize {
        (self.0 & REF_MASK) >> FLAG_BITS
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (NOTIFIED, "NOTIFIED"),
            (RUNNING, "RUNNING"),
            (COMPLETE, "COMPLETE"),
            (CANCELLED, "CANCELLED"),
            (JOIN_INTEREST, "JOIN_INTEREST"),
            (JOIN_WAKER, "JOIN_WAKER"),
        ];
        let mut list = f.debug_list();
        for (bit, name) in names {
            if self.has(bit) {
                list.entry(&name);
            }
        }
        list.entry(&format_args!("refs={}", self.ref_count()));
        list.finish()
    }
}

/// What a runner should do with the task it popped from a queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// Drop the future and complete with `JoinError::Cancelled`.
    Cancel,
}

/// What a runner should do after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Nobody woke the task: drop the runner's reference.
    Idle,
    /// Woken during the poll: put the runner's reference back in a queue.
    Notified,
    /// Cancelled during the poll: the runner still owns the future and must cancel it now.
    Cancel,
}

/// What a waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// Nothing to do (already queued, running, or complete).
    Nothing,
    /// The caller now holds a queue entry reference and must submit it to the scheduler.
    Submit,
}

/// The state word.
pub(crate) struct State {
    word: AtomicUsize,
}

impl State {
    /// A fresh task: queued once, join interest, and `refs` references.
    pub(crate) fn new(refs: usize) -> State {
        State {
            word: AtomicUsize::new(NOTIFIED | JOIN_INTEREST | (refs * REF_ONE)),
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Ordering::Acquire))
    }

    /// Runs `f` in a CAS loop. `f` returns the new word, or `None` to leave it unchanged.
    /// Returns the snapshot `f` last saw and whether it stored. AcqRel: every transition both
    /// publishes the caller's writes to the stage and sees the previous owner's.
    fn update(&self, mut f: impl FnMut(Snapshot) -> Option<usize>) -> (Snapshot, bool) {
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            let Some(next) = f(Snapshot(cur)) else {
                return (Snapshot(cur), false);
            };
            match self
                .word
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (Snapshot(cur), true),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A queue entry was popped: take ownership of the future.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        let (prev, _) = self.update(|s| {
            debug_assert!(
                s.has(NOTIFIED) && !s.has(RUNNING) && !s.has(COMPLETE),
                "{s:?}"
            );
            Some((s.0 & !NOTIFIED) | RUNNING)
        });
        if prev.has(CANCELLED) {
            ToRunning::Cancel
        } else {
            ToRunning::Poll
        }
    }

    /// The poll returned `Pending`: give the future up, unless it must be rescheduled or
    /// cancelled. On `Idle` the runner's reference is dropped in the same step.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        let mut out = ToIdle::Idle;
        self.update(|s| {
            debug_assert!(s.has(RUNNING) && !s.has(COMPLETE), "{s:?}");
            if s.has(CANCELLED) {
                out = ToIdle::Cancel;
                return None; // keep RUNNING: the runner cancels now
            }
            if s.has(NOTIFIED) {
                out = ToIdle::Notified;
                return Some(s.0 & !RUNNING); // the runner's reference becomes the queue entry's
            }
            out = ToIdle::Idle;
            debug_assert!(
                s.ref_count() >= 2,
                "the owned list still holds a reference: {s:?}"
            );
            Some((s.0 & !RUNNING) - REF_ONE)
        });
        out
    }

    /// The future finished (or was dropped): publish the stage. Returns the snapshot before.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        // Set COMPLETE, clear RUNNING and NOTIFIED (a wake during the last poll is moot).
        let (prev, _) = self.update(|s| {
            debug_assert!(s.has(RUNNING) && !s.has(COMPLETE), "{s:?}");
            Some((s.0 & !(RUNNING | NOTIFIED)) | COMPLETE)
        });
        prev
    }

    /// A wake through a reference the waker keeps (`wake_by_ref`): on `Submit` a new reference
    /// was added for the queue entry.
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        let mut out = ToNotified::Nothing;
        self.update(|s| {
            if s.has(COMPLETE) || s.has(NOTIFIED) {
                out = ToNotified::Nothing;
                None
            } else if s.has(RUNNING) {
                out = ToNotified::Nothing;
                Some(s.0 | NOTIFIED)
            } else {
                out = ToNotified::Submit;
                Some((s.0 | NOTIFIED) + REF_ONE)
            }
        });
        out
    }

    /// A wake that consumes the waker's reference (`wake`): on `Submit` that reference becomes
    /// the queue entry's; on `Nothing` it has been dropped, and `true` is returned if it was the
    /// last one.
    pub(crate) fn transition_to_notified_by_val(&self) -> (ToNotified, bool) {
        let mut out = (ToNotified::Nothing, false);
        self.update(|s| {
            if s.has(COMPLETE) || s.has(NOTIFIED) {
                out = (ToNotified::Nothing, s.ref_count() == 1);
                Some(s.0 - REF_ONE)
            } else if s.has(RUNNING) {
                debug_assert!(s.ref_count() >= 2, "the runner holds a reference: {s:?}");
                out = (ToNotified::Nothing, false);
                Some((s.0 | NOTIFIED) - REF_ONE)
            } else {
                out = (ToNotified::Submit, false);
                Some(s.0 | NOTIFIED)
            }
        });
        out
    }

    /// Abort: request cancellation. On `Submit` a queue entry reference was added and the
    /// caller must submit it so a runner drops the future.
    pub(crate) fn transition_to_cancelled(&self) -> ToNotified {
        let mut out = ToNotified::Nothing;
        self.update(|s| {
            if s.has(COMPLETE) || s.has(CANCELLED) {
                out = ToNotified::Nothing;
                None
            } else if s.has(RUNNING) || s.has(NOTIFIED) {
                // The runner sees CANCELLED after its poll; a queued entry sees it when popped.
                out = ToNotified::Nothing;
                Some(s.0 | CANCELLED)
            } else {
                out = ToNotified::Submit;
                Some((s.0 | CANCELLED | NOTIFIED) + REF_ONE)
            }
        });
        out
    }

    /// Shutdown: cancel, and take ownership of the future at once if nobody holds or queues it.
    /// Returns `true` if the caller now owns the future (state `RUNNING | CANCELLED`) and must
    /// cancel it; otherwise whoever runs or dequeues it next will.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        let mut own = false;
        self.update(|s| {
            if s.has(COMPLETE) {
                own = false;
                None
            } else if s.has(RUNNING) || s.has(NOTIFIED) {
                own = false;
                Some(s.0 | CANCELLED)
            } else {
                own = true;
                Some(s.0 | CANCELLED | RUNNING)
            }
        });
        own
    }

    /// The `JoinHandle` was dropped. Returns `false` if the task had already completed, in which
    /// case the handle owns the output and must drop it.
    pub(crate) fn unset_join_interest(&self) -> bool {
        let (_, stored) = self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST));
            if s.has(COMPLETE) {
                None
            } else {
                Some(s.0 & !JOIN_INTEREST)
            }
        });
        stored
    }

    /// The handle wrote its waker into the slot and hands the slot to the task side. Fails (the
    /// handle keeps the slot) if the task completed meanwhile.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        let (s, stored) = self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST) && !s.has(JOIN_WAKER));
            if s.has(COMPLETE) {
                None
            } else {
                Some(s.0 | JOIN_WAKER)
            }
        });
        if stored { Ok(()) } else { Err(s) }
    }

    /// The handle takes the slot back to replace the waker. Fails if the task completed (then
    /// the task side may be reading the slot, and the output is ready).
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        let (s, stored) = self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST) && s.has(JOIN_WAKER));
            if s.has(COMPLETE) {
                None
            } else {
                Some(s.0 & !JOIN_WAKER)
            }
        });
        if stored { Ok(()) } else { Err(s) }
    }

    /// Adds a reference (waker clone). Aborts on overflow rather than risk a use-after-free.
    pub(crate) fn ref_inc(&self) {
        // Relaxed: a new reference is made from an existing one, which keeps the task alive.
        let prev = self.word.fetch_add(REF_ONE, Ordering::Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops a reference; `true` if it was the last (the caller deallocates).
    pub(crate) fn ref_dec(&self) -> bool {
        // AcqRel: the last owner must see every other owner's writes before freeing.
        let prev = Snapshot(self.word.fetch_sub(REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_state {
    //! Loom model of the state word: wake (by value and by reference) vs run vs complete vs
    //! abort. Checks: exactly one completion, a wake during the poll is never lost (it yields a
    //! reschedule or a later poll), and the reference count ends at zero exactly once.
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize as LAtomic, Ordering::SeqCst};
    use loom::thread;

    /// A miniature scheduler around a bare `State`: a queue counter stands for submitted entries.
    struct Task {
        state: State,
        polls: LAtomic,
        completions: LAtomic,
        freed: LAtomic,
        queued: LAtomic,
    }

    impl Task {
        fn drop_ref(&self) {
            if self.state.ref_dec() {
                self.freed.fetch_add(1, SeqCst);
            }
        }
        /// Runs every queued entry; the future completes once `ready()` holds when polled.
        fn run_queue(&self, ready: impl Fn() -> bool) {
            while self.queued.load(SeqCst) > 0 {
                self.queued.fetch_sub(1, SeqCst);
                match self.state.transition_to_running() {
                    ToRunning::Cancel => self.complete(),
                    ToRunning::Poll => {
                        self.polls.fetch_add(1, SeqCst);
                        if ready() {
                            self.complete();
                        } else {
                            match self.state.transition_to_idle() {
                                ToIdle::Idle => {}
                                ToIdle::Notified => {
                                    self.queued.fetch_add(1, SeqCst);
                                }
                                ToIdle::Cancel => self.complete(),
                            }
                        }
                    }
                }
            }
        }
        fn complete(&self) {
            let prev = self.state.transition_to_complete();
            assert!(prev.has(RUNNING));
            self.completions.fetch_add(1, SeqCst);
            self.drop_ref(); // the runner's entry
            self.drop_ref(); // the owned list's
        }
    }

    fn task(refs: usize) -> Arc<Task> {
        Arc::new(Task {
            state: State::new(refs),
            polls: LAtomic::new(0),
            completions: LAtomic::new(0),
            freed: LAtomic::new(0),
            queued: LAtomic::new(1),
        })
    }

    #[test]
    fn loom_state_wake_vs_run() {
        loom::model(|| {
            // refs: owned list, join handle (unused here: dropped at the end), entry, one waker.
            let t = task(4);
            let signal = Arc::new(LAtomic::new(0));
            let (t2, s2) = (t.clone(), signal.clone());
            let waker = thread::spawn(move || {
                // The event the future waits for, then the wake.
                s2.store(1, SeqCst);
                if let (ToNotified::Submit, _) = t2.state.transition_to_notified_by_val() {
                    t2.queued.fetch_add(1, SeqCst);
                }
            });
            let ready = || signal.load(SeqCst) == 1;
            t.run_queue(ready);
            waker.join().unwrap();
            // Whatever the interleaving, the wake left the task queued or it already completed:
            // draining the queue once more must complete it (a lost wake leaves it idle).
            t.run_queue(ready);
            assert_eq!(t.completions.load(SeqCst), 1);
            assert!(t.polls.load(SeqCst) <= 2);
            assert!(!t.state.unset_join_interest());
            t.drop_ref(); // join handle
            assert_eq!(t.freed.load(SeqCst), 1);
        });
    }

    #[test]
    fn loom_state_abort_vs_run_vs_wake() {
        loom::model(|| {
            // refs: owned list, join handle, entry, waker.
            let t = task(4);
            let (ta, tw) = (t.clone(), t.clone());
            let aborter = thread::spawn(move || {
                if ta.state.transition_to_cancelled() == ToNotified::Submit {
                    ta.queued.fetch_add(1, SeqCst);
                }
            });
            let waker = thread::spawn(move || {
                if tw.state.transition_to_notified_by_ref() == ToNotified::Submit {
                    tw.queued.fetch_add(1, SeqCst);
                }
                tw.drop_ref();
            });
            t.run_queue(|| false); // never ready on its own: only the abort completes it
            aborter.join().unwrap();
            waker.join().unwrap();
            t.run_queue(|| false);
            assert_eq!(t.completions.load(SeqCst), 1, "{:?}", t.state.load());
            if t.state.unset_join_interest() {
                unreachable!("completed before the handle was dropped");
            }
            t.drop_ref();
            assert_eq!(t.freed.load(SeqCst), 1);
        });
    }

    #[test]
    fn loom_state_join_waker_vs_complete() {
        loom::model(|| {
            let t = task(3); // owned list, join handle, entry
            let t2 = t.clone();
            let runner = thread::spawn(move || t2.run_queue(|| true));
            // The handle registers its waker; either it sees COMPLETE, or the runner's completion
            // snapshot has JOIN_WAKER and it would wake it.
            let registered = t.state.set_join_waker().is_ok();
            runner.join().unwrap();
            let s = t.state.load();
            assert!(s.has(COMPLETE));
            assert_eq!(registered, s.has(JOIN_WAKER));
            assert!(!t.state.unset_join_interest());
            t.drop_ref();
            assert_eq!(t.freed.load(SeqCst), 1);
        });
    }
}
