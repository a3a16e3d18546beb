//! The idle protocol: which workers sleep, which search for work, and who wakes whom.
//!
//! # State
//!
//! One atomic word holds two counts: `searching` (low 16 bits: workers out of local work and
//! stealing) and `unparked` (high bits: workers not asleep). The list of sleeping workers is a
//! `Vec` behind a mutex; every change to it also changes the word under the same mutex.
//!
//! # Rules (after Go's scheduler and tokio's `runtime/scheduler/multi_thread/idle.rs`)
//!
//! 1. **Notify only if nobody searches.** After making a task stealable (queue push, LIFO-slot
//!    fill, injector push) the producer issues a `SeqCst` fence and reads the word; it wakes a
//!    sleeper only if `searching == 0` and some worker sleeps. The woken worker is counted as
//!    unparked *and searching* by the notifier, under the mutex, so a burst of pushes wakes one
//!    worker, not one per push.
//! 2. **At most half the workers search** (`2 * searching < workers`); the others park at once.
//! 3. **Chained ramp-up.** A searcher that finds work leaves the searching state; if it was the
//!    last searcher it notifies one more worker (rule 1 applies), so a batch of N tasks wakes
//!    workers one at a time, each stealing half of what is left.
//!    **3b. Leaving the search for pinned work.** A searcher that finds a pinned entry in its
//!    own inbox (`worker.rs`) leaves the searching state too. That entry is no sign of
//!    stealable work, so it does not notify unconditionally; but it may have been the searcher
//!    that a producer relied on (rule 1 skipped the notify because it was counted), and it is
//!    about to run a task of unknown length. So if it was the last searcher it does what rule 4
//!    does: after the `SeqCst` RMW, a fence, then re-read every queue and notify if any holds
//!    work.
//! 4. **The last searcher re-checks before sleeping.** A worker about to park removes itself
//!    from the counts and adds itself to the sleepers (under the mutex, `SeqCst` RMW); if it was
//!    the last searcher it then re-reads every queue (injector, each worker's deque and LIFO slot)
//!    and notifies a worker if any holds work.
//! 5. **Wake tokens.** Each worker parks on its own [`Parker`](super::park::Parker), whose token
//!    makes an unpark that arrives before the park count.
//!
//! # Why no wakeup is lost (proof sketch)
//!
//! Take a task pushed by producer P while worker W goes to sleep. P does `push; fence(SeqCst);
//! read word`. W, the last searcher, does `RMW word (searching -= 1); read queues`. Both the
//! fence and the RMW are `SeqCst`, so they are ordered in the single total order `S`:
//! - if P's read comes after W's RMW in `S`, P sees `searching == 0` and a sleeper, and notifies
//!   (possibly W itself, whose token then makes its park return);
//! - otherwise P's push precedes W's RMW, and W's re-read of the queues (after the RMW) sees it,
//!   so W notifies.
//!
//! The same argument holds, word for word, for a last searcher W that leaves the search for a
//! pinned entry (rule 3b): its RMW and re-read stand where rule 4's do.
//!
//! If W was not the last searcher, some other searcher S' is still counted; the same argument
//! applies to S' when it parks or finds work (rules 3, 3b). A worker that is busy (unparked, not
//! searching) looks at the queues again when its current task returns. So every pushed task is
//! seen by a worker that is awake or will be woken. The park/unpark step is checked by the loom
//! models in `park.rs`.
//!
//! A worker that spins on its park token before it blocks (`worker.rs`) does so *after*
//! rule 4, listed as a sleeper: to this protocol it is asleep, a notifier takes it off the list
//! and unparks it like any sleeper, and the spin only makes that unpark cheaper. Nothing here
//! changes for it.
//!
//! The loom models below check rule 1 against rule 4, and rule 1 against rule 3b.

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst, fence};

const SEARCH_MASK: usize = (1 << 16) - 1;
const UNPARK_ONE: usize = 1 << 16;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

fn searching(word: usize) -> usize {
    word & SEARCH_MASK
}
fn unparked(word: usize) -> usize {
    word >> 16
}

impl Idle {
    /// Every worker starts unparked and not searching.
    pub(crate) fn new(workers: usize) -> Idle {
        assert!(workers < SEARCH_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(workers * UNPARK_ONE),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    fn sleepers(&self) -> impl std::ops::DerefMut<Target = Vec<usize>> + '_ {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rule 1: the worker to wake after a push, if any; it is now counted as searching. The
    /// caller must have fenced (`SeqCst`) after its push.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers();
        if !self.should_notify() {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, SeqCst);
        Some(index)
    }

    fn should_notify(&self) -> bool {
        let word = self.state.load(SeqCst);
        searching(word) == 0 && unparked(word) < self.workers
    }

    /// Rule 2: may this worker start searching?
    pub(crate) fn transition_to_searching(&self) -> bool {
        let word = self.state.load(SeqCst);
        if 2 * searching(word) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// Rule 3: a searcher found work. Returns `true` if it was the last searcher (the caller
    /// then notifies one more worker).
    pub(crate) fn transition_from_searching(&self) -> bool {
        searching(self.state.fetch_sub(1, SeqCst)) == 1
    }

    /// Rule 3b: a searcher leaves the search to run a pinned entry of its own inbox. Returns
    /// `true` if the caller must notify a worker: it was the last searcher and
    /// `has_pending_work` (called after the RMW and a `SeqCst` fence) found a queued task.
    pub(crate) fn transition_from_searching_to_pinned(
        &self,
        has_pending_work: impl FnOnce() -> bool,
    ) -> bool {
        if !self.transition_from_searching() {
            return false;
        }
        fence(SeqCst);
        has_pending_work()
    }

    /// Rule 4: the worker goes to sleep. Returns `true` if it was the last searcher: the caller
    /// must then re-check every queue (this fences, so the re-check reads after the RMW in the
    /// single total order of the proof sketch).
    pub(crate) fn transition_to_parked(&self, index: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers();
        let prev = self
            .state
            .fetch_sub(UNPARK_ONE + usize::from(is_searching), SeqCst);
        sleepers.push(index);
        drop(sleepers);
        fence(SeqCst);
        is_searching && searching(prev) == 1
    }

    /// A parked worker wakes on its own (its timers fired, or shutdown). Returns `true` if it
    /// was still listed as a sleeper (it is now unparked, not searching); `false` if a notifier
    /// took it off the list, so it is counted as searching.
    pub(crate) fn transition_from_parked(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, SeqCst);
                true
            }
            None => false,
        }
    }

    /// A listed sleeper other than `me`, left on the list (the driver role's hand-off,
    /// `driver.rs`: it is woken to take the role, not counted as searching).
    pub(crate) fn sleeper_other_than(&self, me: Option<usize>) -> Option<usize> {
        let sleepers = self.sleepers();
        sleepers.iter().rev().copied().find(|&i| Some(i) != me)
    }

    /// Is the worker still listed as sleeping (its wake was spurious)?
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers().contains(&index)
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_idle {
    //! Loom model of rule 1 vs rule 4: a producer pushes a task while the last searcher goes to
    //! sleep. The worker must end up with the task; a lost wakeup leaves it parked forever,
    //! which loom reports as a deadlock.
    use super::*;
    use crate::scheduler::park::Parker;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize as Queue;
    use loom::thread;

    #[test]
    fn loom_idle_push_vs_last_searcher_parks() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let queue = Arc::new(Queue::new(0));
            let parkers = Arc::new([Parker::new(), Parker::new()]);
            // Worker 1 is asleep; worker 0 is the only searcher.
            assert!(!idle.transition_to_parked(1, false));
            assert!(idle.transition_to_searching());

            let (i2, q2, p2) = (idle.clone(), queue.clone(), parkers.clone());
            let producer = thread::spawn(move || {
                q2.fetch_add(1, SeqCst);
                fence(SeqCst);
                if let Some(w) = i2.worker_to_notify() {
                    p2[w].unpark(None, || {});
                }
            });

            // Worker 0: finds nothing, parks; re-checks as the last searcher.
            let mut searching = true;
            let mut me = 0;
            loop {
                if queue.load(SeqCst) > 0 {
                    queue.fetch_sub(1, SeqCst);
                    break;
                }
                if idle.transition_to_parked(me, searching) && queue.load(SeqCst) > 0 {
                    if let Some(w) = idle.worker_to_notify() {
                        parkers[w].unpark(None, || {});
                    }
                }
                // Whichever worker was notified takes over the search (the model plays both).
                let woken = loop {
                    let candidates = [me, 1 - me];
                    if let Some(&w) = candidates.iter().find(|&&w| !idle.is_parked(w)) {
                        break w;
                    }
                    parkers[me].park(None, || {});
                };
                me = woken;
                searching = true;
            }
            producer.join().unwrap();
        });
    }

    #[test]
    fn loom_idle_push_vs_searcher_leaves_for_pinned() {
        // Rule 3b: worker 0, the only searcher, leaves the search for a pinned entry of its own
        // inbox (and then runs it for an unknown time) while a producer pushes a stealable task;
        // worker 1 sleeps. Either the producer sees no searcher and wakes worker 1, or worker 0's
        // re-check sees the task and wakes worker 1. Without the re-check, loom finds the run in
        // which the producer skips its notify (worker 0 still counted) and the task is stranded.
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let queue = Arc::new(Queue::new(0));
            assert!(!idle.transition_to_parked(1, false));
            assert!(idle.transition_to_searching());

            let (i2, q2) = (idle.clone(), queue.clone());
            let producer = thread::spawn(move || {
                q2.fetch_add(1, SeqCst);
                fence(SeqCst);
                i2.worker_to_notify()
            });

            let by_worker = if idle.transition_from_searching_to_pinned(|| queue.load(SeqCst) > 0) {
                idle.worker_to_notify()
            } else {
                None
            };
            let by_producer = producer.join().unwrap();
            assert_eq!(
                by_producer.or(by_worker),
                Some(1),
                "the task is stranded while worker 1 sleeps"
            );
            assert!(!idle.is_parked(1));
        });
    }
}
